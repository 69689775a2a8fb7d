"""Losses (``nn.functional`` and the loss modules), activations, dropout and ``nn.utils``.

Sections: float64 gradcheck and gradgradcheck of every loss and reduction (with respect to the
input and, where PyTorch differentiates it, the target); exact hand-computed values;
stability for logits of ±1e4; bad arguments (each error names the op and the shapes or the
argument); the loss modules; penalties and clipping; and PyTorch parity of values and
gradients, whose tests call ``pytest.importorskip("torch")`` so the rest runs without torch.
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


def away_from(rng, shape, kinks, margin=0.1, scale=2.0) -> np.ndarray:
    """Normal samples moved at least ``margin`` away from every value in ``kinks``."""
    x = rng.standard_normal(shape) * scale
    for kink in kinks:
        close = np.abs(x - kink) < margin
        x = np.where(close, kink + np.sign(x - kink + 1e-12) * margin * 2, x)
    return x


# ---- loss cases: name -> builder(rng, reduction) -> (fn, inputs) --------------------------------
def regression_case(loss, kinks=(), weighted=False, **options):
    def build(rng, reduction):
        target = rng.standard_normal((3, 4))
        diff = away_from(rng, (3, 4), kinks)
        kwargs = dict(options, weight=rng.uniform(0.5, 2.0, (3, 4))) if weighted else options
        return (lambda a, b: loss(a, b, reduction=reduction, **kwargs)), (leaf(target + diff), leaf(target))
    return build


def bce_case(rng, reduction):
    weight = rng.uniform(0.5, 2.0, (4,))
    fn = lambda p, y: F.binary_cross_entropy(p, y, weight, reduction=reduction)
    return fn, (leaf(rng.uniform(0.1, 0.9, (3, 4))), leaf(rng.uniform(0, 1, (3, 4))))


def bce_logits_case(rng, reduction):
    fn = lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=reduction)
    return fn, (leaf(rng.standard_normal((3, 4)) * 2), leaf(rng.uniform(0, 1, (3, 4))))


def bce_logits_weighted_case(rng, reduction):
    weight, pos_weight = rng.uniform(0.5, 2.0, (3, 1)), rng.uniform(0.5, 3.0, (4,))
    fn = lambda x, y: F.binary_cross_entropy_with_logits(x, y, weight, reduction=reduction,
                                                         pos_weight=pos_weight)
    return fn, (leaf(rng.standard_normal((3, 4)) * 2), leaf(rng.uniform(0, 1, (3, 4))))


def cross_entropy_case(**options):
    return class_index_case(F.cross_entropy, lambda rng: rng.standard_normal((5, 4)) * 2, **options)


def cross_entropy_1d_case(rng, reduction):
    fn = lambda x: F.cross_entropy(x, np.array(2), reduction=reduction)
    return fn, (leaf(rng.standard_normal(4)),)


def cross_entropy_probs_case(shape=(5, 4), **options):
    """Class-probability targets (rows summing to 1) of the logits' shape; both get gradients."""
    def build(rng, reduction):
        probs = rng.uniform(0.1, 1.0, shape)
        probs /= probs.sum(axis=-1, keepdims=True)
        fn = lambda x, y: F.cross_entropy(x, y, reduction=reduction, **options)
        return fn, (leaf(rng.standard_normal(shape) * 2), leaf(probs))
    return build


LOSS_CASES = {
    'mse': regression_case(F.mse_loss),
    'l1': regression_case(F.l1_loss, kinks=(0.0,)),
    'huber': regression_case(F.huber_loss, kinks=(-1.0, 0.0, 1.0)),
    'huber_delta': regression_case(F.huber_loss, kinks=(-0.5, 0.5), delta=0.5),
    'mse_weighted': regression_case(F.mse_loss, weighted=True),
    'l1_weighted': regression_case(F.l1_loss, kinks=(0.0,), weighted=True),
    'huber_weighted': regression_case(F.huber_loss, kinks=(-1.0, 0.0, 1.0), weighted=True),
    'bce': bce_case,
    'bce_with_logits': bce_logits_case,
    'bce_with_logits_weighted': bce_logits_weighted_case,
    'cross_entropy': cross_entropy_case(),
    'cross_entropy_1d': cross_entropy_1d_case,
    'cross_entropy_weight': cross_entropy_case(weight=np.array([0.5, 1.0, 2.0, 1.5])),
    'cross_entropy_ignore': cross_entropy_case(ignore_index=-100),
    'cross_entropy_smoothing': cross_entropy_case(label_smoothing=0.2,
                                                  weight=np.array([0.5, 1.0, 2.0, 1.5])),
    'cross_entropy_probs': cross_entropy_probs_case(),
    'cross_entropy_probs_options': cross_entropy_probs_case(weight=np.array([0.5, 1.0, 2.0, 1.5]),
                                                            label_smoothing=0.2),
    'cross_entropy_probs_1d': cross_entropy_probs_case(shape=(4,), label_smoothing=0.1),
}


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('case', sorted(LOSS_CASES))
def test_gradcheck(case, reduction):
    fn, inputs = LOSS_CASES[case](np.random.default_rng(0), reduction)
    assert tl.gradcheck(fn, inputs)


@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('case', sorted(LOSS_CASES))
def test_gradgradcheck(case, reduction):
    fn, inputs = LOSS_CASES[case](np.random.default_rng(1), reduction)
    assert tl.gradgradcheck(fn, inputs)


@pytest.mark.parametrize('fn, shape', [
    (F.relu, (3, 4)), (F.sigmoid, (3, 4)), (F.tanh, (3, 4)),
    (lambda x: F.softmax(x, dim=0), (3, 4)), (F.log_softmax, (3, 4)),
])
def test_activation_gradcheck(fn, shape):
    x = leaf(away_from(np.random.default_rng(2), shape, kinks=(0.0,)))
    assert tl.gradcheck(fn, (x,))


@pytest.mark.parametrize('x_shape', [(3,), (5, 3), (2, 4, 3)])
@pytest.mark.parametrize('with_bias', [True, False])
def test_linear_gradcheck(x_shape, with_bias):
    rng = np.random.default_rng(11)
    inputs = (leaf(rng.standard_normal(x_shape)), leaf(rng.standard_normal((2, 3))))
    if with_bias:
        inputs += (leaf(rng.standard_normal(2)),)
    assert F.linear(*inputs).shape == x_shape[:-1] + (2,)
    assert tl.gradcheck(F.linear, inputs)
    assert tl.gradgradcheck(F.linear, inputs)
    frozen_weight = (inputs[0], tl.Value(inputs[1].data)) + inputs[2:]  # only some inputs need grad
    assert tl.gradcheck(F.linear, frozen_weight)


def test_softplus_op_second_order():
    from tinygrad_ls.ops.losses import Softplus
    x = leaf(np.linspace(-3, 3, 7))
    assert tl.gradcheck(Softplus.apply, (x,))
    assert tl.gradgradcheck(Softplus.apply, (x,))


# ---- exact values -------------------------------------------------------------------------------
def test_exact_small_cases():
    assert F.cross_entropy(leaf([[0.0, 0.0]]), np.array([1])).item() == pytest.approx(math.log(2))
    logits = leaf([[1.0, 2.0, 3.0]])
    loss = F.cross_entropy(logits, np.array([0]))
    loss.backward()
    probs = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    assert loss.item() == pytest.approx(-math.log(probs[0]))
    np.testing.assert_allclose(logits.grad, [probs - [1, 0, 0]], rtol=1e-12)
    assert F.binary_cross_entropy_with_logits(leaf([0.0]), [1.0]).item() == pytest.approx(math.log(2))
    assert F.binary_cross_entropy(leaf([0.25]), [1.0]).item() == pytest.approx(-math.log(0.25))
    assert F.mse_loss(leaf([1.0, 3.0]), [0.0, 0.0], reduction='sum').item() == 10.0
    assert F.l1_loss(leaf([1.0, -3.0]), [0.0, 0.0]).item() == 2.0
    huber = F.huber_loss(leaf([0.5, 3.0]), [0.0, 0.0], reduction='none', delta=1.0)
    np.testing.assert_allclose(huber.data, [0.125, 2.5])


def test_reduction_none_keeps_shape_and_mean_is_sum_over_count():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    for loss in (F.mse_loss, F.l1_loss, F.huber_loss):
        each = loss(leaf(x), y, reduction='none')
        assert each.shape == (3, 4)
        assert loss(leaf(x), y, reduction='sum').item() == pytest.approx(each.data.sum())
        assert loss(leaf(x), y).item() == pytest.approx(each.data.mean())
    assert F.cross_entropy(leaf(x), np.array([0, 1, 3]), reduction='none').shape == (3,)
    assert F.cross_entropy(leaf(x[0]), np.array(1), reduction='none').shape == ()


def test_cross_entropy_ignore_index_and_all_ignored():
    x = np.random.default_rng(4).standard_normal((3, 4))
    full = F.cross_entropy(leaf(x), np.array([1, 5, 2]), ignore_index=5, reduction='none').data
    assert full[1] == 0
    mean = F.cross_entropy(leaf(x), np.array([1, 5, 2]), ignore_index=5).item()
    assert mean == pytest.approx((full[0] + full[2]) / 2)
    logits = leaf(x)
    F.cross_entropy(logits, np.array([1, 5, 2]), ignore_index=5).backward()
    assert np.all(logits.grad[1] == 0)
    with pytest.raises(ValueError, match='every target of the batch is ignore_index=-100'):
        F.cross_entropy(leaf(x), np.array([-100, -100, -100]))  # PyTorch: nan (test_loss_data_checks.py)


def test_empty_mean_is_nan_and_empty_sum_is_zero():
    empty = leaf(np.zeros((0, 3)))
    for loss in ELEMENTWISE_LOSSES:
        assert np.isnan(loss(empty, np.zeros((0, 3))).item())
        assert loss(empty, np.zeros((0, 3)), reduction='sum').item() == 0.0
    assert F.mse_loss(leaf([1.0]), [0.0], weight=np.zeros(1)).data.dtype == np.float64
    assert np.isnan(F.mse_loss(leaf([1.0]), [0.0], weight=np.zeros(1)).item())  # 0 / sum(w) = 0 / 0


def test_float32_stays_float32():
    x = tl.Value(np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    targets = [np.zeros((4, 3)), np.zeros((4, 3), dtype=np.float32), tl.Value(np.ones((4, 3)))]
    for target in targets:
        for loss in (F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy_with_logits):
            assert loss(x, target).dtype == np.float32
    loss = F.cross_entropy(x, np.array([0, 1, 2, 1]))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32


def test_cross_entropy_is_exactly_minus_the_picked_log_softmax():
    """One log-softmax (ops/reduce.py) behind both, to the last bit. Regression: the loss had
    its own copy, which summed the row's exps another way and differed in the last digits."""
    rng = np.random.default_rng(12)
    for dtype in (np.float32, np.float64):
        logits, target = tl.Value((rng.standard_normal((64, 10)) * 5).astype(dtype)), rng.integers(0, 10, 64)
        per_row = F.cross_entropy(logits, target, reduction='none').data
        np.testing.assert_array_equal(per_row, -logits.log_softmax(-1).data[np.arange(64), target])


# ---- stability -------------------------------------------------------------------------------
def test_cross_entropy_stable_for_huge_logits():
    logits = leaf([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]])
    loss = F.cross_entropy(logits, np.array([1, 0]), reduction='none')
    np.testing.assert_allclose(loss.data, [2e4, 2e4 + math.log(2)], rtol=1e-12)
    loss.sum().backward()
    assert np.isfinite(logits.grad).all()
    np.testing.assert_allclose(logits.grad, [[1, -1, 0], [-1, 0.5, 0.5]], atol=1e-12)
    assert F.cross_entropy(leaf([[1e4, -1e4]]), np.array([0])).item() == 0.0


def test_bce_with_logits_stable_for_huge_logits():
    x = leaf([1e4, -1e4, 1e4, -1e4])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction='none')
    np.testing.assert_array_equal(loss.data, [1e4, 1e4, 0.0, 0.0])
    loss.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, -1.0, 0.0, 0.0])
    weighted = F.binary_cross_entropy_with_logits(leaf([1e4, -1e4]), [0.0, 1.0], reduction='none',
                                                  pos_weight=np.array([3.0, 3.0]))
    np.testing.assert_array_equal(weighted.data, [1e4, 3e4])


def test_bce_on_probabilities_clamps_log_at_minus_100():
    p = leaf([0.0, 1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, [1.0, 0.0, 0.0, 1.0], reduction='none')
    np.testing.assert_array_equal(loss.data, [100.0, 100.0, 0.0, 0.0])
    loss.sum().backward()
    assert np.isfinite(p.grad).all()


# ---- bad arguments -------------------------------------------------------------------------------
ELEMENTWISE_LOSSES = [F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy,
                      F.binary_cross_entropy_with_logits]


@pytest.mark.parametrize('loss', ELEMENTWISE_LOSSES + [F.cross_entropy], ids=lambda f: f.__name__)
def test_unknown_reduction_names_it(loss):
    target = np.array([0, 1]) if loss is F.cross_entropy else np.full((2, 3), 0.5)
    with pytest.raises(ValueError, match=f"{loss.__name__}.*'avg'"):
        loss(leaf(np.full((2, 3), 0.5)), target, reduction='avg')


@pytest.mark.parametrize('loss', ELEMENTWISE_LOSSES, ids=lambda f: f.__name__)
def test_shape_mismatch_is_not_broadcast(loss):
    with pytest.raises(ValueError, match=rf"{loss.__name__}.*\(4, 1\).*\(4,\)"):
        loss(leaf(np.full((4, 1), 0.5)), np.full(4, 0.5))


def test_cross_entropy_bad_targets():
    logits = leaf(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(4, 3\).*\(4,\).*\(5,\)"):
        F.cross_entropy(logits, np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match=r"cross_entropy.*\[0, 3\).*\[3 7\].*\(4, 3\).*\(4,\)"):
        F.cross_entropy(logits, np.array([0, 3, 7, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy.*-1"):
        F.cross_entropy(logits, np.array([0, -1, 2, 1]))
    with pytest.raises(TypeError, match="cross_entropy.*integer.*float64"):
        F.cross_entropy(logits, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(2, 3, 4\)"):
        F.cross_entropy(leaf(np.zeros((2, 3, 4))), np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match=r"cross_entropy.*weight.*\(3,\).*\(2,\)"):
        F.cross_entropy(logits, np.array([0, 1, 2, 1]), np.ones(2))
    with pytest.raises(ValueError, match="cross_entropy.*label_smoothing.*1.5"):
        F.cross_entropy(logits, np.array([0, 1, 2, 1]), label_smoothing=1.5)


def test_cross_entropy_float_class_indices_error_says_why_and_how():
    """A list of class indices passed through Value() is float32: refused, with the cause and
    three fixes; each fix gives the loss."""
    logits = leaf([[2.0, 0.5, -1.0], [0.1, 1.0, 0.3]])
    expected = ("cross_entropy: target must hold integer class indices of shape (2,) or float class "
                "probabilities of the input's shape (2, 3), got dtype float32 (target shape (2,)); a Python "
                "list of numbers becomes the default float dtype in a Value, so pass class indices as "
                "np.array([...]), tl.Value([...], dtype=np.int64) or the list itself")
    with pytest.raises(TypeError) as error:
        F.cross_entropy(logits, tl.Value([0, 1]))
    assert str(error.value) == expected
    assert logits.grad is None
    losses = {F.cross_entropy(logits, fixed).item()
              for fixed in (np.array([0, 1]), tl.Value([0, 1], dtype=np.int64), [0, 1])}
    assert len(losses) == 1
    with pytest.raises(TypeError, match=r"^cross_entropy: target must hold integer"):
        nn.CrossEntropyLoss()(logits, tl.Value([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"cross_entropy: .*got dtype bool \(target shape \(2, 3\)\)$"):
        F.cross_entropy(logits, np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"cross_entropy: input of shape \(2, 3\) needs a target of shape "
                                         r"\(2,\), got target of shape \(2, 3\)"):
        F.cross_entropy(logits, np.ones((2, 3), dtype=np.int64))  # integer: indices, not probabilities


def test_cross_entropy_probability_targets():
    rng = np.random.default_rng(14)
    x, probs = rng.standard_normal((4, 3)), rng.dirichlet(np.ones(3), size=4)
    weight, smoothing = np.array([0.5, 2.0, 1.0]), 0.1
    log_probs = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    logits, target = leaf(x), leaf(probs)
    loss = F.cross_entropy(logits, target, weight, label_smoothing=smoothing)
    smoothed = (1 - smoothing) * probs + smoothing / 3
    assert loss.item() == pytest.approx(-(weight * smoothed * log_probs).sum() / 4, rel=1e-14)  # / N
    loss.backward()
    np.testing.assert_allclose(target.grad, -(1 - smoothing) * weight * log_probs / 4, rtol=1e-13)
    row_weight = (weight * smoothed).sum(axis=1, keepdims=True)
    expected_grad = (np.exp(log_probs) * row_weight - weight * smoothed) / 4
    np.testing.assert_allclose(logits.grad, expected_grad, rtol=1e-13)
    # one-hot probabilities are class indices, but the weighted mean divides by N, not sum w[t]
    classes = np.array([0, 2, 1, 1])
    onehot = np.eye(3)[classes]
    np.testing.assert_allclose(F.cross_entropy(leaf(x), onehot, reduction='none').data,
                               F.cross_entropy(leaf(x), classes, reduction='none').data, rtol=1e-15)
    by_probs, by_index = F.cross_entropy(leaf(x), onehot, weight), F.cross_entropy(leaf(x), classes, weight)
    assert by_probs.item() == pytest.approx(by_index.item() * weight[classes].sum() / 4, rel=1e-14)
    from_list = F.cross_entropy(leaf(x), onehot.tolist())  # a nested list of floats: probabilities
    assert from_list.item() == pytest.approx(F.cross_entropy(x, classes).item(), rel=1e-14)
    assert F.cross_entropy(leaf(x[0]), probs[0], reduction='none').shape == ()
    assert np.isnan(F.cross_entropy(leaf(np.zeros((0, 3))), np.zeros((0, 3))).item())


def test_cross_entropy_probability_targets_dtypes_and_errors():
    x32 = tl.Value(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(x32, np.full((2, 3), 1 / 3))
    loss.backward()
    assert loss.dtype == np.float32 and x32.grad.dtype == np.float32
    assert loss.item() == pytest.approx(math.log(3), rel=1e-6)
    logits, probs = leaf(np.zeros((2, 3))), np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"cross_entropy: ignore_index is not supported for class-"
                                         r"probability targets .*\(2, 3\)\), got ignore_index=0"):
        F.cross_entropy(logits, probs, ignore_index=0)
    assert F.cross_entropy(logits, probs, ignore_index=-1).item() == pytest.approx(math.log(3))
    with pytest.raises(ValueError, match=r"cross_entropy: target contains NaN"):
        F.cross_entropy(logits, np.array([[0.5, np.nan, 0.5], [0.2, 0.3, 0.5]]))
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have shape \(3,\)"):
        F.cross_entropy(logits, probs, np.ones(2))
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be in"):
        F.cross_entropy(logits, probs, label_smoothing=2)
    hidden = logits * 1.0
    target = leaf(probs) * 1.0
    loss = F.cross_entropy(hidden, target)
    with tl.no_grad():
        target += 1  # the backward reads the target: refused
    with pytest.raises(RuntimeError, match="input of 'cross_entropy'.*modified by an in-place operation"):
        loss.backward()
    module = nn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0], label_smoothing=0.1, reduction='sum')
    expected = F.cross_entropy(logits, probs, np.array([1.0, 2.0, 3.0]), label_smoothing=0.1, reduction='sum')
    assert module(logits, probs).item() == expected.item()


def test_other_bad_arguments():
    with pytest.raises(ValueError, match=r"binary_cross_entropy.*\[0, 1\].*1\.5"):
        F.binary_cross_entropy(leaf([0.5, 1.5]), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"pos_weight.*\(3,\).*\(2, 4\)"):
        F.binary_cross_entropy_with_logits(leaf(np.zeros((2, 4))), np.zeros((2, 4)), pos_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"weight.*\(5,\).*\(2, 4\)"):
        F.binary_cross_entropy(leaf(np.full((2, 4), 0.5)), np.zeros((2, 4)), np.ones(5))
    for loss in (F.mse_loss, F.l1_loss, F.huber_loss):  # PyTorch: a weight of the input's shape
        with pytest.raises(ValueError, match=rf"{loss.__name__}.*weight.*\(4,\).*\(2, 4\)"):
            loss(leaf(np.zeros((2, 4))), np.zeros((2, 4)), weight=np.ones(4))
    with pytest.raises(ValueError, match="huber_loss.*delta.*0"):
        F.huber_loss(leaf([1.0]), [0.0], delta=0)
    with pytest.raises(TypeError, match=r"mse_loss.*int64"):
        F.mse_loss(np.array([1, 2]), np.array([1, 2]))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout.*{p}"):
            F.dropout(leaf([1.0]), p)


# ---- loss modules -------------------------------------------------------------------------------
def test_loss_modules_match_functional():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((4, 3)), rng.uniform(0, 1, (4, 3))
    p = 1 / (1 + np.exp(-x))
    classes, weight = np.array([0, 2, 1, 2]), np.array([1.0, 2.0, 0.5])
    pairs = [
        (nn.MSELoss(reduction='sum')(leaf(x), y), F.mse_loss(leaf(x), y, reduction='sum')),
        (nn.L1Loss()(leaf(x), y), F.l1_loss(leaf(x), y)),
        (nn.HuberLoss(delta=0.3)(leaf(x), y), F.huber_loss(leaf(x), y, delta=0.3)),
        (nn.BCELoss(weight=weight)(leaf(p), y), F.binary_cross_entropy(leaf(p), y, weight)),
        (nn.BCEWithLogitsLoss(pos_weight=weight, reduction='none')(leaf(x), y),
         F.binary_cross_entropy_with_logits(leaf(x), y, reduction='none', pos_weight=weight)),
        (nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1)(leaf(x), classes),
         F.cross_entropy(leaf(x), classes, weight, label_smoothing=0.1)),
    ]
    for module_out, functional_out in pairs:
        np.testing.assert_array_equal(module_out.data, functional_out.data)


def test_loss_modules_check_arguments_when_built():
    for cls in (nn.MSELoss, nn.L1Loss, nn.HuberLoss, nn.BCELoss, nn.BCEWithLogitsLoss, nn.CrossEntropyLoss):
        with pytest.raises(ValueError, match=f"{cls.__name__}.*'average'"):
            cls(reduction='average')
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(ValueError, match="delta"):
        nn.HuberLoss(delta=-1.0)


def test_loss_modules_raise_the_functions_errors_naming_the_module():
    """One check per option, shared: the module's error is the function's, named for the module."""
    regression, classification = (leaf([1.0]), [0.0]), (leaf([[1.0, 2.0]]), np.array([0]))
    cases = [(nn.HuberLoss, F.huber_loss, regression, {'delta': -1.0}, ValueError),
             (nn.HuberLoss, F.huber_loss, regression, {'delta': '1'}, TypeError),
             (nn.CrossEntropyLoss, F.cross_entropy, classification, {'label_smoothing': 1.5}, ValueError),
             (nn.CrossEntropyLoss, F.cross_entropy, classification, {'label_smoothing': None}, TypeError),
             (nn.L1Loss, F.l1_loss, regression, {'reduction': 'avg'}, ValueError)]
    for module, function, inputs, options, error in cases:
        with pytest.raises(error) as from_module:
            module(**options)
        with pytest.raises(error) as from_function:
            function(*inputs, **options)
        expected = str(from_function.value).replace(function.__name__, module.__name__, 1)
        assert str(from_module.value) == expected


def test_loss_module_weights_are_buffers():
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0])
    assert list(loss.state_dict()) == ['weight']
    assert loss.state_dict()['weight'].dtype == tl.get_default_dtype()
    assert nn.MSELoss().state_dict() == {}
    assert repr(nn.MSELoss(reduction='sum')) == "MSELoss(reduction='sum')"


# ---- penalties and clipping --------------------------------------------------------------------
def test_penalties_values_and_gradients():
    a, b = nn.Parameter(np.array([1.0, -2.0])), nn.Parameter(np.array([[3.0], [-0.5]]))
    l1, l2 = nn.utils.l1_penalty([a, b]), nn.utils.l2_penalty(iter([a, b]))
    assert l1.item() == 6.5 and l2.item() == 1 + 4 + 9 + 0.25
    (l1 + l2).backward()
    np.testing.assert_array_equal(a.grad, np.sign(a.data) + 2 * a.data)
    np.testing.assert_array_equal(b.grad, np.sign(b.data) + 2 * b.data)
    assert nn.utils.l2_penalty([]).item() == 0.0
    assert nn.utils.l1_penalty(a).item() == 3.0
    assert tl.gradcheck(lambda x, y: nn.utils.l2_penalty([x, y]) + nn.utils.l1_penalty([x, y]),
                        (leaf([0.5, -1.0]), leaf([[2.0, -0.3]])))
    with pytest.raises(TypeError, match="item 1"):
        nn.utils.l1_penalty([a, np.ones(2)])


def test_clip_grad_norm():
    a, b, unused = (nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros((2, 1))), nn.Parameter(np.zeros(3)))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([[0.0], [4.0]])
    grad_a = a.grad
    total = nn.utils.clip_grad_norm_([a, b, unused], max_norm=1.0)
    assert isinstance(total, float) and total == pytest.approx(5.0)
    assert a.grad is grad_a  # in place
    np.testing.assert_allclose(a.grad, [3.0 / (5 + 1e-6), 0.0])
    np.testing.assert_allclose(b.grad, [[0.0], [4.0 / (5 + 1e-6)]])
    assert unused.grad is None
    before = a.grad.copy()
    assert nn.utils.clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_array_equal(a.grad, before)  # under the limit: untouched
    assert nn.utils.clip_grad_norm_([a, b], 1.0, norm_type=math.inf) == pytest.approx(4 / (5 + 1e-6))
    assert nn.utils.clip_grad_norm_([unused], 1.0) == 0.0
    a.grad = np.array([np.inf, 0.0])
    with pytest.raises(RuntimeError, match="inf"):
        nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        nn.utils.clip_grad_norm_([a], 1.0, norm_type=0)


# ---- PyTorch parity ---------------------------------------------------------------------------
def parity_options(rng):
    """name -> (our functional, torch's functional name, inputs as arrays, kwargs, target is float)."""
    x = rng.standard_normal((5, 4)) * 2
    y = rng.uniform(0, 1, (5, 4))
    classes = np.array([3, 0, 2, 2, 1])
    weight4 = rng.uniform(0.5, 2.0, 4)
    return {
        'mse': ('mse_loss', x, rng.standard_normal((5, 4)), {}),
        'mse_weighted': ('mse_loss', x, rng.standard_normal((5, 4)), {'weight': rng.uniform(0, 2, (5, 4))}),
        'l1': ('l1_loss', x, rng.standard_normal((5, 4)), {}),
        'l1_weighted': ('l1_loss', x, rng.standard_normal((5, 4)), {'weight': rng.uniform(0, 2, (5, 4))}),
        'huber': ('huber_loss', x, rng.standard_normal((5, 4)), {'delta': 0.7}),
        'huber_weighted': ('huber_loss', x, rng.standard_normal((5, 4)),
                           {'weight': rng.uniform(0, 2, (5, 4))}),
        'bce': ('binary_cross_entropy', 1 / (1 + np.exp(-x)), y, {'weight': weight4}),
        'bce_logits': ('binary_cross_entropy_with_logits', x, y, {}),
        'bce_logits_weights': ('binary_cross_entropy_with_logits', x, y,
                               {'weight': rng.uniform(0.5, 2, (5, 1)), 'pos_weight': weight4}),
        'cross_entropy': ('cross_entropy', x, classes, {}),
        'cross_entropy_options': ('cross_entropy', x, np.array([3, -1, 2, 2, 1]),
                                  {'weight': weight4, 'ignore_index': -1, 'label_smoothing': 0.15}),
        'cross_entropy_1d': ('cross_entropy', x[0], np.array(3), {'label_smoothing': 0.1}),
        'cross_entropy_probs': ('cross_entropy', x, y / y.sum(axis=1, keepdims=True), {}),
        'cross_entropy_probs_options': ('cross_entropy', x, y,  # rows need not sum to 1, as in PyTorch
                                        {'weight': weight4, 'label_smoothing': 0.15, 'ignore_index': -1}),
        'cross_entropy_probs_1d': ('cross_entropy', x[1], y[1], {'label_smoothing': 0.1}),
    }


@pytest.mark.torch
@pytest.mark.parametrize('reduction', REDUCTIONS)
@pytest.mark.parametrize('case', sorted(parity_options(np.random.default_rng(0))))
def test_torch_parity(torch, case, reduction):
    rng = np.random.default_rng(7)
    name, x, target, kwargs = parity_options(rng)[case]
    differentiable_target = target.dtype.kind == 'f'
    ours_x = leaf(x)
    ours_t = leaf(target) if differentiable_target else target
    ours = getattr(F, name)(ours_x, ours_t, reduction=reduction, **kwargs)
    theirs_x = torch.tensor(x, requires_grad=True)
    theirs_t = torch.tensor(target, requires_grad=differentiable_target)
    torch_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    theirs = getattr(torch.nn.functional, name)(theirs_x, theirs_t, reduction=reduction, **torch_kwargs)
    upstream = rng.standard_normal(ours.shape)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-10, atol=1e-12)
    if differentiable_target:
        np.testing.assert_allclose(ours_t.grad, theirs_t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_torch_parity_huge_logits(torch):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [3.0, -1e4, 1e4]])
    classes = np.array([1, 0, 0])
    ours = F.cross_entropy(leaf(logits), classes, reduction='none')
    theirs = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(classes), reduction='none')
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)
    targets = np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.5], [1.0, 1.0, 0.0]])
    x = leaf(logits)
    ours = F.binary_cross_entropy_with_logits(x, targets, pos_weight=np.array([2.0, 1.0, 0.5]))
    theirs_x = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        theirs_x, torch.tensor(targets), pos_weight=torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64))
    ours.backward()
    theirs.backward()
    assert np.isfinite(ours.data)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, theirs_x.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.torch
def test_torch_parity_bce_at_zero_and_one(torch):
    p, y = np.array([0.0, 1.0, 0.0, 1.0, 1e-30]), np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    ours_p = leaf(p)
    ours = F.binary_cross_entropy(ours_p, y, reduction='sum')
    theirs_p = torch.tensor(p, requires_grad=True)
    theirs = torch.nn.functional.binary_cross_entropy(theirs_p, torch.tensor(y), reduction='sum')
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_p.grad, theirs_p.grad.numpy(), rtol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize('name, kwargs', [
    ('relu', {}), ('sigmoid', {}), ('tanh', {}), ('softmax', {'dim': 0}), ('log_softmax', {'dim': -1}),
])
def test_torch_parity_activations(torch, name, kwargs):
    x = np.random.default_rng(8).standard_normal((3, 4)) * 3
    ours_x, theirs_x = leaf(x), torch.tensor(x, requires_grad=True)
    ours, theirs = getattr(F, name)(ours_x, **kwargs), getattr(torch.nn.functional, name)(theirs_x, **kwargs)
    upstream = np.random.default_rng(9).standard_normal(x.shape)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.torch
def test_torch_parity_linear(torch):
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal((2, 5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)]
    ours = [leaf(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = F.linear(*ours), torch.nn.functional.linear(*theirs)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize('norm_type', [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize('max_norm', [0.5, 100.0])
def test_torch_parity_clip_grad_norm(torch, norm_type, max_norm):
    rng = np.random.default_rng(10)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ours = [nn.Parameter(np.zeros_like(g)) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for o, t, g in zip(ours, theirs, grads):
        o.grad, t.grad = g.copy(), torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total == pytest.approx(expected.item(), rel=1e-12)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-12)
