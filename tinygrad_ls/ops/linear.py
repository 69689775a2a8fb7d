"""``linear``: ``x @ W.T + b`` as one op, the layer every model is made of.

One op instead of three (transpose, matmul, add) halves the engine's work per layer, and the
bias is added in place into the fresh matmul result instead of allocating another array.
"""
from __future__ import annotations

import numpy as np

from ..value import data_of
from .base import Function


class FusedLinear(Function):
    """``x @ W.T + b`` for ``x`` (..., in), ``W`` (out, in), ``b`` (out,) or absent -> (..., out).

    Backward, with the leading axes of ``x`` and ``g`` flattened into rows:
    ``dx = g @ W``, ``dW = g.T @ x``, ``db = g.sum(rows)``.
    """
    name = 'linear'

    def forward(self, x, weight, bias=None):
        out = np.matmul(x, weight.T)
        if bias is None:
            return out
        if isinstance(bias, np.ndarray) and bias.ndim <= 1 and bias.dtype == out.dtype:
            out += bias  # cannot grow `out`, and `out` is a fresh array nobody else holds
            return out
        return out + bias

    def backward(self, grad, out, x, weight, bias=None):
        needs = self.needs_input_grad
        grad_x = grad @ weight if needs[0] else None
        grad_weight = grad_bias = None
        if True in needs[1:]:
            rows = grad if grad.ndim == 2 else grad.reshape((-1, grad.shape[-1]))
            if needs[1]:
                x_shape = np.shape(data_of(x))
                grad_weight = rows.T @ (x if len(x_shape) == 2 else x.reshape((-1, x_shape[-1])))
            if len(needs) == 3 and needs[2]:
                grad_bias = rows.sum(axis=0)
        return (grad_x, grad_weight) if len(needs) == 2 else (grad_x, grad_weight, grad_bias)
