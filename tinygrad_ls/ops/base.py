"""``Function``: the base class of every op and the single door (``apply``) they all go through.

An op is a small subclass with ``forward`` and ``backward`` side by side:

* ``forward(self, *arrays) -> ndarray`` works on raw ndarrays (inputs that are not Values are
  passed through as given: Python numbers stay Python numbers so they never change a dtype)
  and may save on ``self`` whatever ``backward`` needs.
* ``backward(self, grad, out, *inputs) -> tuple`` returns one gradient per input (``None``
  where ``self.needs_input_grad[i]`` is False). It is written with operators and methods that
  ndarrays and Values share, so the same code runs in two modes: for a first-order pass the
  engine hands it ndarrays (fast, no graph); with ``create_graph=True`` it hands it Values
  (``out`` is the output Value, ``inputs`` the input Values) and every step is recorded, which
  is what makes second and higher derivatives work. Gradients may come back broadcast to the
  output's shape: the engine reduces them to each input's shape in one place.
"""
from __future__ import annotations

import numpy as np

from .. import tracing
from ..dtypes import as_array
from ..mode import check_finite, modes, op_counter
from ..value import Value, data_of


class Function:
    """Base class of all differentiable ops. Subclasses set ``name`` and override both passes."""

    name = 'function'
    # Which data backward reads, for the in-place check: an op whose backward needs no input
    # values (add, sum, reshape, …) sets saves_inputs False; one that reads its own result
    # (exp, tanh, sigmoid, …) sets saves_output True.
    saves_inputs = True
    saves_output = False

    # Set by apply() when the op is recorded in the graph:
    inputs: tuple            # the arguments as given (Values and constants)
    input_data: tuple        # their raw data (ndarrays, or the constants themselves)
    needs_input_grad: tuple  # one bool per argument
    sequence: int            # creation order: an op's inputs always have smaller numbers

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad, out, *inputs):
        raise NotImplementedError

    def extra_repr(self) -> str:
        """The op's settings as graph pictures show them under its name (``'stride=(2, 2),
        padding=(1, 1)'`` for a convolution); ``''`` for none."""
        return ''

    @classmethod
    def apply(cls, *args, **params) -> Value:
        """Run the op on ``args`` (Values, ndarrays or numbers) and record it if grad is needed.

        This is the hot path of every op, so it makes one pass over the arguments and builds
        the output Value inline. Anomaly detection and a recording tape take the slow path
        (``_watched_apply``), which one thread-local flag tells apart.
        """
        if modes.watching:
            return _watched_apply(cls, args, params)
        fn = cls(**params) if params else cls()
        try:  # plain positional forward calls for one and two inputs: Python inlines those
            if len(args) == 2:
                a, b = args
                if isinstance(a, Value):
                    data_a, need_a = a._data, a.requires_grad
                else:
                    data_a, need_a = constant(a), False
                if isinstance(b, Value):
                    data_b, need_b = b._data, b.requires_grad
                else:
                    data_b, need_b = constant(b), False
                # needs_input_grad as a constant tuple rather than a fresh one: one object less
                # per op for the garbage collector, whose passes dominate long chains of ops.
                if need_a and need_b:
                    needs = (True, True)
                else:
                    needs = (True, False) if need_a else (False, True) if need_b else (False, False)
                data, record = (data_a, data_b), need_a or need_b
                out = fn.forward(data_a, data_b)
            elif len(args) == 1:
                (x,) = args
                if isinstance(x, Value):
                    data, record = (x._data,), x.requires_grad
                    needs = (True,) if record else (False,)  # constants, as above
                else:
                    data, needs, record = (constant(x),), (False,), False
                out = fn.forward(data[0])
            else:
                data = tuple([arg._data if isinstance(arg, Value) else constant(arg)
                              for arg in args])
                needs = tuple([isinstance(arg, Value) and arg.requires_grad for arg in args])
                record = True in needs
                out = fn.forward(*data)
        except (IndexError, ValueError, TypeError) as error:
            raise _rephrased(error, cls.name, args) from error
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        # Value._wrap(out, fn) inlined: a call would cost ~2% of a small op, on every op.
        value = object.__new__(Value)
        value._data = out
        value._grad = value.name = value._hooks = None
        if record and modes.grad_enabled and out.dtype.kind == 'f':
            fn.inputs = args
            fn.input_data = data
            fn.needs_input_grad = needs
            fn.sequence = next(op_counter)
            value.requires_grad = True
            value._fn = fn
        else:
            value.requires_grad = False
            value._fn = None
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}'>"


def _watched_apply(cls, args: tuple, params: dict) -> Value:
    """``apply`` under anomaly detection or a tape: the op runs on the fast path (with
    ``watching`` off, so that nothing it does inside is reported), then its result is checked
    for NaN/inf and handed to the tape recording in this thread."""
    tape = modes.tape
    with tracing.quiet(tape):  # what the op does inside is its own: not reported, not profiled
        modes.watching = False
        try:
            out = cls.apply(*args, **params)
        finally:
            modes.watching = True
        if modes.detect_anomaly:
            check_finite(out._data, f"forward of '{cls.name}'")
        if tape is not None and not tape.paused:
            tape.op(cls, args, params, out)
    return out


class ResultOp(Function):
    """An op whose backward reads only its own result (exp, tanh, softmax, …), not its inputs:
    updating an input in place after the op ran leaves its gradient right."""
    saves_inputs, saves_output = False, True


def constant(arg):
    """A non-Value argument as the op will see it: ndarrays and Python numbers as they are
    (numbers stay weakly typed, so they never change a dtype), lists as arrays."""
    if isinstance(arg, (np.ndarray, int, float, np.generic)):
        return arg
    if isinstance(arg, (list, tuple)):
        return as_array(arg)
    raise TypeError(f"unsupported operand of type {type(arg).__name__}")


def rephrased(error: Exception, message: str) -> Exception:
    """``message`` in the builtin kind of ``error`` (IndexError, ValueError or TypeError: NumPy
    raises subclasses of them that take other arguments)."""
    kind = next(k for k in (IndexError, ValueError, TypeError) if isinstance(error, k))
    return kind(message)


def _rephrased(error: Exception, op: str, args: tuple) -> Exception:
    """The same kind of error, naming the op and the input shapes."""
    shapes = ', '.join(str(np.shape(data_of(arg))) for arg in args)
    return rephrased(error, f"{op}: {error} (input shapes: {shapes})")
