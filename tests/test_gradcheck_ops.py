"""Float64 ``tl.gradcheck`` for every differentiable op, as a matrix of cases.

Each case builds fresh float64 leaves from ``np.random.default_rng(seed)`` and checks the full
Jacobian against central differences. Inputs are kept in safe domains: denominators and the
bases of fractional or Value exponents away from 0, points at least 1e-2 from every kink
(relu, abs, clip bounds, max/min ties). A few exact hand-computed gradients pin down the
cases finite differences cannot see: tied maxima, repeated indices, clip masks.

Every op also goes through ``tl.testing.check_op``'s whole battery (one example each: random
points, second derivatives, broadcasting, 0-d and size-1 shapes, float32, ...) in
test_ops_battery.py; the cases here are the ones a single example does not reach: every pair
of broadcast shapes, every axis and keepdims, every kind of index, constants on either side.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import away_from_zero, broadcasts, leaf, normal, positive

import tinygrad_ls as tl

SHAPES = [(), (4,), (3, 4), (1, 4), (3, 1), (2, 3, 4)]
SHAPE_PAIRS = [(a, b) for a in SHAPES for b in SHAPES if broadcasts(a, b)]


def shape_id(shape: tuple) -> str:
    return 'x'.join(map(str, shape)) or 'scalar'


# name -> (function of two operands, sampler for the left operand, sampler for the right one)
BINARY_OPS = {
    'add': (lambda a, b: a + b, normal, normal),
    'sub': (lambda a, b: a - b, normal, normal),
    'mul': (lambda a, b: a * b, normal, normal),
    'div': (lambda a, b: a / b, normal, away_from_zero),
    'pow': (lambda a, b: a ** b, positive, lambda rng, shape: rng.uniform(-1.5, 1.5, shape)),
}


# ---- binary ops over every broadcastable pair of shapes -----------------------------------------
@pytest.mark.parametrize('op', list(BINARY_OPS))
@pytest.mark.parametrize('shape_a, shape_b', SHAPE_PAIRS,
                         ids=[f'{shape_id(a)}-{shape_id(b)}' for a, b in SHAPE_PAIRS])
def test_binary_value_value(op, shape_a, shape_b):
    fn, sample_a, sample_b = BINARY_OPS[op]
    rng = np.random.default_rng(len(shape_a) * 10 + len(shape_b))
    a, b = leaf(sample_a(rng, shape_a)), leaf(sample_b(rng, shape_b))
    assert fn(a, b).shape == np.broadcast_shapes(shape_a, shape_b)
    assert tl.gradcheck(fn, [a, b])


def test_shape_pairs_cover_both_broadcast_directions():
    assert ((3, 1), (1, 4)) in SHAPE_PAIRS and ((1, 4), (3, 1)) in SHAPE_PAIRS
    assert ((4,), (2, 3, 4)) in SHAPE_PAIRS and ((2, 3, 4), (4,)) in SHAPE_PAIRS
    assert ((3, 4), (2, 3, 4)) in SHAPE_PAIRS and ((), (2, 3, 4)) in SHAPE_PAIRS
    assert ((3, 1), (4,)) in SHAPE_PAIRS
    assert ((3, 4), (1, 4)) in SHAPE_PAIRS and ((3, 1), (2, 3, 4)) in SHAPE_PAIRS


@pytest.mark.parametrize('op', list(BINARY_OPS))
@pytest.mark.parametrize('shape', [(), (3, 4)], ids=shape_id)
def test_binary_same_value_both_sides(op, shape):
    """``x op x``: both gradients flow into one leaf and must add up."""
    fn, sample_a, _ = BINARY_OPS[op]
    sample = positive if op in ('div', 'pow') else sample_a
    x = leaf(sample(np.random.default_rng(1), shape))
    assert tl.gradcheck(lambda v: fn(v, v), [x])


# Value with a Python number or an ndarray on either side: (id, fn(x, const), x sampler, const)
def _constant_cases():
    rng = np.random.default_rng(7)
    arr_34 = rng.standard_normal((3, 4))
    arr_14_nonzero = away_from_zero(rng, (1, 4))
    arr_positive = positive(rng, (3, 4))
    return [
        ('2*x', lambda x, c: 2 * x, normal, None),
        ('x*2.5', lambda x, c: x * 2.5, normal, None),
        ('x+3', lambda x, c: x + 3, normal, None),
        ('1.5+x', lambda x, c: 1.5 + x, normal, None),
        ('x-0.5', lambda x, c: x - 0.5, normal, None),
        ('4-x', lambda x, c: 4 - x, normal, None),
        ('x/3', lambda x, c: x / 3, normal, None),
        ('2/x', lambda x, c: 2 / x, away_from_zero, None),
        ('x**2', lambda x, c: x ** 2, normal, None),
        ('x**3', lambda x, c: x ** 3, normal, None),
        ('x**2.5', lambda x, c: x ** 2.5, positive, None),
        ('x**-0.5', lambda x, c: x ** -0.5, positive, None),
        ('x**0', lambda x, c: x ** 0, normal, None),
        ('3**x', lambda x, c: 3 ** x, normal, None),
        ('0.5**x', lambda x, c: 0.5 ** x, normal, None),
        ('-x', lambda x, c: -x, normal, None),
        ('x+arr', lambda x, c: x + c, normal, arr_34),
        ('arr+x', lambda x, c: c + x, normal, arr_34),
        ('x-arr', lambda x, c: x - c, normal, arr_34),
        ('arr-x', lambda x, c: c - x, normal, arr_34),
        ('x*arr', lambda x, c: x * c, normal, arr_34),
        ('arr*x', lambda x, c: c * x, normal, arr_34),
        ('x/arr', lambda x, c: x / c, normal, arr_14_nonzero),
        ('arr/x', lambda x, c: c / x, away_from_zero, arr_34),
        ('x**arr', lambda x, c: x ** c, positive, arr_34),
        ('arr**x', lambda x, c: c ** x, normal, arr_positive),
    ]


CONSTANT_CASES = _constant_cases()


@pytest.mark.parametrize('fn, sample, const', [case[1:] for case in CONSTANT_CASES],
                         ids=[case[0] for case in CONSTANT_CASES])
@pytest.mark.parametrize('shape', [(), (3, 1), (3, 4)], ids=shape_id)
def test_binary_value_with_constant(fn, sample, const, shape):
    x = leaf(sample(np.random.default_rng(3), shape))
    out = fn(x, const)
    expected_shape = shape if const is None else np.broadcast_shapes(shape, const.shape)
    assert out.shape == expected_shape
    assert tl.gradcheck(lambda v: fn(v, const), [x])


def test_pow_gradient_is_zero_where_the_exponent_is_zero():
    """d(x**b)/dx = b x**(b-1) is 0 where b == 0, also at x == 0 (PyTorch: 0, not 0 * inf)."""
    exponent = np.array([0.0, 2.0, 0.0, 0.0])
    x = leaf([0.0, 2.0, 0.0, 3.0])
    (x ** exponent).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 4.0, 0.0, 0.0])

    x.zero_grad()
    e = leaf(exponent)
    (x ** e).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 4.0, 0.0, 0.0])
    np.testing.assert_allclose(e.grad, [0.0, 4 * np.log(2.0), 0.0, np.log(3.0)], rtol=1e-12)

    (first,) = tl.grad((x ** exponent).sum(), x, create_graph=True)
    np.testing.assert_array_equal(first.data, [0.0, 4.0, 0.0, 0.0])
    (second,) = tl.grad(first.sum(), x)
    np.testing.assert_array_equal(second.data, [0.0, 2.0, 0.0, 0.0])

    y = leaf(positive(np.random.default_rng(8), (3, 4)))
    assert tl.gradcheck(lambda v: v ** np.array([0.0, 1.5, 0.0, -2.0]), [y])
    assert tl.gradgradcheck(lambda v: v ** np.array([0.0, 1.5, 0.0, -2.0]), [y])


def test_pow_second_derivatives_through_a_zero_exponent():
    """At b == 0 the gradient b a**(b-1) is 0, but its derivative in b is a**-1, not 0.

    y(x) = a(x)**x with a = 0.5 - 0.75 x: y'' (0) = log(a)**2 + 2 a'/a = log(0.5)**2 - 3
    (by hand). PyTorch 2.x masks the exponent == 0 case with a constant and gives
    log(0.5)**2 - 1.5 here, so this case is checked against the closed form and finite
    differences, not against PyTorch. Found by the long fuzzing profile."""
    x = leaf(0.0)
    (first,) = tl.grad((0.5 - x * 0.75) ** x, x, create_graph=True)
    (second,) = tl.grad(first, x)
    np.testing.assert_allclose(first.data, np.log(0.5), rtol=1e-14)
    np.testing.assert_allclose(second.data, np.log(0.5) ** 2 - 3.0, rtol=1e-14)

    base = leaf(positive(np.random.default_rng(9), (3, 4)))
    exponent = leaf(np.array([0.0, 1.5, 0.0, -2.0]))
    assert tl.gradgradcheck(lambda a, b: a ** b, [base, exponent])
    assert tl.gradgradcheck(lambda a, b: (a * a + 1.0) ** (b * 0.0), [base, exponent])
    t = leaf(0.0)
    assert tl.gradgradcheck(lambda v: ((0.5 - v * 0.75) * (0.5 - v * 0.75) + 1.0) ** v.tanh(), [t])


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_python_number_keeps_dtype_and_grad_dtype(dtype):
    x = leaf([0.5, 1.5, 2.0], dtype)
    out = (2 * x + 1.5) / 3 - x ** 2 + 2 ** x
    assert out.dtype == dtype
    out.sum().backward()
    assert x.grad.dtype == dtype and x.grad.shape == (3,)
    data = x.data.astype(np.float64)
    np.testing.assert_allclose(x.grad, 2 / 3 - 2 * data + np.log(2) * 2 ** data, rtol=1e-6)


# ---- matmul ------------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((4,), (4,)),                # 1-D @ 1-D -> scalar
    ((4,), (4, 3)),              # 1-D @ 2-D
    ((3, 4), (4,)),              # 2-D @ 1-D
    ((3, 4), (4, 2)),            # 2-D @ 2-D
    ((1, 4), (4, 1)),            # 2-D @ 2-D with unit dims
    ((2, 3, 4), (4, 2)),         # batched N-D @ 2-D
    ((3, 4), (2, 4, 5)),         # 2-D @ batched N-D
    ((2, 3, 4), (2, 4, 5)),      # same batch dims
    ((2, 1, 3, 4), (5, 4, 2)),   # broadcasting batch dims
    ((5, 3, 4), (2, 1, 4, 2)),   # broadcasting batch dims, the other way round
    ((4,), (2, 4, 3)),           # 1-D @ N-D
    ((2, 3, 4), (4,)),           # N-D @ 1-D
    ((4,), (2, 1, 4, 3)),        # 1-D @ 4-D
    ((2, 1, 3, 4), (4,)),        # 4-D @ 1-D
]


@pytest.mark.parametrize('shape_a, shape_b', MATMUL_SHAPES,
                         ids=[f'{shape_id(a)}@{shape_id(b)}' for a, b in MATMUL_SHAPES])
def test_matmul(shape_a, shape_b):
    rng = np.random.default_rng(11)
    a, b = leaf(rng.standard_normal(shape_a)), leaf(rng.standard_normal(shape_b))
    out = a @ b
    np.testing.assert_allclose(out.data, np.matmul(a.data, b.data), rtol=1e-12)
    assert tl.gradcheck(lambda u, v: u @ v, [a, b])


@pytest.mark.parametrize('shape_a, shape_b', [((3, 4), (4, 2)), ((4,), (4, 3)), ((2, 3, 4), (4,)),
                                              ((2, 1, 3, 4), (5, 4, 2))],
                         ids=['2d', '1d-2d', '3d-1d', 'batched'])
def test_matmul_with_ndarray_on_either_side(shape_a, shape_b):
    rng = np.random.default_rng(12)
    arr_a, arr_b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    assert tl.gradcheck(lambda v: v @ arr_b, [leaf(arr_a)])
    assert tl.gradcheck(lambda v: arr_a @ v, [leaf(arr_b)])


# ---- elementwise -------------------------------------------------------------------------------
def _kink_free(rng, shape) -> np.ndarray:
    """Normals pushed at least 0.05 away from 0 (the kink of relu and abs)."""
    values = rng.standard_normal(shape)
    return np.where(values >= 0, values + 0.05, values - 0.05)


# The elementwise ops (exp, log, sqrt, tanh, sigmoid, relu, abs, neg, sin, cos, log1p,
# expm1, square, pow) go through the whole battery in test_ops_battery.py; these are the
# spellings and domains it does not cover (log1p on (-1, 0)), over shapes of every rank.
ELEMENTWISE = {
    'builtin_abs': (lambda x: abs(x), _kink_free),
    'clone': (lambda x: x.clone() * x, normal),
    'log1p': (lambda x: x.log1p(), lambda rng, shape: rng.uniform(-0.6, 3.0, shape)),
}


@pytest.mark.parametrize('op', list(ELEMENTWISE))
@pytest.mark.parametrize('shape', [(), (5,), (2, 3, 4)], ids=shape_id)
def test_elementwise(op, shape):
    fn, sample = ELEMENTWISE[op]
    x = leaf(sample(np.random.default_rng(5), shape))
    assert fn(x).shape == shape
    assert tl.gradcheck(fn, [x])


def test_sigmoid_large_inputs_are_finite_and_exact():
    x = leaf(np.array([-800.0, -30.0, 0.0, 30.0, 800.0]))
    out = x.sigmoid()
    assert np.all(np.isfinite(out.data))
    out.sum().backward()
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(x.grad[2], 0.25)


# Points at least 0.02 from the bounds -0.5 and 0.7, on both sides of each.
CLIP_POINTS = np.array([-1.7, -0.9, -0.53, -0.47, -0.1, 0.3, 0.67, 0.73, 1.1, 1.9])


@pytest.mark.parametrize('low, high', [(-0.5, None), (None, 0.7), (-0.5, 0.7)],
                         ids=['min-only', 'max-only', 'both'])
@pytest.mark.parametrize('shape', [(10,), (2, 5)], ids=shape_id)
def test_clip(low, high, shape):
    x = leaf(CLIP_POINTS.reshape(shape))
    out = x.clip(min=low, max=high)
    np.testing.assert_array_equal(out.data, np.clip(x.data, low, high))
    assert tl.gradcheck(lambda v: v.clip(min=low, max=high), [x])
    out.sum().backward()
    inside = np.ones(shape, dtype=bool)
    if low is not None:
        inside &= x.data > low
    if high is not None:
        inside &= x.data < high
    np.testing.assert_array_equal(x.grad, inside.astype(np.float64))


def test_clip_gradient_by_hand():
    x = leaf([-2.0, 0.0, 0.5, 3.0])
    x.clip(min=-1.0, max=1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 0.0])


def test_clip_gradient_is_one_exactly_at_the_bounds():
    """PyTorch's clamp passes the gradient where min <= x <= max, bounds included."""
    x = leaf([-1.0, 1.0, -1.5, 1.5])
    x.clip(min=-1.0, max=1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 0.0, 0.0])
    y = leaf([0.0, 2.0])
    (y.clip(min=0.0) + y.clip(max=2.0)).sum().backward()
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])


@pytest.mark.parametrize('shape', [(), (3, 4)], ids=shape_id)
def test_astype_roundtrip(shape):
    # Values in [0.5, 1): float32's spacing there is 6e-8, so eps = 1e-3 keeps the
    # finite difference through the float32 step accurate to ~1e-4 relative.
    x = leaf(np.random.default_rng(9).uniform(0.5, 1.0, shape))
    assert x.astype(np.float32).dtype == np.float32
    assert tl.gradcheck(lambda v: v.astype(np.float32), [x], eps=1e-3)
    assert tl.gradcheck(lambda v: (v.astype(np.float32) * 3).astype(np.float64) - v, [x], eps=1e-3)
    assert tl.gradcheck(lambda v: v.astype(np.float64) * v, [x])


def test_astype_gradient_dtype_follows_each_input():
    x32 = leaf([1.0, 2.0, 3.0], np.float32)
    y64 = x32.astype(np.float64)
    assert y64.dtype == np.float64
    (y64 * y64).sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_array_equal(x32.grad, np.array([2.0, 4.0, 6.0], dtype=np.float32))

    x64 = leaf([1.0, 2.0])
    (x64.astype(np.float32) * 3).sum().backward()
    assert x64.grad.dtype == np.float64
    np.testing.assert_array_equal(x64.grad, [3.0, 3.0])


# ---- reductions --------------------------------------------------------------------------------
REDUCTIONS = {
    'sum': lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims),
    'mean': lambda x, axis, keepdims: x.mean(axis=axis, keepdims=keepdims),
    'max': lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims),
    'min': lambda x, axis, keepdims: x.min(axis=axis, keepdims=keepdims),
    'var0': lambda x, axis, keepdims: x.var(axis=axis, ddof=0, keepdims=keepdims),
    'var1': lambda x, axis, keepdims: x.var(axis=axis, ddof=1, keepdims=keepdims),
    'logsumexp': lambda x, axis, keepdims: x.logsumexp(axis=axis, keepdims=keepdims),
    'prod': lambda x, axis, keepdims: x.prod(axis=axis, keepdims=keepdims),
    'std0': lambda x, axis, keepdims: x.std(axis=axis, keepdims=keepdims),
    'std1': lambda x, axis, keepdims: x.std(axis=axis, ddof=1, keepdims=keepdims),
    'sum_dim': lambda x, axis, keepdims: x.sum(dim=axis, keepdim=keepdims),
}

NUMPY_REDUCTIONS = {
    'sum': lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
    'mean': lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
    'max': lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
    'min': lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
    'var0': lambda x, axis, keepdims: np.var(x, axis=axis, ddof=0, keepdims=keepdims),
    'var1': lambda x, axis, keepdims: np.var(x, axis=axis, ddof=1, keepdims=keepdims),
    'logsumexp': lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
    'prod': lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
    'std0': lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims),
    'std1': lambda x, axis, keepdims: np.std(x, axis=axis, ddof=1, keepdims=keepdims),
    'sum_dim': lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
}

AXES = [None, 0, 1, -1, (0, 2), (0, 1, 2)]


def distinct_234(seed: int) -> np.ndarray:
    """A (2, 3, 4) array of 24 values at least 0.1 apart: no ties for max/min."""
    return np.random.default_rng(seed).permutation(24).reshape(2, 3, 4) / 10.0 - 1.2


@pytest.mark.parametrize('keepdims', [False, True])
@pytest.mark.parametrize('axis', AXES, ids=str)
@pytest.mark.parametrize('op', list(REDUCTIONS))
def test_reduction(op, axis, keepdims):
    x = leaf(distinct_234(13))
    fn = REDUCTIONS[op]
    out = fn(x, axis, keepdims)
    expected = NUMPY_REDUCTIONS[op](x.data, axis, keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert tl.gradcheck(lambda v: fn(v, axis, keepdims), [x])


def test_max_ties_split_gradient_equally():
    x = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0, 0, 0]])

    x.zero_grad()
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0.5, 0.5, 0]])

    x.zero_grad()
    x.max(axis=0, keepdims=True).backward(np.array([[1.0, 2.0, 4.0]]))
    np.testing.assert_array_equal(x.grad, [[0, 2.0, 4.0], [1.0, 0, 0]])


def test_max_three_way_tie_and_min_ties():
    x = leaf([5.0, 5.0, 1.0, 5.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [1 / 3, 1 / 3, 0, 1 / 3])

    y = leaf([[0.0, 4.0, 0.0], [-1.0, -1.0, -1.0]])
    y.min(axis=-1).sum().backward()
    np.testing.assert_array_equal(y.grad, [[0.5, 0, 0.5], [1 / 3, 1 / 3, 1 / 3]])


SOFTMAX_AXES = [0, 1, 2, -1, -2]


@pytest.mark.parametrize('axis', SOFTMAX_AXES)
@pytest.mark.parametrize('op', ['softmax', 'log_softmax'])
def test_softmax_family(op, axis):
    x = leaf(np.random.default_rng(17).standard_normal((2, 3, 4)))
    fn = (lambda v: v.softmax(axis=axis)) if op == 'softmax' else (lambda v: v.log_softmax(axis=axis))
    shifted = np.exp(x.data - x.data.max(axis=axis, keepdims=True))
    expected = shifted / shifted.sum(axis=axis, keepdims=True)
    if op == 'log_softmax':
        expected = np.log(expected)
    np.testing.assert_allclose(fn(x).data, expected, rtol=1e-12, atol=1e-12)
    assert tl.gradcheck(fn, [x])


@pytest.mark.parametrize('op', ['softmax', 'log_softmax'])
def test_softmax_default_axis_is_last(op):
    x = leaf(np.random.default_rng(18).standard_normal((3, 4)))
    assert tl.gradcheck(lambda v: getattr(v, op)(), [x])
    np.testing.assert_array_equal(getattr(x, op)().data, getattr(x, op)(axis=-1).data)


# ---- shape ops ---------------------------------------------------------------------------------
def x234(seed: int = 19) -> tl.Value:
    return leaf(np.random.default_rng(seed).standard_normal((2, 3, 4)))


SHAPE_OPS = {
    'reshape_tuple': (lambda v: v.reshape((6, 4)), (6, 4)),
    'reshape_varargs': (lambda v: v.reshape(4, 6), (4, 6)),
    'reshape_minus_one': (lambda v: v.reshape(4, -1), (4, 6)),
    'reshape_3d': (lambda v: v.reshape(3, 2, 4), (3, 2, 4)),
    'reshape_1d': (lambda v: v.reshape(24), (24,)),
    'flatten': (lambda v: v.flatten(), (24,)),
    'transpose_no_args': (lambda v: v.transpose(), (4, 3, 2)),
    'transpose_102': (lambda v: v.transpose(1, 0, 2), (3, 2, 4)),
    'transpose_201_tuple': (lambda v: v.transpose((2, 0, 1)), (4, 2, 3)),
    'transpose_120': (lambda v: v.transpose(1, 2, 0), (3, 4, 2)),
    'transpose_identity': (lambda v: v.transpose(0, 1, 2), (2, 3, 4)),
    'transpose_negative': (lambda v: v.transpose(-1, 0, 1), (4, 2, 3)),
    'transpose_negative_mixed': (lambda v: v.transpose(0, -1, -2), (2, 4, 3)),
    'T': (lambda v: v.T, (4, 3, 2)),
    'broadcast_to_leading': (lambda v: v.broadcast_to((2, 2, 3, 4)), (2, 2, 3, 4)),
    'permute': (lambda v: v.permute(2, 0, 1), (4, 2, 3)),
    'view': (lambda v: v.view(6, 4), (6, 4)),
    'unsqueeze_squeeze': (lambda v: v.unsqueeze(1).squeeze(1), (2, 3, 4)),
    'unsqueeze_last': (lambda v: v.unsqueeze(-1), (2, 3, 4, 1)),
    'squeeze_all': (lambda v: v[:, :1].squeeze(), (2, 4)),
    'expand': (lambda v: v[:, :1].expand(5, -1, 3, -1), (5, 2, 3, 4)),
    'repeat': (lambda v: v.repeat(2, 1, 3), (4, 3, 12)),
    'repeat_new_axis': (lambda v: v.repeat(2, 1, 1, 2), (2, 2, 3, 8)),
    'masked_fill': (lambda v: v.masked_fill(v.data > 0, -1.0), (2, 3, 4)),
    'cumsum_0': (lambda v: v.cumsum(0), (2, 3, 4)),
    'cumsum_last': (lambda v: v.cumsum(dim=-1), (2, 3, 4)),
}


@pytest.mark.parametrize('op', list(SHAPE_OPS))
def test_shape_op(op):
    fn, expected_shape = SHAPE_OPS[op]
    x = x234()
    out = fn(x)
    assert out.shape == expected_shape
    assert tl.gradcheck(fn, [x])


def test_transpose_negative_axes_gradient_is_inverse_permutation():
    x = x234()
    upstream = np.random.default_rng(20).standard_normal((4, 2, 3))
    x.transpose(-1, 0, 1).backward(upstream)
    np.testing.assert_array_equal(x.grad, upstream.transpose(1, 2, 0))


@pytest.mark.parametrize('shape', [(3, 4), (4,), ()], ids=shape_id)
def test_T_of_low_rank(shape):
    x = leaf(np.random.default_rng(21).standard_normal(shape))
    assert x.T.shape == shape[::-1]
    assert tl.gradcheck(lambda v: v.T, [x])


@pytest.mark.parametrize('shape, target', [((3, 1), (2, 3, 4)), ((), (3,)), ((4,), (3, 4)),
                                           ((1, 4), (3, 4)), ((3, 1), (3, 5))],
                         ids=['3x1-to-2x3x4', 'scalar-to-3', '4-to-3x4', '1x4-to-3x4', '3x1-to-3x5'])
def test_broadcast_to(shape, target):
    x = leaf(np.random.default_rng(22).standard_normal(shape))
    out = x.broadcast_to(target)
    assert out.shape == target
    assert tl.gradcheck(lambda v: v.broadcast_to(target), [x])


# ---- indexing ----------------------------------------------------------------------------------
_MASK_AXIS0 = np.array([True, False, True, True])
_MASK_FULL = np.random.default_rng(23).random((4, 5, 3)) > 0.5

INDICES = {
    'int': 1,
    'negative_int': -1,
    'int_tuple': (2, 3),
    'int_tuple_full': (1, -2, 0),
    'slice': slice(1, 3),
    'slice_step': slice(None, None, 2),
    'slice_negative_step': slice(None, None, -1),
    'slice_step_tuple': (slice(3, 0, -2), slice(None, None, 2), slice(1, None)),
    'none': None,
    'none_tuple': (slice(None), None, 1),
    'ellipsis': Ellipsis,
    'ellipsis_int': (Ellipsis, 0),
    'int_ellipsis_slice': (1, Ellipsis, slice(0, 2)),
    'int_array': np.array([0, 2, 3]),
    'int_list': [3, 0],
    'negative_int_array': np.array([-1, -3]),
    'int_array_2d': np.array([[0, 1], [3, 2]]),
    'two_int_arrays': (np.array([0, 1, 3]), np.array([2, 4, 0])),
    'array_slice_array': (np.array([0, 3]), slice(None), np.array([2, 1])),
    'bool_mask_full': _MASK_FULL,
    'bool_mask_axis0': _MASK_AXIS0,
    'bool_mask_and_slice': (_MASK_AXIS0, slice(1, 4)),
    'int_and_bool_mask': (2, np.array([True, False, False, True, True])),
    'repeated_int_array': np.array([0, 0, 2, 0]),
    'repeated_int_list': [1, 1],
    'repeated_2d': np.array([[1, 1], [1, 3]]),
    'repeated_in_tuple': (slice(None), [4, 4, 0]),
    'repeated_pairs': (np.array([0, 0, 2]), np.array([1, 1, 1])),
    'mixed_int_repeated_slice': (1, [0, 0, 3], slice(None, None, 2)),
    'none_ellipsis_repeated': (None, Ellipsis, [2, 2]),
    'negative_repeated': (-1, [-1, -1, 4]),
}


@pytest.mark.parametrize('index', list(INDICES.values()), ids=list(INDICES))
def test_getitem(index):
    x = leaf(np.random.default_rng(24).standard_normal((4, 5, 3)))
    out = x[index]
    np.testing.assert_array_equal(out.data, x.data[index])
    assert tl.gradcheck(lambda v: v[index], [x])


def test_getitem_repeated_indices_accumulate_exactly():
    x = leaf([10.0, 20.0, 30.0, 40.0])
    x[[0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 1.0, 0.0])

    x.zero_grad()
    (x[np.array([3, 0, 3, 3])] * tl.Value(np.array([1.0, 2.0, 4.0, 8.0]))).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 0.0, 13.0])

    y = leaf(np.zeros((3, 2)))
    y[[2, 2, 0], [1, 1, 1]].sum().backward()
    np.testing.assert_array_equal(y.grad, [[0, 1], [0, 0], [0, 2]])

    z = leaf(np.zeros((3, 2)))
    z[[1, 1]].backward(np.array([[1.0, 2.0], [3.0, 5.0]]))
    np.testing.assert_array_equal(z.grad, [[0, 0], [4, 7], [0, 0]])


def test_getitem_with_value_index():
    x = leaf(np.random.default_rng(25).standard_normal((4, 3)))
    assert tl.gradcheck(lambda v: v[tl.Value(np.array([2, 2, 0]))], [x])
    assert tl.gradcheck(lambda v: v[v > 0], [x])


# ---- concat / stack ----------------------------------------------------------------------------
def _concat_parts(rng, axis: int, sizes: tuple) -> list:
    base = [2, 3, 4]
    parts = []
    for size in sizes:
        shape = list(base)
        shape[axis] = size
        parts.append(leaf(rng.standard_normal(shape)))
    return parts


@pytest.mark.parametrize('sizes', [(1, 3), (2, 1, 3)], ids=['two', 'three'])
@pytest.mark.parametrize('axis', [0, 1, 2, -1, -2, -3])
def test_concat(axis, sizes):
    parts = _concat_parts(np.random.default_rng(26), axis, sizes)
    out = tl.concat(parts, axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate([p.data for p in parts], axis=axis))
    assert tl.gradcheck(lambda *vs: tl.concat(vs, axis=axis), parts)


def test_concat_with_constant_and_1d():
    rng = np.random.default_rng(27)
    a, b, const = leaf(rng.standard_normal(3)), leaf(rng.standard_normal(2)), rng.standard_normal(4)
    assert tl.gradcheck(lambda u, v: tl.concat([u, const, v]), [a, b])
    assert tl.gradcheck(lambda u, v: tl.concat([u, u, v], axis=-1), [a, b])


@pytest.mark.parametrize('count', [2, 3])
@pytest.mark.parametrize('axis', [0, 1, 2, 3, -1, -2, -4])
def test_stack(axis, count):
    rng = np.random.default_rng(28)
    parts = [leaf(rng.standard_normal((2, 3, 4))) for _ in range(count)]
    out = tl.stack(parts, axis=axis)
    np.testing.assert_array_equal(out.data, np.stack([p.data for p in parts], axis=axis))
    assert tl.gradcheck(lambda *vs: tl.stack(vs, axis=axis), parts)


def test_stack_scalars_and_constants():
    rng = np.random.default_rng(29)
    a, b = leaf(rng.standard_normal(())), leaf(rng.standard_normal(()))
    assert tl.gradcheck(lambda u, v: tl.stack([u, v, u]), [a, b])
    c = leaf(rng.standard_normal(3))
    assert tl.gradcheck(lambda u: tl.stack([u, np.ones(3)], axis=-1), [c])


# ---- where / maximum / minimum -----------------------------------------------------------------
WHERE_SHAPES = [((3, 1), (1, 4), (3, 4)), ((4,), (2, 3, 4), ()), ((2, 3, 4), (3, 1), (4,)),
                ((), (3, 4), (3, 4)), ((3, 4), (3, 4), (3, 4))]


@pytest.mark.parametrize('cond_shape, a_shape, b_shape', WHERE_SHAPES,
                         ids=['-'.join(shape_id(s) for s in case) for case in WHERE_SHAPES])
def test_where(cond_shape, a_shape, b_shape):
    rng = np.random.default_rng(30)
    cond = rng.random(cond_shape) > 0.5
    a, b = leaf(rng.standard_normal(a_shape)), leaf(rng.standard_normal(b_shape))
    out = tl.where(cond, a, b)
    np.testing.assert_array_equal(out.data, np.where(cond, a.data, b.data))
    assert tl.gradcheck(lambda u, v: tl.where(cond, u, v), [a, b])


def test_where_with_value_condition_and_constants():
    rng = np.random.default_rng(31)
    x = leaf(_kink_free(rng, (3, 4)))
    assert tl.gradcheck(lambda v: tl.where(v > 0, v, 0.0), [x])
    assert tl.gradcheck(lambda v: tl.where(v > 0, 2.0, v * v), [x])
    x.zero_grad()
    tl.where(np.array([True, False, True, False]), x, rng.standard_normal(4)).sum().backward()
    np.testing.assert_array_equal(x.grad, np.tile([1.0, 0.0, 1.0, 0.0], (3, 1)))


def _grid(rng, shape, offset: float) -> np.ndarray:
    """Multiples of 0.1 plus ``offset``: two grids with offsets 0 and 0.05 never tie."""
    return rng.integers(-20, 20, shape) * 0.1 + offset


MAXMIN_SHAPES = [((3, 1), (1, 4)), ((1, 4), (3, 1)), ((3, 4), ()), ((), (2, 3, 4)),
                 ((4,), (2, 3, 4)), ((3, 4), (3, 4))]


@pytest.mark.parametrize('shape_a, shape_b', MAXMIN_SHAPES,
                         ids=[f'{shape_id(a)}-{shape_id(b)}' for a, b in MAXMIN_SHAPES])
@pytest.mark.parametrize('op', ['maximum', 'minimum'])
def test_maximum_minimum(op, shape_a, shape_b):
    rng = np.random.default_rng(32)
    a, b = leaf(_grid(rng, shape_a, 0.0)), leaf(_grid(rng, shape_b, 0.05))
    fn = getattr(tl, op)
    np.testing.assert_array_equal(fn(a, b).data, getattr(np, op)(a.data, b.data))
    assert tl.gradcheck(fn, [a, b])
    assert tl.gradcheck(lambda u: fn(u, 0.025), [a])
    assert tl.gradcheck(lambda v: fn(b.data * 0 + 0.3, v), [b])


@pytest.mark.parametrize('op', ['maximum', 'minimum'])
def test_maximum_minimum_ties_split_half(op):
    a, b = leaf([1.0, 2.0, 3.0]), leaf([1.0, 0.0, 3.0])
    getattr(tl, op)(a, b).sum().backward()
    if op == 'maximum':
        np.testing.assert_array_equal(a.grad, [0.5, 1.0, 0.5])
        np.testing.assert_array_equal(b.grad, [0.5, 0.0, 0.5])
    else:
        np.testing.assert_array_equal(a.grad, [0.5, 0.0, 0.5])
        np.testing.assert_array_equal(b.grad, [0.5, 1.0, 0.5])


def test_maximum_ties_with_broadcasting():
    a, b = leaf([[1.0], [2.0], [3.0]]), leaf([[2.0, 2.0, 5.0]])
    tl.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [[0.0], [1.0], [2.0]])
    np.testing.assert_array_equal(b.grad, [[1.5, 1.5, 3.0]])


# ---- second derivatives ------------------------------------------------------------------------
def _gradgrad_cases():
    rng = np.random.default_rng(40)
    distinct = distinct_234(41)
    cond = rng.random((3, 1)) > 0.5
    return {
        'mul': (lambda a, b: a * b, [normal(rng, (3, 1)), normal(rng, (1, 4))]),
        'mul_self': (lambda a: a * a * a, [normal(rng, (3, 4))]),
        'div': (lambda a, b: a / b, [normal(rng, (3, 4)), away_from_zero(rng, (4,))]),
        'div_number': (lambda a: 2 / a, [away_from_zero(rng, (3, 4))]),
        'pow': (lambda a, b: a ** b, [positive(rng, (3, 4)), rng.uniform(-1.5, 1.5, (3, 1))]),
        'pow_number_exponent': (lambda a: a ** 2.5, [positive(rng, (3, 4))]),
        'pow_number_base': (lambda a: 3 ** a, [normal(rng, (3, 4))]),
        'relu_times_x': (lambda a: a.relu() * a, [_kink_free(rng, (3, 4))]),
        'matmul_batched': (lambda a, b: a @ b, [normal(rng, (2, 1, 3, 4)), normal(rng, (2, 4, 2))]),
        'matmul_1d_nd': (lambda a, b: a @ b, [normal(rng, (4,)), normal(rng, (2, 4, 3))]),
        'matmul_nd_1d': (lambda a, b: a @ b, [normal(rng, (2, 3, 4)), normal(rng, (4,))]),
        'matmul_squared': (lambda a: (a @ a.T) * a.sum(), [normal(rng, (3, 4))]),
        'sum': (lambda a: a.sum(axis=1) ** 2, [normal(rng, (2, 3, 4))]),
        'sum_keepdims': (lambda a: a * a.sum(axis=(0, 2), keepdims=True), [normal(rng, (2, 3, 4))]),
        'mean': (lambda a: a.mean(axis=-1) ** 2, [normal(rng, (2, 3, 4))]),
        'mean_all': (lambda a: a * a.mean(), [normal(rng, (3, 4))]),
        'max': (lambda a: a.max(axis=1) ** 2, [distinct]),
        'min_keepdims': (lambda a: a * a.min(axis=0, keepdims=True), [distinct]),
        'logsumexp': (lambda a: a.logsumexp(axis=1), [normal(rng, (2, 3, 4))]),
        'logsumexp_all': (lambda a: a.logsumexp(), [normal(rng, (3, 4))]),
        'softmax': (lambda a: a.softmax(axis=1), [normal(rng, (2, 3, 4))]),
        'log_softmax': (lambda a: a.log_softmax(axis=0), [normal(rng, (2, 3, 4))]),
        'getitem_repeated': (lambda a: a[[0, 0, 2]] ** 2, [normal(rng, (3, 4))]),
        'getitem_repeated_pairs': (lambda a: a[[1, 1, 0], [2, 2, 3]] ** 3, [normal(rng, (3, 4))]),
        'getitem_slice': (lambda a: a[1:, ::2] ** 2, [normal(rng, (3, 4))]),
        'concat': (lambda a, b: tl.concat([a, b, a], axis=1) ** 2,
                   [normal(rng, (2, 3)), normal(rng, (2, 1))]),
        'stack': (lambda a, b: tl.stack([a * b, a], axis=-1) ** 2,
                  [normal(rng, (2, 3)), normal(rng, (2, 3))]),
        'where': (lambda a, b: tl.where(cond, a * a, b * a), [normal(rng, (3, 4)), normal(rng, (1, 4))]),
        'maximum': (lambda a, b: tl.maximum(a, b) ** 2, [_grid(rng, (3, 1), 0.0), _grid(rng, (1, 4), 0.05)]),
        'var': (lambda a: a.var(axis=1), [normal(rng, (2, 3, 4))]),
        'var_ddof1': (lambda a: a.var(ddof=1), [normal(rng, (3, 4))]),
        'transpose_reshape': (lambda a: (a.transpose(2, 0, 1).reshape(4, 6) ** 2),
                              [normal(rng, (2, 3, 4))]),
        'broadcast_to': (lambda a: a.broadcast_to((2, 3, 4)) ** 2, [normal(rng, (3, 1))]),
        'astype': (lambda a: a.astype(np.float64) ** 3, [normal(rng, (3,))]),
    }


GRADGRAD_CASES = _gradgrad_cases()


@pytest.mark.parametrize('case', list(GRADGRAD_CASES))
def test_gradgradcheck(case):
    fn, arrays = GRADGRAD_CASES[case]
    assert tl.gradgradcheck(fn, [leaf(array) for array in arrays])


# ---- second derivatives of the ops added for PyTorch fluency -----------------------------------
# (sin, cos, expm1 and prod along an axis: second derivatives in test_ops_battery.py)
SECOND_ORDER = {
    'log1p': lambda v: (v * v).log1p(), 'prod_all': lambda v: v.prod(),
    'cumsum': lambda v: (v.cumsum(1) ** 2), 'std': lambda v: v.std(axis=0),
    'repeat': lambda v: v.repeat(2, 2) ** 2, 'expand': lambda v: v[:1].expand(3, -1) ** 3,
}


@pytest.mark.parametrize('op', list(SECOND_ORDER))
def test_second_derivatives_of_new_ops(op):
    x = leaf(np.random.default_rng(21).uniform(0.3, 1.5, (3, 4)))
    assert tl.gradgradcheck(SECOND_ORDER[op], [x])


def test_prod_gradient_with_zeros_by_hand():
    """d prod / dx_i is the product of the others: at a single zero, the product of the
    non-zeros; everything 0 in a slice with two zeros."""
    x = leaf([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])
    x.prod(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])
    single_zero = leaf([[0.0, 2.0, 3.0], [1.5, 0.5, 4.0]])
    assert tl.gradcheck(lambda v: v.prod(axis=1), [single_zero])
    assert tl.gradgradcheck(lambda v: v.prod(axis=1), [single_zero])
