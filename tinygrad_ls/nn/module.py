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

from collections import namedtuple
from collections.abc import Iterator, Mapping

import numpy as np

from ..ops.base import sequence_mark
from ..value import Value, to_numpy
from .parameter import Parameter

IncompatibleKeys = namedtuple('IncompatibleKeys', ['missing_keys', 'unexpected_keys'])
IncompatibleKeys.__doc__ = "What ``load_state_dict(strict=False)`` skipped: two lists of names."


class Module:
    """Base class: subclass it, call ``super().__init__()`` first, assign Parameters and
    Modules as attributes and define ``forward``; ``module(x)`` calls ``forward(x)``.

    ``training`` (True after construction) is switched for the whole tree by ``train()`` and
    ``eval()``; layers such as Dropout read it.
    """

    def __init__(self) -> None:
        object.__setattr__(self, '_parameters', {})
        object.__setattr__(self, '_buffers', {})
        object.__setattr__(self, '_modules', {})
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
            if found is not None and name in found:
                return found[name]
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
        if name in self.__dict__:
            object.__delattr__(self, name)
            found = True
        return found

    def __dir__(self) -> list:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """``self.<name> = param`` with the name checked (PyTorch's ``register_parameter``)."""
        _check_name(name, 'parameter')
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, "
                            f"got {type(param).__name__}")
        setattr(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """``self.<name> = module`` with the name checked (for names like ``'0'``)."""
        _check_name(name, 'module')
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module or None, got {type(module).__name__}")
        setattr(self, name, module)

    def register_buffer(self, name: str, array: np.ndarray | None) -> None:
        """A named ndarray of state that is not a Parameter (saved in ``state_dict``).

        Later assignments to ``self.<name>`` must be ndarrays or None.
        """
        _check_name(name, 'buffer')
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(f"register_buffer: '{name}' must be an np.ndarray or None, "
                            f"got {type(array).__name__}")
        self._forget(name, buffers=True)
        self._buffers[name] = array

    # ---- calling ----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        start = sequence_mark()  # ops recorded by this call are numbered in (start, end)
        out = self.forward(*args, **kwargs)
        self.__dict__['_last_call_span'] = (start, sequence_mark())  # for tl.draw_graph clusters
        return out

    # ---- traversal --------------------------------------------------------------------------
    def named_modules(self, prefix: str = '', remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (name ``prefix``) and every submodule,
        depth first in registration order; a module reachable twice is yielded once unless
        ``remove_duplicate=False``."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if module in seen:  # Modules hash by identity
                    continue
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
        modules = (self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)])
        seen = set()
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if remove_duplicate:
                    if param in seen:  # Values hash by identity
                        continue
                    seen.add(param)
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every Parameter of this module and its submodules, each once, in registration order."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = '', recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        """``(dotted name, ndarray)`` for every buffer that is not None."""
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, array in module._buffers.items():
                if array is not None:
                    yield (f"{module_name}.{name}" if module_name else name), array

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, array in self.named_buffers(recurse=recurse):
            yield array

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

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every Parameter's gradient: to None (default), or to zeros in place."""
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad[...] = 0

    # ---- saving and loading -----------------------------------------------------------------
    def _state_entries(self) -> dict:
        """Name -> (owner module, attribute name, kind) for every Parameter and buffer, under
        every name that reaches it (shared ones appear under each name, as in PyTorch)."""
        entries = {}
        for module_name, module in self.named_modules(remove_duplicate=False):
            dotted = f"{module_name}." if module_name else ''
            for name in module._parameters:
                entries[dotted + name] = (module, name, 'parameter')
            for name, array in module._buffers.items():
                if array is not None:
                    entries[dotted + name] = (module, name, 'buffer')
        return entries

    def state_dict(self) -> dict:
        """Name -> a copy (``np.ndarray``) of every Parameter's data and every buffer, in
        registration order: each module's Parameters, its buffers, then its submodules."""
        state = {}
        for key, (module, name, kind) in self._state_entries().items():
            array = module._parameters[name].data if kind == 'parameter' else module._buffers[name]
            state[key] = np.array(array, copy=True)
        return state

    def load_state_dict(self, state_dict: Mapping, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` (name -> ndarray, Value or nested list) into this
        module's Parameters and buffers, in place, so optimizers holding them keep working.

        Everything is checked before anything is copied: a value whose shape differs from its
        Parameter's is always an error; with ``strict=True`` so is a missing or an unexpected
        key. One RuntimeError lists every problem. Values are cast to each Parameter's dtype.
        Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a dict of arrays, got {type(state_dict).__name__}")
        entries = self._state_entries()
        missing = [key for key in entries if key not in state_dict]
        unexpected = [key for key in state_dict if key not in entries]
        problems, arrays = [], {}
        for key, value in state_dict.items():
            if key not in entries:
                continue
            module, name, kind = entries[key]
            target = module._parameters[name].data if kind == 'parameter' else module._buffers[name]
            array = _as_numeric_array(value)
            if array is None:
                problems.append(f'value for {key} is not numeric (got {type(value).__name__})')
            elif array.shape != target.shape:
                problems.append(f"size mismatch for {key}: copying a value of shape {array.shape} "
                                f"from state_dict, the shape in the current model is {target.shape}")
            else:
                arrays[key] = array
        if strict:
            key_problems = [f"{what} key(s) in state_dict: " + ', '.join(f'"{key}"' for key in keys) + '.'
                            for what, keys in (('Missing', missing), ('Unexpected', unexpected)) if keys]
            problems = key_problems + problems
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + '\n\t'.join(problems))
        for key, array in arrays.items():
            module, name, kind = entries[key]
            if kind == 'parameter':
                _copy_into_value(module._parameters[name], array)
            else:
                module._buffers[name][...] = array
        return IncompatibleKeys(missing, unexpected)

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


def _check_name(name: str, kind: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
    if not name or '.' in name:
        raise KeyError(f"{kind} name must be a non-empty string without '.', got {name!r}")


def _indent(text: str) -> str:
    return text.replace('\n', '\n  ')


def _as_numeric_array(value) -> np.ndarray | None:
    """``value`` (ndarray, Value, number or nested list) as an ndarray, or None if not numeric."""
    try:
        array = to_numpy(value)
    except ValueError:  # ragged nested lists
        return None
    return array if array.dtype.kind in 'biuf' else None


def _copy_into_value(param: Value, array: np.ndarray) -> None:
    """Write ``array`` into ``param.data`` in place (cast to its dtype), or replace a
    read-only array by a fresh copy."""
    if param.data.flags.writeable:
        param.data[...] = array
    else:
        param.data = np.array(array, dtype=param.data.dtype)
