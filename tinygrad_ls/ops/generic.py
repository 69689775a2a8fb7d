"""Functions that backward code calls on either ndarrays (first-order pass) or Values
(``create_graph=True``), so that each op has one backward for every derivative order."""
from __future__ import annotations

import numpy as np

from ..value import Value
from .select import Where


def _either(method: str, ufunc: np.ufunc):
    """``x.<method>()`` for a Value (recorded), ``ufunc(x)`` for an ndarray."""
    def apply(x):
        return getattr(x, method)() if isinstance(x, Value) else ufunc(x)
    apply.__name__ = apply.__qualname__ = method
    return apply


exp, log, sin, cos = (_either(name, getattr(np, name)) for name in ('exp', 'log', 'sin', 'cos'))


def where(condition: np.ndarray, a, b):
    """``np.where`` for ndarrays; the recorded ``Where`` op when ``a`` or ``b`` is a Value."""
    if isinstance(a, Value) or isinstance(b, Value):
        return Where.apply(a, b, condition=condition)
    return np.where(condition, a, b)


def prod(x, axes: tuple):
    """The product over ``axes`` with keepdims, for an ndarray or (recorded) a Value."""
    if isinstance(x, Value):
        return x.prod(axis=axes, keepdims=True)
    return np.multiply.reduce(x, axis=axes, keepdims=True)


def broadcast_to(x, shape: tuple):
    """``x`` broadcast to ``shape``; for ndarrays a fresh writable array (allocating and
    assigning is ~10x faster than ``np.broadcast_to`` on small arrays, and a gradient is
    read in full by whatever consumes it anyway)."""
    if isinstance(x, Value):
        return x.broadcast_to(shape)
    if x.shape == shape:
        return x
    out = np.empty(shape, dtype=x.dtype)
    out[...] = x
    return out


def sum_to(x, shape: tuple):
    """Sum ``x`` over the axes that broadcasting added or stretched, giving ``shape``.

    ``(3, 4) -> (4,)`` sums axis 0; ``(3, 4) -> (3, 1)`` sums axis 1 keeping it.
    """
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to: cannot reduce shape {x.shape} to {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, size in enumerate(shape) if size == 1 and x.shape[lead + i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    if lead:
        x = x.reshape(shape)
    if x.shape != shape:
        raise ValueError(f"sum_to: cannot reduce shape {x.shape} to {shape}")
    return x
