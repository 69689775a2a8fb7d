"""``tl.compile``: record a step once, replay it as straight-line NumPy code.

The first call of ``tl.compile(fn)`` for a kind of arguments runs ``fn`` eagerly under a
``Tracer`` (``tracer.py``, ``sweep.py``), the tape the library reports to (``tracing.py``),
which writes down what it did — each op's ``forward``, every step of the one backward sweep,
the calls of optimizers and schedulers — as statements of a Python function with no Values,
no graph and no heap (``code.py``), and notes what Python state it depended on
(``guards.py``). Later calls with the same kind of arguments replay that function on the new
data (``plan.py``, ``compiled.py``): the same NumPy calls in the same order, so the numbers
are bit-identical to eager ones. What a replay could not redo (Python reading the step's
numbers, ``.grad`` touched by hand, NumPy random draws, ``tl.grad``) makes those calls run
eagerly, after one ``CompileWarning``. docs/compile.md says exactly what is guarded.

``tl.compiler.eager(function)`` marks a function to be called at every replay rather than
looked into (logging, checks on the loss, anything that reads numbers out of Values).
"""

from __future__ import annotations

from collections.abc import Callable

from ..tracing import replayed
from .check import CompileMismatch
from .compiled import Compiled, CompileWarning
from .plan import Plan


def compile(fn: Callable | None = None, check: int = 0):  # noqa: A001 (the API's name: tl.compile)
    """``fn`` (a function or a Module) recorded at its first call for each kind of arguments
    and replayed afterwards; ``check=N`` runs eager beside the replay for the first N calls
    and raises naming the first op that differs. Usable as ``@tl.compile`` and
    ``@tl.compile(check=2)``."""
    if fn is None:
        return lambda function: Compiled(function, check)
    return Compiled(fn, check)


def eager(function: Callable) -> Callable:
    """``function`` called again at every replay of a compiled function that calls it (with
    the replay's Values), instead of being recorded: for Python that reads numbers out of
    Values (logging, a check of the loss) or that a plan could not replay."""
    return replayed(function)


__all__ = ['compile', 'eager', 'Compiled', 'CompileWarning', 'CompileMismatch', 'Plan']
