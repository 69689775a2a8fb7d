"""``check=N``: run the replay and the eager call from the same state and compare them.

The replay runs first, handing every traced result (each op's output, each incoming
gradient, each sum and reduction of gradients) to a list; then the state it changed is put
back — parameters and their gradients, the buffers of the modules that ran, the optimizers'
and schedulers' state, the random generator — and the call runs eagerly under a recorder
that keeps the same results. The first position where the two lists disagree (another op,
another shape, other numbers) is reported. Agreeing, the eager call's state stays.
"""

from __future__ import annotations

import numpy as np

from .. import random as tl_random
from ..optim.optimizer import Optimizer
from ..optim.scheduler_base import LRScheduler
from ..value import Value


class CompileMismatch(AssertionError):
    """A replay differed from the eager call (raised by ``tl.compile(fn, check=N)``)."""


def checked_replay(compiled, plan, key, args, kwargs, items):
    state = _State(plan, [item for item in items if isinstance(item, Value)])
    replayed = []
    result = plan.replay(items, lambda label, array: replayed.append((label, np.array(array, copy=True))))
    after = state.parameters_now()
    state.restore()
    eager = []
    eager_result = compiled.record(key, args, kwargs, items, trace=eager)
    _compare(compiled, replayed, eager, result, eager_result, after, state.parameters_now())
    return eager_result


def _compare(compiled, replayed: list, eager: list, result, eager_result, after: list, now: list) -> None:
    name = getattr(compiled.fn, '__qualname__', type(compiled.fn).__name__)

    def mismatch(text: str) -> CompileMismatch:
        return CompileMismatch(f"tl.compile({name}) check: {text}")

    for index, ((label, array), (eager_label, eager_array)) in enumerate(zip(replayed, eager)):
        if label != eager_label:
            raise mismatch(f"step {index} of the replay is '{label}' but the eager call ran '{eager_label}' "
                           "there: the function took another path, so this plan cannot stand for it")
        if difference := _difference(array, eager_array):
            raise mismatch(f"step {index} ('{label}') differs from the eager call: {difference}")
    if len(replayed) != len(eager):
        shorter, longer = (replayed, eager) if len(replayed) < len(eager) else (eager, replayed)
        which = 'replay' if shorter is replayed else 'eager call'
        raise mismatch(f"the {which} stopped after {len(shorter)} steps where the other went on "
                       f"('{longer[len(shorter)][0]}')")
    for (label, array), (_, eager_array) in zip(after, now):
        if difference := _difference(array, eager_array):
            raise mismatch(f"after the step, {label} differs from the eager call's: {difference}")
    for index, (got, expected) in enumerate(zip(_leaves_of(result), _leaves_of(eager_result))):
        if difference := _difference(got, expected):
            raise mismatch(f"returned item {index} differs from the eager call's: {difference}")


def _difference(a, b) -> str:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"shape {a.shape} {a.dtype} against {b.shape} {b.dtype}"
    same = (a == b) | ((a != a) & (b != b)) if a.dtype.kind in 'fc' else (a == b)
    if np.all(same):
        return ''
    first = tuple(int(i) for i in np.unravel_index(np.argmin(same), a.shape)) if a.ndim else ()
    return (f"{int(np.size(same) - np.count_nonzero(same))} of {a.size} elements, the first at index "
            f"{first}: {a[first].item()!r} in the replay, {b[first].item()!r} eagerly")


def _leaves_of(obj) -> list:
    if isinstance(obj, Value):
        return [obj._data]
    if isinstance(obj, (np.ndarray, int, float)):
        return [obj]
    if type(obj) in (tuple, list):
        return [leaf for item in obj for leaf in _leaves_of(item)]
    if type(obj) is dict:
        return [leaf for item in obj.values() for leaf in _leaves_of(item)]
    return []


class _State:
    """What a step may change, saved so that the eager side of a check starts where the replay did."""

    def __init__(self, plan, arguments: list) -> None:
        self.parameters = list(dict.fromkeys([*plan.leaves, *arguments]))
        self.data = [value._data.copy() for value in self.parameters]
        self.grads = [None if value._grad is None else value._grad.copy() for value in self.parameters]
        self.buffers = [(module._buffers, {key: None if array is None else array.copy()
                                           for key, array in module._buffers.items()})
                        for module in plan.modules]
        # their own state_dict()s: copies, put back by load_state_dict()
        self.optimizers = [(optimizer, optimizer._step_calls, optimizer.state_dict())
                           for optimizer in plan.owners if isinstance(optimizer, Optimizer)]
        self.schedulers = [(scheduler, scheduler.state_dict())
                           for scheduler in plan.owners if isinstance(scheduler, LRScheduler)]
        self.generator = tl_random._generator
        self.generator_state = self.generator.bit_generator.state

    def parameters_now(self) -> list:
        return ([(f"parameter {i} (shape {value.shape})", value._data.copy())
                 for i, value in enumerate(self.parameters)]
                + [(f"the .grad of parameter {i}", value._grad.copy())
                   for i, value in enumerate(self.parameters) if value._grad is not None])

    def restore(self) -> None:
        for value, data, grad in zip(self.parameters, self.data, self.grads):
            np.copyto(value._data, data)
            value._grad = grad
        for registry, saved in self.buffers:
            for key, array in saved.items():
                if array is not None and registry.get(key) is not None:
                    np.copyto(registry[key], array)
        for optimizer, calls, saved in self.optimizers:
            optimizer.load_state_dict(saved)
            optimizer._step_calls = calls
        for scheduler, saved in self.schedulers:
            scheduler.load_state_dict(saved)
        tl_random._generator = self.generator
        self.generator.bit_generator.state = self.generator_state

