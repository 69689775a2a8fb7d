"""``tl.testing.assert_close``: torch's default tolerances per dtype, its message, and the
inputs it takes (Values, arrays, numbers, nested lists)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tinygrad_ls import Value
from tinygrad_ls.testing import assert_close

DTYPES = [np.float16, np.float32, np.float64, np.int64, np.bool_]
# Relative perturbations around each dtype's default tolerances: some pass, some fail.
PERTURBATIONS = [0.0, 1e-8, 5e-8, 2e-7, 1e-6, 1e-5, 3e-5, 1e-4, 5e-4, 2e-3, 1e-2, 1.0]


def _pair(dtype_a, dtype_b, perturbation):
    base = np.array([[0.0, 1.0, -2.5], [3.0, 100.0, 0.25]])
    expected = base.astype(dtype_b)
    actual = (base + perturbation * (1 + np.abs(base))).astype(dtype_a)
    return actual, expected


def _passes(check, actual, expected, **kwargs) -> bool:
    try:
        check(actual, expected, **kwargs)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize('perturbation', PERTURBATIONS)
@pytest.mark.parametrize('dtype', DTYPES, ids=lambda d: np.dtype(d).name)
def test_default_tolerances_match_torch(torch, dtype, perturbation):
    actual, expected = _pair(dtype, dtype, perturbation)
    ours = _passes(assert_close, actual, expected)
    theirs = _passes(torch.testing.assert_close, torch.from_numpy(actual), torch.from_numpy(expected))
    assert ours == theirs


@pytest.mark.parametrize('dtypes', list(itertools.combinations([np.float16, np.float32, np.float64], 2)),
                         ids=lambda ds: '-'.join(np.dtype(d).name for d in ds))
def test_mixed_dtypes_use_the_less_precise_like_torch(torch, dtypes):
    for perturbation in PERTURBATIONS:
        actual, expected = _pair(*dtypes, perturbation)
        ours = _passes(assert_close, actual, expected)
        theirs = _passes(torch.testing.assert_close, torch.from_numpy(actual),
                         torch.from_numpy(expected), check_dtype=False)
        assert ours == theirs, perturbation


@pytest.mark.parametrize('case', [(np.nan, np.nan), (np.inf, np.inf), (-np.inf, np.inf),
                                  (np.inf, 1e308), (1.0, np.nan)])
def test_special_values_like_torch(torch, case):
    actual, expected = np.array(case[0]), np.array(case[1])
    ours = _passes(assert_close, actual, expected)
    theirs = _passes(torch.testing.assert_close, torch.from_numpy(actual), torch.from_numpy(expected))
    assert ours == theirs


def test_explicit_tolerances_like_torch(torch):
    for rtol, atol in [(0.0, 0.0), (1e-3, 0.0), (0.0, 1e-3), (1e-2, 1e-2)]:
        for perturbation in PERTURBATIONS:
            actual, expected = _pair(np.float64, np.float64, perturbation)
            ours = _passes(assert_close, actual, expected, rtol=rtol, atol=atol)
            theirs = _passes(torch.testing.assert_close, torch.from_numpy(actual),
                             torch.from_numpy(expected), rtol=rtol, atol=atol)
            assert ours == theirs, (rtol, atol, perturbation)


def test_defaults_without_torch():
    assert_close(np.float32(1.0) + np.float32(1e-6), np.float32(1.0))
    with pytest.raises(AssertionError):
        assert_close(np.array(1.0 + 1e-6), np.array(1.0))          # float64: too far
    assert_close(np.array(1.0 + 1e-6), np.array(1.0), rtol=1e-5, atol=0.0)
    with pytest.raises(AssertionError):
        assert_close(np.array([1, 2]), np.array([1, 3]))           # integers: exact
    assert_close(np.array([True, False]), np.array([True, False]))
    assert_close(np.float16(1.0005), np.float16(1.0))


def test_nan_is_a_mismatch_unless_equal_nan():
    with pytest.raises(AssertionError, match='Mismatched elements: 1 / 2'):
        assert_close(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert_close(np.array([1.0, np.nan]), np.array([1.0, np.nan]), equal_nan=True)


def test_message_names_count_worst_element_values_and_tolerances():
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    actual = expected.copy()
    actual[0, 1] += 0.01
    actual[2, 3] += 0.5
    actual[1, 2] -= 0.1
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected)
    message = str(info.value)
    assert 'Mismatched elements: 3 / 12 (25.0%)' in message
    assert 'index (2, 3)' in message                    # the greatest absolute difference
    assert 'actual 11.5, expected 11' in message
    assert 'absolute difference 0.5' in message
    assert 'relative difference 0.04545' in message    # 0.5 / 11
    assert 'rtol=1.3e-06, atol=1e-05' in message
    assert 'float32' in message and '(3, 4)' in message


def test_message_for_mixed_dtypes_names_both():
    with pytest.raises(AssertionError) as info:
        assert_close(np.array([1.0], dtype=np.float32), np.array([2.0]))
    message = str(info.value)
    assert 'rtol=1.3e-06, atol=1e-05' in message and 'float32 vs float64' in message


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(AssertionError, match=r'actual \(2, 3\), expected \(3, 2\)'):
        assert_close(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(AssertionError, match='shapes'):
        assert_close(np.zeros(3), np.zeros((1, 3)))    # no broadcasting


def test_values_numbers_and_nested_lists():
    assert_close(Value([1.0, 2.0]), np.array([1.0, 2.0], dtype=np.float32))
    assert_close(Value([[1.0, 2.0]], dtype=np.float64), [[1.0, 2.0]])
    assert_close(3.0, 3.0 + 1e-9)
    assert_close(3, 3)
    assert_close([[1.0, 2.0], [3.0, 4.0]], np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert_close([Value([1.0]), (np.zeros(2), 5.0)], [np.array([1.0], dtype=np.float32), [np.zeros(2), 5.0]])
    with pytest.raises(AssertionError, match=r'\[1\]\[0\]'):   # the path into the structure
        assert_close([Value([1.0]), (np.zeros(2), 5.0)], [Value([1.0]), (np.ones(2), 5.0)])
    with pytest.raises(AssertionError, match='length'):
        assert_close([np.zeros(1), np.zeros(1)], [np.zeros(1)])
    with pytest.raises(AssertionError):
        assert_close(3, 4)


def test_only_one_tolerance_is_a_value_error():
    with pytest.raises(ValueError, match='atol'):
        assert_close(1.0, 1.0, rtol=1e-3)
    with pytest.raises(ValueError, match='rtol'):
        assert_close(1.0, 1.0, atol=1e-3)


def test_import_does_not_pull_in_hypothesis():
    import subprocess
    import sys
    code = "import sys, tinygrad_ls.testing; print('hypothesis' in sys.modules)"
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == 'False'
