"""``embedding``: rows of a table picked by integer indices, and its gradient, the scatter-add
of the output gradient back onto those rows.

    Embedding:          out[..., :] = weight[indices[...], :]      indices (*S) -> out (*S, dim)
    EmbeddingBackward:  dweight[r] = sum of g[p] over the positions p with indices[p] == r
                        (0 for the padding row)

Each op's backward is the other one (masked the same way), so gradients of any order work.
Neither reads the values of its input, only the indices, which are constants of the op
(``saves_inputs = False``). ``Embedding.forward`` checks that every index is in range (in the
op, so that a compiled replay checks each batch's indices as eager code does).
"""
from __future__ import annotations

import numpy as np

from ..value import Value, data_of
from .base import Function


class Embedding(Function):
    """``weight[indices]``: ``weight`` (num_embeddings, dim) -> (*indices.shape, dim).

    Backward: ``EmbeddingBackward`` (repeated indices add up their rows of the gradient;
    the row ``padding_idx``, if given, gets none)."""
    name = 'embedding'
    saves_inputs = False

    def __init__(self, indices: np.ndarray, padding_idx: int | None = None):
        self.indices, self.padding_idx = indices, padding_idx

    def extra_repr(self) -> str:
        shape = getattr(self, 'weight_shape', None)
        parts = [] if shape is None else [f"{shape[0]}, {shape[1]}"]
        if self.padding_idx is not None:
            parts.append(f"padding_idx={self.padding_idx}")
        return ', '.join(parts)

    def forward(self, weight):
        self.weight_shape = weight.shape
        check_range(self.indices, weight.shape[0])
        return np.take(weight, self.indices, axis=0)

    def backward(self, grad, out, weight):
        if isinstance(grad, Value):  # create_graph: the scatter as a recorded op
            return (EmbeddingBackward.apply(grad, indices=self.indices, padding_idx=self.padding_idx,
                                            num_embeddings=self.weight_shape[0]),)
        return (scatter_rows(grad, self.indices, self.padding_idx, self.weight_shape[0]),)


def check_range(indices: np.ndarray, num_embeddings: int) -> None:
    """IndexError naming the first index outside ``[0, num_embeddings)`` (``apply`` adds the
    op's name and the input shapes)."""
    if indices.size and (indices.min() < 0 or indices.max() >= num_embeddings):
        bad = (indices < 0) | (indices >= num_embeddings)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise IndexError(f"index {indices[first]} (at position {first} of indices of shape "
                         f"{indices.shape}) is out of range for num_embeddings={num_embeddings}; "
                         f"indices must be in [0, {num_embeddings})")


class EmbeddingBackward(Function):
    """The gradient of ``Embedding``: ``grad`` (*indices.shape, dim) added onto the rows
    ``indices`` of a zero (num_embeddings, dim) table, the padding row left at zero.

    Backward: the rows ``indices`` of the incoming gradient, zero at padding positions."""
    name = 'embedding_backward'
    saves_inputs = False

    def __init__(self, indices: np.ndarray, padding_idx: int | None, num_embeddings: int):
        self.indices, self.padding_idx, self.num_embeddings = indices, padding_idx, num_embeddings

    def extra_repr(self) -> str:
        padding = '' if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"num_embeddings={self.num_embeddings}{padding}"

    def forward(self, grad):
        return scatter_rows(grad, self.indices, self.padding_idx, self.num_embeddings)

    def backward(self, grad, out, grad_rows):
        picked = grad[self.indices]
        if self.padding_idx is None:
            return (picked,)
        keep = (self.indices != self.padding_idx)[..., None].astype(data_of(grad).dtype)
        return (picked * keep,)


def scatter_rows(grad: np.ndarray, indices: np.ndarray, padding_idx: int | None,
                 num_embeddings: int) -> np.ndarray:
    """Zeros (num_embeddings, dim) with each row ``grad[p]`` added at row ``indices[p]``
    (repeated indices accumulate), then the padding row set back to zero."""
    dim = grad.shape[-1]
    table = np.zeros((num_embeddings, dim), dtype=grad.dtype)
    np.add.at(table, indices.reshape(-1), grad.reshape(-1, dim))
    if padding_idx is not None:
        table[padding_idx] = 0
    return table
