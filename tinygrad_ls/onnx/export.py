"""Export by tracing: the graph the engine records for one forward call *is* the trace.

``export`` calls the model once, in eval mode and with grad recording on, on Values made
from ``example_inputs`` (float inputs require grad, so every op on them is recorded; every
Parameter is made to require grad for the call, so frozen ones are recorded too). Integer
inputs (token ids) are passed as the arrays themselves: ops that take them as a setting
(``embedding``'s ``indices``) are found by the identity of the array and read the graph
input instead of a constant. ``engine.toposort`` then lists the recorded ops in order, and
``mapping.OPS`` turns each into ONNX nodes. Leaves become graph inputs or initializers
(named by ``named_parameters``/``named_buffers``); Values that were not recorded and other
constants become initializers too.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import numpy as np

from ..engine import toposort
from ..mode import set_grad_enabled
from ..value import Value
from .mapping import OPS

_INSTALL_HINT = "ONNX export needs the onnx package: pip install 'tinygrad_ls[onnx]'"


def _import_onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return onnx


class GraphBuilder:
    """Nodes and initializers of the graph being built; ``names`` maps Values to ONNX names."""

    def __init__(self, helper, numpy_helper, opset: int, dynamic_batch: bool, int_inputs: dict,
                 buffer_names: dict):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.opset, self.dynamic_batch = opset, dynamic_batch
        self.int_inputs = int_inputs        # id(array) -> input name, for arrays held by the caller
        self.buffer_names = buffer_names    # id(array) -> state_dict key, for the model's buffers
        self.nodes, self.initializers = [], []
        self.names: dict = {}               # Value -> ONNX name
        self.op_name = 'op'                 # the op being mapped: names its nodes' outputs
        self._counter = itertools.count()
        self._buffers_done: dict = {}

    def fresh(self, hint: str) -> str:
        return f"{hint}_{next(self._counter)}"

    def node(self, op_type: str, inputs: Sequence[str], **attributes) -> str:
        """Append one node; returns the name of its (single) output."""
        output = self.fresh(self.op_name)
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output],
                                                name=f"{op_type}_{output}", **attributes))
        return output

    def const(self, array, hint: str = 'const', name: str | None = None) -> str:
        """A new initializer holding ``array``."""
        name = name or self.fresh(hint)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(values, dtype=np.int64), 'shape')

    def buffer(self, array, dtype) -> str:
        """An initializer for one of the model's buffers (named by its state_dict key)."""
        key = id(array)  # the arrays are alive for the whole export: ids cannot be reused
        if key not in self._buffers_done:
            name = self.buffer_names.get(key)
            self._buffers_done[key] = self.const(np.asarray(array, dtype=dtype), 'buffer', name)
        return self._buffers_done[key]

    def indices(self, array) -> str:
        """An integer graph input if ``array`` is one of the example inputs, else a constant."""
        name = self.int_inputs.get(id(array))
        return name if name is not None else self.const(np.asarray(array, dtype=np.int64), 'indices')


def export(model, example_inputs, path, input_names=None, output_names=None,
           dynamic_batch: bool = True, opset: int = 17):
    onnx = _import_onnx()
    from onnx import helper, numpy_helper

    inputs = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
    arrays = [np.asarray(x.data if isinstance(x, Value) else x) for x in inputs]
    input_names = _names('input_names', input_names, len(arrays), 'input')
    traced_inputs, int_inputs, value_inputs = [], {}, {}
    for array, name in zip(arrays, input_names):
        if array.dtype.kind == 'f':
            value = Value(array, requires_grad=True)
            value_inputs[value] = name
            traced_inputs.append(value)
        elif array.dtype.kind in 'iu':
            int_inputs[id(array)] = name
            traced_inputs.append(array)
        else:
            raise TypeError(f"ONNX export: inputs must be float or integer arrays, got dtype {array.dtype}")

    outputs, modules = _trace(model, traced_inputs)
    if not outputs:
        raise ValueError("ONNX export: the model returned no Value")
    output_names = _names('output_names', output_names, len(outputs), 'output')

    param_names, buffer_names = {}, {}
    if hasattr(model, 'named_parameters'):
        param_names = {param: name for name, param in model.named_parameters()}
        buffer_names = {id(array): name for name, array in model.named_buffers()}
    g = GraphBuilder(helper, numpy_helper, opset, dynamic_batch, int_inputs, buffer_names)
    g.names.update(value_inputs)

    for node in toposort(outputs):
        if node in g.names:
            continue
        if node._fn is None:
            g.names[node] = _leaf(g, node, param_names)
            continue
        fn = node._fn
        emit = OPS.get(fn.name)
        if emit is None:
            where = _module_of(fn, modules)
            raise NotImplementedError(f"ONNX export: no mapping for op '{fn.name}'"
                                      + (f" (in module {where})" if where else ""))
        ins = [_operand(g, arg, node.data, param_names) for arg in fn.inputs]
        g.op_name = fn.name
        try:
            g.names[node] = emit(g, fn, ins, node.data)
        except NotImplementedError as error:
            where = _module_of(fn, modules)
            raise NotImplementedError(str(error) + (f" (in module {where})" if where else "")) from None

    graph_outputs = []
    for value, name in zip(outputs, output_names):
        g.op_name = name
        source = g.names.get(value) or _operand(g, value, value.data, param_names)
        g.nodes.append(helper.make_node('Identity', [source], [name], name=f"Identity_{name}"))
        graph_outputs.append(_value_info(helper, name, value.data, dynamic_batch))
    graph_inputs = [_value_info(helper, name, np.asarray(array, dtype=np.int64 if array.dtype.kind in 'iu'
                                                          else array.dtype), dynamic_batch)
                    for array, name in zip(arrays, input_names)]
    graph = helper.make_graph(g.nodes, type(model).__name__, graph_inputs, graph_outputs, g.initializers)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)],
                                   producer_name='tinygrad_ls')
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, os.fspath(path))
    return onnx_model


def _trace(model, traced_inputs) -> tuple:
    """Call ``model`` once in eval mode with every Parameter requiring grad; returns the output
    Values and ``(dotted name, module)`` of every submodule (for error messages). The modules'
    training flags and the Parameters' ``requires_grad`` are restored afterwards."""
    modules = list(model.named_modules()) if hasattr(model, 'named_modules') else []
    training = [(module, module.training) for _, module in modules]
    params = list(model.parameters()) if hasattr(model, 'parameters') else []
    requires = [param.requires_grad for param in params]
    try:
        for module, _ in training:
            object.__setattr__(module, 'training', False)
        for param in params:
            param.requires_grad = True
        with set_grad_enabled(True):
            result = model(*traced_inputs)
    finally:
        for module, flag in training:
            object.__setattr__(module, 'training', flag)
        for param, flag in zip(params, requires):
            param.requires_grad = flag
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    return [value for value in results if isinstance(value, Value)], modules


def _names(argument: str, names, count: int, default: str) -> list:
    if names is None:
        return [default] if count == 1 else [f"{default}_{i}" for i in range(count)]
    names = list(names)
    if len(names) != count:
        raise ValueError(f"ONNX export: {argument} has {len(names)} names for {count} {default}s")
    return names


def _leaf(g: GraphBuilder, value: Value, param_names: dict) -> str:
    """A Value that no recorded op made: a Parameter (named initializer) or a constant."""
    name = param_names.get(value)
    return g.const(value.data, 'param', name)


def _operand(g: GraphBuilder, arg, out: np.ndarray, param_names: dict) -> str:
    """The ONNX name of one op argument: a traced Value, a Parameter, or a constant (Python
    numbers and arrays cast to the output's dtype, as NumPy's weak typing makes them)."""
    if isinstance(arg, Value):
        if arg in g.names:
            return g.names[arg]
        if arg in param_names:
            g.names[arg] = g.const(arg.data, 'param', param_names[arg])
            return g.names[arg]
        arg = arg.data
    if arg is None:
        return ''
    array = np.asarray(arg)
    if out.dtype.kind == 'f' and array.dtype != out.dtype:
        array = array.astype(out.dtype)
    return g.const(array)


def _value_info(helper, name: str, array: np.ndarray, dynamic_batch: bool):
    shape = list(array.shape)
    if dynamic_batch and shape:
        shape[0] = 'batch'
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(array.dtype), shape)


def _module_of(fn, modules: list) -> str | None:
    """The innermost module whose last call recorded ``fn`` (by the ops' sequence numbers)."""
    best = None
    for name, module in modules:
        span = module.__dict__.get('_last_call_span')
        if span and span[0] < fn.sequence < span[1] and (best is None or span[1] - span[0] < best[0]):
            best = (span[1] - span[0], f"{name or 'model'} ({type(module).__name__})")
    return None if best is None else best[1]
