"""``PlanCode``: the straight-line Python function that a recording becomes.

A recording emits one statement per thing the eager call did (``v3 = f3.forward(a0, p1)``,
``t5, t6 = f3.backward(g3, v3, a0, p1)``, ``g2 = g2 + t6``, ``c9(o1)`` for an optimizer
step, …). Every object the statements need (op objects, parameters, constants) becomes a
default argument of the function, so that reading it is a local-variable load; every array
the step makes is a local variable, deleted right after its last use so that a replay holds
no more memory than the eager step did.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import NamedTuple

# Python compiles very long functions in superlinear time; plans are split into functions of
# at most this many statements, handing the live arrays from one to the next.
CHUNK = 2000


class Statement(NamedTuple):
    """One statement of a plan (a tuple of strings: the garbage collector stops scanning it)."""
    text: str
    uses: tuple = ()
    defs: tuple = ()
    label: str = ''        # for pictures and for check=N: what this statement computes
    traced: str = ''       # the local holding its result, compared by check=N ('' for none)


@dataclass
class PlanCode:
    statements: list = field(default_factory=list)
    constants: dict = field(default_factory=dict)  # name -> object
    _constant_names: dict = field(default_factory=dict)  # id(object) -> name
    _counter: itertools.count = field(default_factory=itertools.count)

    def constant(self, obj, prefix: str = 'c') -> str:
        """The name under which ``obj`` (kept by identity) is reachable in the plan."""
        name = self._constant_names.get(id(obj))
        if name is None:
            name = self.fresh(prefix)
            self._constant_names[id(obj)] = name
            self.constants[name] = obj
        return name

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter)}"

    def constant_named(self, obj, name: str) -> str:
        """Keep ``obj`` under the given ``name`` (helpers and input buffers)."""
        self._constant_names[id(obj)] = name
        self.constants[name] = obj
        return name

    def emit(self, text: str, defs=(), label: str = '', traced: str = '') -> None:
        """Append a statement; the locals it reads are found in its text."""
        uses = tuple(word for word in _words(text) if is_local(word))
        self.statements.append(Statement(text, uses, tuple(defs), label, traced))

    def build(self, returned: str, name: str, trace: bool = False):
        """The plan as one callable ``run(inputs)``; with ``trace`` each traced result is also
        handed to ``trace_sink(label, array)``, given as ``run(inputs, None, trace_sink)``
        (for ``check=N``). Returns (callable, source)."""
        returned_uses = tuple(word for word in _words(returned) if is_local(word))
        statements = self.statements + [Statement(f"return {returned}", returned_uses)]
        chunks = [statements[i : i + CHUNK] for i in range(0, len(statements), CHUNK)] or [statements]
        last_use, first_def = {}, {}
        for index, statement in enumerate(statements):
            for local in statement.uses:
                last_use[local] = index
            for local in statement.defs:
                first_def.setdefault(local, index)
        sources, offset = [], 0
        for number, chunk in enumerate(chunks):
            end = offset + len(chunk)
            # Values made by an earlier chunk come in through the dict `live`, popped at their last use.
            arriving = sorted({local for statement in chunk for local in statement.uses
                               if first_def.get(local, end) < offset})
            body = [f"    {local} = live.{'pop' if last_use[local] < end else 'get'}({local!r})"
                    for local in arriving]
            defined = set(arriving)
            for index, statement in enumerate(chunk, start=offset):
                body.append(f"    {statement.text}")
                defined.update(statement.defs)
                if trace and statement.traced:
                    body.append(f"    trace_sink({statement.label!r}, {statement.traced})")
                dead = [local for local in statement.defs + statement.uses
                        if last_use.get(local, -1) <= index and local in defined]
                if dead and not statement.text.startswith('return'):
                    body.append(f"    del {', '.join(sorted(set(dead)))}")
                    defined.difference_update(dead)
            offset = end
            if number < len(chunks) - 1:
                body += [f"    live[{local!r}] = {local}" for local in sorted(defined)
                         if last_use.get(local, -1) >= end]
                body.append("    return live")
            constants = {word for statement in chunk for word in _words(statement.text)
                         if word in self.constants}
            defaults = ''.join(f", {constant}={constant}" for constant in sorted(constants))
            header = f"def chunk{number}(inputs, live=None, trace_sink=None{defaults}):"
            sources.append('\n'.join([header, *body]))
        source = '\n\n'.join(sources)
        namespace = dict(self.constants)
        for chunk_source in sources:  # one compile per chunk: Python compiles long sources slower
            exec(compile(chunk_source, f"<tl.compile plan of {name}>", 'exec'), namespace)
        functions = [namespace[f"chunk{number}"] for number in range(len(chunks))]
        if len(functions) == 1:
            run = functions[0]  # called as run(inputs) or run(inputs, None, trace_sink)
        else:

            def run(inputs, live=None, trace_sink=None):
                live = {}
                for function in functions:
                    live = function(inputs, live, trace_sink)
                return live

        return run, source


# Locals of a plan: values (v), gradients (g), temporaries (t), call results (o), parameter
# data read at replay (p), ops rebuilt at each replay (r). Everything else is a constant.
LOCAL_PREFIXES = frozenset('vgtopr')


def is_local(word: str) -> bool:
    return word[:1] in LOCAL_PREFIXES and word[1:2].isdigit()


_IDENTIFIER = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def _words(text: str) -> list:
    """The identifiers in a statement (to find the locals and constants it reads)."""
    return _IDENTIFIER.findall(text)
