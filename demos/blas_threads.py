"""The BLAS thread count of the demos: one thread, unless the environment variable
``TL_THREADS`` says otherwise.

The demos multiply small matrices (a GPT with 128-wide layers, 8x8 digits), where NumPy's
default of one BLAS thread per core gains little and, on a machine busy with other work, loses
a lot: a GPT step was 6x slower under load with the default threading (PyTorch's 2.5x). The
benchmarks do the same (``--threads``, default 1). ``limit()`` caps NumPy's BLAS pools with
threadpoolctl (installed with scikit-learn, the demos' extra) and returns the count, or None
where threadpoolctl is missing (the defaults stay).
"""
from __future__ import annotations

import os


def limit(default: int = 1, say: bool = True) -> int | None:
    count = int(os.environ.get('TL_THREADS', default))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    threadpool_limits(limits=count, user_api='blas')
    if say:
        print(f"BLAS threads: {count} (set TL_THREADS=N to change)")
    return count
