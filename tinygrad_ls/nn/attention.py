"""``nn.MultiheadAttention``: PyTorch's arguments, parameters, shapes, masks and state_dict keys.

    attn = nn.MultiheadAttention(embed_dim=16, num_heads=4, batch_first=True)
    out, weights = attn(x, x, x, key_padding_mask=pad)   # x (N, L, 16), pad (N, L) bool

As in PyTorch, a bool ``attn_mask``/``key_padding_mask`` means **True = masked out** (the
opposite of ``F.scaled_dot_product_attention``); a float mask is added to the scores. A query
whose every key is masked out gets zero output from the attention (PyTorch may give NaN).
"""
from __future__ import annotations

import math

import numpy as np

from ..checks import check_probability, is_int
from ..dtypes import get_default_dtype
from ..value import Value, data_of
from . import functional as F
from . import init
from .functional_activations import _as_value
from .functional_attention import as_additive, attention
from .layers import Linear
from .module import Module
from .parameter import Parameter


class MultiheadAttention(Module):
    """``out_proj(concat_h softmax(q_h k_hᵀ / sqrt(D) + mask) v_h)`` with ``num_heads`` heads of
    size ``D = embed_dim / num_heads``; ``[q, k, v] = x @ in_proj_weight.T + in_proj_bias``.

    Parameters (PyTorch's names and init): ``in_proj_weight`` (3E, E) (xavier_uniform_),
    ``in_proj_bias`` (3E,) (zeros; None with ``bias=False``), ``out_proj`` a Linear(E, E) with
    zero bias. ``dropout`` drops attention weights in training mode.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, *, dtype=None):
        super().__init__()
        name = type(self).__name__
        for argument, size in (('embed_dim', embed_dim), ('num_heads', num_heads)):
            if not is_int(size) or size <= 0:
                raise ValueError(f"{name}: {argument} must be a positive int, got {size!r}")
        if embed_dim % num_heads:
            raise ValueError(f"{name}: embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        check_probability(name, dropout, 'dropout')
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout, self.batch_first = dropout, bool(batch_first)
        dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.in_proj_weight = Parameter(np.zeros((3 * embed_dim, embed_dim), dtype))
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
        """Batched: query (L, N, E), key and value (S, N, E) ((N, L, E), (N, S, E) with
        ``batch_first``); unbatched: (L, E), (S, E). ``attn_mask`` (L, S) or (N·num_heads, L, S);
        ``key_padding_mask`` (N, S) ((S,) unbatched). Returns ``(output, weights)``: output of
        the query's shape; weights (N, L, S) averaged over heads, or (N, num_heads, L, S) with
        ``average_attn_weights=False`` (no N unbatched), or None with ``need_weights=False``.
        ``is_causal`` is PyTorch's hint that ``attn_mask`` is the causal mask: it must be given."""
        name = type(self).__name__
        query, key, value = _as_value(query), _as_value(key), _as_value(value)
        batched = self._check_inputs(name, query, key, value)
        if is_causal and attn_mask is None:
            raise ValueError(f"{name}: is_causal=True is a hint that attn_mask is the causal mask; "
                             "pass attn_mask too")
        if not batched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        elif self.batch_first:
            query, key, value = (x.transpose(1, 0, 2) for x in (query, key, value))
        length, batch, _ = query.shape
        source = key.shape[0]
        mask = self._mask(name, attn_mask, key_padding_mask, batched, batch, length, source, query.dtype)
        weight, bias = self.in_proj_weight, self.in_proj_bias
        heads = [self._heads(x, weight[i * self.embed_dim:(i + 1) * self.embed_dim],
                             None if bias is None else bias[i * self.embed_dim:(i + 1) * self.embed_dim])
                 for i, x in enumerate((query, key, value))]
        dropout_p = self.dropout if self.training else 0.0
        output, weights = attention(*heads, mask, dropout_p, 1.0 / math.sqrt(self.head_dim))
        output = self.out_proj(output.transpose(2, 0, 1, 3).reshape(length, batch, self.embed_dim))
        if not batched:
            output = output.squeeze(1)
        elif self.batch_first:
            output = output.transpose(1, 0, 2)
        if not need_weights:
            return output, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return output, weights if batched else weights.squeeze(0)

    def _heads(self, x: Value, weight: Value, bias) -> Value:
        """Project x (T, N, E) and split it into heads: (N, num_heads, T, head_dim)."""
        projected = F.linear(x, weight, bias)
        length, batch = x.shape[:2]
        return projected.reshape(length, batch, self.num_heads, self.head_dim).transpose(1, 2, 0, 3)

    def _check_inputs(self, name: str, query: Value, key: Value, value: Value) -> bool:
        """Whether the inputs are batched (3-D) or not (2-D); a ValueError naming the shapes
        for anything else."""
        shapes = f"query {query.shape}, key {key.shape}, value {value.shape}"
        if not query.ndim == key.ndim == value.ndim or query.ndim not in (2, 3):
            raise ValueError(f"{name}: query, key and value must all be 3-D (batched) or all 2-D "
                             f"(unbatched), got {shapes}")
        if query.shape[-1] != self.embed_dim or key.shape[-1] != self.embed_dim \
                or value.shape[-1] != self.embed_dim:
            raise ValueError(f"{name}: query, key and value must end in embed_dim={self.embed_dim}, "
                             f"got {shapes}")
        if key.shape != value.shape:
            raise ValueError(f"{name}: key and value must have the same shape, got {shapes}")
        if query.ndim == 3:
            batch_axis = 0 if self.batch_first else 1
            if query.shape[batch_axis] != key.shape[batch_axis]:
                raise ValueError(f"{name}: query and key have different batch sizes (batch_first="
                                 f"{self.batch_first}), got {shapes}")
        return query.ndim == 3

    def _mask(self, name: str, attn_mask, key_padding_mask, batched: bool, batch: int, length: int,
              source: int, dtype: np.dtype):
        """attn_mask and key_padding_mask merged into one additive mask that broadcasts to the
        scores (N, num_heads, L, S), or None."""
        mask = None
        if attn_mask is not None:
            shape = np.shape(data_of(attn_mask))
            heads = (batch if batched else 1) * self.num_heads
            if shape not in ((length, source), (heads, length, source)):
                raise ValueError(f"{name}: attn_mask must have shape {(length, source)} or "
                                 f"{(heads, length, source)} (N·num_heads, L, S), got {shape}")
            mask = as_additive(name, 'attn_mask', attn_mask, dtype, attend=False)
            if len(shape) == 3:
                mask = mask.reshape(batch, self.num_heads, length, source)
        if key_padding_mask is not None:
            shape = np.shape(data_of(key_padding_mask))
            expected = (batch, source) if batched else (source,)
            if shape != expected:
                raise ValueError(f"{name}: key_padding_mask must have shape {expected} "
                                 f"({'(N, S)' if batched else '(S,)'}), got {shape}")
            padding = as_additive(name, 'key_padding_mask', key_padding_mask, dtype, attend=False)
            padding = padding.reshape(batch, 1, 1, source)
            mask = padding if mask is None else mask + padding
        return mask

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"bias={self.in_proj_bias is not None}, batch_first={self.batch_first}")
