"""Set-up shared by every test file.

- ``tests/`` goes on ``sys.path`` so that test files can ``from helpers import ...`` (tests/
  is not a package), and ``demos/`` so that they and the demos themselves import a demo by
  name, as they do when run as ``python demos/<name>.py``;
- fixtures: ``restore_default_dtype`` and ``torch`` (the module, or a skip without it).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import tinygrad_ls as tl

TESTS = Path(__file__).resolve().parent
DEMOS = TESTS.parent / 'demos'
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
if str(DEMOS) not in sys.path:
    sys.path.append(str(DEMOS))  # last: a demo's name never hides an installed module


@pytest.fixture
def restore_default_dtype():
    """The test may change ``tl.set_default_dtype``; the previous default comes back after it."""
    saved = tl.get_default_dtype()
    yield
    tl.set_default_dtype(saved)


@pytest.fixture
def torch():
    """PyTorch, for the parity tests of a file that also runs without it."""
    return pytest.importorskip("torch")
