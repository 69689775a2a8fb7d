"""In-place updates of a Value (``+=``, ``add_``, ``zero_``, ``v[idx] = x`` …), with PyTorch's rules.

An in-place update writes into ``v.data`` and returns ``v`` itself, so a name bound to a
Module's parameter keeps naming that parameter, and a leaf stays a leaf. The rules:

* Inside ``tl.no_grad()`` any Value may be updated: only its numbers change (the manual
  gradient-descent idiom ``with tl.no_grad(): w -= lr * w.grad``).
* With grad mode on, a leaf that requires grad cannot be updated (RuntimeError, as PyTorch:
  the update would have to be recorded on a Value whose gradient is being accumulated), nor
  can a Value made by a recorded op (our graph links Value objects, so re-pointing one
  would send the gradients of its earlier uses to the wrong place: use ``v = v + x``), nor
  can a Value that does not require grad take in an operand that does (it would have to
  start requiring grad).
* Every update bumps ``v._version`` and stamps ``v._edited_at`` with a fresh op sequence
  number, so ``backward`` can tell that an op recorded before the update saved stale data
  and refuse ("modified by an in-place operation"). Writes through ``v.data`` bypass all of
  this, as in PyTorch: they are neither checked nor counted.

Every check runs before anything is written.
"""
from __future__ import annotations

import numpy as np

from . import tracing
from .mode import edits, modes, sequence_mark
from .ops.base import rephrased
from .ops.shapes import normalize_index
from .value import Value, operand_data


def check_allowed(value: Value, name: str, *operands) -> None:
    """Raise RuntimeError, naming ``name`` and the shapes, if this update is not allowed now."""
    if modes.watching:
        tracing.report('edited', value, name)
    if not modes.grad_enabled:
        return
    if value.requires_grad:
        if value._fn is None:
            raise RuntimeError(
                f"{name}: a leaf Value that requires grad (shape {value.shape}) cannot be changed in "
                "place while grad mode is on; do the update inside `with tl.no_grad():` "
                "(e.g. `with tl.no_grad(): w -= lr * w.grad`)")
        raise RuntimeError(
            f"{name}: this Value (shape {value.shape}, made by '{value.op}') is part of a graph that "
            "requires grad; changing it in place would corrupt the gradients of the ops that used "
            "it: use the out-of-place form (e.g. `v = v + x` instead of `v += x`)")
    for operand in operands:
        if isinstance(operand, Value) and operand.requires_grad:
            raise RuntimeError(
                f"{name}: the operand (shape {operand.shape}) requires grad but this Value "
                f"(shape {value.shape}) does not, so the update would have to be recorded: use the "
                "out-of-place form (e.g. `v = v + x`), or update inside `with tl.no_grad():`")


def mark_edited(value: Value) -> Value:
    """Bump ``value``'s version after an in-place write; returns ``value``."""
    value._edits = value._version + 1
    value._edited_at = edits.latest = sequence_mark()
    return value


def _writable(value: Value, name: str) -> np.ndarray:
    array = value._data
    if not array.flags.writeable:
        raise ValueError(f"{name}: the data of this Value (shape {value.shape}) is read-only "
                         "(a broadcast view or a memory-mapped file); use the out-of-place form")
    return array


def update(value: Value, name: str, ufunc: np.ufunc, operand, alpha=1) -> Value:
    """``value.data = ufunc(value.data, alpha * operand)`` in place, keeping shape and dtype."""
    check_allowed(value, name, operand)
    array, other = _writable(value, name), operand_data(operand)
    if alpha != 1:
        other = np.multiply(other, alpha)
    try:
        # same_kind: float64 operands may land in float32 data (PyTorch casts them too), but a
        # float result cannot be truncated into int data, and the result cannot grow the shape.
        ufunc(array, other, out=array, casting='same_kind')
    except (TypeError, ValueError) as error:
        raise rephrased(error, f"{name}: {error} (this Value: shape {value.shape}, dtype "
                                f"{value.dtype}; operand: shape {np.shape(other)}, dtype "
                                f"{np.result_type(other)})") from error
    return mark_edited(value)


def fill(value: Value, name: str, fill_value) -> Value:
    """Every element set to ``fill_value`` (a number or a single-element Value)."""
    check_allowed(value, name, fill_value)
    number = operand_data(fill_value)
    if np.size(number) != 1:
        raise ValueError(f"{name}: the fill value must be a single number, got shape {np.shape(number)}")
    _writable(value, name)[...] = number
    return mark_edited(value)


def copy_from(value: Value, source) -> Value:
    """``copy_(src)``: ``src`` broadcast into ``value``'s shape, cast to its dtype."""
    check_allowed(value, 'copy_', source)
    array, other = _writable(value, 'copy_'), operand_data(source)
    try:
        np.copyto(array, other, casting='unsafe')  # copy_ converts, as torch's does
    except (TypeError, ValueError) as error:
        raise rephrased(error, f"copy_: {error} (this Value: shape {value.shape}; source: shape "
                                f"{np.shape(other)})") from error
    return mark_edited(value)


def clamp(value: Value, low, high) -> Value:
    """``clamp_(min, max)``: limit every element to ``[min, max]`` (either may be None)."""
    check_allowed(value, 'clamp_', low, high)
    if low is None and high is None:
        raise ValueError("clamp_: at least one of min and max must be given")
    array = _writable(value, 'clamp_')
    np.clip(array, operand_data(low), operand_data(high), out=array, casting='same_kind')
    return mark_edited(value)


def set_item(value: Value, index, item) -> None:
    """``v[index] = item`` (NumPy indexing; ``item`` broadcast to the selection and cast)."""
    check_allowed(value, 'setitem', item)
    array, other = _writable(value, 'setitem'), operand_data(item)
    try:
        array[normalize_index(index)] = other
    except (IndexError, ValueError, TypeError) as error:
        raise rephrased(error, f"setitem: {error} (this Value: shape {value.shape}; value: shape "
                                f"{np.shape(other)})") from error
    mark_edited(value)
