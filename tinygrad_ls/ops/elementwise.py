"""Elementwise functions: exp log sqrt tanh sigmoid relu abs clip, and dtype casts."""
from __future__ import annotations

import numpy as np

from ..value import data_of
from .base import Function


class Exp(Function):
    name = 'exp'

    def forward(self, x):
        return np.exp(x)

    def backward(self, grad, out, x):
        return (grad * out,)


class Log(Function):
    name = 'log'

    def forward(self, x):
        return np.log(x)

    def backward(self, grad, out, x):
        return (grad / x,)


class Sqrt(Function):
    name = 'sqrt'

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, grad, out, x):
        return (grad / (out * 2),)


class Tanh(Function):
    name = 'tanh'

    def forward(self, x):
        return np.tanh(x)

    def backward(self, grad, out, x):
        return (grad * (1 - out * out),)


class Sigmoid(Function):
    """``1 / (1 + exp(-x))``, computed from ``exp(-|x|)`` so it never overflows."""
    name = 'sigmoid'

    def forward(self, x):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def backward(self, grad, out, x):
        return (grad * out * (1 - out),)


class Relu(Function):
    """``max(x, 0)``; the gradient at 0 is 0 (as in PyTorch)."""
    name = 'relu'

    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, grad, out, x):
        return (grad * (data_of(x) > 0),)


class Abs(Function):
    """``|x|``; the gradient is ``sign(x)``, 0 at 0 (as in PyTorch)."""
    name = 'abs'

    def forward(self, x):
        return np.abs(x)

    def backward(self, grad, out, x):
        return (grad * np.sign(data_of(x)),)


class Clip(Function):
    """Clamp to ``[low, high]``; gradient 1 where ``low <= x <= high``, else 0 (PyTorch's clamp)."""
    name = 'clip'

    def __init__(self, low=None, high=None):
        if low is None and high is None:
            raise ValueError("clip: at least one of min and max must be given")
        self.low, self.high = low, high

    def forward(self, x):
        return np.clip(x, self.low, self.high)

    def backward(self, grad, out, x):
        x = data_of(x)
        inside = np.ones(x.shape, dtype=bool)
        if self.low is not None:
            inside &= x >= self.low
        if self.high is not None:
            inside &= x <= self.high
        return (grad * inside,)


class Cast(Function):
    """Change the dtype; the gradient is cast back to the input's dtype."""
    name = 'cast'

    def __init__(self, dtype: np.dtype):
        if dtype.kind not in 'biuf':  # a cast to str or object would make a non-numeric Value
            raise TypeError(f"cast: dtype must be numeric or bool, got {dtype}")
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, grad, out, x):
        return (grad.astype(data_of(x).dtype),)
