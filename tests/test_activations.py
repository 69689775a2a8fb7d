"""The activations of ``nn.functional`` and their modules: leaky_relu, gelu (exact and tanh),
silu, elu, softplus (beta, threshold), softmax/log_softmax with ``dim``; and ``erf``/``erfc``.

Sections: erf/erfc against ``math.erf``/``math.erfc`` element by element; float64 gradcheck
and gradgradcheck over a matrix of shapes and hypothesis-drawn ones (points kept away from
the kinks); exact values at the kinks
and for huge inputs; dtypes; the in-place version check; softmax's ``dim``/``axis``; the
modules (repr, forward = the functional); bad arguments (each error names the function or
the layer and the bad value); and PyTorch parity of values, first and second derivatives
(float64, skipped without torch).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import leaf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F
from tinygrad_ls.ops.activations import NormalCdf, erf, erfc, normal_cdf

SHAPES = [(), (5,), (3, 4), (2, 3, 4)]


def sample(rng, shape, kinks=(), margin=0.05, scale=2.0) -> np.ndarray:
    """Normal samples times ``scale``, moved at least ``margin`` away from every kink."""
    x = np.asarray(rng.standard_normal(shape) * scale)
    for kink in kinks:
        x = np.where(np.abs(x - kink) < margin, kink + np.where(x >= kink, 2, -2) * margin, x)
    return x


# name -> (our function, the same in torch.nn.functional spelled as a name and kwargs, kinks)
CASES = {
    'leaky_relu': (lambda x: F.leaky_relu(x), ('leaky_relu', {}), (0.0,)),
    'leaky_relu_0.2': (lambda x: F.leaky_relu(x, 0.2), ('leaky_relu', {'negative_slope': 0.2}), (0.0,)),
    'leaky_relu_-1.5': (lambda x: F.leaky_relu(x, negative_slope=-1.5),
                        ('leaky_relu', {'negative_slope': -1.5}), (0.0,)),
    'gelu': (F.gelu, ('gelu', {}), ()),
    'gelu_tanh': (lambda x: F.gelu(x, approximate='tanh'), ('gelu', {'approximate': 'tanh'}), ()),
    'silu': (F.silu, ('silu', {}), ()),
    'elu': (F.elu, ('elu', {}), (0.0,)),
    'elu_0.5': (lambda x: F.elu(x, alpha=0.5), ('elu', {'alpha': 0.5}), (0.0,)),
    'softplus': (F.softplus, ('softplus', {}), ()),
    'softplus_beta2_threshold3': (lambda x: F.softplus(x, beta=2, threshold=3),
                                  ('softplus', {'beta': 2, 'threshold': 3}), (1.5,)),
    'softplus_beta-1.5': (lambda x: F.softplus(x, -1.5, 2.0), ('softplus', {'beta': -1.5, 'threshold': 2.0}),
                          (-4 / 3,)),
}
SOFTMAX_CASES = {
    'softmax_dim0': (lambda x: F.softmax(x, dim=0), ('softmax', {'dim': 0})),
    'softmax_dim-1': (lambda x: F.softmax(x, -1), ('softmax', {'dim': -1})),
    'log_softmax_dim1': (lambda x: F.log_softmax(x, dim=1), ('log_softmax', {'dim': 1})),
    'log_softmax_axis0': (lambda x: F.log_softmax(x, axis=0), ('log_softmax', {'dim': 0})),
}


def shape_id(shape: tuple) -> str:
    return 'x'.join(map(str, shape)) or 'scalar'


# ---- erf and erfc ---------------------------------------------------------------------------
def erf_points() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([
        rng.uniform(-0.5, 0.5, 4000), rng.uniform(-6, 6, 4000), rng.uniform(-27, 27, 4000),
        np.logspace(-300, 1.45, 2000), -np.logspace(-300, 1.45, 2000),
        [0.0, -0.0, 0.46875, -0.46875, np.nextafter(0.46875, 1), 4.0, -4.0, np.nextafter(4.0, 5)],
        [26.5, 5e-324],
    ])


def test_erf_matches_math_erf_element_by_element():
    x = erf_points()
    ours = erf(x)
    reference = np.array([math.erf(v) for v in x])
    assert ours.dtype == np.float64 and ours.shape == x.shape
    nonzero = reference != 0
    relative = np.abs(ours[nonzero] - reference[nonzero]) / np.abs(reference[nonzero])
    assert relative.max() <= 1e-15, x[nonzero][np.argmax(relative)]
    assert np.array_equal(ours[~nonzero], reference[~nonzero])
    assert np.array_equal(np.signbit(erf(np.array([0.0, -0.0]))), [False, True])


def test_erfc_matches_math_erfc_element_by_element():
    x = erf_points()
    ours = erfc(x)
    reference = np.array([math.erfc(v) for v in x])
    normal = reference > 1e-300  # below that math.erfc is subnormal, with fewer digits
    relative = np.abs(ours[normal] - reference[normal]) / reference[normal]
    assert relative.max() <= 1.5e-15, x[normal][np.argmax(relative)]
    assert np.all(np.abs(ours[~normal] - reference[~normal]) <= 1e-300)


def test_erf_special_values_shapes_and_dtypes():
    specials = np.array([np.nan, np.inf, -np.inf, 1e300, -1e300])
    np.testing.assert_array_equal(erf(specials), [np.nan, 1, -1, 1, -1])
    np.testing.assert_array_equal(erfc(specials), [np.nan, 0, 2, 0, 2])
    assert erf(np.array(0.5)).shape == () and erf(np.array(0.5)) == pytest.approx(math.erf(0.5), rel=1e-15)
    assert erf(np.zeros((0, 3))).shape == (0, 3)
    single = erf(np.linspace(-3, 3, 13, dtype=np.float32))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, [math.erf(v) for v in np.linspace(-3, 3, 13)], rtol=1e-6, atol=1e-7)
    assert erf(np.array([1, 2])).dtype == np.float64  # integers are computed in float64


def test_normal_cdf_is_accurate_in_the_left_tail():
    """``0.5 erfc(-x / sqrt 2)`` keeps every digit where ``0.5 (1 + erf)`` would cancel. (The
    reference rounds ``-x / sqrt 2`` as the op does: erfc magnifies that rounding 2 z² times.)"""
    x = np.linspace(-37, 8, 451)
    reference = np.array([0.5 * math.erfc(-v * math.sqrt(0.5)) for v in x])
    np.testing.assert_allclose(normal_cdf(x), reference, rtol=2e-15, atol=0)
    np.testing.assert_allclose(F.gelu(leaf(x)).data, x * reference, rtol=2e-15, atol=0)
    assert tl.gradcheck(NormalCdf.apply, [leaf(np.linspace(-3, 3, 7))])
    assert tl.gradgradcheck(NormalCdf.apply, [leaf(np.linspace(-3, 3, 7))])


# ---- gradcheck and gradgradcheck ----------------------------------------------------------------
@pytest.mark.parametrize('shape', SHAPES, ids=shape_id)
@pytest.mark.parametrize('case', list(CASES))
def test_gradcheck_and_gradgradcheck(case, shape):
    fn, _, kinks = CASES[case]
    x = leaf(sample(np.random.default_rng(len(shape)), shape, kinks))
    assert fn(x).shape == shape and fn(x).dtype == np.float64
    assert tl.gradcheck(fn, [x])
    assert tl.gradgradcheck(fn, [x])


@settings(max_examples=30, deadline=None)
@given(case=st.sampled_from(list(CASES)), seed=st.integers(0, 2**16),
       shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
def test_gradcheck_and_gradgradcheck_random_shapes(case, shape, seed):
    fn, _, kinks = CASES[case]
    x = leaf(sample(np.random.default_rng(seed), shape, kinks))
    assert tl.gradcheck(fn, [x]) and tl.gradgradcheck(fn, [x])


SOFTMAX_SHAPES = [(case, shape) for case in SOFTMAX_CASES for shape in [(5,), (3, 4), (2, 3, 4)]
                  if not (case.endswith('dim1') and len(shape) < 2)]


@pytest.mark.parametrize('case, shape', SOFTMAX_SHAPES, ids=[f"{c}-{shape_id(s)}" for c, s in SOFTMAX_SHAPES])
def test_softmax_gradcheck_and_gradgradcheck(case, shape):
    fn = SOFTMAX_CASES[case][0]
    x = leaf(sample(np.random.default_rng(3), shape))
    assert tl.gradcheck(fn, [x])
    assert tl.gradgradcheck(fn, [x])


def test_third_derivative_of_gelu_through_normal_cdf():
    """Gelu's create_graph backward records NormalCdf, whose backward is differentiable again."""
    x = leaf([-1.5, 0.3, 2.0])
    (first,) = tl.grad(F.gelu(x).sum(), x, create_graph=True)
    (second,) = tl.grad(first.sum(), x, create_graph=True)
    (third,) = tl.grad(second.sum(), x)
    phi = np.exp(-x.data ** 2 / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(second.data, phi * (2 - x.data ** 2), rtol=1e-13)
    np.testing.assert_allclose(third.data, phi * (x.data ** 3 - 4 * x.data), rtol=1e-12, atol=1e-15)


# ---- exact values, kinks, extremes, dtypes ------------------------------------------------------------
def test_exact_values_and_gradients_at_the_kinks():
    """PyTorch's choices at 0: leaky_relu's slope there is negative_slope, elu's is alpha."""
    x = leaf([-2.0, 0.0, 3.0])
    F.leaky_relu(x, 0.1).sum().backward()
    np.testing.assert_array_equal(F.leaky_relu(x, 0.1).data, [-0.2, 0.0, 3.0])
    np.testing.assert_array_equal(x.grad, [0.1, 0.1, 1.0])
    x.zero_grad()
    F.elu(x, alpha=0.5).sum().backward()
    np.testing.assert_allclose(F.elu(x, alpha=0.5).data, [0.5 * math.expm1(-2), 0.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(x.grad, [0.5 * math.exp(-2), 0.5, 1.0], rtol=1e-15)
    x = leaf([-np.inf, np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = F.elu(x, alpha=0.5)
        out.sum().backward()
        (first,) = tl.grad(F.elu(x).sum(), x, create_graph=True)
        (second,) = tl.grad(first.sum(), x)
    np.testing.assert_array_equal(out.data, [-0.5, np.inf])
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])
    np.testing.assert_array_equal(second.data, [0.0, 0.0])
    assert F.gelu(leaf(0.0)).item() == 0.0 and F.silu(leaf(0.0)).item() == 0.0
    assert F.softplus(leaf(0.0)).item() == pytest.approx(math.log(2), rel=1e-15)


def test_softplus_threshold_rule():
    """Linear exactly where beta x > threshold, as PyTorch: at beta x == threshold still the curve."""
    x = leaf([10.0, 10.5, 21.0, 20.0])
    out = F.softplus(x, beta=2.0, threshold=20.0)
    np.testing.assert_allclose(out.data[:2], [math.log1p(math.exp(20.0)) / 2, 10.5], rtol=1e-15)
    out.sum().backward()
    assert x.grad[0] == pytest.approx(1 / (1 + math.exp(-20.0)), rel=1e-15) and x.grad[1] == 1.0
    np.testing.assert_array_equal(F.softplus(leaf([21.0, 20.0])).data, [21.0, math.log1p(math.exp(20.0))])


@pytest.mark.parametrize('name', ['leaky_relu', 'gelu', 'gelu_tanh', 'silu', 'elu', 'softplus'])
def test_huge_inputs_are_finite(name):
    fn = CASES[name][0]
    x = leaf([-1e4, -800.0, 800.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no overflow or invalid-value warnings either
        out = fn(x)
        out.sum().backward()
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(x.grad))
    np.testing.assert_array_equal(out.data[2:], [800.0, 1e4])
    np.testing.assert_array_equal(x.grad[2:], [1.0, 1.0])


@pytest.mark.parametrize('case', list(CASES) + list(SOFTMAX_CASES))
def test_float32_stays_float32(case):
    fn = (CASES.get(case) or SOFTMAX_CASES[case])[0]
    x = tl.Value(np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    out = fn(x)
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


def test_inputs_that_are_not_values():
    np.testing.assert_array_equal(F.leaky_relu(np.array([-2, 3])).data, [-0.02, 3.0])  # ints: float out
    np.testing.assert_allclose(F.gelu([0.5, -1.0]).data, F.gelu(leaf([0.5, -1.0])).data, rtol=1e-6)
    assert F.silu(np.array([1.0])).dtype == np.float64
    assert F.elu([1.0]).dtype == tl.get_default_dtype()


@pytest.mark.parametrize('case', list(CASES))
def test_input_modified_in_place_after_the_op(case):
    """The ops read their input in backward (saves_inputs) and refuse a stale one, except
    leaky_relu: it keeps only the slopes it made in forward, so its gradient stays right."""
    fn = CASES[case][0]
    x = leaf([-1.0, 0.5, 2.0])
    hidden = x * 1.0
    out = fn(hidden).sum()
    with tl.no_grad():
        hidden += 1
    if not case.startswith('leaky_relu'):
        with pytest.raises(RuntimeError, match="modified by an in-place operation"):
            out.backward()
        return
    out.backward()
    reference = leaf([-1.0, 0.5, 2.0])
    fn(reference).sum().backward()
    np.testing.assert_array_equal(x.grad, reference.grad)


# ---- softmax's dim ------------------------------------------------------------------------------
def test_softmax_dim_and_axis():
    x = leaf(np.random.default_rng(4).standard_normal((2, 3, 4)))
    by_dim, by_axis, method = F.softmax(x, dim=1), F.softmax(x, axis=1), x.softmax(axis=1)
    np.testing.assert_array_equal(by_dim.data, method.data)
    np.testing.assert_array_equal(by_axis.data, method.data)
    np.testing.assert_allclose(by_dim.data.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(F.log_softmax(x, 0).data, x.log_softmax(axis=0).data)
    np.testing.assert_array_equal(F.softmax(x).data, x.softmax().data)  # default: the last axis
    np.testing.assert_array_equal(nn.Softmax(dim=-1)(x).data, F.softmax(x, -1).data)
    np.testing.assert_array_equal(nn.LogSoftmax(dim=2)(x).data, F.log_softmax(x, 2).data)


@pytest.mark.parametrize('ndim, implicit', [(1, 0), (2, 1), (3, 0), (4, 1)])
def test_dim_none_is_pytorchs_implicit_choice_with_a_warning(ndim, implicit):
    x = leaf(np.random.default_rng(5).standard_normal((2, 3, 4, 5)[:ndim]))
    for module, function in ((nn.Softmax(), F.softmax), (nn.LogSoftmax(), F.log_softmax)):
        with pytest.warns(UserWarning, match=rf"{function.__name__}: implicit dimension.*dim={implicit}"):
            implicit_out = module(x)
        np.testing.assert_array_equal(implicit_out.data, function(x, implicit).data)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        nn.Softmax(dim=0)(x)  # an explicit dim never warns


# ---- modules ------------------------------------------------------------------------------------
MODULES = [
    (nn.LeakyReLU(), 'LeakyReLU(negative_slope=0.01)', lambda x: F.leaky_relu(x)),
    (nn.LeakyReLU(0.2), 'LeakyReLU(negative_slope=0.2)', lambda x: F.leaky_relu(x, 0.2)),
    (nn.GELU(), "GELU(approximate='none')", F.gelu),
    (nn.GELU(approximate='tanh'), "GELU(approximate='tanh')", lambda x: F.gelu(x, approximate='tanh')),
    (nn.SiLU(), 'SiLU()', F.silu),
    (nn.ELU(), 'ELU(alpha=1.0)', F.elu),
    (nn.ELU(alpha=2), 'ELU(alpha=2.0)', lambda x: F.elu(x, 2.0)),
    (nn.Softplus(), 'Softplus(beta=1.0, threshold=20.0)', F.softplus),
    (nn.Softplus(beta=2, threshold=5), 'Softplus(beta=2.0, threshold=5.0)', lambda x: F.softplus(x, 2, 5)),
    (nn.Softmax(dim=1), 'Softmax(dim=1)', lambda x: F.softmax(x, dim=1)),
    (nn.LogSoftmax(dim=-1), 'LogSoftmax(dim=-1)', F.log_softmax),
    (nn.ReLU(), 'ReLU()', F.relu), (nn.Tanh(), 'Tanh()', F.tanh), (nn.Sigmoid(), 'Sigmoid()', F.sigmoid),
]


@pytest.mark.parametrize('module, text, fn', MODULES, ids=[m[1] for m in MODULES])
def test_module_repr_and_forward(module, text, fn):
    assert repr(module) == text
    assert list(module.parameters()) == [] and module.state_dict() == {}
    x = leaf(np.random.default_rng(6).standard_normal((3, 4)) * 3)
    np.testing.assert_array_equal(module(x).data, fn(x).data)
    assert module(x).op == fn(x).op


def test_modules_in_a_model_and_exports():
    for name in ('LeakyReLU', 'GELU', 'SiLU', 'ELU', 'Softplus', 'Softmax', 'LogSoftmax'):
        assert name in nn.__all__ and getattr(nn, name).__module__ == 'tinygrad_ls.nn.activation'
    for name in ('leaky_relu', 'gelu', 'silu', 'elu', 'softplus', 'softmax', 'log_softmax'):
        assert name in F.__all__ and callable(getattr(F, name))
    tl.manual_seed(0)
    model = nn.MLP([3, 8, 8, 2], activation=nn.GELU)
    assert repr(model.layers[1]) == "GELU(approximate='none')"
    assert model.layers[1] is not model.layers[3]
    x = tl.randn(4, 3)
    assert nn.Sequential(model, nn.LogSoftmax(dim=1))(x).shape == (4, 2)


# ---- bad arguments ------------------------------------------------------------------------------
BAD_OPTIONS = [  # (module, function, kwargs, error, message)
    (nn.LeakyReLU, F.leaky_relu, {'negative_slope': 'big'}, TypeError,
     "negative_slope must be a number, got 'big'"),
    (nn.LeakyReLU, F.leaky_relu, {'negative_slope': True}, TypeError,
     "negative_slope must be a number, got True"),
    (nn.GELU, F.gelu, {'approximate': 'fast'}, ValueError,
     "approximate must be 'none' or 'tanh', got 'fast'"),
    (nn.GELU, F.gelu, {'approximate': None}, ValueError, "approximate must be 'none' or 'tanh', got None"),
    (nn.ELU, F.elu, {'alpha': None}, TypeError, "alpha must be a number, got None"),
    (nn.Softplus, F.softplus, {'beta': 0}, ValueError, "beta must be nonzero, got 0.0"),
    (nn.Softplus, F.softplus, {'threshold': '20'}, TypeError, "threshold must be a number, got '20'"),
    (nn.Softmax, F.softmax, {'dim': 1.5}, TypeError, "dim must be an int or None, got 1.5"),
    (nn.LogSoftmax, F.log_softmax, {'dim': (0, 1)}, TypeError, r"dim must be an int or None, got \(0, 1\)"),
]


@pytest.mark.parametrize('module, function, kwargs, error, message', BAD_OPTIONS,
                         ids=[f"{case[0].__name__}-{case[2]}" for case in BAD_OPTIONS])
def test_bad_options_name_the_function_or_the_layer(module, function, kwargs, error, message):
    x = leaf([0.5, -1.0])
    with pytest.raises(error, match=f"^{function.__name__}: {message}"):
        function(x, **kwargs)
    assert x.grad is None and x._version == 0  # nothing ran
    with pytest.raises(error, match=f"^{module.__name__}: {message}"):
        module(**kwargs)


def test_softmax_dim_and_axis_together_or_out_of_range():
    x = leaf(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"softmax: got both axis=0 and dim=1; pass one of them"):
        F.softmax(x, 1, axis=0)
    with pytest.raises(TypeError, match=r"log_softmax: got both axis=0 and dim=None"):
        F.log_softmax(x, None, axis=0)
    with pytest.raises(IndexError, match=r"softmax: .*2.*\(2, 3\)"):
        F.softmax(x, dim=2)


# ---- PyTorch parity -------------------------------------------------------------------------------
def _compare_with_torch(torch, fn, torch_name, kwargs, data, rtol=1e-12, atol=1e-14):
    """Values, first derivatives (with a random upstream gradient) and second derivatives
    (``d/dx sum(v * f'(x) * u)``) of ``fn`` and ``torch.nn.functional.<torch_name>``."""
    rng = np.random.default_rng(11)
    upstream, second_upstream = rng.standard_normal(data.shape), rng.standard_normal(data.shape)
    x = leaf(data)
    t = torch.tensor(data, requires_grad=True)
    ours, theirs = fn(x), getattr(torch.nn.functional, torch_name)(t, **kwargs)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=rtol, atol=atol)
    (grad,) = tl.grad(ours, x, upstream, create_graph=True)
    (torch_grad,) = torch.autograd.grad(theirs, t, torch.tensor(upstream), create_graph=True)
    np.testing.assert_allclose(grad.data, torch_grad.detach().numpy(), rtol=rtol, atol=atol)
    (second,) = tl.grad(grad, x, second_upstream)
    (torch_second,) = torch.autograd.grad(torch_grad, t, torch.tensor(second_upstream))
    np.testing.assert_allclose(second.data, torch_second.numpy(), rtol=rtol, atol=atol)


@pytest.mark.torch
@pytest.mark.parametrize('case', list(CASES) + list(SOFTMAX_CASES))
def test_torch_parity(torch, case):
    fn, (torch_name, kwargs), *_ = CASES.get(case) or SOFTMAX_CASES[case]
    data = np.random.default_rng(12).standard_normal((4, 5)) * 3
    _compare_with_torch(torch, fn, torch_name, kwargs, data)


@pytest.mark.torch
@pytest.mark.parametrize('case', list(CASES))
def test_torch_parity_at_kinks_and_extremes(torch, case):
    """Exactly at 0, at the softplus threshold (beta x == threshold), and far out; the tails of
    gelu are compared with an absolute tolerance: there PyTorch's ``1 + erf`` cancels, ours not."""
    fn, (torch_name, kwargs), _ = CASES[case]
    data = np.array([0.0, -0.0, 1.5, -4 / 3, 1e-8, -1e-8, 9.0, -9.0, 30.0, -30.0, 700.0, -700.0])
    _compare_with_torch(torch, fn, torch_name, kwargs, data, atol=1e-13)


@pytest.mark.torch
def test_torch_parity_dim_none_and_repr(torch):
    data = np.random.default_rng(13).standard_normal((2, 3, 4))
    with pytest.warns(UserWarning):
        ours = nn.Softmax()(leaf(data))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        theirs = torch.nn.Softmax()(torch.tensor(data))
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    for module, text, _ in MODULES:
        torch_module = getattr(torch.nn, type(module).__name__)(**_torch_options(module))
        assert repr(torch_module) == text


def _torch_options(module) -> dict:
    names = {'LeakyReLU': ('negative_slope',), 'GELU': ('approximate',), 'ELU': ('alpha',),
             'Softplus': ('beta', 'threshold'), 'Softmax': ('dim',), 'LogSoftmax': ('dim',)}
    return {name: getattr(module, name) for name in names.get(type(module).__name__, ())}
