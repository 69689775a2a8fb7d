"""Per-thread switches read on every op: grad mode, anomaly detection and the tape; and the
op clock the engine, in-place updates and modules share.

``watching`` is True while anomaly detection is on or a tape (``tracing.py``) is recording in
this thread: ``Function.apply`` reads that one flag, so an op pays one check for both.

The op clock: every recorded op takes the next number of ``op_counter`` (``fn.sequence``: an
op's inputs always have smaller numbers); ``sequence_mark()`` takes one to bracket a module
call (for drawing module clusters) or to date an in-place update (``edits.latest``, which
``backward`` compares with the ops it runs).
"""
from __future__ import annotations

import contextlib
import itertools
import threading

import numpy as np

op_counter = itertools.count()  # thread-safe: next() on a count is atomic in CPython


class EditLog:
    """``latest``: the sequence number of the newest in-place update of any Value (-1: none
    yet), shared by all threads. ``backward`` looks for stale saved data only at ops recorded
    before it, so graphs built after the last update (every step of a training loop that
    updates its weights in place) pay one comparison per node."""
    latest = -1


edits = EditLog()


def sequence_mark() -> int:
    """A fresh number from the op clock: every op recorded after this call has a larger
    sequence number, every op recorded before it a smaller one."""
    return next(op_counter)


class _Modes(threading.local):
    """Class attributes are each thread's starting values; assignments stay in that thread."""
    grad_enabled = True
    detect_anomaly = False
    tape = None        # the tracing.Tape recording in this thread, or None
    watching = False   # detect_anomaly or tape is not None: the slow path of every op


modes = _Modes()


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` in this thread."""
    return modes.grad_enabled


@contextlib.contextmanager
def _switch(name: str, value: bool):
    previous = getattr(modes, name)
    setattr(modes, name, value)
    try:
        yield
    finally:
        setattr(modes, name, previous)


def no_grad():
    """Context manager: ops inside it record no graph (in this thread only)."""
    return _switch('grad_enabled', False)


def enable_grad():
    """Context manager: turn recording back on inside a ``no_grad`` block."""
    return _switch('grad_enabled', True)


class set_grad_enabled:
    """Set grad mode to ``flag`` in this thread: at once when called, and as a context
    manager restore the previous mode on exit (like ``torch.set_grad_enabled``)."""

    def __init__(self, flag: bool):
        self.previous = modes.grad_enabled
        modes.grad_enabled = bool(flag)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info) -> None:
        modes.grad_enabled = self.previous


@contextlib.contextmanager
def detect_anomaly():
    """Context manager: raise at the first op whose forward result or gradient holds NaN/inf."""
    previous = modes.detect_anomaly
    modes.detect_anomaly = True
    modes.watching = True
    try:
        yield
    finally:
        modes.detect_anomaly = previous
        modes.watching = previous or modes.tape is not None


def check_finite(array, where: str) -> None:
    """``detect_anomaly``'s check: a RuntimeError naming ``where`` if ``array`` (an ndarray or a
    Value) holds NaN or inf."""
    array = np.asarray(getattr(array, '_data', array))
    if array.dtype.kind in 'fc' and not np.isfinite(array).all():
        kind = 'nan' if np.isnan(array).any() else 'inf'
        raise RuntimeError(f"detect_anomaly: {where} produced {kind} values (shape {array.shape})")
