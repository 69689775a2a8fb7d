"""Regularisation penalties, gradient clipping, and parameters as one flat vector.

    loss = F.mse_loss(model(x), y) + 1e-4 * nn.utils.l2_penalty(model.parameters())
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    flat = nn.utils.parameters_to_vector(model.parameters())      # (total number of weights,)
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..checks import check_number
from ..combine import concat, stack
from ..dtypes import get_default_dtype
from ..tracing import replayed
from ..value import Value
from .state import as_numeric_array, copy_into


def l1_penalty(params: Iterable[Value]) -> Value:
    """``sum_p sum(|p|)`` over the given Values, as a differentiable scalar Value
    (0 for no parameters). Gradient ``sign(p)`` (0 at 0)."""
    return _total([param.abs().sum() for param in _as_list(params, 'l1_penalty')])


def l2_penalty(params: Iterable[Value]) -> Value:
    """``sum_p sum(p**2)`` over the given Values (no factor 1/2), as a differentiable scalar
    Value (0 for no parameters). Gradient ``2 p``."""
    return _total([(param * param).sum() for param in _as_list(params, 'l2_penalty')])


@replayed
def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale the gradients of ``parameters`` in place so that their joint norm is at most
    ``max_norm``; return the joint norm before clipping, as a float.

    The joint norm is the ``norm_type``-norm (``math.inf`` for the max-norm) of all gradients
    together. As in PyTorch every gradient is multiplied by ``min(1, max_norm / (norm + 1e-6))``.
    Parameters whose ``grad`` is None are skipped. A non-finite norm raises RuntimeError when
    ``error_if_nonfinite`` (it would turn every gradient into nan).
    """
    check_number('clip_grad_norm_', 'max_norm', max_norm)
    check_number('clip_grad_norm_', 'norm_type', norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive (or math.inf), got {norm_type!r}")
    if not max_norm >= 0:  # NaN too: it would silently skip the clipping
        raise ValueError(f"clip_grad_norm_: max_norm must be non-negative, got {max_norm!r}")
    grads = [param._grad for param in _as_list(parameters, 'clip_grad_norm_') if param._grad is not None]
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    norms = np.array([np.linalg.norm(grad.reshape(-1).astype(np.float64), ord=norm_type) for grad in grads])
    total = float(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients "
                           f"is {total}; set error_if_nonfinite=False to clip anyway")
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1:
        for grad in grads:
            grad *= coefficient
    return total


@replayed
def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clip every gradient of ``parameters`` elementwise to ``[-clip_value, clip_value]``, in
    place (PyTorch's ``clip_grad_value_``). Parameters whose ``grad`` is None are skipped."""
    check_number('clip_grad_value_', 'clip_value', clip_value)
    if not clip_value >= 0:  # NaN too
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value!r}")
    for param in _as_list(parameters, 'clip_grad_value_'):
        if param._grad is not None:
            np.clip(param._grad, -clip_value, clip_value, out=param._grad)


def parameters_to_vector(parameters) -> Value:
    """All of ``parameters`` flattened and joined, in order, into one 1-D Value (PyTorch's
    ``parameters_to_vector``). It is differentiable: gradients flow back into each parameter."""
    params = _as_list(parameters, 'parameters_to_vector')
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return concat([param.reshape(-1) for param in params])


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` (a Value or an ndarray) into ``parameters``,
    in place and without a graph (the inverse of ``parameters_to_vector``): each Parameter
    object stays the same, only its numbers change (cast to its dtype). ``vec`` must have
    exactly as many elements as the parameters together; this is checked before any is changed."""
    params = _as_list(parameters, 'vector_to_parameters')
    if not isinstance(vec, (Value, np.ndarray)):
        raise TypeError(f"vector_to_parameters: vec must be a Value or an ndarray, got {type(vec).__name__}")
    array = as_numeric_array(vec)
    if array is None or array.ndim != 1:
        raise ValueError(f"vector_to_parameters: vec must be a 1-D numeric vector, got shape "
                         f"{vec.shape} and dtype {vec.dtype}")
    total = sum(param.size for param in params)
    if array.size != total:
        raise ValueError(f"vector_to_parameters: vec has {array.size} elements but the parameters have "
                         f"{total} together (shapes {[param.shape for param in params]})")
    offset = 0
    for param in params:
        copy_into(param, array[offset:offset + param.size].reshape(param.shape))
        offset += param.size


def _as_list(params, caller: str) -> list:
    """A single Value or an iterable of them (e.g. ``model.parameters()``) as a list."""
    if isinstance(params, Value):
        return [params]
    params = list(params)
    for i, param in enumerate(params):
        if not isinstance(param, Value):
            raise TypeError(f"{caller}: expected Values (e.g. model.parameters()), "
                            f"item {i} is {type(param).__name__}")
    return params


def _total(terms: list) -> Value:
    if not terms:
        return Value(np.zeros((), dtype=get_default_dtype()))
    return terms[0] if len(terms) == 1 else stack(terms).sum()
