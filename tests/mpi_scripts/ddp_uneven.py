"""Run under `mpirun -n N python ddp_uneven.py OUT_DIR MODE`: rank r has 3 + r batches.

MODE 'loop': a plain training loop, then an all_reduce of the summed loss (the ranks are
out of step: each catches the error and writes it to OUT_DIR/rank<r>.txt). 'loop-exit': the
same loop and then the end of the script (the early rank's exit check ends the job). 'fit':
tl.train.fit over loaders of unequal lengths (each rank writes its error). 'join',
'join-active', 'join-throw': the loop inside `with ddp.join(...)` with
divide_by_initial_world_size True / False, or throw_on_early_termination; each rank writes
its parameters and buffers (or its error) to OUT_DIR/rank<r>.npz / .txt."""
import sys

import numpy as np

import tinygrad_ls as tl
import tinygrad_ls.distributed as dist
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

BATCH = 4


def batches(rank: int):
    rng = np.random.default_rng(rank)
    return [(rng.standard_normal((BATCH, 3)), rng.integers(0, 2, BATCH)) for _ in range(3 + rank)]


def make_model():
    tl.set_default_dtype(np.float64)
    tl.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))


def train(ddp, optimizer, data):
    total = 0.0
    for x, y in data:
        optimizer.zero_grad()
        loss = F.cross_entropy(ddp(tl.Value(x)), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total


def main(out_dir: str, mode: str) -> None:
    dist.init()
    rank = dist.get_rank()
    model = make_model()
    ddp = dist.DistributedDataParallel(model)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    data = batches(rank)
    out = f"{out_dir}/rank{rank}"
    try:
        if mode == 'loop':
            dist.all_reduce(np.array([train(ddp, optimizer, data)]))
        elif mode == 'loop-exit':
            train(ddp, optimizer, data)
            with open(out + '.txt', 'w') as f:
                f.write('finished the loop')
            return  # the end of the script: the exit check
        elif mode == 'fit':
            dataset = tl.data.TensorDataset(*map(np.concatenate, zip(*data)))
            loader = tl.data.DataLoader(dataset, batch_size=BATCH)
            tl.train.fit(ddp, F.cross_entropy, optimizer, loader, epochs=2, progress=False)
        else:
            options = {'join': {}, 'join-active': {'divide_by_initial_world_size': False},
                       'join-throw': {'throw_on_early_termination': True}}[mode]
            with ddp.join(**options):
                train(ddp, optimizer, data)
            np.savez(out + '.npz', **{k: v for k, v in model.state_dict().items()})
            return
        message = 'no error'
    except RuntimeError as error:
        message = f"{type(error).__name__}: {error}"
    with open(out + '.txt', 'w') as f:
        f.write(message)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
