"""The wrap-time check of ``DistributedDataParallel``: every rank must hold the same model.

Gradients are averaged by position in the buckets, so replicas whose parameters were
registered in another order (or with another size) would silently average unrelated numbers,
or fail deep in MPI with ``MPI_ERR_TRUNCATE`` naming nothing. At wrap time each rank describes
its model as lines — the wrapper's settings, then every parameter (name, shape, dtype,
frozen or not) and every buffer in registration order — and the ranks exchange a digest of
that text in the wrap's header (one Allgather of a few int64). Only if the digests differ
are the descriptions themselves gathered (two more collectives), so that every rank can name
the same first difference and raise the same error.
"""
from __future__ import annotations

import hashlib

import numpy as np

from . import comm, lockstep


def description(module, bucket_cap_mb: float, broadcast_buffers: bool) -> list[str]:
    """The lines every rank must agree on."""
    lines = [f"settings bucket_cap_mb={bucket_cap_mb!r}, broadcast_buffers={broadcast_buffers}"]
    for name, param in module.named_parameters():
        frozen = '' if param.requires_grad else ' (frozen)'
        lines.append(f"parameter {name!r} of shape {param.shape} and dtype {param.dtype}{frozen}")
    for name, array in module.named_buffers():
        lines.append(f"buffer {name!r} of shape {array.shape} and dtype {array.dtype}")
    return lines


def digest(lines: list[str]) -> tuple[int, int]:
    """Two int64 of the SHA-256 of the description."""
    raw = hashlib.sha256('\n'.join(lines).encode('utf-8')).digest()[:16]
    first, second = np.frombuffer(raw, dtype='<i8')
    return int(first), int(second)


def _gather_texts(text: str) -> list[str]:
    """Every rank's ``text`` (UTF-8 bytes through an Allgather of the lengths and an
    Allgatherv of the bytes: no pickle)."""
    mpi_comm = comm._comm
    data = np.frombuffer(text.encode('utf-8'), dtype=np.uint8)
    lengths = np.zeros(mpi_comm.Get_size(), dtype=np.int64)
    mpi_comm.Allgather(np.array([data.size], dtype=np.int64), lengths)
    received = np.zeros(int(lengths.sum()), dtype=np.uint8)
    mpi_comm.Allgatherv(data, (received, lengths.astype(int).tolist()))
    ends = np.cumsum(lengths)
    return [received[end - length:end].tobytes().decode('utf-8') for end, length in zip(ends, lengths)]


def first_difference(descriptions: list[list[str]]) -> str:
    """The first line where some rank's description differs from rank 0's, in words."""
    reference = descriptions[0]
    for rank, lines in enumerate(descriptions[1:], start=1):
        for position, (mine, theirs) in enumerate(zip(reference, lines)):
            if mine != theirs and position == 0:
                return f"rank 0 has the {mine} but rank {rank} has the {theirs}"
            if mine != theirs:
                return (f"at position {position - 1} of the parameters and buffers (in registration order) "
                        f"rank 0 has {mine} but rank {rank} has {theirs}")
        if len(lines) != len(reference):
            longer, rank_of_longer = (reference, 0) if len(reference) > len(lines) else (lines, rank)
            shorter = lines if longer is reference else reference
            return (f"rank 0 has {len(reference) - 1} parameters and buffers but rank {rank} has "
                    f"{len(lines) - 1}: the first one only rank {rank_of_longer} has is "
                    f"{longer[len(shorter)]}")
    return 'the descriptions are equal but their digests differ'  # (cannot happen)


def check(module, wrapper: int, bucket_cap_mb: float, broadcast_buffers: bool) -> None:
    """``lockstep.Mismatch`` on every rank unless all ranks build the same model."""
    lines = description(module, bucket_cap_mb, broadcast_buffers)
    first, second = digest(lines)
    table = comm.header(lockstep.WRAP, wrapper=wrapper, digest0=first, digest1=second)
    if table is None:
        return
    lockstep.agree(table, ('kind', 'wrapper'), 'DistributedDataParallel')
    if (table[:, [lockstep.F['digest0'], lockstep.F['digest1']]] == [first, second]).all():
        return
    texts = _gather_texts('\n'.join(lines))
    difference = first_difference([text.split('\n') for text in texts])
    raise lockstep.Mismatch(
        f"DistributedDataParallel: the replicas differ across ranks ({difference}). Gradients are averaged "
        "by position, so they would train apart: build the same model on every rank (the same names, "
        "shapes, dtypes, order and requires_grad of the parameters and buffers; the same settings)")


__all__ = ['check', 'description', 'digest', 'first_difference']
