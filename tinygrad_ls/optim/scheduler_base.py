"""``LRScheduler``, the base of the learning-rate schedulers, and their argument checks.

A scheduler sets ``group['lr']`` of every parameter group of its optimizer. Construction
records ``group['initial_lr']`` (when ``last_epoch=-1``) and takes the first step, to epoch
0; each later ``step()``, called after ``optimizer.step()``, advances one epoch. As in
PyTorch, the first ``step()`` after construction warns (UserWarning) when the optimizer has
never stepped: the two calls are in the wrong order and the schedule's first value is lost.
The optimizer's ``step()`` counts its calls (``Optimizer._step_calls``), so nothing is
wrapped or patched to find this out.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any

from ..checks import check_number, is_int
from ..tracing import mark_replayed_methods, replayed
from .optimizer import Optimizer

ORDER_WARNING = ("Detected call of `lr_scheduler.step()` before `optimizer.step()`: call them in the "
                 "opposite order, `optimizer.step()` before `lr_scheduler.step()`. Failure to do this "
                 "skips the first value of the learning rate schedule.")


def positive_int(caller: str, argument: str, value: Any) -> int:
    """``value`` if it is an int >= 1, else a ValueError naming ``caller`` and ``argument``."""
    if not (is_int(value) and value >= 1):
        raise ValueError(f"{caller}: {argument} must be a positive int, got {value!r}")
    return value


def non_negative(caller: str, argument: str, value: Any) -> float:
    """``value`` if it is a number >= 0; TypeError (not a number) or ValueError otherwise."""
    if not 0.0 <= check_number(caller, argument, value):
        raise ValueError(f"{caller}: {argument} must be non-negative, got {value}")
    return value


def per_group(caller: str, argument: str, optimizer: Optimizer, value: Any) -> list:
    """``value`` once per parameter group: a list or tuple of one number >= 0 per group, or
    one number >= 0 for all (PyTorch's ``_format_param``)."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{caller}: {argument} must have one value per parameter group ({n}), "
                             f"got {len(value)}")
        return [non_negative(caller, f"{argument}[{i}]", v) for i, v in enumerate(value)]
    return [non_negative(caller, argument, value)] * n


def check_optimizer(optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
    return optimizer


class LRScheduler:
    """Base class: ``LRScheduler(optimizer, last_epoch=-1)``; subclasses give ``get_lr()``.

    Attributes: ``optimizer``, ``base_lrs`` (each group's ``initial_lr``), ``last_epoch``
    (the epoch of the current lrs), ``get_last_lr()`` (the lrs set by the latest step).
    A subclass that counts epochs its own way overrides ``_advance``.
    """

    _not_state: tuple[str, ...] = ('optimizer',)  # the attributes state_dict() leaves out

    def __init_subclass__(cls, **kwargs) -> None:  # a compiled step calls every step() again
        super().__init_subclass__(**kwargs)
        mark_replayed_methods(cls, ('step',))

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        check_optimizer(optimizer)
        added = []
        if last_epoch == -1:
            added = [group for group in optimizer.param_groups if 'initial_lr' not in group]
            for group in added:
                group['initial_lr'] = group['lr']
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
        try:
            self.step()
        except BaseException:  # (a LambdaLR function failing at epoch 0): the optimizer as it was
            for group in added:
                del group['initial_lr']
            raise
        self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lrs for epoch ``last_epoch`` (already advanced), one per group. Used by ``step()``;
        to read the current lrs use ``get_last_lr()``."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The lrs the latest ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def _advance(self) -> None:
        """Move to the next epoch (``last_epoch += 1``)."""
        self.last_epoch += 1

    @replayed
    def step(self) -> None:
        """Advance one epoch and set every group's ``lr``. Warns (UserWarning), as PyTorch
        does, at the first call after construction if ``optimizer.step()`` was never called.
        If ``get_lr`` raises (a ``LambdaLR`` function returning a non-number), the scheduler
        is left as it was."""
        if self._step_count == 1 and self.optimizer._step_calls == 0:
            warnings.warn(ORDER_WARNING, UserWarning, stacklevel=3)  # (under the replayed() wrapper)
        before = dict(self.__dict__)
        try:
            self._advance()
            self._step_count += 1
            values = self.get_lr()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        for group, lr in zip(self.optimizer.param_groups, values):
            group['lr'] = lr
        self._last_lr = [group['lr'] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list[float]:
        return [group['lr'] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, as plain data (copies)."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                if key not in self._not_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned. ValueError, before anything changes, if it
        lacks an entry this scheduler's state has (it is another scheduler's state)."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict, "
                            f"got {type(state_dict).__name__}")
        missing = sorted(set(self.state_dict()) - set(state_dict))
        if missing:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state lacks {missing}; "
                             f"is it the state of another scheduler? (it holds {sorted(state_dict)})")
        self.__dict__.update({key: copy.deepcopy(value) for key, value in state_dict.items()
                              if key not in self._not_state})
