"""Imported by every benchmark before NumPy: the BLAS libraries read their thread count from
the environment when NumPy loads them, so ``--threads N`` (default 1) is put there first."""
from __future__ import annotations

import os
import sys

if 'numpy' not in sys.modules:  # too late otherwise (when a test imports a benchmark)
    count = sys.argv[sys.argv.index('--threads') + 1] if '--threads' in sys.argv[:-1] else '1'
    for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[variable] = count
