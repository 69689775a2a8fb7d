"""Argument checks shared across the library, so every caller's message has one form."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def is_number(value: Any) -> bool:
    """True for a real number: a Python int or float or a NumPy scalar, but not a bool
    (``True`` as a learning rate is a mistake, not 1)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(caller: str, argument: str, value: Any):
    """``value`` itself if it is a real number, else a TypeError naming ``caller`` and
    ``argument`` (rather than a bare "'<=' not supported" from a later range check)."""
    if not is_number(value):
        raise TypeError(f"{caller}: {argument} must be a number, got {value!r}")
    return value


def is_int(value: Any) -> bool:
    """True for an integer: a Python int or a NumPy integer scalar, but not a bool
    (``True`` as a size or an axis is a mistake, not 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(caller: str, argument: str, value: Any, minimum: int | None = None) -> int:
    """``value`` as a Python int if it is an integer (``is_int``) of at least ``minimum``; else a
    TypeError (not an integer) or a ValueError (too small) naming ``caller`` and ``argument``."""
    if not is_int(value):
        raise TypeError(f"{caller}: {argument} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{caller}: {argument} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_probability(caller: str, p: Any, argument: str = 'p') -> float:
    """``p`` if it is a number in [0, 1] (a dropout probability): TypeError for a non-number,
    ValueError out of range, naming ``caller`` and ``argument``."""
    if not 0.0 <= check_number(caller, argument, p) <= 1.0:
        raise ValueError(f"{caller}: {argument} must be in [0, 1], got {p!r}")
    return p


def first_index(mask) -> tuple:
    """The index (a tuple of ints) of the first True element of the boolean array ``mask``."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def cast_overflow(array, dtype) -> tuple | None:
    """``(index, value)`` of the first element of ``array`` that is finite but becomes ±inf
    when cast to the floating ``dtype`` (1e300 as float32), else None."""
    dtype = np.dtype(dtype)
    if dtype.kind != 'f' or array.dtype.kind not in 'iuf' or not array.size:
        return None
    if array.dtype.kind == 'f' and array.dtype.itemsize <= dtype.itemsize:
        return None  # a wider float cannot overflow
    with np.errstate(over='ignore'):
        cast = array.astype(dtype)
    if np.isfinite(cast).all():
        return None
    lost = ~np.isfinite(cast) & (np.isfinite(array) if array.dtype.kind == 'f' else True)
    if not lost.any():
        return None
    index = first_index(lost)
    return index, array[index]


def first_negative(array) -> tuple | None:
    """``(index, value)`` of the first element of the float ``array`` that is not >= 0
    (negative or NaN), else None."""
    if not array.size or (array >= 0).all():
        return None
    index = first_index(~(array >= 0))
    return index, array[index]


def loaded_array_problem(array, dtype, non_negative: bool = False) -> str | None:
    """What is wrong with a loaded state array that will be cast to ``dtype`` (a phrase such
    as ``'holds nan at index (2,) ...'``), or None: NaN/±inf, a finite value that overflows
    ``dtype``, and with ``non_negative`` a negative value (a mean of squares)."""
    if array.dtype.kind == 'f' and array.size and not np.isfinite(array).all():
        index = first_index(~np.isfinite(array))
        return f"holds {array[index]!s} at index {index}; loaded state must be finite (it would make the " \
               "parameter NaN at the next step)"
    overflow = cast_overflow(array, dtype)
    if overflow is not None:
        index, value = overflow
        return f"holds {value!s} at index {index}, finite as {array.dtype} but inf as the parameter's {dtype}"
    negative = first_negative(array) if non_negative else None
    if negative is not None:
        index, value = negative
        return (f"holds {value!s} at index {index}: a running mean of squares cannot be negative (its square "
                "root would be NaN at the next step)")
    return None
