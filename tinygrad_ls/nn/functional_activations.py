"""The activations of ``nn.functional``, and ``dropout`` (re-exported there, use them as ``F.gelu`` etc.).

Names, arguments and defaults are PyTorch's; the ``inplace`` flags are left out. Options are
checked here, by the same checks the activation modules call when they are built (so an
error names the function or the module).
"""
from __future__ import annotations

import warnings

from ..checks import check_number, check_probability, is_int
from ..ops import activations as ops
from ..ops import draws as random_ops
from ..value import Value

GELU_APPROXIMATIONS = ('none', 'tanh')


def relu(input) -> Value:
    """``max(x, 0)``."""
    return _as_value(input).relu()


def sigmoid(input) -> Value:
    """``1 / (1 + exp(-x))``, stable for any ``x``."""
    return _as_value(input).sigmoid()


def tanh(input) -> Value:
    return _as_value(input).tanh()


def softmax(input, dim: int | None = -1, *, axis: int | None = None) -> Value:
    """``exp(x) / sum(exp(x))`` along ``dim`` (or NumPy's name ``axis``), shifted by the max
    (stable). ``dim=None`` is PyTorch's deprecated implicit choice, with its warning."""
    input = _as_value(input)
    return input.softmax(axis=softmax_dim('softmax', input.ndim, dim, axis))


def log_softmax(input, dim: int | None = -1, *, axis: int | None = None) -> Value:
    """``x - logsumexp(x)`` along ``dim`` (or ``axis``), shifted by the max (stable)."""
    input = _as_value(input)
    return input.log_softmax(axis=softmax_dim('log_softmax', input.ndim, dim, axis))


def leaky_relu(input, negative_slope: float = 0.01) -> Value:
    """``x`` where ``x > 0``, else ``negative_slope x``; gradient ``negative_slope`` at 0."""
    slope = check_option('leaky_relu', 'negative_slope', negative_slope)
    return ops.LeakyRelu.apply(_as_value(input), negative_slope=slope)


def gelu(input, approximate: str = 'none') -> Value:
    """``x Φ(x)``, Φ the standard normal CDF (``0.5 (1 + erf(x / sqrt(2)))``); with
    ``approximate='tanh'``, ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))``."""
    op = ops.GeluTanh if check_gelu_approximate('gelu', approximate) == 'tanh' else ops.Gelu
    return op.apply(_as_value(input))


def silu(input) -> Value:
    """``x sigmoid(x)`` (also called swish)."""
    return ops.Silu.apply(_as_value(input))


def elu(input, alpha: float = 1.0) -> Value:
    """``x`` where ``x > 0``, else ``alpha (exp(x) - 1)``."""
    return ops.Elu.apply(_as_value(input), alpha=check_option('elu', 'alpha', alpha))


def softplus(input, beta: float = 1.0, threshold: float = 20.0) -> Value:
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold`` (PyTorch's
    rule); stable for any ``x``. ``beta`` must be nonzero."""
    beta, threshold = check_softplus_options('softplus', beta, threshold)
    return ops.SoftplusBeta.apply(_as_value(input), beta=beta, threshold=threshold)


# ---- argument checks, shared with the modules of nn.activation -----------------------------
# ``name`` is the caller to name in the error: the function, or the module class.
def check_option(name: str, argument: str, value) -> float:
    """A numeric option as a Python float (weakly typed: it never changes the input's dtype);
    TypeError for a non-number."""
    return float(check_number(name, argument, value))


def check_gelu_approximate(name: str, approximate: str) -> str:
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"{name}: approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


def check_softplus_options(name: str, beta: float, threshold: float) -> tuple:
    """``(beta, threshold)`` as floats; ``beta`` nonzero (it divides)."""
    beta, threshold = check_option(name, 'beta', beta), check_option(name, 'threshold', threshold)
    if beta == 0:
        raise ValueError(f"{name}: beta must be nonzero, got {beta!r}")
    return beta, threshold


def check_dim(name: str, dim) -> int | None:
    """``dim`` if it is an int or None (TypeError otherwise: PyTorch's softmax takes one axis)."""
    if dim is not None and (not is_int(dim)):
        raise TypeError(f"{name}: dim must be an int or None, got {dim!r}")
    return dim


def softmax_dim(name: str, ndim: int, dim, axis) -> int:
    """The axis of a softmax from ``dim`` or ``axis`` (not both). ``dim=None`` follows
    PyTorch's deprecated implicit rule (0 for 0-, 1- and 3-d inputs, else 1) and warns as it
    does, so ported code gives the same numbers."""
    if axis is not None:
        if dim != -1:
            raise TypeError(f"{name}: got both axis={axis!r} and dim={dim!r}; pass one of them")
        dim = axis
    check_dim(name, dim)
    if dim is None:
        dim = 0 if ndim in (0, 1, 3) else 1
        warnings.warn(f"{name}: implicit dimension choice (dim=None) picked dim={dim} for a {ndim}-d "
                      f"input, as PyTorch's deprecated rule does; pass dim explicitly", UserWarning,
                      stacklevel=3)
    return dim


def _as_value(x) -> Value:
    return x if isinstance(x, Value) else Value(x)


def dropout(input, p: float = 0.5, training: bool = True) -> Value:
    """Inverted dropout: each element is zeroed with probability ``p`` and the rest are scaled
    by ``1 / (1 - p)``, so the expected value is unchanged. The identity when
    ``training=False`` or ``p == 0``; all zeros when ``p == 1``. The mask is drawn from the
    library's generator (seeded by ``tl.manual_seed``) inside the ``dropout`` op's forward,
    so a step compiled by ``tl.compile`` draws a new mask at every replay."""
    check_probability('dropout', p)
    input = _as_value(input)
    if not training or p == 0:
        return input
    return random_ops.Dropout.apply(input, p=p)
