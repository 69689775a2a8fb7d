"""The ways to get at a Value's array (``data_of``, ``to_numpy``, ``operand_data``) and at the
Values inside a result (``values_in``), for ops and library code. They read the slot
``_data``, not the ``data`` property: the array a recording tape knows, no read reported
(``to_numpy`` reports a conversion that makes a new array)."""
from __future__ import annotations

import numpy as np

from . import tracing
from .dtypes import as_array
from .mode import modes
from .value import Value


def data_of(x):
    """The raw data behind ``x``: a Value's ndarray, anything else exactly as it is (no copy,
    no conversion). The one way to unwrap: ops use it for masks and shapes, whose own
    derivative is zero; everything else reads user input through ``to_numpy``."""
    return x._data if isinstance(x, Value) else x


def to_numpy(x, dtype=None) -> np.ndarray:
    """``x`` (a Value, ndarray, number or nested list) as an ndarray: a Value's data and
    ndarrays as they are (no copy unless ``dtype`` asks for a cast), anything else through
    ``np.asarray`` (so lists keep NumPy's dtype, unlike ``Value(list)``)."""
    if isinstance(x, Value):
        data = x._data
        if dtype is None or data.dtype == dtype:
            return data  # the same array: a recording tape still knows where it came from
        if modes.watching:
            tracing.report('read', x, f"a conversion to {np.dtype(dtype)}")
        return np.asarray(data, dtype=dtype)
    return np.asarray(x, dtype=dtype)


def values_in(obj) -> list:
    """The Values in ``obj``: ``obj`` itself, or those inside (nested) tuples, lists and dict
    values, in order (a function's or a model's outputs)."""
    found, stack = [], [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, Value):
            found.append(item)
        elif isinstance(item, (tuple, list)):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return found


def operand_data(other):
    """The raw operand of a comparison or an in-place update: a Value's data, a list as the
    array ``Value(list)`` would hold, anything else (numbers, ndarrays) as it is."""
    if isinstance(other, Value):
        return other._data
    return as_array(other) if isinstance(other, (list, tuple)) else other
