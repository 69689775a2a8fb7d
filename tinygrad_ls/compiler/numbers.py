"""Numbers a replayed call hands back while a step is recorded (``clip_grad_norm_``'s norm,
``metrics.accuracy``): they are the step's data, new at every replay.

During the recording such a call returns a ``TracedFloat``/``TracedInt``: a float or int in
every way, except that Python arithmetic, comparisons, formatting, hashing and conversions on
it tell the tracer, and the call then runs eagerly (a replay could not redo that Python
work). Returned as they are, or passed to an op or to another replayed call, they are
replayed (the tracer knows them by identity).
"""
from __future__ import annotations

_WATCHED = (
    '__add__', '__radd__', '__sub__', '__rsub__', '__mul__', '__rmul__', '__truediv__',
    '__rtruediv__', '__floordiv__', '__rfloordiv__', '__mod__', '__rmod__', '__pow__',
    '__rpow__', '__neg__', '__pos__', '__abs__', '__lt__', '__le__', '__gt__', '__ge__',
    '__eq__', '__ne__', '__bool__', '__format__', '__str__', '__repr__', '__round__',
    '__float__', '__int__', '__index__', '__hash__', '__trunc__', '__floor__', '__ceil__',
)


def _watched(base: type, name: str):
    original = getattr(base, name)

    def method(self, *args):
        self._tracer.number_used(self, name)
        return original(self, *args)

    method.__name__ = name
    return method


def _number_class(base: type) -> type:
    namespace = {name: _watched(base, name) for name in _WATCHED if hasattr(base, name)}
    namespace['__reduce__'] = lambda self: (base, (base(self),))
    return type(f"Traced{base.__name__.capitalize()}", (base,), namespace)


TracedFloat = _number_class(float)
TracedInt = _number_class(int)
TRACED = (TracedFloat, TracedInt)


def traced(number, tracer):
    """``number`` (a float or an int, not a bool) as a traced one told to ``tracer``."""
    result = (TracedFloat if isinstance(number, float) else TracedInt)(number)
    result._tracer = tracer
    return result


def plain(number):
    """A traced number as the plain float or int it stands for."""
    return float.__float__(number) if isinstance(number, TracedFloat) else int.__int__(number)
