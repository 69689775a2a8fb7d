"""One small function per op name: a recorded op -> ONNX nodes (elementwise ops, comparisons,
masks, activations, reductions; the layers and shape ops are in ``mapping_layers.py``).

Every function has the signature ``emit(g, op) -> str``: ``g`` is the graph being built
(``graph.GraphBuilder``: ``g.node``, ``g.scalar``, ``g.ints``, ``g.cast``), ``op`` the recorded
op (``graph.OpContext``: its settings ``op.fn.<name>``, its arguments' arrays ``op.data``, its
result ``op.out``, the arguments' ONNX names ``op.ins`` in the dtype NumPy computed in, and
``op.setting(obj)`` for a setting that may hold the call's own data). It returns the name of
the ONNX value holding the op's result. ``OPS`` maps op names to these functions; an op
missing from it is refused (``UnsupportedOpError``) with the reason in ``REFUSED`` if there
is one.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops.reduce import normalize_axes
from .errors import UnsupportedOpError
from .mapping_layers import LAYER_OPS


def _unary(op_type: str):
    def emit(g, op):
        return g.node(op_type, op.ins[:1])
    emit.__name__ = f"emit_{op_type.lower()}"
    return emit


def _binary(op_type: str):
    def emit(g, op):
        return g.node(op_type, op.ins[:2])
    emit.__name__ = f"emit_{op_type.lower()}"
    return emit


# ---- elementwise ------------------------------------------------------------------------------
def log1p(g, op):
    return g.node('Log', [g.node('Add', [op.ins[0], g.scalar(1, op.out.dtype)])])


def expm1(g, op):
    return g.node('Sub', [g.node('Exp', op.ins[:1]), g.scalar(1, op.out.dtype)])


def clip(g, op):
    """Clip for number bounds; Max then Min (NumPy's ``minimum(maximum(x, low), high)``) for
    array bounds, which ONNX's Clip does not take. Bounds are read through the graph."""
    low, high, dtype = op.fn.low, op.fn.high, op.out.dtype
    x = op.arg(0, dtype)
    if all(bound is None or np.ndim(bound) == 0 for bound in (low, high)):
        bounds = ('' if bound is None else op.setting(bound, dtype) for bound in (low, high))
        return g.node('Clip', [x, *bounds])
    if low is not None:
        x = g.node('Max', [x, op.setting(low, dtype)])
    return x if high is None else g.node('Min', [x, op.setting(high, dtype)])


def cast(g, op):
    return g.cast(op.arg(0), op.data[0].dtype, op.out.dtype)


def where(g, op):
    """``condition ? a : b``: the condition is read through the graph (a mask ``h > 0`` made
    by an op is that op's output, never a constant of the example)."""
    return g.node('Where', [op.setting(op.fn.condition, bool), *op.ins[:2]])


def round_half_even(g, op):
    """NumPy's ``round(x, decimals)``: ``rint(x * 10^d) / 10^d`` (``rint(x / 10^-d) * 10^-d``
    for negative ``d``); ONNX's Round also rounds half to even."""
    decimals = int(op.fn.decimals)
    if op.out.dtype.kind != 'f':
        if decimals >= 0:
            return g.node('Identity', op.ins[:1])
        raise UnsupportedOpError(f"'round' of integers to {decimals} decimals")
    if decimals == 0:
        return g.node('Round', op.ins[:1])
    scale = g.scalar(10.0 ** abs(decimals), op.out.dtype)
    if decimals > 0:
        return g.node('Div', [g.node('Round', [g.node('Mul', [op.ins[0], scale])]), scale])
    return g.node('Mul', [g.node('Round', [g.node('Div', [op.ins[0], scale])]), scale])


# ---- comparisons and masks (no gradient, but computed from the data: nodes of the graph) -----
_COMPARISONS = {'less': 'Less', 'less_equal': 'LessOrEqual', 'greater': 'Greater',
                'greater_equal': 'GreaterOrEqual', 'equal': 'Equal'}


def compare(g, op):
    """A comparison of the two arguments in their common dtype; ``not_equal`` is Not(Equal)."""
    if op.fn.name == 'not_equal':
        return g.node('Not', [g.node('Equal', op.ins[:2])])
    return g.node(_COMPARISONS[op.fn.name], op.ins[:2])


def arg_reduce(g, op):
    """ArgMax/ArgMin (first occurrence, as NumPy); ``axis=None`` over the flattened input."""
    op_type = 'ArgMax' if op.fn.name == 'argmax' else 'ArgMin'
    x, axis, keepdims = op.arg(0), op.fn.axis, bool(op.fn.keepdims)
    if axis is not None:
        return g.node(op_type, [x], axis=int(axis), keepdims=int(keepdims))
    picked = g.node(op_type, [g.node('Reshape', [x, g.ints([-1])])], axis=0, keepdims=0)
    return g.node('Reshape', [picked, g.ints([1] * op.data[0].ndim)]) if keepdims else picked


def one_hot(g, op):
    """``(indices[..., None] == arange(C))`` as int64, exactly as the op computes it."""
    indices = op.arg(0, np.int64)
    classes = g.const(np.arange(op.fn.num_classes, dtype=np.int64), 'classes')
    hits = g.node('Equal', [g.node('Unsqueeze', [indices, g.ints([-1])]), classes])
    return g.cast(hits, bool, np.int64)


def additive_mask(g, op):
    """A bool mask as 0 where attended and -inf where masked out."""
    keep = op.arg(0, bool)
    if not op.fn.attend:
        keep = g.node('Not', [keep])
    return g.node('Where', [keep, g.scalar(0.0, op.out.dtype), g.scalar(-np.inf, op.out.dtype)])


def dead_rows(g, op):
    """Rows (last axis) that are -inf throughout: all(x == -inf) as min over 0/1 integers."""
    scores = op.arg(0)
    negative_inf = g.node('Equal', [scores, g.scalar(-np.inf, op.data[0].dtype)])
    least = _reduce_node(g, 'ReduceMin', g.cast(negative_inf, bool, np.int32), [-1], True)
    return g.cast(least, np.int32, bool)


# ---- activations ------------------------------------------------------------------------------
def normal_cdf(g, op):
    """``0.5 (1 + erf(x / sqrt(2)))``."""
    dtype = op.out.dtype
    erf = g.node('Erf', [g.node('Mul', [op.ins[0], g.scalar(math.sqrt(0.5), dtype)])])
    return g.node('Mul', [g.node('Add', [erf, g.scalar(1, dtype)]), g.scalar(0.5, dtype)])


def gelu(g, op):
    return g.node('Mul', [op.ins[0], normal_cdf(g, op)])


def gelu_tanh(g, op):
    """``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))``."""
    x, dtype = op.ins[0], op.out.dtype
    cube = g.node('Mul', [g.node('Mul', [x, x]), x])
    inner = g.node('Add', [x, g.node('Mul', [cube, g.scalar(0.044715, dtype)])])
    t = g.node('Tanh', [g.node('Mul', [inner, g.scalar(math.sqrt(2 / math.pi), dtype)])])
    half_x = g.node('Mul', [x, g.scalar(0.5, dtype)])
    return g.node('Mul', [half_x, g.node('Add', [t, g.scalar(1, dtype)])])


def silu(g, op):
    return g.node('Mul', [op.ins[0], g.node('Sigmoid', op.ins[:1])])


def leaky_relu(g, op):
    return g.node('LeakyRelu', op.ins[:1], alpha=float(op.fn.negative_slope))


def elu(g, op):
    return g.node('Elu', op.ins[:1], alpha=float(op.fn.alpha))


def softplus(g, op):
    """Plain ``log(1 + exp(x))``, or PyTorch's ``beta``/``threshold`` form (``SoftplusBeta``)."""
    if not hasattr(op.fn, 'beta'):
        return g.node('Softplus', op.ins[:1])
    x, dtype = op.ins[0], op.out.dtype
    scaled = g.node('Mul', [x, g.scalar(op.fn.beta, dtype)])
    curve = g.node('Div', [g.node('Softplus', [scaled]), g.scalar(op.fn.beta, dtype)])
    linear = g.node('Greater', [scaled, g.scalar(op.fn.threshold, dtype)])
    return g.node('Where', [linear, x, curve])


def softmax(g, op):
    return g.node('Softmax', op.ins[:1], axis=int(op.fn.axis))


def log_softmax(g, op):
    return g.node('LogSoftmax', op.ins[:1], axis=int(op.fn.axis))


# ---- reductions -------------------------------------------------------------------------------
def _reduce_node(g, op_type: str, x: str, axes: list, keepdims: bool) -> str:
    if op_type == 'ReduceSum' or g.opset >= 18:  # axes became an input (ReduceSum: opset 13)
        return g.node(op_type, [x, g.ints(axes)], keepdims=int(keepdims))
    return g.node(op_type, [x], axes=axes, keepdims=int(keepdims))


def _reduce(op_type: str):
    def emit(g, op):
        axes = list(normalize_axes(op.data[0].ndim, op.fn.axis))
        x = op.arg(0, op.out.dtype)  # NumPy sums bools and ints as int64, means them as float64
        if not axes:  # axis=() or a 0-d input: nothing is reduced (ONNX would reduce everything)
            return g.node('Identity', [x])
        return _reduce_node(g, op_type, x, axes, bool(op.fn.keepdims))
    emit.__name__ = f"emit_{op_type.lower()}"
    return emit


def cumsum(g, op):
    return g.node('CumSum', [op.ins[0], g.const(np.asarray(op.fn.axis, dtype=np.int64), 'axis')])


_RANDOM = ("draws random numbers at every call; a file would either repeat the example's draw or "
           "draw numbers tl.manual_seed does not give")
_LOSS = "is a loss: export the model's outputs (call it without targets) and compute losses outside"
_BACKWARD = "belongs to a backward pass, which an inference graph does not hold"

OPS = {
    'add': _binary('Add'), 'sub': _binary('Sub'), 'mul': _binary('Mul'), 'div': _binary('Div'),
    'pow': _binary('Pow'), 'matmul': _binary('MatMul'),
    'maximum': _binary('Max'), 'minimum': _binary('Min'),
    'neg': _unary('Neg'), 'exp': _unary('Exp'), 'log': _unary('Log'), 'sqrt': _unary('Sqrt'),
    'tanh': _unary('Tanh'), 'sigmoid': _unary('Sigmoid'), 'relu': _unary('Relu'),
    'abs': _unary('Abs'), 'sin': _unary('Sin'), 'cos': _unary('Cos'), 'clone': _unary('Identity'),
    'log1p': log1p, 'expm1': expm1, 'clip': clip, 'cast': cast, 'where': where, 'round': round_half_even,
    **{name: compare for name in (*_COMPARISONS, 'not_equal')},
    'argmax': arg_reduce, 'argmin': arg_reduce, 'one_hot': one_hot,
    'additive_mask': additive_mask, 'dead_rows': dead_rows,
    'normal_cdf': normal_cdf, 'gelu': gelu, 'gelu_tanh': gelu_tanh, 'silu': silu,
    'leaky_relu': leaky_relu, 'elu': elu, 'softplus': softplus,
    'softmax': softmax, 'log_softmax': log_softmax,
    'sum': _reduce('ReduceSum'), 'mean': _reduce('ReduceMean'), 'max': _reduce('ReduceMax'),
    'min': _reduce('ReduceMin'), 'prod': _reduce('ReduceProd'), 'logsumexp': _reduce('ReduceLogSumExp'),
    'cumsum': cumsum,
    **LAYER_OPS,
}

REFUSED = {
    **{name: _RANDOM for name in ('rand', 'randn', 'randint')},
    **{name: _LOSS for name in ('cross_entropy', 'nll_loss', 'mse_loss', 'l1_loss', 'huber_loss',
                                'binary_cross_entropy', 'binary_cross_entropy_with_logits')},
    **{name: _BACKWARD for name in ('embedding_backward', 'scatter_add', 'conv_transpose', 'conv_weight',
                                    'max_pool_gather', 'max_pool_scatter', 'avg_pool_transpose')},
}
