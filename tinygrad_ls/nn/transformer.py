"""``nn.TransformerEncoderLayer`` and ``nn.TransformerEncoder``: PyTorch's arguments, submodule
names (so ``state_dict`` keys match), masks and the post-norm/pre-norm (``norm_first``) blocks.

    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2)
    y = encoder(x, src_key_padding_mask=pad)          # x (N, T, 32), pad (N, T) bool, True = padding

Masks follow ``nn.MultiheadAttention``: a bool mask means **True = masked out**, a float mask
is added to the attention scores.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from ..checks import is_int
from ..value import Value
from . import functional as F
from .attention import MultiheadAttention
from .containers import ModuleList
from .layers import Dropout, Linear
from .module import Module
from .normalization import LayerNorm

_ACTIVATIONS = {'relu': F.relu, 'gelu': F.gelu}


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and LayerNorm:

    - ``norm_first=False`` (post-norm): ``x = norm1(x + sa(x))``; ``x = norm2(x + ff(x))``
    - ``norm_first=True`` (pre-norm): ``x = x + sa(norm1(x))``; ``x = x + ff(norm2(x))``

    with ``sa(x) = dropout1(self_attn(x, x, x))`` and
    ``ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))``. ``activation`` is 'relu',
    'gelu' or a callable. Shapes: src (S, N, d_model) ((N, S, d_model) with ``batch_first``;
    (S, d_model) unbatched) -> the same shape.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = 'relu', layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, *, dtype=None):
        super().__init__()
        name = type(self).__name__
        if isinstance(activation, str) and activation in _ACTIVATIONS:
            activation = _ACTIVATIONS[activation]
        elif isinstance(activation, str) or not callable(activation):
            raise ValueError(f"{name}: activation must be 'relu', 'gelu' or a callable, got {activation!r}")
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False) -> Value:
        """``src_mask`` (S, S) or (N·nhead, S, S) and ``src_key_padding_mask`` (N, S) as in
        ``nn.MultiheadAttention``; ``is_causal`` is the hint that ``src_mask`` is causal."""
        x = src if isinstance(src, Value) else Value(src)
        d_model = self.self_attn.embed_dim
        if x.ndim not in (2, 3) or x.shape[-1] != d_model:
            raise ValueError(f"{type(self).__name__}: src must have shape (S, N, {d_model}), "
                             f"(N, S, {d_model}) with batch_first, or (S, {d_model}); got {x.shape}")
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._self_attention(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._feed_forward(x))

    def _self_attention(self, x: Value, mask, key_padding_mask, is_causal: bool) -> Value:
        out = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=key_padding_mask, need_weights=False,
                             is_causal=is_causal)[0]
        return self.dropout1(out)

    def _feed_forward(self, x: Value) -> Value:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def extra_repr(self) -> str:
        activation = getattr(self.activation, '__name__', type(self.activation).__name__)
        return f"norm_first={self.norm_first}, activation={activation}"


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn (in ``layers``, a
    ModuleList), then ``norm`` if given. Each copy starts with the layer's weights (as in
    PyTorch), and trains apart from the others."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"{name}: encoder_layer must be a Module, got {type(encoder_layer).__name__}")
        if not is_int(num_layers) or num_layers < 1:
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None) -> Value:
        """Each layer's ``forward(x, src_mask=mask, src_key_padding_mask=..., is_causal=...)``;
        ``is_causal=None`` means True when ``mask`` is the bool causal mask, as in PyTorch."""
        if is_causal is None:
            is_causal = _is_causal_mask(mask)
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


def _is_causal_mask(mask) -> bool:
    """Whether ``mask`` is the (S, S) bool mask with True above the diagonal."""
    if mask is None or isinstance(mask, Value):
        return False
    array = np.asarray(mask)
    if array.dtype != bool or array.ndim != 2 or array.shape[0] != array.shape[1]:
        return False
    return bool((array == np.triu(np.ones(array.shape, bool), 1)).all())
