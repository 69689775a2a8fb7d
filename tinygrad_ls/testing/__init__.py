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

from .. import lazy

__all__ = ['assert_close', 'check_op', 'CheckReport', 'Check', 'strategies']

# Each imported on first use: the pytest plugin (``testing/plugin.py``) is loaded by every
# pytest run in an environment that has tinygrad_ls, and imports this package first.
__getattr__, __dir__ = lazy.attributes(__name__, globals(), {
    'assert_close': '.compare', 'check_op': '.battery', 'CheckReport': '.battery',
    'Check': '.battery_checks', 'strategies': '.strategies', 'compare': '.compare', 'battery': '.battery',
    'battery_checks': '.battery_checks', 'diagnosis': '.diagnosis', 'plugin': '.plugin',
})
