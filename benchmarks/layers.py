"""Layers beyond the MLP: tinygrad_ls against PyTorch eager, forward + backward, same threads.

    python benchmarks/layers.py [--threads 1] [--repeats 9] [--quick]

1. conv stack: Conv2d(1, 16, 3, padding=1) -> MaxPool2d(2) -> Conv2d(16, 32, 3, padding=1) on a
   batch of 64 images of 1x28x28;
2. LayerNorm(256) on (64, 128, 256);
3. BatchNorm2d(32) (training mode) on (64, 32, 14, 14);
4. one epoch of demos/cnn_digits.py's CNN on sklearn's digits (batch 32, Adam).

Each workload runs the same computation from the same weights in both libraries, timed in turn
(interleaved) so that machine noise hits both alike; the table shows median times and the
ratio ours/torch against the target ratio. Without PyTorch only our times are printed.
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
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'demos'))
import cnn_digits  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

TARGETS = {'conv stack': 3.0, 'LayerNorm(256)': 2.0, 'BatchNorm2d(32)': 2.0, 'digits CNN epoch': 2.0}


def step_ours(model, x: np.ndarray):
    """Forward and backward of ``model`` on ``x``, the gradient of the sum of the outputs."""
    def run():
        model.zero_grad()
        model(tl.Value(x)).sum().backward()
    return run


def step_torch(model, x: np.ndarray):
    tensor = torch.from_numpy(x)

    def run():
        model.zero_grad()
        model(tensor).sum().backward()
    return run


def copy_weights(ours, theirs) -> None:
    """Give the torch model our initial weights (same architecture, same state_dict keys)."""
    state = ours.state_dict()
    theirs.load_state_dict({key: torch.from_numpy(np.array(value)) for key, value in state.items()})


def digits_epoch_ours(model, loader):
    optimizer = optim.Adam(model.parameters(), lr=3e-3)

    def run():
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    return run


def digits_epoch_torch(model, X, y, batch_size: int = 32):
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    X, y = torch.from_numpy(X), torch.from_numpy(y)

    def run():
        model.train()
        order = torch.randperm(len(X))
        for start in range(0, len(X), batch_size):
            index = order[start:start + batch_size]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(X[index]), y[index]).backward()
            optimizer.step()
    return run


def torch_cnn(channels=(32, 64)):
    first, second = channels
    t = torch.nn
    return t.Sequential(t.Conv2d(1, first, 3, padding=1), t.BatchNorm2d(first), t.ReLU(), t.MaxPool2d(2),
                        t.Conv2d(first, second, 3, padding=1), t.BatchNorm2d(second), t.ReLU(),
                        t.MaxPool2d(2), t.Flatten(), t.Linear(second * 4, 10))


def workloads(quick: bool) -> list:
    """``(name, unit, scale, {'tinygrad_ls': run, 'torch': run})`` for each workload."""
    rng = np.random.default_rng(0)
    batch = 8 if quick else 64
    tl.manual_seed(0)
    images = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    conv = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1))
    tokens = rng.standard_normal((batch, 16 if quick else 128, 256)).astype(np.float32)
    layer_norm = nn.LayerNorm(256)
    maps = rng.standard_normal((batch, 32, 14, 14)).astype(np.float32)
    batch_norm = nn.BatchNorm2d(32)
    splits = cnn_digits.mlp_digits.load_splits(0, 300 if quick else None)
    X, y = cnn_digits.as_images(splits['train'][0]), splits['train'][1]
    cnn = cnn_digits.make_cnn()
    loader = tl.data.DataLoader(tl.data.TensorDataset(X, y), batch_size=32, shuffle=True)
    table = [
        ('conv stack', 'ms', 1e3, {'tinygrad_ls': step_ours(conv, images)}),
        ('LayerNorm(256)', 'ms', 1e3, {'tinygrad_ls': step_ours(layer_norm, tokens)}),
        ('BatchNorm2d(32)', 'ms', 1e3, {'tinygrad_ls': step_ours(batch_norm, maps)}),
        ('digits CNN epoch', 'ms', 1e3, {'tinygrad_ls': digits_epoch_ours(cnn, loader)}),
    ]
    if torch is not None:
        t = torch.nn
        twins = [t.Sequential(t.Conv2d(1, 16, 3, padding=1), t.MaxPool2d(2), t.Conv2d(16, 32, 3, padding=1)),
                 t.LayerNorm(256), t.BatchNorm2d(32)]
        for (_, _, _, runs), ours, theirs, data in zip(table, (conv, layer_norm, batch_norm), twins,
                                                        (images, tokens, maps)):
            copy_weights(ours, theirs)
            runs['torch'] = step_torch(theirs, data)
        theirs = torch_cnn()
        copy_weights(cnn, theirs)
        table[3][3]['torch'] = digits_epoch_torch(theirs, X, y)
    return table


def main() -> None:
    args, versions = parse_arguments(__doc__, torch, repeats=9)
    print(versions)
    header = (f"{'workload':20s} {'unit':>5s} {'tinygrad_ls':>12s} {'torch':>10s} {'ours/torch':>11s} "
              f"{'target':>7s}")
    print(header)
    print('-' * len(header))
    for name, unit, scale, runs in workloads(args.quick):
        medians = interleaved(runs, args.repeats)
        ours = medians['tinygrad_ls'] * scale
        theirs = f"{medians['torch'] * scale:10.3f}" if 'torch' in medians else f"{'-':>10s}"
        ratio = f"{medians['tinygrad_ls'] / medians['torch']:10.2f}x" if 'torch' in medians else f"{'-':>11s}"
        print(f"{name:20s} {unit:>5s} {ours:12.3f} {theirs} {ratio} {TARGETS[name]:6.2f}x", flush=True)


if __name__ == '__main__':
    main()
