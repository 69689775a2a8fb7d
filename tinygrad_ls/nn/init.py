"""Weight initialisation, as ``torch.nn.init``: each function fills a Value (usually a
Parameter) in place with new numbers and returns it. No graph is recorded and the Parameter
object stays the same, so an optimizer already holding it keeps working. Random draws come
from the library's generator, so ``tl.manual_seed`` makes them repeatable (the distributions
are PyTorch's, the numbers are not: the generators differ).

    def init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.kaiming_uniform_(module.weight, nonlinearity='relu')
            nn.init.zeros_(module.bias)
    model.apply(init_weights)

Fans (PyTorch's ``_calculate_fan_in_and_fan_out``) for a weight of shape
``(out, in, *kernel)``: ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``.

=============================  ====================================================
``xavier_uniform_(w, gain)``   ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``
``xavier_normal_(w, gain)``    ``N(0, std²)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``
``kaiming_uniform_(w, ...)``   ``U(-b, b)``, ``b = gain * sqrt(3 / fan)``
``kaiming_normal_(w, ...)``    ``N(0, std²)``, ``std = gain / sqrt(fan)``
=============================  ====================================================

where ``fan`` is ``fan_in`` or ``fan_out`` (``mode``) and ``gain = calculate_gain(nonlinearity, a)``.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..checks import check_number, is_number
from ..random import generator
from ..value import Value
from .state import copy_into

__all__ = [
    'calculate_gain', 'uniform_', 'normal_', 'constant_', 'zeros_', 'ones_',
    'xavier_uniform_', 'xavier_normal_', 'kaiming_uniform_', 'kaiming_normal_',
]

_LINEAR = ('linear', 'conv1d', 'conv2d', 'conv3d', 'conv_transpose1d', 'conv_transpose2d',
           'conv_transpose3d', 'sigmoid')
_GAINS = {'tanh': 5.0 / 3, 'relu': math.sqrt(2.0), 'selu': 3.0 / 4}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a layer followed by ``nonlinearity`` (PyTorch's values): 1 for
    ``'linear'``, the conv names and ``'sigmoid'``; 5/3 for ``'tanh'``; sqrt(2) for ``'relu'``;
    ``sqrt(2 / (1 + negative_slope²))`` for ``'leaky_relu'`` (``param``, default 0.01); 3/4
    for ``'selu'``."""
    if not isinstance(nonlinearity, str):
        raise ValueError(f"nn.init.calculate_gain: nonlinearity must be a name such as 'relu', "
                         f"got {nonlinearity!r}")
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity in _GAINS:
        return _GAINS[nonlinearity]
    if nonlinearity == 'leaky_relu':
        if param is None:
            param = 0.01
        elif not is_number(param) or not math.isfinite(param):
            raise ValueError(f"nn.init.calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + param ** 2))
    raise ValueError(f"nn.init.calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
                     f"{[*_LINEAR, *_GAINS, 'leaky_relu']}")


def uniform_(tensor: Value, a: float = 0.0, b: float = 1.0) -> Value:
    """Fill ``tensor`` with draws from the uniform distribution on ``[a, b)``."""
    _check_float('uniform_', tensor)
    a, b = _finite('uniform_', 'a', a), _finite('uniform_', 'b', b)
    if a > b:
        raise ValueError(f"nn.init.uniform_: a={a} must not be greater than b={b}")
    return copy_into(tensor, generator().uniform(a, b, size=tensor.shape))


def normal_(tensor: Value, mean: float = 0.0, std: float = 1.0) -> Value:
    """Fill ``tensor`` with draws from the normal distribution ``N(mean, std²)``."""
    _check_float('normal_', tensor)
    mean, std = _finite('normal_', 'mean', mean), _finite('normal_', 'std', std)
    if std < 0:
        raise ValueError(f"nn.init.normal_: std must be >= 0, got {std}")
    return copy_into(tensor, generator().normal(mean, std, size=tensor.shape))


def constant_(tensor: Value, val: float) -> Value:
    """Fill ``tensor`` with ``val`` (cast to its dtype; any dtype)."""
    _check_value('constant_', tensor)
    check_number('nn.init.constant_', 'val', val)
    return copy_into(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Value) -> Value:
    """Fill ``tensor`` with zeros."""
    _check_value('zeros_', tensor)
    return copy_into(tensor, np.zeros(tensor.shape))


def ones_(tensor: Value) -> Value:
    """Fill ``tensor`` with ones."""
    _check_value('ones_', tensor)
    return copy_into(tensor, np.ones(tensor.shape))


def xavier_uniform_(tensor: Value, gain: float = 1.0) -> Value:
    """Glorot/Xavier uniform: ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    std = _xavier_std('xavier_uniform_', tensor, gain)
    return tensor if std is None else _uniform_around_zero(tensor, math.sqrt(3.0) * std)


def xavier_normal_(tensor: Value, gain: float = 1.0) -> Value:
    """Glorot/Xavier normal: ``N(0, std²)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    std = _xavier_std('xavier_normal_', tensor, gain)
    return tensor if std is None else copy_into(tensor, generator().normal(0.0, std, size=tensor.shape))


def kaiming_uniform_(tensor: Value, a: float = 0, mode: str = 'fan_in',
                     nonlinearity: str = 'leaky_relu') -> Value:
    """He/Kaiming uniform: ``U(-bound, bound)`` with ``bound = gain * sqrt(3 / fan)``, where
    ``fan`` is ``fan_in`` or ``fan_out`` (``mode``) and ``gain = calculate_gain(nonlinearity, a)``
    (``a``: the negative slope of a leaky ReLU). ``nn.Linear``'s default init is
    ``kaiming_uniform_(w, a=math.sqrt(5))``, i.e. ``bound = 1 / sqrt(in_features)``."""
    std = _kaiming_std('kaiming_uniform_', tensor, a, mode, nonlinearity)
    return tensor if std is None else _uniform_around_zero(tensor, math.sqrt(3.0) * std)


def kaiming_normal_(tensor: Value, a: float = 0, mode: str = 'fan_in',
                    nonlinearity: str = 'leaky_relu') -> Value:
    """He/Kaiming normal: ``N(0, std²)`` with ``std = gain / sqrt(fan)`` (see ``kaiming_uniform_``)."""
    std = _kaiming_std('kaiming_normal_', tensor, a, mode, nonlinearity)
    return tensor if std is None else copy_into(tensor, generator().normal(0.0, std, size=tensor.shape))


def _calculate_fan_in_and_fan_out(tensor: Value,
                                  caller: str = '_calculate_fan_in_and_fan_out') -> tuple[int, int]:
    """PyTorch's fans of a weight of shape ``(out, in, *kernel)``: ``(in * k, out * k)`` with
    ``k`` the product of the kernel sizes (1 for a Linear weight)."""
    if tensor.ndim < 2:
        raise ValueError(f"nn.init.{caller}: fan in and fan out can not be computed for a tensor with fewer "
                         f"than 2 dimensions (shape {tensor.shape})")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _xavier_std(caller: str, tensor: Value, gain: float) -> float | None:
    """``gain * sqrt(2 / (fan_in + fan_out))``, or None for a tensor with no elements."""
    _check_float(caller, tensor)
    gain = _finite(caller, 'gain', gain)
    if gain < 0:
        raise ValueError(f"nn.init.{caller}: gain must be >= 0, got {gain}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, caller)
    if tensor.size == 0:
        return None
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def _kaiming_std(caller: str, tensor: Value, a: float, mode: str, nonlinearity: str) -> float | None:
    """``calculate_gain(nonlinearity, a) / sqrt(fan)``, or None (with PyTorch's warning) for a
    tensor with no elements."""
    _check_float(caller, tensor)
    if not isinstance(mode, str) or mode.lower() not in ('fan_in', 'fan_out'):
        raise ValueError(f"nn.init.{caller}: mode {mode!r} is not supported, use 'fan_in' or 'fan_out'")
    gain = calculate_gain(nonlinearity, a)
    if tensor.size == 0:
        warnings.warn(f"nn.init.{caller}: initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, caller)
    return gain / math.sqrt(fan_in if mode.lower() == 'fan_in' else fan_out)


def _uniform_around_zero(tensor: Value, bound: float) -> Value:
    return copy_into(tensor, generator().uniform(-bound, bound, size=tensor.shape))


def _check_value(caller: str, tensor) -> None:
    if not isinstance(tensor, Value):
        raise TypeError(f"nn.init.{caller}: expected a Value (e.g. a Parameter), got {type(tensor).__name__}")


def _check_float(caller: str, tensor) -> None:
    _check_value(caller, tensor)
    if tensor.dtype.kind != 'f':
        raise TypeError(f"nn.init.{caller}: random initialisation needs a floating dtype, got "
                        f"{tensor.dtype} (shape {tensor.shape})")


def _finite(caller: str, argument: str, value) -> float:
    check_number(f"nn.init.{caller}", argument, value)
    if not math.isfinite(value):
        raise ValueError(f"nn.init.{caller}: {argument} must be finite, got {value!r}")
    return float(value)
