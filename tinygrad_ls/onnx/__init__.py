"""ONNX export: ``tl.onnx.export(model, example_inputs, path)`` writes a model that runs in
onnxruntime (or any ONNX runtime) and gives the library's outputs — or raises
``tl.onnx.ExportError`` and writes nothing.

    tl.onnx.export(model, X[:8], 'model.onnx', input_names=['x'], output_names=['logits'])

The ``onnx`` and ``onnxruntime`` packages are imported only when ``export`` runs:
``pip install 'tinygrad_ls[onnx]'``. See docs/onnx.md for what the trace sees, what it
refuses and which ops are supported.
"""
from __future__ import annotations

from .errors import ExportError, UnsupportedOpError
from .export import export as _export


def export(model, example_inputs, path, input_names=None, output_names=None,
           dynamic_batch: bool = True, opset: int = 17):
    """Trace ``model`` on ``example_inputs`` and write it to ``path`` as an ONNX model.

    ``model``: a Module (or any callable of Values); ``example_inputs``: one array or a tuple
    of arrays (float, integer or bool; Values are taken by their data). The model is called
    once as ``model(*inputs)`` with each input as a Value, in eval mode (Dropout off,
    BatchNorm on its running statistics; the training flags are restored afterwards) and
    under ``no_grad``, while a tape records every op — those that take no gradient
    (comparisons, ``one_hot``, masks) too. The ops the outputs depend on become ONNX nodes,
    wired by the identity of the arrays they read: a mask or index an op made from the data
    is read from the graph, never baked in. Parameters and buffers become initializers named
    by their ``state_dict`` keys.

    ``input_names``/``output_names`` name the graph's inputs and outputs (default
    ``input``/``output``, numbered when there are several; a tuple result such as the GPT's
    ``(logits, None)`` gives one output per Value in it). With ``dynamic_batch`` the first
    axis of every input and output is the symbolic ``'batch'``. ``opset``: from 17
    (LayerNormalization) to the newest both the installed onnx and onnxruntime support.

    Raises ``ExportError`` (a RuntimeError), naming the reason, the op, the module that was
    running and the user's ``file:line``, and writes nothing, when the file could not stand
    for the model: Python read a traced Value's numbers, ``.grad`` was touched, a Value was
    updated in place, an eagerly-run function (optimizer step, metric) or ``backward()`` was
    called, NumPy drew random numbers, NumPy made a view of the call's data beside the ops;
    an op has no mapping (``UnsupportedOpError``, also a NotImplementedError); a name is
    duplicated or equals a state_dict key; an input is never read; the opset or a dtype is
    one onnx or onnxruntime cannot load. A ValueError if the number of names is wrong;
    ImportError without onnx/onnxruntime.

    The file is written atomically (a temporary file renamed over ``path``: a failed write
    keeps the previous file); initializers over 2 GB go to ONNX external data in
    ``<path>.data`` beside it. Returns the ``onnx.ModelProto``.
    """
    return _export(model, example_inputs, path, input_names=input_names, output_names=output_names,
                   dynamic_batch=dynamic_batch, opset=opset)


__all__ = ['export', 'ExportError', 'UnsupportedOpError']
