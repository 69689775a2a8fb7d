"""Loss modules: ``loss_fn = nn.CrossEntropyLoss(); loss_fn(logits, targets)``.

Each wraps the function of the same name in ``nn.functional`` with PyTorch's keyword names
and defaults: it holds the options and its ``forward`` is one call of the function. Options
are checked when the module is built, by the same checks the functions use (so an error
names the module). Class and element weights are kept as buffers, so they appear in
``state_dict`` as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from ..dtypes import as_array
from ..value import Value, data_of
from . import functional as F
from .module import Module


class _Loss(Module):
    """Holds ``reduction`` ('mean', 'sum' or 'none'), checked here rather than at the first call
    (by ``F.check_reduction``, as the functions check it)."""

    def __init__(self, reduction: str = 'mean'):
        super().__init__()
        self.reduction = F.check_reduction(type(self).__name__, reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != 'mean' else ''


def _buffer(value) -> np.ndarray | None:
    """A weight argument as an ndarray buffer of its own (None stays None): a copy, so that
    ``load_state_dict`` writes into the module's buffer, never into the caller's array (which
    may also be read-only)."""
    if value is None:
        return None
    return np.array(as_array(data_of(value)), copy=True)


class MSELoss(_Loss):
    """``F.mse_loss``: mean of ``(input - target)**2``."""

    def forward(self, input, target) -> Value:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """``F.l1_loss``: mean of ``|input - target|``."""

    def forward(self, input, target) -> Value:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """``F.huber_loss``: quadratic within ``delta`` of the target, linear beyond."""

    def __init__(self, reduction: str = 'mean', delta: float = 1.0):
        super().__init__(reduction)
        self.delta = F.check_delta('HuberLoss', delta)

    def forward(self, input, target) -> Value:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_Loss):
    """``F.binary_cross_entropy`` on probabilities; ``weight`` rescales each element."""

    def __init__(self, weight=None, reduction: str = 'mean'):
        super().__init__(reduction)
        self.register_buffer('weight', _buffer(weight))

    def forward(self, input, target) -> Value:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """``F.binary_cross_entropy_with_logits``: sigmoid and BCE in one stable op."""

    def __init__(self, weight=None, reduction: str = 'mean', pos_weight=None):
        super().__init__(reduction)
        self.register_buffer('weight', _buffer(weight))
        self.register_buffer('pos_weight', _buffer(pos_weight))

    def forward(self, input, target) -> Value:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class _ClassLoss(_Loss):
    """Holds the options of the losses over classes: the class ``weight`` (a buffer) and
    ``ignore_index``."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = 'mean'):
        super().__init__(reduction)
        self.register_buffer('weight', _buffer(weight))
        self.ignore_index = ignore_index


class NLLLoss(_ClassLoss):
    """``F.nll_loss``: log-probabilities (N, C) (e.g. from ``nn.LogSoftmax(dim=1)``) against
    integer class indices (N,)."""

    def forward(self, input, target) -> Value:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_ClassLoss):
    """``F.cross_entropy``: logits (N, C) against integer class indices (N,) or class
    probabilities (N, C)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = 'mean',
                 label_smoothing: float = 0.0):
        label_smoothing = F.check_label_smoothing('CrossEntropyLoss', label_smoothing)
        super().__init__(weight, ignore_index, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input, target) -> Value:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)
