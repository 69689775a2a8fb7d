"""Handwritten digits with a small convolutional network, beside the MLP demo.

    python demos/cnn_digits.py [--eager]

The same split of sklearn's digits as ``mlp_digits.py`` (8x8 images scaled to [0, 1]), now kept
as images of shape (1, 8, 8): two blocks of conv 3x3 (padding 1; 32, then 64 channels) → batch
norm → ReLU → 2x2 max-pool (8x8 → 4x4 → 2x2), then a linear head on the 64·2·2 features. Trained with Adam and
cosine annealing through ``tl.train.fit`` (progress bar, validation accuracy per epoch). The
report ends with the CNN's test accuracy next to the MLP demo's (trained here too, quietly),
and writes two pictures to ``demos/output/``: the 32 learned first-layer filters and the
confusion matrix on the test set. At the default settings the test accuracy must reach 0.98,
or the script exits with an error. Takes well under a minute on 2 cores.
The training step is compiled (``tl.compile`` through ``fit(compile=True)``); ``--eager``
runs it eagerly.
"""
from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # draws with the Agg backend, no display needed
from sklearn.metrics import ConfusionMatrixDisplay

import tinygrad_ls as tl
from tinygrad_ls import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling demo, from anywhere
import mlp_digits  # noqa: E402

OUTPUT_DIR = Path(__file__).resolve().parent / 'output'
REQUIRED_TEST_ACCURACY = 0.98  # checked at the default settings


def make_cnn(channels: tuple[int, int] = (32, 64)) -> nn.Sequential:
    """(N, 1, 8, 8) images -> (N, 10) logits."""
    first, second = channels
    return nn.Sequential(
        nn.Conv2d(1, first, 3, padding=1), nn.BatchNorm2d(first), nn.ReLU(), nn.MaxPool2d(2),       # 4x4
        nn.Conv2d(first, second, 3, padding=1), nn.BatchNorm2d(second), nn.ReLU(), nn.MaxPool2d(2),  # 2x2
        nn.Flatten(), nn.Linear(second * 2 * 2, 10),
    )


def as_images(X: np.ndarray) -> np.ndarray:
    """(n, 64) rows -> (n, 1, 8, 8) images (NCHW, as PyTorch)."""
    return X.reshape(-1, 1, 8, 8)


def plot_filters(weight: np.ndarray, path: Path) -> None:
    """The first layer's (C, 1, 3, 3) kernels as C small images."""
    fig = Figure(figsize=(8, 3.6))
    axes = fig.subplots(4, (len(weight) + 3) // 4)
    limit = np.abs(weight).max()
    for ax, kernel in zip(axes.ravel(), weight[:, 0]):
        ax.imshow(kernel, cmap='RdBu_r', vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle('learned first-layer 3x3 filters (red +, blue -)')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, accuracy: float, path: Path) -> None:
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, ax=ax, colorbar=False, cmap='Blues')
    ax.set_title(f'CNN on digits: test set, accuracy {accuracy:.3f}')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def mlp_test_accuracy(seed: int, n_samples: int | None, epochs: int) -> float:
    """The MLP demo at its own settings, trained quietly, for the comparison line."""
    with contextlib.redirect_stdout(io.StringIO()):
        return mlp_digits.main(epochs=epochs, n_samples=n_samples, seed=seed, show_progress=False,
                               output_dir=OUTPUT_DIR)['test_accuracy']


def main(epochs: int = 30, lr: float = 3e-3, batch_size: int = 32, channels: tuple[int, int] = (32, 64),
         n_samples: int | None = None, seed: int = 0, output_dir: str | Path = OUTPUT_DIR,
         show_progress: bool = True, compare_mlp_epochs: int | None = 25,
         required_accuracy: float | None = None, compile: bool = True) -> dict:
    """Train and evaluate; returns ``{'test_accuracy', 'mlp_test_accuracy', 'history', 'filters',
    'confusion', 'model', 'seconds'}``. ``required_accuracy``: raise RuntimeError below it."""
    splits = mlp_digits.load_splits(seed, n_samples)
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = (
        (as_images(X), y) for X, y in (splits['train'], splits['val'], splits['test']))
    print(f"Digits: {len(X_train)} train / {len(X_val)} validation / {len(X_test)} test images, "
          f"shape {X_train.shape[1:]} (NCHW), 10 classes")

    tl.manual_seed(seed)
    model = make_cnn(channels)
    print(f"\nModel: {model!r}\n{sum(p.size for p in model.parameters()):,} parameters")
    history, seconds = mlp_digits.train(model, (X_train, y_train), (X_val, y_val), epochs, lr, batch_size,
                                        show_progress, compile)

    model.eval()
    with tl.no_grad():
        logits = model(tl.Value(X_test))
    test_accuracy = tl.metrics.accuracy(logits, y_test)
    print(f"\nTrained {history.epochs} epochs in {seconds:.1f}s")
    correct = round(test_accuracy * len(X_test))
    print(f"CNN test accuracy: {test_accuracy:.4f} ({correct}/{len(X_test)} correct)")
    mlp_accuracy = None
    if compare_mlp_epochs:
        mlp_accuracy = mlp_test_accuracy(seed, n_samples, compare_mlp_epochs)
        print(f"MLP test accuracy: {mlp_accuracy:.4f} (demos/mlp_digits.py, same split)")

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    filters, confusion = output_dir / 'cnn_digits_filters.png', output_dir / 'cnn_digits_confusion.png'
    plot_filters(model[0].weight.data, filters)
    plot_confusion(y_test, logits.argmax(dim=1).data, test_accuracy, confusion)
    print(f"Pictures: {filters}, {confusion}")

    if required_accuracy is not None and test_accuracy < required_accuracy:
        raise RuntimeError(f"test accuracy {test_accuracy:.4f} is below the required {required_accuracy}")
    return dict(test_accuracy=test_accuracy, mlp_test_accuracy=mlp_accuracy, history=history.history,
                filters=filters, confusion=confusion, model=model, seconds=seconds)


if __name__ == '__main__':
    import blas_threads  # (demos/ is on the path of `python demos/NAME.py`)
    blas_threads.limit()  # one BLAS thread: as fast for these small matrices, much faster under load
    try:
        main(required_accuracy=REQUIRED_TEST_ACCURACY, compile='--eager' not in sys.argv[1:])
    except RuntimeError as error:
        sys.exit(f"FAILED: {error}")
