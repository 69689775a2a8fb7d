"""``Recorder``: watches one eager call of a compiled function and writes it down as code.

It holds the plan code written so far (``code.py``) and what every name in it stands for:
the arrays and Values of the step (locals), the parameters and constants from outside
(constants), the op objects and the numbers read out of Values. ``doors.py`` swaps the
library's doors for ones that report to it while a recording runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import numpy as np

from .. import engine
from ..mode import modes
from ..nn.module import Module
from ..ops.base import _check_finite
from ..value import Value
from .code import PlanCode, Statement


def helpers() -> dict:
    """The functions plan code calls besides the ops' own methods."""
    from .backward import finish

    return {
        'wrap': Value._wrap,
        'ndarray': np.ndarray,
        'asarray': np.asarray,
        'ones_like': np.ones_like,
        'check_finite': _check_finite,
        'conform': engine._conform,
        'run_hooks': engine._run_hooks,
        'seed': engine._seed,
        'finish': finish,
    }


class Recorder:
    """The state of one recording: the code written so far and what every name stands for.

    ``inputs``: the compiled function's array arguments (the plan's own copies: replays copy
    new arguments into them), ``input_values``: the Values made around them for the call.
    """

    def __init__(self, inputs: list, input_values: list) -> None:
        self.code = PlanCode()
        for name, helper in helpers().items():
            self.code.constant_named(helper, name)
        self.names: dict = {}  # id(Value or ndarray) -> the local or constant that holds it
        self.keep: list = []  # everything named, alive until the recording ends (ids stay unique)
        self.forward_of: dict = {}  # op object -> (output local, input expressions)
        self.leaves: dict = {}  # id(leaf Value from outside) -> (Value, local of its data)
        self.modules: dict = {}  # id(Module) -> (Module, training flag when it ran)
        self.numbers: dict = {}  # id(Python number read from a Value) -> its expression
        self.number_sites: list = []  # (id(number), where) of every number read from the step's data
        self.numbers_used: set = set()
        self.unsupported: str | None = None
        self.paused = 0
        self.has_backward = False
        self.trace: list | None = None  # (label, array) of every traced result, for check=N
        self._parameter_names: dict | None = None
        self.input_values = input_values
        self.created: dict = {}      # id(Value) -> Value made while recording (its .grad starts empty)
        self.grads_of: dict = {}     # id(a leaf's .grad after a backward) -> that leaf
        for index, array in enumerate(inputs):
            self.name(array, self.code.constant_named(array, f"a{index}"))
        for index, value in enumerate(input_values):
            if value is not None:
                self.name(value, f"a{index}")

    # ---- names -----------------------------------------------------------------------------
    def name(self, obj, local: str) -> str:
        self.names[id(obj)] = local
        self.keep.append(obj)
        return local

    def expr(self, arg) -> str:
        """The expression for ``arg`` (an op's argument) at replay time."""
        if isinstance(arg, Value):
            known = self.names.get(id(arg)) or self.names.get(id(arg.data))
            return known if known is not None else self.leaf(arg)
        if isinstance(arg, np.ndarray):
            known = self.names.get(id(arg))
            return known if known is not None else self.code.constant(arg)
        if type(arg) is float and id(arg) in self.numbers:  # (small ints are shared objects)
            self.numbers_used.add(id(arg))
            return self.numbers[id(arg)]
        if arg is None or isinstance(arg, bool):
            return repr(arg)
        return self.code.constant(arg)

    def leaf(self, value: Value) -> str:
        """A Value from outside the step (a parameter, a buffer, a constant): its data is read
        once per replay into a local, after any update of the previous replay."""
        found = self.leaves.get(id(value))
        if found is None:
            holder = self.code.constant(value, 'L')
            local = self.code.fresh('p')
            self.code.emit(f"{local} = {holder}.data", (local,), label=f"read {self._leaf_name(value)}")
            found = self.leaves[id(value)] = (value, local)
            self.keep.append(value)
        return found[1]

    def _leaf_name(self, value: Value) -> str:
        """The parameter's name in the outermost module that ran, else its own name, else 'leaf'."""
        if self._parameter_names is None and self.modules:
            outermost = next(iter(self.modules.values()))[0]
            self._parameter_names = {id(p): name for name, p in outermost.named_parameters()}
        return (self._parameter_names or {}).get(id(value)) or value.name or 'leaf'

    def known(self, obj) -> bool:
        if isinstance(obj, Value):
            return id(obj) in self.names or id(obj.data) in self.names
        return isinstance(obj, np.ndarray) and id(obj) in self.names

    def emit(self, text: str, defs, label: str, traced: str, value) -> None:
        """``code.emit`` for a statement whose result ``check=N`` compares (``value`` is that
        result now, kept when this recording is the eager side of a check)."""
        self.code.emit(text, defs, label=label, traced=traced)
        if self.trace is not None:
            self.trace.append((label, np.array(value, copy=True)))

    # ---- what the patched doors call ----------------------------------------------------------
    def op(self, cls: type, args: tuple, params: dict, out: Value) -> None:
        """Write down ``out = op.forward(*args)`` for the op ``apply`` just ran."""
        fn = out._fn
        rebuilt = _data_params(self, params)
        if rebuilt:  # a parameter holds the step's own data: a fresh op object at each replay
            op_local = self.code.fresh('r')
            overrides = ', '.join(f"{key!r}: {expr}" for key, expr in rebuilt.items())
            prelude = (
                f"{op_local} = {self.code.constant(cls, 'F')}(**{{**{self.code.constant(params, 'k')}, "
                f"{overrides}}}); {op_local}.needs_input_grad = "
                f"{fn.needs_input_grad if fn is not None else (False,) * len(args)!r}; "
            )
        else:
            if fn is None:  # not in a graph (no gradient needed): keep an op object to replay it
                fn = cls(**params) if params else cls()
                fn.needs_input_grad = (False,) * len(args)
            op_local, prelude = self.code.constant(fn, 'f'), ''
        # Bound methods kept as constants: a replay calls them without looking them up.
        forward = f"{op_local}.forward" if rebuilt else self.code.constant(fn.forward, 'f')
        inputs = [self.expr(arg) for arg in args]
        local = self.name(out, self.code.fresh('v'))
        self.name(out.data, local)
        text = f"{prelude}{local} = {forward}({', '.join(inputs)})"
        if out.data.ndim == 0:  # forward may give a NumPy scalar, which apply makes an array
            text += f"\n    if type({local}) is not ndarray: {local} = asarray({local})"
        if modes.detect_anomaly:
            text += f"\n    check_finite({local}, \"forward of '{cls.name}'\")"
        self.emit(text, (local, op_local) if rebuilt else (local,), cls.name, local, out.data)
        if out._fn is not None:
            backward = f"{op_local}.backward" if rebuilt else self.code.constant(fn.backward, 'b')
            self.forward_of[out._fn] = (local, backward, inputs)

    def number(self, value: Value, result, how: str) -> None:
        """``result`` (a Python number or list) was read out of ``value``'s data by ``how``."""
        if not self.known(value):
            return
        data = self.expr(value)
        self.numbers[id(result)] = {
            'item': f"{data}.item()",
            'tolist': f"{data}.tolist()",
            'float': f"float({data}.item())",
        }.get(how, f"int({data}.item())")
        self.keep.append(result)
        self.number_sites.append((id(result), _caller()))

    def call(self, function: Callable, args: tuple, kwargs: dict):
        """Run ``function(*args, **kwargs)`` now, and again at every replay with the replay's data."""
        closures = [
            arg
            for arg in (*args, *kwargs.values())
            if callable(arg) and not isinstance(arg, (Value, Module, type))
        ]
        if closures:
            self.refuse(
                f"{getattr(function, '__qualname__', function)} got a function argument (a "
                "closure, such as L-BFGS's), which a replay would call with the recording's data"
            )
        # An iterator (model.parameters()) would be spent after the first call: keep its items.
        args = tuple(list(arg) if isinstance(arg, Iterator) else arg for arg in args)
        kwargs = {key: list(arg) if isinstance(arg, Iterator) else arg for key, arg in kwargs.items()}
        texts = [self._call_arg(arg) for arg in args] + [
            f"{key}={self._call_arg(arg)}" for key, arg in kwargs.items()
        ]
        self.paused += 1
        try:
            result = function(*args, **kwargs)
        finally:
            self.paused -= 1
        local = self.code.fresh('o')
        callee = self.code.constant(function, 'c')
        label = getattr(function, '__qualname__', 'call')
        if isinstance(result, Value):
            self.code.emit(f"{local} = {callee}({', '.join(texts)}).data", (local,), label=label)
            self.name(result, local)
            self.name(result.data, local)
        else:
            self.code.emit(f"{local} = {callee}({', '.join(texts)})", (local,), label=label)
            if isinstance(result, np.ndarray):
                self.name(result, local)
            elif isinstance(result, (float, int, np.generic)) and not isinstance(result, bool):
                self.numbers[id(result)] = local  # a number the call returns is its new one at replays
                self.keep.append(result)
        return result

    def _call_arg(self, arg) -> str:
        """A replayed call gets the step's Values as fresh Values around the replay's arrays."""
        if isinstance(arg, Value):
            return f"wrap({self.expr(arg)})" if self.known(arg) else self.code.constant(arg)
        return self.expr(arg)

    def returned(self, obj, buffers: list) -> tuple:
        """``(expression, now)``: the expression that rebuilds ``obj`` (what the function
        returned) at a replay, and ``obj`` as the recording call hands it back. Values come
        back detached (the plan keeps no graph); nothing aliases the plan's input buffers."""
        if isinstance(obj, np.ndarray) and id(obj) in self.grads_of:  # a leaf's .grad
            return f"{self.code.constant(self.grads_of[id(obj)], 'L')}.grad", obj
        if isinstance(obj, (Value, np.ndarray)):
            if not self.known(obj):
                return self.code.constant(obj), obj
            text, array = self.expr(obj), (obj.data if isinstance(obj, Value) else obj)
            if any(np.may_share_memory(array, buffer) for buffer in buffers):
                text, array = f"{text}.copy()", array.copy()
            return (f"wrap({text})", Value._wrap(array)) if isinstance(obj, Value) else (text, array)
        number = isinstance(obj, (int, float, list, np.generic)) and not isinstance(obj, bool)
        if number and id(obj) in self.numbers:
            self.numbers_used.add(id(obj))
            return self.numbers[id(obj)], obj
        if type(obj) in (tuple, list):
            parts = [self.returned(item, buffers) for item in obj]
            body = ''.join(f"{text}, " for text, _ in parts)
            return (
                (f"({body})", tuple(now for _, now in parts))
                if type(obj) is tuple
                else (f"[{body}]", [now for _, now in parts])
            )
        if type(obj) is dict:
            parts = {key: self.returned(item, buffers) for key, item in obj.items()}
            body = ', '.join(f"{self.code.constant(key)}: {text}" for key, (text, _) in parts.items())
            return f"{{{body}}}", {key: now for key, (_, now) in parts.items()}
        if obj is None or isinstance(obj, bool):
            return repr(obj), obj
        return self.code.constant(obj), obj

    def reset_created_grads(self) -> None:
        """Start the plan by emptying the ``.grad`` of the leaves made inside the function that
        it gives gradients to (an eager call makes them afresh, with no gradient yet)."""
        holders = list(dict.fromkeys(self.code.constant(leaf, 'L') for leaf in self.grads_of.values()
                                     if id(leaf) in self.created))
        if holders:
            self.code.statements.insert(0, Statement(f"{' = '.join(h + '.grad' for h in holders)} = None",
                                                     label='new leaves'))

    def frozen_numbers(self) -> list:
        """Where numbers were read out of the step's data and then neither returned nor passed
        to an op or a replayed call: replays keep their recorded values."""
        return [site for number, site in self.number_sites if number not in self.numbers_used]

    def refuse(self, reason: str) -> None:
        if self.unsupported is None:
            self.unsupported = f"{reason} (at {_caller()})"


def _data_params(recorder: Recorder, params: dict) -> dict:
    """The op parameters that hold the step's own data (a mask made by an earlier op):
    {parameter: expression}. Input arrays do not count: they are refilled in place."""

    def step_data(item) -> bool:
        return (
            isinstance(item, (Value, np.ndarray)) and recorder.known(item) and not _is_input(recorder, item)
        )

    def expr(item) -> str:
        if not step_data(item):
            return recorder.code.constant(item)
        return f"wrap({recorder.expr(item)})" if isinstance(item, Value) else recorder.expr(item)

    found = {}
    for key, value in params.items():
        if step_data(value):
            found[key] = expr(value)
        elif isinstance(value, tuple) and any(step_data(item) for item in value):
            found[key] = f"({', '.join(expr(item) for item in value)},)"
    return found


def _is_input(recorder: Recorder, obj) -> bool:
    """Input arrays are the plan's own, refilled before each replay: an op may keep them."""
    name = recorder.names.get(id(obj.data if isinstance(obj, Value) else obj), '')
    return name.startswith('a') and name[1:].isdigit()


def _caller() -> str:
    """file:line of the innermost frame outside tinygrad_ls (where the user's code did it)."""
    frame = sys._getframe(1)
    package = __name__.split('.')[0]
    while frame is not None and frame.f_globals.get('__name__', '').split('.')[0] == package:
        frame = frame.f_back
    if frame is None:
        return 'unknown'
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"
