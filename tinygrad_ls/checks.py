"""Argument checks shared across the library, so every caller's message has one form."""
from __future__ import annotations

import numbers
from typing import Any


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
