"""``OneCycleLR``: the 1cycle policy (Smith & Topin, "Super-Convergence"), PyTorch's version.

The lr climbs from ``max_lr / div_factor`` to ``max_lr`` and anneals down to
``max_lr / div_factor / final_div_factor``; the momentum (SGD's and RMSprop's
``momentum``, Adam's ``beta1``) moves the opposite way between ``max_momentum`` and
``base_momentum``. It is meant to be stepped after every batch.
"""
from __future__ import annotations

import math
from typing import Any

from ..checks import check_number
from .optimizer import Optimizer
from .scheduler_base import LRScheduler, check_optimizer, per_group, positive_int


def anneal_cos(start: float, end: float, pct: float) -> float:
    """Cosine from ``start`` (pct 0) to ``end`` (pct 1)."""
    cos_out = math.cos(math.pi * pct) + 1
    return end + (start - end) / 2.0 * cos_out


def anneal_linear(start: float, end: float, pct: float) -> float:
    """Straight line from ``start`` (pct 0) to ``end`` (pct 1)."""
    return (end - start) * pct + start


ANNEALING = {'cos': anneal_cos, 'linear': anneal_linear}


def _phases(total_steps: int, pct_start: float, three_phase: bool) -> list[dict[str, Any]]:
    """The schedule's phases: the last step of each and the group entries it goes between."""
    up = {'end_step': float(pct_start * total_steps) - 1, 'start_lr': 'initial_lr', 'end_lr': 'max_lr',
          'start_momentum': 'max_momentum', 'end_momentum': 'base_momentum'}
    if not three_phase:
        return [up, {'end_step': total_steps - 1, 'start_lr': 'max_lr', 'end_lr': 'min_lr',
                     'start_momentum': 'base_momentum', 'end_momentum': 'max_momentum'}]
    return [up,
            {'end_step': float(2 * pct_start * total_steps) - 2, 'start_lr': 'max_lr', 'end_lr': 'initial_lr',
             'start_momentum': 'base_momentum', 'end_momentum': 'max_momentum'},
            {'end_step': total_steps - 1, 'start_lr': 'initial_lr', 'end_lr': 'min_lr',
             'start_momentum': 'max_momentum', 'end_momentum': 'max_momentum'}]


def _check_phase_lengths(phases: list[dict[str, Any]], total_steps: int, pct_start: float) -> None:
    """ValueError if some step 0..total_steps falls in a phase of zero length, where PyTorch's
    formula divides 0 by 0 (for instance ``pct_start * total_steps == 1``)."""
    start, latest_end = 0.0, -math.inf
    for i, phase in enumerate(phases):
        end, last = phase['end_step'], i == len(phases) - 1
        first = 0 if latest_end == -math.inf else max(0, math.floor(latest_end) + 1)
        upto = total_steps if last else min(total_steps, math.floor(end))
        if end == start and first <= upto:
            raise ValueError(f"OneCycleLR: pct_start={pct_start} with total_steps={total_steps} makes "
                             f"phase {i} of the schedule zero steps long, where the lr is undefined "
                             "(0 / 0); change pct_start or total_steps")
        start, latest_end = end, max(latest_end, end)


class OneCycleLR(LRScheduler):
    """``OneCycleLR(optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
    pct_start=0.3, anneal_strategy='cos', cycle_momentum=True, base_momentum=0.85,
    max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1)``.

    ``total_steps`` (or ``epochs * steps_per_epoch``) is the length of the cycle; ``max_lr``,
    ``base_momentum`` and ``max_momentum`` are numbers or lists with one per group. The
    constructor sets each group's ``initial_lr = max_lr / div_factor``, ``max_lr``,
    ``min_lr = initial_lr / final_div_factor`` and, with ``cycle_momentum``, ``max_momentum``
    and ``base_momentum`` (and the momentum to ``max_momentum``). With ``a = anneal_strategy``
    (``cos(s, e, p) = e + (s - e) / 2 * (1 + cos(pi p))``, ``linear(s, e, p) = s + (e - s) p``)
    and ``T = total_steps``, ``P = pct_start``, step ``t`` of the two-phase cycle is::

        t <= P T - 1:   lr = a(initial_lr, max_lr, t / (P T - 1))
                        momentum = a(max_momentum, base_momentum, same pct)
        after:          lr = a(max_lr, min_lr, (t - (P T - 1)) / (T - 1 - (P T - 1)))
                        momentum = a(base_momentum, max_momentum, same pct)

    ``three_phase=True``: up over ``P T - 1`` steps, back down to ``initial_lr`` by step
    ``2 P T - 2``, then to ``min_lr`` by ``T - 1`` (momentum at ``max_momentum`` in the last
    phase). Stepping past ``total_steps`` raises ValueError, as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = 'cos', cycle_momentum: bool = True,
                 base_momentum: float | list[float] = 0.85, max_momentum: float | list[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        check_optimizer(optimizer)
        if total_steps is not None:
            self.total_steps = positive_int('OneCycleLR', 'total_steps', total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (positive_int('OneCycleLR', 'epochs', epochs)
                                * positive_int('OneCycleLR', 'steps_per_epoch', steps_per_epoch))
        else:
            raise ValueError("OneCycleLR: give either total_steps or both epochs and steps_per_epoch")
        if not 0.0 <= check_number('OneCycleLR', 'pct_start', pct_start) <= 1.0:
            raise ValueError(f"OneCycleLR: pct_start must be between 0 and 1, got {pct_start}")
        if anneal_strategy not in ANNEALING:
            raise ValueError("OneCycleLR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        for name, value in (('div_factor', div_factor), ('final_div_factor', final_div_factor)):
            if not check_number('OneCycleLR', name, value) > 0:
                raise ValueError(f"OneCycleLR: {name} must be positive, got {value}")
        max_lrs = per_group('OneCycleLR', 'max_lr', optimizer, max_lr)
        self._schedule_phases = _phases(self.total_steps, pct_start, three_phase)
        _check_phase_lengths(self._schedule_phases, self.total_steps, pct_start)
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if 'momentum' not in optimizer.defaults and 'betas' not in optimizer.defaults:
                raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with a momentum or betas "
                                 f"option; {type(optimizer).__name__} has neither "
                                 "(pass cycle_momentum=False)")
            self.use_beta1 = 'betas' in optimizer.defaults
            max_momenta = per_group('OneCycleLR', 'max_momentum', optimizer, max_momentum)
            base_momenta = per_group('OneCycleLR', 'base_momentum', optimizer, base_momentum)
        if last_epoch == -1:  # everything is checked: now the groups change
            for group, peak in zip(optimizer.param_groups, max_lrs):
                group['initial_lr'] = peak / div_factor
                group['max_lr'] = peak
                group['min_lr'] = group['initial_lr'] / final_div_factor
            if self.cycle_momentum:
                for group, top, bottom in zip(optimizer.param_groups, max_momenta, base_momenta):
                    self._set_momentum(group, top)
                    group['max_momentum'], group['base_momentum'] = top, bottom
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self.use_beta1:
            group['betas'] = (momentum, *group['betas'][1:])
        else:
            group['momentum'] = momentum

    def get_lr(self) -> list[float]:
        """The lr of step ``last_epoch`` for each group; sets the momenta too (as PyTorch)."""
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; total_steps is {self.total_steps}")
        anneal = ANNEALING[self.anneal_strategy]
        lrs, momenta = [], []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase['end_step']
                if step <= end or i == len(self._schedule_phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(anneal(group[phase['start_lr']], group[phase['end_lr']], pct))
                    if self.cycle_momentum:
                        momenta.append(anneal(group[phase['start_momentum']],
                                              group[phase['end_momentum']], pct))
                    break
                start = phase['end_step']
        for group, momentum in zip(self.optimizer.param_groups, momenta):
            self._set_momentum(group, momentum)
        return lrs
