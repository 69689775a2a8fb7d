"""In-place updates (``+=``, ``add_`` …, ``v[idx] = x``), their rules in and out of no_grad, the
version counter that refuses stale saved data at backward, and parameter assignment on Modules.
PyTorch is the oracle where it is installed."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import Value, nn, optim


def leaf(data, dtype=np.float64):
    return Value(np.array(data, dtype=dtype), requires_grad=True)


# ---- in place, under no_grad: only the numbers change -----------------------------------------
IN_PLACE = {
    '+=': (lambda v, x: v.__iadd__(x), np.add),
    '-=': (lambda v, x: v.__isub__(x), np.subtract),
    '*=': (lambda v, x: v.__imul__(x), np.multiply),
    '/=': (lambda v, x: v.__itruediv__(x), np.true_divide),
    'add_': (lambda v, x: v.add_(x), np.add),
    'sub_': (lambda v, x: v.sub_(x), np.subtract),
    'mul_': (lambda v, x: v.mul_(x), np.multiply),
    'div_': (lambda v, x: v.div_(x), np.true_divide),
}


@pytest.mark.parametrize('name', IN_PLACE)
@pytest.mark.parametrize('operand', [2.0, np.array([1.0, 2.0, 4.0]), [0.5, 1.0, 2.0], 'value'],
                         ids=['number', 'array', 'list', 'value'])
def test_in_place_under_no_grad_changes_the_data_and_keeps_the_leaf(name, operand):
    update, oracle = IN_PLACE[name]
    v = leaf([1.0, 2.0, 3.0])
    operand = Value([3.0, 2.0, 1.0], dtype=np.float64) if isinstance(operand, str) else operand
    before, data = v.data.copy(), v.data
    with tl.no_grad():
        result = update(v, operand)
    assert result is v and v.data is data, 'the same Value and the same array'
    np.testing.assert_allclose(v.data, oracle(before, np.asarray(tl.Value(operand).data, dtype=np.float64)))
    assert v.is_leaf and v.requires_grad and v.grad is None and v._version == 1


def test_python_augmented_assignment_keeps_the_object():
    w = leaf([1.0, 2.0])
    alias = w
    with tl.no_grad():
        w -= 0.5
        w *= 2
    assert w is alias and w._version == 2
    np.testing.assert_allclose(alias.data, [1.0, 3.0])


def test_zero_fill_copy_clamp_and_setitem():
    v = leaf([-2.0, 0.5, 3.0])
    with tl.no_grad():
        assert v.clamp_(-1.0, 1.0) is v
        np.testing.assert_allclose(v.data, [-1.0, 0.5, 1.0])
        v[0] = 7.0
        v[v < 1] = 0.0
        np.testing.assert_allclose(v.data, [7.0, 0.0, 1.0])
        v.copy_([1, 2, 3])
        np.testing.assert_allclose(v.data, [1.0, 2.0, 3.0])
        v.fill_(4.0)
        np.testing.assert_allclose(v.data, [4.0, 4.0, 4.0])
        v.zero_()
    np.testing.assert_allclose(v.data, 0.0)
    assert v._version == 6 and v.is_leaf


def test_add_and_sub_take_alpha_as_torch():
    v = Value(np.array([1.0, 2.0]))
    v.add_(np.array([1.0, 1.0]), alpha=3)
    v.sub_(1.0, alpha=0.5)
    np.testing.assert_allclose(v.data, [3.5, 4.5])


def test_values_that_need_no_grad_update_in_place_with_grad_mode_on():
    counts = Value(np.zeros(3))
    counts += 1
    counts[1] = 5
    np.testing.assert_allclose(counts.data, [1.0, 5.0, 1.0])
    assert not counts.requires_grad and counts._version == 2


# ---- with grad mode on: the rules -----------------------------------------------------------------
def test_a_leaf_that_requires_grad_refuses_in_place_updates_with_grad_mode_on():
    w = leaf([1.0, 2.0])
    for update in (lambda: w.__isub__(0.1), lambda: w.add_(1), lambda: w.zero_(),
                   lambda: w.__setitem__(0, 1.0), lambda: w.copy_([0.0, 0.0])):
        with pytest.raises(RuntimeError, match=r'leaf Value that requires grad .*no_grad'):
            update()
    np.testing.assert_allclose(w.data, [1.0, 2.0])
    assert w._version == 0


def test_a_recorded_value_refuses_in_place_updates_pointing_at_the_out_of_place_form():
    x = leaf([1.0, 2.0])
    h = x * 2
    with pytest.raises(RuntimeError, match=r"made by 'mul'.*out-of-place form"):
        h += 1
    np.testing.assert_allclose(h.data, [2.0, 4.0])


def test_an_operand_that_requires_grad_cannot_flow_into_a_plain_value():
    buffer = Value(np.zeros(2))
    with pytest.raises(RuntimeError, match='operand .* requires grad'):
        buffer += leaf([1.0, 1.0])
    assert buffer._version == 0


def test_bad_in_place_operands_name_the_op_and_shapes_and_change_nothing():
    v = Value(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r'add_: .*shape \(2, 3\).*operand: shape \(4,\)'):
        v += np.ones(4)
    with pytest.raises(ValueError, match='add_'):
        v += np.ones((5, 2, 3))  # would grow the Value
    ints = Value(np.array([1, 2]))
    with pytest.raises(TypeError, match='div_'):
        ints /= 2  # a float result cannot land in int data (as torch)
    np.testing.assert_allclose(v.data, 1.0)
    np.testing.assert_array_equal(ints.data, [1, 2])
    assert v._version == 0 and ints._version == 0


def test_read_only_data_is_refused():
    v = Value(np.broadcast_to(np.ones(3), (2, 3)))
    with pytest.raises(ValueError, match='read-only'):
        v.zero_()


# ---- the version counter ---------------------------------------------------------------------
def test_backward_refuses_an_input_modified_after_it_was_saved():
    """The stale gradient [20, 40] for d(sum(x*x))/dx at [1, 2] is refused, not returned."""
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    with tl.no_grad():
        x *= 10
    stale = r"input of 'mul' \(shape \(2,\)\).*modified by an in-place operation"
    with pytest.raises(RuntimeError, match=stale):
        y.backward()
    assert x.grad is None


def test_backward_refuses_a_saved_output_modified_in_place():
    x = leaf([0.5, 1.0])
    y = x.exp()
    with tl.no_grad():
        y += 1
    with pytest.raises(RuntimeError, match=r"output of 'exp'.*modified by an in-place operation"):
        y.sum().backward()


def test_ops_that_save_nothing_accept_later_updates_as_torch():
    x = leaf([1.0, 2.0])
    y = (x + 3.0).sum()
    with tl.no_grad():
        x += 1
    y.backward()  # add's backward reads no input
    np.testing.assert_allclose(x.grad, [1.0, 1.0])


def test_updates_before_recording_are_fine_and_edits_through_data_are_not_tracked():
    x = leaf([1.0, 2.0])
    with tl.no_grad():
        x *= 2
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])
    y = (x * x).sum()
    x.data *= 10  # documented: .data edits are neither checked nor counted (as torch)
    y.backward()
    assert x._version == 1


def test_version_check_in_tl_grad_and_create_graph():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    with tl.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match='modified by an in-place operation'):
        tl.grad(y, x, create_graph=True)


# ---- the seeds' manual gradient descent --------------------------------------------------------
def test_manual_sgd_with_no_grad_trains_linear_regression_to_the_least_squares_answer():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.01 * rng.standard_normal(64)
    w = Value(np.zeros(3), requires_grad=True)
    b = Value(0.0, dtype=np.float64, requires_grad=True)
    for _ in range(500):
        loss = ((X @ w + b - y) ** 2).mean()
        loss.backward()
        with tl.no_grad():
            w -= 0.1 * w.grad
            b -= 0.1 * b.grad
        w.grad = b.grad = None
    w_star, b_star = tl.least_squares(X, y)
    np.testing.assert_allclose(w.data, w_star, atol=1e-6)
    np.testing.assert_allclose(b.item(), b_star, atol=1e-6)
    assert w.is_leaf and w._version == 500


def test_manual_update_outside_no_grad_raises_instead_of_growing_a_graph():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    with pytest.raises(RuntimeError, match='no_grad'):
        w -= 0.1 * w.grad
    assert w.is_leaf


# ---- Modules: parameters stay registered --------------------------------------------------------
def test_manual_update_of_a_module_weight_keeps_it_in_the_model():
    lin = nn.Linear(2, 3)
    weight = lin.weight
    with tl.no_grad():
        lin.weight -= 0.1
    assert lin.weight is weight and isinstance(lin.weight, nn.Parameter)
    assert list(lin.state_dict()) == ['weight', 'bias']
    assert [name for name, _ in lin.named_parameters()] == ['weight', 'bias']
    opt = optim.SGD(lin.parameters(), lr=0.1)
    lin(Value(np.ones((1, 2), dtype=np.float32))).sum().backward()
    opt.step()
    lin.load_state_dict(lin.state_dict())


@pytest.mark.parametrize('bad', [Value(np.zeros((3, 2), dtype=np.float32)), np.zeros((3, 2)), 1.0],
                         ids=['Value', 'ndarray', 'float'])
def test_assigning_a_non_parameter_to_a_parameter_name_is_a_type_error(bad):
    lin = nn.Linear(2, 3)
    weight = lin.weight
    with pytest.raises(TypeError, match=rf"Linear: cannot assign {type(bad).__name__} as parameter 'weight'"):
        lin.weight = bad
    assert lin.weight is weight and list(lin.state_dict()) == ['weight', 'bias']


def test_assigning_a_parameter_replaces_it_in_place_and_none_removes_it():
    lin = nn.Linear(2, 3)
    lin.weight = nn.Parameter(np.ones((3, 2), dtype=np.float32))
    assert list(lin.state_dict()) == ['weight', 'bias']
    lin.weight = None
    assert list(lin.state_dict()) == ['bias']


def test_assigning_a_non_module_to_a_child_module_name_is_a_type_error():
    model = nn.Sequential(nn.Linear(2, 2))
    outer = nn.Module()
    outer.body = model
    with pytest.raises(TypeError, match="cannot assign int as child module 'body'"):
        outer.body = 3


# ---- PyTorch as the oracle -------------------------------------------------------------------
@pytest.mark.torch
def test_version_rules_match_pytorch():
    torch = pytest.importorskip('torch')
    cases = {  # name: (build, update) -> does backward raise?
        'mul saves inputs': (lambda x: (x * x).sum(), lambda x: x.mul_(10)),
        'add saves nothing': (lambda x: (x + 3).sum(), lambda x: x.add_(1)),
        'exp saves its output': (lambda x: x.exp(), None),
    }
    for name, (build, update) in cases.items():
        outcomes = []
        for lib in ('torch', 'tl'):
            if lib == 'torch':
                x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
                no_grad = torch.no_grad
            else:
                x = leaf([1.0, 2.0])
                no_grad = tl.no_grad
            y = build(x)
            with no_grad():
                (y if update is None else x).add_(1) if update is None else update(x)
            y = y.sum() if update is None else y
            try:
                y.backward()
                outcomes.append('ok')
            except RuntimeError as error:
                assert 'modified by an inplace operation' in str(error).replace('in-place', 'inplace')
                outcomes.append('raised')
        assert outcomes[0] == outcomes[1], name


@pytest.mark.torch
def test_in_place_results_match_pytorch():
    torch = pytest.importorskip('torch')
    rng = np.random.default_rng(3)
    base = rng.standard_normal((3, 4))
    other = rng.standard_normal((4,))
    t, v = torch.tensor(base), Value(base.copy())
    t.add_(torch.tensor(other), alpha=0.5).mul_(2).sub_(1.5).div_(3).clamp_(-0.4, 0.3)
    v.add_(other, alpha=0.5).mul_(2).sub_(1.5).div_(3).clamp_(-0.4, 0.3)
    np.testing.assert_allclose(v.data, t.numpy(), rtol=0, atol=0)
    t[1:, ::2] = 9.0
    v[1:, ::2] = 9.0
    np.testing.assert_array_equal(v.data, t.numpy())
