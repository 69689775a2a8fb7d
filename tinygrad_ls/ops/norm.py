"""Normalisation ops: ``layer_norm`` and ``batch_norm``, each one op with a hand-derived backward.

Both normalise ``x`` over reduced axes ``R`` (``n`` elements per statistic):

    mean = sum_R(x) / n         var = sum_R((x - mean)**2) / n   (biased)
    inv_std = 1 / sqrt(var + eps)        xhat = (x - mean) * inv_std
    y = xhat * weight + bias

and backpropagate the closed form (``g = dL/dy``, ``gw = g * weight``, ``mean_R`` as above):

    dx      = inv_std * (gw - mean_R(gw) - xhat * mean_R(gw * xhat))     (batch statistics)
    dx      = inv_std * gw                                                (fixed statistics)
    dweight = sum(g * xhat),   dbias = sum(g)     over the axes the parameters broadcast along

One node instead of the dozen that composing mean, sub, mul, pow, ... would record.

Like PyTorch, forward saves only ``mean`` and ``inv_std`` (one number per row or channel);
backward reads them with ``x``. The closed form is written once, with operations ndarrays
and Values share (``_layer_norm_grads``, ``_batch_norm_grads``): a first-order pass gives it
the saved statistics; with ``create_graph=True`` it gets statistics recomputed from the input
Value as recorded ops, so the gradient differentiates again (saved arrays would be constants
there). Sums over a row or a channel are products with a vector of ones (or ``einsum``):
``ndarray.sum`` over inner axes is several times slower. LayerNorm's forward and first-order
backward walk blocks of rows small enough for their temporaries to stay in the CPU cache.

These ops assume valid arguments; ``nn.functional`` checks shapes, dtypes and ranges first and
raises errors that name them.
"""
from __future__ import annotations

import math

import numpy as np

from ..value import Value, data_of
from .base import Function

# LayerNorm works on blocks of rows of about this many bytes: small enough for the block's
# temporaries to stay in cache, large enough to keep the Python loop short (timed on
# (64, 128, 256) with a 1 MB L2: 2**19 best; 2**17 ~25%, 2**21 ~5%, one block ~60% slower).
_BLOCK_BYTES = 1 << 19


def _present(params: tuple, affine: tuple) -> tuple:
    """``(weight, bias)`` from the optional trailing arguments, None where absent."""
    has_weight, has_bias = affine
    weight = params[0] if has_weight else None
    bias = params[has_weight] if has_bias else None
    return weight, bias


def _wanted(needs_input_grad: tuple, affine: tuple) -> tuple:
    """Which of ``(x, weight, bias)`` want a gradient (False for an absent parameter)."""
    has_weight, has_bias = affine
    return (needs_input_grad[0], has_weight and needs_input_grad[1],
            has_bias and needs_input_grad[1 + has_weight])


def _inv_std(var, eps: float):
    """``1 / sqrt(var + eps)`` for an ndarray or (recorded) a Value."""
    return (var + eps) ** -0.5


def _affine_grads(op: Function, shape: tuple, grads: tuple, param_shape: tuple) -> tuple:
    """The backward result: ``dx`` in the input's ``shape``, then the gradients of the
    parameters ``op`` was given, in ``param_shape``."""
    grad_x, grad_weight, grad_bias = grads
    result = [None if grad_x is None else grad_x.reshape(shape)]
    for present, grad in zip(op.affine, (grad_weight, grad_bias)):
        if present:
            result.append(None if grad is None else grad.reshape(param_shape))
    return tuple(result)


# ---- layer_norm ---------------------------------------------------------------------------------
class LayerNorm(Function):
    """``layer_norm`` over the trailing ``normalized_shape`` axes ``S`` of ``x`` (*, *S): each
    of the ``M`` rows of the (M, D) view (``D = prod(S)``) is normalised on its own, and
    ``weight``/``bias`` (shape S, each optional: ``affine`` says which were passed) act
    elementwise. Output: the shape of ``x``. Saves ``mean`` and ``inv_std``, (M, 1) each."""
    name = 'layer_norm'

    def __init__(self, normalized_shape: tuple, eps: float = 1e-5, affine: tuple = (False, False)):
        self.normalized_shape, self.eps, self.affine = tuple(normalized_shape), eps, affine

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"

    def forward(self, x, *params):
        weight, bias = _present(params, self.affine)
        size = math.prod(self.normalized_shape)
        dtype = np.result_type(x, *params)
        rows = x.reshape(-1, size).astype(dtype, copy=False)
        count = rows.shape[0]
        out = np.empty(rows.shape, dtype)
        self.mean, self.inv_std = np.empty((count, 1), dtype), np.empty((count, 1), dtype)
        step = _block_rows(size, dtype)
        # the parameters repeated on a block's rows: a plain product, faster than broadcasting
        weight_rows, bias_rows = (_tiled(p, min(step, count)) for p in (weight, bias))
        xhat = np.empty((min(step, count), size), dtype)
        for start in range(0, count, step):
            block = slice(start, start + step)
            x_b, mean_b, inv_b, out_b = rows[block], self.mean[block], self.inv_std[block], out[block]
            n = len(x_b)
            xhat_b = xhat[:n]
            np.einsum('ij->i', x_b, out=mean_b[:, 0])  # the block's first read: einsum sums fastest
            mean_b /= size
            np.subtract(x_b, mean_b, out=xhat_b)
            np.matmul(xhat_b[:, None, :], xhat_b[:, :, None], out=inv_b[:, :, None])  # row dot products
            inv_b /= size
            inv_b += self.eps
            np.sqrt(inv_b, out=inv_b)
            np.divide(1, inv_b, out=inv_b)
            if weight is None and bias is None:
                np.multiply(xhat_b, inv_b, out=out_b)
                continue
            xhat_b *= inv_b
            if weight is None:
                np.add(xhat_b, bias_rows[:n], out=out_b)
            else:
                np.multiply(xhat_b, weight_rows[:n], out=out_b)
                if bias is not None:
                    out_b += bias_rows[:n]
        return out.reshape(x.shape)

    def backward(self, grad, out, x, *params):
        weight, _ = _present(params, self.affine)
        size = math.prod(self.normalized_shape)
        shape = np.shape(data_of(x))
        needs = _wanted(self.needs_input_grad, self.affine)
        grad, rows = grad.reshape(-1, size), x.reshape(-1, size)
        if isinstance(x, Value):  # create_graph: the statistics as recorded ops
            mean = rows.mean(axis=1, keepdims=True)
            centered = rows - mean
            inv_std = _inv_std((centered * centered).mean(axis=1, keepdims=True), self.eps)
            grads = _layer_norm_grads(grad, rows, mean, inv_std, weight, needs)
        else:
            grads = self._blocked_grads(grad, rows, weight, needs)
        return _affine_grads(self, shape, grads, self.normalized_shape)

    def _blocked_grads(self, grad: np.ndarray, rows: np.ndarray, weight, needs: tuple) -> tuple:
        """``_layer_norm_grads`` block by block of rows (its temporaries stay in cache), the
        parameter gradients added up over the blocks."""
        count, size = grad.shape
        dtype = np.result_type(grad, rows, self.mean)
        step = _block_rows(size, dtype)
        grad_x = np.empty(grad.shape, dtype) if needs[0] else None
        grad_weight, grad_bias = (np.zeros(size, dtype) if need else None for need in needs[1:])
        for start in range(0, count, step):
            block = slice(start, start + step)
            dx, dw, db = _layer_norm_grads(grad[block], rows[block], self.mean[block],
                                           self.inv_std[block], weight, needs)
            if dx is not None:
                grad_x[block] = dx
            if dw is not None:
                grad_weight += dw
            if db is not None:
                grad_bias += db
        return grad_x, grad_weight, grad_bias


def _layer_norm_grads(grad, x, mean, inv_std, weight, needs: tuple) -> tuple:
    """``(dx, dweight, dbias)`` of layer_norm for the rows ``grad`` and ``x`` (M, D), their
    ``mean`` and ``inv_std`` (M, 1) and ``weight`` (S) or None; None where ``needs`` (x,
    weight, bias) is False. The parameter gradients sum over these M rows only.

    With ``c = x - mean`` (``xhat = c * inv_std``) and ``w`` the flattened weight:
    ``dweight = inv_std.T @ (g * c)``, ``dbias = 1.T @ g``, and the row means of the closed
    form are products with ``w / D``: ``mean(gw) = g @ (w / D)``,
    ``mean(gw * xhat) = inv_std * ((g * c) @ (w / D))``."""
    need_x, need_w, need_b = needs
    count, size = np.shape(data_of(x))
    dtype = np.result_type(data_of(grad))
    centered = x - mean if need_x or need_w else None
    grad_centered = grad * centered if centered is not None else None
    grad_x = grad_weight = grad_bias = None
    if need_x:
        if weight is None:
            mean_weights, scaled = np.full((size, 1), 1 / size, dtype), grad
        else:
            mean_weights, scaled = weight.reshape(size, 1) / size, grad * weight.reshape(size)
        slope = (grad_centered @ mean_weights) * (inv_std * inv_std)
        grad_x = (scaled - grad @ mean_weights - centered * slope) * inv_std
    if need_w:
        grad_weight = (inv_std.T @ grad_centered).reshape(size)
    if need_b:
        grad_bias = (np.ones((1, count), dtype) @ grad).reshape(size)
    return grad_x, grad_weight, grad_bias


def _block_rows(size: int, dtype) -> int:
    return max(1, _BLOCK_BYTES // (size * np.dtype(dtype).itemsize))


def _tiled(param, rows: int):
    """``param`` flattened and repeated on ``rows`` rows (None stays None)."""
    return None if param is None else np.tile(param.reshape(1, -1), (max(rows, 1), 1))


# ---- batch_norm ---------------------------------------------------------------------------------
class BatchNorm(Function):
    """``batch_norm`` of ``x`` (N, C, *spatial), per channel over N and the spatial axes
    (seen as (N, C, L), or as (N, C) without spatial extent). With ``training`` the statistics
    are the batch's (biased variance) and the running arrays, if given, are updated in place:
    ``running = (1 - momentum) * running + momentum * batch_stat``, with the unbiased variance
    ``var * n / (n - 1)`` for ``running_var``; otherwise ``running_mean``/``running_var``
    normalise. ``weight``/``bias`` (C,), each optional (``affine`` says which were passed).
    Saves ``mean`` and ``inv_std``, one per channel.

    ``num_batches_tracked`` (``nn.BatchNorm*``'s 0-d int64 counter, or None) counts the
    training batches: a training forward adds 1 to it in place before updating the running
    statistics, and ``momentum=None`` (allowed only with a counter) then takes the cumulative
    average ``1 / num_batches_tracked``. Both happen in ``forward`` so that a step compiled by
    ``tl.compile`` counts and averages at every replay, as eager calls do."""
    name = 'batch_norm'

    def __init__(self, running_mean=None, running_var=None, training: bool = False,
                 momentum: float | None = 0.1, eps: float = 1e-5, affine: tuple = (False, False),
                 num_batches_tracked: np.ndarray | None = None):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps, self.affine = training, momentum, eps, affine
        self.num_batches_tracked = num_batches_tracked

    def extra_repr(self) -> str:
        features = getattr(self, 'num_features', None)
        lead = '' if features is None else f"{features}, "
        return f"{lead}eps={self.eps}, momentum={self.momentum}, training={self.training}"

    def forward(self, x, *params):
        weight, bias = _present(params, self.affine)
        dtype = np.result_type(x, *params)
        self.num_features = x.shape[1]
        planes = x.reshape(_planes_shape(x.shape)).astype(dtype, copy=False)
        per_channel = _stat_shape(planes.shape)
        if self.training:
            count = planes.size // self.num_features
            self.mean = _channel_sums(planes) / count
            out = planes - self.mean
            var = _channel_sums(out * out) / count
            self._update_running(var, count, self._count_batch())
            self.inv_std = _inv_std(var, self.eps)
        else:  # copies: a later training step updates the running arrays in place
            self.mean = np.array(self.running_mean, dtype=dtype).reshape(per_channel)
            self.inv_std = _inv_std(np.array(self.running_var, dtype=dtype).reshape(per_channel), self.eps)
            out = planes - self.mean
        out *= self.inv_std if weight is None else self.inv_std * weight.reshape(per_channel)
        if bias is not None:
            out += bias.reshape(per_channel)
        return out.reshape(x.shape)

    def _count_batch(self) -> float:
        """Add this training batch to ``num_batches_tracked`` (if given, in place) and return
        the momentum of the running update: ``momentum``, or ``1 / num_batches_tracked`` when
        ``momentum`` is None (the cumulative average)."""
        counter = self.num_batches_tracked
        if counter is not None:
            np.add(counter, 1, out=counter)
            if self.momentum is None:
                return 1.0 / float(counter)
        return self.momentum

    def _update_running(self, var: np.ndarray, count: int, momentum: float) -> None:
        """PyTorch's update of the running statistics, with the unbiased batch variance."""
        if self.running_mean is None:
            return
        self.running_mean *= 1 - momentum
        self.running_mean += momentum * self.mean.reshape(-1)
        self.running_var *= 1 - momentum
        self.running_var += (momentum * count / (count - 1)) * var.reshape(-1)

    def backward(self, grad, out, x, *params):
        weight, _ = _present(params, self.affine)
        shape = np.shape(data_of(x))
        planes = x.reshape(_planes_shape(shape))
        mean, inv_std = self.mean, self.inv_std
        if self.training and isinstance(x, Value):  # create_graph: the batch statistics, recorded
            count = math.prod(shape) // shape[1]
            mean = _channel_sums(planes) / count
            centered = planes - mean
            inv_std = _inv_std(_channel_sums(centered * centered) / count, self.eps)
        grads = _batch_norm_grads(grad.reshape(planes.shape), planes, mean, inv_std, weight,
                                  self.training, _wanted(self.needs_input_grad, self.affine))
        return _affine_grads(self, shape, grads, (shape[1],))


def _batch_norm_grads(grad, x, mean, inv_std, weight, batch_stats: bool, needs: tuple) -> tuple:
    """``(dx, dweight, dbias)`` of batch_norm for ``grad`` and ``x`` (N, C, L) or (N, C), the
    channel ``mean`` and ``inv_std`` ((C, 1) or (C,)), ``weight`` (C,) or None; None where
    ``needs`` (x, weight, bias) is False. The weight is constant over a channel's reduced axes,
    so it factors out:

        dx = weight * inv_std * (g - mean(g) - xhat * mean(g * xhat))   (batch statistics)
        dx = weight * inv_std * g                                        (fixed statistics)

    with ``xhat * mean(g * xhat) = c * inv_std**2 * mean(g * c)``, ``c = x - mean``."""
    need_x, need_w, need_b = needs
    planes = np.shape(data_of(x))
    count = math.prod(planes) // planes[1]
    batch_terms = need_x and batch_stats
    centered = x - mean if need_w or batch_terms else None
    sum_grad = _channel_sums(grad) if need_b or batch_terms else None
    sum_grad_centered = _channel_sums(grad * centered) if centered is not None else None
    grad_x = None
    if need_x:
        scale = inv_std if weight is None else inv_std * weight.reshape(_stat_shape(planes))
        if batch_terms:
            slope = sum_grad_centered * (inv_std * inv_std / count)
            grad_x = (grad - sum_grad / count - centered * slope) * scale
        else:
            grad_x = grad * scale
    grad_weight = (sum_grad_centered * inv_std).reshape(-1) if need_w else None
    grad_bias = sum_grad.reshape(-1) if need_b else None
    return grad_x, grad_weight, grad_bias


def _planes_shape(shape: tuple) -> tuple:
    """(N, C, *spatial) -> (N, C, L), L the product of the spatial sizes; (N, C) where L is 1,
    so that the per-channel numbers broadcast along the last axis (one pass, not N * C)."""
    length = math.prod(shape[2:])
    return tuple(shape[:2]) if length == 1 else (shape[0], shape[1], length)


def _stat_shape(planes: tuple) -> tuple:
    """The shape of a per-channel statistic that broadcasts against ``planes``."""
    return (planes[1],) if len(planes) == 2 else (planes[1], 1)


def _channel_sums(planes):
    """Sums over all but the channel axis of (N, C, L) or (N, C), in ``_stat_shape``, for an
    ndarray or (recorded) a Value: a product with ones over N, then a sum over L (several
    times faster than ``sum(axis=(0, 2))``)."""
    shape = np.shape(data_of(planes))
    batch, channels = shape[:2]
    ones = np.ones((1, batch), np.result_type(data_of(planes)))
    if len(shape) == 2:
        return (ones @ planes).reshape(channels)
    sums = ones @ planes.reshape(batch, channels * shape[2])
    return sums.reshape(channels, shape[2]).sum(axis=1, keepdims=True)
