"""Schedules that are a function of the epoch: StepLR, MultiStepLR, ExponentialLR, LinearLR,
LambdaLR, CosineAnnealingLR and CosineAnnealingWarmRestarts, with PyTorch's lr sequences.

Like PyTorch, most are computed *recursively* from the current ``group['lr']`` (so they
compose with other code changing the lr); the closed forms are in each docstring.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

from ..checks import check_number, is_int
from .optimizer import Optimizer
from .scheduler_base import LRScheduler, check_optimizer, non_negative, positive_int


class StepLR(LRScheduler):
    """``StepLR(optimizer, step_size, gamma=0.1, last_epoch=-1)``: multiply the lr by ``gamma``
    every ``step_size`` epochs: ``lr = base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = positive_int('StepLR', 'step_size', step_size)
        self.gamma = non_negative('StepLR', 'gamma', gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """``lr * gamma`` at each multiple of ``step_size`` (not at epoch 0), else ``lr``."""
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

class MultiStepLR(LRScheduler):
    """``MultiStepLR(optimizer, milestones, gamma=0.1, last_epoch=-1)``: multiply the lr by
    ``gamma`` at each epoch of ``milestones`` (ints >= 0, in any order; an epoch listed ``n``
    times multiplies by ``gamma ** n``): ``lr = base_lr * gamma ** (number of milestones <= epoch)``.

    ``milestones`` is kept as a dict ``{epoch: count}`` (PyTorch keeps a ``Counter``).
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        try:
            epochs = list(milestones)
        except TypeError:
            raise TypeError(f"MultiStepLR: milestones must be a list of epochs, got {milestones!r}") from None
        for epoch in epochs:
            if not is_int(epoch) or epoch < 0:
                raise ValueError(f"MultiStepLR: milestones must be ints >= 0, got {epoch!r} in {epochs}")
        self.milestones = {epoch: epochs.count(epoch) for epoch in sorted(set(epochs))}
        self.gamma = non_negative('MultiStepLR', 'gamma', gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """``lr * gamma ** count`` at a milestone, else ``lr``."""
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """``ExponentialLR(optimizer, gamma, last_epoch=-1)``: ``lr = base_lr * gamma ** epoch``,
    computed as ``lr = lr * gamma`` each step."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = non_negative('ExponentialLR', 'gamma', gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class LinearLR(LRScheduler):
    """``LinearLR(optimizer, start_factor=1/3, end_factor=1.0, total_iters=5, last_epoch=-1)``:
    the lr factor goes linearly from ``start_factor`` to ``end_factor`` over ``total_iters``
    epochs, then stays: ``lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)``.

    Computed as PyTorch does, by the ratio of consecutive factors::

        epoch 0:                 lr = lr * start_factor
        1 <= epoch <= total:     lr = lr * (1 + (end - start) / (total * start + (epoch - 1) * (end - start)))
        epoch > total:           lr unchanged
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if check_number('LinearLR', 'start_factor', start_factor) > 1.0 or not start_factor > 0:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or "
                             f"equal to 1, got {start_factor}")
        if check_number('LinearLR', 'end_factor', end_factor) > 1.0 or not end_factor >= 0:
            raise ValueError(f"Ending multiplicative factor expected to be between 0 and 1, got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = positive_int('LinearLR', 'total_iters', total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._current_lrs()]

class LambdaLR(LRScheduler):
    """``LambdaLR(optimizer, lr_lambda, last_epoch=-1)``: ``lr = base_lr * lr_lambda(epoch)``.

    ``lr_lambda``: a function of the epoch (an int) returning a number, or a list of such
    functions, one per parameter group. ``state_dict()`` holds, in ``'lr_lambdas'``, the
    attributes (``__dict__``) of each lambda that is a callable object, and None for a
    plain function, whose code cannot be saved (as PyTorch).
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list,
                 last_epoch: int = -1) -> None:
        n = len(check_optimizer(optimizer).param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per parameter group), "
                                 f"got {len(lr_lambda)}")
            functions = list(lr_lambda)
        else:
            functions = [lr_lambda] * n
        for i, function in enumerate(functions):
            if not callable(function):
                raise TypeError(f"LambdaLR: lr_lambda must be a function of the epoch, "
                                f"got {type(function).__name__} (group {i})")
        self.lr_lambdas = functions
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * check_number('LambdaLR', f"lr_lambda({self.last_epoch})", function(self.last_epoch))
                for function, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    _not_state = ('optimizer', 'lr_lambdas')

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state['lr_lambdas'] = [None if inspect.isfunction(fn) or not hasattr(fn, '__dict__')
                               else dict(vars(fn)) for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            return super().load_state_dict(state_dict)  # the TypeError
        saved = state_dict.get('lr_lambdas')
        if (not isinstance(saved, (list, tuple)) or len(saved) != len(self.lr_lambdas)
                or not all(entry is None or isinstance(entry, dict) for entry in saved)):
            raise ValueError(f"LambdaLR.load_state_dict: 'lr_lambdas' must list {len(self.lr_lambdas)} "
                             f"entries, each None or a dict of attributes, got {saved!r}")
        super().load_state_dict(state_dict)
        for function, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                vars(function).update(attributes)


class CosineAnnealingLR(LRScheduler):
    """``CosineAnnealingLR(optimizer, T_max, eta_min=0.0, last_epoch=-1)``: the closed form is
    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``, continuing past
    ``T_max`` as a cosine of period ``2 T_max``. Computed, as PyTorch does, recursively::

        epoch 0:                               lr unchanged
        (epoch - 1 - T_max) % (2 T_max) == 0:  lr = lr + (base_lr - eta_min) * (1 - cos(pi / T_max)) / 2
        otherwise:  lr = eta_min + (lr - eta_min) * (1 + cos(pi epoch / T_max))
                                                   / (1 + cos(pi (epoch - 1) / T_max))
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        if not check_number('CosineAnnealingLR', 'T_max', T_max) > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max = T_max
        self.eta_min = non_negative('CosineAnnealingLR', 'eta_min', eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [lr + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base_lr, lr in zip(self.base_lrs, self._current_lrs())]
        return [(1 + math.cos(math.pi * self.last_epoch / self.T_max))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
                * (lr - self.eta_min) + self.eta_min
                for lr in self._current_lrs()]

class CosineAnnealingWarmRestarts(LRScheduler):
    """``CosineAnnealingWarmRestarts(optimizer, T_0, T_mult=1, eta_min=0, last_epoch=-1)`` (SGDR):
    a cosine from ``base_lr`` down towards ``eta_min`` over ``T_i`` epochs, then a restart at
    ``base_lr``; the first period is ``T_0`` epochs and each next one ``T_mult`` times longer::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    ``T_cur`` counts the epochs since the last restart: each step ``T_cur += 1``, and when
    ``T_cur >= T_i``, ``T_cur -= T_i`` and ``T_i *= T_mult`` (PyTorch's bookkeeping).
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0,
                 last_epoch: int = -1) -> None:
        self.T_0 = positive_int('CosineAnnealingWarmRestarts', 'T_0', T_0)
        self.T_i = T_0
        self.T_mult = positive_int('CosineAnnealingWarmRestarts', 'T_mult', T_mult)
        self.eta_min = non_negative('CosineAnnealingWarmRestarts', 'eta_min', eta_min)
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def _advance(self) -> None:
        if self.last_epoch < 0:  # the first step of a new schedule: epoch 0
            self.T_i, self.T_cur, self.last_epoch = self.T_0, 0, 0
            return
        self.last_epoch += 1
        self.T_cur += 1
        if self.T_cur >= self.T_i:
            self.T_cur = self.T_cur % self.T_i
            self.T_i = self.T_i * self.T_mult

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base_lr in self.base_lrs]
