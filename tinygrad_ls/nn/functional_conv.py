"""Convolution and pooling of ``nn.functional`` (re-exported there: ``F.conv2d``, ``F.max_pool2d``, …).

    y = F.conv2d(x, weight, bias, stride=1, padding='same')   # x (N, C, H, W), weight (O, C, kH, kW)
    y = F.max_pool2d(y, 2)                                      # (N, O, H // 2, W // 2)

Names, arguments, defaults and layout (NCL / NCHW) are PyTorch's; an unbatched input
((C, L) for conv1d, (C, H, W) for the 2-d functions) gives an unbatched output, as in
PyTorch. Every argument is checked here, before anything is computed, and an error names the
function (or the module calling it: ``Conv2d``, ``MaxPool2d``, …) and the shapes involved.
The ops themselves live in ``ops/conv.py`` and ``ops/pool.py``.

Output size along an axis of size ``n``: ``(n + 2 p - d (k - 1) - 1) // s + 1`` (pools with
``ceil_mode=True`` round up, but the last window must start inside the input or its left
padding).
"""
from __future__ import annotations

import numpy as np

from ..checks import check_int, is_int
from ..ops.conv import Convolution
from ..ops.pool import AdaptiveAvgPool, AvgPool, MaxPool, avg_divisor
from ..ops.windows import Window
from ..value import Value
from .functional_activations import _as_value

__all__ = ['conv1d', 'conv2d', 'max_pool2d', 'avg_pool2d', 'adaptive_avg_pool2d']

PADDING_MODES = ('same', 'valid')


# ---- convolution ----------------------------------------------------------------------------
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Value:
    """1-d convolution (cross-correlation, as PyTorch): input (N, C, L) or (C, L), weight
    (O, C/groups, k), bias (O,) -> (N, O, L_out):
    ``y[n, o, l] = b[o] + sum_{c, i} w[o, c, i] x_pad[n, c', l s + i d]`` (``c'``: the channels
    of output channel ``o``'s group).
    ``padding``: an int, a 1-tuple, ``'valid'`` (0) or ``'same'`` (output length L; stride 1)."""
    return convolution('conv1d', 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Value:
    """2-d convolution (cross-correlation, as PyTorch): input (N, C, H, W) or (C, H, W),
    weight (O, C/groups, kH, kW), bias (O,) -> (N, O, H_out, W_out):
    ``y[n, o, h, w] = b[o] + sum_{c, i, j} w[o, c, i, j] x_pad[n, c', h sH + i dH, w sW + j dW]``,
    ``c'`` running over the channels of output channel ``o``'s group.
    ``stride``, ``padding``, ``dilation``: an int or a pair; ``padding`` also ``'valid'`` (0)
    or ``'same'`` (output size = input size; stride 1; when the total padding ``d (k - 1)`` is
    odd the extra row/column goes at the end, as in PyTorch). ``groups`` splits the channels
    into independent convolutions (``groups = C``: depthwise)."""
    return convolution('conv2d', 2, input, weight, bias, stride, padding, dilation, groups)


def convolution(caller: str, dims: int, input, weight, bias, stride, padding, dilation, groups: int) -> Value:
    """``conv1d``/``conv2d`` (``dims`` spatial axes), errors naming ``caller``."""
    input, weight = _float_value(caller, 'input', input), _float_value(caller, 'weight', weight)
    stride = int_tuple(caller, 'stride', stride, dims)
    dilation = int_tuple(caller, 'dilation', dilation, dims)
    groups = positive_int(caller, 'groups', groups)
    unbatched = _check_rank(caller, input, dims)
    if weight.ndim != dims + 2:
        kernel = ('kL',) if dims == 1 else ('kH', 'kW')
        raise ValueError(f"{caller}: weight must have shape (out_channels, in_channels/groups, "
                         f"{', '.join(kernel)}), got {weight.shape}")
    channels, out_channels = input.shape[-dims - 1], weight.shape[0]
    if out_channels % groups:
        raise ValueError(f"{caller}: out_channels={out_channels} (weight shape {weight.shape}) must be "
                         f"divisible by groups={groups}")
    if channels != weight.shape[1] * groups:
        raise ValueError(f"{caller}: input of shape {input.shape} has {channels} channels, but weight of "
                         f"shape {weight.shape} with groups={groups} expects {weight.shape[1] * groups}")
    if bias is not None:
        bias = _float_value(caller, 'bias', bias)
        if bias.shape != (out_channels,):
            raise ValueError(f"{caller}: bias must have shape ({out_channels},) (one per output channel "
                             f"of weight {weight.shape}), got {bias.shape}")
    kernel = weight.shape[2:]
    window = Window(kernel, stride, dilation, conv_padding(caller, padding, kernel, stride, dilation))
    _check_fits(caller, window, input.shape, f"padding={padding!r}")
    x = input.reshape((1,) + input.shape) if unbatched else input
    args = (x, weight) if bias is None else (x, weight, bias)
    out = Convolution.apply(*args, window=window, groups=groups)
    return out.reshape(out.shape[1:]) if unbatched else out


def conv_padding(caller: str, padding, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """``padding`` (an int, a tuple, ``'valid'`` or ``'same'``) as (before, after) pairs per axis.
    ``'same'`` pads ``d (k - 1)`` in total, ``total // 2`` before and the rest after
    (PyTorch's rule); it needs stride 1 (ValueError otherwise, as in PyTorch)."""
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(f"{caller}: padding must be an int, a tuple of ints, 'same' or 'valid', "
                             f"got {padding!r}")
        if padding == 'valid':
            return ((0, 0),) * len(kernel)
        if any(s != 1 for s in stride):
            raise ValueError(f"{caller}: padding='same' is not supported for strided convolutions "
                             f"(stride={stride})")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((total // 2, total - total // 2) for total in totals)
    return tuple((p, p) for p in int_tuple(caller, 'padding', padding, len(kernel), minimum=0))


# ---- pooling --------------------------------------------------------------------------------
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False) -> Value:
    """2-d max pooling: input (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out), the largest
    element of each ``kernel_size`` window (padding counts as -inf, at most half the kernel);
    ``stride`` defaults to ``kernel_size``. The gradient goes to one element per window: the
    first maximum in row-major window order, as in PyTorch (a NaN counts as the maximum)."""
    return max_pool('max_pool2d', input, kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Value:
    """2-d average pooling: input (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out), the sum of
    each ``kernel_size`` window (zero padding, at most half the kernel) divided by the kernel
    size (``count_include_pad=True``, the default), by the number of input elements in the
    window (``False``), or by ``divisor_override``. ``stride`` defaults to ``kernel_size``."""
    return avg_pool('avg_pool2d', input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                    divisor_override)


def adaptive_avg_pool2d(input, output_size) -> Value:
    """Average pooling to a fixed output size: input (N, C, H, W) or (C, H, W) -> (N, C, OH, OW).
    Output row ``i`` averages input rows ``[floor(i H / OH), ceil((i + 1) H / OH))`` (PyTorch's
    rule; likewise for columns). ``output_size``: an int, or a pair whose ``None`` entries keep
    the input's size."""
    return adaptive_avg_pool('adaptive_avg_pool2d', input, output_size)


def max_pool(caller: str, input, kernel_size, stride, padding, dilation, ceil_mode) -> Value:
    """``max_pool2d``, errors naming ``caller``."""
    input = _float_value(caller, 'input', input)
    window, unbatched = pool_window(caller, input, kernel_size, stride, padding, dilation, ceil_mode)
    return _unbatched_call(MaxPool, input, unbatched, window=window)


def avg_pool(caller: str, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
             divisor_override) -> Value:
    """``avg_pool2d``, errors naming ``caller``."""
    input = _float_value(caller, 'input', input)
    window, unbatched = pool_window(caller, input, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad, divisor_override = avg_arguments(caller, count_include_pad, divisor_override)
    divisor = avg_divisor(window, input.shape[-2:], count_include_pad, divisor_override)
    return _unbatched_call(AvgPool, input, unbatched, window=window, divisor=divisor)


def adaptive_avg_pool(caller: str, input, output_size) -> Value:
    """``adaptive_avg_pool2d``, errors naming ``caller``."""
    input = _float_value(caller, 'input', input)
    size = adaptive_output_size(caller, output_size)
    unbatched = _check_rank(caller, input, 2)
    size = tuple(n if m is None else m for n, m in zip(input.shape[-2:], size))
    return _unbatched_call(AdaptiveAvgPool, input, unbatched, output_size=size)


def pool_arguments(caller: str, kernel_size, stride, padding, dilation, ceil_mode, dims: int = 2) -> tuple:
    """``(kernel, stride, padding, dilation)`` as tuples of ``dims`` ints, checked as PyTorch
    does: positive kernel, stride (None: the kernel size) and dilation; ``0 <= padding <= k // 2``;
    ``ceil_mode`` a bool."""
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{caller}: ceil_mode must be a bool, got {ceil_mode!r}")
    kernel = int_tuple(caller, 'kernel_size', kernel_size, dims)
    stride = kernel if stride is None else int_tuple(caller, 'stride', stride, dims)
    padding = int_tuple(caller, 'padding', padding, dims, minimum=0)
    dilation = int_tuple(caller, 'dilation', dilation, dims)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{caller}: padding should be at most half of the kernel size, got padding="
                         f"{padding} for kernel_size={kernel}")
    return kernel, stride, padding, dilation


def pool_window(caller: str, input: Value, kernel_size, stride, padding, dilation, ceil_mode) -> tuple:
    """The ``Window`` of a 2-d pooling over ``input`` and whether the input is unbatched.
    ``ceil_mode`` adds the padding after the input that the last (partial) window needs."""
    kernel, stride, padding, dilation = pool_arguments(caller, kernel_size, stride, padding, dilation,
                                                       ceil_mode)
    unbatched = _check_rank(caller, input, 2)
    pads = []
    for n, k, s, p, d in zip(input.shape[-2:], kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        out = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= n + p:  # the last window would start in the right padding
            out -= 1
        pads.append((p, max(p, (out - 1) * s + span - n - p)))
    window = Window(kernel, stride, dilation, tuple(pads))
    _check_fits(caller, window, input.shape, f"padding={padding}")
    return window, unbatched


def avg_arguments(caller: str, count_include_pad, divisor_override) -> tuple:
    """``count_include_pad`` a bool, ``divisor_override`` None or a positive int."""
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"{caller}: count_include_pad must be a bool, got {count_include_pad!r}")
    if divisor_override is not None:
        divisor_override = positive_int(caller, 'divisor_override', divisor_override)
    return bool(count_include_pad), divisor_override


def adaptive_output_size(caller: str, output_size) -> tuple:
    """``output_size`` as a pair of positive ints or None (keep the input's size)."""
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(sizes) != 2 or not all(m is None or (is_int(m) and m >= 1) for m in sizes):
        raise ValueError(f"{caller}: output_size must be a positive int or a pair of positive ints "
                         f"(or None), got {output_size!r}")
    return tuple(None if m is None else int(m) for m in sizes)


# ---- argument checks, shared with the modules (nn.Conv2d, nn.MaxPool2d, …) -------------------
# ``caller`` is the name to put in the error: the function, or the module class.
def int_tuple(caller: str, argument: str, value, dims: int, minimum: int = 1) -> tuple:
    """An int (repeated ``dims`` times) or a tuple/list of ``dims`` ints, each ``>= minimum``."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims or not all(is_int(v) for v in values):
        raise TypeError(f"{caller}: {argument} must be an int or a tuple of {dims} ints, got {value!r}")
    if any(v < minimum for v in values):
        kind = 'positive' if minimum == 1 else 'non-negative'
        raise ValueError(f"{caller}: {argument} must be {kind}, got {value!r}")
    return tuple(int(v) for v in values)


def check_conv_padding(caller: str, padding, dims: int, stride: tuple):
    """A module's ``padding`` as PyTorch stores it: a tuple of ints, or 'same'/'valid'."""
    if isinstance(padding, str):
        conv_padding(caller, padding, (1,) * dims, stride, (1,) * dims)
        return padding
    return int_tuple(caller, 'padding', padding, dims, minimum=0)


def positive_int(caller: str, argument: str, value) -> int:
    check_int(caller, argument, value)
    if value < 1:
        raise ValueError(f"{caller}: {argument} must be positive, got {value!r}")
    return int(value)


# ---- helpers --------------------------------------------------------------------------------
def _float_value(caller: str, argument: str, x) -> Value:
    x = _as_value(x)
    if x.dtype.kind != 'f':
        raise TypeError(f"{caller}: {argument} must have a float dtype, got {x.dtype} (shape {x.shape})")
    return x


def _check_rank(caller: str, input: Value, dims: int) -> bool:
    """True for an unbatched input (channels and ``dims`` spatial axes), False for a batched
    one; a ValueError for any other number of axes."""
    if input.ndim not in (dims + 1, dims + 2):
        axes = ('L',) if dims == 1 else ('H', 'W')
        raise ValueError(f"{caller}: expected a {dims + 1}-d (C, {', '.join(axes)}) or {dims + 2}-d "
                         f"(N, C, {', '.join(axes)}) input, got shape {input.shape}")
    if 0 in input.shape[-dims:]:
        raise ValueError(f"{caller}: input of shape {input.shape} has an empty spatial axis")
    return input.ndim == dims + 1


def _check_fits(caller: str, window: Window, shape: tuple, padding: str) -> None:
    """ValueError unless the (dilated) kernel fits into the padded input on every axis."""
    spatial = shape[-len(window.kernel):]
    padded = window.padded_shape(spatial)
    if any(p < span for p, span in zip(padded, window.span)):
        dilated = f" (dilated: {window.span})" if window.span != window.kernel else ''
        raise ValueError(f"{caller}: kernel size {window.kernel}{dilated} is larger than the padded input "
                         f"{padded} (input shape {shape}, {padding})")


def _unbatched_call(op, input: Value, unbatched: bool, **params) -> Value:
    """``op`` on a batch of one when ``input`` has no batch axis, and that axis dropped again."""
    if not unbatched:
        return op.apply(input, **params)
    out = op.apply(input.reshape((1,) + input.shape), **params)
    return out.reshape(out.shape[1:])
