"""tl.compile: a recorded and replayed training step gives the eager step's numbers bit for bit
(losses, parameters, gradients, buffers, optimizer state, learning rates) for the models,
losses, optimizers and schedulers of the library; what cannot be compiled runs eagerly after a
CompileWarning; tl.compiler.eager, errors inside a step, memory over many replays and
check=N. Guards (what makes a plan re-record) are in test_compile_guards.py."""
from __future__ import annotations

import tracemalloc
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from helpers import DropoutNet

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.compiler import CompileWarning
from tinygrad_ls.models import GPT, GPTConfig
from tinygrad_ls.nn import functional as F
from tinygrad_ls.optim import lr_scheduler

STEPS = 10


@pytest.fixture(params=[np.float32, np.float64], ids=['float32', 'float64'])
def dtype(request, restore_default_dtype):
    """Models built in the test take this dtype (the library's default dtype while it runs)."""
    tl.set_default_dtype(request.param)
    return np.dtype(request.param)


# ---- the harness: one model trained twice, eagerly and through a compiled step -----------------------
@dataclass
class Run:
    model: nn.Module
    optimizer: optim.Optimizer
    losses: list
    lrs: list
    step: object


def train(build, batches, *, compiled: bool) -> Run:
    """``build() -> (model, optimizer, scheduler or None, loss_of(model, *batch))`` under
    tl.manual_seed(0); then one step per batch (zero_grad, loss, backward, step, scheduler
    step) under tl.manual_seed(1), eagerly or through tl.compile, with no CompileWarning."""
    tl.manual_seed(0)
    model, optimizer, scheduler, loss_of = build()

    def step(*batch):
        optimizer.zero_grad()
        loss = loss_of(model, *batch)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return loss

    fn = tl.compile(step) if compiled else step
    tl.manual_seed(1)
    losses, lrs = [], []
    with warnings.catch_warnings():
        warnings.simplefilter('error', CompileWarning)
        for batch in batches:
            loss = fn(*batch)
            losses.append(loss.data.copy())
            lrs.append([group['lr'] for group in optimizer.param_groups])
            if compiled:
                assert not loss.requires_grad
    if compiled:
        assert (fn.recordings, fn.calls, fn.eager_keys) == (1, len(batches), {})
    return Run(model, optimizer, losses, lrs, fn)


def assert_equal_arrays(a, b, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert np.array_equal(a, b), f"{what}: max difference {np.max(np.abs(a.astype(float) - b.astype(float)))}"


def assert_same_state(model_a, model_b, optimizer_a=None, optimizer_b=None) -> None:
    """Every parameter, gradient, buffer and optimizer state entry equal bit for bit."""
    named_a, named_b = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    assert list(named_a) == list(named_b)
    for name in named_a:
        a, b = named_a[name], named_b[name]
        assert_equal_arrays(a.data, b.data, name)
        assert (a.grad is None) == (b.grad is None), f"{name}.grad"
        if a.grad is not None:
            assert_equal_arrays(a.grad, b.grad, f"{name}.grad")
    buffers_a, buffers_b = dict(model_a.named_buffers()), dict(model_b.named_buffers())
    assert list(buffers_a) == list(buffers_b)
    for name in buffers_a:
        assert_equal_arrays(buffers_a[name], buffers_b[name], name)
    if optimizer_a is None:
        return
    for group_a, group_b in zip(optimizer_a.param_groups, optimizer_b.param_groups, strict=True):
        assert {k: v for k, v in group_a.items() if k != 'params'} == \
            {k: v for k, v in group_b.items() if k != 'params'}
        for index, (a, b) in enumerate(zip(group_a['params'], group_b['params'], strict=True)):
            state_a, state_b = optimizer_a.state.get(a, {}), optimizer_b.state.get(b, {})
            assert sorted(state_a) == sorted(state_b)
            for key in state_a:
                what = f"state[param {index}][{key!r}]"
                if isinstance(state_a[key], np.ndarray):
                    assert_equal_arrays(state_a[key], state_b[key], what)
                else:
                    assert state_a[key] == state_b[key], what


def assert_runs_equal(eager: Run, compiled: Run) -> None:
    assert len(eager.losses) == len(compiled.losses)
    for index, (a, b) in enumerate(zip(eager.losses, compiled.losses)):
        assert_equal_arrays(a, b, f"loss {index}")
    assert eager.lrs == compiled.lrs
    assert_same_state(eager.model, compiled.model, eager.optimizer, compiled.optimizer)


def compare(build, batches) -> tuple:
    eager = train(build, batches, compiled=False)
    compiled = train(build, batches, compiled=True)
    assert_runs_equal(eager, compiled)
    return eager, compiled


# ---- data ----------------------------------------------------------------------------------------------
def classification_batches(dtype, features=6, classes=4, size=8, steps=STEPS, seed=0) -> list:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((size, features)).astype(dtype), rng.integers(0, classes, size))
            for _ in range(steps)]


def regression_batches(dtype, features=5, size=8, steps=STEPS, seed=0) -> list:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((size, features)).astype(dtype),
             rng.standard_normal((size, 1)).astype(dtype)) for _ in range(steps)]


def binary_batches(dtype, features=5, size=8, steps=STEPS, seed=0) -> list:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((size, features)).astype(dtype), rng.integers(0, 2, size).astype(dtype))
            for _ in range(steps)]


def image_batches(dtype, size=6, steps=STEPS, seed=0) -> list:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((size, 1, 8, 8)).astype(dtype), rng.integers(0, 3, size))
            for _ in range(steps)]


def token_batches(vocab=11, shape=(3, 8), steps=STEPS, seed=0) -> list:
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, vocab, shape), rng.integers(0, vocab, shape)) for _ in range(steps)]


# ---- models: each a build() for train() ------------------------------------------------------------
def mlp(make_optimizer=lambda params: optim.Adam(params, lr=1e-2),
        make_scheduler=lambda opt: lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)):
    def build():
        model = nn.MLP([6, 16, 16, 4])
        optimizer = make_optimizer(model.parameters())
        return model, optimizer, make_scheduler(optimizer), lambda m, x, y: F.cross_entropy(m(x), y)
    return build


def sequential_mlp():
    model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 4))
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, optimizer, lr_scheduler.StepLR(optimizer, 4, 0.5), lambda m, x, y: F.cross_entropy(m(x), y)


def linear_regression():
    model = nn.Linear(5, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    return model, optimizer, lr_scheduler.ExponentialLR(optimizer, 0.9), lambda m, x, y: F.mse_loss(m(x), y)


def logistic_regression():
    model = nn.Linear(5, 1)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    scheduler = lr_scheduler.StepLR(optimizer, 3, 0.3)
    return model, optimizer, scheduler, \
        lambda m, x, y: F.binary_cross_entropy_with_logits(m(x).reshape(-1), y)


def small_cnn():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
    optimizer = optim.AdamW(model.parameters(), lr=1e-2)
    return model, optimizer, lr_scheduler.StepLR(optimizer, 3, 0.5), lambda m, x, y: F.cross_entropy(m(x), y)


def tiny_gpt(lr: float = 1e-2):
    def build():
        model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.2))
        optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1)
        scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=STEPS)
        return model, optimizer, scheduler, lambda m, idx, targets: m(idx, targets)[1]
    return build


MODELS = {
    'mlp': (mlp(), classification_batches),
    'sequential': (sequential_mlp, classification_batches),
    'linear_regression': (linear_regression, regression_batches),
    'logistic_regression': (logistic_regression, binary_batches),
    'cnn': (small_cnn, image_batches),
}


@pytest.mark.parametrize('name', list(MODELS))
def test_replay_equals_eager_bit_for_bit(name, dtype):
    build, batches = MODELS[name]
    eager, compiled = compare(build, batches(dtype))
    assert eager.losses[0].dtype == dtype
    assert len({tuple(lr) for lr in eager.lrs}) > 1  # the scheduler changed lr between replays
    assert not np.array_equal(eager.losses[1], eager.losses[2])


def test_tiny_gpt_with_dropout_replays_bit_for_bit(dtype):
    eager, compiled = compare(tiny_gpt(), token_batches())
    assert eager.losses[0].dtype == dtype
    assert compiled.model.transformer.drop.p > 0


def test_tiny_gpt_draws_new_dropout_masks_at_each_replay(dtype):
    """lr=0 and one batch repeated: the weights stay, so only the masks make the losses differ."""
    batches = token_batches(steps=1) * 4
    eager, compiled = compare(tiny_gpt(lr=0.0), batches)
    assert len({float(loss) for loss in compiled.losses}) == 4


OPTIMIZERS = {
    'sgd': lambda p: optim.SGD(p, lr=0.1),
    'sgd_momentum': lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
    'sgd_nesterov_weight_decay': lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True,
                                                     weight_decay=1e-2),
    'sgd_dampening_maximize': lambda p: optim.SGD(p, lr=0.01, momentum=0.5, dampening=0.3, maximize=True),
    'adam': lambda p: optim.Adam(p, lr=1e-2),
    'adam_amsgrad_weight_decay': lambda p: optim.Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-2),
    'adamw': lambda p: optim.AdamW(p, lr=1e-2),
    'adamw_amsgrad': lambda p: optim.AdamW(p, lr=1e-2, betas=(0.8, 0.9), amsgrad=True),
    'rmsprop': lambda p: optim.RMSprop(p, lr=1e-2),
    'rmsprop_centered_momentum': lambda p: optim.RMSprop(p, lr=1e-2, momentum=0.9, centered=True,
                                                         weight_decay=1e-2),
    'adagrad': lambda p: optim.Adagrad(p, lr=0.1),
    'adagrad_decay': lambda p: optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=1e-2,
                                             initial_accumulator_value=0.1),
}


def test_every_optimizer_but_lbfgs_is_listed():
    listed = {name for name in optim.__all__ if isinstance(getattr(optim, name), type)}
    covered = {type(make([nn.Parameter(np.zeros(2))])).__name__ for make in OPTIMIZERS.values()}
    assert listed - covered == {'Optimizer', 'LBFGS'}


@pytest.mark.parametrize('name', list(OPTIMIZERS))
def test_every_optimizer_replays_bit_for_bit(name, dtype):
    compare(mlp(OPTIMIZERS[name]), classification_batches(dtype))


SCHEDULERS = {
    'step': lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    'multistep': lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5], gamma=0.1),
    'exponential': lambda o: lr_scheduler.ExponentialLR(o, gamma=0.8),
    'linear': lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=6),
    'lambda': lambda o: lr_scheduler.LambdaLR(o, lambda epoch: 1.0 / (epoch + 1)),
    'cosine': lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6),
    'warm_restarts': lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3),
    'one_cycle': lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=STEPS + 1),
}


@pytest.mark.parametrize('name', list(SCHEDULERS))
def test_schedulers_stepped_inside_change_lr_between_replays(name, dtype):
    build = mlp(lambda p: optim.SGD(p, lr=0.1, momentum=0.9), SCHEDULERS[name])
    eager, _ = compare(build, classification_batches(dtype))
    assert len({tuple(lr) for lr in eager.lrs}) > 2


def test_reduce_lr_on_plateau_stepped_with_the_loss(dtype):
    """ReduceLROnPlateau.step(loss) reads the loss: replayed as a call with the replay's loss."""
    def run(compiled):
        tl.manual_seed(0)
        model = nn.Linear(5, 1)
        optimizer = optim.SGD(model.parameters(), lr=0.05)
        scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)

        def step(x, y):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step(loss)
            return loss
        fn = tl.compile(step) if compiled else step
        losses, lrs = [], []
        with warnings.catch_warnings():
            warnings.simplefilter('error', CompileWarning)
            for batch in regression_batches(dtype):
                losses.append(fn(*batch).data.copy())
                lrs.append([optimizer.param_groups[0]['lr']])
        return Run(model, optimizer, losses, lrs, fn)

    eager, compiled = run(False), run(True)
    assert_runs_equal(eager, compiled)
    assert len({lr[0] for lr in eager.lrs}) > 1 and compiled.step.recordings == 1


# ---- dropout, accumulation, forward only ---------------------------------------------------------------
def test_dropout_masks_differ_between_replays_and_follow_manual_seed(dtype):
    x = np.ones((16, 6), dtype=dtype)

    def run(compiled, seed):
        tl.manual_seed(0)
        model = DropoutNet(6, 6, 1)

        def forward_backward(x):
            model.zero_grad()
            hidden = model.drop(model.fc(x).relu())
            (model.out(hidden) ** 2).mean().backward()
            return hidden
        fn = tl.compile(forward_backward) if compiled else forward_backward
        tl.manual_seed(seed)
        outputs = [fn(x).data.copy() for _ in range(4)]
        return outputs, model, fn

    eager, eager_model, _ = run(False, 7)
    compiled, compiled_model, fn = run(True, 7)
    for a, b in zip(eager, compiled):
        assert_equal_arrays(a, b, 'dropout output')
    assert_same_state(eager_model, compiled_model)
    assert fn.recordings == 1
    masks = [tuple((output == 0).ravel()) for output in compiled]
    assert len(set(masks)) == 4  # a new mask at every replay
    other_seed, _, _ = run(True, 8)
    assert not np.array_equal(other_seed[2], compiled[2])


def test_gradients_accumulate_across_replays_without_zero_grad(dtype):
    batches = regression_batches(dtype, steps=3)

    def run(compiled):
        tl.manual_seed(0)
        model = nn.MLP([5, 8, 1])

        def accumulate(x, y):
            loss = F.mse_loss(model(x), y)
            loss.backward()
            return loss
        fn = tl.compile(accumulate) if compiled else accumulate
        grads = []
        for batch in batches:
            fn(*batch)
            grads.append([p.grad.copy() for p in model.parameters()])
        return model, grads, fn

    (eager, eager_grads, _), (compiled, compiled_grads, fn) = run(False), run(True)
    for step_a, step_b in zip(eager_grads, compiled_grads):
        for a, b in zip(step_a, step_b):
            assert_equal_arrays(a, b, 'accumulated grad')
    assert_same_state(eager, compiled)
    assert fn.recordings == 1
    assert not np.array_equal(compiled_grads[1][0], compiled_grads[2][0])


def test_forward_only_under_no_grad_in_eval_mode(dtype):
    tl.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    model.eval()
    compiled = tl.compile(model)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.standard_normal((5, 6)).astype(dtype)
        with tl.no_grad():
            out = compiled(x)
            expected = model(x)
        assert_equal_arrays(out.data, expected.data, 'output')
        assert not out.requires_grad
    assert (compiled.recordings, compiled.calls) == (1, 4)


def test_inputs_are_copied_and_outputs_do_not_alias_them(dtype):
    tl.manual_seed(0)
    model = nn.Linear(3, 3)
    compiled = tl.compile(lambda x: model(x) * 1.0 + x)
    x = np.ones((2, 3), dtype=dtype)
    with tl.no_grad():
        first = compiled(x)
        kept = first.data.copy()
        x[...] = 5  # the caller's array changes after the call: the plan's copy does not
        second = compiled(np.full((2, 3), 2.0, dtype))
        assert_equal_arrays(first.data, kept, 'first result after a later replay')
        assert_equal_arrays(second.data, (model(np.full((2, 3), 2.0, dtype)) * 1.0 + 2.0).data, 'second')
    assert compiled.recordings == 1


# ---- what runs eagerly, with a CompileWarning --------------------------------------------------------
def test_returning_a_value_that_requires_grad_runs_eagerly(dtype):
    tl.manual_seed(0)
    model = nn.Linear(4, 2)
    compiled = tl.compile(lambda x: model(x).sum())
    x = np.ones((3, 4), dtype=dtype)
    with pytest.warns(CompileWarning, match='without calling backward'):
        out = compiled(x)
    assert out.requires_grad  # the eager result, with its graph
    with warnings.catch_warnings():
        warnings.simplefilter('error', CompileWarning)  # warned once per key
        for scale in (2.0, 3.0):
            out = compiled(x * scale)
            assert out.requires_grad
            assert_equal_arrays(out.data, model(x * scale).sum().data, 'eager result')
    out.backward()
    assert model.weight.grad is not None
    assert compiled.recordings == 0 and len(compiled.eager_keys) == 1


def test_tl_grad_inside_runs_eagerly(dtype):
    tl.manual_seed(0)
    w = nn.Parameter(np.linspace(-1, 1, 4).astype(dtype))

    def gradient(x):
        (g,) = tl.grad((w * x).tanh().sum(), w)
        return g

    compiled = tl.compile(gradient)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(4).astype(dtype) for _ in range(3)]
    with pytest.warns(CompileWarning, match='tl.grad'):
        first = compiled(xs[0])
    results = [first] + [compiled(x) for x in xs[1:]]
    for x, result in zip(xs, results):
        assert_equal_arrays(result.data, gradient(x).data, 'tl.grad result')
    assert compiled.recordings == 0 and compiled.eager_keys


def test_lbfgs_with_a_closure_runs_eagerly(dtype):
    batches = regression_batches(dtype, steps=3)

    def run(compiled):
        tl.manual_seed(0)
        model = nn.Linear(5, 1)
        optimizer = optim.LBFGS(model.parameters(), lr=0.5, max_iter=4)

        def step(x, y):
            def closure():
                optimizer.zero_grad()
                loss = F.mse_loss(model(x), y)
                loss.backward()
                return loss
            return optimizer.step(closure).data.copy()
        fn = tl.compile(step) if compiled else step
        return [fn(*batch) for batch in batches], model, optimizer, fn

    eager_losses, eager_model, eager_opt, _ = run(False)
    with pytest.warns(CompileWarning, match='closure'):
        losses, model, opt, fn = run(True)
    for a, b in zip(eager_losses, losses):
        assert_equal_arrays(a, b, 'L-BFGS loss')
    assert_same_state(eager_model, model)
    assert fn.recordings == 0 and fn.eager_keys


# ---- numbers read out of Values ------------------------------------------------------------------------
def test_returned_item_runs_eagerly_after_one_warning(dtype):
    batches = regression_batches(dtype)

    def run(compiled):
        tl.manual_seed(0)
        model = nn.Linear(5, 1)
        optimizer = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            return loss.item(), float(loss)
        fn = tl.compile(step) if compiled else step
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', CompileWarning)
            return [fn(*batch) for batch in batches], model, fn, caught

    (eager, eager_model, _, _), (compiled, model, fn, caught) = run(False), run(True)
    caught = [w for w in caught if issubclass(w.category, CompileWarning)]
    # item() hands the step's numbers to Python, which a replay could not redo: every call runs
    # eagerly, after one warning that names the read and the line
    assert eager == compiled
    assert all(type(a) is float and type(b) is float for a, b in compiled)
    assert len(set(compiled)) == len(batches)
    assert_same_state(eager_model, model)
    assert fn.recordings == 0 and len(fn.eager_keys) == 1
    message = str(caught[0].message)
    assert len(caught) == 1 and 'item()' in message and 'test_compile.py' in message


def test_float_read_inside_the_step_runs_eagerly(dtype):
    tl.manual_seed(0)
    model = nn.Linear(5, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    history = []

    def step(x, y):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        history.append(float(loss))
        loss.backward()
        optimizer.step()
        return loss

    compiled = tl.compile(step)
    batches = regression_batches(dtype, steps=3)
    with pytest.warns(CompileWarning, match=r'reads the numbers of a Value \(float\(\)\)'):
        compiled(*batches[0])
    losses = [compiled(*batch).item() for batch in batches[1:]]
    # the Python that read the number runs at every call, as eagerly
    assert history[1:] == losses and len(history) == 3


@pytest.mark.filterwarnings('error::tinygrad_ls.compiler.CompileWarning')
def test_eager_decorated_logger_is_called_at_each_replay(dtype):
    batches = regression_batches(dtype)

    def run(compiled):
        tl.manual_seed(0)
        model = nn.Linear(5, 1)
        optimizer = optim.Adam(model.parameters(), lr=0.1)
        logged = []

        @tl.compiler.eager
        def log(step_number, loss):
            logged.append((step_number, loss.item()))

        def step(x, y, step_number):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            log(step_number, loss)
            optimizer.step()
            return loss
        fn = tl.compile(step) if compiled else step
        losses = [fn(*batch, 0).item() for batch in batches]
        return logged, losses, fn

    (eager_logged, eager_losses, _), (logged, losses, fn) = run(False), run(True)
    assert logged == eager_logged and losses == eager_losses
    assert [loss for _, loss in logged] == losses
    assert fn.recordings == 1 and fn.calls == len(batches)


class NonFiniteLoss(FloatingPointError):
    pass


@tl.compiler.eager
def check_finite(loss):
    if not np.isfinite(loss.item()):
        raise NonFiniteLoss(f"loss is {loss.item()}")


@pytest.mark.filterwarnings('ignore:overflow encountered:RuntimeWarning')  # (the infinite loss)
def test_a_step_that_raises_leaves_the_parameters_untouched(dtype):
    batches = regression_batches(dtype, steps=5)
    bad = (batches[0][0], np.full_like(batches[0][1], np.finfo(dtype).max))  # an infinite loss

    def run(compiled):
        tl.manual_seed(0)
        model = nn.Linear(5, 1)
        optimizer = optim.Adam(model.parameters(), lr=0.1)

        def step(x, y):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            check_finite(loss)
            loss.backward()
            optimizer.step()
            return loss
        fn = tl.compile(step) if compiled else step
        losses = [fn(*batch).data.copy() for batch in batches[:3]]
        before = [p.data.copy() for p in model.parameters()]
        with pytest.raises(NonFiniteLoss):
            fn(*bad)
        for p, kept in zip(model.parameters(), before):
            assert_equal_arrays(p.data, kept, 'parameter after the failed step')
        losses += [fn(*batch).data.copy() for batch in batches[3:]]  # training goes on
        return Run(model, optimizer, losses, [], fn)

    eager, compiled = run(False), run(True)
    assert_runs_equal(eager, compiled)
    assert compiled.step.recordings == 1


def test_memory_stays_flat_over_many_replays():
    tl.manual_seed(0)
    model = nn.Linear(4, 2)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(x, y):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    compiled = tl.compile(step)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 4)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    tracemalloc.start()
    try:
        for _ in range(100):
            compiled(x, y)
        early, _ = tracemalloc.get_traced_memory()
        for _ in range(1000):
            compiled(x, y)
        late, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert compiled.recordings == 1 and compiled.calls == 1100
    assert abs(late - early) < 64 * 1024, f"{late - early} bytes more after 1000 replays"


# ---- branches on data, and check=N -------------------------------------------------------------------
def test_branch_on_bool_of_a_value_runs_eagerly(dtype):
    tl.manual_seed(0)
    w = nn.Parameter(np.ones(3, dtype=dtype))

    def branchy(x):
        w.grad = None
        y = (w * x).sum()
        loss = y * 2 if y > 0 else -y
        loss.backward()
        return loss

    compiled = tl.compile(branchy)
    with pytest.warns(CompileWarning, match='branch'):
        positive = compiled(np.ones(3, dtype=dtype))
    negative = compiled(-np.ones(3, dtype=dtype))
    assert positive.item() == 6.0 and negative.item() == 3.0
    assert_equal_arrays(w.grad, np.ones(3, dtype=dtype), 'grad of the negative branch: -x')
    assert compiled.recordings == 0


def branch_on_item(dtype):
    """A step whose branch depends on the data through item(); and its weight (ones)."""
    model = nn.Linear(3, 1, bias=False)
    with tl.no_grad():
        model.weight.fill_(1.0)

    def step(x):
        model.zero_grad()
        y = model(x).sum()
        # item() reads a bool out of the data: a recording would see one branch only, so the
        # tracer sees the read and the calls run eagerly.
        if (y > 0).item():
            loss = y * 2
        else:
            loss = -y
        loss.backward()
        return loss
    return step, model


def test_branch_on_item_runs_eagerly(dtype):
    step, model = branch_on_item(dtype)
    compiled = tl.compile(step)
    with pytest.warns(CompileWarning, match=r'item\(\)'):
        compiled(np.ones((1, 3), dtype=dtype))
    other_branch = compiled(-np.ones((1, 3), dtype=dtype))
    assert other_branch.item() == 3.0  # -y, as eager code computes it
    assert_equal_arrays(model.weight.grad, np.ones((1, 3), dtype), 'grad of the branch taken')
    assert compiled.recordings == 0


def test_branch_on_item_with_check_runs_eagerly_too(dtype):
    step, model = branch_on_item(dtype)
    compiled = tl.compile(step, check=3)
    with pytest.warns(CompileWarning):
        compiled(np.ones((1, 3), dtype=dtype))
    assert compiled(2 * np.ones((1, 3), dtype=dtype)).item() == 12.0
    assert compiled(-np.ones((1, 3), dtype=dtype)).item() == 3.0
    assert compiled.recordings == 0


def test_check_passes_on_a_faithful_step_and_stops_after_n_calls(dtype):
    build, batches = mlp(), classification_batches(dtype)
    eager = train(build, batches, compiled=False)
    tl.manual_seed(0)
    model, optimizer, scheduler, loss_of = build()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_of(model, x, y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        return loss
    compiled = tl.compile(step, check=3)
    tl.manual_seed(1)
    losses, lrs = [], []
    for batch in batches:
        losses.append(compiled(*batch).data.copy())
        lrs.append([group['lr'] for group in optimizer.param_groups])
    assert_runs_equal(eager, Run(model, optimizer, losses, lrs, compiled))
    assert compiled.recordings == 1


def test_compile_arguments_are_checked():
    with pytest.raises(TypeError, match='function or a Module'):
        tl.compile(3)
    with pytest.raises(ValueError, match='check'):
        tl.compile(lambda: None, check=-1)
    with pytest.raises(ValueError, match='check'):
        tl.compile(lambda: None, check=True)


def test_assigning_grad_inside_the_step_runs_eagerly(dtype):
    """``w.grad = None`` is Python, not an op: a replay could not do it, so the step runs
    eagerly (the gradient does not accumulate from call to call)."""
    w = nn.Parameter(np.ones(3, dtype=dtype))

    def step(x):
        w.grad = None
        (w * x).sum().backward()
        return w.grad.copy()

    compiled = tl.compile(step, check=2)
    with pytest.warns(CompileWarning, match=r'assigning \.grad'):
        first = compiled(np.ones(3, dtype=dtype))
    second = compiled(2 * np.ones(3, dtype=dtype))
    assert_equal_arrays(first, np.ones(3, dtype), 'first gradient')
    assert_equal_arrays(second, np.full(3, 2, dtype), 'second gradient (not accumulated)')


# ---- gradient clipping and numbers returned by replayed calls ----------------------------------------
@pytest.mark.parametrize('clip', ['norm', 'value'])
def test_gradient_clipping_is_replayed(clip, dtype):
    batches = [(x * 10, y) for x, y in regression_batches(dtype)]

    def build():
        model = nn.MLP([5, 8, 1])
        optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def loss_of(m, x, y):
            return F.mse_loss(m(x), y)
        return model, optimizer, None, loss_of

    def run(compiled):
        tl.manual_seed(0)
        model, optimizer, _, loss_of = build()

        def step(x, y):
            optimizer.zero_grad()
            loss = loss_of(model, x, y)
            loss.backward()
            if clip == 'norm':
                nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            else:
                nn.utils.clip_grad_value_(model.parameters(), 0.05)
            optimizer.step()
            return loss
        fn = tl.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter('error', CompileWarning)
            losses = [fn(*batch).data.copy() for batch in batches]
        return Run(model, optimizer, losses, [], fn)

    eager, compiled = run(False), run(True)
    assert_runs_equal(eager, compiled)
    assert compiled.step.recordings == 1


def test_a_number_returned_by_a_replayed_call_is_the_new_one(dtype):
    batches = regression_batches(dtype, steps=4)

    @tl.compiler.eager
    def doubled(loss):
        return 2 * loss.item()

    def run(compiled):
        tl.manual_seed(0)
        model = nn.Linear(5, 1)
        optimizer = optim.SGD(model.parameters(), lr=0.05)

        def step(x, y):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), 1e6)
            optimizer.step()
            return norm, doubled(loss)
        fn = tl.compile(step) if compiled else step
        return [fn(*batch) for batch in batches]

    eager, compiled = run(False), run(True)
    assert len(set(eager)) == len(batches)
    assert compiled == eager
