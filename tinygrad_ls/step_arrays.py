"""``StepArray``: an array argument of a call being recorded, as the recorded function sees it.

A recording hands the function a ``StepArray`` view of each ndarray argument. It is the same
array in every way, except that NumPy working on it outside the library's ops — a ufunc
(``x / 255``, ``x.sum()``), a NumPy function (``np.concatenate``), a view or a copy
(``x[:, :3]``, ``x.reshape(...)``, ``x.astype(...)``), reading an element or a number out of
it, writing into it — tells the tape: a replay runs the ops, not that Python, so the call
runs eagerly instead. Inside ops (``modes.watching`` is off there) it is a plain array, and
every result it gives is a plain ndarray.
"""
from __future__ import annotations

import numpy as np

from . import tracing
from .mode import modes

# NumPy functions that read only what the recording's key already fixes (shape, dtype)
_SHAPE_ONLY = frozenset({'shape', 'ndim', 'size', 'result_type', 'can_cast', 'iscomplexobj', 'isrealobj',
                         'may_share_memory', 'shares_memory', 'min_scalar_type'})


def _tell(how: str) -> None:
    if modes.watching:  # (off inside ops; quiet_depth > 0 in the backward sweep and replayed calls)
        tape = tracing.active()
        if tape is not None and not tape.quiet_depth:
            tape.array_used(how)


def _plain(item):
    if isinstance(item, StepArray):
        return item.view(np.ndarray)
    if isinstance(item, (list, tuple)):
        return type(item)(_plain(part) for part in item)
    return item


class StepArray(np.ndarray):
    """An ndarray argument of the call being recorded (see the module's docstring)."""

    def __array_finalize__(self, obj) -> None:
        if obj is not None and isinstance(obj, StepArray):  # a view or a copy made from it
            _tell('a view or a copy of it')

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _tell(f"np.{ufunc.__name__}" + ('' if method == '__call__' else f".{method}"))
        if 'out' in kwargs:
            kwargs['out'] = _plain(kwargs['out'])
        return getattr(ufunc, method)(*_plain(inputs), **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ not in _SHAPE_ONLY:
            _tell(f"np.{func.__name__}")
        return func(*_plain(args), **{key: _plain(value) for key, value in kwargs.items()})

    def __getitem__(self, index):
        _tell('indexing')
        return self.view(np.ndarray)[index]

    def __setitem__(self, index, value) -> None:
        _tell('writing into it')
        self.view(np.ndarray)[index] = value

    def _numbers(self, how: str) -> np.ndarray:
        _tell(how)
        return self.view(np.ndarray)

    def item(self, *args):
        return self._numbers('item()').item(*args)

    def tolist(self):
        return self._numbers('tolist()').tolist()

    def __bool__(self) -> bool:
        return bool(self._numbers('bool()'))

    def __float__(self) -> float:
        return float(self._numbers('float()'))

    def __int__(self) -> int:
        return int(self._numbers('int()'))

    def __index__(self) -> int:
        return self._numbers('an index').__index__()

    def __iter__(self):
        return iter(self._numbers('iteration'))

    def __format__(self, spec: str) -> str:
        return format(self._numbers('formatting'), spec)

    def __repr__(self) -> str:
        return repr(self._numbers('repr()'))

    __str__ = __repr__


def step_view(array: np.ndarray) -> StepArray:
    """``array`` as a StepArray (a view: the same memory, nothing copied)."""
    view = np.ndarray.view(array, StepArray)
    return view
