"""What every benchmark here shares: interleaved timing and the table of ratios."""
from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable


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
