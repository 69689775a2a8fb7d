"""Run under `mpirun -n 2`: all_reduce (every op), broadcast and barrier; rank 0 prints JSON."""
import json

import numpy as np

import tinygrad_ls.distributed as dist

dist.init()
rank, world = dist.get_rank(), dist.get_world_size()
results = {'world': world, 'initialized': dist.is_initialized()}
base = np.array([1.0, 2.0, 3.0]) + 10 * rank  # rank 0: 1 2 3, rank 1: 11 12 13
for op in ('sum', 'mean', 'max', 'min', 'prod', 'AVG'):
    array = base.copy()
    returned = dist.all_reduce(array, op=op)
    results[op] = array.tolist()
    results[op + '_same_object'] = returned is array
ints = np.arange(4, dtype=np.int64) * (rank + 1)
results['int_sum'] = dist.all_reduce(ints).tolist()
strided = np.arange(8.0).reshape(2, 4)[:, ::2] * (rank + 1)  # not contiguous
dist.all_reduce(strided)
results['strided'] = strided.tolist()
message = np.full((2, 2), float(rank + 7))
dist.broadcast(message, src=1)
results['broadcast_from_1'] = message.tolist()
dist.barrier()
gathered = np.zeros(world)
gathered[rank] = 1.0
results['everyone'] = dist.all_reduce(gathered).tolist()
if rank == 0:
    print(json.dumps(results))
