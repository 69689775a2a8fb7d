"""Mapping functions (``emit(g, op) -> str``, see ``mapping.py``) for the layers — linear,
convolution, pooling, normalisation, embedding, dropout — and the shape ops: reshape,
transpose, broadcast, repeat, concat, stack and indexing.

Settings that can hold the call's own data are read through ``op.setting`` (the graph value
that made them, or a constant): ``embedding``'s indices, ``batch_norm``'s running statistics,
an integer-array index of ``getitem``. Settings the mapping must compute with in NumPy
(``avg_pool``'s divisor) are refused if the call made them.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops.pool import adaptive_matrix
from .errors import UnsupportedOpError

_INT64_MAX, _INT64_MIN = 2**63 - 1, -2**63


def linear(g, op):
    """``x @ W.T + b``: Gemm for a 2-d ``x``, else MatMul with the transposed weight, then Add."""
    ins = op.ins
    if op.data[0].ndim == 2:
        return g.node('Gemm', ins, transB=1)
    y = g.node('MatMul', [ins[0], g.node('Transpose', [ins[1]], perm=[1, 0])])
    return g.node('Add', [y, ins[2]]) if len(ins) == 3 else y


def _window_attributes(window) -> dict:
    return dict(kernel_shape=list(window.kernel), strides=list(window.stride),
                pads=[p[0] for p in window.padding] + [p[1] for p in window.padding])


def conv(g, op):
    return g.node('Conv', op.ins, group=int(op.fn.groups), dilations=list(op.fn.window.dilation),
                  **_window_attributes(op.fn.window))


def max_pool(g, op):
    return g.node('MaxPool', op.ins[:1], dilations=list(op.fn.window.dilation),
                  **_window_attributes(op.fn.window))


def avg_pool(g, op):
    """AveragePool counting the zero padding (divisor ``prod(kernel)``), rescaled when the op's
    divisor differs (``count_include_pad=False``, ``ceil_mode``, ``divisor_override``)."""
    window = op.fn.window
    if any(d != 1 for d in window.dilation):
        raise UnsupportedOpError(f"'{op.fn.name}' with dilation {window.dilation}")
    if op.is_step_data(op.fn.divisor):
        raise UnsupportedOpError(f"'{op.fn.name}' with a divisor computed from the call's data")
    pooled = g.node('AveragePool', op.ins[:1], count_include_pad=1, **_window_attributes(window))
    kernel_size = math.prod(window.kernel)
    divisor = np.asarray(op.fn.divisor)
    if divisor.ndim == 0 and float(divisor) == kernel_size:
        return pooled
    return g.node('Mul', [pooled, g.const((kernel_size / divisor).astype(op.out.dtype))])


def adaptive_avg_pool2d(g, op):
    """``rows @ x @ cols^T`` with the op's averaging matrices (from the input's size) as constants."""
    dtype = op.out.dtype
    rows, cols = (adaptive_matrix(n, m, dtype) for n, m in zip(op.data[0].shape[2:], op.fn.output_size))
    pooled = g.node('MatMul', [g.const(rows), op.ins[0]])
    return g.node('MatMul', [pooled, g.const(np.ascontiguousarray(cols.T))])


def _affine(g, op, size_shape) -> tuple:
    """``(scale, bias)`` names: the op's weight and bias, ones and zeros where absent."""
    present = iter(op.ins[1:])
    dtype = op.out.dtype
    scale = next(present) if op.fn.affine[0] else g.const(np.ones(size_shape, dtype), 'ones')
    bias = next(present) if op.fn.affine[1] else g.const(np.zeros(size_shape, dtype), 'zeros')
    return scale, bias


def batch_norm(g, op):
    """BatchNormalization with the running statistics (read through the graph: buffers are
    initializers named by their state_dict keys, statistics an op made are its output)."""
    if op.fn.training or op.fn.running_mean is None or op.fn.running_var is None:
        raise UnsupportedOpError("'batch_norm' with batch statistics (training mode, or "
                                 "track_running_stats=False): call model.eval() with running statistics")
    scale, bias = _affine(g, op, (op.out.shape[1],))
    mean = op.setting(op.fn.running_mean, op.out.dtype)
    var = op.setting(op.fn.running_var, op.out.dtype)
    return g.node('BatchNormalization', [op.ins[0], scale, bias, mean, var], epsilon=float(op.fn.eps))


def layer_norm(g, op):
    scale, bias = _affine(g, op, op.fn.normalized_shape)
    return g.node('LayerNormalization', [op.ins[0], scale, bias], axis=-len(op.fn.normalized_shape),
                  epsilon=float(op.fn.eps))


def embedding(g, op):
    """Gather of the weight's rows; the indices are read through the graph (an integer input,
    or the output of the op that made them)."""
    return g.node('Gather', [op.ins[0], op.setting(op.fn.indices, np.int64)], axis=0)


def dropout(g, op):
    if op.fn.p == 0:
        return g.node('Identity', op.ins[:1])
    raise UnsupportedOpError(f"'dropout' with p={op.fn.p} in training mode (call model.eval(): Dropout "
                             "is then the identity)")


# ---- shapes -----------------------------------------------------------------------------------
def reshape(g, op):
    """The traced output shape; with a dynamic batch, leading axes that keep the input's size
    become 0 (copy the input's size) and a first axis that changes becomes -1, so that the
    batch size is never baked in."""
    shape = [int(n) for n in op.out.shape]
    if g.dynamic_batch and shape:
        for axis, (size, in_size) in enumerate(zip(shape, op.data[0].shape)):
            if size != in_size:
                break
            shape[axis] = 0
        if shape[0] != 0 and -1 not in shape:
            shape[0] = -1
    return g.node('Reshape', [op.ins[0], g.ints(shape)])


def transpose(g, op):
    ndim = op.data[0].ndim
    axes = reversed(range(ndim)) if op.fn.axes is None else op.fn.axes
    return g.node('Transpose', op.ins[:1], perm=[int(a) % max(ndim, 1) for a in axes])


def broadcast_to(g, op):
    """Expand; axes that keep the input's size are 1 in the shape, so the batch can change."""
    in_shape = op.data[0].shape
    shape = [int(n) for n in op.out.shape]
    offset = len(shape) - len(in_shape)
    for axis, in_size in enumerate(in_shape):
        if g.dynamic_batch and shape[offset + axis] == in_size:
            shape[offset + axis] = 1
    return g.node('Expand', [op.ins[0], g.ints(shape)])


def repeat(g, op):
    x = op.ins[0]
    extra = len(op.fn.repeats) - op.data[0].ndim
    if extra:
        x = g.node('Unsqueeze', [x, g.ints(list(range(extra)))])
    return g.node('Tile', [x, g.ints(list(op.fn.repeats))])


def concat(g, op):
    return g.node('Concat', op.ins, axis=int(op.fn.axis))


def stack(g, op):
    axis = int(op.fn.axis) % op.out.ndim
    return g.node('Concat', [g.node('Unsqueeze', [x, g.ints([axis])]) for x in op.ins], axis=axis)


def _slice_bounds(part: slice) -> tuple:
    """``(start, stop, step)`` for ONNX Slice as the slice was written: open ends as the int64
    extremes, negative bounds left negative. Slice counts them from the end and clamps as
    Python does, so no bound depends on the axis's size (the batch stays free)."""
    step = 1 if part.step is None else int(part.step)
    if step > 0:
        return (0 if part.start is None else int(part.start),
                _INT64_MAX if part.stop is None else int(part.stop), step)
    return (_INT64_MAX if part.start is None else int(part.start),
            _INT64_MIN if part.stop is None else int(part.stop), step)


def getitem(g, op):
    """Basic indexing (ints, slices, None, ...) as Slice, Squeeze and Unsqueeze; one integer
    array on one axis (the rest slices) as Gather, the array read through the graph."""
    shape = op.data[0].shape
    index = op.fn.index
    parts = list(index) if isinstance(index, tuple) else [index]
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
                start, stop, step = _slice_bounds(part)
                starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
            out_axis += 1
        elif isinstance(part, (int, np.integer)):  # negative counts from the end, as in Python
            position = int(part)
            starts.append(position), ends.append(position + 1 if position != -1 else _INT64_MAX)
            axes.append(axis), steps.append(1)
            squeeze.append(axis)
        elif isinstance(part, np.ndarray) and part.dtype.kind in 'iu' and gather is None:
            gather = (axis, part)
            out_axis += part.ndim
        else:
            raise UnsupportedOpError(f"'getitem' with index {index!r} (basic indexing and one integer "
                                     "array among slices are supported)")
        axis += 1
    if gather is not None and (squeeze or unsqueeze):
        raise UnsupportedOpError(f"'getitem' mixing an index array with ints or None: {index!r}")
    x = op.ins[0]
    if axes:
        x = g.node('Slice', [x, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if gather is not None:
        x = g.node('Gather', [x, op.setting(gather[1], np.int64)], axis=gather[0])
    if squeeze:
        x = g.node('Squeeze', [x, g.ints(squeeze)])
    if unsqueeze:
        x = g.node('Unsqueeze', [x, g.ints(unsqueeze)])
    return x if x != op.ins[0] else g.node('Identity', [x])


LAYER_OPS = {
    'linear': linear, 'conv1d': conv, 'conv2d': conv,
    'max_pool1d': max_pool, 'max_pool2d': max_pool, 'avg_pool1d': avg_pool, 'avg_pool2d': avg_pool,
    'adaptive_avg_pool2d': adaptive_avg_pool2d,
    'batch_norm': batch_norm, 'layer_norm': layer_norm, 'embedding': embedding, 'dropout': dropout,
    'reshape': reshape, 'transpose': transpose, 'broadcast_to': broadcast_to, 'repeat': repeat,
    'concat': concat, 'stack': stack, 'getitem': getitem,
}
