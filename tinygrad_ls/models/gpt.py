"""A small GPT (decoder-only transformer), in the shape of nanoGPT's ``model.py``.

    config = tl.models.GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=64)
    model = tl.models.GPT(config)
    logits, loss = model(idx, targets)          # idx, targets: int (B, T) with T <= block_size
    out = model.generate(idx, max_new_tokens=100, temperature=0.8, top_k=10)

Read top to bottom: the config, causal self-attention, the MLP, a pre-norm residual block,
then the model with its loss, its init and key/value-cached generation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks import is_int
from ..combine import concat, split
from ..mode import no_grad
from ..nn import GELU, Dropout, Embedding, LayerNorm, Linear, Module, ModuleDict, ModuleList, init
from ..nn import functional as F
from ..random import generator
from ..value import Value, to_numpy


@dataclass
class GPTConfig:
    """Sizes of a GPT: ``vocab_size`` tokens, a context of ``block_size`` positions,
    ``n_layer`` blocks of ``n_head`` attention heads over ``n_embd`` channels. ``bias``: biases
    in the Linears and LayerNorms; ``tie_weights``: the output layer shares the token
    embedding's weight (as GPT-2)."""
    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True

    def __post_init__(self):
        for name in ('vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd'):
            size = getattr(self, name)
            if not is_int(size) or size <= 0:
                raise ValueError(f"GPTConfig: {name} must be a positive int, got {size!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout!r}")


class KVCache:
    """The keys and values each layer has computed so far: ``layers[i] = (k, v)``, each
    (B, n_head, length, head_size). ``length`` is the number of positions already processed."""

    def __init__(self, n_layer: int):
        self.layers: list = [None] * n_layer

    @property
    def length(self) -> int:
        return 0 if self.layers[0] is None else self.layers[0][0].shape[2]


class CausalSelfAttention(Module):
    """Multi-head self-attention where position t attends to positions <= t.

    x (B, T, C) -> (B, T, C): one Linear ``c_attn`` makes queries, keys and values (3C),
    split into ``n_head`` heads of size C / n_head; ``softmax(q kᵀ / sqrt(hs))`` over the
    allowed positions weighs the values; ``c_proj`` mixes the heads back.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.head_size = config.n_head, config.n_embd // config.n_head
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout                             # on the attention weights
        self.resid_dropout = Dropout(config.dropout)

    def forward(self, x: Value, cache: KVCache | None = None, layer: int = 0) -> Value:
        """With ``cache``, ``x`` holds only the new positions: their keys and values are appended
        to ``cache.layers[layer]`` and the queries attend over all of them."""
        B, T, C = x.shape
        q, k, v = (self._heads(part, B, T) for part in split(self.c_attn(x), C, axis=2))
        if cache is not None:
            if cache.layers[layer] is not None:
                past_k, past_v = cache.layers[layer]
                k, v = concat([past_k, k], axis=2), concat([past_v, v], axis=2)
            cache.layers[layer] = (k, v)
        y = self._attention(q, k, v)                                # (B, nh, T, hs)
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)                # heads side by side again
        return self.resid_dropout(self.c_proj(y))

    def _heads(self, x: Value, B: int, T: int) -> Value:
        """(B, T, C) -> (B, n_head, T, head_size)."""
        return x.reshape(B, T, self.n_head, self.head_size).transpose(0, 2, 1, 3)

    def _attention(self, q: Value, k: Value, v: Value) -> Value:
        """Causal attention of T queries over S >= T keys, the queries being the last T of the
        S positions: query i sees key j when j <= i + (S - T). ``is_causal`` aligns its mask to
        the upper left, right only when S == T; with cached keys the mask is given explicitly."""
        T, S = q.shape[2], k.shape[2]
        dropout_p = self.dropout if self.training else 0.0
        if T == S:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        attend = np.tril(np.ones((T, S), dtype=bool), k=S - T)      # True = attend
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=dropout_p)


class MLP(Module):
    """(B, T, C) -> (B, T, C): ``c_fc`` to 4C, GELU, ``c_proj`` back to C, dropout."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = GELU()
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: Value) -> Value:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(Module):
    """A pre-norm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Value, cache: KVCache | None = None, layer: int = 0) -> Value:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(Module):
    """Token and position embeddings, ``n_layer`` Blocks, a final LayerNorm and ``lm_head``
    (tied to the token embedding when ``config.tie_weights``). Parameters are in the default
    dtype, initialised as GPT-2: N(0, 0.02) for Linears and Embeddings, zero biases, and
    N(0, 0.02 / sqrt(2 n_layer)) for the projections that feed the residual stream."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = ModuleDict(dict(
            wte=Embedding(config.vocab_size, config.n_embd),
            wpe=Embedding(config.block_size, config.n_embd),
            drop=Dropout(config.dropout),
            h=ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.transformer.wte.weight
        self.apply(_init_weights)
        for name, param in self.named_parameters():
            if name.endswith('c_proj.weight'):
                init.normal_(param, 0.0, 0.02 / math.sqrt(2 * config.n_layer))

    def num_parameters(self, non_embedding: bool = False) -> int:
        """How many numbers the model learns (a tied weight counted once); ``non_embedding``
        leaves out the position embedding, as nanoGPT reports it."""
        count = sum(param.size for param in self.parameters())
        return count - self.transformer.wpe.weight.size if non_embedding else count

    def forward(self, idx, targets=None, *, cache: KVCache | None = None) -> tuple:
        """``idx`` int (B, T) -> ``(logits (B, T, vocab_size), loss)``; ``loss`` is the mean
        cross-entropy against ``targets`` (B, T) over all B·T positions, None without targets.
        With ``cache`` (used by ``generate``), ``idx`` holds the positions after the
        ``cache.length`` already processed, whose keys and values are reused."""
        idx = to_numpy(idx)
        if idx.ndim != 2:
            raise ValueError(f"GPT: idx must have shape (B, T), got {idx.shape}")
        B, T = idx.shape
        start = 0 if cache is None else cache.length
        if start + T > self.config.block_size:
            raise ValueError(f"GPT: {start + T} positions exceed block_size={self.config.block_size}")
        positions = np.arange(start, start + T)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(positions))
        for layer, block in enumerate(self.transformer.h):
            x = block(x, cache, layer)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        targets = to_numpy(targets)
        if targets.shape != (B, T):
            raise ValueError(f"GPT: targets of shape {targets.shape} do not match idx of shape {(B, T)}")
        # the targets flattened by an op, not by NumPy beside the graph: a compiled step follows it
        loss = F.cross_entropy(logits.reshape(B * T, -1), Value._wrap(targets).reshape(-1))
        return logits, loss

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None) -> Value:
        """The prompt ``idx`` int (B, T0) followed by ``max_new_tokens`` sampled tokens: an int64
        Value (B, T0 + max_new_tokens).

        Each token is drawn from ``softmax(logits / temperature)`` over the ``top_k`` most likely
        tokens (all with None), with the library's generator (``tl.manual_seed``);
        ``temperature=0`` takes the argmax. The prompt runs once; after that each step runs the
        model on the one new position, attending over the cached keys and values, so a step
        costs the same however many tokens came before. When the context is full (block_size
        positions) the cache cannot grow (positions are absolute), so that step recomputes it
        from the last block_size tokens, as an uncached model would see them.

        Every argument is checked before anything runs: ``idx`` integer token ids in
        ``[0, vocab_size)`` (a float prompt is a TypeError, never truncated); ``max_new_tokens``
        an int >= 0 (0 returns the prompt); ``temperature`` a finite number >= 0; ``top_k`` None
        or an int in ``[1, vocab_size]`` (a bool is not an int).
        """
        _check_generate_options(max_new_tokens, temperature, top_k, self.config.vocab_size)
        tokens = _prompt_tokens(idx, self.config.vocab_size)
        block_size = self.config.block_size
        with no_grad():
            cache, new = KVCache(self.config.n_layer), tokens[:, -block_size:]
            for _ in range(max_new_tokens):
                if cache.length + new.shape[1] > block_size:       # full: recompute the window
                    cache, new = KVCache(self.config.n_layer), tokens[:, -block_size:]
                logits, _ = self(new, cache=cache)
                next_token = _sample(logits.data[:, -1, :], temperature, top_k)
                tokens = np.concatenate([tokens, next_token[:, None]], axis=1)
                new = next_token[:, None]
        return Value._wrap(tokens)


def _check_generate_options(max_new_tokens, temperature, top_k, vocab_size: int) -> None:
    """TypeError for an argument of the wrong type, ValueError for one out of range, each
    naming the argument (``GPT.generate``)."""
    name = 'GPT.generate'
    if not is_int(max_new_tokens):
        raise TypeError(f"{name}: max_new_tokens must be an int >= 0, got {max_new_tokens!r} "
                        f"({type(max_new_tokens).__name__})")
    if max_new_tokens < 0:
        raise ValueError(f"{name}: max_new_tokens must be >= 0, got {max_new_tokens}")
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(temperature, (int, float, np.number)) \
            or isinstance(temperature, complex | np.complexfloating):
        raise TypeError(f"{name}: temperature must be a real number >= 0 (0: greedy), got {temperature!r}")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"{name}: temperature must be a finite number >= 0 (0: greedy), got {temperature!r}")
    if top_k is not None:
        if not is_int(top_k):
            raise TypeError(f"{name}: top_k must be None or an int in [1, vocab_size={vocab_size}], got "
                            f"{top_k!r} ({type(top_k).__name__})")
        if not 1 <= top_k <= vocab_size:
            raise ValueError(f"{name}: top_k must be in [1, vocab_size={vocab_size}] or None, got {top_k}")


def _prompt_tokens(idx, vocab_size: int) -> np.ndarray:
    """The prompt as an int64 (B, T0) array of token ids in [0, vocab_size)."""
    array = to_numpy(idx)
    if array.dtype.kind not in 'iu':
        raise TypeError(f"GPT.generate: idx must hold integer token ids, got dtype {array.dtype} (shape "
                        f"{array.shape}); a float prompt would be truncated, so it is refused")
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"GPT.generate: idx must have shape (B, T0) with T0 >= 1, got {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= vocab_size):
        bad = (array < 0) | (array >= vocab_size)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"GPT.generate: idx holds token ids outside [0, vocab_size={vocab_size}): "
                         f"{array[first]} at index {first} (shape {array.shape})")
    return np.array(array, dtype=np.int64)


def _sample(logits: np.ndarray, temperature: float, top_k: int | None) -> np.ndarray:
    """One token per row of ``logits`` (B, V): the argmax at temperature 0, else a draw from
    ``softmax(logits / temperature)`` restricted to the ``top_k`` largest."""
    logits = logits.astype(np.float64)
    if temperature == 0:
        return np.argmax(logits, axis=-1).astype(np.int64)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    cdf = np.cumsum(np.exp(logits - logits.max(axis=-1, keepdims=True)), axis=-1)   # unnormalised
    draws = generator().random((logits.shape[0], 1)) * cdf[:, -1:]                  # in [0, total)
    return (cdf <= draws).sum(axis=-1).astype(np.int64)     # tokens of zero probability never hit


def _init_weights(module: Module) -> None:
    """GPT-2's init: N(0, 0.02) weights for Linears and Embeddings, zero biases."""
    if isinstance(module, (Linear, Embedding)):
        init.normal_(module.weight, 0.0, 0.02)
    if isinstance(module, Linear) and module.bias is not None:
        init.zeros_(module.bias)
