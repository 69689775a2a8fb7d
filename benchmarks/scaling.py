"""Backward time against graph size: deep chains, wide fan-in, wide fan-out.

    python benchmarks/scaling.py [--repeats 5] [--quick]

For each shape of graph and each size (1 000, 10 000, 100 000 nodes) the graph is built
(not timed), then ``backward()`` is timed; the table shows the median over ``--repeats``
builds, the time per node and that per-node time relative to the smallest size. Linear
scaling shows as a per-node time that stays flat (a ratio near 1) while the size grows 100x.
Where PyTorch is installed the same graphs are built with it and timed in turn with ours,
and the last column is our backward time over PyTorch's.

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
from dataclasses import dataclass
from typing import Any

if __name__ == '__main__':  # one BLAS thread, as in the other benchmarks
    for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ.setdefault(variable, '1')

import numpy as np

import tinygrad_ls as tl
from tinygrad_ls import Value


@dataclass(frozen=True)
class Backend:
    """How to make a float64 scalar leaf, stack scalars and make ones, in one library."""
    leaf: Callable[[float], Any]
    stack: Callable[[list], Any]
    ones: Callable[[int], Any]


OURS = Backend(leaf=lambda value: Value(np.float64(value), requires_grad=True),
               stack=tl.stack, ones=np.ones)


def torch_backend() -> Backend | None:
    """The same graphs in PyTorch eager (CPU, float64, one thread), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return Backend(leaf=lambda value: torch.tensor(value, dtype=torch.float64, requires_grad=True),
                   stack=torch.stack, ones=lambda size: torch.ones(size, dtype=torch.float64))


def chain(size: int, lib: Backend):
    y = lib.leaf(0.75)
    for _ in range(size // 4):
        y = (y * 2.0 + 1.0) * 0.5 - 0.5
    return y


def fan_in(size: int, lib: Backend):
    # n leaves and 3 ops: the work is in the stack's n input gradients and the n leaves
    leaves = [lib.leaf(i) for i in range(size)]
    return (lib.stack(leaves) * lib.ones(size)).sum()


def fan_out(size: int, lib: Backend):
    x = lib.leaf(2.0)
    return lib.stack([x * float(i) for i in range(size)]).sum()


def ladder(size: int, lib: Backend):
    y = lib.leaf(3.0)
    for _ in range(size // 3):
        y = y * 0.5 + y * 0.5
    return y


WORKLOADS: dict[str, Callable[[int, Backend], Any]] = {
    'chain': chain, 'fan-in': fan_in, 'fan-out': fan_out, 'ladder': ladder}


def time_backward(build: Callable[[int, Backend], Any], size: int, repeats: int,
                  backends: dict[str, Backend]) -> dict[str, float]:
    """Median seconds of ``backward()`` on freshly built graphs of ``size`` nodes, for each
    backend; the backends take turns within each repeat so that noise hits them alike."""
    samples: dict[str, list] = {name: [] for name in backends}
    for _ in range(repeats):
        for name, lib in backends.items():
            root = build(size, lib)
            start = time.perf_counter()
            root.backward()
            samples[name].append(time.perf_counter() - start)
            del root
    return {name: statistics.median(times) for name, times in samples.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--quick', action='store_true', help='sizes 100, 1 000 and 10 000 (smoke test)')
    args = parser.parse_args(argv)
    sizes = [100, 1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    backends = {'ours': OURS}
    torch_lib = torch_backend()
    if torch_lib is not None:
        backends['torch'] = torch_lib

    note = '' if torch_lib is not None else ' (torch not installed: no torch column)'
    print(f"tinygrad_ls {tl.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}{note}")
    header = (f"{'graph':8s} {'nodes':>8s} {'backward ms':>12s} {'us/node':>8s} {'vs smallest':>12s} "
              f"{'torch ms':>9s} {'ours/torch':>11s}")
    print(header)
    print('-' * len(header))
    for name, build in WORKLOADS.items():
        smallest = None
        for size in sizes:
            seconds = time_backward(build, size, args.repeats, backends)
            per_node = seconds['ours'] / size * 1e6
            smallest = smallest or per_node
            torch_ms, versus = '-', '-'
            if 'torch' in seconds:
                torch_ms = f"{seconds['torch'] * 1e3:.2f}"
                versus = f"{seconds['ours'] / seconds['torch']:.2f}x"
            print(f"{name:8s} {size:>8d} {seconds['ours'] * 1e3:>12.2f} {per_node:>8.2f} "
                  f"{per_node / smallest:>11.2f}x {torch_ms:>9s} {versus:>11s}", flush=True)


if __name__ == '__main__':
    main()
