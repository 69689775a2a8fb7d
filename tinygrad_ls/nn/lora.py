"""LoRA (Hu et al., 2021), shaped like loralib/minLoRA: ``LoRALinear`` wraps a frozen
``nn.Linear`` and adds a trainable low-rank update; ``inject`` swaps the matching Linears of a
model for wrappers and freezes everything else; ``state_dict``/``load_state_dict`` save and
load the adapter weights alone (a few kB instead of the whole model), with each layer's ``r``
and ``alpha``; ``merge_and_unload`` folds the updates in and gives back plain Linears.

    model = nn.MLP([16, 64, 64, 4])
    wrapped = tl.nn.lora.inject(model, target=('layers.0', 'layers.2'), r=4, alpha=8)
    optimizer = tl.optim.AdamW(p for p in model.parameters() if p.requires_grad)
    ...                                           # train: only lora_A / lora_B change
    tl.save(tl.nn.lora.state_dict(model), 'adapters.npz')
    tl.nn.lora.merge_and_unload(model)            # plain nn.Linears again, the update folded in

Nothing is applied twice or lost: a LoRALinear keeps its merged state in the buffer
``lora_merged`` (so a full ``state_dict`` saved while merged loads as merged), refuses
``load_state_dict`` while merged, and ``inject`` refuses a Linear whose weight is tied to
another module (a GPT's ``lm_head``), whose update could not be merged without changing the
other module too.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from ..checks import check_probability, is_int, is_number
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
SETTING_NAMES = ('lora_r', 'lora_alpha')  # in adapter files: checked on load


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
        _check_options(r, alpha, dropout)
        self.r, self.alpha, self.dropout = int(r), float(alpha), dropout
        self.scaling = self.alpha / self.r
        self.in_features, self.out_features = base.in_features, base.out_features
        self.merged = False  # mirrored in the buffer lora_merged, which state_dict carries
        self.register_buffer('lora_merged', np.array(False))
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
        self.lora_merged[...] = merge
        return self

    def _check_loaded_state(self, prefix: str, arrays) -> list[str]:
        """``Module.load_state_dict`` into a merged wrapper is refused (its base weight holds
        the old update, which a later ``unmerge()`` would subtract from the new weight); a
        state saved while merged must bring its base weight and both adapters."""
        mine = [key for key in arrays if key.startswith(prefix)]
        if not mine:
            return []
        name = prefix[:-1] or type(self).__name__
        if self.merged:
            return [f"LoRALinear {name!r} is merged (its base weight holds the adapters' update): loading "
                    f"{mine[:3]} into it would corrupt base.weight at the next unmerge(); call unmerge() "
                    "first"]
        flag = arrays.get(prefix + 'lora_merged')
        needed = [prefix + key for key in ('base.weight', 'lora_A', 'lora_B') if prefix + key not in arrays]
        if flag is not None and bool(flag) and needed:
            return [f"{prefix}lora_merged is set (the state was saved while merged) but {needed} are not in "
                    "the state_dict: the merged weight could not be unmerged exactly"]
        return []

    def _state_loaded(self, prefix: str, arrays) -> None:
        """A state saved while merged loads as merged: its base weight already holds the
        update, so forward must not add it again."""
        if prefix + 'lora_merged' in arrays:
            self.merged = bool(self.lora_merged)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha:g}, dropout={self.dropout}, merged={self.merged}")


def _check_options(r, alpha, dropout) -> None:
    """ValueError for an ``r`` that is not a positive int, an ``alpha`` that is not a finite
    number or a ``dropout`` that is not a probability."""
    if not is_int(r) or r < 1:
        raise ValueError(f"LoRALinear: r must be a positive int, got {r!r}")
    if not is_number(alpha) or not math.isfinite(alpha):
        raise ValueError(f"LoRALinear: alpha must be a finite number, got {alpha!r}")
    check_probability('LoRALinear', dropout, 'dropout')


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
    linears, chosen = [], []
    for name, module in modules.items():
        if not name or not isinstance(module, Linear):
            continue
        parent_name, _, child_name = name.rpartition('.')
        linears.append(name)
        if not isinstance(modules[parent_name], LoRALinear) and matches(name):
            chosen.append((name, module, modules[parent_name], child_name))
    if not chosen:
        raise ValueError(f"lora.inject: no nn.Linear of {type(model).__name__} matches target "
                         f"{target!r}; its Linears are {linears}")
    _refuse_tied(modules, chosen)
    _check_options(r, alpha, dropout)  # before any change
    wrappers, wrapped = {}, {}
    for name, module, parent, child_name in chosen:
        if module not in wrappers:  # Modules hash by identity
            wrappers[module] = LoRALinear(module, r=r, alpha=alpha, dropout=dropout)
            wrapped[name] = wrappers[module]
        setattr(parent, child_name, wrappers[module])  # keeps the child's name and position
    for module in model.modules():
        if not isinstance(module, LoRALinear):
            for param in module._parameters.values():
                if param is not None:
                    param.requires_grad_(False)
    return wrapped


def _refuse_tied(modules: dict, chosen: list) -> None:
    """ValueError if a chosen Linear's weight or bias is also a Parameter of another module
    (a tied weight: a GPT's ``lm_head.weight`` is its token embedding's weight). Merging the
    update into it would change the other module as well, and keeping the modules tied while
    merged is impossible (one needs W + ΔW, the other W), so such a Linear is not wrapped."""
    owners: dict[int, list] = {}
    for name, module in modules.items():
        for param_name, param in module._parameters.items():
            if param is not None:
                owners.setdefault(id(param), []).append((name, param_name, module))
    for name, linear, _, _ in chosen:
        for param_name in ('weight', 'bias'):
            param = linear._parameters.get(param_name)
            others = [f"{owner}.{attribute}" if owner else attribute
                      for owner, attribute, module in owners.get(id(param), []) if module is not linear]
            if param is not None and others:
                copy = f"model.{name}.{param_name} = nn.Parameter(model.{name}.{param_name}.data.copy())"
                raise ValueError(f"lora.inject: {name}.{param_name} is tied to {others[0]} (one Parameter "
                                 f"shared by two modules); merging LoRA's update into it would change "
                                 f"{others[0]} too, so {name!r} cannot be wrapped. Leave it out of target, "
                                 f"or untie it first: {copy}")


def merge_and_unload(model: Module) -> Module:
    """Fold every LoRALinear's update into its base weight (``merge()``, unless merged already)
    and put the base ``nn.Linear`` back in its place: the model with plain Linears, state_dict
    keys as before ``inject`` (``layers.0.weight``, no ``base.`` and no adapter keys) and the
    same outputs. In place; returns ``model`` (a LoRALinear passed itself returns its merged
    base). The base Linears stay frozen (``requires_grad=False``) as ``inject`` left them; call
    ``model.requires_grad_(True)`` to train them. A ValueError if there is no LoRALinear."""
    if not isinstance(model, Module):
        raise TypeError(f"lora.merge_and_unload: model must be an nn.Module, got {type(model).__name__}")
    if isinstance(model, LoRALinear):
        return (model if model.merged else model.merge()).base
    modules = dict(model.named_modules(remove_duplicate=False))
    found = [(name, module) for name, module in modules.items() if isinstance(module, LoRALinear)]
    if not found:
        raise ValueError(f"lora.merge_and_unload: {type(model).__name__} has no LoRALinear (call "
                         "tl.nn.lora.inject first)")
    for _, wrapper in found:
        if not wrapper.merged:  # a wrapper reachable under two names is merged once
            wrapper.merge()
    for name, wrapper in found:
        parent_name, _, child_name = name.rpartition('.')
        setattr(modules[parent_name], child_name, wrapper.base)
    return model


def _adapter_entries(model: Module, caller: str) -> dict[str, tuple[LoRALinear, str]]:
    """Dotted key (as in ``model.state_dict()``) -> (LoRALinear, entry): ``'lora_A'``,
    ``'lora_B'`` (the adapters) and ``'lora_r'``, ``'lora_alpha'`` (the layer's settings)."""
    entries = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if isinstance(module, LoRALinear):
            for entry in (*ADAPTER_NAMES, *SETTING_NAMES):
                entries[f"{name}.{entry}" if name else entry] = (module, entry)
    if not entries:
        raise ValueError(f"lora.{caller}: {type(model).__name__} has no LoRALinear (call "
                         f"tl.nn.lora.inject first)")
    return entries


def state_dict(model: Module) -> dict[str, np.ndarray]:
    """The adapter file of ``model``: for each LoRALinear (its dotted name ``N``, the targets),
    copies of ``N.lora_A`` and ``N.lora_B`` keyed as in ``model.state_dict()``, and its
    settings ``N.lora_r`` (an int64 0-d array) and ``N.lora_alpha`` (float64 0-d), which
    ``load_state_dict`` checks. A ValueError if the model has no LoRALinear. Save it with
    ``tl.save``."""
    state = {}
    for key, (module, entry) in _adapter_entries(model, 'state_dict').items():
        if entry == 'lora_r':
            state[key] = np.array(module.r, dtype=np.int64)
        elif entry == 'lora_alpha':
            state[key] = np.array(module.alpha, dtype=np.float64)
        else:
            state[key] = np.array(getattr(module, entry).data, copy=True)
    return state


def load_state_dict(model: Module, state: Mapping, strict: bool = True) -> IncompatibleKeys:
    """Copy adapter weights (from ``state_dict``, e.g. via ``tl.load``) into the LoRALinears
    of ``model`` in place. Refused, before anything is copied, each naming the key: with
    ``strict`` a missing or unexpected key (an adapter file for other targets, or one without
    ``lora_r``/``lora_alpha``: load an old file with ``strict=False``); always, an ``r`` or
    ``alpha`` that differs from the model's LoRALinear (an alpha=16 adapter would be applied
    at the wrong scale in an alpha=4 model), a shape mismatch, and a merged LoRALinear (its
    base weight holds the old update: unmerge first). Returns ``(missing_keys,
    unexpected_keys)`` among adapter keys."""
    if not isinstance(state, Mapping):
        raise TypeError(f"lora.load_state_dict: expected a dict of arrays, got {type(state).__name__}")
    entries = _adapter_entries(model, 'load_state_dict')
    missing = [key for key in entries if key not in state]
    unexpected = [key for key in state if key not in entries]
    if strict and (missing or unexpected):
        raise RuntimeError(f"lora.load_state_dict: missing adapter keys {missing}, unexpected keys "
                           f"{unexpected}")
    for key, value in state.items():
        if key in entries and entries[key][1] in SETTING_NAMES:
            _check_setting(key, value, *entries[key])
    merged = sorted({key.rpartition('.')[0] for key in state if key in entries and entries[key][0].merged})
    if merged:
        raise RuntimeError(f"lora.load_state_dict: LoRALinear(s) {merged} are merged; call unmerge() "
                           f"before loading new adapters")
    arrays = {key: value for key, value in state.items()
              if key in entries and entries[key][1] in ADAPTER_NAMES}
    _load_into(model, arrays, strict=False)
    return IncompatibleKeys(missing, unexpected)


def _check_setting(key: str, value, module: LoRALinear, entry: str) -> None:
    """RuntimeError unless the adapter file's ``r`` or ``alpha`` under ``key`` is the model's."""
    mine = module.r if entry == 'lora_r' else module.alpha
    try:
        theirs = float(np.asarray(value).item())
    except (TypeError, ValueError):
        raise RuntimeError(f"lora.load_state_dict: {key} must be one number, got {value!r}") from None
    if theirs != mine:
        name, setting = key.rpartition('.')[0], entry.removeprefix('lora_')
        raise RuntimeError(f"lora.load_state_dict: {key} is {theirs:g} in the adapter file, but the "
                           f"model's LoRALinear {name!r} has {setting}={mine:g} (scaling alpha/r = "
                           f"{module.scaling:g}); inject with the file's r and alpha to load it")
