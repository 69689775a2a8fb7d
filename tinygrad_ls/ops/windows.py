"""Sliding windows over the spatial axes of ``(N, C, *spatial)`` arrays: the machinery that
convolution (``conv.py``) and pooling (``pool.py``) share.

A ``Window`` holds the geometry: per spatial axis a kernel size ``k``, a stride ``s``, a
dilation ``d`` and the zeros (or -inf) padded ``before`` and ``after``. The window at output
position ``o`` reads the padded input at ``o*s + i*d`` for kernel offsets ``i = 0 … k-1``,
so an axis of size ``n`` gives ``(n + before + after - span) // s + 1`` outputs, where
``span = d*(k - 1) + 1`` is the extent of one window.

* ``im2col`` is a strided view (``as_strided``: no copy) of shape ``(N, C, *kernel, *out)``;
* ``offset_slices`` gives, per kernel offset, the slice of the padded input that this offset
  of every window reads: one vectorised slice per offset, over the whole batch;
* ``col2im`` adds columns back: when windows do not overlap, one assignment through the
  same strided view; otherwise one slice-add per kernel offset (never a loop over the batch,
  the channels or the output positions).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..value import Value


@dataclass(frozen=True)
class Window:
    """The geometry of sliding windows over the last ``len(kernel)`` axes of an array."""
    kernel: tuple      # (kH, kW) or (kL,)
    stride: tuple
    dilation: tuple
    padding: tuple     # ((before, after), …) per spatial axis

    @property
    def span(self) -> tuple:
        """The extent of one window per axis: ``d*(k - 1) + 1``."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    def padded_shape(self, spatial: tuple) -> tuple:
        return tuple(n + before + after for n, (before, after) in zip(spatial, self.padding))

    def output_shape(self, spatial: tuple) -> tuple:
        """``(n + before + after - span) // s + 1`` per axis (< 1: the kernel does not fit)."""
        return self.windows_in(self.padded_shape(spatial))

    def windows_in(self, padded_spatial: tuple) -> tuple:
        """How many windows fit along each axis of an already padded array."""
        return tuple((p - span) // s + 1 for p, span, s in zip(padded_spatial, self.span, self.stride))

    @property
    def overlapping(self) -> bool:
        """Whether some input element lies in two windows (``s < span`` on some axis)."""
        return any(s < span for s, span in zip(self.stride, self.span))

    def settings(self, kernel: bool = False) -> str:
        """The geometry as PyTorch's module reprs print it, e.g. ``'stride=(2, 2), padding=(1, 1)'``
        (padding and dilation only when not the default; padding as (before, after) pairs
        when it is not symmetric)."""
        parts = [f"kernel_size={self.kernel}"] if kernel else []
        parts.append(f"stride={self.stride}")
        if any(before != after for before, after in self.padding):
            parts.append(f"padding={self.padding}")
        elif any(before for before, _ in self.padding):
            parts.append(f"padding={tuple(before for before, _ in self.padding)}")
        if any(d != 1 for d in self.dilation):
            parts.append(f"dilation={self.dilation}")
        return ', '.join(parts)


def pad(x: np.ndarray, window: Window, value: float = 0.0) -> np.ndarray:
    """``x`` (N, C, *spatial) padded with ``value`` on its spatial axes (``x`` itself when the
    padding is zero): one allocation and one copy of the interior."""
    if not any(before or after for before, after in window.padding):
        return x
    lead = x.shape[:x.ndim - len(window.kernel)]
    padded = np.full(lead + window.padded_shape(x.shape[len(lead):]), value, dtype=x.dtype)
    padded[interior(window, x.shape[len(lead):])] = x
    return padded


def interior(window: Window, spatial: tuple) -> tuple:
    """The index of the unpadded input inside the padded array."""
    return (Ellipsis,) + tuple(slice(before, before + n) for n, (before, _) in zip(spatial, window.padding))


def im2col(padded: np.ndarray, window: Window, writeable: bool = False) -> np.ndarray:
    """The windows of ``padded`` (N, C, *padded_spatial) as a strided view of shape
    ``(N, C, *kernel, *out)``: ``view[n, c, i, j, h, w] = padded[n, c, h*sH + i*dH, w*sW + j*dW]``.
    No copy; ``writeable`` only for ``col2im`` of non-overlapping windows."""
    dims = len(window.kernel)
    lead_strides, axis_strides = padded.strides[:-dims], padded.strides[-dims:]
    out = window.windows_in(padded.shape[-dims:])
    shape = padded.shape[:-dims] + window.kernel + out
    strides = (lead_strides + tuple(st * d for st, d in zip(axis_strides, window.dilation))
               + tuple(st * s for st, s in zip(axis_strides, window.stride)))
    return as_strided(padded, shape, strides, writeable=writeable)


def offset_slices(window: Window, out: tuple):
    """``(kernel offset, index)`` for every kernel offset in window order (row-major):
    ``padded[index]`` is the (N, C, *out) strided slice that this offset of all windows reads."""
    ranges = [range(k) for k in window.kernel]
    for offset in itertools.product(*ranges):
        yield offset, (Ellipsis,) + tuple(
            slice(i * d, i * d + s * (o - 1) + 1, s)
            for i, d, s, o in zip(offset, window.dilation, window.stride, out))


def col2im(cols: np.ndarray, window: Window, padded_spatial: tuple) -> np.ndarray:
    """The adjoint of ``im2col``: columns ``cols`` (N, C, *kernel, *out) added back into a
    zero array (N, C, *padded_spatial) at the positions they were read from (each input element
    gets the sum over the windows that contain it)."""
    dims = len(window.kernel)
    lead = cols.shape[:cols.ndim - 2 * dims]
    padded = np.zeros(lead + tuple(padded_spatial), dtype=cols.dtype)
    if not window.overlapping:
        im2col(padded, window, writeable=True)[...] = cols
        return padded
    kernel_axes = (slice(None),) * len(lead)
    for offset, index in offset_slices(window, cols.shape[-dims:]):
        padded[index] += cols[kernel_axes + offset]
    return padded


def call(op, *args, **params):
    """``op`` on Values (recorded: a ``create_graph`` pass) or straight through its ``forward``
    on ndarrays (a first-order pass): how the gradient ops of conv and pooling run each other."""
    if any(isinstance(arg, Value) for arg in args):
        return op.apply(*args, **params)
    return op(**params).forward(*args)
