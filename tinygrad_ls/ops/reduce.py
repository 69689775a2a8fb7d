"""Reductions over ``axis`` (None, an int or a tuple) with ``keepdims``, and the stable
softmax family."""
from __future__ import annotations

import math

import numpy as np

from ..checks import is_int
from ..value import data_of
from . import generic
from .base import Function, ResultOp


def normalize_axes(ndim: int, axis) -> tuple:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all(
            is_int(a) for a in axes):
        raise TypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}")
    normalized = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise ValueError(f"axis {a} is out of range for {ndim}-d input")
        normalized.append(int(a) % max(ndim, 1))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(normalized)) if ndim else ()


def keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    """``shape`` with the reduced ``axes`` set to 1."""
    return tuple(1 if i in axes else size for i, size in enumerate(shape))


def reduced_count(shape: tuple, axis) -> int:
    """How many elements each output of a reduction over ``axis`` combines."""
    return math.prod(shape[a] for a in normalize_axes(len(shape), axis))


class _Reduction(Function):
    """Shared set-up: normalizes ``axis`` and remembers the keepdims shape for backward."""

    input_shape = None  # the shape the set-up below was made for

    def __init__(self, axis=None, keepdims: bool = False):
        self.axis, self.keepdims = axis, keepdims

    def _setup(self, x) -> tuple:
        """The reduced axes for input ``x``; the shapes and count that follow from them are
        kept, and reused while the input shape stays (a compiled step replays the same op)."""
        if x.shape != self.input_shape:
            self.axes = axes = normalize_axes(x.ndim, self.axis)
            self.kept_shape = keepdims_shape(x.shape, axes)
            self.out_shape = tuple(size for i, size in enumerate(x.shape) if i not in axes)
            self.count = math.prod(x.shape[a] for a in axes)
            self.input_shape = x.shape
        return self.axes

    def _output(self, kept):
        """Reduce result computed with keepdims=True -> the requested shape."""
        return kept if self.keepdims else kept.reshape(self.out_shape)

    def _grad_kept(self, grad):
        """The incoming gradient reshaped to the keepdims shape so it broadcasts over x."""
        return grad if self.keepdims else grad.reshape(self.kept_shape)


class Sum(_Reduction):
    name = 'sum'
    saves_inputs = False

    def forward(self, x):
        return self._output(x.sum(axis=self._setup(x), keepdims=True))

    def backward(self, grad, out, x):
        return (generic.broadcast_to(self._grad_kept(grad), np.shape(data_of(x))),)


class Mean(_Reduction):
    name = 'mean'
    saves_inputs = False

    def forward(self, x):
        axes = self._setup(x)
        if x.size == 0:
            raise ValueError(f"mean of an empty array (shape {x.shape})")
        # add.reduce / count is what np.mean computes, without its Python-level wrapper.
        return self._output(np.add.reduce(x, axis=axes, keepdims=True) / self.count)

    def backward(self, grad, out, x):
        shape = np.shape(data_of(x))
        return (generic.broadcast_to(self._grad_kept(grad) / self.count, shape),)


class Max(_Reduction):
    """Maximum over ``axis``; tied maxima share the gradient equally (like ``torch.amax``)."""
    name = 'max'
    _reduce = staticmethod(np.max)

    def forward(self, x):
        self.kept = self._reduce(x, axis=self._setup(x), keepdims=True)
        return self._output(self.kept)

    def backward(self, grad, out, x):
        x = data_of(x)
        hits = x == self.kept
        share = hits / hits.sum(axis=self.axes, keepdims=True).astype(x.dtype)
        return (self._grad_kept(grad) * share,)


class Prod(_Reduction):
    """Product over ``axis``. d/dx_i is the product of the other elements of x_i's slice:
    ``out / x_i`` where x_i != 0; at a slice's only zero, the product of its non-zeros; 0 at a
    zero of a slice that has several. Written with recorded ops, so it differentiates again
    (exactly, except the second derivative between two zeros of one slice, taken as 0)."""
    name = 'prod'

    def forward(self, x):
        return self._output(np.multiply.reduce(x, axis=self._setup(x), keepdims=True))

    def backward(self, grad, out, x):
        zero = data_of(x) == 0
        safe = generic.where(zero, 1, x)
        others = self._grad_kept(out) / safe
        if zero.any():
            single = zero & (zero.sum(axis=self.axes, keepdims=True) == 1)
            others = generic.where(single, generic.prod(safe, self.axes), others)
        return (self._grad_kept(grad) * others,)


class Cumsum(Function):
    """Running sum along ``axis``; backward is the running sum from the other end."""
    name = 'cumsum'
    saves_inputs = False

    def __init__(self, axis: int):
        self.axis = axis

    def forward(self, x):
        if not -x.ndim <= self.axis < max(x.ndim, 1):
            raise ValueError(f"axis {self.axis} is out of range for {x.ndim}-d input")
        return np.cumsum(x, axis=self.axis if x.ndim else None).reshape(x.shape)

    def backward(self, grad, out, x):
        if grad.ndim == 0:
            return (grad,)
        reverse = (slice(None),) * (self.axis % grad.ndim) + (slice(None, None, -1),)
        return (grad[reverse].cumsum(axis=self.axis)[reverse],)


class Min(Max):
    """Minimum over ``axis``; tied minima share the gradient equally (like ``torch.amin``)."""
    name = 'min'
    _reduce = staticmethod(np.min)


def _shifted(x, axes):
    """``x - max(x)`` over ``axes`` (keepdims), where infinite maxima shift by 0 instead."""
    shift = np.maximum.reduce(x, axis=axes, keepdims=True)
    if not np.isfinite(shift).all():
        shift = np.where(np.isfinite(shift), shift, 0)
    return x - shift, shift


def _stable_logsumexp(x, axes: tuple):
    """``log(sum(exp(x)))`` over ``axes`` with keepdims, shifted by the (finite) max.
    Where every element is -inf the result is -inf, without a divide-by-zero warning."""
    shifted, shift = _shifted(x, axes)
    with np.errstate(divide='ignore'):
        return np.log(np.add.reduce(np.exp(shifted), axis=axes, keepdims=True)) + shift


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stable ``x - logsumexp(x)`` along ``axis`` of an ndarray, shifted by the max. Along the
    last axis the sums go through a matmul with ones, several times faster than
    ``np.add.reduce`` on short rows (the cross-entropy's logits); ``empty`` + ``fill`` makes
    the ones faster than ``np.ones`` does."""
    shifted = _shifted(x, axis)[0]
    exps = np.exp(shifted)
    if axis == -1 or axis == x.ndim - 1:
        ones = np.empty((x.shape[-1], 1), dtype=exps.dtype)
        ones.fill(1)
        sums = exps @ ones
    else:
        sums = np.add.reduce(exps, axis=axis, keepdims=True)
    return shifted - np.log(sums)


class LogSumExp(_Reduction):
    """``log(sum(exp(x)))``; backward ``grad * softmax(x)``.

    The first-order backward takes the softmax from the max-shifted ``x`` rather than as
    ``exp(x - out)``: for large ``out`` (e.g. 1e4 in float32) ``out`` has lost the digits
    that ``x - out`` needs, and ``exp(x - out)`` would be off by 1e-4 relative."""
    name = 'logsumexp'
    saves_output = True

    def forward(self, x):
        return self._output(_stable_logsumexp(x, self._setup(x)))

    def backward(self, grad, out, x):
        if not isinstance(x, np.ndarray):  # create_graph: recorded ops, differentiable again
            return (self._grad_kept(grad) * generic.exp(x - self._grad_kept(out)),)
        exps = np.exp(_shifted(x, self.axes)[0])
        return (self._grad_kept(grad) * (exps / np.add.reduce(exps, axis=self.axes, keepdims=True)),)


class _AlongAxis(ResultOp):
    """The softmax family: normalised along one ``axis``; backward reads only the result."""

    def __init__(self, axis: int = -1):
        self.axis = axis


class Softmax(_AlongAxis):
    """``exp(x) / sum(exp(x))`` along ``axis``; backward ``y * (g - sum(g * y))``."""
    name = 'softmax'

    def forward(self, x):
        exps = np.exp(_shifted(x, self.axis)[0])
        return exps / np.add.reduce(exps, axis=self.axis, keepdims=True)

    def backward(self, grad, out, x):
        return (out * (grad - (grad * out).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(_AlongAxis):
    """``x - logsumexp(x)`` along ``axis``; backward ``g - exp(y) * sum(g)``."""
    name = 'log_softmax'

    def forward(self, x):
        return log_softmax(x, self.axis)

    def backward(self, grad, out, x):
        return (grad - generic.exp(out) * grad.sum(axis=self.axis, keepdims=True),)
