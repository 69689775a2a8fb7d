"""Functions that make new leaf Values: zeros, ones, randn, rand."""
from __future__ import annotations

import numpy as np

from .dtypes import get_default_dtype
from .random import generator
from .value import Value


def _shape_of(shape, caller: str) -> tuple:
    """``(2, 3)``, ``[2, 3]`` or ``((2, 3),)`` from ``*shape`` -> ``(2, 3)``; an int -> ``(n,)``.

    Every size must be an int >= 0: ``2.5`` or ``'3'`` raise TypeError, ``-1`` ValueError
    (rather than being truncated or parsed), naming ``caller`` and the shape given."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"{caller}: sizes must be ints, got {size!r} in shape {tuple(shape)!r}")
        if size < 0:
            raise ValueError(f"{caller}: sizes must be >= 0, got {size} in shape {tuple(shape)!r}")
    return tuple(int(s) for s in shape)


def _dtype(dtype) -> np.dtype:
    return np.dtype(dtype) if dtype is not None else get_default_dtype()


def _leaf(array: np.ndarray, requires_grad: bool) -> Value:
    return Value(array, requires_grad=requires_grad)


def zeros(shape, *, requires_grad: bool = False, dtype=None) -> Value:
    """A Value of zeros; ``shape`` is an int or a tuple."""
    return _leaf(np.zeros(_shape_of((shape,), 'zeros'), dtype=_dtype(dtype)), requires_grad)


def ones(shape, *, requires_grad: bool = False, dtype=None) -> Value:
    """A Value of ones; ``shape`` is an int or a tuple."""
    return _leaf(np.ones(_shape_of((shape,), 'ones'), dtype=_dtype(dtype)), requires_grad)


def randn(*shape, requires_grad: bool = False, dtype=None) -> Value:
    """Standard normal samples, ``randn(2, 3)`` or ``randn((2, 3))``; seeded by ``manual_seed``."""
    sample = generator().standard_normal(_shape_of(shape, 'randn'))
    return _leaf(sample.astype(_dtype(dtype)), requires_grad)


def rand(*shape, requires_grad: bool = False, dtype=None) -> Value:
    """Uniform samples on [0, 1), ``rand(2, 3)`` or ``rand((2, 3))``; seeded by ``manual_seed``."""
    sample = generator().random(_shape_of(shape, 'rand'))
    return _leaf(sample.astype(_dtype(dtype)), requires_grad)
