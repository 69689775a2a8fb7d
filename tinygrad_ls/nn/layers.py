"""Layers: Linear, Sequential, MLP, the activations ReLU/Tanh/Sigmoid/Identity, and Dropout."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from ..dtypes import get_default_dtype
from ..random import generator
from ..value import Value, data_of
from . import functional as F
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """``y = x @ weight.T + bias``: x (..., in_features) -> y (..., out_features).

    ``weight`` has shape (out_features, in_features) and ``bias`` (out_features,) (None with
    ``bias=False``), both drawn as in PyTorch from ``U(-1/sqrt(in_features), 1/sqrt(in_features))``
    (``kaiming_uniform_(a=sqrt(5))`` for the weight), using the library's generator (seeded by
    ``tl.manual_seed``), in ``dtype`` (default: ``tl.get_default_dtype()``).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        for name, size in (('in_features', in_features), ('out_features', out_features)):
            if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {size!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = Parameter(_uniform((out_features, in_features), bound, dtype))
        self.bias = Parameter(_uniform((out_features,), bound, dtype)) if bias else None

    def forward(self, x) -> Value:
        shape = np.shape(data_of(x))
        if shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: input of shape {shape} does not end in in_features={self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _uniform(shape: tuple, bound: float, dtype: np.dtype) -> np.ndarray:
    return generator().uniform(-bound, bound, size=shape).astype(dtype)


class Sequential(Module):
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
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self)), module)
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(dict(list(self._modules.items())[index]))
        return self._modules[self._name_at(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        """Replace the module at ``index`` (its name and position stay), e.g. a new head."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential item assignment: expected a Module, got {type(module).__name__}")
        name = self._name_at(index)
        self._modules[name] = module

    def __delitem__(self, index) -> None:
        """Remove the module(s) at ``index`` (an int or a slice); the rest are renumbered
        0, 1, ... as in PyTorch."""
        names = [name for name, _ in list(self._modules.items())[index]] if isinstance(index, slice) \
            else [self._name_at(index)]
        for name in names:
            del self._modules[name]
        modules = list(self._modules.values())
        self._modules.clear()
        for position, module in enumerate(modules):
            self._modules[str(position)] = module

    def _name_at(self, index) -> str:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"Sequential indices must be ints or slices, got {type(index).__name__}")
        names = list(self._modules)
        if not -len(names) <= index < len(names):
            raise IndexError(f"Sequential index {index} is out of range for {len(names)} modules")
        return names[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ReLU(Module):
    """``max(x, 0)`` elementwise."""

    def forward(self, x) -> Value:
        return F.relu(x)


class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x) -> Value:
        return F.tanh(x)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise (stable)."""

    def forward(self, x) -> Value:
        return F.sigmoid(x)


class Identity(Module):
    """Returns its input unchanged; constructor arguments are accepted and ignored (as in PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class MLP(Module):
    """A multilayer perceptron: ``Linear(sizes[0], sizes[1])``, ``activation()``, ...,
    ``Linear(sizes[-2], sizes[-1])`` — a fresh activation between consecutive Linears and
    none after the last, so the output is raw (logits or regression values).

    All layers sit in one Sequential ``layers``: Linears at even positions and activations at
    odd ones, so parameters read ``layers.0.weight``, ``layers.0.bias``, ``layers.2.weight``, ...
    ``activation`` is a Module class (or any callable returning a fresh Module), not an instance;
    ``dtype`` (default: the default float dtype) is passed to every Linear.
    """

    def __init__(self, sizes, activation: Callable[[], Module] = ReLU, bias: bool = True, dtype=None):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        if isinstance(activation, Module):
            raise TypeError(f"MLP: activation must be a Module class such as nn.ReLU (a fresh one "
                            f"is made per layer), got the instance {activation!r}")
        layers = []
        for i, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                act = activation()
                if not isinstance(act, Module):
                    raise TypeError(f"MLP: activation() must return a Module, got {type(act).__name__}")
                layers.append(act)
            layers.append(Linear(size_in, size_out, bias=bias, dtype=dtype))
        self.sizes = sizes
        self.layers = Sequential(*layers)

    def forward(self, x) -> Value:
        return self.layers(x)


class Dropout(Module):
    """Inverted dropout while training: zero each element with probability ``p``, scale the
    rest by ``1 / (1 - p)``. The identity in eval mode (``model.eval()``) or with ``p == 0``.
    Masks come from the library's generator, so ``tl.manual_seed`` makes them repeatable."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        F.check_probability('Dropout', p)
        self.p = p

    def forward(self, x) -> Value:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
