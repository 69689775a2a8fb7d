"""Closed-form linear least squares: the reference that gradient descent is checked against."""
from __future__ import annotations

import math

import numpy as np

from .checks import check_number
from .value import to_numpy


def _as_float64(name: str, data) -> np.ndarray:
    array = to_numpy(data)
    if array.dtype.kind not in 'biuf':
        raise TypeError(f"least_squares: {name} must be numeric, got dtype {array.dtype}")
    return array.astype(np.float64)


def least_squares(X, y, l2: float = 0.0, fit_intercept: bool = True) -> tuple[np.ndarray, float | np.ndarray]:
    """``(w, b)`` minimising ``||X w + b - y||² + l2 ||w||²`` (ridge when ``l2 > 0``).

    Shapes: ``X`` is ``(n, d)``; ``y`` is ``(n,)``, giving ``w`` of shape ``(d,)`` and ``b`` a
    Python float, or ``(n, k)``, giving ``w`` of shape ``(d, k)`` and ``b`` an ndarray
    ``(k,)`` (each column is an independent problem). Inputs may be ndarrays, lists or Values;
    the solution is computed and returned in float64.

    The intercept is not penalised: with ``fit_intercept`` the columns of ``X`` and ``y`` are
    centred, ``w`` is solved on the centred data and ``b = mean(y) - mean(X) @ w``. Without
    it, ``b`` is 0 (``0.0``, or zeros ``(k,)`` for a 2-D ``y``).

    Solved without forming ``XᵀX`` (which squares the condition number):

    - ``l2 == 0``: ``np.linalg.lstsq`` (SVD). For a rank-deficient ``X`` this is the
      minimum-norm solution.
    - ``l2 > 0``: the equivalent least-squares problem ``[X; sqrt(l2) I] w ≈ [y; 0]``, whose
      normal equations are ``(XᵀX + l2 I) w = Xᵀy``.

    Raises ValueError (naming the shapes) for mismatched or empty inputs, a non-finite
    entry, or an ``l2`` that is negative or not finite.
    """
    X, y = _as_float64('X', X), _as_float64('y', y)
    if X.ndim != 2:
        hint = "; for a single feature use X.reshape(-1, 1)" if X.ndim == 1 else ''
        raise ValueError(f"least_squares: X must be 2-D (n_samples, n_features), got shape {X.shape}{hint}")
    if y.ndim not in (1, 2):
        raise ValueError(f"least_squares: y must be 1-D (n,) or 2-D (n, k), got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"least_squares: X has shape {X.shape} and y has shape {y.shape}; "
                         "they need the same number of samples (first dimension)")
    if X.size == 0 or y.size == 0:
        raise ValueError(f"least_squares: empty input, X has shape {X.shape} and y has shape {y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("least_squares: X and y must be finite (found NaN or inf)")
    l2 = float(check_number('least_squares', 'l2', l2))
    if not math.isfinite(l2) or l2 < 0:
        raise ValueError(f"least_squares: l2 must be a finite number >= 0, got {l2}")

    if fit_intercept:
        x_mean, y_mean = X.mean(axis=0), y.mean(axis=0)
        X, y = X - x_mean, y - y_mean
    d = X.shape[1]
    if l2 == 0:
        w = np.linalg.lstsq(X, y, rcond=None)[0]
    else:
        A = np.concatenate([X, math.sqrt(l2) * np.eye(d)], axis=0)
        rhs = np.concatenate([y, np.zeros((d,) + y.shape[1:])], axis=0)
        w = np.linalg.lstsq(A, rhs, rcond=None)[0]

    if fit_intercept:
        b = y_mean - x_mean @ w
    else:
        b = np.zeros(y.shape[1:])
    return w, (float(b) if y.ndim == 1 else b)


__all__ = ['least_squares']
