"""tinygrad_ls: a small, fast, correct automatic-differentiation framework on NumPy.

    import tinygrad_ls as tl
    x = tl.Value([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()      # x.grad == [2., 4.]
"""
from . import data, metrics, nn, optim, train
from .combine import concat, maximum, minimum, stack, where
from .creation import ones, rand, randn, zeros
from .dtypes import get_default_dtype, set_default_dtype
from .engine import backward, grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .linalg import least_squares
from .mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .random import manual_seed
from .render import draw_graph, save_graph, to_mermaid
from .serialization import load, save
from .value import Value

__version__ = '0.1.0'

__all__ = [
    'Value', 'backward', 'grad', 'no_grad', 'enable_grad', 'set_grad_enabled', 'is_grad_enabled',
    'detect_anomaly', 'gradcheck', 'gradgradcheck', 'GradcheckError',
    'zeros', 'ones', 'randn', 'rand', 'manual_seed', 'get_default_dtype', 'set_default_dtype',
    'concat', 'stack', 'where', 'maximum', 'minimum',
    'nn', 'optim', 'data', 'train', 'metrics', 'least_squares', 'save', 'load',
    'draw_graph', 'to_mermaid', 'save_graph',
]
