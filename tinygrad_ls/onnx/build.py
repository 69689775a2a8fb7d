"""From a recorded call to ONNX: ``build_graph`` maps the steps the outputs depend on, in the
order they ran; ``first_difference`` compares two such graphs.

With a dynamic batch the model is traced twice, at the example's batch size and at one
more (the rows in another order), and the two graphs must be the same node for node and
constant for constant: a number or an array computed in Python from the batch size (a count
that divides a sum over the batch, ``tl.zeros(x.shape[0], …)``, a negative index resolved
against the batch) or from the data beside the ops would be baked into the file, which would
then give wrong numbers — or fail — at any other input.
"""
from __future__ import annotations

import numpy as np

from .errors import ExportError, UnsupportedOpError
from .graph import GraphBuilder, OpContext, StepMemory
from .mapping import OPS, REFUSED


def build_graph(tape, outputs: list, input_names: list, output_names: list, *, helper, numpy_helper,
                opset: int, dynamic_batch: bool, named: dict, reserved: set) -> GraphBuilder:
    """The nodes and initializers for ``outputs`` (Values) of the call ``tape`` recorded; the
    graph outputs are Identities named ``output_names``."""
    memory = StepMemory(tape.step_arrays())
    g = GraphBuilder(helper, numpy_helper, opset, dynamic_batch, named, reserved, memory)
    g.source_names.update({('input', i): name for i, name in enumerate(input_names)})
    for index in tape.needed([value._data for value in outputs]):
        _emit(g, tape.steps[index], ('step', index))
    g.step = None
    for value, name in zip(outputs, output_names):
        g.output(g.value(value._data, None, tape.producer), name)
    return g


def _emit(g: GraphBuilder, step, source: tuple) -> None:
    """Map one step to nodes; an op without a mapping, or a mapping that refuses, is an
    ExportError naming the op, the module that ran it and the user's line."""
    name = step.fn.name
    g.step = step
    emit = OPS.get(name)
    try:
        if emit is None:
            reason = REFUSED.get(name, "has no ONNX mapping (see docs/onnx.md for the supported ops)")
            raise UnsupportedOpError(f"'{name}' {reason}")
        g.source_names[source] = emit(g, OpContext(g, step))
    except ExportError as error:
        raise error.locate(name, step.module, step.site) from None


def first_difference(first: GraphBuilder, second: GraphBuilder, state_keys: set) -> ExportError | None:
    """None if the two graphs are the same (nodes, and the constants that are not parameters or
    buffers); else an ExportError at the first node that differs or reads a differing constant."""
    for a, b in zip(first.nodes, second.nodes):
        if a.SerializeToString() != b.SerializeToString():
            return _differs(f"node {a.op_type} '{a.name}' changes with the batch size "
                            f"({_describe(a)} at the example's batch, {_describe(b)} at one row more)",
                            first.provenance.get(a.name))
    if len(first.nodes) != len(second.nodes):
        return _differs(f"the graph has {len(first.nodes)} nodes at the example's batch size and "
                        f"{len(second.nodes)} at one row more", None)
    constants = {name: array for name, array in second.tensors}
    for name, array in first.tensors:
        if name in state_keys:
            continue
        other = constants.get(name)
        if other is None or other.dtype != array.dtype or other.shape != array.shape or \
                other.tobytes() != array.tobytes():
            reader = next((node for node in first.nodes if name in node.input), None)
            shown = '' if other is None else f" and {_show(other)} with one row more (rows reordered)"
            return _differs(f"a constant computed in Python from the batch size or the data is baked in: "
                            f"{_show(array)} at the example{shown}",
                            first.provenance.get(reader.name) if reader is not None else None)
    return None


def _differs(what: str, step) -> ExportError:
    error = ExportError(f"{what}; the file would give other numbers (or fail) for other inputs: compute it "
                        "with the Value's ops, or, if it depends only on the batch size, export with "
                        "dynamic_batch=False (a fixed batch size)")
    if step is not None:
        error.locate(step.fn.name, step.module, step.site)
    return error


def _describe(node) -> str:
    return f"inputs {list(node.input)}" + (f", attributes {[a.name for a in node.attribute]}"
                                           if node.attribute else '')


def _show(array: np.ndarray) -> str:
    if array.size <= 4:
        return f"{array.tolist()!r} ({array.dtype})"
    return f"an array of shape {array.shape} ({array.dtype})"
