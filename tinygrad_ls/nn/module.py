"""``Module``: the base class of layers and models (PyTorch's ``torch.nn.Module``, reduced).

A Module discovers its parts when they are assigned as attributes: ``__setattr__`` puts a
``Parameter`` into the insertion-ordered ``_parameters`` dict and a ``Module`` into
``_modules``; those dicts are the only place they live (``__getattr__`` reads them back).
Everything else walks the tree of modules with an explicit stack, never recursion.

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(2, 8)
            self.out = nn.Linear(8, 1)

        def forward(self, x):
            return self.out(self.hidden(x).relu())

    dict(Net().named_parameters()).keys()  # hidden.weight, hidden.bias, out.weight, out.bias
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np

from .. import tracing
from ..mode import modes, sequence_mark
from . import state
from .parameter import Parameter
from .registry import Registry
from .state import IncompatibleKeys


class Module:
    """Base class: subclass it, call ``super().__init__()`` first, assign Parameters and
    Modules as attributes and define ``forward``; ``module(x)`` calls ``forward(x)``.

    ``training`` (True after construction) is switched for the whole tree by ``train()`` and
    ``eval()``; layers such as Dropout read it.
    """

    # Counts the writes to this module's registries (an instance attribute from the first write
    # on; ``Registry`` bumps it): a plan of ``tl.compile`` is replayed only while the modules it
    # used are unchanged since the recording.
    structure_version = 0

    def __init__(self) -> None:
        object.__setattr__(self, '_parameters', Registry(self))
        object.__setattr__(self, '_buffers', Registry(self))
        object.__setattr__(self, '_modules', Registry(self))
        object.__setattr__(self, '_non_persistent_buffers_set', set())
        object.__setattr__(self, 'training', True)

    # ---- registration -----------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        """Register a Parameter or a Module under ``name`` (replacing whatever had that name,
        in its place: ``self.weight = new_param`` keeps the parameter order). None drops a
        Parameter or Module registered under ``name``; anything else assigned to such a name is
        a TypeError, as in PyTorch (``lin.weight = Value(...)`` would silently take the weight
        out of the model). Other values are plain attributes; a buffer's name takes an
        ndarray or None."""
        if isinstance(value, (Parameter, Module)):
            if '_parameters' not in self.__dict__:
                raise AttributeError(f"cannot assign {type(value).__name__} '{name}' before "
                                     f"Module.__init__() was called (call super().__init__() first)")
            registry = self._parameters if isinstance(value, Parameter) else self._modules
            if name not in registry:
                self._forget(name, buffers=True)
            registry[name] = value
            return
        if value is not None:
            for registry, kind, expected in (('_parameters', 'parameter', 'nn.Parameter'),
                                             ('_modules', 'child module', 'nn.Module')):
                if name in self.__dict__.get(registry, ()):
                    raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as "
                                    f"{kind} '{name}' ({expected} or None expected); to change its "
                                    f"numbers, update it in place: `with tl.no_grad(): "
                                    f"module.{name}.copy_(new_values)`")
        buffers = self.__dict__.get('_buffers')
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' "
                                f"(an np.ndarray or None expected)")
            buffers[name] = value
            return
        self._forget(name)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        """Called only when normal lookup fails: the registered parts live in the registries."""
        for registry in ('_parameters', '_buffers', '_modules'):
            found = self.__dict__.get(registry)
            if found is not None:
                value = found.get(name, _ABSENT)  # (get: a Registry's [] is not the dict fast path)
                if value is not _ABSENT:
                    return value
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if not self._forget(name, buffers=True):
            object.__delattr__(self, name)

    def _forget(self, name: str, buffers: bool = False) -> bool:
        """Drop ``name`` from the registries and the instance dict; True if it was anywhere."""
        found = False
        registries = ('_parameters', '_modules', '_buffers') if buffers else ('_parameters', '_modules')
        for registry in registries:
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                del entries[name]
                found = True
        if buffers:
            self.__dict__.get('_non_persistent_buffers_set', set()).discard(name)
        if name in self.__dict__:
            object.__delattr__(self, name)
            found = True
        return found

    def __dir__(self) -> list:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """``self.<name> = param`` with the name checked (PyTorch's ``register_parameter``)."""
        self._check_new_name(name, 'parameter', '_parameters')
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, "
                            f"got {type(param).__name__}")
        setattr(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """``self.<name> = module`` with the name checked (for names like ``'0'``)."""
        self._check_new_name(name, 'module', '_modules')
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module or None, got {type(module).__name__}")
        setattr(self, name, module)

    def register_buffer(self, name: str, array: np.ndarray | None, persistent: bool = True) -> None:
        """A named ndarray of state that is not a Parameter, e.g. BatchNorm's running mean:
        listed by ``buffers()``, cast by ``to(dtype)`` if floating, and (if ``persistent``)
        saved in ``state_dict`` and loaded by ``load_state_dict``. Registering an existing
        buffer's name again replaces it. Later assignments to ``self.<name>`` must be ndarrays
        or None (None keeps the name registered but leaves it out of ``state_dict``).
        """
        self._check_new_name(name, 'buffer', '_buffers')
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(f"register_buffer: '{name}' must be an np.ndarray or None, "
                            f"got {type(array).__name__}")
        if not isinstance(persistent, bool):
            raise TypeError(f"register_buffer: persistent must be a bool, got {persistent!r}")
        self._buffers[name] = array
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def _check_new_name(self, name: str, kind: str, registry: str) -> None:
        """PyTorch's checks of ``register_*``/``add_module``: a str without '.', not empty, and
        not already taken by another attribute (a method, a plain attribute, or an entry of
        another registry), so e.g. ``ModuleDict({'train': m})`` cannot hide ``train()``."""
        if registry not in self.__dict__:
            raise AttributeError(f"cannot register {kind} '{name}' before Module.__init__() was called "
                                 f"(call super().__init__() first)")
        _check_name(type(self).__name__, name, kind)
        if name not in self.__dict__[registry] and hasattr(self, name):
            raise KeyError(f"{type(self).__name__}: attribute '{name}' already exists; cannot register "
                           f"a {kind} under that name")

    # ---- calling ----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if modes.watching:
            tracing.report('module_called', self)
        if not modes.grad_enabled:  # no op is recorded: nothing for a picture to box
            return self.forward(*args, **kwargs)
        start = sequence_mark()  # ops recorded by this call are numbered in (start, end)
        out = self.forward(*args, **kwargs)
        self.__dict__['_last_call_span'] = (start, sequence_mark())  # for tl.draw_graph clusters
        return out

    # ---- traversal --------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = '',
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (name ``prefix``) and every submodule,
        depth first in registration order (PyTorch's signature and order). A module reachable
        twice is yielded once, under the first name, unless ``remove_duplicate=False``.
        ``memo``: a set of modules to skip, to which the yielded ones are added (PyTorch's)."""
        seen = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if module in seen:  # Modules hash by identity
                continue
            if remove_duplicate:
                seen.add(module)
            yield name, module
            children = list(module._modules.items())
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self) -> Iterator[Module]:
        """This module and every submodule, each once (see ``named_modules``)."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for the direct submodules, each once."""
        seen = set()
        for name, module in self._modules.items():
            if module not in seen:
                seen.add(module)
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct submodules, each once."""
        for _, module in self.named_children():
            yield module

    def named_parameters(self, prefix: str = '', recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` such as ``('layers.0.weight', p)``: this module's own
        Parameters first, then each submodule's; a shared Parameter is yielded once, under the
        first name that reaches it (unless ``remove_duplicate=False``)."""
        return self._named_members('_parameters', prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter of this module and its submodules, each once, in registration order."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = '', recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        """``(dotted name, ndarray)`` for every buffer that is not None, persistent or not
        (the same order and sharing rule as ``named_parameters``)."""
        return self._named_members('_buffers', prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        """Every buffer that is not None, each once."""
        for _, array in self.named_buffers(recurse=recurse):
            yield array

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool):
        """PyTorch's ``_named_members``: the entries of ``registry`` of every module, dotted,
        skipping None and (with ``remove_duplicate``) objects already yielded."""
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse
                   else [(prefix, self)])
        seen = {}  # id -> object (held, so an id cannot be reused while we iterate)
        for module_name, module in modules:
            for name, member in getattr(module, registry).items():
                if member is None or id(member) in seen:
                    continue
                if remove_duplicate:
                    seen[id(member)] = member
                yield (f"{module_name}.{name}" if module_name else name), member

    # ---- modes and gradients ----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set ``training`` to ``mode`` on this module and every submodule; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, 'training', mode)
        return self

    def eval(self) -> Module:
        """``train(False)``: Dropout becomes the identity. Returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` of every Parameter (``False`` freezes them, e.g. for
        fine-tuning: backward then leaves their ``.grad`` None). Returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    @tracing.replayed
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every Parameter's gradient: to None (default), or to zeros in place."""
        for param in self.parameters():
            if set_to_none:
                param._grad = None
            elif param._grad is not None:
                param._grad[...] = 0

    def apply(self, fn: Callable[[Module], object]) -> Module:
        """Call ``fn(module)`` on every submodule, then on this module (PyTorch's order: each
        child's whole subtree before the next child, a module after its children), e.g. to
        initialise weights with ``nn.init``. Returns self."""
        if not callable(fn):
            raise TypeError(f"apply: fn must be callable, got {type(fn).__name__}")
        stack = [(self, False)]
        while stack:
            module, children_done = stack.pop()
            if children_done:
                fn(module)
                continue
            stack.append((module, True))
            stack.extend((child, False) for child in reversed(list(module.children())))
        return self

    def to(self, dtype) -> Module:
        """Cast every floating Parameter (and its ``grad``) and every floating buffer to the
        floating ``dtype`` (e.g. ``np.float64``), in place: the Parameter objects stay the same,
        so an optimizer built before still updates them. Integer ones are left alone (as in
        PyTorch). Returns self."""
        try:
            dtype = np.dtype(dtype) if dtype is not None else None
        except TypeError:
            raise TypeError(f"{type(self).__name__}.to: expected a floating dtype such as np.float64, "
                            f"got {dtype!r}") from None
        if dtype is None or dtype.kind != 'f':
            raise TypeError(f"{type(self).__name__}.to: only floating dtypes are accepted (as "
                            f"torch.nn.Module.to), got {dtype}")
        for param in self.parameters():
            if param.dtype.kind == 'f':
                param.data = param.data.astype(dtype, copy=False)
                if param.grad is not None:
                    param.grad = param.grad.astype(dtype, copy=False)
        for module in self.modules():
            for name, array in module._buffers.items():
                if array is not None and array.dtype.kind == 'f':
                    module._buffers[name] = array.astype(dtype, copy=False)
        return self

    def double(self) -> Module:
        """``to(np.float64)``. Returns self."""
        return self.to(np.float64)

    def float(self) -> Module:
        """``to(np.float32)``. Returns self."""
        return self.to(np.float32)

    # ---- saving and loading (nn/state.py) ----------------------------------------------------
    def state_dict(self) -> dict:
        """Name -> a copy (``np.ndarray``) of every Parameter's data and every persistent
        buffer, in registration order: each module's Parameters, its buffers, then its
        submodules. A shared Parameter is listed under each name that reaches it."""
        return state.state_dict(self)

    def load_state_dict(self, state_dict: Mapping, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` (name -> ndarray, Value or nested list) into this
        module's Parameters and persistent buffers, in place, so optimizers holding them keep
        working.

        Everything is checked before anything is copied: a value whose shape differs from its
        Parameter's is always an error; with ``strict=True`` so is a missing or an unexpected
        key. One RuntimeError lists every problem. Values are cast to each Parameter's dtype;
        refused, each naming the key: complex values, values that overflow the dtype (1e300
        into float32), two different arrays under the keys of one tied Parameter, and what a
        layer's ``_check_loaded_state`` refuses (a negative BatchNorm ``running_var``, a merged
        LoRALinear). Returns ``(missing_keys, unexpected_keys)``.
        """
        return state.load_state_dict(self, state_dict, strict)

    def _check_loaded_state(self, prefix: str, arrays: Mapping) -> list[str]:
        """What is wrong with the arrays ``load_state_dict`` is about to copy (``arrays``: full
        dotted key -> ndarray of the right shape; this module's keys start with ``prefix``),
        as messages naming the key; [] for nothing. Layers with rules of their own override it
        (BatchNorm: a negative ``running_var``). Nothing has been copied yet when it runs."""
        return []

    def _state_loaded(self, prefix: str, arrays: Mapping) -> None:
        """Called once ``load_state_dict`` has copied ``arrays`` in (e.g. LoRALinear reads its
        merged flag back)."""

    # ---- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr``; layers override it."""
        return ''

    def __repr__(self) -> str:
        """PyTorch's layout: ``Name(extra)`` or one indented ``(name): child`` line per child."""
        lines = [f"({name}): {_indent(repr(child))}" for name, child in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = ([extra] if extra else []) + lines
        return f"{type(self).__name__}(\n  " + '\n  '.join(body) + '\n)'


_ABSENT = object()


def _check_name(owner: str, name: str, kind: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{owner}: {kind} name must be a str, got {type(name).__name__} {name!r}")
    if not name or '.' in name:
        raise KeyError(f"{owner}: {kind} name must be a non-empty string without '.', got {name!r}")


def _indent(text: str) -> str:
    return text.replace('\n', '\n  ')

