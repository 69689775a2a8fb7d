"""``Compiled``: what ``tl.compile(fn)`` returns — a callable that records, caches and replays.

A call is keyed by its arguments' kinds (the shape and dtype of each array or Value, whether
a Value requires grad and is a leaf, the value of every other argument), grad mode and
anomaly mode. For a key seen before, the newest plan whose guard holds is replayed; otherwise
the call runs eagerly under a ``Tracer`` and becomes a new plan (at most ``MAX_PLANS`` per
function, the oldest dropped first). A call the tracer cannot stand for runs eagerly, now and
for every later call with that key, after one ``CompileWarning`` that says why and where;
so does a key whose guards failed at ``MAX_PLANS`` recordings in a row (a Python value the
step reads changes at every call).
"""
from __future__ import annotations

import functools
import gc
import warnings
from collections import OrderedDict

import numpy as np

from ..checks import is_int
from ..mode import modes
from ..optim.optimizer import Optimizer
from ..optim.scheduler_base import LRScheduler
from ..step_arrays import StepArray, step_view
from ..tracing import recording
from ..value import Value, values_in
from .guards import build_guard
from .numbers import TRACED, plain
from .plan import Plan
from .tracer import Tracer

MAX_PLANS = 8


class CompileWarning(UserWarning):
    """A compiled function runs eagerly for some calls (the warning says why and where)."""


class Compiled:
    """``fn`` recorded once per kind of call and replayed afterwards; see ``tl.compile``."""

    def __init__(self, fn, check: int = 0) -> None:
        if not callable(fn):
            raise TypeError(f"tl.compile: expected a function or a Module, got {type(fn).__name__}")
        if not is_int(check) or check < 0:
            raise ValueError(f"tl.compile: check must be an int >= 0, got {check!r}")
        self.fn, self.check = fn, check
        self.plans: OrderedDict = OrderedDict()  # key -> [Plan, ...], newest last
        self.eager_keys: dict = {}  # key -> why calls with that key run eagerly
        self.guard_failures: dict = {}  # key -> recordings in a row because guards failed
        self.calls = self.recordings = 0
        self.warned_unhashable = False
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if modes.tape is not None:  # inside another recording or an export: its tape sees the ops
            return self.fn(*args, **kwargs)
        split = _split(args, kwargs)
        if split is None:
            if not self.warned_unhashable:
                self.warned_unhashable = True
                warnings.warn(f"tl.compile({_name(self.fn)}): an argument is neither an array, a Value nor "
                              "hashable (a list?), so calls with it run eagerly; pass arrays, or numbers",
                              CompileWarning, stacklevel=2)
            return self.fn(*args, **kwargs)
        key, items = split
        if key in self.eager_keys:
            return self.fn(*args, **kwargs)
        plans = self.plans.get(key)
        if plans:
            for plan in reversed(plans):
                if plan.guard.check():
                    if self.guard_failures:
                        self.guard_failures.pop(key, None)
                    if self.calls <= self.check:
                        from .check import checked_replay

                        return checked_replay(self, plan, key, args, kwargs, items)
                    return plan.replay(items)
            if self._too_many_failures(key, plans[-1]):
                return self.fn(*args, **kwargs)
        return self.record(key, args, kwargs, items)

    def _too_many_failures(self, key, newest: Plan) -> bool:
        failures = self.guard_failures[key] = self.guard_failures.get(key, 0) + 1
        if failures < MAX_PLANS:
            return False
        self._run_eagerly(key, f"the guards failed at {failures} calls in a row, last on "
                               f"{newest.guard.describe() or 'a guard'} (a Python value the function "
                               "reads changes at every call: pass it as an argument, or as a Value)")
        return True

    def _run_eagerly(self, key, reason: str) -> None:
        self.eager_keys[key] = reason
        warnings.warn(f"tl.compile({_name(self.fn)}): these calls run eagerly: {reason}",
                      CompileWarning, stacklevel=4)

    def record(self, key, args, kwargs, items, trace: list | None = None):
        """Run ``fn`` eagerly, writing a plan; returns the call's result. With ``trace`` (the
        eager side of a check) the results are kept there, and the plan is not. The garbage
        collector waits meanwhile: a recording keeps every object it makes alive until its end,
        so collections would only walk them again and again (quadratic in long steps)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._record(key, args, kwargs, items, trace)
        finally:
            if collecting:
                gc.enable()

    def _record(self, key, args, kwargs, items, trace):
        # the function sees its array arguments as StepArrays: NumPy on them tells the tracer
        seen = [step_view(item) if isinstance(item, np.ndarray) else item for item in items]
        args, kwargs = _substitute(args, kwargs, seen)
        tracer = Tracer(seen, self.fn)
        tracer.trace = trace
        with recording(tracer):
            result = self.fn(*args, **kwargs)
        result = _originals(result, seen, items)
        drawn = tracer.random.drawn()
        if drawn is not None:
            tracer.escape(f"a NumPy random draw from {drawn} outside the library's ops (a replay would "
                          "repeat the recorded numbers; tl.randn, tl.rand, tl.randint and nn.Dropout "
                          "draw afresh)")
        if tracer.unsupported is None and not tracer.has_backward and any(
                value.requires_grad for value in values_in(result)):
            tracer.escape("the function returns a Value that requires grad without calling backward() "
                          "inside (a plan keeps no graph to backpropagate through later); call it under "
                          "tl.no_grad(), or compile the whole training step")
        if tracer.unsupported is not None:
            self._run_eagerly(key, tracer.unsupported)
            return _plain(result)
        plan, now = self.plan_from(tracer, result)
        if plan is None:
            self._run_eagerly(key, tracer.unsupported)
            return _plain(result)
        if trace is not None:
            return now
        plans = self.plans.setdefault(key, [])
        plans.append(plan)
        self.plans.move_to_end(key)
        if sum(len(group) for group in self.plans.values()) > MAX_PLANS:
            oldest = next(iter(self.plans))
            self.plans[oldest].pop(0)
            if not self.plans[oldest]:
                del self.plans[oldest]
        self.recordings += 1
        return now

    def plan_from(self, tracer: Tracer, result) -> tuple:
        returned, now = tracer.returned(result)
        tracer.check_constants()
        if tracer.unsupported is not None:
            return None, now
        name = _name(self.fn)
        source = tracer.code.build(returned, name)
        trace_source = tracer.code.build(returned, name, trace=True) if self.check else None
        guard = build_guard(tracer, self.fn)
        for fn in tracer.forward_of:  # the recording's graph is not needed any more
            fn.inputs = fn.input_data = None
        plan = Plan(tracer.code, source, trace_source, guard, name)
        plan.leaves = [value for value, _ in tracer.leaves.values()]
        plan.modules = [module for module, _, _ in tracer.modules.values()]
        plan.owners = [obj for obj in tracer.code.constants.values()
                       if isinstance(obj, (Optimizer, LRScheduler))]
        return plan, now

    def __repr__(self) -> str:
        return f"<tl.compile of {_name(self.fn)}: {sum(len(p) for p in self.plans.values())} plans>"


def _split(args: tuple, kwargs: dict):
    """(key, items) of a call: every Value and ndarray argument is data (its shape and dtype in
    the key), listed in ``items``; every other argument is part of the key. None if one is
    unhashable."""
    parts, items = [], []
    for keyword, item in (*[(None, arg) for arg in args], *kwargs.items()):
        if isinstance(item, np.ndarray):
            parts.append((keyword, item.shape, item.dtype))
            items.append(item)
        elif isinstance(item, Value):
            data = item._data
            parts.append((keyword, data.shape, data.dtype, item.requires_grad, item._fn is None))
            items.append(item)
        else:
            try:
                hash(item)
            except TypeError:
                return None
            parts.append((keyword, type(item), item))
    return (tuple(parts), modes.grad_enabled, modes.detect_anomaly), items


def _substitute(args: tuple, kwargs: dict, items: list) -> tuple:
    """``args``/``kwargs`` with their arrays and Values replaced, in order, by ``items``."""
    replacements = iter(items)
    new_args = tuple(next(replacements) if isinstance(arg, (Value, np.ndarray)) else arg for arg in args)
    return new_args, {key: next(replacements) if isinstance(arg, (Value, np.ndarray)) else arg
                      for key, arg in kwargs.items()}


def _originals(obj, seen: list, items: list):
    """``obj`` (a result) with the StepArray views of the arguments back as the caller's arrays."""
    if isinstance(obj, StepArray):
        for view, item in zip(seen, items):
            if obj is view:
                return item
        return obj.view(np.ndarray)
    if type(obj) in (tuple, list):
        return type(obj)(_originals(part, seen, items) for part in obj)
    if type(obj) is dict:
        return {key: _originals(part, seen, items) for key, part in obj.items()}
    return obj


def _plain(obj):
    """``obj`` with the traced numbers of a recording made plain again."""
    if type(obj) in TRACED:
        return plain(obj)
    if type(obj) in (tuple, list):
        return type(obj)(_plain(item) for item in obj)
    if type(obj) is dict:
        return {key: _plain(item) for key, item in obj.items()}
    return obj


def _name(fn) -> str:
    return getattr(fn, '__qualname__', None) or type(fn).__name__
