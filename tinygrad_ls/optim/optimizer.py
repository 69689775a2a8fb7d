"""``Optimizer``: the base class, shaped like ``torch.optim.Optimizer``.

An optimizer holds ``param_groups`` (a list of dicts: ``'params'``, a list of Parameters,
and that group's options such as ``'lr'``), ``defaults`` (the options a group does not
set) and ``state`` (a dict keyed by the parameter object itself, filled lazily the first
time a parameter with a gradient is stepped). A subclass gives its constructor (keyword
options with defaults, passed on as the ``defaults`` dict) and ``_update`` (one parameter's
in-place rule, which makes that parameter's state); the base ``step`` skips parameters whose
``grad`` is None. The base checks every group's options (``_validate_options``): each
option whose constructor default is a number must be a number and not NaN, ``lr`` and
``weight_decay`` and the subclass's ``_non_negative_options`` must be >= 0, every one must be
finite unless the subclass lists it in ``_infinite_options`` (``lr=inf`` would make every
parameter inf at the first step), and the subclass's ``_check_options`` checks the rest.
docs/optimizers.md, "Adding an optimizer", has an example.

``state_dict()`` packs everything into plain dicts of ndarrays and numbers, parameters
named by their index in ``param_groups`` order, as PyTorch does, plus the optimizer's class
name (PyTorch has no such entry), which ``load_state_dict`` checks::

    {'state': {0: {'step': 3, 'exp_avg': ndarray, ...}, ...},
     'param_groups': [{'lr': 0.001, ..., 'params': [0, 1]}, ...],
     'kind': 'Adam'}

``step()`` counts its calls in ``_step_calls`` (the schedulers read it, to warn when they
are stepped before the optimizer) and runs ``_step``: the loop over parameters calling
``_update``, or the whole algorithm in an optimizer that overrides ``_step`` (L-BFGS).
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import numpy as np

from ..checks import is_number, loaded_array_problem
from ..mode import enable_grad
from ..tracing import mark_replayed_methods, replayed
from ..value import Value


def _number_options(cls: type) -> tuple[str, ...]:
    """The options of optimizer class ``cls`` that must be real numbers: ``lr``,
    ``weight_decay``, its ``_non_negative_options``, and every keyword of an ``__init__`` in
    its MRO whose default is a number (not a bool), so that a subclass passing ``**kwargs``
    on keeps its parent's."""
    names = dict.fromkeys(('lr', 'weight_decay', *cls._non_negative_options))
    for klass in cls.__mro__:
        if '__init__' in vars(klass) and klass is not object:
            for parameter in inspect.signature(klass.__init__).parameters.values():
                if is_number(parameter.default):
                    names[parameter.name] = None
    return tuple(names)


def _describe(obj: Any) -> str:
    """A short description of something that is not an optimizable parameter."""
    if isinstance(obj, Value):
        return f"a {type(obj).__name__} of dtype {obj.dtype} and shape {obj.shape} that is not floating point"
    if isinstance(obj, np.ndarray):
        return f"an ndarray of dtype {obj.dtype} and shape {obj.shape}"
    return f"a {type(obj).__name__}"


class Optimizer:
    """Base class of all optimizers.

    ``params``: an iterable of floating-point leaf Values (e.g. ``model.parameters()``; frozen
    ones are skipped while their grad is None), or an iterable of dicts, each a parameter
    group ``{'params': [...], 'lr': ..., ...}`` whose options override ``defaults`` for it.

    ``step`` and ``zero_grad`` (of every subclass too) are marked ``replayed``: a compiled
    step calls them again at every replay instead of recording what they do.
    """

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        mark_replayed_methods(cls, ('step', 'zero_grad'))

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        self._number_options = _number_options(type(self))
        self._validate_options(defaults)
        if isinstance(params, (Value, np.ndarray)):
            raise TypeError("params argument given to the optimizer should be an iterable of Values or "
                            f"dicts, but got {_describe(params)}")
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be an ordered collection (a list), not a set: "
                            "the order of a set changes between runs")
        if hasattr(params, 'parameters') and callable(params.parameters):
            raise TypeError(f"params argument given to the optimizer should be an iterable of Values or "
                            f"dicts, but got the {type(params).__name__} module itself; pass "
                            "model.parameters()")
        try:
            groups = list(params)
        except TypeError:
            raise TypeError("params argument given to the optimizer should be an iterable of Values or "
                            f"dicts, but got {_describe(params)}") from None
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{'params': groups}]
        self.defaults = dict(defaults)
        self._step_calls = 0
        self.state: dict[Value, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        for group in groups:
            self.add_param_group(group)
        if not any(group['params'] for group in self.param_groups):
            raise ValueError("optimizer got an empty parameter list (every parameter group is empty)")

    # ---- subclass interface ---------------------------------------------------------------
    # Options that must be >= 0 ("Invalid {name} value: ..." otherwise), checked by the base.
    _non_negative_options: tuple[str, ...] = ()
    # Numeric options that may be infinite (every other one must be finite, e.g. lr).
    _infinite_options: tuple[str, ...] = ()

    def _check_options(self, options: dict[str, Any]) -> None:
        """Raise ValueError for what ``_validate_options`` does not check: ranges other than
        ``>= 0``, relations between options, options whose default is not a number. The
        options with a numeric default are known to be numbers when this runs."""

    def _validate_options(self, options: dict[str, Any]) -> None:
        """Check the options of a group (or the defaults), before anything changes: TypeError
        if one whose default is a number is not a real number; ValueError for a negative
        ``lr``, ``weight_decay`` or ``_non_negative_options``, for what ``_check_options``
        refuses, and for any numeric option left NaN or infinite (but ``_infinite_options``).
        Runs only when options are set (at construction, ``add_param_group`` and
        ``load_state_dict``), never in ``step``."""
        numbers = [name for name in self._number_options if name in options]
        for name in numbers:
            if not is_number(options[name]):
                raise TypeError(f"Invalid {name} value: {options[name]!r} (a number is expected)")
        if not 0.0 <= options.get('lr', 0.0):
            raise ValueError(f"Invalid learning rate: {options['lr']}")
        for name in ('weight_decay', *self._non_negative_options):
            if name in options and not 0.0 <= options[name]:
                raise ValueError(f"Invalid {name} value: {options[name]}")
        self._check_options(options)
        for name in numbers:
            value = options[name]
            if math.isnan(value):
                raise ValueError(f"Invalid {name} value: {value}")
            if math.isinf(value) and name not in self._infinite_options:
                what = 'learning rate' if name == 'lr' else f"{name} value"
                raise ValueError(f"Invalid {what}: {value} (it must be finite: the first step would make "
                                 "every parameter inf or NaN)")

    def _update(self, param: Value, grad: np.ndarray, group: dict[str, Any]) -> None:
        """Apply this optimizer's rule to one parameter in place (``grad`` is not None)."""
        raise NotImplementedError

    # The entries a non-empty state of this optimizer must hold (besides lazily made ones).
    _required_state: tuple[str, ...] = ()
    # Entries that are running means of squares: a negative number there is refused on load.
    _non_negative_state: tuple[str, ...] = ()

    def _check_state(self, param: Value, state: dict[str, Any], where: str) -> None:
        """Raise ValueError if loaded ``state`` cannot belong to ``param``: by default every
        entry but ``'step'`` must be a floating ndarray of the parameter's shape, ``'step'`` a
        number >= 0, and a non-empty state must hold every key of ``_required_state`` (so
        that a later ``step()`` cannot fail half-way, after updating some parameters). The
        arrays must be finite, fit the parameter's dtype (1e300 into float32 is inf) and, for
        ``_non_negative_state`` (second moments), be >= 0: each would make the parameter NaN
        at the next step."""
        missing = [key for key in self._required_state if key not in state] if state else []
        if missing:
            raise ValueError(f"load_state_dict: {where} lacks {missing} (it holds {sorted(state)})")
        for key, value in state.items():
            if key == 'step':  # an int here; a 0-d array when converted from PyTorch
                if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in 'iuf' or not value >= 0:
                    raise ValueError(f"load_state_dict: {where}['step'] must be a number >= 0, got {value!r}")
            elif not isinstance(value, np.ndarray) or value.dtype.kind != 'f':
                raise ValueError(f"load_state_dict: {where}[{key!r}] must be a floating-point ndarray, "
                                 f"got {_describe(value)}")
            elif value.shape != param.shape:
                raise ValueError(f"load_state_dict: {where}[{key!r}] has shape {value.shape}, "
                                 f"but the parameter has shape {param.shape}")
            else:
                problem = loaded_array_problem(value, param.dtype, key in self._non_negative_state)
                if problem:
                    raise ValueError(f"load_state_dict: {where}[{key!r}] {problem}")

    def _pack_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """One parameter's state as plain ndarrays and numbers (copies)."""
        return {key: _copy(value) for key, value in state.items()}

    def _unpack_state(self, param: Value, packed: dict[str, Any]) -> dict[str, Any]:
        """Inverse of ``_pack_state``: copies; floating arrays but ``'step'`` take the parameter's dtype."""
        return {key: _copy(value, None if key == 'step' else param.dtype) for key, value in packed.items()}

    # ---- public API -------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group ``{'params': [...], option: value, ...}``; missing options come from
        ``defaults``. Frozen parameters (``requires_grad=False``) are accepted and skipped while
        their grad is None, as in PyTorch, so ``optimizer(model.parameters())`` works after
        freezing part of a model. Raises TypeError for something that is not a floating-point
        Value and
        ValueError for a bad option or a parameter already in the optimizer, before any change."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if 'params' not in param_group:
            raise ValueError("param_group must have a 'params' entry")
        params = param_group['params']
        if isinstance(params, Value):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be an ordered collection (a list), not a set: "
                            "the order of a set changes between runs")
        elif isinstance(params, np.ndarray):
            raise TypeError("optimizer can only optimize floating-point Values, but got "
                            f"{_describe(params)}")
        params = list(params)
        group_index = len(self.param_groups)
        for i, param in enumerate(params):
            if not isinstance(param, Value) or param.dtype.kind != 'f':
                raise TypeError(f"optimizer can only optimize floating-point Values, but "
                                f"param_groups[{group_index}]['params'][{i}] is {_describe(param)}")
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Value "
                                 f"(param_groups[{group_index}]['params'][{i}] was made by op '{param.op}')")
        if len(set(params)) != len(params):
            raise ValueError(f"param_groups[{group_index}] holds the same parameter more than once")
        seen = {p for group in self.param_groups for p in group['params']}
        if any(p in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != 'params'}}
        self._validate_options(group)
        group['params'] = params
        self.param_groups.append(group)

    @replayed
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's ``grad`` to None (or, with ``set_to_none=False``, to zeros in place)."""
        for group in self.param_groups:
            for p in group['params']:
                if p._grad is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    p._grad[...] = 0

    @replayed
    def step(self, closure: Callable | None = None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given.

        ``closure`` re-evaluates the model (zero the grads, compute the loss, ``backward()``)
        and returns the loss. Every gradient (its shape and a real numeric dtype) and every
        parameter (writable data) is checked before any parameter or state changes.
        """
        self._step_calls += 1
        return self._step(closure)

    def _step(self, closure: Callable | None):
        """The work of ``step()``: ``closure()``, then ``_update`` for every parameter with a grad."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        updates = []
        for g, group in enumerate(self.param_groups):
            for i, p in enumerate(group['params']):
                grad = p._grad
                if grad is None:
                    continue
                if type(grad) is not np.ndarray:
                    grad = np.asarray(grad)
                if grad.shape != p._data.shape:
                    raise ValueError(f"step: param_groups[{g}]['params'][{i}] has shape {p.shape} "
                                     f"but its grad has shape {grad.shape}")
                if grad.dtype.kind not in 'iuf':
                    raise TypeError(f"step: the grad of param_groups[{g}]['params'][{i}] has dtype "
                                    f"{grad.dtype}; a real numeric grad is expected")
                if not p._data.flags.writeable:
                    raise ValueError(f"step: param_groups[{g}]['params'][{i}] (shape {p.shape}) holds a "
                                     "read-only array and cannot be updated in place; give it a copy")
                updates.append((p, grad, group))
        for p, grad, group in updates:
            self._update(p, grad, group)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {name: ndarray or number}}, 'param_groups': [{options, 'params': [index]}]}``.

        Parameters are numbered in ``param_groups`` order; arrays are copies.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != 'params'}
            packed['params'] = [index.setdefault(p, len(index)) for p in group['params']]
            groups.append(packed)
        state = {index[p]: self._pack_state(s) for p, s in self.state.items()}
        return {'state': state, 'param_groups': groups, 'kind': type(self).__name__}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what ``state_dict()`` returned (arrays are copied, floating ones cast to each
        parameter's dtype). Everything is checked first: that it is this optimizer's kind of
        state (``_check_kind``), the number of groups, each group's size, the state indices
        and the array shapes; a mismatch raises ValueError naming it and leaves the optimizer
        unchanged. Indices may also be the strings of the numbers."""
        if not isinstance(state_dict, dict) or not {'state', 'param_groups'} <= set(state_dict):
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError("load_state_dict: expected a dict with keys 'state' and 'param_groups', "
                             f"got {got}")
        saved_groups = list(state_dict['param_groups'])
        for g, saved in enumerate(saved_groups):
            if not isinstance(saved, dict) or not isinstance(saved.get('params'), (list, tuple, np.ndarray)):
                raise ValueError(f"load_state_dict: param_groups[{g}] must be a dict with a 'params' list "
                                 f"of indices, got {str(saved)[:80]}")
        if not isinstance(state_dict['state'], dict):
            raise ValueError("load_state_dict: 'state' must be a dict, "
                             f"got {type(state_dict['state']).__name__}")
        self._check_kind(state_dict, saved_groups)
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        for g, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved['params']) != len(group['params']):
                raise ValueError(f"load_state_dict: parameter group {g} has {len(saved['params'])} "
                                 f"parameters in the state dict and {len(group['params'])} in the optimizer")
        saved_indices = chain.from_iterable(saved['params'] for saved in saved_groups)
        id_map = dict(zip((_index(i, 'param_groups') for i in saved_indices),
                          chain.from_iterable(g['params'] for g in self.param_groups)))
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new_group = {**self.defaults, **{k: v for k, v in saved.items() if k != 'params'}}
            self._validate_options(new_group)
            new_group['params'] = group['params']
            new_groups.append(new_group)
        new_state = {}
        for key, packed in state_dict['state'].items():
            if _index(key, 'state') not in id_map:
                raise ValueError(f"load_state_dict: state entry {key!r} names no parameter "
                                 f"(the groups list {sorted(id_map)})")
            param = id_map[_index(key, 'state')]
            if not isinstance(packed, dict):
                raise ValueError(f"load_state_dict: state[{key!r}] must be a dict, "
                                 f"got {type(packed).__name__}")
            self._check_state(param, packed, f"state[{key!r}]")
            new_state[param] = self._unpack_state(param, packed)
        self.param_groups[:] = new_groups
        self.state.clear()
        self.state.update(new_state)

    def _check_kind(self, state_dict: dict[str, Any], saved_groups: list[dict]) -> None:
        """ValueError unless ``state_dict`` is the state of this kind of optimizer: its
        ``'kind'`` must be this class's name. A state dict without one (saved before the kind
        was recorded, or converted from PyTorch) must hold every option of this optimizer in
        every group, which another optimizer's groups do not (Adam's lack SGD's momentum)."""
        mine = type(self).__name__
        kind = state_dict.get('kind')
        if kind is not None:
            if kind != mine:
                raise ValueError(f"load_state_dict: the state dict comes from {kind}, not {mine}: an "
                                 "optimizer loads only the state of its own class")
            return
        for g, saved in enumerate(saved_groups):
            missing = sorted(set(self.defaults) - set(saved))
            if missing:
                foreign = sorted(set(saved) - set(self.defaults) - {'params', 'initial_lr'})
                raise ValueError(f"load_state_dict: param_groups[{g}] lacks the {mine} options {missing} "
                                 f"and holds {foreign}: it is another optimizer's state, not a {mine}'s")

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != 'params']
        return '\n'.join(lines) + '\n)'


def _index(key: Any, where: str) -> int:
    """A parameter index of a state dict (an int, or the string of one) as an int."""
    try:
        return int(key)
    except (TypeError, ValueError):
        raise ValueError(f"load_state_dict: {where} holds {key!r} where a parameter index "
                         "(an int) is expected") from None


def _copy(value: Any, dtype: np.dtype | None = None) -> Any:
    """A copy of a state entry: ndarrays copied (floating ones cast to ``dtype``), lists and
    tuples copied element by element, numbers and strings as they are."""
    if isinstance(value, np.ndarray):
        if dtype is not None and value.dtype.kind == 'f':
            return value.astype(dtype, copy=True)
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v, dtype) for v in value)
    return value
