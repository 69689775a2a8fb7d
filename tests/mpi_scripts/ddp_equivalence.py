"""Run under `mpirun -n 2 python ddp_equivalence.py OUT.npz`: 5 SGD steps of a float64 MLP with
DistributedDataParallel, each rank on one half of every batch; rank 0 saves the parameters
and the number of bucket Allreduces. The test trains one process on the whole batches."""
import sys

import numpy as np

import tinygrad_ls as tl
import tinygrad_ls.distributed as dist
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

STEPS, BATCH = 5, 16


def make_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((STEPS * BATCH, 6))
    y = rng.integers(0, 3, STEPS * BATCH)
    return X, y


def make_model(seed: int):
    tl.set_default_dtype(np.float64)
    tl.manual_seed(seed)
    model = nn.MLP([6, 32, 16, 3])
    model.layers[0].bias.requires_grad_(False)  # a frozen parameter: no gradient, no deadlock
    return model


def main(path: str) -> None:
    dist.init()
    rank, world = dist.get_rank(), dist.get_world_size()
    model = make_model(seed=rank)  # different on each rank: the wrap broadcasts rank 0's
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.002)  # ~2 KB: several buckets
    optimizer = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    X, y = make_data()
    half = BATCH // world
    for step in range(STEPS):
        xb = X[step * BATCH:(step + 1) * BATCH][rank * half:(rank + 1) * half]
        yb = y[step * BATCH:(step + 1) * BATCH][rank * half:(rank + 1) * half]
        optimizer.zero_grad()
        F.cross_entropy(ddp(tl.Value(xb)), yb).backward()
        optimizer.step()
    if rank == 0:
        arrays = {f"param_{name}": p.data for name, p in model.named_parameters()}
        np.savez(path, reductions=ddp.reductions, buckets=len(ddp.buckets), world=world, **arrays)


if __name__ == '__main__':
    main(sys.argv[1])
