"""``Embedding``: a lookup table of vectors, one row per integer index (PyTorch's
``torch.nn.Embedding`` without ``max_norm``, ``scale_grad_by_freq`` and ``sparse``)."""
from __future__ import annotations

import numpy as np

from ..checks import is_int
from ..dtypes import get_default_dtype
from ..mode import no_grad
from ..value import Value
from . import functional as F
from . import init
from .functional_norm import check_padding_idx, embedding_indices
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """``F.embedding``: integer indices of any shape ``S`` -> ``weight[indices]`` of shape
    ``S + (embedding_dim,)``.

    ``weight`` (num_embeddings, embedding_dim) is drawn from N(0, 1) (PyTorch's init, from the
    library's generator), in ``dtype`` (default: ``tl.get_default_dtype()``). The row
    ``padding_idx`` (negative counts from the end; stored non-negative, as PyTorch does) starts
    at zero and gets no gradient. An index outside ``[0, num_embeddings)`` is an IndexError
    naming the layer, the index and ``num_embeddings``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, *,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        for argument, size in (('num_embeddings', num_embeddings), ('embedding_dim', embedding_dim)):
            if not is_int(size) or size < 0:
                raise ValueError(f"{name}: {argument} must be a non-negative int, got {size!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = check_padding_idx(name, padding_idx, self.num_embeddings)
        dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``weight`` redrawn from N(0, 1), the padding row set to zero (in place)."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0

    def forward(self, input) -> Value:
        indices = embedding_indices(type(self).__name__, input, self.num_embeddings)
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        padding = '' if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"
