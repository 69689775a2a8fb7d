"""The default float dtype and the rule that turns user data into an ndarray."""
from __future__ import annotations

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_default_dtype = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The dtype Python numbers and lists of numbers become (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the default float dtype: ``np.float16``, ``np.float32`` or ``np.float64``."""
    global _default_dtype
    resolved = np.dtype(dtype)
    if resolved not in _FLOAT_DTYPES:
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {resolved}")
    _default_dtype = resolved


def is_float_dtype(dtype: np.dtype) -> bool:
    return dtype.kind == 'f'


def as_array(data, dtype=None) -> np.ndarray:
    """Turn user data into an ndarray following API.md's rules.

    NumPy arrays and NumPy scalars keep their dtype; Python numbers and (nested) lists of
    numbers become the default float dtype; lists of bools become bool. ``dtype`` overrides.
    """
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.asarray(data)
    else:
        try:
            array = np.asarray(data)
        except ValueError as error:  # ragged nested lists
            raise ValueError(f"Value: cannot make an array from {type(data).__name__}: {error}") from None
        if array.dtype.kind in 'iuf' and dtype is None:
            array = array.astype(_default_dtype)
    if array.dtype.kind not in 'biuf':
        raise TypeError(f"Value: data must be numeric or bool, got dtype {array.dtype}"
                        f" from {type(data).__name__}")
    if dtype is not None:
        resolved = np.dtype(dtype)
        if resolved.kind not in 'biuf':  # Value([1.0], dtype=str) would hold strings
            raise TypeError(f"Value: dtype must be numeric or bool, got {resolved}")
        array = array.astype(resolved, copy=False)
    return array
