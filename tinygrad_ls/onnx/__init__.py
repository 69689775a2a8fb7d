"""ONNX export: ``tl.onnx.export(model, example_inputs, path)`` writes a model that runs in
onnxruntime (or any ONNX runtime) and gives the library's outputs.

    tl.onnx.export(model, X[:8], 'model.onnx', input_names=['x'], output_names=['logits'])

The ``onnx`` package is imported only when ``export`` runs: ``pip install 'tinygrad_ls[onnx]'``.
See docs/onnx.md for how it works and which ops are supported.
"""
from __future__ import annotations

from .export import export as _export


def export(model, example_inputs, path, input_names=None, output_names=None,
           dynamic_batch: bool = True, opset: int = 17):
    """Trace ``model`` on ``example_inputs`` and write it to ``path`` as an ONNX model.

    ``model``: a Module (or any callable of Values); ``example_inputs``: one array or a
    tuple of arrays (float inputs as they are, integer ones such as token ids too) — the model
    is called once as ``model(*example_inputs)`` in eval mode (Dropout off, BatchNorm on its
    running statistics; the training flags are restored afterwards). Every recorded op is
    mapped to ONNX nodes; the Parameters and buffers become initializers named by their
    ``state_dict`` keys. ``input_names``/``output_names`` name the graph's inputs and outputs
    (default ``input``/``output``, numbered when there are several; a tuple result such as
    the GPT's ``(logits, None)`` gives one output per Value in it). With ``dynamic_batch``
    the first axis of every input and output is the symbolic ``'batch'`` and reshapes keep
    it free, so the file runs on any batch size. ``opset``: 17 or later (LayerNormalization).

    Returns the ``onnx.ModelProto`` (checked by ``onnx.checker``). An op with no mapping
    raises NotImplementedError naming it (and the module that ran it) before anything is
    written; ImportError without the ``onnx`` package.
    """
    return _export(model, example_inputs, path, input_names=input_names, output_names=output_names,
                   dynamic_batch=dynamic_batch, opset=opset)


__all__ = ['export']
