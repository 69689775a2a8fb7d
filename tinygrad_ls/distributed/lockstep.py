"""Keeping the ranks in step: a small header exchanged before every collective the library
makes, so that ranks doing different things get a clear error on every rank instead of a
hang or ``MPI_ERR_TRUNCATE`` naming nothing.

MPI matches collectives by order only: if rank 1 has run out of batches and calls
``all_reduce`` (for fit's epoch loss) while rank 0 starts another training step, their calls
pair up wrongly. So before each collective every rank contributes one ``HEADER``-long int64
record (what it is about to do) to one ``Allgather``; every rank then holds the same table,
makes the same decision (go on, or raise ``Mismatch`` naming each rank's call) and no rank is
left waiting. The kinds of record:

- ``STEP``: the forward of a ``DistributedDataParallel`` that will synchronise (buffers
  broadcast, gradients averaged in the backward that follows), with its wrapper, its count
  of such forwards and a layout hash of its gradient buckets;
- ``COLLECTIVE``: ``all_reduce``/``broadcast``/``barrier`` with the array's size, dtype and
  the op (or root);
- ``WRAP``: a ``DistributedDataParallel`` being built (with a digest of its parameters and
  buffers, compared in ddp.py);
- ``JOINED``: a rank that left ``ddp.join()`` (out of inputs) shadowing the others;
- ``EXIT``: a rank at the end of its script (registered with ``atexit`` by ``init()``).

The cost is one Allgather of a few int64 per collective (about the cost of the smallest
allreduce): microseconds next to a training step.
"""
from __future__ import annotations

import zlib

import numpy as np

STEP, COLLECTIVE, WRAP, JOINED, EXIT = 1, 2, 3, 4, 5
KIND_NAMES = {STEP: 'step', COLLECTIVE: 'collective', WRAP: 'wrap', JOINED: 'joined', EXIT: 'exit'}
# The fields of a record, in order.
FIELDS = ('kind', 'wrapper', 'count', 'flags', 'layout', 'size', 'dtype', 'op', 'digest0', 'digest1')
HEADER = len(FIELDS)
F = {name: i for i, name in enumerate(FIELDS)}

# flags of a STEP record
SYNC_BUFFERS, REDUCE, JOIN = 1, 2, 4

COLLECTIVE_OPS = ('sum', 'mean', 'max', 'min', 'prod')
BROADCAST, BARRIER = 100, 200  # op codes: all_reduce ops are their index, broadcast is 100 + root
_DTYPES = ('<f8', '<f4', '<f2', '<i8', '<i4', '<i2', '|i1', '<u8', '<u4', '<u2', '|u1', '|b1', '<c16', '<c8')

ADVICE = ("the ranks ran different numbers of training batches (uneven inputs), or called the model "
          "and the collectives in a different order. Give every rank the same number of batches "
          "(a DistributedSampler, drop_last=True) or wrap the training loop in `with ddp.join():`; to "
          "evaluate on one rank only, call ddp.module rather than the wrapper")


class Mismatch(RuntimeError):
    """The ranks were about to make collectives that do not match; raised on every rank."""


def dtype_code(dtype: np.dtype) -> int:
    text = np.dtype(dtype).str
    return _DTYPES.index(text) if text in _DTYPES else 1000 + zlib.crc32(text.encode()) % 10**6


def dtype_text(code: int) -> str:
    return str(np.dtype(_DTYPES[code])) if 0 <= code < len(_DTYPES) else f"dtype #{code}"


def record(kind: int, **fields) -> np.ndarray:
    row = np.zeros(HEADER, dtype=np.int64)
    row[F['kind']] = kind
    for name, value in fields.items():
        row[F[name]] = value
    return row


def exchange(comm, row: np.ndarray) -> np.ndarray:
    """Every rank's record: a (world, HEADER) int64 table, the same on every rank."""
    table = np.zeros((comm.Get_size(), HEADER), dtype=np.int64)
    comm.Allgather(row, table)
    return table


def describe(row: np.ndarray) -> str:
    """What a rank was doing, from its record."""
    kind = row[F['kind']]
    if kind == STEP:
        flags = row[F['flags']]
        what = 'a training forward' if flags & REDUCE else 'a forward that broadcasts buffers'
        inside = ' inside join()' if flags & JOIN else ''
        return (f"{what}{inside} of DistributedDataParallel #{row[F['wrapper']]} (its synchronising "
                f"forward number {row[F['count']]})")
    if kind == COLLECTIVE:
        op, size, dtype = row[F['op']], row[F['size']], dtype_text(row[F['dtype']])
        if op == BARRIER:
            return 'barrier()'
        if op >= BROADCAST:
            return f"broadcast(src={op - BROADCAST}) of {size} {dtype} elements"
        return f"all_reduce(op={COLLECTIVE_OPS[op]!r}) of {size} {dtype} elements"
    if kind == WRAP:
        return f"DistributedDataParallel(...) (wrapping model #{row[F['wrapper']]})"
    if kind == JOINED:
        return f"the end of `with ddp.join():` (out of inputs after {row[F['count']]} synchronising forwards)"
    if kind == EXIT:
        return f"the end of its script (after {row[F['count']]} synchronising forwards)"
    return f"an unknown record {row.tolist()}"


def mismatch(table: np.ndarray, where: str, advice: str = ADVICE) -> Mismatch:
    """The error for a table whose records do not match: each group of ranks and its call."""
    groups: dict[str, list[int]] = {}
    for rank, row in enumerate(table):
        groups.setdefault(describe(row), []).append(rank)
    calls = '; '.join(f"rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}: {what}"
                      for what, ranks in groups.items())
    return Mismatch(f"{where}: the ranks are out of step ({calls}): {advice}")


def agree(table: np.ndarray, fields: tuple, where: str, advice: str = ADVICE) -> None:
    """Mismatch unless every rank's record has the same ``fields``."""
    columns = [F[name] for name in fields]
    if (table[:, columns] != table[0, columns]).any():
        raise mismatch(table, where, advice)


__all__ = ['Mismatch', 'STEP', 'COLLECTIVE', 'WRAP', 'JOINED', 'EXIT', 'record', 'exchange', 'agree',
           'mismatch', 'describe']
