"""RMSprop (Hinton), optionally centered and with momentum, as PyTorch computes it."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..value import Value
from .optimizer import Optimizer
from .updates import lerp_


def rmsprop_update(param: np.ndarray, grad: np.ndarray, state: dict[str, Any], *, lr: float, alpha: float,
                   eps: float, weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    """One RMSprop step on ``param`` in place; ``state``: ``step``, ``square_avg`` (and
    ``grad_avg`` when centered, ``momentum_buffer`` with momentum), updated in place::

        g = -grad if maximize else grad
        step = step + 1
        if weight_decay != 0:  g = g + weight_decay * param
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            g_avg = g_avg + (1 - alpha) * (g - g_avg)           (lerp)
            avg = sqrt(v - g_avg * g_avg) + eps
        else:
            avg = sqrt(v) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg                      (buf starts at 0)
            param = param - lr * buf
        else:
            param = param - lr * g / avg
    """
    g = -grad if maximize else grad
    state['step'] += 1
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg = state['square_avg']
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    if centered:
        grad_avg = state['grad_avg']
        lerp_(grad_avg, g, 1 - alpha)
        avg = np.sqrt(square_avg - grad_avg * grad_avg)
    else:
        avg = np.sqrt(square_avg)
    avg += eps
    if momentum > 0:
        buf = state['momentum_buffer']
        buf *= momentum
        buf += g / avg
        param -= lr * buf
    else:
        param += -lr * g / avg


class RMSprop(Optimizer):
    """``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, *,
    maximize=False)``.

    See ``rmsprop_update`` for the rule. State per parameter: ``'step'`` (an int),
    ``'square_avg'``, and ``'momentum_buffer'`` (momentum > 0) and ``'grad_avg'`` (centered),
    all starting at zero.
    """

    _required_state = ('step', 'square_avg')
    _non_negative_state = ('square_avg',)
    _non_negative_options = ('eps', 'momentum', 'alpha')

    def __init__(self, params: Iterable[Value] | Iterable[dict], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param: Value, grad: np.ndarray, group: dict[str, Any]) -> None:
        state = self.state.get(param)
        if not state:
            state = self.state[param] = {'step': 0, 'square_avg': np.zeros_like(param._data)}
        if group['momentum'] > 0 and 'momentum_buffer' not in state:
            state['momentum_buffer'] = np.zeros_like(param._data)
        if group['centered'] and 'grad_avg' not in state:
            state['grad_avg'] = np.zeros_like(param._data)
        rmsprop_update(param._data, grad, state, lr=group['lr'], alpha=group['alpha'], eps=group['eps'],
                       weight_decay=group['weight_decay'], momentum=group['momentum'],
                       centered=group['centered'], maximize=group['maximize'])
