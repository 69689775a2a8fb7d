"""tl.metrics.accuracy: classes (argmax over the last axis, also for sequences), one score per
sample (probabilities or logits, decided as torchmetrics decides, then ``> threshold``),
errors; and torchmetrics parity, skipped without it."""
import math

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import metrics

accuracy = metrics.accuracy


# ---- classes: outputs (..., C), C > 1 -------------------------------------------------------------

def test_classes_argmax_against_indices_one_hot_or_probabilities():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 5.0, 0.0], [0.0, 1.0, 0.5]])
    assert accuracy(logits, np.array([0, 2, 0, 1])) == 0.75
    assert accuracy(tl.Value(logits), tl.Value(np.array([0, 2, 1, 1]))) == 1.0
    assert accuracy(tl.Value(logits).softmax(axis=-1), [0, 2, 0, 1]) == 0.75
    assert accuracy(logits, np.eye(3)[[0, 2, 0, 1]]) == 0.75                           # one-hot
    assert accuracy(logits, np.array([[.6, .3, .1], [0, .2, .8], [.5, .4, .1], [.1, .8, .1]])) == 0.75
    assert accuracy(logits.tolist(), [0, 2, 0, 1]) == 0.75                             # plain lists
    assert isinstance(accuracy(logits, [0, 2, 0, 1]), float)


def test_sequence_tagging_counts_every_token():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 7, 5))                                               # (N, T, C)
    tags = rng.integers(0, 5, size=(4, 7))
    expected = np.mean(logits.argmax(axis=-1) == tags)
    assert accuracy(logits, tags) == expected
    assert accuracy(logits, np.eye(5)[tags]) == expected                              # (N, T, C) one-hot
    assert accuracy(logits, logits.argmax(axis=-1)) == 1.0


# ---- one score per sample: probabilities or logits, then > threshold ------------------------------

def test_probabilities_are_thresholded_directly():
    probs = np.array([0.1, 0.6, 0.9, 0.4])
    assert accuracy(probs, [0, 1, 1, 0]) == 1.0                        # default threshold 0.5
    assert accuracy(probs, [0, 1, 1, 1], threshold=0.3) == 1.0
    assert accuracy(probs, [0, 0, 1, 0], threshold=0.7) == 1.0
    assert accuracy(probs[:, None], np.array([[0], [1], [1], [0]])) == 1.0          # (N, 1) both
    assert accuracy(probs[:, None], [0, 1, 1, 0]) == 1.0                          # (N, 1) against (N,)
    assert accuracy(probs, np.array([[0], [1], [1], [0]])) == 1.0                 # (N,) against (N, 1)


def test_logits_go_through_a_sigmoid_first():
    logits = np.array([-2.0, 0.5, 3.0, -0.1])                  # outside [0, 1]: logits
    assert accuracy(logits, np.array([0, 1, 0, 0])) == 0.75    # sigmoid > 0.5 is logit > 0
    assert accuracy(logits, np.array([False, True, True, False])) == 1.0
    assert accuracy(logits, np.array([0.0, 1.0, 1.0, 0.0], dtype=np.float32)) == 1.0
    # threshold 0.8 on the probability: logit > log(4) = 1.386
    assert accuracy(logits, [0, 0, 1, 0], threshold=0.8) == 1.0
    assert accuracy(np.array([-1e4, 1e4]), [0, 1]) == 1.0      # no overflow in the sigmoid


def test_the_rule_looks_at_all_scores_at_once():
    """Scores that all lie in [0, 1] are probabilities even if a model meant them as logits."""
    assert accuracy(np.array([0.2, 0.7]), [1, 1]) == 0.5      # probabilities: 0.2 -> 0
    assert accuracy(np.array([0.2, 0.7, -0.1]), [1, 1, 0]) == 1.0   # logits: sigmoid(0.2) > 0.5


def test_one_score_per_token_and_integer_or_bool_scores():
    probs = np.array([[[0.2], [0.9]], [[0.6], [0.4]]])                                # (N, T, 1)
    assert accuracy(probs, np.array([[0, 1], [1, 1]])) == 0.75
    assert accuracy(np.array([0, 1, 1]), [0, 1, 0]) == pytest.approx(2 / 3)          # hard 0/1 labels
    assert accuracy(np.array([True, False]), [1, 0]) == 1.0


# ---- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize('outputs, targets, match', [
    (np.zeros((4, 3)), np.zeros(5), r'\(4, 3\).*\(4,\).*\(4, 3\).*got \(5,\)'),
    (np.zeros((2, 3, 4)), np.zeros(2), r'\(2, 3, 4\).*\(2, 3\)'),
    (np.zeros(4), np.zeros(3), r'\(4,\).*got \(3,\)'),
    (np.zeros((4, 1)), np.zeros((4, 2)), r'\(4, 1\).*\(4,\) or \(4, 1\), got \(4, 2\)'),
    (np.zeros((0, 3)), np.zeros(0), 'non-empty'),
    (np.float64(1.0), np.zeros(1), 'non-empty'),
])
def test_shape_errors_name_both_shapes(outputs, targets, match):
    with pytest.raises(ValueError, match=r'^accuracy: .*' + match):
        accuracy(outputs, targets)


def test_bad_threshold_and_data_types():
    with pytest.raises(ValueError, match=r'accuracy: threshold must be in \[0, 1\].*got 1.5'):
        accuracy(np.zeros(2), [0, 1], threshold=1.5)
    with pytest.raises(TypeError, match='accuracy: threshold must be a number'):
        accuracy(np.zeros(2), [0, 1], threshold='0.5')
    with pytest.raises(TypeError, match='accuracy: outputs must be numeric'):
        accuracy(np.array(['a', 'b']), [0, 1])


# ---- torchmetrics parity --------------------------------------------------------------------------

def _cases(rng):
    yield 'binary logits', rng.normal(scale=3, size=50), rng.integers(0, 2, 50), 0.5
    yield 'binary logits, threshold 0.3', rng.normal(size=50), rng.integers(0, 2, 50), 0.3
    yield 'binary probabilities', rng.uniform(size=50), rng.integers(0, 2, 50), 0.5
    yield 'binary probabilities, threshold 0.7', rng.uniform(size=(50, 1)), rng.integers(0, 2, (50, 1)), 0.7
    yield 'logits per token', rng.normal(size=(6, 9)).astype(np.float32), rng.integers(0, 2, (6, 9)), 0.5


@pytest.mark.torch
def test_binary_accuracy_matches_torchmetrics(torch):
    functional = pytest.importorskip('torchmetrics.functional.classification')
    for name, scores, labels, threshold in _cases(np.random.default_rng(0)):
        if scores.ndim == 2 and scores.shape[1] > 1:  # (N, T): one score per token, for torchmetrics too
            ours = accuracy(scores[..., None], labels, threshold=threshold)
        else:
            ours = accuracy(scores, labels, threshold=threshold)
        theirs = functional.binary_accuracy(torch.from_numpy(scores), torch.from_numpy(labels),
                                            threshold=threshold).item()
        assert math.isclose(ours, theirs, rel_tol=1e-6), name


@pytest.mark.torch
@pytest.mark.parametrize('shape', [(40, 5), (6, 9, 4)])
def test_multiclass_accuracy_matches_torchmetrics(torch, shape):
    functional = pytest.importorskip('torchmetrics.functional.classification')
    rng = np.random.default_rng(1)
    logits, classes = rng.normal(size=shape), rng.integers(0, shape[-1], size=shape[:-1])
    preds = torch.from_numpy(np.moveaxis(logits, -1, 1))          # torchmetrics: classes on axis 1
    theirs = functional.multiclass_accuracy(preds, torch.from_numpy(classes), num_classes=shape[-1],
                                            average='micro').item()
    assert math.isclose(accuracy(logits, classes), theirs, rel_tol=1e-6)
