"""The backward sweep as plan statements: what ``engine.backprop`` tells the tracer, step by
step, while it runs the one sweep of the package eagerly.

Every gradient array the sweep makes is known by identity, so each report turns into a
statement on the locals that hold those arrays at replay: the seed, each op's ``backward``
call, each reduction of a broadcast gradient (``engine._conform``), each sum of two
gradients, each hook, and storing the leaves' gradients (``engine.store_grads``). The
statements come out in the engine's order, so a replay makes the same NumPy calls in the
same order, with bit-identical results.
"""
from __future__ import annotations

import numpy as np

from .. import engine
from ..mode import modes
from .code import Literal


class SweepRecorder:
    """The backward part of ``Tracer`` (a mixin: it uses the tracer's names and ``_define``)."""

    def sweep(self, roots, create_graph: bool, wanted) -> None:
        if self.unsupported:
            return
        if create_graph or wanted is not None:
            self.escape("tl.grad or create_graph inside the function (a plan replays first-order "
                        "backward() only)")
            return
        unseen = [node for node in engine.toposort(roots)
                  if node._fn is not None and node._fn not in self.forward_of]
        if unseen:
            self.escape(f"backward() through ops that were not run inside this call ('{unseen[0].op}', "
                        f"shape {unseen[0].shape})")
            return
        self.has_backward = True

    def seed(self, root, given, seed) -> None:
        if self.unsupported:
            return
        root_data = self.expr(root)
        if given is None:
            local = self._define('t', 'call', 'ones_like', (root_data,), 'gradient', 'seed', seed)
        else:
            local = self._define('t', 'call', 'seed_for', (root_data, self.expr(given)), 'gradient', 'seed',
                                 seed)
        self._name_array(seed, local)

    def _grad_name(self, array) -> str | None:
        """The local holding the gradient ``array``; None once the recording has escaped."""
        if self.unsupported:
            return None
        name = self.arrays.get(id(array))
        if name is None:
            self.escape("the backward sweep met a gradient the recording did not see")
        return name

    def conformed(self, before, after, arg, fn) -> None:
        if (name := self._grad_name(before)) is None:
            return
        data = arg._data  # a stand-in of the input's shape and dtype that holds no memory
        like = self.code.constant(np.broadcast_to(np.empty((), data.dtype), data.shape), 'S')
        local = self._define('t', 'call', 'conform', (name, like, Literal('None')), 'gradient',
                             'sum to shape', after)
        self._name_array(after, local)

    def added(self, previous, grad, total) -> None:
        names = (self._grad_name(previous), self._grad_name(grad))
        if None in names:
            return
        self._name_array(total, self._define('t', 'add', '', names, 'gradient', 'add gradients', total))

    def hooked(self, node, before, after) -> None:
        if (name := self._grad_name(before)) is None:
            return
        self._name_array(after, self._define('t', 'call', 'run_hooks', (self.code.constant(node, 'N'), name,
                                             Literal('False')), 'gradient', 'hooks', after))

    def backward_ran(self, node, fn, grad, input_grads) -> None:
        if (name := self._grad_name(grad)) is None:
            return
        out_local, form, func, op_local, inputs = self.forward_of[fn]
        outs = tuple(self.code.fresh('t') for _ in input_grads)
        args = (name, out_local, *inputs)
        self.code.emit(form, outs, func, (op_local, *args) if form == 'method' else args, 'backward',
                       f"{fn.name} backward", name)
        if self.trace is not None:
            self.trace.append((f"{fn.name} backward", np.array(grad, copy=True)))
        for array, local in zip(input_grads, outs):
            if array is not None:
                self._name_array(array, local)
                if modes.detect_anomaly:
                    where = self.code.constant(f"backward of '{fn.name}'")
                    self.code.call((), 'check_finite', (local, where), 'check', 'check')

    def stored(self, nodes, grads) -> None:
        """``backward()`` hands the sweep's results to ``store_grads``: the leaves' part is
        replayed; the gradients of the step's own nodes are kept for a returned Value."""
        if self.unsupported:
            return
        holders, names = [], []
        for node, grad in zip(nodes, grads):
            name = self._grad_name(grad)
            if name is None:
                return
            if node._fn is not None:
                self.node_grads[id(node)] = name
                continue
            holder = self.values.get(id(node))
            if holder is None and id(node._data) in self.arrays:
                self.escape(f"a gradient for a leaf the plan cannot reach (shape {node.shape}: a Value made "
                            "in the step without Value(...))")
                return
            holders.append(holder or self.code.constant(node, 'L'))
            names.append(name)
        self.code.call((), 'store', (*holders, *names), 'gradient', 'store gradients')
