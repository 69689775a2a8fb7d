"""Containers of modules, as in PyTorch: ``Sequential`` (applies its modules in order),
``ModuleList`` (a registered list) and ``ModuleDict`` (a registered dict).

A Python list or dict of modules assigned to a Module is not registered: its parameters are
not in ``parameters()`` or ``state_dict()``. These containers register each module as a child,
named by its position (``'0'``, ``'1'``, ...) or its key, so ``state_dict`` keys read
``blocks.0.weight`` or ``heads.policy.weight``, exactly as PyTorch names them.

    self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
    self.heads = nn.ModuleDict({'policy': nn.Linear(8, 4), 'value': nn.Linear(8, 1)})
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ..checks import is_int
from .module import Module, _indent


class _Indexed(Module):
    """What Sequential and ModuleList share: int indexing (negative from the end), ``len``,
    iteration over the modules, and renumbering ``'0'``, ``'1'``, ... after a deletion."""

    def _name_at(self, index) -> str:
        if not is_int(index):
            raise TypeError(f"{type(self).__name__} indices must be ints or slices, "
                            f"got {type(index).__name__}")
        names = list(self._modules)
        if not -len(names) <= index < len(names):
            raise IndexError(f"{type(self).__name__} index {index} is out of range for {len(names)} modules")
        return names[index]

    def __setitem__(self, index: int, module: Module) -> None:
        """Replace the module at ``index`` (its name and position stay), e.g. a new head."""
        _check_module(f"{type(self).__name__} item assignment", module)
        self._modules[self._name_at(index)] = module

    def __delitem__(self, index) -> None:
        """Remove the module(s) at ``index`` (an int or a slice); the rest are renumbered
        0, 1, ... as in PyTorch."""
        names = list(self._modules)[index] if isinstance(index, slice) else [self._name_at(index)]
        for name in names:
            del self._modules[name]
        self._renumber(list(self._modules.values()))

    def _renumber(self, modules: list) -> None:
        self._modules.clear()
        self._modules.update((str(position), module) for position, module in enumerate(modules))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(_Indexed):
    """Modules applied in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    The modules are registered as children named ``'0'``, ``'1'``, ... (so their parameters read
    ``0.weight``, ...), or under the keys of a single dict argument. ``seq[i]`` is a module
    (negative ``i`` counts from the end), ``seq[i:j]`` a Sequential of those modules keeping
    their names (as in PyTorch); ``len(seq)`` and ``for m in seq`` work.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            named = list(modules[0].items())
        else:
            named = [(str(i), module) for i, module in enumerate(modules)]
        for name, module in named:
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: item {name} must be a Module, got {type(module).__name__}")
            self.add_module(name, module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by its position); returns self."""
        _check_module('Sequential.append', module)
        self.add_module(str(len(self)), module)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(dict(list(self._modules.items())[index]))
        return self._modules[self._name_at(index)]


class ModuleList(_Indexed):
    """A list of modules, each registered as a child named by its position (PyTorch's
    ``nn.ModuleList``): ``layers[i]`` (negative from the end), ``layers[i:j]`` (a new
    ModuleList, renumbered from 0), ``len``, iteration, ``append``, ``extend``, ``insert``,
    ``pop``, ``del layers[i]``, ``layers[i] = module``, ``+=`` (extend) and ``+`` (a new list).
    It has no ``forward``: a model calls its modules in its own ``forward``.
    """

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[self._name_at(index)]

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        return self.extend([module])

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add every module of ``modules`` at the end, in order (all checked first); returns self."""
        modules = _checked_modules('ModuleList.extend', modules)
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (Python's ``list.insert``: negative
        counts from the end, past the end appends); the modules after it are renumbered."""
        _check_module('ModuleList.insert', module)
        if not is_int(index):
            raise TypeError(f"ModuleList.insert: index must be an int, got {type(index).__name__}")
        modules = list(self._modules.values())
        modules.insert(int(index), module)
        self._renumber(modules)

    def pop(self, index: int | slice = -1):
        """Remove the module at ``index`` (the last by default) and return it."""
        module = self[index]
        del self[index]
        return module

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(list(self) + _checked_modules('ModuleList +', other))

    def __repr__(self) -> str:
        """PyTorch's layout, with runs of equal modules shown once: ``(0-2): 3 x Linear(...)``."""
        runs = []  # [first index, last index, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        if not runs:
            return f"{type(self).__name__}()"
        lines = [_indent(f"({first}): {text}" if first == last
                         else f"({first}-{last}): {last - first + 1} x {text}")
                 for first, last, text in runs]
        return f"{type(self).__name__}(\n  " + '\n  '.join(lines) + '\n)'


class ModuleDict(Module):
    """A dict of modules, each registered as a child under its key (PyTorch's
    ``nn.ModuleDict``): ``heads['policy']``, ``heads[key] = module``, ``del heads[key]``,
    ``key in heads``, ``len``, iteration over the keys, ``keys()``, ``values()``, ``items()``,
    ``update(mapping or (key, module) pairs)``, ``pop(key)``, ``clear()``. Insertion order is
    kept. Keys are strings without '.', and may not shadow an attribute (``'train'``).
    It has no ``forward``.
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no key {key!r} (keys: {list(self._modules)})")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        _check_module(f"ModuleDict[{key!r}]", module)
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        """Remove ``key`` and return its module."""
        module = self[key]
        del self._modules[key]
        return module

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable) -> None:
        """Add or replace entries from a mapping (a dict, a ModuleDict) or an iterable of
        ``(key, module)`` pairs, in their order. Every pair is checked before any is added."""
        if isinstance(modules, (Mapping, ModuleDict)):
            pairs = list(modules.items())
        elif isinstance(modules, Iterable) and not isinstance(modules, str):
            pairs = [_pair(j, item) for j, item in enumerate(modules)]
        else:
            raise TypeError(f"ModuleDict.update: expected a mapping or an iterable of (key, module) "
                            f"pairs, got {type(modules).__name__}")
        for key, module in pairs:
            _check_module(f"ModuleDict.update: key {key!r}", module)
            if key not in self._modules:
                self._check_new_name(key, 'module', '_modules')
        for key, module in pairs:
            self.add_module(key, module)


def _pair(j: int, item) -> tuple:
    """Element ``j`` of ``ModuleDict.update``'s iterable as a ``(key, module)`` tuple."""
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return tuple(item)
    raise TypeError(f"ModuleDict.update: element #{j} must be a (key, module) pair, got {item!r}")


def _check_module(where: str, module) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{where}: expected a Module, got {type(module).__name__}")


def _checked_modules(where: str, modules) -> list:
    """``modules`` (any iterable of Modules, e.g. a list or another ModuleList) as a list,
    every item checked."""
    if not isinstance(modules, Iterable):
        raise TypeError(f"{where}: expected an iterable of Modules, got {type(modules).__name__}")
    modules = list(modules)
    for i, module in enumerate(modules):
        _check_module(f"{where}: item {i}", module)
    return modules
