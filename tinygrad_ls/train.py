"""``fit``: the standard mini-batch training loop, with validation, metrics and early stopping.

    history = tl.train.fit(model, F.cross_entropy, optim.Adam(model.parameters()), train_loader,
                           epochs=20, val_loader=val_loader, metrics={'accuracy': tl.metrics.accuracy},
                           patience=3)
    history.history['val_accuracy'][-1]
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .checks import is_int
from .mode import no_grad
from .optim.plateau import ReduceLROnPlateau
from .tracing import replayed
from .value import Value, data_of, to_numpy


def _comm():
    """The process group of ``tl.distributed`` (imported when ``fit`` runs, not with the package;
    a world of one process until ``tl.distributed.init()``)."""
    from .distributed import comm
    return comm


class History:
    """What ``fit`` recorded, one entry per completed epoch.

    - ``history``: dict of lists — ``'loss'`` (the mean training loss of the epoch), and with
      a validation loader ``'val_loss'`` and ``'val_<name>'`` for each metric.
    - ``epochs``: the number of epochs run (less than asked for when stopped early).
    - ``stop_reason``: ``None`` (ran every epoch), ``'target_loss'`` or ``'patience'``.
    - ``history['loss']`` is short for ``history.history['loss']``.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self.history: dict[str, list[float]] = {key: [] for key in keys}
        self.epochs = 0
        self.stop_reason: str | None = None

    def _record(self, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            self.history[key].append(value)
        self.epochs += 1

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __repr__(self) -> str:
        last = ', '.join(f"{key}={values[-1]:.4g}" for key, values in self.history.items() if values)
        stop = f", stopped by {self.stop_reason}" if self.stop_reason else ''
        return f"History(epochs={self.epochs}{stop}{', ' if last else ''}{last})"


def _split_batch(batch: Any) -> tuple[tuple, Any]:
    """``(x, y)`` -> ``((x,), y)``; ``(x1, x2, y)`` -> ``((x1, x2), y)``: the model gets all but the last."""
    if not isinstance(batch, (tuple, list)):
        raise ValueError(f"fit: each batch must be a tuple (inputs..., targets), got {type(batch).__name__}")
    if len(batch) < 2:
        raise ValueError(f"fit: each batch must be a tuple (inputs..., targets), got {len(batch)} item(s)")
    return tuple(batch[:-1]), batch[-1]


def _batch_size(inputs: tuple) -> int:
    first = inputs[0]
    shape = first.shape if isinstance(first, (Value, np.ndarray)) else np.shape(first)
    return shape[0] if shape else 1


def _loss_value(loss: Any) -> float:
    if isinstance(loss, Value):
        if loss.size != 1:
            raise ValueError(f"fit: loss_fn must return a single number (use reduction='mean'), "
                             f"got shape {loss.shape}")
        return float(loss.data.reshape(()))
    return float(loss)


def _learning_rate(optimizer) -> float:
    """The learning rate of the optimizer's first parameter group (nan if it has none)."""
    groups = getattr(optimizer, 'param_groups', None)
    return float(groups[0]['lr']) if groups else math.nan


def _float_array(item: Any) -> np.ndarray | None:
    """A batch item's or an output's data as a float array; None for anything else."""
    try:
        array = np.asarray(data_of(item))
    except (TypeError, ValueError):  # an output that is not array-like (a dict, a ragged tuple)
        return None
    return array if array.dtype.kind in 'fc' else None


def _non_finite_count(item: Any) -> int:
    """How many values of a batch item or output are NaN or infinite (0 for non-float data)."""
    array = _float_array(item)
    return 0 if array is None else int(array.size - np.count_nonzero(np.isfinite(array)))


def _non_finite_sources(model, inputs: tuple, targets: Any, output: Any) -> list[str]:
    """What in a batch whose loss is not finite is itself not finite: the inputs, the targets,
    the model's output, the parameters. Runs only once training has to stop."""
    found = []
    parts = [(f"inputs[{i}]", x) for i, x in enumerate(inputs)] + [('the targets', targets),
                                                                     ("the model's output", output)]
    for name, item in parts:
        count = _non_finite_count(item)
        if count:
            found.append(f"{count} NaN or infinite value{'s' if count > 1 else ''} in {name}")
    named = model.named_parameters() if hasattr(model, 'named_parameters') else ()
    broken = [name for name, p in named if _non_finite_count(p)]
    if broken:
        found.append(f"the parameters {broken} are already not finite: an earlier step overflowed "
                     "(lower the learning rate)")
    return found


def _stop(epoch: int, index: int, what: str, found: list[str], output: Any) -> RuntimeError:
    """The error that stops fit at a batch whose loss is not finite or cannot be computed."""
    cause = '; '.join(found)
    if not found:
        array = _float_array(output)
        size = f" (up to {np.abs(array).max():.3g} in size)" if array is not None and array.size else ''
        cause = (f"the batch, the model's output{size} and the parameters are finite, so loss_fn made it "
                 "(an overflow, or a log of 0)")
    return RuntimeError(f"fit: the training loss of batch {index} {what}; stopped in epoch {epoch} (both "
                        "counted from 0) before backward() and step(), so the parameters and the optimizer "
                        f"state are those of the previous step. Cause: {cause} (tl.detect_anomaly() names "
                        "the op that makes a NaN)")


def _run_epoch(model, loss_fn: Callable, optimizer, loader: Iterable, epoch: int, step=None) -> float:
    """One pass of training; the mean loss per sample (each batch's loss weighted by its size).

    A batch whose loss is not finite, or whose loss cannot be computed because something is
    not finite (a loss that refuses NaN), stops training with a RuntimeError before its
    backward() and step(). Only the scalar loss is checked on every batch; the batch, the
    output and the parameters are looked at only then, to name the cause. ``step``: the
    compiled training step (``fit(compile=True)``), else each batch runs eagerly."""
    model.train()
    total, count = 0.0, 0
    for index, batch in enumerate(loader):
        inputs, targets = _split_batch(batch)
        output = None
        try:
            if step is not None:
                loss = step(*inputs, targets)
            else:
                optimizer.zero_grad()
                output = model(*inputs)
                loss = loss_fn(output, targets)
                _check_loss(loss, output)
                loss.backward()
                optimizer.step()
        except (ValueError, ArithmeticError) as error:
            if isinstance(error, _LossNotFinite):
                output = error.output
                found = _non_finite_sources(model, inputs, targets, output)
                raise _stop(epoch, index, f"is {error.value}", found, output) from None
            found = _non_finite_sources(model, inputs, targets, output if output is not None else np.zeros(0))
            if not found:
                raise
            what = f"cannot be computed (loss_fn raised {type(error).__name__})"
            raise _stop(epoch, index, what, found, output) from error
        n = _batch_size(inputs)
        total += _loss_value(loss) * n
        count += n
    total, count = _sum_over_ranks([total, count])
    if count == 0:
        raise ValueError("fit: the training loader yielded no batches")
    return total / count


def _sum_over_ranks(numbers: list[float]) -> list[float]:
    """``numbers`` summed over the processes of ``tl.distributed`` (as they are in one process):
    the training and validation means are weighted by every rank's sample count."""
    if _comm().get_world_size() == 1:
        return numbers
    return _comm().all_reduce(np.array(numbers, dtype=np.float64), op='sum').tolist()


class _LossNotFinite(ArithmeticError):
    def __init__(self, value: float, output) -> None:
        super().__init__(f"the loss is {value}")
        self.value, self.output = value, output


@replayed
def _check_loss(loss, output) -> None:
    """Refuse a loss that is not a single finite number, before backward() and step() (a step
    on it would make every parameter nan, silently). Replayed at every step of a compiled fit."""
    value = _loss_value(loss)
    if not math.isfinite(value):
        raise _LossNotFinite(value, output)


def _compiled_step(model, loss_fn: Callable, optimizer):
    """``fit``'s batch step, compiled: the same calls in the same order as the eager loop."""
    def train_step(*batch):
        optimizer.zero_grad()
        output = model(*batch[:-1])
        loss = loss_fn(output, batch[-1])
        _check_loss(loss, output)
        loss.backward()
        optimizer.step()
        return loss
    from .compiler import compile as compile_step  # imported when used: tl.compile is optional
    return compile_step(train_step)


def _evaluate(model, loss_fn: Callable, loader: Iterable, metrics: dict[str, Callable]) -> dict[str, float]:
    """Validation loss (batch-size weighted mean) and metrics (on all outputs concatenated)."""
    model.eval()
    total, count = 0.0, 0
    outputs, targets = [], []
    with no_grad():
        for batch in loader:
            inputs, target = _split_batch(batch)
            output = model(*inputs)
            n = _batch_size(inputs)
            total += _loss_value(loss_fn(output, target)) * n
            count += n
            if metrics:
                outputs.append(to_numpy(output))
                targets.append(to_numpy(target))
        local = {}
        if metrics and count:
            all_outputs = Value(np.concatenate(outputs, axis=0))
            all_targets = Value(np.concatenate(targets, axis=0))
            local = {name: float(metric(all_outputs, all_targets)) for name, metric in metrics.items()}
        # With tl.distributed each rank has its share: sums weighted by sample counts, over the ranks.
        sums = _sum_over_ranks([total, count] + [local.get(name, 0.0) * count for name in metrics])
        total, count = sums[0], sums[1]
        if count == 0:
            raise ValueError("fit: the validation loader yielded no batches")
        logs = {'val_loss': total / count}
        for name, weighted in zip(metrics, sums[2:]):
            logs[f"val_{name}"] = local[name] if _comm().get_world_size() == 1 else weighted / count
    return logs


def fit(model, loss_fn: Callable, optimizer, train_loader: Iterable, epochs: int = 1,
        val_loader: Iterable | None = None, metrics: dict[str, Callable] | None = None,
        scheduler=None, target_loss: float | None = None, patience: int | None = None,
        min_delta: float = 0.0, progress: bool = True, compile: bool = False) -> History:
    """Train ``model`` for up to ``epochs`` epochs; return a ``History``.

    Each epoch: ``model.train()``; for each batch ``(x, y)`` of ``train_loader`` (or
    ``(x1, ..., y)``: the model gets every item but the last): ``optimizer.zero_grad()``,
    ``loss = loss_fn(model(x), y)``, ``loss.backward()``, ``optimizer.step()``. The epoch's
    ``'loss'`` is the mean of the batch losses weighted by batch size (the mean loss per
    sample for a ``reduction='mean'`` loss); ``'lr'`` is the learning rate of the first
    parameter group during the epoch.

    With ``val_loader``: ``model.eval()`` and ``tl.no_grad()``; ``'val_loss'`` is the
    batch-size-weighted mean of ``loss_fn`` over the batches, and each metric of ``metrics``
    (a dict name -> ``fn(outputs, targets) -> float``, e.g. ``{'accuracy': tl.metrics.accuracy}``)
    is computed once on the outputs and targets of the whole validation set, concatenated
    along the first axis and passed as Values; it is recorded as ``'val_<name>'``.

    Then ``scheduler.step()`` once per epoch (a ``ReduceLROnPlateau`` gets
    ``step(val_loss)``, or ``step(loss)`` without a validation loader), and the stopping rules:

    - ``target_loss``: stop once the epoch's training loss is ``<= target_loss``;
    - ``patience`` (needs ``val_loader``): stop once ``val_loss`` has gone ``patience``
      epochs without improving on the best so far by more than ``min_delta``.

    A training loss that is not finite (nan or inf), or a loss that ``loss_fn`` refuses to
    compute because its input is not finite (NaN in the batch, a model output that
    overflowed), stops training with one RuntimeError naming the epoch and the batch index
    (both from 0) and what is not finite, before that batch's ``backward()`` and ``step()``:
    the parameters and the optimizer state are as the previous step left them. (Buffers a
    forward pass updates, such as BatchNorm's running statistics, are not restored.)

    With ``tl.distributed`` (a ``DistributedDataParallel`` model and loaders with a
    ``DistributedSampler``, under ``mpirun``): ``sampler.set_epoch(epoch)`` is called before
    each epoch when the training loader has a sampler with ``set_epoch``; the training loss,
    the validation loss and each metric are the means over all ranks' samples (each rank's
    value weighted by its sample count; exact for per-sample means such as accuracy); only
    rank 0 shows the progress bar. Every rank returns the same History.

    ``progress``: a tqdm bar over epochs with the latest loss and validation values.
    ``compile``: run the training step through ``tl.compile`` (recorded at the first batch of
    each shape, replayed after: the same numbers, faster; docs/compile.md).
    The model is left in the train/eval mode it had before the call.
    """
    for name, loader in (('train_loader', train_loader), ('val_loader', val_loader)):
        # Checked without calling iter(), which would draw a DataLoader's shuffling permutation.
        iterable = hasattr(loader, '__iter__') or hasattr(loader, '__getitem__')
        if not iterable and (loader is not None or name == 'train_loader'):
            raise TypeError(f"fit: {name} must be an iterable of batches (e.g. a DataLoader), "
                            f"got {type(loader).__name__}")
    if not is_int(epochs) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if patience is not None:
        if val_loader is None:
            raise ValueError("fit: patience (early stopping on the validation loss) needs a val_loader")
        if not is_int(patience) or patience < 1:
            raise ValueError(f"fit: patience must be an int >= 1, got {patience!r}")
    if not min_delta >= 0:
        raise ValueError(f"fit: min_delta must be >= 0, got {min_delta!r}")
    metrics = dict(metrics or {})
    if metrics and val_loader is None:
        raise ValueError("fit: metrics are computed on the validation set and need a val_loader")

    keys = ['loss', 'lr']
    if val_loader is not None:
        keys += ['val_loss'] + [f"val_{name}" for name in metrics]
    history = History(keys)
    best_val, epochs_without_improvement = math.inf, 0
    was_training = getattr(model, 'training', True)
    step = _compiled_step(model, loss_fn, optimizer) if compile else None
    show = progress and _comm().get_rank() == 0  # with tl.distributed only rank 0 draws the bar
    from tqdm import tqdm  # imported when used: `import tinygrad_ls` stays light
    bar = tqdm(range(int(epochs)), desc='fit', unit='epoch', disable=not show, leave=True)
    sampler = getattr(train_loader, 'sampler', None)
    try:
        for epoch in bar:
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(epoch)
            logs = {'loss': _run_epoch(model, loss_fn, optimizer, train_loader, epoch, step),
                    'lr': _learning_rate(optimizer)}
            if val_loader is not None:
                logs.update(_evaluate(model, loss_fn, val_loader, metrics))
            history._record(logs)
            bar.set_postfix(logs, refresh=False)
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(logs['val_loss'] if val_loader is not None else logs['loss'])
            elif scheduler is not None:
                scheduler.step()
            if target_loss is not None and logs['loss'] <= target_loss:
                history.stop_reason = 'target_loss'
                break
            if patience is not None:
                if logs['val_loss'] < best_val - min_delta:
                    best_val, epochs_without_improvement = logs['val_loss'], 0
                else:
                    epochs_without_improvement += 1
                    if epochs_without_improvement >= patience:
                        history.stop_reason = 'patience'
                        break
    finally:
        bar.close()
        model.train(was_training)
    return history


__all__ = ['fit', 'History']
