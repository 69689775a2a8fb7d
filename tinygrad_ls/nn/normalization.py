"""Normalisation layers: ``LayerNorm``, ``BatchNorm1d`` and ``BatchNorm2d`` (PyTorch's names,
arguments, parameters, buffers and ``state_dict`` keys).

Each holds its options, parameters and buffers and checks its input (an error names the
layer and the shapes); its ``forward`` is one call of ``F.layer_norm`` or ``F.batch_norm``.
"""
from __future__ import annotations

import numpy as np

from ..checks import check_number, first_negative, is_int
from ..dtypes import get_default_dtype
from ..value import Value, data_of
from . import functional as F
from . import init
from .functional_norm import (
    check_batch_norm_input,
    check_eps,
    check_layer_norm_input,
    check_normalized_shape,
    tracked_batch_norm,
)
from .module import Module
from .parameter import Parameter


class LayerNorm(Module):
    """``F.layer_norm`` over the trailing axes ``normalized_shape`` (an int or a tuple ``S``):
    input (*, *S) -> output of the same shape,
    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the statistics of each group of
    ``prod(S)`` elements. With ``elementwise_affine`` the Parameters ``weight`` (ones) and
    ``bias`` (zeros; None with ``bias=False``) have shape ``S``, in ``dtype`` (default:
    ``tl.get_default_dtype()``)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype=None):
        super().__init__()
        name = type(self).__name__
        self.normalized_shape = check_normalized_shape(name, normalized_shape)
        self.eps = check_eps(name, eps)
        self.elementwise_affine = _check_flag(name, 'elementwise_affine', elementwise_affine)
        dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
        use_bias = _check_flag(name, 'bias', bias) and self.elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if self.elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if use_bias else None

    def reset_parameters(self) -> None:
        """``weight`` back to ones and ``bias`` to zeros (in place)."""
        _reset_affine(self)

    def forward(self, input) -> Value:
        check_layer_norm_input(type(self).__name__, np.shape(data_of(input)), self.normalized_shape)
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d (PyTorch's ``_BatchNorm``): per-channel
    ``y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c``.

    In ``train()`` mode the statistics are the batch's, and (with ``track_running_stats``)
    the buffers ``running_mean`` (zeros) and ``running_var`` (ones), both (C,) in the
    parameters' dtype, move towards them: ``running = (1 - momentum) * running + momentum *
    batch_stat`` with the unbiased batch variance; ``momentum=None`` takes the cumulative
    average ``1 / num_batches_tracked`` instead. ``num_batches_tracked`` (int64, 0-d) counts
    the training batches. In ``eval()`` mode the running statistics normalise (the batch's,
    without ``track_running_stats``). ``affine``: Parameters ``weight`` (ones) and ``bias``
    (zeros; None with ``bias=False``), (C,). ``state_dict`` keys and order are PyTorch's:
    weight, bias, running_mean, running_var, num_batches_tracked.
    """
    _input_dims: tuple = ()
    _layout = ''

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, bias: bool = True, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not is_int(num_features) \
                or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        self.num_features = int(num_features)
        self.eps = check_eps(name, eps)
        if momentum is not None:
            check_number(name, 'momentum', momentum)
        self.momentum = momentum
        self.affine = _check_flag(name, 'affine', affine)
        self.track_running_stats = _check_flag(name, 'track_running_stats', track_running_stats)
        dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
        use_bias = _check_flag(name, 'bias', bias) and self.affine
        self.weight = Parameter(np.ones(self.num_features, dtype)) if self.affine else None
        self.bias = Parameter(np.zeros(self.num_features, dtype)) if use_bias else None
        tracked = self.track_running_stats
        self.register_buffer('running_mean', np.zeros(self.num_features, dtype) if tracked else None)
        self.register_buffer('running_var', np.ones(self.num_features, dtype) if tracked else None)
        self.register_buffer('num_batches_tracked', np.array(0, dtype=np.int64) if tracked else None)

    def _check_loaded_state(self, prefix: str, arrays) -> list[str]:
        """A ``running_var`` that is negative (or NaN) would make every output NaN at the first
        ``eval()`` forward (``sqrt(running_var + eps)``): refused."""
        key = prefix + 'running_var'
        var = arrays.get(key)
        bad = first_negative(var) if var is not None and var.dtype.kind == 'f' else None
        if bad is None:
            return []
        index, value = bad
        return [f"value for {key} holds {value!s} at index {index}: a variance must be >= 0 "
                f"({type(self).__name__} normalises by sqrt(running_var + eps), which would be NaN)"]

    def reset_running_stats(self) -> None:
        """Running mean back to zeros, running variance to ones, the batch count to 0 (in place)."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        """``reset_running_stats()``, and ``weight`` back to ones and ``bias`` to zeros."""
        self.reset_running_stats()
        _reset_affine(self)

    def forward(self, input) -> Value:
        name = type(self).__name__
        shape = np.shape(data_of(input))
        if len(shape) not in self._input_dims:
            raise ValueError(f"{name}: expected an input of shape {self._layout}, got shape {shape}")
        input = check_batch_norm_input(name, input, self.num_features, self.training)
        # A training step that tracks statistics counts itself in num_batches_tracked: the op
        # adds 1 in its forward (and turns momentum=None into 1 / num_batches_tracked there),
        # so a compiled step counts at every replay. Without the counter momentum is unused.
        counting = self.training and self.track_running_stats
        counter = self.num_batches_tracked if counting else None
        momentum = 0.0 if self.momentum is None and not counting else self.momentum
        # eval() uses the running statistics, unless there are none; only a training step
        # that tracks them updates them
        batch_stats = self.training or self.running_mean is None
        tracked = not self.training or self.track_running_stats
        return tracked_batch_norm(input, self.running_mean if tracked else None,
                                  self.running_var if tracked else None, counter, self.weight,
                                  self.bias, batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel over N (and L); see
    ``_BatchNorm`` for the statistics, buffers and parameters."""
    _input_dims = (2, 3)
    _layout = '(N, C) or (N, C, L)'


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel over N, H and W; see
    ``_BatchNorm`` for the statistics, buffers and parameters."""
    _input_dims = (4,)
    _layout = '(N, C, H, W)'


def _check_flag(name: str, argument: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: {argument} must be a bool, got {value!r}")
    return bool(value)


def _reset_affine(module: Module) -> None:
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)
