"""nn.TransformerEncoderLayer and nn.TransformerEncoder: PyTorch parity, gradients, errors."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import leaf, normal

import tinygrad_ls as tl
from tinygrad_ls import nn


def _torch_state(module) -> dict:
    return {name: t.detach().numpy() for name, t in module.state_dict().items()}


def _compare_grads(ours, theirs):
    their_params = dict(theirs.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(their_params)
    for name, param in ours.named_parameters():
        np.testing.assert_allclose(param.grad, their_params[name].grad.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)


@pytest.mark.torch
@pytest.mark.parametrize('norm_first', [False, True])
@pytest.mark.parametrize('activation', ['relu', 'gelu'])
@pytest.mark.parametrize('batch_first', [False, True])
def test_encoder_layer_matches_torch(torch, norm_first, activation, batch_first):
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    kwargs = dict(dim_feedforward=16, dropout=0.0, activation=activation, norm_first=norm_first,
                  batch_first=batch_first)
    theirs = torch.nn.TransformerEncoderLayer(8, 2, **kwargs).double()
    ours = nn.TransformerEncoderLayer(8, 2, **kwargs, dtype=np.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(_torch_state(theirs))
    padding = np.array([[False, False, False, True], [False, True, False, False]])
    mask = rng.random((4, 4)) > 0.6  # bool, True = masked out; key 0 is never masked
    mask[:, 0] = False
    x = leaf(normal(rng, (2, 4, 8) if batch_first else (4, 2, 8)))
    out = ours(x, src_mask=mask, src_key_padding_mask=padding)
    (out * out).sum().backward()
    tx = torch.tensor(x.data, requires_grad=True)
    t_out = theirs(tx, src_mask=torch.tensor(mask), src_key_padding_mask=torch.tensor(padding))
    (t_out * t_out).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    _compare_grads(ours, theirs)


@pytest.mark.torch
@pytest.mark.parametrize('norm_first', [False, True])
def test_encoder_matches_torch_with_causal_mask_and_final_norm(torch, norm_first):
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    kwargs = dict(dim_feedforward=12, dropout=0.0, activation='gelu', norm_first=norm_first, batch_first=True)
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, **kwargs), 2,
                                         norm=torch.nn.LayerNorm(8), enable_nested_tensor=False).double()
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, **kwargs, dtype=np.float64), 2,
                                 norm=nn.LayerNorm(8, dtype=np.float64))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(_torch_state(theirs))
    causal = np.triu(np.ones((5, 5), bool), 1)
    x = leaf(normal(rng, (2, 5, 8)))
    out = ours(x, mask=causal)
    (out * out).sum().backward()
    tx = torch.tensor(x.data, requires_grad=True)
    t_out = theirs(tx, mask=torch.tensor(causal))
    (t_out * t_out).sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    _compare_grads(ours, theirs)


def test_block_gradcheck_float64():
    rng = np.random.default_rng(2)
    tl.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=8, dropout=0.0, activation='gelu',
                                       batch_first=True, dtype=np.float64)
    x = leaf(normal(rng, (1, 3, 8)))
    causal = np.triu(np.ones((3, 3), bool), 1)
    assert tl.gradcheck(lambda x: layer(x, src_mask=causal, is_causal=True), (x,))
    weight = layer.self_attn.in_proj_weight
    assert tl.gradcheck(lambda w: layer(x.detach()), (weight,))


def test_encoder_layers_are_independent_copies():
    tl.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, activation=lambda v: v.tanh())
    encoder = nn.TransformerEncoder(layer, 3)
    assert len(encoder.layers) == 3
    first, second = encoder.layers[0].linear1.weight, encoder.layers[1].linear1.weight
    assert first is not second and np.array_equal(first.data, second.data)
    assert len(list(encoder.parameters())) == 3 * len(list(layer.parameters()))


def test_dropout_only_in_training():
    rng = np.random.default_rng(3)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.5)
    x = normal(rng, (3, 2, 4))
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, layer(x).data)
    layer.train()
    assert not np.allclose(layer(x).data, layer(x).data)


def test_bad_input():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=8)
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: src must have shape .*got \(3, 2, 6\)"):
        layer(np.zeros((3, 2, 6)))
    with pytest.raises(ValueError, match="TransformerEncoderLayer: activation must be 'relu', 'gelu'"):
        nn.TransformerEncoderLayer(8, 2, activation='swish')
    with pytest.raises(ValueError, match=r"MultiheadAttention: key_padding_mask must have shape \(2, 3\)"):
        layer(np.zeros((3, 2, 8)), src_key_padding_mask=np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match="TransformerEncoder: num_layers must be a positive int"):
        nn.TransformerEncoder(layer, 0)
