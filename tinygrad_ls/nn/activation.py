"""Activation modules: ``nn.ReLU()``, ``nn.GELU(approximate='tanh')``, ``nn.Softmax(dim=1)``, ...

Each holds its options (checked when it is built, by the checks of the functional, so an
error names the module), shows them in ``repr`` as PyTorch does, and its ``forward`` is one
call of the function of the same name in ``nn.functional``. None has parameters.
"""
from __future__ import annotations

from ..value import Value
from . import functional_activations as F
from .module import Module


class ReLU(Module):
    """``max(x, 0)`` elementwise."""

    def forward(self, x) -> Value:
        return F.relu(x)


class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x) -> Value:
        return F.tanh(x)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise (stable)."""

    def forward(self, x) -> Value:
        return F.sigmoid(x)


class _WithOptions(Module):
    """An activation with options: it keeps ``function`` and the options (already checked, as
    attributes named as in PyTorch, which may be changed later), shows them in ``repr``, and
    ``forward`` is one call ``function(x, **options)``."""

    def __init__(self, function, **options):
        super().__init__()
        self._function, self._option_names = function, tuple(options)
        for name, value in options.items():
            setattr(self, name, value)

    def forward(self, x) -> Value:
        return self._function(x, **{name: getattr(self, name) for name in self._option_names})

    def extra_repr(self) -> str:
        return ', '.join(f"{name}={getattr(self, name)!r}" for name in self._option_names)


class LeakyReLU(_WithOptions):
    """``x`` where ``x > 0``, else ``negative_slope x`` (``F.leaky_relu``)."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__(F.leaky_relu, negative_slope=F.check_option('LeakyReLU', 'negative_slope',
                                                                     negative_slope))


class GELU(_WithOptions):
    """``x Φ(x)`` with Φ the standard normal CDF, or its tanh approximation with
    ``approximate='tanh'`` (``F.gelu``)."""

    def __init__(self, approximate: str = 'none'):
        super().__init__(F.gelu, approximate=F.check_gelu_approximate('GELU', approximate))


class SiLU(Module):
    """``x sigmoid(x)`` (``F.silu``)."""

    def forward(self, x) -> Value:
        return F.silu(x)


class ELU(_WithOptions):
    """``x`` where ``x > 0``, else ``alpha (exp(x) - 1)`` (``F.elu``)."""

    def __init__(self, alpha: float = 1.0):
        super().__init__(F.elu, alpha=F.check_option('ELU', 'alpha', alpha))


class Softplus(_WithOptions):
    """``log(1 + exp(beta x)) / beta``, linear where ``beta x > threshold`` (``F.softplus``)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        beta, threshold = F.check_softplus_options('Softplus', beta, threshold)
        super().__init__(F.softplus, beta=beta, threshold=threshold)


class Softmax(_WithOptions):
    """``F.softmax`` along ``dim``: every slice along it sums to 1. Pass ``dim``: ``None`` is
    PyTorch's deprecated implicit choice (0 for 0-, 1- and 3-d inputs, else 1), with a warning."""

    def __init__(self, dim: int | None = None):
        super().__init__(F.softmax, dim=F.check_dim('Softmax', dim))


class LogSoftmax(_WithOptions):
    """``F.log_softmax`` along ``dim`` (``None`` as for ``Softmax``)."""

    def __init__(self, dim: int | None = None):
        super().__init__(F.log_softmax, dim=F.check_dim('LogSoftmax', dim))
