"""The semantics of gradients: backward, accumulation, tl.grad and higher derivatives, grad mode,
hooks, anomaly detection, gradcheck, and the attributes API.md promises on every Value."""
from __future__ import annotations

import re
import threading

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import Value
from tinygrad_ls.ops.base import Function
from tinygrad_ls.value import data_of


def f64(data, requires_grad: bool = True, name: str | None = None) -> Value:
    return Value(np.asarray(data, dtype=np.float64), requires_grad=requires_grad, name=name)


def numeric_gradient(fn, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar-valued ``fn`` on a float64 array."""
    x = np.array(x, dtype=np.float64)
    result = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        plus = fn(x)
        x[index] = original - eps
        minus = fn(x)
        x[index] = original
        result[index] = (plus - minus) / (2 * eps)
    return result


# ---- micrograd's README expression ---------------------------------------------------------

def micrograd_expression():
    a = Value(-4.0, requires_grad=True, dtype=np.float64)
    b = Value(2.0, requires_grad=True, dtype=np.float64)
    c = a + b
    d = a * b + b**3
    c = c + (c + 1)
    c = c + (1 + c + (-a))
    d = d + (d * 2 + (b + a).relu())
    d = d + (3 * d + (b - a).relu())
    e = c - d
    f = e**2
    g = f / 2 + 10 / f
    return a, b, g


def test_micrograd_readme_expression():
    a, b, g = micrograd_expression()
    g.backward()
    assert g.dtype == np.float64
    assert round(g.item(), 4) == 24.7041
    assert round(a.grad.item(), 4) == 138.8338
    assert round(b.grad.item(), 4) == 645.5773


def test_micrograd_expression_matches_tl_grad():
    a, b, g = micrograd_expression()
    grad_a, grad_b = tl.grad(g, [a, b])
    assert round(grad_a.item(), 4) == 138.8338
    assert round(grad_b.item(), 4) == 645.5773
    assert a.grad is None and b.grad is None


def test_micrograd_demo_prints_the_readme_numbers(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / 'demos' / 'micrograd_expression.py'
    spec = importlib.util.spec_from_file_location('micrograd_expression_demo', path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    demo.main()
    printed = capsys.readouterr().out
    assert '24.7041' in printed
    assert '138.8338' in printed
    assert '645.5773' in printed


# ---- accumulation and the shape/dtype of .grad ---------------------------------------------

def test_leaves_accumulate_across_backward_calls():
    x = f64([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, -1.0, 9.0])


def test_backward_twice_gives_exactly_twice_the_gradient():
    rng = np.random.default_rng(0)
    x = Value(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    w = Value(rng.standard_normal((4, 2)).astype(np.float32), requires_grad=True)
    loss = ((x @ w).tanh() * (x @ w).sigmoid()).mean()
    loss.backward()
    first_x, first_w = x.grad.copy(), w.grad.copy()
    loss.backward()
    assert np.array_equal(x.grad, 2 * first_x)
    assert np.array_equal(w.grad, 2 * first_w)
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_intermediate_nodes_hold_the_latest_pass():
    x = f64([1.0, 2.0])
    y = x * 3.0
    z = (y * y).sum()
    z.backward()
    np.testing.assert_array_equal(y.grad, [6.0, 12.0])
    z.backward()
    np.testing.assert_array_equal(y.grad, [6.0, 12.0])  # not accumulated
    np.testing.assert_array_equal(x.grad, [36.0, 72.0])  # accumulated
    z.backward(2.0)
    np.testing.assert_array_equal(y.grad, [12.0, 24.0])
    np.testing.assert_array_equal(x.grad, [72.0, 144.0])


def test_every_node_gets_a_grad_of_its_own_shape_and_dtype():
    a = Value(np.arange(3, dtype=np.float32).reshape(3, 1), requires_grad=True)
    b = Value(np.arange(4, dtype=np.float32), requires_grad=True)
    c = a * b                                    # (3, 4) float32, broadcast
    d = c.sum(axis=0)                            # (4,)   float32
    weights = np.linspace(1.0, 2.0, 4)           # float64 ndarray
    e = (d * weights).sum()                      # ()     float64
    e.backward()
    for node, shape, dtype in [(a, (3, 1), np.float32), (b, (4,), np.float32),
                               (c, (3, 4), np.float32), (d, (4,), np.float32), (e, (), np.float64)]:
        assert type(node.grad) is np.ndarray
        assert node.grad.shape == shape
        assert node.grad.dtype == dtype
    np.testing.assert_allclose(a.grad[:, 0], np.full(3, (weights * np.arange(4)).sum()), rtol=1e-6)
    np.testing.assert_allclose(b.grad, 3 * weights, rtol=1e-6)


def test_float32_value_times_float64_array_keeps_a_float32_grad():
    x = Value(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x * np.array([0.5, 0.25])  # float64 result
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, np.array([0.5, 0.25], dtype=np.float32))


def test_float32_scalar_leaf_gets_a_0d_float32_ndarray():
    x = Value(2.0, requires_grad=True)
    (x * np.float64(3.0) + x).backward()
    assert type(x.grad) is np.ndarray
    assert x.grad.shape == () and x.grad.dtype == np.float32
    assert x.grad == 4.0


def test_accumulated_grad_of_a_scalar_leaf_stays_an_ndarray():
    a = Value(2.0, requires_grad=True)
    b = Value(3.0, requires_grad=True)
    c = a * b
    c.backward()
    c.backward()
    assert type(a.grad) is np.ndarray
    assert a.grad.shape == () and a.grad.dtype == np.float32


def test_hook_on_scalar_receives_an_ndarray():
    x = Value(2.0, requires_grad=True)
    y = x * x
    seen = []
    y.register_hook(seen.append)
    (y * 3.0).backward()
    assert type(seen[0]) is np.ndarray


def test_reused_node_diamond_gives_exact_grad():
    a = f64(1.5)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0
    assert b.grad.item() == 2.0


def test_leaf_used_by_two_ops():
    x = f64([1.0, 2.0, 3.0])
    y = (x * x).sum() + (x.exp()).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + np.exp(x.data))


def test_leaves_receiving_the_same_gradient_array_do_not_share_memory():
    a = f64([1.0, 2.0, 3.0])
    b = f64([4.0, 5.0, 6.0])
    c = a + b
    c.backward(np.ones(3))
    assert not np.shares_memory(a.grad, b.grad)
    a.grad *= 10.0  # in place, as clip_grad_norm_ does
    np.testing.assert_array_equal(b.grad, np.ones(3))
    np.testing.assert_array_equal(a.grad, np.full(3, 10.0))


def test_leaf_grads_from_a_sum_broadcast_are_writable_and_separate():
    a = f64([1.0, 2.0])
    b = f64([3.0, 4.0])
    (a + b).sum().backward()
    a.grad[0] = 7.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_leaf_grads_do_not_alias_the_grad_passed_to_backward():
    seed = np.ones(3)
    a = f64([1.0, 2.0, 3.0])
    b = f64([4.0, 5.0, 6.0])
    a.backward(seed)
    b.backward(seed)
    assert not np.shares_memory(a.grad, seed)
    assert not np.shares_memory(a.grad, b.grad)


# ---- deep graphs ---------------------------------------------------------------------------

CHAIN_LENGTH = 100_000


def test_backward_through_a_chain_of_100000_ops():
    x = f64(1.0)
    y = x
    for _ in range(CHAIN_LENGTH // 2):
        y = y * 1.0000001 + 0.0
    y.backward()
    expected = 1.0000001 ** (CHAIN_LENGTH // 2)
    assert x.grad.item() == pytest.approx(expected, rel=1e-12)
    assert y.item() == pytest.approx(expected, rel=1e-12)


def test_tl_grad_through_a_chain_of_100000_additions():
    x = f64(0.0)
    y = x
    for _ in range(CHAIN_LENGTH):
        y = y + 1e-6
    (grad_x,) = tl.grad(y, x)
    assert grad_x.item() == 1.0
    assert y.item() == pytest.approx(0.1, rel=1e-9)


def test_building_and_dropping_a_deep_chain_does_not_crash():
    x = f64(1.0)
    y = x
    for _ in range(CHAIN_LENGTH):
        y = y + 1e-6
    del y  # frees 100 000 nested nodes without overflowing the C stack
    z = x * 2.0
    z.backward()
    assert x.grad.item() == 2.0


# ---- the grad argument of backward ---------------------------------------------------------

@pytest.mark.parametrize('seed', [np.array([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0]], ids=['ndarray', 'list'])
def test_backward_with_an_array_grad(seed):
    x = f64([1.0, 2.0, 3.0])
    (x * 2.0).backward(seed)
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_backward_with_a_number_grad():
    x = f64(3.0)
    (x * x).backward(0.5)
    assert x.grad.item() == 3.0
    y = f64([1.0, 2.0])
    (y * 2.0).backward(3.0)  # a number broadcasts to the Value's shape
    np.testing.assert_array_equal(y.grad, [6.0, 6.0])


def test_backward_with_a_value_grad():
    x = f64([1.0, 2.0])
    (x * x).backward(Value(np.array([1.0, -1.0])))
    np.testing.assert_array_equal(x.grad, [2.0, -4.0])


def test_backward_grad_is_cast_to_the_value_dtype():
    x = Value(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (x * 2.0).backward(np.array([1.0, 1.0], dtype=np.float64))
    assert x.grad.dtype == np.float32


def test_backward_without_grad_on_a_multi_element_value_raises():
    x = f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r'\(2,\)'):
        (x * 2.0).backward()


def test_backward_without_grad_on_a_one_element_tensor_works():
    x = f64([[3.0]])
    (x * x).backward()
    np.testing.assert_array_equal(x.grad, [[6.0]])


def test_backward_grad_of_the_wrong_shape_raises_naming_both_shapes():
    x = f64(np.ones((2, 3)))
    with pytest.raises(ValueError) as info:
        (x * 2.0).backward(np.ones((3, 2)))
    assert '(3, 2)' in str(info.value) and '(2, 3)' in str(info.value)
    assert x.grad is None


def test_backward_on_a_value_that_does_not_require_grad_raises():
    x = Value([1.0, 2.0])
    with pytest.raises(RuntimeError):
        x.sum().backward()
    with tl.no_grad():
        y = (f64([1.0]) * 2.0).sum()
    with pytest.raises(RuntimeError):
        y.backward()


# ---- tl.grad --------------------------------------------------------------------------------

def test_tl_grad_returns_a_tuple_of_values_and_touches_no_grad():
    x = f64([1.0, 2.0])
    w = f64([3.0, 4.0])
    hidden = x * w
    loss = (hidden * hidden).sum()
    result = tl.grad(loss, [x, w])
    assert isinstance(result, tuple) and len(result) == 2
    assert all(isinstance(g, Value) for g in result)
    np.testing.assert_array_equal(result[0].data, 2 * x.data * w.data**2)
    np.testing.assert_array_equal(result[1].data, 2 * w.data * x.data**2)
    for node in (x, w, hidden, loss):
        assert node.grad is None


def test_tl_grad_single_input_gives_a_one_tuple():
    x = f64(2.0)
    result = tl.grad(x * x, x)
    assert isinstance(result, tuple) and len(result) == 1
    assert result[0].item() == 4.0


def test_tl_grad_gives_zeros_for_an_unused_input():
    x = f64([1.0, 2.0])
    unused = Value(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    grad_x, grad_unused = tl.grad((x * x).sum(), [x, unused])
    np.testing.assert_array_equal(grad_x.data, [2.0, 4.0])
    assert grad_unused.shape == (2, 2) and grad_unused.dtype == np.float32
    np.testing.assert_array_equal(grad_unused.data, np.zeros((2, 2)))


def test_tl_grad_equals_backward():
    rng = np.random.default_rng(1)
    x = f64(rng.standard_normal((4, 3)))
    w = f64(rng.standard_normal((3, 2)))
    b = f64(rng.standard_normal(2))
    loss = ((x @ w + b).tanh() ** 2).mean()
    grads = tl.grad(loss, [x, w, b])
    loss.backward()
    for value, g in zip((x, w, b), grads, strict=True):
        np.testing.assert_array_equal(g.data, value.grad)


def test_tl_grad_of_several_outputs_sums_their_gradients():
    x = f64([1.0, 2.0])
    first = (x * x).sum()
    second = (x * 3.0).sum()
    (grad_x,) = tl.grad([first, second], [x])
    np.testing.assert_array_equal(grad_x.data, 2 * x.data + 3.0)
    (grad_x,) = tl.grad([x * x, x * 3.0], x, grad_outputs=[np.ones(2), np.array([1.0, -1.0])])
    np.testing.assert_array_equal(grad_x.data, 2 * x.data + np.array([3.0, -3.0]))


def test_tl_grad_with_respect_to_an_intermediate_node():
    x = f64([1.0, 2.0])
    hidden = x * 3.0
    out = (hidden * hidden).sum()
    grad_hidden, grad_x = tl.grad(out, [hidden, x])
    np.testing.assert_array_equal(grad_hidden.data, 2 * hidden.data)
    np.testing.assert_array_equal(grad_x.data, 6 * hidden.data)
    assert hidden.grad is None and x.grad is None


def test_tl_grad_of_a_value_with_respect_to_itself():
    x = f64([[1.0, 2.0]])
    (grad_x,) = tl.grad(x, x, grad_outputs=np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(grad_x.data, [[3.0, 4.0]])


def test_backward_on_a_leaf():
    x = f64(5.0)
    x.backward()
    x.backward(2.0)
    assert x.grad.item() == 3.0


def test_tl_grad_with_grad_outputs():
    x = f64([1.0, 2.0, 3.0])
    v = np.array([1.0, 0.5, -1.0])
    (grad_x,) = tl.grad(x * x, x, grad_outputs=v)
    np.testing.assert_array_equal(grad_x.data, 2 * x.data * v)


def test_tl_grad_result_does_not_alias_later_backward():
    x = f64([1.0, 2.0])
    loss = (x * 2.0).sum()
    (grad_x,) = tl.grad(loss, x)
    loss.backward()
    x.grad *= 5.0
    np.testing.assert_array_equal(grad_x.data, [2.0, 2.0])


# ---- higher derivatives -------------------------------------------------------------------

def second_derivative(fn, x: Value) -> np.ndarray:
    """d2/dx2 of an elementwise ``fn``, via grad of grad."""
    (first,) = tl.grad(fn(x).sum(), x, create_graph=True)
    assert first.requires_grad
    (second,) = tl.grad(first.sum(), x)
    return second.data


X_POINTS = np.array([-1.3, -0.4, 0.2, 0.9, 1.7])
POSITIVE_POINTS = np.array([0.3, 0.8, 1.5, 2.4])


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.mark.parametrize('fn, expected, points', [
    (lambda x: x**3, lambda x: 6 * x, X_POINTS),
    (lambda x: x.tanh(), lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), X_POINTS),
    (lambda x: x.sigmoid(),
     lambda x: _sigmoid(x) * (1 - _sigmoid(x)) * (1 - 2 * _sigmoid(x)), X_POINTS),
    (lambda x: x.exp(), np.exp, X_POINTS),
    (lambda x: x.log(), lambda x: -1 / x**2, POSITIVE_POINTS),
    (lambda x: x.sqrt(), lambda x: -0.25 * x ** -1.5, POSITIVE_POINTS),
    (lambda x: 1.0 / x, lambda x: 2 / x**3, POSITIVE_POINTS),
], ids=['cube', 'tanh', 'sigmoid', 'exp', 'log', 'sqrt', 'reciprocal'])
def test_second_derivatives(fn, expected, points):
    np.testing.assert_allclose(second_derivative(fn, f64(points)), expected(points), rtol=1e-10, atol=1e-12)


def test_second_derivative_leaves_grad_untouched():
    x = f64([0.5, 1.0])
    second_derivative(lambda v: v**3, x)
    assert x.grad is None


def test_softmax_hessian_vector_product_matches_finite_differences():
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal(5)
    weights = rng.standard_normal(5)
    v = rng.standard_normal(5)

    def first_gradient(x_data: np.ndarray, create_graph: bool = False):
        x = f64(x_data)
        (g,) = tl.grad((x.softmax() * weights).sum(), x, create_graph=create_graph)
        return x, g

    x, g = first_gradient(x0, create_graph=True)
    (hvp,) = tl.grad((g * v).sum(), x)
    eps = 1e-6
    numeric = (first_gradient(x0 + eps * v)[1].data - first_gradient(x0 - eps * v)[1].data) / (2 * eps)
    np.testing.assert_allclose(hvp.data, numeric, rtol=1e-6, atol=1e-8)


def test_hessian_vector_product_of_a_quadratic_form():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 4))  # not symmetric: the Hessian is (A + A^T) / 2
    v = rng.standard_normal(4)
    x = f64(rng.standard_normal(4))
    quadratic = 0.5 * (x @ (a @ x))
    (g,) = tl.grad(quadratic, x, create_graph=True)
    np.testing.assert_allclose(g.data, 0.5 * (a + a.T) @ x.data, rtol=1e-12)
    (hvp,) = tl.grad((g * v).sum(), x)
    np.testing.assert_allclose(hvp.data, 0.5 * (a + a.T) @ v, rtol=1e-12)


def test_hessian_vector_product_with_grad_outputs_value():
    x = f64([1.0, 2.0])
    v = Value(np.array([0.5, -1.0]))
    (g,) = tl.grad((x**3).sum(), x, create_graph=True)
    (hvp,) = tl.grad(g, x, grad_outputs=v)
    np.testing.assert_allclose(hvp.data, 6 * x.data * v.data)


@pytest.mark.parametrize('fn, expected', [
    (lambda x: x**4, lambda x: 24 * x),
    (lambda x: (2 * x).exp(), lambda x: 8 * np.exp(2 * x)),
    (lambda x: (x * 2.0).exp(), lambda x: 8 * np.exp(2 * x)),
], ids=['x^4', 'exp(2x)', 'exp(x*2)'])
def test_third_derivatives(fn, expected):
    x = f64(X_POINTS)
    (first,) = tl.grad(fn(x).sum(), x, create_graph=True)
    (second,) = tl.grad(first.sum(), x, create_graph=True)
    (third,) = tl.grad(second.sum(), x)
    np.testing.assert_allclose(third.data, expected(X_POINTS), rtol=1e-10)
    assert x.grad is None


def test_gradient_penalty_fills_parameter_grads():
    rng = np.random.default_rng(4)
    x_data = rng.standard_normal((3, 2))
    w_data = rng.standard_normal(2)
    x = f64(x_data)
    w = f64(w_data)
    out = (x @ w).tanh().sum()
    (grad_x,) = tl.grad(out, x, create_graph=True)
    assert x.grad is None and w.grad is None and out.grad is None
    penalty = (grad_x**2).sum()
    penalty.backward()

    def penalty_of_w(w_values):
        t = np.tanh(x_data @ w_values)
        return float(((1 - t**2) ** 2).sum() * (w_values**2).sum())

    np.testing.assert_allclose(penalty.item(), penalty_of_w(w_data), rtol=1e-12)
    np.testing.assert_allclose(w.grad, numeric_gradient(penalty_of_w, w_data), rtol=1e-6, atol=1e-9)
    assert x.grad.shape == x.shape


def test_micrograd_second_derivative_matches_finite_differences():
    a, b, g = micrograd_expression()
    (dg_da,) = tl.grad(g, a, create_graph=True)
    (d2g_da2,) = tl.grad(dg_da, a)

    def dg_da_at(value: float) -> float:
        a2 = Value(value, requires_grad=True, dtype=np.float64)
        b2 = Value(2.0, requires_grad=True, dtype=np.float64)
        c = a2 + b2
        d = a2 * b2 + b2**3
        c = c + (c + 1)
        c = c + (1 + c + (-a2))
        d = d + (d * 2 + (b2 + a2).relu())
        d = d + (3 * d + (b2 - a2).relu())
        f = (c - d) ** 2
        return tl.grad(f / 2 + 10 / f, a2)[0].item()

    eps = 1e-5
    numeric = (dg_da_at(-4.0 + eps) - dg_da_at(-4.0 - eps)) / (2 * eps)
    assert d2g_da2.item() == pytest.approx(numeric, rel=1e-6)


# ---- grad mode -----------------------------------------------------------------------------

def test_no_grad_records_nothing():
    x = f64([1.0, 2.0])
    assert tl.is_grad_enabled()
    with tl.no_grad():
        assert not tl.is_grad_enabled()
        y = (x * 2.0).exp().sum()
    assert tl.is_grad_enabled()
    assert not y.requires_grad
    assert y.op == ''
    assert y.parents == ()


def test_nested_no_grad_and_enable_grad():
    x = f64(1.0)
    with tl.no_grad():
        with tl.enable_grad():
            assert tl.is_grad_enabled()
            inside = x * 2.0
            with tl.no_grad():
                assert not tl.is_grad_enabled()
                innermost = x * 2.0
            assert tl.is_grad_enabled()
        assert not tl.is_grad_enabled()
        outside = x * 2.0
    assert tl.is_grad_enabled()
    assert inside.requires_grad and inside.op == 'mul'
    assert not innermost.requires_grad
    assert not outside.requires_grad


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with tl.no_grad():
            raise KeyError('boom')
    assert tl.is_grad_enabled()


def test_grad_mode_is_thread_local():
    main_in_no_grad = threading.Event()
    other_done = threading.Event()
    observed = {}

    def other_thread():
        main_in_no_grad.wait(timeout=10)
        observed['enabled'] = tl.is_grad_enabled()
        x = f64(1.0)
        observed['records'] = (x * 2.0).requires_grad
        other_done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with tl.no_grad():
        main_in_no_grad.set()
        assert other_done.wait(timeout=10)
        assert not tl.is_grad_enabled()
        assert not (f64(1.0) * 2.0).requires_grad
    worker.join(timeout=10)
    assert observed['enabled'] is True
    assert observed['records'] is True
    assert tl.is_grad_enabled()


def test_no_grad_in_another_thread_does_not_affect_this_one():
    other_in_no_grad = threading.Event()
    main_checked = threading.Event()

    def other_thread():
        with tl.no_grad():
            other_in_no_grad.set()
            main_checked.wait(timeout=10)

    worker = threading.Thread(target=other_thread)
    worker.start()
    assert other_in_no_grad.wait(timeout=10)
    try:
        assert tl.is_grad_enabled()
        assert (f64(1.0) * 2.0).requires_grad
    finally:
        main_checked.set()
        worker.join(timeout=10)


# ---- detach, requires_grad_, zero_grad, hooks ----------------------------------------------

def test_detach_cuts_the_graph_and_shares_data():
    x = f64([1.0, 2.0])
    y = x * 3.0
    d = y.detach()
    assert not d.requires_grad and d.op == '' and d.parents == ()
    assert d.data is y.data or np.shares_memory(d.data, y.data)
    z = (x * d).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad, y.data)  # no gradient flowed through d
    assert y.grad is None
    y.data[0] = 100.0
    assert d.data[0] == 100.0


def test_requires_grad_():
    x = Value([1.0, 2.0])
    assert not x.requires_grad
    assert x.requires_grad_() is x
    assert x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    x.requires_grad_(False)
    assert not x.requires_grad
    assert not (x * 2.0).requires_grad


def test_requires_grad_on_int_data_raises():
    with pytest.raises(TypeError):
        Value(np.array([1, 2])).requires_grad_()


def test_zero_grad_sets_grad_to_none():
    x = f64([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    x.zero_grad()
    assert x.grad is None
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # fresh, not accumulated


def test_hook_is_called_with_the_grad():
    x = f64([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(np.array(g)))
    (x * 3.0).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])  # returning None keeps the grad


def test_hook_return_value_lands_in_leaf_grad():
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: g * 10.0)
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [30.0, 30.0])


def test_hook_handle_remove():
    x = f64([1.0, 2.0])
    handle = x.register_hook(lambda g: g * 10.0)
    handle.remove()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_hook_on_intermediate_changes_the_leaf_gradient():
    x = f64([1.0, 2.0])
    y = x * x
    seen = []

    def halve(g):
        seen.append(np.array(g))
        return g * 0.5

    y.register_hook(halve)
    (y * 4.0).sum().backward()
    np.testing.assert_array_equal(seen[0], [4.0, 4.0])
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])  # 2 x * 2 instead of 2 x * 4


def test_hook_on_intermediate_applies_to_tl_grad():
    x = f64([1.0, 2.0])
    y = x * x
    y.register_hook(lambda g: g * 0.0)
    (grad_x,) = tl.grad((y * 4.0).sum(), x)
    np.testing.assert_array_equal(grad_x.data, [0.0, 0.0])


def test_hook_under_create_graph_receives_a_value_and_its_result_is_differentiated():
    x = f64([1.0, 2.0])
    y = x * x
    seen = []

    def triple(g):
        seen.append(g)
        return g * 3.0

    y.register_hook(triple)
    (first,) = tl.grad((y * x).sum(), x, create_graph=True)  # d/dx (x^2 * x) with the y-path tripled
    assert isinstance(seen[0], Value)
    np.testing.assert_allclose(first.data, 3 * 2 * x.data**2 + x.data**2)
    # first = 6 x^2 (through the hook) + y; the hook stays registered, so the second pass
    # also triples the gradient through y: 12 x + 3 * 2 x (as in PyTorch).
    (second,) = tl.grad(first.sum(), x)
    np.testing.assert_allclose(second.data, 12 * x.data + 6 * x.data)
    assert len(seen) == 2


def test_register_hook_on_a_value_without_grad_raises():
    with pytest.raises(RuntimeError):
        Value([1.0]).register_hook(lambda g: g)


# ---- detect_anomaly -----------------------------------------------------------------------

def test_detect_anomaly_names_the_first_forward_op_with_nan():
    x = f64([-1.0, 2.0])
    with np.errstate(invalid='ignore'):
        with tl.detect_anomaly():
            y = x * 2.0  # finite: fine
            with pytest.raises(RuntimeError, match="'log'"):
                (y.log() * 3.0).sum()
        # outside the context the same op silently gives nan
        z = y.log()
    assert np.isnan(z.data[0])


def test_detect_anomaly_forward_inf():
    x = f64([1000.0])
    with np.errstate(over='ignore'):
        with tl.detect_anomaly():
            with pytest.raises(RuntimeError, match="'exp'"):
                x.exp()


def test_detect_anomaly_names_the_backward_op():
    x = f64([0.0, 4.0])
    with np.errstate(divide='ignore'):
        with tl.detect_anomaly():
            y = x.sqrt().sum()  # forward is finite
            assert np.isfinite(y.data)
            with pytest.raises(RuntimeError, match="'sqrt'") as info:
                y.backward()
        assert 'backward' in str(info.value)
        x.zero_grad()
        x.sqrt().sum().backward()  # outside: no error, an inf gradient
    assert np.isinf(x.grad[0])


def test_detect_anomaly_is_off_by_default_and_restored():
    with tl.detect_anomaly():
        pass
    with np.errstate(invalid='ignore'):
        result = Value([-1.0]).log()
    assert np.isnan(result.data[0])


# ---- gradcheck -----------------------------------------------------------------------------

class WrongSquare(Function):
    """``x * x`` with a backward that is wrong by a factor 1.5 at element (1, 2) only."""
    name = 'wrong_square'

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        scale = np.ones(np.shape(data_of(x)))
        scale[1, 2] = 1.5
        return (grad * 2 * x * scale,)


class Square(Function):
    """``x * x`` with a correct backward written with shared ops (differentiable again)."""
    name = 'square'

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        return (grad * 2 * x,)


class DetachedSquare(Function):
    """``x * x`` whose backward uses ``x``'s raw data: first order right, second order zero."""
    name = 'detached_square'

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        return (grad * 2 * data_of(x),)


def test_gradcheck_passes_for_correct_functions():
    rng = np.random.default_rng(5)
    x = f64(rng.standard_normal((3, 4)))
    w = f64(rng.standard_normal((4, 2)))
    assert tl.gradcheck(lambda a, b: (a @ b).tanh().sum(), (x, w)) is True
    assert tl.gradcheck(lambda a: Square.apply(a), (x,)) is True
    assert tl.gradcheck(lambda a: a.softmax(axis=0), [x]) is True


def test_gradcheck_accepts_float32_inputs_and_constants():
    x = Value(np.array([0.5, 1.5, 2.5], dtype=np.float32), requires_grad=True)
    constant = Value(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    assert tl.gradcheck(lambda a, c: (a * c).log(), (x, constant)) is True
    assert x.dtype == np.float32 and x.grad is None


def test_gradcheck_any_output_shape_and_tuple_outputs():
    rng = np.random.default_rng(6)
    x = f64(rng.standard_normal((2, 3)))
    y = f64(rng.standard_normal((2, 3)))
    assert tl.gradcheck(lambda a, b: (a * b).reshape(3, 2, 1), (x, y))
    assert tl.gradcheck(lambda a, b: (a * b, (a - b).sum(axis=0), a.exp().mean()), (x, y))
    assert tl.gradcheck(lambda a: a.sum(), (x,))
    assert tl.gradcheck(lambda a: a[0, 1] * a[1, 2], x)  # a single Value instead of a tuple


def test_gradcheck_reports_input_element_and_both_values():
    rng = np.random.default_rng(7)
    ok = f64(rng.standard_normal(3))
    x_data = rng.uniform(1.0, 2.0, (2, 3))
    x = f64(x_data)
    with pytest.raises(tl.GradcheckError) as info:
        tl.gradcheck(lambda a, b: (WrongSquare.apply(b) * a.sum()).sum(), (ok, x))
    message = str(info.value)
    assert 'input 1' in message
    assert '(1, 2)' in message
    analytic = float(re.search(r'analytic\s+(-?[\d.eE+-]+)', message).group(1))
    numeric = float(re.search(r'numeric\s+(-?[\d.eE+-]+)', message).group(1))
    expected = 2 * x_data[1, 2] * ok.data.sum()
    assert numeric == pytest.approx(expected, rel=1e-6)
    assert analytic == pytest.approx(1.5 * expected, rel=1e-6)


def test_gradcheck_catches_a_gradient_corrupted_by_a_hook():
    x = f64([0.5, 1.0, 1.5])

    def fn(a):
        hidden = a * 2.0
        hidden.register_hook(lambda g: g * 3.0)
        return hidden.sum()

    with pytest.raises(tl.GradcheckError, match='input 0'):
        tl.gradcheck(fn, (x,))


def test_gradgradcheck_passes_for_correct_functions():
    rng = np.random.default_rng(8)
    x = f64(rng.standard_normal((2, 3)))
    assert tl.gradgradcheck(lambda a: Square.apply(a), (x,)) is True
    assert tl.gradgradcheck(lambda a: a.tanh() * a.sigmoid(), (x,)) is True
    assert tl.gradgradcheck(lambda a: (a**3).sum(), (x,)) is True
    assert tl.gradgradcheck(lambda a: a.softmax(axis=-1), (x,)) is True
    assert tl.gradgradcheck(lambda a: a * 3.0, (x,)) is True  # second derivative is zero


def test_gradgradcheck_fails_when_backward_detaches_what_it_should_not():
    x = f64([0.5, -1.0, 2.0])
    assert tl.gradcheck(lambda a: DetachedSquare.apply(a), (x,)) is True  # first order is right
    with pytest.raises(tl.GradcheckError, match='input 0'):
        tl.gradgradcheck(lambda a: DetachedSquare.apply(a), (x,))


# ---- attributes ----------------------------------------------------------------------------

def test_data_is_always_an_ndarray():
    x = f64([1.0, 2.0, 3.0])
    results = [
        Value(3.0), Value(np.float64(2.0)), (x * x).sum(), x.mean(), x.max(), x.min(), x[0],
        x[1] * x[2], x.sum() * 2.0, -x.sum(), x.sum().exp(), x.sum() ** 2, (x @ x), x.var(),
        x.logsumexp(), x.sum() > 1.0, tl.grad((x * x).sum(), x)[0].sum(),
    ]
    with tl.no_grad():
        results += [(x * x).sum(), x[0] + 1.0]
    for result in results:
        assert type(result.data) is np.ndarray
    assert (x * x).sum().data.shape == ()


def test_shape_ndim_size_dtype_and_T():
    x = Value(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.dtype == np.float32
    assert x.T.shape == (3, 2)
    np.testing.assert_array_equal(x.T.data, x.data.T)
    s = Value(1.0)
    assert s.shape == () and s.ndim == 0 and s.size == 1


def test_T_is_differentiable():
    x = f64(np.arange(6.0).reshape(2, 3))
    (x.T * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_array_equal(x.grad, np.arange(6.0).reshape(3, 2).T)


def test_name():
    assert Value(1.0, name='w').name == 'w'
    assert Value(1.0).name is None
    x = f64(1.0, name='x')
    assert (x * 2.0).name is None


@pytest.mark.parametrize('make, op', [
    (lambda x, y: x + y, 'add'), (lambda x, y: x - y, 'sub'), (lambda x, y: x * y, 'mul'),
    (lambda x, y: x / y, 'div'), (lambda x, y: x ** y, 'pow'), (lambda x, y: x @ y, 'matmul'),
    (lambda x, y: -x, 'neg'), (lambda x, y: x.exp(), 'exp'), (lambda x, y: x.log(), 'log'),
    (lambda x, y: x.tanh(), 'tanh'), (lambda x, y: x.relu(), 'relu'), (lambda x, y: x.sum(), 'sum'),
    (lambda x, y: x.mean(), 'mean'),
])
def test_op_names(make, op):
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    assert make(x, y).op == op


def test_leaf_op_is_empty():
    assert f64(1.0).op == ''
    assert Value(1.0).op == ''


def test_parents_in_order_constants_excluded():
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    assert x.parents == ()
    product = x * y
    assert product.parents == (x, y) and product.parents[0] is x and product.parents[1] is y
    swapped = y * x
    assert swapped.parents[0] is y and swapped.parents[1] is x
    assert (x * 2.0).parents == (x,)
    assert (2.0 * x).parents[0] is x and len((2.0 * x).parents) == 1
    assert len((np.ones(2) + x).parents) == 1 and (np.ones(2) + x).parents[0] is x
    doubled = x + x
    assert len(doubled.parents) == 2 and all(p is x for p in doubled.parents)
    assert isinstance(product.parents, tuple)
    chosen = tl.where(np.array([True, False]), x, 0.0)
    assert len(chosen.parents) == 1 and chosen.parents[0] is x


def test_item_numpy_len_iteration():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    assert Value(2.5).item() == 2.5 and isinstance(Value(2.5).item(), float)
    assert isinstance(x.numpy(), np.ndarray)
    np.testing.assert_array_equal(x.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    assert len(x) == 2
    rows = list(x)
    assert len(rows) == 2 and all(isinstance(r, Value) and r.shape == (2,) for r in rows)
    np.testing.assert_array_equal(rows[1].data, [3.0, 4.0])
    total = rows[0].sum() * 2.0 + rows[1].sum()
    total.backward()
    np.testing.assert_array_equal(x.grad, [[2.0, 2.0], [1.0, 1.0]])


def test_item_of_a_multi_element_value_raises():
    with pytest.raises(ValueError):
        Value([1.0, 2.0]).item()


def test_len_of_a_scalar_raises():
    with pytest.raises(TypeError):
        len(Value(1.0))
