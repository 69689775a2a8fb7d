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


class OneHot(Function):
    """Integer class indices (shape ``S``) -> int64 (``S + (num_classes,)``) with a 1 at each index."""
    name = 'one_hot'

    def __init__(self, num_classes: int):
        self.num_classes = num_classes

    def forward(self, indices):
        if indices.size and indices.min() < 0:
            raise ValueError(f"class values must be non-negative, got {indices.min()} "
                             f"(shape {indices.shape})")
        if indices.size and indices.max() >= self.num_classes:
            raise ValueError(f"class values must be smaller than num_classes={self.num_classes}, got "
                             f"{indices.max()} (shape {indices.shape})")
        return (indices[..., None] == np.arange(self.num_classes)).astype(np.int64)


class AdditiveMask(Function):
    """A bool attention mask as scores to add: 0 where attended, -inf where masked out
    (``attend``: True in the mask means attend; else True means masked out)."""
    name = 'additive_mask'

    def __init__(self, attend: bool, dtype):
        self.attend, self.dtype = attend, np.dtype(dtype)

    def forward(self, mask):
        keep = mask if self.attend else ~mask
        return np.where(keep, 0.0, -np.inf).astype(self.dtype)


class DeadRows(Function):
    """True for each row (last axis) of attention scores that is -inf throughout: a query
    that may attend to no key (its softmax would be 0 / 0)."""
    name = 'dead_rows'

    def forward(self, scores):
        return np.isneginf(scores).all(axis=-1, keepdims=True)
