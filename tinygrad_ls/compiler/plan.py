"""``Plan``: one recorded call, ready to replay: its statements, its source, its guard.

A replay hands the call's arrays and Values (``inputs``) to the plan's code, which reads them
as ``inputs[i]``: nothing is copied, and nothing of one call stays in the plan for the next.
Each instance of the code has op objects of its own (what ``forward`` saves for ``backward``
lives on them), and a replay takes an instance from a pool, so calls from several threads
at once each run on an instance of their own, as sequential calls would.
"""
from __future__ import annotations


class Plan:
    """A recorded call. ``source``: the replayed Python code, ``statements``: its steps (for
    pictures), ``guard``: what must still hold for it to stand for the function."""

    def __init__(self, code, source: str, trace_source: str | None, guard, name: str) -> None:
        self.code, self.source, self.trace_source = code, source, trace_source
        self.statements = code.statements
        self.guard, self.name = guard, name
        self._pool = [code.instantiate(source, name, own_ops=False)]
        self._traced = None
        self.leaves: list = []   # the Values from outside it reads (parameters, buffers)
        self.modules: list = []  # the modules that ran
        self.owners: list = []   # the optimizers and schedulers it calls

    def replay(self, inputs: list, trace_sink=None):
        if trace_sink is not None:
            if self._traced is None:
                self._traced = self.code.instantiate(self.trace_source, self.name)
            return self._traced(inputs, None, trace_sink)
        pool = self._pool
        try:
            run = pool.pop()
        except IndexError:  # another thread is replaying: an instance of this call's own
            run = self.code.instantiate(self.source, self.name)
        try:
            return run(inputs)
        finally:
            pool.append(run)

    def __repr__(self) -> str:
        return f"<tl.compile plan: {len(self.statements)} statements>"
