"""``ExportTape``: what ``tl.onnx.export`` is told while the model runs once (``tracing.py``).

Every op is written down as a ``Step``, whether or not it would be in an autograd graph
(comparisons, ``one_hot``, masks and argmax included), together with the op's arguments
and settings, the module that was running and the user's ``file:line``. Arrays are known by
identity: ``producer`` maps ``id(array)`` of each input and each op result to where it comes
from, and the tape keeps every one of them alive so that ids stay unique. Each step keeps
the producers of the arrays it used *at that moment* (``refs``), so that a later op
returning the same array object cannot change what an earlier op read.

What a graph cannot stand for is an escape: Python reading a Value's numbers, ``.grad``
read or assigned, in-place updates, calls of functions marked to run eagerly, a backward
sweep, NumPy random draws. The first one is kept as an ``ExportError`` (naming the reason,
the module path and the user's ``file:line``) and raised once the call has finished, so that
a ``try``/``except`` inside ``forward`` cannot swallow it.
"""
from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass

import numpy as np

from .. import tracing
from ..nn.module import Module
from ..ops.base import Function, constant
from ..random_watch import RandomWatch
from ..value import Value
from .errors import ExportError

_MODULE_CALL = Module.__call__.__code__


@dataclass
class Step:
    """One op as it ran: ``fn`` a fresh op object holding the settings (``cls(**params)``),
    ``data`` the arguments as the op saw them (Values' arrays, constants as ``apply`` made
    them), ``out`` the result, ``refs`` {id(array): producer} of every array among the
    arguments and settings that an input or an earlier op made."""
    fn: Function
    data: tuple
    out: np.ndarray
    refs: dict
    module: str | None
    site: str


def arrays_in(obj):
    """The ndarrays in an op's setting (a Value's data, an array, or either inside tuples and
    lists: a ``getitem`` index)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, Value):
            yield item._data
        elif isinstance(item, np.ndarray):
            yield item
        elif isinstance(item, (tuple, list)):
            stack.extend(item)


class ExportTape(tracing.Tape):
    """The record of one call of the model. ``inputs``: the Values the model is called with,
    named ``input_names``; ``module_names``: {id(module): dotted name} of the model's modules."""

    def __init__(self, inputs: list, input_names: list, module_names: dict):
        self.steps: list[Step] = []
        self.producer: dict = {}       # id(array) -> ('input', i) or ('step', j)
        self.keep: list = list(inputs)  # every array named above stays alive: ids stay unique
        self.input_names = input_names
        self.module_names = module_names
        self.module_stack: list = []   # (module, its Module.__call__ frame), innermost last
        self.escaped: ExportError | None = None
        self.random = RandomWatch()
        for index, value in enumerate(inputs):
            self.producer[id(value._data)] = ('input', index)

    # ---- ops -----------------------------------------------------------------------------------
    def op(self, cls: type, args: tuple, params: dict, out: Value) -> None:
        fn = cls(**params) if params else cls()
        data = tuple(arg._data if isinstance(arg, Value) else constant(arg) for arg in args)
        refs = {}
        for array in itertools.chain(data, arrays_in(tuple(params.values()))):
            source = self.producer.get(id(array))
            if source is not None:
                refs[id(array)] = source
        self.producer[id(out._data)] = ('step', len(self.steps))
        self.steps.append(Step(fn, data, out._data, refs, self.module_path(), tracing.user_site()))

    # ---- escapes -------------------------------------------------------------------------------
    def escape(self, reason: str, op: str | None = None) -> None:
        if self.escaped is None:
            self.escaped = ExportError(reason, op=op, module=self.module_path(), site=tracing.user_site())

    def read(self, value, how: str) -> None:
        self.escape(f"Python reads the numbers of {self.describe(value)} ({how}); the file would keep "
                    "what Python computed from the example's numbers instead of computing it from "
                    "new inputs (use the Value's own ops: comparisons, tl.where, indexing)",
                    self.maker(value))

    def grad_touched(self, value, how: str) -> None:
        self.escape(f"{how} of {self.describe(value)} inside the traced call; an ONNX graph "
                    "holds no gradients", self.maker(value))

    def edited(self, value, how: str) -> None:
        self.escape(f"an in-place update ({how}) of {self.describe(value)}; the graph cannot "
                    "repeat it, and numbers traced before it would be stale", self.maker(value))

    def call(self, function, args: tuple, kwargs: dict):
        name = getattr(function, '__qualname__', repr(function))
        self.escape(f"a call of {name}, a function marked to run eagerly at every step (optimizer and "
                    "scheduler steps, zero_grad, clipping, metrics, tl.compiler.eager); an ONNX graph "
                    "cannot call Python")
        with tracing.paused():
            return function(*args, **kwargs)

    def sweep(self, roots, create_graph: bool, wanted) -> None:
        self.escape("backward() or tl.grad inside the traced call; an ONNX graph holds no gradients")

    def requires_grad_changed(self, value, flag: bool) -> None:
        """Allowed: whether a Value requires grad changes no number of a forward call."""

    def function_ran(self, frame) -> None:
        self.random.see_frame(frame)

    def raise_escape(self) -> None:
        """Raise the first escape (or a NumPy generator whose state changed during the call)."""
        if self.escaped is None:
            drawn = self.random.drawn()
            if drawn is not None:
                self.escaped = ExportError(f"a NumPy random draw during the call, from {drawn}; the file "
                                           "would repeat the example's numbers at every call (an exported "
                                           "model draws nothing: add noise outside it)")
        if self.escaped is not None:
            raise self.escaped

    # ---- what it says about Values -------------------------------------------------------------
    def describe(self, value) -> str:
        source = self.producer.get(id(value._data))
        if source is None:
            return f"a Value of shape {value.shape} from outside the call (a parameter, buffer or constant)"
        kind, index = source
        if kind == 'input':
            return f"input '{self.input_names[index]}' (shape {value.shape})"
        return f"the result of '{self.steps[index].fn.name}' (shape {value.shape})"

    def maker(self, value) -> str | None:
        source = self.producer.get(id(value._data))
        return self.steps[source[1]].fn.name if source and source[0] == 'step' else None

    # ---- which module is running ---------------------------------------------------------------
    def module_called(self, module) -> None:
        frame = sys._getframe(1)
        while frame is not None and frame.f_code is not _MODULE_CALL:
            frame = frame.f_back
        if frame is not None:
            self.module_stack.append((module, frame))
        self.random.see_module(module, self.module_path() or type(module).__name__)

    def profile(self, frame, event: str, arg) -> None:
        if event == 'return' and self.module_stack and self.module_stack[-1][1] is frame:
            self.module_stack.pop()  # a module call ended (returned or raised)
        super().profile(frame, event, arg)

    def module_path(self) -> str | None:
        """The innermost running module: ``'blocks.0.attn' (CausalSelfAttention)``, ``the model
        (GPT)`` for the exported module itself; modules that are not the model's parts are shown
        by class inside the innermost one that is."""
        if not self.module_stack:
            return None
        trail = []
        for module, _ in reversed(self.module_stack):
            name = self.module_names.get(id(module))
            if name is None:
                trail.append(type(module).__name__)
                continue
            known = f"'{name}' ({type(module).__name__})" if name else f"the model ({type(module).__name__})"
            return ' > '.join([known, *reversed(trail)])
        return ' > '.join(reversed(trail))

    # ---- what the graph needs ------------------------------------------------------------------
    def step_arrays(self):
        """The arrays of the call that own their memory: the inputs' and the op results' that
        are not views (a view, such as a reshape of a parameter, belongs to what it views)."""
        for value in self.keep:
            yield value._data
        for step in self.steps:
            if step.out.base is None:
                yield step.out

    def needed(self, outputs: list) -> list:
        """Indices of the steps the ``outputs`` (arrays) depend on, in the order they ran."""
        wanted = {self.producer[id(array)][1] for array in outputs
                  if self.producer.get(id(array), ('input',))[0] == 'step'}
        for index in range(len(self.steps) - 1, -1, -1):
            if index in wanted:
                wanted.update(j for kind, j in self.steps[index].refs.values() if kind == 'step')
        return sorted(wanted)
