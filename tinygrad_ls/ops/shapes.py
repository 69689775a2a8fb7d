"""Ops that move elements without computing: reshape, transpose, broadcast_to, indexing,
concat and stack."""
from __future__ import annotations

import numpy as np

from ..value import Value, data_of
from . import generic
from .base import Function

_BASIC_INDEX_TYPES = (int, np.integer, slice, type(None), type(Ellipsis))


class Reshape(Function):
    name = 'reshape'

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, grad, out, x):
        return (grad.reshape(np.shape(data_of(x))),)


class Transpose(Function):
    """Permute axes (``axes=None`` reverses them); backward applies the inverse permutation."""
    name = 'transpose'

    def __init__(self, axes=None):
        self.axes = axes

    def forward(self, x):
        if self.axes is None:
            self.axes = tuple(reversed(range(x.ndim)))
        out = x.transpose(self.axes)
        self.axes = tuple(int(axis) % x.ndim for axis in self.axes)
        return out

    def backward(self, grad, out, x):
        inverse = [0] * len(self.axes)  # the inverse permutation (np.argsort costs ~5 us here)
        for position, axis in enumerate(self.axes):
            inverse[axis] = position
        return (grad.transpose(tuple(inverse)),)


class BroadcastTo(Function):
    name = 'broadcast_to'

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        return np.broadcast_to(x, self.shape)

    def backward(self, grad, out, x):
        return (generic.sum_to(grad, np.shape(data_of(x))),)


def normalize_index(index):
    """Turn Values and lists inside an index into ndarrays, so NumPy indexing rules apply."""
    if isinstance(index, tuple):
        return tuple(normalize_index(part) for part in index)
    if isinstance(index, Value):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_basic(index) -> bool:
    """Basic indexing (ints, slices, None, ...) selects each element at most once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(part, _BASIC_INDEX_TYPES) for part in parts)


class GetItem(Function):
    """``x[index]`` with NumPy semantics; repeated integer indices accumulate in the gradient."""
    name = 'getitem'

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return np.asarray(x[self.index])

    def backward(self, grad, out, x):
        shape = np.shape(data_of(x))
        if isinstance(grad, Value):
            return (ScatterAdd.apply(grad, index=self.index, shape=shape),)
        return (_scatter_add(grad, self.index, shape),)


class ScatterAdd(Function):
    """The gradient of ``GetItem``: zeros of ``shape`` with ``grad`` added at ``index``."""
    name = 'scatter_add'

    def __init__(self, index, shape: tuple):
        self.index, self.shape = index, shape

    def forward(self, grad):
        return _scatter_add(grad, self.index, self.shape)

    def backward(self, grad, out, x):
        return (grad[self.index],)


def _scatter_add(grad, index, shape: tuple) -> np.ndarray:
    result = np.zeros(shape, dtype=grad.dtype)
    if _is_basic(index):
        result[index] = grad
    else:
        np.add.at(result, index, grad)
    return result


class Concat(Function):
    """Join along an existing ``axis``; backward slices the gradient back into pieces."""
    name = 'concat'

    def __init__(self, axis: int = 0):
        self.axis = axis

    def forward(self, *parts):
        joined = np.concatenate([np.asarray(p) for p in parts], axis=self.axis)
        self.bounds = np.cumsum([0] + [np.shape(p)[self.axis] for p in parts])
        return joined

    def backward(self, grad, out, *parts):
        axis = self.axis % grad.ndim
        return tuple(
            grad[(slice(None),) * axis + (slice(int(start), int(stop)),)] if need else None
            for need, start, stop in zip(self.needs_input_grad, self.bounds[:-1], self.bounds[1:]))


class Stack(Function):
    """Join along a new ``axis``; backward takes each slice of the gradient."""
    name = 'stack'

    def __init__(self, axis: int = 0):
        self.axis = axis

    def forward(self, *parts):
        return np.stack([np.asarray(p) for p in parts], axis=self.axis)

    def backward(self, grad, out, *parts):
        axis = self.axis % grad.ndim
        return tuple(grad[(slice(None),) * axis + (i,)] if need else None
                     for i, need in enumerate(self.needs_input_grad))
