"""Backward time against graph size: deep chains, wide fan-in, wide fan-out.

    python benchmarks/scaling.py [--repeats 5] [--quick]

For each shape of graph and each size (1 000, 10 000, 100 000 nodes) the graph is built
(not timed), then ``backward()`` is timed; the table shows the median over ``--repeats``
builds, the time per node and that per-node time relative to the smallest size. Linear
scaling shows as a per-node time that stays flat (a ratio near 1) while the size grows 100x.

- chain:   ``y = (y * 2 + 1) * 0.5 - 0.5`` repeated: one long path of scalar ops;
- fan-in:  n scalar leaves -> ``tl.stack`` -> ``* w`` -> ``sum``: one op with n inputs;
- fan-out: one leaf used by n ops (``x * i``), joined by ``tl.stack(...).sum()``;
- ladder:  ``y = y * 0.5 + y * 0.5`` repeated: every node used twice (2**n paths).

``tests/test_scaling.py`` checks the same graphs by counting the engine's work, not by timing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

if __name__ == '__main__':  # one BLAS thread, as in the other benchmarks
    for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ.setdefault(variable, '1')

import numpy as np

import tinygrad_ls as tl
from tinygrad_ls import Value


def leaf(value: float) -> Value:
    return Value(np.float64(value), requires_grad=True)


def chain(size: int) -> Value:
    y = leaf(0.75)
    for _ in range(size // 4):
        y = (y * 2.0 + 1.0) * 0.5 - 0.5
    return y


def fan_in(size: int) -> Value:
    # n leaves and 3 ops: the work is in the stack's n input gradients and the n leaves
    leaves = [leaf(i) for i in range(size)]
    return (tl.stack(leaves) * np.ones(size)).sum()


def fan_out(size: int) -> Value:
    x = leaf(2.0)
    return tl.stack([x * float(i) for i in range(size)]).sum()


def ladder(size: int) -> Value:
    y = leaf(3.0)
    for _ in range(size // 3):
        y = y * 0.5 + y * 0.5
    return y


WORKLOADS: dict[str, Callable[[int], Value]] = {
    'chain': chain, 'fan-in': fan_in, 'fan-out': fan_out, 'ladder': ladder}


def time_backward(build: Callable[[int], Value], size: int, repeats: int) -> float:
    """Median seconds of ``backward()`` on freshly built graphs of ``size`` nodes."""
    samples = []
    for _ in range(repeats):
        root = build(size)
        start = time.perf_counter()
        root.backward()
        samples.append(time.perf_counter() - start)
        del root
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--quick', action='store_true', help='sizes 100, 1 000 and 10 000 (smoke test)')
    args = parser.parse_args(argv)
    sizes = [100, 1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]

    print(f"tinygrad_ls {tl.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    header = f"{'graph':8s} {'nodes':>8s} {'backward ms':>12s} {'us/node':>8s} {'vs smallest':>12s}"
    print(header)
    print('-' * len(header))
    for name, build in WORKLOADS.items():
        smallest = None
        for size in sizes:
            seconds = time_backward(build, size, args.repeats)
            per_node = seconds / size * 1e6
            smallest = smallest or per_node
            ratio = per_node / smallest
            print(f"{name:8s} {size:>8d} {seconds * 1e3:>12.2f} {per_node:>8.2f} {ratio:>11.2f}x", flush=True)


if __name__ == '__main__':
    main()
