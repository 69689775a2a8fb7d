"""What an export refuses before it writes: names that clash, opsets the installed ``onnx`` or
``onnxruntime`` do not know, dtypes that have no ONNX type, inputs the graph never reads, and
a graph ``onnx.checker`` or onnxruntime will not load (a dtype without a kernel for an op:
float64 ``Erf`` or ``Conv``, float16 where a kernel is missing, complex anything).

onnxruntime is asked, not guessed: ``ort_max_opset`` loads a one-node model stamped with each
opset, and ``load_check`` builds an onnxruntime session for the graph itself, with the large
initializers turned into declared inputs (the kernels are chosen by type and shape, so no
weights need to be copied, and a model over protobuf's 2 GB limit is checked the same way).
"""
from __future__ import annotations

import functools
import re

import numpy as np

from ..checks import is_int
from .errors import ExportError

MIN_OPSET = 17          # LayerNormalization; the mappings are written for opset 17 and later
_SKELETON_BYTES = 1024  # initializers larger than this become declared inputs in load_check
_NO_ONNX_TYPE = 'OSUVMm'  # object, bytes, str, void, datetime, timedelta
_ORT_ERRORS = ('Fail', 'NotImplemented', 'InvalidGraph', 'InvalidArgument', 'RuntimeException',
               'InvalidProtobuf', 'EPFail')


def check_names(input_names: list, output_names: list | None, state_keys: set) -> None:
    """Every name a non-empty string, no name twice among inputs and outputs, and none equal to
    a state_dict key (an initializer's name: onnxruntime would feed the initializer, or reject
    the graph, instead of reading the data passed under that name)."""
    seen = {}
    for kind, names in (('input', input_names), ('output', output_names or [])):
        for name in names:
            if not isinstance(name, str) or not name:
                raise ExportError(f"{kind} names must be non-empty strings, got {name!r}")
            if name in seen:
                raise ExportError(f"the name '{name}' is given twice ({seen[name]} and {kind} names); "
                                  "every graph input and output needs its own name")
            if name in state_keys:
                raise ExportError(f"{kind} name '{name}' is also the name of the model's parameter or "
                                  f"buffer '{name}' (an initializer of the graph): onnxruntime would not "
                                  "read the data passed as that input; choose another name")
            seen[name] = f"{kind} names"


def check_input_dtype(name: str, array: np.ndarray) -> None:
    if array.dtype.kind in _NO_ONNX_TYPE:
        raise ExportError(f"input '{name}' has dtype {array.dtype} (shape {array.shape}), which has no "
                          "ONNX tensor type; inputs must be float, integer or bool arrays")
    if array.dtype.kind == 'c':
        raise ExportError(f"input '{name}' has dtype {array.dtype} (shape {array.shape}): onnxruntime has "
                          "no complex kernels for the ops a model is made of (Add, MatMul, Relu, ... "
                          "refuse complex64 and complex128)")


def check_opset(opset, onnx, ort) -> None:
    """``opset`` an int that this exporter, the installed onnx and onnxruntime all support."""
    if not is_int(opset):
        raise ExportError(f"opset must be an int, got {opset!r}")
    onnx_max = onnx.defs.onnx_opset_version()
    ort_max = ort_max_opset(onnx_max)
    top = min(onnx_max, ort_max)
    if not MIN_OPSET <= opset <= top:
        raise ExportError(f"opset {opset} is outside what can be written and loaded: the exporter needs "
                          f"{MIN_OPSET} or later (LayerNormalization), onnx {onnx.__version__} knows "
                          f"opsets up to {onnx_max}, onnxruntime {ort.__version__} loads up to {ort_max}; "
                          f"use {MIN_OPSET}..{top}")


@functools.cache
def ort_max_opset(onnx_max: int) -> int:
    """The newest opset (up to ``onnx_max``) onnxruntime loads a model stamped with: found by
    loading a one-node Identity model, newest first (onnxruntime has no API that says it)."""
    from onnx import TensorProto, helper
    info = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node('Identity', ['x'], ['y'])], 'probe',
                              [info('x', TensorProto.FLOAT, [1])], [info('y', TensorProto.FLOAT, [1])])
    for opset in range(onnx_max, 0, -1):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)])
        model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
        try:
            _session(model.SerializeToString())
        except _ort_errors() as error:
            if 'opset' in str(error).lower():
                continue
            raise
        return opset
    return 0


def check_inputs_read(nodes: list, input_names: list, shapes: list) -> None:
    """Every declared input is read by some node (an input nothing reads would be ignored:
    the outputs would not depend on the data passed in)."""
    consumed = {name for node in nodes for name in node.input}
    for name, array in zip(input_names, shapes):
        if name not in consumed:
            raise ExportError(f"input '{name}' (shape {array.shape}, {array.dtype}) is never read by the "
                              "graph: the outputs do not depend on it; drop it from the inputs, or "
                              "check that the model uses it through the library's ops")


def load_check(onnx, model, provenance: dict) -> None:
    """``onnx.checker`` (with shape inference) and an onnxruntime session for ``model``'s graph,
    large initializers declared as inputs instead. A failure is an ExportError naming the
    library op, module and site of the node it names."""
    skeleton = _skeleton(onnx, model)
    try:
        onnx.checker.check_model(skeleton, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise _located(f"onnx.checker refuses the graph: {_first_line(error)}", error, provenance) from None
    try:
        _session(skeleton.SerializeToString())
    except _ort_errors() as error:
        import onnxruntime
        raise _located(f"onnxruntime {onnxruntime.__version__} cannot load the graph: {_first_line(error)}",
                       error, provenance) from None


def _skeleton(onnx, model):
    from onnx import helper
    graph = model.graph
    kept, declared = [], []
    for tensor in graph.initializer:
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        if int(np.prod(tensor.dims, dtype=np.int64)) * itemsize > _SKELETON_BYTES:
            declared.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
        else:
            kept.append(tensor)
    skeleton_graph = helper.make_graph(list(graph.node), graph.name, [*graph.input, *declared],
                                       list(graph.output), kept)
    skeleton = helper.make_model(skeleton_graph, opset_imports=list(model.opset_import),
                                 producer_name=model.producer_name)
    skeleton.ir_version = model.ir_version
    return skeleton


def _session(model_bytes: bytes):
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the warnings onnxruntime prints go to stderr
    return onnxruntime.InferenceSession(model_bytes, options, providers=['CPUExecutionProvider'])


def _ort_errors() -> tuple:
    from onnxruntime.capi import onnxruntime_pybind11_state as state
    return tuple(getattr(state, name) for name in _ORT_ERRORS if hasattr(state, name))


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _located(reason: str, error: Exception, provenance: dict) -> ExportError:
    """An ExportError at the node the message names (``Add_add_3``), if it names one."""
    for token in re.findall(r"[\w./:-]+", str(error)):
        step = provenance.get(token)
        if step is not None:
            return ExportError(reason, op=step.fn.name, module=step.module, site=step.site)
    return ExportError(reason)
