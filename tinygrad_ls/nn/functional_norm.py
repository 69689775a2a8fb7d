"""Normalisation and embedding functions of ``nn.functional`` (re-exported there: use them as
``F.layer_norm``, ``F.batch_norm``, ``F.embedding``).

Names, arguments and defaults are PyTorch's. Every argument is checked here before anything
is computed or updated, and an error names the function (or, through the ``check_*`` helpers
the modules share, the layer) and the shapes involved. The ops themselves live in
``ops/norm.py`` and ``ops/embedding.py``.
"""
from __future__ import annotations

import math

import numpy as np

from ..checks import check_number, is_int
from ..ops import embedding as embedding_ops
from ..ops import norm as norm_ops
from ..value import Value, data_of, to_numpy

__all__ = ['layer_norm', 'batch_norm', 'embedding']

# float indices usually come from a Python list that went through Value()
_FLOAT_INDEX_HINT = ("; note that tl.Value([...]) of a list of ints holds the default float dtype: pass "
                     "the list itself, np.array([...]) or tl.Value([...], dtype=np.int64)")


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Value:
    """Normalise over the trailing axes ``normalized_shape`` (``S``) of ``input`` (*, *S):

        y = (x - mean) / sqrt(var + eps) * weight + bias

    with the mean and the biased variance of each of the ``prod(S)``-element groups.
    ``weight`` and ``bias`` have shape ``S`` (each optional). Output: the input's shape."""
    name = 'layer_norm'
    input = _float_input(name, input)
    shape = check_normalized_shape(name, normalized_shape)
    check_layer_norm_input(name, input.shape, shape)
    eps = check_eps(name, eps)
    params = _parameters(name, shape, input.shape, weight=weight, bias=bias)
    return norm_ops.LayerNorm.apply(input, *params, normalized_shape=shape, eps=eps,
                                    affine=(weight is not None, bias is not None))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Value:
    """Normalise each channel ``c`` of ``input`` (N, C, *spatial) over N and the spatial axes:

        y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c

    ``training=True``: ``mean_c``/``var_c`` are the batch's (biased variance), and the
    ``running_mean``/``running_var`` arrays (C,), if given, are updated in place with
    ``running = (1 - momentum) * running + momentum * batch_stat`` using the *unbiased*
    variance ``var_c * n / (n - 1)`` (``n = N * prod(spatial)``, which must exceed 1).
    ``training=False``: the running arrays normalise (they are then required).
    ``weight``/``bias`` (C,) are optional; ``momentum`` is a number (``nn.BatchNorm*`` turns
    its ``momentum=None`` into the cumulative average ``1 / num_batches_tracked``)."""
    return tracked_batch_norm(input, running_mean, running_var, None, weight, bias, training, momentum, eps)


def tracked_batch_norm(input, running_mean, running_var, num_batches_tracked, weight=None, bias=None,
                       training: bool = False, momentum: float | None = 0.1, eps: float = 1e-5) -> Value:
    """``batch_norm`` as ``nn.BatchNorm*`` calls it: with ``num_batches_tracked`` (a 0-d int64
    ndarray, or None) a training call also adds 1 to that counter in place, and
    ``momentum=None`` takes the cumulative average ``1 / num_batches_tracked``. The op does
    both in its forward (so ``tl.compile`` replays them); errors name ``batch_norm``."""
    name = 'batch_norm'
    input = check_batch_norm_input(name, input, None, training)
    channels = input.shape[1]
    running_mean, running_var = _running_stats(name, running_mean, running_var, channels, input.shape)
    if not training and running_mean is None:
        raise ValueError(f"{name}: running_mean and running_var are needed when training=False "
                         f"(input shape {input.shape})")
    if momentum is None and num_batches_tracked is None:
        raise TypeError(f"{name}: momentum must be a number, got None (nn.BatchNorm1d/2d with "
                        "momentum=None use 1 / num_batches_tracked, the cumulative average)")
    if momentum is not None:
        momentum = float(check_number(name, 'momentum', momentum))
    eps = check_eps(name, eps)
    params = _parameters(name, (channels,), input.shape, weight=weight, bias=bias)
    return norm_ops.BatchNorm.apply(input, *params, running_mean=running_mean, running_var=running_var,
                                    training=bool(training), momentum=momentum, eps=eps,
                                    affine=(weight is not None, bias is not None),
                                    num_batches_tracked=num_batches_tracked)


def embedding(input, weight, padding_idx: int | None = None) -> Value:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer ``input`` of any
    shape ``S``: output ``weight[input]`` of shape ``S + (embedding_dim,)``. Gradient rows of
    repeated indices add up; the row ``padding_idx`` (negative counts from the end) gets no
    gradient. An index outside ``[0, num_embeddings)`` is an IndexError."""
    name = 'embedding'
    weight = weight if isinstance(weight, Value) else Value(to_numpy(weight))
    if weight.ndim != 2:
        raise ValueError(f"{name}: weight must be 2-D (num_embeddings, embedding_dim), "
                         f"got shape {weight.shape}")
    indices = embedding_indices(name, input, weight.shape[0])
    padding_idx = check_padding_idx(name, padding_idx, weight.shape[0])
    return embedding_ops.Embedding.apply(weight, indices=indices, padding_idx=padding_idx)


# ---- argument checks, shared with the modules (nn.LayerNorm, nn.BatchNorm*, nn.Embedding) ------
# ``name`` is the caller to name in the error: the function, or the module class.
def check_normalized_shape(name: str, normalized_shape) -> tuple:
    """``normalized_shape`` (an int or a non-empty sequence of ints >= 1) as a tuple."""
    shape = (normalized_shape,) if is_int(normalized_shape) else normalized_shape
    if not isinstance(shape, (tuple, list)) or not shape or not all(is_int(s) for s in shape):
        raise TypeError(f"{name}: normalized_shape must be an int or a non-empty sequence of ints, "
                        f"got {normalized_shape!r}")
    if min(shape) < 1:
        raise ValueError(f"{name}: normalized_shape must hold sizes >= 1, got {normalized_shape!r}")
    return tuple(int(s) for s in shape)


def check_layer_norm_input(name: str, shape: tuple, normalized_shape: tuple) -> None:
    """ValueError unless ``shape`` ends in ``normalized_shape``."""
    if len(shape) < len(normalized_shape) or tuple(shape[-len(normalized_shape):]) != normalized_shape:
        expected = '(*, ' + ', '.join(map(str, normalized_shape)) + ')'
        raise ValueError(f"{name}: normalized_shape={normalized_shape} needs an input of shape {expected}, "
                         f"got input of shape {tuple(shape)}")


def check_batch_norm_input(name: str, input, num_features: int | None, training: bool) -> Value:
    """``input`` as a float Value of shape (N, C, *spatial) with ``C == num_features`` (if
    given) and, when ``training``, more than one value per channel (PyTorch's rule)."""
    input = _float_input(name, input)
    shape = input.shape
    if input.ndim < 2 or shape[1] < 1:
        raise ValueError(f"{name}: expected an input of shape (N, C, *spatial) with C >= 1, "
                         f"got shape {shape}")
    if num_features is not None and shape[1] != num_features:
        raise ValueError(f"{name}: expected {num_features} channels (num_features={num_features}) along "
                         f"axis 1, got input of shape {shape}")
    if training and shape[0] * math.prod(shape[2:]) <= 1:
        raise ValueError(f"{name}: Expected more than 1 value per channel when training, got input "
                         f"of shape {shape}")
    return input


def check_eps(name: str, eps) -> float:
    """``eps`` as a float, if it is a finite number >= 0."""
    if not (math.isfinite(check_number(name, 'eps', eps)) and eps >= 0):
        raise ValueError(f"{name}: eps must be a finite number >= 0, got {eps!r}")
    return float(eps)


def check_padding_idx(name: str, padding_idx, num_embeddings: int) -> int | None:
    """``padding_idx`` (None, or an int in ``[-num_embeddings, num_embeddings)``) made
    non-negative, as PyTorch stores it."""
    if padding_idx is None:
        return None
    if not is_int(padding_idx):
        raise TypeError(f"{name}: padding_idx must be an int or None, got {padding_idx!r}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{name}: padding_idx={padding_idx} must be within num_embeddings={num_embeddings} "
                         f"(in [{-num_embeddings}, {num_embeddings}))")
    return int(padding_idx) % num_embeddings


def embedding_indices(name: str, input, num_embeddings: int) -> np.ndarray:
    """``input`` (an integer ndarray, Value or nested list of any shape) as an integer ndarray
    with every index in ``[0, num_embeddings)``; an IndexError names the first bad one."""
    indices = to_numpy(input)
    if indices.dtype.kind not in 'iu':
        hint = _FLOAT_INDEX_HINT if indices.dtype.kind == 'f' else ''
        raise TypeError(f"{name}: indices must be integers, got dtype {indices.dtype} "
                        f"(shape {indices.shape}){hint}")
    return indices  # (their range is checked by the op, at every call and every replay)


# ---- helpers --------------------------------------------------------------------------------
def _float_input(name: str, input) -> Value:
    input = input if isinstance(input, Value) else Value(input)
    if input.dtype.kind != 'f':
        raise TypeError(f"{name}: input must have a float dtype, got {input.dtype} (shape {input.shape})")
    return input


def _parameters(name: str, shape: tuple, input_shape: tuple, **params) -> list:
    """The given affine parameters (Values kept, anything else as a constant ndarray), each
    checked to have ``shape``."""
    given = []
    for what, param in params.items():
        if param is None:
            continue
        if not isinstance(param, Value):
            param = to_numpy(param)
        param_shape = np.shape(data_of(param))
        if param_shape != shape:
            raise ValueError(f"{name}: {what} must have shape {shape}, got {param_shape} "
                             f"(input shape {input_shape})")
        given.append(param)
    return given


def _running_stats(name: str, running_mean, running_var, channels: int, input_shape: tuple) -> tuple:
    """The running arrays (updated in place by training), both None or both float ndarrays
    (the data of a Value) of shape (C,)."""
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{name}: give both running_mean and running_var, or neither")
    arrays = []
    for what, stat in (('running_mean', running_mean), ('running_var', running_var)):
        if stat is None:
            return None, None
        array = stat._data if isinstance(stat, Value) else stat
        if not isinstance(array, np.ndarray) or array.dtype.kind != 'f':
            raise TypeError(f"{name}: {what} must be a float np.ndarray (updated in place), "
                            f"got {type(stat).__name__}")
        if array.shape != (channels,):
            raise ValueError(f"{name}: {what} must have shape ({channels},) (one per channel), got "
                             f"{array.shape} (input shape {input_shape})")
        arrays.append(array)
    return tuple(arrays)
