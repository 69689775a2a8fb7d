"""Ops whose results take no gradient: comparisons, argmax/argmin, rounding.

They go through ``Function.apply`` like every other op, so that everything a Value is made
from is an op (``tl.compile`` records and replays ops; a result computed beside them would
be frozen at the recording). Their results are bool or int64, which ``apply`` never records
in a graph; ``round`` keeps the float dtype and passes a zero gradient, as ``torch.round``.
"""
from __future__ import annotations

import numpy as np

from .base import Function


class Compare(Function):
    """``ufunc(a, b)`` for a comparison ufunc (``np.less``, ``np.equal``, …): a bool array."""
    name = 'compare'

    def __init__(self, ufunc: np.ufunc):
        self.ufunc = ufunc
        self.name = ufunc.__name__

    def forward(self, a, b):
        return self.ufunc(a, b)


class ArgReduce(Function):
    """``np.argmax`` or ``np.argmin`` over ``axis`` (None: the flattened data), as int64."""
    name = 'argreduce'

    def __init__(self, pick, axis=None, keepdims: bool = False):
        self.pick, self.axis, self.keepdims = pick, axis, keepdims
        self.name = pick.__name__

    def forward(self, x):
        return np.asarray(self.pick(x, axis=self.axis, keepdims=self.keepdims), dtype=np.int64)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Round(Function):
    """Round half to even to ``decimals`` places; the gradient is zero (``torch.round``)."""
    name = 'round'
    saves_inputs = False

    def __init__(self, decimals: int = 0):
        self.decimals = decimals

    def forward(self, x):
        return np.round(x, self.decimals)

    def backward(self, grad, out, x):
        return (grad * 0,)
