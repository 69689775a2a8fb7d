"""Adagrad (Duchi et al.) with learning-rate decay, as PyTorch computes it."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..value import Value
from .optimizer import Optimizer


def adagrad_update(param: np.ndarray, grad: np.ndarray, state: dict[str, Any], *, lr: float, lr_decay: float,
                   weight_decay: float, eps: float, maximize: bool) -> None:
    """One Adagrad step on ``param`` in place; ``state``: ``step`` and ``sum`` (which starts
    at ``initial_accumulator_value``), updated in place::

        step = step + 1
        g = -grad if maximize else grad
        if weight_decay != 0:  g = g + weight_decay * param
        clr = lr / (1 + (step - 1) * lr_decay)
        sum = sum + g * g
        param = param - clr * g / (sqrt(sum) + eps)
    """
    state['step'] += 1
    step = state['step']
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum = state['sum']
    state_sum += g * g
    std = np.sqrt(state_sum)
    std += eps
    param += -clr * g / std


class Adagrad(Optimizer):
    """``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
    maximize=False)``.

    See ``adagrad_update`` for the rule. State per parameter: ``'step'`` (an int) and
    ``'sum'`` (filled with ``initial_accumulator_value``). Unlike PyTorch, which fills the
    state of every parameter in the constructor, the state is made at a parameter's first
    step with a gradient, like every other optimizer here; the updates are the same.
    """

    _required_state = ('step', 'sum')
    _non_negative_state = ('sum',)
    _non_negative_options = ('lr_decay', 'initial_accumulator_value', 'eps')

    def __init__(self, params: Iterable[Value] | Iterable[dict], lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0, eps: float = 1e-10, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param: Value, grad: np.ndarray, group: dict[str, Any]) -> None:
        state = self.state.get(param)
        if not state:
            state = self.state[param] = {
                'step': 0, 'sum': np.full_like(param._data, group['initial_accumulator_value'])}
        adagrad_update(param._data, grad, state, lr=group['lr'], lr_decay=group['lr_decay'],
                       weight_decay=group['weight_decay'], eps=group['eps'], maximize=group['maximize'])
