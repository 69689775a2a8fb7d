"""``RandomWatch``: NumPy random generators that drew numbers while a call was traced.

NumPy's ``Generator`` and ``RandomState`` methods are C (Cython) functions, which no profile
function sees, so a tape (``tl.compile``'s tracer, the ONNX exporter) compares generator
states instead: ``np.random``'s global one, and every ``Generator``/``RandomState`` it finds
before it is used — attributes of the modules that ran, globals, closure cells and arguments
of the user's functions that ran. A state that changed during the call is a draw a replay or
a file would freeze. (A generator made and used inside the call without being stored is not
found; see docs/compile.md and docs/onnx.md.)
"""
from __future__ import annotations

import numpy as np

_PACKAGE = __name__.split('.')[0]
_GENERATORS = (np.random.Generator, np.random.RandomState)


def _fingerprint(state):
    """A bit generator's state as comparable data (its key arrays as bytes)."""
    if isinstance(state, dict):
        return tuple((key, _fingerprint(value)) for key, value in sorted(state.items()))
    if isinstance(state, (tuple, list)):
        return tuple(_fingerprint(value) for value in state)
    if isinstance(state, np.ndarray):
        return (state.dtype.str, state.shape, state.tobytes())
    return state


def _state(generator):
    bits = generator.bit_generator if isinstance(generator, np.random.Generator) else generator._bit_generator
    return _fingerprint(bits.state)


class RandomWatch:
    """The generators seen so far, with their states when first seen and where they were."""

    def __init__(self):
        self.seen: dict = {}  # id(generator) -> (generator, state, description)
        self.see(np.random.mtrand._rand, "np.random's global generator (np.random.rand, normal, ...)")

    def see(self, obj, where: str) -> None:
        """Note ``obj`` if it is a generator, or the generators directly inside a list, tuple or
        dict ``obj`` (``rngs[0]``, ``config['rng']``)."""
        if isinstance(obj, (list, tuple)):
            items = obj
        elif isinstance(obj, dict):
            items = obj.values()
        else:
            items = (obj,)
        for item in items:
            if isinstance(item, _GENERATORS) and id(item) not in self.seen:
                self.seen[id(item)] = (item, _state(item), where)

    def see_module(self, module, path: str) -> None:
        for name, value in vars(module).items():
            self.see(value, f"attribute '{name}' of module {path}")

    def see_frame(self, frame) -> None:
        """The globals and closure cells the function of ``frame`` reads (the user's code only:
        the library draws only inside its random ops, which the mapping refuses)."""
        if frame.f_globals.get('__name__', '').split('.')[0] == _PACKAGE:
            return
        code = frame.f_code
        where = f"{code.co_qualname if hasattr(code, 'co_qualname') else code.co_name} " \
                f"({code.co_filename}:{code.co_firstlineno})"
        for name in code.co_names:
            if name in frame.f_globals:
                self.see(frame.f_globals[name], f"global '{name}' read by {where}")
        for name in code.co_freevars:
            value = frame.f_locals.get(name)
            self.see(value, f"closure variable '{name}' of {where}")
        for name in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]:
            self.see(frame.f_locals.get(name), f"argument '{name}' of {where}")

    def drawn(self) -> str | None:
        """Where the first generator that drew numbers since it was seen was found, or None."""
        for generator, state, where in self.seen.values():
            if _state(generator) != state:
                return where
        return None
