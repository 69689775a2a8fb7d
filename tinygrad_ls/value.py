"""``Value``: an ndarray (0-d for a scalar) that remembers the op that made it.

Every op goes through ``Function.apply`` (``ops/base.py``); the graph is walked by
``engine.py``. This module only holds the data, the attributes of API.md and the operator
methods, each a one-line call of an op class from ``ops/``.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import tracing
from .dtypes import as_array, is_float_dtype
from .mode import modes
from .value_conversions import PythonConversions


def _comparison(ufunc: np.ufunc) -> Callable:
    """A comparison method: ``ufunc`` on the raw data, a bool Value that takes no gradient."""
    def compare(self, other):
        return nograd.Compare.apply(self, other, ufunc=ufunc)
    compare.__name__ = f"__{ufunc.__name__}__"
    return compare


def _reduction(name: str, op: str, doc: str) -> Callable:
    """A reduction method ``name(axis=None, keepdims=False, *, dim=None, keepdim=None)`` that
    applies ``reduce.<op>`` (``dim``/``keepdim`` are PyTorch's names for ``axis``/``keepdims``)."""
    def reduction(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Value:
        if dim is not None or keepdim is not None:
            axis, keepdims = _axis(name, axis, keepdims, dim, keepdim)
        return getattr(reduce, op).apply(self, axis=axis, keepdims=keepdims)
    reduction.__name__, reduction.__qualname__, reduction.__doc__ = name, f"Value.{name}", doc
    return reduction


class Value(PythonConversions):
    """A scalar or ndarray that records the ops that made it, for reverse-mode autodiff.

    ``Value(data, requires_grad=False, dtype=None, name=None)``: ``data`` is a Python number,
    a (nested) list, an ndarray or a Value (its data is taken, never nested). Python numbers
    and lists become the default float dtype; ndarrays keep theirs (and are not copied).
    """

    # `_edits` and `_edited_at` are set only by an in-place update (inplace.py): unset, they
    # cost nothing on the path every op takes, and readers fall back to 0 / -1.
    # `_data` and `_grad` hold the arrays; `data` and `grad` are properties that tell a recording
    # tape (tracing.py) when Python reads or assigns them. The library's own hot paths (ops, the
    # engine) use the slots directly.
    __slots__ = ('_data', '_grad', 'requires_grad', 'name', '_fn', '_hooks', '_edits', '_edited_at',
                 '__weakref__')
    __array_ufunc__ = None  # make `ndarray op Value` dispatch to Value's reflected operator

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        if isinstance(data, Value):
            data = data._data  # (a tracer knows that array: the new leaf wraps the step's data)
        self._data = as_array(data, dtype)
        self._grad = None
        self.requires_grad = False
        self.name = name
        self._fn = None
        self._hooks = None
        if requires_grad:
            self._set_requires_grad(True)
        if modes.watching:
            tracing.report('created', self)

    @staticmethod
    def _wrap(array: np.ndarray, fn=None) -> Value:
        """The fast way to build a Value: ``array`` (an ndarray, taken as it is: not converted,
        not copied) with ``fn`` the op that made it, or ``fn=None`` for a leaf that requires no
        grad (comparisons, detached data, returned gradients). It sets the slots directly
        instead of running ``__init__``'s conversions. ``Function.apply`` builds every op's
        result the same way, inlined (a test keeps the two alike)."""
        value = object.__new__(Value)
        value._data = array
        value._grad = value.name = value._hooks = None
        value.requires_grad = fn is not None
        value._fn = fn
        return value

    # ---- attributes -----------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The numbers: an ndarray (0-d for a scalar), the array itself (not a copy)."""
        if modes.watching:
            tracing.report('read', self, '.data')
        return self._data

    @data.setter
    def data(self, array: np.ndarray) -> None:
        if modes.watching:
            tracing.report('edited', self, 'assigning .data')
        self._data = array

    @property
    def grad(self) -> np.ndarray | None:
        """The gradient after ``backward()``: an ndarray of this Value's shape and dtype, or None."""
        if modes.watching:
            tracing.report('grad_touched', self, 'reading .grad')
        return self._grad

    @grad.setter
    def grad(self, array) -> None:
        if modes.watching:
            tracing.report('grad_touched', self, 'assigning .grad')
        self._grad = array

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def _version(self) -> int:
        """How many in-place updates this Value has had (PyTorch's ``_version``)."""
        return getattr(self, '_edits', 0)

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

    # ---- the graph -------------------------------------------------------------------------
    def detach(self) -> Value:
        """A new leaf sharing this data, cut from the graph."""
        return Value._wrap(self._data)

    def requires_grad_(self, flag: bool = True) -> Value:
        """Set ``requires_grad`` in place (only float dtypes can require grad)."""
        self._set_requires_grad(flag)
        if modes.watching:
            tracing.report('requires_grad_changed', self, bool(flag))
        return self

    def _set_requires_grad(self, flag: bool) -> None:
        if flag and not is_float_dtype(self._data.dtype):
            raise TypeError(f"requires_grad: only floating dtypes can require gradients, got {self.dtype}")
        if not flag and self._fn is not None:
            raise RuntimeError("requires_grad_(False): only leaves can be switched off; use detach()")
        self.requires_grad = bool(flag)
        return self

    @tracing.replayed
    def zero_grad(self) -> None:
        """Set ``grad`` to None."""
        self._grad = None

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

    # Comparisons give bool Values that take no gradient; Values still hash by identity.
    __lt__, __le__, __gt__, __ge__, __eq__, __ne__ = map(_comparison, (
        np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal))
    lt, le, gt, ge, eq, ne = __lt__, __le__, __gt__, __ge__, __eq__, __ne__
    __hash__ = object.__hash__

    # ---- in-place updates (rules and checks: inplace.py) -----------------------------------
    def add_(self, other, *, alpha=1): return inplace.update(self, 'add_', np.add, other, alpha)
    def sub_(self, other, *, alpha=1): return inplace.update(self, 'sub_', np.subtract, other, alpha)
    def mul_(self, other): return inplace.update(self, 'mul_', np.multiply, other)
    def div_(self, other): return inplace.update(self, 'div_', np.true_divide, other)
    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_
    def zero_(self): return inplace.fill(self, 'zero_', 0)
    def fill_(self, value): return inplace.fill(self, 'fill_', value)
    def copy_(self, src): return inplace.copy_from(self, src)
    def clamp_(self, min=None, max=None): return inplace.clamp(self, min, max)
    def __setitem__(self, index, value): inplace.set_item(self, index, value)

    # ---- elementwise ------------------------------------------------------------------------
    def exp(self) -> Value: return elementwise.Exp.apply(self)
    def log(self) -> Value: return elementwise.Log.apply(self)
    def sqrt(self) -> Value: return elementwise.Sqrt.apply(self)
    def tanh(self) -> Value: return elementwise.Tanh.apply(self)
    def sigmoid(self) -> Value: return elementwise.Sigmoid.apply(self)
    def relu(self) -> Value: return elementwise.Relu.apply(self)
    def abs(self) -> Value: return elementwise.Abs.apply(self)
    def sin(self) -> Value: return elementwise.Sin.apply(self)
    def cos(self) -> Value: return elementwise.Cos.apply(self)
    def log1p(self) -> Value: return elementwise.Log1p.apply(self)
    def expm1(self) -> Value: return elementwise.Expm1.apply(self)
    def square(self) -> Value: return arithmetic.Mul.apply(self, self)
    def pow(self, exponent) -> Value: return arithmetic.Pow.apply(self, exponent)
    __abs__ = abs

    def clip(self, min=None, max=None) -> Value:
        """Clamp to ``[min, max]`` (either may be None); gradient 1 inside, 0 outside."""
        return elementwise.Clip.apply(self, low=min, high=max)

    clamp = clip

    def masked_fill(self, mask, value) -> Value:
        """``value`` where ``mask`` (bool, broadcast to this shape) is True, else this Value;
        no gradient flows to the filled places."""
        return combine.where(mask, value, self)

    def astype(self, dtype) -> Value:
        """Cast to ``dtype``; differentiable between float dtypes."""
        return elementwise.Cast.apply(self, dtype=np.dtype(dtype))

    def to(self, dtype) -> Value: return self.astype(dtype)
    def float(self) -> Value: return self.astype(np.float32)
    def double(self) -> Value: return self.astype(np.float64)
    def clone(self) -> Value: return shapes.Clone.apply(self)

    # ---- reductions (``dim``/``keepdim`` are PyTorch's names for ``axis``/``keepdims``) ------
    sum = _reduction('sum', 'Sum', "Sum over ``axis`` (None: all elements).")
    mean = _reduction('mean', 'Mean', "Mean over ``axis`` (None: all elements).")
    max = _reduction('max', 'Max', "Maximum; ties share the gradient equally. (Values only: "
                     "PyTorch's ``max(dim)`` also returns indices, which ``argmax`` gives here.)")
    min = _reduction('min', 'Min', "Minimum; ties share the gradient equally (values only, as ``max``).")
    prod = _reduction('prod', 'Prod', "Product over ``axis``; exact gradients where elements are zero too.")
    logsumexp = _reduction('logsumexp', 'LogSumExp', "``log(sum(exp(x)))`` over ``axis``, computed "
                           "stably (shifted by the max).")

    def var(self, axis=None, ddof=0, keepdims=False, *, dim=None, keepdim=None) -> Value:
        """Variance ``sum((x - mean)**2) / (n - ddof)`` over ``axis``."""
        if dim is not None or keepdim is not None:
            axis, keepdims = _axis('var', axis, keepdims, dim, keepdim)
        count = reduce.reduced_count(self.shape, axis)
        centered = self - self.mean(axis=axis, keepdims=True)
        return (centered * centered).sum(axis=axis, keepdims=keepdims) / (count - ddof)

    def std(self, axis=None, ddof=0, keepdims=False, *, dim=None, keepdim=None) -> Value:
        """Standard deviation, ``sqrt(var(axis, ddof))``."""
        return self.var(axis, ddof, keepdims, dim=dim, keepdim=keepdim).sqrt()

    def softmax(self, axis=-1, *, dim=None) -> Value:
        if dim is not None:
            axis = _axis('softmax', axis, False, dim, None, -1)[0]
        return reduce.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis=-1, *, dim=None) -> Value:
        if dim is not None:
            axis = _axis('log_softmax', axis, False, dim, None, -1)[0]
        return reduce.LogSoftmax.apply(self, axis=axis)

    def cumsum(self, axis=None, *, dim=None) -> Value:
        """Running sum along ``axis`` (required, as in PyTorch)."""
        axis = _axis('cumsum', axis, False, dim, None)[0]
        if not isinstance(axis, (int, np.integer)):
            raise TypeError(f"cumsum: axis must be an int, got {axis!r} (shape {self.shape})")
        return reduce.Cumsum.apply(self, axis=int(axis))

    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Value:
        """Index of the maximum (int64, no gradient); over the flattened data without ``axis``."""
        if dim is not None or keepdim is not None:
            axis, keepdims = _axis('argmax', axis, keepdims, dim, keepdim)
        return nograd.ArgReduce.apply(self, pick=np.argmax, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None) -> Value:
        """Index of the minimum (int64, no gradient); over the flattened data without ``axis``."""
        if dim is not None or keepdim is not None:
            axis, keepdims = _axis('argmin', axis, keepdims, dim, keepdim)
        return nograd.ArgReduce.apply(self, pick=np.argmin, axis=axis, keepdims=keepdims)

    # ---- shape ------------------------------------------------------------------------------
    def reshape(self, *shape) -> Value:
        """``reshape(2, 3)`` or ``reshape((2, 3))``; one dimension may be -1."""
        return shapes.Reshape.apply(self, shape=shapes.sizes_of(shape))

    view = reshape

    def transpose(self, *axes) -> Value:
        """Permute axes: ``transpose()`` reverses them; ``transpose(1, 0, 2)`` or a tuple."""
        return shapes.Transpose.apply(self, axes=shapes.sizes_of(axes) or None)

    def permute(self, *axes) -> Value:
        """``permute(2, 0, 1)``: axis ``i`` of the result is axis ``axes[i]`` of this Value."""
        return shapes.Transpose.apply(self, axes=shapes.permutation(self.ndim, shapes.sizes_of(axes)))

    def flatten(self) -> Value:
        """A 1-D view of all elements."""
        return self.reshape(-1)

    def squeeze(self, axis=None, *, dim=None) -> Value:
        """Drop axes of size 1: all of them, or ``axis`` (left alone if its size is not 1)."""
        axis = _axis('squeeze', axis, False, dim, None)[0]
        return self.reshape(shapes.squeezed(self.shape, axis))

    def unsqueeze(self, axis=None, *, dim=None) -> Value:
        """Insert an axis of size 1 at ``axis`` (negative counts from the end of the result)."""
        axis = _axis('unsqueeze', axis, False, dim, None)[0]
        return self.reshape(shapes.unsqueezed(self.shape, axis))

    def broadcast_to(self, shape) -> Value:
        return shapes.BroadcastTo.apply(self, shape=tuple(shape))

    def expand(self, *sizes) -> Value:
        """Broadcast to ``sizes`` (PyTorch's ``expand``): -1 keeps an axis's size."""
        return self.broadcast_to(shapes.expanded(self.shape, shapes.sizes_of(sizes)))

    def repeat(self, *repeats) -> Value:
        """Tile the data ``repeats[i]`` times along axis ``i`` (PyTorch's ``repeat``, NumPy's ``tile``)."""
        return shapes.Tile.apply(self, repeats=shapes.repeats_for(self.shape, shapes.sizes_of(repeats)))

    def __getitem__(self, index) -> Value:
        return shapes.GetItem.apply(self, index=shapes.normalize_index(index))


class HookHandle:
    """Returned by ``register_hook``; ``remove()`` takes the hook off again."""

    def __init__(self, hooks: list, hook: Callable):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _axis(caller: str, axis, keepdims, dim, keepdim, axis_default=None) -> tuple:
    """``(axis, keepdims)`` from NumPy's names or PyTorch's (``dim``, ``keepdim``), not both."""
    if dim is not None:
        if axis is not axis_default:
            raise TypeError(f"{caller}: got both axis={axis!r} and dim={dim!r}; pass one of them")
        axis = tuple(dim) if isinstance(dim, list) else dim
    if keepdim is not None:
        if keepdims:
            raise TypeError(f"{caller}: got both keepdims and keepdim; pass one of them")
        keepdims = keepdim
    return axis, keepdims


# The op modules import Value, so they are imported after the class exists; so does unwrap.py
# (data_of, to_numpy, operand_data, values_in: the ways to get at a Value's array).
from .unwrap import data_of, operand_data, to_numpy, values_in  # noqa: E402,F401  (re-exported)

# isort: split
from . import combine, engine, inplace  # noqa: E402
from .ops import arithmetic, elementwise, nograd, reduce, shapes  # noqa: E402

