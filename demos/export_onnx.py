"""Export the digits MLP and CNN to ONNX and run them in onnxruntime beside the library.

    pip install -e '.[demos,onnx]' && python demos/export_onnx.py

Trains both models briefly (the same models and training loop as mlp_digits.py and
cnn_digits.py), exports each with ``tl.onnx.export`` (dynamic batch), runs the test set
through onnxruntime and prints, side by side, the test accuracy and the per-sample latency
(one image at a time, the mean over ``latency_samples`` images) of tinygrad_ls eager
inference and of onnxruntime. The two runtimes agree to float32 rounding, so their
accuracies are the same.
"""
from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path

import numpy as np

import tinygrad_ls as tl
import tinygrad_ls.onnx  # noqa: F401  (tl.onnx)
from tinygrad_ls import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling demos, from anywhere
import cnn_digits  # noqa: E402
import mlp_digits  # noqa: E402

OUTPUT_DIR = Path(__file__).resolve().parent / 'output'


def library_predict(model, X: np.ndarray) -> np.ndarray:
    with tl.no_grad():
        return model(tl.Value(X)).data


def latency(predict, X: np.ndarray, samples: int, repeats: int) -> float:
    """Seconds per sample: each of the first ``samples`` rows run alone (batch of 1), the best
    of ``repeats`` passes."""
    rows = [X[i:i + 1] for i in range(min(samples, len(X)))]
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        for row in rows:
            predict(row)
        best = min(best, (time.perf_counter() - start) / len(rows))
    return best


def main(epochs: int = 10, n_samples: int | None = None, seed: int = 0, output_dir: str | Path = OUTPUT_DIR,
         latency_samples: int = 200, repeats: int = 3) -> dict:
    """Train, export, compare; returns ``{'rows': [{'model', 'accuracy', 'onnx_accuracy',
    'latency', 'onnx_latency', 'path'}, ...]}`` (latencies in seconds per sample)."""
    import onnxruntime as ort

    splits = mlp_digits.load_splits(seed, n_samples)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tl.manual_seed(seed)
    models = {'MLP': (nn.MLP([64, 128, 64, 10]), lambda X: X),
              'CNN': (cnn_digits.make_cnn((16, 32)), cnn_digits.as_images)}
    rows = []
    for name, (model, shape) in models.items():
        (X_train, y_train), (X_val, y_val), (X_test, y_test) = (
            (shape(X), y) for X, y in (splits['train'], splits['val'], splits['test']))
        with contextlib.redirect_stdout(io.StringIO()):  # the training table: see mlp_digits.py
            mlp_digits.train(model, (X_train, y_train), (X_val, y_val), epochs, 3e-3, 32,
                             show_progress=False)
        model.eval()
        path = output_dir / f"digits_{name.lower()}.onnx"
        tl.onnx.export(model, X_test[:8], path, input_names=['images'], output_names=['logits'])
        session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])

        def onnx_predict(X, session=session):
            return session.run(None, {'images': X})[0]

        accuracy = float((library_predict(model, X_test).argmax(axis=1) == y_test).mean())
        onnx_accuracy = float((onnx_predict(X_test).argmax(axis=1) == y_test).mean())
        rows.append(dict(model=name, accuracy=accuracy, onnx_accuracy=onnx_accuracy, path=path,
                         latency=latency(lambda X, model=model: library_predict(model, X), X_test,
                                         latency_samples, repeats),
                         onnx_latency=latency(onnx_predict, X_test, latency_samples, repeats)))
    print(f"Digits, {len(splits['test'][1])} test images, {epochs} training epochs; "
          "latency: one image at a time\n")
    print("| model | accuracy (tinygrad_ls) | accuracy (onnxruntime) | latency tinygrad_ls eager "
          "| latency onnxruntime | speed-up |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['accuracy']:.4f} | {row['onnx_accuracy']:.4f} "
              f"| {row['latency'] * 1e6:.0f} µs | {row['onnx_latency'] * 1e6:.0f} µs "
              f"| {row['latency'] / row['onnx_latency']:.1f}x |")
    print(f"\nONNX files: {', '.join(str(row['path']) for row in rows)}")
    return dict(rows=rows)


if __name__ == '__main__':
    main()
