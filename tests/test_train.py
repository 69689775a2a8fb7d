"""tl.train.fit: the loop's order of calls, History, validation and metrics, the scheduler,
early stopping, the progress bar; and real training checked against tl.least_squares."""
import math
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import data, metrics, nn, optim, train
from tinygrad_ls.linalg import least_squares
from tinygrad_ls.serialization import load, save

# ---- small stand-ins that record what fit does ----------------------------------------------------


class ScaleModel:
    """``x -> w * x`` with one scalar parameter; logs every call with the mode it ran in."""

    def __init__(self, log=None, w=1.0):
        self.w = leaf(w, np.float32)
        self.training = True
        self.log = log if log is not None else []

    def parameters(self):
        return [self.w]

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, x):
        self.log.append(('forward', self.training, tl.is_grad_enabled(), x.shape[0]))
        return x * self.w


class RecordingSGD:
    """Plain gradient descent that logs zero_grad and step."""

    def __init__(self, params, lr, log=None):
        self.param_groups = [{'params': list(params), 'lr': lr}]
        self.log = log if log is not None else []

    def zero_grad(self):
        self.log.append(('zero_grad',))
        for p in self.param_groups[0]['params']:
            p.grad = None

    def step(self):
        self.log.append(('step',))
        for p in self.param_groups[0]['params']:
            if p.grad is not None:
                p.data -= self.param_groups[0]['lr'] * p.grad


class CountingScheduler:
    def __init__(self):
        self.steps = 0

    def step(self):
        self.steps += 1


def mse(output, target):
    diff = output - target
    return (diff * diff).mean()


class ScriptedLoss:
    """Returns the next scripted training loss (grad mode on) or validation loss (grad mode
    off) plus 0 * the output, so backward works; one batch per epoch in each loader."""

    def __init__(self, train_losses, val_losses=()):
        self.train_losses, self.val_losses = list(train_losses), list(val_losses)

    def __call__(self, output, target):
        values = self.train_losses if tl.is_grad_enabled() else self.val_losses
        return (output * 0.0).sum() + values.pop(0)


def _regression_data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1)).astype(np.float32)
    return x, (3.0 * x).astype(np.float32)


def _loader(x, y, batch_size):
    return data.DataLoader(data.TensorDataset(x, y), batch_size=batch_size)


def _scripted_fit(train_losses, val_losses=None, **kwargs):
    x, y = _regression_data(4)
    loader = _loader(x, y, 4)
    model = ScaleModel()
    loss = ScriptedLoss(train_losses, val_losses or [])
    val_loader = loader if val_losses is not None else None
    return train.fit(model, loss, RecordingSGD(model.parameters(), 0.0), loader, val_loader=val_loader,
                     progress=False, **kwargs)


# ---- the loop -----------------------------------------------------------------------------------

def test_order_of_calls_in_an_epoch():
    log = []
    x, y = _regression_data(10)
    model = ScaleModel(log)
    train.fit(model, mse, RecordingSGD(model.parameters(), 0.01, log), _loader(x, y, 4),
              epochs=2, val_loader=_loader(x, y, 5), progress=False)
    train_batch = [('zero_grad',), ('forward', True, True, 4), ('step',)]
    epoch = (train_batch + train_batch + [('zero_grad',), ('forward', True, True, 2), ('step',)]
             + [('forward', False, False, 5)] * 2)
    assert log == epoch + epoch


def test_parameters_get_updated_by_backward_and_step():
    x, y = _regression_data(10)
    model = ScaleModel(w=0.0)
    train.fit(model, mse, RecordingSGD(model.parameters(), 0.1), _loader(x, y, 10), epochs=200,
              progress=False)
    assert model.w.item() == pytest.approx(3.0, abs=1e-4)


def test_loss_is_the_batch_size_weighted_mean():
    x, y = _regression_data(10)
    model = ScaleModel(w=1.0)
    history = train.fit(model, mse, RecordingSGD(model.parameters(), 0.0), _loader(x, y, 4), epochs=2,
                        val_loader=_loader(x, y, 3), progress=False)
    full_mse = float(np.mean((x - y) ** 2))  # lr = 0: every batch sees w = 1
    assert history.history['loss'] == pytest.approx([full_mse, full_mse], rel=1e-6)
    assert history.history['val_loss'] == pytest.approx([full_mse, full_mse], rel=1e-6)
    assert all(isinstance(v, float) for v in history.history['loss'] + history.history['val_loss'])


def test_history_keys_and_epochs():
    x, y = _regression_data(6)
    model = ScaleModel()
    history = train.fit(model, mse, RecordingSGD(model.parameters(), 0.01), _loader(x, y, 2), epochs=3,
                        progress=False)
    assert list(history.history) == ['loss', 'lr'] and len(history.history['loss']) == 3
    assert history.history['lr'] == [0.01, 0.01, 0.01]
    assert history.epochs == 3 and history.stop_reason is None
    assert history['loss'] is history.history['loss']
    assert 'History(epochs=3' in repr(history)

    history = train.fit(model, mse, RecordingSGD(model.parameters(), 0.01), _loader(x, y, 2), epochs=2,
                        val_loader=_loader(x, y, 4), progress=False,
                        metrics={'mae': lambda out, t: float(np.abs((out - t).data).mean()),
                                 'one': lambda o, t: 1})
    assert list(history.history) == ['loss', 'lr', 'val_loss', 'val_mae', 'val_one']
    assert all(len(values) == 2 for values in history.history.values())
    assert history.history['val_one'] == [1.0, 1.0] and isinstance(history.history['val_one'][0], float)


def test_metrics_see_the_whole_validation_set_at_once():
    x, y = _regression_data(10)
    seen = []

    def metric(outputs, targets):
        assert isinstance(outputs, tl.Value) and isinstance(targets, tl.Value)
        seen.append((outputs.shape, targets.shape, tl.is_grad_enabled()))
        return float(np.abs((outputs - targets).data).max())

    model = ScaleModel(w=1.0)
    history = train.fit(model, mse, RecordingSGD(model.parameters(), 0.0), _loader(x, y, 4),
                        val_loader=_loader(x, y, 3), metrics={'max_error': metric}, progress=False)
    assert seen == [((10, 1), (10, 1), False)]
    assert history.history['val_max_error'] == [pytest.approx(float(np.abs(x - y).max()))]


def test_multi_input_batches_pass_all_but_the_last_item_to_the_model():
    class AddModel(ScaleModel):
        def __call__(self, a, b):
            return (a + b) * self.w

    a = np.ones((4, 1), np.float32)
    loader = data.DataLoader(data.TensorDataset(a, a, 2 * a), batch_size=2)
    model = AddModel(w=0.5)
    history = train.fit(model, mse, RecordingSGD(model.parameters(), 0.0), loader, progress=False)
    assert history.history['loss'] == [pytest.approx(1.0)]


def test_model_mode_is_restored():
    x, y = _regression_data(4)
    model = ScaleModel().eval()
    train.fit(model, mse, RecordingSGD(model.parameters(), 0.01), _loader(x, y, 2), progress=False)
    assert model.training is False
    model.train()
    train.fit(model, mse, RecordingSGD(model.parameters(), 0.01), _loader(x, y, 2),
              val_loader=_loader(x, y, 2), progress=False)
    assert model.training is True


def test_zero_epochs_gives_an_empty_history():
    history = _scripted_fit([], epochs=0)
    assert history.history == {'loss': [], 'lr': []} and history.epochs == 0


def test_shuffled_training_is_reproducible_with_manual_seed():
    x, y = _regression_data(30)

    def run():
        tl.manual_seed(0)
        model = ScaleModel(w=0.0)
        loader = data.DataLoader(data.TensorDataset(x, y), batch_size=7, shuffle=True)
        return train.fit(model, mse, RecordingSGD(model.parameters(), 0.05), loader, epochs=3,
                         progress=False).history['loss'], model.w.item()

    assert run() == run()


# ---- scheduler ----------------------------------------------------------------------------------

def test_scheduler_steps_once_per_epoch():
    scheduler = CountingScheduler()
    x, y = _regression_data(10)
    model = ScaleModel()
    train.fit(model, mse, RecordingSGD(model.parameters(), 0.01), _loader(x, y, 3), epochs=4,
              scheduler=scheduler, progress=False)
    assert scheduler.steps == 4


def test_scheduler_steps_also_in_the_epoch_that_stops_early():
    scheduler = CountingScheduler()
    history = _scripted_fit([3.0, 1.0, 0.5], epochs=10, target_loss=1.0, scheduler=scheduler)
    assert history.epochs == 2 and scheduler.steps == 2


def test_real_step_lr_scheduler_changes_the_learning_rate():
    x, y = _regression_data(8)
    model = ScaleModel()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    train.fit(model, mse, optimizer, _loader(x, y, 4), epochs=5, scheduler=scheduler, progress=False)
    assert optimizer.param_groups[0]['lr'] == pytest.approx(0.1 * 0.5 ** 2)


def _plateau_fit(train_losses, val_losses=None):
    """A scripted run with a real SGD under ReduceLROnPlateau(patience=0, factor=0.5)."""
    x, y = _regression_data(4)
    loader = _loader(x, y, 4)
    model = ScaleModel()
    optimizer = optim.SGD(model.parameters(), lr=0.0)
    optimizer.param_groups[0]['lr'] = 0.8          # (the scripted losses do not depend on it)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    return train.fit(model, ScriptedLoss(train_losses, val_losses or []), optimizer, loader,
                     epochs=len(train_losses), val_loader=loader if val_losses else None, scheduler=scheduler,
                     progress=False), scheduler


def test_reduce_lr_on_plateau_is_stepped_on_the_validation_loss():
    history, scheduler = _plateau_fit([5.0, 4.0, 3.0, 2.0, 1.0], val_losses=[1.0, 2.0, 0.5, 0.7, 0.6])
    assert history.history['lr'] == [0.8, 0.8, 0.4, 0.4, 0.2]   # lowered after epochs 1 and 3
    assert scheduler.best == 0.5 and scheduler.last_epoch == 5


def test_reduce_lr_on_plateau_without_validation_uses_the_training_loss():
    history, scheduler = _plateau_fit([1.0, 2.0, 0.5, 0.7, 0.6])
    assert history.history['lr'] == [0.8, 0.8, 0.4, 0.4, 0.2]
    assert scheduler.best == 0.5


# ---- early stopping -----------------------------------------------------------------------------

def test_target_loss_stops_at_the_first_epoch_reaching_it():
    history = _scripted_fit([5.0, 2.0, 0.9, 0.1, 0.05], epochs=5, target_loss=1.0)
    assert history.history['loss'] == pytest.approx([5.0, 2.0, 0.9])
    assert history.epochs == 3 and history.stop_reason == 'target_loss'


def test_target_loss_equal_counts_as_reached():
    history = _scripted_fit([2.0, 1.0, 0.5], epochs=3, target_loss=1.0)
    assert history.epochs == 2


def test_target_loss_not_reached_runs_every_epoch():
    history = _scripted_fit([5.0, 4.0, 3.0], epochs=3, target_loss=1.0)
    assert history.epochs == 3 and history.stop_reason is None


def test_patience_stops_after_that_many_epochs_without_improvement():
    val = [5.0, 4.0, 4.5, 4.2, 3.0, 3.5]
    history = _scripted_fit([1.0] * 6, val, epochs=6, patience=2)
    assert history.history['val_loss'] == pytest.approx([5.0, 4.0, 4.5, 4.2])
    assert history.stop_reason == 'patience' and history.epochs == 4


def test_patience_counter_resets_on_improvement():
    val = [5.0, 5.5, 4.0, 4.5, 3.0, 3.1, 2.0]
    history = _scripted_fit([1.0] * 7, val, epochs=7, patience=2)
    assert history.epochs == 7 and history.stop_reason is None


def test_patience_one_stops_at_the_first_non_improvement():
    history = _scripted_fit([1.0] * 4, [3.0, 2.0, 2.0, 1.0], epochs=4, patience=1)
    assert history.epochs == 3


def test_min_delta_requires_a_large_enough_improvement():
    val = [5.0, 4.95, 4.92, 4.91, 1.0]  # each step improves, but by less than 0.1 on the best (5.0)
    assert _scripted_fit([1.0] * 5, list(val), epochs=5, patience=3).epochs == 5
    history = _scripted_fit([1.0] * 5, list(val), epochs=5, patience=3, min_delta=0.1)
    assert history.epochs == 4 and history.stop_reason == 'patience'
    # improving by exactly min_delta is not "more than min_delta"
    history = _scripted_fit([1.0] * 4, [4.0, 3.5, 3.0, 2.5], epochs=4, patience=1, min_delta=0.5)
    assert history.epochs == 2


def test_nan_validation_loss_counts_as_no_improvement():
    history = _scripted_fit([1.0] * 4, [2.0, float('nan'), float('nan'), 1.0], epochs=4, patience=2)
    assert history.epochs == 3


def test_target_loss_and_patience_together():
    history = _scripted_fit([3.0, 2.0, 0.5], [1.0, 2.0, 3.0], epochs=3, target_loss=0.6, patience=5)
    assert history.stop_reason == 'target_loss'


# ---- argument errors ----------------------------------------------------------------------------

@pytest.mark.parametrize('kwargs, match', [
    (dict(patience=2), 'patience.*val_loader'),
    (dict(metrics={'accuracy': metrics.accuracy}), 'metrics.*val_loader'),
    (dict(epochs=-1), 'epochs'),
    (dict(epochs=1.5), 'epochs'),
])
def test_bad_arguments_raise_before_training(kwargs, match):
    x, y = _regression_data(4)
    model = ScaleModel()
    with pytest.raises(ValueError, match=match):
        train.fit(model, mse, RecordingSGD(model.parameters(), 0.1), _loader(x, y, 2), progress=False,
                  **kwargs)
    assert model.log == []


@pytest.mark.parametrize('kwargs, match', [
    (dict(patience=0), 'patience'),
    (dict(patience=1.5), 'patience'),
    (dict(patience=2, min_delta=-0.1), 'min_delta'),
])
def test_bad_early_stopping_arguments_raise(kwargs, match):
    x, y = _regression_data(4)
    model = ScaleModel()
    loader = _loader(x, y, 2)
    with pytest.raises(ValueError, match=match):
        train.fit(model, mse, RecordingSGD(model.parameters(), 0.1), loader, val_loader=loader,
                  progress=False, **kwargs)


def test_empty_loader_and_bad_batches_and_losses_raise():
    model = ScaleModel()
    opt = RecordingSGD(model.parameters(), 0.1)
    with pytest.raises(ValueError, match='no batches'):
        train.fit(model, mse, opt, [], progress=False)
    with pytest.raises(ValueError, match='tuple'):
        train.fit(model, mse, opt, [tl.Value(np.ones(3))], progress=False)
    with pytest.raises(ValueError, match='1 item'):
        train.fit(model, mse, opt, [(tl.Value(np.ones(3)),)], progress=False)
    x, y = _regression_data(4)
    with pytest.raises(ValueError, match=r"single number.*\(4, 1\)"):
        train.fit(model, lambda out, t: (out - t) * (out - t), opt, _loader(x, y, 4), progress=False)
    with pytest.raises(ValueError, match='validation loader yielded no batches'):
        train.fit(model, mse, opt, _loader(x, y, 4), val_loader=[], progress=False)


# ---- a batch that is not finite: one RuntimeError, before anything is updated ---------------------

class SnapshotSGD(optim.SGD):
    """SGD that keeps a copy of the model's state and of its own after every step."""

    def __init__(self, model, **options):
        super().__init__(model.parameters(), **options)
        self.model, self.snapshots = model, []

    def step(self, closure=None):
        super().step(closure)
        self.snapshots.append(({k: v.copy() for k, v in self.model.state_dict().items()}, self.state_dict()))


def _stops_before_the_bad_batch(model, optimizer, loader, epochs, match):
    """fit raises one RuntimeError matching ``match``; the parameters and the optimizer state
    are those of the last good step, finite, and no backward ran for the bad batch."""
    with pytest.raises(RuntimeError, match=match) as caught:
        train.fit(model, nn.functional.mse_loss, optimizer, loader, epochs=epochs, progress=False)
    weights, state = optimizer.snapshots[-1]
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, weights[name])
        assert np.isfinite(value).all(), name
    assert optimizer.state_dict()['state'].keys() == state['state'].keys()
    for index, entry in state['state'].items():
        np.testing.assert_array_equal(optimizer.state_dict()['state'][index]['momentum_buffer'],
                                      entry['momentum_buffer'])
    assert all(p.grad is None for p in model.parameters())  # zeroed, and no backward since
    return caught.value


@pytest.mark.parametrize('where', ['inputs', 'targets'])
def test_nan_in_a_batch_stops_fit_naming_epoch_and_batch(where):
    X, y = _linear_problem()
    X, y = X.astype(np.float32), y.astype(np.float32)[:, None]
    (X if where == 'inputs' else y)[2 * 20 + 5, 0] = np.nan   # in batch 2 (rows 40-59)
    tl.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = SnapshotSGD(model, lr=0.01, momentum=0.9)
    loader = data.DataLoader(data.TensorDataset(X, y), batch_size=20)
    error = _stops_before_the_bad_batch(model, optimizer, loader, 1,
                                        r"^fit: the training loss of batch 2 cannot be computed .*epoch 0")
    what = r'inputs\[0\]' if where == 'inputs' else 'the targets'
    assert re.search(rf"1 NaN or infinite value in {what}", str(error))
    assert isinstance(error.__cause__, ValueError) and 'NaN' in str(error.__cause__)
    assert len(optimizer.snapshots) == 2


def test_nan_found_in_a_later_epoch_names_that_epoch():
    X, y = _regression_data(12)
    calls = []

    def loss_fn(output, target):             # finite for 2 epochs of 3 batches, then NaN
        calls.append(1)
        return mse(output, target) * (math.nan if len(calls) == 8 else 1.0)

    model = ScaleModel()
    optimizer = RecordingSGD(model.parameters(), 0.01)
    match = (r"batch 1 is nan; stopped in epoch 2 .*Cause: the batch, the model's output "
             r"\(up to .* in size\) and the parameters are finite, so loss_fn made it")
    with pytest.raises(RuntimeError, match=match):
        train.fit(model, loss_fn, optimizer, _loader(x=X, y=y, batch_size=4), epochs=5, progress=False)


@pytest.mark.parametrize('make, lr, match', [
    (lambda: nn.MLP([3, 16, 1]), 1e8, r"(cannot be computed( \(.*?\))?|is (inf|nan)); stopped in epoch 0 "
                                      r".*NaN or infinite values? in the model's output"),
    (lambda: nn.Linear(3, 1), 1e3, r"is inf; stopped in epoch 0"),
])
def test_a_diverging_model_stops_before_its_parameters_overflow(make, lr, match):
    X, y = _linear_problem()
    tl.manual_seed(0)
    model = make()
    optimizer = SnapshotSGD(model, lr=lr, momentum=0.5)
    loader = data.DataLoader(data.TensorDataset(X.astype(np.float32), y.astype(np.float32)[:, None]),
                             batch_size=10)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)   # NumPy's overflow warnings on the way there
        error = _stops_before_the_bad_batch(model, optimizer, loader, 3, match)
    assert f"batch {len(optimizer.snapshots)} " in str(error)


def test_a_step_that_overflows_the_parameters_is_named_at_the_next_batch():
    X, y = _linear_problem()
    tl.manual_seed(0)
    model = nn.Linear(3, 1)
    loader = data.DataLoader(data.TensorDataset(X.astype(np.float32), y.astype(np.float32)[:, None]),
                             batch_size=10)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        with pytest.raises(RuntimeError, match=r"batch 1 .*the parameters \['weight'.*\] are already not "
                                               r"finite: an earlier step overflowed \(lower the learning "
                                               r"rate\)"):
            train.fit(model, nn.functional.mse_loss, optim.SGD(model.parameters(), lr=1e38), loader,
                      progress=False)


def test_a_loss_error_unrelated_to_non_finite_values_is_not_hidden():
    x, y = _regression_data(4)
    model = ScaleModel()
    with pytest.raises(ValueError, match='mse_loss'):
        train.fit(model, nn.functional.mse_loss, RecordingSGD(model.parameters(), 0.1),
                  [(tl.Value(x), tl.Value(y[:3]))], progress=False)


# ---- data from Python lists -----------------------------------------------------------------------

def test_a_dataset_of_python_list_labels_trains_with_cross_entropy():
    X, labels = _blobs(60, seed=3)
    dataset = data.TensorDataset(X, labels.tolist())
    assert dataset.arrays[1].dtype == np.int64
    tl.manual_seed(0)
    model = nn.Linear(2, 2)
    history = train.fit(model, nn.functional.cross_entropy, optim.Adam(model.parameters(), lr=0.05),
                        data.DataLoader(dataset, batch_size=20), epochs=20, progress=False)
    assert history.history['loss'][-1] < history.history['loss'][0]


# ---- progress bar -------------------------------------------------------------------------------

def test_progress_bar_shows_losses_and_can_be_turned_off(capsys):
    x, y = _regression_data(8)
    model = ScaleModel()
    train.fit(model, mse, RecordingSGD(model.parameters(), 0.01), _loader(x, y, 4), epochs=2,
              val_loader=_loader(x, y, 4), progress=False)
    captured = capsys.readouterr()
    assert captured.err == '' and captured.out == ''
    train.fit(model, mse, RecordingSGD(model.parameters(), 0.01), _loader(x, y, 4), epochs=2,
              val_loader=_loader(x, y, 4), progress=True)
    err = capsys.readouterr().err
    assert '2/2' in err and 'loss=' in err and 'val_loss=' in err


# ---- real models: logistic and linear regression ------------------------------------------------

def _blobs(n, seed):
    """Two well-separated Gaussian blobs in 2-D; labels 0 / 1."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    centres = np.array([[-2.0, -1.0], [2.0, 1.5]])
    X = (centres[labels] + rng.normal(scale=0.7, size=(n, 2))).astype(np.float32)
    return X, labels.astype(np.int64)


def test_binary_logistic_regression_reaches_high_accuracy():
    F = nn.functional
    tl.manual_seed(0)
    X, labels = _blobs(400, seed=1)
    y = labels.astype(np.float32)[:, None]
    train_loader = data.DataLoader(data.TensorDataset(X[:300], y[:300]), batch_size=32, shuffle=True)
    val_loader = data.DataLoader(data.TensorDataset(X[300:], y[300:]), batch_size=50)
    model = nn.Linear(2, 1)
    history = train.fit(model, F.binary_cross_entropy_with_logits, optim.SGD(model.parameters(), lr=0.5),
                        train_loader, epochs=15, val_loader=val_loader,
                        metrics={'accuracy': metrics.accuracy}, progress=False)
    assert history.history['val_accuracy'][-1] >= 0.95
    assert history.history['loss'][-1] < history.history['loss'][0]


def test_softmax_regression_with_cross_entropy_and_early_stopping():
    F = nn.functional
    tl.manual_seed(0)
    X, labels = _blobs(400, seed=2)
    train_loader = data.DataLoader(data.TensorDataset(X[:300], labels[:300]), batch_size=30, shuffle=True)
    val_loader = data.DataLoader(data.TensorDataset(X[300:], labels[300:]), batch_size=100)
    model = nn.Linear(2, 2)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    history = train.fit(model, F.cross_entropy, optimizer, train_loader, epochs=100, val_loader=val_loader,
                        metrics={'accuracy': metrics.accuracy}, patience=3, min_delta=1e-3,
                        scheduler=optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5),
                        progress=False)
    assert history.stop_reason == 'patience' and history.epochs < 100
    assert history.history['val_accuracy'][-1] >= 0.95
    with tl.no_grad():
        assert metrics.accuracy(model(tl.Value(X[300:])), labels[300:]) == history.history['val_accuracy'][-1]


def _linear_problem():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.7 + 0.3 * rng.normal(size=200)
    return X, y


def test_linear_regression_by_gradient_descent_matches_least_squares():
    X, y = _linear_problem()
    w_ref, b_ref = least_squares(X, y)
    tl.manual_seed(0)
    model = nn.Linear(3, 1)
    loader = data.DataLoader(data.TensorDataset(X.astype(np.float32), y.astype(np.float32)[:, None]),
                             batch_size=200)
    train.fit(model, nn.functional.mse_loss, optim.SGD(model.parameters(), lr=0.2), loader, epochs=150,
              progress=False)
    np.testing.assert_allclose(model.weight.data[0], w_ref, atol=1e-3)
    assert model.bias.data[0] == pytest.approx(b_ref, abs=1e-3)


def test_minibatch_sgd_with_decaying_lr_approaches_least_squares():
    X, y = _linear_problem()
    w_ref, b_ref = least_squares(X, y)
    tl.manual_seed(1)
    model = nn.Linear(3, 1)
    loader = data.DataLoader(data.TensorDataset(X.astype(np.float32), y.astype(np.float32)[:, None]),
                             batch_size=20, shuffle=True)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    history = train.fit(model, nn.functional.mse_loss, optimizer, loader, epochs=60,
                        scheduler=optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.85), progress=False)
    np.testing.assert_allclose(model.weight.data[0], w_ref, atol=2e-3)
    assert model.bias.data[0] == pytest.approx(b_ref, abs=2e-3)
    residual = X @ w_ref + b_ref - y
    assert history.history['loss'][-1] == pytest.approx(np.mean(residual ** 2), rel=1e-4)


def test_checkpoint_round_trip_resumes_training_identically(tmp_path):
    X, y = _linear_problem()
    loader = data.DataLoader(data.TensorDataset(X.astype(np.float32), y.astype(np.float32)[:, None]),
                             batch_size=50)

    def make():
        tl.manual_seed(0)
        model = nn.Linear(3, 1)
        return model, optim.Adam(model.parameters(), lr=0.01)

    model, optimizer = make()
    train.fit(model, nn.functional.mse_loss, optimizer, loader, epochs=2, progress=False)
    save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': 2}, tmp_path / 'ck.npz')
    train.fit(model, nn.functional.mse_loss, optimizer, loader, epochs=2, progress=False)

    resumed, resumed_optimizer = make()
    checkpoint = load(tmp_path / 'ck.npz')
    resumed.load_state_dict(checkpoint['model'])
    resumed_optimizer.load_state_dict(checkpoint['optimizer'])
    assert checkpoint['epoch'] == 2
    train.fit(resumed, nn.functional.mse_loss, resumed_optimizer, loader, epochs=2, progress=False)
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], array)


def test_public_names():
    # In a fresh interpreter: a plain `import tinygrad_ls` must expose the names of API.md
    # (`from tinygrad_ls import data` would import a submodule even if __init__ forgot it).
    code = 'import tinygrad_ls as tl; tl.data, tl.train, tl.metrics, tl.least_squares, tl.save, tl.load'
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert tl.train.fit is train.fit and tl.data.DataLoader is data.DataLoader
    assert tl.metrics.accuracy is metrics.accuracy and tl.least_squares is least_squares
    assert tl.save is save and tl.load is load


def test_history_records_the_learning_rate_used_in_each_epoch():
    x, y = _regression_data(8)
    model = tl.nn.Linear(1, 1)
    optimizer = tl.optim.SGD(model.parameters(), lr=0.1)
    scheduler = tl.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = train.fit(model, tl.nn.functional.mse_loss, optimizer, _loader(x, y, 4), epochs=3,
                        scheduler=scheduler, progress=False)
    assert history.history['lr'] == [0.1, 0.05, 0.025]
