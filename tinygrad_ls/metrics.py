"""Evaluation metrics: plain floats computed from model outputs and targets (no gradient).

Each takes Values or array-likes, so it can be passed to ``tl.train.fit(metrics=...)``.
"""
from __future__ import annotations

import numpy as np

from .checks import check_number
from .ops.elementwise import stable_sigmoid
from .tracing import replayed
from .value import to_numpy


def _binary_predictions(scores: np.ndarray, threshold: float) -> np.ndarray:
    """``scores > threshold`` for probabilities (every score in [0, 1]), ``sigmoid(scores) >
    threshold`` for logits (any score outside), as torchmetrics decides."""
    if scores.dtype.kind == 'f' and not ((scores >= 0) & (scores <= 1)).all():
        scores = stable_sigmoid(scores)
    return scores > threshold


@replayed
def accuracy(outputs, targets, threshold: float = 0.5) -> float:
    """The fraction of predictions equal to their target, a float in [0, 1].

    - Classes, outputs ``(..., C)`` with ``C > 1`` and at least two axes (logits or
      probabilities): the prediction is the argmax over the last axis. ``targets``: class
      indices of shape ``(...)``, or one-hot / probability rows of shape ``(..., C)`` (their
      argmax is the class). ``(N, C)`` classifies N samples, ``(N, T, C)`` tags N sequences
      of T tokens (each token counts once).
    - One score per sample, outputs ``(...)`` or ``(..., 1)`` (a 1-d ``(N,)`` is always this
      case): if every score lies in [0, 1] they are probabilities, otherwise logits, which go
      through a sigmoid first; the prediction is ``probability > threshold`` (torchmetrics'
      rule). ``targets``: labels in {0, 1} (bool, int or float; positive when > 0.5) of the
      outputs' shape, with or without the trailing 1.

    Raises TypeError for non-numeric data or threshold, ValueError for an empty batch, a
    threshold outside [0, 1] or shapes that do not match.
    """
    scores, labels = to_numpy(outputs), to_numpy(targets)
    for name, array in (('outputs', scores), ('targets', labels)):
        if array.dtype.kind not in 'biuf':
            raise TypeError(f"accuracy: {name} must be numeric, got dtype {array.dtype} "
                            f"(shape {array.shape})")
    if not 0.0 <= check_number('accuracy', 'threshold', threshold) <= 1.0:
        raise ValueError(f"accuracy: threshold must be in [0, 1] (it applies to probabilities), "
                         f"got {threshold}")
    if scores.ndim == 0 or scores.size == 0:
        raise ValueError(f"accuracy: needs a non-empty batch of outputs, got shape {scores.shape}")
    if scores.ndim >= 2 and scores.shape[-1] > 1:
        if labels.shape == scores.shape:
            labels = labels.argmax(axis=-1)
        if labels.shape != scores.shape[:-1]:
            raise ValueError(f"accuracy: outputs of shape {scores.shape} need targets of shape "
                             f"{scores.shape[:-1]} (class indices) or {scores.shape} (one-hot), "
                             f"got {labels.shape}")
        correct = scores.argmax(axis=-1) == labels
    else:
        shape = scores.shape
        if scores.ndim >= 2:
            scores = scores[..., 0]
        if labels.shape == scores.shape + (1,):
            labels = labels[..., 0]
        if labels.shape != scores.shape:
            raise ValueError(f"accuracy: outputs of shape {shape} (one score per sample) need targets of "
                             f"shape {scores.shape} or {scores.shape + (1,)}, got {labels.shape}")
        correct = _binary_predictions(scores, threshold) == (labels > 0.5)
    return float(np.mean(correct))


__all__ = ['accuracy']
