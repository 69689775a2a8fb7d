"""Memory: what a graph keeps alive, and that training does not grow.

The graph is ``Value -> Function -> input Values`` links and nothing else (no global tape),
with no reference cycles, so reference counting alone frees it: most tests here run with the
cycle collector switched off to prove that. Values, Functions and ndarrays support weak
references, which is how the tests watch objects die.
"""
from __future__ import annotations

import contextlib
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import Value, nn, optim
from tinygrad_ls.nn import functional as F
from tinygrad_ls.ops.base import Function


@contextlib.contextmanager
def cycle_collector_off():
    """Objects freed inside are freed by reference counting alone."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def setup(seed: int = 0):
    tl.manual_seed(seed)
    model = nn.MLP([6, 16, 16, 3])
    opt = optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    return model, opt, x, y


def training_step(model, opt, x, y) -> Value:
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def graph_refs(root: Value) -> dict:
    """Weak references to what the graph under ``root`` owns: its non-leaf Values, their
    Functions, their data and the gradients backward stored on them."""
    refs = {'values': [], 'functions': [], 'arrays': []}
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node in seen or node._fn is None:
            continue
        seen.add(node)
        refs['values'].append(weakref.ref(node))
        refs['functions'].append(weakref.ref(node._fn))
        refs['arrays'].append(weakref.ref(node.data))
        if node.grad is not None:
            refs['arrays'].append(weakref.ref(node.grad))
        stack.extend(node.parents)
    return refs


def alive(refs: dict) -> dict:
    return {kind: sum(ref() is not None for ref in found) for kind, found in refs.items()}


NONE_ALIVE = {'values': 0, 'functions': 0, 'arrays': 0}


def live_functions() -> int:
    return sum(issubclass(type(obj), Function) for obj in gc.get_objects())  # type(): no __class__ lookups


# ---- the graph of one step ----------------------------------------------------------------------

def test_a_training_steps_graph_is_freed_when_the_loss_goes_out_of_scope():
    model, opt, x, y = setup()
    with cycle_collector_off():
        loss = training_step(model, opt, x, y)
        refs = graph_refs(loss)
        assert len(refs['values']) == 6  # linear, relu, linear, relu, linear, cross_entropy
        assert alive(refs)['arrays'] >= 12  # each node's data, and the grads backward stored
        del loss
        assert alive(refs) == NONE_ALIVE
    for param in model.parameters():  # the leaves belong to the model and live on
        assert param.grad is not None and param.grad.shape == param.shape


def test_a_step_in_a_helper_function_frees_its_graph_on_return():
    model, opt, x, y = setup()
    refs = {}

    def step_and_watch():
        loss = training_step(model, opt, x, y)
        refs.update(graph_refs(loss))
        return float(loss.item())

    with cycle_collector_off():
        step_and_watch()
        assert alive(refs) == NONE_ALIVE


def test_retaining_the_loss_keeps_the_whole_graph_and_dropping_it_frees_it():
    model, opt, x, y = setup()
    with cycle_collector_off():
        losses = [training_step(model, opt, x, y) for _ in range(3)]  # e.g. a list for plotting
        refs = [graph_refs(loss) for loss in losses]
        assert all(alive(r)['values'] == 6 and alive(r)['functions'] == 6 for r in refs)
        history = [loss.item() for loss in losses]  # keep numbers, not Values
        del losses
        assert all(alive(r) == NONE_ALIVE for r in refs)
    assert len(history) == 3


def test_an_intermediate_value_keeps_only_the_graph_below_it():
    x = Value(np.linspace(-1, 1, 5), requires_grad=True)
    with cycle_collector_off():
        hidden = (x * 2.0).tanh()                  # kept by the caller
        loss = (hidden.exp() * 3.0).sum()
        loss.backward()
        above = graph_refs(loss)
        below = graph_refs(hidden)
        del loss
        assert alive(below) == {'values': 2, 'functions': 2, 'arrays': 4}  # data and grad of each
        assert alive(above)['values'] == 2                               # the same two, nothing more
        assert hidden.grad is not None                                   # kept with its node
        del hidden
        assert alive(below) == NONE_ALIVE and alive(above) == NONE_ALIVE
    assert x.grad is not None


def test_detach_keeps_the_numbers_and_lets_the_graph_go():
    model, _, x, _ = setup()
    with cycle_collector_off():
        out = model(x)
        refs = graph_refs(out)
        kept = out.detach()
        del out
        assert alive(refs)['functions'] == 0 and alive(refs)['values'] == 0
        assert kept.op == '' and kept.parents == () and not kept.requires_grad
        assert kept.shape == (32, 3)  # the data array lives on in the detached leaf


def test_tl_grad_results_hold_no_graph_unless_create_graph():
    x = Value(np.arange(4.0), requires_grad=True)
    with cycle_collector_off():
        out = (x * x).sum()
        refs = graph_refs(out)
        (first,) = tl.grad(out, x)
        assert first.op == '' and not first.requires_grad
        del out
        assert alive(refs) == NONE_ALIVE
        (second,) = tl.grad((x * x * x).sum(), x, create_graph=True)
        assert second.requires_grad and second.op != ''
        second_refs = graph_refs(second)
        assert alive(second_refs)['functions'] > 0
        del second
        assert alive(second_refs) == NONE_ALIVE
    np.testing.assert_array_equal(first.data, 2 * np.arange(4.0))


def test_a_failed_backward_leaves_nothing_behind():
    model, _, x, y = setup()

    def bad_hook(grad):
        raise RuntimeError('hook failed')

    with cycle_collector_off():
        logits = model(x)
        logits.register_hook(bad_hook)
        loss = F.cross_entropy(logits, y)
        refs = graph_refs(loss)
        with pytest.raises(RuntimeError, match='hook failed'):
            loss.backward()
        del logits, loss
        assert alive(refs) == NONE_ALIVE
    assert all(param.grad is None for param in model.parameters())


# ---- evaluation without a graph -----------------------------------------------------------------

def test_no_grad_outputs_have_no_op_no_parents_and_keep_nothing_alive():
    model, _, x, y = setup()
    outputs = []
    before = live_functions()
    with tl.no_grad():
        for _ in range(20):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            outputs.append((logits, loss))
    for logits, loss in outputs:
        for value in (logits, loss):
            assert value._fn is None and value.op == '' and value.parents == ()
            assert not value.requires_grad
    assert live_functions() - before == 0
    # the same loop with grad on keeps every graph (6 ops each) alive through its outputs
    with_graph = [F.cross_entropy(model(x), y) for _ in range(20)]
    assert live_functions() - before == 20 * 6
    del with_graph


def test_evaluation_in_no_grad_uses_less_peak_memory_than_with_a_graph():
    model = nn.MLP([64, 256, 256, 256, 10])
    x = np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32)

    def peak(grad_mode: bool) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            with tl.set_grad_enabled(grad_mode):
                out = model(x)
            del out
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    activation = 256 * 256 * 4  # one float32 hidden activation, bytes
    with_graph, without = peak(True), peak(False)
    assert with_graph >= 5 * activation       # every activation (and relu output) is kept
    assert without <= 3 * activation           # at most about two at a time
    assert without < with_graph / 2


# ---- long runs ------------------------------------------------------------------------------------

def test_a_thousand_training_steps_do_not_grow_memory():
    tl.manual_seed(0)
    model = nn.MLP([8, 16, 3])
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    data = tl.data.TensorDataset(rng.standard_normal((64, 8)).astype(np.float32), rng.integers(0, 3, 64))
    loader = tl.data.DataLoader(data, batch_size=16, shuffle=True)

    def run(steps: int, keep: list | None = None) -> None:
        done = 0
        while done < steps:
            for xb, yb in loader:
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                if keep is not None:
                    keep.append(loss)
                done += 1
                if done == steps:
                    break

    tracemalloc.start()
    try:
        run(100)  # warm-up: optimizer state, caches, free lists
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        run(1000)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - start
        # control: the same loop keeping its losses (and so their graphs) grows by far more
        kept: list = []
        run(100, keep=kept)
        leaked = tracemalloc.get_traced_memory()[0] - start - growth
    finally:
        tracemalloc.stop()
    bound = 64 * 1024
    assert growth < bound, f"1000 steps grew traced memory by {growth} bytes"
    assert leaked > 10 * bound, f"keeping 100 graphs grew memory by only {leaked} bytes"
