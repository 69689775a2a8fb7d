"""Stateless neural-network functions: activations, dropout, linear, one_hot and the losses.

    from tinygrad_ls.nn import functional as F
    loss = F.cross_entropy(model(x), y)             # logits (N, C), class indices (N,)

The activations live in ``functional_activations.py`` and are re-exported here.

Names, argument names and defaults are PyTorch's (``torch.nn.functional``); the deprecated
``size_average``/``reduce`` arguments are left out, so options after ``weight`` are
keyword-only. Each loss takes ``reduction='mean'|'sum'|'none'``. Arguments are checked
before anything is computed: a loss whose input and target shapes differ raises ValueError
naming both (targets are never silently broadcast, so (N, 1) against (N,) is an error).
A target given as an array or list is cast to the input's dtype; a target Value that
requires grad gets a gradient too. An input, target, ``weight`` or ``pos_weight`` holding NaN
or ±inf, a class index out of range and a ``'mean'`` over a batch whose every target is
``ignore_index`` are refused with a ValueError naming the loss, the argument and the first
bad index (a NaN loss would otherwise turn every parameter into NaN at the next optimizer
step, silently). Those checks read the numbers, so they run inside the loss ops' ``forward``
(``ops/loss_checks.py``), where a step replayed by ``tl.compile`` runs them again.
"""
from __future__ import annotations

import numpy as np

from .. import tracing
from ..checks import check_int, check_number
from ..mode import modes
from ..ops import losses as ops
from ..ops.linear import FusedLinear
from ..ops.loss_checks import apply_checked
from ..ops.nograd import OneHot
from ..value import Value, to_numpy
from .functional_activations import (
    _as_value,
    dropout,
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from .functional_attention import scaled_dot_product_attention
from .functional_conv import adaptive_avg_pool2d, avg_pool2d, conv1d, conv2d, max_pool2d
from .functional_norm import batch_norm, embedding, layer_norm

__all__ = [
    'relu', 'sigmoid', 'tanh', 'softmax', 'log_softmax', 'dropout', 'linear',
    'leaky_relu', 'gelu', 'silu', 'elu', 'softplus', 'one_hot',
    'mse_loss', 'l1_loss', 'huber_loss', 'binary_cross_entropy',
    'binary_cross_entropy_with_logits', 'cross_entropy', 'nll_loss',
    'conv1d', 'conv2d', 'max_pool2d', 'avg_pool2d', 'adaptive_avg_pool2d',
    'layer_norm', 'batch_norm', 'embedding', 'scaled_dot_product_attention',
]

# a float target of class indices is usually a Python list that went through Value()
_INDEX_HINT = ("; a Python list of numbers becomes the default float dtype in a Value, so pass class indices "
               "as np.array([...]), tl.Value([...], dtype=np.int64) or the list itself")


# ---- layers -------------------------------------------------------------------------------
def linear(input, weight, bias=None) -> Value:
    """``input @ weight.T + bias``: input (..., in), weight (out, in), bias (out,) -> (..., out).
    A complex input (an ndarray; a Value cannot hold one) is a TypeError, as in PyTorch."""
    dtype = getattr(input, 'dtype', None)
    if dtype is not None and dtype.kind == 'c':
        raise TypeError(f"linear: input of shape {np.shape(input)} is complex ({dtype}); the weights are "
                        f"real ({weight.dtype}) and PyTorch refuses the mix: pass x.real or abs(x)")
    if bias is None:
        return FusedLinear.apply(input, weight)
    return FusedLinear.apply(input, weight, bias)


def one_hot(indices, num_classes: int = -1) -> Value:
    """Integer class indices (any shape ``S``) -> an int64 Value of shape ``S + (num_classes,)``
    with a 1 at each index (no gradient). ``num_classes=-1`` takes ``max(indices) + 1``."""
    name = 'one_hot'
    array = to_numpy(indices)
    if array.dtype.kind not in 'iu':
        raise TypeError(f"{name}: indices must be integers, got dtype {array.dtype} (shape {array.shape})"
                        + (_INDEX_HINT if array.dtype.kind == 'f' else ''))
    check_int(name, 'num_classes', num_classes)
    if num_classes < -1:
        raise ValueError(f"{name}: num_classes must be -1 (the largest index + 1) or a "
                         f"non-negative int, got {num_classes}")
    if num_classes == -1:
        if not array.size:
            raise ValueError(f"{name}: cannot infer the number of classes from empty indices "
                             f"(shape {array.shape}); pass num_classes")
        if modes.watching and isinstance(indices, Value):  # the result's shape comes from the data
            tracing.report('read', indices, 'one_hot(num_classes=-1)')
        num_classes = max(int(array.max()) + 1, 0)
    # (the range of the indices is checked by the op, at every call and every replay)
    return OneHot.apply(indices if isinstance(indices, Value) else array, num_classes=num_classes)


# ---- regression losses --------------------------------------------------------------------
def mse_loss(input, target, *, reduction: str = 'mean', weight=None) -> Value:
    """Squared error ``w (input - target)**2``, reduced; shapes must match. With ``weight``
    (the input's shape, no gradient) the mean is ``sum(w (input - target)**2) / sum(w)``."""
    input, target = _input_and_target('mse_loss', input, target, reduction)
    weight = _weight('mse_loss', weight, input, same_shape=True)
    return apply_checked(ops.SquaredError, input, target, reduction=reduction, weight=weight,
                         mean_over_weight=True)


def l1_loss(input, target, *, reduction: str = 'mean', weight=None) -> Value:
    """Absolute error ``w |input - target|`` (gradient 0 where they are equal), reduced; with
    ``weight`` (the input's shape, no gradient) the mean is divided by ``sum(w)``."""
    input, target = _input_and_target('l1_loss', input, target, reduction)
    weight = _weight('l1_loss', weight, input, same_shape=True)
    return apply_checked(ops.AbsoluteError, input, target, reduction=reduction, weight=weight,
                         mean_over_weight=True)


def huber_loss(input, target, *, reduction: str = 'mean', delta: float = 1.0, weight=None) -> Value:
    """Huber loss with ``d = input - target``: ``0.5 d**2`` where ``|d| < delta``, else
    ``delta (|d| - 0.5 delta)``; gradient ``clip(d, -delta, delta)``. ``delta > 0``.
    ``weight`` (the input's shape, no gradient) multiplies each element; the mean stays the
    plain mean of the weighted losses (as in PyTorch)."""
    check_delta('huber_loss', delta)
    input, target = _input_and_target('huber_loss', input, target, reduction)
    weight = _weight('huber_loss', weight, input, same_shape=True)
    return apply_checked(ops.Huber, input, target, delta=delta, reduction=reduction, weight=weight)


# ---- classification losses ----------------------------------------------------------------
def binary_cross_entropy(input, target, weight=None, *, reduction: str = 'mean') -> Value:
    """``-w (y log p + (1 - y) log(1 - p))`` for probabilities ``p = input`` in [0, 1] (each
    log clamped at -100, as in PyTorch); ``weight`` (no gradient) broadcasts to the input.
    Prefer ``binary_cross_entropy_with_logits`` on logits: it is stable without clamping."""
    input, target = _input_and_target('binary_cross_entropy', input, target, reduction)
    weight = _weight('binary_cross_entropy', weight, input)  # the op checks that input is in [0, 1]
    return apply_checked(ops.BinaryCrossEntropy, input, target, reduction=reduction, weight=weight)


def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction: str = 'mean',
                                     pos_weight=None) -> Value:
    """``binary_cross_entropy(sigmoid(x), y)`` computed stably from logits ``x = input``:
    ``max(x, 0) - x y + log1p(exp(-|x|))``, finite for any logits (even ±1e4).

    ``pos_weight`` (broadcast over the input, typically one per class of the last axis)
    multiplies the positive term: ``(1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)``.
    ``weight`` (broadcast to the input) multiplies the elementwise loss. Neither takes a gradient.
    """
    name = 'binary_cross_entropy_with_logits'
    input, target = _input_and_target(name, input, target, reduction)
    weight = _weight(name, weight, input)
    pos_weight = _weight(name, pos_weight, input, what='pos_weight')
    return apply_checked(ops.BinaryCrossEntropyWithLogits, input, target, pos_weight=pos_weight,
                         reduction=reduction, weight=weight)


def cross_entropy(input, target, weight=None, *, ignore_index: int = -100,
                  reduction: str = 'mean', label_smoothing: float = 0.0) -> Value:
    """Cross-entropy of logits ``input`` (N, C) or (C,), from a stable log-softmax (finite for
    logits of ±1e4), against either

    - class indices ``target`` (N,) or () of an integer dtype: ``-log_softmax(input)[i, target_i]``
      per row; gradient ``softmax(input) - onehot(target)``. ``weight`` (C,) weighs each class
      (the mean then divides by the summed weights of the targets, as in PyTorch); rows whose
      target is ``ignore_index`` count for nothing; or
    - class probabilities ``target`` of the input's shape (a float dtype):
      ``-sum_c weight_c target_ic log_softmax(input)_ic`` per row; the mean divides by N
      (PyTorch's rule); ``ignore_index`` must stay negative; the target gets a gradient if it
      requires one.

    ``weight`` takes no gradient; ``label_smoothing`` ``s`` mixes the target distribution with
    the uniform ``1 / C``: ``(1 - s) target + s / C``.
    """
    name = 'cross_entropy'
    input = _scores(name, input, reduction, 'logits')
    target_array = to_numpy(target)
    if target_array.dtype.kind not in 'iu':  # the one extra check on the class-index path
        return _cross_entropy_probabilities(input, target, target_array, weight, ignore_index, reduction,
                                            label_smoothing)
    _check_class_target_shape(name, input, target_array)
    weight = _class_weight(name, weight, input)
    check_label_smoothing(name, label_smoothing)
    return apply_checked(ops.CrossEntropy, input, target=target_array, weight=weight,
                         ignore_index=ignore_index, label_smoothing=float(label_smoothing),
                         reduction=reduction)


def _cross_entropy_probabilities(input: Value, target, target_array: np.ndarray, weight, ignore_index: int,
                                 reduction: str, label_smoothing: float) -> Value:
    """``cross_entropy`` for a target that is not integer: class probabilities of the input's
    shape and a float dtype, or else the TypeError that says what class indices must be."""
    name = 'cross_entropy'
    if target_array.dtype.kind != 'f' or target_array.shape != input.shape:
        raise _class_target_error(name, input, target_array, probabilities=True)
    if ignore_index >= 0:
        raise ValueError(f"{name}: ignore_index is not supported for class-probability targets (float "
                         f"target of the input's shape {input.shape}), got ignore_index={ignore_index}")
    weight = _class_weight(name, weight, input)
    check_label_smoothing(name, label_smoothing)
    return apply_checked(ops.SoftCrossEntropy, input, _target_for(input, target, target_array), weight=weight,
                         label_smoothing=float(label_smoothing), reduction=reduction)


def nll_loss(input, target, weight=None, *, ignore_index: int = -100, reduction: str = 'mean') -> Value:
    """Negative log-likelihood of log-probabilities ``input`` (N, C) or (C,) (e.g. the output
    of ``log_softmax``) against class indices ``target`` (N,) or (): ``-weight[t_i] input[i, t_i]``
    per row. ``weight`` (C,) weighs each class (no gradient) and the mean divides by the summed
    weights of the non-ignored targets (PyTorch's rule); rows whose target is ``ignore_index``
    count for nothing. ``nll_loss(log_softmax(x), t)`` equals ``cross_entropy(x, t)``."""
    name = 'nll_loss'
    input = _scores(name, input, reduction, 'log-probabilities')
    target_array = to_numpy(target)
    if target_array.dtype.kind not in 'iu':
        raise _class_target_error(name, input, target_array, probabilities=False)
    _check_class_target_shape(name, input, target_array)
    weight = _class_weight(name, weight, input)
    return apply_checked(ops.NegativeLogLikelihood, input, target=target_array, weight=weight,
                         ignore_index=ignore_index, reduction=reduction)


# ---- argument checks, shared with the modules (nn.Dropout, the loss modules) -------------------
# ``name`` is the caller to name in the error: the function, or the module class.
def check_reduction(name: str, reduction: str) -> str:
    """``reduction`` if it is 'mean', 'sum' or 'none', else a ValueError."""
    if reduction not in ops.REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def check_delta(name: str, delta: float) -> float:
    """The Huber ``delta`` if it is a positive number (TypeError for a non-number)."""
    if not check_number(name, 'delta', delta) > 0:
        raise ValueError(f"{name}: delta must be positive, got {delta!r}")
    return delta


def check_label_smoothing(name: str, label_smoothing: float) -> float:
    """``label_smoothing`` if it is a number in [0, 1] (TypeError for a non-number)."""
    if not 0.0 <= check_number(name, 'label_smoothing', label_smoothing) <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return label_smoothing


# ---- helpers --------------------------------------------------------------------------------
def _input_and_target(name: str, input, target, reduction: str) -> tuple:
    """The input as a Value and the target as a Value (kept if it requires grad or already
    has the input's dtype) or an ndarray of the input's dtype; shapes must be equal."""
    check_reduction(name, reduction)
    input = _as_value(input)
    if input.dtype.kind != 'f':
        raise TypeError(f"{name}: input must have a float dtype, got {input.dtype} (shape {input.shape})")
    target_array = to_numpy(target)
    if target_array.dtype.kind not in 'biuf':
        raise TypeError(f"{name}: target must be numeric, got dtype {target_array.dtype} "
                        f"(target shape {target_array.shape}, input shape {input.shape})")
    if target_array.shape != input.shape:
        raise ValueError(f"{name}: input has shape {input.shape} but target has shape {target_array.shape}; "
                         f"they must be equal (reshape one, e.g. target.reshape(input.shape))")
    return input, _target_for(input, target, target_array)


def _target_for(input: Value, target, target_array: np.ndarray):
    """A float target as the op takes it: a target Value kept if it requires grad or already
    has the input's dtype, else its array cast to the input's dtype."""
    if isinstance(target, Value) and (target.requires_grad or target.dtype == input.dtype):
        return target
    return target_array.astype(input.dtype, copy=False)


def _weight(name: str, weight, input: Value, same_shape: bool = False,
            what: str = 'weight') -> np.ndarray | None:
    """``weight`` as a constant ndarray of the input's dtype, of the input's shape when
    ``same_shape``, else broadcasting to it (None stays None)."""
    if weight is None:
        return None
    array = to_numpy(weight, input.dtype)
    try:
        fits = np.broadcast_shapes(array.shape, input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits or (same_shape and array.shape != input.shape):
        rule = 'have' if same_shape else 'broadcast to'
        raise ValueError(f"{name}: {what} of shape {array.shape} must {rule} the input's shape {input.shape}")
    return array


# ---- helpers of the class losses (cross_entropy, nll_loss) ------------------------------------
def _scores(name: str, input, reduction: str, what: str) -> Value:
    """The input of a class loss (``what``: logits or log-probabilities) as a float Value of
    shape (N, C) or (C,); ``reduction`` checked first (the op checks that it is finite)."""
    check_reduction(name, reduction)
    input = _as_value(input)
    if input.ndim not in (1, 2) or input.dtype.kind != 'f':
        raise ValueError(f"{name}: input must be float {what} of shape (N, C) or (C,), "
                         f"got shape {input.shape} and dtype {input.dtype}")
    return input


def _class_target_error(name: str, input: Value, target: np.ndarray, probabilities: bool) -> TypeError:
    """The TypeError for a target that is not integer class indices (nor, where allowed, float
    class probabilities of the input's shape), with the usual cause of a float one."""
    wanted = f"integer class indices of shape {input.shape[:-1]}"
    if probabilities:
        wanted += f" or float class probabilities of the input's shape {input.shape}"
    return TypeError(f"{name}: target must hold {wanted}, got dtype {target.dtype} (target shape "
                     f"{target.shape})" + (_INDEX_HINT if target.dtype.kind == 'f' else ''))


def _check_class_target_shape(name: str, input: Value, target: np.ndarray) -> None:
    """ValueError unless the integer ``target`` has the input's shape without its class axis
    (that every value is a class in [0, C) or ``ignore_index`` is checked by the op)."""
    if target.shape != input.shape[:-1]:
        raise ValueError(f"{name}: input of shape {input.shape} needs a target of shape "
                         f"{input.shape[:-1]}, got target of shape {target.shape}")


def _class_weight(name: str, weight, input: Value) -> np.ndarray | None:
    """``weight`` as a constant ndarray of the input's dtype and shape (C,) (None stays None)."""
    if weight is None:
        return None
    weight = to_numpy(weight, input.dtype)
    classes = input.shape[-1]
    if weight.shape != (classes,):
        raise ValueError(f"{name}: weight must have shape ({classes},) (one per class), "
                         f"got {weight.shape} (input shape {input.shape})")
    return weight
