"""tl.grad and higher derivatives: gradients returned as Values without touching .grad,
grad of grad with create_graph=True, Hessian-vector products, gradient penalties."""
from __future__ import annotations

import micrograd_expression
import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import Value


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


# ---- tl.grad --------------------------------------------------------------------------------

def test_tl_grad_returns_a_tuple_of_values_and_touches_no_grad():
    x = leaf([1.0, 2.0])
    w = leaf([3.0, 4.0])
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
    x = leaf(2.0)
    result = tl.grad(x * x, x)
    assert isinstance(result, tuple) and len(result) == 1
    assert result[0].item() == 4.0


def test_tl_grad_gives_zeros_for_an_unused_input():
    x = leaf([1.0, 2.0])
    unused = Value(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    grad_x, grad_unused = tl.grad((x * x).sum(), [x, unused])
    np.testing.assert_array_equal(grad_x.data, [2.0, 4.0])
    assert grad_unused.shape == (2, 2) and grad_unused.dtype == np.float32
    np.testing.assert_array_equal(grad_unused.data, np.zeros((2, 2)))


def test_tl_grad_equals_backward():
    rng = np.random.default_rng(1)
    x = leaf(rng.standard_normal((4, 3)))
    w = leaf(rng.standard_normal((3, 2)))
    b = leaf(rng.standard_normal(2))
    loss = ((x @ w + b).tanh() ** 2).mean()
    grads = tl.grad(loss, [x, w, b])
    loss.backward()
    for value, g in zip((x, w, b), grads, strict=True):
        np.testing.assert_array_equal(g.data, value.grad)


def test_tl_grad_of_several_outputs_sums_their_gradients():
    x = leaf([1.0, 2.0])
    first = (x * x).sum()
    second = (x * 3.0).sum()
    (grad_x,) = tl.grad([first, second], [x])
    np.testing.assert_array_equal(grad_x.data, 2 * x.data + 3.0)
    (grad_x,) = tl.grad([x * x, x * 3.0], x, grad_outputs=[np.ones(2), np.array([1.0, -1.0])])
    np.testing.assert_array_equal(grad_x.data, 2 * x.data + np.array([3.0, -3.0]))


def test_tl_grad_with_respect_to_an_intermediate_node():
    x = leaf([1.0, 2.0])
    hidden = x * 3.0
    out = (hidden * hidden).sum()
    grad_hidden, grad_x = tl.grad(out, [hidden, x])
    np.testing.assert_array_equal(grad_hidden.data, 2 * hidden.data)
    np.testing.assert_array_equal(grad_x.data, 6 * hidden.data)
    assert hidden.grad is None and x.grad is None


def test_tl_grad_of_a_value_with_respect_to_itself():
    x = leaf([[1.0, 2.0]])
    (grad_x,) = tl.grad(x, x, grad_outputs=np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(grad_x.data, [[3.0, 4.0]])


def test_tl_grad_with_grad_outputs():
    x = leaf([1.0, 2.0, 3.0])
    v = np.array([1.0, 0.5, -1.0])
    (grad_x,) = tl.grad(x * x, x, grad_outputs=v)
    np.testing.assert_array_equal(grad_x.data, 2 * x.data * v)


def test_tl_grad_result_does_not_alias_later_backward():
    x = leaf([1.0, 2.0])
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
    np.testing.assert_allclose(second_derivative(fn, leaf(points)), expected(points), rtol=1e-10, atol=1e-12)


def test_second_derivative_leaves_grad_untouched():
    x = leaf([0.5, 1.0])
    second_derivative(lambda v: v**3, x)
    assert x.grad is None


def test_softmax_hessian_vector_product_matches_finite_differences():
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal(5)
    weights = rng.standard_normal(5)
    v = rng.standard_normal(5)

    def first_gradient(x_data: np.ndarray, create_graph: bool = False):
        x = leaf(x_data)
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
    x = leaf(rng.standard_normal(4))
    quadratic = 0.5 * (x @ (a @ x))
    (g,) = tl.grad(quadratic, x, create_graph=True)
    np.testing.assert_allclose(g.data, 0.5 * (a + a.T) @ x.data, rtol=1e-12)
    (hvp,) = tl.grad((g * v).sum(), x)
    np.testing.assert_allclose(hvp.data, 0.5 * (a + a.T) @ v, rtol=1e-12)


def test_hessian_vector_product_with_grad_outputs_value():
    x = leaf([1.0, 2.0])
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
    x = leaf(X_POINTS)
    (first,) = tl.grad(fn(x).sum(), x, create_graph=True)
    (second,) = tl.grad(first.sum(), x, create_graph=True)
    (third,) = tl.grad(second.sum(), x)
    np.testing.assert_allclose(third.data, expected(X_POINTS), rtol=1e-10)
    assert x.grad is None


def test_gradient_penalty_fills_parameter_grads():
    rng = np.random.default_rng(4)
    x_data = rng.standard_normal((3, 2))
    w_data = rng.standard_normal(2)
    x = leaf(x_data)
    w = leaf(w_data)
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
    a, b, g = micrograd_expression.build()
    (dg_da,) = tl.grad(g, a, create_graph=True)
    (d2g_da2,) = tl.grad(dg_da, a)

    def dg_da_at(value: float) -> float:
        a2, _, g2 = micrograd_expression.build(a_value=value)
        return tl.grad(g2, a2)[0].item()

    eps = 1e-5
    numeric = (dg_da_at(-4.0 + eps) - dg_da_at(-4.0 - eps)) / (2 * eps)
    assert d2g_da2.item() == pytest.approx(numeric, rel=1e-6)
