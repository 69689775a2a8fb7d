"""Ops that draw from the library's generator: ``dropout`` and the random creation functions
(``randn``, ``rand``, ``randint``).

Each draw happens inside ``forward``, from ``generator()`` looked up at every call
(``manual_seed`` replaces the generator). ``tl.compile`` records a step once and replays its
ops' ``forward``; a mask or sample drawn beside the op and passed to it as a constant would be
frozen at the recording, while a draw in ``forward`` is redrawn at every replay, exactly as
eager code would draw it.

The creation ops take no inputs: ``Function.apply()`` with no arguments runs ``forward()`` and
records nothing (the result is a leaf; ``requires_grad`` is set on it afterwards).
"""
from __future__ import annotations

import numpy as np

from ..random import generator
from .base import Function


class Dropout(Function):
    """Inverted dropout of ``x``: ``x * scale`` with ``scale = keep / (1 - p)`` in the input's
    dtype, ``keep = generator().random(shape) >= p`` drawn anew at every forward (all zeros,
    without a draw, when ``p == 1``). Saves ``scale``: the gradient is ``grad * scale``."""
    name = 'dropout'
    saves_inputs = False

    def __init__(self, p: float = 0.5):
        self.p = p

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x):
        if self.p == 1:
            self.scale = np.zeros(x.shape, dtype=x.dtype)
        else:
            keep = generator().random(x.shape) >= self.p
            self.scale = (keep * (1.0 / (1.0 - self.p))).astype(x.dtype)
        return x * self.scale

    def backward(self, grad, out, x):
        return (grad * self.scale,)  # an ndarray or (create_graph) a recorded Value product


class _Draw(Function):
    """A random array of ``shape`` cast to ``dtype``, drawn in ``forward`` (no inputs)."""
    saves_inputs = False

    def __init__(self, shape: tuple, dtype):
        self.shape, self.dtype = tuple(shape), dtype

    def extra_repr(self) -> str:
        return f"shape={self.shape}, dtype={np.dtype(self.dtype)}"

    def backward(self, grad, out):
        return ()


class Randn(_Draw):
    """Standard normal samples: ``generator().standard_normal(shape).astype(dtype)``."""
    name = 'randn'

    def forward(self):
        return generator().standard_normal(self.shape).astype(self.dtype)


class Rand(_Draw):
    """Uniform samples on [0, 1): ``generator().random(shape).astype(dtype)``."""
    name = 'rand'

    def forward(self):
        return generator().random(self.shape).astype(self.dtype)


class Randint(_Draw):
    """Integers uniform on ``[low, high)``: ``generator().integers(low, high, size=shape)``
    cast to ``dtype``."""
    name = 'randint'

    def __init__(self, low, high, shape: tuple, dtype):
        super().__init__(shape, dtype)
        self.low, self.high = low, high

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}, {super().extra_repr()}"

    def forward(self):
        return generator().integers(self.low, self.high, size=self.shape).astype(self.dtype)
