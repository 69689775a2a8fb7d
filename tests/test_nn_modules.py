"""Modules and layers: registration, traversal, train/eval, freezing, state_dict loading,
Linear/Sequential/MLP/Dropout, apply/to/named_modules/buffers, and (behind the ``torch``
fixture, a skip without PyTorch) parity with torch.nn for Linear, Sequential, state_dict
interchange, apply order, named_modules and buffers."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F


class Block(nn.Module):
    def __init__(self, shared: nn.Parameter | None = None):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3))
        self.inner = nn.Linear(3, 3)
        if shared is not None:
            self.shared = shared

    def forward(self, x):
        return self.inner(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        shared = nn.Parameter(np.zeros(3))
        self.offset = shared
        self.first = Block(shared)
        self.second = Block()
        self.head = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        return self.head(self.second(self.first(x)) + self.offset)


@pytest.fixture
def default_float64(restore_default_dtype):
    tl.set_default_dtype(np.float64)


# ---- registration and traversal --------------------------------------------------------------
def test_named_parameters_are_dotted_ordered_and_unique():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ['offset', 'first.scale', 'first.inner.weight', 'first.inner.bias',
                     'second.scale', 'second.inner.weight', 'second.inner.bias',
                     'head.0.weight', 'head.0.bias']
    params = list(net.parameters())
    assert len(params) == len({id(p) for p in params}) == 9
    assert params[0] is net.offset is net.first.shared
    assert len(list(net.named_parameters(remove_duplicate=False))) == 10
    assert [name for name, _ in net.first.named_parameters(recurse=False)] == ['scale', 'shared']


def test_children_and_modules():
    net = Net()
    assert [name for name, _ in net.named_children()] == ['first', 'second', 'head']
    assert list(net.children()) == [net.first, net.second, net.head]
    names = [name for name, _ in net.named_modules()]
    assert names == ['', 'first', 'first.inner', 'second', 'second.inner',
                     'head', 'head.0', 'head.1', 'head.2']
    assert next(iter(net.modules())) is net
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(twice.modules())) == 3
    assert len(list(twice.parameters())) == 2


def test_setattr_registration_and_removal():
    net = Net()
    net.extra = nn.Parameter(np.ones(2))
    assert 'extra' in dict(net.named_parameters())
    net.extra = None  # a non-Parameter replaces the registration
    assert 'extra' not in dict(net.named_parameters()) and net.extra is None
    first, before = net.first, list(net.named_parameters())
    with pytest.raises(TypeError, match=r"cannot assign Value as child module 'first' \(nn.Module or None"):
        net.first = tl.Value(np.ones(3))  # as PyTorch: it would silently drop the child's weights
    assert net.first is first and list(net.named_parameters()) == before
    with pytest.raises(TypeError, match="parameter 'offset'"):
        net.offset = np.zeros(3)
    assert net.offset is before[0][1]
    net.first = None  # None drops a child module
    assert 'first' not in dict(net.named_children()) and net.first is None
    del net.second
    assert [name for name, _ in net.named_children()] == ['head']
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'second'"):
        _ = net.second
    net.head = nn.Parameter(np.ones(1))  # a Module replaced by a Parameter moves registries
    assert 'head' not in dict(net.named_children()) and 'head' in dict(net.named_parameters())
    assert 'offset' in dir(net)


def test_forgetting_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.ones(2))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_register_helpers_check_names():
    module = nn.Module()
    with pytest.raises(KeyError, match="'a.b'"):
        module.register_parameter('a.b', nn.Parameter(np.ones(1)))
    with pytest.raises(TypeError, match="Parameter"):
        module.register_parameter('w', tl.Value(np.ones(1)))
    with pytest.raises(TypeError, match="Module"):
        module.add_module('m', nn.Parameter(np.ones(1)))
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        module(1)


def test_buffers_are_saved_and_loaded():
    module = nn.Linear(2, 2)
    module.register_buffer('running_mean', np.zeros(2))
    assert list(module.state_dict()) == ['weight', 'bias', 'running_mean']
    module.running_mean = np.ones(2)
    np.testing.assert_array_equal(module.state_dict()['running_mean'], np.ones(2))
    with pytest.raises(TypeError, match="buffer 'running_mean'"):
        module.running_mean = 3
    held = module.running_mean
    module.load_state_dict({**module.state_dict(), 'running_mean': np.full(2, 5.0)})
    assert module.running_mean is held and held[0] == 5.0
    module.running_mean = nn.Parameter(np.zeros(2))  # a Parameter takes the name over
    assert list(module.buffers()) == [] and 'running_mean' in dict(module.named_parameters())


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.head.train()
    assert net.head[2].training and not net.first.training
    assert net.train() is net and all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="bool"):
        net.train('yes')


def test_zero_grad():
    net = Net()
    net(tl.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_requires_grad_freezes_parameters():
    model = nn.MLP([3, 4, 2])
    assert model.layers[0].requires_grad_(False) is model.layers[0]
    F.mse_loss(model(tl.randn(5, 3)), np.zeros((5, 2))).backward()
    assert model.layers[0].weight.grad is None and model.layers[0].bias.grad is None
    assert model.layers[2].weight.grad is not None
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_deepcopy_gives_independent_parameters():
    net = Net()
    clone = copy.deepcopy(net)
    assert clone.offset is clone.first.shared  # sharing survives
    clone.first.inner.weight.data += 1
    assert not np.array_equal(clone.first.inner.weight.data, net.first.inner.weight.data)


def test_repr_like_pytorch():
    model = nn.MLP([2, 3, 1], activation=nn.Tanh)
    assert repr(model) == (
        "MLP(\n"
        "  (layers): Sequential(\n"
        "    (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "    (1): Tanh()\n"
        "    (2): Linear(in_features=3, out_features=1, bias=True)\n"
        "  )\n"
        ")")
    assert repr(nn.Dropout(0.25)) == 'Dropout(p=0.25)'


# ---- state_dict ----------------------------------------------------------------------------------
def test_state_dict_holds_copies():
    model = nn.MLP([2, 3, 1])
    state = model.state_dict()
    assert list(state) == ['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias']
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state['layers.0.weight'][...] = 7.0
    assert not np.any(model.layers[0].weight.data == 7.0)
    model.layers[0].bias.data[...] = -3.0
    assert not np.any(state['layers.0.bias'] == -3.0)


def test_state_dict_names_shared_parameters_under_each_name():
    net = Net()
    state = net.state_dict()
    assert 'offset' in state and 'first.shared' in state
    clone = Net()
    clone.load_state_dict(state)
    np.testing.assert_array_equal(clone.first.inner.weight.data, net.first.inner.weight.data)


def test_load_state_dict_round_trip_is_in_place():
    source, target = nn.MLP([2, 3, 1]), nn.MLP([2, 3, 1])
    arrays = [p.data for p in target.parameters()]
    result = target.load_state_dict(source.state_dict())
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    for kept, new, old in zip(arrays, target.parameters(), source.parameters()):
        assert new.data is kept
        np.testing.assert_array_equal(new.data, old.data)


def test_load_state_dict_casts_and_accepts_values_and_lists():
    model = nn.Linear(2, 1)
    model.load_state_dict({'weight': tl.Value(np.array([[1.0, 2.0]])), 'bias': [0.5]})
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.weight.data, [[1.0, 2.0]])
    assert model.bias.data[0] == 0.5


def test_load_state_dict_strict_lists_every_problem_and_changes_nothing():
    model = nn.MLP([2, 3, 1])
    before = model.state_dict()
    bad = model.state_dict()
    del bad['layers.0.bias'], bad['layers.2.weight']
    bad['layers.0.weight'] = np.zeros((4, 2))
    bad['layers.0.weight'] = np.zeros((4, 2))
    bad['layers.2.bias'] = np.full(1, 9.0)  # valid, must not be copied either
    bad['layers.9.weight'] = np.zeros(1)
    bad['extra'] = np.zeros(1)
    with pytest.raises(RuntimeError) as raised:
        model.load_state_dict(bad)
    message = str(raised.value)
    assert 'for MLP' in message
    assert 'Missing key(s) in state_dict: "layers.0.bias", "layers.2.weight".' in message
    assert 'Unexpected key(s) in state_dict: "layers.9.weight", "extra".' in message
    assert 'size mismatch for layers.0.weight' in message and '(4, 2)' in message and '(3, 2)' in message
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_not_strict():
    model = nn.MLP([2, 3, 1])
    partial = {'layers.2.bias': np.full(1, 9.0), 'surplus': np.zeros(2)}
    missing, unexpected = model.load_state_dict(partial, strict=False)
    assert missing == ['layers.0.weight', 'layers.0.bias', 'layers.2.weight']
    assert unexpected == ['surplus']
    assert model.layers[2].bias.data[0] == 9.0
    with pytest.raises(RuntimeError, match=r"size mismatch for layers.2.bias.*\(2,\).*\(1,\)"):
        model.load_state_dict({'layers.2.bias': np.zeros(2)}, strict=False)
    with pytest.raises(RuntimeError, match="layers.2.bias is not numeric"):
        model.load_state_dict({'layers.2.bias': np.array(['a'])}, strict=False)
    with pytest.raises(TypeError, match="dict"):
        model.load_state_dict([('layers.2.bias', np.zeros(1))])


# ---- layers --------------------------------------------------------------------------------------
def test_linear_shapes_dtype_and_forward():
    layer = nn.Linear(4, 3)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert isinstance(layer.weight, nn.Parameter)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    out = layer(x)
    np.testing.assert_allclose(out.data, x @ layer.weight.data.T + layer.bias.data, rtol=1e-6)
    assert layer(tl.Value(x[0])).shape == (3,)
    assert layer(x.reshape(5, 1, 4)).shape == (5, 1, 3)
    no_bias = nn.Linear(4, 3, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ['weight']
    with pytest.raises(ValueError, match=r"Linear.*\(5, 3\).*in_features=4"):
        layer(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 3)


def test_linear_default_dtype(default_float64):
    assert nn.Linear(2, 2).weight.dtype == np.float64


def test_linear_init_bounds_and_seeding():
    tl.manual_seed(0)
    layer = nn.Linear(100, 200)
    bound = 1 / math.sqrt(100)
    for param in (layer.weight, layer.bias):
        assert np.abs(param.data).max() <= bound
        assert np.abs(param.data).max() > 0.95 * bound  # uniform over the whole range
    assert abs(layer.weight.data.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(layer.weight.data.mean()) < 0.02 * bound
    tl.manual_seed(0)
    again = nn.Linear(100, 200)
    np.testing.assert_array_equal(layer.weight.data, again.weight.data)
    np.testing.assert_array_equal(layer.bias.data, again.bias.data)
    assert not np.array_equal(layer.weight.data, nn.Linear(100, 200).weight.data)


def test_sequential_indexing_len_slices():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert [name for name, _ in tail.named_parameters()] == ['2.weight', '2.bias']  # names kept
    assert list(seq[::2]) == [a, c]
    with pytest.raises(IndexError, match="3 modules"):
        seq[3]
    with pytest.raises(TypeError, match="int"):
        seq['0']
    with pytest.raises(TypeError, match="item 1"):
        nn.Sequential(a, np.ones(2))
    x = tl.randn(4, 2)
    np.testing.assert_array_equal(seq(x).data, c(b(a(x))).data)
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    named = nn.Sequential({'encode': a, 'act': b})
    assert [name for name, _ in named.named_children()] == ['encode', 'act']


def test_mlp_structure():
    model = nn.MLP([3, 5, 4, 2])
    kinds = [type(m) for m in model.layers]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert model.layers[1] is not model.layers[3]  # a fresh activation per gap
    assert [(m.in_features, m.out_features) for m in model.layers[::2]] == [(3, 5), (5, 4), (4, 2)]
    assert [name for name, _ in model.named_parameters()][:2] == ['layers.0.weight', 'layers.0.bias']
    assert model(tl.randn(7, 3)).shape == (7, 2)
    assert [type(m) for m in nn.MLP([3, 2], activation=nn.Tanh).layers] == [nn.Linear]
    assert isinstance(nn.MLP([3, 4, 2], activation=nn.Tanh).layers[1], nn.Tanh)
    with pytest.raises(TypeError, match="class"):
        nn.MLP([3, 4, 2], activation=nn.ReLU())
    with pytest.raises(ValueError, match="at least"):
        nn.MLP([3])


def test_activations_and_identity():
    x = tl.Value(np.array([-2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(nn.ReLU()(x).data, [0.0, 0.0, 3.0])
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x.data))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x.data)))
    assert nn.Identity(54, unused='ignored')(x) is x


# ---- dropout -------------------------------------------------------------------------------------
def test_dropout_statistics():
    tl.manual_seed(1)
    x = leaf(np.ones((400, 500)))
    out = nn.Dropout(0.3)(x)
    zeros = out.data == 0
    assert abs(zeros.mean() - 0.3) < 0.005
    np.testing.assert_allclose(out.data[~zeros], 1 / 0.7)
    assert abs(out.data.mean() - 1.0) < 0.01
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.data)  # the gradient takes the same mask


def test_dropout_eval_and_edge_probabilities():
    x = tl.randn(10, 10)
    layer = nn.Dropout(0.9)
    assert layer.eval()(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).data.any()
    assert F.dropout(x, 0.5, training=False) is x
    for p in (-0.5, 1.5):
        with pytest.raises(ValueError, match=f"Dropout.*{p}"):
            nn.Dropout(p)


def test_dropout_seeded_by_manual_seed():
    x = tl.Value(np.ones(1000))
    tl.manual_seed(42)
    first = nn.Dropout()(x).data
    tl.manual_seed(42)
    second = nn.Dropout()(x).data
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, nn.Dropout()(x).data)


def test_training_loop_decreases_loss():
    tl.manual_seed(0)
    model = nn.MLP([2, 16, 3])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    losses = []
    for _ in range(60):
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        for p in model.parameters():
            p.data -= 0.5 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ---- PyTorch parity (the fixture `torch` of conftest.py skips without it) ----------------------
@pytest.mark.torch
def test_torch_linear_and_sequential_parity(torch):
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    ours = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.Tanh(), nn.Linear(4, 2, dtype=np.float64))
    assert list(ours.state_dict()) == list(reference.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in reference.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3))
    out = ours(x)
    expected = reference(torch.tensor(x))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    upstream = np.random.default_rng(1).standard_normal((5, 2))
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for (name, param), (_, theirs) in zip(ours.named_parameters(), reference.named_parameters()):
        assert param.shape == tuple(theirs.shape), name
        np.testing.assert_allclose(param.grad, theirs.grad.numpy(), rtol=1e-12, err_msg=name)
    mlp = nn.MLP([3, 4, 2], activation=nn.Tanh)
    mlp.load_state_dict({f"layers.{k}": v.numpy() for k, v in reference.state_dict().items()})
    np.testing.assert_allclose(mlp(x.astype(np.float32)).data, expected.detach().numpy(), rtol=1e-5)


@pytest.mark.torch
def test_torch_linear_init_range(torch):
    torch.manual_seed(0)
    theirs = torch.nn.Linear(50, 30)
    ours = nn.Linear(50, 30)
    for mine, reference in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        assert mine.shape == tuple(reference.shape)
        bound = 1 / math.sqrt(50)
        assert np.abs(mine.data).max() <= bound and reference.detach().abs().max().item() <= bound


def test_sequential_item_assignment_and_deletion_like_pytorch():
    model = nn.MLP([4, 8, 3])
    new_head = nn.Linear(8, 5)
    model.layers[-1] = new_head
    assert model.layers[2] is new_head and model(tl.zeros((2, 4))).shape == (2, 5)
    assert [name for name, _ in model.named_parameters()] == [
        'layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias']
    with pytest.raises(TypeError, match='expected a Module'):
        model.layers[0] = 'not a module'
    with pytest.raises(IndexError, match='out of range'):
        model.layers[3] = nn.ReLU()
    del model.layers[1]
    assert len(model.layers) == 2 and list(model.layers._modules) == ['0', '1']
    del model.layers[0:1]
    assert list(model.layers._modules) == ['0'] and model.layers[0] is new_head


def test_mlp_dtype_reaches_every_linear():
    model = nn.MLP([3, 4, 2], dtype=np.float64)
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    assert model(tl.ones((5, 3), dtype=np.float64)).dtype == np.float64


# ---- apply, to, named_modules, buffers --------------------------------------------------------
def shared_tree(lib):
    """A tree (our nn or torch.nn) where one Linear is reached from two parents."""
    shared = lib.Linear(2, 2)
    root = lib.Sequential(lib.Sequential(shared, lib.Tanh()), lib.ReLU(), lib.Sequential(shared))
    return root, shared


def test_apply_is_post_order_and_returns_self():
    root, shared = shared_tree(nn)
    seen = []
    assert root.apply(lambda m: seen.append(m)) is root
    assert [type(m).__name__ for m in seen] == [
        'Linear', 'Tanh', 'Sequential', 'ReLU', 'Linear', 'Sequential', 'Sequential']
    assert seen[0] is seen[4] is shared and seen[-1] is root  # as PyTorch: once per parent
    with pytest.raises(TypeError, match="apply: fn must be callable, got int"):
        root.apply(3)


def test_apply_with_init_keeps_parameter_objects():
    model = nn.MLP([3, 4, 2])
    params = list(model.parameters())

    def init(module):
        if isinstance(module, nn.Linear):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    model.apply(init)
    assert all(new is old for new, old in zip(model.parameters(), params))
    assert all((layer.weight.data == 1).all() and not layer.bias.data.any() for layer in model.layers[::2])


def test_to_casts_parameters_grads_and_float_buffers_in_place():
    model = nn.MLP([3, 4, 2])
    model.layers[0].register_buffer('scale', np.ones(4, dtype=np.float32))
    model.layers[0].register_buffer('steps', np.zeros((), dtype=np.int64))
    optimizer = tl.optim.SGD(model.parameters(), lr=0.1)
    F.mse_loss(model(tl.randn(5, 3)), np.zeros((5, 2), dtype=np.float32)).backward()
    params = list(model.parameters())
    assert model.double() is model
    assert all(new is old for new, old in zip(model.parameters(), params))
    assert {p.dtype for p in params} == {p.grad.dtype for p in params} == {np.dtype(np.float64)}
    assert model.layers[0].scale.dtype == np.float64 and model.layers[0].steps.dtype == np.int64
    before = params[0].data.copy()
    optimizer.step()  # the optimizer still holds the (cast) parameters
    assert not np.array_equal(params[0].data, before) and params[0].dtype == np.float64
    assert model(tl.randn(5, 3, dtype=np.float64)).dtype == np.float64
    assert model.float() is model and {p.dtype for p in model.parameters()} == {np.dtype(np.float32)}
    assert model.to(np.float64) is model and model.to('float32').layers[0].weight.dtype == np.float32


@pytest.mark.parametrize('dtype', [np.int64, bool, 'cpu', None])
def test_to_refuses_non_float_dtypes_and_changes_nothing(dtype):
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="Linear.to: .*(floating|float)"):
        model.to(dtype)
    assert model.weight.dtype == np.float32


def test_named_modules_memo_prefix_and_duplicates():
    root, shared = shared_tree(nn)
    assert [n for n, _ in root.named_modules()] == ['', '0', '0.0', '0.1', '1', '2']
    assert [n for n, _ in root.named_modules(prefix='net')] == [
        'net', 'net.0', 'net.0.0', 'net.0.1', 'net.1', 'net.2']
    assert [n for n, _ in root.named_modules(remove_duplicate=False)] == [
        '', '0', '0.0', '0.1', '1', '2', '2.0']
    memo = {shared}
    assert [n for n, _ in root.named_modules(memo)] == ['', '0', '0.1', '1', '2']
    assert len(memo) == 6 and root in memo  # the memo collects what was yielded


def test_register_buffer_persistent_and_named_buffers():
    module = nn.Linear(2, 2)
    shared = np.zeros(2)
    module.register_buffer('running_mean', shared)
    module.register_buffer('cache', np.ones(3), persistent=False)
    module.register_buffer('alias', shared)
    module.register_buffer('empty', None)
    assert list(module.state_dict()) == ['weight', 'bias', 'running_mean', 'alias']
    assert [n for n, _ in module.named_buffers()] == ['running_mean', 'cache']  # alias: same array
    assert [n for n, _ in module.named_buffers(remove_duplicate=False)] == ['running_mean', 'cache', 'alias']
    assert [n for n, _ in nn.Sequential(module).named_buffers(prefix='m')] == [
        'm.0.running_mean', 'm.0.cache']
    module.cache = np.full(3, 2.0)  # assignment keeps the buffer non-persistent
    assert 'cache' not in module.state_dict()
    with pytest.raises(RuntimeError, match='Unexpected key.*"cache"'):
        module.load_state_dict({**module.state_dict(), 'cache': np.zeros(3)})
    module.register_buffer('cache', module.cache, persistent=True)
    assert list(module.state_dict()) == ['weight', 'bias', 'running_mean', 'cache', 'alias']
    module.register_buffer('cache', module.cache, persistent=False)
    del module.cache
    module.register_buffer('cache', np.ones(1))
    assert 'cache' in module.state_dict()  # a fresh registration is persistent


def test_register_checks_names_like_pytorch():
    module = nn.Linear(2, 2)
    for register, value, taken_names in (
            (module.register_buffer, np.ones(2), ('weight', 'forward', 'in_features')),
            (module.add_module, nn.ReLU(), ('bias', 'train', 'out_features')),
            (module.register_parameter, nn.Parameter(np.ones(2)), ('zero_grad', 'training'))):
        for taken in taken_names:
            with pytest.raises(KeyError, match=f"Linear: attribute '{taken}' already exists"):
                register(taken, value)
    new_weight = nn.Parameter(np.ones((2, 2)))
    module.register_parameter('weight', new_weight)  # its own registry: replaced, as PyTorch
    assert module.weight is new_weight
    with pytest.raises(TypeError, match="register_buffer: persistent must be a bool"):
        module.register_buffer('b', np.ones(1), persistent='no')
    with pytest.raises(TypeError, match="Linear: buffer name must be a str, got int 3"):
        module.register_buffer(3, np.ones(1))
    assert list(module.state_dict()) == ['weight', 'bias'] and list(module.buffers()) == []


def test_load_state_dict_bumps_versions_so_a_stale_graph_refuses_backward():
    model = nn.Linear(2, 2)
    loss = model(tl.randn(3, 2)).sum()
    weight = model.weight
    model.load_state_dict(model.state_dict())
    assert model.weight is weight and weight._version == 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


@pytest.mark.torch
def test_torch_apply_named_modules_and_to_parity(torch):
    ours, our_shared = shared_tree(nn)
    theirs, their_shared = shared_tree(torch.nn)
    order = []
    ours.apply(lambda m: order.append(type(m).__name__))
    their_order = []
    theirs.apply(lambda m: their_order.append(type(m).__name__))
    assert order == their_order
    for kwargs in ({}, {'prefix': 'p'}, {'remove_duplicate': False}):
        assert [n for n, _ in ours.named_modules(**kwargs)] == [n for n, _ in theirs.named_modules(**kwargs)]
    assert ([n for n, _ in ours.named_modules({our_shared})]
            == [n for n, _ in theirs.named_modules({their_shared})])
    dtypes = []
    for lib, xp in ((nn, np), (torch.nn, torch)):
        model = lib.Linear(2, 2)
        model.register_buffer('steps', xp.zeros(1, dtype=xp.int64))
        model.register_buffer('scale', xp.ones(2, dtype=xp.float32))
        model.double()
        dtypes.append([str(array.dtype).replace('torch.', '') for array in
                       (model.weight, model.bias, model.steps, model.scale)])
        with pytest.raises(TypeError):
            model.to(xp.int64)
    assert dtypes[0] == dtypes[1] == ['float64', 'float64', 'int64', 'float64']


@pytest.mark.torch
def test_torch_buffers_in_state_dict_parity(torch):
    def build(lib, xp):
        model = lib.Sequential(lib.Linear(3, 2))
        model[0].register_buffer('running_mean', xp.zeros(2))
        model[0].register_buffer('cache', xp.ones(2), persistent=False)
        model[0].register_buffer('nothing', None)
        return model

    ours, theirs = build(nn, np), build(torch.nn, torch)
    with torch.no_grad():
        theirs[0].running_mean.fill_(3.0)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ['0.weight', '0.bias', '0.running_mean']
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(ours[0].running_mean, [3.0, 3.0])
    np.testing.assert_array_equal(ours[0].weight.data, theirs[0].weight.detach().numpy())
    extra = {**{k: v.numpy() for k, v in theirs.state_dict().items()}, '0.cache': np.zeros(2)}
    assert ours.load_state_dict(extra, strict=False).unexpected_keys == ['0.cache']
    assert theirs.load_state_dict({k: torch.tensor(v) for k, v in extra.items()},
                                  strict=False).unexpected_keys == ['0.cache']
