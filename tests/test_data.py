"""tl.data: TensorDataset (with torch.tensor's dtypes for Python lists) and DataLoader
(batching, seeded shuffling, drop_last, collation). tl.metrics.accuracy is in test_metrics.py."""
import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import data


def _dataset(n=10):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return data.TensorDataset(X, y), X, y


# ---- TensorDataset ------------------------------------------------------------------------------

def test_tensor_dataset_len_and_items():
    ds, X, y = _dataset()
    assert len(ds) == 10
    x3, y3 = ds[3]
    np.testing.assert_array_equal(x3, X[3])
    assert y3 == 3
    xs, ys = ds[np.array([4, 1])]
    np.testing.assert_array_equal(xs, X[[4, 1]])
    np.testing.assert_array_equal(ys, [4, 1])


def test_tensor_dataset_takes_values_without_copying():
    X = np.ones((4, 2), dtype=np.float32)
    ds = data.TensorDataset(tl.Value(X), tl.Value(np.zeros(4, dtype=np.int64)))
    assert ds.arrays[0] is X
    assert ds.arrays[1].dtype == np.int64


@pytest.mark.parametrize('values, dtype', [
    ([0, 1, 2], np.int64),                            # ints: int64, as torch.tensor
    ([[1, 2], [3, 4]], np.int64),
    ([1.0, 2.0], None),                                # floats: the default float dtype
    ([[1, 2.5], [3, 4]], None),                        # any float makes it float
    ([True, False], np.bool_),
    ([True, 2], np.int64),                             # bools and ints: int64 (torch.tensor too)
])
def test_tensor_dataset_lists_follow_torch_tensor_rules(values, dtype, restore_default_dtype):
    for default in (np.float32, np.float64):
        tl.set_default_dtype(default)
        (array,) = data.TensorDataset(values).arrays
        assert array.dtype == (dtype or default)
        np.testing.assert_array_equal(array, np.array(values))


def test_tensor_dataset_keeps_the_dtype_of_arrays_and_values():
    for dtype in (np.int32, np.int8, np.float16, np.float64, np.uint8):
        ds = data.TensorDataset(np.zeros(3, dtype=dtype), tl.Value(np.ones(3, dtype=dtype)))
        assert [a.dtype for a in ds.arrays] == [dtype, dtype]


@pytest.mark.torch
def test_tensor_dataset_list_dtypes_match_torch_tensor(torch):
    to_numpy_dtype = {torch.int64: np.int64, torch.float32: np.float32, torch.bool: np.bool_}
    for values in ([0, 1, 2], [[1.5, 2], [3, 4]], [True, False], [True, 2], [[0], [1]]):
        (array,) = data.TensorDataset(values).arrays
        assert array.dtype == to_numpy_dtype[torch.tensor(values).dtype], values


@pytest.mark.parametrize('values, error, match', [
    ([[1, 2], [3]], ValueError, r'TensorDataset: array 1: .*different lengths'),
    (['a', 'b'], TypeError, r'TensorDataset: array 1: .*numeric or bool.*<U1'),
    ([None, None], TypeError, r'TensorDataset: array 1: .*object'),
])
def test_tensor_dataset_refuses_lists_that_are_not_numeric_arrays(values, error, match):
    with pytest.raises(error, match=match):
        data.TensorDataset(np.zeros(2), values)


def test_tensor_dataset_mismatched_lengths_name_shapes():
    with pytest.raises(ValueError, match=r'\(5, 2\).*\(4,\)'):
        data.TensorDataset(np.zeros((5, 2)), np.zeros(4))


def test_tensor_dataset_needs_arrays_with_a_sample_dimension():
    with pytest.raises(ValueError, match='at least one'):
        data.TensorDataset()
    with pytest.raises(ValueError, match=r'first \(sample\) dimension'):
        data.TensorDataset(np.zeros(3), np.float32(1.0))


# ---- DataLoader: batching -----------------------------------------------------------------------

@pytest.mark.parametrize('n, batch_size, drop_last, sizes', [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (9, 3, True, [3, 3, 3]),
    (10, 10, False, [10]),
    (10, 20, False, [10]),
    (10, 20, True, []),
    (0, 4, False, []),
    (10, 1, False, [1] * 10),
])
def test_batch_sizes_and_len(n, batch_size, drop_last, sizes):
    ds, _, _ = _dataset(n)
    loader = data.DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [xb.shape[0] for xb, _ in loader] == sizes


def test_in_order_batches_are_values_of_the_rows():
    ds, X, y = _dataset()
    batches = list(data.DataLoader(ds, batch_size=4))
    assert all(isinstance(batch, tuple) and len(batch) == 2 for batch in batches)
    xb, yb = batches[1]
    assert isinstance(xb, tl.Value) and isinstance(yb, tl.Value)
    np.testing.assert_array_equal(xb.data, X[4:8])
    np.testing.assert_array_equal(yb.data, y[4:8])
    np.testing.assert_array_equal(np.concatenate([b[0].data for b in batches]), X)


def test_dtypes_are_kept_and_no_grad_is_required():
    ds, _, _ = _dataset()
    for shuffle in (False, True):
        xb, yb = next(iter(data.DataLoader(ds, batch_size=4, shuffle=shuffle)))
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        assert not xb.requires_grad and not yb.requires_grad
        assert xb.is_leaf and yb.is_leaf


def test_single_array_dataset_yields_one_tuples():
    ds = data.TensorDataset(np.arange(6.0))
    batches = list(data.DataLoader(ds, batch_size=4))
    assert [len(b) for b in batches] == [1, 1]
    np.testing.assert_array_equal(batches[1][0].data, [4.0, 5.0])


def test_default_batch_size_is_one():
    ds, X, _ = _dataset(3)
    loader = data.DataLoader(ds)
    assert len(loader) == 3
    assert [xb.shape for xb, _ in loader] == [(1, 3)] * 3


@pytest.mark.parametrize('batch_size', [0, -2])
def test_batch_size_below_one_raises(batch_size):
    ds, _, _ = _dataset()
    with pytest.raises(ValueError, match='batch_size'):
        data.DataLoader(ds, batch_size=batch_size)


@pytest.mark.parametrize('batch_size', [2.0, True, '2'])
def test_batch_size_not_an_int_raises(batch_size):
    ds, _, _ = _dataset()
    with pytest.raises(TypeError, match='batch_size'):
        data.DataLoader(ds, batch_size=batch_size)


def test_dataset_without_len_or_getitem_raises():
    with pytest.raises(TypeError, match='__len__'):
        data.DataLoader(iter(range(3)))


# ---- DataLoader: shuffling ----------------------------------------------------------------------

def _order(loader):
    return np.concatenate([yb.data for _, yb in loader])


def test_shuffle_is_a_permutation_with_rows_kept_together():
    ds, X, y = _dataset(23)
    tl.manual_seed(0)
    loader = data.DataLoader(ds, batch_size=5, shuffle=True)
    for xb, yb in loader:
        np.testing.assert_array_equal(xb.data, X[yb.data])
    order = _order(loader)
    assert sorted(order.tolist()) == list(range(23))
    assert order.tolist() != list(range(23))


def test_shuffle_is_reproducible_with_manual_seed_and_new_each_epoch():
    ds, _, _ = _dataset(50)
    loader = data.DataLoader(ds, batch_size=8, shuffle=True)
    tl.manual_seed(123)
    first, second = _order(loader), _order(loader)
    assert first.tolist() != second.tolist()
    tl.manual_seed(123)
    np.testing.assert_array_equal(_order(loader), first)
    np.testing.assert_array_equal(_order(loader), second)
    tl.manual_seed(124)
    assert _order(loader).tolist() != first.tolist()


def test_shuffle_uses_the_library_generator():
    ds, _, _ = _dataset(30)
    tl.manual_seed(7)
    order = _order(data.DataLoader(ds, batch_size=30, shuffle=True))
    np.testing.assert_array_equal(order, np.random.default_rng(7).permutation(30))


def test_permutation_is_drawn_when_iteration_starts():
    ds, _, _ = _dataset(20)
    loader = data.DataLoader(ds, batch_size=20, shuffle=True)
    tl.manual_seed(5)
    iterator = iter(loader)
    tl.randn(3)  # a draw between iter() and next() must not change this pass
    order = next(iterator)[1].data
    tl.manual_seed(5)
    np.testing.assert_array_equal(order, next(iter(loader))[1].data)


def test_shuffle_with_drop_last_drops_a_random_remainder():
    ds, _, _ = _dataset(10)
    tl.manual_seed(3)
    batches = list(data.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True))
    assert [b[0].shape[0] for b in batches] == [4, 4]
    assert len(set(np.concatenate([b[1].data for b in batches]).tolist())) == 8


def test_no_per_sample_getitem_for_tensor_dataset():
    class CountingDataset(data.TensorDataset):
        calls = 0

        def __getitem__(self, index):
            CountingDataset.calls += 1
            return super().__getitem__(index)

    ds = CountingDataset(np.zeros((100, 2)), np.zeros(100, dtype=np.int64))
    tl.manual_seed(0)
    for shuffle in (False, True):
        CountingDataset.calls = 0
        list(data.DataLoader(ds, batch_size=25, shuffle=shuffle))
        assert CountingDataset.calls == 4


# ---- DataLoader: generic datasets ---------------------------------------------------------------

class SquaresDataset:
    """A map-style dataset: sample i is (features, label)."""

    def __len__(self):
        return 7

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i % 2


def test_generic_dataset_is_collated_by_stacking():
    batches = list(data.DataLoader(SquaresDataset(), batch_size=3))
    assert len(batches) == 3
    xb, yb = batches[1]
    np.testing.assert_array_equal(xb.data, [[3, 9], [4, 16], [5, 25]])
    assert xb.dtype == np.float32
    np.testing.assert_array_equal(yb.data, [1, 0, 1])
    assert yb.dtype == np.int64
    assert batches[2][0].shape == (1, 2)


def test_generic_dataset_shuffles_reproducibly():
    loader = data.DataLoader(SquaresDataset(), batch_size=7, shuffle=True)
    tl.manual_seed(11)
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(xb.data[:, 0], np.random.default_rng(11).permutation(7))
    np.testing.assert_array_equal(yb.data, xb.data[:, 0].astype(int) % 2)


def test_generic_collation_of_python_numbers_values_and_single_fields():
    class Mixed:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return tl.Value(np.full(2, i, dtype=np.float64)), float(i), bool(i % 2)

    xb, fb, bb = next(iter(data.DataLoader(Mixed(), batch_size=4)))
    assert xb.dtype == np.float64 and xb.shape == (4, 2)
    assert fb.dtype == tl.get_default_dtype() and bb.dtype == np.bool_

    class Plain:
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.array([i, i], dtype=np.int32)

    (only,) = next(iter(data.DataLoader(Plain(), batch_size=3)))
    assert only.shape == (3, 2) and only.dtype == np.int32

    class Lists:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return [i, i + 1], [0.5 * i]

    ints, floats = next(iter(data.DataLoader(Lists(), batch_size=2)))
    assert ints.dtype == np.int64 and floats.dtype == tl.get_default_dtype()


def test_generic_collation_errors_name_the_problem():
    class Ragged:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.zeros(i + 1), 0

    with pytest.raises(ValueError, match=r'field 0.*different shapes'):
        next(iter(data.DataLoader(Ragged(), batch_size=2)))

    class Uneven:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return (0.0, 1) if i == 0 else (0.0,)

    with pytest.raises(ValueError, match='sample 1'):
        next(iter(data.DataLoader(Uneven(), batch_size=2)))
