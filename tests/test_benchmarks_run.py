"""The benchmark scripts still run (smoke test at tiny settings; timings are never asserted)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import skip_without

BENCHMARKS = Path(__file__).resolve().parent.parent / 'benchmarks'


@pytest.mark.parametrize('arguments, columns', [
    (['engine.py', '--quick', '--repeats', '1'], ['tinygrad_ls', 'ours/np', 'compiled', 'comp/np']),
    (['training.py', '--repeats', '1'], ['tinygrad_ls', 'ours/np', 'compiled', 'comp/np', 'moons MLP step']),
    (['layers.py', '--quick', '--repeats', '1'], ['tinygrad_ls', 'ours/torch']),
    (['gpt.py', '--quick', '--repeats', '1'], ['tinygrad_ls', 'ours/torch']),
    (['compile_memory.py', '--quick'], ['record s', 'replay s', 'plan held MB', 'MLP 784-512-512-10'])],
    ids=lambda a: a[0] if isinstance(a, list) and a[0].endswith('.py') else '')
def test_benchmark_script_runs_and_prints_its_table(arguments, columns):
    result = subprocess.run([sys.executable, *arguments], cwd=BENCHMARKS, capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        skip_without(f"benchmarks/{arguments[0]}", result.stderr)
    assert result.returncode == 0, result.stderr
    for column in columns:
        assert column in result.stdout, (column, result.stdout)
    assert 'CompileWarning' not in result.stderr, result.stderr  # every compiled step replays
