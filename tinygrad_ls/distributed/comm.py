"""The process group: MPI's ``COMM_WORLD`` through mpi4py, and the collectives on ndarrays.

    import tinygrad_ls.distributed as dist
    dist.init()                       # under `mpirun -n 2`: rank 0 and 1 of 2
    grads = np.ones(3)
    dist.all_reduce(grads, op='mean') # in place, the same numbers on every rank

Before ``init()`` (or in a plain ``python script.py``) the world is one process: rank 0,
world size 1, and every collective returns its array untouched, so single-process code runs
unchanged. mpi4py is imported only by ``init()``.
"""
from __future__ import annotations

import numpy as np

_comm = None  # mpi4py's COMM_WORLD once init() has run
_MPI = None   # the mpi4py.MPI module once init() has run

_OPS = ('sum', 'mean', 'max', 'min', 'prod')


def init() -> None:
    """Join the process group (MPI's ``COMM_WORLD``); calling it again does nothing.

    ImportError, naming the extra to install, if mpi4py is missing."""
    global _comm, _MPI
    if _comm is not None:
        return
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError("tinygrad_ls.distributed needs mpi4py and an MPI library (Open MPI or MPICH): "
                          "pip install 'tinygrad_ls[distributed]'") from error
    _MPI, _comm = MPI, MPI.COMM_WORLD


def is_initialized() -> bool:
    """Whether ``init()`` has run in this process."""
    return _comm is not None


def get_rank() -> int:
    """This process's number, 0 .. world size - 1 (0 before ``init()``)."""
    return 0 if _comm is None else _comm.Get_rank()


def get_world_size() -> int:
    """How many processes take part (1 before ``init()``)."""
    return 1 if _comm is None else _comm.Get_size()


def _check_array(array, caller: str) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{caller}: expected an ndarray (updated in place), got {type(array).__name__}; "
                        "for a Value pass its .data")
    if not array.flags.writeable:
        raise ValueError(f"{caller}: the array is read-only, it cannot be updated in place")
    return array


def all_reduce(array: np.ndarray, op: str = 'sum') -> np.ndarray:
    """Reduce ``array`` over every process, in place, and return it: afterwards every rank
    holds the elementwise ``op`` of all the ranks' arrays.

    ``op``: ``'sum'``, ``'mean'`` (PyTorch's ``ReduceOp.AVG``, also ``'avg'``; float arrays),
    ``'max'``, ``'min'``, ``'prod'`` (PyTorch's ReduceOp names, any case). A non-contiguous
    array is reduced through a contiguous copy written back."""
    _check_array(array, 'all_reduce')
    name = str(op).lower().removeprefix('reduceop.')
    name = 'mean' if name == 'avg' else name
    if name not in _OPS:
        raise ValueError(f"all_reduce: op must be one of {', '.join(_OPS)} (or 'avg'), got {op!r}")
    if name == 'mean' and array.dtype.kind not in 'fc':
        raise TypeError(f"all_reduce: op='mean' needs a float array, got dtype {array.dtype}")
    if _comm is None or _comm.Get_size() == 1:
        return array
    mpi_op = {'sum': _MPI.SUM, 'mean': _MPI.SUM, 'max': _MPI.MAX, 'min': _MPI.MIN, 'prod': _MPI.PROD}[name]
    buffer = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    _comm.Allreduce(_MPI.IN_PLACE, buffer, op=mpi_op)
    if name == 'mean':
        buffer /= _comm.Get_size()
    if buffer is not array:
        array[...] = buffer
    return array


def broadcast(array: np.ndarray, src: int = 0) -> np.ndarray:
    """Overwrite ``array`` on every rank with rank ``src``'s, in place, and return it (every
    rank must pass an array of the same shape and dtype)."""
    _check_array(array, 'broadcast')
    size = get_world_size()
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= src < size:
        raise ValueError(f"broadcast: src must be a rank in 0..{size - 1}, got {src!r}")
    if _comm is None or size == 1:
        return array
    buffer = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    _comm.Bcast(buffer, root=int(src))
    if buffer is not array:
        array[...] = buffer
    return array


def barrier() -> None:
    """Wait until every rank has reached this call (nothing before ``init()``)."""
    if _comm is not None:
        _comm.Barrier()


__all__ = ['init', 'is_initialized', 'get_rank', 'get_world_size', 'all_reduce', 'broadcast', 'barrier']
