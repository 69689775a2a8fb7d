"""Fine-tune the pretrained docstring GPT on a labelled task, four ways, side by side.

    python demos/gpt_finetune.py           # 1 to 2 minutes on 2 cores with a saved checkpoint

The pretrained model is ``demos/output/gpt_pretrain.npz`` (written by ``gpt_pretrain.py``);
when it is missing or its sizes differ from the ones asked for, ``gpt_pretrain.main`` runs
first (3 to 4 minutes at its defaults). The task comes from the same source as the
pretraining text: which of 8 standard-library packages a docstring snippet comes from.
Each package's docstrings (``tl.datasets.stdlib_docstrings``) are cut into non-overlapping
snippets of ``snippet_chars`` characters (at most the model's context), ``per_class`` of
them per package, split train/test per class (stratified).

A classifier runs the GPT body (token and position embeddings, the blocks, the final
LayerNorm), averages the hidden states over the positions and maps them to 8 logits with a
new ``nn.Linear`` head. It is trained with cross-entropy and AdamW for the same epochs on
the same data (learning rates per variant: 1e-3 when every parameter trains, 1e-1 for
the head alone, 1e-2 for LoRA), four ways:

* from scratch: a fresh GPT of the same sizes, every parameter trained;
* full fine-tuning: the pretrained body, every parameter trained;
* frozen body + new head: the pretrained body frozen, only the head trained;
* LoRA: low-rank adapters (``tl.nn.lora.inject``) on the attention and MLP Linears
  (``c_attn``, ``c_proj``, ``c_fc``; rank 2) plus the head; the pretrained weights stay frozen.

The report is a table of test accuracy, trainable parameters (and their share of the
classifier's parameters) and wall time per variant.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling demo, from anywhere
import gpt_pretrain  # noqa: E402

OUTPUT_DIR = Path(__file__).resolve().parent / 'output'
PACKAGES = ('asyncio', 'email', 'http', 'logging', 'unittest', 'doctest', 'pdb', 'urllib')
VARIANTS = ('from scratch', 'full fine-tuning', 'frozen body + head', 'LoRA')
CONFIG_KEYS = ('vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd')


class GPTClassifier(nn.Module):
    """The body of a ``tl.models.GPT`` (its own modules, not copies) -> mean over positions
    -> ``nn.Linear(n_embd, n_classes)``: int (B, T) ids -> (B, n_classes) logits."""

    def __init__(self, gpt, n_classes: int):
        super().__init__()
        self.wte, self.wpe = gpt.transformer.wte, gpt.transformer.wpe
        self.h, self.ln_f = gpt.transformer.h, gpt.transformer.ln_f
        self.head = nn.Linear(gpt.config.n_embd, n_classes)

    def body_parameters(self) -> list:
        return [p for name, p in self.named_parameters() if not name.startswith('head.')]

    def forward(self, idx) -> tl.Value:
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(np.arange(T))
        for layer, block in enumerate(self.h):
            x = block(x, None, layer)
        return self.head(self.ln_f(x).mean(axis=1))


def load_pretrained(checkpoint: Path, pretrain: dict) -> tuple[dict, tl.datasets.CharTokenizer, dict]:
    """(model state_dict, tokenizer, config dict) from ``checkpoint`` when its sizes match
    ``pretrain``; otherwise run ``gpt_pretrain.main(**pretrain)`` (which writes it) first."""
    wanted = {key: pretrain[key] for key in ('block_size', 'n_layer', 'n_head', 'n_embd') if key in pretrain}
    if checkpoint.exists():
        state = tl.load(checkpoint)
        if all(state['config'][key] == value for key, value in wanted.items()):
            print(f"Pretrained model: {checkpoint}")
            return (state['model'], tl.datasets.CharTokenizer.from_state_dict(state['tokenizer']),
                    {key: int(state['config'][key]) for key in CONFIG_KEYS})
        print(f"{checkpoint} has other sizes than {wanted}: pretraining again")
    else:
        print(f"No checkpoint at {checkpoint}: pretraining first")
    out = gpt_pretrain.main(**pretrain, output_dir=checkpoint.parent)
    config = {key: getattr(out['model'].config, key) for key in CONFIG_KEYS}
    return out['model'].state_dict(), out['tokenizer'], config


def snippets(packages, length: int, per_class: int) -> tuple[list[str], np.ndarray]:
    """Up to ``per_class`` non-overlapping ``length``-character snippets of each package's
    docstrings, evenly spread over its text; (texts, labels)."""
    texts = tl.datasets.stdlib_docstrings(packages)
    X, y = [], []
    for label, package in enumerate(packages):
        text = '\n\n'.join(t for name, t in texts.items() if name.split('.')[0] == package)
        available = len(text) // length
        if available < 2:
            raise ValueError(f"gpt_finetune: package {package!r} has only {len(text)} characters")
        for i in np.linspace(0, available - 1, min(per_class, available)).astype(int):
            X.append(text[i * length:(i + 1) * length])
            y.append(label)
    return X, np.array(y)


def build(variant: str, state: dict, config: dict, n_classes: int, r: int, alpha: float, seed: int):
    """The classifier for ``variant`` with its trainable parameters set."""
    tl.manual_seed(seed)
    gpt = tl.models.GPT(tl.models.GPTConfig(**config))
    if variant != 'from scratch':
        gpt.load_state_dict(state)
    model = GPTClassifier(gpt, n_classes)
    if variant == 'frozen body + head':
        for param in model.body_parameters():
            param.requires_grad_(False)
    elif variant == 'LoRA':
        for block in model.h:       # inject freezes everything it sees: the body only, then the head
            nn.lora.inject(block, target=('c_attn', 'c_proj', 'c_fc'), r=r, alpha=alpha)
        model.wte.requires_grad_(False)
        model.wpe.requires_grad_(False)
        model.ln_f.requires_grad_(False)
        model.head.requires_grad_(True)
    return model


def accuracy(model, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    model.eval()
    with tl.no_grad():
        predictions = np.concatenate([model(X[i:i + batch_size]).data.argmax(axis=1)
                                      for i in range(0, len(X), batch_size)])
    model.train()
    return float((predictions == y).mean())


def train(model, X: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, lr: float, seed: int) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = optim.AdamW(params, lr=lr, weight_decay=0.01)
    rng = np.random.default_rng(seed)

    @tl.compile  # recorded at the first batch (and the last, smaller one), replayed after
    def step(xb: np.ndarray, yb: np.ndarray) -> None:
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for i in range(0, len(X), batch_size):
            batch = order[i:i + batch_size]
            step(X[batch], y[batch])


def main(snippet_chars: int = 128, per_class: int = 200, test_size: float = 0.25, epochs: int = 4,
         batch_size: int = 32, lr: float = 1e-3, head_lr: float = 1e-1, lora_lr: float = 1e-2, r: int = 2,
         alpha: float = 4,
         seed: int = 0, checkpoint: str | Path = OUTPUT_DIR / 'gpt_pretrain.npz',
         pretrain: dict | None = None, packages=PACKAGES) -> dict:
    """Build the task, train the four variants, print the table; returns ``{'rows', 'snippet_chars',
    'n_train', 'n_test', 'packages', 'frozen_body_unchanged'}`` with ``rows[variant] =
    {'accuracy', 'trainable', 'total', 'fraction', 'seconds'}``. ``pretrain``: the keyword
    arguments of ``gpt_pretrain.main`` (its defaults when None), used to check the checkpoint
    and to pretrain when it does not match. Learning rates (AdamW): ``lr`` where every parameter
    trains (scratch, full), ``head_lr`` for the head alone (frozen body), ``lora_lr`` for LoRA."""
    pretrain = dict(gpt_pretrain.DEFAULT if pretrain is None else pretrain)
    pretrain.setdefault('seed', seed)
    state, tokenizer, config = load_pretrained(Path(checkpoint), pretrain)
    length = min(snippet_chars, config['block_size'])
    texts, labels = snippets(packages, length, per_class)
    X = np.stack([tokenizer.encode(text) for text in texts])
    X_train, X_test, y_train, y_test = train_test_split(X, labels, test_size=test_size, stratify=labels,
                                                        random_state=seed)
    print(f"Task: which of {len(packages)} packages ({', '.join(packages)}) a {length}-character docstring "
          f"snippet comes from; {len(X_train)} train / {len(X_test)} test snippets, {epochs} epochs")

    rows, frozen_unchanged = {}, None
    for variant in VARIANTS:
        model = build(variant, state, config, len(packages), r, alpha, seed)
        before = [np.array(p.data, copy=True) for p in model.body_parameters()]
        start = time.perf_counter()
        rate = {'frozen body + head': head_lr, 'LoRA': lora_lr}.get(variant, lr)
        train(model, X_train, y_train, epochs, batch_size, rate, seed)
        seconds = time.perf_counter() - start
        if variant == 'frozen body + head':
            frozen_unchanged = all(np.array_equal(a, p.data) for a, p in zip(before, model.body_parameters()))
        trainable = sum(p.size for p in model.parameters() if p.requires_grad)
        total = sum(p.size for p in model.parameters())
        rows[variant] = dict(accuracy=accuracy(model, X_test, y_test), trainable=int(trainable),
                             total=int(total), fraction=trainable / total, seconds=seconds)

    print(f"\n{'variant':22s} {'test accuracy':>13s} {'trainable parameters':>26s} {'wall time':>10s}")
    for variant, row in rows.items():
        share = f"{row['trainable']:,} ({100 * row['fraction']:.1f}%)"
        print(f"{variant:22s} {row['accuracy']:13.3f} {share:>26s} {row['seconds']:9.1f}s")
    scratch, full = rows['from scratch']['accuracy'], rows['full fine-tuning']['accuracy']
    gains = ', '.join(f"{variant} {100 * (rows[variant]['accuracy'] - scratch):+.1f}"
                      for variant in VARIANTS[1:])
    print(f"\nPoints over from scratch: {gains}")
    print(f"LoRA vs full fine-tuning: {100 * (rows['LoRA']['accuracy'] - full):+.1f} points with "
          f"{100 * rows['LoRA']['fraction']:.1f}% of the parameters trainable")
    return dict(rows=rows, snippet_chars=length, n_train=len(X_train), n_test=len(X_test),
                packages=tuple(packages), frozen_body_unchanged=frozen_unchanged)


if __name__ == '__main__':
    import blas_threads  # (demos/ is on the path of `python demos/NAME.py`)
    blas_threads.limit()  # one BLAS thread: as fast for these small matrices, much faster under load
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--per-class', type=int, default=200)
    args = parser.parse_args()
    main(epochs=args.epochs, per_class=args.per_class)
