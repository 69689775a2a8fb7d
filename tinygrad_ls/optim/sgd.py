"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (PyTorch's rule)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..value import Value
from .optimizer import Optimizer


def sgd_update(param: np.ndarray, grad: np.ndarray, state: dict[str, Any], *, lr: float, momentum: float,
               dampening: float, weight_decay: float, nesterov: bool, maximize: bool) -> None:
    """One SGD step on ``param`` in place; ``state`` holds ``'momentum_buffer'`` once created::

        g = -grad if maximize else grad
        if weight_decay != 0:  g = g + weight_decay * param
        if momentum != 0:
            if first step:     buf = g                  (a copy)
            else:              buf = momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        param = param - lr * g
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        buf = state.get('momentum_buffer')
        if buf is None:
            buf = state['momentum_buffer'] = np.array(g, dtype=param.dtype)
        else:
            buf *= momentum
            buf += (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    param -= lr * g


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False)``.

    The momentum buffer starts as the first (weight-decayed) gradient, as in PyTorch; see
    ``sgd_update`` for the rule. State per parameter: ``'momentum_buffer'`` (only with momentum).
    """

    def __init__(self, params: Iterable[Value] | Iterable[dict], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    _non_negative_options = ('momentum',)

    def _check_options(self, options: dict[str, Any]) -> None:
        if options['nesterov'] and (options['momentum'] <= 0 or options['dampening'] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, param: Value, grad: np.ndarray, group: dict[str, Any]) -> None:
        state = self.state.setdefault(param, {}) if group['momentum'] != 0 else {}
        sgd_update(param._data, grad, state, lr=group['lr'], momentum=group['momentum'],
                   dampening=group['dampening'], weight_decay=group['weight_decay'],
                   nesterov=group['nesterov'], maximize=group['maximize'])
