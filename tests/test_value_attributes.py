"""The attributes API.md promises on every Value: data always an ndarray, shape/ndim/size/
dtype/T, name, op, parents in order, item/numpy/len/iteration."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import Value


def test_data_is_always_an_ndarray():
    x = leaf([1.0, 2.0, 3.0])
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
    x = leaf(np.arange(6.0).reshape(2, 3))
    (x.T * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_array_equal(x.grad, np.arange(6.0).reshape(3, 2).T)


def test_name():
    assert Value(1.0, name='w').name == 'w'
    assert Value(1.0).name is None
    x = leaf(1.0, name='x')
    assert (x * 2.0).name is None


@pytest.mark.parametrize('make, op', [
    (lambda x, y: x + y, 'add'), (lambda x, y: x - y, 'sub'), (lambda x, y: x * y, 'mul'),
    (lambda x, y: x / y, 'div'), (lambda x, y: x ** y, 'pow'), (lambda x, y: x @ y, 'matmul'),
    (lambda x, y: -x, 'neg'), (lambda x, y: x.exp(), 'exp'), (lambda x, y: x.log(), 'log'),
    (lambda x, y: x.tanh(), 'tanh'), (lambda x, y: x.relu(), 'relu'), (lambda x, y: x.sum(), 'sum'),
    (lambda x, y: x.mean(), 'mean'),
])
def test_op_names(make, op):
    x = leaf([1.0, 2.0])
    y = leaf([3.0, 4.0])
    assert make(x, y).op == op


def test_leaf_op_is_empty():
    assert leaf(1.0).op == ''
    assert Value(1.0).op == ''


def test_parents_in_order_constants_excluded():
    x = leaf([1.0, 2.0])
    y = leaf([3.0, 4.0])
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
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
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
