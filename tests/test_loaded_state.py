"""Loaded state that would be NaN (or wrong) at first use is refused, naming the key, before
anything is copied (issue 20): a negative BatchNorm ``running_var``, negative second moments
of Adam/AdamW/RMSprop/Adagrad, float64 values that overflow float32, complex data, and two
different arrays under the keys of one tied weight."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.models import GPT, GPTConfig
from tinygrad_ls.nn import functional as F


def state_of(module) -> dict:
    return {key: value.copy() for key, value in module.state_dict().items()}


def assert_unchanged(module, before: dict) -> None:
    after = module.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


# ---- BatchNorm ----------------------------------------------------------------------------------

@pytest.mark.parametrize('layer, x', [(nn.BatchNorm1d(3), np.ones((4, 3))),
                                      (nn.BatchNorm2d(3), np.ones((2, 3, 2, 2)))], ids=['1d', '2d'])
@pytest.mark.parametrize('bad', [-0.5, np.nan], ids=['negative', 'nan'])
def test_a_negative_running_var_is_refused(layer, x, bad):
    model = nn.Sequential(nn.Identity(), layer)
    state = {key: value + 1 for key, value in state_of(model).items()}
    state['1.running_var'] = np.array([1.0, bad, 2.0], dtype=np.float32)
    before = state_of(model)
    with pytest.raises(RuntimeError, match=rf"1\.running_var holds {bad} at index \(1,\): a variance must be "
                                           rf">= 0 \({type(layer).__name__}"):
        model.load_state_dict(state)
    assert_unchanged(model, before)
    state['1.running_var'] = np.array([1.0, 0.0, 2.0], dtype=np.float32)  # zero is a variance
    model.load_state_dict(state)
    model.eval()
    assert np.isfinite(model(tl.Value(x.astype(np.float32))).data).all()


# ---- optimizers ---------------------------------------------------------------------------------

def stepped(kind, **options):
    tl.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = kind(model.parameters(), **options)
    F.mse_loss(model(np.ones((4, 3), dtype=np.float32)), np.zeros((4, 2))).backward()
    optimizer.step()
    return model, optimizer


@pytest.mark.parametrize('kind, options, key', [
    (optim.Adam, {}, 'exp_avg_sq'),
    (optim.Adam, {'amsgrad': True}, 'max_exp_avg_sq'),
    (optim.AdamW, {}, 'exp_avg_sq'),
    (optim.RMSprop, {}, 'square_avg'),
    (optim.Adagrad, {}, 'sum'),
], ids=['adam', 'adam-amsgrad', 'adamw', 'rmsprop', 'adagrad'])
def test_negative_second_moments_are_refused_and_nothing_changes(kind, options, key):
    model, optimizer = stepped(kind, **options)
    saved = optimizer.state_dict()
    saved['state'][1][key] = np.array([0.5, -1e-3], dtype=np.float32)
    before = optimizer.state_dict()
    message = rf"state\[1\]\['{key}'\] holds -0\.001 at index \(1,\): a running mean of squares cannot be"
    with pytest.raises(ValueError, match=message):
        optimizer.load_state_dict(saved)
    after = optimizer.state_dict()
    for index, entry in before['state'].items():
        for name, value in entry.items():
            np.testing.assert_array_equal(after['state'][index][name], value)
    saved['state'][1][key] = np.array([0.5, 0.0], dtype=np.float32)
    optimizer.load_state_dict(saved)  # zero is fine
    F.mse_loss(model(np.ones((4, 3), dtype=np.float32)), np.zeros((4, 2))).backward()
    optimizer.step()
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_an_optimizer_state_saved_in_float64_that_overflows_float32_is_refused(tmp_path):
    model, optimizer = stepped(optim.Adam)
    saved = optimizer.state_dict()
    saved['state'][0]['exp_avg'] = saved['state'][0]['exp_avg'].astype(np.float64)
    saved['state'][0]['exp_avg'][1, 2] = 1e300
    tl.save({'optimizer': saved}, tmp_path / 'opt.npz')
    loaded = tl.load(tmp_path / 'opt.npz')['optimizer']
    assert np.isfinite(loaded['state'][0]['exp_avg']).all()  # finite in the file
    message = r"state\[0\]\['exp_avg'\] holds 1e\+300 at index \(1, 2\), finite as float64 but inf as the"
    with pytest.raises(ValueError, match=message + " parameter's float32"):
        optimizer.load_state_dict(loaded)


def test_lr_nan_or_inf_is_refused_by_every_optimizer():
    params = [nn.Parameter(np.ones(2))]
    for kind in (optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad, optim.LBFGS):
        for lr in (np.nan, np.inf, -np.inf):
            with pytest.raises(ValueError, match='Invalid learning rate'):
                kind(params, lr=lr)
    optim.LBFGS(params, tolerance_change=np.inf)  # a tolerance may be infinite: stop at once


# ---- Module.load_state_dict: dtype and ties ------------------------------------------------------

def test_float64_values_that_overflow_the_parameters_dtype_are_refused(tmp_path):
    tl.manual_seed(0)
    model = nn.Linear(2, 2)
    state = {key: value.astype(np.float64) for key, value in state_of(model).items()}
    state['weight'][0, 1] = -3e39
    tl.save(state, tmp_path / 'model.npz')
    before = state_of(model)
    message = r"value for weight does not fit float32: -3e\+39 at index \(0, 1\) is finite in the state_dict"
    with pytest.raises(RuntimeError, match=message + r" \(float64\) but inf as float32"):
        model.load_state_dict(tl.load(tmp_path / 'model.npz'))
    assert_unchanged(model, before)
    half = nn.Linear(2, 2, dtype=np.float16)
    with pytest.raises(RuntimeError, match='does not fit float16: 70000'):
        half.load_state_dict({'weight': np.array([[1, 70000], [0, 0]]), 'bias': np.zeros(2)})
    model.double().load_state_dict(tl.load(tmp_path / 'model.npz'))  # float64 holds it
    assert model.weight.data[0, 1] == -3e39


def test_complex_values_for_real_parameters_are_refused():
    model = nn.Linear(2, 2)
    message = r"value for bias is complex \(complex64\); the model's bias is real \(float32\)"
    with pytest.raises(RuntimeError, match=message):
        model.load_state_dict({'weight': model.weight.data, 'bias': np.array([1 + 2j, 0], np.complex64)})


def tiny_gpt():
    tl.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, block_size=4, n_layer=1, n_head=1, n_embd=8))


def test_two_different_arrays_for_one_tied_weight_are_refused():
    model = tiny_gpt()
    assert model.lm_head.weight is model.transformer.wte.weight
    state = state_of(model)
    assert np.array_equal(state['lm_head.weight'], state['transformer.wte.weight'])
    state['lm_head.weight'] = state['lm_head.weight'] + 0.5
    state['lm_head.weight'][0, 0] = 7.0
    before = state_of(model)
    message = r"transformer\.wte\.weight and lm_head\.weight name one tied Parameter but hold different"
    with pytest.raises(RuntimeError, match=message + r" arrays \(the first difference at index \(0, 0\)"):
        model.load_state_dict(state)
    assert_unchanged(model, before)
    state['transformer.wte.weight'] = state['lm_head.weight'].copy()  # equal arrays: the tie loads
    model.load_state_dict(state)
    assert model.lm_head.weight is model.transformer.wte.weight
    np.testing.assert_array_equal(model.lm_head.weight.data, state['lm_head.weight'])
    del state['lm_head.weight']  # one name of the tie is enough, without strict
    model.load_state_dict(state, strict=False)


def test_a_shared_buffer_under_two_names_must_hold_equal_arrays():
    norm = nn.BatchNorm1d(2)
    model = nn.ModuleDict({'a': norm, 'b': norm})
    state = state_of(model)
    state['b.running_mean'] = np.array([1.0, 2.0], dtype=np.float32)
    with pytest.raises(RuntimeError, match=r"a\.running_mean and b\.running_mean name one tied"):
        model.load_state_dict(state)
