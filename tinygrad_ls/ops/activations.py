"""Activation ops of ``nn.functional`` beyond relu/tanh/sigmoid: leaky_relu, gelu (exact and
tanh), silu, elu and softplus with PyTorch's ``beta``/``threshold``; and ``erf``/``erfc``.

Each op follows PyTorch's formula and its choice of gradient at the kink (documented on the
op). Backward is written with operators that ndarrays and Values share, so second
derivatives work; where a backward needs a function of ``x`` that is only an ndarray helper
(``stable_sigmoid``, ``normal_cdf``), the ``create_graph`` pass calls the recorded op instead.

NumPy has no ``erf``: ``erf``/``erfc`` below are W. J. Cody's rational Chebyshev
approximations (Math. Comp. 23 (1969) 631-637, netlib specfun ``CALERF``), vectorised, about
1 ulp in float64. ``erfc`` is computed directly for large ``|x|``, so the normal CDF
``0.5 erfc(-x / sqrt(2))`` keeps its relative accuracy deep in the left tail.
"""
from __future__ import annotations

import math

import numpy as np

from ..value import Value, data_of
from . import generic
from .base import Function
from .elementwise import stable_sigmoid, stable_softplus

# ---- erf and erfc (Cody, CALERF) ------------------------------------------------------------
_ERF_SMALL = 0.46875  # |x| up to here: erf directly; beyond: erfc(|x|) from exp(-x²) R(|x|)
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1
_ERFC_ZERO = 30.0  # erfc(30) = 0 in float64: larger |x| is clamped here (no inf - inf)


def _rational(num: tuple, den: tuple, t: np.ndarray) -> np.ndarray:
    """Cody's ``(num[-1] t^n + num[0] t^(n-1) + ... + num[-2]) / (t^n + den[0] t^(n-1) + ... +
    den[-1])`` by Horner's rule, in his order of operations."""
    top, bottom = num[-1] * t, t
    for a, b in zip(num[:-2], den[:-1]):
        top, bottom = (top + a) * t, (bottom + b) * t
    return (top + num[-2]) / (bottom + den[-1])


def _erf_small(x: np.ndarray) -> np.ndarray:
    """erf(x) for ``|x| <= 0.46875``."""
    return x * _rational(_A, _B, x * x)


def _erfc_large(y: np.ndarray) -> np.ndarray:
    """erfc(y) for ``y > 0.46875``: ``exp(-y²) R(y)``, with ``exp(-y²)`` split as Cody does
    (``y² = s² + (y - s)(y + s)``, ``s`` = y rounded down to 1/16) to keep its digits."""
    y = np.minimum(y, _ERFC_ZERO)
    middle = y <= 4.0
    scaled = np.empty_like(y)
    scaled[middle] = _rational(_C, _D, y[middle])
    far = y[~middle]
    inv_square = 1 / (far * far)
    scaled[~middle] = (_INV_SQRT_PI - inv_square * _rational(_P, _Q, inv_square)) / far
    s = np.trunc(y * 16) / 16
    return np.exp(-s * s) * np.exp(-(y - s) * (y + s)) * scaled


def _erf_parts(x) -> tuple:
    """``x`` as a float ndarray, the mask ``|x| <= 0.46875``, and erf(x) there / erfc(|x|) elsewhere."""
    x = np.asarray(x)
    if x.dtype.kind != 'f':
        x = x.astype(np.float64)
    small = np.abs(x) <= _ERF_SMALL  # False for NaN: NaN goes to the erfc branch and stays NaN
    part = np.empty_like(x)
    part[small] = _erf_small(x[small])
    part[~small] = _erfc_large(np.abs(x[~small]))
    return x, small, part


def erf(x) -> np.ndarray:
    """The error function ``2/sqrt(pi) ∫_0^x exp(-t²) dt`` of an ndarray (Cody's approximation)."""
    x, small, part = _erf_parts(x)
    return np.where(small, part, np.copysign(1 - part, x))


def erfc(x) -> np.ndarray:
    """``1 - erf(x)``, accurate also where it is tiny (large positive ``x``)."""
    x, small, part = _erf_parts(x)
    return np.where(small, 1 - part, np.where(x < 0, 2 - part, part))


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF ``Φ(x) = 0.5 erfc(-x / sqrt(2))`` (= ``0.5 (1 + erf(x / sqrt(2)))``)."""
    return 0.5 * erfc(-x * _SQRT_HALF)


def _normal_pdf(x):
    """``φ(x) = exp(-x² / 2) / sqrt(2 pi)`` of an ndarray or (recorded) a Value."""
    return generic.exp(x * x * -0.5) * _INV_SQRT_2PI


class NormalCdf(Function):
    """``Φ(x)``; backward ``g φ(x)``. Gelu's ``create_graph`` backward records it."""
    name = 'normal_cdf'

    def forward(self, x):
        return normal_cdf(x)

    def backward(self, grad, out, x):
        return (grad * _normal_pdf(x),)


# ---- the activations ------------------------------------------------------------------------
class LeakyRelu(Function):
    """``x s`` with the slope ``s = 1`` where ``x > 0``, else ``negative_slope`` (also at 0, as in
    PyTorch); backward ``g s``."""
    name = 'leaky_relu'
    saves_inputs = False  # backward reads only the slopes made in forward

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        slope = np.where(x > 0, 1, self.negative_slope)  # float64: cast to a float input's dtype
        self.slope = slope.astype(x.dtype, copy=False) if x.dtype.kind == 'f' else slope
        return x * self.slope

    def backward(self, grad, out, x):
        return (grad * self.slope,)


class _SelfGated(Function):
    """``x gate(x)`` for a smooth gate from 0 to 1; backward ``g (gate(x) + x gate'(x))``.

    A subclass gives the gate on ndarrays (``gate``), as a recorded op on Values for the
    ``create_graph`` pass (``recorded_gate``), and its derivative ``gate_slope(x, gate)`` with
    operators shared by both."""

    def forward(self, x):
        self.gate_value = self.gate(x)
        return x * self.gate_value

    def backward(self, grad, out, x):
        gate = self.recorded_gate(x) if isinstance(x, Value) else self.gate_value
        return (grad * (gate + x * self.gate_slope(x, gate)),)


class Gelu(_SelfGated):
    """``x Φ(x)`` (exact GELU, Φ the standard normal CDF); backward ``g (Φ(x) + x φ(x))``."""
    name = 'gelu'
    gate, recorded_gate = staticmethod(normal_cdf), staticmethod(NormalCdf.apply)

    @staticmethod
    def gate_slope(x, gate):
        return _normal_pdf(x)


_GELU_BETA = math.sqrt(2 / math.pi)  # PyTorch's kBeta
_GELU_KAPPA = 0.044715


class GeluTanh(Function):
    """GELU's tanh approximation ``0.5 x (1 + tanh(u))``, ``u = sqrt(2/pi) (x + 0.044715 x³)``;
    backward ``g (0.5 (1 + t) + 0.5 x (1 - t²) u')`` with ``t = tanh(u)``."""
    name = 'gelu_tanh'

    def forward(self, x):
        self.tanh = np.tanh(_GELU_BETA * (x + _GELU_KAPPA * (x * x * x)))
        return 0.5 * x * (1 + self.tanh)

    def backward(self, grad, out, x):
        if isinstance(x, Value):  # create_graph: tanh(u) as a recorded op
            t = ((x + (x * x * x) * _GELU_KAPPA) * _GELU_BETA).tanh()
        else:
            t = self.tanh
        inner_slope = (x * x * (3 * _GELU_KAPPA) + 1) * _GELU_BETA
        return (grad * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * inner_slope),)


class Silu(_SelfGated):
    """``x sigmoid(x)`` (swish); backward ``g (s + x s (1 - s))`` with ``s = sigmoid(x)``."""
    name = 'silu'
    gate, recorded_gate = staticmethod(stable_sigmoid), staticmethod(Value.sigmoid)

    @staticmethod
    def gate_slope(x, gate):
        return gate * (1 - gate)


class Elu(Function):
    """``x`` where ``x > 0``, else ``alpha (exp(x) - 1)``; backward ``g`` where ``x > 0``, else
    ``g alpha exp(x)``. At 0, as in PyTorch, the slope is ``alpha`` and its derivative 0."""
    name = 'elu'

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def forward(self, x):
        self.negative = x <= 0
        return np.where(self.negative, np.expm1(np.minimum(x, 0)) * self.alpha, x)

    def backward(self, grad, out, x):
        # exp(x) only where x < 0 (exp(0) = 1 elsewhere): nothing overflows, and the slope's own
        # derivative is 0 at x = 0 (PyTorch's double backward masks x < 0)
        negative_slope = generic.exp(generic.where(data_of(x) < 0, x, 0)) * self.alpha
        return (grad * generic.where(self.negative, negative_slope, 1),)


class SoftplusBeta(Function):
    """PyTorch's softplus: ``log(1 + exp(beta x)) / beta``, or ``x`` where ``beta x > threshold``
    (the curve is linear to working precision there); backward ``g sigmoid(beta x)``, ``g`` on
    the linear part. The plain ``beta = 1``, no-threshold form is ``elementwise.Softplus``."""
    name = 'softplus'

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        self.scaled = scaled = x * self.beta
        self.linear = scaled > self.threshold
        self.exp_neg_abs = np.exp(-np.abs(scaled))  # shared by softplus and (backward) sigmoid
        return np.where(self.linear, x, stable_softplus(scaled, self.exp_neg_abs) / self.beta)

    def backward(self, grad, out, x):
        slope = np.where(self.linear, 1, stable_sigmoid(self.scaled, self.exp_neg_abs))
        if isinstance(x, Value):  # create_graph: sigmoid(beta x) recorded where beta x < threshold
            curve = self.scaled < self.threshold  # (PyTorch's double backward: 0 from beta x == threshold)
            slope = generic.where(curve, (x * self.beta).sigmoid(), slope)
        return (grad * slope,)
