"""Functions that combine several Values: concat, stack, where, maximum, minimum."""
from __future__ import annotations

from collections.abc import Sequence

from .ops import select, shapes
from .value import Value, to_numpy


def concat(values: Sequence, axis: int = 0) -> Value:
    """Join Values (or arrays) along an existing axis (``np.concatenate``)."""
    return shapes.Concat.apply(*[v for v in values], axis=axis)


def stack(values: Sequence, axis: int = 0) -> Value:
    """Join Values (or arrays) of one shape along a new axis (``np.stack``)."""
    return shapes.Stack.apply(*[v for v in values], axis=axis)


def where(condition, a, b) -> Value:
    """``a`` where ``condition`` is true, else ``b`` (broadcasting); ``condition`` takes no grad."""
    condition = to_numpy(condition)
    if condition.dtype.kind not in 'biuf':  # np.asarray('no', dtype=bool) would be True
        raise TypeError(f"where: condition must be bool (or numeric), got dtype {condition.dtype} "
                        f"(condition shape {condition.shape})")
    return select.Where.apply(a, b, condition=condition.astype(bool, copy=False))


def maximum(a, b) -> Value:
    """Elementwise maximum (ties split the gradient equally)."""
    return select.Maximum.apply(a, b)


def minimum(a, b) -> Value:
    """Elementwise minimum (ties split the gradient equally)."""
    return select.Minimum.apply(a, b)
