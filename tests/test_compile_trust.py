"""tl.compile attacked: state changed between calls, Python escapes inside the step, threads,
bad input at a replay. Each case either replays bit for bit what eager code computes, or runs
eagerly after one CompileWarning naming the reason and the line, and still equals eager code.
There is no third outcome."""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.compiler import CompileWarning
from tinygrad_ls.nn import functional as F

RNG = np.random.default_rng(0)
X = [RNG.standard_normal((6, 4)) for _ in range(6)]
Y = [RNG.integers(0, 3, 6) for _ in range(6)]
COEFFICIENT = 0.5
COUNTER = 0


def twin_runs(build, calls, between=None):
    """Run ``build()``'s step eagerly and compiled on two identical copies, calling
    ``between(objects, i)`` before call ``i`` on each copy; returns (eager results, compiled
    results, the compiled function, the warnings it gave)."""
    runs = []
    for compiled in (False, True):
        tl.manual_seed(0)
        objects = build()
        step = tl.compile(objects['step']) if compiled else objects['step']
        results = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', CompileWarning)
            for i in range(calls):
                if between is not None:
                    between(objects, i)
                results.append(snapshot(step(*objects['args'](i))))
        runs.append((results, step, [w for w in caught if issubclass(w.category, CompileWarning)]))
    (eager, _, _), (compiled, step, caught) = runs
    for index, (a, b) in enumerate(zip(eager, compiled)):
        for x, y in zip(a, b):
            assert np.array_equal(x, y, equal_nan=True), f"call {index}: {x} != {y}"
    return eager, compiled, step, caught


def snapshot(result):
    items = result if isinstance(result, tuple) else (result,)
    return [np.array(getattr(item, 'data', item), copy=True) for item in items]


def mlp_build(make_model, run=lambda model, x: model(x)):
    """``build()`` for ``twin_runs``: a model, SGD and a cross-entropy step calling
    ``run(model, x)``."""
    def build():
        model = make_model()
        optimizer = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            optimizer.zero_grad()
            loss = F.cross_entropy(run(model, x), y)
            loss.backward()
            optimizer.step()
            return loss
        return {'model': model, 'step': step, 'args': lambda i: (X[i % 6], Y[i % 6])}
    return build


# ---- containers changed between calls ---------------------------------------------------------------
def test_sequential_item_replaced_records_again():
    def between(objects, i):
        if i == 3:
            objects['model'][2] = nn.Linear(8, 3)
    build = mlp_build(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)))
    _, _, step, caught = twin_runs(build, 6, between)
    assert step.recordings == 2 and not caught


class Stack(nn.Module):
    def __init__(self, container):
        super().__init__()
        self.layers = container

    def forward(self, x):
        layers = self.layers.values() if isinstance(self.layers, nn.ModuleDict) else self.layers
        for layer in layers:
            x = layer(x).tanh()
        return x


def _refill(heads):
    first = heads['a']
    heads.clear()
    heads['a'] = first


CONTAINER_EDITS = {
    'list setitem': lambda layers: layers.__setitem__(1, nn.Linear(3, 3)),
    'list append': lambda layers: layers.append(nn.Linear(3, 3)),
    'list insert': lambda layers: layers.insert(1, nn.Linear(3, 3)),
    'list delitem': lambda layers: layers.__delitem__(1),
    'list extend': lambda layers: layers.extend([nn.Linear(3, 3), nn.Linear(3, 3)]),
    'dict pop': lambda heads: heads.pop('b'),
    'dict setitem': lambda heads: heads.__setitem__('b', nn.Linear(3, 3)),
    'dict delitem': lambda heads: heads.__delitem__('b'),
    'dict update': lambda heads: heads.update({'c': nn.Linear(3, 3)}),
    'dict clear and refill': _refill,
}


@pytest.mark.parametrize('edit', list(CONTAINER_EDITS))
def test_module_list_and_dict_edits_record_again(edit):
    def between(objects, i):
        if i == 2:
            CONTAINER_EDITS[edit](objects['model'].layers)

    def container():
        if edit.startswith('list'):
            return nn.ModuleList([nn.Linear(4, 3), nn.Linear(3, 3)])
        return nn.ModuleDict({'a': nn.Linear(4, 3), 'b': nn.Linear(3, 3)})
    _, _, step, caught = twin_runs(mlp_build(lambda: Stack(container())), 5, between)
    assert step.recordings == 2 and not caught


def test_registry_writes_bump_the_version():
    seq = nn.Sequential(nn.Linear(2, 2))
    for edit in (lambda: seq._modules.__setitem__('1', nn.ReLU()), lambda: seq._modules.pop('1'),
                 lambda: seq._modules.setdefault('2', nn.ReLU()), lambda: seq._modules.popitem(),
                 lambda: seq._modules.update({'3': nn.ReLU()}), lambda: seq._parameters.clear()):
        before = seq.structure_version
        edit()
        assert seq.structure_version > before


# ---- Python values that steer forward ---------------------------------------------------------------
class Steered(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.drop = nn.Dropout(0.0)
        self.scale, self.use_skip, self.mode = 1.0, False, 'tanh'

    def forward(self, x):
        h = self.drop(self.linear(x)) * self.scale
        h = h.tanh() if self.mode == 'tanh' else h.relu()
        if self.use_skip:
            h = h + 0.5 * h
        return h * COEFFICIENT


@pytest.mark.parametrize('attribute, value', [('scale', 2.5), ('use_skip', True), ('mode', 'relu')])
def test_scalar_attributes_are_guarded(attribute, value):
    def between(objects, i):
        if i == 3:
            setattr(objects['model'], attribute, value)
    _, _, step, caught = twin_runs(mlp_build(Steered), 6, between)
    assert step.recordings == 2 and not caught


def test_dropout_probability_is_guarded():
    def between(objects, i):
        if i == 2:
            objects['model'].drop.p = 0.5
    _, compiled, step, caught = twin_runs(mlp_build(Steered), 5, between)
    assert step.recordings == 2 and not caught


def test_a_global_coefficient_is_guarded():
    global COEFFICIENT

    def between(objects, i):
        global COEFFICIENT
        COEFFICIENT = 0.5 if i < 3 else 2.0
    try:
        _, _, step, caught = twin_runs(mlp_build(Steered), 6, between)
    finally:
        COEFFICIENT = 0.5
    assert step.recordings == 2 and not caught


def test_a_helper_reading_a_rebound_global_model_records_again():
    def make_model():
        globals()['GLOBAL_MODEL'] = model = nn.Linear(4, 3)
        return model
    build = mlp_build(make_model, lambda model, x: forward_global(x))

    def between(objects, i):
        if i == 3:
            globals()['GLOBAL_MODEL'] = nn.Linear(4, 3)
    tl.manual_seed(0)
    _, _, step, caught = twin_runs(build, 6, between)
    assert step.recordings == 2 and not caught


def forward_global(x):
    return GLOBAL_MODEL(x)  # noqa: F821 (set by the test)


def test_a_counter_that_changes_every_call_ends_in_eager_calls_that_equal_eager():
    def build():
        model = nn.Linear(4, 3)
        optimizer = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            global COUNTER
            COUNTER += 1
            loss = F.cross_entropy(model(x), y) / 2
            loss.backward()
            if COUNTER % 2 == 0:  # gradient accumulation over two calls
                optimizer.step()
                optimizer.zero_grad()
            return loss
        return {'step': step, 'args': lambda i: (X[i % 6], Y[i % 6])}

    def between(objects, i):
        global COUNTER
        if i == 0:
            COUNTER = 0
    _, _, step, caught = twin_runs(build, 14, between)
    assert len(caught) == 1 and 'COUNTER' in str(caught[0].message)


def test_a_closure_variable_rebound_records_again():
    def build():
        model = nn.Linear(4, 3)
        factor = [1.0]
        state = {'factor': 1.0}

        def scaled(x):
            return model(x) * factor_now

        factor_now = 1.0

        def step(x, y):
            return F.cross_entropy(scaled(x), y).detach()

        def set_factor(value):
            nonlocal factor_now
            factor_now = value
        return {'step': step, 'args': lambda i: (X[i], Y[i]), 'set': set_factor, 'f': (factor, state)}

    def between(objects, i):
        if i == 2:
            objects['set'](3.0)
    _, _, step, caught = twin_runs(build, 4, between)
    assert step.recordings == 2 and not caught


def test_the_default_dtype_is_guarded():
    def build():
        def step(x):
            return (tl.Value([1.0, 2.0]) * x).detach()
        return {'step': step, 'args': lambda i: (np.float32(2.0) * np.ones(2, np.float32),)}

    def between(objects, i):
        tl.set_default_dtype(np.float64 if i >= 2 else np.float32)
    try:
        eager, compiled, step, caught = twin_runs(build, 4, between)
    finally:
        tl.set_default_dtype(np.float32)
    assert compiled[3][0].dtype == np.float64 and step.recordings == 2


# ---- escapes inside the step: eager after one warning -------------------------------------------
def escape_case(body):
    def build():
        model = nn.Linear(4, 3)
        optimizer = optim.SGD(model.parameters(), lr=0.1)
        extra = tl.Value(np.ones(3), requires_grad=True)

        def step(x, y):
            return body(model, optimizer, extra, x, y)
        return {'step': step, 'args': lambda i: (X[i].copy(), Y[i])}  # (one case writes into x)
    return build


def numpy_noise(model, optimizer, extra, x, y):
    loss = F.cross_entropy(model(tl.Value(x) + np.random.standard_normal(x.shape)), y)
    return loss.detach()


def generator_noise(model, optimizer, extra, x, y):
    loss = F.cross_entropy(model(tl.Value(x) + NOISE[0].standard_normal(x.shape)), y)
    return loss.detach()


NOISE = [np.random.default_rng(5)]


def manual_update(model, optimizer, extra, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    with tl.no_grad():
        for p in model.parameters():
            p.data -= 0.1 * p.grad
            p.grad = None
    return loss


def grad_set_to_none(model, optimizer, extra, x, y):
    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def returns_grad(model, optimizer, extra, x, y):
    extra.zero_grad()
    (model(x) * extra).sum().backward()
    return extra.grad.copy()


def formats_loss(model, optimizer, extra, x, y):
    loss = F.cross_entropy(model(x), y)
    print(f"{loss:.3f}")
    return loss.detach()


def tolist_branch(model, optimizer, extra, x, y):
    out = model(x)
    return out.detach() if out.sum().tolist() > 0 else (-out).detach()


def numpy_conversion(model, optimizer, extra, x, y):
    return tl.Value(np.asarray(model(x)) * 2)


def numpy_on_an_argument(model, optimizer, extra, x, y):
    return F.cross_entropy(model(x / 2), y).detach()


def numpy_view_of_an_argument(model, optimizer, extra, x, y):
    return F.cross_entropy(model(x[:, ::-1]), y).detach()


def writes_into_an_argument(model, optimizer, extra, x, y):
    x[0, 0] = 0.0
    return F.cross_entropy(model(x), y).detach()


def in_place_update(model, optimizer, extra, x, y):
    out = model(x).detach()
    out += 1
    return out


def python_on_a_number(model, optimizer, extra, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss, norm * 2


def tl_grad_inside(model, optimizer, extra, x, y):
    out = (model(x) * extra).sum()
    (gradient,) = tl.grad(out, extra)
    return gradient


@pytest.mark.parametrize('body, reason', [
    (numpy_noise, 'random draw'), (generator_noise, 'random draw'), (manual_update, r'\.data'),
    (grad_set_to_none, r'assigning \.grad'), (returns_grad, r'reading \.grad'),
    (formats_loss, 'formatting'), (tolist_branch, r'tolist\(\)'), (numpy_conversion, r'np\.asarray'),
    (in_place_update, 'in-place'), (numpy_on_an_argument, r'np\.divide'),
    (numpy_view_of_an_argument, 'indexing'), (writes_into_an_argument, 'writing into it'),
    (python_on_a_number, 'uses a number'), (tl_grad_inside, 'tl.grad'),
])
def test_escapes_run_eagerly_after_one_warning(body, reason, capsys):
    def between(objects, i):
        np.random.seed(i)
        if i == 0:
            NOISE[0] = np.random.default_rng(5)
    _, _, step, caught = twin_runs(escape_case(body), 4, between)
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert 'run eagerly' in message and 'test_compile_trust.py:' in message
    assert __import__('re').search(reason, message), message
    assert step.recordings == 0


def test_zero_grad_of_an_argument_is_replayed_on_the_new_argument():
    def step(x0, w):
        x0.zero_grad()
        (x0 * w).sum().backward()

    compiled = tl.compile(step)
    w = np.arange(3.0)
    values = [tl.Value(np.ones(3), requires_grad=True) for _ in range(4)]
    for value in values:
        value.grad = np.full(3, 100.0)  # zero_grad must clear it, on this argument
    with warnings.catch_warnings():
        warnings.simplefilter('error', CompileWarning)
        for value in values:
            compiled(value, w)
    for value in values:
        np.testing.assert_array_equal(value.grad, w)
    assert compiled.recordings == 1


def test_a_value_argument_gets_its_own_gradient():
    @tl.compile
    def step(x):
        (x * x).sum().backward()
        return x

    for k in range(1, 4):
        x = tl.Value(np.full(2, float(k)), requires_grad=True)
        assert step(x) is x
        np.testing.assert_array_equal(x.grad, [2.0 * k, 2.0 * k])
    assert step.recordings == 1


# ---- threads -------------------------------------------------------------------------------------------
def test_one_compiled_model_called_from_threads_equals_sequential_calls():
    tl.manual_seed(0)
    model = nn.MLP([16, 32, 32, 4])
    predict = tl.compile(lambda x: F.softmax(model(x), dim=-1).detach())
    inputs = [np.random.default_rng(i).standard_normal((8, 16)).astype(np.float32) for i in range(40)]
    with tl.no_grad():
        expected = [predict(x).data.copy() for x in inputs]
    wrong, errors = [], []

    def worker(offset):
        try:
            with tl.no_grad():
                for _ in range(25):
                    for i in range(offset, len(inputs), 4):
                        if not np.array_equal(predict(inputs[i]).data, expected[i]):
                            wrong.append(i)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and not wrong
    assert predict.recordings == 1


def test_threads_training_their_own_models_through_one_compiled_step():
    """Two threads, two models, one compiled function taking the model as an argument key."""
    def step(model_index, x, y):
        model, optimizer = PAIRS[model_index]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    def pairs():
        tl.manual_seed(0)
        models = [nn.Linear(4, 3), nn.Linear(4, 3)]
        return [(m, optim.SGD(m.parameters(), lr=0.1)) for m in models]

    global PAIRS
    PAIRS = pairs()
    for index in (0, 1):
        for i in range(6):
            step(index, X[i], Y[i])
    expected = [m.weight.data.copy() for m, _ in PAIRS]
    PAIRS = pairs()
    compiled = tl.compile(step)
    def train(k):
        for i in range(6):
            compiled(k, X[i], Y[i])
    threads = [threading.Thread(target=train, args=(k,)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (model, _), weight in zip(PAIRS, expected):
        np.testing.assert_array_equal(model.weight.data, weight)


PAIRS: list = []


# ---- bad input at a replay --------------------------------------------------------------------------
def test_an_embedding_index_out_of_range_raises_at_a_replay_before_any_update():
    tl.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 3), nn.Flatten(), nn.Linear(6, 2))
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    @tl.compile
    def step(tokens, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(tokens), y)
        loss.backward()
        optimizer.step()
        return loss

    y = np.array([0, 1])
    step(np.array([[0, 1], [2, 3]]), y)
    step(np.array([[4, 1], [2, 3]]), y)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    for bad in (np.array([[5, 1], [2, 3]]), np.array([[-1, 1], [2, 3]])):
        with pytest.raises(IndexError, match='out of range'):
            step(bad, y)
        for key, value in model.state_dict().items():
            np.testing.assert_array_equal(value, before[key])
    assert step.recordings == 1


# ---- a property: random edits between calls -------------------------------------------------------
EDITS = ['none', 'scale', 'skip', 'replace_layer', 'append_layer', 'train_mode', 'eval_mode', 'dropout_p',
         'freeze', 'unfreeze', 'lr']


class Editable(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.head = nn.Linear(4, 3)
        self.drop = nn.Dropout(0.25)
        self.scale, self.skip = 1.0, False

    def forward(self, x):
        for layer in self.layers:
            h = self.drop(layer(x).tanh()) * self.scale
            x = x + h if self.skip else h
        return self.head(x)


def apply_edit(objects, edit: str, counter: int) -> None:
    model, optimizer = objects['model'], objects['optimizer']
    if edit == 'scale':
        model.scale = 1.0 + 0.25 * (counter % 3)
    elif edit == 'skip':
        model.skip = not model.skip
    elif edit == 'replace_layer':
        model.layers[counter % 2] = nn.Linear(4, 4)
    elif edit == 'append_layer' and len(model.layers) < 4:
        model.layers.append(nn.Linear(4, 4))
    elif edit == 'train_mode':
        model.train()
    elif edit == 'eval_mode':
        model.eval()
    elif edit == 'dropout_p':
        model.drop.p = 0.25 * (counter % 3)
    elif edit == 'freeze':
        model.head.requires_grad_(False)
    elif edit == 'unfreeze':
        model.head.requires_grad_(True)
    elif edit == 'lr':
        optimizer.param_groups[0]['lr'] = 0.05 * (1 + counter % 3)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(EDITS), min_size=1, max_size=8))
def test_random_edits_between_calls_keep_compiled_equal_to_eager(edits):
    def build():
        model = Editable()
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return loss
        return {'model': model, 'optimizer': optimizer, 'step': step, 'args': lambda i: (X[i % 6], Y[i % 6])}

    def between(objects, i):
        if i:
            apply_edit(objects, edits[(i - 1) % len(edits)], i)
    _, _, step, caught = twin_runs(build, len(edits) + 1, between)
    # an edit before every call can only end in calls that run eagerly, after one warning
    assert all('calls in a row' in str(warning.message) for warning in caught) and len(caught) <= 1


@pytest.mark.parametrize('bad', ['class index -1', 'class index 3', 'nan input', 'inf target'])
def test_bad_data_at_a_replay_raises_what_eager_raises_before_any_update(bad):
    def build():
        model = nn.Linear(4, 3)
        optimizer = optim.SGD(model.parameters(), lr=0.1)

        def step(x, y, t):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y) + F.mse_loss(model(x)[:, 0], t)
            loss.backward()
            optimizer.step()
            return loss
        return model, step

    x, y, t = X[0].copy(), Y[0].copy(), np.zeros(6)
    if bad == 'class index -1':
        y[2] = -1
    elif bad == 'class index 3':
        y[2] = 3
    elif bad == 'nan input':
        x[1, 1] = np.nan
    else:
        t[0] = np.inf
    errors = []
    for compiled in (False, True):
        tl.manual_seed(0)
        model, step = build()
        step = tl.compile(step) if compiled else step
        for i in range(2):
            step(X[i + 1], Y[i + 1], np.zeros(6))
        before = {key: value.copy() for key, value in model.state_dict().items()}
        with pytest.raises((ValueError, IndexError)) as caught:
            step(x, y, t)
        errors.append((type(caught.value), str(caught.value)))
        for key, value in model.state_dict().items():
            np.testing.assert_array_equal(value, before[key])
        if compiled:
            assert step.recordings == 1 and not step.eager_keys
    assert errors[0] == errors[1]
