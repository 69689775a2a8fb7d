"""``check_op``: run a battery of checks on a differentiable function (a custom op's
``MyOp.apply``, or any function of Values) and report every result, not just the first failure.

The checks themselves live in ``battery_checks.py``, one function each.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from ..gradcheck import GradcheckError
from . import battery_checks as checks
from .battery_checks import Check, OpUnderTest


class CheckReport:
    """The outcome of ``check_op``: ``checks`` (a list of ``Check(name, passed, detail)``, in
    the order run), ``passed`` (no check failed; skipped ones do not count), ``failures`` and
    ``skipped`` (the Checks concerned), ``seconds`` (the time taken). ``str(report)`` is a
    table with one row per check."""

    def __init__(self, op_name: str, inputs: str, checks_run: list, seconds: float):
        self.op_name = op_name
        self.inputs = inputs
        self.checks = list(checks_run)
        self.seconds = seconds

    @property
    def passed(self) -> bool:
        return all(check.passed is not False for check in self.checks)

    @property
    def failures(self) -> list:
        return [check for check in self.checks if check.passed is False]

    @property
    def skipped(self) -> list:
        return [check for check in self.checks if check.passed is None]

    def __getitem__(self, name: str) -> Check:
        """The check called ``name`` (``report['float32']``)."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; checks: {[c.name for c in self.checks]}")

    def summary(self) -> str:
        passed = sum(check.passed is True for check in self.checks)
        # no time here: a report prints the same at every run (docs and doctests show it)
        return f"{passed} passed, {len(self.failures)} failed, {len(self.skipped)} skipped"

    def __str__(self) -> str:
        width = max(len('check'), *(len(check.name) for check in self.checks))
        indent = ' ' * (2 + width + 2 + 8)
        lines = [f"check_op({self.op_name}) on {self.inputs}: {self.summary()}",
                 f"  {'check':<{width}}  result  detail"]
        for check in self.checks:
            first, *rest = (check.detail or '').splitlines() or ['']
            lines.append(f"  {check.name:<{width}}  {check.status:<8}{first}")
            lines.extend(indent + line for line in rest)
        return '\n'.join(lines)

    def __repr__(self) -> str:
        return f"<CheckReport {self.op_name}: {self.summary()}>"


def check_op(fn: Callable, *example_inputs, second_order: bool = True, broadcasting: bool = True,
             float32: bool = True, seed: int = 0) -> CheckReport:
    """Check ``fn`` (any differentiable function of Values) on ``example_inputs`` and return
    a ``CheckReport``; raise ``GradcheckError`` listing every failed check (the report is
    attached as ``error.report``) if any fails.

    ``example_inputs`` are arrays, Values or numbers: float ones are differentiated (in
    float64; they also give shapes and the range of the random points), the others are
    passed as given. The checks, each skipped with a reason where it does not apply:

    1. ``first_derivatives``: ``gradcheck`` at the examples and 2 random points
       (``default_rng(seed)``, one-signed inputs keep their sign);
    2. ``second_derivatives``: ``gradgradcheck`` (unless ``second_order=False``);
    3. ``broadcasting``: gradcheck with one float input broadcast against the others (a
       leading dim dropped or a dim set to 1), where ``fn`` accepts the shapes (unless
       ``broadcasting=False``);
    4. ``edge_shapes``: gradcheck with 0-d and with size-1 float inputs, where ``fn`` accepts them;
    5. ``float32``: on float32 copies, outputs and gradients are float32 and close to the
       float64 ones (rtol 1e-4, atol 1e-5 x magnitude) (unless ``float32=False``);
    6. ``no_grad``: under ``tl.no_grad()`` the outputs record nothing;
    7. ``inputs_unchanged``: forward and backward do not modify any input in place;
    8. ``grad_shape_dtype``: each float input's ``.grad`` has its shape and dtype;
    9. ``repeated_backward``: two backward passes give exactly twice one pass's gradient.

    An error of ``fn`` on its own example inputs propagates unchanged.
    """
    start = time.perf_counter()
    op = OpUnderTest(fn, example_inputs, seed)
    battery = [
        ('first_derivatives', checks.check_first_derivatives, True),
        ('second_derivatives', checks.check_second_derivatives, second_order),
        ('broadcasting', checks.check_broadcasting, broadcasting),
        ('edge_shapes', checks.check_edge_shapes, True),
        ('float32', checks.check_float32, float32),
        ('no_grad', checks.check_no_grad, True),
        ('inputs_unchanged', checks.check_inputs_unchanged, True),
        ('grad_shape_dtype', checks.check_grad_shape_dtype, True),
        ('repeated_backward', checks.check_repeated_backward, True),
    ]
    flags = {'second_derivatives': 'second_order', 'broadcasting': 'broadcasting',
             'float32': 'float32'}
    results = [run(op) if enabled else Check(name, None, f"turned off ({flags[name]}=False)")
               for name, run, enabled in battery]
    inputs = ', '.join(f"{x.shape} float" if x is not None else type(given).__name__
                       for x, given in zip(op.point, op.given))
    report = CheckReport(_name_of(fn), f"inputs {inputs}", results, time.perf_counter() - start)
    if not report.passed:
        error = GradcheckError(_failure_message(report))
        error.report = report
        raise error
    return report


def _name_of(fn: Callable) -> str:
    owner = getattr(fn, '__self__', None)
    name = getattr(fn, '__name__', None)
    if owner is not None and name is not None:  # MyOp.apply (a classmethod), or a method
        return f"{(owner if isinstance(owner, type) else type(owner)).__name__}.{name}"
    return name or repr(fn)


def _failure_message(report: CheckReport) -> str:
    failures = report.failures
    lines = [f"check_op({report.op_name}): {len(failures)} of {len(report.checks)} checks failed "
             f"({report.summary()}):"]
    for k, check in enumerate(failures):
        first, *rest = check.detail.splitlines() or ['']
        lines.append(f"- {check.name}: {first}")
        if k == 0:  # in full; the others by their first line (gradcheck's tables are long)
            lines.extend(f"    {line}" for line in rest)
        elif rest:
            lines.append(f"    (and {len(rest)} more lines in the report)")
    lines.append("(error.report holds the full report; str(error.report) shows it as a table)")
    return '\n'.join(lines)
