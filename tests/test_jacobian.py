"""``tl.jacobian`` and ``tl.hessian``: closed forms, finite differences and
``torch.autograd.functional`` as oracles, for every argument form and output shape."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import Value

rng = np.random.default_rng(11)


def test_jacobian_of_a_linear_map_is_the_matrix():
    A = rng.standard_normal((3, 4))
    J = tl.jacobian(lambda x: x @ A.T, Value(rng.standard_normal(4)))
    assert isinstance(J, Value) and J.shape == (3, 4)
    np.testing.assert_allclose(J.data, A)


def test_jacobian_of_elementwise_is_diagonal_and_shapes_concatenate():
    x = rng.uniform(0.5, 1.5, (2, 3))
    J = tl.jacobian(lambda v: v.log(), Value(x))
    assert J.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(J.data.reshape(6, 6), np.diag(1 / x.ravel()))


def test_jacobian_forms_tuple_inputs_and_outputs():
    a, b = Value(rng.standard_normal(3)), Value(rng.standard_normal(2))
    J = tl.jacobian(lambda u, v: (u * 2, u.sum() * v), (a, b))
    assert isinstance(J, tuple) and len(J) == 2 and all(isinstance(row, tuple) and len(row) == 2 for row in J)
    assert [[block.shape for block in row] for row in J] == [[(3, 3), (3, 2)], [(2, 3), (2, 2)]]
    np.testing.assert_allclose(J[0][0].data, 2 * np.eye(3))
    np.testing.assert_allclose(J[0][1].data, 0.0)
    np.testing.assert_allclose(J[1][0].data, np.outer(b.data, np.ones(3)))
    np.testing.assert_allclose(J[1][1].data, a.data.sum() * np.eye(2))
    single_in_tuple = tl.jacobian(lambda u: u * 3, (a,))
    assert isinstance(single_in_tuple, tuple) and single_in_tuple[0].shape == (3, 3)


def test_jacobian_matches_finite_differences():
    x = rng.standard_normal((2, 2))
    fn = lambda v: (v @ v).tanh().sum(axis=0)  # noqa: E731
    J = tl.jacobian(fn, Value(x)).data
    eps, numeric = 1e-6, np.zeros((2, 2, 2))
    for index in np.ndindex(2, 2):
        step = np.zeros_like(x)
        step[index] = eps
        numeric[(slice(None),) + index] = (fn(Value(x + step)).data - fn(Value(x - step)).data) / (2 * eps)
    np.testing.assert_allclose(J, numeric, rtol=1e-6, atol=1e-9)


def test_jacobian_does_not_touch_the_inputs_and_create_graph_keeps_them_connected():
    x = Value(np.array([1.0, 2.0]), requires_grad=True)
    J = tl.jacobian(lambda v: v ** 3, x)
    assert not J.requires_grad and x.grad is None
    J = tl.jacobian(lambda v: v ** 3, x, create_graph=True)
    assert J.requires_grad
    J.sum().backward()  # d/dx sum(diag(3 x^2)) = 6x
    np.testing.assert_allclose(x.grad, [6.0, 12.0])


def test_hessian_closed_forms():
    A = rng.standard_normal((3, 3))
    x = Value(rng.standard_normal(3))
    H = tl.hessian(lambda v: v @ (A @ v), x)  # x^T A x: H = A + A^T
    assert H.shape == (3, 3)
    np.testing.assert_allclose(H.data, A + A.T, atol=1e-12)
    H = tl.hessian(lambda v: (v ** 3).sum(), Value(np.array([[1.0, 2.0]])))
    assert H.shape == (1, 2, 1, 2)
    np.testing.assert_allclose(H.data.reshape(2, 2), np.diag([6.0, 12.0]))
    blocks = tl.hessian(lambda u, v: (u * v).sum() + (u ** 2).sum(), (Value([1.0, 2.0]), Value([3.0, 4.0])))
    np.testing.assert_allclose(blocks[0][0].data, 2 * np.eye(2))
    np.testing.assert_allclose(blocks[0][1].data, np.eye(2))
    np.testing.assert_allclose(blocks[1][1].data, 0.0)


def test_hessian_refuses_a_non_scalar_function_and_jacobian_int_inputs():
    with pytest.raises(ValueError, match='hessian: fn must return a single-element Value'):
        tl.hessian(lambda v: v * 2, Value([1.0, 2.0]))
    with pytest.raises(TypeError, match='jacobian: input 0 must be a floating-point'):
        tl.jacobian(lambda v: v, Value(np.arange(3)))


@pytest.mark.torch
def test_matches_torch_autograd_functional(torch):
    from torch.autograd import functional as F
    x, y = rng.standard_normal((2, 3)), rng.standard_normal(3)
    fn = lambda a, b: ((a * b).sin().sum(axis=0) * b, (a ** 2).sum())  # noqa: E731
    ours = tl.jacobian(fn, (Value(x), Value(y)))
    theirs = F.jacobian(lambda a, b: ((a * b).sin().sum(dim=0) * b, (a ** 2).sum()),
                        (torch.tensor(x), torch.tensor(y)))
    for our_row, their_row in zip(ours, theirs):
        for block, expected in zip(our_row, their_row):
            np.testing.assert_allclose(block.data, expected.numpy(), rtol=1e-12, atol=1e-14)
    scalar = lambda a: (a.exp() * a).sum() + (a[0] * a[1]).sin()  # noqa: E731
    ours = tl.hessian(scalar, Value(y))
    theirs = F.hessian(scalar, torch.tensor(y))
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12, atol=1e-14)


def test_jacobian_rows_is_the_loop_of_jacobian_and_gradcheck():
    from tinygrad_ls.derivatives import jacobian_rows
    x = tl.Value(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * x
    rows = [gradients[0].data for gradients in jacobian_rows(y, [x])]
    np.testing.assert_array_equal(np.stack(rows), np.diag([2.0, 4.0, 6.0]))
    np.testing.assert_array_equal(tl.jacobian(lambda v: v * v, x).data, np.stack(rows))
