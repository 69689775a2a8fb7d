"""Pretrain a small GPT on text every Python installation has: the standard library's docstrings.

    python demos/gpt_pretrain.py           # 3 to 4 minutes on 2 cores
    python demos/gpt_pretrain.py --long    # a larger model, longer: better samples
    python demos/gpt_pretrain.py --eager   # the training step eager instead of compiled

The corpus is collected at run time with ``tl.datasets.stdlib_docstrings`` (nothing is
downloaded) and split by package, so the validation text comes from modules the model never
saw. A character-level ``CharTokenizer`` turns it into integers; ``tl.models.GPT`` (causal
self-attention, pre-norm blocks, tied embeddings) learns to predict the next character with
AdamW, a linear warm-up then cosine decay of the learning rate, and gradient clipping.

The report compares the validation loss, in bits per character, with two baselines computed
on the same split: a unigram model (character frequencies) and a bigram model (the next
character given this one), prints a text sample, and writes the loss curves and a heatmap of
the first layer's attention weights to ``demos/output/``. The trained model and tokenizer
are saved to ``demos/output/gpt_pretrain.npz`` (``tl.save``: no pickle).
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

import tinygrad_ls as tl
from tinygrad_ls import nn, optim

OUTPUT_DIR = Path(__file__).resolve().parent / 'output'
DEFAULT = dict(n_layer=3, n_head=4, n_embd=96, block_size=64, batch_size=32, steps=1200, max_chars=400_000)
LONG = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=32, steps=6000, max_chars=None)


def corpus(max_chars: int | None, seed: int = 0) -> tuple[str, str]:
    """(train text, validation text): docstrings, split by package."""
    texts = tl.datasets.stdlib_docstrings(max_chars=max_chars)
    train, val = tl.datasets.split_by_module(texts, val_fraction=0.1, seed=seed)
    return '\n\n'.join(train.values()), '\n\n'.join(val.values())


def ngram_bits(train: np.ndarray, val: np.ndarray, vocab: int) -> tuple[float, float]:
    """Bits per character on ``val`` of a unigram and a bigram model counted on ``train``
    (add-one smoothing, so unseen pairs cost finite bits)."""
    unigram = np.bincount(train, minlength=vocab) + 1.0
    unigram_bits = -np.log2(unigram[val] / unigram.sum()).mean()
    pairs = np.ones((vocab, vocab))
    np.add.at(pairs, (train[:-1], train[1:]), 1.0)
    bigram_bits = -np.log2(pairs[val[:-1], val[1:]] / pairs[val[:-1]].sum(axis=1)).mean()
    return float(unigram_bits), float(bigram_bits)


def batches(data: np.ndarray, block_size: int, batch_size: int, rng: np.random.Generator):
    """Endless random windows: inputs (B, T) and the next characters (B, T) as targets."""
    while True:
        starts = rng.integers(0, len(data) - block_size - 1, batch_size)
        windows = np.stack([data[s:s + block_size + 1] for s in starts])
        yield windows[:, :-1], windows[:, 1:]


def evaluate(model, data: np.ndarray, block_size: int, n_windows: int = 64) -> float:
    """Mean validation loss (nats per character) over fixed, evenly spaced windows."""
    starts = np.linspace(0, len(data) - block_size - 1, n_windows).astype(int)
    windows = np.stack([data[s:s + block_size + 1] for s in starts])
    model.eval()
    with tl.no_grad():
        _, loss = model(windows[:, :-1], windows[:, 1:])
    model.train()
    return loss.item()


def warmup_cosine(steps: int, warmup: int):
    """The learning-rate factor: linear from 0 to 1 over ``warmup`` steps, then cosine to 0.1."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.45 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return factor


def attention_weights(model, idx: np.ndarray) -> np.ndarray:
    """First layer, first head: softmax(q kᵀ / sqrt(d)) with the causal mask, shape (T, T)."""
    block = model.transformer.h[0]
    T = idx.shape[1]
    with tl.no_grad():
        x = model.transformer.wte(idx) + model.transformer.wpe(np.arange(T))
        q, k, _ = tl.split(block.attn.c_attn(block.ln_1(x)), model.config.n_embd, axis=-1)
        d = model.config.n_embd // model.config.n_head
        scores = (q[0, :, :d] @ k[0, :, :d].T).data / math.sqrt(d)
    scores = np.where(np.tri(T, dtype=bool), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def plot(history: dict, baselines: dict, text: str, weights: np.ndarray, folder: Path) -> tuple[Path, Path]:
    curves, heatmap = folder / 'gpt_pretrain_loss.png', folder / 'gpt_pretrain_attention.png'
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    ax.plot(history['step'], history['train_bits'], label='train (batch)', alpha=0.6)
    ax.plot(history['eval_step'], history['val_bits'], marker='o', ms=3, label='validation (unseen modules)')
    for name, bits in baselines.items():
        ax.axhline(bits, ls='--', lw=1, color='grey')
        ax.text(history['step'][-1], bits, f" {name} {bits:.2f}", va='bottom', ha='right', fontsize=8)
    ax.set_xlabel('step')
    ax.set_ylabel('bits per character')
    ax.set_title('GPT pretraining on standard-library docstrings')
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(curves, dpi=110)
    fig = Figure(figsize=(6.5, 6))
    ax = fig.subplots()
    ax.imshow(weights, cmap='viridis')
    labels = [repr(c)[1:-1] for c in text]
    ax.set_xticks(range(len(text)), labels, fontsize=6)
    ax.set_yticks(range(len(text)), labels, fontsize=6)
    ax.set_xlabel('attends to (key)')
    ax.set_ylabel('query position')
    ax.set_title('layer 1, head 1: attention weights')
    fig.tight_layout()
    fig.savefig(heatmap, dpi=110)
    return curves, heatmap


def main(n_layer: int = 3, n_head: int = 4, n_embd: int = 96, block_size: int = 64, batch_size: int = 32,
         steps: int = 1200, max_chars: int | None = 400_000, lr: float = 3e-3, eval_every: int = 100,
         seed: int = 0, output_dir: str | Path = OUTPUT_DIR, show_progress: bool = True,
         compile: bool = True) -> dict:
    """Pretrain and report; returns ``{'val_bits', 'unigram_bits', 'bigram_bits', 'sample',
    'history', 'model', 'tokenizer', 'checkpoint', 'plots', 'seconds'}``."""
    train_text, val_text = corpus(max_chars, seed)
    tokenizer = tl.datasets.CharTokenizer(train_text)
    train, val = tokenizer.encode(train_text), tokenizer.encode(val_text)
    unigram, bigram = ngram_bits(train, val, tokenizer.vocab_size)
    print(f"Corpus: {len(train):,} training and {len(val):,} validation characters of docstrings "
          f"(validation from unseen packages), {tokenizer.vocab_size} distinct characters")

    tl.manual_seed(seed)
    config = tl.models.GPTConfig(vocab_size=tokenizer.vocab_size, block_size=block_size, n_layer=n_layer,
                                 n_head=n_head, n_embd=n_embd)
    model = tl.models.GPT(config)
    print(f"Model: {n_layer} layers, {n_head} heads, width {n_embd}, context {block_size}: "
          f"{model.num_parameters():,} parameters")
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.95))
    scheduler = optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(steps, warmup=max(1, steps // 20)))
    stream = batches(train, block_size, batch_size, np.random.default_rng(seed))

    def train_step(x: np.ndarray, y: np.ndarray):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        return loss

    if compile:  # recorded at the first step, replayed after (the same numbers)
        train_step = tl.compile(train_step)
    history = {'step': [], 'train_bits': [], 'eval_step': [], 'val_bits': []}
    start = time.perf_counter()
    for step in tqdm(range(steps), desc='pretraining', disable=not show_progress):
        loss = train_step(*next(stream))
        history['step'].append(step)
        history['train_bits'].append(loss.item() / math.log(2))
        if (step + 1) % eval_every == 0 or step == steps - 1:
            history['eval_step'].append(step)
            history['val_bits'].append(evaluate(model, val, block_size) / math.log(2))
    seconds = time.perf_counter() - start

    val_bits = history['val_bits'][-1]
    print(f"\nTrained {steps} steps in {seconds:.0f}s")
    print(f"{'validation bits per character':32s} {'':>6s}")
    for name, bits in (('unigram (character frequencies)', unigram), ('bigram (next given this)', bigram),
                       ('GPT', val_bits)):
        print(f"  {name:32s} {bits:6.3f}")

    prompt = 'Return the '
    model.eval()
    tl.manual_seed(seed)
    out = model.generate(tokenizer.encode(prompt)[None, :], max_new_tokens=200, temperature=0.8, top_k=10)
    sample = tokenizer.decode(out.data[0])
    print(f"\nSample (temperature 0.8, top-k 10):\n{sample}\n")

    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    heat_text = val_text[:min(48, block_size)]
    plots = plot(history, {'unigram': unigram, 'bigram': bigram}, heat_text,
                 attention_weights(model, tokenizer.encode(heat_text)[None, :]), folder)
    checkpoint = folder / 'gpt_pretrain.npz'
    tl.save({'model': model.state_dict(), 'tokenizer': tokenizer.state_dict(),
             'config': {key: getattr(config, key) for key in
                        ('vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd')}}, checkpoint)
    print(f"Pictures: {plots[0]}, {plots[1]}\nCheckpoint: {checkpoint}")
    return dict(val_bits=val_bits, unigram_bits=unigram, bigram_bits=bigram, sample=sample, history=history,
                model=model, tokenizer=tokenizer, checkpoint=checkpoint, plots=plots, seconds=seconds)


if __name__ == '__main__':
    import blas_threads  # (demos/ is on the path of `python demos/NAME.py`)
    blas_threads.limit()  # one BLAS thread: as fast for these small matrices, much faster under load
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--long', action='store_true', help='a larger model trained longer')
    parser.add_argument('--eager', action='store_true', help='run the training step eagerly, not compiled')
    args = parser.parse_args()
    main(**(LONG if args.long else DEFAULT), compile=not args.eager)
