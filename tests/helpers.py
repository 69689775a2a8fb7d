"""Small helpers shared by the test files: ``from helpers import leaf, normal, ...``.

tests/ is not a package; tests/conftest.py puts this folder on ``sys.path``.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tinygrad_ls import Value, nn
from tinygrad_ls.ops.base import Function
from tinygrad_ls.value import data_of

DEMOS = Path(__file__).resolve().parent.parent / 'demos'

# The optional packages of the demos, benchmarks and docs, and how to install each: where one
# is missing, the tests that need it skip with this reason (the README's `pip install -e '.[dev]'`
# has scikit-learn and matplotlib, not these extras; .ci/run installs them all).
OPTIONAL = {'onnx': "pip install 'tinygrad_ls[onnx]'", 'onnxruntime': "pip install 'tinygrad_ls[onnx]'",
            'torch': "pip install 'tinygrad_ls[torch]'", 'torchmetrics': "pip install 'tinygrad_ls[torch]'",
            'mpi4py': "pip install 'tinygrad_ls[distributed]' (and an MPI library)",
            'sklearn': "pip install 'tinygrad_ls[demos]'", 'matplotlib': "pip install 'tinygrad_ls[demos]'",
            'transformers': 'pip install transformers', 'tokenizers': 'pip install tokenizers',
            'safetensors': 'pip install safetensors', 'threadpoolctl': 'pip install threadpoolctl',
            'hypothesis': "pip install 'tinygrad_ls[dev]'"}
_NO_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")


def missing_optional(name: str | None) -> str | None:
    """The top-level package of module ``name`` if it is an optional one that is not installed."""
    package = (name or '').split('.')[0]
    if package in OPTIONAL and importlib.util.find_spec(package) is None:
        return package
    return None


def skip_without(what: str, error_text: str) -> None:
    """Skip (with the reason) when ``error_text`` (an exception or a subprocess's stderr) is the
    ModuleNotFoundError of an optional package that is not installed; otherwise return."""
    for name in _NO_MODULE.findall(error_text):
        package = missing_optional(name)
        if package is not None:
            pytest.skip(f"{what} needs {package}: {OPTIONAL[package]}")


def saved_members(tmp_path) -> dict:
    """The members of a genuine tl.save file, name -> bytes (for tests that forge files)."""
    import zipfile

    import tinygrad_ls as tl
    path = tmp_path / 'genuine.npz'
    tl.save({'w': np.arange(3.0), 'epoch': 4}, path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    path.unlink()
    return members


def leaf(data, dtype=np.float64, *, requires_grad: bool = True, name: str | None = None) -> Value:
    """A leaf Value that requires grad, holding a copy of ``data`` as ``dtype`` (float64 unless
    told): gradcheck and the tests may write to ``.data`` without touching the caller's array."""
    return Value(np.array(data, dtype=dtype), requires_grad=requires_grad, name=name)


def load_demo(name: str) -> ModuleType:
    """A fresh import of demos/<name>.py (demos/ is not a package), so a test sees the demo's
    module-level state as a new run would."""
    spec = importlib.util.spec_from_file_location(f"demo_{name}", DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as error:
        package = missing_optional(error.name)
        if package is None:
            raise
        pytest.skip(f"demos/{name}.py needs {package}: {OPTIONAL[package]}")
    return module


def class_index_case(loss, make_input, **options):
    """A gradcheck case for a class-index loss (``F.cross_entropy``, ``F.nll_loss``):
    ``builder(rng, reduction) -> (fn, inputs)`` on ``make_input(rng)`` of shape (5, 4) against
    the targets [2, 0, 3, 1, 0] (the second one set to ``ignore_index`` when given), ``weight``
    and the other ``options`` passed to ``loss``."""
    def build(rng, reduction):
        target = np.array([2, 0, 3, 1, 0])
        if 'ignore_index' in options:
            target[1] = options['ignore_index']
        kwargs = dict(options)
        weight = kwargs.pop('weight', None)
        fn = lambda x: loss(x, target, weight, reduction=reduction, **kwargs)  # noqa: E731
        return fn, (leaf(make_input(rng)),)
    return build


def broadcasts(a: tuple, b: tuple) -> bool:
    """Whether NumPy broadcasts shapes ``a`` and ``b`` together."""
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


# ---- samplers: (rng, shape) -> a float64 ndarray (also for shape ()) ------------------------------
def normal(rng: np.random.Generator, shape) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape))


def positive(rng: np.random.Generator, shape, low: float = 0.5, high: float = 2.0) -> np.ndarray:
    """Uniform in [low, high]: safe for log, sqrt and fractional powers."""
    return np.asarray(rng.uniform(low, high, shape))


def away_from_zero(rng: np.random.Generator, shape, low: float = 0.5, high: float = 2.0) -> np.ndarray:
    """Magnitudes in [low, high] with random signs: safe denominators."""
    return positive(rng, shape, low, high) * rng.choice([-1.0, 1.0], size=shape)



class DropoutNet(nn.Module):
    """``fc`` -> ReLU -> ``drop`` (Dropout 0.5) -> ``out``: a model whose training steps draw masks."""

    def __init__(self, features: int, hidden: int, outputs: int):
        super().__init__()
        self.fc = nn.Linear(features, hidden)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(hidden, outputs)

    def forward(self, x):
        return self.out(self.drop(self.fc(x).relu()))


class WrongSquare(Function):
    """``x * x`` with a backward that is wrong by a factor 1.5 at element (1, 2) only."""
    name = 'wrong_square'

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        scale = np.ones(np.shape(data_of(x)))
        scale[1, 2] = 1.5
        return (grad * 2 * x * scale,)


class Square(Function):
    """``x * x`` with a correct backward written with shared ops (differentiable again)."""
    name = 'square'

    def forward(self, x):
        return x * x

    def backward(self, grad, out, x):
        return (grad * 2 * x,)
