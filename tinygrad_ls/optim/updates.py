"""In-place array helpers shared by the update rules of several optimizers."""
from __future__ import annotations

import numpy as np


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, scratch: np.ndarray | None = None) -> None:
    """In place ``start += weight * (end - start)``, written as PyTorch's ``lerp_`` kernel
    writes it (the form chosen by ``|weight| < 0.5`` keeps the rounding error small).
    ``scratch``: an array of ``start``'s shape to compute in, instead of a new one."""
    if scratch is None:
        scratch = np.subtract(end, start)
    else:
        np.subtract(end, start, out=scratch, casting='unsafe')
    if abs(weight) < 0.5:
        scratch *= weight
        start += scratch
    else:
        scratch *= 1.0 - weight
        np.subtract(end, scratch, out=start, casting='unsafe')
