"""A small GPT: tinygrad_ls's training step against PyTorch eager, and cached against uncached generation.

    python benchmarks/gpt.py [--threads 1] [--repeats 9] [--quick]

1. GPT training step: forward with targets, backward, AdamW step and zero_grad of tl.models.GPT
   (n_embd=128, n_layer=4, n_head=4, block_size=128, batch 16, a character-level vocab of 96,
   float32) against the same nanoGPT-shaped model written here in PyTorch (same parameter
   names, pre-norm blocks, scaled_dot_product_attention(is_causal=True), exact GELU, lm_head tied
   to wte), started from our weights; both are checked to give the same loss before timing.
2. generate 200 tokens (greedy, batch 1, a one-token prompt): ours with the key/value cache
   (GPT.generate) against ours without it (the model run on the whole context, up to block_size
   tokens, at every step, keeping the last logits), and PyTorch's uncached loop for reference.
   Past block_size positions the cached generate recomputes its window at every step, so for
   200 tokens with block_size=128 its last 72 steps cost as much as the uncached ones.

Each workload's runs are timed in turn (interleaved) so that machine noise hits all alike; the
tables show median times and ratios. Without PyTorch only our times are printed.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # this folder, from anywhere
import threads  # noqa: E402,F401  (first: the BLAS thread count, before NumPy is imported)

# isort: split
import numpy as np
from common import interleaved, parse_arguments  # noqa: E402

import tinygrad_ls as tl
from tinygrad_ls import optim

try:
    import torch
except ImportError:
    torch = None

TARGET = 1.5            # ours/torch for the training step
VOCAB = 96              # printable ASCII, as a character-level model would see it
LR, WEIGHT_DECAY = 3e-4, 0.1


def sizes(quick: bool) -> dict:
    if quick:
        return dict(n_embd=32, n_layer=2, n_head=4, block_size=32, batch=4, new_tokens=20)
    return dict(n_embd=128, n_layer=4, n_head=4, block_size=128, batch=16, new_tokens=200)


# --- the same model in PyTorch ------------------------------------------------------------------

if torch is not None:
    tnn = torch.nn

    class TorchAttention(tnn.Module):
        def __init__(self, n_embd: int, n_head: int):
            super().__init__()
            self.n_head = n_head
            self.c_attn = tnn.Linear(n_embd, 3 * n_embd)
            self.c_proj = tnn.Linear(n_embd, n_embd)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = (part.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                       for part in self.c_attn(x).split(C, dim=2))
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class TorchMLP(tnn.Module):
        def __init__(self, n_embd: int):
            super().__init__()
            self.c_fc = tnn.Linear(n_embd, 4 * n_embd)
            self.gelu = tnn.GELU()
            self.c_proj = tnn.Linear(4 * n_embd, n_embd)

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class TorchBlock(tnn.Module):
        def __init__(self, n_embd: int, n_head: int):
            super().__init__()
            self.ln_1 = tnn.LayerNorm(n_embd)
            self.attn = TorchAttention(n_embd, n_head)
            self.ln_2 = tnn.LayerNorm(n_embd)
            self.mlp = TorchMLP(n_embd)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class TorchGPT(tnn.Module):
        def __init__(self, config):
            super().__init__()
            self.transformer = tnn.ModuleDict(dict(
                wte=tnn.Embedding(config.vocab_size, config.n_embd),
                wpe=tnn.Embedding(config.block_size, config.n_embd),
                h=tnn.ModuleList([TorchBlock(config.n_embd, config.n_head) for _ in range(config.n_layer)]),
                ln_f=tnn.LayerNorm(config.n_embd),
            ))
            self.lm_head = tnn.Linear(config.n_embd, config.vocab_size, bias=False)
            self.lm_head.weight = self.transformer.wte.weight

        def forward(self, idx, targets=None):
            T = idx.shape[1]
            x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T))
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            if targets is None:
                return logits, None
            loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
            return logits, loss


def copy_weights(ours, theirs) -> None:
    """Give the torch model our weights (same state_dict keys and shapes)."""
    state = ours.state_dict()
    theirs.load_state_dict({key: torch.from_numpy(np.array(value, dtype=np.float32))
                            for key, value in state.items()})


# --- workloads ----------------------------------------------------------------------------------

def train_step(model, optimizer, x, y):
    """One training step of either library's model (``x``, ``y`` in that library's form)."""
    def run():
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return run


def generate_uncached_ours(model, prompt: np.ndarray, new_tokens: int) -> np.ndarray:
    """Greedy generation without the cache: the whole (cropped) context at every step."""
    block_size, tokens = model.config.block_size, prompt
    with tl.no_grad():
        for _ in range(new_tokens):
            logits, _ = model(tokens[:, -block_size:])
            next_token = np.argmax(logits.data[:, -1, :], axis=-1).astype(np.int64)
            tokens = np.concatenate([tokens, next_token[:, None]], axis=1)
    return tokens


def generate_uncached_torch(model, prompt: np.ndarray, new_tokens: int, block_size: int) -> np.ndarray:
    tokens = torch.from_numpy(prompt)
    with torch.no_grad():
        for _ in range(new_tokens):
            logits, _ = model(tokens[:, -block_size:])
            tokens = torch.cat([tokens, logits[:, -1, :].argmax(dim=-1, keepdim=True)], dim=1)
    return tokens.numpy()


def row(name: str, unit: str, ours: float, theirs: float | None, ratio: float | None, target: str) -> str:
    shown = f"{theirs:10.3f}" if theirs is not None else f"{'-':>10s}"
    ratio_shown = f"{ratio:10.2f}x" if ratio is not None else f"{'-':>11s}"
    return f"{name:22s} {unit:>5s} {ours:12.3f} {shown} {ratio_shown} {target:>7s}"


def main() -> None:
    args, versions = parse_arguments(__doc__, torch, repeats=9)
    if torch is not None:
        torch.manual_seed(0)
    size = sizes(args.quick)
    config = tl.models.GPTConfig(vocab_size=VOCAB, block_size=size['block_size'], n_layer=size['n_layer'],
                                 n_head=size['n_head'], n_embd=size['n_embd'])
    print(versions)
    print(f"GPT n_embd={config.n_embd} n_layer={config.n_layer} n_head={config.n_head} "
          f"block_size={config.block_size} vocab={VOCAB} batch={size['batch']} float32")

    rng = np.random.default_rng(0)
    data = rng.integers(0, VOCAB, size=(size['batch'], config.block_size + 1), dtype=np.int64)
    x, y = np.ascontiguousarray(data[:, :-1]), np.ascontiguousarray(data[:, 1:])
    tl.manual_seed(0)
    ours = tl.models.GPT(config)
    ours.train()
    ours_opt = optim.AdamW(ours.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    runs = {'tinygrad_ls': train_step(ours, ours_opt, x, y)}
    theirs = None
    if torch is not None:
        theirs = TorchGPT(config)
        copy_weights(ours, theirs)
        theirs.train()
        with tl.no_grad():
            loss_ours = float(ours(x, y)[1].item())
        with torch.no_grad():
            loss_theirs = float(theirs(torch.from_numpy(x), torch.from_numpy(y))[1])
        difference = abs(loss_ours - loss_theirs)
        print(f"same loss check: ours {loss_ours:.6f} torch {loss_theirs:.6f} |diff| {difference:.1e} "
              f"{'ok' if difference < 1e-4 else 'MISMATCH'}")
        theirs_opt = torch.optim.AdamW(theirs.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        runs['torch'] = train_step(theirs, theirs_opt, torch.from_numpy(x), torch.from_numpy(y))

    header = (f"{'workload':22s} {'unit':>5s} {'tinygrad_ls':>12s} {'torch':>10s} {'ours/torch':>11s} "
              f"{'target':>7s}")
    print(header)
    print('-' * len(header))
    medians = interleaved(runs, args.repeats)
    ratio = medians['tinygrad_ls'] / medians['torch'] if 'torch' in medians else None
    print(row('GPT training step', 'ms', medians['tinygrad_ls'] * 1e3,
              medians['torch'] * 1e3 if 'torch' in medians else None, ratio, f"{TARGET:.2f}x"), flush=True)

    # generation, from the (trained a few steps) model in eval mode; torch gets the same weights
    new_tokens = size['new_tokens']
    ours.eval()
    prompt = np.zeros((1, 1), dtype=np.int64)
    gen_runs = {'cached': lambda: ours.generate(prompt, new_tokens, temperature=0),
                'uncached': lambda: generate_uncached_ours(ours, prompt, new_tokens)}
    cached_tokens = np.asarray(gen_runs['cached']().data)
    uncached_tokens = gen_runs['uncached']()
    check = f"greedy tokens: cached == uncached {np.array_equal(cached_tokens, uncached_tokens)}"
    if theirs is not None:
        copy_weights(ours, theirs)
        theirs.eval()
        gen_runs['torch'] = lambda: generate_uncached_torch(theirs, prompt, new_tokens, config.block_size)
        check += f", == torch uncached {np.array_equal(uncached_tokens, gen_runs['torch']())}"
    print()
    print(check)
    header = (f"{'workload':22s} {'unit':>5s} {'cached':>10s} {'uncached':>10s} {'uncached/cached':>16s} "
              f"{'torch uncached':>15s}")
    print(header)
    print('-' * len(header))
    medians = interleaved(gen_runs, args.repeats)
    torch_shown = f"{medians['torch'] * 1e3:15.1f}" if 'torch' in medians else f"{'-':>15s}"
    print(f"{f'generate {new_tokens} tokens':22s} {'ms':>5s} {medians['cached'] * 1e3:10.1f} "
          f"{medians['uncached'] * 1e3:10.1f} {medians['uncached'] / medians['cached']:15.2f}x {torch_shown}",
          flush=True)


if __name__ == '__main__':
    main()
