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

    ``workloads``: tuples ``(name, unit, scale, runs, target)`` or ``(name, unit, scale, runs,
    target, compiled_target)`` where ``runs`` maps 'numpy', 'tinygrad_ls' and optionally
    'compiled' (the same step under ``tl.compile``) and 'torch' to callables, ``scale`` turns
    seconds into ``unit``, ``target`` is the ratio eager tinygrad_ls aims to stay under and
    ``compiled_target`` the one compiled tinygrad_ls aims to stay under. When any workload has
    a 'compiled' run, the table gains the columns 'compiled' (its time), 'comp/np' (its ratio)
    and 'comp tgt' (its target); '-' where a workload has none.
    """
    with_compiled = any('compiled' in workload[3] for workload in workloads)
    columns = [('workload', 26), ('unit', 6), ('numpy', 10), ('tinygrad_ls', 12)]
    columns += [('compiled', 10)] if with_compiled else []
    columns += [('torch', 10), ('ours/np', 8)]
    columns += [('comp/np', 8)] if with_compiled else []
    columns += [('torch/np', 9), ('target', 7)]
    columns += [('comp tgt', 9)] if with_compiled else []
    print(versions, file=file)
    header = _row({title: title for title, _ in columns}, columns)
    print(header, file=file)
    print('-' * len(header), file=file)
    for name, unit, scale, runs, target, *compiled_target in workloads:
        medians = interleaved(runs, repeats)

        cells = {'workload': name, 'unit': unit, 'target': f"{target:.2f}x",
                 'comp tgt': f"{compiled_target[0]:.2f}x" if compiled_target else '-'}
        for key, ratio in (('numpy', None), ('tinygrad_ls', 'ours/np'), ('compiled', 'comp/np'),
                           ('torch', 'torch/np')):
            cells[key] = f"{medians[key] * scale:.3f}" if key in medians else '-'
            if ratio is not None:
                cells[ratio] = f"{medians[key] / medians['numpy']:.2f}x" if key in medians else '-'
        print(_row(cells, columns), file=file, flush=True)


def _row(cells: dict, columns: list) -> str:
    """One line of the table: the workload name left-aligned, every other cell right-aligned."""
    return ' '.join(f"{cells[title]:{'<' if title == 'workload' else '>'}{width}s}"
                    for title, width in columns)
