"""Binary arithmetic (+ - * / ** @) and negation, with NumPy broadcasting.

Backward returns gradients of the output's shape; the engine sums them back to each input's
shape (``generic.sum_to``), so no op here deals with broadcasting itself.
"""
from __future__ import annotations

import numpy as np

from ..value import data_of
from . import generic
from .base import Function


class Add(Function):
    name = 'add'
    saves_inputs = False

    def forward(self, a, b):
        return a + b

    def backward(self, grad, out, a, b):
        return grad, grad


class Sub(Function):
    name = 'sub'
    saves_inputs = False

    def forward(self, a, b):
        return a - b

    def backward(self, grad, out, a, b):
        return grad, (-grad if self.needs_input_grad[1] else None)


class Mul(Function):
    name = 'mul'

    def forward(self, a, b):
        return a * b

    def backward(self, grad, out, a, b):
        need_a, need_b = self.needs_input_grad
        if a is b and need_a:  # x * x: both gradients are grad * x, computed once
            grad_a = grad * b
            return grad_a, grad_a
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    """``a / b``: d/da = 1/b, d/db = -a/b**2."""
    name = 'div'

    def forward(self, a, b):
        return a / b

    def backward(self, grad, out, a, b):
        need_a, need_b = self.needs_input_grad
        grad_a = grad / b if need_a else None
        grad_b = -grad * a / (b * b) if need_b else None
        return grad_a, grad_b


class Neg(Function):
    name = 'neg'
    saves_inputs = False

    def forward(self, a):
        return -a

    def backward(self, grad, out, a):
        return (-grad,)


class Pow(Function):
    """``a ** b``: d/da = b a**(b-1) (0 where b == 0); d/db = a**b log(a) (0 where a == 0).

    Both stay differentiable in ``a`` and ``b`` everywhere they are finite (create_graph)."""
    name = 'pow'
    saves_output = True

    def forward(self, a, b):
        return a ** b

    def backward(self, grad, out, a, b):
        need_a, need_b = self.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            # b * a**(b-1), written so that it stays a function of b where b == 0 (its
            # derivative in b there is a**-1, needed for second derivatives). Only where
            # a**-1 is not finite (b == 0 and a == 0 or subnormal) is the base replaced by 1:
            # the gradient there is b * 1 = 0, PyTorch's value, instead of 0 * inf.
            base = a
            zero_exponent = np.asarray(data_of(b)) == 0
            if zero_exponent.any():
                a_data = np.asarray(data_of(a))
                singular = zero_exponent & (np.abs(a_data) < np.finfo(a_data.dtype).tiny)
                if singular.any():
                    base = a + singular
            grad_a = grad * b * base ** (b - 1)
        if need_b:
            zero_base = np.asarray(data_of(a)) == 0
            safe_a = a + zero_base if zero_base.any() else a  # log(1) = 0 where the base is 0
            grad_b = grad * out * generic.log(safe_a)
        return grad_a, grad_b


class MatMul(Function):
    """``a @ b`` for 1-D, 2-D and batched N-D operands (NumPy matmul rules).

    1-D operands are treated as a row (left) or column (right) vector for the gradient; batch
    dimensions broadcast and the engine sums them back.
    """
    name = 'matmul'

    def forward(self, a, b):
        return np.matmul(a, b)

    def backward(self, grad, out, a, b):
        need_a, need_b = self.needs_input_grad
        a_shape, b_shape = np.shape(data_of(a)), np.shape(data_of(b))
        if len(a_shape) == 2 and len(b_shape) == 2:  # the common case, kept short
            return (grad @ b.T if need_a else None), (a.T @ grad if need_b else None)
        if len(a_shape) == 1 and len(b_shape) == 1:
            return (grad * b if need_a else None), (grad * a if need_b else None)
        if len(a_shape) == 1:  # (k,) @ (..., k, n) -> (..., n)
            a = a.reshape((1,) + a_shape)
            grad = grad.reshape(grad.shape[:-1] + (1,) + grad.shape[-1:])
        elif len(b_shape) == 1:  # (..., m, k) @ (k,) -> (..., m)
            b = b.reshape(b_shape + (1,))
            grad = grad.reshape(grad.shape + (1,))
        grad_a = grad @ swap_last(b) if need_a else None
        grad_b = swap_last(a) @ grad if need_b else None
        if need_a and len(a_shape) == 1:
            grad_a = generic.sum_to(grad_a, (1,) + a_shape).reshape(a_shape)
        if need_b and len(b_shape) == 1:
            grad_b = generic.sum_to(grad_b, b_shape + (1,)).reshape(b_shape)
        return grad_a, grad_b


def swap_last(x):
    """``x`` (an ndarray or a Value) with its last two axes swapped: the matrix transpose of a batch."""
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return x.transpose(axes)
