"""Readable gradcheck failures: each common mistake planted in a deliberately broken custom op
is named ("This looks like: ..."), the worst element is reported, small Jacobians are shown
side by side, and the data is kept on the error (tinygrad_ls/testing/diagnosis.py)."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import Square, WrongSquare, leaf

import tinygrad_ls as tl
from tinygrad_ls.ops.base import Function
from tinygrad_ls.testing.diagnosis import diagnose, failure_report
from tinygrad_ls.value import data_of


class HalfSquare(Function):
    """``x * x`` whose backward forgot the 2: ``grad * x``."""
    name = 'half_square'

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        return (grad * x,)


class TripleCube(Function):
    """``x ** 3`` whose backward has 9 x^2 instead of 3 x^2."""
    name = 'triple_cube'

    def forward(self, x):
        return x ** 3

    def backward(self, grad, out, x):
        return (grad * 9 * x * x,)


class NegatedSin(Function):
    """``sin x`` whose backward has the sign of ``cos`` flipped."""
    name = 'negated_sin'

    def forward(self, x):
        return np.sin(x)

    def backward(self, grad, out, x):
        return (-grad * np.cos(data_of(x)),)


class TransposedMatmul(Function):
    """``a @ b`` whose gradient for ``a`` comes back transposed (right only for symmetric ones)."""
    name = 'transposed_matmul'

    def forward(self, a, b):
        return a @ b

    def backward(self, grad, out, a, b):
        return (grad @ b.T).T, a.T @ grad


class BiasWrongAxis(Function):
    """``x + b`` (``x`` square, ``b`` a row bias) whose bias gradient sums over axis 1, not 0."""
    name = 'bias_wrong_axis'

    def forward(self, x, b):
        return x + b

    def backward(self, grad, out, x, b):
        return grad, grad.sum(axis=1)


class ScaleWrongAxis(Function):
    """``x * s`` (``s`` a row scale) whose scale gradient sums over axis 1, not 0."""
    name = 'scale_wrong_axis'

    def forward(self, x, s):
        return x * s

    def backward(self, grad, out, x, s):
        return grad * s, (grad * x).sum(axis=1)


class BiasMean(Function):
    """``x + b`` whose bias gradient averages over the broadcast rows instead of summing."""
    name = 'bias_mean'

    def forward(self, x, b):
        return x + b

    def backward(self, grad, out, x, b):
        return grad, grad.mean(axis=0)


class BiasFirstRow(Function):
    """``x + b`` (``b`` of shape (1, n)) whose bias gradient takes the first row of ``grad``
    instead of the sum over rows."""
    name = 'bias_first_row'

    def forward(self, x, b):
        return x + b

    def backward(self, grad, out, x, b):
        return grad, grad[:1]


class DroppedInput(Function):
    """``x * y`` whose backward forgets ``y``'s gradient (zeros)."""
    name = 'dropped_input'

    def forward(self, x, y):
        return x * y

    def backward(self, grad, out, x, y):
        return grad * y, grad * 0.0


class DetachedSquare(Function):
    """``x * x`` whose backward uses raw data: right at first order, zero second derivative."""
    name = 'detached_square'

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        return (grad * 2 * data_of(x),)


def failure(fn, *inputs, **options) -> tl.GradcheckError:
    with pytest.raises(tl.GradcheckError) as info:
        tl.gradcheck(fn, inputs, **options)
    return info.value


def normal(*shape, seed=0):
    return leaf(np.random.default_rng(seed).standard_normal(shape))


def test_missing_factor_of_two():
    error = failure(lambda a: HalfSquare.apply(a), normal(2, 3))
    assert error.diagnosis.kind == 'factor'
    assert 'This looks like: a missing factor of 2' in str(error)


def test_general_constant_factor():
    error = failure(lambda a: TripleCube.apply(a).sum(), leaf([0.5, -1.0, 2.0]))
    assert error.diagnosis.kind == 'factor'
    assert 'factor of 3' in str(error)


def test_sign_flipped():
    error = failure(lambda a: NegatedSin.apply(a), normal(4))
    assert error.diagnosis.kind == 'sign'
    assert 'This looks like: a flipped sign' in str(error)


def test_transposed():
    a, b = normal(3, 3, seed=1), normal(3, 3, seed=2)
    error = failure(lambda x, y: TransposedMatmul.apply(x, y), a, b)
    assert error.input_index == 0
    assert error.diagnosis.kind == 'transposed'
    assert 'This looks like: a transposed gradient' in str(error)


@pytest.mark.parametrize('op', [BiasWrongAxis, ScaleWrongAxis])
def test_summed_over_the_wrong_axis(op):
    x, b = normal(3, 3, seed=3), normal(3, seed=4)
    error = failure(lambda u, v: op.apply(u, v), x, b)
    assert error.input_index == 1
    assert error.diagnosis.kind == 'wrong_axis'
    assert 'summed over the wrong axis: over output axis 1 where it should be summed over ' \
           'axis 0' in str(error)


def test_not_reduced_after_broadcasting_mean():
    x, b = normal(4, 3, seed=5), normal(3, seed=6)
    error = failure(lambda u, v: BiasMean.apply(u, v), x, b)
    assert error.input_index == 1
    assert error.diagnosis.kind == 'not_reduced'
    assert 'averaged instead of summed over output axis 0 (analytic = numeric / 4)' in str(error)


def test_not_reduced_after_broadcasting_one_slice():
    x, b = normal(4, 3, seed=7), normal(1, 3, seed=8)
    error = failure(lambda u, v: BiasFirstRow.apply(u, v), x, b)
    assert error.diagnosis.kind == 'not_reduced'
    assert 'only slice 0 of output axis 0' in str(error)


def test_missing_gradient():
    x, y = normal(3, seed=9), normal(3, seed=10)
    error = failure(lambda u, v: DroppedInput.apply(u, v), x, y)
    assert error.input_index == 1
    assert error.diagnosis.kind == 'zero'
    assert 'This looks like: a missing gradient' in str(error)
    assert np.all(error.analytic == 0) and np.allclose(error.numeric, np.diag(x.data))


def test_no_pattern_names_the_worst_element_and_counts_failures():
    x = leaf(np.random.default_rng(11).uniform(1.0, 2.0, (2, 3)))
    error = failure(lambda a: WrongSquare.apply(a), x)
    message = str(error)
    assert error.diagnosis is None and 'This looks like' not in message
    first = message.splitlines()[0]
    assert 'input 0, element (1, 2), output element 5' in first
    assert '1 of 36 Jacobian entries fail, at 1 of 6 input elements' in first
    assert f"analytic {3 * x.data[1, 2]:.8g}" in first


def test_worst_element_is_the_largest_difference():
    class Skewed(Function):
        name = 'skewed'

        def forward(self, x):
            return 2 * x

        def backward(self, grad, out, x):
            return (grad * np.array([2.5, 2.0, 7.0, 2.0]),)  # off by 0.5 and by 5

    error = failure(lambda a: Skewed.apply(a).sum(), leaf([1.0, 2.0, 3.0, 4.0]))
    first = str(error).splitlines()[0]
    assert 'element (2,)' in first and 'analytic 7' in first and 'numeric 2' in first
    assert '2 of 4 Jacobian entries fail' in first


def test_side_by_side_table_for_small_jacobians_only():
    small = str(failure(lambda a: HalfSquare.apply(a), normal(2, 2)))
    lines = small.splitlines()
    assert 'analytic' in lines[1] and '| numeric' in lines[1]
    assert '(0,0)' in lines[2] and lines[2].count('(1,1)') == 2
    assert any(line.startswith('out 3') and '|' in line for line in lines)
    assert 'analytic - numeric' in small and '*' in small
    large = str(failure(lambda a: HalfSquare.apply(a), normal(4, 4)))  # a 16 x 16 Jacobian
    assert '| numeric' not in large and 'analytic - numeric' not in large
    assert 'This looks like: a missing factor of 2' in large


def test_error_keeps_the_jacobians():
    x = normal(3, seed=12)
    error = failure(lambda a: HalfSquare.apply(a), x)
    assert error.input_index == 0
    np.testing.assert_allclose(error.numeric, np.diag(2 * x.data), atol=1e-6)
    np.testing.assert_allclose(error.analytic, np.diag(x.data))
    assert error.figure is None


def test_correct_ops_still_pass():
    x, b = normal(3, 3, seed=13), normal(3, seed=14)
    assert tl.gradcheck(lambda a: Square.apply(a), (x,)) is True
    assert tl.gradcheck(lambda u, v: (u + v).tanh(), (x, b)) is True
    assert tl.gradgradcheck(lambda a: Square.apply(a), (x,)) is True


def test_gradgradcheck_failures_are_diagnosed():
    with pytest.raises(tl.GradcheckError) as info:
        tl.gradgradcheck(lambda a: DetachedSquare.apply(a), (leaf([0.5, -1.0, 2.0]),))
    assert info.value.diagnosis.kind == 'zero'
    assert 'input 0' in str(info.value) and 'This looks like: a missing gradient' in str(info.value)


def test_plot_gives_a_figure_and_saves_it(tmp_path):
    pytest.importorskip('matplotlib')
    from matplotlib.figure import Figure

    error = failure(lambda a: HalfSquare.apply(a), normal(2, 3), plot=True)
    assert isinstance(error.figure, Figure)
    path = tmp_path / 'difference.png'
    error = failure(lambda a: HalfSquare.apply(a), normal(2, 3), plot=path)
    assert isinstance(error.figure, Figure)
    assert path.read_bytes().startswith(b'\x89PNG')
    with pytest.raises(tl.GradcheckError) as info:
        tl.gradgradcheck(lambda a: DetachedSquare.apply(a), (leaf([0.5, 1.0]),), plot=True)
    assert isinstance(info.value.figure, Figure)


def test_diagnose_directly_needs_a_numeric_justification():
    numeric = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert diagnose(-numeric, numeric, (2,), (2,), 1e-5, 1e-3).kind == 'sign'
    assert diagnose(0.5 * numeric, numeric, (2,), (2,), 1e-5, 1e-3).kind == 'factor'
    noisy = 0.5 * numeric + np.array([[0.0, 0.01], [0.0, 0.0]])
    assert diagnose(noisy, numeric, (2,), (2,), 1e-5, 1e-3) is None
    message, found, worst = failure_report(noisy, numeric, input_index=0, input_name='w',
                                           input_shape=(2,), output_shape=(2,), atol=1e-5,
                                           rtol=1e-3)
    assert message.startswith('gradcheck: input 0 (w), element (1,), output element 1')
    assert found is None and worst == (1, 1)


class UntransposedWeight(Function):
    """``x @ W`` whose backward for ``x`` uses ``W`` where ``W.T`` belongs (runs for square W)."""
    name = 'untransposed_weight'

    def forward(self, x, w):
        return x @ w

    def backward(self, grad, out, x, w):
        return grad @ w, x.T @ grad


class UntransposedLeft(Function):
    """``A @ x`` whose backward for ``x`` uses ``A`` where ``A.T`` belongs."""
    name = 'untransposed_left'

    def forward(self, a, x):
        return a @ x

    def backward(self, grad, out, a, x):
        return grad @ x.T, a @ grad


@pytest.mark.parametrize('op, shapes, index, operand', [
    (UntransposedWeight, ((4, 3), (3, 3)), 0, 'W.T'),
    (UntransposedLeft, ((3, 3), (3, 2)), 1, 'A.T')])
def test_a_matmul_backward_with_the_untransposed_operand_is_diagnosed(op, shapes, index, operand):
    inputs = [normal(*shape, seed=i + 7) for i, shape in enumerate(shapes)]
    error = failure(lambda u, v: op.apply(u, v), *inputs)
    assert error.input_index == index
    assert error.diagnosis.kind == 'transposed'
    assert 'This looks like: a transposed gradient: the backward of a matrix product' in str(error)
    assert f'({operand})' in str(error)


def test_check_op_says_transposed_for_a_matmul_backward_with_w():
    x, w = normal(4, 3, seed=11), normal(3, 3, seed=12)
    with pytest.raises(tl.GradcheckError) as caught:
        tl.testing.check_op(UntransposedWeight.apply, x, w)
    first = caught.value.report['first_derivatives']
    assert first.passed is False and 'This looks like: a transposed gradient' in first.detail
