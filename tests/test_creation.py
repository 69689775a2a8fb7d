"""Creation functions with PyTorch's names, argument forms and dtypes: zeros/ones/randn/rand
taking ``(2, 3)`` or ``2, 3``, full, arange, linspace, eye, the ``*_like`` forms, randint."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl


@pytest.mark.parametrize('make', [tl.zeros, tl.ones, tl.randn, tl.rand])
def test_shapes_as_varargs_or_a_tuple(make):
    assert make(2, 3).shape == make((2, 3)).shape == make([2, 3]).shape == (2, 3)
    assert make(4).shape == (4,) and make(()).shape == ()
    assert make(2, 3).dtype == np.float32 and make(2, dtype=np.float64).dtype == np.float64
    assert make(2, requires_grad=True).requires_grad


@pytest.mark.parametrize('make', [tl.zeros, tl.ones, tl.randn, tl.rand])
def test_bad_sizes_name_the_function(make):
    with pytest.raises(TypeError, match=make.__name__):
        make(2.5)
    with pytest.raises(ValueError, match=make.__name__):
        make(2, -1)


def test_full_eye_linspace():
    np.testing.assert_array_equal(tl.full((2, 3), 7).data, np.full((2, 3), 7.0))
    assert tl.full((2,), 1.5).dtype == np.float32
    np.testing.assert_array_equal(tl.eye(3).data, np.eye(3))
    np.testing.assert_array_equal(tl.eye(2, 4).data, np.eye(2, 4))
    np.testing.assert_allclose(tl.linspace(0, 1, 5).data, [0, 0.25, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError, match='linspace'):
        tl.linspace(0, 1, -2)


def test_arange_dtype_rule_is_torchs():
    assert tl.arange(5).dtype == np.int64 and tl.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert tl.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert tl.arange(0, 1, 0.25).dtype == np.float32
    assert tl.arange(3.0).dtype == np.float32
    assert tl.arange(3, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match='arange'):
        tl.arange(0, 3, 0)


def test_like_functions_follow_the_given_value():
    v = tl.Value(np.ones((2, 3), dtype=np.float64))
    assert tl.zeros_like(v).shape == (2, 3) and tl.zeros_like(v).dtype == np.float64
    assert tl.ones_like(v, dtype=np.float32).dtype == np.float32
    assert tl.ones_like(np.zeros(4, dtype=np.int64)).dtype == np.int64
    tl.manual_seed(0)
    first = tl.randn_like(v)
    tl.manual_seed(0)
    assert first.dtype == np.float64 and np.array_equal(first.data, tl.randn_like(v).data)
    assert tl.randn_like(tl.Value(np.arange(3))).dtype == np.float32  # ints sample as the default float


def test_randint_is_int64_in_range_and_seeded():
    tl.manual_seed(1)
    draws = tl.randint(3, 9, (1000,))
    assert draws.dtype == np.int64 and draws.data.min() >= 3 and draws.data.max() <= 8
    assert set(np.unique(draws.data)) == set(range(3, 9))
    tl.manual_seed(1)
    assert np.array_equal(draws.data, tl.randint(3, 9, (1000,)).data)
    assert tl.randint(5, size=(2, 2)).shape == (2, 2)
    with pytest.raises(ValueError, match='randint'):
        tl.randint(5, 5, (2,))


@pytest.mark.torch
def test_values_and_dtypes_match_torch(torch):
    pairs = [
        (tl.full((2, 3), 2.5), torch.full((2, 3), 2.5)),
        (tl.arange(5), torch.arange(5)),
        (tl.arange(2, 11, 3), torch.arange(2, 11, 3)),
        (tl.arange(0, 1, 0.125), torch.arange(0, 1, 0.125)),
        (tl.linspace(-1, 1, 9), torch.linspace(-1, 1, 9)),
        (tl.eye(3, 2), torch.eye(3, 2)),
        (tl.zeros(2, 3), torch.zeros(2, 3)),
        (tl.ones((4,)), torch.ones((4,))),
    ]
    for ours, theirs in pairs:
        assert ours.dtype == theirs.numpy().dtype
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert tl.randint(0, 3, (2,)).dtype == torch.randint(0, 3, (2,)).numpy().dtype
