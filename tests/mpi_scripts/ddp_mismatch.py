"""Run under `mpirun -n N python ddp_mismatch.py OUT_DIR`: for each CASE of CASES the last rank
builds a model that differs from the others' ('order', 'hidden', 'dtype', 'buffer', 'frozen',
'extra') or passes another array to all_reduce ('allreduce-size'). Every rank catches the
error it gets and writes its message to OUT_DIR/<CASE>.rank<r>.txt, and goes on with the next
case (the ranks stay in step); then the script ends normally."""
import sys

import numpy as np

import tinygrad_ls.distributed as dist
from tinygrad_ls import nn


class TwoLayers(nn.Module):
    def __init__(self, hidden=8, swap=False, dtype=np.float64):
        super().__init__()
        if swap:  # the same layers, registered in the other order
            self.second = nn.Linear(hidden, 2, dtype=dtype)
            self.first = nn.Linear(3, hidden, dtype=dtype)
        else:
            self.first = nn.Linear(3, hidden, dtype=dtype)
            self.second = nn.Linear(hidden, 2, dtype=dtype)

    def forward(self, x):
        return self.second(self.first(x).relu())


def build(case: str, odd: bool):
    if case == 'order':
        return TwoLayers(swap=odd)
    if case == 'hidden':
        return TwoLayers(hidden=16 if odd else 8)
    if case == 'dtype':
        return TwoLayers(dtype=np.float32 if odd else np.float64)
    if case == 'buffer':
        model = TwoLayers()
        model.norm = nn.BatchNorm1d(5 if odd else 3)
        return model
    if case == 'frozen':
        model = TwoLayers()
        model.first.bias.requires_grad_(not odd)
        return model
    if case == 'extra':
        model = TwoLayers()
        if odd:
            model.third = nn.Linear(2, 2)
        return model
    return TwoLayers()


CASES = ('order', 'hidden', 'dtype', 'buffer', 'frozen', 'extra', 'allreduce-size', 'same')


def main(out_dir: str) -> None:
    dist.init()
    rank, world = dist.get_rank(), dist.get_world_size()
    odd = rank == world - 1
    for case in CASES:
        message = 'no error'
        try:
            if case == 'allreduce-size':
                dist.all_reduce(np.ones(4 if odd else 3))
            else:
                dist.DistributedDataParallel(build(case, odd and case != 'same'))
        except RuntimeError as error:
            message = f"{type(error).__name__}: {error}"
        with open(f"{out_dir}/{case}.rank{rank}.txt", 'w') as f:
            f.write(message)


if __name__ == '__main__':
    main(sys.argv[1])
