"""``assert_close``: compare two results element by element with dtype-aware tolerances, as
``torch.testing.assert_close`` does, and say exactly where and by how much they differ."""
from __future__ import annotations

import numbers

import numpy as np

from ..value import Value

# (rtol, atol) per dtype: torch.testing.assert_close's defaults. Integer and bool dtypes (and
# any dtype not listed) compare exactly.
DEFAULT_TOLERANCES = {
    np.dtype(np.float16): (1e-3, 1e-5),
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-7),
    np.dtype(np.complex64): (1.3e-6, 1e-5),
    np.dtype(np.complex128): (1e-7, 1e-7),
}


def default_tolerances(*dtypes) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing arrays of these dtypes: the loosest of their defaults
    (the less precise dtype decides), ``(0, 0)`` for integers and bools."""
    pairs = [DEFAULT_TOLERANCES.get(np.dtype(dtype), (0.0, 0.0)) for dtype in dtypes]
    return max(rtol for rtol, _ in pairs), max(atol for _, atol in pairs)


def assert_close(actual, expected, rtol: float | None = None, atol: float | None = None, *,
                 equal_nan: bool = False) -> None:
    """Raise ``AssertionError`` unless ``|actual - expected| <= atol + rtol * |expected|``
    elementwise (equal values, infinities included, always pass; NaN matches NaN only with
    ``equal_nan=True``, torch's default being False).

    ``actual``/``expected``: Values, ndarrays, numbers or (nested) lists and tuples of them; a
    list of plain numbers is compared as one array. Shapes must match exactly (no
    broadcasting). ``rtol``/``atol`` default by dtype as in ``torch.testing.assert_close``:
    float16 (1e-3, 1e-5), float32 (1.3e-6, 1e-5), float64 (1e-7, 1e-7), integers and bools
    exact; Python floats count as float64. When the dtypes differ the less precise one's
    tolerances apply. Give both ``rtol`` and ``atol`` or neither (``ValueError`` otherwise).

    The message gives the number and share of mismatched elements, the worst one (greatest
    absolute difference): its index, both values, the absolute and relative differences
    there, the tolerances used, and both shapes and dtypes.
    """
    if (rtol is None) != (atol is None):
        missing = 'atol' if atol is None else 'rtol'
        raise ValueError(f"assert_close: both 'rtol' and 'atol' must be either specified or "
                         f"omitted, but got no {missing}")
    _compare(actual, expected, rtol, atol, equal_nan, path='')


def _is_sequence(item) -> bool:
    return isinstance(item, (list, tuple))


def _holds_only_numbers(item) -> bool:
    if _is_sequence(item):
        return all(_holds_only_numbers(element) for element in item)
    return isinstance(item, (numbers.Number, np.generic))


def _to_array(item, path: str) -> np.ndarray:
    if isinstance(item, Value):
        return item.data
    if isinstance(item, np.ndarray):
        return item
    if isinstance(item, bool):
        return np.asarray(item)
    if isinstance(item, numbers.Integral) and not isinstance(item, np.generic):
        return np.asarray(item, dtype=np.int64)
    if isinstance(item, (numbers.Number, np.generic)) or _holds_only_numbers(item):
        return np.asarray(item)  # Python floats (and lists of them) as float64
    raise TypeError(f"assert_close{path}: cannot compare an object of type {type(item).__name__}")


def _compare(actual, expected, rtol, atol, equal_nan, path: str) -> None:
    if (_is_sequence(actual) and _is_sequence(expected)
            and not (_holds_only_numbers(actual) and _holds_only_numbers(expected))):
        if len(actual) != len(expected):
            raise AssertionError(f"assert_close{path}: sequences differ in length: "
                                 f"actual {len(actual)}, expected {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, path=f"{path}[{i}]")
        return
    _compare_arrays(_to_array(actual, path), _to_array(expected, path), rtol, atol, equal_nan, path)


def _compare_arrays(actual: np.ndarray, expected: np.ndarray, rtol, atol, equal_nan,
                    path: str) -> None:
    where = f" at {path}" if path else ''
    if actual.shape != expected.shape:
        raise AssertionError(f"assert_close{where}: shapes do not match: actual {actual.shape}, "
                             f"expected {expected.shape}")
    defaults = rtol is None
    if defaults:
        rtol, atol = default_tolerances(actual.dtype, expected.dtype)
    a, e = _comparable(actual), _comparable(expected)
    with np.errstate(invalid='ignore', over='ignore'):
        difference = np.abs(a - e)
        close = (a == e) | (np.isfinite(a) & np.isfinite(e) & (difference <= atol + rtol * np.abs(e)))
        if equal_nan:
            close |= np.isnan(a) & np.isnan(e)
    if close.all():
        return
    raise AssertionError(_mismatch_message(actual, expected, a, e, difference, close, rtol, atol,
                                           defaults, where))


def _comparable(array: np.ndarray) -> np.ndarray:
    """Bools and integers as float64 (differences of unsigned ints would wrap around)."""
    return array.astype(np.float64) if array.dtype.kind in 'biu' else array


def _mismatch_message(actual, expected, a, e, difference, close, rtol, atol, defaults,
                      where) -> str:
    mismatched = ~close
    count, total = int(mismatched.sum()), close.size
    # The worst element: the greatest absolute difference among the mismatches (NaN, which
    # compares as nothing, counts as infinitely far).
    badness = np.where(mismatched, np.nan_to_num(difference, nan=np.inf), -1.0)
    flat = int(np.argmax(badness))
    index = tuple(int(i) for i in np.unravel_index(flat, close.shape))
    a_worst, e_worst = a.reshape(-1)[flat], e.reshape(-1)[flat]
    abs_diff = difference.reshape(-1)[flat]
    with np.errstate(divide='ignore', invalid='ignore'):
        rel_diff = abs_diff / np.abs(e_worst)
    allowed = atol + rtol * np.abs(e_worst)
    source = (f"defaults for {_dtype_names(actual, expected)}" if defaults else 'given')
    return (
        f"assert_close{where}: values are not close!\n"
        f"Mismatched elements: {count} / {total} ({100 * count / total:.1f}%)\n"
        f"Worst element (greatest absolute difference) at index {index}: "
        f"actual {_format(a_worst)}, expected {_format(e_worst)}\n"
        f"  absolute difference {_format(abs_diff)} (up to {_format(allowed)} allowed there)\n"
        f"  relative difference {_format(rel_diff)}\n"
        f"Tolerances: rtol={rtol:g}, atol={atol:g} ({source})\n"
        f"Shapes: actual {actual.shape}, expected {expected.shape}; "
        f"dtypes: actual {actual.dtype}, expected {expected.dtype}")


def _dtype_names(actual, expected) -> str:
    if actual.dtype == expected.dtype:
        return str(actual.dtype)
    return f"{actual.dtype} vs {expected.dtype}, the less precise"


def _format(number) -> str:
    return f"{float(number):.8g}" if np.isrealobj(number) else str(number)
