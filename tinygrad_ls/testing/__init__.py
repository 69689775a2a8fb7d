"""Tools for testing differentiable code, in users' test suites as much as ours.

- ``assert_close(actual, expected, rtol=None, atol=None)``: elementwise comparison with
  ``torch.testing.assert_close``'s dtype-aware default tolerances and a message that says
  where and by how much the values differ.
- ``check_op(fn, *example_inputs, ...)``: a battery of checks for a custom op (gradients,
  second derivatives, broadcasting, edge shapes, float32, no_grad, in-place safety, gradient
  shapes, accumulation) returning a ``CheckReport`` of ``Check`` rows.
- ``strategies``: hypothesis strategies, imported on first use (``import tinygrad_ls.testing``
  does not import hypothesis).
"""
from __future__ import annotations

from .battery import CheckReport, check_op
from .checks import Check
from .compare import assert_close

__all__ = ['assert_close', 'check_op', 'CheckReport', 'Check', 'strategies']


def __getattr__(name: str):
    if name == 'strategies':
        import importlib
        return importlib.import_module('.strategies', __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
