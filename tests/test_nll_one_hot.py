"""``F.one_hot``, ``F.nll_loss`` and ``nn.NLLLoss``.

Sections: one_hot (values, shapes, inferred class count, errors); nll_loss float64 gradcheck
and gradgradcheck over reductions and options; exact values and PyTorch's weighted-mean rule;
``nll_loss(log_softmax(x))`` against ``cross_entropy(x)``; bad arguments (each error names
the function or module and the bad value); the module; and PyTorch parity of values and
gradients (float64, skipped without torch).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import class_index_case, leaf

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F

REDUCTIONS = ['mean', 'sum', 'none']


# ---- one_hot ------------------------------------------------------------------------------------
def test_one_hot_values_shapes_and_dtype():
    out = F.one_hot(np.array([0, 2, 1, 2]))
    assert isinstance(out, tl.Value) and out.dtype == np.int64 and not out.requires_grad
    np.testing.assert_array_equal(out.data, [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])
    assert F.one_hot(np.array([1, 0]), num_classes=4).shape == (2, 4)
    assert F.one_hot(np.array(2)).shape == (3,)                                  # 0-d -> (C,)
    grid = np.array([[0, 3], [1, 1], [2, 0]])
    out = F.one_hot(grid, 5)
    assert out.shape == (3, 2, 5)
    np.testing.assert_array_equal(out.data.argmax(axis=-1), grid)
    assert F.one_hot(np.zeros((0, 2), dtype=np.int64), 3).shape == (0, 2, 3)      # empty, C given
    np.testing.assert_array_equal(F.one_hot([1, 0]).data, [[0, 1], [1, 0]])       # a list of ints
    np.testing.assert_array_equal(F.one_hot(tl.Value(np.array([1], dtype=np.int32)), 2).data, [[0, 1]])
    np.testing.assert_array_equal(F.one_hot(np.array([1, 0], dtype=np.uint8), np.int64(2)).data,
                                  [[0, 1], [1, 0]])


@pytest.mark.parametrize('indices, num_classes, error, message', [
    (np.array([0, -1, 2]), -1, ValueError,
     r"one_hot: class values must be non-negative, got -1 \(shape \(3,\)\)"),
    (np.array([0, 3]), 3, ValueError, r"one_hot: class values must be smaller than num_classes=3, got 3"),
    (np.array([1, 2]), 0, ValueError, r"one_hot: class values must be smaller than num_classes=0, got 2"),
    (np.array([], dtype=np.int64), -1, ValueError, r"one_hot: cannot infer the number of classes from empty"),
    (np.array([1, 2]), -2, ValueError, r"one_hot: num_classes must be -1 .* got -2"),
    (np.array([1, 2]), 2.0, TypeError, r"one_hot: num_classes must be an int, got 2\.0"),
    (np.array([1, 2]), True, TypeError, r"one_hot: num_classes must be an int, got True"),
    (tl.Value([0, 1]), -1, TypeError,
     r"one_hot: indices must be integers, got dtype float32 \(shape \(2,\)\); a Python list of numbers "
     r"becomes the default float dtype in a Value, so pass class indices as np\.array\(\[\.\.\.\]\)"),
    (np.array([True, False]), -1, TypeError,
     r"one_hot: indices must be integers, got dtype bool \(shape \(2,\)\)$"),
])
def test_one_hot_errors(indices, num_classes, error, message):
    with pytest.raises(error, match=message):
        F.one_hot(indices, num_classes)


@pytest.mark.torch
def test_one_hot_parity(torch):
    cases = [(np.array([3, 0, 1]), -1), (np.array([[0, 2], [1, 1]]), 4), (np.array(1), 3)]
    for indices, num_classes in cases:
        theirs = torch.nn.functional.one_hot(torch.tensor(indices), num_classes).numpy()
        ours = F.one_hot(indices, num_classes).data
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


# ---- nll_loss: gradcheck and gradgradcheck -------------------------------------------------------------
def nll_case(**options):
    """builder(rng, reduction) -> (fn, inputs) for log-probabilities of shape (5, 4)."""
    return class_index_case(F.nll_loss, lambda rng: rng.standard_normal((5, 4)) - 2, **options)


def nll_1d_case(rng, reduction):
    return (lambda x: F.nll_loss(x, np.array(1), reduction=reduction)), (leaf(rng.standard_normal(3)),)


NLL_CASES = {
    'plain': nll_case(),
    'weight': nll_case(weight=np.array([0.5, 1.0, 2.0, 1.5])),
    'ignore_index': nll_case(ignore_index=-100),
    'ignore_index_class': nll_case(ignore_index=3, weight=np.array([0.5, 1.0, 2.0, 1.5])),
    '1d': nll_1d_case,
}


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('case', sorted(NLL_CASES))
def test_nll_gradcheck_and_gradgradcheck(case, reduction):
    fn, inputs = NLL_CASES[case](np.random.default_rng(0), reduction)
    assert tl.gradcheck(fn, inputs)
    assert tl.gradgradcheck(fn, inputs)
    composed = lambda x: fn(x.log_softmax(axis=-1))  # noqa: E731 (second derivatives through it)
    assert tl.gradgradcheck(composed, inputs)


# ---- nll_loss: values ----------------------------------------------------------------------------
def test_nll_exact_values_and_weighted_mean():
    log_probs = leaf([[-0.1, -2.0, -3.0], [-1.5, -0.5, -2.5], [-0.7, -0.9, -1.2], [-2.0, -0.2, -4.0]])
    target = np.array([0, 2, 1, -100])
    weight = np.array([1.0, 2.0, 0.5])
    np.testing.assert_array_equal(F.nll_loss(log_probs, target, reduction='none').data, [0.1, 2.5, 0.9, 0.0])
    assert F.nll_loss(log_probs, target, reduction='sum').item() == pytest.approx(3.5, rel=1e-15)
    assert F.nll_loss(log_probs, target).item() == pytest.approx(3.5 / 3, rel=1e-15)  # 3 rows kept
    # weighted mean: sum of w[t] * loss over the kept rows, divided by the sum of those w[t]
    expected = (1.0 * 0.1 + 0.5 * 2.5 + 2.0 * 0.9) / (1.0 + 0.5 + 2.0)
    loss = F.nll_loss(log_probs, target, weight)
    assert loss.item() == pytest.approx(expected, rel=1e-15) and loss.op == 'nll_loss'
    loss.backward()
    weights_of_targets = np.array([[1.0, 0, 0], [0, 0, 0.5], [0, 2.0, 0], [0, 0, 0]])
    np.testing.assert_allclose(log_probs.grad, -weights_of_targets / 3.5, rtol=1e-15)
    assert F.nll_loss(leaf([-0.5, -1.0]), np.array(1)).item() == 1.0           # one sample, (C,)
    assert F.nll_loss(leaf([-0.5, -1.0]), np.array(1), reduction='none').shape == ()


def test_nll_all_ignored_and_empty():
    with pytest.raises(ValueError, match=r'^nll_loss: every target of the batch is ignore_index=-100'):
        F.nll_loss(leaf(np.zeros((2, 3))), np.array([-100, -100]))  # 0 / 0: nan in PyTorch, refused here
    assert F.nll_loss(leaf(np.zeros((2, 3))), np.array([-100, -100]), reduction='sum').item() == 0.0
    assert np.isnan(F.nll_loss(leaf(np.zeros((0, 3))), np.zeros(0, dtype=np.int64)).item())


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('options', [{}, {'weight': np.array([0.5, 1.0, 2.0, 1.5])},
                                     {'ignore_index': 2, 'weight': np.array([0.5, 1.0, 2.0, 1.5])}],
                         ids=['plain', 'weight', 'ignore'])
def test_nll_of_log_softmax_is_cross_entropy(options, reduction):
    x = np.random.default_rng(1).standard_normal((6, 4)) * 3
    target = np.array([0, 2, 3, 1, 2, 0])
    a, b = leaf(x), leaf(x)
    composed = F.nll_loss(F.log_softmax(a, dim=1), target, reduction=reduction, **options)
    fused = F.cross_entropy(b, target, reduction=reduction, **options)
    np.testing.assert_allclose(composed.data, fused.data, rtol=1e-14)
    upstream = np.random.default_rng(2).standard_normal(composed.shape)
    composed.backward(upstream)
    fused.backward(upstream)
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12, atol=1e-15)


def test_nll_dtypes_and_saved_data():
    x = tl.Value(np.full((2, 3), -1.0, dtype=np.float32), requires_grad=True)
    loss = F.nll_loss(x, np.array([0, 2]), np.array([1.0, 2.0, 3.0]))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [[-1 / 4, 0, 0], [0, 0, -3 / 4]])  # / (w[0] + w[2])
    x.zero_grad()
    hidden = x * 1.0
    loss = F.nll_loss(hidden, np.array([0, 2]))
    with tl.no_grad():
        hidden += 5  # nll_loss's backward reads no input value (saves_inputs is False)
    loss.backward()
    np.testing.assert_array_equal(x.grad, [[-1 / 2, 0, 0], [0, 0, -1 / 2]])


# ---- nll_loss: bad arguments ---------------------------------------------------------------------------
NLL_ERRORS = [  # (input, target, kwargs, error, message)
    (np.zeros((2, 3)), tl.Value([0, 1]), {}, TypeError,
     r"^nll_loss: target must hold integer class indices of shape \(2,\), got dtype float32 \(target shape "
     r"\(2,\)\); a Python list of numbers becomes the default float dtype in a Value, so pass class indices "
     r"as np\.array\(\[\.\.\.\]\), tl\.Value\(\[\.\.\.\], dtype=np\.int64\) or the list itself$"),
    (np.zeros((2, 3)), np.zeros((2, 3)), {}, TypeError, r"^nll_loss: target must hold integer class indices"),
    (np.zeros((2, 3)), np.array([0, 1, 2]), {}, ValueError,
     r"^nll_loss: input of shape \(2, 3\) needs a target of shape \(2,\), got target of shape \(3,\)$"),
    (np.zeros((2, 3)), np.array([0, 3]), {}, ValueError,
     r"^nll_loss: target values must be class indices in \[0, 3\) or ignore_index=-100, got \[3\]"),
    (np.zeros((2, 3)), np.array([0, -1]), {'ignore_index': -2}, ValueError, r"ignore_index=-2, got \[-1\]"),
    (np.zeros((2, 3)), np.array([0, 1]), {'weight': np.ones(2)}, ValueError,
     r"^nll_loss: weight must have shape \(3,\) \(one per class\), got \(2,\)"),
    (np.zeros((2, 3)), np.array([0, 1]), {'reduction': 'avg'}, ValueError,
     r"^nll_loss: reduction must be 'mean', 'sum' or 'none', got 'avg'$"),
    (np.zeros((2, 3, 4)), np.zeros((2, 4), dtype=int), {}, ValueError,
     r"^nll_loss: input must be float log-probabilities of shape \(N, C\) or \(C,\), got shape \(2, 3, 4\)"),
    (np.zeros((2, 3), dtype=np.int64), np.array([0, 1]), {}, ValueError,
     r"got shape \(2, 3\) and dtype int64"),
    (np.array([[0.0, np.nan, 1.0]]), np.array([0]), {}, ValueError, r"^nll_loss: input contains NaN"),
]


@pytest.mark.parametrize('input, target, kwargs, error, message', NLL_ERRORS)
def test_nll_bad_arguments(input, target, kwargs, error, message):
    x = tl.Value(input, requires_grad=input.dtype.kind == 'f')
    with pytest.raises(error, match=message):
        F.nll_loss(x, target, **kwargs)
    assert x.grad is None


def test_nll_accepts_python_lists_and_int_values_as_targets():
    x = leaf([[-1.0, -2.0], [-3.0, -0.5]])
    expected = F.nll_loss(x, np.array([0, 1])).item()
    assert F.nll_loss(x, [0, 1]).item() == expected
    assert F.nll_loss(x, tl.Value([0, 1], dtype=np.int64)).item() == expected


# ---- the module ---------------------------------------------------------------------------------
def test_nll_loss_module():
    x, target = np.random.default_rng(3).standard_normal((4, 3)), np.array([0, 2, 1, 2])
    weight = [1.0, 2.0, 0.5]
    module = nn.NLLLoss(weight=weight, ignore_index=1, reduction='sum')
    expected = F.nll_loss(leaf(x), target, np.array(weight), ignore_index=1, reduction='sum')
    np.testing.assert_array_equal(module(leaf(x), target).data, expected.data)
    assert repr(module) == "NLLLoss(reduction='sum')" and repr(nn.NLLLoss()) == 'NLLLoss()'
    assert list(module.state_dict()) == ['weight'] and nn.NLLLoss().state_dict() == {}
    assert module.state_dict()['weight'].dtype == tl.get_default_dtype()
    assert 'NLLLoss' in nn.__all__ and 'nll_loss' in F.__all__ and 'one_hot' in F.__all__
    with pytest.raises(ValueError, match=r"^NLLLoss: reduction must be 'mean', 'sum' or 'none', got 'avg'$"):
        nn.NLLLoss(reduction='avg')
    with pytest.raises(ValueError, match=r"^nll_loss: weight must have shape \(3,\)"):
        nn.NLLLoss(weight=[1.0, 2.0])(leaf(x), target)


def test_log_softmax_module_and_nll_loss_train_like_cross_entropy():
    tl.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.LogSoftmax(dim=1))
    x, target = tl.randn(8, 3).double(), np.array([0, 1, 2, 3, 0, 1, 2, 3])
    loss = nn.NLLLoss()(model(x), target)
    expected = F.cross_entropy(model[0](x), target)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-14)
    assert math.isfinite(loss.item())


# ---- PyTorch parity -------------------------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('options', [{}, {'weight': [0.5, 1.0, 2.0, 1.5]}, {'ignore_index': 1},
                                     {'ignore_index': 3, 'weight': [0.5, 1.0, 2.0, 1.5]},
                                     {'ignore_index': -100, 'weight': [0.0, 1.0, 2.0, 1.5]}],
                         ids=['plain', 'weight', 'ignore', 'ignore_weight', 'zero_weight'])
@pytest.mark.parametrize('shape', [(6, 4), (4,)], ids=['2d', '1d'])
def test_nll_parity(torch, shape, options, reduction):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) - 1.5
    target = np.array([0, 2, 3, 1, 3, 0]) if len(shape) == 2 else np.array(2)
    kwargs = dict(options)
    weight = np.array(kwargs.pop('weight')) if 'weight' in kwargs else None
    ours_x, theirs_x = leaf(x), torch.tensor(x, requires_grad=True)
    ours = F.nll_loss(ours_x, target, weight, reduction=reduction, **kwargs)
    theirs = torch.nn.functional.nll_loss(theirs_x, torch.tensor(target), None if weight is None else
                                          torch.tensor(weight), reduction=reduction, **kwargs)
    upstream = rng.standard_normal(ours.shape)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-12, atol=1e-15)
