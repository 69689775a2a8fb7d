"""Run under `mpirun -n N python ddp_raise.py`: the last rank raises ZeroDivisionError in its
third training step while the others go on training; the uncaught exception must end the
whole job (the excepthook of dist.init aborts it) with that rank's traceback."""
import numpy as np

import tinygrad_ls as tl
import tinygrad_ls.distributed as dist
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

dist.init()
rank, world = dist.get_rank(), dist.get_world_size()
tl.manual_seed(0)
ddp = dist.DistributedDataParallel(nn.MLP([3, 8, 2]))
optimizer = optim.SGD(ddp.parameters(), lr=0.1)
rng = np.random.default_rng(rank)
for step in range(1000):
    optimizer.zero_grad()
    x = tl.Value(rng.standard_normal((4, 3)).astype(np.float32))
    F.cross_entropy(ddp(x), np.arange(4) % 2).backward()
    optimizer.step()
    if rank == world - 1 and step == 2:
        print(1 / 0)  # the failing line
