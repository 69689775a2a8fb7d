"""Pooling over sliding windows (``windows.py``): max, average and adaptive average.

Shapes: x (N, C, *in) -> (N, C, *out), windows as in ``windows.Window``. Every pass loops
over the kernel offsets only (``offset_slices``: one strided slice of the whole batch per
offset), never over the batch, the channels or the output positions.

* ``MaxPool``: the largest element of each window, padding counting as -inf. Forward keeps,
  per window, which kernel offset won: the first maximum in window order (row-major), as
  PyTorch picks it; a NaN wins over numbers (the last NaN of the window), as in PyTorch. The
  gradient goes to that one element (``PickScatter``), whose own gradient is the gather of
  the same elements (``PickGather``) — piecewise linear, so every order is recorded.
* ``AvgPool``: window sums over a divisor (``avg_divisor``); linear, its backward is
  ``AvgPoolTranspose`` (the gradient over the divisor added back into every window), whose
  backward is ``AvgPool`` again.
* ``AdaptiveAvgPool``: PyTorch's adaptive windows ``[floor(i n / m), ceil((i + 1) n / m))``
  as two averaging matrices, ``rows @ x @ cols^T``.
"""
from __future__ import annotations

import math

import numpy as np

from .base import Function
from .windows import Window, call, col2im, interior, offset_slices, pad


class PoolOp(Function):
    """Base of the pooling ops: none reads its input's values in backward, and graph pictures
    show the window as PyTorch's pooling modules print it."""
    saves_inputs = False
    window: Window

    def extra_repr(self) -> str:
        return self.window.settings(kernel=True)


class PickGather(PoolOp):
    """x (N, C, *in) -> (N, C, *out): the element of each window at the kernel offset
    ``picked`` (N, C, *out) names. Backward: ``PickScatter``."""
    name = 'max_pool_gather'

    def __init__(self, window: Window, picked: np.ndarray):
        self.window, self.picked = window, picked
        self.name = f'max_pool{len(window.kernel)}d_gather'

    def forward(self, x):
        padded = pad(x, self.window)
        out = np.zeros(self.picked.shape, dtype=x.dtype)
        for k, (_, index) in enumerate(offset_slices(self.window, out.shape[2:])):
            np.copyto(out, padded[index], where=self.picked == k)
        self.input_shape = x.shape[2:]
        return out

    def backward(self, grad, out, x):
        return (call(PickScatter, grad, window=self.window, picked=self.picked,
                     input_shape=self.input_shape),)


class MaxPool(PickGather):
    """max_pool: x (N, C, *in) -> (N, C, *out), ``max_i x_padded[p*s + i*d]`` per window: the
    gather (``PickGather``) of the offsets that forward finds, so backward is the same scatter."""
    name = 'max_pool'

    def __init__(self, window: Window):
        self.window = window
        self.name = f'max_pool{len(window.kernel)}d'

    def forward(self, x):
        padded = pad(x, self.window, -np.inf)
        out_shape = self.window.output_shape(x.shape[2:])
        has_nan = x.dtype.kind == 'f' and math.isnan(np.minimum.reduce(x, axis=None))
        kernel_size = math.prod(self.window.kernel)
        picked = np.zeros(x.shape[:2] + out_shape, dtype=np.uint8 if kernel_size <= 256 else np.intp)
        best = None
        for k, (_, index) in enumerate(offset_slices(self.window, out_shape)):
            candidate = padded[index]
            if best is None:
                best = candidate.copy()
                continue
            wins = candidate > best  # strictly: on a tie the earlier offset keeps the window
            if has_nan:
                wins |= np.isnan(candidate)
            np.maximum(picked, wins * picked.dtype.type(k), out=picked)  # offsets only grow: the last win
            np.maximum(best, candidate, out=best)
        self.picked, self.input_shape = picked, x.shape[2:]
        return best


class PickScatter(PoolOp):
    """The gradient of ``MaxPool``/``PickGather``: grad (N, C, *out) -> (N, C, *in), zeros with
    each window's gradient added at its picked element. Backward: ``PickGather``."""
    name = 'max_pool_scatter'

    def __init__(self, window: Window, picked: np.ndarray, input_shape: tuple):
        self.window, self.picked, self.input_shape = window, picked, input_shape
        self.name = f'max_pool{len(window.kernel)}d_scatter'

    def forward(self, grad):
        padded = np.zeros(grad.shape[:2] + self.window.padded_shape(self.input_shape), dtype=grad.dtype)
        finite = math.isfinite(np.add.reduce(grad, axis=None))  # else `grad * mask` would spread NaN
        zero = np.zeros((), dtype=grad.dtype)
        for k, (_, index) in enumerate(offset_slices(self.window, grad.shape[2:])):
            won = self.picked == k
            padded[index] += grad * won if finite else np.where(won, grad, zero)
        return padded[interior(self.window, self.input_shape)]

    def backward(self, grad, out, x):
        return (call(PickGather, grad, window=self.window, picked=self.picked),)


class AvgPool(PoolOp):
    """avg_pool: x (N, C, *in) -> (N, C, *out), ``sum_i x_padded[p*s + i*d] / divisor[p]``
    (zero padding; ``divisor`` from ``avg_divisor``: a number or an array of the output's
    spatial shape). Backward: ``AvgPoolTranspose``."""
    name = 'avg_pool'

    def __init__(self, window: Window, divisor):
        self.window, self.divisor = window, divisor
        self.name = f'avg_pool{len(window.kernel)}d'

    def forward(self, x):
        padded = pad(x, self.window)
        self.input_shape = x.shape[2:]
        total = None
        for _, index in offset_slices(self.window, self.window.output_shape(self.input_shape)):
            if total is None:
                total = padded[index].copy()
            else:
                total += padded[index]
        total /= self.divisor
        return total

    def backward(self, grad, out, x):
        return (call(AvgPoolTranspose, grad, window=self.window, divisor=self.divisor,
                     input_shape=self.input_shape),)


class AvgPoolTranspose(PoolOp):
    """The gradient of ``AvgPool``: g (N, C, *out) -> (N, C, *in), ``g / divisor`` added
    into every position of its window (``col2im``). Backward: ``AvgPool``."""
    name = 'avg_pool_transpose'

    def __init__(self, window: Window, divisor, input_shape: tuple):
        self.window, self.divisor, self.input_shape = window, divisor, tuple(input_shape)
        self.name = f'avg_pool{len(window.kernel)}d_transpose'

    def forward(self, grad):
        dims = len(self.window.kernel)
        share = (grad / self.divisor).astype(grad.dtype, copy=False)
        spread = share.reshape(grad.shape[:2] + (1,) * dims + grad.shape[2:])
        cols = np.broadcast_to(spread, grad.shape[:2] + self.window.kernel + grad.shape[2:])
        padded = col2im(cols, self.window, self.window.padded_shape(self.input_shape))
        return padded[interior(self.window, self.input_shape)]

    def backward(self, grad, out, g):
        return (call(AvgPool, grad, window=self.window, divisor=self.divisor),)


def avg_divisor(window: Window, spatial: tuple, count_include_pad: bool, divisor_override: int | None):
    """What each window sum is divided by, as PyTorch computes it: ``divisor_override`` if
    given; else the number of window elements inside the input plus its declared padding
    (``count_include_pad``, the default: the kernel size except where ceil_mode lets a window
    run past the padding) or inside the input alone. A Python int when the same for every
    window, else a float array of the output's spatial shape (one count per axis, multiplied)."""
    if divisor_override is not None:
        return divisor_override
    out = window.output_shape(spatial)
    counts = []
    for n, o, k, s, (before, _) in zip(spatial, out, window.kernel, window.stride, window.padding):
        start = np.arange(o) * s - before                      # in input coordinates
        if count_include_pad:
            count = np.minimum(start + k, n + before) - start
        else:
            count = np.minimum(start + k, n) - np.maximum(start, 0)
        counts.append(count)
    if all((count == count[0]).all() for count in counts):
        return math.prod(int(count[0]) for count in counts)
    grid = np.ones(out)
    for axis, count in enumerate(counts):
        grid = grid * count.reshape((-1,) + (1,) * (len(out) - 1 - axis))
    return grid


class AdaptiveAvgPool(Function):
    """adaptive_avg_pool2d: x (N, C, H, W) -> (N, C, OH, OW), window ``i`` along an axis of size
    ``n`` covering ``[floor(i n / m), ceil((i + 1) n / m))`` (PyTorch's rule), computed as
    ``rows @ x @ cols^T`` with averaging matrices ``rows`` (OH, H) and ``cols`` (OW, W).
    Backward: ``rows^T @ g @ cols`` (recorded matmuls when creating a graph)."""
    name = 'adaptive_avg_pool2d'
    saves_inputs = False

    def __init__(self, output_size: tuple):
        self.output_size = tuple(output_size)

    def forward(self, x):
        self.rows, self.cols = (adaptive_matrix(n, m, x.dtype) for n, m in zip(x.shape[2:], self.output_size))
        return self.rows @ x @ self.cols.T

    def backward(self, grad, out, x):
        return (self.rows.T @ grad @ self.cols,)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


def adaptive_matrix(n: int, m: int, dtype) -> np.ndarray:
    """(m, n): row ``i`` averages ``[floor(i n / m), ceil((i + 1) n / m))``."""
    i = np.arange(m)
    start, stop = (i * n) // m, -((-(i + 1) * n) // m)
    inside = (np.arange(n) >= start[:, None]) & (np.arange(n) < stop[:, None])
    return (inside / (stop - start)[:, None]).astype(dtype)

