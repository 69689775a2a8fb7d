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

from .dtypes import as_array
from .mode import modes
from .value import Value


class Function:
    """Base class of all differentiable ops. Subclasses set ``name`` and override both passes."""

    name = 'function'

    # Set by apply() when the op is recorded in the graph:
    inputs: tuple            # the arguments as given (Values and constants)
    input_data: tuple        # their raw data (ndarrays, or the constants themselves)
    needs_input_grad: tuple  # one bool per argument

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad, out, *inputs):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **params) -> Value:
        """Run the op on ``args`` (Values, ndarrays or numbers) and record it if grad is needed.

        This is the hot path of every op, so it makes one pass over the arguments and builds
        the output Value inline.
        """
        fn = cls(**params) if params else cls()
        record = False
        if len(args) == 1:
            (x,) = args
            if isinstance(x, Value):
                data, record = (x.data,), x.requires_grad
                needs = (record,)
            else:
                data, needs = (constant(x, cls.name),), (False,)
        else:
            data, needs = [], []
            for arg in args:
                if isinstance(arg, Value):
                    data.append(arg.data)
                    needs.append(arg.requires_grad)
                    record = record or arg.requires_grad
                else:
                    data.append(constant(arg, cls.name))
                    needs.append(False)
        try:
            out = fn.forward(*data)
        except (ValueError, IndexError, TypeError) as error:
            raise type(error)(f"{cls.name}: {error} (input shapes: {_shapes(data)})") from None
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        if modes.detect_anomaly:
            _check_finite(out, f"forward of '{cls.name}'")
        value = object.__new__(Value)
        value.data = out
        value.grad = value.name = value._hooks = None
        if record and modes.grad_enabled and out.dtype.kind == 'f':
            fn.inputs = args
            fn.input_data = tuple(data)
            fn.needs_input_grad = tuple(needs)
            value.requires_grad = True
            value._fn = fn
        else:
            value.requires_grad = False
            value._fn = None
        return value

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}'>"


def constant(arg, op: str):
    """A non-Value argument as the op will see it: ndarrays and Python numbers as they are
    (numbers stay weakly typed, so they never change a dtype), lists as arrays."""
    if isinstance(arg, (np.ndarray, int, float, np.generic)):
        return arg
    if isinstance(arg, (list, tuple)):
        return as_array(arg)
    raise TypeError(f"{op}: unsupported operand of type {type(arg).__name__}")


def _shapes(data) -> str:
    return ', '.join(str(np.shape(d)) for d in data)


def _check_finite(array, where: str) -> None:
    array = array.data if isinstance(array, Value) else np.asarray(array)
    if array.dtype.kind in 'fc' and not np.isfinite(array).all():
        kind = 'nan' if np.isnan(array).any() else 'inf'
        raise RuntimeError(f"detect_anomaly: {where} produced {kind} values (shape {array.shape})")
