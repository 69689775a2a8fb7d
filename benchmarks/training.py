"""Training speed: tinygrad_ls against the same math written by hand in NumPy, and PyTorch eager.

    python benchmarks/training.py [--threads 1] [--repeats 9]

Four workloads, timed interleaved (one run of each implementation in turn, repeated), median
time and ratio to hand-written NumPy of tinygrad_ls run eagerly and compiled (the training
step under ``tl.compile``, recorded at the warm-up run and replayed in the timed ones):

1. full-batch linear regression by gradient descent, X of 10 000 x 20 (20 steps per run);
2. one epoch of mini-batch logistic regression, 10 000 x 30, batch 256, SGD;
3. one epoch of an MLP 64-128-64-10 on sklearn's digits, batch 64, Adam;
4. micrograd's moons demo, vectorised: an MLP 2-16-16-1 on 100 points of ``make_moons``, hinge
   loss plus L2, one full-batch SGD step (timed over 20 steps per run, shown per step).

Every implementation does the same work per step: forward, loss, backward, parameter update
(and, for the mini-batch ones, shuffling and slicing the data). tinygrad_ls eager and compiled
run the same step function, on a model and optimizer built once per workload (full-batch runs
start again from the same parameters; epochs train on where the last run stopped).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # this folder, from anywhere
import threads  # noqa: E402,F401  (first: the BLAS thread count, before NumPy is imported)

# isort: split
import numpy as np
from common import parse_arguments, print_table  # noqa: E402

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

try:
    import torch
except ImportError:
    torch = None

TARGETS = {'linear regression GD': 2.0, 'logistic regression epoch': 2.5, 'digits MLP epoch': 1.4,
           'moons MLP step': 3.0}
COMPILED_TARGETS = {'linear regression GD': 1.2, 'logistic regression epoch': 1.4, 'digits MLP epoch': 1.2,
                    'moons MLP step': 1.5}
GD_STEPS = 20
MOONS_STEPS = 20


def training_step(model: nn.Module, optimizer: optim.Optimizer, loss_of, compiled: bool):
    """One training step ``step(*batch) -> loss``: zero_grad, ``loss_of(*batch)``, backward,
    step; under ``tl.compile`` when ``compiled``. The eager and compiled columns run this same
    function. Their models are built once per workload, outside the timed runs: a new model
    per run would be new objects, so the compiled step would record again at every run."""
    def step(*batch) -> tl.Value:
        optimizer.zero_grad()
        loss = loss_of(*batch)
        loss.backward()
        optimizer.step()
        return loss
    return tl.compile(step) if compiled else step


def epoch_of(step, loader):
    """A run: ``step(xb, yb)`` for every batch of ``loader``."""
    def run() -> None:
        for xb, yb in loader:
            step(xb, yb)
    return run


def load_parameters(model: nn.Module, params: list) -> None:
    """Copy ``params`` (ndarrays, in ``model.parameters()`` order) into the model in place."""
    for parameter, value in zip(model.parameters(), params):
        parameter.data[...] = value


# ---- 1: full-batch linear regression ------------------------------------------------------------
def linear_numpy(X, y, w0, b0, lr=0.05):
    w, b, n = w0.copy(), b0.copy(), len(X)
    for _ in range(GD_STEPS):
        residual = X @ w.T + b - y                     # (n, 1)
        _ = (residual * residual).mean()
        grad = residual * (2 / n)
        w -= lr * (grad.T @ X)
        b -= lr * grad.sum(axis=0)
    return w, b


def linear_tinygrad(X, y, w0, b0, lr=0.05, compiled=False):
    """A run: ``GD_STEPS`` steps from (w0, b0). The step reads the full batch from its closure:
    passed as an argument, X would be copied into the plan at every compiled replay."""
    model = nn.Linear(X.shape[1], 1)
    inputs, targets = tl.Value(X), tl.Value(y)
    step = training_step(model, optim.SGD(model.parameters(), lr=lr),
                         lambda: F.mse_loss(model(inputs), targets), compiled)

    def run() -> None:
        load_parameters(model, [w0, b0])
        for _ in range(GD_STEPS):
            step()
    return run


def linear_torch(X, y, w0, b0, lr=0.05):
    model = torch.nn.Linear(X.shape[1], 1)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(w0))
        model.bias.copy_(torch.from_numpy(b0))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(GD_STEPS):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(inputs), targets).backward()
        optimizer.step()
    return model


# ---- 2: mini-batch logistic regression ----------------------------------------------------------
def logistic_numpy(X, y, w0, b0, rng, lr=0.1, batch=256):
    w, b = w0.copy(), b0.copy()
    order = rng.permutation(len(X))
    for start in range(0, len(X), batch):
        index = order[start:start + batch]
        xb, yb = X[index], y[index]
        logits = xb @ w.T + b                                           # (m, 1)
        _ = (np.maximum(logits, 0) - logits * yb + np.log1p(np.exp(-np.abs(logits)))).mean()
        grad = (1 / (1 + np.exp(-logits)) - yb) / len(xb)
        w -= lr * (grad.T @ xb)
        b -= lr * grad.sum(axis=0)
    return w, b


def logistic_tinygrad(loader, lr=0.1, compiled=False):
    """A run: one epoch over ``loader`` (compiled: one plan for the full batches, one for the
    last, shorter one)."""
    model = nn.Linear(loader.dataset.arrays[0].shape[1], 1)
    step = training_step(model, optim.SGD(model.parameters(), lr=lr),
                         lambda xb, yb: F.binary_cross_entropy_with_logits(model(xb), yb), compiled)
    return epoch_of(step, loader)


def logistic_torch(loader, lr=0.1):
    model = torch.nn.Linear(loader.dataset.tensors[0].shape[1], 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for xb, yb in loader:
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(xb), yb).backward()
        optimizer.step()
    return model


# ---- 3: digits MLP with Adam --------------------------------------------------------------------
def init_mlp(rng, sizes=(64, 128, 64, 10)):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return params


def mlp_numpy(X, y, params, rng, lr=1e-3, batch=64, betas=(0.9, 0.999), eps=1e-8):
    params = [p.copy() for p in params]
    moments = [np.zeros_like(p) for p in params]
    squares = [np.zeros_like(p) for p in params]
    order, step = rng.permutation(len(X)), 0
    for start in range(0, len(X), batch):
        index = order[start:start + batch]
        xb, yb = X[index], y[index]
        activations, h = [xb], xb
        for i in range(3):
            h = h @ params[2 * i].T + params[2 * i + 1]
            if i < 2:
                h = np.maximum(h, 0)
            activations.append(h)
        shifted = h - h.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        _ = -log_probs[np.arange(len(yb)), yb].mean()
        grad = np.exp(log_probs)
        grad[np.arange(len(yb)), yb] -= 1
        grad /= len(yb)
        grads = [None] * 6
        for i in range(2, -1, -1):
            grads[2 * i] = grad.T @ activations[i]
            grads[2 * i + 1] = grad.sum(axis=0)
            if i > 0:
                grad = (grad @ params[2 * i]) * (activations[i] > 0)
        step += 1
        for p, g, m, v in zip(params, grads, moments, squares):
            m *= betas[0]
            m += (1 - betas[0]) * g
            v *= betas[1]
            v += (1 - betas[1]) * g * g
            denominator = np.sqrt(v) / np.sqrt(1 - betas[1] ** step) + eps
            p -= (lr / (1 - betas[0] ** step)) * m / denominator
    return params


def mlp_tinygrad(loader, params, lr=1e-3, compiled=False):
    """A run: one epoch over ``loader`` (compiled: one plan for the full batches, one for the
    last, shorter one); the model and Adam's state carry over from run to run."""
    model = nn.MLP([64, 128, 64, 10])
    load_parameters(model, params)
    step = training_step(model, optim.Adam(model.parameters(), lr=lr),
                         lambda xb, yb: F.cross_entropy(model(xb), yb), compiled)
    return epoch_of(step, loader)


def mlp_torch(loader, params, lr=1e-3):
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        for parameter, value in zip(model.parameters(), params):
            parameter.copy_(torch.from_numpy(value))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for xb, yb in loader:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    return model


# ---- 4: micrograd's moons demo, vectorised -----------------------------------------------------
def moons() -> tuple:
    """100 points of two interleaved half-moons, labels -1 / +1 as a (100, 1) column."""
    from sklearn.datasets import make_moons
    X, y = make_moons(n_samples=100, noise=0.1, random_state=1)
    return X.astype(np.float32), (2 * y - 1).astype(np.float32).reshape(-1, 1)


def moons_loss(scores, y, parameters, alpha=1e-4):
    """Mean hinge loss ``relu(1 - y * score)`` plus ``alpha`` times the sum of squared parameters
    (micrograd's demo); works on Values and on torch tensors alike."""
    return (1 - y * scores).relu().mean() + alpha * sum((p * p).sum() for p in parameters)


def moons_numpy(X, y, params, lr=0.1, alpha=1e-4):
    params = [p.copy() for p in params]
    n = len(X)
    for _ in range(MOONS_STEPS):
        activations, h = [X], X
        for i in range(3):
            h = h @ params[2 * i].T + params[2 * i + 1]
            if i < 2:
                h = np.maximum(h, 0)
            activations.append(h)
        margins = 1 - y * h
        _ = np.maximum(margins, 0).mean() + alpha * sum((p * p).sum() for p in params)
        grad = -y * (margins > 0) / n
        grads = [None] * 6
        for i in range(2, -1, -1):
            grads[2 * i] = grad.T @ activations[i]
            grads[2 * i + 1] = grad.sum(axis=0)
            if i > 0:
                grad = (grad @ params[2 * i]) * (activations[i] > 0)
        for p, g in zip(params, grads):
            p -= lr * (g + (2 * alpha) * p)
    return params


def moons_tinygrad(X, y, params, lr=0.1, compiled=False):
    """A run: ``MOONS_STEPS`` full-batch steps from ``params``."""
    model = nn.MLP([2, 16, 16, 1])
    step = training_step(model, optim.SGD(model.parameters(), lr=lr),
                         lambda xb, yb: moons_loss(model(xb), yb, model.parameters()), compiled)

    def run() -> None:
        load_parameters(model, params)
        for _ in range(MOONS_STEPS):
            step(X, y)
    return run


def moons_torch(X, y, params, lr=0.1):
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
                                torch.nn.ReLU(), torch.nn.Linear(16, 1))
    with torch.no_grad():
        for parameter, value in zip(model.parameters(), params):
            parameter.copy_(torch.from_numpy(value))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(MOONS_STEPS):
        optimizer.zero_grad()
        moons_loss(model(inputs), targets, model.parameters()).backward()
        optimizer.step()
    return model


def digits() -> tuple:
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def workloads() -> list:
    rng = np.random.default_rng(0)
    X_lin = rng.standard_normal((10_000, 20)).astype(np.float32)
    y_lin = (X_lin @ rng.standard_normal((20, 1)) + 0.5).astype(np.float32)
    w0, b0 = np.zeros((1, 20), np.float32), np.zeros(1, np.float32)

    X_log = rng.standard_normal((10_000, 30)).astype(np.float32)
    y_log = (X_log @ rng.standard_normal((30, 1)) > 0).astype(np.float32)
    log_loader = tl.data.DataLoader(tl.data.TensorDataset(X_log, y_log), batch_size=256, shuffle=True)
    w1 = np.zeros((1, 30), np.float32)

    X_dig, y_dig = digits()
    dig_loader = tl.data.DataLoader(tl.data.TensorDataset(X_dig, y_dig), batch_size=64, shuffle=True)
    params = init_mlp(rng)
    X_moons, y_moons = moons()
    moons_params = init_mlp(rng, sizes=(2, 16, 16, 1))
    runs = [
        ('linear regression GD', {
            'numpy': lambda: linear_numpy(X_lin, y_lin, w0, b0),
            'tinygrad_ls': linear_tinygrad(X_lin, y_lin, w0, b0),
            'compiled': linear_tinygrad(X_lin, y_lin, w0, b0, compiled=True)}),
        ('logistic regression epoch', {
            'numpy': lambda: logistic_numpy(X_log, y_log, w1, b0, rng),
            'tinygrad_ls': logistic_tinygrad(log_loader),
            'compiled': logistic_tinygrad(log_loader, compiled=True)}),
        ('digits MLP epoch', {
            'numpy': lambda: mlp_numpy(X_dig, y_dig, params, rng),
            'tinygrad_ls': mlp_tinygrad(dig_loader, params),
            'compiled': mlp_tinygrad(dig_loader, params, compiled=True)}),
        ('moons MLP step', {
            'numpy': lambda: moons_numpy(X_moons, y_moons, moons_params),
            'tinygrad_ls': moons_tinygrad(X_moons, y_moons, moons_params),
            'compiled': moons_tinygrad(X_moons, y_moons, moons_params, compiled=True)}),
    ]
    if torch is not None:
        from torch.utils.data import DataLoader, TensorDataset
        torch_log = DataLoader(TensorDataset(torch.from_numpy(X_log), torch.from_numpy(y_log)),
                               batch_size=256, shuffle=True)
        torch_dig = DataLoader(TensorDataset(torch.from_numpy(X_dig), torch.from_numpy(y_dig)),
                               batch_size=64, shuffle=True)
        runs[0][1]['torch'] = lambda: linear_torch(X_lin, y_lin, w0, b0)
        runs[1][1]['torch'] = lambda: logistic_torch(torch_log)
        runs[2][1]['torch'] = lambda: mlp_torch(torch_dig, params)
        runs[3][1]['torch'] = lambda: moons_torch(X_moons, y_moons, moons_params)
    return runs


def main() -> None:
    args, versions = parse_arguments(__doc__, torch, repeats=9, quick=False)
    units = {'moons MLP step': ('us', 1e6 / MOONS_STEPS)}  # per step; the others per run
    table = [(name, *units.get(name, ('ms', 1e3)), runs, TARGETS[name], COMPILED_TARGETS[name])
             for name, runs in workloads()]
    print_table(table, args.repeats, versions=versions)


if __name__ == '__main__':
    main()
