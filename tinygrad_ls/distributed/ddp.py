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

Like PyTorch's DDP, the wrapper also keeps buffers equal (``broadcast_buffers``: rank 0's, at
the start of a forward), checks at wrap time that every rank built the same model
(``replicas.py``), and lets ranks with fewer batches finish with ``join()``. Every forward
that synchronises starts with a header exchange (``lockstep.py``), so ranks that are out of
step (uneven batch counts without ``join()``) get a clear error on every rank, never a hang.
"""
from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import numpy as np

from ..engine import toposort
from ..mode import is_grad_enabled
from ..nn.module import Module
from ..tracing import replayed
from ..value import Value, values_in
from . import comm, lockstep, replicas
from .comm import all_reduce_raw, broadcast_raw, get_rank, get_world_size
from .lockstep import JOIN, JOINED, REDUCE, STEP, SYNC_BUFFERS, F


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

    ``broadcast_buffers`` (PyTorch's rule): rank 0's buffers (BatchNorm running statistics)
    are broadcast at wrap time and at the start of every forward that follows a forward run
    with grad enabled (and at the first), so every replica normalises with the same
    statistics; with ``False`` buffers are never broadcast, not even at wrap time.

    At wrap time every rank must hold the same model (names, shapes, dtypes, order and
    ``requires_grad`` of parameters and buffers): a difference is a ``lockstep.Mismatch``
    (a RuntimeError) on every rank naming the first difference.

    Rules: every rank must call forward and backward the same number of times (checked at
    each synchronising forward: otherwise a ``Mismatch`` on every rank; ``with ddp.join():``
    lets ranks run out of batches early), and use the same parameters (a parameter used on
    some ranks and not on others is not averaged); ``create_graph=True`` backward passes are
    not supported. Gradients of a backward that accumulates onto existing ``.grad`` are
    averaged before they are added.
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 1.0, broadcast_buffers: bool = True) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        if not isinstance(broadcast_buffers, bool):
            raise TypeError(f"DistributedDataParallel: broadcast_buffers must be a bool, got "
                            f"{broadcast_buffers!r}")
        self.module = module
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.broadcast_buffers = broadcast_buffers
        index = comm._state['wrappers']
        comm._state['wrappers'] += 1
        self._ddp = {'buckets': [], 'handles': [], 'signature': None, 'expected': set(), 'next': 0,
                     'armed': False, 'reductions': 0, 'index': index, 'layout': 0, 'sync_next': True,
                     'join': None, 'divisor': get_world_size(), 'announced': False,
                     'pre_forward': replayed(self._pre_forward)}  # called again at each compiled replay
        replicas.check(module, index, self.bucket_cap_mb, broadcast_buffers)
        self._broadcast_state(src=0, buffers=broadcast_buffers)
        self._sync_buckets(list(module.parameters()))

    # ---- at wrap time ---------------------------------------------------------------------------
    def _broadcast_state(self, src: int, buffers: bool) -> None:
        """Every rank takes rank ``src``'s parameters (and buffers)."""
        for _, param in self.module.named_parameters():
            broadcast_raw(param.data, src)
        if buffers:
            for _, array in self.module.named_buffers():
                broadcast_raw(array, src)

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
        layout = zlib.crc32(repr([(b.dtype.str, b.numel, len(b.params)) for b in buckets]).encode())
        state.update(buckets=buckets, handles=handles, signature=signature, armed=False, layout=layout)

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
            all_reduce_raw(bucket.buffer, 'sum')  # (the forward's header checked that every rank is here)
            if world > 1:
                bucket.buffer /= state['divisor']
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
        grad_enabled = is_grad_enabled()
        params = list(self.module.parameters())
        self._sync_buckets(params)
        self._ddp['pre_forward'](grad_enabled)
        output = self.module(*args, **kwargs)
        if grad_enabled:
            roots = [v for v in values_in(output) if v.requires_grad]
            reached = {node for node in toposort(roots) if node._fn is None}
            self._ddp['expected'] = {p for p in params if p in reached}
            self._arm()
            if self._ddp['announced'] and not self._ddp['expected']:
                self._reduce_ready_buckets()  # no parameter used: the announced reductions, of zeros, now
        return output

    def _pre_forward(self, grad_enabled: bool) -> None:
        """The synchronisation at the start of a forward (marked ``tracing.replayed``, so a
        compiled step runs it at every replay): the step's header (``lockstep``), then, if due,
        the broadcast of the buffers. Due as in PyTorch: at the first forward and at each one
        that follows a forward run with grad enabled. Inside ``join()`` the buffers come from
        the highest rank that still has inputs (PyTorch's choice), and the gradients are
        divided by the world size or, with ``divide_by_initial_world_size=False``, by the
        number of ranks still training."""
        state = self._ddp
        world = get_world_size()
        sync_buffers = self.broadcast_buffers and state['sync_next']
        state['sync_next'] = grad_enabled
        state['announced'] = False
        if world == 1:
            return
        buffers = [array for _, array in self.module.named_buffers()] if sync_buffers else []
        reduce = grad_enabled and bool(state['buckets'])
        if not (buffers or reduce):
            return  # no collective in this step
        join = state['join']
        comm._state['steps'] += 1
        flags = SYNC_BUFFERS * bool(buffers) | REDUCE * reduce | JOIN * (join is not None)
        table = comm.header(STEP, wrapper=state['index'], count=comm._state['steps'], flags=flags,
                            layout=state['layout'])
        steps = table[:, F['kind']] == STEP
        where = f"DistributedDataParallel (rank {get_rank()})"
        if join is None:
            lockstep.agree(table, ('kind', 'wrapper', 'count', 'flags', 'layout'), where)
        else:
            if (table[~steps, F['kind']] != JOINED).any() or (table[:, F['layout']] != state['layout']).any():
                raise lockstep.mismatch(table, where)
            lockstep.agree(table[steps], ('wrapper', 'count', 'flags'), where)
            if join['throw'] and not steps.all():
                raise RuntimeError("Detected at least one rank that exhausted inputs (ranks "
                                   f"{np.flatnonzero(~steps).tolist()}). Throwing across all ranks.")
        active = int(steps.sum())
        state['divisor'] = world if join is None or join['divide_by_initial_world_size'] else active
        state['announced'] = reduce
        source = 0 if join is None else int(np.flatnonzero(steps).max())
        for array in buffers:
            broadcast_raw(array, source)

    @contextlib.contextmanager
    def join(self, divide_by_initial_world_size: bool = True, enable: bool = True,
             throw_on_early_termination: bool = False) -> Iterator[None]:
        """PyTorch's ``DistributedDataParallel.join``: wrap the training loop in ``with
        ddp.join():`` when ranks may have different numbers of batches. A rank that leaves the
        block while others still train shadows their collectives: their buffer broadcasts and
        their gradient Allreduces, with zeros as its gradients, until every rank has left;
        then the parameters (and buffers) of the last rank to leave are broadcast, so the
        replicas end equal.

        ``divide_by_initial_world_size=True`` divides the summed gradients by the world size
        always, so every sample weighs the same (PyTorch's default); ``False`` divides by the
        number of ranks still training. ``throw_on_early_termination=True`` instead raises a
        RuntimeError on every rank as soon as one runs out. ``enable=False`` turns it off.
        Inside, every training forward must be followed by its backward (the joined ranks
        shadow both). An exception inside the block is raised at once, without shadowing."""
        if not enable or get_world_size() == 1:
            yield
            return
        if self._ddp['join'] is not None:
            raise RuntimeError("DistributedDataParallel.join: already inside a join() of this wrapper")
        self._ddp['join'] = {'divide_by_initial_world_size': bool(divide_by_initial_world_size),
                             'throw': bool(throw_on_early_termination)}
        try:
            yield
            self._shadow_until_all_joined()
        finally:
            self._ddp['join'] = None
            self._ddp['divisor'] = get_world_size()

    def _shadow_until_all_joined(self) -> None:
        """This rank is out of inputs: match the others' steps until every rank is."""
        state = self._ddp
        shadowed = False
        while True:
            table = comm.header(JOINED, wrapper=state['index'], count=comm._state['steps'],
                                flags=int(shadowed), layout=state['layout'])
            kinds = table[:, F['kind']]
            steps = kinds == STEP
            where = f"DistributedDataParallel.join (rank {get_rank()})"
            other_layout = (table[:, F['layout']] != state['layout']).any()
            if ((kinds != STEP) & (kinds != JOINED)).any() or other_layout:
                raise lockstep.mismatch(table, where)
            if not steps.any():
                break
            if state['join']['throw']:
                raise RuntimeError(f"Rank {get_rank()} exhausted all inputs.")
            shadowed = True
            flags = int(table[steps][0, F['flags']])
            source = int(np.flatnonzero(steps).max())
            if flags & SYNC_BUFFERS:
                for _, array in self.module.named_buffers():
                    broadcast_raw(array, source)
            if flags & REDUCE:
                for bucket in state['buckets']:
                    all_reduce_raw(np.zeros(bucket.numel, dtype=bucket.dtype), 'sum')
        last = np.flatnonzero(table[:, F['flags']] == 0)  # the ranks that never shadowed
        self._broadcast_state(src=int(last.max()), buffers=self.broadcast_buffers)

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
