"""Ops that pick elements from two inputs: where, maximum, minimum."""
from __future__ import annotations

import numpy as np

from .base import Function


class Where(Function):
    """``condition ? a : b`` elementwise (broadcasting); the condition takes no gradient."""
    name = 'where'
    saves_inputs = False  # backward reads only the masks made in forward

    def __init__(self, condition: np.ndarray):
        self.condition = condition

    def forward(self, a, b):
        self.mask = self.condition.astype(bool, copy=False)  # in the op: a replay converts each batch's
        return np.where(self.mask, a, b)

    def backward(self, grad, out, a, b):
        need_a, need_b = self.needs_input_grad
        return (grad * self.mask if need_a else None), (grad * ~self.mask if need_b else None)


class Maximum(Function):
    """Elementwise maximum; where ``a == b`` each side gets half the gradient (as in PyTorch)."""
    name = 'maximum'
    saves_inputs = False  # backward reads only the masks made in forward
    _pick = staticmethod(np.maximum)
    _wins = staticmethod(np.greater)

    def forward(self, a, b):
        out = self._pick(a, b)
        self.share_a = (self._wins(a, b) + 0.5 * (np.equal(a, b))).astype(out.dtype)
        return out

    def backward(self, grad, out, a, b):
        need_a, need_b = self.needs_input_grad
        return (grad * self.share_a if need_a else None), (grad * (1 - self.share_a) if need_b else None)


class Minimum(Maximum):
    """Elementwise minimum; where ``a == b`` each side gets half the gradient (as in PyTorch)."""
    name = 'minimum'
    _pick = staticmethod(np.minimum)
    _wins = staticmethod(np.less)
