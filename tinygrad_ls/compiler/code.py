"""``PlanCode``: the straight-line Python function that a recording becomes.

A recording appends one ``Statement`` per thing the eager call did: an op's forward
(``v3 = f3f(a0, p1)``), a backward call (``t5, t6, = f3b(t4, v3, a0, p1)``), a sum of
gradients (``t7 = t5 + t2``), a replayed call (``o9 = c8(L2)``), a read of a parameter's data
(``p1 = L1._data``). Statements are data: what a statement reads and defines is in its fields,
never found by parsing text. ``build`` turns them into source once; ``instantiate`` executes
that source with the constants as default arguments (a local-variable load each) and with
copies of the op objects, so that every instance has ops of its own (threads replay on
separate instances). Every array the step makes is a local, deleted right after its last use,
so a replay holds no more memory than the eager step did.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import NamedTuple

# Python compiles very long functions in superlinear time; plans are split into functions of
# at most this many statements, handing the live arrays from one to the next.
CHUNK = 2000


class Statement(NamedTuple):
    """One step of a plan.

    ``form``: ``'call'`` (``outs = func(*args)``), ``'method'`` (``outs = args[0].<func>(*args[1:])``),
    ``'add'`` (``outs[0] = args[0] + args[1]``),
    ``'attr'`` (``outs[0] = args[0].<func>``) or ``'item'`` (``outs[0] = args[0][<func>]``);
    ``scalar``: the result may be a NumPy scalar, made a 0-d array as ``apply`` does.
    ``args`` are names of locals or constants, or ``Literal``s; ``kind`` says what the step is
    (``'input' 'read' 'forward' 'backward' 'gradient' 'call' 'check'``) for pictures, ``label``
    what it computes, ``traced`` the local ``check=N`` compares after it ('' for none)."""
    form: str
    outs: tuple
    func: str
    args: tuple
    kind: str
    label: str = ''
    traced: str = ''
    uses: tuple = ()  # the locals it reads
    scalar: bool = False


class Literal(str):
    """An argument written as it is (``None``, ``True``, a quoted string), not a name."""


@dataclass
class PlanCode:
    statements: list = field(default_factory=list)
    constants: dict = field(default_factory=dict)  # name -> object
    ops: set = field(default_factory=set)          # names of constants that are op objects
    local_names: set = field(default_factory=set)
    _constant_names: dict = field(default_factory=dict)  # id(object) -> name
    _counter: itertools.count = field(default_factory=itertools.count)

    # ---- names ---------------------------------------------------------------------------------
    def constant(self, obj, prefix: str = 'c') -> str:
        """The name under which ``obj`` (kept by identity) is reachable in the plan."""
        name = self._constant_names.get(id(obj))
        if name is None:
            name = self.fresh_constant(prefix)
            self._constant_names[id(obj)] = name
            self.constants[name] = obj
        return name

    def op(self, fn) -> tuple:
        """``(forward, backward)`` names for the op object ``fn``; each plan instance binds
        them to a copy of ``fn`` of its own."""
        name = self._constant_names.get(id(fn))
        if name is None:
            name = self.constant(fn, 'f')
            self.ops.add(name)
        return f"{name}f", f"{name}b"

    def fresh_constant(self, prefix: str) -> str:
        return f"{prefix.upper()}{next(self._counter)}"

    def fresh(self, prefix: str) -> str:
        """A new local (lower-case prefix)."""
        name = f"{prefix}{next(self._counter)}"
        self.local_names.add(name)
        return name

    def constant_named(self, obj, name: str) -> str:
        """Keep ``obj`` under the given ``name`` (helpers)."""
        self._constant_names[id(obj)] = name
        self.constants[name] = obj
        return name

    # ---- statements ----------------------------------------------------------------------------
    def emit(self, form: str, outs, func: str, args, kind: str, label: str = '',
             traced: str = '', scalar: bool = False) -> Statement:
        local = self.local_names
        uses = tuple(arg for arg in args if arg in local)
        if form == 'call' and func in local:
            uses += (func,)
        statement = Statement(form, tuple(outs), func, tuple(args), kind, label, traced, uses, scalar)
        self.statements.append(statement)
        return statement

    def call(self, outs, func: str, args, kind: str, label: str = '', traced: str = '') -> Statement:
        return self.emit('call', outs, func, args, kind, label, traced)

    @staticmethod
    def uses(statement: Statement) -> tuple:
        return statement.uses

    # ---- source --------------------------------------------------------------------------------
    def build(self, returned: str, name: str, trace: bool = False) -> str:
        """The plan's source: functions ``chunk0``, ``chunk1``, … taking ``(inputs, live,
        trace_sink)``; with ``trace`` each traced result is also handed to
        ``trace_sink(label, array)`` (for ``check=N``)."""
        uses = [statement.uses for statement in self.statements] + [(returned,)]
        texts = [_text(statement) for statement in self.statements] + [f"return {returned}"]
        defs = [statement.outs for statement in self.statements] + [()]
        count = len(texts)
        chunks = [range(i, min(i + CHUNK, count)) for i in range(0, count, CHUNK)]
        last_use, first_def, deaths = {}, {}, [[] for _ in range(count)]
        for index in range(count):
            for local in uses[index]:
                last_use[local] = index
            for local in defs[index]:
                first_def.setdefault(local, index)
        for index in range(count):  # a local dies at its last use, or where it is made if never read after
            deaths[index].extend(local for local in defs[index] if last_use.get(local, -1) <= index)
        for local, index in last_use.items():
            deaths[index].append(local)
        sources = []
        for number, chunk in enumerate(chunks):
            start, end = chunk.start, chunk.stop
            # Locals made by an earlier chunk come in through the dict `live`, popped at their last use.
            arriving = sorted({local for index in chunk for local in uses[index]
                               if first_def.get(local, end) < start})
            body = [f"    {local} = live.{'pop' if last_use[local] < end else 'get'}({local!r})"
                    for local in arriving]
            defined = set(arriving)
            for index in chunk:
                body.append(f"    {texts[index]}")
                defined.update(defs[index])
                if trace and index < len(self.statements) and self.statements[index].traced:
                    statement = self.statements[index]
                    body.append(f"    trace_sink({statement.label!r}, {statement.traced})")
                dead = sorted({local for local in deaths[index] if local in defined})
                if dead and index != count - 1:
                    body.append(f"    del {', '.join(dead)}")
                    defined.difference_update(dead)
            if number < len(chunks) - 1:
                body += [f"    live[{local!r}] = {local}" for local in sorted(defined)
                         if last_use.get(local, -1) >= end]
                body.append("    return live")
            words = {word for index in chunk if index < len(self.statements)
                     for word in uses_all(self.statements[index])}
            if number == len(chunks) - 1:
                words.add(returned)
            constants = sorted(word for word in words if word in self.constants or word[:-1] in self.ops)
            defaults = ''.join(f", {constant}={constant}" for constant in constants)
            header = f"def chunk{number}(inputs, live=None, trace_sink=None{defaults}):"
            sources.append('\n'.join([header, *body]))
        return '\n\n'.join(sources)

    def instantiate(self, source: str, name: str, own_ops: bool = True):
        """A callable ``run(inputs, live=None, trace_sink=None)`` of ``source``; with ``own_ops``
        its op objects are its own (shallow copies: the settings shared, the state forward saves
        separate), else the recorded ones (the first instance: no op object twice in memory)."""
        namespace = dict(self.constants)
        for op_name in self.ops:
            fn = copy.copy(self.constants[op_name]) if own_ops else self.constants[op_name]
            namespace[op_name] = fn
            namespace[f"{op_name}f"], namespace[f"{op_name}b"] = fn.forward, fn.backward
        chunks = source.split('\n\ndef ')
        for index, chunk in enumerate(chunks):  # one compile per chunk: long sources compile slower
            text = chunk if index == 0 else 'def ' + chunk
            exec(compile(text, f"<tl.compile plan of {name}>", 'exec'), namespace)
        functions = [namespace[f"chunk{number}"] for number in range(len(chunks))]
        if len(functions) == 1:
            return functions[0]

        def run(inputs, live=None, trace_sink=None):
            live = {}
            for function in functions:
                live = function(inputs, live, trace_sink)
            return live

        return run


def uses_all(statement: Statement) -> tuple:
    """Every name a statement mentions (locals and constants)."""
    names = tuple(arg for arg in statement.args if not isinstance(arg, Literal))
    names = (*names, 'asarray', 'ndarray') if statement.scalar else names
    return (*names, statement.func) if statement.form == 'call' else names


def _text(statement: Statement) -> str:
    args = ', '.join(statement.args)
    if statement.form == 'add':
        return f"{statement.outs[0]} = {statement.args[0]} + {statement.args[1]}"
    if statement.form == 'attr':
        return f"{statement.outs[0]} = {statement.args[0]}.{statement.func}"
    if statement.form == 'item':
        return f"{statement.outs[0]} = {statement.args[0]}[{statement.func}]"
    outs = statement.outs
    unpack = len(outs) > 1 or statement.kind == 'backward'  # a backward returns a tuple, always
    target = '' if not outs else f"{', '.join(outs)}, = " if unpack else f"{outs[0]} = "
    if statement.form == 'method':
        text = f"{target}{statement.args[0]}.{statement.func}({', '.join(statement.args[1:])})"
    else:
        text = f"{target}{statement.func}({args})"
    if statement.scalar:  # what apply does with a NumPy scalar, inlined
        text += f"\n    if type({outs[0]}) is not ndarray: {outs[0]} = asarray({outs[0]})"
    return text
