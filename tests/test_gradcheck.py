"""tl.gradcheck and tl.gradgradcheck themselves, on custom Function ops whose backward is
right, wrong at one element, or detached from the graph (tests/test_gradcheck_ops.py runs
gradcheck over every op)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import Square, WrongSquare, leaf

import tinygrad_ls as tl
from tinygrad_ls import Value
from tinygrad_ls.ops.base import Function
from tinygrad_ls.value import data_of


class DetachedSquare(Function):
    """``x * x`` whose backward uses ``x``'s raw data: first order right, second order zero."""
    name = 'detached_square'

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        return (grad * 2 * data_of(x),)


def test_gradcheck_passes_for_correct_functions():
    rng = np.random.default_rng(5)
    x = leaf(rng.standard_normal((3, 4)))
    w = leaf(rng.standard_normal((4, 2)))
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
    x = leaf(rng.standard_normal((2, 3)))
    y = leaf(rng.standard_normal((2, 3)))
    assert tl.gradcheck(lambda a, b: (a * b).reshape(3, 2, 1), (x, y))
    assert tl.gradcheck(lambda a, b: (a * b, (a - b).sum(axis=0), a.exp().mean()), (x, y))
    assert tl.gradcheck(lambda a: a.sum(), (x,))
    assert tl.gradcheck(lambda a: a[0, 1] * a[1, 2], x)  # a single Value instead of a tuple


def test_gradcheck_reports_input_element_and_both_values():
    rng = np.random.default_rng(7)
    ok = leaf(rng.standard_normal(3))
    x_data = rng.uniform(1.0, 2.0, (2, 3))
    x = leaf(x_data)
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
    x = leaf([0.5, 1.0, 1.5])

    def fn(a):
        hidden = a * 2.0
        hidden.register_hook(lambda g: g * 3.0)
        return hidden.sum()

    with pytest.raises(tl.GradcheckError, match='input 0'):
        tl.gradcheck(fn, (x,))


def test_gradgradcheck_passes_for_correct_functions():
    rng = np.random.default_rng(8)
    x = leaf(rng.standard_normal((2, 3)))
    assert tl.gradgradcheck(lambda a: Square.apply(a), (x,)) is True
    assert tl.gradgradcheck(lambda a: a.tanh() * a.sigmoid(), (x,)) is True
    assert tl.gradgradcheck(lambda a: (a**3).sum(), (x,)) is True
    assert tl.gradgradcheck(lambda a: a.softmax(axis=-1), (x,)) is True
    assert tl.gradgradcheck(lambda a: a * 3.0, (x,)) is True  # second derivative is zero


def test_gradgradcheck_fails_when_backward_detaches_what_it_should_not():
    x = leaf([0.5, -1.0, 2.0])
    assert tl.gradcheck(lambda a: DetachedSquare.apply(a), (x,)) is True  # first order is right
    with pytest.raises(tl.GradcheckError, match='input 0'):
        tl.gradgradcheck(lambda a: DetachedSquare.apply(a), (x,))
