"""What ``tl.compile`` costs: the recording call's time and memory, and the memory a plan keeps.

    python benchmarks/compile_memory.py [--threads 1] [--repeats 5] [--quick]

Two training steps (zero_grad, forward, cross-entropy, backward, optimizer step):

1. the digits MLP 64-128-64-10 at batch 64 with Adam;
2. an MLP 784-512-512-10 at batch 256 with SGD.

For each, the table shows, in seconds, the median of ``--repeats`` recording calls (the first
call of a fresh ``tl.compile`` of the step), of eager steps and of replays, and in MB:

* ``peak rec`` / ``peak eager``: the tracemalloc peak of a recording call and of an eager step,
  above what was allocated before the call;
* ``plan held``: what stays allocated after the recording call returns minus what stays after
  an eager step (the plan's code, op objects and constants: tracemalloc sees NumPy's
  allocations too);
* ``arrays``: of which the arrays the plan keeps as constants (the sum of their ``nbytes``;
  a plan reads the call's own arrays, it holds no input buffers).

The optimizer's state and the gradients exist before anything is measured (eager steps
first, one of them under tracemalloc), so they count in neither column. Timings run without tracemalloc.
"""
from __future__ import annotations

import gc
import os
import statistics
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # this folder, from anywhere
import threads  # noqa: E402,F401  (first: the BLAS thread count, before NumPy is imported)

# isort: split
import numpy as np
from common import parse_arguments  # noqa: E402

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

MB = 2 ** 20


def digits_step():
    """The digits MLP's step (Adam) and one batch of 64 digits."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    tl.manual_seed(0)
    model = nn.MLP([64, 128, 64, 10])
    return make_step(model, optim.Adam(model.parameters(), lr=1e-3)), (
        (X[:64] / 16.0).astype(np.float32), y[:64].astype(np.int64))


def large_mlp_step():
    """The 784-512-512-10 MLP's step (SGD) and one random batch of 256."""
    rng = np.random.default_rng(0)
    tl.manual_seed(0)
    model = nn.MLP([784, 512, 512, 10])
    return make_step(model, optim.SGD(model.parameters(), lr=0.01)), (
        rng.standard_normal((256, 784)).astype(np.float32), rng.integers(0, 10, 256))


def make_step(model: nn.Module, optimizer: optim.Optimizer):
    def step(x: np.ndarray, y: np.ndarray) -> tl.Value:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return step


def seconds(function, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def allocation(function) -> tuple[int, int]:
    """(peak, kept): bytes allocated at the peak of ``function()`` and still allocated after it
    returns (its result dropped), both above what was allocated before. Needs tracemalloc on."""
    gc.collect()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = function()
    del result
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    return peak - before, current - before


def measure(step, batch: tuple, repeats: int) -> dict:
    step(*batch)  # optimizer state, NumPy's caches
    eager = seconds(lambda: step(*batch), repeats)
    recordings = []
    for _ in range(repeats):
        compiled = tl.compile(step)
        recordings.append(seconds(lambda: compiled(*batch), 1))  # noqa: B023 (called right here)
    assert compiled.recordings == 1, compiled.recordings
    replay = seconds(lambda: compiled(*batch), repeats)
    assert compiled.recordings == 1, f"replays recorded again: {compiled.recordings} recordings"

    compiled = tl.compile(step)
    tracemalloc.start()
    try:
        step(*batch)  # under tracemalloc, so that the gradients it replaces are traced ones
        eager_peak, eager_kept = allocation(lambda: step(*batch))
        record_peak, record_kept = allocation(lambda: compiled(*batch))
    finally:
        tracemalloc.stop()
    plans = [plan for group in compiled.plans.values() for plan in group]
    return {'record': statistics.median(recordings), 'eager': eager, 'replay': replay,
            'peak rec': record_peak / MB, 'peak eager': eager_peak / MB,
            'plan held': (record_kept - eager_kept) / MB,
            'arrays': sum(array.nbytes for plan in plans for array in plan.code.constants.values()
                          if isinstance(array, np.ndarray)) / MB}


def main() -> None:
    args, versions = parse_arguments(__doc__, None, repeats=5)
    versions = versions.split(' torch=')[0]
    repeats = 1 if args.quick else args.repeats
    print(versions)
    header = (f"{'workload':30s} {'record s':>9s} {'eager s':>9s} {'replay s':>9s} {'rec/eager':>9s} "
              f"{'peak rec MB':>11s} {'peak eager MB':>13s} {'plan held MB':>12s} {'arrays MB':>10s}")
    print(header)
    print('-' * len(header))
    for name, make in (('digits MLP 64-128-64-10 Adam', digits_step),
                       ('MLP 784-512-512-10 SGD', large_mlp_step)):
        step, batch = make()
        row = measure(step, batch, repeats)
        print(f"{name:30s} {row['record']:>9.6f} {row['eager']:>9.6f} {row['replay']:>9.6f} "
              f"{row['record'] / row['eager']:>8.1f}x {row['peak rec']:>11.2f} {row['peak eager']:>13.2f} "
              f"{row['plan held']:>12.2f} {row['arrays']:>10.2f}", flush=True)


if __name__ == '__main__':
    main()
