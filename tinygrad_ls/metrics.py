"""Evaluation metrics: plain floats computed from model outputs and targets (no gradient).

Each takes Values or array-likes, so it can be passed to ``tl.train.fit(metrics=...)``.
"""
from __future__ import annotations

import numpy as np

from .value import to_numpy


def accuracy(logits_or_probs, targets, threshold: float = 0.0) -> float:
    """The fraction of samples whose predicted class equals the target, in [0, 1].

    - Multi-class, outputs of shape ``(N, C)`` with ``C > 1`` (logits or probabilities):
      the prediction is the argmax over the last axis. ``targets``: ``(N,)`` class indices,
      or one-hot / probability rows of shape ``(N, C)`` (their argmax is the class).
    - Binary, outputs of shape ``(N,)`` or ``(N, 1)``: the prediction is
      ``output > threshold``. The default ``threshold=0.0`` is for **logits**
      (``sigmoid(z) > 0.5``); pass ``threshold=0.5`` for probabilities. ``targets``:
      ``(N,)`` or ``(N, 1)`` labels in {0, 1} (bool, int or float; a label counts as positive
      when it is > 0.5).

    Raises ValueError for an empty batch or shapes that do not match.
    """
    outputs, labels = to_numpy(logits_or_probs), to_numpy(targets)
    for name, array in (('outputs', outputs), ('targets', labels)):
        if array.dtype.kind not in 'biuf':
            raise TypeError(f"accuracy: {name} must be numeric, got dtype {array.dtype} "
                            f"(shape {array.shape})")
    if outputs.ndim == 0 or outputs.shape[0] == 0:
        raise ValueError(f"accuracy: needs a non-empty batch of outputs, got shape {outputs.shape}")
    multiclass = outputs.ndim == 2 and outputs.shape[1] > 1
    if multiclass:
        if labels.shape == outputs.shape:
            labels = labels.argmax(axis=-1)
        if labels.shape != outputs.shape[:1]:
            raise ValueError(f"accuracy: outputs of shape {outputs.shape} need targets of shape "
                             f"{outputs.shape[:1]} (class indices) or {outputs.shape} (one-hot), "
                             f"got {labels.shape}")
        correct = outputs.argmax(axis=-1) == labels
    elif outputs.ndim in (1, 2):
        n = outputs.shape[0]
        if labels.shape not in ((n,), (n, 1)):
            raise ValueError(f"accuracy: binary outputs of shape {outputs.shape} need targets of shape "
                             f"({n},) or ({n}, 1), got {labels.shape}")
        correct = (outputs.reshape(n) > threshold) == (labels.reshape(n) > 0.5)
    else:
        raise ValueError(f"accuracy: outputs must have shape (N,), (N, 1) or (N, C), got {outputs.shape}")
    return float(np.mean(correct))


__all__ = ['accuracy']
