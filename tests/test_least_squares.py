"""tl.least_squares: closed-form (ridge) least squares against NumPy, scikit-learn and SciPy."""
import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls.linalg import least_squares


def _problem(n=50, d=4, k=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=(d,) if k is None else (d, k))
    y = X @ w + 0.7 + 0.1 * rng.normal(size=(n,) if k is None else (n, k))
    return X, y


def test_four_points_give_slope_two_and_no_intercept():
    w, b = least_squares(np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([2.0, 4.0, 6.0, 8.0]))
    assert w.shape == (1,)
    np.testing.assert_allclose(w, [2.0], atol=1e-12)
    assert isinstance(b, float) and abs(b) < 1e-12


def test_four_points_as_lists_and_values():
    w, b = least_squares(tl.Value([[1.0], [2.0], [3.0], [4.0]]), [2, 4, 6, 8])
    np.testing.assert_allclose(w, [2.0], atol=1e-6)
    assert abs(b) < 1e-6


def test_exact_line_with_intercept():
    x = np.arange(6.0)[:, None]
    w, b = least_squares(x, 3.0 * x[:, 0] - 5.0)
    np.testing.assert_allclose(w, [3.0], atol=1e-12)
    assert b == pytest.approx(-5.0, abs=1e-12)


@pytest.mark.parametrize('fit_intercept', [True, False])
def test_matches_numpy_lstsq(fit_intercept):
    X, y = _problem()
    w, b = least_squares(X, y, fit_intercept=fit_intercept)
    A = np.hstack([X, np.ones((len(X), 1))]) if fit_intercept else X
    reference = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(w, reference[:X.shape[1]], rtol=1e-10, atol=1e-12)
    assert b == pytest.approx(reference[-1] if fit_intercept else 0.0, abs=1e-10)
    assert w.dtype == np.float64


def test_without_intercept_b_is_zero_float():
    X, y = _problem()
    _, b = least_squares(X, y, fit_intercept=False)
    assert b == 0.0 and isinstance(b, float)


def test_float32_input_solved_in_float64():
    X, y = _problem()
    w32, b32 = least_squares(X.astype(np.float32), y.astype(np.float32))
    w64, b64 = least_squares(X.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64))
    assert w32.dtype == np.float64
    np.testing.assert_array_equal(w32, w64)
    assert b32 == b64


@pytest.mark.parametrize('l2', [0.0, 0.1, 3.0, 100.0])
@pytest.mark.parametrize('fit_intercept', [True, False])
def test_matches_sklearn_ridge(l2, fit_intercept):
    linear_model = pytest.importorskip('sklearn.linear_model')
    X, y = _problem(n=30, d=5)
    w, b = least_squares(X, y, l2=l2, fit_intercept=fit_intercept)
    model = (linear_model.LinearRegression(fit_intercept=fit_intercept) if l2 == 0
             else linear_model.Ridge(alpha=l2, fit_intercept=fit_intercept, solver='cholesky'))
    model.fit(X, y)
    np.testing.assert_allclose(w, model.coef_, rtol=1e-8, atol=1e-10)
    assert b == pytest.approx(float(model.intercept_), abs=1e-8)


def test_ridge_satisfies_its_normal_equations():
    X, y = _problem(n=20, d=6)
    l2 = 2.5
    w, b = least_squares(X, y, l2=l2, fit_intercept=False)
    np.testing.assert_allclose((X.T @ X + l2 * np.eye(6)) @ w, X.T @ y, rtol=1e-10, atol=1e-10)
    # The gradient of the objective vanishes with an (unpenalised) intercept too.
    w, b = least_squares(X, y, l2=l2)
    residual = X @ w + b - y
    np.testing.assert_allclose(2 * X.T @ residual + 2 * l2 * w, 0.0, atol=1e-9)
    assert abs(residual.sum()) < 1e-9


def test_intercept_is_not_penalised():
    # A huge l2 drives w to 0, but b still fits the mean of y.
    X, y = _problem()
    w, b = least_squares(X, y, l2=1e12)
    np.testing.assert_allclose(w, 0.0, atol=1e-8)
    assert b == pytest.approx(y.mean(), abs=1e-8)


def test_matches_scipy_lstsq_and_cholesky():
    linalg = pytest.importorskip('scipy.linalg')
    X, y = _problem(n=40, d=3)
    w, _ = least_squares(X, y, fit_intercept=False)
    np.testing.assert_allclose(w, linalg.lstsq(X, y)[0], rtol=1e-10)
    w, _ = least_squares(X, y, l2=0.5, fit_intercept=False)
    reference = linalg.solve(X.T @ X + 0.5 * np.eye(3), X.T @ y, assume_a='pos')
    np.testing.assert_allclose(w, reference, rtol=1e-10)


def test_rank_deficient_gives_minimum_norm_solution():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(30, 1))
    X = np.hstack([a, 2 * a, rng.normal(size=(30, 1))])  # column 1 = 2 * column 0
    y = X @ np.array([1.0, 2.0, -1.0]) + 0.5
    w, b = least_squares(X, y)
    np.testing.assert_allclose(X @ w + b, y, atol=1e-10)
    # Minimum norm: w0 and w1 share 1 + 2*2 = 5 as (1, 2) in the direction of (1, 2).
    np.testing.assert_allclose(w, [1.0, 2.0, -1.0], atol=1e-10)
    assert b == pytest.approx(0.5, abs=1e-10)
    # Ridge is well posed even here.
    w_ridge, _ = least_squares(X, y, l2=1e-3)
    assert np.all(np.isfinite(w_ridge))


def test_more_features_than_samples():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(3, 8)), rng.normal(size=3)
    w, b = least_squares(X, y)
    np.testing.assert_allclose(X @ w + b, y, atol=1e-10)


def test_ill_conditioned_ridge_is_accurate():
    # cond(X) = 1e8: forming X^T X would square it to 1e16, at the edge of float64.
    rng = np.random.default_rng(3)
    U, _ = np.linalg.qr(rng.normal(size=(60, 4)))
    X = U * np.array([1.0, 1e-2, 1e-4, 1e-8])
    w_true = np.array([1.0, -2.0, 3.0, 0.5])
    y = X @ w_true
    w, _ = least_squares(X, y, l2=1e-24, fit_intercept=False)
    np.testing.assert_allclose(w, w_true, rtol=1e-7)


def test_2d_targets():
    X, Y = _problem(k=3)
    w, b = least_squares(X, Y)
    assert w.shape == (4, 3) and isinstance(b, np.ndarray) and b.shape == (3,)
    for j in range(3):
        wj, bj = least_squares(X, Y[:, j])
        np.testing.assert_allclose(w[:, j], wj, rtol=1e-10, atol=1e-12)
        assert b[j] == pytest.approx(bj, abs=1e-10)
    w, b = least_squares(X, Y, l2=1.0, fit_intercept=False)
    assert w.shape == (4, 3)
    np.testing.assert_array_equal(b, np.zeros(3))
    for j in range(3):
        wj, _ = least_squares(X, Y[:, j], l2=1.0, fit_intercept=False)
        np.testing.assert_allclose(w[:, j], wj, rtol=1e-10)


def test_2d_targets_match_sklearn_ridge():
    linear_model = pytest.importorskip('sklearn.linear_model')
    X, Y = _problem(k=2)
    w, b = least_squares(X, Y, l2=0.3)
    model = linear_model.Ridge(alpha=0.3).fit(X, Y)
    np.testing.assert_allclose(w, model.coef_.T, rtol=1e-8)
    np.testing.assert_allclose(b, model.intercept_, rtol=1e-8)


@pytest.mark.parametrize('X, y, match', [
    (np.ones((4, 2)), np.ones(5), r'\(4, 2\).*\(5,\)'),
    (np.ones((4, 2)), np.ones((3, 2)), r'\(4, 2\).*\(3, 2\)'),
    (np.ones(4), np.ones(4), r'2-D.*\(4,\).*reshape'),
    (np.ones((2, 2, 2)), np.ones(2), r'2-D.*\(2, 2, 2\)'),
    (np.ones((4, 2)), np.ones((4, 1, 1)), r'y must be.*\(4, 1, 1\)'),
    (np.ones((0, 2)), np.ones(0), r'empty.*\(0, 2\)'),
    (np.ones((3, 0)), np.ones(3), r'empty.*\(3, 0\)'),
    (np.array([[1.0], [np.nan]]), np.ones(2), 'finite'),
    (np.ones((2, 1)), np.array([1.0, np.inf]), 'finite'),
])
def test_bad_shapes_and_values_raise(X, y, match):
    with pytest.raises(ValueError, match=match):
        least_squares(X, y)


@pytest.mark.parametrize('l2', [-1e-3, float('nan'), float('inf')])
def test_bad_l2_raises(l2):
    with pytest.raises(ValueError, match='l2'):
        least_squares(np.ones((3, 1)), np.ones(3), l2=l2)


def test_non_numeric_input_raises():
    with pytest.raises(TypeError, match='numeric'):
        least_squares(np.array([['a'], ['b']]), np.ones(2))


def test_inputs_are_not_modified():
    X, y = _problem()
    X0, y0 = X.copy(), y.copy()
    least_squares(X, y, l2=1.0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_public_name():
    assert tl.least_squares is least_squares
