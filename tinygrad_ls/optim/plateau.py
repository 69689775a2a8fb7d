"""``ReduceLROnPlateau``: lower the lr when a monitored number stops improving (PyTorch's rules)."""
from __future__ import annotations

import math
from typing import Any

from ..checks import check_number, is_int
from .optimizer import Optimizer
from .scheduler_base import LRScheduler, check_optimizer, non_negative, per_group


def _check_modes(mode: Any, threshold_mode: Any) -> None:
    if mode not in ('min', 'max'):
        raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
    if threshold_mode not in ('rel', 'abs'):
        raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")


def _count(argument: str, value: Any) -> int:
    if not is_int(value) or value < 0:
        raise ValueError(f"ReduceLROnPlateau: {argument} must be an int >= 0, got {value!r}")
    return value


class ReduceLROnPlateau(LRScheduler):
    """``ReduceLROnPlateau(optimizer, mode='min', factor=0.1, patience=10, threshold=1e-4,
    threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8)``; ``step(metric)`` once per epoch,
    with the number to watch (usually the validation loss).

    A metric is an improvement when it beats ``best`` by the threshold::

        mode 'min', threshold_mode 'rel':  metric < best * (1 - threshold)
        mode 'min', threshold_mode 'abs':  metric < best - threshold
        mode 'max', threshold_mode 'rel':  metric > best * (1 + threshold)
        mode 'max', threshold_mode 'abs':  metric > best + threshold

    An improvement makes it ``best`` and resets the count of bad epochs; any other metric (NaN
    included) adds one. During ``cooldown`` epochs after a reduction bad epochs are not
    counted. When the count exceeds ``patience``, every group's lr becomes
    ``max(lr * factor, min_lr)`` (a change smaller than ``eps`` is skipped) and the count
    restarts. ``min_lr``: a number, or a list with one per group.

    Unlike the other schedulers it does not change the lr at construction and does not warn
    when stepped before the optimizer (as in PyTorch): the metric, not the epoch, drives it.
    """

    def __init__(self, optimizer: Optimizer, mode: str = 'min', factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = 'rel', cooldown: int = 0,
                 min_lr: float | list[float] = 0, eps: float = 1e-8) -> None:
        check_optimizer(optimizer)
        if not 0.0 <= check_number('ReduceLROnPlateau', 'factor', factor) < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in [0, 1), got {factor}")
        min_lrs = per_group('ReduceLROnPlateau', 'min_lr', optimizer, min_lr)
        self.factor = factor
        self.optimizer = optimizer
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.min_lrs = min_lrs
        self.patience = _count('patience', patience)
        self.cooldown = _count('cooldown', cooldown)
        self.eps = non_negative('ReduceLROnPlateau', 'eps', eps)
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode, non_negative('ReduceLROnPlateau', 'threshold', threshold), threshold_mode)
        self._reset()

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        _check_modes(mode, threshold_mode)
        self.mode_worse = math.inf if mode == 'min' else -math.inf
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _is_better(self, a: float, best: float) -> bool:
        """Whether metric ``a`` is an improvement on ``best`` (the table above)."""
        if self.mode == 'min' and self.threshold_mode == 'rel':
            return a < best * (1.0 - self.threshold)
        if self.mode == 'min':
            return a < best - self.threshold
        if self.threshold_mode == 'rel':
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics: Any) -> None:
        """One epoch with the monitored value ``metrics`` (a number, or a one-element Value or
        array): count it as an improvement or a bad epoch, and lower the lrs after
        ``patience`` bad epochs."""
        try:
            current = float(metrics)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"ReduceLROnPlateau.step: the metric must be a number, got {metrics!r}") from None
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups, "
                                   f"min_lr lists {len(self.min_lrs)}; set min_lrs to one per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group['lr'])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group['lr'] = new_lr

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned (the mode and thresholds are checked first)."""
        if isinstance(state_dict, dict):
            _check_modes(state_dict.get('mode'), state_dict.get('threshold_mode'))
        super().load_state_dict(state_dict)
