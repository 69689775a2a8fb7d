"""Hypothesis property tests: random broadcastable shapes, dtypes, axes and permutations.

For every binary op: the forward equals NumPy's (values, shape and dtype), each input's
``.grad`` has exactly that input's shape and dtype, and ``tl.gradcheck`` passes. Reductions,
softmax, reshape, transpose and indexing are checked against NumPy and against gradients
computed independently of the library.
"""
from __future__ import annotations

import operator

import numpy as np
from helpers import leaf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_ls as tl

FAST = settings(max_examples=40, deadline=None)

FLOAT_DTYPES = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])

# Elements are float32-representable so the same draw serves both dtypes exactly.
ANY = st.floats(-3, 3, width=32)
NONZERO = st.floats(0.25, 3, width=32) | st.floats(-3, -0.25, width=32)
POSITIVE = st.floats(0.25, 3, width=32)
EXPONENT = st.floats(-2, 2, width=32)

# name -> (operator, elements of the left operand, elements of the right operand)
BINARY_OPS = {
    'add': (operator.add, ANY, ANY),
    'sub': (operator.sub, ANY, ANY),
    'mul': (operator.mul, ANY, ANY),
    'div': (operator.truediv, ANY, NONZERO),
    'pow': (operator.pow, POSITIVE, EXPONENT),
}


def draw_array(data, shape: tuple, elements, dtype=np.float64) -> np.ndarray:
    return data.draw(hnp.arrays(np.float64, shape, elements=elements)).astype(dtype)


def tolerance(dtype) -> dict:
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def assert_grad_like(value: tl.Value) -> None:
    assert value.grad is not None
    assert type(value.grad) is np.ndarray
    assert value.grad.shape == value.shape, (value.grad.shape, value.shape)
    assert value.grad.dtype == value.dtype, (value.grad.dtype, value.dtype)


def upstream_for(out: tl.Value, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)


# ---- binary ops --------------------------------------------------------------------------------
@FAST
@given(data=st.data(), op=st.sampled_from(list(BINARY_OPS)),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
       dtype_a=FLOAT_DTYPES, dtype_b=FLOAT_DTYPES)
def test_binary_op_matches_numpy_and_grads_have_input_shape(data, op, shapes, dtype_a, dtype_b):
    fn, elements_a, elements_b = BINARY_OPS[op]
    shape_a, shape_b = shapes.input_shapes
    a_np = draw_array(data, shape_a, elements_a, dtype_a)
    b_np = draw_array(data, shape_b, elements_b, dtype_b)
    a, b = leaf(a_np, dtype_a), leaf(b_np, dtype_b)

    out = fn(a, b)
    expected = np.asarray(fn(a_np, b_np))
    assert out.shape == expected.shape == shapes.result_shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, **tolerance(out.dtype))

    out.backward(upstream_for(out))
    assert_grad_like(a)
    assert_grad_like(b)
    assert tl.gradcheck(fn, [a, b])


@FAST
@given(data=st.data(), op=st.sampled_from(list(BINARY_OPS)), value_on_left=st.booleans(),
       python_number=st.booleans(),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
       dtype=FLOAT_DTYPES, const_dtype=FLOAT_DTYPES)
def test_binary_op_with_constant(data, op, value_on_left, python_number, shapes, dtype, const_dtype):
    """Value op number / number op Value / Value op ndarray / ndarray op Value."""
    fn, elements_left, elements_right = BINARY_OPS[op]
    x_shape, const_shape = shapes.input_shapes
    x_elements, const_elements = ((elements_left, elements_right) if value_on_left
                                  else (elements_right, elements_left))
    x_np = draw_array(data, x_shape, x_elements, dtype)
    if python_number:
        const = data.draw(const_elements)
    else:
        const = draw_array(data, const_shape, const_elements, const_dtype)
    x = leaf(x_np, dtype)

    def apply(v, a=const):
        return fn(v, a) if value_on_left else fn(a, v)

    out = apply(x)
    expected = np.asarray(apply(x_np))
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    if python_number:
        assert out.dtype == dtype  # a Python number never changes the Value's dtype
    np.testing.assert_allclose(out.data, expected, **tolerance(out.dtype))

    out.backward(upstream_for(out))
    assert_grad_like(x)
    assert tl.gradcheck(apply, [x])


@FAST
@given(data=st.data(), op=st.sampled_from(['add', 'sub', 'mul', 'div']),
       shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
def test_binary_op_with_itself(data, op, shape):
    """``x op x``: both input gradients land on one leaf and add up."""
    fn = BINARY_OPS[op][0]
    x_np = draw_array(data, shape, NONZERO)
    x = leaf(x_np)
    fn(x, x).sum().backward()
    expected = {'add': 2.0, 'sub': 0.0, 'mul': 2 * x_np, 'div': 0.0}[op]
    np.testing.assert_allclose(x.grad, np.broadcast_to(expected, shape), atol=1e-12)
    assert_grad_like(x)


@FAST
@given(data=st.data(),
       shapes=hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2, max_side=3),
       dtype_a=FLOAT_DTYPES, dtype_b=FLOAT_DTYPES)
def test_matmul_matches_numpy_and_grads_have_input_shape(data, shapes, dtype_a, dtype_b):
    shape_a, shape_b = shapes.input_shapes
    a_np, b_np = draw_array(data, shape_a, ANY, dtype_a), draw_array(data, shape_b, ANY, dtype_b)
    a, b = leaf(a_np, dtype_a), leaf(b_np, dtype_b)

    out = a @ b
    expected = np.asarray(np.matmul(a_np, b_np))
    assert out.shape == expected.shape == shapes.result_shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-5)

    out.backward(upstream_for(out))
    assert_grad_like(a)
    assert_grad_like(b)
    assert tl.gradcheck(operator.matmul, [a, b])


# ---- reductions --------------------------------------------------------------------------------
@st.composite
def shape_and_axis(draw, max_dims: int = 3):
    """A shape, and an axis valid for it: None, an int (also negative) or a tuple of unique axes."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, max_side=4))
    ndim = len(shape)
    choices = [st.none(), hnp.valid_tuple_axes(ndim)]
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
    return shape, draw(st.one_of(*choices))


def _logsumexp(x, axis, keepdims):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


NUMPY_REDUCTIONS = {
    'sum': np.sum, 'mean': np.mean, 'max': np.max, 'min': np.min, 'logsumexp': _logsumexp,
}


@FAST
@given(data=st.data(), op=st.sampled_from([*NUMPY_REDUCTIONS, 'var']), case=shape_and_axis(),
       keepdims=st.booleans(), dtype=FLOAT_DTYPES)
def test_reduction_shape_values_and_grad(data, op, case, keepdims, dtype):
    shape, axis = case
    # Draw from a coarse grid so that max/min see ties often.
    x_np = draw_array(data, shape, st.integers(-6, 6).map(lambda k: k / 2), dtype)
    x = leaf(x_np, dtype)
    ndim = len(shape)
    if axis is None:
        axes = tuple(range(ndim))
    else:
        axes = tuple(sorted(a % ndim for a in ((axis,) if isinstance(axis, int) else axis)))
    count = int(np.prod([shape[i] for i in axes], dtype=np.int64))

    if op == 'var':
        ddof = data.draw(st.integers(0, 1)) if count > 1 else 0

        def reduce(v):
            return v.var(axis=axis, ddof=ddof, keepdims=keepdims)
        expected = np.var(x_np, axis=axis, ddof=ddof, keepdims=keepdims)
    else:
        def reduce(v):
            return getattr(v, op)(axis=axis, keepdims=keepdims)
        expected = NUMPY_REDUCTIONS[op](x_np, axis=axis, keepdims=keepdims)
    out = reduce(x)
    expected = np.asarray(expected)
    assert out.shape == expected.shape
    assert out.dtype == dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)

    out.sum().backward()
    assert_grad_like(x)
    if op == 'sum':
        np.testing.assert_array_equal(x.grad, np.ones(shape))
    elif op == 'mean':
        np.testing.assert_allclose(x.grad, np.full(shape, 1 / count), rtol=1e-6)
    elif op in ('max', 'min'):
        # Each output hands its gradient of 1 to the extreme elements only, split among ties.
        extreme = np.asarray(NUMPY_REDUCTIONS[op](x_np, axis=axis, keepdims=True))
        assert np.all(x.grad[x_np != extreme] == 0)
        np.testing.assert_allclose(x.grad.sum(), out.size, rtol=1e-6)
        hits = x_np == extreme
        np.testing.assert_allclose(x.grad, hits / hits.sum(axis=axes, keepdims=True), rtol=1e-6)
    else:  # smooth: check against finite differences too
        assert tl.gradcheck(reduce, [x])


@FAST
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
       op=st.sampled_from(['softmax', 'log_softmax']))
def test_softmax_family_normalizes_along_axis(data, shape, op):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x_np = draw_array(data, shape, st.floats(-20, 20, width=32))
    x = leaf(x_np)
    out = getattr(x, op)(axis=axis)
    assert out.shape == shape
    probabilities = out.data if op == 'softmax' else np.exp(out.data)
    np.testing.assert_allclose(probabilities.sum(axis=axis), 1.0, rtol=1e-12)
    out.backward(upstream_for(out))
    assert_grad_like(x)
    # Shifting the logits along the axis changes nothing, so the gradient sums to 0 there.
    np.testing.assert_allclose(x.grad.sum(axis=axis), 0.0, atol=1e-10)
    assert tl.gradcheck(lambda v: getattr(v, op)(axis=axis), [x])


# ---- reshape / transpose / indexing ------------------------------------------------------------
@st.composite
def reshape_target(draw, shape: tuple) -> tuple:
    """A new shape with the same size: permute the sides, merge neighbours, insert 1s, maybe a -1."""
    sides = list(draw(st.permutations(shape))) if shape else []
    merges = draw(st.integers(0, max(len(sides) - 1, 0)))
    for _ in range(merges):
        i = draw(st.integers(0, len(sides) - 2))
        sides[i:i + 2] = [sides[i] * sides[i + 1]]
    for _ in range(draw(st.integers(0, 2))):
        sides.insert(draw(st.integers(0, len(sides))), 1)
    if sides and draw(st.booleans()):
        sides[draw(st.integers(0, len(sides) - 1))] = -1
    return tuple(sides)


@FAST
@given(data=st.data(), shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=4),
       dtype=FLOAT_DTYPES, varargs=st.booleans())
def test_reshape_forward_and_exact_gradient(data, shape, dtype, varargs):
    target = data.draw(reshape_target(shape))
    x_np = draw_array(data, shape, ANY, dtype)
    x = leaf(x_np, dtype)
    out = x.reshape(*target) if varargs and target else x.reshape(target)
    np.testing.assert_array_equal(out.data, x_np.reshape(target))
    upstream = upstream_for(out)
    out.backward(upstream)
    assert_grad_like(x)
    np.testing.assert_array_equal(x.grad, upstream.reshape(shape))

    flat = leaf(x_np, dtype)
    flat.flatten().backward(upstream.reshape(-1))
    np.testing.assert_array_equal(flat.grad, upstream.reshape(shape))


@FAST
@given(data=st.data(), shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=4),
       dtype=FLOAT_DTYPES, spelling=st.sampled_from(['varargs', 'tuple', 'none']))
def test_transpose_forward_and_exact_gradient(data, shape, dtype, spelling):
    ndim = len(shape)
    perm = data.draw(st.permutations(range(ndim)))
    negate = data.draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim))
    axes = tuple(axis - ndim if flip else axis for axis, flip in zip(perm, negate))
    x_np = draw_array(data, shape, ANY, dtype)
    x = leaf(x_np, dtype)
    if spelling == 'none':
        axes = perm = tuple(reversed(range(ndim)))
        out = x.transpose()
    else:
        out = x.transpose(*axes) if spelling == 'varargs' else x.transpose(axes)
    np.testing.assert_array_equal(out.data, np.transpose(x_np, axes))
    upstream = upstream_for(out)
    out.backward(upstream)
    assert_grad_like(x)
    np.testing.assert_array_equal(x.grad, np.transpose(upstream, np.argsort(perm)))
    if ndim <= 3 and x.size <= 24:
        assert tl.gradcheck(lambda v: v.transpose(axes), [x])

    t = leaf(x_np, dtype)
    upstream_t = upstream_for(t.T, seed=1)
    t.T.backward(upstream_t)
    np.testing.assert_array_equal(t.grad, upstream_t.T)


def reference_getitem_grad(shape: tuple, index, upstream: np.ndarray) -> np.ndarray:
    """The gradient of ``x[index]`` computed without indexing into a gradient: each element of
    the result comes from one flat position of ``x``; bincount adds up the repeats."""
    size = int(np.prod(shape, dtype=np.int64))
    flat_positions = np.arange(size).reshape(shape)[index]
    summed = np.bincount(np.ravel(flat_positions), weights=np.ravel(upstream), minlength=size)
    return summed.reshape(shape)


@st.composite
def shape_and_index(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    kind = draw(st.sampled_from(['basic', 'integer_arrays', 'mask', 'list']))
    if kind == 'basic':
        index = draw(hnp.basic_indices(shape, allow_newaxis=True))
    elif kind == 'integer_arrays':
        index = draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(
            min_dims=1, max_dims=2, max_side=5)))
    elif kind == 'mask':
        index = draw(hnp.arrays(np.bool_, shape[:draw(st.integers(1, len(shape)))]))
    else:  # a plain list of ints, repeats likely
        index = draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=6))
    return shape, index


@FAST
@given(data=st.data(), case=shape_and_index(), dtype=FLOAT_DTYPES)
def test_getitem_forward_and_accumulated_gradient(data, case, dtype):
    shape, index = case
    x_np = draw_array(data, shape, ANY, dtype)
    x = leaf(x_np, dtype)
    index_np = np.asarray(index) if isinstance(index, list) else index
    out = x[index]
    np.testing.assert_array_equal(out.data, x_np[index_np])
    upstream = upstream_for(out)
    out.backward(upstream)
    assert_grad_like(x)
    np.testing.assert_allclose(x.grad, reference_getitem_grad(shape, index_np, upstream),
                               rtol=1e-6, atol=1e-6)
