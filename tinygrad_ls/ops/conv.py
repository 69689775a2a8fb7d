"""Convolution (1-d and 2-d, any stride, padding, dilation and groups) as im2col + one matmul.

Shapes, with ``G`` groups, ``K = prod(kernel)`` and ``L = prod(out)`` output positions:

    x (N, C, *in)   w (O, C/G, *kernel)   b (O,)   ->   y (N, O, *out)
    y[n, o, p] = b[o] + sum_{c in o's group, i} w[o, c, i] * x_padded[n, c, p*s + i*d]

The windows of the padded input are a strided view (``windows.im2col``); copying it once as
the matrix ``cols`` (G, C/G*K, N*L) turns the convolution into one batched matmul
``w (G, O/G, C/G*K) @ cols``, done by BLAS. Convolution is bilinear, and each of its two
gradients is again a bilinear op of the same family:

* ``ConvTranspose(g, w)``: the input gradient ``w^T @ g`` added back into the input's
  positions (``col2im``: one slice-add per kernel offset);
* ``ConvWeight(x, g)``: the weight gradient ``g @ cols^T``, one matmul.

The three ops' backward passes call each other (``<dy, conv(x, w)> = <convT(dy, w), x> =
<convW(x, dy), w>``), so with ``create_graph=True`` every derivative order is recorded.
On a first-order pass (ndarrays) ``Convolution`` reuses the ``cols`` it built in forward.
"""
from __future__ import annotations

import math

import numpy as np

from ..value import Value, data_of
from .base import Function
from .windows import Window, call, col2im, im2col, interior, pad


class Convolution(Function):
    """``conv{1,2}d(x, w, b)``: x (N, C, *in), w (O, C/G, *kernel), b (O,) or absent ->
    (N, O, *out). Backward: ``dx = ConvTranspose(g, w)``, ``dw = ConvWeight(x, g)``,
    ``db = g.sum(batch and spatial axes)``."""
    name = 'conv'

    def __init__(self, window: Window, groups: int = 1):
        self.window, self.groups = window, groups
        self.name = f'conv{len(window.kernel)}d'

    def forward(self, x, weight, bias=None):
        self.cols = columns(x, self.window, self.groups)
        out = _weight_matrix(weight, self.groups) @ self.cols                  # (G, O/G, N*L)
        out = out.reshape(weight.shape[0], out.shape[-1])                      # (O, N*L)
        if bias is not None:
            if isinstance(bias, np.ndarray) and bias.dtype == out.dtype:
                out += bias[:, None]  # `out` is a fresh array nobody else holds
            else:
                out = out + np.asarray(bias)[:, None]
        out_shape = self.window.output_shape(x.shape[2:])
        return _batch_first(out.reshape((weight.shape[0], x.shape[0]) + out_shape))

    def backward(self, grad, out, x, weight, bias=None):
        needs = self.needs_input_grad
        spatial = tuple(range(2, grad.ndim))
        if isinstance(grad, Value):  # create_graph: recorded ops, whose backward is conv again
            grad_x = ConvTranspose.apply(grad, weight, window=self.window, groups=self.groups,
                                         input_shape=np.shape(data_of(x))[2:]) if needs[0] else None
            grad_w = ConvWeight.apply(x, grad, window=self.window, groups=self.groups) if needs[1] else None
            grad_b = grad.sum(axis=(0,) + spatial) if len(needs) == 3 and needs[2] else None
        else:
            rows = grad_matrix(grad, self.groups)                              # (G, O/G, N*L)
            grad_x = input_gradient(rows, weight, self.window, self.groups, x.shape) if needs[0] else None
            grad_w = weight_gradient(rows, self.cols, weight.shape) if needs[1] else None
            grad_b = rows.sum(axis=-1).reshape(-1) if len(needs) == 3 and needs[2] else None
        return (grad_x, grad_w) if len(needs) == 2 else (grad_x, grad_w, grad_b)

    def extra_repr(self) -> str:
        return _settings(self.window, self.groups)


class ConvTranspose(Function):
    """The input gradient of a convolution (a transposed convolution): g (N, O, *out),
    w (O, C/G, *kernel) -> (N, C, *input_shape), ``col2im(w^T @ g)`` cropped to the input.
    Backward: ``dg = Convolution(gg, w)``, ``dw = ConvWeight(gg, g)``."""
    name = 'conv_transpose'

    def __init__(self, window: Window, groups: int, input_shape: tuple):
        self.window, self.groups, self.input_shape = window, groups, tuple(input_shape)
        self.name = f'conv_transpose{len(window.kernel)}d'

    def forward(self, grad, weight):
        shape = grad.shape[:1] + (weight.shape[1] * self.groups,) + self.input_shape
        return input_gradient(grad_matrix(grad, self.groups), weight, self.window, self.groups, shape)

    def backward(self, gg, out, grad, weight):
        need_grad, need_weight = self.needs_input_grad
        return (call(Convolution, gg, weight, window=self.window, groups=self.groups) if need_grad else None,
                call(ConvWeight, gg, grad, window=self.window, groups=self.groups) if need_weight else None)

    def extra_repr(self) -> str:
        return _settings(self.window, self.groups)


class ConvWeight(Function):
    """The weight gradient of a convolution: x (N, C, *in), g (N, O, *out) ->
    (O, C/G, *kernel), ``g @ cols(x)^T`` per group. Backward: ``dx = ConvTranspose(g, gw)``,
    ``dg = Convolution(x, gw)``."""
    name = 'conv_weight'

    def __init__(self, window: Window, groups: int):
        self.window, self.groups = window, groups
        self.name = f'conv{len(window.kernel)}d_weight'

    def forward(self, x, grad):
        shape = (grad.shape[1], x.shape[1] // self.groups) + self.window.kernel
        return weight_gradient(grad_matrix(grad, self.groups), columns(x, self.window, self.groups), shape)

    def backward(self, gw, out, x, grad):
        need_x, need_grad = self.needs_input_grad
        input_shape = np.shape(data_of(x))[2:]
        return (call(ConvTranspose, grad, gw, window=self.window, groups=self.groups, input_shape=input_shape)
                if need_x else None,
                call(Convolution, x, gw, window=self.window, groups=self.groups) if need_grad else None)

    def extra_repr(self) -> str:
        return _settings(self.window, self.groups)


# ---- the matrices ---------------------------------------------------------------------------
def columns(x: np.ndarray, window: Window, groups: int) -> np.ndarray:
    """im2col: x (N, C, *in) -> the contiguous matrix (G, C/G * K, N * L), rows ordered
    (channel, *kernel offset), columns (sample, *output position). One copy of the strided
    window view; a matmul with it is the convolution."""
    view = im2col(pad(x, window), window)                                     # (N, C, *kernel, *out)
    dims = len(window.kernel)
    channels_first = (1,) + tuple(range(2, 2 + dims)) + (0,) + tuple(range(2 + dims, 2 + 2 * dims))
    rows = x.shape[1] // groups * math.prod(window.kernel)
    return view.transpose(channels_first).reshape(groups, rows, x.shape[0] * math.prod(view.shape[2 + dims:]))


def grad_matrix(grad: np.ndarray, groups: int) -> np.ndarray:
    """An output gradient (N, O, *out) as the matrix (G, O/G, N * L)."""
    return np.swapaxes(grad, 0, 1).reshape(groups, grad.shape[1] // groups, grad.size // grad.shape[1])


def input_gradient(rows: np.ndarray, weight: np.ndarray, window: Window, groups: int,
                   input_shape: tuple) -> np.ndarray:
    """col2im of ``w^T @ g``: the gradient rows (G, O/G, N*L) -> the input's (N, C, *in)."""
    n, channels = input_shape[:2]
    cols = np.swapaxes(_weight_matrix(weight, groups), 1, 2) @ rows          # (G, C/G*K, N*L)
    out = window.output_shape(input_shape[2:])
    cols = cols.reshape((channels,) + window.kernel + (n,) + out)
    batch = 1 + len(window.kernel)
    cols = np.moveaxis(cols, batch, 0)                                        # (N, C, *kernel, *out)
    padded = col2im(cols, window, window.padded_shape(input_shape[2:]))
    return padded[interior(window, input_shape[2:])]


def weight_gradient(rows: np.ndarray, cols: np.ndarray, weight_shape: tuple) -> np.ndarray:
    """``g @ cols^T`` per group: rows (G, O/G, N*L), cols (G, C/G*K, N*L) -> (O, C/G, *kernel)."""
    return (rows @ np.swapaxes(cols, 1, 2)).reshape(weight_shape)


def _weight_matrix(weight: np.ndarray, groups: int) -> np.ndarray:
    """w (O, C/G, *kernel) as (G, O/G, C/G * K)."""
    return weight.reshape(groups, weight.shape[0] // groups, math.prod(weight.shape[1:]))


def _batch_first(array: np.ndarray) -> np.ndarray:
    """(O, N, *out) -> a contiguous (N, O, *out)."""
    return np.ascontiguousarray(np.swapaxes(array, 0, 1))


def _settings(window: Window, groups: int) -> str:
    return window.settings() + (f", groups={groups}" if groups != 1 else '')

