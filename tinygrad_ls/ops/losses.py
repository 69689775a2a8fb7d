"""Fused loss ops: cross-entropy over logits (against class indices or class probabilities),
nll_loss; mse, l1, huber, and binary cross-entropy on logits and on probabilities (each
weighted and reduced in the same op).

Fused (one node each): they run at every step, and the fused forms are the stable ones
(``reduce.py``, ``elementwise.py``); backwards use operators shared by ndarrays and Values, so
second derivatives work. What reads the numbers (NaN/±inf, class indices, a mean over no
target) is checked inside ``forward`` (``loss_checks.py``): a compiled replay refuses bad data
as eager code does.
"""
from __future__ import annotations

import numpy as np

from ..value import Value, data_of
from . import generic
from .base import Function
from .elementwise import Softplus, stable_sigmoid, stable_softplus
from .loss_checks import check_class_indices, check_finite, check_scores, data_error, refuse_empty_mean
from .reduce import log_softmax

REDUCTIONS = ('mean', 'sum', 'none')
LOG_CLAMP = -100.0  # binary_cross_entropy clamps its logs here, like PyTorch, and divides its
BCE_GRAD_EPS = float(np.float32(1e-12))  # gradient by max(p (1 - p), 1e-12), a C float there


class _ClassIndexLoss(Function):
    """Shared by the losses over class indices ``target`` (N,) or () and per-class scores ``z``
    (N, C) or (C,) (log-probabilities: the log-softmax of the logits, or the input of nll_loss).

    Per row ``loss_i = -sum_c a_ic z_ic`` with the coefficients

        a_ic = keep_i ((1 - s) w_{t_i} [c == t_i] + (s / C) w_c)

    (``w`` the class weights, 1 if not given; ``s`` the label smoothing; ``keep_i`` 0 where
    ``t_i == ignore_index``). Reductions: ``'none'`` -> (N,) (or () for 1-D scores),
    ``'sum'``, ``'mean'`` = sum / sum_i keep_i w_{t_i} (PyTorch's weighted mean).
    """

    def __init__(self, target: np.ndarray, weight: np.ndarray | None = None,
                 ignore_index: int = -100, label_smoothing: float = 0.0, reduction: str = 'mean'):
        self.target, self.weight = target, weight
        self.ignore_index, self.label_smoothing, self.reduction = ignore_index, label_smoothing, reduction

    def _check(self, scores: np.ndarray, shape: tuple) -> None:
        """The data checks (``loss_checks``): targets in range, finite weight, finite scores
        (-inf allowed as a mask away from the targets)."""
        check_class_indices(self.name, self.target, shape[-1], self.ignore_index, shape)
        if self.weight is not None:
            check_finite(self.name, 'weight', self.weight)
        check_scores(self.name, scores, self.target, self.ignore_index, self.label_smoothing)

    def _loss(self, scores: np.ndarray):
        """The reduced loss of the 2-D ``scores``; saves the coefficients for ``_coefficients``.
        A ``'mean'`` whose targets weigh 0 in total (all ignored) is refused: 0 / 0."""
        rows, classes = scores.shape
        target = self.target.reshape(-1)
        ignored = target == self.ignore_index
        self.plain = self.weight is None and not self.label_smoothing and not ignored.any()
        if self.plain:  # the common case, kept short: every a_i is the one-hot of t_i
            self.index = (np.arange(rows), target)
            per_row = -scores[self.index]
            self.scale = (1.0 / rows if rows else np.nan) if self.reduction == 'mean' else 1.0
            return self._reduced(per_row, rows)
        keep = ~ignored
        self.index = (np.arange(rows), np.where(keep, target, 0))
        # w_{t_i} keep_i: the weight of each row's target class, 0 for ignored rows
        weight = self.weight
        target_weight = keep.astype(scores.dtype) if weight is None else weight[self.index[1]] * keep
        smoothing = self.label_smoothing
        self.target_coef = (1 - smoothing) * target_weight      # a_{i t_i} without the smoothing part
        per_row = -self.target_coef * scores[self.index]
        self.smooth_coef = None
        if smoothing:
            class_weight = np.ones(classes, dtype=scores.dtype) if self.weight is None else self.weight
            self.keep, self.smooth_coef = keep, (smoothing / classes) * class_weight  # (C,)
            per_row -= keep * (scores @ self.smooth_coef)
        total_weight = target_weight.sum()
        if self.reduction == 'mean' and rows and not total_weight:
            refuse_empty_mean(self.name, int(np.count_nonzero(keep)), rows, self.ignore_index)
        with np.errstate(divide='ignore', invalid='ignore'):  # an empty batch: nan, as in PyTorch
            self.scale = 1 / total_weight if self.reduction == 'mean' else 1.0
        return self._reduced(per_row, total_weight)

    def _reduced(self, per_row: np.ndarray, total_weight):
        """The per-row losses reduced: 'none' keeps them, 'sum' adds, 'mean' divides by the
        total weight of the targets (the row count in the plain case)."""
        if self.reduction == 'none':
            return per_row.reshape(self.target.shape)
        if self.reduction == 'sum':
            return per_row.sum()
        with np.errstate(divide='ignore', invalid='ignore'):
            return per_row.sum() / total_weight

    def _row_grad(self, grad):
        """The upstream gradient of each row's loss, as a column (times the mean's scale)."""
        return (grad.reshape(-1, 1) if self.reduction == 'none' else grad) * self.scale

    def _coefficients(self, shape: tuple, dtype) -> tuple:
        """``(a, sum_c a_ic)``: the coefficients as a dense (N, C) array, and their row sums as
        a column (None in the plain case, where every row sums to 1)."""
        coef = np.zeros(shape, dtype=dtype)
        if self.plain:
            coef[self.index] = 1
            return coef, None
        coef[self.index] = self.target_coef
        row_total = self.target_coef
        if self.smooth_coef is not None:
            coef += self.keep[:, None] * self.smooth_coef
            row_total = row_total + self.keep * self.smooth_coef.sum()
        return coef, row_total[:, None]


class CrossEntropy(_ClassIndexLoss):
    """Cross-entropy of logits ``x`` (N, C) or (C,) against class indices: ``_ClassIndexLoss``
    of ``z = log_softmax(x)`` (stable, shifted by each row's max).

    Backward: ``d loss / d x_i = g_i (softmax(x_i) sum_c a_ic - a_i)``, i.e.
    ``softmax - onehot`` per row in the plain case.
    """
    name = 'cross_entropy'

    def forward(self, logits):
        self._check(logits, logits.shape)
        x = logits.reshape(1, -1) if logits.ndim == 1 else logits
        self.log_probs = log_softmax(x)
        return self._loss(self.log_probs)

    def backward(self, grad, out, logits):
        shape = np.shape(data_of(logits))
        if isinstance(logits, Value):  # create_graph: softmax as a recorded op
            probs = logits.reshape(-1, shape[-1]).softmax(axis=-1)
        else:
            probs = np.exp(self.log_probs)
        coef, row_total = self._coefficients(self.log_probs.shape, self.log_probs.dtype)
        if row_total is not None:
            probs = probs * row_total
        return (((probs - coef) * self._row_grad(grad)).reshape(shape),)


class NegativeLogLikelihood(_ClassIndexLoss):
    """``nll_loss``: ``_ClassIndexLoss`` of the input itself (log-probabilities ``z``), so
    ``loss_i = -w_{t_i} z_{i t_i}``; backward ``-g_i a_i`` (the input's values are not needed)."""
    name = 'nll_loss'
    saves_inputs = False

    def forward(self, log_probs):
        self._check(log_probs, log_probs.shape)
        self.shape, self.dtype = log_probs.shape, log_probs.dtype
        return self._loss(log_probs.reshape(1, -1) if log_probs.ndim == 1 else log_probs)

    def backward(self, grad, out, log_probs):
        coef, _ = self._coefficients((self.target.size, self.shape[-1]), self.dtype)
        return ((-coef * self._row_grad(grad)).reshape(self.shape),)


class SoftCrossEntropy(Function):
    """Cross-entropy of logits ``x`` (N, C) or (C,) against class probabilities ``y`` of the
    same shape (PyTorch >= 1.10):

        loss_i = -sum_c w_c y'_ic log_softmax(x)_ic,    y' = (1 - s) y + s / C

    (``w`` the class weights, 1 if not given; ``s`` the label smoothing). ``'mean'`` divides
    the sum by N, the weights notwithstanding (PyTorch's rule for probability targets).
    Backward, with ``a = w y'``: ``d/dx_i = g_i (softmax(x_i) sum_c a_ic - a_i)``,
    ``d/dy_ic = -g_i (1 - s) w_c log_softmax(x)_ic``.
    """
    name = 'cross_entropy'

    def __init__(self, weight: np.ndarray | None = None, label_smoothing: float = 0.0,
                 reduction: str = 'mean'):
        self.weight, self.label_smoothing, self.reduction = weight, label_smoothing, reduction

    def _coefficients(self, probs):
        """``a = w ((1 - s) y + s / C)`` for an ndarray or (recorded) a Value ``y``."""
        smoothing = self.label_smoothing
        if smoothing:
            probs = probs * (1 - smoothing) + smoothing / np.shape(data_of(probs))[-1]
        return probs if self.weight is None else probs * self.weight

    def forward(self, logits, probs):
        check_finite(self.name, 'input', logits)
        check_finite(self.name, 'target', probs)
        if self.weight is not None:
            check_finite(self.name, 'weight', self.weight)
        self.log_probs = log_softmax(logits)
        per_row = -(self._coefficients(probs) * self.log_probs).sum(axis=-1)
        self.scale = 1.0
        if self.reduction == 'none':
            return per_row
        total = per_row.sum()
        if self.reduction == 'sum':
            return total
        rows = per_row.size
        self.scale = 1 / rows if rows else np.nan  # an empty mean is nan, as in PyTorch
        return total / rows if rows else total * np.nan

    def backward(self, grad, out, logits, probs):
        need_x, need_y = self.needs_input_grad
        graph = isinstance(logits, Value)  # create_graph: recorded ops, differentiable again
        if self.reduction == 'none':
            grad = grad.reshape(np.shape(data_of(grad)) + (1,))
        grad = grad * self.scale
        grad_x = grad_y = None
        if need_x:
            coef = self._coefficients(probs)
            softmax = logits.softmax(axis=-1) if graph else np.exp(self.log_probs)
            grad_x = (softmax * coef.sum(axis=-1, keepdims=True) - coef) * grad
        if need_y:
            log_probs = logits.log_softmax(axis=-1) if graph else self.log_probs
            class_weight = 1 - self.label_smoothing if self.weight is None else \
                (1 - self.label_smoothing) * self.weight
            grad_y = -(log_probs * class_weight) * grad
        return grad_x, grad_y


# ---- elementwise losses of (input, target), weighted and reduced in one op ---------------------
class ElementwiseLoss(Function):
    """Base of the losses that compare ``input`` and ``target`` element by element.

    ``forward`` computes the subclass's ``elementwise(a, b)`` loss, multiplies it by the
    constant ``weight`` (broadcast to the input's shape; no gradient) and reduces it:
    ``'none'``, ``'sum'``, or ``'mean'`` = sum / count, where count is the number of elements,
    or the sum of the weights when ``mean_over_weight`` (PyTorch's weighted mse and l1).
    A subclass's ``backward`` multiplies its local derivatives by ``self.upstream(grad)``.
    """

    def __init__(self, reduction: str = 'mean', weight: np.ndarray | None = None,
                 mean_over_weight: bool = False):
        self.reduction, self.weight, self.mean_over_weight = reduction, weight, mean_over_weight

    def elementwise(self, a, b):
        raise NotImplementedError

    def check(self, a, b) -> None:  # (loss_checks: finite input, target and weight)
        check_finite(self.name, 'input', a)
        check_finite(self.name, 'target', b)
        if self.weight is not None:
            check_finite(self.name, 'weight', self.weight)

    def forward(self, a, b):
        loss = self.elementwise(a, b)
        if self.weight is not None:
            loss = loss * self.weight
        self.scale = 1
        if self.reduction == 'none':
            return self._checked(loss, loss, a, b)
        total = np.add.reduce(loss, axis=None)
        if self.reduction == 'sum':
            return self._checked(total, total, a, b)
        count = self.weight.sum() if self.mean_over_weight and self.weight is not None else loss.size
        if not count:  # an empty mean (or weights summing to 0) is nan, as in PyTorch
            self.scale = np.nan
            return total * np.nan
        self.scale = 1 / count
        return self._checked(total / count, total, a, b)

    def _checked(self, result, summary, a, b):
        """``result``, checked: NaN/±inf in any argument makes the loss NaN or inf, so a finite
        ``summary`` (the total or the elementwise losses) proves them finite; a non-finite one
        (bad data, or an overflow, which passes) runs the checks that name the bad element."""
        if not np.isfinite(summary).all():
            self.check(a, b)
        return result

    def upstream(self, grad):
        """The gradient reaching each element's loss: ``grad`` times the mean's ``1 / count``
        and the weight."""
        if self.scale != 1:
            grad = grad * self.scale
        return grad if self.weight is None else grad * self.weight


def _both(needs: tuple, grad_a):
    """``(grad_a, -grad_a)``, each None where not needed: for losses of ``a - b``."""
    need_a, need_b = needs
    return (grad_a if need_a else None), (-grad_a if need_b else None)


class SquaredError(ElementwiseLoss):
    """``(a - b)**2``; backward ``±2 (a - b)``."""
    name = 'mse_loss'

    def elementwise(self, a, b):
        diff = a - b
        return diff * diff

    def backward(self, grad, out, a, b):
        return _both(self.needs_input_grad, (a - b) * (2 * self.upstream(grad)))


class AbsoluteError(ElementwiseLoss):
    """``|a - b|``; backward ``±sign(a - b)`` (0 where they are equal, as in PyTorch)."""
    name = 'l1_loss'

    def elementwise(self, a, b):
        return np.abs(a - b)

    def backward(self, grad, out, a, b):
        sign = np.sign(data_of(a) - data_of(b))
        return _both(self.needs_input_grad, self.upstream(grad) * sign)


class Huber(ElementwiseLoss):
    """With ``d = a - b``: ``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``;
    backward ``±clip(d, -delta, delta)``."""
    name = 'huber_loss'

    def __init__(self, delta: float = 1.0, **options):
        super().__init__(**options)
        self.delta = delta

    def elementwise(self, a, b):
        diff = a - b
        abs_diff = np.abs(diff)
        delta = self.delta
        return np.where(abs_diff < delta, 0.5 * diff * diff, delta * (abs_diff - 0.5 * delta))

    def backward(self, grad, out, a, b):
        return _both(self.needs_input_grad, (a - b).clip(-self.delta, self.delta) * self.upstream(grad))


class BinaryCrossEntropyWithLogits(ElementwiseLoss):
    """``(1 - y) x + c softplus(-x)`` with ``c = 1 + (pos_weight - 1) y``, for logits ``x``.

    Without ``pos_weight`` this is ``max(x, 0) - x y + log1p(exp(-|x|))``: finite and exact
    for logits of any size (no positive number is ever exponentiated).
    Backward: ``d/dx = c (sigmoid(x) - 1) + 1 - y`` (``sigmoid(x) - y`` without pos_weight),
    ``d/dy = (pos_weight - 1) softplus(-x) - x``.
    """
    name = 'binary_cross_entropy_with_logits'

    def __init__(self, pos_weight: np.ndarray | None = None, **options):
        super().__init__(**options)
        self.pos_weight = pos_weight

    def check(self, x, y) -> None:
        super().check(x, y)
        if self.pos_weight is not None:
            check_finite(self.name, 'pos_weight', self.pos_weight)

    def elementwise(self, x, y):
        self.exp_neg_abs = e = np.exp(-np.abs(x))  # = exp(-|-x|): shared by softplus(-x) and sigmoid(x)
        softplus_neg = stable_softplus(-x, e)
        if self.pos_weight is None:
            return (1 - y) * x + softplus_neg
        return (1 - y) * x + (1 + (self.pos_weight - 1) * y) * softplus_neg

    def backward(self, grad, out, x, y):
        need_x, need_y = self.needs_input_grad
        graph = isinstance(x, Value)  # create_graph: recorded ops, differentiable again
        pos_weight = self.pos_weight
        grad = self.upstream(grad)
        grad_x = grad_y = None
        if need_x:
            sigmoid = x.sigmoid() if graph else stable_sigmoid(x, self.exp_neg_abs)
            if pos_weight is None:
                grad_x = grad * (sigmoid - y)
            else:
                grad_x = grad * ((1 + (pos_weight - 1) * y) * (sigmoid - 1) + 1 - y)
        if need_y:
            if pos_weight is None:
                grad_y = -grad * x
            else:
                softplus_neg = Softplus.apply(-x) if graph else stable_softplus(-x, self.exp_neg_abs)
                grad_y = grad * ((pos_weight - 1) * softplus_neg - x)
        return grad_x, grad_y


class BinaryCrossEntropy(ElementwiseLoss):
    """``-(y log p + (1 - y) log(1 - p))`` on probabilities ``p`` in [0, 1], with each log
    clamped at -100 (PyTorch), so ``p`` of exactly 0 or 1 gives a finite loss.

    Backward as PyTorch: ``d/dp = (p - y) / max(p (1 - p), 1e-12)``, ``d/dy = log(1 - p) - log(p)``.
    """
    name = 'binary_cross_entropy'

    def check(self, p, y) -> None:  # (and every input a probability in [0, 1]: else a log is NaN)
        super().check(p, y)
        if p.size and not (p.min() >= 0 and p.max() <= 1):
            raise data_error(f"{self.name}: every element of input must be a probability in [0, 1], "
                             f"got values in [{np.min(p)}, {np.max(p)}] (input shape {p.shape}); for "
                             "logits use binary_cross_entropy_with_logits")

    def elementwise(self, p, y):
        with np.errstate(divide='ignore'):
            log_p = np.maximum(np.log(p), LOG_CLAMP)
            log_not_p = np.maximum(np.log1p(-p), LOG_CLAMP)
        return -(y * log_p + (1 - y) * log_not_p)

    def backward(self, grad, out, p, y):
        need_p, need_y = self.needs_input_grad
        grad = self.upstream(grad)
        grad_p = grad_y = None
        if need_p:
            grad_p = grad * (p - y) / (p * (1 - p)).clip(min=BCE_GRAD_EPS)
        if need_y:
            with np.errstate(divide='ignore'):
                grad_y = grad * (generic.log(1 - p) - generic.log(p))
        return grad_p, grad_y
