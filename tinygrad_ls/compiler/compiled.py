"""``Compiled``: what ``tl.compile(fn)`` returns — a callable that records, caches and replays.

A call is keyed by its arguments' kinds (the shape and dtype of each array or Value, whether
a Value requires grad, the value of every other argument), grad mode and anomaly mode. For
a key seen before, the newest plan whose guards hold is replayed; otherwise the call runs
eagerly under a ``Recorder`` and becomes a new plan (at most ``MAX_PLANS`` per function, the
oldest dropped first). A call the recorder cannot capture runs eagerly, now and for every
later call with that key, after one warning that says why.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict

import numpy as np

from .. import engine
from ..mode import modes
from ..optim.optimizer import Optimizer
from ..optim.scheduler_base import LRScheduler
from ..value import Value, values_in
from .backward import record_backward
from .doors import recording
from .plan import Plan, build_guard
from .recorder import Recorder

MAX_PLANS = 8


class CompileWarning(UserWarning):
    """A compiled function runs eagerly for some calls, or reads numbers a replay cannot update."""


class Compiled:
    """``fn`` recorded once per kind of call and replayed afterwards; see ``tl.compile``."""

    def __init__(self, fn, check: int = 0) -> None:
        if not callable(fn):
            raise TypeError(f"tl.compile: expected a function or a Module, got {type(fn).__name__}")
        if isinstance(check, bool) or not isinstance(check, int) or check < 0:
            raise ValueError(f"tl.compile: check must be an int >= 0, got {check!r}")
        self.fn, self.check = fn, check
        self.plans: OrderedDict = OrderedDict()  # key -> [Plan, ...], newest last
        self.eager_keys: dict = {}  # key -> why calls with that key run eagerly
        self.calls = self.recordings = 0
        self.warned_unhashable = False
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args, **kwargs):
        self.calls += 1
        split = _split(args, kwargs)
        if split is None:
            if not self.warned_unhashable:
                self.warned_unhashable = True
                warnings.warn(f"tl.compile({_name(self.fn)}): an argument is neither an array, a Value nor "
                              "hashable (a list?), so calls with it run eagerly; pass arrays, or numbers",
                              CompileWarning, stacklevel=2)
            return self.fn(*args, **kwargs)
        key, arrays, values = split
        if key in self.eager_keys:
            return self.fn(*args, **kwargs)
        for plan in reversed(self.plans.get(key, ())):
            if plan.guard():
                if self.calls <= self.check:
                    from .check import checked_replay

                    return checked_replay(self, plan, key, args, kwargs, arrays, values)
                return plan.replay(arrays, values)
        return self.record(key, args, kwargs, arrays, values)

    def record(self, key, args, kwargs, arrays, values, trace: list | None = None):
        """Run ``fn`` eagerly on copies of the arrays, writing a plan; returns the call's result.
        With ``trace`` (the eager side of a check) the results are kept there, and the plan is not."""
        buffers = [np.array(array, copy=True, order='K') for array in arrays]
        stand_ins = [
            None if value is None else Value._wrap(buffer).requires_grad_(value.requires_grad)
            for value, buffer in zip(values, buffers)
        ]
        recorder = Recorder(buffers, stand_ins)
        recorder.trace = trace
        call_args, call_kwargs = _substitute(
            args, kwargs, [s if s is not None else b for s, b in zip(stand_ins, buffers)]
        )
        with recording(recorder, record_backward):
            result = self.fn(*call_args, **call_kwargs)
        for value, stand_in in zip(values, stand_ins):  # gradients of Values passed in go to them
            if stand_in is not None and stand_in.grad is not None:
                engine.store_grads([value], [stand_in.grad])
        needs_graph = any(value.requires_grad for value in values_in(result))
        if recorder.unsupported is None and needs_graph and not recorder.has_backward:
            recorder.refuse(
                "the function returns a Value that requires grad without calling backward() "
                "inside (a plan keeps no graph to backpropagate through later); call it under "
                "tl.no_grad(), or compile the whole training step"
            )
        if recorder.unsupported is not None:
            self.eager_keys[key] = recorder.unsupported
            warnings.warn(
                f"tl.compile({_name(self.fn)}): these calls run eagerly: {recorder.unsupported}",
                CompileWarning,
                stacklevel=3,
            )
            return result
        plan, now = self.plan_from(recorder, buffers, result)
        if trace is not None:
            return now
        frozen = recorder.frozen_numbers()
        if frozen:
            warnings.warn(
                f"tl.compile({_name(self.fn)}): a number read from the step's data (item(), "
                f"float(), …) at {', '.join(sorted(set(frozen)))} keeps its recorded value in "
                "replays; return it, or read it inside a function marked tl.compiler.eager",
                CompileWarning,
                stacklevel=3,
            )
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

    def plan_from(self, recorder: Recorder, buffers: list, result) -> tuple:
        returned, now = recorder.returned(result, buffers)
        recorder.reset_created_grads()
        name = _name(self.fn)
        run, source = recorder.code.build(returned, name)
        trace_run, _ = recorder.code.build(returned, name, trace=True) if self.check else (None, None)
        guard, _ = build_guard(recorder, self.fn)
        for fn in recorder.forward_of:  # the recording's graph is not needed any more
            fn.inputs = fn.input_data = None
        plan = Plan(run, source, recorder.code.statements, buffers, guard, trace_run)
        plan.leaves = [value for value, _ in recorder.leaves.values()]
        plan.modules = [module for module, _ in recorder.modules.values()]
        plan.owners = [
            obj for obj in recorder.code.constants.values() if isinstance(obj, (Optimizer, LRScheduler))
        ]
        return plan, now

    def __repr__(self) -> str:
        return f"<tl.compile of {_name(self.fn)}: {sum(len(p) for p in self.plans.values())} plans>"


def _split(args: tuple, kwargs: dict):
    """(key, arrays, values) of a call: every Value and ndarray argument is data (its shape and
    dtype in the key); every other argument is part of the key. None if one is unhashable."""
    parts, arrays, values = [], [], []
    for keyword, item in (*[(None, arg) for arg in args], *kwargs.items()):
        if type(item) is np.ndarray or isinstance(item, np.ndarray):
            parts.append((keyword, item.shape, item.dtype))
            arrays.append(item)
            values.append(None)
        elif isinstance(item, Value):
            data = item.data
            parts.append((keyword, data.shape, data.dtype, item.requires_grad))
            arrays.append(data)
            values.append(item)
        else:
            try:
                hash(item)
            except TypeError:
                return None
            parts.append((keyword, type(item), item))
    return (tuple(parts), modes.grad_enabled, modes.detect_anomaly), arrays, tuple(values)


def _substitute(args: tuple, kwargs: dict, replacements: list) -> tuple:
    """``args``/``kwargs`` with their arrays and Values replaced, in order, by ``replacements``."""
    replacements = iter(replacements)
    new_args = [next(replacements) if isinstance(arg, (Value, np.ndarray)) else arg for arg in args]
    new_kwargs = {
        key: next(replacements) if isinstance(arg, (Value, np.ndarray)) else arg
        for key, arg in kwargs.items()
    }
    return new_args, new_kwargs


def _name(fn) -> str:
    return getattr(fn, '__qualname__', None) or type(fn).__name__
