"""Scaled dot-product attention (re-exported by ``nn.functional``; use it as
``F.scaled_dot_product_attention``).

    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)   # (B, H, T, D) each

Composed from recorded Value ops (matmul, ``where``, softmax), so first and second derivatives
come from the engine. A query row whose every key is masked out gives a row of zeros (and a
zero gradient) instead of NaN, as PyTorch's default CPU kernel does.
"""
from __future__ import annotations

import math

import numpy as np

from ..checks import check_number, check_probability
from ..ops.arithmetic import swap_last
from ..ops.elementwise import Cast
from ..ops.nograd import AdditiveMask, DeadRows
from ..value import Value
from .functional_activations import _as_value, dropout


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Value:
    """``softmax(q kᵀ · scale + mask) v`` with PyTorch's arguments and mask polarity.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the leading
    axes broadcast. ``attn_mask`` broadcasts to (..., L, S): a bool mask means **True = attend**,
    a float mask is added to the scores (it may be a Value that requires grad). ``is_causal``
    lets query ``i`` attend to keys ``j <= i`` (the mask aligned to the upper left, as in
    PyTorch); it cannot be combined with ``attn_mask``. ``scale`` defaults to ``1 / sqrt(E)``.
    ``dropout_p > 0`` drops attention weights with the library's generator (always: this
    functional has no training flag, as in PyTorch).
    """
    name = 'scaled_dot_product_attention'
    query, key, value = _as_value(query), _as_value(key), _as_value(value)
    _check_shapes(name, query, key, value)
    check_probability(name, dropout_p, 'dropout_p')
    length, source = query.shape[-2], key.shape[-2]
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{name}: pass either attn_mask or is_causal=True, not both "
                             f"(attn_mask of shape {np.shape(attn_mask)})")
        attn_mask = np.tril(np.ones((length, source), dtype=bool))
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    else:
        scale = check_number(name, 'scale', scale)
    mask = None
    if attn_mask is not None:
        mask = additive_mask(name, attn_mask, query, key.shape[:-2], length, source, attend=True)
    # a causal mask lets every query see key 0: no row can be all masked out
    output, _ = attention(query, key, value, mask, dropout_p, scale, dead_rows=not is_causal)
    return output


def attention(query: Value, key: Value, value: Value, mask, dropout_p: float, scale: float,
              dead_rows: bool = True) -> tuple:
    """The unchecked core, shared with ``nn.MultiheadAttention``: ``(output, weights)`` with
    weights (..., L, S) after dropout. ``mask`` is None or additive (an ndarray with -inf where
    masked out, or a float Value). Rows whose every score is -inf get zero weights (unless
    ``dead_rows`` is False: the mask leaves no row all masked out)."""
    scores = (query @ swap_last(key)) * scale
    if mask is not None:
        scores = scores + mask
    # Only a mask can make a row all -inf. The dead rows are found by an op and masked whether
    # or not there are any: a branch on the data here would be a branch a compiled step cannot
    # replay (filling where nothing is dead leaves every number as it is).
    dead = None
    if mask is not None and dead_rows:
        dead = DeadRows.apply(scores)
        scores = scores.masked_fill(dead, 0.0)
    weights = scores.softmax(axis=-1)
    if dead is not None:
        weights = weights.masked_fill(dead, 0.0)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ value, weights


def additive_mask(name: str, mask, query: Value, key_batch: tuple, length: int, source: int,
                  attend: bool):
    """``attn_mask`` checked to broadcast to the scores (..., L, S), then ``as_additive``."""
    shape = np.shape(mask._data if isinstance(mask, Value) else mask)
    scores_shape = np.broadcast_shapes(query.shape[:-2], key_batch) + (length, source)
    try:
        np.broadcast_shapes(shape, (length, source))
        np.broadcast_shapes(shape, scores_shape)
    except ValueError:
        raise ValueError(f"{name}: attn_mask of shape {shape} does not broadcast to the scores' shape "
                         f"{scores_shape} (..., L, S)") from None
    return as_additive(name, 'attn_mask', mask, query.dtype, attend)


def as_additive(name: str, what: str, mask, dtype: np.dtype, attend: bool):
    """A bool or float mask as something to add to the scores: a bool mask becomes 0 and -inf
    (an ``additive_mask`` op; ``attend``: True means attend, else True means masked out); a
    float mask stays as it is (a Value keeps its graph; an array is cast to ``dtype``)."""
    array = mask._data if isinstance(mask, Value) else np.asarray(mask)
    if array.dtype == bool:  # (ops, so that a compiled step converts each batch's mask)
        return AdditiveMask.apply(mask if isinstance(mask, Value) else array, attend=attend, dtype=dtype)
    if array.dtype.kind != 'f':
        raise TypeError(f"{name}: {what} must be bool or float, got dtype {array.dtype} "
                        f"(shape {array.shape})")
    if isinstance(mask, Value) or array.dtype == dtype:
        return mask if isinstance(mask, Value) else array
    return Cast.apply(array, dtype=np.dtype(dtype))


def _check_shapes(name: str, query: Value, key: Value, value: Value) -> None:
    shapes = f"query {query.shape}, key {key.shape}, value {value.shape}"
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ValueError(f"{name}: query, key and value need at least 2 dimensions (..., L, E), got {shapes}")
    if query.dtype.kind != 'f':
        raise TypeError(f"{name}: query must have a float dtype, got {query.dtype} ({shapes})")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{name}: query and key must share the last dimension E, got {shapes}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{name}: key and value must have the same sequence length S, got {shapes}")
    try:
        np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(f"{name}: the leading (batch) dimensions do not broadcast: {shapes}") from None
