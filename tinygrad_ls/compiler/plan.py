"""``Plan``: one recorded call, ready to replay: its code, its input buffers and its guards.

A replay copies the call's arrays into the plan's input buffers (ops that kept an input,
such as the class indices of a cross-entropy, see the new numbers in place) and runs the
code. The guards say whether the world still looks as it did at the recording: the same
modules in the same training modes, the same parameters (requiring grad or not, with the
same shapes and dtypes), no module that ran changed its parameters, submodules or buffers, and the
objects the function reaches through its globals and closure are the same ones.
"""

from __future__ import annotations

import numpy as np

from ..nn.module import Module
from ..optim.optimizer import Optimizer
from ..optim.scheduler_base import LRScheduler
from ..value import Value

# What the function may swap between calls without the plan seeing it: guarded by identity.
_GUARDED_KINDS = (Module, Optimizer, LRScheduler, Value)


class Plan:
    """A recorded call. ``source``: the replayed Python code, ``statements``: its steps (for
    pictures), ``buffers``: the input arrays it reads, ``nbytes``: the memory it holds."""

    def __init__(self, run, source: str, statements: list, buffers: list, guard, trace_run=None):
        self.run, self.source, self.statements, self.buffers = run, source, statements, buffers
        self.guard = guard
        self.trace_run = trace_run

    def replay(self, arrays: list, values: tuple, trace_sink=None):
        for buffer, array in zip(self.buffers, arrays):
            np.copyto(buffer, array)
        if trace_sink is None:
            return self.run(values)
        return self.trace_run(values, None, trace_sink)

    def __repr__(self) -> str:
        return f"<tl.compile plan: {len(self.statements)} statements>"


def build_guard(recorder, function) -> tuple:
    """A function ``guard() -> bool`` (True while the plan may be replayed) and its source."""
    constants, conditions = {'Module': Module}, []

    def name(obj) -> str:
        key = f"g{len(constants)}"
        constants[key] = obj
        return key

    for module, training in recorder.modules.values():
        holder = name(module)
        conditions.append(f"{holder}.training is {training!r}")
        conditions.append(f"{holder}.structure_version == {module.structure_version!r}")
    for value, _ in recorder.leaves.values():
        holder = name(value)
        conditions.append(f"{holder}.requires_grad is {value.requires_grad!r}")
        # the same array (updated in place), or another one of the same shape and dtype
        conditions.append(f"({holder}.data is {name(value.data)} or ({holder}.data.shape == "
                          f"{value.data.shape!r} and {holder}.data.dtype == {name(value.data.dtype)}))")
    for holder, key, obj in _reachable_objects(function):
        if isinstance(holder, dict):
            conditions.append(f"{name(holder)}.get({key!r}) is {name(obj)}")
        else:
            conditions.append(f"{name(holder)}.cell_contents is {name(obj)}")
    source = "def guard():\n    return (" + "\n            and ".join(conditions or ['True']) + ")"
    exec(compile(source, '<tl.compile guard>', 'exec'), constants)
    return constants['guard'], source


def _reachable_objects(function) -> list:
    """(globals dict, name, object) and (cell, None, object) for the modules, optimizers,
    schedulers and Values that ``function``'s code reads from its globals or closure."""
    found = []
    code = getattr(function, '__code__', None)
    if code is None:  # a Module or another callable object: guarded through what it calls
        return found
    module_globals = getattr(function, '__globals__', {})
    for global_name in code.co_names:
        obj = module_globals.get(global_name)
        if isinstance(obj, _GUARDED_KINDS):
            found.append((module_globals, global_name, obj))
    for cell in getattr(function, '__closure__', None) or ():
        try:
            obj = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(obj, _GUARDED_KINDS):
            found.append((cell, None, obj))
    return found
