"""What ``Function.apply`` and ``tl.grad`` accept as arguments, in every mode: constants given
as lists, errors raised inside an op, and the forms of ``grad_outputs``."""
from __future__ import annotations

import traceback

import numpy as np
import pytest
from helpers import leaf, normal

import tinygrad_ls as tl
from tinygrad_ls import Value
from tinygrad_ls.ops.base import Function

rng = np.random.default_rng(7)


# ---- constants given as lists: second derivatives see converted arrays, as the first pass does
LIST_CONSTANT_CASES = {
    'x @ list': (lambda x: x @ [[1.0, 2.0], [3.0, 4.0]], (3, 2)),
    'list @ x': (lambda x: [[1.0, 2.0]] @ x, (2, 3)),
    'x ** list': (lambda x: x ** [2.0, 3.0], (4, 2)),
    'list ** x': (lambda x: [2.0, 3.0] ** x, (2,)),
    'x * nested list': (lambda x: x * [[1.5], [-2.0]], (2, 3)),
    'x / list': (lambda x: x / [2.0, 4.0, 8.0], (3,)),
}


@pytest.mark.parametrize('name', LIST_CONSTANT_CASES)
def test_list_constants_work_with_create_graph(name):
    fn, shape = LIST_CONSTANT_CASES[name]
    x = Value(np.abs(rng.standard_normal(shape)) + 0.5, requires_grad=True)
    # The oracle: the same constant as the ndarray a list becomes (the default float dtype).
    as_array = lambda v: np.asarray(v, dtype=tl.get_default_dtype())  # noqa: E731
    (first,) = tl.grad((fn(x) ** 2).sum(), x, create_graph=True)
    (second,) = tl.grad(first.sum(), x)
    # The same function with an ndarray constant, where create_graph always worked:
    array_fn = {
        'x @ list': lambda v: v @ as_array([[1.0, 2.0], [3.0, 4.0]]),
        'list @ x': lambda v: as_array([[1.0, 2.0]]) @ v,
        'x ** list': lambda v: v ** as_array([2.0, 3.0]),
        'list ** x': lambda v: as_array([2.0, 3.0]) ** v,
        'x * nested list': lambda v: v * as_array([[1.5], [-2.0]]),
        'x / list': lambda v: v / as_array([2.0, 4.0, 8.0]),
    }[name]
    (first_ref,) = tl.grad((array_fn(x) ** 2).sum(), x, create_graph=True)
    (second_ref,) = tl.grad(first_ref.sum(), x)
    np.testing.assert_allclose(first.data, first_ref.data, rtol=1e-12)
    np.testing.assert_allclose(second.data, second_ref.data, rtol=1e-12)
    assert tl.gradgradcheck(lambda v: (fn(v) ** 2).sum(), x)


def test_matmul_with_a_list_constant_second_derivative_closed_form():
    """f(x) = (x @ A).sum()**2, with A given as a list: grad = 2 s A.sum(1), s = (x @ A).sum();
    the Hessian is 2 a a^T with a = A.sum(1)."""
    x = Value(np.array([1.0, 2.0]), requires_grad=True)
    A = [[1.0, 2.0], [3.0, 4.0]]
    a = np.asarray(A).sum(axis=1)
    (g,) = tl.grad((x @ A).sum() ** 2, x, create_graph=True)
    np.testing.assert_allclose(g.data, 2 * (x.data @ a) * a)
    hessian_rows = [tl.grad(g[i], x)[0].data for i in range(2)]
    np.testing.assert_allclose(np.stack(hessian_rows), 2 * np.outer(a, a))


def test_create_graph_backward_gets_the_converted_constants():
    """A list constant reaches a create_graph backward as the array forward saw."""
    seen = []

    class Spy(Function):
        name = 'spy'

        def forward(self, x, c):
            return x * c

        def backward(self, grad, out, x, c):
            seen.append(type(c))
            return grad * c, None

    x = leaf(normal(rng, (2,)))
    y = Spy.apply(x, [2.0, 3.0])
    assert y.parents == (x,)
    tl.grad(y.sum(), x, create_graph=True)
    tl.grad(y.sum(), x)
    assert seen == [np.ndarray, np.ndarray]


def test_apply_builds_its_results_as_value_wrap_does():
    """``Function.apply`` inlines ``Value._wrap``: the two must set the same slots alike."""
    x = leaf(normal(rng, (3,)))
    recorded, plain = x * 2, Value(np.ones(3)) * 2
    for made, wrapped in ((recorded, Value._wrap(recorded.data, recorded._fn)),
                          (plain, Value._wrap(plain.data))):
        for slot in ('data', 'grad', 'name', '_hooks', 'requires_grad', '_fn'):
            assert getattr(made, slot) is getattr(wrapped, slot), slot
        for slot in ('_edits', '_edited_at'):
            assert not hasattr(made, slot) and not hasattr(wrapped, slot)


def test_numbers_stay_numbers_in_recorded_inputs():
    """Python numbers are kept weakly typed (they never change a dtype), in both passes."""
    x = Value(np.ones(3, dtype=np.float32), requires_grad=True)
    y = x * 2.0
    assert y._fn.inputs[1] == 2.0 and isinstance(y._fn.inputs[1], float)
    (g,) = tl.grad((y * y).sum(), x, create_graph=True)
    assert g.dtype == np.float32


# ---- an error inside an op keeps the clear message and the original traceback -------------------
class Exploding(Function):
    name = 'exploding'

    def forward(self, x):
        return np.reshape(x, (7, 7))  # the line that fails: a bug in a new op

    def backward(self, grad, out, x):
        return (grad,)


def test_error_inside_forward_names_the_op_and_chains_the_original():
    x = leaf(normal(rng, (3,)))
    with pytest.raises(ValueError) as info:
        Exploding.apply(x)
    assert 'exploding' in str(info.value) and '(3,)' in str(info.value)
    cause = info.value.__cause__
    assert isinstance(cause, ValueError), 'the original error is chained (raise ... from error)'
    frames = traceback.extract_tb(cause.__traceback__)
    assert any(frame.name == 'forward' and 'np.reshape' in frame.line for frame in frames)
    shown = ''.join(traceback.format_exception(info.value))
    assert 'np.reshape(x, (7, 7))' in shown, 'the failing line shows in the printed traceback'


# ---- grad_outputs: one gradient for one output, in any form -------------------------------------
@pytest.mark.parametrize('seed', [np.float32(1), np.float64(1), np.int64(1), 1, 1.0,
                                  np.array(1.0), Value(1.0)], ids=repr)
def test_grad_accepts_a_single_number_or_array_for_a_single_output(seed):
    x = Value(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = tl.grad((x * x).sum(), x, grad_outputs=seed)
    np.testing.assert_allclose(g.data, [2.0, 4.0])


def test_grad_accepts_a_single_array_for_a_tensor_output():
    x = Value(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = tl.grad(x * x, x, grad_outputs=np.array([1.0, 10.0], dtype=np.float32))
    np.testing.assert_allclose(g.data, [2.0, 40.0])
    (g,) = tl.grad(x * x, x, grad_outputs=np.float32(3))  # a scalar seed broadcasts, as backward's
    np.testing.assert_allclose(g.data, [6.0, 12.0])


def test_grad_takes_a_sequence_for_several_outputs_and_names_a_length_mismatch():
    x = Value(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = tl.grad([x.sum(), (x * x).sum()], x, grad_outputs=[np.float32(1), 2.0])
    np.testing.assert_allclose(g.data, [1 + 4.0, 1 + 8.0])
    with pytest.raises(ValueError, match='2 outputs but 1 grad_outputs'):
        tl.grad([x.sum(), (x * x).sum()], x, grad_outputs=np.float32(1))


def test_check_int_and_is_int():
    """One rule for "an int but not a bool" (``tinygrad_ls/checks.py``), used by every argument check."""
    from tinygrad_ls.checks import check_int, is_int
    assert is_int(3) and is_int(np.int64(3)) and is_int(np.uint8(0))
    assert not any(is_int(v) for v in (True, np.bool_(True), 3.0, '3', None, np.array(3)))
    assert check_int('f', 'n', np.int32(4), minimum=1) == 4 and type(check_int('f', 'n', np.int32(4))) is int
    with pytest.raises(TypeError, match=r"f: n must be an int, got True"):
        check_int('f', 'n', True)
    with pytest.raises(ValueError, match=r"f: n must be an int >= 1, got 0"):
        check_int('f', 'n', 0, minimum=1)
    with pytest.raises(TypeError, match='Flatten: start_dim must be an int, got True'):
        tl.nn.Flatten(start_dim=True)
