"""The doors a recording swaps. While a recording runs (``recording(recorder)``), a few
doors of the library are swapped for recording ones, and swapped back afterwards (the eager
path never pays for this):

* ``Function.apply`` — every op: ``v7 = f7.forward(v5, p2)`` with the op object kept;
* ``engine.backward`` — the reverse sweep, written out statement by statement (``backward.py``);
* optimizer ``step``/``zero_grad``, ``Module.zero_grad``, ``Value.zero_grad``, scheduler ``step``,
  ``nn.utils.clip_grad_norm_``/``clip_grad_value_``, ``tl.metrics.accuracy`` and functions marked
  ``tl.compiler.eager`` — called again at every replay (``c9(c8)``), not looked into, so
  learning rates, step counts and schedules behave as in eager code;
* ``Module.__call__`` — which modules ran, in which training mode (a guard of the plan);
* the Python conversions of a Value (``item``, ``float``, …): a number read out of the step's
  data is replayed if it is returned; ``bool`` on it (a branch on data) cannot be recorded;
* ``engine.backprop`` (``tl.grad``, ``create_graph``) and in-place updates of Values: a call
  that uses them is run eagerly every time instead (``unsupported``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from .. import engine, inplace, metrics
from ..nn import utils as nn_utils
from ..nn.module import Module
from ..ops.base import Function
from ..optim.optimizer import Optimizer
from ..optim.scheduler_base import LRScheduler
from ..value import Value
from .recorder import Recorder

# The recorder of the recording under way in this thread. The doors are swapped for the whole
# process, so one recording runs at a time (`_recording_lock`); other threads pass through.
_threads = threading.local()
_recording_lock = threading.Lock()


def active() -> Recorder | None:
    """The recorder of the recording under way in this thread, or None."""
    return getattr(_threads, 'recorder', None)


# ---- the doors ------------------------------------------------------------------------------------
_original_apply = Function.__dict__['apply'].__func__


def _recording_apply(cls, *args, **params):
    out = _original_apply(cls, *args, **params)
    recorder = getattr(_threads, 'recorder', None)
    if recorder is not None and not recorder.paused:
        recorder.op(cls, args, params, out)
    return out


def replayed(function: Callable) -> Callable:
    """``function`` (a method or function), called again at every replay when a recording calls
    it, instead of being looked into (``tl.compiler.eager``)."""

    def call(*args, **kwargs):
        recorder = active()
        if recorder is None or recorder.paused:
            return function(*args, **kwargs)
        return recorder.call(function, args, kwargs)

    call.__wrapped__ = function
    call.__name__, call.__qualname__, call.__doc__ = (
        function.__name__,
        function.__qualname__,
        function.__doc__,
    )
    return call


def _conversion(how: str, original: Callable) -> Callable:
    def convert(self, *args):
        recorder = active()
        if recorder is None or recorder.paused:
            return original(self, *args)
        recorder.paused += 1  # item() inside float() is one reading, not two
        try:
            result = original(self, *args)
        finally:
            recorder.paused -= 1
        if how != 'bool':
            recorder.number(self, result, how)
        elif recorder.known(self):
            recorder.refuse("a branch on the step's data (bool() of a Value)")
        return result

    return convert


def _noting_creation(original: Callable) -> Callable:
    """``Value.__init__`` that notes the Values a recording makes: a leaf made inside the
    function is a new one at each eager call, so its ``.grad`` starts empty at each replay."""
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        recorder = active()
        if recorder is not None and not recorder.paused:
            recorder.created[id(self)] = self
    return init


def _module_call(original: Callable) -> Callable:
    def call(self, *args, **kwargs):
        recorder = active()
        if recorder is not None and not recorder.paused:
            recorder.modules.setdefault(id(self), (self, self.training))
        return original(self, *args, **kwargs)

    return call


def _refusing(reason: str, original: Callable) -> Callable:
    def call(*args, **kwargs):
        recorder = active()
        if recorder is not None and not recorder.paused:
            recorder.refuse(reason)
        return original(*args, **kwargs)

    return call


def _classes_defining(base: type, method: str) -> list:
    """``base`` and its subclasses (at any depth) that define ``method`` themselves."""
    found, stack = [], [base]
    while stack:
        cls = stack.pop()
        if method in vars(cls):
            found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def _patches(record_backward: Callable) -> list:
    """(owner, attribute, replacement) of every door a recording swaps."""
    patches = [
        (Function, 'apply', classmethod(_recording_apply)),
        (engine, 'backward', record_backward),
        (engine, 'backprop', _refusing('tl.grad or create_graph inside the function', engine.backprop)),
        (Module, '__call__', _module_call(Module.__call__)),
    ]
    for name in ('update', 'fill', 'copy_from', 'clamp', 'set_item'):
        patches.append((inplace, name, _refusing('an in-place update of a Value', getattr(inplace, name))))
    for base, methods in (
        (Optimizer, ('step', 'zero_grad')),
        (LRScheduler, ('step',)),
        (Module, ('zero_grad',)),
    ):
        for method in methods:
            for cls in _classes_defining(base, method):
                patches.append((cls, method, replayed(vars(cls)[method])))
    patches.append((Value, 'zero_grad', replayed(Value.zero_grad)))
    patches.append((Value, '__init__', _noting_creation(Value.__init__)))
    # Library functions that compute with NumPy on .data or .grad: replayed as calls.
    for owner, name in ((nn_utils, 'clip_grad_norm_'), (nn_utils, 'clip_grad_value_'), (metrics, 'accuracy')):
        patches.append((owner, name, replayed(getattr(owner, name))))
    for how, attribute in (
        ('item', 'item'),
        ('float', '__float__'),
        ('int', '__int__'),
        ('int', '__index__'),
        ('tolist', 'tolist'),
        ('bool', '__bool__'),
    ):
        patches.append((Value, attribute, _conversion(how, getattr(Value, attribute))))
    return patches


@contextlib.contextmanager
def recording(recorder: Recorder, record_backward: Callable):
    """Swap the doors for recording ones while the ``with`` body runs (one recording at a time)."""
    if active() is not None:
        raise RuntimeError(
            "tl.compile: a compiled function was called while another one is being "
            "recorded; compile the outer function only"
        )
    with _recording_lock:
        patches = _patches(record_backward)
        saved = [(owner, attribute, owner.__dict__.get(attribute, _MISSING) if isinstance(owner, type)
                  else getattr(owner, attribute)) for owner, attribute, _ in patches]
        _threads.recorder = recorder
        try:
            for owner, attribute, replacement in patches:
                setattr(owner, attribute, replacement)
            yield recorder
        finally:
            _threads.recorder = None
            for owner, attribute, original in reversed(saved):
                if original is _MISSING:
                    delattr(owner, attribute)
                else:
                    setattr(owner, attribute, original)


_MISSING = object()
