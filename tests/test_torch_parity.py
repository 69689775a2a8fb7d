"""PyTorch parity: forward values and gradients of tinygrad_ls against torch, in float64.

Every case runs the same computation on ``tl.Value``s and on ``torch.Tensor``s built from the
same NumPy data, backpropagates the same random upstream gradient through both and compares
the outputs and every input gradient (and that each gradient has its input's shape and dtype).
Where the two libraries spell a thing differently (``axis``/``dim``, ``clip``/``clamp``,
``concat``/``cat``, ``max``/``amax``) a case gives two lambdas. Points exactly at the kinks
(relu and abs at 0, clamp at its bounds, ties in maximum/minimum and in max/min reductions)
are included on purpose: tinygrad_ls documents PyTorch's choices there.

The whole module is skipped when torch is not installed.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import away_from_zero, leaf, normal, positive

import tinygrad_ls as tl

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

RTOL = 1e-10
ATOL = 1e-12


# ---- helpers ---------------------------------------------------------------------------------
def to_numpy(x) -> np.ndarray:
    """The data of a Value, a torch tensor or an array, as an ndarray."""
    if isinstance(x, tl.Value):
        return x.data
    if isinstance(x, torch.Tensor):
        return x.detach().numpy(force=True)  # force: torch may hand back a lazy ZeroTensor
    return np.asarray(x)


def assert_close(actual, expected, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Same shape, float64, and equal within tolerance (NaNs are never accepted)."""
    actual, expected = to_numpy(actual), to_numpy(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch's {expected.shape}"
    assert actual.dtype == np.float64, f"{what}: dtype {actual.dtype}, expected float64"
    assert np.allclose(actual, expected, rtol=rtol, atol=atol), (
        f"{what}: max abs difference {np.max(np.abs(actual - expected))}\n"
        f"tinygrad_ls:\n{actual}\ntorch:\n{expected}")


def torch_dim(axis, ndim: int):
    """tinygrad_ls's ``axis`` as torch's ``dim`` (None means every axis)."""
    return tuple(range(ndim)) if axis is None else axis


def check(tl_fn, inputs, torch_fn=None, *, seed: int = 0, rtol: float = RTOL, atol: float = ATOL):
    """Run ``tl_fn`` on Values and ``torch_fn`` (default: ``tl_fn``) on tensors made from the
    float64 arrays ``inputs``; backpropagate through both (a 0-d output with ``backward()``,
    any other with one random upstream gradient) and compare the outputs and every input's
    gradient. Returns the Values (for extra checks)."""
    torch_fn = tl_fn if torch_fn is None else torch_fn
    values = [leaf(a) for a in inputs]
    tensors = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in inputs]
    out = tl_fn(*values)
    expected = torch_fn(*tensors)
    assert isinstance(out, tl.Value)
    assert_close(out, expected, "forward", rtol, atol)
    if out.ndim == 0:  # a scalar: backward() with no argument seeds 1, as in torch
        out.backward()
        expected.backward()
    else:
        upstream = np.asarray(np.random.default_rng(seed + 1000).standard_normal(out.shape))
        out.backward(upstream)
        expected.backward(torch.from_numpy(upstream.copy()))
    for i, (value, tensor) in enumerate(zip(values, tensors, strict=True)):
        assert value.grad is not None, f"input {i} got no gradient"
        assert isinstance(value.grad, np.ndarray)
        assert value.grad.shape == value.shape, f"input {i}: grad shape {value.grad.shape} != {value.shape}"
        torch_grad = torch.zeros_like(tensor) if tensor.grad is None else tensor.grad
        assert_close(value.grad, torch_grad, f"gradient of input {i}", rtol, atol)
    return values


def tied(rng, shape) -> np.ndarray:
    """Small integers as floats, so that equal elements (ties) are common."""
    return np.asarray(rng.integers(0, 3, shape).astype(np.float64))


# ---- binary arithmetic -----------------------------------------------------------------------
BINARY_OPS = {
    'add': lambda a, b: a + b,
    'sub': lambda a, b: a - b,
    'mul': lambda a, b: a * b,
    'div': lambda a, b: a / b,
    'pow': lambda a, b: a ** b,
}

BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((1, 3, 1), (2, 1, 4)),
    ((), (3, 4)),
    ((3, 4), ()),
    ((), ()),
    ((1,), (2, 3, 1)),
]


def binary_inputs(op: str, shapes: tuple, seed: int) -> list:
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes
    if op == 'pow':  # a positive base, so that any real exponent (and d/db = a**b log a) is defined
        return [positive(rng, a_shape), normal(rng, b_shape)]
    if op == 'div':
        return [normal(rng, a_shape), away_from_zero(rng, b_shape)]
    return [normal(rng, a_shape), normal(rng, b_shape)]


@pytest.mark.parametrize('shapes', BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize('op', list(BINARY_OPS))
def test_binary_op_broadcasting(op, shapes):
    check(BINARY_OPS[op], binary_inputs(op, shapes, seed=len(str(shapes))))


NUMBERS = [2.5, 3, -0.75]


@pytest.mark.parametrize('number', NUMBERS)
@pytest.mark.parametrize('op', ['add', 'sub', 'mul', 'div'])
@pytest.mark.parametrize('side', ['left', 'right'])
def test_binary_op_with_python_number(op, number, side):
    rng = np.random.default_rng(1)
    fn = BINARY_OPS[op]
    data = away_from_zero(rng, (3, 4))
    if side == 'left':
        check(lambda x: fn(number, x), [data])
    else:
        check(lambda x: fn(x, number), [data])


@pytest.mark.parametrize('exponent', [2, 3, 2.5, -1, -1.5, 0.5, 0, 1])
def test_pow_python_exponent(exponent):
    rng = np.random.default_rng(2)
    check(lambda x: x ** exponent, [positive(rng, (3, 4))])


@pytest.mark.parametrize('exponent', [2, 3, -1, 0])
def test_pow_integer_exponent_negative_base(exponent):
    rng = np.random.default_rng(3)
    check(lambda x: x ** exponent, [away_from_zero(rng, (3, 4))])


@pytest.mark.parametrize('base', [2.5, 0.5, 3, np.e])
def test_pow_python_base(base):
    rng = np.random.default_rng(4)
    check(lambda x: base ** x, [normal(rng, (3, 4))])


def test_pow_at_zero_base_and_zero_exponent():
    # d/da a**b is 0 wherever b == 0 (even at a == 0); d/db is 0 where a == 0 and b >= 0.
    base = np.array([0.0, 0.0, 2.0, 0.0, 1.5, 0.5])
    exponent = np.array([2.0, 0.0, 1.5, 1.0, 0.0, 0.0])
    check(lambda a, b: a ** b, [base, exponent])


def test_pow_zero_exponent_second_derivatives():
    base = np.array([0.0, 0.0, 2.0, 0.5, 1.5])
    exponent = np.array([2.0, 0.0, 1.5, 0.0, 3.0])
    values = [leaf(a) for a in (base, exponent)]
    tensors = [torch.tensor(a, requires_grad=True) for a in (base, exponent)]
    grads = tl.grad((values[0] ** values[1]).sum(), values, create_graph=True)
    torch_grads = torch.autograd.grad((tensors[0] ** tensors[1]).sum(), tensors, create_graph=True)
    for i in range(2):
        assert_close(grads[i], torch_grads[i], f"first derivative wrt input {i}")
    second = tl.grad(grads[0].sum(), values)
    torch_second = torch.autograd.grad(torch_grads[0].sum(), tensors)
    # Where the exponent is 0, PyTorch's pow backward masks the base's gradient with a
    # constant (0), so its double backward drops d/db (b a**(b-1)) = a**(b-1) (1 + b log a),
    # which is 1/a there (nan at a == b == 0). We compare with PyTorch where the exponent is
    # not 0 and with the closed form where it is (tests/test_gradcheck_ops.py checks the same
    # against finite differences).
    nonzero = exponent != 0
    for i in range(2):
        assert second[i].shape == values[i].shape
        assert_close(second[i].data[nonzero], torch_second[i][nonzero], f"d(sum grad_base)/d input {i}")
    assert second[0].data[~nonzero].tolist() == [0.0, 0.0]    # b (b-1) a**(b-2) at b == 0
    assert second[1].data[3] == 1 / 0.5                       # a**-1 at a == 0.5, b == 0
    assert second[1].data[1] == 1.0                           # a == b == 0: the base is taken as 1


@pytest.mark.parametrize('exponent', [0, 1, 2, 3])
def test_pow_python_exponent_at_zero(exponent):
    check(lambda x: x ** exponent, [np.array([0.0, -1.0, 0.0, 2.0])])


def test_unary_neg_and_pos():
    rng = np.random.default_rng(5)
    check(lambda x: -x, [normal(rng, (3, 4))])
    check(lambda x: +(x * 2), [normal(rng, (3, 4))])


NDARRAY_CASES = {
    'array + x': (lambda c: lambda x: c + x, lambda c: lambda x: c + x),
    'array - x': (lambda c: lambda x: c - x, lambda c: lambda x: c - x),
    'x - array': (lambda c: lambda x: x - c, lambda c: lambda x: x - c),
    'array * x': (lambda c: lambda x: c * x, lambda c: lambda x: c * x),
    'array / x': (lambda c: lambda x: c / x, lambda c: lambda x: c / x),
    'x / array': (lambda c: lambda x: x / c, lambda c: lambda x: x / c),
    'array ** x': (lambda c: lambda x: c ** x, lambda c: lambda x: c ** x),
    'x ** array': (lambda c: lambda x: x ** c, lambda c: lambda x: x ** c),
    'array @ x': (lambda c: lambda x: c @ x, lambda c: lambda x: c @ x),
    'x @ array': (lambda c: lambda x: x @ c.T, lambda c: lambda x: x @ c.T),
}


@pytest.mark.parametrize('case', list(NDARRAY_CASES))
def test_ndarray_constant_operand(case):
    """A NumPy array on either side is a constant: only the Value gets a gradient."""
    rng = np.random.default_rng(6)
    constant = positive(rng, (4, 4))
    make_tl, make_torch = NDARRAY_CASES[case]
    check(make_tl(constant), [positive(rng, (4, 4))], make_torch(torch.from_numpy(constant)))


MATMUL_SHAPES = [
    ((4,), (4,)),
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((3, 4), (4, 5)),
    ((1, 4), (4, 1)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((1, 3, 4), (2, 4, 5)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
    ((2, 1, 3, 4), (4,)),
]


@pytest.mark.parametrize('shapes', MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    rng = np.random.default_rng(7)
    check(lambda a, b: a @ b, [normal(rng, shapes[0]), normal(rng, shapes[1])])


# ---- elementwise -----------------------------------------------------------------------------
UNARY = {
    'exp': (lambda x: x.exp(), normal),
    'log': (lambda x: x.log(), positive),
    'sqrt': (lambda x: x.sqrt(), positive),
    'tanh': (lambda x: x.tanh(), normal),
    'sigmoid': (lambda x: x.sigmoid(), normal),
    'relu': (lambda x: x.relu(), normal),
    'abs': (lambda x: x.abs(), normal),
    'neg': (lambda x: -x, normal),
    'sin': (lambda x: x.sin(), normal),
    'cos': (lambda x: x.cos(), normal),
    'log1p': (lambda x: x.log1p(), positive),
    'expm1': (lambda x: x.expm1(), normal),
    'square': (lambda x: x.square(), normal),
    'pow': (lambda x: x.pow(3), normal),
    'clamp': (lambda x: x.clamp(-0.5, 0.5), normal),
    'clone': (lambda x: x.clone() * x, normal),
}


@pytest.mark.parametrize('shape', [(), (5,), (3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize('name', list(UNARY))
def test_unary(name, shape):
    fn, make = UNARY[name]
    check(fn, [make(np.random.default_rng(8), shape)])


def test_builtin_abs():
    check(lambda x: abs(x), [normal(np.random.default_rng(9), (3, 4))])


def test_sigmoid_and_tanh_extreme_inputs():
    x = np.array([-1000.0, -50.0, -20.0, 0.0, 20.0, 50.0, 1000.0])
    check(lambda v: v.sigmoid(), [x])
    check(lambda v: v.tanh(), [x])


def test_relu_at_zero():
    # PyTorch: relu'(0) = 0.
    values = check(lambda x: x.relu(), [np.array([-1.0, 0.0, -0.0, 2.0, 0.0])])
    assert values[0].grad[1] == 0.0 and values[0].grad[2] == 0.0


def test_abs_at_zero():
    # PyTorch: abs'(0) = 0.
    values = check(lambda x: x.abs(), [np.array([-1.0, 0.0, -0.0, 2.0])])
    assert values[0].grad[1] == 0.0 and values[0].grad[2] == 0.0


CLAMP_BOUNDS = [(-0.5, None), (None, 0.5), (-0.5, 0.5), (0.25, 0.25)]


@pytest.mark.parametrize('bounds', CLAMP_BOUNDS, ids=str)
def test_clip_matches_clamp(bounds):
    low, high = bounds
    rng = np.random.default_rng(10)
    # random points plus points exactly at the bounds (clamp's gradient there is 1)
    x = np.concatenate([normal(rng, (12,)), [-0.5, 0.5, 0.25, -0.5, 0.5]]).reshape(1, -1)
    check(lambda v: v.clip(low, high), [x], lambda t: t.clamp(low, high))
    check(lambda v: v.clip(min=low, max=high), [x], lambda t: torch.clamp(t, min=low, max=high))


def test_clip_gradient_is_one_at_the_bounds():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    values = check(lambda v: v.clip(-0.5, 0.5).sum(), [x], lambda t: t.clamp(-0.5, 0.5).sum())
    assert values[0].grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


# ---- reductions ------------------------------------------------------------------------------
REDUCTIONS = {
    'sum': (lambda x, a, k: x.sum(axis=a, keepdims=k),
            lambda t, d, k: t.sum(dim=d, keepdim=k)),
    'mean': (lambda x, a, k: x.mean(axis=a, keepdims=k),
             lambda t, d, k: t.mean(dim=d, keepdim=k)),
    'max': (lambda x, a, k: x.max(axis=a, keepdims=k),
            lambda t, d, k: torch.amax(t, dim=d, keepdim=k)),
    'min': (lambda x, a, k: x.min(axis=a, keepdims=k),
            lambda t, d, k: torch.amin(t, dim=d, keepdim=k)),
    'var': (lambda x, a, k: x.var(axis=a, keepdims=k),
            lambda t, d, k: torch.var(t, dim=d, correction=0, keepdim=k)),
    'var_ddof0': (lambda x, a, k: x.var(axis=a, ddof=0, keepdims=k),
                  lambda t, d, k: torch.var(t, dim=d, correction=0, keepdim=k)),
    'var_ddof1': (lambda x, a, k: x.var(axis=a, ddof=1, keepdims=k),
                  lambda t, d, k: torch.var(t, dim=d, correction=1, keepdim=k)),
    'logsumexp': (lambda x, a, k: x.logsumexp(axis=a, keepdims=k),
                  lambda t, d, k: torch.logsumexp(t, dim=d, keepdim=k)),
    'std': (lambda x, a, k: x.std(axis=a, keepdims=k),
            lambda t, d, k: torch.std(t, dim=d, correction=0, keepdim=k)),
    'std_ddof1': (lambda x, a, k: x.std(axis=a, ddof=1, keepdims=k),
                  lambda t, d, k: torch.std(t, dim=d, correction=1, keepdim=k)),
    'sum(dim, keepdim)': (lambda x, a, k: x.sum(dim=a, keepdim=k), lambda t, d, k: t.sum(dim=d, keepdim=k)),
    'mean(dim, keepdim)': (lambda x, a, k: x.mean(dim=a, keepdim=k),
                           lambda t, d, k: t.mean(dim=d, keepdim=k)),
}

AXES = [None, 0, 1, 2, -1, (0, 2), (2, 0), (-1, 0), (0, 1, 2)]


@pytest.mark.parametrize('keepdims', [False, True])
@pytest.mark.parametrize('axis', AXES, ids=str)
@pytest.mark.parametrize('name', list(REDUCTIONS))
def test_reduction(name, axis, keepdims):
    tl_fn, torch_fn = REDUCTIONS[name]
    x = normal(np.random.default_rng(11), (2, 3, 4))
    check(lambda v: tl_fn(v, axis, keepdims), [x], lambda t: torch_fn(t, torch_dim(axis, 3), keepdims))


@pytest.mark.parametrize('keepdims', [False, True])
@pytest.mark.parametrize('axis', [None, 0, -1])
@pytest.mark.parametrize('name', list(REDUCTIONS))
def test_reduction_1d(name, axis, keepdims):
    tl_fn, torch_fn = REDUCTIONS[name]
    x = normal(np.random.default_rng(12), (5,))
    check(lambda v: tl_fn(v, axis, keepdims), [x], lambda t: torch_fn(t, torch_dim(axis, 1), keepdims))


@pytest.mark.parametrize('name', ['sum', 'mean', 'max', 'min', 'var'])
def test_reduction_of_a_scalar(name):
    tl_fn, torch_fn = REDUCTIONS[name]
    check(lambda v: tl_fn(v, None, False), [np.array(1.5)], lambda t: torch_fn(t, None, False))


@pytest.mark.parametrize('keepdims', [False, True])
@pytest.mark.parametrize('axis', AXES, ids=str)
@pytest.mark.parametrize('name', ['max', 'min'])
def test_max_min_with_ties_split_like_amax(name, axis, keepdims):
    """Tied maxima/minima share the gradient equally, as in torch.amax / torch.amin."""
    tl_fn, torch_fn = REDUCTIONS[name]
    x = tied(np.random.default_rng(13), (2, 3, 4))
    check(lambda v: tl_fn(v, axis, keepdims), [x], lambda t: torch_fn(t, torch_dim(axis, 3), keepdims))


def test_max_all_equal_elements():
    x = np.full((2, 3), 0.5)
    values = check(lambda v: v.max(), [x], lambda t: torch.amax(t))
    assert np.allclose(values[0].grad, values[0].grad.flat[0])  # one equal share each


SOFTMAX_AXES = [0, 1, 2, -1, -2, -3]


@pytest.mark.parametrize('axis', SOFTMAX_AXES)
@pytest.mark.parametrize('name', ['softmax', 'log_softmax'])
def test_softmax_family(name, axis):
    x = normal(np.random.default_rng(14), (2, 3, 4)) * 3
    check(lambda v: getattr(v, name)(axis=axis), [x], lambda t: getattr(t, name)(dim=axis))


@pytest.mark.parametrize('name', ['softmax', 'log_softmax'])
def test_softmax_family_default_axis_and_1d(name):
    rng = np.random.default_rng(15)
    check(lambda v: getattr(v, name)(), [normal(rng, (3, 5))], lambda t: getattr(t, name)(dim=-1))
    check(lambda v: getattr(v, name)(), [normal(rng, (6,))], lambda t: getattr(t, name)(dim=-1))


BIG_LOGITS = np.array([
    [1e4, -1e4, 0.0, 1e4 - 1.0],
    [-1e4, -1e4, -1e4, -1e4],
    [1e4, 1e4, 1e4, 1e4],
    [-1e4, 1e4 - 2.0, -1e4 + 3.0, 0.5],
])

STABLE = {
    'softmax-1': (lambda v: v.softmax(axis=-1), lambda t: t.softmax(dim=-1)),
    'softmax0': (lambda v: v.softmax(axis=0), lambda t: t.softmax(dim=0)),
    'log_softmax-1': (lambda v: v.log_softmax(axis=-1), lambda t: t.log_softmax(dim=-1)),
    'log_softmax0': (lambda v: v.log_softmax(axis=0), lambda t: t.log_softmax(dim=0)),
    'logsumexp-1': (lambda v: v.logsumexp(axis=-1), lambda t: t.logsumexp(dim=-1)),
    'logsumexp0': (lambda v: v.logsumexp(axis=0, keepdims=True), lambda t: t.logsumexp(dim=0, keepdim=True)),
    'logsumexpNone': (lambda v: v.logsumexp(), lambda t: t.logsumexp(dim=(0, 1))),
}


@pytest.mark.parametrize('name', list(STABLE))
def test_stability_with_huge_logits(name):
    tl_fn, torch_fn = STABLE[name]
    values = check(tl_fn, [BIG_LOGITS], torch_fn)
    out = tl_fn(tl.Value(BIG_LOGITS))
    assert np.isfinite(out.data).all()
    assert np.isfinite(values[0].grad).all()


# ---- shapes, indexing, joining ---------------------------------------------------------------
SHAPE_CASES = {
    'reshape(6, 4)': ((2, 3, 4), lambda x: x.reshape(6, 4), None),
    'reshape((4, 6))': ((2, 3, 4), lambda x: x.reshape((4, 6)), lambda t: t.reshape(4, 6)),
    'reshape(-1, 3)': ((2, 3, 4), lambda x: x.reshape(-1, 3), None),
    'reshape to scalar': ((1, 1), lambda x: x.reshape(()), None),
    'reshape from scalar': ((), lambda x: x.reshape(1, 1), None),
    'transpose()': ((2, 3, 4), lambda x: x.transpose(), lambda t: t.permute(2, 1, 0)),
    'transpose(1, 0, 2)': ((2, 3, 4), lambda x: x.transpose(1, 0, 2), lambda t: t.permute(1, 0, 2)),
    'transpose((2, 0, 1))': ((2, 3, 4), lambda x: x.transpose((2, 0, 1)), lambda t: t.permute(2, 0, 1)),
    'transpose(-1, 0, 1)': ((2, 3, 4), lambda x: x.transpose(-1, 0, 1), lambda t: t.permute(-1, 0, 1)),
    'transpose(0, -1, -2)': ((2, 3, 4), lambda x: x.transpose(0, -1, -2), lambda t: t.permute(0, -1, -2)),
    'transpose 2-d': ((3, 4), lambda x: x.transpose(), lambda t: t.permute(1, 0)),
    'T': ((3, 4), lambda x: x.T, None),
    'T of 1-d': ((4,), lambda x: x.T, lambda t: t),
    'flatten': ((2, 3, 4), lambda x: x.flatten(), None),
    'flatten of scalar': ((), lambda x: x.flatten(), None),
    'broadcast_to': ((3, 1), lambda x: x.broadcast_to((2, 3, 4)), lambda t: t.broadcast_to((2, 3, 4))),
    'permute': ((2, 3, 4), lambda x: x.permute(2, 0, 1), None),
    'permute tuple': ((2, 3, 4), lambda x: x.permute((1, -1, 0)), None),
    'view': ((2, 3, 4), lambda x: x.view(4, 6), None),
    'squeeze()': ((1, 3, 1, 4), lambda x: x.squeeze(), None),
    'squeeze(2)': ((1, 3, 1, 4), lambda x: x.squeeze(2), None),
    'squeeze of a non-1 axis': ((2, 3), lambda x: x.squeeze(0), None),
    'unsqueeze(0)': ((2, 3), lambda x: x.unsqueeze(0), None),
    'unsqueeze(-1)': ((2, 3), lambda x: x.unsqueeze(-1), None),
    'expand': ((3, 1), lambda x: x.expand(2, -1, 4), None),
    'repeat': ((2, 3), lambda x: x.repeat(2, 1, 3), None),
    'cumsum': ((2, 3, 4), lambda x: x.cumsum(dim=1), None),
    'cumsum(-1)': ((2, 3, 4), lambda x: x.cumsum(-1), None),
    'masked_fill': ((2, 3), lambda x: x.masked_fill(np.array([True, False, True]), 0.5),
                    lambda t: t.masked_fill(torch.tensor([True, False, True]), 0.5)),
    'softmax(dim)': ((2, 3), lambda x: x.softmax(dim=0), None),
    'log_softmax(dim)': ((2, 3), lambda x: x.log_softmax(dim=1), None),
}


@pytest.mark.parametrize('case', list(SHAPE_CASES))
def test_shape_ops(case):
    shape, tl_fn, torch_fn = SHAPE_CASES[case]
    check(tl_fn, [normal(np.random.default_rng(16), shape)], torch_fn)


MASK_2D = np.array([[True, False, True], [False, False, True]])
MASK_FULL = np.random.default_rng(17).random((2, 3, 4)) > 0.5

INDEX_CASES = {
    'int': lambda x: x[1],
    'negative int': lambda x: x[-1],
    'slice': lambda x: x[:, 1:3],
    'step slice': lambda x: x[:, ::2, 1:],
    'ellipsis': lambda x: x[..., -1],
    'None': lambda x: x[None, 0],
    'ints': lambda x: x[1, 2, 3],
    'int array repeated': lambda x: x[np.array([0, 0, 1, 0])],
    'list repeated': lambda x: x[:, [2, 0, 2, 2]],
    'two int arrays repeated': lambda x: x[np.array([0, 1, 0, 0]), :, np.array([3, 3, 0, 3])],
    'int array and int': lambda x: x[1, [0, 0, 2]],
    'int array and slice': lambda x: x[[1, 1], 1:],
    '2-d int array': lambda x: x[:, np.array([[0, 1], [1, 1]])],
    'negative int array': lambda x: x[:, :, [-1, -1, 0]],
    'bool mask full': lambda x: x[MASK_FULL],
    'bool mask leading': lambda x: x[MASK_2D],
    'bool mask 1-d': lambda x: x[np.array([False, True])],
    'bool mask on an axis': lambda x: x[:, np.array([True, False, True])],
}


@pytest.mark.parametrize('case', list(INDEX_CASES))
def test_indexing(case):
    check(INDEX_CASES[case], [normal(np.random.default_rng(18), (2, 3, 4))])


def test_indexing_with_value_index():
    index = np.array([2, 2, 0])
    check(lambda x: x[tl.Value(index)], [normal(np.random.default_rng(19), (3, 4))],
          lambda t: t[torch.from_numpy(index)])


def test_indexing_with_a_bool_value_mask():
    x = normal(np.random.default_rng(38), (3, 4))
    check(lambda v: v[v > 0], [x], lambda t: t[t > 0])
    check(lambda v: v[(v > 0).data[:, 0]], [x], lambda t: t[(t > 0)[:, 0]])


def test_repeated_index_accumulates():
    # x[0] is picked three times: its gradient is the sum of three upstream entries.
    check(lambda x: x[[0, 0, 0, 2]] * 2, [normal(np.random.default_rng(20), (3,))])


@pytest.mark.parametrize('axis', [0, 1, -1, -2])
def test_concat(axis):
    rng = np.random.default_rng(21)
    shapes = {0: [(1, 4), (3, 4), (2, 4)], 1: [(3, 1), (3, 4), (3, 2)]}[axis % 2]
    check(lambda *xs: tl.concat(xs, axis=axis), [normal(rng, s) for s in shapes],
          lambda *ts: torch.cat(ts, dim=axis))


def test_concat_and_stack_with_an_ndarray_part():
    rng = np.random.default_rng(39)
    part = normal(rng, (2, 4))
    check(lambda x: tl.concat([x, part], axis=0), [normal(rng, (3, 4))],
          lambda t: torch.cat([t, torch.from_numpy(part)], dim=0))
    check(lambda x: tl.stack([part, x], axis=1), [normal(rng, (2, 4))],
          lambda t: torch.stack([torch.from_numpy(part), t], dim=1))


def test_concat_default_axis_and_1d():
    rng = np.random.default_rng(22)
    check(lambda a, b: tl.concat([a, b]), [normal(rng, (2,)), normal(rng, (3,))],
          lambda a, b: torch.cat([a, b]))


@pytest.mark.parametrize('axis', [0, 1, 2, -1, -2, -3])
def test_stack(axis):
    rng = np.random.default_rng(23)
    check(lambda *xs: tl.stack(xs, axis=axis), [normal(rng, (3, 4)) for _ in range(3)],
          lambda *ts: torch.stack(ts, dim=axis))


def test_stack_default_axis_and_scalars():
    rng = np.random.default_rng(24)
    check(lambda a, b: tl.stack([a, b]), [normal(rng, ()), normal(rng, ())],
          lambda a, b: torch.stack([a, b]))


WHERE_SHAPES = [
    ((3, 4), (3, 4), (3, 4)),
    ((3, 4), (3, 4), (4,)),
    ((3, 1), (), (3, 4)),
    ((2, 3, 4), (3, 4), (2, 1, 1)),
    ((4,), (3, 1), (3, 1)),
    ((2, 3, 4), (3, 1), (4,)),
]


@pytest.mark.parametrize('shapes', WHERE_SHAPES, ids=str)
def test_where(shapes):
    rng = np.random.default_rng(25)
    condition = rng.random(shapes[0]) > 0.5
    check(lambda a, b: tl.where(condition, a, b), [normal(rng, shapes[1]), normal(rng, shapes[2])],
          lambda a, b: torch.where(torch.from_numpy(condition), a, b))


def test_where_with_value_condition_and_number():
    rng = np.random.default_rng(26)
    x = normal(rng, (3, 4))
    check(lambda v: tl.where(v > 0, v, 0.1 * v), [x], lambda t: torch.where(t > 0, t, 0.1 * t))
    check(lambda v: tl.where(v > 0, v, 0.0), [x], lambda t: torch.where(t > 0, t, 0.0))
    check(lambda v: tl.where(v > 0, 2.0, v), [x], lambda t: torch.where(t > 0, 2.0, t))


MAXMIN_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3)), ((2, 3, 4), (3, 1))]


@pytest.mark.parametrize('data', ['random', 'tied'])
@pytest.mark.parametrize('shapes', MAXMIN_SHAPES, ids=str)
@pytest.mark.parametrize('name', ['maximum', 'minimum'])
def test_maximum_minimum(name, shapes, data):
    """Where a == b each side gets half the gradient, as in torch.maximum / torch.minimum."""
    rng = np.random.default_rng(27)
    make = tied if data == 'tied' else normal
    check(lambda a, b: getattr(tl, name)(a, b), [make(rng, shapes[0]), make(rng, shapes[1])],
          lambda a, b: getattr(torch, name)(a, b))


def test_maximum_minimum_exact_ties_split_half():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 0.0, 3.0])
    for name in ('maximum', 'minimum'):
        values = check(lambda x, y, name=name: getattr(tl, name)(x, y).sum(), [a, b],
                       lambda x, y, name=name: getattr(torch, name)(x, y).sum())
        assert values[0].grad[0] == 0.5 and values[1].grad[0] == 0.5


def test_maximum_with_constant_operands():
    rng = np.random.default_rng(28)
    x = tied(rng, (3, 4))
    check(lambda v: tl.maximum(v, 1.0), [x],
          lambda t: torch.maximum(t, torch.tensor(1.0, dtype=torch.float64)))
    check(lambda v: tl.minimum(np.ones((3, 4)), v), [x],
          lambda t: torch.minimum(torch.ones(3, 4, dtype=torch.float64), t))


# ---- a composite, end to end -----------------------------------------------------------------
def test_mlp_cross_entropy():
    rng = np.random.default_rng(29)
    targets = np.array([0, 2, 1, 2, 0])
    onehot = np.eye(3)[targets]

    def tl_loss(x, w1, b1, w2, b2):
        hidden = (x @ w1.T + b1).relu()
        logits = hidden @ w2.T + b2
        return -(logits.log_softmax(axis=1) * onehot).sum(axis=1).mean()

    def torch_loss(x, w1, b1, w2, b2):
        hidden = (x @ w1.T + b1).relu()
        logits = hidden @ w2.T + b2
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(targets))

    check(tl_loss, [normal(rng, (5, 4)), normal(rng, (6, 4)), normal(rng, (6,)), normal(rng, (3, 6)),
                    normal(rng, (3,))], torch_loss)


# ---- second (and third) derivatives ----------------------------------------------------------
SECOND_ORDER = {
    'sum(tanh(x) * y)': ([(3, 4), (3, 4)], 'normal', lambda x, y: (x.tanh() * y).sum(), None),
    'mean(sigmoid(x @ w))': ([(3, 4), (4, 2)], 'normal', lambda x, w: (x @ w).sigmoid().mean(), None),
    'softmax weighted sum': ([(3, 4), (3, 4)], 'normal', lambda x, y: (x.softmax(-1) * y).sum(), None),
    'softmax axis 0': ([(3, 4), (3, 4)], 'normal', lambda x, y: (x.softmax(axis=0) * y).sum(),
                       lambda x, y: (x.softmax(dim=0) * y).sum()),
    'log_softmax weighted sum': ([(3, 4), (3, 4)], 'normal',
                                 lambda x, y: (x.log_softmax(-1) * y).sum(), None),
    'sum(x**3 * y)': ([(3, 4), (3, 4)], 'normal', lambda x, y: (x ** 3 * y).sum(), None),
    'logsumexp': ([(3, 4), (3,)], 'normal', lambda x, y: (x.logsumexp(1) * y).sum(), None),
    'logsumexp all': ([(3, 4)], 'normal', lambda x: x.logsumexp(),
                      lambda x: x.logsumexp(dim=(0, 1))),
    'exp / y': ([(3, 4), (4,)], 'positive', lambda x, y: (x.exp() / y).sum(), None),
    'log and sqrt': ([(3, 4), (3, 4)], 'positive', lambda x, y: (x.log() * y.sqrt()).sum(), None),
    'x ** y': ([(3, 4), (3, 4)], 'positive', lambda x, y: (x ** y).sum(), None),
    'python ** x and x ** -1.5': ([(3, 4)], 'positive', lambda x: (2.0 ** x + x ** -1.5).sum(), None),
    'var ddof 1': ([(3, 4), (4,)], 'normal', lambda x, y: (x.var(axis=0, ddof=1) * y).sum(),
                   lambda x, y: (x.var(dim=0, correction=1) * y).sum()),
    'mean of squares': ([(2, 3, 4)], 'normal', lambda x: (x * x).mean(axis=(0, 2)).sum() ** 2, None),
    'relu squared': ([(3, 4), (4, 2)], 'normal', lambda x, w: ((x @ w).relu() ** 2).sum(), None),
    'abs times square': ([(3, 4), (3, 4)], 'normal', lambda x, y: (x.abs() * y * y).sum(), None),
    'max reduction': ([(3, 4), (3,)], 'normal', lambda x, y: (x.max(axis=1) ** 2 * y).sum(),
                      lambda x, y: (torch.amax(x, dim=1) ** 2 * y).sum()),
    'min reduction': ([(3, 4)], 'normal', lambda x: (x.min(axis=0) ** 3).sum(),
                      lambda x: (torch.amin(x, dim=0) ** 3).sum()),
    'maximum and clip': ([(3, 4), (3, 4)], 'normal',
                         lambda x, y: (tl.maximum(x, y) ** 2 * x.clip(-0.5, 0.5)).sum(),
                         lambda x, y: (torch.maximum(x, y) ** 2 * x.clamp(-0.5, 0.5)).sum()),
    'where': ([(3, 4), (3, 4)], 'normal', lambda x, y: (tl.where(x > 0, x * y, y ** 2) ** 2).sum(),
              lambda x, y: (torch.where(x > 0, x * y, y ** 2) ** 2).sum()),
    'indexing repeated': ([(3, 4)], 'normal', lambda x: (x[[0, 0, 2]] ** 3).sum(), None),
    'concat and stack': ([(2, 3), (1, 3)], 'normal',
                         lambda x, y: (tl.stack([tl.concat([x, y], axis=0)] * 2, axis=1) ** 3).sum(),
                         lambda x, y: (torch.stack([torch.cat([x, y], dim=0)] * 2, dim=1) ** 3).sum()),
    'transpose reshape matmul': ([(2, 3, 4), (3, 4)], 'normal',
                                 lambda x, w: ((x.transpose(0, 2, 1) @ w).reshape(-1).tanh()).sum(),
                                 lambda x, w: ((x.permute(0, 2, 1) @ w).reshape(-1).tanh()).sum()),
    'batched matmul': ([(2, 3, 4), (4,)], 'normal', lambda x, v: ((x @ v) ** 2).sum(), None),
    '1-d @ batched': ([(4,), (2, 4, 3)], 'normal', lambda v, x: ((v @ x) ** 2).sum(), None),
    'broadcast batched matmul': ([(2, 1, 3, 4), (5, 4, 2)], 'normal',
                                 lambda a, b: (a @ b).tanh().mean(), None),
    'division': ([(3, 4), (3, 4)], 'positive', lambda x, y: (x / y + y / (x * x)).sum(), None),
    'broadcast sub mul': ([(3, 1), (4,)], 'normal', lambda x, y: ((x - y) ** 2 * (x * y)).mean(), None),
}


def second_order_inputs(shapes, kind: str, seed: int) -> list:
    rng = np.random.default_rng(seed)
    make = positive if kind == 'positive' else normal
    return [make(rng, shape) for shape in shapes]


@pytest.mark.parametrize('case', list(SECOND_ORDER))
def test_second_derivatives(case):
    """tl.grad(create_graph=True) then tl.grad again, against torch.autograd.grad: the
    gradient, the derivative of the gradient's sum, and a Hessian-vector product."""
    shapes, kind, tl_fn, torch_fn = SECOND_ORDER[case]
    torch_fn = tl_fn if torch_fn is None else torch_fn
    arrays = second_order_inputs(shapes, kind, seed=30)
    rng = np.random.default_rng(31)
    vectors = [normal(rng, shape) for shape in shapes]
    values = [leaf(a) for a in arrays]
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]

    out, expected = tl_fn(*values), torch_fn(*tensors)
    assert_close(out, expected, "forward")
    grads = tl.grad(out, values, create_graph=True)
    torch_grads = torch.autograd.grad(expected, tensors, create_graph=True)
    for i, (g, tg) in enumerate(zip(grads, torch_grads, strict=True)):
        assert g.shape == values[i].shape
        assert_close(g, tg, f"first derivative wrt input {i}")

    # d/dinputs of sum(grad_0): one row-sum of the Hessian per input
    second = tl.grad(grads[0].sum(), values, create_graph=True)
    torch_second = torch.autograd.grad(torch_grads[0].sum(), tensors, create_graph=True,
                                       allow_unused=True, materialize_grads=True)
    for i, (g, tg) in enumerate(zip(second, torch_second, strict=True)):
        assert g.shape == values[i].shape
        assert_close(g, tg, f"d(sum grad_0)/d input {i}")

    # Hessian-vector product: d/dinputs of sum_i <grad_i, v_i>
    dot = sum((g * v).sum() for g, v in zip(grads, vectors, strict=True))
    torch_dot = sum((g * torch.from_numpy(v)).sum() for g, v in zip(torch_grads, vectors, strict=True))
    hvp = tl.grad(dot, values)
    torch_hvp = torch.autograd.grad(torch_dot, tensors, allow_unused=True, materialize_grads=True)
    for i, (g, tg) in enumerate(zip(hvp, torch_hvp, strict=True)):
        assert g.shape == values[i].shape
        assert_close(g, tg, f"Hessian-vector product, input {i}")


def test_full_hessian_matches_torch():
    rng = np.random.default_rng(32)
    x_data, w_data = normal(rng, (2, 3)), normal(rng, (3,))

    def f(x, w):
        return ((x @ w).tanh() * x.sum(1)).sum() + (x * x).softmax(-1)[:, 0].sum()

    flat = np.concatenate([x_data.ravel(), w_data])

    def tl_fn(z):
        return f(z[:6].reshape(2, 3), z[6:])

    def torch_fn(z):
        return f(z[:6].reshape(2, 3), z[6:])

    z = leaf(flat)
    (g,) = tl.grad(tl_fn(z), z, create_graph=True)
    rows = [tl.grad(g[i], z)[0].data for i in range(flat.size)]
    expected = torch.autograd.functional.hessian(torch_fn, torch.tensor(flat))
    assert_close(np.stack(rows), expected, "Hessian")


@pytest.mark.parametrize('case', ['cube', 'tanh', 'sigmoid', 'exp', 'log_softmax'])
def test_third_derivative(case):
    fns = {
        'cube': lambda x: (x ** 3).sum(),
        'tanh': lambda x: x.tanh().sum(),
        'sigmoid': lambda x: x.sigmoid().sum(),
        'exp': lambda x: (x.exp() * x).sum(),
        'log_softmax': lambda x: x.log_softmax(-1)[:, 0].sum(),
    }
    x_data = normal(np.random.default_rng(33), (2, 3))
    x, t = leaf(x_data), torch.tensor(x_data, requires_grad=True)
    g1, = tl.grad(fns[case](x), x, create_graph=True)
    g2, = tl.grad((g1 * g1).sum(), x, create_graph=True)
    g3, = tl.grad(g2.sum(), x)
    t1, = torch.autograd.grad(fns[case](t), t, create_graph=True)
    t2, = torch.autograd.grad((t1 * t1).sum(), t, create_graph=True)
    t3, = torch.autograd.grad(t2.sum(), t)
    assert_close(g1, t1, "first derivative")
    assert_close(g2, t2, "second derivative")
    assert_close(g3, t3, "third derivative")


# ---- tl.grad with several outputs ------------------------------------------------------------
def test_grad_multiple_outputs_grad_outputs_and_unused_input():
    rng = np.random.default_rng(34)
    x_data, w_data, u_data = normal(rng, (3, 4)), normal(rng, (4, 2)), normal(rng, (5,))
    seeds = [normal(rng, (3, 2)), normal(rng, (4,))]
    x, w, u = (leaf(a) for a in (x_data, w_data, u_data))
    tx, tw, tu = (torch.tensor(a, requires_grad=True) for a in (x_data, w_data, u_data))
    grads = tl.grad([(x @ w).tanh(), x.exp().sum(0)], [x, w, u], grad_outputs=seeds)
    expected = torch.autograd.grad([(tx @ tw).tanh(), tx.exp().sum(0)], [tx, tw, tu],
                                   grad_outputs=[torch.from_numpy(s) for s in seeds],
                                   allow_unused=True, materialize_grads=True)
    for i, (g, tg) in enumerate(zip(grads, expected, strict=True)):
        assert_close(g, tg, f"gradient of input {i}")
    assert x.grad is None and w.grad is None and u.grad is None  # tl.grad touches no .grad


# ---- backward() accumulation -----------------------------------------------------------------
def test_backward_twice_accumulates_like_retain_graph():
    rng = np.random.default_rng(35)
    x_data, w_data = normal(rng, (3, 4)), normal(rng, (4, 2))
    x, w = leaf(x_data), leaf(w_data)
    tx, tw = torch.tensor(x_data, requires_grad=True), torch.tensor(w_data, requires_grad=True)
    hidden, torch_hidden = x @ w, tx @ tw
    torch_hidden.retain_grad()
    loss = (hidden.tanh() * hidden.sigmoid()).sum() + (x * x).mean()
    torch_loss = (torch_hidden.tanh() * torch_hidden.sigmoid()).sum() + (tx * tx).mean()
    loss.backward()
    torch_loss.backward(retain_graph=True)
    once = x.grad.copy(), w.grad.copy()
    assert_close(x.grad, tx.grad, "x.grad after one backward")
    assert_close(w.grad, tw.grad, "w.grad after one backward")
    assert_close(hidden.grad, torch_hidden.grad, "intermediate grad after one backward")
    loss.backward()
    torch_loss.backward(retain_graph=True)
    assert_close(x.grad, tx.grad, "x.grad after two backward calls")
    assert_close(w.grad, tw.grad, "w.grad after two backward calls")
    # API.md: "adds the same gradient twice to each leaf, exactly"
    assert np.array_equal(x.grad, 2 * once[0]) and np.array_equal(w.grad, 2 * once[1])
    # A documented difference: an intermediate node holds the latest pass (torch's retained
    # grad accumulates), so it equals half of torch's after two calls.
    assert_close(hidden.grad, torch_hidden.grad / 2, "intermediate grad after two backward calls")


def test_backward_twice_with_explicit_grad_and_reused_node():
    rng = np.random.default_rng(36)
    a_data = normal(rng, (2, 3))
    seed = normal(rng, (2, 3))
    a, ta = leaf(a_data), torch.tensor(a_data, requires_grad=True)
    b = a + a
    c = b * b + b.exp()
    tb = ta + ta
    tc = tb * tb + tb.exp()
    for call in range(2):
        c.backward(seed)
        tc.backward(torch.from_numpy(seed), retain_graph=True)
        assert_close(a.grad, ta.grad, f"a.grad after backward call {call + 1}")


def test_gradients_accumulate_across_graphs():
    rng = np.random.default_rng(37)
    x_data = normal(rng, (4,))
    x, tx = leaf(x_data), torch.tensor(x_data, requires_grad=True)
    (x * 2).sum().backward()
    (tx * 2).sum().backward()
    (x ** 2).mean().backward()
    (tx ** 2).mean().backward()
    x[[1, 1]].sum().backward()
    tx[[1, 1]].sum().backward()
    assert_close(x.grad, tx.grad, "accumulated x.grad")


# ---- methods added for PyTorch fluency ---------------------------------------------------------
@pytest.mark.parametrize('axis', [None, 0, 1, -1])
def test_prod(axis):
    rng = np.random.default_rng(31)
    x = normal(rng, (3, 4))
    x[1, 2] = 0.0  # a single zero in one row: the gradient there is the product of the others
    tl_fn = (lambda v: v.prod()) if axis is None else (lambda v: v.prod(dim=axis))
    torch_fn = (lambda t: t.prod()) if axis is None else (lambda t: t.prod(dim=axis))
    check(tl_fn, [x], torch_fn)


@pytest.mark.parametrize('name', ['argmax', 'argmin'])
@pytest.mark.parametrize('axis, keepdims', [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_argmin(name, axis, keepdims):
    x = normal(np.random.default_rng(32), (3, 4))
    ours = getattr(tl.Value(x), name)(dim=axis, keepdim=keepdims)
    theirs = getattr(torch.tensor(x), name)(dim=axis, keepdim=keepdims)
    assert ours.dtype == np.int64 and not ours.requires_grad
    np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_split_and_chunk_match_torch():
    x = normal(np.random.default_rng(33), (7, 3))
    for ours_fn, torch_fn in ((lambda v: tl.split(v, 3), lambda t: torch.split(t, 3)),
                              (lambda v: tl.split(v, [2, 5], dim=0), lambda t: torch.split(t, [2, 5])),
                              (lambda v: tl.split(v, 2, axis=1), lambda t: torch.split(t, 2, dim=1)),
                              (lambda v: tl.chunk(v, 3), lambda t: torch.chunk(t, 3)),
                              (lambda v: tl.chunk(v, 4), lambda t: torch.chunk(t, 4))):
        ours, theirs = ours_fn(tl.Value(x)), torch_fn(torch.tensor(x))
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.data, b.numpy())
    check(lambda v: tl.concat([p * (i + 1) for i, p in enumerate(tl.split(v, [2, 5]))]),
          [x], lambda t: torch.cat([p * (i + 1) for i, p in enumerate(torch.split(t, [2, 5]))]))
