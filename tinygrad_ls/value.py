"""``Value``: an ndarray (0-d for a scalar) that remembers the op that made it.

Every op goes through ``Function.apply`` (``ops/base.py``); the graph is walked by
``engine.py``. This module only holds the data, the attributes of API.md and the operator
methods, each a one-line call of an op class from ``ops/``.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dtypes import as_array, is_float_dtype


class Value:
    """A scalar or ndarray that records the ops that made it, for reverse-mode autodiff.

    ``Value(data, requires_grad=False, dtype=None, name=None)``: ``data`` is a Python number,
    a (nested) list, an ndarray or a Value (its data is taken, never nested). Python numbers
    and lists become the default float dtype; ndarrays keep theirs (and are not copied).
    """

    __slots__ = ('data', 'grad', 'requires_grad', 'name', '_fn', '_hooks', '__weakref__')
    __array_ufunc__ = None  # make `ndarray op Value` dispatch to Value's reflected operator

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        if isinstance(data, Value):
            data = data.data
        self.data = as_array(data, dtype)
        self.grad = None
        self.requires_grad = False
        self.name = name
        self._fn = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(array: np.ndarray, fn=None) -> Value:
        """The one fast way to build a Value: ``array`` (an ndarray, taken as it is: not
        converted, not copied) with ``fn`` the op that made it, or ``fn=None`` for a leaf that
        requires no grad (op results under no_grad, constants, detached data). Every op's
        result goes through here, so it sets the slots directly instead of running
        ``__init__``'s conversions."""
        value = object.__new__(Value)
        value.data = array
        value.grad = value.name = value._hooks = None
        value.requires_grad = fn is not None
        value._fn = fn
        return value

    # ---- attributes -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def op(self) -> str:
        """Name of the op that made this Value; ``''`` for a leaf."""
        return self._fn.name if self._fn is not None else ''

    @property
    def parents(self) -> tuple:
        """The Values this one was made from (constants are not listed), in argument order."""
        if self._fn is None:
            return ()
        return tuple(arg for arg in self._fn.inputs if isinstance(arg, Value))

    @property
    def is_leaf(self) -> bool:
        return self._fn is None

    @property
    def T(self) -> Value:
        return self.transpose()

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=', ', threshold=20, precision=4, prefix='Value(')
        extra = f", dtype={self.dtype}" if self.dtype != np.float32 else ''
        if self.requires_grad:
            extra += f", op='{self.op}'" if self._fn is not None else ', requires_grad=True'
        if self.name:
            extra += f", name={self.name!r}"
        return f"Value({body}{extra})"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d Value")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    # ---- plain-data helpers -----------------------------------------------------------------
    def item(self):
        """The single element as a Python number."""
        if self.size != 1:
            raise ValueError(f"item: only a Value with one element can be converted, got shape {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The data (the same array, not a copy)."""
        return self.data

    def detach(self) -> Value:
        """A new leaf sharing this data, cut from the graph."""
        return Value._wrap(self.data)

    def requires_grad_(self, flag: bool = True) -> Value:
        """Set ``requires_grad`` in place (only float dtypes can require grad)."""
        if flag and not is_float_dtype(self.data.dtype):
            raise TypeError(f"requires_grad: only floating dtypes can require gradients, got {self.dtype}")
        if not flag and self._fn is not None:
            raise RuntimeError("requires_grad_(False): only leaves can be switched off; use detach()")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        """Set ``grad`` to None."""
        self.grad = None

    def register_hook(self, hook: Callable) -> HookHandle:
        """Call ``hook(grad)`` when this Value's gradient is computed; a returned value replaces it.

        In a first-order pass ``grad`` is an ndarray; under ``create_graph=True`` it is a Value.
        Returns a handle whose ``remove()`` unregisters the hook.
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook: this Value does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return HookHandle(self._hooks, hook)

    def backward(self, grad=None) -> None:
        """Backpropagate from this Value; see ``engine.backward``."""
        engine.backward(self, grad)

    # ---- arithmetic -------------------------------------------------------------------------
    def __add__(self, other): return arithmetic.Add.apply(self, other)
    def __radd__(self, other): return arithmetic.Add.apply(other, self)
    def __sub__(self, other): return arithmetic.Sub.apply(self, other)
    def __rsub__(self, other): return arithmetic.Sub.apply(other, self)
    def __mul__(self, other): return arithmetic.Mul.apply(self, other)
    def __rmul__(self, other): return arithmetic.Mul.apply(other, self)
    def __truediv__(self, other): return arithmetic.Div.apply(self, other)
    def __rtruediv__(self, other): return arithmetic.Div.apply(other, self)
    def __pow__(self, other): return arithmetic.Pow.apply(self, other)
    def __rpow__(self, other): return arithmetic.Pow.apply(other, self)
    def __matmul__(self, other): return arithmetic.MatMul.apply(self, other)
    def __rmatmul__(self, other): return arithmetic.MatMul.apply(other, self)
    def __neg__(self): return arithmetic.Neg.apply(self)
    def __pos__(self): return self

    # Comparisons give bool Values that take no gradient. `==` stays identity so Values hash.
    def __lt__(self, other): return Value._wrap(np.asarray(self.data < _data(other)))
    def __le__(self, other): return Value._wrap(np.asarray(self.data <= _data(other)))
    def __gt__(self, other): return Value._wrap(np.asarray(self.data > _data(other)))
    def __ge__(self, other): return Value._wrap(np.asarray(self.data >= _data(other)))
    __hash__ = object.__hash__

    # ---- elementwise ------------------------------------------------------------------------
    def exp(self) -> Value: return elementwise.Exp.apply(self)
    def log(self) -> Value: return elementwise.Log.apply(self)
    def sqrt(self) -> Value: return elementwise.Sqrt.apply(self)
    def tanh(self) -> Value: return elementwise.Tanh.apply(self)
    def sigmoid(self) -> Value: return elementwise.Sigmoid.apply(self)
    def relu(self) -> Value: return elementwise.Relu.apply(self)
    def abs(self) -> Value: return elementwise.Abs.apply(self)
    __abs__ = abs

    def clip(self, min=None, max=None) -> Value:
        """Clamp to ``[min, max]`` (either may be None); gradient 1 inside, 0 outside."""
        return elementwise.Clip.apply(self, low=min, high=max)

    def astype(self, dtype) -> Value:
        """Cast to ``dtype``; differentiable between float dtypes."""
        return elementwise.Cast.apply(self, dtype=np.dtype(dtype))

    # ---- reductions -------------------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> Value:
        return reduce.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Value:
        return reduce.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False) -> Value:
        """Maximum; ties share the gradient equally."""
        return reduce.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims: bool = False) -> Value:
        """Minimum; ties share the gradient equally."""
        return reduce.Min.apply(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof: int = 0, keepdims: bool = False) -> Value:
        """Variance ``sum((x - mean)**2) / (n - ddof)`` over ``axis``."""
        count = reduce.reduced_count(self.shape, axis)
        centered = self - self.mean(axis=axis, keepdims=True)
        return (centered * centered).sum(axis=axis, keepdims=keepdims) / (count - ddof)

    def logsumexp(self, axis=None, keepdims: bool = False) -> Value:
        """``log(sum(exp(x)))`` over ``axis``, computed stably (shifted by the max)."""
        return reduce.LogSumExp.apply(self, axis=axis, keepdims=keepdims)

    def softmax(self, axis: int = -1) -> Value:
        return reduce.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Value:
        return reduce.LogSoftmax.apply(self, axis=axis)

    # ---- shape ------------------------------------------------------------------------------
    def reshape(self, *shape) -> Value:
        """``reshape(2, 3)`` or ``reshape((2, 3))``; one dimension may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return shapes.Reshape.apply(self, shape=shape)

    def transpose(self, *axes) -> Value:
        """Permute axes: ``transpose()`` reverses them; ``transpose(1, 0, 2)`` or a tuple."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return shapes.Transpose.apply(self, axes=axes or None)

    def flatten(self) -> Value:
        """A 1-D view of all elements."""
        return self.reshape(-1)

    def broadcast_to(self, shape) -> Value:
        return shapes.BroadcastTo.apply(self, shape=tuple(shape))

    def __getitem__(self, index) -> Value:
        return shapes.GetItem.apply(self, index=shapes.normalize_index(index))


class HookHandle:
    """Returned by ``register_hook``; ``remove()`` takes the hook off again."""

    def __init__(self, hooks: list, hook: Callable):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def data_of(x):
    """The raw data behind ``x``: a Value's ndarray, anything else exactly as it is (no copy,
    no conversion). The one way to unwrap: ops use it for masks and shapes, whose own
    derivative is zero; everything else reads user input through ``to_numpy``."""
    return x.data if isinstance(x, Value) else x


def to_numpy(x, dtype=None) -> np.ndarray:
    """``x`` (a Value, ndarray, number or nested list) as an ndarray: a Value's data and
    ndarrays as they are (no copy unless ``dtype`` asks for a cast), anything else through
    ``np.asarray`` (so lists keep NumPy's dtype, unlike ``Value(list)``)."""
    return np.asarray(x.data if isinstance(x, Value) else x, dtype=dtype)


def _data(other):
    """The raw operand of a comparison."""
    if isinstance(other, Value):
        return other.data
    return as_array(other) if isinstance(other, (list, tuple)) else other


# The op modules import Value, so they are imported after the class exists.
from . import engine  # noqa: E402
from .ops import arithmetic, elementwise, reduce, shapes  # noqa: E402

