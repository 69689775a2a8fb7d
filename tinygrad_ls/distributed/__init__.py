"""Data-parallel training over MPI (mpi4py): the process group, collectives on ndarrays,
``DistributedDataParallel`` and ``DistributedSampler``. Run with ``mpirun -n N python script.py``;
docs/distributed.md explains it.

    import tinygrad_ls.distributed as dist
    dist.init()
    model = dist.DistributedDataParallel(nn.MLP([64, 128, 10]))
    sampler = dist.DistributedSampler(dataset)
    loader = tl.data.DataLoader(dataset, batch_size=16, sampler=sampler)
    tl.train.fit(model, F.cross_entropy, optimizer, loader, epochs=10)

Ranks out of step (uneven batch counts without ``with ddp.join():``, models that differ, a
collective made by some ranks only) get a ``Mismatch`` (a RuntimeError) on every rank; an
uncaught exception on one rank ends the whole job (``init`` installs an aborting excepthook).
"""
from .comm import all_reduce, barrier, broadcast, get_rank, get_world_size, init, is_initialized
from .ddp import DistributedDataParallel
from .lockstep import Mismatch
from .sampler import DistributedSampler

__all__ = ['init', 'is_initialized', 'get_rank', 'get_world_size', 'all_reduce', 'broadcast', 'barrier',
           'DistributedDataParallel', 'DistributedSampler', 'Mismatch']
