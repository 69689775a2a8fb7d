"""The functions plan code calls besides the ops' own ``forward``/``backward`` (``HELPERS``:
name in the plan -> function). Each does at a replay what the library did in the eager call."""
from __future__ import annotations

import numpy as np

from .. import engine
from ..mode import check_finite
from ..value import Value


def seed_for(data: np.ndarray, given) -> np.ndarray:
    """``backward(given)``'s starting gradient for a root holding ``data``."""
    return engine._seed(Value._wrap(data), given, 'backward')


def store(*holders_then_grads) -> None:
    """``store(leaf1, …, leafN, grad1, …, gradN)``: the leaves get their gradients as
    ``backward()`` gives them (accumulating onto a ``.grad`` already there)."""
    half = len(holders_then_grads) // 2
    engine.store_grads(holders_then_grads[:half], holders_then_grads[half:])


def fresh_leaf(cls: type, data: np.ndarray, copy: bool, requires_grad: bool, name) -> Value:
    """A leaf made in the step, made again: around a copy of the recorded constant (``copy``),
    or around the step's own array."""
    value = object.__new__(cls)
    value._data = data.copy() if copy else data
    value._grad = value._fn = value._hooks = None
    value.name = name
    value.requires_grad = requires_grad
    return value


def make_leaf(data: np.ndarray, requires_grad: bool) -> Value:
    """An op's result made a leaf that requires grad (``tl.randn(3).requires_grad_()``)."""
    return Value._wrap(data).requires_grad_(requires_grad)


def set_requires_grad(value: Value, flag: bool) -> None:
    value.requires_grad_(flag)


def make_op(cls: type, params: dict, needs: tuple, keys: tuple, *values):
    """An op object whose settings ``keys`` hold this replay's data (``values``)."""
    fn = cls(**{**params, **dict(zip(keys, values))})
    fn.needs_input_grad = needs
    return fn


def wrap_grad(data: np.ndarray, grad: np.ndarray) -> Value:
    """A returned Value with the gradient the step's backward gave it."""
    value = Value._wrap(data)
    value._grad = np.asarray(grad)
    return value


def call_with(function, keywords: tuple, *args):
    """``function(*positional, **dict(zip(keywords, the last len(keywords) args)))``."""
    split = len(args) - len(keywords)
    return function(*args[:split], **dict(zip(keywords, args[split:])))


HELPERS = {
    'wrap': Value._wrap,
    'asarray': np.asarray,
    'ndarray': np.ndarray,
    'check_finite': check_finite,
    'conform': engine._conform,
    'run_hooks': engine.run_hooks,
    'seed_for': seed_for,
    'ones_like': np.ones_like,
    'store': store,
    'fresh_leaf': fresh_leaf,
    'make_leaf': make_leaf,
    'set_requires_grad': set_requires_grad,
    'make_op': make_op,
    'wrap_grad': wrap_grad,
    'call_with': call_with,
    'pack': lambda *items: items,
    'pack_list': lambda *items: list(items),
    'pack_dict': lambda keys, *items: dict(zip(keys, items)),
}
