"""Guards: the Python state a recording depended on, checked before every replay.

A plan stands for its recording only while everything the recorded call read is as it was:

* the modules that ran: their training flags, and every scalar, string, tuple, function or
  object attribute in their ``__dict__`` (``self.scale``, ``Dropout.p``, ``self.use_skip``);
* the structure of those modules and of every module below them: registries bump their
  owner's ``structure_version`` on every write (``nn/registry.py``), so ``seq[0] = layer``,
  ``layers.append(...)`` or ``heads.pop('a')`` cannot go unseen;
* the parameters read: ``requires_grad``, and the same array or one of the same shape/dtype;
* every global read by every Python function of the user's that ran (its code's
  ``co_names``), and the cells of its closure: numbers and strings by type and value,
  everything else by identity (a rebound model, optimizer, helper function or coefficient);
  for the library's own functions only its scalar settings (the default dtype).

Each guard is one condition of a generated function; on a failure ``describe`` names the
first condition that does not hold.
"""
from __future__ import annotations

import gc
import types

import numpy as np

_SKIPPED_ATTRIBUTES = frozenset({'_parameters', '_buffers', '_modules', '_non_persistent_buffers_set',
                                 'training', 'structure_version', '_last_call_span'})
_BY_VALUE = (bool, int, float, complex, str, bytes, type(None), np.dtype, np.generic)
_MISSING = object()


class Guard:
    """``check() -> bool`` (True while the plan may be replayed); ``conditions``: the
    ``(source, what)`` pairs it is made of, for ``describe``."""

    def __init__(self, conditions: list, constants: dict):
        self.conditions, self.constants = conditions, constants
        body = '\n        and '.join(f"({source})" for source, _ in conditions) or 'True'
        self.source = f"def check():\n    return ({body})"
        namespace = dict(constants)
        exec(compile(self.source, '<tl.compile guard>', 'exec'), namespace)
        self.check = namespace['check']

    def describe(self) -> str:
        """What the first failing condition guards ('' when all hold)."""
        for source, what in self.conditions:
            if not eval(source, dict(self.constants)):
                return what
        return ''


class _Builder:
    def __init__(self) -> None:
        self.constants, self.conditions = {'MISSING': _MISSING}, []

    def name(self, obj) -> str:
        key = f"g{len(self.constants)}"
        self.constants[key] = obj
        return key

    def add(self, source: str, what: str) -> None:
        self.conditions.append((source, what))

    def holds(self, read: str, value, what: str) -> None:
        """The expression ``read`` still gives ``value``: by type and value for numbers, strings
        and tuples of them, else by identity."""
        if _by_value(value):
            self.add(f"type({read}) is {self.name(type(value))} and {read} == {self.name(value)}", what)
        else:
            self.add(f"{read} is {self.name(value)}", what)

    def entry(self, holder: str, key, value, what: str) -> None:
        self.holds(f"{holder}.get({key!r}, MISSING)", value, what)

    def cell(self, cell, value, what: str) -> None:
        if value is not _MISSING:
            self.holds(f"{self.name(cell)}.cell_contents", value, what)


def _by_value(value) -> bool:
    if isinstance(value, _BY_VALUE):
        return not (isinstance(value, float) and value != value)  # NaN: by identity
    return isinstance(value, tuple) and all(_by_value(item) for item in value)


def build_guard(tracer, function) -> Guard:
    g = _Builder()
    ran = [module for module, _, _ in tracer.modules.values()]
    for module, training, snapshot in tracer.modules.values():
        attributes = g.name(module.__dict__)
        label = type(module).__name__
        g.add(f"{attributes}['training'] is {training!r}", f"{label}.training")
        for key, value in snapshot.items():
            if key not in _SKIPPED_ATTRIBUTES:
                g.entry(attributes, key, value, f"the attribute {label}.{key}")
    for sub in dict.fromkeys(sub for module in ran for sub in module.modules()):
        g.add(f"{g.name(sub.__dict__)}.get('structure_version', 0) == {sub.structure_version!r}",
              f"the submodules, parameters and buffers of a {type(sub).__name__}")
    for value, _ in tracer.leaves.values():
        holder = g.name(value)
        what = f"the parameter {value.name or ''} of shape {value.shape}".replace('  ', ' ')
        g.add(f"{holder}.requires_grad is {value.requires_grad!r}", f"requires_grad of {what}")
        g.add(f"({holder}._data is {g.name(value._data)} or ({holder}._data.shape == {value.shape!r} and "
              f"{holder}._data.dtype == {g.name(value.dtype)}))", f"the array of {what}")
    _python_state(g, tracer, function)
    return Guard(g.conditions, g.constants)


def _python_state(g: _Builder, tracer, function) -> None:
    """Guards on the globals and closure cells read by the functions that ran, holding what
    they held when each function first ran."""
    seen = set()
    for code, noted in tracer.functions.items():
        if noted is None:  # the standard library's or an installed package's
            continue
        module_globals, library, read, cells = noted
        holder = None
        for name, value in read.items():
            if (id(module_globals), name) in seen:
                continue
            seen.add((id(module_globals), name))
            if isinstance(value, types.ModuleType) or (library and not _by_value(value)):
                continue
            holder = holder or g.name(module_globals)
            g.entry(holder, name, value, f"the global {name!r} read by {code.co_name} "
                                         f"({code.co_filename}:{code.co_firstlineno})")
        for name, cell, value in cells:
            g.cell(cell, value, f"the variable {name!r} that {code.co_name} reads from its closure")
    code = getattr(function, '__code__', None)
    if code is not None and code not in tracer.functions:  # fn itself (a C-level call site)
        for name, cell in zip(code.co_freevars, function.__closure__ or ()):
            g.cell(cell, _contents(cell), f"the variable {name!r} that {code.co_name} reads from its closure")


def closure_cells(code, library: bool, frame, function) -> list:
    """``(name, cell, value now)`` for the closure cells of the user's functions running
    ``code``: ``function`` itself, a function the caller's frame names (a local, a closure
    variable or a global of it), else found through the garbage collector (a full scan)."""
    if library or not code.co_freevars or set(code.co_freevars) == {'__class__'}:
        return []
    if code.co_name.startswith('<') and code.co_name != '<lambda>':  # comprehensions: the caller's locals
        return []
    owners = [function] if getattr(function, '__code__', None) is code else []
    caller = frame.f_back
    if not owners and caller is not None:
        owners = [value for value in (*caller.f_locals.values(), *caller.f_globals.values())
                  if isinstance(value, types.FunctionType) and value.__code__ is code]
    if not owners:
        owners = [owner for owner in gc.get_referrers(code)
                  if isinstance(owner, types.FunctionType) and owner.__code__ is code]
    return [(name, cell, _contents(cell)) for owner in owners
            for name, cell in zip(code.co_freevars, owner.__closure__ or ()) if name != '__class__']


def _contents(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return _MISSING
