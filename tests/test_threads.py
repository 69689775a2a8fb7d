"""Threads: grad mode and anomaly detection are per thread, and graphs built and
differentiated in several threads at once give exactly the sequential results.

Interleavings are forced with ``threading.Barrier``: every thread reaches a point before any
goes on, so "thread A is inside no_grad while thread B computes" really happens. Where
threads run free, the interpreter's switch interval is made tiny so that they interleave
at almost every bytecode.
"""
from __future__ import annotations

import contextlib
import copy
import sys
import threading

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import Value, nn, optim
from tinygrad_ls.nn import functional as F

TIMEOUT = 30


def run_threads(*targets) -> None:
    """Run each target in its own thread; re-raise the first exception a thread raised."""
    errors = []

    def wrapped(target):
        try:
            target()
        except BaseException as error:  # handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=wrapped, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
        assert not thread.is_alive(), 'a thread hung'
    if errors:
        raise errors[0]


@contextlib.contextmanager
def fast_switching():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def records() -> bool:
    """Does an op on a Value that requires grad record a graph in this thread, now?"""
    return (Value(np.ones(2), requires_grad=True) * 2.0).requires_grad


# ---- switches are per thread ---------------------------------------------------------------------

SWITCHES = {
    'no_grad': tl.no_grad,
    'set_grad_enabled-context': lambda: tl.set_grad_enabled(False),
}


@pytest.mark.parametrize('switch', SWITCHES)
def test_turning_grad_off_in_one_thread_leaves_the_other_recording(switch):
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    seen = {}

    def switcher():
        with SWITCHES[switch]():
            barrier.wait()                  # 1: grad is off here ...
            seen['switcher inside'] = (tl.is_grad_enabled(), records())
            barrier.wait()                  # 2: ... while the other thread computed
        seen['switcher after'] = (tl.is_grad_enabled(), records())

    def other():
        barrier.wait()                      # 1
        seen['other'] = (tl.is_grad_enabled(), records())
        barrier.wait()                      # 2

    run_threads(switcher, other)
    assert seen == {'switcher inside': (False, False), 'other': (True, True),
                    'switcher after': (True, True)}
    assert tl.is_grad_enabled()


def test_set_grad_enabled_called_as_a_function_switches_only_its_thread():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    seen = {}

    def switcher():
        tl.set_grad_enabled(False)          # no `with`: stays off in this thread
        barrier.wait()
        seen['switcher'] = (tl.is_grad_enabled(), records())
        barrier.wait()
        tl.set_grad_enabled(True)

    def other():
        barrier.wait()
        seen['other'] = (tl.is_grad_enabled(), records())
        barrier.wait()

    run_threads(switcher, other)
    assert seen == {'switcher': (False, False), 'other': (True, True)}
    assert tl.is_grad_enabled()


def test_enable_grad_inside_no_grad_is_per_thread_too():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    seen = {}

    def enabling():
        with tl.no_grad(), tl.enable_grad():
            barrier.wait()
            seen['enabling'] = records()
            barrier.wait()

    def disabled():
        with tl.no_grad():
            barrier.wait()
            seen['disabled'] = records()
            barrier.wait()

    run_threads(enabling, disabled)
    assert seen == {'enabling': True, 'disabled': False}


def test_new_threads_start_with_grad_on_and_anomaly_detection_off():
    seen = {}

    def child():
        seen['child'] = (tl.is_grad_enabled(), records())
        with np.errstate(invalid='ignore'):
            seen['child log(-1)'] = float(Value([-1.0]).log().data[0])  # no anomaly error

    with tl.no_grad(), tl.detect_anomaly():
        run_threads(child)
        assert not tl.is_grad_enabled()
    assert seen['child'] == (True, True) and np.isnan(seen['child log(-1)'])


def test_detect_anomaly_in_one_thread_does_not_raise_in_another():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    seen = {}

    def detecting():
        with tl.detect_anomaly():
            barrier.wait()
            with np.errstate(invalid='ignore'):
                try:
                    Value([-1.0]).log()
                except RuntimeError as error:
                    seen['detecting'] = str(error)
            barrier.wait()

    def other():
        barrier.wait()
        with np.errstate(invalid='ignore'):
            seen['other'] = float(Value([-1.0]).log().data[0])
        barrier.wait()

    run_threads(detecting, other)
    assert seen['detecting'] == "detect_anomaly: forward of 'log' produced nan values (shape (1,))"
    assert np.isnan(seen['other'])


def test_many_threads_toggling_no_grad_never_see_each_others_mode():
    """8 threads, half in no_grad and half not, each checking its own mode 300 times while
    the others switch."""
    barrier = threading.Barrier(8, timeout=TIMEOUT)
    wrong = []

    def worker(off: bool):
        def run():
            barrier.wait()
            for _ in range(300):
                with tl.no_grad() if off else contextlib.nullcontext():
                    if records() == off:
                        wrong.append(off)
        return run

    with fast_switching():
        run_threads(*(worker(i % 2 == 0) for i in range(8)))
    assert wrong == []


# ---- concurrent graphs ---------------------------------------------------------------------------

def make_data(seed: int):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((16, 5)), rng.integers(0, 3, 16)


def train(model, x, y, steps: int = 30) -> list:
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_four_threads_training_their_own_models_match_sequential_training():
    tl.manual_seed(0)
    initial = nn.MLP([5, 8, 3])
    initial.train()
    for param in initial.parameters():
        param.data = param.data.astype(np.float64)
    datasets = [make_data(seed) for seed in range(4)]
    sequential = []
    for x, y in datasets:
        model = copy.deepcopy(initial)
        sequential.append((train(model, x, y), model.state_dict()))
    concurrent = [None] * 4
    barrier = threading.Barrier(4, timeout=TIMEOUT)

    def worker(i: int):
        def run():
            model = copy.deepcopy(initial)
            barrier.wait()
            concurrent[i] = (train(model, *datasets[i]), model.state_dict())
        return run

    with fast_switching():
        run_threads(*(worker(i) for i in range(4)))
    for (seq_losses, seq_state), (con_losses, con_state) in zip(sequential, concurrent):
        assert con_losses == seq_losses
        assert all(np.array_equal(seq_state[key], con_state[key]) for key in seq_state)


def test_four_threads_taking_tl_grad_through_one_shared_model_match_sequential():
    """tl.grad touches no .grad, so threads may differentiate through shared parameters."""
    tl.manual_seed(1)
    model = nn.MLP([5, 8, 3])
    params = list(model.parameters())
    datasets = [make_data(seed) for seed in range(4)]

    def gradients(x, y) -> list:
        x = Value(x.astype(np.float32), requires_grad=True)
        grads = tl.grad(F.cross_entropy(model(x), y), params + [x])
        return [g.data for g in grads]

    expected = [gradients(x, y) for x, y in datasets]
    results = [[] for _ in range(4)]
    barrier = threading.Barrier(4, timeout=TIMEOUT)

    def worker(i: int):
        def run():
            barrier.wait()
            for _ in range(20):
                results[i].append(gradients(*datasets[i]))
        return run

    with fast_switching():
        run_threads(*(worker(i) for i in range(4)))
    for i in range(4):
        for attempt in results[i]:
            assert all(np.array_equal(got, want) for got, want in zip(attempt, expected[i]))
    assert all(p.grad is None for p in params)


def test_concurrent_backward_into_a_shared_leaf_loses_nothing():
    x = Value(np.zeros(3), requires_grad=True)
    barrier = threading.Barrier(4, timeout=TIMEOUT)

    def worker():
        barrier.wait()
        for _ in range(1000):
            (x * 1.0).sum().backward()

    with fast_switching():
        run_threads(*(worker for _ in range(4)))
    assert x.grad.tolist() == [4000.0] * 3
