"""Export by tracing on the tape: the model runs once, every op is reported (``tape.py``), and
the ops the outputs depend on become ONNX nodes (``build.py``, ``mapping.py``), wired by the
identity of the arrays they read (``graph.py``).

The steps, each refusing with an ``ExportError`` before anything is written: check the
names, the inputs' dtypes and the opset (``validation.py``); call the model in eval mode under
``no_grad`` with every input as a Value, recording; refuse any escape the tape saw; map the
needed steps in the order they ran; check that every input is read; with a dynamic batch,
trace again at one more row and compare the graphs; check that ``onnx.checker`` passes and
that onnxruntime loads the graph; then write atomically (``write.py``).
"""
from __future__ import annotations

import numpy as np

from .. import tracing
from ..mode import modes, no_grad
from ..value import Value, values_in
from . import validation, write
from .build import build_graph, first_difference
from .errors import ExportError
from .tape import ExportTape

_INSTALL_HINT = "ONNX export needs the onnx and onnxruntime packages: pip install 'tinygrad_ls[onnx]'"


def _import_runtime() -> tuple:
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return onnx, onnxruntime


def export(model, example_inputs, path, input_names=None, output_names=None,
           dynamic_batch: bool = True, opset: int = 17):
    onnx, ort = _import_runtime()
    from onnx import helper, numpy_helper

    inputs = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
    arrays = _distinct([np.asarray(x._data if isinstance(x, Value) else x) for x in inputs])
    input_names = _names('input_names', input_names, len(arrays), 'input')
    named = _state_names(model)
    state_keys = set(named.values())
    validation.check_names(input_names, output_names and list(output_names), state_keys)
    for name, array in zip(input_names, arrays):
        validation.check_input_dtype(name, array)
    validation.check_opset(opset, onnx, ort)

    tape, outputs = _trace(model, [Value._wrap(array) for array in arrays], input_names)
    if not outputs:
        raise ExportError("the model returned no Value")
    output_names = _names('output_names', output_names, len(outputs), 'output')
    validation.check_names(input_names, output_names, state_keys)

    options = dict(helper=helper, numpy_helper=numpy_helper, opset=int(opset), dynamic_batch=dynamic_batch,
                   named=named, reserved={*input_names, *output_names, *state_keys})
    g = build_graph(tape, outputs, input_names, output_names, **options)
    validation.check_inputs_read(g.nodes, input_names, arrays)
    if dynamic_batch:
        _check_batch_free(model, arrays, input_names, output_names, g, options, state_keys)

    graph_inputs = [_value_info(helper, name, array, dynamic_batch)
                    for name, array in zip(input_names, arrays)]
    graph_outputs = [_value_info(helper, name, value._data, dynamic_batch)
                     for value, name in zip(outputs, output_names)]
    graph = helper.make_graph(g.nodes, type(model).__name__, graph_inputs, graph_outputs,
                              g.initializer_protos())
    opsets = [helper.make_opsetid('', int(opset))]
    onnx_model = helper.make_model(graph, opset_imports=opsets, producer_name='tinygrad_ls')
    onnx_model.ir_version = helper.find_min_ir_version_for(opsets)  # the oldest runtimes that can load it
    validation.load_check(onnx, onnx_model, g.provenance)
    write.write_model(onnx, onnx_model, path, g.tensor_bytes)
    return onnx_model


def _check_batch_free(model, arrays: list, input_names: list, output_names: list, g, options: dict,
                      state_keys: set) -> None:
    """Trace again with one more row in every input and compare the graphs (``build.py``).
    The rows are the example's in another order (rolled by one, the first two repeated at the
    end), so the values stay valid for the model (token ids, class indices) while a constant
    made from them beside the ops, unseen by the tape, most likely changes too."""
    grown = [np.concatenate([array[1:], array[:2]] if len(array) > 1 else [array, array])
             if array.ndim and len(array) else array for array in arrays]
    batch = next((len(array) for array in grown if array.ndim), None)
    if batch is None:
        return  # no input has a batch axis
    try:
        tape, outputs = _trace(model, [Value._wrap(array) for array in grown], input_names)
    except ExportError:
        raise
    except Exception as error:
        raise ExportError(f"with dynamic_batch=True the model is also run at batch size {batch} (one row "
                          f"more) to check the graph does not depend on the batch size, and it raised "
                          f"{type(error).__name__}: {error}; export with dynamic_batch=False") from error
    if len(outputs) != len(output_names):
        raise ExportError(f"the model returns {len(output_names)} Values at the example's batch size and "
                          f"{len(outputs)} at batch size {batch}; export with dynamic_batch=False")
    difference = first_difference(g, build_graph(tape, outputs, input_names, output_names, **options),
                                  state_keys)
    if difference is not None:
        raise difference


def _trace(model, inputs: list, input_names: list) -> tuple:
    """``(tape, output Values)`` of one call ``model(*inputs)``, recorded in eval mode and under
    ``no_grad`` (the modules' training flags are restored afterwards); raises the first escape
    the tape saw."""
    if modes.tape is not None:
        raise ExportError("tl.onnx.export called while a tape records this thread (inside tl.compile's "
                          "recording of a step); export outside the compiled function")
    modules = list(model.named_modules()) if hasattr(model, 'named_modules') else []
    tape = ExportTape(inputs, input_names, {id(module): name for name, module in modules})
    training = [(module, module.training) for _, module in modules]
    try:
        for module, _ in training:
            object.__setattr__(module, 'training', False)
        with no_grad(), tracing.recording(tape):
            result = model(*inputs)
    finally:
        for module, flag in training:
            object.__setattr__(module, 'training', flag)
    tape.raise_escape()
    outputs = values_in(result)
    tape.keep.extend(outputs)
    return tape, outputs


def _distinct(arrays: list) -> list:
    """The inputs as arrays of their own: one array passed as several inputs (self-attention's
    query, key and value) is copied, so that each graph input is known by its own identity."""
    seen = set()
    for index, array in enumerate(arrays):
        if id(array) in seen:
            arrays[index] = array.copy()
        seen.add(id(arrays[index]))
    return arrays


def _state_names(model) -> dict:
    """{id(array): state_dict key} of the model's parameters and buffers (a tied one once)."""
    named = {}
    if hasattr(model, 'named_parameters'):
        named.update({id(param._data): name for name, param in model.named_parameters()})
    if hasattr(model, 'named_buffers'):
        named.update({id(array): name for name, array in model.named_buffers()})
    return named


def _names(argument: str, names, count: int, default: str) -> list:
    if names is None:
        return [default] if count == 1 else [f"{default}_{i}" for i in range(count)]
    names = list(names)
    if len(names) != count:
        raise ValueError(f"ONNX export: {argument} has {len(names)} names for {count} {default}s")
    return names


def _value_info(helper, name: str, array: np.ndarray, dynamic_batch: bool):
    shape = list(array.shape)
    if dynamic_batch and shape:
        shape[0] = 'batch'
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(array.dtype), shape)
