"""Elementwise functions: exp log sqrt tanh sigmoid softplus relu abs clip sin cos log1p expm1,
and dtype casts.

The stable sigmoid and softplus formulas are also plain ndarray functions
(``stable_sigmoid``, ``stable_softplus``), which the fused logits losses call with the
``exp(-|x|)`` they have already computed."""
from __future__ import annotations

import numpy as np

from ..value import Value, data_of
from . import generic
from .base import Function, ResultOp


def stable_sigmoid(x: np.ndarray, exp_neg_abs: np.ndarray | None = None) -> np.ndarray:
    """``1 / (1 + exp(-x))`` as ``(x >= 0 ? 1 : e) / (1 + e)`` with ``e = exp(-|x|)`` (given,
    or computed here): no positive number is exponentiated, so it never overflows."""
    e = np.exp(-np.abs(x)) if exp_neg_abs is None else exp_neg_abs
    return np.where(x >= 0, 1, e) / (1 + e)


def stable_softplus(x: np.ndarray, exp_neg_abs: np.ndarray | None = None) -> np.ndarray:
    """``log(1 + exp(x)) = max(x, 0) + log1p(e)`` with ``e = exp(-|x|)`` (given, or computed
    here), finite and exact for any ``x``; ``-stable_softplus(-x)`` is ``log(sigmoid(x))``."""
    e = np.exp(-np.abs(x)) if exp_neg_abs is None else exp_neg_abs
    return np.maximum(x, 0) + np.log1p(e)


class Exp(ResultOp):
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


class Sqrt(ResultOp):
    name = 'sqrt'

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, grad, out, x):
        return (grad / (out * 2),)


class Tanh(ResultOp):
    name = 'tanh'

    def forward(self, x):
        return np.tanh(x)

    def backward(self, grad, out, x):
        return (grad * (1 - out * out),)


class Sigmoid(ResultOp):
    """``1 / (1 + exp(-x))``, computed from ``exp(-|x|)`` so it never overflows."""
    name = 'sigmoid'

    def forward(self, x):
        return stable_sigmoid(x)

    def backward(self, grad, out, x):
        return (grad * out * (1 - out),)


class Softplus(Function):
    """``log(1 + exp(x))``, never overflowing; backward ``g sigmoid(x)``."""
    name = 'softplus'

    def forward(self, x):
        return stable_softplus(x)

    def backward(self, grad, out, x):
        return (grad * (x.sigmoid() if isinstance(x, Value) else stable_sigmoid(x)),)


class Sin(Function):
    name = 'sin'

    def forward(self, x):
        return np.sin(x)

    def backward(self, grad, out, x):
        return (grad * generic.cos(x),)


class Cos(Function):
    name = 'cos'

    def forward(self, x):
        return np.cos(x)

    def backward(self, grad, out, x):
        return (-grad * generic.sin(x),)


class Log1p(Function):
    """``log(1 + x)``, accurate for small ``x``; backward ``g / (1 + x)``."""
    name = 'log1p'

    def forward(self, x):
        return np.log1p(x)

    def backward(self, grad, out, x):
        return (grad / (x + 1),)


class Expm1(ResultOp):
    """``exp(x) - 1``, accurate for small ``x``; backward ``g (out + 1)``."""
    name = 'expm1'

    def forward(self, x):
        return np.expm1(x)

    def backward(self, grad, out, x):
        return (grad * (out + 1),)


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
    saves_inputs = False

    def __init__(self, dtype: np.dtype):
        if dtype.kind not in 'biuf':  # a cast to str or object would make a non-numeric Value
            raise TypeError(f"cast: dtype must be numeric or bool, got {dtype}")
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, grad, out, x):
        return (grad.astype(data_of(x).dtype),)
