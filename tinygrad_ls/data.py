"""Datasets and mini-batch loading: ``TensorDataset`` and ``DataLoader``.

    ds = TensorDataset(X, y)                  # X: (N, d) floats, y: (N,) int classes
    loader = DataLoader(ds, batch_size=32, shuffle=True)
    for xb, yb in loader:                     # Values: (32, d) float, (32,) int
        ...

Shuffling draws a fresh permutation from ``tinygrad_ls.random.generator()`` every time
iteration starts, so ``tl.manual_seed`` makes the order of every epoch reproducible.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .checks import is_int
from .dtypes import get_default_dtype
from .random import generator
from .value import Value, data_of, to_numpy


def _as_tensor_array(data: Any) -> np.ndarray:
    """``data`` as an ndarray, as ``torch.tensor`` makes one: a Value's data and ndarrays (and
    NumPy scalars) keep their dtype, without a copy; Python numbers and nested lists become
    int64 (all ints), bool (all bools) or the default float dtype (any float). TypeError for
    what is not numeric, ValueError for ragged lists."""
    raw = data_of(data)
    try:
        array = to_numpy(raw)
    except ValueError:
        raise ValueError(f"cannot make an array from this {type(raw).__name__}: its nested lists have "
                         "different lengths") from None
    if not hasattr(raw, 'dtype'):  # Python data: NumPy's int and float sizes are not torch's
        if array.dtype.kind in 'iu':
            array = array.astype(np.int64)
        elif array.dtype.kind == 'f':
            array = array.astype(get_default_dtype())
    if array.dtype.kind not in 'biuf':
        raise TypeError(f"data must be numeric or bool, got dtype {array.dtype} from {type(raw).__name__}")
    return array


class TensorDataset:
    """Samples are the rows (first index) of one or more arrays of equal length.

    ``TensorDataset(*arrays)``: ndarrays, Values (their data is taken, not copied) or nested
    lists, converted as ``torch.tensor`` converts them (``_as_tensor_array``: ints become
    int64, floats the default float dtype, bools bool). ``ds[i]`` is a tuple with row ``i`` of
    every array; ``i`` may also be a slice or an integer array, which picks many rows at once
    (that is how ``DataLoader`` makes a batch). ``len(ds)`` is the common first dimension N.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        converted = []
        for i, array in enumerate(arrays):
            try:
                converted.append(_as_tensor_array(array))
            except (TypeError, ValueError) as error:
                raise type(error)(f"TensorDataset: array {i}: {error}") from None
        self.arrays: tuple[np.ndarray, ...] = tuple(converted)
        shapes = [array.shape for array in self.arrays]
        if any(len(shape) == 0 for shape in shapes):
            raise ValueError("TensorDataset: every array needs a first (sample) dimension, "
                             f"got shapes {shapes}")
        if len({shape[0] for shape in shapes}) != 1:
            raise ValueError("TensorDataset: all arrays must have the same first dimension, "
                             f"got shapes {shapes}")

    def __getitem__(self, index) -> tuple[np.ndarray, ...]:
        return tuple(array[index] for array in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __repr__(self) -> str:
        shapes = ', '.join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({shapes})"


class DataLoader:
    """Iterate over a dataset in mini-batches, each a tuple of Values (one per field).

    ``DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False, sampler=None)``

    - ``dataset``: a ``TensorDataset`` (a batch is taken from each array with one NumPy
      index: a slice in order, an integer array when shuffled) or any object with
      ``__len__`` and ``__getitem__(int)`` returning a sample (a tuple of fields or a single
      field), collated by stacking each field over the batch.
    - ``shuffle``: a new permutation per pass, drawn from the library generator.
    - ``drop_last``: drop the last batch if it is smaller than ``batch_size``.
    - ``sampler``: an iterable of dataset indices with ``__len__`` (such as
      ``tl.distributed.DistributedSampler``) giving the order of each pass, instead of
      ``shuffle`` (both is a ValueError, as in PyTorch).

    Batch Values never require grad and keep their arrays' dtypes (integer targets stay
    integer). When a generic dataset returns Python numbers, ints become int64, bools bool
    and floats the default float dtype. In-order TensorDataset batches are views of the
    dataset's arrays (no copy).
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, sampler: Any = None) -> None:
        if not is_int(batch_size):
            raise TypeError(f"DataLoader: batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        if not (hasattr(dataset, '__len__') and hasattr(dataset, '__getitem__')):
            raise TypeError(f"DataLoader: the dataset must have __len__ and __getitem__, "
                            f"got {type(dataset).__name__}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True cannot be used together (the sampler "
                             "gives the order)")
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)

    def __len__(self) -> int:
        """The number of batches in one pass."""
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Value, ...]]:
        # The permutation is drawn here, when the pass starts, not at the first next().
        if self.sampler is not None:
            order = np.asarray(list(self.sampler), dtype=np.int64)
            return self._batches(order, len(order))
        n = len(self.dataset)
        order = generator().permutation(n) if self.shuffle else None
        return self._batches(order, n)

    def _batches(self, order: np.ndarray | None, n: int) -> Iterator[tuple[Value, ...]]:
        stop = len(self) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            index = slice(start, end) if order is None else order[start:end]
            if isinstance(self.dataset, TensorDataset):
                fields = self.dataset[index]
            else:
                rows = range(start, end) if order is None else index.tolist()
                fields = _collate([self.dataset[i] for i in rows])
            yield tuple(Value(field) for field in fields)

    def __repr__(self) -> str:
        sampler = f", sampler={self.sampler!r}" if self.sampler is not None else ''
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}{sampler})")


def _collate(samples: list) -> tuple[np.ndarray, ...]:
    """Stack a list of samples field by field: ``[(x0, y0), (x1, y1)] -> (stack(x), stack(y))``."""
    first = samples[0]
    if not isinstance(first, (tuple, list)):
        return (_stack_field(samples, 0),)
    width = len(first)
    for i, sample in enumerate(samples):
        if not isinstance(sample, (tuple, list)) or len(sample) != width:
            raise ValueError(f"DataLoader: sample {i} of the batch does not have the {width} fields "
                             "of the first sample")
    return tuple(_stack_field([sample[j] for sample in samples], j) for j in range(width))


def _stack_field(items: list, field: int) -> np.ndarray:
    """One field over the batch as an array of shape ``(batch, *sample_shape)``."""
    try:
        arrays = [_as_tensor_array(item) for item in items]
    except (TypeError, ValueError) as error:
        raise type(error)(f"DataLoader: field {field}: {error}") from None
    try:
        return np.stack(arrays)
    except ValueError:
        shapes = sorted({a.shape for a in arrays})
        raise ValueError(f"DataLoader: field {field} has samples of different shapes {shapes}; "
                         "they cannot be stacked into a batch") from None


__all__ = ['TensorDataset', 'DataLoader']
