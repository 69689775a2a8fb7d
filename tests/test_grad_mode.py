"""Grad mode and the switches on a Value: no_grad / enable_grad (nested, per thread),
detach, requires_grad_, zero_grad, and detect_anomaly."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import Value

# ---- grad mode -----------------------------------------------------------------------------

def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    assert tl.is_grad_enabled()
    with tl.no_grad():
        assert not tl.is_grad_enabled()
        y = (x * 2.0).exp().sum()
    assert tl.is_grad_enabled()
    assert not y.requires_grad
    assert y.op == ''
    assert y.parents == ()


def test_nested_no_grad_and_enable_grad():
    x = leaf(1.0)
    with tl.no_grad():
        with tl.enable_grad():
            assert tl.is_grad_enabled()
            inside = x * 2.0
            with tl.no_grad():
                assert not tl.is_grad_enabled()
                innermost = x * 2.0
            assert tl.is_grad_enabled()
        assert not tl.is_grad_enabled()
        outside = x * 2.0
    assert tl.is_grad_enabled()
    assert inside.requires_grad and inside.op == 'mul'
    assert not innermost.requires_grad
    assert not outside.requires_grad


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with tl.no_grad():
            raise KeyError('boom')
    assert tl.is_grad_enabled()


def test_grad_mode_is_thread_local():
    main_in_no_grad = threading.Event()
    other_done = threading.Event()
    observed = {}

    def other_thread():
        main_in_no_grad.wait(timeout=10)
        observed['enabled'] = tl.is_grad_enabled()
        x = leaf(1.0)
        observed['records'] = (x * 2.0).requires_grad
        other_done.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    with tl.no_grad():
        main_in_no_grad.set()
        assert other_done.wait(timeout=10)
        assert not tl.is_grad_enabled()
        assert not (leaf(1.0) * 2.0).requires_grad
    worker.join(timeout=10)
    assert observed['enabled'] is True
    assert observed['records'] is True
    assert tl.is_grad_enabled()


def test_no_grad_in_another_thread_does_not_affect_this_one():
    other_in_no_grad = threading.Event()
    main_checked = threading.Event()

    def other_thread():
        with tl.no_grad():
            other_in_no_grad.set()
            main_checked.wait(timeout=10)

    worker = threading.Thread(target=other_thread)
    worker.start()
    assert other_in_no_grad.wait(timeout=10)
    try:
        assert tl.is_grad_enabled()
        assert (leaf(1.0) * 2.0).requires_grad
    finally:
        main_checked.set()
        worker.join(timeout=10)


# ---- detach, requires_grad_, zero_grad, hooks ----------------------------------------------

def test_detach_cuts_the_graph_and_shares_data():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    d = y.detach()
    assert not d.requires_grad and d.op == '' and d.parents == ()
    assert d.data is y.data or np.shares_memory(d.data, y.data)
    z = (x * d).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad, y.data)  # no gradient flowed through d
    assert y.grad is None
    y.data[0] = 100.0
    assert d.data[0] == 100.0


def test_requires_grad_():
    x = Value([1.0, 2.0])
    assert not x.requires_grad
    assert x.requires_grad_() is x
    assert x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    x.requires_grad_(False)
    assert not x.requires_grad
    assert not (x * 2.0).requires_grad


def test_requires_grad_on_int_data_raises():
    with pytest.raises(TypeError):
        Value(np.array([1, 2])).requires_grad_()


def test_zero_grad_sets_grad_to_none():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    x.zero_grad()
    assert x.grad is None
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # fresh, not accumulated


# ---- detect_anomaly -----------------------------------------------------------------------

def test_detect_anomaly_names_the_first_forward_op_with_nan():
    x = leaf([-1.0, 2.0])
    with np.errstate(invalid='ignore'):
        with tl.detect_anomaly():
            y = x * 2.0  # finite: fine
            with pytest.raises(RuntimeError, match="'log'"):
                (y.log() * 3.0).sum()
        # outside the context the same op silently gives nan
        z = y.log()
    assert np.isnan(z.data[0])


def test_detect_anomaly_forward_inf():
    x = leaf([1000.0])
    with np.errstate(over='ignore'):
        with tl.detect_anomaly():
            with pytest.raises(RuntimeError, match="'exp'"):
                x.exp()


def test_detect_anomaly_names_the_backward_op():
    x = leaf([0.0, 4.0])
    with np.errstate(divide='ignore'):
        with tl.detect_anomaly():
            y = x.sqrt().sum()  # forward is finite
            assert np.isfinite(y.data)
            with pytest.raises(RuntimeError, match="'sqrt'") as info:
                y.backward()
        assert 'backward' in str(info.value)
        x.zero_grad()
        x.sqrt().sum().backward()  # outside: no error, an inf gradient
    assert np.isinf(x.grad[0])


def test_detect_anomaly_is_off_by_default_and_restored():
    with tl.detect_anomaly():
        pass
    with np.errstate(invalid='ignore'):
        result = Value([-1.0]).log()
    assert np.isnan(result.data[0])
