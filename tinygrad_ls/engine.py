"""The graph walk: one reverse-mode sweep (``backprop``) and its two public wrappers,
``backward`` (fills ``.grad``) and ``grad`` (returns gradients, touches no ``.grad``), plus
``toposort`` for whoever needs the whole graph in order (pruning, rendering).

No recursion anywhere, so a chain of 100 000 ops backpropagates like a chain of ten.
"""
from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Sequence

import numpy as np

from . import tracing
from .mode import check_finite, edits, modes, set_grad_enabled
from .ops import generic
from .value import Value, to_numpy


def toposort(roots: Iterable[Value]) -> list:
    """Every Value that requires grad and leads to ``roots``, each before the Values made from it.

    Iterative depth-first search: expanding a node pushes a ``None`` marker under its
    parents, and popping the marker emits the node, after all of its parents. Parents are
    visited in argument order, so the order is deterministic for a given graph.
    """
    order, visited = [], set()
    stack = [root for root in roots if root.requires_grad]
    expanded = []
    while stack:
        node = stack.pop()
        if node is None:  # marker: everything above `node` on the stack has been emitted
            order.append(expanded.pop())
            continue
        if node in visited:
            continue
        visited.add(node)
        fn = node._fn
        if fn is None:
            order.append(node)
            continue
        expanded.append(node)
        stack.append(None)
        for arg, need in zip(fn.inputs, fn.needs_input_grad):
            if need and arg not in visited:
                stack.append(arg)
    return order


def backprop(roots: Sequence[Value], root_grads: Sequence, create_graph: bool = False,
             wanted: set | None = None) -> dict:
    """Reverse-mode sweep from ``roots`` seeded with ``root_grads``; returns ``{node: grad}``.

    Gradients are ndarrays, or Values (recorded, differentiable) when ``create_graph`` is True.
    With ``wanted`` (a set of Values) only their gradients are returned and only the part of
    the graph between the roots and them is walked; otherwise every node's gradient is.
    Hooks run when a node's gradient is complete; their result replaces it.

    The sweep needs no separate topological sort: every op is numbered when it is recorded
    and its inputs are always older, so taking the newest node from a heap means all of its
    consumers are done. Leaves have no backward; their gradients are complete at the end.
    """
    tape = modes.tape if modes.watching else None  # a recording tape is told every step
    if tape is not None:
        if tape.paused:
            tape.paused_sweeps += 1  # inside a replayed call: the tape is told it happened
            tape = None
        else:
            tape.sweep(roots, create_graph, wanted)
            with tracing.quiet(tape):  # the sweep is the library's: not profiled
                return _sweep(roots, root_grads, create_graph, wanted, tape)
    return _sweep(roots, root_grads, create_graph, wanted, tape)


def _sweep(roots, root_grads, create_graph: bool, wanted, tape) -> dict:
    """The body of ``backprop`` (``tape``: the recording tape to tell, or None)."""
    relevant = None if wanted is None else _leading_to(roots, wanted)
    pending: dict = {}  # node -> its gradient so far (complete once the node leaves the queue)
    # The op nodes in `pending`, newest first: the newest one queued since the last pop waits in
    # `newest`, the others in a heap of (-sequence, node). In a chain each node queues only its
    # input, which is then the newest node, so the heap stays empty and costs nothing.
    newest = None
    heap: list = []
    results = {}
    check = modes.detect_anomaly
    latest_edit = edits.latest
    fn = None  # the op whose input gradients `edges` holds; None for the seeds
    edges = zip(roots, [root.requires_grad for root in roots], root_grads)
    with set_grad_enabled(create_graph):
        while True:
            for arg, need, arg_grad in edges:  # add each gradient to `pending`, queueing new nodes
                if not need or arg_grad is None or (relevant is not None and arg not in relevant):
                    continue
                if check and fn is not None:
                    check_finite(arg_grad, f"backward of '{fn.name}'")
                data = arg._data
                if arg_grad.shape != data.shape or arg_grad.dtype is not data.dtype:
                    conformed = _conform(arg_grad, data, fn)
                    if tape is not None:
                        tape.conformed(arg_grad, conformed, arg, fn)
                    arg_grad = conformed
                previous = pending.get(arg)
                if previous is None:
                    pending[arg] = arg_grad
                    if arg._fn is None:  # a leaf: no backward to run
                        continue
                    if newest is None:
                        newest = arg
                    elif newest._fn.sequence > arg._fn.sequence:
                        heapq.heappush(heap, (-arg._fn.sequence, arg))
                    else:
                        heapq.heappush(heap, (-newest._fn.sequence, newest))
                        newest = arg
                else:
                    total = previous + arg_grad
                    if tape is not None:
                        tape.added(previous, arg_grad, total)
                    pending[arg] = total
            if newest is not None and (not heap or newest._fn.sequence > -heap[0][0]):
                node, newest = newest, None
            elif heap:
                node = heapq.heappop(heap)[1]
            else:
                break
            grad = pending.pop(node)
            if node._hooks:
                grad = _run_hooks(node, grad, create_graph, tape)
            if wanted is None or node in wanted:
                results[node] = grad
            fn = node._fn
            if fn.sequence < latest_edit:
                _check_not_edited(node, fn)
            if create_graph:  # the Values, and each constant as forward saw it (a list as an array)
                out, inputs = node, _graph_inputs(fn)
            else:
                out, inputs = node._data, fn.input_data
            # Plain positional calls for one and two inputs: Python inlines those, while a
            # `*args` call costs about twice as much, and this line runs once per node.
            if len(inputs) == 2:
                input_grads = fn.backward(grad, out, inputs[0], inputs[1])
            elif len(inputs) == 1:
                input_grads = fn.backward(grad, out, inputs[0])
            else:
                input_grads = fn.backward(grad, out, *inputs)
            if tape is not None:
                tape.backward_ran(node, fn, grad, input_grads)
            edges = zip(fn.inputs, fn.needs_input_grad, input_grads)
        _finish_leaves(pending, results, wanted, create_graph, tape)
    return results


def _graph_inputs(fn) -> tuple:
    """``fn``'s inputs for a ``create_graph`` backward: the Values, and every constant as the
    converted array forward got (``input_data``), so that backward sees the same kind of
    input in both modes (``x @ [[1., 2.], [3., 4.]]`` differentiates twice)."""
    return tuple([arg if isinstance(arg, Value) else data for arg, data in zip(fn.inputs, fn.input_data)])


def _check_not_edited(node: Value, fn) -> None:
    """Refuse to run ``fn.backward`` on data that an in-place update changed after ``fn`` was
    recorded (the gradient would be computed from the new numbers, silently wrong)."""
    saved = (fn.inputs if fn.saves_inputs else ()) + ((node,) if fn.saves_output else ())
    for value in saved:
        if isinstance(value, Value) and getattr(value, '_edited_at', -1) > fn.sequence:
            role = 'output' if value is node else 'input'
            raise RuntimeError(
                f"backward: an {role} of '{fn.name}' (shape {value.shape}) that its backward needs was "
                f"modified by an in-place operation after '{fn.name}' was recorded (it is now at "
                f"version {value._version}); use the out-of-place form (`v = v + x`) or update a "
                "clone() of it")


def _leading_to(roots: Sequence[Value], wanted: set) -> set:
    """The nodes on a path from ``roots`` down to a Value in ``wanted`` (pruning for ``grad``):
    in parents-first order a node matters if it is wanted or one of its inputs matters."""
    relevant = set()
    for node in toposort(roots):
        if node in wanted or (node._fn is not None and any(
                arg in relevant for arg in node._fn.inputs if isinstance(arg, Value))):
            relevant.add(node)
    return relevant


def _finish_leaves(pending: dict, results: dict, wanted: set | None, create_graph: bool, tape=None) -> None:
    """After the sweep only leaves are pending, their gradients complete: run their hooks and
    hand them to ``results``."""
    for leaf, grad in pending.items():
        if leaf._hooks:
            grad = _run_hooks(leaf, grad, create_graph, tape)
        if wanted is None or leaf in wanted:
            results[leaf] = grad


def _conform(grad, data: np.ndarray, fn):
    """Sum a broadcast gradient back to its input's shape and cast it to the input's dtype
    (``fn`` is the op that gave it, None for a seed)."""
    if grad.shape != data.shape:
        try:
            grad = generic.sum_to(grad, data.shape)
        except ValueError:
            source = f"backward of '{fn.name}'" if fn is not None else 'the seed'
            raise RuntimeError(f"{source} gave a gradient of shape {grad.shape} "
                               f"for an input of shape {data.shape}") from None
    if grad.dtype != data.dtype:
        grad = grad.astype(data.dtype)
    return grad


def _run_hooks(node: Value, grad, create_graph: bool, tape=None):
    """``node``'s hooks on ``grad``, each result replacing it; a recording ``tape`` is told the
    call as a whole (the hooks run paused: a replay calls them again)."""
    if tape is None:
        return run_hooks(node, grad, create_graph)
    with tracing.paused():
        result = run_hooks(node, grad, create_graph)
    tape.hooked(node, grad, result)
    return result


def run_hooks(node: Value, grad, create_graph: bool):
    if not create_graph:
        grad = np.asarray(grad)  # ops on 0-d arrays return NumPy scalars; hooks get ndarrays
    for hook in list(node._hooks):
        replaced = hook(grad)
        if replaced is not None:
            if create_graph:
                replaced = replaced if isinstance(replaced, Value) else Value(np.asarray(replaced))
            else:
                replaced = to_numpy(replaced, dtype=node.dtype)
            if replaced.shape != node.shape:
                raise ValueError(f"hook returned a gradient of shape {replaced.shape} "
                                 f"for a Value of shape {node.shape}")
            grad = replaced
    return grad


def _seed(value: Value, grad, caller: str) -> np.ndarray:
    """The starting gradient for ``value``: given (checked against its shape) or ones."""
    if grad is None:
        if value.size != 1:
            raise RuntimeError(f"{caller}: grad can be omitted only for a single-element Value, "
                               f"got shape {value.shape}; pass grad of that shape")
        return np.ones_like(value._data)
    given = grad
    grad = to_numpy(grad)
    if grad.dtype.kind not in 'biuf':
        raise TypeError(f"{caller}: grad must be numeric, got {str(given)[:40]!r} of dtype {grad.dtype} "
                        f"(the Value has shape {value.shape})")
    if grad.shape != value.shape:
        if grad.size == 1 and value.size == 1:
            grad = grad.reshape(value.shape)
        elif grad.ndim == 0:
            grad = np.full(value.shape, grad)
        else:
            raise ValueError(f"{caller}: grad has shape {grad.shape} but the Value has shape {value.shape}")
    return np.array(grad, dtype=value.dtype)  # a copy: the caller's array must not become a .grad


def backward(root: Value, grad=None) -> None:
    """Fill ``.grad`` of every Value that requires grad and leads to ``root``.

    Leaves accumulate (``grad`` is added to what they hold); other nodes hold this pass's
    gradient. Every stored gradient is an ndarray of the Value's shape and dtype; a leaf's is
    writable and shares memory with no other leaf's (intermediate gradients are snapshots
    that may share memory with each other: treat them as read-only).
    """
    if not root.requires_grad:
        raise RuntimeError("backward: this Value does not require grad (nothing it was made "
                           "from requires grad, or it was made under no_grad)")
    seed = _seed(root, grad, 'backward')
    tape = modes.tape if modes.watching else None
    if tape is not None and not tape.paused:
        tape.seed(root, grad, seed)
        results = backprop([root], [seed])
        tape.stored(list(results), list(results.values()))
    else:
        results = backprop([root], [seed])
    store_grads(results.keys(), results.values())


def store_grads(nodes, grads) -> None:
    """Give each node of ``nodes`` its gradient from ``grads`` (ndarrays, in the same order),
    as ``backward`` does; ``tl.compile``'s replays store their gradients through it too."""
    _check_leaf_grads(nodes)
    handed_to_leaves = set()
    with _accumulate_lock:  # leaves shared by graphs in other threads: read-add-write atomically
        for node, node_grad in zip(nodes, grads):
            if type(node_grad) is not np.ndarray:
                node_grad = np.asarray(node_grad)
            if node._fn is not None:
                node._grad = node_grad  # a snapshot for inspection; may share memory with others
            elif node._grad is not None:
                node._grad = np.asarray(node._grad + node_grad)  # 0-d + 0-d gives a NumPy scalar
            else:
                # A leaf's grad is updated in place by users (clipping), so it must own its memory.
                owner = id(node_grad if node_grad.base is None else node_grad.base)
                if not node_grad.flags.writeable or owner in handed_to_leaves:
                    node_grad = node_grad.copy()
                else:
                    handed_to_leaves.add(owner)
                node._grad = node_grad


# One lock for every backward() of the process: uncontended it costs well under a microsecond
# per call, and it makes concurrent backward() calls into shared parameters lose nothing.
_accumulate_lock = threading.Lock()


def _check_leaf_grads(nodes) -> None:
    """Refuse, before any ``.grad`` is written, a leaf whose existing ``.grad`` (set by the
    user) is not an ndarray of the leaf's shape and dtype: adding onto it would fail half-way
    through the leaves, or change the grad's shape (by broadcasting) or dtype silently."""
    for node in nodes:
        existing = node._grad
        if node._fn is not None or existing is None:
            continue
        if isinstance(existing, np.ndarray):
            if existing.shape == node.shape and existing.dtype == node.dtype:
                continue
            got = f"shape {existing.shape} and dtype {existing.dtype}"
        else:
            got = f"type {type(existing).__name__}"
        label = f" {node.name!r}" if node.name else ''
        raise RuntimeError(f"backward: the leaf{label} of shape {node.shape} and dtype {node.dtype} holds "
                           f"a .grad of {got}, which the new gradient cannot be added onto; set it to "
                           "None or to an array of the leaf's shape and dtype (nothing was changed)")


def grad(outputs, inputs, grad_outputs=None, create_graph: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, one Value per input.

    ``outputs``/``inputs``: a Value or a sequence of Values. ``grad_outputs``: a sequence with
    one gradient per output (None for a single-element output), or, for a single output, the
    gradient itself (a Value, an ndarray or a number, NumPy scalars included). An input the
    outputs do not depend on gets zeros. With ``create_graph=True`` the returned Values are themselves
    differentiable (second derivatives, Hessian-vector products). Touches no ``.grad``.
    """
    outputs = (outputs,) if isinstance(outputs, Value) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, Value) else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, (Value, np.ndarray, np.generic, int, float)):
        grad_outputs = (grad_outputs,)  # one gradient, for a single output
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for i, value in enumerate(inputs):
        if not isinstance(value, Value) or not value.requires_grad:
            raise ValueError(f"grad: input {i} does not require grad")
    seeds = []
    for output, seed in zip(outputs, grad_outputs):
        if isinstance(seed, Value) and create_graph:
            if seed.shape != output.shape:
                raise ValueError(f"grad: grad_output has shape {seed.shape} "
                                 f"but the output has shape {output.shape}")
            seeds.append(seed)
            continue
        array = _seed(output, seed, 'grad')
        seeds.append(Value._wrap(array) if create_graph else array)
    results = backprop(outputs, seeds, create_graph=create_graph, wanted=set(inputs))
    gradients = []
    for value in inputs:
        found = results.get(value)
        if found is None:
            gradients.append(Value._wrap(np.zeros_like(value._data)))
        elif isinstance(found, Value):
            gradients.append(found)
        else:
            gradients.append(Value._wrap(np.array(found, copy=True)))
    return tuple(gradients)
