"""Constructing Values, dtypes and their promotion, operand dispatch, comparisons and identity,
creation functions and seeding, and the errors (type, shape, index) API.md promises."""
from __future__ import annotations

import operator

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import Value

pytestmark = pytest.mark.usefixtures('restore_default_dtype')  # every test leaves the default as it found it


# ---- construction and dtypes ---------------------------------------------------------------

def test_default_dtype_is_float32():
    assert tl.get_default_dtype() == np.float32


@pytest.mark.parametrize('data, shape', [
    (3, ()), (2.5, ()), ([1, 2, 3], (3,)), ([1.5, 2.5], (2,)), ([[1, 2], [3, 4]], (2, 2)),
    ([[[0.5]]], (1, 1, 1)), ([], (0,)),
], ids=['int', 'float', 'int-list', 'float-list', 'nested', 'deep', 'empty'])
def test_python_numbers_and_lists_become_float32(data, shape):
    value = Value(data)
    assert value.dtype == np.float32
    assert value.shape == shape
    assert type(value.data) is np.ndarray
    np.testing.assert_array_equal(value.data, np.asarray(data, dtype=np.float32))


def test_set_default_dtype_changes_numbers_and_lists():
    tl.set_default_dtype(np.float64)
    assert tl.get_default_dtype() == np.float64
    assert Value(1).dtype == np.float64
    assert Value(0.1).dtype == np.float64
    assert Value(0.1).item() == 0.1  # no float32 round trip
    assert Value([[1, 2]]).dtype == np.float64
    assert (Value(1.0) * 2.5).dtype == np.float64
    assert tl.zeros(2).dtype == np.float64
    assert tl.randn(2).dtype == np.float64
    # ndarrays still keep their dtype
    assert Value(np.ones(2, dtype=np.float32)).dtype == np.float32
    tl.set_default_dtype(np.float32)
    assert Value(1.0).dtype == np.float32


def test_set_default_dtype_rejects_non_float_dtypes():
    with pytest.raises(TypeError):
        tl.set_default_dtype(np.int64)
    assert tl.get_default_dtype() == np.float32


def test_explicit_dtype_overrides_the_default():
    assert Value(1, dtype=np.float64).dtype == np.float64
    assert Value([1.0, 2.0], dtype=np.float16).dtype == np.float16
    assert Value(np.ones(2, dtype=np.float32), dtype=np.float64).dtype == np.float64


def test_lists_of_bools_become_bool():
    value = Value([True, False, True])
    assert value.dtype == np.bool_
    np.testing.assert_array_equal(value.data, [True, False, True])
    assert Value([[True], [False]]).dtype == np.bool_


@pytest.mark.parametrize('dtype', [np.int8, np.int32, np.int64, np.uint8, np.bool_, np.float16,
                                   np.float32, np.float64])
def test_ndarrays_keep_their_dtype(dtype):
    array = np.ones((2, 3), dtype=dtype)
    value = Value(array)
    assert value.dtype == dtype
    assert value.shape == (2, 3)


def test_numpy_scalars_keep_their_dtype_as_0d_arrays():
    value = Value(np.float64(1.5))
    assert value.dtype == np.float64 and type(value.data) is np.ndarray and value.shape == ()
    assert Value(np.int64(3)).dtype == np.int64


def test_value_of_a_value_does_not_nest():
    inner = Value(np.array([1.0, 2.0], dtype=np.float64), requires_grad=True)
    outer = Value(inner)
    assert type(outer.data) is np.ndarray
    assert outer.dtype == np.float64
    np.testing.assert_array_equal(outer.data, inner.data)
    assert type(Value(Value(Value(3.0))).data) is np.ndarray
    ints = Value(Value(np.array([1, 2])))
    assert ints.dtype == np.array([1, 2]).dtype


def test_requires_grad_flag_on_construction():
    assert Value(1.0, requires_grad=True).requires_grad
    assert not Value(1.0).requires_grad
    assert Value(1.0).grad is None


@pytest.mark.parametrize('data', [
    np.array([1, 2, 3]), np.array([1, 2], dtype=np.int32), np.array([True, False]), [True, False],
    True, np.array([1], dtype=np.uint8),
], ids=['int64', 'int32', 'bool-array', 'bool-list', 'bool', 'uint8'])
def test_requires_grad_on_int_or_bool_data_raises(data):
    with pytest.raises(TypeError):
        Value(data, requires_grad=True)


@pytest.mark.parametrize('data', ['abc', ['a', 'b'], object(), None, {1: 2}, 1 + 2j, [object()]],
                         ids=['str', 'str-list', 'object', 'None', 'dict', 'complex', 'object-list'])
def test_non_numeric_data_raises_type_error(data):
    with pytest.raises(TypeError):
        Value(data)


@pytest.mark.parametrize('data', [[[1, 2], [3]], [1, [2, 3]], [[1.0], [2.0, 3.0]]])
def test_ragged_lists_raise_value_error(data):
    with pytest.raises(ValueError):
        Value(data)


# ---- arithmetic and dtypes -----------------------------------------------------------------

BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]


@pytest.mark.parametrize('dtype', [np.float16, np.float32, np.float64])
@pytest.mark.parametrize('shape', [(), (3,)], ids=['scalar', 'vector'])
@pytest.mark.parametrize('number', [2, 2.5, 1e30], ids=['int', 'float', 'huge'])
@pytest.mark.parametrize('op', BINARY, ids=lambda op: op.__name__)
def test_python_numbers_never_change_the_dtype(op, number, shape, dtype):
    value = Value(np.full(shape, 1.5, dtype=dtype))
    with np.errstate(over='ignore'):
        assert op(value, number).dtype == dtype
        assert op(number, value).dtype == dtype


def test_unary_ops_keep_float32():
    x = Value([0.5, 1.5])
    for result in (-x, x.exp(), x.log(), x.sqrt(), x.tanh(), x.sigmoid(), x.relu(), abs(x),
                   x.clip(0.0, 1.0), x.sum(), x.mean(), x.var(), x.softmax(), x.log_softmax(),
                   x.logsumexp(), x @ x):
        assert result.dtype == np.float32


@pytest.mark.parametrize('op', BINARY + [operator.matmul], ids=lambda op: op.__name__)
def test_float32_with_float64_ndarray_promotes_like_numpy(op):
    value = Value(np.array([1.5, 2.5], dtype=np.float32))
    array = np.array([0.5, 2.0], dtype=np.float64)
    forward, reverse = op(value, array), op(array, value)
    assert isinstance(forward, Value) and isinstance(reverse, Value)
    assert forward.dtype == op(value.data, array).dtype == np.float64
    assert reverse.dtype == op(array, value.data).dtype == np.float64
    np.testing.assert_array_equal(forward.data, op(value.data, array))
    np.testing.assert_array_equal(reverse.data, op(array, value.data))


def test_float32_with_float64_value_promotes():
    a = Value(np.array([1.0], dtype=np.float32))
    b = Value(np.array([1.0], dtype=np.float64))
    assert (a + b).dtype == np.float64
    assert (b * a).dtype == np.float64


@pytest.mark.parametrize('op', BINARY + [operator.matmul], ids=lambda op: op.__name__)
def test_ndarray_on_the_left_dispatches_to_value(op):
    value = Value(np.array([1.0, 2.0]), requires_grad=True)
    result = op(np.array([3.0, 4.0]), value)
    assert isinstance(result, Value)
    assert result.requires_grad
    np.testing.assert_array_equal(result.data, op(np.array([3.0, 4.0]), value.data))


def test_ndarray_matmul_value_is_differentiable():
    value = Value(np.array([[1.0], [2.0]]), requires_grad=True)
    matrix = np.array([[1.0, 2.0], [3.0, 4.0]])
    result = matrix @ value
    assert isinstance(result, Value) and result.shape == (2, 1)
    result.sum().backward()
    np.testing.assert_array_equal(value.grad, matrix.sum(axis=0, keepdims=True).T)


def test_value_has_array_ufunc_none():
    assert Value.__array_ufunc__ is None


@pytest.mark.parametrize('scalar', [np.float64(2.0), np.float32(2.0), np.int64(2)],
                         ids=['float64', 'float32', 'int64'])
@pytest.mark.parametrize('op', BINARY, ids=lambda op: op.__name__)
def test_numpy_scalar_on_the_left_gives_a_value(op, scalar):
    value = Value(np.array([1.5, 2.5], dtype=np.float32))
    result = op(scalar, value)
    assert isinstance(result, Value)
    assert type(result.data) is np.ndarray
    assert result.dtype == op(scalar, value.data).dtype  # NumPy's promotion
    np.testing.assert_allclose(result.data, op(scalar, value.data))


def test_lists_as_operands():
    value = Value([1.0, 2.0])
    np.testing.assert_array_equal((value + [1.0, 1.0]).data, [2.0, 3.0])
    np.testing.assert_array_equal(([1.0, 1.0] - value).data, [0.0, -1.0])


# ---- comparisons and identity --------------------------------------------------------------

@pytest.mark.parametrize('op', [operator.lt, operator.le, operator.gt, operator.ge],
                         ids=lambda op: op.__name__)
@pytest.mark.parametrize('other', [
    1.5, np.array([2.0, 1.0, 0.0]), Value([2.0, 1.0, 0.0]), Value([2.0, 1.0, 0.0], requires_grad=True),
], ids=['number', 'ndarray', 'value', 'value-requiring-grad'])
def test_comparisons_give_bool_values_without_grad(op, other):
    x = Value([0.5, 1.5, 1.0], requires_grad=True)
    other_data = other.data if isinstance(other, Value) else other
    for result, expected in ((op(x, other), op(x.data, other_data)),
                             (op(other, x), op(other_data, x.data))):
        assert isinstance(result, Value)
        assert result.dtype == np.bool_
        assert not result.requires_grad
        assert result.op == ''
        assert type(result.data) is np.ndarray
        np.testing.assert_array_equal(result.data, expected)


def test_comparison_result_cannot_require_grad():
    with pytest.raises(TypeError):
        (Value([1.0]) > 0).requires_grad_()


def test_equality_is_elementwise_and_membership_is_by_identity():
    """``==`` compares elements (as PyTorch); ``in`` on a list finds the same object first, and
    a different Value with more than one element is ambiguous there, as a tensor is."""
    a = Value([1.0, 2.0])
    b = Value([1.0, 2.0])
    np.testing.assert_array_equal((a == b).data, [True, True])
    np.testing.assert_array_equal((a != b).data, [False, False])
    assert a in [a] and a in {a} and b not in {a}
    with pytest.raises(RuntimeError, match='ambiguous'):
        _ = a in [b]


def test_values_are_hashable_and_usable_as_dict_keys():
    a = Value(1.0)
    b = Value(1.0)  # same data, different Value
    table = {a: 'a', b: 'b'}
    assert len(table) == 2
    assert table[a] == 'a' and table[b] == 'b'
    assert len({a, b, a}) == 2
    hidden = a * 2.0
    assert {hidden: 1}[hidden] == 1


# ---- shape errors name the op and both shapes ----------------------------------------------

def _message(info) -> str:
    return str(info.value)


@pytest.mark.parametrize('name, fn', [
    ('add', lambda a, b: a + b), ('mul', lambda a, b: a * b), ('sub', lambda a, b: a - b),
    ('div', lambda a, b: a / b), ('pow', lambda a, b: a ** b),
    ('where', lambda a, b: tl.where(np.array([True, False, True]), a, b)),
    ('maximum', tl.maximum), ('minimum', tl.minimum),
])
def test_broadcasting_errors_name_op_and_shapes(name, fn):
    a = Value(np.ones(3), requires_grad=True)
    b = Value(np.ones(4))
    with pytest.raises(ValueError) as info:
        fn(a, b)
    message = _message(info)
    assert name in message
    assert '(3,)' in message and '(4,)' in message


def test_broadcasting_error_with_ndarray_operand():
    with pytest.raises(ValueError) as info:
        np.ones((2, 3)) + Value(np.ones((4, 5)))
    message = _message(info)
    assert 'add' in message and '(2, 3)' in message and '(4, 5)' in message


def test_matmul_shape_error():
    with pytest.raises(ValueError) as info:
        Value(np.ones((3, 4))) @ Value(np.ones((5, 6)))
    message = _message(info)
    assert 'matmul' in message and '(3, 4)' in message and '(5, 6)' in message


def test_reshape_shape_error():
    with pytest.raises(ValueError) as info:
        Value(np.ones((2, 3))).reshape(4)
    message = _message(info)
    assert 'reshape' in message and '(2, 3)' in message and '(4,)' in message


@pytest.mark.parametrize('fn, name', [(tl.concat, 'concat'), (tl.stack, 'stack')])
def test_concat_and_stack_shape_errors(fn, name):
    with pytest.raises(ValueError) as info:
        fn([Value(np.ones((2, 3))), Value(np.ones((2, 4)))])
    message = _message(info)
    assert name in message and '(2, 3)' in message and '(2, 4)' in message


def test_reduction_axis_error_names_the_op():
    with pytest.raises(ValueError, match='sum'):
        Value(np.ones(3)).sum(axis=2)


@pytest.mark.parametrize('index', [5, -4, (0, 0), [0, 7]], ids=['int', 'negative', 'too-many', 'array'])
def test_index_out_of_range_raises_index_error(index):
    with pytest.raises(IndexError, match='getitem'):
        Value(np.ones(3))[index]


def test_failed_op_leaves_no_graph_behind():
    x = Value(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError):
        x + Value(np.ones(4))
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


@pytest.mark.parametrize('other', ['a', None, object(), {'a': 1}, {1.0}],
                         ids=['str', 'None', 'object', 'dict', 'set'])
@pytest.mark.parametrize('op', BINARY + [operator.matmul], ids=lambda op: op.__name__)
def test_unsupported_operand_types_raise_type_error(op, other):
    value = Value([1.0, 2.0])
    with pytest.raises(TypeError):
        op(value, other)
    with pytest.raises(TypeError):
        op(other, value)


# ---- creation and seeding ------------------------------------------------------------------

@pytest.mark.parametrize('make, fill', [(tl.zeros, 0.0), (tl.ones, 1.0)], ids=['zeros', 'ones'])
def test_zeros_and_ones(make, fill):
    assert make(3).shape == (3,)
    assert make((2, 3)).shape == (2, 3)
    assert make(()).shape == ()
    value = make((2, 3))
    assert value.dtype == np.float32
    assert not value.requires_grad and value.op == ''
    np.testing.assert_array_equal(value.data, np.full((2, 3), fill))
    assert make(2, dtype=np.float64).dtype == np.float64
    assert make(2, dtype=np.dtype(np.float64)).dtype == np.float64  # a dtype object, e.g. x.dtype
    assert make(2, dtype=np.int64).dtype == np.int64
    trained = make((2,), requires_grad=True)
    assert trained.requires_grad and trained.grad is None
    assert make(2, requires_grad=True, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError):
        make(2, requires_grad=True, dtype=np.int64)


@pytest.mark.parametrize('make', [tl.randn, tl.rand], ids=['randn', 'rand'])
def test_randn_and_rand_shapes_and_options(make):
    assert make(2, 3).shape == (2, 3)
    assert make((2, 3)).shape == (2, 3)
    assert make(4).shape == (4,)
    assert make().shape == ()
    value = make(2, 3)
    assert value.dtype == np.float32 and not value.requires_grad
    assert make(2, dtype=np.float64).dtype == np.float64
    assert make(2, dtype=np.dtype(np.float64)).dtype == np.float64
    grad_value = make(2, 3, requires_grad=True)
    assert grad_value.requires_grad
    (grad_value * 2.0).sum().backward()
    np.testing.assert_array_equal(grad_value.grad, np.full((2, 3), 2.0, dtype=np.float32))


def test_rand_is_uniform_on_the_unit_interval():
    tl.manual_seed(0)
    sample = tl.rand(10_000, dtype=np.float64).data
    assert sample.min() >= 0.0 and sample.max() < 1.0
    assert abs(sample.mean() - 0.5) < 0.02


def test_randn_is_standard_normal():
    tl.manual_seed(0)
    sample = tl.randn(10_000, dtype=np.float64).data
    assert abs(sample.mean()) < 0.05
    assert abs(sample.std() - 1.0) < 0.05


@pytest.mark.parametrize('make', [tl.randn, tl.rand], ids=['randn', 'rand'])
def test_manual_seed_makes_draws_reproducible(make):
    tl.manual_seed(123)
    first = make(3, 4).data.copy()
    second = make(3, 4).data.copy()
    tl.manual_seed(123)
    np.testing.assert_array_equal(make(3, 4).data, first)
    np.testing.assert_array_equal(make(3, 4).data, second)
    assert not np.array_equal(first, second)  # successive draws differ
    tl.manual_seed(124)
    assert not np.array_equal(make(3, 4).data, first)  # different seeds differ
