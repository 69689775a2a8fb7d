"""Learning-rate schedulers with PyTorch's lr sequences, float for float.

A scheduler sets ``group['lr']`` of every parameter group of its optimizer. Construction
records ``group['initial_lr']`` (when ``last_epoch=-1``) and takes the first step, to epoch
0; each later ``step()``, called after ``optimizer.step()``, advances one epoch. Like
PyTorch, the schedules are computed *recursively* from the current ``group['lr']`` (so
they compose with other code changing the lr); the closed forms are in each docstring.
"""
from __future__ import annotations

import math
from typing import Any

from ..checks import check_number
from .optimizer import Optimizer


def _positive_int(caller: str, argument: str, value: Any) -> int:
    """``value`` if it is an int >= 1, else a ValueError naming ``caller`` and ``argument``."""
    if not (isinstance(value, int) and value >= 1):
        raise ValueError(f"{caller}: {argument} must be a positive int, got {value!r}")
    return value


def _non_negative(caller: str, argument: str, value: Any) -> float:
    """``value`` if it is a number >= 0; TypeError (not a number) or ValueError otherwise."""
    if not 0.0 <= check_number(caller, argument, value):
        raise ValueError(f"{caller}: {argument} must be non-negative, got {value}")
    return value


class LRScheduler:
    """Base class: ``LRScheduler(optimizer, last_epoch=-1)``; subclasses give ``get_lr()``.

    Attributes: ``optimizer``, ``base_lrs`` (each group's ``initial_lr``), ``last_epoch``
    (the epoch of the current lrs), ``get_last_lr()`` (the lrs set by the latest step).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault('initial_lr', group['lr'])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if 'initial_lr' not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                                   "a scheduler with last_epoch >= 0 (load the optimizer's state first)")
        self.optimizer = optimizer
        self.base_lrs: list[float] = [group['initial_lr'] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lrs for epoch ``last_epoch`` (already advanced), one per group. Used by ``step()``;
        to read the current lrs use ``get_last_lr()``."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The lrs the latest ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one epoch and set every group's ``lr``."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group['lr'] = lr
        self._last_lr = [group['lr'] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list[float]:
        return [group['lr'] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (numbers and lists of numbers)."""
        return {key: (list(value) if isinstance(value, list) else value)
                for key, value in self.__dict__.items() if key != 'optimizer'}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned."""
        self.__dict__.update({key: (list(value) if isinstance(value, list) else value)
                              for key, value in state_dict.items()})


class StepLR(LRScheduler):
    """``StepLR(optimizer, step_size, gamma=0.1, last_epoch=-1)``: multiply the lr by ``gamma``
    every ``step_size`` epochs: ``lr = base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _positive_int('StepLR', 'step_size', step_size)
        self.gamma = _non_negative('StepLR', 'gamma', gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """``lr * gamma`` at each multiple of ``step_size`` (not at epoch 0), else ``lr``."""
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """``ExponentialLR(optimizer, gamma, last_epoch=-1)``: ``lr = base_lr * gamma ** epoch``,
    computed as ``lr = lr * gamma`` each step."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _non_negative('ExponentialLR', 'gamma', gamma)
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
        self.total_iters = _positive_int('LinearLR', 'total_iters', total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._current_lrs()]


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
        self.eta_min = _non_negative('CosineAnnealingLR', 'eta_min', eta_min)
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
