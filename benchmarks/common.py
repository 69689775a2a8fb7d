"""What every benchmark here shares: interleaved timing and the table of ratios."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np


def parse_arguments(doc: str, torch, repeats: int, quick: bool = True) -> tuple[argparse.Namespace, str]:
    """The options every benchmark takes (``--threads``, ``--repeats``, and ``--quick`` when
    ``quick``); sets PyTorch's thread count to match. Returns the arguments and the versions
    line that heads the table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=repeats)
    if quick:
        parser.add_argument('--quick', action='store_true', help='small sizes, for a smoke test')
    args = parser.parse_args()
    if torch is not None:
        torch.set_num_threads(args.threads)
    versions = (f"threads={args.threads} numpy={np.__version__} "
                f"torch={torch.__version__ if torch is not None else 'not installed'}")
    return args, versions


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per run of each callable, timed in turn ``repeats`` times, so that
    machine noise hits every implementation alike."""
    for run in runs.values():  # warm-up
        run()
    times: dict[str, list] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(samples) for name, samples in times.items()}


def print_table(workloads: list, repeats: int, versions: str, file=sys.stdout) -> None:
    """Time each workload and print its medians and ratios to hand-written NumPy.

    ``workloads``: tuples ``(name, unit, scale, runs, target)`` where ``runs`` maps
    'numpy', 'tinygrad_ls' and optionally 'torch' to callables, ``scale`` turns seconds into
    ``unit`` and ``target`` is the ratio tinygrad_ls aims to stay under.
    """
    print(versions, file=file)
    header = (f"{'workload':26s} {'unit':>6s} {'numpy':>10s} {'tinygrad_ls':>12s} {'torch':>10s} "
              f"{'ours/np':>8s} {'torch/np':>9s} {'target':>7s}")
    print(header, file=file)
    print('-' * len(header), file=file)
    for name, unit, scale, runs, target in workloads:
        medians = interleaved(runs, repeats)
        shown = {key: f"{value * scale:.3f}" for key, value in medians.items()}
        torch_ratio = f"{medians['torch'] / medians['numpy']:.2f}x" if 'torch' in medians else '-'
        print(f"{name:26s} {unit:>6s} {shown['numpy']:>10s} {shown['tinygrad_ls']:>12s} "
              f"{shown.get('torch', '-'):>10s} {medians['tinygrad_ls'] / medians['numpy']:>7.2f}x "
              f"{torch_ratio:>9s} {target:>6.2f}x", file=file, flush=True)
