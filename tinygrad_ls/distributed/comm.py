"""The process group: MPI's ``COMM_WORLD`` through mpi4py, and the collectives on ndarrays.

    import tinygrad_ls.distributed as dist
    dist.init()                       # under `mpirun -n 2`: rank 0 and 1 of 2
    grads = np.ones(3)
    dist.all_reduce(grads, op='mean') # in place, the same numbers on every rank

Before ``init()`` (or in a plain ``python script.py``) the world is one process: rank 0,
world size 1, and every collective returns its array untouched, so single-process code runs
unchanged. mpi4py is imported only by ``init()``.

Nothing hangs silently: with more than one process, ``init()`` installs an excepthook that
prints an uncaught exception's traceback and then ends the whole job with
``MPI.COMM_WORLD.Abort(1)`` (as ``python -m mpi4py`` does), and every collective is preceded
by a small header exchange (``lockstep.py``) that turns collectives which do not match across
the ranks into a ``lockstep.Mismatch`` on every rank; the end of the script is one more such
exchange (``atexit``), so a rank that finishes early is reported rather than waited for.
"""
from __future__ import annotations

import atexit
import sys
import time

import numpy as np

from ..checks import is_int
from . import lockstep

_comm = None  # mpi4py's COMM_WORLD once init() has run
_MPI = None   # the mpi4py.MPI module once init() has run
_state = {'steps': 0, 'wrappers': 0}  # synchronising DDP forwards, DistributedDataParallel objects made

_OPS = lockstep.COLLECTIVE_OPS
ABORT_GRACE = 0.5  # seconds the excepthook waits before Abort, so other ranks can print their errors too


def init() -> None:
    """Join the process group (MPI's ``COMM_WORLD``); calling it again does nothing.

    With more than one process this also installs the excepthook that aborts the job on an
    uncaught exception (printing its traceback first) and the ``atexit`` check that every
    rank reaches the end of its script in step with the others.

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
    if _comm.Get_size() > 1:
        sys.excepthook = _aborting_excepthook(sys.excepthook)
        atexit.register(_check_exit)


def _aborting_excepthook(previous):
    """An excepthook that prints the traceback (through ``previous``), waits ``ABORT_GRACE``
    seconds and aborts every process of the job: without it the other ranks would wait in
    their next collective for ever."""
    def hook(kind, value, trace):
        try:
            sys.stderr.write(f"tinygrad_ls.distributed: uncaught {kind.__name__} on rank {get_rank()} of "
                             f"{get_world_size()}; aborting the job\n")
            previous(kind, value, trace)
            sys.stderr.flush()
            sys.stdout.flush()
            time.sleep(ABORT_GRACE)
        finally:
            _comm.Abort(1)
    hook.previous = previous
    return hook


def _check_exit() -> None:
    """At the end of the script: every rank must be at its end too. A rank still training
    (it had more batches) or in a collective gets a ``Mismatch``; this rank prints the same
    error and aborts the job (an exit handler cannot raise into the program)."""
    if _comm is None or _MPI.Is_finalized():
        return
    table = lockstep.exchange(_comm, lockstep.record(lockstep.EXIT, count=_state['steps']))
    try:
        lockstep.agree(table, ('kind',), f"rank {get_rank()} at the end of its script")
    except lockstep.Mismatch as error:
        sys.stderr.write(f"tinygrad_ls.distributed: Mismatch: {error}\n(aborting the job)\n")
        sys.stderr.flush()
        time.sleep(ABORT_GRACE)
        _comm.Abort(1)


def header(kind: int, **fields) -> np.ndarray | None:
    """Exchange this rank's record (``lockstep.record``) with every rank: the (world, HEADER)
    table, or None in a world of one process."""
    if _comm is None or _comm.Get_size() == 1:
        return None
    return lockstep.exchange(_comm, lockstep.record(kind, **fields))


def _collective_header(where: str, array: np.ndarray, op: int) -> None:
    table = header(lockstep.COLLECTIVE, size=array.size, dtype=lockstep.dtype_code(array.dtype), op=op)
    if table is not None:
        same_kind = (table[:, lockstep.F['kind']] == lockstep.COLLECTIVE).all()
        lockstep.agree(table, ('kind', 'size', 'dtype', 'op'), where,
                       "every rank must pass an array of the same size and dtype, with the same op and src"
                       if same_kind else lockstep.ADVICE)


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
    _collective_header('all_reduce', array, _OPS.index(name))
    return all_reduce_raw(array, name)


def all_reduce_raw(array: np.ndarray, name: str = 'sum') -> np.ndarray:
    """``all_reduce`` without its header or checks: for collectives a header already covers
    (the gradient buckets of DistributedDataParallel)."""
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
    if not is_int(src) or not 0 <= src < size:
        raise ValueError(f"broadcast: src must be a rank in 0..{size - 1}, got {src!r}")
    if _comm is None or size == 1:
        return array
    _collective_header('broadcast', array, lockstep.BROADCAST + int(src))
    return broadcast_raw(array, int(src))


def broadcast_raw(array: np.ndarray, src: int = 0) -> np.ndarray:
    """``broadcast`` without its header or checks (for DistributedDataParallel's buffers and
    parameters, whose header is the step's or the wrap's)."""
    if _comm is None or _comm.Get_size() == 1:
        return array
    buffer = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    _comm.Bcast(buffer, root=int(src))
    if buffer is not array:
        array[...] = buffer
    return array


def barrier() -> None:
    """Wait until every rank has reached this call (nothing before ``init()``)."""
    if _comm is not None and _comm.Get_size() > 1:
        _collective_header('barrier', np.zeros(0), lockstep.BARRIER)
        _comm.Barrier()


__all__ = ['init', 'is_initialized', 'get_rank', 'get_world_size', 'all_reduce', 'broadcast', 'barrier']
