"""Whole derivative matrices: ``jacobian`` and ``hessian``, with the names, argument forms and
output shapes of ``torch.autograd.functional``.

Both are built from ``tl.grad``: one reverse pass per element of the output (PyTorch's
``vectorize=False`` strategy), so they suit the small functions one inspects or tests, not
a model's full parameter set.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .combine import stack
from .engine import grad
from .mode import enable_grad
from .value import Value


def jacobian(fn: Callable, inputs, create_graph: bool = False):
    """The Jacobian of ``fn(*inputs)``: ``J[i..., j...] = d out[i...] / d input[j...]``.

    ``inputs``: a Value (or array) or a tuple of them. ``fn`` returns a Value or a tuple of
    Values. Result: for one input and one output a Value of shape ``out.shape + in.shape``;
    for a tuple of inputs a tuple over the inputs; for a tuple of outputs a tuple over the
    outputs of those. With ``create_graph=True`` the result is differentiable (with respect to
    the inputs that require grad); otherwise it is cut from the graph.
    """
    leaves, single_input = _leaves('jacobian', inputs, create_graph)
    with enable_grad():
        outputs = fn(*leaves)
    single_output = isinstance(outputs, Value)
    outputs = (outputs,) if single_output else tuple(outputs)
    for i, output in enumerate(outputs):
        if not isinstance(output, Value):
            raise TypeError(f"jacobian: fn must return Values, got {type(output).__name__} as output {i}")
    per_output = []
    for output in outputs:
        blocks = _jacobian_blocks(output, leaves, create_graph)
        per_output.append(blocks[0] if single_input else blocks)
    return per_output[0] if single_output else tuple(per_output)


def hessian(fn: Callable, inputs, create_graph: bool = False):
    """The Hessian of a single-element ``fn(*inputs)``: ``H[i..., j...] = d²f / dx[i...] dx[j...]``.

    One input gives a Value of shape ``in.shape + in.shape``; a tuple of inputs gives a tuple
    of tuples, ``H[a][b]`` of shape ``inputs[a].shape + inputs[b].shape``.
    """
    leaves, single_input = _leaves('hessian', inputs, create_graph)

    def gradient(*values):
        output = fn(*values)
        if not isinstance(output, Value) or output.size != 1:
            shape = output.shape if isinstance(output, Value) else type(output).__name__
            raise ValueError(f"hessian: fn must return a single-element Value, got {shape}")
        gradients = grad(output, values, create_graph=True)
        return gradients[0] if single_input else gradients

    return jacobian(gradient, leaves[0] if single_input else leaves, create_graph)


def _leaves(caller: str, inputs, create_graph: bool) -> tuple[tuple, bool]:
    """Fresh leaves that require grad for ``inputs`` (the inputs themselves where
    ``create_graph`` should keep the result connected to them); and whether there was one."""
    single = not isinstance(inputs, (tuple, list))
    leaves = []
    for i, item in enumerate((inputs,) if single else inputs):
        if create_graph and isinstance(item, Value) and item.requires_grad:
            leaves.append(item)
            continue
        data = item.data if isinstance(item, Value) else np.asarray(item)
        if data.dtype.kind != 'f':
            raise TypeError(f"{caller}: input {i} must be a floating-point Value, got dtype {data.dtype}")
        leaves.append(Value._wrap(data).requires_grad_(True))
    return tuple(leaves), single


def jacobian_rows(output: Value, inputs, create_graph: bool = False) -> Iterator[tuple]:
    """For each element ``k`` of ``output`` (in C order), the gradients of ``output.flat[k]``
    with respect to each of ``inputs``: one ``grad`` call per element, seeded with a one-hot
    array of ``output``'s shape and dtype (also gradcheck's analytic Jacobian)."""
    for k in range(output.size):
        seed = np.zeros(output.size, dtype=output.dtype)
        seed[k] = 1
        yield grad(output, inputs, grad_outputs=seed.reshape(output.shape), create_graph=create_graph)


def _jacobian_blocks(output: Value, leaves: tuple, create_graph: bool) -> tuple:
    """One Jacobian block per leaf for ``output``, from one ``grad`` call per output element."""
    rows = [[] for _ in leaves]
    for gradients in jacobian_rows(output, leaves, create_graph):
        for row, gradient in zip(rows, gradients):
            row.append(gradient if create_graph else gradient.data)
    blocks = []
    for leaf, row in zip(leaves, rows):
        shape = output.shape + leaf.shape
        if not row:
            blocks.append(Value._wrap(np.zeros(shape, dtype=leaf.dtype)))
        elif create_graph:
            blocks.append(stack(row).reshape(shape))
        else:
            blocks.append(Value._wrap(np.stack(row).reshape(shape)))
    return tuple(blocks)
