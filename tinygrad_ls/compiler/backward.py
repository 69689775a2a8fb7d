"""The reverse sweep of a recording: ``engine.backward`` run eagerly, written out as it goes.

It walks the graph exactly as ``engine.backprop`` does (newest op first, from a heap of
sequence numbers), so the statements come out in the eager order: each op's ``backward``
call, each sum of two gradients for the same Value, each reduction of a broadcast gradient
(``engine._conform``), each hook; then the leaves get their gradients through
``engine.store_grads``, as ``backward()`` gives them (accumulating onto a ``.grad`` left
from before, or taking the new one).
"""

from __future__ import annotations

import heapq

import numpy as np

from .. import engine
from ..mode import modes, set_grad_enabled
from ..ops.base import _check_finite, edits
from ..value import Value
from .doors import active

_eager_backward = engine.backward


def finish(leaves: tuple, grads: tuple) -> None:
    """The end of a replayed backward: run the leaves' hooks, then store their gradients."""
    grads = [
        engine._run_hooks(leaf, grad, False) if leaf._hooks else grad for leaf, grad in zip(leaves, grads)
    ]
    engine.store_grads(leaves, grads)


def record_backward(root: Value, grad=None) -> None:
    """``engine.backward`` while recording: the same work, written down statement by statement."""
    recorder = active()
    if recorder is None or recorder.paused or not root.requires_grad:
        return _eager_backward(root, grad)
    unseen = [
        node
        for node in engine.toposort([root])
        if node._fn is not None and node._fn not in recorder.forward_of
    ]
    if unseen:
        recorder.refuse("backward() through ops that were not run inside this call")
        return _eager_backward(root, grad)
    recorder.has_backward = True
    code = recorder.code
    seed = engine._seed(root, grad, 'backward')
    seed_local = code.fresh('t')
    root_data = recorder.expr(root)
    if grad is None:
        code.emit(f"{seed_local} = ones_like({root_data})", (seed_local,), label='seed')
    else:
        code.emit(
            f"{seed_local} = seed(wrap({root_data}), {recorder.expr(grad)}, 'backward')",
            (seed_local,),
            label='seed',
        )
    pending: dict = {}  # node -> [its gradient so far, the local that holds it in the plan]
    heap: list = []
    results: dict = {}
    check, latest_edit = modes.detect_anomaly, edits.latest
    fn = None
    edges = [(root, True, seed, seed_local)]
    with set_grad_enabled(False):
        while True:
            for arg, need, arg_grad, local in edges:
                if not need or arg_grad is None:
                    continue
                if check and fn is not None:
                    _check_finite(arg_grad, f"backward of '{fn.name}'")
                    code.emit(f"check_finite({local}, \"backward of '{fn.name}'\")")
                data = arg.data
                if arg_grad.shape != data.shape or arg_grad.dtype is not data.dtype:
                    arg_grad = engine._conform(arg_grad, data, fn)
                    # a stand-in of the input's shape and dtype that holds no memory
                    like = code.constant(np.broadcast_to(np.empty((), data.dtype), data.shape), 'n')
                    recorder.emit(
                        f"{local} = conform({local}, {like}, None)", (local,), 'sum to shape', local, arg_grad
                    )
                entry = pending.get(arg)
                if entry is None:
                    pending[arg] = [arg_grad, local]
                    if arg._fn is not None:
                        heapq.heappush(heap, (-arg._fn.sequence, arg))
                else:
                    entry[0] = entry[0] + arg_grad
                    recorder.emit(
                        f"{entry[1]} = {entry[1]} + {local}", (entry[1],), 'add gradients', entry[1], entry[0]
                    )
            if not heap:
                break
            node = heapq.heappop(heap)[1]
            grad_now, grad_local = pending.pop(node)
            if node._hooks:
                grad_now = engine._run_hooks(node, grad_now, False)
                code.emit(
                    f"{grad_local} = run_hooks({code.constant(node, 'n')}, {grad_local}, False)",
                    (grad_local,),
                    label='hooks',
                )
            results[node] = grad_now
            fn = node._fn
            if fn.sequence < latest_edit:
                engine._check_not_edited(node, fn)
            out_local, backward, input_exprs = recorder.forward_of[fn]
            input_grads = fn.backward(grad_now, node.data, *fn.input_data)
            grad_locals = [code.fresh('t') for _ in input_grads]
            recorder.emit(
                f"{', '.join(grad_locals)}, = {backward}({grad_local}, {out_local}"
                f"{''.join(', ' + expr for expr in input_exprs)})",
                grad_locals,
                f"{fn.name} backward",
                grad_local,
                grad_now,
            )
            edges = list(zip(fn.inputs, fn.needs_input_grad, input_grads, grad_locals))
        leaves = list(pending)
        engine._finish_leaves({leaf: entry[0] for leaf, entry in pending.items()}, results, None, False)
    engine.store_grads(results.keys(), results.values())
    holders = [_leaf_holder(recorder, leaf) for leaf in leaves]
    for leaf in leaves:
        if leaf.grad is not None:
            recorder.grads_of[id(leaf.grad)] = leaf
            recorder.keep.append(leaf.grad)
    code.emit(
        f"finish(({''.join(holder + ', ' for holder in holders)}), "
        f"({''.join(pending[leaf][1] + ', ' for leaf in leaves)}))",
        label='store gradients',
    )


def _leaf_holder(recorder, leaf: Value) -> str:
    """How the plan reaches ``leaf``: an argument of the call (``inputs[i]``) or the Value itself."""
    for index, value in enumerate(recorder.input_values):
        if value is leaf:
            return f"inputs[{index}]"
    return recorder.code.constant(leaf, 'L')
