"""The tape: the one hook through which the library reports what a call does to a recorder.

While a ``Tape`` records in a thread (``with recording(tape):``), the library tells it, and
nothing is patched:

* ``Function.apply``: every op, with its arguments and result (``tape.op``);
* ``engine.backward``/``backprop``: every step of the one backward sweep (``seed``,
  ``conformed``, ``added``, ``hooked``, ``backward_ran``, ``stored``);
* ``Value``: Python reading its numbers (``.data``, ``item()``, ``float()``, formatting, …),
  reading or assigning ``.grad``, in-place updates, and new leaves (``tape.read`` …);
* ``Module.__call__``: which modules ran (``tape.module_called``);
* functions marked ``replayed`` where they are defined (optimizer and scheduler steps,
  ``zero_grad``, gradient clipping, metrics, ``tl.compiler.eager``): the call as a whole
  (``tape.call``), not what happens inside it;
* a profile function (``sys.setprofile``, this thread only, while recording): every Python
  function that runs (``tape.function_ran``, for guards on what it reads).

NumPy's generators are C code that no profile function sees: ``random_watch.py`` compares
their states instead.

The base class refuses everything (``escape``); ``tl.compile``'s tracer and the ONNX exporter
say what they can stand for. The eager path pays one thread-local check per op (the one it
already made for anomaly detection) and one per ``.data``/``.grad`` read by Python code.
"""
from __future__ import annotations

import bisect
import contextlib
import functools
import itertools
import sys
from collections.abc import Callable

import numpy as np

from .mode import modes

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # NumPy < 2
    from numpy import byte_bounds

_PACKAGE = __name__.split('.')[0]


class Tape:
    """What a recorder is told. ``paused`` > 0 inside a replayed call: nothing there is
    reported. Every hook not overridden refuses the call through ``escape(reason)``."""

    paused = 0
    paused_sweeps = 0  # backward sweeps that ran inside replayed calls
    profiler = None    # the profile function while recording (``recording``)
    quiet_depth = 0    # > 0 while the library works for the tape (``quiet``)

    def escape(self, reason: str) -> None:
        raise NotImplementedError

    # ---- forward -------------------------------------------------------------------------------
    def op(self, cls: type, args: tuple, params: dict, out) -> None:
        self.escape(f"op '{cls.name}'")

    def module_called(self, module) -> None:
        pass

    def created(self, value) -> None:
        pass

    def requires_grad_changed(self, value, flag: bool) -> None:
        self.escape("requires_grad_()")

    def read(self, value, how: str) -> None:
        self.escape(f"Python reads the numbers of a Value ({how})")

    def array_used(self, how: str) -> None:
        self.escape(f"NumPy works on an array argument of the call ({how}) outside the library's ops")

    def grad_touched(self, value, how: str) -> None:
        self.escape(f"{how} outside an optimizer or a function marked tl.compiler.eager")

    def edited(self, value, how: str) -> None:
        self.escape(f"an in-place update of a Value ({how})")

    def call(self, function: Callable, args: tuple, kwargs: dict):
        self.escape(f"a call of {getattr(function, '__qualname__', function)}")
        return function(*args, **kwargs)

    def function_ran(self, frame) -> None:
        pass

    # ---- backward ------------------------------------------------------------------------------
    def sweep(self, roots, create_graph: bool, wanted) -> None:
        self.escape("backward()")

    def seed(self, root, given, seed) -> None:
        pass

    def conformed(self, before, after, arg, fn) -> None:
        pass

    def added(self, previous, grad, total) -> None:
        pass

    def hooked(self, node, before, after) -> None:
        pass

    def backward_ran(self, node, fn, grad, input_grads) -> None:
        pass

    def stored(self, nodes, grads) -> None:
        pass

    # ---- the profile function ------------------------------------------------------------------
    def profile(self, frame, event: str, arg) -> None:
        """``sys.setprofile``'s callback while this tape records (ops and replayed calls run
        with ``watching`` off or the tape paused, so what they do inside is not seen)."""
        if event == 'call' and not self.paused and modes.watching:
            self.function_ran(frame)


@contextlib.contextmanager
def recording(tape: Tape):
    """Report this thread's ops, sweeps and reads to ``tape`` while the body runs."""
    if modes.tape is not None:
        raise RuntimeError("a tape is already recording in this thread")
    previous_profile = sys.getprofile()
    modes.tape, modes.watching = tape, True
    tape.profiler = tape.profile  # one bound method, installed and re-installed by quiet()
    sys.setprofile(tape.profiler)
    try:
        yield tape
    finally:
        _restore_profile(previous_profile)
        modes.tape, modes.watching = None, modes.detect_anomaly


def _restore_profile(previous) -> None:
    """Put back the profiler that ran before the recording: a profile function, or a C-level
    profiler such as ``cProfile.Profile`` (which ``sys.setprofile`` cannot take back)."""
    if previous is not None and not callable(previous) and hasattr(previous, 'enable'):
        previous.enable()
    else:
        sys.setprofile(previous)


def view_of_step_data(constants, step_arrays):
    """The shape of the first array of ``constants`` whose memory lies inside one of
    ``step_arrays`` (a NumPy view of the step's data made beside the ops), or None."""
    steps = sorted(bounds for bounds in map(byte_bounds, step_arrays) if bounds[1] > bounds[0])
    if not steps:
        return None
    starts = [low for low, _ in steps]
    reach = list(itertools.accumulate((high for _, high in steps), max))  # the furthest end so far
    for constant in constants:
        if isinstance(constant, np.ndarray) and constant.size and any(constant.strides):
            low, high = byte_bounds(constant)
            index = bisect.bisect_left(starts, high) - 1
            if index >= 0 and reach[index] > low:
                return constant.shape
    return None


class quiet:
    """While the library works for a tape (an op, the backward sweep, a replayed call), its
    Python calls are not profiled: only the user's own functions are guarded, and the
    profile function costs nothing there. ``quiet(None)`` does nothing."""

    __slots__ = ('tape',)

    def __init__(self, tape) -> None:
        self.tape = tape if tape is not None and getattr(tape, 'profiler', None) is not None else None

    def __enter__(self) -> None:
        tape = self.tape
        if tape is not None:
            if not tape.quiet_depth:
                sys.setprofile(None)
            tape.quiet_depth += 1

    def __exit__(self, *exc_info) -> None:
        tape = self.tape
        if tape is not None:
            tape.quiet_depth -= 1
            if not tape.quiet_depth and modes.tape is tape:
                sys.setprofile(tape.profiler)


def active() -> Tape | None:
    """The tape recording in this thread and not paused, or None."""
    tape = modes.tape
    return tape if tape is not None and not tape.paused else None


@contextlib.contextmanager
def paused():
    """Nothing inside is reported (a replayed call runs whole)."""
    tape = modes.tape
    if tape is None:
        yield
        return
    tape.paused += 1
    try:
        yield
    finally:
        tape.paused -= 1


def report(hook: str, *args) -> None:
    """Tell the tape recording in this thread, if any and not paused, ``hook(*args)``
    (``'read'``, ``'grad_touched'``, ``'edited'``, ``'created'``, ``'module_called'``,
    ``'requires_grad_changed'``). Callers check ``modes.watching`` first, so eager code pays
    one flag test."""
    tape = active()
    if tape is not None:
        getattr(tape, hook)(*args)


def replayed(function: Callable) -> Callable:
    """Mark ``function`` as called again at every replay of a recorded call (with the replay's
    Values) instead of being looked into: optimizer and scheduler steps, ``zero_grad``,
    clipping, metrics, and users' functions through ``tl.compiler.eager``."""
    if getattr(function, 'replayed', False):
        return function

    @functools.wraps(function)
    def call(*args, **kwargs):
        if modes.watching:
            tape = modes.tape
            if tape is not None and not tape.paused:
                return tape.call(function, args, kwargs)
        return function(*args, **kwargs)

    call.replayed = True
    return call


def mark_replayed_methods(cls: type, names: tuple) -> None:
    """``replayed`` on each method of ``names`` that ``cls`` defines itself (for
    ``__init_subclass__`` of Optimizer, LRScheduler: users' subclasses are marked too)."""
    for name in names:
        method = cls.__dict__.get(name)
        if callable(method) and not getattr(method, 'replayed', False):
            setattr(cls, name, replayed(method))


def user_site() -> str:
    """``file:line`` of the innermost frame outside tinygrad_ls: where the user's code is."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get('__name__', '').split('.')[0] == _PACKAGE:
        frame = frame.f_back
    if frame is None:
        return 'unknown'
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"
