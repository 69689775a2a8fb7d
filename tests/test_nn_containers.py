"""Containers and Flatten: nn.ModuleList, nn.ModuleDict, nn.Flatten (and Sequential, which lives
with them), their registration and state_dict names; behind the ``torch`` fixture (a skip
without PyTorch), parity with torch.nn for names, repr, indexing and Flatten's shapes/errors."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn.layers import Sequential as SequentialFromLayers


def linears(n: int, size: int = 2) -> list:
    return [nn.Linear(size, size) for _ in range(n)]


def tower(lib):
    """A model built from every container with ``lib`` (our nn or torch.nn): the shape whose
    state_dict names are compared."""
    model = lib.Module()
    model.blocks = lib.ModuleList([lib.Linear(4, 4), lib.ReLU(), lib.Linear(4, 4)])
    model.heads = lib.ModuleDict({'policy': lib.Linear(4, 3), 'value': lib.Sequential(lib.Linear(4, 1))})
    model.flatten = lib.Flatten()
    return model


# ---- ModuleList ----------------------------------------------------------------------------------
def test_module_list_registers_children_by_position():
    a, b, c = linears(3)
    layers = nn.ModuleList([a, b])
    assert len(layers) == 2 and list(layers) == [a, b]
    assert [name for name, _ in layers.named_children()] == ['0', '1']
    assert [name for name, _ in layers.named_parameters()] == ['0.weight', '0.bias', '1.weight', '1.bias']
    assert layers.append(c) is layers and layers[2] is c and layers[-1] is c and layers[-3] is a
    assert len(nn.ModuleList()) == 0 and list(nn.ModuleList(None)) == []
    assert list(nn.ModuleList(m for m in (a, b))) == [a, b]  # any iterable


def test_module_list_extend_insert_pop_and_operators():
    a, b, c, d = linears(4)
    layers = nn.ModuleList([a])
    assert layers.extend([b, c]) is layers and list(layers) == [a, b, c]
    layers.insert(1, d)
    assert list(layers) == [a, d, b, c] and list(layers._modules) == ['0', '1', '2', '3']
    layers.insert(-1, nn.ReLU())  # list.insert: before the last
    assert isinstance(layers[3], nn.ReLU) and layers[4] is c
    layers.insert(99, nn.Tanh())  # past the end appends
    assert isinstance(layers[-1], nn.Tanh) and len(layers) == 6
    assert isinstance(layers.pop(), nn.Tanh) and layers.pop(3) is not None
    assert list(layers) == [a, d, b, c]
    same = layers
    layers += [nn.Identity()]
    assert layers is same and len(layers) == 5
    joined = nn.ModuleList([a]) + nn.ModuleList([b, c])
    assert isinstance(joined, nn.ModuleList) and list(joined) == [a, b, c]
    assert list(joined._modules) == ['0', '1', '2']


def test_module_list_slices_setitem_and_delitem():
    a, b, c, d = linears(4)
    layers = nn.ModuleList([a, b, c, d])
    tail = layers[1:]
    assert isinstance(tail, nn.ModuleList) and list(tail) == [b, c, d]
    assert list(tail._modules) == ['0', '1', '2']  # renumbered, unlike Sequential's slices
    assert list(layers[::-2]) == [d, b]
    new = nn.Linear(2, 2)
    layers[-1] = new
    assert layers[3] is new and list(layers._modules) == ['0', '1', '2', '3']
    del layers[0]
    assert list(layers) == [b, c, new] and list(layers._modules) == ['0', '1', '2']
    del layers[::2]
    assert list(layers) == [c] and list(layers._modules) == ['0']
    assert [name for name, _ in layers.named_parameters()] == ['0.weight', '0.bias']


def test_module_list_errors_change_nothing():
    a, b = linears(2)
    layers = nn.ModuleList([a, b])
    with pytest.raises(IndexError, match="ModuleList index 2 is out of range for 2 modules"):
        layers[2]
    with pytest.raises(IndexError, match="out of range"):
        layers[-3] = nn.ReLU()
    with pytest.raises(TypeError, match="ModuleList indices must be ints or slices, got str"):
        layers['0']
    with pytest.raises(TypeError, match="ModuleList.extend: item 1: expected a Module, got ndarray"):
        layers.extend([nn.ReLU(), np.ones(2)])
    with pytest.raises(TypeError, match="ModuleList.extend: expected an iterable of Modules, got Linear"):
        layers.extend(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="ModuleList.insert: expected a Module, got int"):
        layers.insert(0, 3)
    with pytest.raises(TypeError, match="ModuleList item assignment: expected a Module, got str"):
        layers[0] = 'relu'
    with pytest.raises(TypeError, match="expected a Module"):
        nn.ModuleList([a, 'b'])
    with pytest.raises(NotImplementedError, match="ModuleList must define forward"):
        layers(np.ones(2))
    assert list(layers) == [a, b] and list(layers._modules) == ['0', '1']


def test_module_list_repr_groups_repeated_modules():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)])
    assert repr(layers) == (
        "ModuleList(\n"
        "  (0-1): 2 x Linear(in_features=2, out_features=2, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Linear(in_features=2, out_features=2, bias=True)\n"
        ")")
    assert repr(nn.ModuleList()) == 'ModuleList()'


# ---- ModuleDict ----------------------------------------------------------------------------------
def test_module_dict_is_dict_like():
    a, b, c = linears(3)
    heads = nn.ModuleDict({'policy': a, 'value': b})
    assert len(heads) == 2 and list(heads) == ['policy', 'value'] and 'policy' in heads and 'x' not in heads
    assert heads['policy'] is a and list(heads.keys()) == ['policy', 'value']
    assert list(heads.values()) == [a, b] and list(heads.items()) == [('policy', a), ('value', b)]
    heads['aux'] = c
    assert [name for name, _ in heads.named_parameters()] == [
        'policy.weight', 'policy.bias', 'value.weight', 'value.bias', 'aux.weight', 'aux.bias']
    heads.update([('value', c), ('extra', nn.ReLU())])  # replaces in place, appends new keys
    assert heads['value'] is c and list(heads) == ['policy', 'value', 'aux', 'extra']
    heads.update(nn.ModuleDict({'policy': b}))
    assert heads['policy'] is b
    assert heads.pop('aux') is c and 'aux' not in heads
    del heads['extra']
    assert list(heads) == ['policy', 'value']
    heads.clear()
    assert len(heads) == 0 and list(heads.parameters()) == []
    assert len(nn.ModuleDict()) == 0 and list(nn.ModuleDict([['x', a]])) == ['x']


def test_module_dict_errors_change_nothing():
    a = nn.Linear(2, 2)
    heads = nn.ModuleDict({'a': a})
    with pytest.raises(KeyError, match="ModuleDict has no key 'b'"):
        heads['b']
    with pytest.raises(KeyError, match="no key 'b'"):
        del heads['b']
    with pytest.raises(TypeError, match=r"ModuleDict\['x'\]: expected a Module, got ndarray"):
        heads['x'] = np.ones(2)
    with pytest.raises(TypeError, match="ModuleDict: module name must be a str, got int 3"):
        heads.update({'ok': nn.ReLU(), 3: nn.ReLU()})
    with pytest.raises(KeyError, match="attribute 'train' already exists"):
        heads.update({'ok': nn.ReLU(), 'train': nn.ReLU()})  # would hide Module.train
    with pytest.raises(KeyError, match="without '.'"):
        heads['a.b'] = nn.ReLU()
    with pytest.raises(TypeError, match="element #1 must be a .key, module. pair"):
        heads.update([('ok', nn.ReLU()), ('bad',)])
    with pytest.raises(TypeError, match="expected a mapping or an iterable"):
        heads.update(3)
    with pytest.raises(TypeError, match="key 'ok': expected a Module, got int"):
        nn.ModuleDict({'ok': 1})
    assert list(heads.items()) == [('a', a)]


# ---- Sequential (moved to containers.py) ---------------------------------------------------------
def test_sequential_still_importable_from_layers():
    assert SequentialFromLayers is nn.Sequential
    seq = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="Sequential.append: expected a Module"):
        seq.append(3)


# ---- Flatten ---------------------------------------------------------------------------------------
@pytest.mark.parametrize('shape, start, end, expected', [
    ((2, 3, 4, 5), 1, -1, (2, 60)),
    ((2, 3, 4, 5), 0, -1, (120,)),
    ((2, 3, 4, 5), 1, 2, (2, 12, 5)),
    ((2, 3, 4, 5), -2, -1, (2, 3, 20)),
    ((2, 3, 4, 5), 2, 2, (2, 3, 4, 5)),
    ((2, 0, 3), 1, -1, (2, 0)),
    ((7,), 0, -1, (7,)),
    ((), 0, -1, (1,)),
])
def test_flatten_shapes_and_gradient(shape, start, end, expected):
    x = leaf(np.arange(np.prod(shape)).reshape(shape))
    out = nn.Flatten(start, end)(x)
    assert out.shape == expected
    np.testing.assert_array_equal(out.data.reshape(-1), x.data.reshape(-1))
    upstream = np.random.default_rng(0).standard_normal(expected)
    out.backward(upstream)
    np.testing.assert_array_equal(x.grad, upstream.reshape(shape))


def test_flatten_defaults_repr_and_errors():
    layer = nn.Flatten()
    assert repr(layer) == 'Flatten(start_dim=1, end_dim=-1)'
    assert layer(np.ones((4, 2, 3))).shape == (4, 6)  # arrays are accepted
    with pytest.raises(IndexError, match=r"Flatten: start_dim=1 is out of range .* shape \(3,\)"):
        layer(tl.ones(3))
    with pytest.raises(IndexError, match=r"end_dim=3 is out of range.*\[-3, 2\]"):
        nn.Flatten(0, 3)(tl.ones((1, 2, 3)))
    with pytest.raises(RuntimeError, match="start_dim=2 comes after end_dim=1"):
        nn.Flatten(2, 1)(tl.ones((1, 2, 3)))
    with pytest.raises(TypeError, match="Flatten: start_dim must be an int, got 1.5"):
        nn.Flatten(1.5)


def test_containers_state_dict_names():
    model = tower(nn)
    assert list(model.state_dict()) == [
        'blocks.0.weight', 'blocks.0.bias', 'blocks.2.weight', 'blocks.2.bias',
        'heads.policy.weight', 'heads.policy.bias', 'heads.value.0.weight', 'heads.value.0.bias']
    assert [name for name, _ in model.named_modules()] == [
        '', 'blocks', 'blocks.0', 'blocks.1', 'blocks.2', 'heads', 'heads.policy', 'heads.value',
        'heads.value.0', 'flatten']


# ---- PyTorch parity ----------------------------------------------------------------------------
@pytest.mark.torch
def test_torch_container_names_repr_and_load(torch):
    torch.manual_seed(0)
    theirs, ours = tower(torch.nn).double(), tower(nn).double()
    reference = theirs.state_dict()
    assert list(ours.state_dict()) == list(reference)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert repr(ours.blocks) == repr(theirs.blocks) and repr(ours.heads) == repr(theirs.heads)
    same = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU()])
    assert repr(nn.ModuleList(linears(3) + [nn.ReLU()])) == repr(same)
    ours.load_state_dict({k: v.numpy() for k, v in reference.items()})
    x = np.random.default_rng(0).standard_normal((5, 4))
    hidden, expected = x, torch.tensor(x)
    for ours_block, their_block in zip(ours.blocks, theirs.blocks):
        hidden, expected = ours_block(hidden), their_block(expected)
    np.testing.assert_allclose(hidden.data, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.heads['value'](hidden).data,
                               theirs.heads['value'](expected).detach().numpy(), rtol=1e-12)


@pytest.mark.torch
def test_torch_module_list_and_dict_operations(torch):
    def names(container):
        return [type(m).__name__ for m in container]

    for lib in (nn, torch.nn):
        layers = lib.ModuleList([lib.Linear(2, 2), lib.ReLU(), lib.Tanh(), lib.Sigmoid()])
        layers.insert(1, lib.Identity())
        layers += [lib.Flatten()]
        del layers[::3]
        layers[0] = lib.Tanh()
        popped = layers.pop(1)
        heads = lib.ModuleDict(OrderedDict(b=lib.ReLU(), a=lib.Tanh()))
        heads.update([('c', lib.Sigmoid()), ('b', lib.Identity())])
        heads.pop('a')
        if lib is nn:
            ours = (names(layers), list(layers._modules), names(layers[-2:]), type(popped).__name__,
                    list(heads), names(heads.values()))
        else:
            theirs = (names(layers), list(layers._modules), names(layers[-2:]), type(popped).__name__,
                      list(heads), names(heads.values()))
    assert ours == theirs
    for lib in (nn, torch.nn):
        with pytest.raises(KeyError, match="already exists"):
            lib.ModuleDict({'train': lib.ReLU()})
        with pytest.raises(IndexError):
            lib.ModuleList([lib.ReLU()])[1]


@pytest.mark.torch
@pytest.mark.parametrize('shape, start, end', [
    ((2, 3, 4, 5), 1, -1), ((2, 3, 4, 5), 0, 2), ((2, 3, 4, 5), -3, -2), ((2, 0, 3), 0, 1),
    ((), 0, -1), ((4,), 0, 0)])
def test_torch_flatten_parity(torch, shape, start, end):
    x = np.arange(max(int(np.prod(shape)), 1), dtype=np.float64)[:int(np.prod(shape))].reshape(shape)
    expected = torch.nn.Flatten(start, end)(torch.tensor(x))
    out = nn.Flatten(start, end)(x)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(out.data, expected.numpy())


@pytest.mark.torch
@pytest.mark.parametrize('shape, start, end', [((3,), 1, -1), ((1, 2, 3), 0, 3), ((1, 2, 3), 2, 1)])
def test_torch_flatten_errors_of_the_same_kind(torch, shape, start, end):
    with pytest.raises((IndexError, RuntimeError)) as theirs:
        torch.nn.Flatten(start, end)(torch.ones(shape))
    with pytest.raises((IndexError, RuntimeError)) as ours:
        nn.Flatten(start, end)(tl.ones(shape))
    assert isinstance(ours.value, type(theirs.value)) or isinstance(theirs.value, type(ours.value))
