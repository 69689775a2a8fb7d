"""Functions that combine several Values (concat, stack, where, maximum, minimum) or cut one
into several (split, chunk). ``dim`` is accepted for ``axis`` (PyTorch's name)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .checks import is_int
from .ops import select, shapes
from .value import Value, to_numpy


def concat(values: Sequence, axis: int = 0, *, dim: int | None = None) -> Value:
    """Join Values (or arrays) along an existing axis (``np.concatenate``, ``torch.cat``)."""
    return shapes.Concat.apply(*[v for v in values], axis=_one_axis('concat', axis, dim))


def stack(values: Sequence, axis: int = 0, *, dim: int | None = None) -> Value:
    """Join Values (or arrays) of one shape along a new axis (``np.stack``)."""
    return shapes.Stack.apply(*[v for v in values], axis=_one_axis('stack', axis, dim))


def split(value: Value, split_size_or_sections, axis: int = 0, *, dim: int | None = None) -> tuple:
    """``torch.split``: pieces of ``split_size_or_sections`` elements along ``axis`` (an int: all
    that size but a smaller last one), or of the sizes in a list (which must add up to the
    axis's length). Each piece is a slice of ``value``, so gradients flow back into it."""
    axis = _one_axis('split', axis, dim)
    length = value.shape[axis]
    if is_int(split_size_or_sections):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split size must be positive, got {size} (shape {value.shape})")
        sizes = [min(size, length - start) for start in range(0, length, size)] or [0]
    else:
        sizes = [int(size) for size in split_size_or_sections]
        if sum(sizes) != length or min(sizes, default=0) < 0:
            raise ValueError(f"split: sections {sizes} must be >= 0 and add up to {length}, the length "
                             f"of axis {axis} (shape {value.shape})")
    return _slices(value, axis, sizes)


def chunk(value: Value, chunks: int, axis: int = 0, *, dim: int | None = None) -> tuple:
    """``torch.chunk``: at most ``chunks`` pieces of ``ceil(length / chunks)`` elements along
    ``axis`` (the last may be smaller, and there may be fewer pieces)."""
    axis = _one_axis('chunk', axis, dim)
    if not is_int(chunks) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    length = value.shape[axis]
    return split(value, max(-(-length // int(chunks)), 1), axis)


def _slices(value: Value, axis: int, sizes: list) -> tuple:
    bounds = np.cumsum([0] + sizes)
    lead = (slice(None),) * (axis % value.ndim)
    return tuple(value[lead + (slice(int(start), int(stop)),)]
                 for start, stop in zip(bounds[:-1], bounds[1:]))


def _one_axis(caller: str, axis: int, dim: int | None) -> int:
    if dim is None:
        return axis
    if axis != 0:
        raise TypeError(f"{caller}: got both axis={axis} and dim={dim}; pass one of them")
    return dim


def where(condition, a, b) -> Value:
    """``a`` where ``condition`` is true, else ``b`` (broadcasting); ``condition`` takes no grad."""
    condition = to_numpy(condition)
    if condition.dtype.kind not in 'biuf':  # np.asarray('no', dtype=bool) would be True
        raise TypeError(f"where: condition must be bool (or numeric), got dtype {condition.dtype} "
                        f"(condition shape {condition.shape})")
    return select.Where.apply(a, b, condition=condition)


def maximum(a, b) -> Value:
    """Elementwise maximum (ties split the gradient equally)."""
    return select.Maximum.apply(a, b)


def minimum(a, b) -> Value:
    """Elementwise minimum (ties split the gradient equally)."""
    return select.Minimum.apply(a, b)
