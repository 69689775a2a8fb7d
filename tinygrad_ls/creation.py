"""Functions that make new leaf Values: zeros, ones, full, eye, arange, linspace, the
``*_like`` forms, and random draws (randn, rand, randint, randn_like) from ``manual_seed``'s
generator. The draws are ops (``ops/draws.py``) that draw in their ``forward``, so that a step
compiled by ``tl.compile`` draws anew at every replay."""
from __future__ import annotations

import numpy as np

from .checks import is_int
from .dtypes import as_array, get_default_dtype
from .ops import draws as random_ops
from .value import Value, to_numpy


def _shape_of(shape, caller: str) -> tuple:
    """``(2, 3)``, ``[2, 3]`` or ``((2, 3),)`` from ``*shape`` -> ``(2, 3)``; an int -> ``(n,)``.

    Every size must be an int >= 0: ``2.5`` or ``'3'`` raise TypeError, ``-1`` ValueError
    (rather than being truncated or parsed), naming ``caller`` and the shape given."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    for size in shape:
        if not is_int(size):
            raise TypeError(f"{caller}: sizes must be ints, got {size!r} in shape {tuple(shape)!r}")
        if size < 0:
            raise ValueError(f"{caller}: sizes must be >= 0, got {size} in shape {tuple(shape)!r}")
    return tuple(int(s) for s in shape)


def _dtype(dtype) -> np.dtype:
    return np.dtype(dtype) if dtype is not None else get_default_dtype()


def _leaf(array: np.ndarray, requires_grad: bool) -> Value:
    return Value(array, requires_grad=requires_grad)


def _drawn(sample: Value, requires_grad: bool) -> Value:
    """The result of a random op as the leaf it is, checked as ``Value()`` checks data (a
    non-numeric ``dtype`` is a TypeError) and set to require grad if asked."""
    as_array(sample._data)
    return sample.requires_grad_(True) if requires_grad else sample


def zeros(*shape, requires_grad: bool = False, dtype=None) -> Value:
    """A Value of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _leaf(np.zeros(_shape_of(shape, 'zeros'), dtype=_dtype(dtype)), requires_grad)


def ones(*shape, requires_grad: bool = False, dtype=None) -> Value:
    """A Value of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    return _leaf(np.ones(_shape_of(shape, 'ones'), dtype=_dtype(dtype)), requires_grad)


def full(shape, fill_value, *, requires_grad: bool = False, dtype=None) -> Value:
    """A Value of ``shape`` filled with ``fill_value`` (the default float dtype unless given)."""
    return _leaf(np.full(_shape_of((shape,), 'full'), fill_value, dtype=_dtype(dtype)), requires_grad)


def randn(*shape, requires_grad: bool = False, dtype=None) -> Value:
    """Standard normal samples, ``randn(2, 3)`` or ``randn((2, 3))``; seeded by ``manual_seed``."""
    return _drawn(random_ops.Randn.apply(shape=_shape_of(shape, 'randn'), dtype=_dtype(dtype)), requires_grad)


def rand(*shape, requires_grad: bool = False, dtype=None) -> Value:
    """Uniform samples on [0, 1), ``rand(2, 3)`` or ``rand((2, 3))``; seeded by ``manual_seed``."""
    return _drawn(random_ops.Rand.apply(shape=_shape_of(shape, 'rand'), dtype=_dtype(dtype)), requires_grad)


def randint(low, high=None, size=(), *, requires_grad: bool = False, dtype=None) -> Value:
    """Integers uniform on ``[low, high)`` (``randint(high, size)`` starts at 0), int64 unless
    ``dtype`` says otherwise; seeded by ``manual_seed``."""
    if high is None:
        low, high = 0, low
    if not high > low:
        raise ValueError(f"randint: high must be greater than low, got low={low}, high={high}")
    sample = random_ops.Randint.apply(low=low, high=high, shape=_shape_of((size,), 'randint'),
                                      dtype=np.dtype(dtype) if dtype is not None else np.int64)
    return _drawn(sample, requires_grad)


def arange(start, stop=None, step=1, *, requires_grad: bool = False, dtype=None) -> Value:
    """``[start, stop)`` in steps of ``step`` (``arange(n)`` is ``0 … n-1``): int64 when every
    argument is an int, as ``torch.arange``; otherwise the default float dtype."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("arange: step must not be zero")
    integral = all(is_int(x) for x in (start, stop, step))
    resolved = np.dtype(dtype) if dtype is not None else np.int64 if integral else get_default_dtype()
    return _leaf(np.arange(start, stop, step).astype(resolved), requires_grad)


def linspace(start, stop, num, *, requires_grad: bool = False, dtype=None) -> Value:
    """``num`` evenly spaced numbers from ``start`` to ``stop``, both included."""
    if not is_int(num) or num < 0:
        raise ValueError(f"linspace: num must be an int >= 0, got {num!r}")
    return _leaf(np.linspace(start, stop, int(num)).astype(_dtype(dtype)), requires_grad)


def eye(n, m=None, *, requires_grad: bool = False, dtype=None) -> Value:
    """The ``(n, m)`` identity matrix (``m`` defaults to ``n``)."""
    rows, cols = _shape_of((n, n if m is None else m), 'eye')
    return _leaf(np.eye(rows, cols, dtype=_dtype(dtype)), requires_grad)


def zeros_like(value, *, requires_grad: bool = False, dtype=None) -> Value:
    """Zeros of ``value``'s shape and dtype (or ``dtype``)."""
    data = to_numpy(value)
    return _leaf(np.zeros(data.shape, dtype=data.dtype if dtype is None else dtype), requires_grad)


def ones_like(value, *, requires_grad: bool = False, dtype=None) -> Value:
    """Ones of ``value``'s shape and dtype (or ``dtype``)."""
    data = to_numpy(value)
    return _leaf(np.ones(data.shape, dtype=data.dtype if dtype is None else dtype), requires_grad)


def randn_like(value, *, requires_grad: bool = False, dtype=None) -> Value:
    """Standard normal samples of ``value``'s shape and (float) dtype."""
    data = to_numpy(value)
    if dtype is None:
        dtype = data.dtype if data.dtype.kind == 'f' else get_default_dtype()
    return _drawn(random_ops.Randn.apply(shape=data.shape, dtype=dtype), requires_grad)
