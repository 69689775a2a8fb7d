"""The digits MLP trained data-parallel: ``DistributedSampler`` + ``DistributedDataParallel`` + ``fit``.

    mpirun -n 2 python demos/ddp_digits.py     # two processes (as root: --allow-run-as-root)
    python demos/ddp_digits.py                 # one process, for the comparison

The same split and model as ``mlp_digits.py``: an ``nn.MLP([64, 128, 64, 10])`` with Adam. Every
process holds a full replica; each epoch the ``DistributedSampler`` deals every process its
own share of the training images, each process takes ``batch_size / world_size`` images per
step, and ``DistributedDataParallel`` averages the gradients after ``backward()``, so the
update is that of one process on the global batch: the same accuracy, whatever the number of
processes. Rank 0 prints the world size, the time per epoch and the test accuracy.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import tinygrad_ls as tl
import tinygrad_ls.distributed as dist
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling demo, from anywhere
import mlp_digits  # noqa: E402

MPI_LAUNCHED = any(name in os.environ for name in ('OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'PMIX_RANK'))


def main(epochs: int = 20, hidden: tuple[int, ...] = (128, 64), lr: float = 3e-3, batch_size: int = 32,
         n_samples: int | None = None, seed: int = 0, show_progress: bool = True,
         use_mpi: bool = MPI_LAUNCHED) -> dict:
    """Train on every process of the group; returns ``{'world_size', 'test_accuracy', 'history',
    'seconds_per_epoch'}`` (the same on every rank). ``use_mpi``: join the MPI group (the
    default when started by mpirun); otherwise one process, world size 1."""
    if use_mpi:
        dist.init()
    rank, world = dist.get_rank(), dist.get_world_size()
    say = print if rank == 0 else (lambda *args, **kwargs: None)
    if world == 1:
        say("One process. For data parallelism run: mpirun -n 2 python demos/ddp_digits.py")
    else:
        say(f"World size {world}: {world} processes, each with a replica of the model")
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} must be a multiple of the world size {world}")

    splits = mlp_digits.load_splits(seed, n_samples)
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = splits['train'], splits['val'], splits['test']
    tl.manual_seed(seed)
    model = dist.DistributedDataParallel(nn.MLP([X_train.shape[1], *hidden, 10]))  # rank 0's weights
    n_parameters = sum(p.size for p in model.parameters())
    say(f"{len(X_train)} training images, {n_parameters:,} parameters; global batch {batch_size} = "
        f"{world} x {batch_size // world} per process")

    train_set, val_set = tl.data.TensorDataset(X_train, y_train), tl.data.TensorDataset(X_val, y_val)
    train_sampler = dist.DistributedSampler(train_set, shuffle=True, seed=seed)
    val_sampler = dist.DistributedSampler(val_set, shuffle=False)
    train_loader = tl.data.DataLoader(train_set, batch_size=batch_size // world, sampler=train_sampler)
    val_loader = tl.data.DataLoader(val_set, batch_size=256, sampler=val_sampler)
    optimizer = optim.Adam(model.parameters(), lr=lr)

    start = time.perf_counter()
    history = tl.train.fit(model, F.cross_entropy, optimizer, train_loader, epochs=epochs,
                           val_loader=val_loader, metrics={'accuracy': tl.metrics.accuracy},
                           progress=show_progress, compile=True)
    seconds_per_epoch = (time.perf_counter() - start) / max(history.epochs, 1)

    model.eval()
    with tl.no_grad():
        test_accuracy = tl.metrics.accuracy(model(tl.Value(X_test)), y_test)
    say(f"\n{'epoch':>5} {'train loss':>11} {'val loss':>9} {'val acc':>8}")
    for epoch, (loss, val_loss, val_acc) in enumerate(zip(history['loss'], history['val_loss'],
                                                          history['val_accuracy']), start=1):
        say(f"{epoch:>5} {loss:>11.4f} {val_loss:>9.4f} {val_acc:>8.3f}")
    say(f"\n{world} process{'es' if world > 1 else ''}: {seconds_per_epoch * 1000:.0f} ms per epoch")
    say(f"Test accuracy: {test_accuracy:.4f} ({round(test_accuracy * len(X_test))}/{len(X_test)} correct)")
    return dict(world_size=world, test_accuracy=test_accuracy, history=history.history,
                seconds_per_epoch=seconds_per_epoch)


if __name__ == '__main__':
    import blas_threads  # (demos/ is on the path of `python demos/NAME.py`)
    blas_threads.limit(say=False)  # one BLAS thread per rank (each rank is a process)
    main()
