"""Layers: Linear, MLP, Identity, Flatten and Dropout (Sequential lives in containers.py, the
activations ReLU, Tanh, Sigmoid, GELU, ... in activation.py)."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..checks import check_int, check_probability, is_int
from ..dtypes import get_default_dtype
from ..random import generator
from ..value import Value, data_of
from . import functional as F
from .activation import ReLU
from .containers import Sequential
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
            if not is_int(size) or size < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {size!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = Parameter(_uniform((out_features, in_features), bound, dtype))
        self.bias = Parameter(_uniform((out_features,), bound, dtype)) if bias else None

    def forward(self, x) -> Value:
        data = data_of(x)
        shape = np.shape(data)
        if shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: input of shape {shape} does not end in in_features={self.in_features}")
        if getattr(data, 'dtype', None) is not None and data.dtype.kind == 'c':
            raise TypeError(f"Linear: input of shape {shape} is complex ({data.dtype}); the layer's "
                            f"weights are real ({self.weight.dtype}) and PyTorch refuses the mix: pass "
                            "x.real or abs(x)")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _uniform(shape: tuple, bound: float, dtype: np.dtype) -> np.ndarray:
    return generator().uniform(-bound, bound, size=shape).astype(dtype)


class Identity(Module):
    """Returns its input unchanged; constructor arguments are accepted and ignored (as in PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """``torch.nn.Flatten``: merge the axes ``start_dim`` to ``end_dim`` (inclusive; negative
    counts from the end) into one, e.g. (N, C, H, W) -> (N, C*H*W) with the defaults. A
    reshape, so gradients flow back unchanged; a 0-d input gives shape (1,) as in PyTorch."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for name, dim in (('start_dim', start_dim), ('end_dim', end_dim)):
            check_int('Flatten', name, dim)
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x) -> Value:
        x = x if isinstance(x, Value) else Value(x)
        return x.reshape(flattened_shape('Flatten', x.shape, self.start_dim, self.end_dim))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


def flattened_shape(caller: str, shape: tuple, start_dim: int, end_dim: int) -> tuple:
    """The shape of ``torch.flatten(x, start_dim, end_dim)`` for ``x`` of ``shape``; an
    IndexError for a dim out of range and a RuntimeError for start after end, as PyTorch."""
    rank = max(len(shape), 1)  # a 0-d input counts as 1-d, as in PyTorch
    dims = []
    for name, dim in (('start_dim', start_dim), ('end_dim', end_dim)):
        if not -rank <= dim < rank:
            raise IndexError(f"{caller}: {name}={dim} is out of range for an input of shape {shape} "
                             f"(expected in [{-rank}, {rank - 1}])")
        dims.append(dim % rank)
    start, end = dims
    if start > end:
        raise RuntimeError(f"{caller}: start_dim={start_dim} comes after end_dim={end_dim} for an input "
                           f"of shape {shape}")
    if not shape:
        return (1,)
    return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]


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
        check_probability('Dropout', p)
        self.p = p

    def forward(self, x) -> Value:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
