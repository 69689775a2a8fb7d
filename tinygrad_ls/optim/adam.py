"""Adam and AdamW (decoupled weight decay), with AMSGrad, as PyTorch computes them."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..checks import is_number
from ..value import Value
from .optimizer import Optimizer
from .updates import lerp_


def adam_update(param: np.ndarray, grad: np.ndarray, state: dict[str, Any], *, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                decoupled_weight_decay: bool) -> None:
    """One Adam step on ``param`` in place; ``state``: ``step``, ``exp_avg``, ``exp_avg_sq``
    (and ``max_exp_avg_sq`` with amsgrad), updated in place::

        g = -grad if maximize else grad
        step = step + 1
        if weight_decay != 0:
            if decoupled_weight_decay:  param = param * (1 - lr * weight_decay)      (AdamW)
            else:                       g = g + weight_decay * param                 (Adam)
        m = m + (1 - beta1) * (g - m)                   (lerp)
        v = beta2 * v + (1 - beta2) * g * g
        step_size = lr / (1 - beta1 ** step)
        if amsgrad:  v_max = max(v_max, v);  denom = sqrt(v_max) / sqrt(1 - beta2 ** step) + eps
        else:        denom = sqrt(v) / sqrt(1 - beta2 ** step) + eps
        param = param - step_size * m / denom
    """
    g = -grad if maximize else grad
    state['step'] += 1
    step = state['step']
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    exp_avg, exp_avg_sq = state['exp_avg'], state['exp_avg_sq']
    # One scratch array and in-place ufuncs: the same arithmetic, in PyTorch's order, as the
    # formulas above, without the eight temporaries the plain expressions would allocate.
    scratch = np.empty_like(param)
    lerp_(exp_avg, g, 1 - beta1, scratch)                 # m = m + (1 - beta1) (g - m)
    exp_avg_sq *= beta2                                   # v = beta2 v + ((1 - beta2) g) g
    np.multiply(g, 1 - beta2, out=scratch, casting='unsafe')
    scratch *= g
    exp_avg_sq += scratch
    bias_correction1 = 1 - beta1 ** step
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    step_size = lr / bias_correction1
    if amsgrad:
        max_exp_avg_sq = state['max_exp_avg_sq']
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        np.sqrt(max_exp_avg_sq, out=scratch)
    else:
        np.sqrt(exp_avg_sq, out=scratch)
    scratch /= bias_correction2_sqrt                      # denom = sqrt(v) / sqrt(bc2) + eps
    scratch += eps
    np.divide(exp_avg, scratch, out=scratch)              # param += -step_size * (m / denom)
    scratch *= -step_size
    param += scratch


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False, decoupled_weight_decay=False)``.

    See ``adam_update`` for the rule. State per parameter: ``'step'`` (an int), ``'exp_avg'``,
    ``'exp_avg_sq'`` and, with amsgrad, ``'max_exp_avg_sq'`` (arrays of the parameter's dtype).
    """

    _required_state = ('step', 'exp_avg', 'exp_avg_sq')
    _non_negative_state = ('exp_avg_sq', 'max_exp_avg_sq')

    def __init__(self, params: Iterable[Value] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        if not 0.0 <= options['eps']:
            raise ValueError(f"Invalid epsilon value: {options['eps']}")
        betas = options['betas']
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Invalid betas: expected two numbers, got {betas!r}")
        for i, beta in enumerate(betas):
            if not is_number(beta):
                raise TypeError(f"Invalid beta parameter at index {i}: {beta!r} (a number is expected)")
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")

    def _update(self, param: Value, grad: np.ndarray, group: dict[str, Any]) -> None:
        state = self.state.get(param)
        if not state:
            state = self.state[param] = {'step': 0, 'exp_avg': np.zeros_like(param._data),
                                         'exp_avg_sq': np.zeros_like(param._data)}
        if group['amsgrad'] and 'max_exp_avg_sq' not in state:
            state['max_exp_avg_sq'] = np.zeros_like(param._data)
        beta1, beta2 = group['betas']
        adam_update(param._data, grad, state, lr=group['lr'], beta1=beta1, beta2=beta2, eps=group['eps'],
                    weight_decay=group['weight_decay'], amsgrad=group['amsgrad'], maximize=group['maximize'],
                    decoupled_weight_decay=group['decoupled_weight_decay'])


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
    maximize=False)``: Adam whose weight decay shrinks the parameter directly,
    ``param *= 1 - lr * weight_decay``, instead of entering the moments (Loshchilov & Hutter)."""

    def __init__(self, params: Iterable[Value] | Iterable[dict], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As ``Optimizer.load_state_dict``; the groups stay decoupled (as in PyTorch)."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group['decoupled_weight_decay'] = True
