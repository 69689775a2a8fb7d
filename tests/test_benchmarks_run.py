"""The benchmark scripts still run (smoke test at tiny settings; timings are never asserted)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / 'benchmarks'


@pytest.mark.parametrize('arguments, ratio', [(['engine.py', '--quick', '--repeats', '1'], 'ours/np'),
                                              (['training.py', '--repeats', '1'], 'ours/np'),
                                              (['layers.py', '--quick', '--repeats', '1'], 'ours/torch'),
                                              (['gpt.py', '--quick', '--repeats', '1'], 'ours/torch')],
                         ids=lambda a: a[0] if isinstance(a, list) else '')
def test_benchmark_script_runs_and_prints_its_table(arguments, ratio):
    result = subprocess.run([sys.executable, *arguments], cwd=BENCHMARKS, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert ratio in result.stdout and 'tinygrad_ls' in result.stdout
