"""``tl.train.fit(..., compile=True)``: the same history and parameters as the eager loop, bit for
bit, and the same stop, before any change, at a batch whose loss is not finite."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import data, nn, optim
from tinygrad_ls.nn import functional as F


def _fit(compile_step: bool, X, y, epochs=3, **options):
    tl.manual_seed(0)
    model = nn.Sequential(nn.Linear(X.shape[1], 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    loader = data.DataLoader(data.TensorDataset(X, y), batch_size=16, shuffle=True)  # 50 rows: 16,16,16,2
    history = tl.train.fit(model, F.cross_entropy, optimizer, loader, epochs=epochs, scheduler=scheduler,
                           progress=False, compile=compile_step, **options)
    return model, history


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_compiled_fit_equals_eager_fit_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 5)).astype(dtype), rng.integers(0, 3, 50)
    val = data.DataLoader(data.TensorDataset(X[:20], y[:20]), batch_size=8)
    eager_model, eager = _fit(False, X, y, val_loader=val, metrics={'accuracy': tl.metrics.accuracy})
    compiled_model, compiled = _fit(True, X, y, val_loader=val, metrics={'accuracy': tl.metrics.accuracy})
    assert compiled.history == eager.history
    for a, b in zip(eager_model.parameters(), compiled_model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.grad, b.grad)


def test_compiled_fit_stops_at_a_nan_batch_before_changing_anything():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((50, 5)).astype(np.float32), rng.integers(0, 3, 50)
    X[20:30] = np.nan
    results = {}
    for compile_step in (False, True):
        tl.manual_seed(0)
        model = nn.Linear(5, 3)
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        loader = data.DataLoader(data.TensorDataset(X, y), batch_size=10)  # batch 2 holds the NaNs
        with pytest.raises(RuntimeError, match=r"^fit: the training loss of batch 2 .*stopped in epoch 0"):
            tl.train.fit(model, F.cross_entropy, optimizer, loader, epochs=2, progress=False,
                         compile=compile_step)
        results[compile_step] = [p.data.copy() for p in model.parameters()]
    for a, b in zip(results[False], results[True]):
        np.testing.assert_array_equal(a, b)  # both stopped after batch 1's step
