"""The losses refuse numbers that would make a NaN/inf loss (issue 20): ±inf or NaN in an input
or a target, NaN/inf in ``weight``/``pos_weight``, a mean over a batch whose every target is
``ignore_index``. The checks run inside the ops' ``forward``, so a compiled step raises the
same error at a replay, before any parameter changes."""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F


def leaf(array) -> tl.Value:
    return tl.Value(np.asarray(array, dtype=np.float64), requires_grad=True)


def with_value(shape, index, value, base=0.25):
    array = np.full(shape, base)
    array[index] = value
    return array


# (name, call(input, target)) of losses whose input and target have the same shape
ELEMENTWISE = [
    ('mse_loss', F.mse_loss),
    ('l1_loss', F.l1_loss),
    ('huber_loss', F.huber_loss),
    ('binary_cross_entropy', F.binary_cross_entropy),
    ('binary_cross_entropy_with_logits', F.binary_cross_entropy_with_logits),
]
BAD = [(np.inf, 'inf', 'is inf'), (-np.inf, 'inf', 'is -inf'), (np.nan, 'NaN', '')]


@pytest.mark.parametrize('name, loss', ELEMENTWISE, ids=[name for name, _ in ELEMENTWISE])
@pytest.mark.parametrize('value, kind, shown', BAD, ids=['+inf', '-inf', 'nan'])
@pytest.mark.parametrize('what', ['input', 'target'])
def test_elementwise_losses_refuse_non_finite_input_and_target(name, loss, value, kind, shown, what):
    good, bad = np.full((4, 3), 0.25), with_value((4, 3), (2, 1), value)
    args = (leaf(bad), good) if what == 'input' else (leaf(good), bad)
    pattern = rf"^{name}: {what} contains {kind} \(1 of 12 elements, the first at index \(2, 1\)"
    with pytest.raises(ValueError, match=pattern) as info:
        loss(*args)
    assert shown in str(info.value) and f"{what} shape (4, 3)" in str(info.value)


@pytest.mark.parametrize('value, kind, shown', BAD, ids=['+inf', '-inf', 'nan'])
def test_class_losses_refuse_non_finite_scores_and_probabilities(value, kind, shown):
    logits, target = with_value((3, 4), (1, 3), value), np.array([0, 3, 2])  # at row 1's target
    with pytest.raises(ValueError, match=rf"^cross_entropy: input contains {kind} .*index \(1, 3\)"):
        F.cross_entropy(leaf(logits), target)
    with pytest.raises(ValueError, match=rf"^nll_loss: input contains {kind} .*index \(1, 3\)"):
        F.nll_loss(leaf(logits), target)
    probabilities = rf"^cross_entropy: target contains {kind} .*index \(1, 3\) ?{shown}"
    with pytest.raises(ValueError, match=probabilities):
        F.cross_entropy(leaf(np.zeros((3, 4))), logits)  # class probabilities


def test_minus_inf_masks_a_class_that_is_not_the_target_as_in_pytorch():
    """A logit (or log-probability) of -inf away from the row's target is a mask: probability
    0, nothing added, a finite loss and gradient. At the target, or with label smoothing
    (which puts weight on every class), it would make the loss inf: refused."""
    logits = np.array([[0.0, -np.inf, 1.0], [2.0, 0.5, -np.inf]])
    x = leaf(logits)
    loss = F.cross_entropy(x, np.array([0, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(x.grad).all() and x.grad[0, 1] == 0.0
    assert np.isfinite(F.nll_loss(leaf(logits), np.array([2, 0])).item())
    assert np.isfinite(F.cross_entropy(leaf(logits), np.array([-100, 0])).item())  # an ignored row
    message = r"input contains inf \(1 of 6 elements, the first at index \(0, 1\) is -inf; .*not the row's"
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(leaf(logits), np.array([1, 0]))
    with pytest.raises(ValueError, match=r"^nll_loss: input contains inf .*index \(1, 2\)"):
        F.nll_loss(leaf(logits), np.array([0, 2]))
    with pytest.raises(ValueError, match=r"2 of 6 elements.*without label smoothing"):
        F.cross_entropy(leaf(logits), np.array([0, 1]), label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"^cross_entropy: input contains inf"):  # class probabilities
        F.cross_entropy(leaf(logits), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"^cross_entropy: input contains inf"):  # +inf is never a mask
        F.cross_entropy(leaf(-logits), np.array([0, 0]))


def test_mixed_nan_and_inf_are_counted_together():
    x = with_value((2, 5), (0, 4), np.inf)
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"input contains NaN and inf \(2 of 10 elements, the first at index "
                                         r"\(0, 4\) is inf"):
        F.mse_loss(leaf(x), np.zeros((2, 5)))


@pytest.mark.parametrize('value', [np.nan, np.inf, -np.inf], ids=['nan', '+inf', '-inf'])
def test_weights_and_pos_weight_must_be_finite(value):
    x, y = leaf(np.zeros((2, 3))), np.full((2, 3), 0.5)
    column = with_value((3,), 2, value, base=1.0)
    cases = [
        ('mse_loss', 'weight', lambda: F.mse_loss(x, y, weight=with_value((2, 3), (1, 2), value, 1.0))),
        ('l1_loss', 'weight', lambda: F.l1_loss(x, y, weight=with_value((2, 3), (1, 2), value, 1.0))),
        ('binary_cross_entropy', 'weight', lambda: F.binary_cross_entropy(leaf(y), y, column)),
        ('binary_cross_entropy_with_logits', 'weight',
         lambda: F.binary_cross_entropy_with_logits(x, y, column)),
        ('binary_cross_entropy_with_logits', 'pos_weight',
         lambda: F.binary_cross_entropy_with_logits(x, y, pos_weight=column)),
        ('cross_entropy', 'weight', lambda: F.cross_entropy(x, np.array([0, 1]), weight=column)),
        ('cross_entropy', 'weight', lambda: F.cross_entropy(x, y / 1.5, weight=column)),
        ('nll_loss', 'weight', lambda: F.nll_loss(x, np.array([0, 1]), weight=column)),
    ]
    for name, what, call in cases:
        pattern = rf"^{name}: {what} contains (NaN|inf) .*the first at index"
        with pytest.raises(ValueError, match=pattern) as info:
            call()
        assert 'detect_anomaly' not in str(info.value)  # a weight is the caller's constant, no op made it


def test_loss_modules_raise_the_same_errors():
    x = leaf(with_value((2, 3), (0, 0), np.inf))
    with pytest.raises(ValueError, match=r"^cross_entropy: input contains inf"):
        nn.CrossEntropyLoss()(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^binary_cross_entropy_with_logits: pos_weight contains NaN"):
        nn.BCEWithLogitsLoss(pos_weight=np.array([1.0, np.nan, 1.0]))(leaf(np.zeros((2, 3))), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^mse_loss: target contains inf"):
        nn.MSELoss()(leaf(np.zeros(2)), [0.0, -np.inf])


def test_large_finite_values_whose_sum_overflows_are_accepted():
    """Values near the float64 maximum are finite: their sum overflows, they pass."""
    x = np.full((4,), 1e308)
    assert F.l1_loss(leaf(x), x).item() == 0.0
    logits = np.full((2, 3), 1e308)
    assert np.isfinite(F.cross_entropy(leaf(logits), np.array([0, 2])).item())


def test_integer_and_bool_targets_are_not_checked_for_nan():
    x = leaf(np.zeros((2, 2)))
    assert F.mse_loss(x, np.ones((2, 2), dtype=np.int64)).item() == 1.0
    assert F.mse_loss(x, np.ones((2, 2), dtype=bool)).item() == 1.0


# ---- a mean over no target ---------------------------------------------------------------------

@pytest.mark.parametrize('name', ['cross_entropy', 'nll_loss'])
@pytest.mark.parametrize('options', [{}, {'ignore_index': 3}, {'weight': np.ones(4)}],
                         ids=['default', 'ignore-3', 'weighted'])
def test_a_batch_whose_every_target_is_ignored_raises(name, options):
    loss = getattr(F, name)
    ignore = options.get('ignore_index', -100)
    target = np.full(5, ignore)
    with pytest.raises(ValueError, match=rf"^{name}: every target of the batch is ignore_index={ignore} "
                                         r"\(5 rows\).*reduction='sum'"):
        loss(leaf(np.zeros((5, 4))), target, **options)
    assert loss(leaf(np.zeros((5, 4))), target, reduction='sum', **options).item() == 0.0
    assert np.all(loss(leaf(np.zeros((5, 4))), target, reduction='none', **options).data == 0.0)


def test_all_ignored_with_label_smoothing_and_zero_class_weights_raise():
    x = leaf(np.zeros((3, 4)))
    with pytest.raises(ValueError, match='every target of the batch is ignore_index'):
        F.cross_entropy(x, np.full(3, -100), label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"weights of the 2 targets that are not ignore_index=-100 sum to 0"):
        F.cross_entropy(x, np.array([0, 0, -100]), weight=np.array([0.0, 1.0, 1.0, 1.0]))
    partly = F.cross_entropy(x, np.array([1, -100, 2]))  # some targets left: a finite mean
    assert np.isfinite(partly.item())


def test_an_empty_batch_still_gives_nan_as_pytorch():
    assert np.isnan(F.cross_entropy(leaf(np.zeros((0, 3))), np.zeros(0, dtype=np.int64)).item())
    assert np.isnan(F.cross_entropy(leaf(np.zeros((0, 3))), np.zeros(0, dtype=np.int64),
                                    weight=np.ones(3)).item())


def test_class_index_errors_name_the_first_bad_index():
    with pytest.raises(ValueError, match=r"got \[7\] \(the first at index \(2,\); input shape \(3, 4\)"):
        F.cross_entropy(leaf(np.zeros((3, 4))), np.array([0, 1, 7]))


# ---- the checks run at a compiled replay too ---------------------------------------------------

def _sgd_step(model, optimizer):
    def step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(tl.Value(x)), y)
        loss.backward()
        optimizer.step()
        return loss
    return step


def _replay_case(bad_batch):
    """A compiled SGD step fed good batches (recorded, replayed) and then ``bad_batch``: the
    error of the eager call, and that of the replay, with the parameters after it."""
    rng = np.random.default_rng(0)
    good = [(rng.standard_normal((6, 3)), np.array([0, 1, 2, 0, 1, 2])) for _ in range(2)]
    errors = []
    for compiled in (False, True):
        tl.manual_seed(0)
        model = nn.Linear(3, 3, dtype=np.float64)
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        step = _sgd_step(model, optimizer)
        fn = tl.compile(step) if compiled else step
        for batch in good:
            fn(*batch)
        before = [p.data.copy() for p in model.parameters()]
        with pytest.raises(ValueError) as info:
            fn(*bad_batch)
        for p, kept in zip(model.parameters(), before):
            np.testing.assert_array_equal(p.data, kept)
        errors.append(str(info.value))
        if compiled:
            assert fn.recordings == 1  # the bad batch went through the replay, not a new recording
    return errors


@pytest.mark.parametrize('bad, message', [
    ((with_value((6, 3), (4, 2), np.inf), np.array([0, 1, 2, 0, 1, 2])), 'input contains inf'),
    ((np.zeros((6, 3)), np.array([0, 1, 9, 0, 1, 2])), r'class indices in \[0, 3\)'),
    ((np.zeros((6, 3)), np.full(6, -100)), 'every target of the batch is ignore_index'),
], ids=['inf-input', 'class-out-of-range', 'all-ignored'])
def test_a_compiled_replay_raises_the_eager_error_before_the_step(bad, message):
    eager, replayed = _replay_case(bad)
    assert eager == replayed
    assert re.match(rf"^cross_entropy: .*{message}", eager)
