"""Run under `mpirun -n 2 python ddp_fit.py OUT.json [--compile]`: fit with DDP and
DistributedSampler on both loaders; rank 0 writes the history and a parameter checksum of
each rank (they must agree)."""
import json
import sys

import numpy as np

import tinygrad_ls as tl
import tinygrad_ls.distributed as dist
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

dist.init()
rank = dist.get_rank()
tl.set_default_dtype(np.float64)
tl.manual_seed(rank)
rng = np.random.default_rng(0)
X = rng.standard_normal((40, 5))
y = (X[:, 0] > 0).astype(np.int64)
data = tl.data.TensorDataset(X, y)
train_sampler = dist.DistributedSampler(data, shuffle=True, seed=3)
val_sampler = dist.DistributedSampler(tl.data.TensorDataset(X[:15], y[:15]), shuffle=False)
model = dist.DistributedDataParallel(nn.MLP([5, 8, 2]))
optimizer = optim.Adam(model.parameters(), lr=0.05)
history = tl.train.fit(model, F.cross_entropy, optimizer,
                       tl.data.DataLoader(data, batch_size=4, sampler=train_sampler), epochs=3,
                       val_loader=tl.data.DataLoader(val_sampler.dataset, batch_size=4, sampler=val_sampler),
                       metrics={'accuracy': tl.metrics.accuracy}, progress=True,
                       compile='--compile' in sys.argv)
checksum = sum(float(np.sum(p.data)) for p in model.parameters())
largest = dist.all_reduce(np.array([checksum, -checksum]), op='max')  # max and -min over the ranks
if rank == 0:
    with open(sys.argv[1], 'w') as f:
        json.dump({'history': history.history, 'checksum_spread': float(largest[0] + largest[1]),
                   'epoch': train_sampler.epoch}, f)
