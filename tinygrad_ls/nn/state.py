"""A Module's ``state_dict`` and ``load_state_dict`` (PyTorch's rules), and the one way to write
new numbers into a Parameter in place (``copy_into``), shared with ``nn.init`` and ``nn.utils``.

``Module.state_dict`` and ``Module.load_state_dict`` are one-line calls of the functions here.
"""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping

import numpy as np

from ..checks import cast_overflow, first_index
from ..mode import no_grad
from ..value import Value, to_numpy

IncompatibleKeys = namedtuple('IncompatibleKeys', ['missing_keys', 'unexpected_keys'])
IncompatibleKeys.__doc__ = "What ``load_state_dict(strict=False)`` skipped: two lists of names."


def state_entries(module) -> dict:
    """Name -> (owner module, attribute name, kind) for every Parameter and persistent buffer,
    under every name that reaches it (shared ones appear under each name, as in PyTorch), in
    PyTorch's order: each module's Parameters, its buffers, then its submodules."""
    entries = {}
    for module_name, owner in module.named_modules(remove_duplicate=False):
        dotted = f"{module_name}." if module_name else ''
        for name in owner._parameters:
            entries[dotted + name] = (owner, name, 'parameter')
        for name, array in owner._buffers.items():
            if array is not None and name not in owner._non_persistent_buffers_set:
                entries[dotted + name] = (owner, name, 'buffer')
    return entries


def state_dict(module) -> dict:
    """Name -> a copy (``np.ndarray``) of every Parameter's data and persistent buffer."""
    state = {}
    for key, (owner, name, kind) in state_entries(module).items():
        array = owner._parameters[name].data if kind == 'parameter' else owner._buffers[name]
        state[key] = np.array(array, copy=True)
    return state


def load_state_dict(module, state: Mapping, strict: bool = True) -> IncompatibleKeys:
    """Copy the arrays of ``state`` into ``module``'s Parameters and persistent buffers in
    place; every problem is found (and reported in one RuntimeError) before anything is
    copied. See ``Module.load_state_dict``."""
    if not isinstance(state, Mapping):
        raise TypeError(f"load_state_dict: expected a dict of arrays, got {type(state).__name__}")
    entries = state_entries(module)
    missing = [key for key in entries if key not in state]
    unexpected = [key for key in state if key not in entries]
    problems, arrays = [], {}
    for key, value in state.items():
        if key not in entries:
            continue
        owner, name, kind = entries[key]
        target = owner._parameters[name].data if kind == 'parameter' else owner._buffers[name]
        problem, array = _checked_value(key, value, target)
        if problem:
            problems.append(problem)
        else:
            arrays[key] = array
    problems += _tie_problems(entries, arrays)
    hooked = [(f"{name}." if name else '', owner)
              for name, owner in module.named_modules(remove_duplicate=False)]
    for prefix, owner in hooked:  # layers' own rules (BatchNorm, LoRALinear): Module._check_loaded_state
        problems += owner._check_loaded_state(prefix, arrays)
    if strict:
        key_problems = [f"{what} key(s) in state_dict: " + ', '.join(f'"{key}"' for key in keys) + '.'
                        for what, keys in (('Missing', missing), ('Unexpected', unexpected)) if keys]
        problems = key_problems + problems
    if problems:
        raise RuntimeError(f"Error(s) in loading state_dict for {type(module).__name__}:\n\t"
                           + '\n\t'.join(problems))
    for key, array in arrays.items():
        owner, name, kind = entries[key]
        if kind == 'parameter':
            copy_into(owner._parameters[name], array)
        else:
            owner._buffers[name][...] = array
    for prefix, owner in hooked:
        owner._state_loaded(prefix, arrays)
    return IncompatibleKeys(missing, unexpected)


def _checked_value(key: str, value, target: np.ndarray) -> tuple[str | None, np.ndarray | None]:
    """``(problem, None)`` or ``(None, array)`` for the value loaded into ``target``: it must be
    real numbers of the target's shape, and fit its dtype (1e300 is finite in float64 and inf
    as float32: refused, naming the first such element)."""
    array = as_numeric_array(value)
    if array is None:
        dtype = getattr(np.asarray(value) if isinstance(value, np.ndarray) else value, 'dtype', None)
        if dtype is not None and np.dtype(dtype).kind == 'c':
            return (f"value for {key} is complex ({dtype}); the model's {key} is real ({target.dtype}), "
                    "and casting would drop the imaginary part"), None
        return f'value for {key} is not numeric (got {type(value).__name__})', None
    if array.shape != target.shape:
        return (f"size mismatch for {key}: copying a value of shape {array.shape} from state_dict, "
                f"the shape in the current model is {target.shape}"), None
    overflow = cast_overflow(array, target.dtype)
    if overflow is not None:
        index, number = overflow
        return (f"value for {key} does not fit {target.dtype}: {number!s} at index {index} is finite in the "
                f"state_dict ({array.dtype}) but inf as {target.dtype}"), None
    return None, array


def _tie_problems(entries: dict, arrays: dict) -> list:
    """Keys that name one Parameter (or buffer) — a tied weight such as a GPT's ``lm_head.weight``
    and ``transformer.wte.weight`` — must hold equal arrays; otherwise which one wins would
    depend on the order of the keys."""
    groups: dict[int, list] = {}
    for key, (owner, name, kind) in entries.items():
        if key in arrays:
            target = owner._parameters[name] if kind == 'parameter' else owner._buffers[name]
            groups.setdefault(id(target), []).append(key)
    problems = []
    for keys in groups.values():
        first = arrays[keys[0]]
        for key in keys[1:]:
            other = arrays[key]
            floats = first.dtype.kind == 'f' and other.dtype.kind == 'f'
            if not np.array_equal(first, other, equal_nan=floats):
                index = first_index(~((first == other) | (first != first) & (other != other)))
                problems.append(f"{keys[0]} and {key} name one tied Parameter but hold different arrays (the "
                                f"first difference at index {index}: {first[index]!s} and {other[index]!s})")
    return problems


def as_numeric_array(value) -> np.ndarray | None:
    """``value`` (ndarray, Value, number or nested list) as an ndarray, or None if not numeric."""
    try:
        array = to_numpy(value)
    except ValueError:  # ragged nested lists
        return None
    return array if array.dtype.kind in 'biuf' else None


def copy_into(param: Value, array: np.ndarray) -> Value:
    """Write ``array`` (of ``param``'s shape) into ``param`` in place, cast to its dtype, as
    ``with no_grad(): param.copy_(array)`` does (so the version counter tells a graph recorded
    earlier that the numbers changed); a read-only array (e.g. memory-mapped) is replaced by a
    fresh copy instead. The Parameter object stays the same. Returns ``param``."""
    if not param.data.flags.writeable:
        param.data = np.array(array, dtype=param.data.dtype)
        return param
    with no_grad():
        return param.copy_(array)
