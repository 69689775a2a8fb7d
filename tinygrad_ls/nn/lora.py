"""LoRA (Hu et al., 2021), shaped like loralib/minLoRA: ``LoRALinear`` wraps a frozen
``nn.Linear`` and adds a trainable low-rank update; ``inject`` swaps the matching Linears of a
model for wrappers and freezes everything else; ``state_dict``/``load_state_dict`` save and
load the adapter weights alone (a few kB instead of the whole model).

    model = nn.MLP([16, 64, 64, 4])
    wrapped = tl.nn.lora.inject(model, target=('layers.0', 'layers.2'), r=4, alpha=8)
    optimizer = tl.optim.AdamW(p for p in model.parameters() if p.requires_grad)
    ...                                           # train: only lora_A / lora_B change
    tl.save(tl.nn.lora.state_dict(model), 'adapters.npz')
    for module in wrapped.values():
        module.merge()                            # fold the update in: no extra cost at inference
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from ..mode import no_grad
from ..value import Value
from . import functional as F
from . import init
from .layers import Linear
from .module import Module
from .parameter import Parameter
from .state import IncompatibleKeys
from .state import load_state_dict as _load_into

ADAPTER_NAMES = ('lora_A', 'lora_B')


class LoRALinear(Module):
    """``y = base(x) + (alpha / r) · dropout(x) @ lora_A.T @ lora_B.T``: x (..., in) -> (..., out).

    ``base`` is the wrapped ``nn.Linear``, frozen here (its Parameters get
    ``requires_grad=False``; they are the same objects, not copies). ``lora_A`` (r, in_features)
    is initialised as a Linear's weight (``kaiming_uniform_(a=sqrt(5))``, i.e.
    ``U(-1/sqrt(in), 1/sqrt(in))``) and ``lora_B`` (out_features, r) is zero, so the wrapper
    starts out computing exactly ``base(x)``. Both take the base weight's dtype.
    ``dropout`` (a probability) applies to the input of the low-rank path only, while training.

    ``merge()`` folds ``scaling · lora_B @ lora_A`` into ``base.weight`` in place, after which
    ``forward`` is one Linear; ``unmerge()`` takes it out again. Merging a merged module or
    unmerging an unmerged one is a RuntimeError (a silent no-op would hide a double merge).
    While merged the adapters get no gradient.
    """

    def __init__(self, base: Linear, r: int = 8, alpha: float = 16, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, Linear):
            raise TypeError(f"LoRALinear: base must be an nn.Linear, got {type(base).__name__}")
        if not isinstance(r, (int, np.integer)) or isinstance(r, bool) or r < 1:
            raise ValueError(f"LoRALinear: r must be a positive int, got {r!r}")
        if (not isinstance(alpha, (int, float, np.integer, np.floating)) or isinstance(alpha, bool)
                or not math.isfinite(alpha)):
            raise ValueError(f"LoRALinear: alpha must be a finite number, got {alpha!r}")
        F.check_probability('LoRALinear', dropout)
        self.r, self.alpha, self.dropout = int(r), float(alpha), dropout
        self.scaling = self.alpha / self.r
        self.in_features, self.out_features = base.in_features, base.out_features
        self.merged = False
        self.base = base.requires_grad_(False)
        dtype = base.weight.dtype
        self.lora_A = Parameter(np.zeros((self.r, base.in_features), dtype=dtype))
        self.lora_B = Parameter(np.zeros((base.out_features, self.r), dtype=dtype))
        if base.in_features > 0:
            init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    @property
    def weight(self) -> Parameter:
        """The base Linear's weight (including the update while merged)."""
        return self.base.weight

    def delta_weight(self) -> np.ndarray:
        """``scaling · lora_B @ lora_A`` as an (out, in) ndarray of the base weight's dtype."""
        return (self.scaling * (self.lora_B.data @ self.lora_A.data)).astype(self.base.weight.dtype)

    def forward(self, x) -> Value:
        out = self.base(x)
        if self.merged:
            return out
        hidden = F.dropout(x, self.dropout, self.training)
        return out + F.linear(F.linear(hidden, self.lora_A), self.lora_B) * self.scaling

    def merge(self) -> LoRALinear:
        """``base.weight += scaling · lora_B @ lora_A`` in place (the Parameter object stays);
        forward then skips the low-rank path. Returns self."""
        return self._fold(merge=True)

    def unmerge(self) -> LoRALinear:
        """``base.weight -= scaling · lora_B @ lora_A`` in place, undoing ``merge`` (up to
        rounding in the weight's dtype). Returns self."""
        return self._fold(merge=False)

    def _fold(self, merge: bool) -> LoRALinear:
        if self.merged == merge:
            raise RuntimeError("LoRALinear.merge: already merged (call unmerge() first)" if merge
                               else "LoRALinear.unmerge: not merged (call merge() first)")
        with no_grad():
            (self.base.weight.add_ if merge else self.base.weight.sub_)(self.delta_weight())
        self.merged = merge
        return self

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha:g}, dropout={self.dropout}, merged={self.merged}")


def _matcher(target) -> Callable[[str], bool]:
    """``target`` (a name, names, or a predicate on dotted names) as a predicate: a name
    matches a dotted module name if it equals the whole name or its last component."""
    if callable(target):
        return lambda name: bool(target(name))
    names = (target,) if isinstance(target, str) else target
    names = tuple(names) if isinstance(names, Iterable) else None
    if names is None or not all(isinstance(name, str) for name in names):
        raise TypeError(f"lora.inject: target must be a module name, an iterable of names or a "
                        f"callable on dotted module names, got {target!r}")
    wanted = set(names)
    return lambda name: name in wanted or name.rsplit('.', 1)[-1] in wanted


def inject(model: Module, target, r: int = 8, alpha: float = 16,
           dropout: float = 0.0) -> dict[str, LoRALinear]:
    """Replace every ``nn.Linear`` of ``model`` that ``target`` selects by a ``LoRALinear``
    wrapping it, in place (also inside Sequential, ModuleList and ModuleDict), then freeze
    every Parameter of the model that is not an adapter, so only ``lora_A``/``lora_B`` train.

    ``target``: a name or names, each matching a Linear's dotted name (``'layers.0'``) or its
    last component (``'q'`` matches ``blocks.0.attn.q``), or a callable taking the dotted name
    and returning True to wrap. A Linear reachable under several names gets one wrapper, put
    everywhere. Linears already inside a LoRALinear and the model itself are never wrapped.
    Returns ``{dotted name: LoRALinear}`` of the new wrappers, in module order; a ValueError
    if no Linear matches.
    """
    if not isinstance(model, Module):
        raise TypeError(f"lora.inject: model must be an nn.Module, got {type(model).__name__}")
    matches = _matcher(target)
    modules = dict(model.named_modules(remove_duplicate=False))
    linears, wrappers, wrapped = [], {}, {}
    for name, module in modules.items():
        if not name or not isinstance(module, Linear):
            continue
        parent_name, _, child_name = name.rpartition('.')
        parent = modules[parent_name]
        linears.append(name)
        if isinstance(parent, LoRALinear) or not matches(name):
            continue
        if module not in wrappers:  # Modules hash by identity
            wrappers[module] = LoRALinear(module, r=r, alpha=alpha, dropout=dropout)
            wrapped[name] = wrappers[module]
        setattr(parent, child_name, wrappers[module])  # keeps the child's name and position
    if not wrapped:
        raise ValueError(f"lora.inject: no nn.Linear of {type(model).__name__} matches target "
                         f"{target!r}; its Linears are {linears}")
    for module in model.modules():
        if not isinstance(module, LoRALinear):
            for param in module._parameters.values():
                if param is not None:
                    param.requires_grad_(False)
    return wrapped


def _adapter_entries(model: Module, caller: str) -> dict[str, tuple[LoRALinear, str]]:
    """Dotted key (as in ``model.state_dict()``) -> (LoRALinear, 'lora_A' or 'lora_B')."""
    entries = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if isinstance(module, LoRALinear):
            for attribute in ADAPTER_NAMES:
                entries[f"{name}.{attribute}" if name else attribute] = (module, attribute)
    if not entries:
        raise ValueError(f"lora.{caller}: {type(model).__name__} has no LoRALinear (call "
                         f"tl.nn.lora.inject first)")
    return entries


def state_dict(model: Module) -> dict[str, np.ndarray]:
    """Copies of the adapter weights only: ``{'layers.0.lora_A': ndarray, ...}``, keyed as in
    ``model.state_dict()``; a ValueError if the model has no LoRALinear. Save it with
    ``tl.save``."""
    return {key: np.array(getattr(module, attribute).data, copy=True)
            for key, (module, attribute) in _adapter_entries(model, 'state_dict').items()}


def load_state_dict(model: Module, state: Mapping, strict: bool = True) -> IncompatibleKeys:
    """Copy adapter weights (from ``state_dict``, e.g. via ``tl.load``) into the LoRALinears
    of ``model`` in place. With ``strict`` a missing or unexpected adapter key is an error;
    a shape mismatch always is; nothing is copied unless everything checks out. A merged
    LoRALinear is refused (its base weight holds the old update: unmerge first).
    Returns ``(missing_keys, unexpected_keys)`` among adapter keys."""
    if not isinstance(state, Mapping):
        raise TypeError(f"lora.load_state_dict: expected a dict of arrays, got {type(state).__name__}")
    entries = _adapter_entries(model, 'load_state_dict')
    missing = [key for key in entries if key not in state]
    unexpected = [key for key in state if key not in entries]
    if strict and (missing or unexpected):
        raise RuntimeError(f"lora.load_state_dict: missing adapter keys {missing}, unexpected keys "
                           f"{unexpected}")
    merged = sorted({key.rpartition('.')[0] for key in state if key in entries and entries[key][0].merged})
    if merged:
        raise RuntimeError(f"lora.load_state_dict: LoRALinear(s) {merged} are merged; call unmerge() "
                           f"before loading new adapters")
    _load_into(model, {key: value for key, value in state.items() if key in entries}, strict=False)
    return IncompatibleKeys(missing, unexpected)
