"""Pooling layers: ``MaxPool2d``, ``AvgPool2d`` and ``AdaptiveAvgPool2d`` (PyTorch's arguments
and reprs; no parameters). Each ``forward`` is one call of its functional."""
from __future__ import annotations

from ..value import Value
from . import functional_conv as F
from .module import Module


class MaxPool2d(Module):
    """``F.max_pool2d``: the largest element of each ``kernel_size`` window (stride defaults
    to the kernel size), over (N, C, H, W) or (C, H, W) input. The gradient goes to the first
    maximum of each window, as in PyTorch."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
        super().__init__()
        F.pool_arguments('MaxPool2d', kernel_size, stride, padding, dilation, ceil_mode)  # fail early
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation, self.ceil_mode = padding, dilation, ceil_mode

    def forward(self, input) -> Value:
        return F.max_pool('MaxPool2d', input, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """``F.avg_pool2d``: the mean of each ``kernel_size`` window (stride defaults to the kernel
    size), over (N, C, H, W) or (C, H, W) input; ``count_include_pad`` and ``divisor_override``
    as in PyTorch."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        F.pool_arguments('AvgPool2d', kernel_size, stride, padding, 1, ceil_mode)
        F.avg_arguments('AvgPool2d', count_include_pad, divisor_override)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input) -> Value:
        return F.avg_pool('AvgPool2d', input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """``F.adaptive_avg_pool2d``: average pooling to ``output_size`` (an int, or a pair whose
    None entries keep the input's size) whatever the input's size, with PyTorch's windows;
    ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        F.adaptive_output_size('AdaptiveAvgPool2d', output_size)
        self.output_size = output_size

    def forward(self, input) -> Value:
        return F.adaptive_avg_pool('AdaptiveAvgPool2d', input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
