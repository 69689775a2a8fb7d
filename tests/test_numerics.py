"""Numerics: anomaly detection names the op, extreme inputs stay finite and exact, log(0)
paths, and dtype promotion that follows NumPy.

"Warning-free" is checked strictly: NumPy's overflow, divide and invalid floating-point
events raise (``np.errstate(..., 'raise')``) and every Python warning is an error.
Underflow (``exp(-1e4) == 0``) is the expected, harmless way these ops reach their limits.
"""
from __future__ import annotations

import contextlib
import itertools
import operator
import warnings

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import Value, nn
from tinygrad_ls.nn import functional as F

FLOATS = [np.float32, np.float64]


@contextlib.contextmanager
def strict():
    """Overflow, division by zero, invalid operations and any warning raise."""
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with np.errstate(over='raise', divide='raise', invalid='raise', under='ignore'):
            yield


def forward_backward(fn, data, dtype, seed=None) -> tuple:
    """``(output, gradient)`` of ``fn`` at ``data``, computed strictly."""
    x = leaf(data, dtype)
    with strict():
        out = fn(x)
        out.backward(np.ones(out.shape, dtype) if seed is None else np.asarray(seed, dtype))
    assert out.dtype == dtype and x.grad.dtype == dtype
    return out.data, x.grad


# ---- detect_anomaly ---------------------------------------------------------------------------------

@pytest.mark.parametrize('make, op, kind, shape', [
    (lambda x: (x - 2.0).log(), 'log', 'nan', '(1,)'),          # log of a negative number
    (lambda x: (x - 1.0).log(), 'log', 'inf', '(1,)'),          # log(0)
    (lambda x: (x - 2.0).sqrt(), 'sqrt', 'nan', '(1,)'),
    (lambda x: x / (x - 1.0), 'div', 'inf', '(1,)'),
    (lambda x: (x * 1000.0).exp(), 'exp', 'inf', '(1,)'),       # overflow
    (lambda x: (x - 2.0) ** 0.5, 'pow', 'nan', '(1,)'),
    (lambda x: F.mse_loss(x * 1e30, np.zeros(1)), 'mse_loss', 'inf', '()'),  # finite inputs, inf loss
    (lambda x: F.binary_cross_entropy_with_logits(x * np.inf, np.ones(1)), 'mul', 'inf', '(1,)'),
], ids=['log-negative', 'log-zero', 'sqrt-negative', 'div-by-zero', 'exp-overflow', 'pow-negative-base',
        'mse-overflow', 'inf-logit'])
def test_detect_anomaly_names_the_forward_op_that_made_nan_or_inf(make, op, kind, shape):
    x = leaf([1.0], np.float32)
    with np.errstate(all='ignore'), tl.detect_anomaly():
        with pytest.raises(RuntimeError) as info:
            make(x)
    assert str(info.value) == f"detect_anomaly: forward of '{op}' produced {kind} values (shape {shape})"
    with np.errstate(all='ignore'):
        if op == 'mul':  # outside the context the loss itself refuses an inf logit (issue 20)
            with pytest.raises(ValueError, match='binary_cross_entropy_with_logits: input contains inf'):
                make(x)
        else:
            make(x)  # outside the context: no error (NumPy semantics)


@pytest.mark.parametrize('make, op, kind', [
    (lambda x: x.sqrt().sum(), 'sqrt', 'inf'),                  # d sqrt(x) at 0 = inf
    (lambda x: (x ** 0.5).sum(), 'pow', 'inf'),
    (lambda x: (x.sqrt() * 0.0).sum(), 'sqrt', 'nan'),          # 0 / 0
    (lambda x: (x.log() * 0.0 + 1.0).sum(), 'log', 'nan'),      # 0 * (1 / 0)
], ids=['sqrt', 'pow', 'sqrt-nan', 'log-nan'])
def test_detect_anomaly_names_the_backward_op(make, op, kind):
    x = leaf([0.0, 4.0])
    with np.errstate(all='ignore'):
        out = make(x)  # forward outside the context (it may hold inf: log(0))
        with tl.detect_anomaly(), pytest.raises(RuntimeError) as info:
            out.backward()
    assert str(info.value) == f"detect_anomaly: backward of '{op}' produced {kind} values (shape (2,))"
    assert x.grad is None  # nothing was written


def test_detect_anomaly_names_the_op_in_a_create_graph_backward():
    x = leaf([0.0, 1.0])
    with np.errstate(all='ignore'), tl.detect_anomaly():
        y = (x ** 1.5).sum()  # first derivative 1.5 sqrt(x) is finite, the second is not at 0
        (first,) = tl.grad(y, x, create_graph=True)
        assert np.isfinite(first.data).all()
        with pytest.raises(RuntimeError, match=r"backward of '\w+' produced inf values"):
            first.sum().backward()


def test_detect_anomaly_finds_nan_that_came_in_with_the_data_at_the_first_op():
    tl.manual_seed(0)
    model = nn.MLP([3, 4, 1])
    batch = np.ones((2, 3), dtype=np.float32)
    batch[1, 2] = np.nan
    with tl.detect_anomaly(), pytest.raises(RuntimeError, match="forward of 'linear' produced nan"):
        model(batch)


# ---- extreme inputs: finite values, analytic limits, no warnings ----------------------------------

EXTREMES = {np.float32: [1e4, 1e30], np.float64: [1e4, 1e300]}
CASES = [(dtype, big) for dtype in FLOATS for big in EXTREMES[dtype]]
CASE_IDS = [f"{np.dtype(dtype).name}-{big:g}" for dtype, big in CASES]


@pytest.mark.parametrize('dtype, big', CASES, ids=CASE_IDS)
def test_sigmoid_and_tanh_saturate_exactly(dtype, big):
    for fn in (lambda x: x.sigmoid(), F.sigmoid, nn.Sigmoid()):
        out, grad = forward_backward(fn, [big, -big, 0.0], dtype)
        assert out.tolist() == [1.0, 0.0, 0.5] and grad.tolist() == [0.0, 0.0, 0.25]
    for fn in (lambda x: x.tanh(), F.tanh, nn.Tanh()):
        out, grad = forward_backward(fn, [big, -big, 0.0], dtype)
        assert out.tolist() == [1.0, -1.0, 0.0] and grad.tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize('dtype, big', CASES, ids=CASE_IDS)
def test_softmax_family_at_extremes(dtype, big):
    data = [big, -big, 0.0]
    out, grad = forward_backward(lambda x: x.softmax(), data, dtype, seed=[1.0, 2.0, 3.0])
    assert out.tolist() == [1.0, 0.0, 0.0] and grad.tolist() == [0.0, 0.0, 0.0]
    out, grad = forward_backward(lambda x: x.log_softmax(), data, dtype)
    assert out.tolist() == [0.0, dtype(-2 * big), dtype(-big)]
    assert grad.tolist() == [-2.0, 1.0, 1.0]  # 1 - 3 softmax
    out, grad = forward_backward(lambda x: F.log_softmax(x.reshape(1, 3), dim=1), data, dtype)
    assert out.tolist() == [[0.0, dtype(-2 * big), dtype(-big)]]
    out, grad = forward_backward(lambda x: x.logsumexp(), data, dtype)
    assert out.item() == dtype(big) and grad.tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize('dtype', FLOATS)
def test_logsumexp_gradient_is_the_exact_softmax_even_for_large_values(dtype):
    """out = 1e4 + log 2 has lost the digits exp(x - out) would need (in float32 the
    gradient used to come out 0.4998939); the softmax of the shifted x has them."""
    out, grad = forward_backward(lambda x: x.logsumexp(), [1e4, 1e4], dtype)
    assert out.item() == pytest.approx(1e4 + np.log(2), rel=1e-7)
    assert grad.tolist() == [0.5, 0.5]
    rows = [[1e4, 1e4, 1e4, 1e4], [-1e4, -1e4, 0, 0]]
    out, grad = forward_backward(lambda x: x.logsumexp(axis=1), rows, dtype)
    assert grad.tolist() == [[0.25] * 4, [0.0, 0.0, 0.5, 0.5]]


@pytest.mark.parametrize('dtype, big', CASES, ids=CASE_IDS)
def test_bce_with_logits_at_extremes_gives_exact_losses_and_gradients(dtype, big):
    logits, targets = [big, -big, big, -big, 0.0], np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    loss, grad = forward_backward(
        lambda x: F.binary_cross_entropy_with_logits(x, targets, reduction='none'), logits, dtype)
    assert loss.tolist() == [0.0, 0.0, dtype(big), dtype(big), dtype(np.log(2))]
    assert grad.tolist() == [0.0, 0.0, 1.0, -1.0, -0.5]  # sigmoid(x) - y
    loss, grad = forward_backward(lambda x: F.binary_cross_entropy_with_logits(
        x, targets, reduction='none', pos_weight=np.full(5, 3.0)), logits, dtype)
    assert loss.tolist() == [0.0, 0.0, dtype(big), dtype(big) * dtype(3), dtype(3 * np.log(2))]
    assert grad.tolist() == [0.0, 0.0, 1.0, -3.0, -1.5]
    mean, grad = forward_backward(lambda x: nn.BCEWithLogitsLoss()(x, targets), logits, dtype)
    assert np.isfinite(mean) and np.isfinite(grad).all()


@pytest.mark.parametrize('dtype, big', CASES, ids=CASE_IDS)
def test_cross_entropy_at_extremes(dtype, big):
    logits = [[big, -big, 0.0], [-big, big, 0.0]]
    loss, grad = forward_backward(lambda x: F.cross_entropy(x, np.array([1, 1]), reduction='none'),
                                  logits, dtype)
    assert loss.tolist() == [dtype(2 * big), 0.0]
    assert grad.tolist() == [[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]  # softmax - onehot
    for options in (dict(label_smoothing=0.1), dict(weight=np.array([1.0, 2.0, 0.5])), dict(ignore_index=0)):
        loss, grad = forward_backward(lambda x, kw=options: F.cross_entropy(x, np.array([1, 0]), **kw),
                                      logits, dtype)
        assert np.isfinite(loss) and np.isfinite(grad).all(), options


# ---- log(0) -------------------------------------------------------------------------------------------

def test_log_of_zero_is_minus_inf_with_numpys_warning():
    """api.md: log gives -inf at 0 with NumPy's warning; the gradient 1/x is inf there."""
    x = leaf([0.0, 1.0])
    with pytest.warns(RuntimeWarning, match='divide by zero'):
        y = x.log()
    assert y.data.tolist() == [-np.inf, 0.0]
    with pytest.warns(RuntimeWarning, match='divide by zero'):
        y.sum().backward()
    assert x.grad.tolist() == [np.inf, 1.0]


@pytest.mark.parametrize('dtype', FLOATS)
def test_bce_on_probabilities_of_exactly_0_and_1_is_finite_and_warning_free(dtype):
    """The library's promise (PyTorch's rule): each log is clamped at -100 and the gradient's
    denominator p (1 - p) at 1e-12, so saturated probabilities give finite numbers."""
    probabilities, targets = [0.0, 1.0, 1.0, 0.0], np.array([1.0, 0.0, 1.0, 0.0])
    loss, grad = forward_backward(lambda x: F.binary_cross_entropy(x, targets, reduction='none'),
                                  probabilities, dtype)
    assert (loss + 0.0).tolist() == [100.0, 100.0, 0.0, 0.0]
    eps = float(np.float32(1e-12))  # PyTorch's constant is a C float, in float64 too
    assert grad.tolist() == [dtype(-1 / eps), dtype(1 / eps), 0.0, 0.0]
    mean, grad = forward_backward(lambda x: nn.BCELoss()(x, targets), probabilities, dtype)
    assert mean.item() == 50.0 and np.isfinite(grad).all()


@pytest.mark.parametrize('dtype', FLOATS)
def test_masked_logits_of_minus_inf_are_warning_free(dtype):
    """A logit of -inf (a masked class) has probability 0 and log-probability -inf; the
    other entries and every gradient stay finite."""
    data = [0.0, -np.inf, 1.0]
    out, grad = forward_backward(lambda x: x.softmax(), data, dtype, seed=[1.0, 0.0, 0.0])
    assert out[1] == 0.0 and np.isfinite(out).all() and np.isfinite(grad).all()
    out, grad = forward_backward(lambda x: x.log_softmax(), data, dtype)
    assert out[1] == -np.inf and np.isfinite(out[[0, 2]]).all() and np.isfinite(grad).all()
    out, grad = forward_backward(lambda x: x.logsumexp(), data, dtype)
    assert out.item() == pytest.approx(np.log(1 + np.e)) and grad[1] == 0.0
    loss, grad = forward_backward(lambda x: F.cross_entropy(x, np.array(0)), data, dtype)
    assert np.isfinite(loss) and grad[1] == 0.0 and np.isfinite(grad).all()


def test_logsumexp_of_only_minus_inf_is_minus_inf_without_a_warning():
    x = Value(np.full((2, 3), -np.inf))
    with strict():
        out = x.logsumexp(axis=1)
    assert out.data.tolist() == [-np.inf, -np.inf]


# ---- dtype promotion follows NumPy ------------------------------------------------------------------

DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_]
BINARY = {'add': operator.add, 'sub': operator.sub, 'mul': operator.mul, 'truediv': operator.truediv,
          'matmul': operator.matmul}


def numpy_result(op, a: np.ndarray, b):
    """NumPy's result dtype for ``op(a, b)``, or the exception type NumPy raises."""
    try:
        with np.errstate(all='ignore'):
            return op(a, b).dtype
    except TypeError:
        return TypeError


@pytest.mark.parametrize('name', BINARY)
@pytest.mark.parametrize('dtype_a, dtype_b', list(itertools.product(DTYPES, DTYPES)),
                         ids=lambda d: np.dtype(d).name)
def test_binary_promotion_table_matches_numpy(name, dtype_a, dtype_b):
    op = BINARY[name]
    a, b = np.array([1, 2], dtype=dtype_a), np.array([2, 1], dtype=dtype_b)
    expected = numpy_result(op, a, b)
    if name in ('add', 'mul', 'matmul') and expected is not TypeError:
        assert expected == np.result_type(dtype_a, dtype_b)  # the table is NumPy's result_type
    va = Value(a, requires_grad=a.dtype.kind == 'f')
    vb = Value(b, requires_grad=b.dtype.kind == 'f')
    if expected is TypeError:
        with pytest.raises(TypeError, match=name.replace('truediv', 'div')):
            op(va, vb)
        return
    with np.errstate(all='ignore'):
        out = op(va, vb)
    assert out.dtype == expected
    if out.requires_grad:
        out.sum().backward()
        for value in (va, vb):  # the gradient comes back in each input's own dtype
            if value.requires_grad:
                assert value.grad.dtype == value.dtype and value.grad.shape == value.shape


@pytest.mark.parametrize('name', [name for name in BINARY if name != 'matmul'])
@pytest.mark.parametrize('dtype', DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize('number', [2, 2.5, True], ids=['int', 'float', 'bool'])
def test_python_numbers_promote_weakly_like_numpy(name, dtype, number):
    op = BINARY[name]
    a = np.array([1, 2], dtype=dtype)
    for left, right, value_left, value_right in ((a, number, Value(a), number),
                                                 (number, a, number, Value(a))):
        expected = numpy_result(op, left, right)
        if expected is TypeError:
            with pytest.raises(TypeError):
                op(value_left, value_right)
        else:
            with np.errstate(all='ignore'):
                assert op(value_left, value_right).dtype == expected


@pytest.mark.parametrize('dtype', DTYPES, ids=lambda d: np.dtype(d).name)
def test_reduction_dtypes_match_numpy(dtype):
    a = np.array([[1, 2, 3], [4, 5, 7]], dtype=dtype)
    value = Value(a)
    for axis in (None, 0, 1):
        assert value.sum(axis=axis).dtype == np.sum(a, axis=axis).dtype
        assert value.mean(axis=axis).dtype == np.mean(a, axis=axis).dtype
        assert value.max(axis=axis).dtype == np.max(a, axis=axis).dtype
        assert value.min(axis=axis).dtype == np.min(a, axis=axis).dtype
        if dtype is not np.bool_:
            assert value.var(axis=axis).dtype == np.var(a, axis=axis).dtype
    if dtype is not np.bool_:
        with np.errstate(all='ignore'):
            reference = np.log(np.exp(a).sum(axis=1))  # the dtype NumPy's own ufuncs give
            assert value.logsumexp(axis=1).dtype == reference.dtype
            assert value.softmax(axis=1).dtype == (np.exp(a) / np.exp(a).sum()).dtype
            assert value.log_softmax(axis=1).dtype == reference.dtype


@pytest.mark.parametrize('data_dtype', [np.float64, np.int64])
def test_float32_model_on_other_data_promotes_like_numpy_and_keeps_float32_grads(data_dtype):
    tl.manual_seed(0)
    model = nn.MLP([3, 4, 2])
    x = np.arange(6).reshape(2, 3).astype(data_dtype)
    out = model(x)
    assert out.dtype == np.result_type(np.float32, data_dtype) == np.float64
    F.cross_entropy(out, np.array([0, 1])).backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    model32 = F.cross_entropy(model(x.astype(np.float32)), np.array([0, 1]))
    assert model32.dtype == np.float32
