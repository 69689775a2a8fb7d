"""How a Value turns into Python: numbers, lists, strings, formats — PyTorch's rules.

A mixin of ``Value`` (``value.py``), kept apart so that the class file holds the data, the
graph attributes and the ops.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .value import Value


class PythonConversions:
    """``len``, ``iter``, ``bool``, ``float``, ``int``, ``index``, ``format``, ``round``,
    ``repr``, ``item``, ``tolist``, ``numpy``, ``numel`` of a Value (``self.data`` an ndarray)."""

    __slots__ = ()

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=', ', threshold=20, precision=4, prefix='Value(')
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
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        """For ``range(v)``, slicing and list indexing: integer dtype, one element."""
        if self.dtype.kind not in 'iub' or self.size != 1:
            raise TypeError(f"only integer Values of a single element can be converted to an index, "
                            f"got dtype {self.dtype} and shape {self.shape}")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"``: a single element formats as its number; more only with no spec."""
        if self.size == 1:
            return format(self.item(), spec)
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
        return self.data.tolist()

    def numel(self) -> int:
        """The number of elements (``size``)."""
        return self.data.size

    def item(self):
        """The single element as a Python number."""
        if self.size != 1:
            raise ValueError(f"item: only a Value with one element can be converted, got shape {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The data (the same array, not a copy)."""
        return self.data

