"""``DistributedSampler``: each rank's share of a dataset's indices, PyTorch's arithmetic."""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..checks import is_int
from .comm import get_rank, get_world_size


class DistributedSampler:
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` iterates over
    (``torch.utils.data.DistributedSampler``'s rules): pass it as ``DataLoader(...,
    sampler=...)``.

    - ``shuffle``: the order is ``np.random.default_rng(seed + epoch).permutation(N)``, the
      same on every rank (so the shares are disjoint); call ``set_epoch(epoch)`` before each
      epoch for a new order (``fit`` does). The permutation differs from torch's generator.
    - Without ``drop_last`` the order is padded by repeating its first indices up to a
      multiple of ``num_replicas``: each rank gets ``ceil(N / num_replicas)`` indices. With
      ``drop_last`` the tail is dropped instead: ``ceil((N - num_replicas) / num_replicas)``
      each when N is not a multiple.
    - Rank ``r`` takes every ``num_replicas``-th index from position ``r``.

    ``num_replicas``/``rank`` default to the process group's world size and rank.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        num_replicas = get_world_size() if num_replicas is None else num_replicas
        rank = get_rank() if rank is None else rank
        if (not is_int(num_replicas)
                or num_replicas < 1):
            raise ValueError(f"DistributedSampler: num_replicas must be an int >= 1, got {num_replicas!r}")
        if not is_int(rank) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation the next iteration uses (with ``shuffle``)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        indices = (np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle
                   else np.arange(n))
        if not self.drop_last:
            padding = self.total_size - n
            if padding > 0:
                indices = np.concatenate([indices, np.resize(indices, padding)])  # repeats from the start
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"DistributedSampler(num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")


__all__ = ['DistributedSampler']
