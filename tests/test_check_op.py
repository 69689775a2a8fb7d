"""``tl.testing.check_op``: a correct custom op passes every check; each kind of broken op is
caught by the check meant for it, and the error lists every failed check."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import GradcheckError, Value
from tinygrad_ls.ops.base import Function
from tinygrad_ls.testing import Check, CheckReport, check_op

CHECKS = ['first_derivatives', 'second_derivatives', 'broadcasting', 'edge_shapes', 'float32',
          'no_grad', 'inputs_unchanged', 'grad_shape_dtype', 'repeated_backward']


def _examples(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


class MulAdd(Function):
    """x * y + x: a correct two-input op, written so its backward works on Values too."""
    name = 'muladd'

    def forward(self, x, y):
        return x * y + x

    def backward(self, grad, out, x, y):
        return grad * (y + 1), grad * x


class WrongMul(Function):
    """x * y with an extra factor 2 in dx."""
    name = 'wrongmul'

    def forward(self, x, y):
        return x * y

    def backward(self, grad, out, x, y):
        return grad * y * 2, grad * x


class InPlaceDouble(Function):
    """2x, computed by doubling its input's data in place."""
    name = 'inplace_double'

    def forward(self, x):
        x *= 2
        return x.copy()

    def backward(self, grad, out, x):
        return (grad * 2,)


class UpcastSquare(Function):
    """x^2 computed and returned in float64, whatever the input's dtype."""
    name = 'upcast_square'

    def forward(self, x):
        return x.astype(np.float64) ** 2

    def backward(self, grad, out, x):
        return (grad * x * 2,)


class FlatGradSquare(Function):
    """x^2 whose backward returns a flattened gradient: the wrong shape."""
    name = 'flat_grad_square'

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        return ((grad * x * 2).reshape(-1),)


class NumpySin(Function):
    """sin with a backward in raw NumPy: right once, not differentiable twice."""
    name = 'numpy_sin'

    def forward(self, x):
        return np.sin(x)

    def backward(self, grad, out, x):
        return (grad * np.cos(np.asarray(x)),)


def test_correct_op_passes_every_check_and_the_report_lists_them():
    report = check_op(MulAdd.apply, *_examples((3, 4), (3, 4)))
    assert isinstance(report, CheckReport)
    assert [check.name for check in report.checks] == CHECKS
    assert all(isinstance(check, Check) for check in report.checks)
    assert report.passed and report.failures == [] and report.skipped == []
    assert all(check.passed is True and check.detail for check in report.checks)
    assert report['broadcasting'].passed
    assert '(4,)' in report['broadcasting'].detail   # a leading dim dropped


def test_wrong_backward_fails_and_the_error_lists_every_failed_check():
    with pytest.raises(GradcheckError) as info:
        check_op(WrongMul.apply, *_examples((3, 4), (3, 4)))
    report = info.value.report
    failed = [check.name for check in report.failures]
    assert failed == ['first_derivatives', 'broadcasting', 'edge_shapes']
    message = str(info.value)
    assert '3 of 9 checks failed' in message
    for name in failed:
        assert f'- {name}:' in message
    assert 'input 0' in message and 'analytic' in message and 'numeric' in message
    assert not report.passed
    assert report['first_derivatives'].detail.count('at the ') == 3   # all 3 points fail


def test_in_place_modification_is_caught():
    with pytest.raises(GradcheckError) as info:
        check_op(InPlaceDouble.apply, *_examples((2, 3)))
    check = info.value.report['inputs_unchanged']
    assert check.passed is False and 'input 0 (2, 3)' in check.detail


def test_float32_upcast_is_caught():
    with pytest.raises(GradcheckError) as info:
        check_op(UpcastSquare.apply, *_examples((2, 3)))
    report = info.value.report
    assert [check.name for check in report.failures] == ['float32']
    assert 'output 0 is float64 for float32 inputs' in report['float32'].detail
    assert check_op(UpcastSquare.apply, *_examples((2, 3)), float32=False).passed


def test_float32_imprecision_is_caught():
    class HalfPrecisionExp(Function):
        name = 'half_exp'

        def forward(self, x):
            if x.dtype == np.float32:  # a "fast path" that loses precision
                return np.exp(x.astype(np.float16)).astype(np.float32)
            return np.exp(x)

        def backward(self, grad, out, x):
            return (grad * np.exp(x),)

    with pytest.raises(GradcheckError) as info:
        check_op(HalfPrecisionExp.apply, *_examples((4,)), second_order=False)
    report = info.value.report
    assert [check.name for check in report.failures] == ['float32']
    assert 'output 0 in float32 is far from float64' in report['float32'].detail
    assert 'Mismatched elements' in report['float32'].detail


def test_gradient_of_the_wrong_shape_is_caught():
    with pytest.raises(GradcheckError) as info:
        check_op(FlatGradSquare.apply, *_examples((2, 3)))
    check = info.value.report['grad_shape_dtype']
    assert check.passed is False and '(6,)' in check.detail and '(2, 3)' in check.detail
    assert info.value.report['first_derivatives'].passed is False


def test_recording_under_no_grad_is_caught():
    def leaky(x):
        with tl.enable_grad():
            return x * 2

    with pytest.raises(GradcheckError) as info:
        check_op(leaky, *_examples((3,)))
    report = info.value.report
    assert [check.name for check in report.failures] == ['no_grad']
    assert "op='mul'" in report['no_grad'].detail


def test_stateful_backward_breaks_repeated_backward():
    class Drifting(Function):
        name = 'drifting'
        calls = 0

        def forward(self, x):
            return x * 3

        def backward(self, grad, out, x):
            type(self).calls += 1
            return (grad * (3 + type(self).calls),)

    with pytest.raises(GradcheckError) as info:
        check_op(Drifting.apply, *_examples((3,)), second_order=False)
    assert 'repeated_backward' in [check.name for check in info.value.report.failures]
    assert 'do not give 2x' in info.value.report['repeated_backward'].detail


def test_second_order_flag():
    with pytest.raises(GradcheckError) as info:
        check_op(NumpySin.apply, *_examples((3,)))
    report = info.value.report
    assert [check.name for check in report.failures] == ['second_derivatives']
    assert 'second_order=False' in report['second_derivatives'].detail
    report = check_op(NumpySin.apply, *_examples((3,)), second_order=False)
    assert report['second_derivatives'].passed is None
    assert 'second_order=False' in report['second_derivatives'].detail


def test_broadcasting_and_float32_flags_skip_their_checks():
    report = check_op(MulAdd.apply, *_examples((3, 4), (3, 4)), broadcasting=False, float32=False)
    assert report.passed
    assert {check.name for check in report.skipped} == {'broadcasting', 'float32'}
    assert 'broadcasting=False' in report['broadcasting'].detail


def test_shapes_fn_refuses_are_skipped_with_reasons_not_failed():
    report = check_op(lambda x, w: (x @ w).tanh(), *_examples((3, 4), (4, 2)))
    assert report.passed
    assert 'skipped input 1 (4, 2) -> (2,)' in report['broadcasting'].detail
    assert 'fn refuses them' in report['edge_shapes'].detail        # 0-d matmul
    single = check_op(lambda x: x.softmax(axis=-1), *_examples((2, 3)))
    assert single['broadcasting'].passed is None
    assert single['broadcasting'].detail == 'needs 2 or more float inputs'


def test_every_shape_refused_makes_a_skip():
    def needs_matrix(x, y):
        if x.ndim != 2 or y.shape != x.shape:
            raise ValueError('needs two matrices of one shape')
        return x * y

    report = check_op(needs_matrix, *_examples((2, 3), (2, 3)))
    assert report['broadcasting'].passed is None
    assert 'needs two matrices' in report['broadcasting'].detail
    assert report['edge_shapes'].passed is True            # size-1 (1, 1) inputs are accepted


def test_positive_inputs_stay_positive():
    x = np.random.default_rng(1).uniform(0.5, 2.0, (4,))
    report = check_op(lambda x: x.log() + x.sqrt(), x)
    assert report.passed


def test_non_float_inputs_are_passed_as_given_and_tuple_outputs():
    index = np.array([2, 0])
    report = check_op(lambda x, i, n: (x[i] ** n, x.sin()), *_examples((3,)), index, 3)
    assert report.passed
    assert 'int' in str(report)


def test_report_str_is_a_table():
    report = check_op(lambda x, w: (x @ w).tanh(), *_examples((3, 4), (4, 2)))
    text = str(report)
    lines = text.splitlines()
    assert lines[0].startswith('check_op(<lambda>) on inputs (3, 4) float, (4, 2) float: '
                               '9 passed, 0 failed, 0 skipped')
    assert lines[1].split() == ['check', 'result', 'detail']
    column = lines[1].index('detail')
    for name in CHECKS:
        row = next(line for line in lines if line.strip().startswith(name + ' '))
        assert row[column - 8:column].strip() == 'pass'
    continuation = [line for line in lines[2:] if line.startswith(' ' * column)]
    assert continuation   # multi-line details are indented under the detail column
    assert repr(report).startswith('<CheckReport <lambda>: 9 passed')


def test_custom_op_name_in_report():
    report = check_op(MulAdd.apply, *_examples((2,), (2,)))
    assert str(report).startswith('check_op(MulAdd.apply)')


def test_errors_on_the_examples_propagate_and_no_float_input_is_refused():
    with pytest.raises(ValueError, match='no float input'):
        check_op(lambda n: Value(np.arange(n)), 3)
    with pytest.raises(ValueError):
        check_op(lambda x, y: x @ y, *_examples((3, 4), (3, 4)))


def test_examples_are_not_touched():
    x = np.ones((2, 2), dtype=np.float32)
    v = Value([1.0, 2.0])
    with pytest.raises(GradcheckError):
        check_op(InPlaceDouble.apply, x)
    check_op(lambda a, b: a.sum() * b, v, 2.0)
    assert (x == 1).all() and v.grad is None and not v.requires_grad
