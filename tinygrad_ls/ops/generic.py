"""Functions that backward code calls on either ndarrays (first-order pass) or Values
(``create_graph=True``), so that each op has one backward for every derivative order."""
from __future__ import annotations

import numpy as np

from ..value import Value


def exp(x):
    return x.exp() if isinstance(x, Value) else np.exp(x)


def log(x):
    return x.log() if isinstance(x, Value) else np.log(x)


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
