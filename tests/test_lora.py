"""LoRA: nn.LoRALinear and tl.nn.lora.inject / state_dict / load_state_dict.

The issue's list: starts identical, merges exactly, trains only adapters (frozen weights
bit-identical after training); plus adapter-only save/load, targeting, gradcheck.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F
from tinygrad_ls.nn import lora


class Attention(nn.Module):
    """A toy block with q/k/v/out projections, a ModuleList of MLP layers and a ModuleDict."""

    def __init__(self, dim: int = 6, dtype=None):
        super().__init__()
        self.q = nn.Linear(dim, dim, dtype=dtype)
        self.k = nn.Linear(dim, dim, dtype=dtype)
        self.v = nn.Linear(dim, dim, dtype=dtype)
        self.out = nn.Linear(dim, dim, dtype=dtype)
        self.mlp = nn.ModuleList([nn.Linear(dim, 2 * dim, dtype=dtype), nn.Linear(2 * dim, dim, dtype=dtype)])
        self.heads = nn.ModuleDict({'fc': nn.Linear(dim, 3, dtype=dtype)})
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        scores = (self.q(x) @ self.k(x).permute(0, 2, 1)) / math.sqrt(x.shape[-1])
        x = self.norm(x + self.out(F.softmax(scores, -1) @ self.v(x)))
        x = x + self.mlp[1](self.mlp[0](x).relu())
        return self.heads['fc'](x)


def mlp_model(dtype=np.float32):
    tl.manual_seed(0)
    return nn.MLP([5, 16, 16, 3], dtype=dtype)


def inputs(shape, dtype=np.float32, seed=1):
    return tl.Value(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def randomize_adapters(model, seed=2):
    """Non-zero B (and fresh A) so the update actually changes the outputs."""
    rng = np.random.default_rng(seed)
    with tl.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LoRALinear):
                module.lora_A.copy_(rng.standard_normal(module.lora_A.shape))
                module.lora_B.copy_(rng.standard_normal(module.lora_B.shape))


# ---- the wrapper ------------------------------------------------------------------------------

def test_lora_linear_shapes_init_and_frozen_base():
    tl.manual_seed(3)
    base = nn.Linear(20, 7)
    layer = nn.LoRALinear(base, r=4, alpha=8)
    assert layer.base is base and layer.weight is base.weight
    assert (layer.in_features, layer.out_features, layer.scaling) == (20, 7, 2.0)
    assert layer.lora_A.shape == (4, 20) and layer.lora_B.shape == (7, 4)
    assert layer.lora_A.dtype == base.weight.dtype == layer.lora_B.dtype
    assert np.all(layer.lora_B.data == 0)
    bound = 1 / math.sqrt(20)  # kaiming_uniform_(a=sqrt(5)), as a Linear's weight
    assert np.abs(layer.lora_A.data).max() <= bound and layer.lora_A.data.std() > bound / 4
    assert not base.weight.requires_grad and not base.bias.requires_grad
    assert layer.lora_A.requires_grad and layer.lora_B.requires_grad
    assert [name for name, _ in layer.named_parameters()] == ['lora_A', 'lora_B', 'base.weight', 'base.bias']
    assert 'r=4' in repr(layer) and 'merged=False' in repr(layer)


def test_lora_linear_forward_formula_and_float64():
    tl.manual_seed(0)
    layer = nn.LoRALinear(nn.Linear(5, 4, dtype=np.float64), r=3, alpha=6)
    randomize_adapters(layer)
    x = inputs((2, 7, 5), np.float64)
    expected = (x.data @ layer.base.weight.data.T + layer.base.bias.data
                + 2.0 * x.data @ layer.lora_A.data.T @ layer.lora_B.data.T)
    out = layer(x)
    assert out.dtype == np.float64 and out.shape == (2, 7, 4)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('bad, error', [({'r': 0}, ValueError), ({'r': 2.5}, ValueError),
                                        ({'alpha': float('nan')}, ValueError),
                                        ({'dropout': 1.5}, ValueError)])
def test_lora_linear_bad_arguments(bad, error):
    with pytest.raises(error):
        nn.LoRALinear(nn.Linear(3, 2), **bad)


def test_lora_linear_wraps_only_linear():
    with pytest.raises(TypeError, match='nn.Linear'):
        nn.LoRALinear(nn.Conv1d(2, 2, 3))
    with pytest.raises(TypeError, match='nn.Linear'):
        nn.LoRALinear(nn.LoRALinear(nn.Linear(3, 2)))


def test_dropout_only_on_the_lora_path_while_training():
    tl.manual_seed(0)
    layer = nn.LoRALinear(nn.Linear(8, 8), r=2, alpha=2, dropout=0.5)
    x = inputs((4, 8))
    base_out = layer.base(x).data
    np.testing.assert_array_equal(layer(x).data, base_out)  # B = 0: dropout cannot show
    randomize_adapters(layer)
    layer.eval()
    np.testing.assert_allclose(layer(x).data, layer(x).data)
    expected = base_out + x.data @ layer.lora_A.data.T @ layer.lora_B.data.T
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-5, atol=1e-5)
    layer.train()
    assert not np.allclose(layer(x).data, expected, atol=1e-3)


def test_gradcheck_lora_linear_input_and_adapters():
    tl.manual_seed(0)
    layer = nn.LoRALinear(nn.Linear(4, 3, dtype=np.float64), r=2, alpha=3)
    randomize_adapters(layer)
    rng = np.random.default_rng(5)
    x = tl.Value(rng.standard_normal((2, 4)), requires_grad=True)
    a = tl.Value(layer.lora_A.data.copy(), requires_grad=True)
    b = tl.Value(layer.lora_B.data.copy(), requires_grad=True)

    def forward(x, a, b):  # gradcheck's float64 leaves routed into the module's registry
        layer._parameters['lora_A'], layer._parameters['lora_B'] = a, b
        return layer(x)

    assert tl.gradcheck(forward, (x, a, b))


# ---- starting point, gradients, training ------------------------------------------------------

def test_starts_identical_mlp():
    model = mlp_model()
    x = inputs((9, 5))
    before = model(x).data
    wrapped = lora.inject(model, target=('layers.0', 'layers.2', 'layers.4'), r=4, alpha=8)
    assert list(wrapped) == ['layers.0', 'layers.2', 'layers.4']
    assert all(isinstance(model.layers[i], nn.LoRALinear) for i in (0, 2, 4))
    np.testing.assert_array_equal(model(x).data, before)


def test_starts_identical_nested_containers():
    tl.manual_seed(0)
    model = nn.Sequential(Attention(), nn.ModuleList([nn.Linear(3, 3)])[0])
    x = inputs((2, 4, 6))
    before = model(x).data
    wrapped = lora.inject(model, target=('q', 'k', 'v', 'out', 'fc'), r=2, alpha=4)
    assert list(wrapped) == ['0.q', '0.k', '0.v', '0.out', '0.heads.fc']
    assert isinstance(model[0].heads['fc'], nn.LoRALinear)
    assert type(model[0].mlp[0]) is nn.Linear and type(model[1]) is nn.Linear
    np.testing.assert_array_equal(model(x).data, before)


def test_gradients_reach_only_the_adapters():
    tl.manual_seed(0)
    model = Attention()
    lora.inject(model, target=('q', 'v'), r=2, alpha=4)
    randomize_adapters(model)  # B != 0, so A gets a non-zero gradient too
    model(inputs((2, 4, 6))).square().mean().backward()
    for name, param in model.named_parameters():
        is_adapter = name.endswith(('lora_A', 'lora_B'))
        assert param.requires_grad == is_adapter, name
        assert (param.grad is not None) == is_adapter, name
        if is_adapter:
            assert np.any(param.grad != 0), name


def test_training_changes_only_adapters():
    model = mlp_model()
    lora.inject(model, target=lambda name: name in ('layers.0', 'layers.4'), r=2, alpha=4)
    frozen = {name: p.data.copy() for name, p in model.named_parameters() if not p.requires_grad}
    adapters = {name: p.data.copy() for name, p in model.named_parameters() if p.requires_grad}
    assert set(adapters) == {f'layers.{i}.{a}' for i in (0, 4) for a in ('lora_A', 'lora_B')}
    optimizer = tl.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)  # frozen ones too
    x, y = inputs((16, 5)), inputs((16, 3), seed=7)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))
    assert losses[-1] < losses[0]
    for name, param in model.named_parameters():
        if name in frozen:
            np.testing.assert_array_equal(param.data, frozen[name])  # bit-identical
            assert param.data.tobytes() == frozen[name].tobytes()
        else:
            assert not np.array_equal(param.data, adapters[name]), name


def test_trainable_parameter_count():
    model = mlp_model()
    r = 3
    lora.inject(model, target=('layers.0', 'layers.2', 'layers.4'), r=r)
    trainable = sum(p.size for p in model.parameters() if p.requires_grad)
    assert trainable == r * ((5 + 16) + (16 + 16) + (16 + 3))


# ---- merge / unmerge --------------------------------------------------------------------------

@pytest.mark.parametrize('dtype, tol', [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_merge_matches_unmerged_outputs(dtype, tol):
    model = mlp_model(dtype)
    wrapped = lora.inject(model, target=('layers.0', 'layers.2', 'layers.4'), r=4, alpha=8)
    randomize_adapters(model)
    with tl.no_grad():  # adapters at a trained-like scale, outputs of order 1
        for module in wrapped.values():
            module.lora_B.data *= 0.05
    x = inputs((9, 5), dtype)
    unmerged = model(x).data
    base_weights = {name: m.base.weight for name, m in wrapped.items()}
    originals = {name: w.data.copy() for name, w in base_weights.items()}
    for module in wrapped.values():
        module.merge()
    assert all(m.merged and m.weight is base_weights[name] for name, m in wrapped.items())
    merged = model(x)
    assert merged.dtype == dtype
    np.testing.assert_allclose(merged.data, unmerged, rtol=tol, atol=tol)
    for name, module in wrapped.items():
        np.testing.assert_allclose(module.base.weight.data, originals[name] + module.delta_weight(),
                                   rtol=tol, atol=tol)
    for module in wrapped.values():
        module.unmerge()
    for name, module in wrapped.items():
        assert not module.merged and module.weight is base_weights[name]
        np.testing.assert_allclose(module.base.weight.data, originals[name], rtol=tol, atol=tol)
    np.testing.assert_allclose(model(x).data, unmerged, rtol=tol, atol=tol)


def test_merged_forward_is_one_linear():
    tl.manual_seed(0)
    layer = nn.LoRALinear(nn.Linear(4, 3, dtype=np.float64), r=2)
    randomize_adapters(layer)
    layer.merge()
    x = inputs((5, 4), np.float64)
    np.testing.assert_array_equal(layer(x).data, layer.base(x).data)  # the extra path is skipped
    with tl.no_grad():
        layer.lora_B.data[...] = 100.0  # no effect while merged
    np.testing.assert_array_equal(layer(x).data, layer.base(x).data)


def test_merge_twice_and_unmerge_unmerged_are_errors():
    layer = nn.LoRALinear(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match='not merged'):
        layer.unmerge()
    layer.merge()
    with pytest.raises(RuntimeError, match='already merged'):
        layer.merge()
    layer.unmerge()


# ---- targeting ---------------------------------------------------------------------------------

def test_inject_by_last_component_and_full_name():
    tl.manual_seed(0)
    model = nn.ModuleDict({'a': Attention(), 'b': Attention()})
    wrapped = lora.inject(model, target=['out', 'b.q'])
    assert list(wrapped) == ['a.out', 'b.q', 'b.out']
    assert all(isinstance(m, nn.LoRALinear) and m.r == 8 and m.scaling == 2.0 for m in wrapped.values())
    assert model['b'].q is wrapped['b.q'] and type(model['a'].q) is nn.Linear


def test_inject_single_name_string():
    model = mlp_model()
    assert list(lora.inject(model, 'layers.2')) == ['layers.2']


def test_inject_freezes_non_linear_parameters():
    tl.manual_seed(0)
    model = Attention()
    lora.inject(model, target=lambda name: name.startswith('mlp'))
    assert not model.norm.weight.requires_grad and not model.q.weight.requires_grad
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        'mlp.0.lora_A', 'mlp.0.lora_B', 'mlp.1.lora_A', 'mlp.1.lora_B']


def test_inject_shared_linear_gets_one_wrapper():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    wrapped = lora.inject(model, target=lambda name: True)
    assert list(wrapped) == ['0'] and model[0] is model[2] is wrapped['0']


def test_inject_errors():
    model = mlp_model()
    with pytest.raises(ValueError, match=r"no nn.Linear.*layers.0"):
        lora.inject(model, target=('q', 'v'))
    with pytest.raises(ValueError, match='no nn.Linear'):
        lora.inject(model, target=lambda name: False)
    with pytest.raises(TypeError, match='target'):
        lora.inject(model, target=3)
    with pytest.raises(TypeError, match='nn.Module'):
        lora.inject([nn.Linear(2, 2)], target='0')
    assert all(type(m) is not nn.LoRALinear for m in model.modules())  # nothing half-done
    lora.inject(model, target='layers.0')
    with pytest.raises(ValueError, match='no nn.Linear'):  # already wrapped: its base is skipped
        lora.inject(model, target=('layers.0', 'base'))


# ---- adapter-only state -----------------------------------------------------------------------

def test_state_dict_round_trip_through_save_and_load(tmp_path):
    targets = ('q', 'k', 'v', 'out', 'fc')

    def fresh():
        tl.manual_seed(0)  # the same base weights every time
        return Attention()

    model = fresh()
    lora.inject(model, targets, r=2, alpha=4)
    randomize_adapters(model, seed=11)
    state = lora.state_dict(model)
    full = model.state_dict()
    adapters = [key for key in state if key.endswith(('lora_A', 'lora_B'))]
    assert adapters == [key for key in full if key.endswith(('lora_A', 'lora_B'))]
    assert len(adapters) == 10 and all(np.array_equal(state[k], full[k]) for k in adapters)
    assert len(state) == 20 and state['q.lora_r'] == 2 and state['q.lora_alpha'] == 4.0
    path = tmp_path / 'adapters.npz'
    tl.save(state, path)

    other = fresh()
    lora.inject(other, targets, r=2, alpha=4)
    x = inputs((2, 4, 6))
    assert not np.allclose(other(x).data, model(x).data)
    result = lora.load_state_dict(other, tl.load(path))
    assert result == ([], [])
    np.testing.assert_array_equal(other(x).data, model(x).data)


def test_state_dict_is_a_copy_and_load_keeps_parameters():
    model = mlp_model()
    lora.inject(model, 'layers.0')
    state = lora.state_dict(model)
    state['layers.0.lora_A'][...] = 7.0
    assert not np.any(model.layers[0].lora_A.data == 7.0)
    param = model.layers[0].lora_A
    lora.load_state_dict(model, state)
    assert model.layers[0].lora_A is param and np.all(param.data == 7.0)


def test_load_state_dict_strictness_and_errors():
    model = mlp_model()
    lora.inject(model, ('layers.0', 'layers.2'), r=2)
    state = lora.state_dict(model)
    with pytest.raises(RuntimeError, match='missing adapter keys'):
        lora.load_state_dict(model, {'layers.0.lora_A': state['layers.0.lora_A']})
    with pytest.raises(RuntimeError, match='unexpected'):
        lora.load_state_dict(model, {**state, 'layers.9.lora_A': state['layers.0.lora_A']})
    with pytest.raises(RuntimeError, match='size mismatch'):
        lora.load_state_dict(model, {**state, 'layers.0.lora_A': np.zeros((3, 5))})
    partial = lora.load_state_dict(model, {'layers.0.lora_B': np.ones((16, 2))}, strict=False)
    assert partial.missing_keys == [f'layers.{i}.{key}' for i in (0, 2)
                                    for key in ('lora_A', 'lora_B', 'lora_r', 'lora_alpha')
                                    if (i, key) != (0, 'lora_B')]
    assert np.all(model.layers[0].lora_B.data == 1)
    model.layers[0].merge()
    with pytest.raises(RuntimeError, match='merged'):
        lora.load_state_dict(model, state)
    with pytest.raises(TypeError, match='dict'):
        lora.load_state_dict(model, [1, 2])


def test_state_dict_without_adapters_is_an_error():
    with pytest.raises(ValueError, match='inject'):
        lora.state_dict(mlp_model())
    with pytest.raises(ValueError, match='inject'):
        lora.load_state_dict(mlp_model(), {})


def test_exports():
    assert tl.nn.lora is lora and nn.LoRALinear is lora.LoRALinear
    assert 'LoRALinear' in nn.__all__ and 'lora' in nn.__all__
