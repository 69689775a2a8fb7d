"""Embedding: ``F.embedding`` and ``nn.Embedding``.

- float64 ``gradcheck`` and ``gradgradcheck`` over index shapes and ``padding_idx``;
- exact gradients by hand: repeated indices add up, the padding row gets none;
- indices as int arrays of any shape, lists, integer Values; float indices, out-of-range
  indices (an IndexError naming the layer, the index and ``num_embeddings``, raised before
  anything changes) and bad ``padding_idx`` refused;
- behind the ``torch`` fixture: values and gradients against PyTorch (repeated indices,
  padding, negative ``padding_idx``), ``repr``, a torch ``state_dict`` loaded into ours.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import leaf, normal

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F

INDEX_SHAPES = [(), (4,), (2, 3), (2, 2, 2)]


def indices_of(shape: tuple, rows: int, seed: int = 0) -> np.ndarray:
    """Random indices in [0, rows) of ``shape``, with repeats likely."""
    return np.random.default_rng(seed).integers(0, rows, shape)


# ---- gradcheck and gradgradcheck -----------------------------------------------------------
@pytest.mark.parametrize('padding_idx', [None, 4], ids=['no-padding', 'padding-unused'])
@pytest.mark.parametrize('shape', INDEX_SHAPES, ids=str)
def test_embedding_gradcheck(shape, padding_idx):
    """gradcheck compares with finite differences, which see the padding row's use in the
    output: so here the padding row is one no index picks (its gradient is 0 either way)."""
    weight = leaf(normal(np.random.default_rng(1), (5, 3)))
    indices = indices_of(shape, 4)
    out = F.embedding(indices, weight, padding_idx=padding_idx)
    assert out.shape == shape + (3,)
    assert tl.gradcheck(lambda w: F.embedding(indices, w, padding_idx=padding_idx), [weight])


@pytest.mark.parametrize('padding_idx', [None, 1, -1])
@pytest.mark.parametrize('shape', INDEX_SHAPES[1:], ids=str)
def test_embedding_gradgradcheck(shape, padding_idx):
    """Second derivatives through the scatter-add (the backward op) and its own backward,
    the gather, masked at the padding positions."""
    weight = leaf(normal(np.random.default_rng(2), (5, 3)))
    indices = indices_of(shape, 5, seed=3)
    indices.flat[0] = 1  # the padding row is used (padding_idx=1; -1 is row 4)
    indices.flat[-1] = 4
    assert tl.gradgradcheck(lambda w: F.embedding(indices, w, padding_idx=padding_idx) ** 3, [weight])


def test_third_derivative_through_the_backward_ops():
    weight = leaf(normal(np.random.default_rng(4), (4, 2)))
    indices = np.array([0, 2, 2, 3])
    (first,) = tl.grad((F.embedding(indices, weight) ** 4).sum(), weight, create_graph=True)
    (second,) = tl.grad(first.sum(), weight, create_graph=True)
    (third,) = tl.grad(second.sum(), weight)
    counts = np.bincount(indices, minlength=4)[:, None]
    np.testing.assert_allclose(third.data, counts * 24 * weight.data, rtol=1e-12)


# ---- exact gradients -----------------------------------------------------------------------
def test_repeated_indices_accumulate_and_padding_gets_nothing():
    weight = leaf(np.arange(12.0).reshape(4, 3))
    indices = np.array([[1, 1, 0], [3, 1, 0]])
    out = F.embedding(indices, weight, padding_idx=0)
    np.testing.assert_array_equal(out.data, weight.data[indices])
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(weight.grad, [[0, 0, 0], [3, 3, 3], [0, 0, 0], [1, 1, 1]])
    assert weight.grad.dtype == np.float64


def test_indices_of_any_form():
    weight = leaf(normal(np.random.default_rng(0), (6, 2)))
    expected = weight.data[[[1, 2], [5, 0]]]
    for indices in ([[1, 2], [5, 0]], np.array([[1, 2], [5, 0]], dtype=np.uint8),
                    tl.Value(np.array([[1, 2], [5, 0]])), np.array([[1, 2], [5, 0]], dtype=np.int32)):
        np.testing.assert_array_equal(F.embedding(indices, weight).data, expected)
    assert F.embedding(np.int64(3), weight).shape == (2,)
    assert F.embedding(np.zeros((0, 4), dtype=np.int64), weight).shape == (0, 4, 2)


def test_a_weight_without_grad_records_nothing():
    out = F.embedding([0, 1], np.eye(3))
    assert not out.requires_grad and out._fn is None
    np.testing.assert_array_equal(out.data, np.eye(3)[:2])


# ---- the module ------------------------------------------------------------------------------
def test_module_init_padding_and_repr():
    tl.manual_seed(0)
    layer = nn.Embedding(2000, 16, padding_idx=-2)
    assert layer.padding_idx == 1998
    assert repr(layer) == 'Embedding(2000, 16, padding_idx=1998)'
    assert repr(nn.Embedding(3, 4)) == 'Embedding(3, 4)'
    assert layer.weight.dtype == tl.get_default_dtype()
    np.testing.assert_array_equal(layer.weight.data[1998], 0.0)
    assert abs(layer.weight.data.mean()) < 0.02 and abs(layer.weight.data.std() - 1) < 0.02  # N(0, 1)
    assert list(layer.state_dict()) == ['weight']
    assert nn.Embedding(3, 4, dtype=np.float64).weight.dtype == np.float64


def test_module_forward_and_float32():
    layer = nn.Embedding(5, 3, padding_idx=2)
    out = layer(np.array([[2, 4], [4, 4]]))
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    (out * out).sum().backward()
    assert layer.weight.grad.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.grad[2], 0.0)
    np.testing.assert_allclose(layer.weight.grad[4], 6 * layer.weight.data[4], rtol=1e-6)


# ---- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize('bad, index', [([0, 7], 7), ([[1, -1]], -1), (np.array([[0, 2], [9, 12]]), 9)],
                         ids=['too-large', 'negative', 'first-of-several'])
def test_out_of_range_is_an_index_error_before_anything_changes(bad, index):
    layer = nn.Embedding(7, 2)
    before = layer.weight.data.copy()
    with pytest.raises(IndexError, match=rf"embedding: index {index} .* num_embeddings=7"):
        layer(bad)
    np.testing.assert_array_equal(layer.weight.data, before)
    assert layer.weight.grad is None
    with pytest.raises(IndexError, match=rf"embedding: index {index} .*num_embeddings=7"):
        F.embedding(bad, layer.weight)


def test_bad_arguments():
    weight = leaf(np.ones((4, 2)))
    with pytest.raises(TypeError, match=r'embedding: indices must be integers, got dtype float'):
        F.embedding([0.0, 1.0], weight)
    with pytest.raises(TypeError, match=r'Embedding: indices must be integers.*dtype=np.int64'):
        nn.Embedding(4, 2)(tl.Value([1, 2]))  # a Value of a list holds the default float dtype
    with pytest.raises(ValueError, match=r'embedding: padding_idx=4 must be within num_embeddings=4'):
        F.embedding([0], weight, padding_idx=4)
    with pytest.raises(ValueError, match=r'Embedding: padding_idx=-5'):
        nn.Embedding(4, 2, padding_idx=-5)
    with pytest.raises(TypeError, match='padding_idx'):
        nn.Embedding(4, 2, padding_idx=1.0)
    with pytest.raises(ValueError, match=r'embedding: weight must be 2-D.*\(4,\)'):
        F.embedding([0], np.ones(4))
    with pytest.raises(ValueError, match='num_embeddings'):
        nn.Embedding(-1, 2)


def test_op_extra_repr():
    weight = leaf(np.ones((4, 2)))
    out = F.embedding([0, 3], weight, padding_idx=-1)
    assert out._fn.extra_repr() == '4, 2, padding_idx=3'
    (first,) = tl.grad((out * out).sum(), weight, create_graph=True)
    assert first._fn.extra_repr() == 'num_embeddings=4, padding_idx=3'


# ---- PyTorch parity (float64) ----------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize('padding_idx', [None, 0, 3, -1])
@pytest.mark.parametrize('shape', INDEX_SHAPES, ids=str)
def test_embedding_matches_torch(torch, shape, padding_idx):
    rng = np.random.default_rng(7)
    weight = leaf(normal(rng, (6, 4)))
    indices = indices_of(shape, 6, seed=len(shape))
    if indices.ndim:
        indices.flat[0] = indices.flat[-1] = 3  # a repeat, and the padding row (padding_idx 3)
    torch_weight = torch.tensor(weight.data, requires_grad=True)
    out = F.embedding(indices, weight, padding_idx=padding_idx)
    torch_out = torch.nn.functional.embedding(torch.tensor(indices), torch_weight, padding_idx=padding_idx)
    np.testing.assert_array_equal(out.data, torch_out.detach().numpy())
    upstream = normal(rng, out.shape)
    out.backward(upstream)
    torch_out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(weight.grad, torch_weight.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize('padding_idx', [None, 2, -3])
def test_module_repr_and_state_dict_match_torch(torch, padding_idx):
    theirs = torch.nn.Embedding(9, 5, padding_idx=padding_idx).double()
    ours = nn.Embedding(9, 5, padding_idx=padding_idx, dtype=np.float64)
    assert repr(ours) == repr(theirs)
    assert ours.padding_idx == theirs.padding_idx
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({key: value.numpy() for key, value in theirs.state_dict().items()})
    indices = np.array([[0, 2, 8], [6, 6, 1]])
    out, torch_out = ours(indices), theirs(torch.tensor(indices))
    np.testing.assert_array_equal(out.data, torch_out.detach().numpy())
    out.sum().backward()
    torch_out.sum().backward()
    np.testing.assert_array_equal(ours.weight.grad, theirs.weight.grad.numpy())
