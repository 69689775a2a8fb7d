"""Optimizers and learning-rate schedules compared on one problem: an MLP on sklearn's digits.

    python demos/optimizers.py

Every run starts from the same initial weights (``tl.manual_seed``), sees the batches in
the same order and trains ``nn.MLP([64, 64, 10])`` with ``F.cross_entropy`` through
``tl.train.fit`` for the same number of epochs. What changes is the update rule:

- ``SGD`` at a constant learning rate, ``SGD`` with momentum 0.9 (a tenth of the rate, so
  the same step size once the momentum has built up), ``Adam`` at its default rate;
- ``SGD`` at the same base rate with a schedule from ``optim.lr_scheduler`` (stepped once
  per epoch by ``fit``): ``StepLR`` (halve every 4 epochs), ``ExponentialLR`` (x0.8 per
  epoch), ``LinearLR`` (down linearly to 5% of the rate) and ``CosineAnnealingLR``.

The constant rate is deliberately high: it learns fast, but its last steps still jump
around (watch the validation loss); the schedules shrink it and settle down.

The report is a table of the final training loss, validation loss and accuracy per run;
``demos/output/optimizers.png`` plots the training loss, the validation loss and the
learning rate per epoch.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # draws with the Agg backend, no display needed
from matplotlib.ticker import MaxNLocator
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

OUTPUT_DIR = Path(__file__).resolve().parent / 'output'
SGD_LR = 0.2  # high enough to learn fast, so the noise at the end shows


def make_runs(epochs: int) -> dict:
    """Run name -> ``(make_optimizer(params), make_scheduler(optimizer) or None)``."""
    schedulers = optim.lr_scheduler
    sgd = lambda params: optim.SGD(params, lr=SGD_LR)
    # lr / (1 - momentum) = SGD_LR: the same step size as plain SGD once the momentum has built up
    momentum = lambda params: optim.SGD(params, lr=SGD_LR / 10, momentum=0.9)
    adam = lambda params: optim.Adam(params, lr=1e-3)
    linear_decay = lambda opt: schedulers.LinearLR(opt, start_factor=1.0, end_factor=0.05,
                                                   total_iters=epochs - 1)
    return {
        f'SGD lr={SGD_LR}': (sgd, None),
        f'SGD lr={SGD_LR / 10:g} momentum=0.9': (momentum, None),
        'Adam lr=1e-3 (its default)': (adam, None),
        'SGD + StepLR(4, gamma=0.5)': (sgd, lambda opt: schedulers.StepLR(opt, step_size=4, gamma=0.5)),
        'SGD + ExponentialLR(0.8)': (sgd, lambda opt: schedulers.ExponentialLR(opt, gamma=0.8)),
        'SGD + LinearLR(1 -> 0.05)': (sgd, linear_decay),
        'SGD + CosineAnnealingLR': (sgd, lambda opt: schedulers.CosineAnnealingLR(opt, T_max=epochs)),
    }


def load_data(seed: int):
    digits = load_digits()
    X, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    return X_train, y_train, X_val, y_val


def learning_rates(make_optimizer, make_scheduler, epochs: int) -> list[float]:
    """The lr used in each epoch, read off a throw-away optimizer stepped like ``fit`` steps it."""
    optimizer = make_optimizer([tl.Value(0.0, requires_grad=True)])
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]['lr'])
        optimizer.step()  # its parameter has no grad: a no-op, but the order fit keeps
        if scheduler is not None:
            scheduler.step()
    return rates


def plot(results: dict, path: Path) -> None:
    fig = Figure(figsize=(17, 4.8))
    loss_ax, val_ax, lr_ax = fig.subplots(1, 3)
    for name, r in results.items():
        epochs = np.arange(1, len(r['loss']) + 1)
        style = dict(marker='o', ms=3, ls='--' if 'Adam' in name or 'momentum' in name else '-')
        loss_ax.plot(epochs, r['loss'], label=name, **style)
        val_ax.plot(epochs, r['val_loss'], label=name, **style)
        lr_ax.plot(epochs, r['lrs'], label=name, **style)
    for ax in (loss_ax, val_ax, lr_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax, title in ((loss_ax, 'training loss (mean over each epoch)'),
                      (val_ax, 'validation loss (end of each epoch)')):
        ax.set_yscale('log')
        ax.set_xlabel('epoch')
        ax.set_ylabel('cross-entropy (log scale)')
        ax.set_title(f'MLP on digits: {title}')
        ax.grid(True, which='both', alpha=0.3)
    loss_ax.legend(fontsize=8)
    lr_ax.set_yscale('log')
    lr_ax.set_xlabel('epoch')
    lr_ax.set_ylabel('learning rate (log scale)')
    lr_ax.set_title('learning rate used in each epoch')
    lr_ax.grid(True, which='both', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(epochs: int = 20, batch_size: int = 32, seed: int = 0, output_dir: str | Path = OUTPUT_DIR,
         show_progress: bool = True) -> dict:
    """Train one model per run; print the table, save the plot. Returns ``{'results', 'plot'}``
    with ``results[name]`` holding ``loss`` (per epoch), ``val_loss``, ``val_accuracy`` and ``lrs``."""
    X_train, y_train, X_val, y_val = load_data(seed)
    print(f"Digits: {len(X_train)} train / {len(X_val)} validation images; nn.MLP([64, 64, 10]), "
          f"cross-entropy, batch size {batch_size}, {epochs} epochs, same initial weights for every run\n")
    results = {}
    for name, (make_optimizer, make_scheduler) in make_runs(epochs).items():
        tl.manual_seed(seed)  # same weights and same batch order in every run
        model = nn.MLP([64, 64, 10])
        optimizer = make_optimizer(model.parameters())
        scheduler = make_scheduler(optimizer) if make_scheduler else None
        train_loader = tl.data.DataLoader(tl.data.TensorDataset(X_train, y_train), batch_size=batch_size,
                                          shuffle=True)
        val_loader = tl.data.DataLoader(tl.data.TensorDataset(X_val, y_val), batch_size=512)
        if show_progress:
            print(name)
        start = time.perf_counter()
        history = tl.train.fit(model, F.cross_entropy, optimizer, train_loader, epochs=epochs,
                               val_loader=val_loader, metrics={'accuracy': tl.metrics.accuracy},
                               scheduler=scheduler, progress=show_progress)
        results[name] = dict(history.history, seconds=time.perf_counter() - start,
                             lrs=learning_rates(make_optimizer, make_scheduler, epochs))

    print(f"\n  {'run':<30} {'train loss':>10} {'val loss':>9} {'val acc':>8} {'last lr':>9} {'time':>6}")
    print('  ' + '-' * 77)
    for name, r in results.items():
        print(f"  {name:<30} {r['loss'][-1]:>10.4f} {r['val_loss'][-1]:>9.4f} {r['val_accuracy'][-1]:>8.3f} "
              f"{r['lrs'][-1]:>9.2g} {r['seconds']:>5.1f}s")
    best = min(results, key=lambda name: results[name]['loss'][-1])
    best_val = max(results, key=lambda name: results[name]['val_accuracy'][-1])
    print(f"\n  Lowest final training loss: {best}; best final validation accuracy: {best_val}")

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / 'optimizers.png'
    plot(results, path)
    print(f"  Plot of the loss curves and learning rates: {path}")
    return dict(results=results, plot=path)


if __name__ == '__main__':
    main()
