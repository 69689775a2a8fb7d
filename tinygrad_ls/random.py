"""The library's one random generator, seeded by ``manual_seed``."""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed every random draw of the library (init, randn/rand, Dropout, DataLoader shuffling)."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The generator all library code draws from."""
    return _generator
