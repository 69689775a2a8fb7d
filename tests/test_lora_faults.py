"""LoRA: nothing applied twice, nothing lost (issue 20). ``merge_and_unload``; adapter files
with ``r``, ``alpha`` and the targets, checked on load; the merged flag in full state_dicts;
``Module.load_state_dict`` into a merged layer refused; tied weights refused by ``inject``."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.models import GPT, GPTConfig
from tinygrad_ls.nn import lora

TARGETS = ('layers.0', 'layers.2', 'layers.4')


def mlp():
    tl.manual_seed(0)
    return nn.MLP([5, 8, 8, 3])


def adapted(alpha=8, r=2, targets=TARGETS, seed=3):
    """An MLP with LoRA on ``targets`` and non-zero adapters (so the update shows)."""
    model = mlp()
    wrapped = lora.inject(model, targets, r=r, alpha=alpha)
    rng = np.random.default_rng(seed)
    with tl.no_grad():
        for module in wrapped.values():
            module.lora_A.copy_(rng.standard_normal(module.lora_A.shape))
            module.lora_B.copy_(0.1 * rng.standard_normal(module.lora_B.shape))
    return model, wrapped


X = tl.Value(np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32))


def submodule(model, name: str):
    return dict(model.named_modules())[name]


def outputs(model) -> np.ndarray:
    return model(X).data.copy()


# ---- merge_and_unload -----------------------------------------------------------------------------

def test_merge_and_unload_gives_plain_linears_with_the_base_keys_and_the_same_outputs():
    model, wrapped = adapted()
    expected = outputs(model)
    plain_keys = list(mlp().state_dict())
    assert lora.merge_and_unload(model) is model
    assert all(type(model.layers[i]) is nn.Linear for i in (0, 2, 4))
    assert list(model.state_dict()) == plain_keys  # no base., no lora_ keys
    np.testing.assert_allclose(outputs(model), expected, rtol=1e-5, atol=1e-6)
    for name, wrapper in wrapped.items():  # the merged weight is the wrapper's base weight
        assert submodule(model, name) is wrapper.base and wrapper.merged
    fresh = mlp()
    fresh.load_state_dict(model.state_dict())  # a plain model loads it, strictly
    np.testing.assert_allclose(outputs(fresh), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='has no LoRALinear'):
        lora.merge_and_unload(model)


def test_merge_and_unload_of_merged_and_shared_wrappers_merges_once():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    (wrapper,) = lora.inject(model, target=lambda name: True).values()
    with tl.no_grad():
        wrapper.lora_B.copy_(np.ones((4, 8)))
    x = tl.Value(np.ones((2, 4), dtype=np.float32))
    expected = model(x).data.copy()
    wrapper.merge()  # already merged: not merged again
    lora.merge_and_unload(model)
    assert model[0] is model[2] is shared
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-5, atol=1e-5)
    layer = nn.LoRALinear(nn.Linear(3, 2))
    assert lora.merge_and_unload(layer) is layer.base and layer.merged
    with pytest.raises(TypeError, match='nn.Module'):
        lora.merge_and_unload([layer])


# ---- adapter files: r, alpha and targets --------------------------------------------------------

def test_adapter_files_carry_r_alpha_and_the_targets(tmp_path):
    model, _ = adapted(alpha=16, r=2)
    tl.save(lora.state_dict(model), tmp_path / 'adapters.npz')
    saved = tl.load(tmp_path / 'adapters.npz')
    assert sorted(saved) == sorted(f"{target}.{key}" for target in TARGETS
                                   for key in ('lora_A', 'lora_B', 'lora_r', 'lora_alpha'))
    assert saved['layers.2.lora_r'].dtype == np.int64 and saved['layers.2.lora_r'] == 2
    assert saved['layers.2.lora_alpha'] == 16.0

    same, _ = adapted(alpha=16, r=2, seed=9)
    lora.load_state_dict(same, saved)
    np.testing.assert_array_equal(outputs(same), outputs(model))


@pytest.mark.parametrize('alpha, r, key, match', [
    (4, 2, 'layers.0.lora_alpha', r"layers\.0\.lora_alpha is 16 in the adapter file, but the model's "
                                  r"LoRALinear 'layers\.0' has alpha=4 \(scaling alpha/r = 2\)"),
    (16, 4, 'layers.0.lora_r', r"layers\.0\.lora_r is 2 in the adapter file, but the model's LoRALinear "
                               r"'layers\.0' has r=4"),
], ids=['alpha', 'r'])
def test_an_adapter_file_of_other_settings_is_refused_naming_the_key(alpha, r, key, match, tmp_path):
    model, _ = adapted(alpha=16, r=2)
    tl.save(lora.state_dict(model), tmp_path / 'adapters.npz')
    other, wrapped = adapted(alpha=alpha, r=r, seed=5)
    before = {k: v.copy() for k, v in other.state_dict().items()}
    with pytest.raises(RuntimeError, match=match):
        lora.load_state_dict(other, tl.load(tmp_path / 'adapters.npz'))
    with pytest.raises(RuntimeError, match=match):  # strict=False checks the settings too
        lora.load_state_dict(other, tl.load(tmp_path / 'adapters.npz'), strict=False)
    assert all(np.array_equal(v, before[k]) for k, v in other.state_dict().items())


def test_an_adapter_file_for_other_targets_is_refused_naming_the_keys(tmp_path):
    model, _ = adapted(targets=('layers.0', 'layers.2'))
    other, _ = adapted(targets=('layers.2', 'layers.4'))
    with pytest.raises(RuntimeError, match=r"missing adapter keys \['layers\.4\.lora_A'.*unexpected keys "
                                           r"\['layers\.0\.lora_A'"):
        lora.load_state_dict(other, lora.state_dict(model))


def test_an_adapter_file_without_settings_loads_only_without_strict():
    model, _ = adapted()
    old = {k: v for k, v in lora.state_dict(model).items() if k.endswith(('lora_A', 'lora_B'))}
    other, _ = adapted(seed=7)
    with pytest.raises(RuntimeError, match=r"missing adapter keys \['layers\.0\.lora_r', 'layers\.0\.lora_"):
        lora.load_state_dict(other, old)
    result = lora.load_state_dict(other, old, strict=False)
    assert result.missing_keys == [f"{t}.{k}" for t in TARGETS for k in ('lora_r', 'lora_alpha')]
    np.testing.assert_array_equal(outputs(other), outputs(model))


# ---- the merged flag in full state_dicts --------------------------------------------------------

def test_a_state_saved_while_merged_loads_as_merged_and_applies_the_update_once(tmp_path):
    model, wrapped = adapted()
    expected = outputs(model)
    for module in wrapped.values():
        module.merge()
    state = model.state_dict()
    assert state['layers.0.lora_merged'] == np.array(True)
    tl.save(state, tmp_path / 'merged.npz')

    fresh, fresh_wrapped = adapted(seed=11)  # a freshly injected model, unmerged
    fresh.load_state_dict(tl.load(tmp_path / 'merged.npz'))
    assert all(module.merged for module in fresh_wrapped.values())
    np.testing.assert_allclose(outputs(fresh), expected, rtol=1e-5, atol=1e-6)  # not twice
    for module in fresh_wrapped.values():
        module.unmerge()
    np.testing.assert_allclose(outputs(fresh), expected, rtol=1e-5, atol=1e-6)
    for name, module in fresh_wrapped.items():  # the base weight is the pretrained one again
        np.testing.assert_allclose(module.base.weight.data, submodule(mlp(), name).weight.data, atol=1e-6)


def test_an_unmerged_state_loads_as_unmerged():
    model, _ = adapted()
    fresh, fresh_wrapped = adapted(seed=11)
    fresh.load_state_dict(model.state_dict())
    assert not any(module.merged for module in fresh_wrapped.values())
    np.testing.assert_array_equal(outputs(fresh), outputs(model))


def test_loading_into_a_merged_layer_is_refused_and_unmerge_stays_exact():
    model, wrapped = adapted()
    pretrained = {name: module.base.weight.data.copy() for name, module in wrapped.items()}
    other, _ = adapted(seed=4)
    wrapped['layers.2'].merge()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match=r"LoRALinear 'layers\.2' is merged .*call unmerge\(\) first"):
        model.load_state_dict(other.state_dict())
    assert all(np.array_equal(v, before[k]) for k, v in model.state_dict().items())
    wrapped['layers.2'].unmerge()
    np.testing.assert_allclose(wrapped['layers.2'].base.weight.data, pretrained['layers.2'], atol=1e-6)
    model.load_state_dict(other.state_dict())  # unmerged: fine
    np.testing.assert_array_equal(outputs(model), outputs(other))


def test_a_merged_flag_without_its_base_weight_is_refused():
    model, wrapped = adapted()
    wrapped['layers.0'].merge()
    state = model.state_dict()
    del state['layers.0.base.weight']
    fresh, _ = adapted(seed=2)
    with pytest.raises(RuntimeError, match=r"layers\.0\.lora_merged is set .*\['layers\.0\.base\.weight'\]"):
        fresh.load_state_dict(state, strict=False)


# ---- tied weights -------------------------------------------------------------------------------

def gpt():
    tl.manual_seed(0)
    return GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=8))


def test_inject_refuses_a_linear_whose_weight_is_tied_and_changes_nothing():
    model = gpt()
    flags = [p.requires_grad for p in model.parameters()]
    with pytest.raises(ValueError, match=r"lm_head\.weight is tied to transformer\.wte\.weight .* cannot be "
                                         r"wrapped.*untie it first: model\.lm_head\.weight = nn\.Parameter"):
        lora.inject(model, target=('c_attn', 'lm_head'))
    assert not any(isinstance(m, nn.LoRALinear) for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags


def test_an_untied_head_can_be_adapted_and_merged_without_touching_the_embedding():
    model = gpt()
    model.lm_head.weight = nn.Parameter(model.lm_head.weight.data.copy())
    embedding = model.transformer.wte.weight.data.copy()
    (head,) = lora.inject(model, target='lm_head').values()
    with tl.no_grad():
        head.lora_B.copy_(np.ones(head.lora_B.shape))
    idx = np.random.default_rng(0).integers(0, 17, (2, 8))
    expected = model(idx)[0].data.copy()
    lora.merge_and_unload(model)
    np.testing.assert_array_equal(model.transformer.wte.weight.data, embedding)
    np.testing.assert_allclose(model(idx)[0].data, expected, rtol=1e-5, atol=1e-5)
