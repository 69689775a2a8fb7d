"""tl.testing.strategies: Values of the requested kind, shapes that broadcast, and elements
that keep finite differences away from each function's kinks and poles."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_ls as tl
from tinygrad_ls.combine import maximum, minimum
from tinygrad_ls.testing import strategies as tls

FAST = settings(max_examples=30, deadline=None)


# ---- values ------------------------------------------------------------------------------------
@FAST
@given(x=tls.values())
def test_values_default_is_a_small_float64_leaf_that_requires_grad(x):
    assert isinstance(x, tl.Value)
    assert x.is_leaf and x.requires_grad
    assert x.dtype == np.float64
    assert x.ndim <= 3 and all(1 <= side <= 4 for side in x.shape)
    assert np.all(np.isfinite(x.data)) and np.all(np.abs(x.data) <= 10)


@FAST
@given(data=st.data(), shape=st.sampled_from([(), (4,), (3, 4), (1, 4), (3, 1), 5]),
       dtype=st.sampled_from([np.float16, np.float32, np.float64]), requires_grad=st.booleans())
def test_values_has_the_requested_shape_dtype_and_requires_grad(data, shape, dtype, requires_grad):
    x = data.draw(tls.values(shape, dtype=dtype, requires_grad=requires_grad))
    assert x.shape == ((shape,) if isinstance(shape, int) else shape)
    assert x.dtype == np.dtype(dtype)
    assert x.requires_grad is requires_grad


@FAST
@given(data=st.data(), dtype=st.sampled_from([np.int64, np.int32, np.bool_]))
def test_values_of_non_float_dtype_never_require_grad(data, dtype):
    x = data.draw(tls.values((2, 3), dtype=dtype))
    assert x.dtype == np.dtype(dtype) and x.shape == (2, 3)
    assert not x.requires_grad


@FAST
@given(x=tls.values((3, 2), elements=st.floats(1, 2)), y=tls.values(elements=st.integers(0, 3)))
def test_values_draws_from_the_given_elements(x, y):
    assert np.all((x.data >= 1) & (x.data <= 2))
    assert np.all(np.isin(y.data, [0, 1, 2, 3]))


@FAST
@given(x=tls.values((6,), elements=tls.well_conditioned('max'), unique=True))
def test_values_unique_draws_distinct_elements(x):
    assert len(set(x.data.tolist())) == 6


@FAST
@given(x=tls.values(tls.broadcastable_shapes(1).map(lambda shapes: shapes[0])))
def test_values_takes_a_strategy_of_shapes(x):
    assert x.ndim <= 3


def test_values_rejects_a_non_numeric_dtype():
    with pytest.raises(TypeError, match='float, int or bool'):
        tls.values(dtype=np.complex128)


# ---- broadcastable_shapes ----------------------------------------------------------------------
@FAST
@given(n=st.integers(1, 4), data=st.data())
def test_broadcastable_shapes_broadcast_together(n, data):
    shapes = data.draw(tls.broadcastable_shapes(n, min_dims=1, max_dims=3))
    assert isinstance(shapes, tuple) and len(shapes) == n
    assert all(1 <= len(shape) <= 3 for shape in shapes)
    np.broadcast_shapes(*shapes)  # raises if they do not


@FAST
@given(data=st.data(), shapes=tls.broadcastable_shapes(2))
def test_broadcastable_shapes_feed_values_into_a_binary_op(data, shapes):
    a, b = (data.draw(tls.values(shape)) for shape in shapes)
    out = a * b
    assert out.shape == np.broadcast_shapes(*shapes)
    out.sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


def test_broadcastable_shapes_rejects_n_below_one():
    with pytest.raises(ValueError, match='n must be at least 1'):
        tls.broadcastable_shapes(0)


# ---- well_conditioned --------------------------------------------------------------------------
UNARY = {
    'abs': lambda x: x.abs(),
    'relu': lambda x: x.relu(),
    'log': lambda x: x.log(),
    'sqrt': lambda x: x.sqrt(),
    'log1p': lambda x: x.log1p(),
    'exp': lambda x: x.exp(),
    'expm1': lambda x: x.expm1(),
    'sigmoid': lambda x: x.sigmoid(),
    'tanh': lambda x: x.tanh(),
    'sin': lambda x: x.sin(),
    'cos': lambda x: x.cos(),
    'clip': lambda x: x.clip(-1, 1),
    'clamp': lambda x: x.clamp(-1, 1),
    'div': lambda x: 1 / x,
    'pow': lambda x: x ** 1.5,
}


@pytest.mark.parametrize('name', sorted(UNARY))
@FAST
@given(data=st.data())
def test_gradcheck_passes_on_well_conditioned_elements(name, data):
    x = data.draw(tls.values(elements=tls.well_conditioned(name)))
    assert tl.gradcheck(UNARY[name], x)


@FAST
@given(x=st.floats(-10, 10).flatmap(lambda _: tls.well_conditioned('abs')))
def test_well_conditioned_abs_keeps_away_from_zero(x):
    assert 0.1 <= abs(x) <= 10


@FAST
@given(x=tls.well_conditioned('log'), y=tls.well_conditioned('log1p'))
def test_well_conditioned_log_and_log1p_stay_in_the_domain(x, y):
    assert x >= 0.1 and y >= -0.9


@FAST
@given(data=st.data(), bounds=st.sampled_from([(-1.0, 1.0), (0.0, 6.0), (None, 2.0), (-3.0, None)]))
def test_well_conditioned_clip_keeps_away_from_the_given_bounds(data, bounds):
    low, high = bounds
    x = data.draw(tls.values((5,), elements=tls.well_conditioned('clip', bounds=bounds)))
    for bound in bounds:
        if bound is not None:
            assert np.all(np.abs(x.data - bound) >= 0.1 - 1e-12)  # 6.1 - 6 < 0.1 in floats
    assert tl.gradcheck(lambda v: v.clip(low, high), x)


@FAST
@given(base=tls.values((3,), elements=tls.well_conditioned('pow')),
       exponent=tls.values((3,), elements=st.floats(-2, 2)))
def test_well_conditioned_pow_base_gives_both_gradients(base, exponent):
    assert tl.gradcheck(lambda b, e: b ** e, [base, exponent])


@FAST
@given(data=st.data(), shapes=tls.broadcastable_shapes(2))
def test_well_conditioned_div_divisor_under_broadcasting(data, shapes):
    a = data.draw(tls.values(shapes[0]))
    b = data.draw(tls.values(shapes[1], elements=tls.well_conditioned('div')))
    assert tl.gradcheck(lambda x, y: x / y, [a, b])


@FAST
@given(data=st.data(), op=st.sampled_from([maximum, minimum]))
def test_well_conditioned_maximum_minimum_ties_of_two_agree(data, op):
    name = op.__name__
    a = data.draw(tls.values((4,), elements=tls.well_conditioned(name)))
    b = data.draw(tls.values((4,), elements=tls.well_conditioned(name)))
    assert tl.gradcheck(op, [a, b])


@FAST
@given(data=st.data(), name=st.sampled_from(['max', 'min']))
def test_well_conditioned_max_min_reductions_with_unique_values(data, name):
    x = data.draw(tls.values((2, 3), elements=tls.well_conditioned(name), unique=True))
    assert tl.gradcheck(lambda v: getattr(v, name)(axis=1), x)


def test_well_conditioned_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown function 'tan'.*abs.*clip.*log1p.*sqrt"):
        tls.well_conditioned('tan')


def test_well_conditioned_bounds_only_for_clip():
    with pytest.raises(ValueError, match='bounds= is for'):
        tls.well_conditioned('log', bounds=(0, 1))
    with pytest.raises(ValueError, match='no room between them'):
        tls.well_conditioned('clip', bounds=(0.0, 0.1))


# ---- the example the docs show -----------------------------------------------------------------
@given(tls.values(elements=tls.well_conditioned('sqrt')))
def test_sqrt_gradient(x):
    assert tl.gradcheck(lambda v: v.sqrt() * v, x)
