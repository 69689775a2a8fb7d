"""Hooks on Values: what a hook receives, what its return value changes (also under tl.grad
and create_graph=True), removing one."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import Value


def test_hook_on_scalar_receives_an_ndarray():
    x = Value(2.0, requires_grad=True)
    y = x * x
    seen = []
    y.register_hook(seen.append)
    (y * 3.0).backward()
    assert type(seen[0]) is np.ndarray


def test_hook_is_called_with_the_grad():
    x = leaf([1.0, 2.0])
    seen = []
    x.register_hook(lambda g: seen.append(np.array(g)))
    (x * 3.0).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])  # returning None keeps the grad


def test_hook_return_value_lands_in_leaf_grad():
    x = leaf([1.0, 2.0])
    x.register_hook(lambda g: g * 10.0)
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [30.0, 30.0])


def test_hook_handle_remove():
    x = leaf([1.0, 2.0])
    handle = x.register_hook(lambda g: g * 10.0)
    handle.remove()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_hook_on_intermediate_changes_the_leaf_gradient():
    x = leaf([1.0, 2.0])
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
    x = leaf([1.0, 2.0])
    y = x * x
    y.register_hook(lambda g: g * 0.0)
    (grad_x,) = tl.grad((y * 4.0).sum(), x)
    np.testing.assert_array_equal(grad_x.data, [0.0, 0.0])


def test_hook_under_create_graph_receives_a_value_and_its_result_is_differentiated():
    x = leaf([1.0, 2.0])
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
