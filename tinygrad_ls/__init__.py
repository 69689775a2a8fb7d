"""tinygrad_ls: a small, fast, correct automatic-differentiation framework on NumPy.

    import tinygrad_ls as tl
    x = tl.Value([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()      # x.grad == [2., 4.]
"""
from . import data, lazy, metrics, nn, optim, train
from .combine import chunk, concat, maximum, minimum, split, stack, where
from .creation import (
    arange,
    eye,
    full,
    linspace,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randn_like,
    zeros,
    zeros_like,
)
from .derivatives import hessian, jacobian
from .dtypes import get_default_dtype, set_default_dtype
from .engine import backward, grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .linalg import least_squares
from .mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .random import manual_seed
from .serialization import load, save
from .value import Value

__version__ = '0.1.0'

# Imported on first use (``tl.compile``, ``tl.onnx``, ...): ``import tinygrad_ls`` loads no
# graphviz, tqdm, onnx or mpi4py, and the pytest plugin of every environment stays cheap.
__getattr__, __dir__ = lazy.attributes(__name__, globals(), {
    'compile': '.compiler', 'compiler': '.compiler',
    'draw_graph': '.render', 'to_mermaid': '.render', 'save_graph': '.render', 'render': '.render',
    'onnx': '.onnx', 'distributed': '.distributed', 'testing': '.testing',
    'models': '.models', 'datasets': '.datasets',
})

__all__ = [
    'Value', 'backward', 'grad', 'no_grad', 'enable_grad', 'set_grad_enabled', 'is_grad_enabled',
    'detect_anomaly', 'gradcheck', 'gradgradcheck', 'GradcheckError',
    'zeros', 'ones', 'randn', 'rand', 'manual_seed', 'get_default_dtype', 'set_default_dtype',
    'full', 'arange', 'linspace', 'eye', 'zeros_like', 'ones_like', 'randn_like', 'randint',
    'concat', 'stack', 'where', 'maximum', 'minimum', 'split', 'chunk', 'jacobian', 'hessian',
    'nn', 'optim', 'data', 'train', 'metrics', 'least_squares', 'save', 'load',
    'draw_graph', 'to_mermaid', 'save_graph', 'models', 'datasets', 'compile', 'compiler', 'onnx',
    'distributed', 'testing',
]
