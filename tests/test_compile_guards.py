"""tl.compile's keys and guards: each change that a plan cannot stand for (another batch size
or dtype, train/eval, grad mode, a frozen parameter, a new module, another optimizer object
behind the same name, another non-array argument) records a new plan, whose results equal
eager ones; going back to an earlier kind of call replays its plan without recording again;
at most 8 plans are kept."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import DropoutNet

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.compiler import CompileWarning
from tinygrad_ls.compiler.compiled import MAX_PLANS
from tinygrad_ls.nn import functional as F


@pytest.fixture(params=[np.float32, np.float64], ids=['float32', 'float64'])
def dtype(request, restore_default_dtype):
    tl.set_default_dtype(request.param)
    return np.dtype(request.param)


@pytest.fixture(autouse=True)
def no_compile_warnings():
    """None of these steps should run eagerly."""
    with warnings.catch_warnings():
        warnings.simplefilter('error', CompileWarning)
        yield


def assert_equal_arrays(a, b, what: str = 'array') -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert np.array_equal(a, b), f"{what}: {a} != {b}"


def assert_same_model(a: nn.Module, b: nn.Module) -> None:
    named_a, named_b = dict(a.named_parameters()), dict(b.named_parameters())
    assert list(named_a) == list(named_b)
    for name in named_a:
        assert_equal_arrays(named_a[name].data, named_b[name].data, name)
        assert (named_a[name].grad is None) == (named_b[name].grad is None), f"{name}.grad"
        if named_a[name].grad is not None:
            assert_equal_arrays(named_a[name].grad, named_b[name].grad, f"{name}.grad")
    for (name, buffer_a), (_, buffer_b) in zip(a.named_buffers(), b.named_buffers(), strict=True):
        assert_equal_arrays(buffer_a, buffer_b, name)


class Trainer:
    """A model, its optimizer and a step ``step(x, y) -> loss``; ``compiled`` wraps the step in
    tl.compile. Twin trainers (one eager, one compiled) are built from the same seed."""

    def __init__(self, make_model, compiled: bool, make_optimizer=None):
        tl.manual_seed(0)
        self.model = make_model()
        make_optimizer = make_optimizer or (lambda params: optim.SGD(params, lr=0.1, momentum=0.9))
        self.optimizer = make_optimizer(self.model.parameters())
        model, trainer = self.model, self

        def step(x, y):
            trainer.optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            trainer.optimizer.step()
            return loss
        self.step = tl.compile(step) if compiled else step

    def __call__(self, x, y):
        return self.step(x, y).data.copy()


class Twins:
    """An eager and a compiled Trainer fed the same calls; every call checks they agree."""

    def __init__(self, make_model, make_optimizer=None):
        self.eager = Trainer(make_model, False, make_optimizer)
        self.compiled = Trainer(make_model, True, make_optimizer)

    def __call__(self, x, y):
        state = tl.random.generator().bit_generator.state
        eager = self.eager(x, y)
        tl.random.generator().bit_generator.state = state  # the same dropout masks
        compiled = self.compiled(x, y)
        assert_equal_arrays(eager, compiled, 'loss')
        assert_same_model(self.eager.model, self.compiled.model)
        return compiled

    def both(self, action) -> None:
        """Apply ``action(trainer)`` to both twins (a structural change, a new optimizer...)."""
        action(self.eager)
        action(self.compiled)

    @property
    def recordings(self) -> int:
        return self.compiled.step.recordings


def data(dtype, size: int = 8, features: int = 4, outputs: int = 2, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((size, features)).astype(dtype),
            rng.standard_normal((size, outputs)).astype(dtype))


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_a_last_partial_batch_gets_its_own_plan_and_alternating_does_not_record_again(dtype):
    twins = Twins(mlp)
    full, partial = data(dtype, 8), data(dtype, 3, seed=1)
    twins(*full)
    twins(*full)
    assert twins.recordings == 1
    twins(*partial)
    assert twins.recordings == 2
    for _ in range(3):
        twins(*full)
        twins(*partial)
    assert twins.recordings == 2
    assert twins.compiled.step.calls == 9 and len(twins.compiled.step.plans) == 2


def test_a_dtype_change_records_again(restore_default_dtype):
    tl.set_default_dtype(np.float64)
    twins = Twins(mlp)
    for dtype in (np.float64, np.float32, np.float64, np.float32):
        x, y = data(dtype)
        twins(x, y)
    assert twins.recordings == 2


def test_train_and_eval_switches_record_again(dtype):
    # lr 0: the weights stay
    twins = Twins(lambda: DropoutNet(4, 16, 2), lambda params: optim.SGD(params, lr=0.0))
    x, y = data(dtype)
    training = [twins(x, y) for _ in range(2)]
    assert not np.array_equal(training[0], training[1])  # new dropout masks
    twins.both(lambda trainer: trainer.model.eval())
    evaluating = [twins(x, y) for _ in range(2)]
    assert twins.recordings == 2
    with tl.no_grad():
        no_dropout = F.mse_loss(twins.eager.model(x), y).data
    assert_equal_arrays(evaluating[0], no_dropout, 'eval replay without dropout')
    assert_equal_arrays(evaluating[1], no_dropout, 'eval replay without dropout')
    twins.both(lambda trainer: trainer.model.train())
    again = [twins(x, y) for _ in range(2)]
    assert twins.recordings == 2  # the training plan is still there and its guards hold again
    assert not np.array_equal(again[0], again[1])
    twins.both(lambda trainer: trainer.model.drop.eval())  # one submodule only
    twins(x, y)
    assert twins.recordings == 3


def test_grad_mode_is_part_of_the_key(dtype):
    def run(compiled):
        tl.manual_seed(0)
        model = mlp()

        def forward(x):
            out = model(x).sum()
            if tl.is_grad_enabled():  # Python state, not data: a different key, a different plan
                model.zero_grad()
                out.backward()
            return out
        fn = tl.compile(forward) if compiled else forward
        results = []
        for grad_mode in (False, True, False, True, True):
            with tl.set_grad_enabled(grad_mode):
                results.append(fn(data(dtype, seed=len(results))[0]).data.copy())
            results.append(model[0].weight.grad.copy() if model[0].weight.grad is not None else None)
        return results, fn

    (eager, _), (compiled, fn) = run(False), run(True)
    for a, b in zip(eager, compiled):
        assert (a is None) == (b is None)
        if a is not None:
            assert_equal_arrays(a, b)
    assert fn.recordings == 2 and fn.calls == 5


def test_freezing_a_parameter_records_again(dtype):
    twins = Twins(mlp)
    x, y = data(dtype)
    twins(x, y)
    twins(x, y)
    twins.both(lambda trainer: trainer.model[0].weight.requires_grad_(False))
    frozen = twins.compiled.model[0].weight.data.copy()
    twins(x, y)
    twins(x, y)
    assert twins.recordings == 2
    assert_equal_arrays(twins.compiled.model[0].weight.data, frozen, 'frozen weight')
    twins.both(lambda trainer: trainer.model.requires_grad_(False))
    twins.both(lambda trainer: trainer.model[2].requires_grad_(True))
    twins(x, y)
    assert twins.recordings == 3


class Growing(nn.Module):
    """Uses ``extra`` (a module added later) when it is there."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        out = self.fc(x)
        extra = self._modules.get('extra')
        return out if extra is None else extra(out)


def add_module(trainer):
    tl.manual_seed(5)
    trainer.model.add_module('extra', nn.Linear(2, 2))
    trainer.optimizer.add_param_group({'params': list(trainer.model.extra.parameters())})


def assign_module(trainer):
    tl.manual_seed(5)
    trainer.model.extra = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    trainer.optimizer.add_param_group({'params': list(trainer.model.extra.parameters())})


def replace_parameter(trainer):
    trainer.model.fc.bias = nn.Parameter(np.full(2, 0.5, dtype=tl.get_default_dtype()))
    trainer.optimizer.add_param_group({'params': [trainer.model.fc.bias]})


def drop_parameter(trainer):
    trainer.model.fc.bias = None


@pytest.mark.parametrize('change', [add_module, assign_module, replace_parameter, drop_parameter])
def test_a_structural_change_records_again(change, dtype):
    twins = Twins(Growing)
    x, y = data(dtype)
    twins(x, y)
    twins(x, y)
    twins.both(change)
    twins(x, y)
    twins(x, y)
    assert twins.recordings == 2


def assign_buffer(norm, array):
    norm.running_mean = array


def register_buffer(norm, array):
    norm.register_buffer('running_mean', array)  # "registering an existing buffer's name again replaces it"


def register_new_buffer(norm, array):
    norm.register_buffer('seen', np.zeros(1))
    norm.running_mean = array


@pytest.mark.parametrize('change', [assign_buffer, register_buffer,
                                    register_new_buffer])
def test_a_replaced_buffer_records_again(change, dtype):
    norm = nn.BatchNorm1d(3).eval()
    compiled = tl.compile(norm)
    x = np.ones((2, 3), dtype=dtype)
    with tl.no_grad():
        compiled(x)
        change(norm, np.full(3, 1.0, dtype))
        out = compiled(x)
        assert_equal_arrays(out.data, norm(x).data, 'output with the new running mean')
    assert compiled.recordings == 2


def test_registering_a_buffer_bumps_the_structure_version():
    norm = nn.BatchNorm1d(3)
    before = norm.structure_version
    norm.register_buffer('seen', np.zeros(1))
    assert norm.structure_version > before


def test_another_optimizer_behind_the_closure_name_records_again(dtype):
    """Trainer's step reads ``trainer.optimizer`` through a closure cell holding the Trainer,
    which is not guarded; here the optimizer itself is the closure variable."""
    def run(compiled):
        tl.manual_seed(0)
        model = mlp()
        optimizer = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            return loss
        fn = tl.compile(step) if compiled else step
        x, y = data(dtype)
        losses = [fn(x, y).data.copy() for _ in range(2)]
        optimizer = optim.Adam(model.parameters(), lr=0.05)  # noqa: F841 (read by step)
        losses += [fn(x, y).data.copy() for _ in range(3)]
        return losses, model, fn

    (eager, eager_model, _), (compiled, model, fn) = run(False), run(True)
    for a, b in zip(eager, compiled):
        assert_equal_arrays(a, b, 'loss')
    assert_same_model(eager_model, model)
    assert fn.recordings == 2


MODEL = OPTIMIZER = None  # the globals read by global_step


def global_step(x, y):
    OPTIMIZER.zero_grad()
    loss = F.mse_loss(MODEL(x), y)
    loss.backward()
    OPTIMIZER.step()
    return loss


def test_another_optimizer_behind_the_global_name_records_again(dtype):
    global MODEL, OPTIMIZER

    def run(compiled):
        global MODEL, OPTIMIZER
        tl.manual_seed(0)
        MODEL = mlp()
        OPTIMIZER = optim.SGD(MODEL.parameters(), lr=0.1)
        fn = tl.compile(global_step) if compiled else global_step
        x, y = data(dtype)
        losses = [fn(x, y).data.copy() for _ in range(2)]
        OPTIMIZER = optim.RMSprop(MODEL.parameters(), lr=0.01)
        losses += [fn(x, y).data.copy() for _ in range(3)]
        return losses, MODEL, fn

    try:
        (eager, eager_model, _), (compiled, model, fn) = run(False), run(True)
    finally:
        MODEL = OPTIMIZER = None
    for a, b in zip(eager, compiled):
        assert_equal_arrays(a, b, 'loss')
    assert_same_model(eager_model, model)
    assert fn.recordings == 2


def test_another_model_behind_the_global_name_records_again(dtype):
    global MODEL, OPTIMIZER
    try:
        tl.manual_seed(0)
        first = MODEL = mlp()
        second = mlp()
        OPTIMIZER = optim.SGD([*first.parameters(), *second.parameters()], lr=0.1)
        compiled = tl.compile(global_step)
        x, y = data(dtype)
        compiled(x, y)
        compiled(x, y)
        MODEL = second
        before = [p.data.copy() for p in first.parameters()]
        compiled(x, y)
        assert compiled.recordings == 2
        for p, kept in zip(first.parameters(), before):
            assert_equal_arrays(p.data, kept, 'the first model, no longer used')
    finally:
        MODEL = OPTIMIZER = None


def test_non_array_arguments_are_part_of_the_key(dtype):
    def run(compiled):
        tl.manual_seed(0)
        model = mlp()
        optimizer = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y, scale, *, squared=True):
            optimizer.zero_grad()
            out = model(x) * scale
            loss = F.mse_loss(out, y) if squared else F.l1_loss(out, y)
            loss.backward()
            optimizer.step()
            return loss
        fn = tl.compile(step) if compiled else step
        x, y = data(dtype)
        calls = [(1,), (2,), (1,), (2,), (2, False), (1,), (2, False)]
        losses = [fn(x, y, scale, squared=squared).data.copy() for scale, squared in
                  ((call[0], call[1] if len(call) > 1 else True) for call in calls)]
        return losses, model, fn

    (eager, eager_model, _), (compiled, model, fn) = run(False), run(True)
    for a, b in zip(eager, compiled):
        assert_equal_arrays(a, b, 'loss')
    assert_same_model(eager_model, model)
    assert fn.recordings == 3 and fn.calls == 7


def test_more_than_eight_keys_evict_the_oldest(dtype):
    twins = Twins(mlp)
    sizes = list(range(1, MAX_PLANS + 2))  # 9 batch sizes
    for size in sizes:
        twins(*data(dtype, size, seed=size))
    step = twins.compiled.step
    assert step.recordings == MAX_PLANS + 1 == 9
    assert sum(len(plans) for plans in step.plans.values()) == MAX_PLANS
    kept = {key[0][0][1][0] for key in step.plans}  # the batch size: (keyword, shape, dtype) of x
    assert kept == set(sizes[1:])
    twins(*data(dtype, sizes[-1], seed=0))  # still kept: replayed
    assert step.recordings == 9
    twins(*data(dtype, sizes[0], seed=0))   # evicted: recorded again
    assert step.recordings == 10


def test_anomaly_mode_is_part_of_the_key(dtype):
    tl.manual_seed(0)
    model = nn.Linear(2, 1)
    with tl.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(0.0)

    def step(x):
        model.zero_grad()
        loss = model(x).log().sum()
        loss.backward()
        return loss

    compiled = tl.compile(step)
    good, bad = np.full((1, 2), 2.0, dtype), np.full((1, 2), -2.0, dtype)
    compiled(good)
    compiled(good)
    assert compiled.recordings == 1
    with tl.detect_anomaly():
        assert_equal_arrays(compiled(good).data, np.log(np.array(4.0, dtype)), 'loss under anomaly mode')
        assert compiled.recordings == 2
        with pytest.raises(RuntimeError, match="'log'"), np.errstate(invalid='ignore'):
            compiled(bad)  # the anomaly plan checks every op's output
    with np.errstate(invalid='ignore'):
        assert np.isnan(compiled(bad).item())  # the plain plan does not
    assert compiled.recordings == 2


def test_values_passed_in_get_their_gradients_at_each_replay(dtype):
    w = nn.Parameter(np.ones(3, dtype=dtype))
    optimizer = optim.SGD([w], lr=0.0)

    def step(x):
        optimizer.zero_grad()
        loss = (w * x * x).sum()
        loss.backward()
        return loss

    compiled = tl.compile(step)
    for shift in range(3):
        x = tl.Value(np.arange(3, dtype=dtype) + shift, requires_grad=True)
        loss = compiled(x)
        assert_equal_arrays(loss.data, np.array(((np.arange(3) + shift) ** 2).sum(), dtype), 'loss')
        assert_equal_arrays(x.grad, 2 * x.data, 'grad of the input')
        assert_equal_arrays(w.grad, x.data ** 2, 'grad of the parameter')
    assert compiled.recordings == 1
    x = tl.Value(np.ones(3, dtype=dtype))  # requires_grad is part of the key
    compiled(x)
    assert x.grad is None and compiled.recordings == 2


def test_a_list_argument_runs_eagerly_with_one_warning():
    compiled = tl.compile(lambda xs: tl.Value(xs[0]) * 2)
    with pytest.warns(tl.compiler.CompileWarning, match='neither an array'):
        out = compiled([np.ones(2)])
    np.testing.assert_array_equal(out.data, [2.0, 2.0])
    assert compiled.recordings == 0


def test_ops_of_another_thread_during_a_recording_are_not_recorded():
    """The tape is the recording thread's own: another thread's ops at the same time do not
    go into the plan."""
    import threading
    started, release = threading.Event(), threading.Event()

    def other_thread():
        started.wait()
        for _ in range(50):
            (tl.Value(np.ones(3), requires_grad=True) * 3).sum().backward()
        release.set()

    def slow(x):
        v = tl.Value(x) * 2
        started.set()
        release.wait(5)
        return v + 1

    worker = threading.Thread(target=other_thread)
    worker.start()
    compiled = tl.compile(slow)
    compiled(np.ones(2))
    worker.join()
    plan = next(iter(compiled.plans.values()))[-1]
    assert [statement.label for statement in plan.statements if statement.kind == 'forward'] == ['mul', 'add']
    np.testing.assert_array_equal(compiled(np.full(2, 3.0)).data, [7.0, 7.0])
