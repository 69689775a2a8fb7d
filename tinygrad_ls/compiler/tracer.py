"""``Tracer``: the tape of ``tl.compile``. It watches one eager call and writes it down as
plan statements (``code.py``), knowing every array of the step by identity.

What it is told (``tracing.py``) becomes statements: ops (their ``forward``), the backward
sweep (``sweep.py``), replayed calls, new leaves. What it cannot replay — Python reading the
step's numbers, ``.grad`` touched outside replayed calls, in-place edits, NumPy random draws,
``tl.grad``/``create_graph`` — is an escape: the call finishes eagerly and the key runs
eagerly from then on, after one ``CompileWarning`` naming the reason and the user's
``file:line``. Every Python function that runs is noted for the guards (``guards.py``).
"""
from __future__ import annotations

import sysconfig
from collections.abc import Iterator

import numpy as np

from .. import tracing
from ..mode import modes
from ..nn.module import Module
from ..random_watch import RandomWatch
from ..value import Value
from .code import Literal, PlanCode
from .guards import closure_cells
from .helpers import HELPERS
from .numbers import TRACED, plain, traced
from .sweep import SweepRecorder

# Where the standard library and installed packages live (tinygrad_ls itself is told apart by
# its module name, wherever it is installed).
_INSTALLED = tuple(sorted({path for key, path in sysconfig.get_paths().items()
                           if key in ('stdlib', 'platstdlib', 'purelib', 'platlib')})) + ('<frozen ',)


def _memory_key(array: np.ndarray) -> tuple:
    """What makes two array objects the same array: memory, shape, strides, dtype."""
    return array.__array_interface__['data'][0], array.shape, array.strides, array.dtype.str


class Tracer(SweepRecorder, tracing.Tape):
    """The state of one recording. ``inputs``: the call's arrays and Values, in order (the
    plan reads them as ``inputs[i]`` at every replay)."""

    def __init__(self, inputs: list, function=None) -> None:
        self.code = PlanCode()
        self.function = function  # the compiled function (its closure is read without a search)
        for name, helper in HELPERS.items():
            self.code.constant_named(helper, name)
        self.arrays: dict = {}    # id(ndarray) -> the local that holds it at replay
        self.values: dict = {}    # id(Value) -> a local holding that Value object at replay
        self.keep: list = []      # everything named stays alive, so that ids stay unique
        self.forward_of: dict = {}  # op object -> (output local, backward form, func, input names)
        self.leaves: dict = {}    # id(Value from outside) -> (Value, local of its data)
        self.modules: dict = {}   # id(Module) -> (Module, its training flag when it ran)
        self.functions: dict = {}  # code object -> (globals, whether it is the library's)
        self.numbers: dict = {}   # id(traced number) -> the local holding it at replay
        self.node_grads: dict = {}  # id(Value) -> local of the gradient backward gave it
        self.unsupported: str | None = None
        self.has_backward = False
        self.paused_sweeps = 0
        self.trace: list | None = None  # (label, array) of every traced result, for check=N
        self.by_memory: dict = {}  # memory key of an input array -> its local (np.asarray views of it)
        self.random = RandomWatch()  # the generators the call could draw from, with their states
        for index, item in enumerate(inputs):
            if isinstance(item, Value):
                holder = self._define('x', 'item', str(index), ('inputs',), 'input', f"input {index}")
                self._name_value(item, holder)
                self._name_array(item._data, self._define('a', 'attr', '_data', (holder,), 'input',
                                                          f"input {index}"))
            else:
                self._name_array(item, self._define('a', 'item', str(index), ('inputs',), 'input',
                                                    f"input {index}"))
            data = item._data if isinstance(item, Value) else item
            self.by_memory[_memory_key(data)] = self.arrays[id(data)]

    # ---- names ---------------------------------------------------------------------------------
    def _define(self, prefix: str, form: str, func: str, args, kind: str, label: str = '',
                traced_value=None) -> str:
        local = self.code.fresh(prefix)
        self.code.emit(form, (local,), func, args, kind, label, local if traced_value is not None else '')
        if traced_value is not None and self.trace is not None:
            self.trace.append((label, np.array(traced_value, copy=True)))
        return local

    def _name_array(self, array, local: str) -> str:
        self.arrays[id(array)] = local
        self.keep.append(array)
        return local

    def _name_value(self, value: Value, local: str) -> str:
        self.values[id(value)] = local
        self.keep.append(value)
        return local

    def expr(self, arg) -> str:
        """The name standing for ``arg`` (an op's argument) at replay: a Value's data, an array,
        a traced number, or a constant."""
        if isinstance(arg, Value):
            return self.array_name(arg._data) or self.leaf(arg)
        if isinstance(arg, np.ndarray):
            return self.array_name(arg) or self.code.constant(arg)
        if type(arg) in TRACED and id(arg) in self.numbers:
            return self.numbers[id(arg)]
        if arg is None or isinstance(arg, bool):
            return Literal(repr(arg))
        return self.code.constant(arg)

    def array_name(self, array: np.ndarray) -> str | None:
        """The local holding ``array`` at replay (another view of an input array is that input),
        or None for an array not made by the step."""
        return self.arrays.get(id(array)) or self.by_memory.get(_memory_key(array))

    def leaf(self, value: Value) -> str:
        """A Value from outside the step (a parameter, a buffer): its data read into a local at
        its first use in each replay (after any update of the previous replay)."""
        found = self.leaves.get(id(value))
        if found is None:
            holder = self.values.get(id(value)) or self.code.constant(value, 'L')
            local = self._define('p', 'attr', '_data', (holder,), 'read', f"read {value.name or 'leaf'}")
            found = self.leaves[id(value)] = (value, local)
            self.keep.append(value)
        return found[1]

    def value_expr(self, value: Value) -> str:
        """A name for the Value object itself at replay: the call's argument, a leaf made in the
        step, a fresh Value around the step's data, or the Value from outside."""
        known = self.values.get(id(value))
        if known is not None:
            return known
        data = self.array_name(value._data)
        if data is None:
            return self.code.constant(value, 'L')
        return self._define('w', 'call', 'wrap', (data,), 'call', 'wrap')

    def known(self, value: Value) -> bool:
        return id(value) in self.values or self.array_name(value._data) is not None

    # ---- what the library reports ----------------------------------------------------------------
    def escape(self, reason: str) -> None:
        if self.unsupported is None:
            self.unsupported = f"{reason} (at {tracing.user_site()})"

    def read(self, value, how: str) -> None:
        self.escape(f"Python reads the numbers of a Value ({how}); a replay could not redo what "
                    "Python does with them")

    def number_used(self, number, how: str) -> None:
        self.escape(f"Python uses a number a replayed call returned ({how} of {plain(number)!r})")

    def array_used(self, how: str) -> None:
        self.escape(f"NumPy works on an array the function was called with ({how}) outside the library's "
                    "ops; a replay could not redo it: hand the array to an op (the model, tl.Value(x))")

    def grad_touched(self, value, how: str) -> None:
        self.escape(f"{how} outside an optimizer or a function marked tl.compiler.eager")

    def edited(self, value, how: str) -> None:
        self.escape(f"an in-place update of a Value ({how})")

    def module_called(self, module) -> None:
        """Note ``module`` and its attributes as they are when it is first called (a forward
        that changes them must not guard the changed ones)."""
        if id(module) not in self.modules:
            self.modules[id(module)] = (module, module.training, dict(module.__dict__))
            self.random.see_module(module, type(module).__name__)

    def function_ran(self, frame) -> None:
        """Note the globals and closure cells a function may read, as they are at its first call."""
        code = frame.f_code
        if code not in self.functions:
            module_globals = frame.f_globals
            library = module_globals.get('__name__', '').split('.')[0] == 'tinygrad_ls'
            if not library and code.co_filename.startswith(_INSTALLED):  # the standard library, packages
                self.functions[code] = None  # (their state is not the step's; gc callbacks run there)
                return
            read = {name: module_globals[name] for name in code.co_names
                    if name in module_globals and not name.startswith('__')}
            if not library:
                self.random.see_frame(frame)
            cells = closure_cells(code, library, frame, self.function)
            self.functions[code] = (module_globals, library, read, cells)

    def created(self, value: Value) -> None:
        """A leaf made in the step (``Value(...)``, ``nn.Parameter(...)``): made afresh at each
        replay, as eager code makes it (around the step's data if it wraps it)."""
        if self.unsupported:
            return
        data = self.array_name(value._data)
        source = data or self.code.constant(value._data)
        local = self._define('n', 'call', 'fresh_leaf', (self.code.constant(type(value)), source,
                             Literal(repr(data is None)), Literal(repr(value.requires_grad)),
                             self.code.constant(value.name)), 'call', 'new leaf')
        self._name_value(value, local)
        self._name_array(value._data, self._define('d', 'attr', '_data', (local,), 'read', 'new leaf'))

    def requires_grad_changed(self, value: Value, flag: bool) -> None:
        if self.unsupported:
            return
        if id(value) in self.values:
            self.code.call((), 'set_requires_grad', (self.values[id(value)], Literal(repr(flag))), 'call',
                           'requires_grad_')
        elif id(value._data) in self.arrays:  # an op's result made a leaf (tl.randn(...).requires_grad_())
            data = self.arrays[id(value._data)]
            local = self._define('n', 'call', 'make_leaf', (data, Literal(repr(flag))), 'call',
                                 'requires_grad_')
            self._name_value(value, local)
        else:
            self.escape("requires_grad_() on a Value from outside the step")

    # ---- ops -----------------------------------------------------------------------------------
    def op(self, cls: type, args: tuple, params: dict, out: Value) -> None:
        """``out = op.forward(*args)`` for the op ``apply`` just ran."""
        if self.unsupported:
            return
        fn = out._fn
        needs = fn.needs_input_grad if fn is not None else (False,) * len(args)
        inputs = tuple(self.expr(arg) for arg in args)
        scalar = out._data.ndim == 0  # forward may give a NumPy scalar, which apply makes an array
        rebuilt = self._data_params(params)
        if rebuilt:  # a setting holds the step's own data: a fresh op object at each replay
            keys = tuple(rebuilt)
            constants = [self.code.constant(item) for item in (cls, params, needs, keys)]
            op_local = self._define('r', 'call', 'make_op', (*constants, *rebuilt.values()), 'call',
                                    f"{cls.name} settings")
            local = self.code.fresh('v')
            self.code.emit('method', (local,), 'forward', (op_local, *inputs), 'forward', cls.name, local,
                           scalar)
            backward = ('method', 'backward', op_local)
        else:
            if fn is None:  # not in a graph: an op object of its own to replay the forward
                fn = cls(**params) if params else cls()
                fn.needs_input_grad = needs
            forward, backward_name = self.code.op(fn)
            local = self.code.fresh('v')
            self.code.emit('call', (local,), forward, inputs, 'forward', cls.name, local, scalar)
            backward = ('call', backward_name, None)
        if self.trace is not None:
            self.trace.append((cls.name, np.array(out._data, copy=True)))
        if modes.detect_anomaly:
            self.code.call((), 'check_finite', (local, self.code.constant(f"forward of '{cls.name}'")),
                           'check', 'check')
        self._name_array(out._data, local)
        if out._fn is not None:
            self.forward_of[out._fn] = (local, *backward, inputs)

    def _data_params(self, params: dict) -> dict:
        """The op settings that hold the step's data (a mask an earlier op made, an input array,
        a Value): {setting: the name of its value at replay}."""
        found = {}
        for key, item in params.items():
            if self._is_step_data(item):
                found[key] = self._param_expr(item)
            elif isinstance(item, tuple) and any(self._is_step_data(part) for part in item):
                found[key] = self._define('k', 'call', 'pack', tuple(self._param_expr(part) for part in item),
                                          'call', 'settings')
        return found

    def _is_step_data(self, item) -> bool:
        if isinstance(item, Value):
            return self.known(item)
        return isinstance(item, np.ndarray) and self.array_name(item) is not None or type(item) in TRACED

    def _param_expr(self, item) -> str:
        if isinstance(item, Value):
            return self.value_expr(item)
        return self.expr(item)

    # ---- replayed calls --------------------------------------------------------------------------
    def call(self, function, args: tuple, kwargs: dict):
        """Run ``function`` now (paused), and again at every replay with the replay's data."""
        if self.unsupported:
            with tracing.paused():
                return function(*args, **kwargs)
        if any(callable(arg) and not isinstance(arg, (Value, Module, type))
               for arg in (*args, *kwargs.values())):
            self.escape(f"{getattr(function, '__qualname__', function)} got a function argument (a closure, "
                        "such as L-BFGS's), which a replay would call with the recording's data")
        # An iterator (model.parameters()) would be spent after the first call: keep its items.
        args = tuple(list(arg) if isinstance(arg, Iterator) else arg for arg in args)
        kwargs = {key: list(arg) if isinstance(arg, Iterator) else arg for key, arg in kwargs.items()}
        names = [self._call_arg(arg) for arg in args]
        keywords = tuple(kwargs)
        names += [self._call_arg(arg) for arg in kwargs.values()]
        sweeps = self.paused_sweeps
        with tracing.paused(), tracing.quiet(self):
            result = function(*args, **kwargs)
        if self.paused_sweeps != sweeps and any(isinstance(arg, Value) and self.known(arg) for arg in args):
            self.escape(f"{getattr(function, '__qualname__', function)} ran backward() on the step's Values "
                        "inside a replayed call")
        label = getattr(function, '__qualname__', 'call')
        callee = self.code.constant(function, 'C')
        if keywords:
            local = self._define('o', 'call', 'call_with', (callee, self.code.constant(keywords), *names),
                                 'call', label)
        else:
            local = self._define('o', 'call', callee, names, 'call', label)
        return self._call_result(result, local, label)

    def _call_result(self, result, local: str, label: str):
        if isinstance(result, Value):
            self._name_value(result, local)
            self._name_array(result._data, self._define('d', 'attr', '_data', (local,), 'call', label))
        elif isinstance(result, np.ndarray):
            self._name_array(result, local)
        elif isinstance(result, (float, int)) and not isinstance(result, bool):
            result = traced(result, self)
            self.numbers[id(result)] = local
            self.keep.append(result)
        elif isinstance(result, (tuple, list)) and any(isinstance(item, (Value, np.ndarray, float, int))
                                                       for item in result):
            self.escape(f"{label} returned a {type(result).__name__} of the step's data")
        return result

    def _call_arg(self, arg) -> str:
        """A replayed call gets the step's Values as the replay's Values (arguments of the call,
        leaves made in the step) or fresh Values around the replay's arrays."""
        if isinstance(arg, Value):
            return self.value_expr(arg)
        if isinstance(arg, (list, tuple)) and any(isinstance(item, Value) and self.known(item)
                                                  for item in arg):
            parts = tuple(self._call_arg(item) for item in arg)
            return self._define('k', 'call', 'pack' if isinstance(arg, tuple) else 'pack_list', parts, 'call',
                                'arguments')
        return self.expr(arg)

    def check_constants(self) -> None:
        """Escape if an array the plan would keep as a constant is a view of the step's data (a
        reshape or a slice made by NumPy beside the ops): a replay would read the recording's."""
        shape = tracing.view_of_step_data(self.code.constants.values(), self._own_step_arrays())
        if shape is not None:
            self.escape(f"an array of shape {shape} made from the step's data by NumPy outside the "
                        "library's ops (a view such as a reshape or a slice); a replay would read the "
                        "recording's numbers: use the Value's own ops (reshape, indexing)")

    def _own_step_arrays(self):
        """The call's input arrays and the op results that own their memory (a result that is a
        view, such as a reshape of a constant, belongs to that constant)."""
        for array in self.keep:
            if isinstance(array, np.ndarray):
                local = self.arrays.get(id(array), '')
                if local[:1] == 'a' or (local[:1] == 'v' and array.base is None):
                    yield array

    # ---- the result ------------------------------------------------------------------------------
    def returned(self, obj) -> tuple:
        """``(name, now)``: the local that rebuilds ``obj`` (what the function returned) at a
        replay, and ``obj`` as the recording call hands it back. Values come back detached (a
        plan keeps no graph); a Value's ``.grad`` from the step's backward comes with it."""
        if isinstance(obj, Value):
            holder = self.values.get(id(obj))
            if holder is not None:
                return holder, obj
            data = self.arrays.get(id(obj._data))
            if data is None:
                return self.code.constant(obj, 'L'), obj
            now = Value._wrap(obj._data)
            grad = self.node_grads.get(id(obj))
            if grad is not None and obj._grad is not None:
                now._grad = obj._grad
                return self._define('w', 'call', 'wrap_grad', (data, grad), 'call', 'result'), now
            return self._define('w', 'call', 'wrap', (data,), 'call', 'result'), now
        if type(obj) in TRACED:
            return (self.numbers.get(id(obj)) or self.code.constant(plain(obj))), plain(obj)
        if isinstance(obj, np.ndarray):
            return self.arrays.get(id(obj)) or self.code.constant(obj), obj
        if type(obj) in (tuple, list):
            parts = [self.returned(item) for item in obj]
            local = self._define('o', 'call', 'pack' if type(obj) is tuple else 'pack_list',
                                 tuple(name for name, _ in parts), 'call', 'result')
            return local, type(obj)(now for _, now in parts)
        if type(obj) is dict:
            parts = {key: self.returned(item) for key, item in obj.items()}
            local = self._define('o', 'call', 'pack_dict', (self.code.constant(tuple(parts)),
                                 *(name for name, _ in parts.values())), 'call', 'result')
            return local, {key: now for key, (_, now) in parts.items()}
        if obj is None or isinstance(obj, bool):
            return Literal(repr(obj)), obj
        return self.code.constant(obj), obj
