"""The data checks of the loss ops: NaN/±inf in an input, a target, a ``weight`` or a
``pos_weight``; class indices out of range; a mean over targets that are all ignored.

They run inside each loss op's ``forward`` (ops/losses.py), not in ``nn.functional`` before
the op: ``tl.compile`` replays a step by calling every op's ``forward`` on the new data, so a
check there refuses bad data at every replay too, exactly as eager code does. Each check costs
one pass over the array in the common case (``isfinite(x).all()``; a min and a max of the
class indices); only when that pass fails does the slow path look for the first bad
element, to name it.

The error is a ValueError whose message is complete: it names the loss, the argument, how
many elements are bad, the first bad index and the shape (``data_error`` marks it as one of
these). ``Function.apply`` wraps a ValueError raised by ``forward`` in a new one that names
the op once more; ``apply_checked`` hands the original on instead, so eager code and a replay
raise the same text.
"""
from __future__ import annotations

import math

import numpy as np

from ..value import Value

_HINT = "; tl.detect_anomaly() names the op that made it"


def data_error(message: str) -> ValueError:
    """The ValueError of a loss that refuses the numbers it was given, marked so that
    ``apply_checked`` recognises it."""
    error = ValueError(message)
    error.refused_data = True
    return error


def apply_checked(op: type, *args, **params) -> Value:
    """``op.apply(*args, **params)``; a ``data_error`` from ``forward`` is raised as it was
    raised (``apply`` would name the op twice), any other error as ``apply`` raises it."""
    try:
        return op.apply(*args, **params)
    except ValueError as error:
        cause = error.__cause__
        if getattr(cause, 'refused_data', False):
            raise cause from None
        raise


def check_finite(loss: str, what: str, array) -> None:
    """ValueError if the float ``array`` holds NaN or ±inf, naming ``loss``, ``what``
    (``'input'``, ``'target'``, ``'weight'``, ``'pos_weight'``), the count, the first bad
    index and the shape. Fast path: one ``isfinite`` pass and ``all`` (a sum would be a little
    faster, but it warns when it overflows, as a float16 sum does on good data)."""
    if not isinstance(array, np.ndarray) or array.dtype.kind != 'f' or not array.size:
        return
    finite = np.isfinite(array)
    if not finite.all():
        _refuse(loss, what, array, ~finite)


def check_scores(loss: str, scores: np.ndarray, target: np.ndarray, ignore_index: int,
                 smoothing: float) -> None:
    """``check_finite`` for the scores (N, C) or (C,) of a class-index loss, but for -inf
    where it is a mask, as in PyTorch: a logit (or log-probability) of -inf at a class that is
    not the row's target has probability 0 and adds nothing. At the target of a row that is
    not ignored it would make the loss inf, and with label smoothing every class counts:
    refused there."""
    if not scores.size:
        return
    finite = np.isfinite(scores)
    if finite.all():
        return
    bad = ~finite
    if not smoothing:
        rows = bad.reshape(-1, scores.shape[-1])
        masked = np.isneginf(scores).reshape(rows.shape)
        targets = target.reshape(-1)
        kept = np.flatnonzero(targets != ignore_index)
        at_target = np.zeros_like(rows)
        at_target[kept, targets[kept]] = masked[kept, targets[kept]]
        bad = ((rows & ~masked) | at_target).reshape(scores.shape)
        if not bad.any():
            return
    _refuse(loss, 'input', scores, bad, "; a -inf logit may only mask a class that is not the row's target, "
                                        "without label smoothing")


def _refuse(loss: str, what: str, array: np.ndarray, bad: np.ndarray, note: str = '') -> None:
    """The ValueError for the elements ``bad`` of ``array``: their kind, count, the first one."""
    count = int(np.count_nonzero(bad))
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    value = array[first]
    nans = int(np.count_nonzero(np.isnan(array) & bad))
    kind = 'NaN' if nans == count else 'inf' if not nans else 'NaN and inf'
    shown = '' if math.isnan(value) else f" is {value!s}"
    hint = _HINT if what in ('input', 'target') else ''
    raise data_error(f"{loss}: {what} contains {kind} ({count} of {array.size} elements, the first at "
                     f"index {first}{shown}; {what} shape {array.shape}{note}){hint}")


def check_class_indices(loss: str, target: np.ndarray, classes: int, ignore_index: int,
                        input_shape: tuple) -> None:
    """ValueError unless every value of the integer ``target`` is a class in
    ``[0, classes)`` or ``ignore_index``. Fast path: one ``min`` and one ``max``."""
    if not target.size or (target.min() >= 0 and target.max() < classes):
        return
    out_of_range = ((target < 0) | (target >= classes)) & (target != ignore_index)
    if out_of_range.any():
        first = tuple(int(i) for i in np.argwhere(out_of_range)[0])
        raise data_error(f"{loss}: target values must be class indices in [0, {classes}) or "
                         f"ignore_index={ignore_index}, got {np.unique(target[out_of_range])[:5]} "
                         f"(the first at index {first}; input shape {input_shape}, target shape "
                         f"{target.shape})")


def refuse_empty_mean(loss: str, kept: int, rows: int, ignore_index: int) -> None:
    """ValueError for a ``'mean'`` over targets whose total weight is 0: 0 / 0 is NaN
    (PyTorch returns it), and one optimizer step on it makes every parameter NaN."""
    if not kept:
        raise data_error(f"{loss}: every target of the batch is ignore_index={ignore_index} ({rows} "
                         "rows), so the mean over the targets is 0 / 0 = nan; skip such batches, or use "
                         "reduction='sum'")
    raise data_error(f"{loss}: the class weights of the {kept} targets that are not ignore_index="
                     f"{ignore_index} sum to 0, so the weighted mean is 0 / 0 = nan; use "
                     "reduction='sum' or non-zero weights")


__all__ = ['data_error', 'apply_checked', 'check_finite', 'check_scores', 'check_class_indices',
           'refuse_empty_mean']
