"""The checks of ``check_op``'s battery, one function each: ``check_x(op) -> Check``.

``OpUnderTest`` holds the function and its example inputs (float inputs as float64 arrays,
others as given) and builds fresh leaves for every run, so no check sees another's graph,
gradients or data.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..gradcheck import GradcheckError, gradcheck, gradgradcheck
from ..mode import no_grad
from ..value import Value
from .compare import assert_close


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``passed`` is True, False, or None for a check that was skipped
    (``detail`` then says why); on failure ``detail`` says what went wrong."""
    name: str
    passed: bool | None
    detail: str = ''

    @property
    def status(self) -> str:
        return 'skip' if self.passed is None else 'pass' if self.passed else 'FAIL'


def _describe(error: Exception) -> str:
    if isinstance(error, GradcheckError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _failure_text(failures: list) -> str:
    """``(label, message)`` failures as lines: the first in full (gradcheck's messages carry
    whole Jacobian tables), the others by their first line only."""
    lines = []
    for k, (label, message) in enumerate(failures):
        first, *rest = message.splitlines() or ['']
        lines.append(f"{label}: {first}")
        if k == 0:
            lines.extend(rest)
        elif rest:
            lines[-1] += ' (details as for the first)'
    return '\n'.join(lines)


def _same(before: np.ndarray, after: np.ndarray) -> bool:
    """Bit for bit equality (NaNs included) of two arrays."""
    return before.shape == after.shape and before.dtype == after.dtype and np.array_equal(
        before, after, equal_nan=before.dtype.kind in 'fc')


class OpUnderTest:
    """``fn`` and its example inputs: ``point`` holds a float64 array for each float input (the
    ones differentiated) and ``given`` the other inputs, passed as given (copied per run)."""

    def __init__(self, fn: Callable, example_inputs: tuple, seed: int):
        self.fn = fn
        self.seed = seed
        self.is_float, self.point, self.given = [], [], []
        for item in example_inputs:
            array = _as_float_array(item)
            self.is_float.append(array is not None)
            self.point.append(array)
            self.given.append(None if array is not None else item)
        self.floats = [i for i, flag in enumerate(self.is_float) if flag]
        if not self.floats:
            raise ValueError("check_op: no float input to differentiate among the example inputs")
        outputs = self.run(self.leaves())  # fn must work on its own examples: errors propagate
        rng = np.random.default_rng(seed + 1)
        self.output_seeds = [rng.standard_normal(out.shape) for out in outputs]

    def leaves(self, point: list | None = None, dtype=np.float64) -> list:
        """Fresh arguments for ``fn``: float inputs as new leaves of ``dtype`` requiring grad
        (at ``point``, default the examples), the others as copies of what was given."""
        point = self.point if point is None else point
        return [Value(np.array(point[i], dtype=dtype), requires_grad=True) if flag
                else _copy_given(self.given[i]) for i, flag in enumerate(self.is_float)]

    def run(self, args: list) -> tuple:
        """``fn(*args)`` as a tuple of Values."""
        result = self.fn(*args)
        result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        return tuple(out if isinstance(out, Value) else Value(out) for out in result)

    def backward(self, outputs: tuple) -> None:
        """One ``backward()`` of ``sum_k (outputs[k] * seed_k).sum()`` (fixed random seeds)."""
        total = None
        for out, seed in zip(outputs, self.output_seeds):
            if out.requires_grad:
                term = (out * seed.astype(out.dtype)).sum()
                total = term if total is None else total + term
        if total is None:
            raise RuntimeError("no output requires grad: fn recorded no graph")
        total.backward()

    def random_points(self, count: int) -> list:
        """``count`` random points with the examples' shapes, signs kept where one-signed."""
        rng = np.random.default_rng(self.seed)
        return [[_random_like(x, rng) if x is not None else None for x in self.point]
                for _ in range(count)]

    def gradcheck_at(self, point: list, second_order: bool = False) -> None:
        check = gradgradcheck if second_order else gradcheck
        check(self.fn, self.leaves(point))

    def refuses(self, point: list) -> str | None:
        """Why ``fn`` cannot run at ``point`` (None when it can)."""
        try:
            self.run(self.leaves(point))
        except Exception as error:  # any refusal is a reason to skip, not a failure
            return _describe(error)
        return None


def _as_float_array(item) -> np.ndarray | None:
    """A float example input as a float64 array; None for any other input."""
    if isinstance(item, Value):
        item = item.data
    elif isinstance(item, (list, tuple)):
        item = np.asarray(item)
    elif isinstance(item, float):
        item = np.float64(item)
    if isinstance(item, (np.ndarray, np.generic)) and item.dtype.kind == 'f':
        return np.array(item, dtype=np.float64)
    return None


def _copy_given(item):
    if isinstance(item, np.ndarray):
        return item.copy()
    if isinstance(item, Value):
        return Value(item.data.copy())
    return item


def _random_like(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random values of ``x``'s shape and magnitude: inside [min/2, max] if all of ``x`` is
    positive (mirrored if negative), else random signs with magnitudes in [0.2, 1] x max|x|,
    away from zero (where abs, relu and friends have kinks)."""
    if x.size == 0:
        return x.copy()
    low, high = float(x.min()), float(x.max())
    if low > 0:
        return np.asarray(rng.uniform(low / 2, high, x.shape))
    if high < 0:
        return np.asarray(rng.uniform(low, high / 2, x.shape))
    scale = max(-low, high) or 1.0
    return np.asarray(rng.choice([-1.0, 1.0], x.shape) * rng.uniform(0.2 * scale, scale, x.shape))


def _shapes(point: list) -> str:
    return ', '.join(str(x.shape) for x in point if x is not None)


# ---- the checks ------------------------------------------------------------------------------

def check_first_derivatives(op: OpUnderTest) -> Check:
    """``gradcheck`` at the examples and two random points."""
    points = [('example values', op.point)] + [
        (f'random point {k + 1}', p) for k, p in enumerate(op.random_points(2))]
    failures = []
    for label, point in points:
        try:
            op.gradcheck_at(point)
        except Exception as error:
            failures.append((f"at the {label}", _describe(error)))
    if failures:
        return Check('first_derivatives', False, _failure_text(failures))
    return Check('first_derivatives', True,
                 'gradcheck (float64 central differences) at the examples and 2 random points')


def check_second_derivatives(op: OpUnderTest) -> Check:
    """``gradgradcheck`` at the examples and one random point."""
    points = [('example values', op.point), ('random point 1', op.random_points(1)[0])]
    failures = []
    for label, point in points:
        try:
            op.gradcheck_at(point, second_order=True)
        except Exception as error:
            failures.append((f"at the {label}", _describe(error)))
    if failures:
        hint = "(pass second_order=False if the op is not meant to be differentiated twice)"
        return Check('second_derivatives', False, _failure_text(failures) + '\n' + hint)
    return Check('second_derivatives', True, 'gradgradcheck at the examples and 1 random point')


def _gradcheck_variants(op: OpUnderTest, name: str, variants: list, none_reason: str) -> Check:
    """gradcheck at each ``(label, point)`` variant that ``fn`` accepts; skipped if it takes none."""
    passed, failed, refused = [], [], []
    for label, point in variants:
        reason = op.refuses(point)
        if reason is not None:
            refused.append(f"{label}: fn refuses them ({reason})")
            continue
        try:
            op.gradcheck_at(point)
            passed.append(label)
        except Exception as error:
            failed.append((label, _describe(error)))
    if failed:
        return Check(name, False, '\n'.join([_failure_text(failed)] + [f"(skipped {r})" for r in refused]))
    if not passed:
        return Check(name, None, '\n'.join(refused) if refused else none_reason)
    detail = 'gradcheck passed with ' + '; '.join(passed)
    return Check(name, True, '\n'.join([detail] + [f"skipped {r}" for r in refused]))


def check_broadcasting(op: OpUnderTest) -> Check:
    """gradcheck where one float input is broadcast against the others: its leading dim
    dropped, or a dim (the first, the last) set to 1."""
    if len(op.floats) < 2:
        return Check('broadcasting', None, 'needs 2 or more float inputs')
    variants = []
    for i in op.floats:
        x = op.point[i]
        if x.ndim == 0 or x.size == 0:
            continue
        candidates = [x[0]]
        if x.shape[0] > 1:
            candidates.append(x[:1])
        if x.ndim >= 2 and x.shape[-1] > 1:
            candidates.append(x[..., :1])
        for candidate in candidates:
            point = list(op.point)
            point[i] = candidate
            variants.append((f"input {i} {x.shape} -> {candidate.shape} (shapes {_shapes(point)})",
                             point))
    return _gradcheck_variants(op, 'broadcasting', variants, 'no float input has a dimension')


def check_edge_shapes(op: OpUnderTest) -> Check:
    """gradcheck with every float input 0-d, then with every float input of size 1 (same ndim)."""
    if any(op.point[i].size == 0 for i in op.floats):
        return Check('edge_shapes', None, 'an example input is empty')
    zero_d = [x.reshape(-1)[0].copy() if x is not None else None for x in op.point]
    size_one = [x.reshape(-1)[:1].reshape((1,) * x.ndim) if x is not None else None
                for x in op.point]
    variants = []
    if any(op.point[i].ndim > 0 for i in op.floats):
        variants.append(('0-d inputs', zero_d))
    if any(op.point[i].shape != size_one[i].shape for i in op.floats):
        variants.append((f'size-1 inputs (shapes {_shapes(size_one)})', size_one))
    return _gradcheck_variants(op, 'edge_shapes', variants,
                               'the example inputs are already 0-d or of size 1')


def check_float32(op: OpUnderTest) -> Check:
    """On float32 copies: float32 outputs and gradients (no silent upcast), within float32
    tolerance (rtol 1e-4, atol 1e-5 x the largest magnitude) of the float64 ones."""
    try:
        wide = _forward_backward(op, np.float64)
        narrow = _forward_backward(op, np.float32)
    except Exception as error:
        return Check('float32', False, f"forward/backward raised {_describe(error)}")
    (outputs64, grads64), (outputs32, grads32) = wide, narrow
    pairs = [(f"output {k}", *pair) for k, pair in enumerate(zip(outputs64, outputs32))]
    pairs += [(f"gradient of input {i}", *pair) for i, *pair in zip(op.floats, grads64, grads32)]
    problems = []
    for what, reference, result in pairs:
        if reference is None or reference.dtype.kind != 'f':
            continue
        if result is None:
            problems.append(f"{what}: none with float32 inputs")
            continue
        if result.dtype != np.float32:
            problems.append(f"{what} is {result.dtype} for float32 inputs (silent upcast)")
        scale = max(1.0, float(np.max(np.abs(reference), initial=0.0)))
        try:
            assert_close(result.astype(np.float64), reference, rtol=1e-4, atol=1e-5 * scale)
        except AssertionError as error:
            problems.append(f"{what} in float32 is far from float64: {error}")
    if problems:
        return Check('float32', False, '\n'.join(problems))
    return Check('float32', True, 'float32 outputs and gradients, close to the float64 ones')


def _forward_backward(op: OpUnderTest, dtype) -> tuple:
    leaves = op.leaves(dtype=dtype)
    outputs = op.run(leaves)
    op.backward(outputs)
    return [out.data for out in outputs], [leaves[i].grad for i in op.floats]


def check_no_grad(op: OpUnderTest) -> Check:
    """Under ``no_grad`` the outputs require no grad and record no op."""
    leaves = op.leaves()
    with no_grad():
        outputs = op.run(leaves)
    recorded = [f"output {k} (requires_grad={out.requires_grad}, op={out.op!r})"
                for k, out in enumerate(outputs)
                if not any(out is leaf for leaf in leaves) and (out.requires_grad or not out.is_leaf)]
    if recorded:
        return Check('no_grad', False, 'recorded a graph under no_grad: ' + ', '.join(recorded))
    return Check('no_grad', True, 'nothing recorded under no_grad')


def check_inputs_unchanged(op: OpUnderTest) -> Check:
    """Forward and backward leave every input's data as it was."""
    args = op.leaves()
    before = [np.array(arg.data if isinstance(arg, Value) else arg, copy=True)
              if isinstance(arg, (Value, np.ndarray)) else None for arg in args]
    try:
        op.backward(op.run(args))
    except Exception as error:
        return Check('inputs_unchanged', False, f"forward/backward raised {_describe(error)}")
    changed = []
    for i, (arg, old) in enumerate(zip(args, before)):
        if old is not None and not _same(old, arg.data if isinstance(arg, Value) else arg):
            changed.append(f"input {i} {old.shape}")
    if changed:
        return Check('inputs_unchanged', False,
                     'modified in place by forward/backward: ' + ', '.join(changed))
    return Check('inputs_unchanged', True, 'inputs bit-identical after forward and backward')


def check_grad_shape_dtype(op: OpUnderTest) -> Check:
    """After ``backward()`` each float input's ``.grad`` has its shape and dtype."""
    leaves = op.leaves()
    try:
        op.backward(op.run(leaves))
    except Exception as error:
        return Check('grad_shape_dtype', False, f"backward raised {_describe(error)}")
    problems, notes = [], []
    for i in op.floats:
        leaf = leaves[i]
        if leaf.grad is None:
            notes.append(f"input {i} received no gradient")
        elif leaf.grad.shape != leaf.shape or leaf.grad.dtype != leaf.dtype:
            problems.append(f"input {i}: gradient {leaf.grad.shape} {leaf.grad.dtype}, "
                            f"input {leaf.shape} {leaf.dtype}")
    if problems:
        return Check('grad_shape_dtype', False, '\n'.join(problems + notes))
    return Check('grad_shape_dtype', True, '; '.join(['gradients match the inputs'] + notes))


def check_repeated_backward(op: OpUnderTest) -> Check:
    """Two backward passes through fresh graphs on the same leaves give exactly twice one."""
    leaves = op.leaves()
    try:
        op.backward(op.run(leaves))
        once = [None if leaves[i].grad is None else leaves[i].grad.copy() for i in op.floats]
        op.backward(op.run(leaves))
    except Exception as error:
        return Check('repeated_backward', False, f"backward raised {_describe(error)}")
    problems = []
    for i, single in zip(op.floats, once):
        total = leaves[i].grad
        if single is None or total is None:
            continue
        if not _same(2 * single, total):
            worst = float(np.max(np.abs(total - 2 * single), initial=0.0))
            problems.append(f"input {i}: two passes do not give 2x one pass "
                            f"(greatest difference {worst:.3g})")
    if problems:
        return Check('repeated_backward', False, '\n'.join(problems))
    return Check('repeated_backward', True, 'two backward passes accumulate exactly 2x')
