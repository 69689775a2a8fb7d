"""F.scaled_dot_product_attention and nn.MultiheadAttention: gradients, PyTorch parity, errors."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import leaf, normal

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F

SDPA = F.scaled_dot_product_attention


def _qkv(rng, batch=(2,), length=3, source=4, embed=5, value_dim=3):
    return (leaf(normal(rng, batch + (length, embed))), leaf(normal(rng, batch + (source, embed))),
            leaf(normal(rng, batch + (source, value_dim))))


def _mask_cases(rng):
    bool_mask = rng.random((3, 4)) > 0.4
    bool_mask[:, 0] = True  # every query attends to at least one key
    return {
        'plain': {},
        'bool mask': {'attn_mask': bool_mask},
        'float mask': {'attn_mask': normal(rng, (3, 4))},
        'causal': {'is_causal': True},
        'custom scale': {'scale': 0.37},
    }


# ---- scaled_dot_product_attention: gradients ------------------------------------------------
@pytest.mark.parametrize('case', ['plain', 'bool mask', 'float mask', 'causal', 'custom scale'])
def test_sdpa_gradcheck_and_gradgradcheck(case):
    rng = np.random.default_rng(0)
    kwargs = _mask_cases(rng)[case]
    q, k, v = _qkv(rng)
    fn = lambda q, k, v: SDPA(q, k, v, **kwargs)  # noqa: E731
    assert tl.gradcheck(fn, (q, k, v))
    assert tl.gradgradcheck(fn, (q, k, v))


def test_sdpa_gradcheck_batched_heads_and_float_mask_gradient():
    rng = np.random.default_rng(1)
    q, k, v = _qkv(rng, batch=(2, 2), length=3, source=3, embed=4, value_dim=2)
    mask = leaf(normal(rng, (2, 1, 3, 3)))  # broadcast over heads; a float mask takes a gradient
    assert tl.gradcheck(lambda q, k, v, m: SDPA(q, k, v, attn_mask=m), (q, k, v, mask))
    assert tl.gradgradcheck(lambda q, k, v: SDPA(q, k, v, is_causal=True), (q, k, v))


# ---- scaled_dot_product_attention: values -----------------------------------------------------
def test_sdpa_tiny_hand_case():
    # one query, two keys with scores 0 and log(3): weights 1/4, 3/4
    q = np.array([[1.0]])
    k = np.array([[0.0], [np.log(3.0)]])
    v = np.array([[4.0], [8.0]])
    np.testing.assert_allclose(SDPA(q, k, v, scale=1.0).data, [[7.0]])


def test_sdpa_stable_for_large_scores():
    q = np.full((2, 3), 1e3)
    out = SDPA(q, q, np.eye(2, 3))
    assert np.isfinite(out.data).all()


def test_sdpa_fully_masked_row_gives_zeros_and_zero_gradient():
    rng = np.random.default_rng(2)
    q, k, v = _qkv(rng, batch=(), length=2, source=3)
    mask = np.array([[True, False, True], [False, False, False]])
    out = SDPA(q, k, v, attn_mask=mask)
    np.testing.assert_array_equal(out.data[1], 0.0)
    out.sum().backward()
    assert np.isfinite(q.grad).all() and np.isfinite(k.grad).all() and np.isfinite(v.grad).all()
    np.testing.assert_array_equal(q.grad[1], 0.0)


def test_sdpa_dropout_uses_library_generator():
    rng = np.random.default_rng(3)
    q, k, v = _qkv(rng)
    tl.manual_seed(5)
    first = SDPA(q, k, v, dropout_p=0.5).data
    tl.manual_seed(5)
    np.testing.assert_array_equal(SDPA(q, k, v, dropout_p=0.5).data, first)
    assert not np.allclose(first, SDPA(q, k, v).data)


@pytest.mark.torch
@pytest.mark.parametrize('case', ['plain', 'bool mask', 'float mask', 'causal', 'custom scale'])
def test_sdpa_matches_torch(torch, case):
    rng = np.random.default_rng(4)
    kwargs = _mask_cases(rng)[case]
    q, k, v = _qkv(rng, batch=(2, 2))
    out = SDPA(q, k, v, **kwargs)
    out.backward(np.ones(out.shape))
    tq, tk, tv = (torch.tensor(x.data, requires_grad=True) for x in (q, k, v))
    tkwargs = {key: torch.tensor(val) if isinstance(val, np.ndarray) else val for key, val in kwargs.items()}
    expected = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkwargs)
    expected.sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, theirs in ((q, tq), (k, tk), (v, tv)):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_sdpa_causal_upper_left_when_lengths_differ(torch):
    rng = np.random.default_rng(5)
    q, k, v = _qkv(rng, batch=(1,), length=2, source=4)
    expected = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(x.data) for x in (q, k, v)), is_causal=True)
    np.testing.assert_allclose(SDPA(q, k, v, is_causal=True).data, expected.numpy(), rtol=1e-10)


# ---- scaled_dot_product_attention: errors -----------------------------------------------------
@pytest.mark.parametrize('shapes, message', [
    (((3, 4), (5, 3), (5, 2)), 'last dimension E'),
    (((3, 4), (5, 4), (6, 2)), 'sequence length S'),
    (((4,), (5, 4), (5, 2)), 'at least 2 dimensions'),
    (((2, 3, 4), (3, 5, 4), (3, 5, 2)), 'do not broadcast'),
])
def test_sdpa_bad_shapes(shapes, message):
    q, k, v = (np.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=f"scaled_dot_product_attention.*{message}"):
        SDPA(q, k, v)


def test_sdpa_bad_arguments():
    q = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: pass either attn_mask or is_causal"):
        SDPA(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(2, 3\) does not broadcast.*\(3, 3\)"):
        SDPA(q, q, q, attn_mask=np.ones((2, 3), bool))
    with pytest.raises(TypeError, match="attn_mask must be bool or float"):
        SDPA(q, q, q, attn_mask=np.ones((3, 3), np.int64))
    with pytest.raises(ValueError, match="dropout_p must be in"):
        SDPA(q, q, q, dropout_p=1.5)


# ---- nn.MultiheadAttention ----------------------------------------------------------------------
def _mha_pair(torch, embed=8, heads=2, batch_first=False, bias=True):
    """A torch MultiheadAttention in float64 and ours with its weights."""
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(embed, heads, bias=bias, batch_first=batch_first).double()
    ours = nn.MultiheadAttention(embed, heads, bias=bias, batch_first=batch_first, dtype=np.float64)
    ours.load_state_dict({name: t.detach().numpy() for name, t in theirs.state_dict().items()})
    return ours, theirs


def _mha_masks(rng, batch, heads, length, source):
    attn_bool = rng.random((length, source)) > 0.6
    attn_bool[:, 0] = False  # every query keeps a key
    padding = rng.random((batch, source)) > 0.6
    padding[:, 0] = False
    return {
        'none': {},
        'bool attn_mask': {'attn_mask': attn_bool},
        'float attn_mask': {'attn_mask': normal(rng, (length, source))},
        '3-D attn_mask': {'attn_mask': normal(rng, (batch * heads, length, source))},
        'bool key_padding_mask': {'key_padding_mask': padding},
        'float key_padding_mask': {'key_padding_mask': normal(rng, (batch, source))},
        'both bool': {'attn_mask': attn_bool, 'key_padding_mask': padding},
        'causal hint': {'attn_mask': np.triu(np.ones((length, length), bool), 1), 'is_causal': True},
    }


@pytest.mark.torch
@pytest.mark.parametrize('batch_first', [False, True])
@pytest.mark.parametrize('case', ['none', 'bool attn_mask', 'float attn_mask', '3-D attn_mask',
                                  'bool key_padding_mask', 'float key_padding_mask', 'both bool',
                                  'causal hint'])
def test_mha_matches_torch(torch, batch_first, case):
    rng = np.random.default_rng(6)
    batch, heads, length = 2, 2, 3
    source = length if case == 'causal hint' else 4
    kwargs = _mha_masks(rng, batch, heads, length, source)[case]
    ours, theirs = _mha_pair(torch, heads=heads, batch_first=batch_first)
    order = (lambda n, t: (n, t, 8)) if batch_first else (lambda n, t: (t, n, 8))
    q, k, v = leaf(normal(rng, order(batch, length))), leaf(normal(rng, order(batch, source))), \
        leaf(normal(rng, order(batch, source)))
    out, weights = ours(q, k, v, **kwargs)
    (out.sum() + (weights * weights).sum()).backward()
    tq, tk, tv = (torch.tensor(x.data, requires_grad=True) for x in (q, k, v))
    tkwargs = {key: torch.tensor(val) if isinstance(val, np.ndarray) else val for key, val in kwargs.items()}
    t_out, t_weights = theirs(tq, tk, tv, **tkwargs)
    (t_out.sum() + (t_weights * t_weights).sum()).backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.data, t_weights.detach().numpy(), rtol=1e-10, atol=1e-12)
    for mine, their in ((q, tq), (k, tk), (v, tv)):
        np.testing.assert_allclose(mine.grad, their.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, param in ours.named_parameters():
        their_grad = dict(theirs.named_parameters())[name].grad.numpy()
        np.testing.assert_allclose(param.grad, their_grad, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.torch
@pytest.mark.parametrize('need_weights, average', [(True, False), (False, True)])
def test_mha_weights_options_and_unbatched(torch, need_weights, average):
    rng = np.random.default_rng(7)
    ours, theirs = _mha_pair(torch, heads=4, bias=False)
    for shape in ((3, 2, 8), (3, 8)):  # batched (L, N, E) and unbatched (L, E)
        x = normal(rng, shape)
        out, weights = ours(x, x, x, need_weights=need_weights, average_attn_weights=average)
        t_out, t_weights = theirs(*(torch.tensor(x),) * 3, need_weights=need_weights,
                                  average_attn_weights=average)
        np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
        if need_weights:
            assert weights.shape == tuple(t_weights.shape)
            np.testing.assert_allclose(weights.data, t_weights.detach().numpy(), rtol=1e-10, atol=1e-12)
        else:
            assert weights is None and t_weights is None


@pytest.mark.torch
def test_mha_state_dict_keys_and_init_match_torch(torch):
    for bias in (True, False):
        ours = nn.MultiheadAttention(8, 2, bias=bias)
        theirs = torch.nn.MultiheadAttention(8, 2, bias=bias)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    ours = nn.MultiheadAttention(8, 2)
    assert not ours.in_proj_bias.data.any() and not ours.out_proj.bias.data.any()
    bound = np.sqrt(6 / (8 + 24))
    assert np.abs(ours.in_proj_weight.data).max() <= bound


def test_mha_gradcheck_with_masks():
    rng = np.random.default_rng(8)
    tl.manual_seed(0)
    mha = nn.MultiheadAttention(4, 2, batch_first=True, dtype=np.float64)
    padding = np.array([[False, False, True], [False, False, False]])
    x = leaf(normal(rng, (2, 3, 4)))
    assert tl.gradcheck(lambda x: mha(x, x, x, key_padding_mask=padding)[0], (x,))


def test_mha_dropout_only_in_training():
    rng = np.random.default_rng(9)
    mha = nn.MultiheadAttention(4, 2, dropout=0.5, dtype=np.float64)
    x = normal(rng, (3, 2, 4))
    mha.eval()
    first = mha(x, x, x)[0].data
    np.testing.assert_array_equal(mha(x, x, x)[0].data, first)
    mha.train()
    assert not np.allclose(mha(x, x, x)[0].data, first)


def test_mha_bad_input():
    mha = nn.MultiheadAttention(8, 2)
    x = np.zeros((3, 2, 8))
    with pytest.raises(ValueError, match=r"MultiheadAttention: .*embed_dim=8, got query \(3, 2, 6\)"):
        mha(np.zeros((3, 2, 6)), x, x)
    with pytest.raises(ValueError, match=r"MultiheadAttention: .*all be 3-D \(batched\) or all 2-D"):
        mha(np.zeros((3, 8)), x, x)
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(3, 3\) or \(4, 3, 3\)"):
        mha(x, x, x, attn_mask=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"MultiheadAttention: key_padding_mask must have shape \(2, 3\)"):
        mha(x, x, x, key_padding_mask=np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match="MultiheadAttention: is_causal=True .* pass attn_mask"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="MultiheadAttention: embed_dim=8 must be divisible by num_heads=3"):
        nn.MultiheadAttention(8, 3)
    with pytest.raises(ValueError, match=r"MultiheadAttention: dropout must be in \[0, 1\]"):
        nn.MultiheadAttention(8, 2, dropout=-0.1)


def test_exports():
    assert 'scaled_dot_product_attention' in F.__all__
    for name in ('MultiheadAttention', 'TransformerEncoderLayer', 'TransformerEncoder'):
        assert name in nn.__all__ and hasattr(nn, name)
