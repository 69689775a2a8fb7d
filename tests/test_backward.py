"""backward(): micrograd's README expression, accumulation into leaves (never overwrite), the
shape and dtype of every .grad, graphs 100 000 ops deep, and the grad argument of backward."""
from __future__ import annotations

import micrograd_expression
import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import Value

# ---- micrograd's README expression ---------------------------------------------------------

def test_micrograd_readme_expression():
    a, b, g = micrograd_expression.build()
    g.backward()
    assert g.dtype == np.float64
    assert round(g.item(), 4) == 24.7041
    assert round(a.grad.item(), 4) == 138.8338
    assert round(b.grad.item(), 4) == 645.5773


def test_micrograd_expression_matches_tl_grad():
    a, b, g = micrograd_expression.build()
    grad_a, grad_b = tl.grad(g, [a, b])
    assert round(grad_a.item(), 4) == 138.8338
    assert round(grad_b.item(), 4) == 645.5773
    assert a.grad is None and b.grad is None


# ---- accumulation and the shape/dtype of .grad ---------------------------------------------

def test_leaves_accumulate_across_backward_calls():
    x = leaf([1.0, -2.0, 3.0])
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
    x = leaf([1.0, 2.0])
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


def test_reused_node_diamond_gives_exact_grad():
    a = leaf(1.5)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0
    assert b.grad.item() == 2.0


def test_leaf_used_by_two_ops():
    x = leaf([1.0, 2.0, 3.0])
    y = (x * x).sum() + (x.exp()).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + np.exp(x.data))


def test_leaves_receiving_the_same_gradient_array_do_not_share_memory():
    a = leaf([1.0, 2.0, 3.0])
    b = leaf([4.0, 5.0, 6.0])
    c = a + b
    c.backward(np.ones(3))
    assert not np.shares_memory(a.grad, b.grad)
    a.grad *= 10.0  # in place, as clip_grad_norm_ does
    np.testing.assert_array_equal(b.grad, np.ones(3))
    np.testing.assert_array_equal(a.grad, np.full(3, 10.0))


def test_leaf_grads_from_a_sum_broadcast_are_writable_and_separate():
    a = leaf([1.0, 2.0])
    b = leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad[0] = 7.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_leaf_grads_do_not_alias_the_grad_passed_to_backward():
    seed = np.ones(3)
    a = leaf([1.0, 2.0, 3.0])
    b = leaf([4.0, 5.0, 6.0])
    a.backward(seed)
    b.backward(seed)
    assert not np.shares_memory(a.grad, seed)
    assert not np.shares_memory(a.grad, b.grad)


# ---- deep graphs ---------------------------------------------------------------------------

CHAIN_LENGTH = 100_000


def test_backward_through_a_chain_of_100000_ops():
    x = leaf(1.0)
    y = x
    for _ in range(CHAIN_LENGTH // 2):
        y = y * 1.0000001 + 0.0
    y.backward()
    expected = 1.0000001 ** (CHAIN_LENGTH // 2)
    assert x.grad.item() == pytest.approx(expected, rel=1e-12)
    assert y.item() == pytest.approx(expected, rel=1e-12)


def test_tl_grad_through_a_chain_of_100000_additions():
    x = leaf(0.0)
    y = x
    for _ in range(CHAIN_LENGTH):
        y = y + 1e-6
    (grad_x,) = tl.grad(y, x)
    assert grad_x.item() == 1.0
    assert y.item() == pytest.approx(0.1, rel=1e-9)


def test_building_and_dropping_a_deep_chain_does_not_crash():
    x = leaf(1.0)
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
    x = leaf([1.0, 2.0, 3.0])
    (x * 2.0).backward(seed)
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_backward_with_a_number_grad():
    x = leaf(3.0)
    (x * x).backward(0.5)
    assert x.grad.item() == 3.0
    y = leaf([1.0, 2.0])
    (y * 2.0).backward(3.0)  # a number broadcasts to the Value's shape
    np.testing.assert_array_equal(y.grad, [6.0, 6.0])


def test_backward_with_a_value_grad():
    x = leaf([1.0, 2.0])
    (x * x).backward(Value(np.array([1.0, -1.0])))
    np.testing.assert_array_equal(x.grad, [2.0, -4.0])


def test_backward_grad_is_cast_to_the_value_dtype():
    x = Value(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (x * 2.0).backward(np.array([1.0, 1.0], dtype=np.float64))
    assert x.grad.dtype == np.float32


def test_backward_without_grad_on_a_multi_element_value_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r'\(2,\)'):
        (x * 2.0).backward()


def test_backward_without_grad_on_a_one_element_tensor_works():
    x = leaf([[3.0]])
    (x * x).backward()
    np.testing.assert_array_equal(x.grad, [[6.0]])


def test_backward_grad_of_the_wrong_shape_raises_naming_both_shapes():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError) as info:
        (x * 2.0).backward(np.ones((3, 2)))
    assert '(3, 2)' in str(info.value) and '(2, 3)' in str(info.value)
    assert x.grad is None


def test_backward_on_a_value_that_does_not_require_grad_raises():
    x = Value([1.0, 2.0])
    with pytest.raises(RuntimeError):
        x.sum().backward()
    with tl.no_grad():
        y = (leaf([1.0]) * 2.0).sum()
    with pytest.raises(RuntimeError):
        y.backward()


def test_backward_on_a_leaf():
    x = leaf(5.0)
    x.backward()
    x.backward(2.0)
    assert x.grad.item() == 3.0
