"""Fine-tuning: reuse a network trained on digits 0-4 to recognise digits 5-9.

    python demos/finetune.py

1. Pretrain a small network on the digits 0-4 of sklearn's digits data: a ``body``
   (``Linear(64, 128)`` + ReLU: 128 features of the 8x8 pixels) and a ``head``
   (``nn.MLP([128, 64, 5])``: the 5-way classifier).
2. Save its weights with ``tl.save(model.state_dict(), path)``.
3. Build a fresh network, ``load_state_dict(tl.load(path))``, freeze the body with
   ``model.body.requires_grad_(False)`` and attach a new, untrained head for digits 5-9
   (relabelled 0-4).
4. Train only the head (the optimizer gets all of ``model.parameters()``; frozen ones get
   no gradient and are skipped) and print the 5-9 test accuracy before and after.
5. Check that every frozen body weight is bit-for-bit what was saved.

The checkpoint goes to ``demos/output/digits_0_4.npz``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

OUTPUT_DIR = Path(__file__).resolve().parent / 'output'


class DigitNet(nn.Module):
    """``body``: Linear(64, 128) + ReLU, 128 features of the pixels; ``head``: an MLP 128 -> 64 -> 5."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
        self.head = new_head()

    def forward(self, x):
        return self.head(self.body(x))


def new_head() -> nn.MLP:
    return nn.MLP([128, 64, 5])


def digit_splits(digits: range, seed: int, train_per_class: int | None = None):
    """Train and test arrays for the given digits, labels relabelled to 0..len(digits)-1.

    ``train_per_class`` keeps only that many training images of each digit."""
    dataset = load_digits()
    keep = np.isin(dataset.target, list(digits))
    X = (dataset.data[keep] / 16.0).astype(np.float32)
    y = (dataset.target[keep] - digits.start).astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    if train_per_class is not None:
        X_train, _, y_train, _ = train_test_split(X_train, y_train, train_size=train_per_class * len(digits),
                                                  stratify=y_train, random_state=seed)
    return X_train, y_train, X_test, y_test


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with tl.no_grad():
        return tl.metrics.accuracy(model(tl.Value(X)), y)


def train_model(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int, lr: float,
                show_progress: bool) -> list[float]:
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loader = tl.data.DataLoader(tl.data.TensorDataset(X, y), batch_size=32, shuffle=True)
    history = tl.train.fit(model, F.cross_entropy, optimizer, loader, epochs=epochs, progress=show_progress)
    return history['loss']


def main(pretrain_epochs: int = 15, head_epochs: int = 20, train_per_class: int | None = None, seed: int = 0,
         output_dir: str | Path = OUTPUT_DIR, show_progress: bool = True) -> dict:
    """Run the five steps; returns the accuracies, the checkpoint path and whether the body
    stayed bit-identical. ``train_per_class``: training images per digit for the new task
    (None: all of them)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = output_dir / 'digits_0_4.npz'
    tl.manual_seed(seed)

    # 1. pretrain on 0-4
    X_a, y_a, X_a_test, y_a_test = digit_splits(range(0, 5), seed)
    pretrained = DigitNet()
    print(f"1. Pretraining on digits 0-4 ({len(X_a)} train / {len(X_a_test)} test images)")
    losses = train_model(pretrained, X_a, y_a, pretrain_epochs, lr=3e-3, show_progress=show_progress)
    pretrain_accuracy = accuracy(pretrained, X_a_test, y_a_test)
    print(f"   final train loss {losses[-1]:.4f}, test accuracy on 0-4: {pretrain_accuracy:.3f}")

    # 2. save
    tl.save(pretrained.state_dict(), checkpoint)
    print(f"2. Saved {len(pretrained.state_dict())} arrays to {checkpoint}")

    # 3. load into a fresh network, freeze the body, attach a new head
    model = DigitNet()
    model.load_state_dict(tl.load(checkpoint))
    reloaded_accuracy = accuracy(model, X_a_test, y_a_test)
    model.body.requires_grad_(False)
    model.head = new_head()  # a fresh head for digits 5-9 (relabelled 0-4); the 0-4 head is dropped
    frozen_before = {name: p.numpy().copy() for name, p in model.named_parameters()
                     if name.startswith('body.')}
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    n_frozen = sum(p.size for p in model.body.parameters())
    n_trainable = sum(p.size for p in model.head.parameters())
    print(f"3. Loaded the checkpoint into a new DigitNet (test accuracy on 0-4: {reloaded_accuracy:.3f}, "
          f"as saved),\n   froze the body ({n_frozen:,} weights) and attached a new head ({n_trainable:,} "
          f"weights).\n   Trainable now: {', '.join(trainable)}")

    # 4. train only the head on 5-9
    X_b, y_b, X_b_test, y_b_test = digit_splits(range(5, 10), seed, train_per_class)
    before = accuracy(model, X_b_test, y_b_test)
    print(f"4. Training the head on digits 5-9 ({len(X_b)} train images, {len(X_b_test)} test images)")
    print(f"   accuracy on 5-9 before head training (random head): {before:.3f}")
    losses = train_model(model, X_b, y_b, head_epochs, lr=1e-2, show_progress=show_progress)
    after = accuracy(model, X_b_test, y_b_test)
    print(f"   accuracy on 5-9 after head training:                {after:.3f}  (final train loss "
          f"{losses[-1]:.4f})")

    # 5. the frozen body is untouched: compare with the copy taken before and with the file
    saved = tl.load(checkpoint)
    unchanged = all(np.array_equal(p.numpy(), frozen_before[name])
                    and np.array_equal(p.numpy(), saved[name])
                    for name, p in model.named_parameters() if name.startswith('body.'))
    no_grads = all(p.grad is None for p in model.body.parameters())
    print(f"5. Frozen body weights bit-identical to the checkpoint after training: {unchanged}; "
          f"their .grad stayed None: {no_grads}")
    assert unchanged, "the frozen body weights changed during head training"
    return dict(pretrain_accuracy=pretrain_accuracy, reloaded_accuracy=reloaded_accuracy, before=before,
                after=after, body_unchanged=unchanged, frozen_grads_none=no_grads, checkpoint=checkpoint)


if __name__ == '__main__':
    main()
