"""``DistributedDataParallel``: one replica of a model per process, gradients averaged in buckets.

At wrap time rank 0's parameters and buffers are broadcast, so every replica starts equal.
After ``loss.backward()`` every parameter's gradient is the mean over the ranks, so each
``optimizer.step()`` makes the same update everywhere and the replicas stay equal.

How the averaging hooks into backward without touching the engine: every parameter that
requires grad carries a leaf hook (``Value.register_hook``). The engine runs leaf hooks at the
end of the sweep, once each leaf's gradient is complete, and stores what a hook returns as
the gradient. The parameters are grouped, in reverse registration order (PyTorch's: the last
layers' gradients come first), into buckets of about ``bucket_cap_mb`` megabytes of one dtype.
A hook copies its gradient into its slot of the bucket's flat buffer and returns the slot (a
view) as the gradient; when the last expected parameter of a bucket has arrived the whole
buffer goes through one in-place ``Allreduce`` and is divided by the world size, so the views
already handed to the engine hold the averages before ``.grad`` is written. Buckets are
reduced strictly in bucket order, so every rank makes the same collectives in the same order.

Which parameters are expected is found by ``forward``: the parameters that its outputs'
graph reaches (a walk of the graph, as PyTorch's ``find_unused_parameters=True``). Frozen
parameters (``requires_grad=False``) and parameters the forward pass did not use are left
out: their slots stay zero and cannot stall a bucket.
"""
from __future__ import annotations

import numpy as np

from ..engine import toposort
from ..mode import is_grad_enabled
from ..nn.module import Module
from ..value import Value, values_in
from .comm import all_reduce, broadcast, get_world_size


class _Bucket:
    """Parameters whose gradients travel in one flat buffer: ``offsets[i]`` is where
    ``params[i]``'s gradient starts."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.params: list = []
        self.offsets: list[int] = []
        self.numel = 0
        self.buffer: np.ndarray | None = None  # this backward's gradients (a new array each time)
        self.remaining = 0  # expected parameters whose gradients have not arrived yet

    def add(self, param) -> None:
        self.params.append(param)
        self.offsets.append(self.numel)
        self.numel += param.size


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training: ``ddp(x)`` calls ``module(x)``;
    ``ddp.module`` is the wrapped model; ``state_dict()`` keys start with ``'module.'``.

    Each rank runs the wrapper on its own share of the batch (a ``DistributedSampler``);
    ``loss.backward()`` then leaves every parameter's ``.grad`` equal to the mean of the
    ranks' gradients (one ``Allreduce`` per bucket of about ``bucket_cap_mb`` MB), which is the
    gradient of the mean loss over the whole batch when the shares have equal sizes.

    Rules: every rank must call forward and backward the same number of times, and use the
    same parameters (a parameter used on some ranks and not on others is not averaged);
    ``create_graph=True`` backward passes are not supported. Gradients of a backward that
    accumulates onto existing ``.grad`` are averaged before they are added.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 1.0) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        self.module = module
        self.bucket_cap_mb = float(bucket_cap_mb)
        self._ddp = {'buckets': [], 'handles': [], 'signature': None, 'expected': set(), 'next': 0,
                     'armed': False, 'reductions': 0}
        self._broadcast_state()
        self._sync_buckets(list(module.parameters()))

    # ---- at wrap time ---------------------------------------------------------------------------
    def _broadcast_state(self) -> None:
        """Every rank takes rank 0's parameters and buffers."""
        for _, param in self.module.named_parameters():
            broadcast(param.data, src=0)
        for _, array in self.module.named_buffers():
            broadcast(array, src=0)

    # ---- buckets and hooks ----------------------------------------------------------------------
    def _sync_buckets(self, params: list) -> None:
        """(Re)build the buckets when the set of parameters that require grad has changed."""
        state = self._ddp
        signature = tuple((id(p), p.requires_grad) for p in params)
        if signature == state['signature']:
            return
        for handle in state['handles']:
            handle.remove()
        cap = int(self.bucket_cap_mb * 2**20)
        buckets: list[_Bucket] = []
        for param in reversed([p for p in params if p.requires_grad]):
            dtype = param.data.dtype
            last = buckets[-1] if buckets else None
            full = last is not None and (last.numel + param.size) * dtype.itemsize > cap
            if last is None or last.dtype != dtype or full:
                last = _Bucket(dtype)
                buckets.append(last)
            last.add(param)
        handles = []
        for index, bucket in enumerate(buckets):
            for slot in range(len(bucket.params)):
                handles.append(bucket.params[slot].register_hook(self._make_hook(index, slot)))
        state.update(buckets=buckets, handles=handles, signature=signature, armed=False)

    def _make_hook(self, index: int, slot: int):
        def hook(grad):
            return self._gradient_ready(index, slot, grad)
        return hook

    def _gradient_ready(self, index: int, slot: int, grad):
        state = self._ddp
        bucket = state['buckets'][index]
        param = bucket.params[slot]
        if not state['armed'] or param not in state['expected']:
            return None  # a backward this wrapper's forward did not set up: left as it is
        if isinstance(grad, Value):
            raise RuntimeError("DistributedDataParallel: backward with create_graph=True is not supported")
        if bucket.buffer is None:
            bucket.buffer = np.zeros(bucket.numel, dtype=bucket.dtype)
        start = bucket.offsets[slot]
        view = bucket.buffer[start:start + param.size].reshape(param.shape)
        view[...] = grad
        bucket.remaining -= 1
        self._reduce_ready_buckets()
        return view

    def _reduce_ready_buckets(self) -> None:
        """Allreduce, in bucket order, every bucket whose gradients are all in."""
        state = self._ddp
        buckets, world = state['buckets'], get_world_size()
        while state['next'] < len(buckets) and buckets[state['next']].remaining == 0:
            bucket = buckets[state['next']]
            if bucket.buffer is None:  # nothing of it was used on this rank: zeros, for the same collectives
                bucket.buffer = np.zeros(bucket.numel, dtype=bucket.dtype)
            all_reduce(bucket.buffer, op='sum')
            if world > 1:
                bucket.buffer /= world
            state['reductions'] += 1
            state['next'] += 1
        if state['next'] == len(buckets):
            self._arm()  # the next backward (a compiled replay has no forward) expects the same

    def _arm(self) -> None:
        state = self._ddp
        for bucket in state['buckets']:
            bucket.buffer = None  # the previous buffer now belongs to the stored .grad arrays
            bucket.remaining = sum(p in state['expected'] for p in bucket.params)
        state['next'] = 0
        state['armed'] = bool(state['expected'])

    # ---- calling --------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        output = self.module(*args, **kwargs)
        if is_grad_enabled():
            params = list(self.module.parameters())
            self._sync_buckets(params)
            roots = [v for v in values_in(output) if v.requires_grad]
            reached = {node for node in toposort(roots) if node._fn is None}
            self._ddp['expected'] = {p for p in params if p in reached}
            self._arm()
        return output

    @property
    def buckets(self) -> list[list[str]]:
        """The buckets as lists of parameter names (of ``module``), in reduction order."""
        names = {id(p): name for name, p in self.module.named_parameters()}
        return [[names[id(p)] for p in bucket.params] for bucket in self._ddp['buckets']]

    @property
    def reductions(self) -> int:
        """How many bucket Allreduces this wrapper has made so far."""
        return self._ddp['reductions']


__all__ = ['DistributedDataParallel']
