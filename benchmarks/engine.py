"""Engine overhead: tinygrad_ls against the same math written by hand in NumPy, and PyTorch eager.

    python benchmarks/engine.py [--threads 1] [--repeats 15] [--quick]

Three workloads, each forward + backward, timed interleaved (one run of each implementation
in turn, repeated) so that machine noise hits all of them alike; the table shows the median
time and the ratio to hand-written NumPy of tinygrad_ls run eagerly and compiled
(``tl.compile``: recorded at the warm-up call, replayed in the timed ones):

1. a chain of 300 elementwise ops (mul, add, tanh) on shape (4,): time per op;
2. a 784-512-512-10 ReLU MLP with softmax cross-entropy at batch 256, written with raw Values;
3. a chain of 100 000 scalar ops (mul, add, tanh), forward + backward.

NumPy's BLAS and PyTorch run with the same number of threads (``--threads``).
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

try:
    import torch
except ImportError:
    torch = None

TARGETS = {'elementwise chain': 3.0, 'MLP 784-512-512-10': 1.05, 'scalar chain 100k': 60.0}
COMPILED_TARGETS = {'elementwise chain': 1.5, 'MLP 784-512-512-10': 1.02, 'scalar chain 100k': 20.0}


# ---- 1 and 3: chains of mul, add, tanh ----------------------------------------------------------
def chain_tinygrad(x0: np.ndarray, w0: np.ndarray, steps: int) -> None:
    chain_step(tl.Value(x0, requires_grad=True), tl.Value(w0, requires_grad=True), steps)


def chain_step(x: tl.Value, w: tl.Value, steps: int) -> None:
    """The chain's forward and backward on the Values ``x`` and ``w`` (their ``.grad`` filled)."""
    h = x
    for _ in range(steps):
        h = (h * w + w).tanh()
    h.sum().backward()


def compiled_chain(steps: int) -> tl.compiler.Compiled:
    """``chain_step`` compiled: called with x and w as Values that require grad, it leaves
    their gradients in ``x.grad`` and ``w.grad``."""
    return tl.compile(lambda x, w: chain_step(x, w, steps))


def chain_numpy(x0: np.ndarray, w0: np.ndarray, steps: int) -> None:
    h, saved = x0, []
    for _ in range(steps):
        saved.append(h)
        h = np.tanh(h * w0 + w0)
        saved.append(h)
    grad, grad_w = np.ones_like(h), np.zeros_like(w0)
    for i in range(steps - 1, -1, -1):
        grad = grad * (1 - saved[2 * i + 1] * saved[2 * i + 1])
        grad_w = grad_w + grad
        grad_w = grad_w + grad * saved[2 * i]
        grad = grad * w0
    return grad, grad_w


def chain_torch(x0: np.ndarray, w0: np.ndarray, steps: int) -> None:
    x = torch.tensor(x0, requires_grad=True)
    w = torch.tensor(w0, requires_grad=True)
    h = x
    for _ in range(steps):
        h = (h * w + w).tanh()
    h.sum().backward()


# ---- 2: MLP with softmax cross-entropy ----------------------------------------------------------
def make_mlp_data(rng: np.random.Generator, batch: int = 256, sizes=(784, 512, 512, 10)):
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return x, y, params


def mlp_tinygrad(x: np.ndarray, y: np.ndarray, params: list) -> None:
    mlp_step(x, y, [tl.Value(p, requires_grad=True) for p in params])


def mlp_step(x: np.ndarray, y: np.ndarray, values: list) -> None:
    """The MLP's forward, softmax cross-entropy and backward with the parameter Values ``values``."""
    h = tl.Value(x)
    for i in range(0, len(values), 2):
        h = h @ values[i].T + values[i + 1]
        if i + 2 < len(values):
            h = h.relu()
    loss = -h.log_softmax(axis=-1)[np.arange(len(y)), y].mean()
    loss.backward()


def compiled_mlp(params: list) -> tuple:
    """``mlp_step`` compiled, with the parameters as Values made once: returns the compiled
    step ``(x, y) -> None`` and the Values, whose ``.grad`` each step fills (accumulating, as
    eager backward would, so the caller clears them)."""
    values = [tl.Value(p, requires_grad=True) for p in params]
    return tl.compile(lambda x, y: mlp_step(x, y, values)), values


def mlp_numpy(x: np.ndarray, y: np.ndarray, params: list) -> list:
    activations, h = [x], x
    layers = len(params) // 2
    for i in range(layers):
        h = h @ params[2 * i].T + params[2 * i + 1]
        if i + 1 < layers:
            h = np.maximum(h, 0)
        activations.append(h)
    shifted = h - h.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    _ = -log_probs[np.arange(len(y)), y].mean()
    grad = np.exp(log_probs)
    grad[np.arange(len(y)), y] -= 1
    grad /= len(y)
    grads = []
    for i in range(layers - 1, -1, -1):
        grads.append(grad.T @ activations[i])
        grads.append(grad.sum(axis=0))
        if i > 0:
            grad = (grad @ params[2 * i]) * (activations[i] > 0)
    return grads


def mlp_torch(x: np.ndarray, y: np.ndarray, params: list) -> None:
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
    h = torch.from_numpy(x)
    for i in range(0, len(tensors), 2):
        h = h @ tensors[i].T + tensors[i + 1]
        if i + 2 < len(tensors):
            h = h.relu()
    loss = torch.nn.functional.cross_entropy(h, torch.from_numpy(y))
    loss.backward()


def workloads(quick: bool) -> list:
    rng = np.random.default_rng(0)
    x4 = rng.standard_normal(4).astype(np.float32)
    w4 = (0.5 * rng.standard_normal(4)).astype(np.float32)
    x0, w0 = np.array(0.3, np.float32), np.array(0.7, np.float32)
    # Hand-written NumPy on scalars uses NumPy scalars, its fastest form (0-d arrays are ~2.5x slower).
    x0_scalar, w0_scalar = np.float32(0.3), np.float32(0.7)
    x, y, params = make_mlp_data(rng, batch=64 if quick else 256)
    long_steps = 3_000 if quick else 100_000 // 3
    chain_short, chain_long = compiled_chain(100), compiled_chain(long_steps)
    mlp_compiled, mlp_values = compiled_mlp(params)

    def mlp_compiled_step() -> None:
        for value in mlp_values:  # fresh gradients each step, as eager's fresh Values have
            value.grad = None
        mlp_compiled(x, y)

    def leaf(array: np.ndarray) -> tl.Value:  # fresh each call, as chain_tinygrad's are
        return tl.Value(array, requires_grad=True)

    result = [
        ('elementwise chain', 300, 'us/op', {
            'numpy': lambda: chain_numpy(x4, w4, 100),
            'tinygrad_ls': lambda: chain_tinygrad(x4, w4, 100),
            'compiled': lambda: chain_short(leaf(x4), leaf(w4)),
            'torch': lambda: chain_torch(x4, w4, 100)}),
        ('MLP 784-512-512-10', 1, 'ms', {
            'numpy': lambda: mlp_numpy(x, y, params),
            'tinygrad_ls': lambda: mlp_tinygrad(x, y, params),
            'compiled': mlp_compiled_step,
            'torch': lambda: mlp_torch(x, y, params)}),
        ('scalar chain 100k', 1, 'ms', {
            'numpy': lambda: chain_numpy(x0_scalar, w0_scalar, long_steps),
            'tinygrad_ls': lambda: chain_tinygrad(x0, w0, long_steps),
            'compiled': lambda: chain_long(leaf(x0), leaf(w0)),
            'torch': lambda: chain_torch(x0, w0, long_steps)}),
    ]
    if torch is None:
        for *_, runs in result:
            runs.pop('torch')
    return result


def main() -> None:
    args, versions = parse_arguments(__doc__, torch, repeats=15)
    table = [(name, unit, 1e6 / ops if unit == 'us/op' else 1e3, runs, TARGETS[name], COMPILED_TARGETS[name])
             for name, ops, unit, runs in workloads(args.quick)]
    print_table(table, 3 if args.quick else args.repeats, versions=versions)


if __name__ == '__main__':
    main()
