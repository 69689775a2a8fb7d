"""How a Value turns into Python: numbers, lists, strings, formats — PyTorch's rules.

A mixin of ``Value`` (``value.py``), kept apart so that the class file holds the data, the
graph attributes and the ops.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import tracing
from .mode import modes

if TYPE_CHECKING:
    from .value import Value


class PythonConversions:
    """``len``, ``iter``, ``bool``, ``float``, ``int``, ``index``, ``format``, ``round``,
    ``repr``, ``item``, ``tolist``, ``numpy``, ``numel`` of a Value (``self.data`` an ndarray)."""

    __slots__ = ()

    def _numbers(self, how: str) -> np.ndarray:
        """The data, for a conversion that hands its numbers to Python (told to a recording tape)."""
        if modes.watching:
            tracing.report('read', self, how)
        return self._data

    def __repr__(self) -> str:
        body = np.array2string(self._numbers('repr()'), separator=', ', threshold=20, precision=4,
                               prefix='Value(')
        extra = f", dtype={self.dtype}" if self.dtype != np.float32 else ''
        if self.requires_grad:
            extra += f", op='{self.op}'" if self._fn is not None else ', requires_grad=True'
        if self.name:
            extra += f", name={self.name!r}"
        return f"Value({body}{extra})"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d Value")
        return self.shape[0]

    def __iter__(self):
        """The Values along the first axis (each an indexing op, so gradients flow)."""
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self.size != 1:
            raise RuntimeError(f"Boolean value of a Value with more than one element is ambiguous "
                               f"(shape {self.shape}); use .any() or .all() on .data, or compare .item()")
        return bool(self._numbers('bool()'))

    def __float__(self) -> float:
        return float(self._single('float()'))

    def __int__(self) -> int:
        return int(self._single('int()'))

    def __index__(self) -> int:
        """For ``range(v)``, slicing and list indexing: integer dtype, one element."""
        if self.dtype.kind not in 'iub' or self.size != 1:
            raise TypeError(f"only integer Values of a single element can be converted to an index, "
                            f"got dtype {self.dtype} and shape {self.shape}")
        return int(self._single('an index'))

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"``: a single element formats as its number; more only with no spec."""
        if self.size == 1:
            return format(self._single('formatting'), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} for a Value of shape {self.shape} "
                            "(only single-element Values format as numbers)")
        return str(self)

    def __round__(self, ndigits: int | None = None) -> Value:
        """``round(v)`` / ``round(v, 2)``: a Value rounded elementwise (half to even), no grad,
        as ``torch.round``; ``round(v.item(), 2)`` gives a Python number."""
        from .ops.nograd import Round
        return Round.apply(self, decimals=ndigits or 0)

    def tolist(self):
        """The data as (nested) Python lists of numbers; a number for a 0-d Value."""
        return self._numbers('tolist()').tolist()

    def numel(self) -> int:
        """The number of elements (``size``)."""
        return self._data.size

    def item(self):
        """The single element as a Python number."""
        return self._single('item()')

    def _single(self, how: str):
        if self.size != 1:
            raise ValueError(f"{how.rstrip('()')}: only a Value with one element can be converted, "
                             f"got shape {self.shape}")
        return self._numbers(how).item()

    def numpy(self) -> np.ndarray:
        """The data (the same array, not a copy)."""
        return self._numbers('numpy()')

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """``np.asarray(v)``: the data (cast to ``dtype``, copied when ``copy`` asks)."""
        data = self._numbers('np.asarray()')
        if dtype is not None and data.dtype != dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

