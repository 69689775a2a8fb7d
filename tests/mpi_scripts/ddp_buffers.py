"""Run under `mpirun -n N python ddp_buffers.py OUT_DIR MODE`: BatchNorm running statistics
under DistributedDataParallel. MODE: 'eager' or 'compiled' (broadcast_buffers=True), or
'off' (broadcast_buffers=False). Rank r trains a BatchNorm1d(4) -> Linear(4, 3) model on its
own batches (shifted by 3 r, so the ranks' statistics differ) and saves the running mean and
variance after every step, and the outputs of one no-grad forward after training, to
OUT_DIR/rank<r>.npz. The test checks them against the BatchNorm update rule."""
import sys

import numpy as np

import tinygrad_ls as tl
import tinygrad_ls.distributed as dist
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

STEPS, BATCH, MOMENTUM = 6, 8, 0.1


def batch(rank: int, step: int):
    rng = np.random.default_rng(100 * rank + step)
    return rng.standard_normal((BATCH, 4)) + 3.0 * rank, rng.integers(0, 3, BATCH)


def main(out_dir: str, mode: str) -> None:
    dist.init()
    rank = dist.get_rank()
    tl.set_default_dtype(np.float64)
    tl.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(4, momentum=MOMENTUM), nn.Linear(4, 3))
    ddp = dist.DistributedDataParallel(model, broadcast_buffers=mode != 'off')
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(ddp(tl.Value(x)), y)
        loss.backward()
        optimizer.step()
        return loss

    run = tl.compile(step) if mode == 'compiled' else step
    means, variances = [], []
    for k in range(STEPS):
        run(*batch(rank, k))
        means.append(model[0].running_mean.copy())
        variances.append(model[0].running_var.copy())
    ddp.eval()
    with tl.no_grad():
        evaluated = ddp(tl.Value(batch(0, 99)[0])).data  # the same input on every rank
    after_eval = model[0].running_mean.copy()
    np.savez(f"{out_dir}/rank{rank}.npz", means=np.array(means), variances=np.array(variances),
             evaluated=evaluated, after_eval=after_eval,
             recordings=getattr(run, 'recordings', 0))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
