"""Convolution layers: ``Conv1d`` and ``Conv2d`` (PyTorch's arguments, init, repr and state_dict
keys). Each ``forward`` is one call of the functional (``functional_conv.convolution``)."""
from __future__ import annotations

import math

import numpy as np

from ..dtypes import get_default_dtype
from ..value import Value
from . import init
from .functional_conv import check_conv_padding, convolution, int_tuple, positive_int
from .module import Module
from .parameter import Parameter


class _ConvNd(Module):
    """Shared by ``Conv1d`` and ``Conv2d`` (``dims`` spatial axes)."""
    dims = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = 'zeros', dtype=None):
        super().__init__()
        name, dims = type(self).__name__, self.dims
        in_channels = positive_int(name, 'in_channels', in_channels)
        out_channels = positive_int(name, 'out_channels', out_channels)
        groups = positive_int(name, 'groups', groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} and out_channels={out_channels} must both "
                             f"be divisible by groups={groups}")
        if padding_mode != 'zeros':
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = int_tuple(name, 'kernel_size', kernel_size, dims)
        self.stride = int_tuple(name, 'stride', stride, dims)
        self.padding = check_conv_padding(name, padding, dims, self.stride)
        self.dilation = int_tuple(name, 'dilation', dilation, dims)
        self.padding_mode = padding_mode
        dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.zeros(shape, dtype=dtype))
        self.bias = Parameter(np.zeros(self.out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. ``U(-1/sqrt(fan_in),
        1/sqrt(fan_in))`` with ``fan_in = in_channels / groups * prod(kernel_size)``, and the
        bias from the same uniform distribution."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.size // self.out_channels
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input) -> Value:
        return convolution(type(self).__name__, self.dims, input, self.weight, self.bias, self.stride,
                           self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        """As PyTorch: ``'1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)'``."""
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0,) * self.dims:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv1d(_ConvNd):
    """1-d convolution over (N, C, L) or (C, L) input: ``F.conv1d(x, weight, bias, …)`` with
    ``weight`` (out_channels, in_channels / groups, kernel_size) and ``bias`` (out_channels,)
    (None with ``bias=False``), initialised as PyTorch does, in ``dtype`` (default:
    ``tl.get_default_dtype()``) from the library's generator (``tl.manual_seed``)."""
    dims = 1


class Conv2d(_ConvNd):
    """2-d convolution over (N, C, H, W) or (C, H, W) input: ``F.conv2d(x, weight, bias, …)``
    with ``weight`` (out_channels, in_channels / groups, kH, kW) and ``bias`` (out_channels,)
    (None with ``bias=False``), initialised as PyTorch does, in ``dtype`` (default:
    ``tl.get_default_dtype()``) from the library's generator (``tl.manual_seed``).

    ``kernel_size``, ``stride``, ``padding``, ``dilation``: an int or a pair (kept as pairs,
    as PyTorch does); ``padding`` also ``'same'`` or ``'valid'``."""
    dims = 2
