"""Ops that move elements without computing: reshape, transpose, broadcast_to, tile, clone,
indexing, concat and stack; and the shape arithmetic of the Value methods built on them
(``squeeze``, ``unsqueeze``, ``permute``, ``expand``, ``repeat``).

None of these backward passes reads input values (only shapes), so in-place updates of
their inputs never make a gradient stale (``saves_inputs = False``)."""
from __future__ import annotations

import numpy as np

from ..checks import is_int
from ..value import Value, data_of
from . import generic
from .base import Function

_BASIC_INDEX_TYPES = (int, np.integer, slice, type(None), type(Ellipsis))


class Reshape(Function):
    name = 'reshape'
    saves_inputs = False

    def __init__(self, shape: tuple):
        self.shape = shape

    def forward(self, x):
        shape = self.shape
        if type(shape) is tuple and shape and min(shape) < -1:  # NumPy reads any negative size as -1
            bad = next(size for size in shape if size < -1)
            raise ValueError(f"invalid shape dimension {bad} in {shape}: a size must be >= 0, or -1 "
                             "(once) for the size inferred from the others, as in PyTorch")
        return x.reshape(shape)

    def backward(self, grad, out, x):
        return (grad.reshape(np.shape(data_of(x))),)


class Transpose(Function):
    """Permute axes (``axes=None`` reverses them); backward applies the inverse permutation."""
    name = 'transpose'
    saves_inputs = False

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
    saves_inputs = False

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
        return index._data  # (an index Value made by an op: the tracer knows its array)
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
    saves_inputs = False

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return np.asarray(x[self.index])

    def backward(self, grad, out, x):
        shape = np.shape(data_of(x))
        if isinstance(grad, Value):
            return (ScatterAdd.apply(grad, index=self.index, shape=shape),)
        return (_scatter_add(grad, self.index, shape),)


class Tile(Function):
    """``np.tile(x, repeats)`` with ``len(repeats) >= x.ndim`` (PyTorch's ``repeat``).

    Backward: the output axis ``i`` is ``repeats[i]`` copies of size ``size[i]``, so viewing
    the gradient as ``(repeats[0], size[0], repeats[1], size[1], …)`` and summing the repeat
    axes adds up every copy's gradient."""
    name = 'repeat'
    saves_inputs = False

    def __init__(self, repeats: tuple):
        self.repeats = repeats

    def forward(self, x):
        return np.tile(x, self.repeats)

    def backward(self, grad, out, x):
        shape = np.shape(data_of(x))
        sizes = (1,) * (len(self.repeats) - len(shape)) + tuple(shape)
        interleaved = tuple(n for pair in zip(self.repeats, sizes) for n in pair)
        summed = grad.reshape(interleaved).sum(axis=tuple(range(0, len(interleaved), 2)))
        return (summed.reshape(shape),)


class Clone(Function):
    """A copy of ``x`` that stays in the graph (gradient passes through unchanged)."""
    name = 'clone'
    saves_inputs = False

    def forward(self, x):
        return np.array(x, copy=True)

    def backward(self, grad, out, x):
        return (grad,)


class ScatterAdd(Function):
    """The gradient of ``GetItem``: zeros of ``shape`` with ``grad`` added at ``index``."""
    name = 'scatter_add'
    saves_inputs = False

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
    saves_inputs = False

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
    saves_inputs = False

    def __init__(self, axis: int = 0):
        self.axis = axis

    def forward(self, *parts):
        return np.stack([np.asarray(p) for p in parts], axis=self.axis)

    def backward(self, grad, out, *parts):
        axis = self.axis % grad.ndim
        return tuple(grad[(slice(None),) * axis + (i,)] if need else None
                     for i, need in enumerate(self.needs_input_grad))


# ---- shape arithmetic of the Value methods ---------------------------------------------------
def sizes_of(sizes: tuple) -> tuple:
    """``(2, 3)`` from ``f(2, 3)`` or ``f((2, 3))`` / ``f([2, 3])``."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        return tuple(sizes[0])
    return tuple(sizes)


def _axis_index(axis, ndim: int, caller: str) -> int:
    if not is_int(axis):
        raise TypeError(f"{caller}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise IndexError(f"{caller}: axis {axis} is out of range for {ndim} dimensions")
    return int(axis) % ndim


def permutation(ndim: int, axes: tuple) -> tuple:
    """Check that ``axes`` orders all ``ndim`` axes once each (negative ones count from the end)."""
    if len(axes) != ndim:
        raise ValueError(f"permute: got {len(axes)} axes {axes} for a Value with {ndim} dimensions")
    resolved = tuple(_axis_index(axis, ndim, 'permute') for axis in axes)
    if len(set(resolved)) != ndim:
        raise ValueError(f"permute: axes {axes} repeat an axis")
    return resolved


def squeezed(shape: tuple, axis) -> tuple:
    """``shape`` without its size-1 axes (all, or those in ``axis`` whose size is 1)."""
    if axis is None:
        return tuple(size for size in shape if size != 1)
    axes = axis if isinstance(axis, tuple) else (axis,)
    drop = {_axis_index(a, max(len(shape), 1), 'squeeze') for a in axes}
    return tuple(size for i, size in enumerate(shape) if not (i in drop and size == 1))


def unsqueezed(shape: tuple, axis) -> tuple:
    """``shape`` with a size-1 axis inserted at ``axis`` of the result."""
    position = _axis_index(axis, len(shape) + 1, 'unsqueeze')
    return shape[:position] + (1,) + shape[position:]


def expanded(shape: tuple, sizes: tuple) -> tuple:
    """PyTorch's ``expand`` target: -1 keeps the size of an existing axis."""
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes {sizes} for a Value of shape {shape}; "
                         "give at least one size per axis")
    target = []
    for i, size in enumerate(sizes):
        if size == -1:
            if i < lead:
                raise ValueError(f"expand: -1 is not allowed for a new leading axis (sizes {sizes})")
            size = shape[i - lead]
        target.append(int(size))
    return tuple(target)


def repeats_for(shape: tuple, repeats: tuple) -> tuple:
    """Check PyTorch's rule for ``repeat``: one count per axis at least, all >= 0."""
    if len(repeats) < len(shape):
        raise ValueError(f"repeat: {len(repeats)} repeat counts {repeats} for a Value of shape {shape}; "
                         "give at least one per axis")
    if any(not is_int(r) or r < 0 for r in repeats):
        raise ValueError(f"repeat: counts must be ints >= 0, got {repeats}")
    return tuple(int(r) for r in repeats)
