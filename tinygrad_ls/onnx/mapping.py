"""One small function per op name: a recorded op -> ONNX nodes.

Every function has the signature ``emit(g, fn, ins, out) -> str``: ``g`` is the graph being
built (``export.GraphBuilder``: ``g.node``, ``g.const``, ``g.ints``, ``g.indices``), ``fn`` the
recorded op (its settings are its attributes, its input arrays ``fn.input_data``), ``ins``
the ONNX names of its inputs (constants already turned into initializers) and ``out`` the
op's output array (for its shape and dtype). It returns the name of the ONNX value holding
the op's result. ``OPS`` maps op names to these functions.
"""
from __future__ import annotations

import math

import numpy as np

_INT64_MAX, _INT64_MIN = 2**63 - 1, -2**63


def _unary(op_type: str):
    def emit(g, fn, ins, out):
        return g.node(op_type, ins[:1])
    emit.__name__ = f"emit_{op_type.lower()}"
    return emit


def _binary(op_type: str):
    def emit(g, fn, ins, out):
        return g.node(op_type, ins[:2])
    emit.__name__ = f"emit_{op_type.lower()}"
    return emit


def _scalar(g, value, out) -> str:
    """A 0-d constant of the output's dtype."""
    return g.const(np.asarray(value, dtype=out.dtype))


# ---- elementwise ------------------------------------------------------------------------------
def log1p(g, fn, ins, out):
    return g.node('Log', [g.node('Add', [ins[0], _scalar(g, 1, out)])])


def expm1(g, fn, ins, out):
    return g.node('Sub', [g.node('Exp', ins), _scalar(g, 1, out)])


def clip(g, fn, ins, out):
    low = '' if fn.low is None else _scalar(g, fn.low, out)
    high = '' if fn.high is None else _scalar(g, fn.high, out)
    return g.node('Clip', [ins[0], low, high])


def cast(g, fn, ins, out):
    from onnx import helper
    return g.node('Cast', ins, to=helper.np_dtype_to_tensor_dtype(out.dtype))


def where(g, fn, ins, out):
    return g.node('Where', [g.const(np.asarray(fn.condition, dtype=bool)), ins[0], ins[1]])


# ---- activations ------------------------------------------------------------------------------
def normal_cdf(g, fn, ins, out):
    """``0.5 (1 + erf(x / sqrt(2)))``."""
    erf = g.node('Erf', [g.node('Mul', [ins[0], _scalar(g, math.sqrt(0.5), out)])])
    return g.node('Mul', [g.node('Add', [erf, _scalar(g, 1, out)]), _scalar(g, 0.5, out)])


def gelu(g, fn, ins, out):
    return g.node('Mul', [ins[0], normal_cdf(g, fn, ins, out)])


def gelu_tanh(g, fn, ins, out):
    """``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))``."""
    x = ins[0]
    cube = g.node('Mul', [g.node('Mul', [x, x]), x])
    inner = g.node('Add', [x, g.node('Mul', [cube, _scalar(g, 0.044715, out)])])
    t = g.node('Tanh', [g.node('Mul', [inner, _scalar(g, math.sqrt(2 / math.pi), out)])])
    half_x = g.node('Mul', [x, _scalar(g, 0.5, out)])
    return g.node('Mul', [half_x, g.node('Add', [t, _scalar(g, 1, out)])])


def silu(g, fn, ins, out):
    return g.node('Mul', [ins[0], g.node('Sigmoid', ins)])


def leaky_relu(g, fn, ins, out):
    return g.node('LeakyRelu', ins, alpha=float(fn.negative_slope))


def elu(g, fn, ins, out):
    return g.node('Elu', ins, alpha=float(fn.alpha))


def softplus(g, fn, ins, out):
    """Plain ``log(1 + exp(x))``, or PyTorch's ``beta``/``threshold`` form (``SoftplusBeta``)."""
    if not hasattr(fn, 'beta'):
        return g.node('Softplus', ins)
    scaled = g.node('Mul', [ins[0], _scalar(g, fn.beta, out)])
    curve = g.node('Div', [g.node('Softplus', [scaled]), _scalar(g, fn.beta, out)])
    linear = g.node('Greater', [scaled, _scalar(g, fn.threshold, out)])
    return g.node('Where', [linear, ins[0], curve])


def softmax(g, fn, ins, out):
    return g.node('Softmax', ins, axis=int(fn.axis))


def log_softmax(g, fn, ins, out):
    return g.node('LogSoftmax', ins, axis=int(fn.axis))


# ---- reductions -------------------------------------------------------------------------------
def _reduce(op_type: str):
    def emit(g, fn, ins, out):
        axes = [int(a) for a in fn.axes]
        keepdims = int(bool(fn.keepdims))
        if op_type == 'ReduceSum' or g.opset >= 18:  # axes became an input (ReduceSum: opset 13)
            return g.node(op_type, [ins[0], g.ints(axes)], keepdims=keepdims)
        return g.node(op_type, ins[:1], axes=axes, keepdims=keepdims)
    emit.__name__ = f"emit_{op_type.lower()}"
    return emit


def cumsum(g, fn, ins, out):
    return g.node('CumSum', [ins[0], g.const(np.asarray(fn.axis, dtype=np.int64))])


# ---- layers -----------------------------------------------------------------------------------
def linear(g, fn, ins, out):
    """``x @ W.T + b``: Gemm for a 2-d ``x``, else MatMul with the transposed weight, then Add."""
    x_shape = np.shape(fn.input_data[0])
    if len(x_shape) == 2:
        return g.node('Gemm', ins, transB=1)
    y = g.node('MatMul', [ins[0], g.node('Transpose', [ins[1]], perm=[1, 0])])
    return g.node('Add', [y, ins[2]]) if len(ins) == 3 else y


def _window_attributes(window) -> dict:
    return dict(kernel_shape=list(window.kernel), strides=list(window.stride),
                pads=[p[0] for p in window.padding] + [p[1] for p in window.padding])


def conv(g, fn, ins, out):
    return g.node('Conv', ins, group=int(fn.groups), dilations=list(fn.window.dilation),
                  **_window_attributes(fn.window))


def max_pool(g, fn, ins, out):
    return g.node('MaxPool', ins, dilations=list(fn.window.dilation), **_window_attributes(fn.window))


def avg_pool(g, fn, ins, out):
    """AveragePool counting the zero padding (divisor ``prod(kernel)``), rescaled when the op's
    divisor differs (``count_include_pad=False``, ``ceil_mode``, ``divisor_override``)."""
    if any(d != 1 for d in fn.window.dilation):
        raise NotImplementedError(f"ONNX export: '{fn.name}' with dilation {fn.window.dilation}")
    pooled = g.node('AveragePool', ins, count_include_pad=1, **_window_attributes(fn.window))
    kernel_size = math.prod(fn.window.kernel)
    divisor = np.asarray(fn.divisor)
    if divisor.ndim == 0 and float(divisor) == kernel_size:
        return pooled
    return g.node('Mul', [pooled, g.const((kernel_size / divisor).astype(out.dtype))])


def adaptive_avg_pool2d(g, fn, ins, out):
    """``rows @ x @ cols^T`` with the op's averaging matrices as constants."""
    rows = g.node('MatMul', [g.const(fn.rows.astype(out.dtype)), ins[0]])
    return g.node('MatMul', [rows, g.const(np.ascontiguousarray(fn.cols.T).astype(out.dtype))])


def _affine(g, fn, ins, out, size_shape) -> tuple:
    """``(scale, bias)`` names: the op's weight and bias, ones and zeros where absent."""
    present = iter(ins[1:])
    scale = next(present) if fn.affine[0] else g.const(np.ones(size_shape, out.dtype), 'ones')
    bias = next(present) if fn.affine[1] else g.const(np.zeros(size_shape, out.dtype), 'zeros')
    return scale, bias


def batch_norm(g, fn, ins, out):
    if fn.training:
        raise NotImplementedError("ONNX export: 'batch_norm' in training mode (call model.eval())")
    channels = (out.shape[1],)
    scale, bias = _affine(g, fn, ins, out, channels)
    mean = g.buffer(fn.running_mean, out.dtype)
    var = g.buffer(fn.running_var, out.dtype)
    return g.node('BatchNormalization', [ins[0], scale, bias, mean, var], epsilon=float(fn.eps))


def layer_norm(g, fn, ins, out):
    if g.opset < 17:
        raise NotImplementedError(f"ONNX export: 'layer_norm' needs opset >= 17, got opset {g.opset}")
    scale, bias = _affine(g, fn, ins, out, fn.normalized_shape)
    return g.node('LayerNormalization', [ins[0], scale, bias], axis=-len(fn.normalized_shape),
                  epsilon=float(fn.eps))


def embedding(g, fn, ins, out):
    return g.node('Gather', [ins[0], g.indices(fn.indices)], axis=0)


def dropout(g, fn, ins, out):
    if fn.p == 0:
        return g.node('Identity', ins)
    raise NotImplementedError(f"ONNX export: 'dropout' with p={fn.p} in training mode "
                              "(call model.eval(): Dropout is then the identity)")


# ---- shapes -----------------------------------------------------------------------------------
def reshape(g, fn, ins, out):
    """The traced output shape; with a dynamic batch, leading axes that keep the input's size
    become 0 (copy the input's size) and a first axis that changes becomes -1, so that the
    batch size is never baked in."""
    shape = [int(n) for n in out.shape]
    if g.dynamic_batch and shape:
        in_shape = np.shape(fn.input_data[0])
        for axis, (size, in_size) in enumerate(zip(shape, in_shape)):
            if size != in_size:
                break
            shape[axis] = 0
        if shape[0] != 0 and -1 not in shape:
            shape[0] = -1
    return g.node('Reshape', [ins[0], g.ints(shape)])


def transpose(g, fn, ins, out):
    return g.node('Transpose', ins, perm=[int(a) for a in fn.axes])


def broadcast_to(g, fn, ins, out):
    """Expand; axes that keep the input's size are 1 in the shape, so the batch can change."""
    in_shape = np.shape(fn.input_data[0])
    shape = [int(n) for n in out.shape]
    offset = len(shape) - len(in_shape)
    for axis, in_size in enumerate(in_shape):
        if g.dynamic_batch and shape[offset + axis] == in_size:
            shape[offset + axis] = 1
    return g.node('Expand', [ins[0], g.ints(shape)])


def repeat(g, fn, ins, out):
    x = ins[0]
    extra = len(fn.repeats) - len(np.shape(fn.input_data[0]))
    if extra:
        x = g.node('Unsqueeze', [x, g.ints(list(range(extra)))])
    return g.node('Tile', [x, g.ints(list(fn.repeats))])


def concat(g, fn, ins, out):
    return g.node('Concat', ins, axis=int(fn.axis))


def stack(g, fn, ins, out):
    axis = int(fn.axis) % out.ndim
    return g.node('Concat', [g.node('Unsqueeze', [x, g.ints([axis])]) for x in ins], axis=axis)


def getitem(g, fn, ins, out):
    """Basic indexing (ints, slices, None, ...) as Slice, Squeeze and Unsqueeze; one integer
    array on one axis (the rest slices) as Gather."""
    shape = np.shape(fn.input_data[0])
    parts = list(fn.index) if isinstance(fn.index, tuple) else [fn.index]
    if any(part is Ellipsis for part in parts):
        at = parts.index(Ellipsis)
        used = sum(part is not None for part in parts) - 1
        parts[at:at + 1] = [slice(None)] * (len(shape) - used)
    parts += [slice(None)] * (len(shape) - sum(part is not None for part in parts))
    starts, ends, axes, steps = [], [], [], []
    squeeze, unsqueeze, gather = [], [], None
    axis = out_axis = 0
    for part in parts:
        if part is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        if isinstance(part, slice):
            if part != slice(None):
                start, stop, step = part.indices(shape[axis])
                if step < 0 and stop < 0:
                    stop = _INT64_MIN
                starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
            out_axis += 1
        elif isinstance(part, (int, np.integer)):
            index = int(part) % shape[axis]
            starts.append(index), ends.append(index + 1), axes.append(axis), steps.append(1)
            squeeze.append(axis)
        elif isinstance(part, (np.ndarray, list)) and np.asarray(part).dtype.kind in 'iu' and gather is None:
            gather = (axis, np.asarray(part, dtype=np.int64))
            out_axis += np.ndim(part)
        else:
            raise NotImplementedError(f"ONNX export: 'getitem' with index {fn.index!r} (basic indexing "
                                      "and one integer array among slices are supported)")
        axis += 1
    if gather is not None and (squeeze or unsqueeze):
        raise NotImplementedError(f"ONNX export: 'getitem' mixing an index array with ints or None: "
                                  f"{fn.index!r}")
    x = ins[0]
    if axes:
        x = g.node('Slice', [x, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if gather is not None:
        x = g.node('Gather', [x, g.const(gather[1])], axis=gather[0])
    if squeeze:
        x = g.node('Squeeze', [x, g.ints(squeeze)])
    if unsqueeze:
        x = g.node('Unsqueeze', [x, g.ints(unsqueeze)])
    return x if x != ins[0] else g.node('Identity', [x])


OPS = {
    'add': _binary('Add'), 'sub': _binary('Sub'), 'mul': _binary('Mul'), 'div': _binary('Div'),
    'pow': _binary('Pow'), 'matmul': _binary('MatMul'),
    'maximum': _binary('Max'), 'minimum': _binary('Min'),
    'neg': _unary('Neg'), 'exp': _unary('Exp'), 'log': _unary('Log'), 'sqrt': _unary('Sqrt'),
    'tanh': _unary('Tanh'), 'sigmoid': _unary('Sigmoid'), 'relu': _unary('Relu'),
    'abs': _unary('Abs'), 'sin': _unary('Sin'), 'cos': _unary('Cos'), 'clone': _unary('Identity'),
    'log1p': log1p, 'expm1': expm1, 'clip': clip, 'cast': cast, 'where': where,
    'normal_cdf': normal_cdf, 'gelu': gelu, 'gelu_tanh': gelu_tanh, 'silu': silu,
    'leaky_relu': leaky_relu, 'elu': elu, 'softplus': softplus,
    'softmax': softmax, 'log_softmax': log_softmax,
    'sum': _reduce('ReduceSum'), 'mean': _reduce('ReduceMean'), 'max': _reduce('ReduceMax'),
    'min': _reduce('ReduceMin'), 'prod': _reduce('ReduceProd'), 'logsumexp': _reduce('ReduceLogSumExp'),
    'cumsum': cumsum,
    'linear': linear, 'conv1d': conv, 'conv2d': conv,
    'max_pool1d': max_pool, 'max_pool2d': max_pool, 'avg_pool1d': avg_pool, 'avg_pool2d': avg_pool,
    'adaptive_avg_pool2d': adaptive_avg_pool2d,
    'batch_norm': batch_norm, 'layer_norm': layer_norm, 'embedding': embedding, 'dropout': dropout,
    'reshape': reshape, 'transpose': transpose, 'broadcast_to': broadcast_to, 'repeat': repeat,
    'concat': concat, 'stack': stack, 'getitem': getitem,
}
