"""A pytest plugin for tests of tinygrad_ls code, loaded by the ``pytest11`` entry point
wherever tinygrad_ls is installed (``-p no:tinygrad_ls`` turns it off).

- fixture ``gradcheck``: ``gradcheck(fn, *inputs, **kw)`` runs ``tl.gradcheck(fn, inputs, **kw)``
  (always in float64, whatever ``--tl-dtype`` says) and returns True or raises
  ``tl.GradcheckError``;
- fixture ``assert_close``: ``tl.testing.assert_close``;
- option ``--tl-dtype float32|float64``: every test runs with ``tl.set_default_dtype`` set to
  it, the previous default restored after the test; fixture ``tl_dtype`` gives the default
  dtype in force (the library's own when the option is not given);
- marker ``@pytest.mark.tl_seed(n)``: ``tl.manual_seed(n)`` and ``np.random.seed(n)`` before
  the test's fixtures are set up; both generators are restored after the test. (Inside a
  hypothesis ``@given`` test, hypothesis reseeds NumPy's global generator for each example;
  ``tl.manual_seed``'s generator is left to run on.)

A test that uses none of these runs exactly as without the plugin. This module imports
only pytest: NumPy and the library are imported when a test asks for them (importing this
module still imports the ``tinygrad_ls`` package itself, its parent).
"""
from __future__ import annotations

import pytest

DTYPES = ('float32', 'float64')
_RESTORE = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup('tinygrad_ls')
    group.addoption('--tl-dtype', choices=DTYPES, default=None, dest='tl_dtype',
                    help="run every test with tl.set_default_dtype(TL_DTYPE) "
                         "(default: leave the library's default alone)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'tl_seed(n): seed tl.manual_seed(n) and np.random.seed(n) '
                                       'before the test; the generators are restored after it')


def _seed_of(item: pytest.Item) -> int | None:
    marker = item.get_closest_marker('tl_seed')
    if marker is None:
        return None
    if len(marker.args) != 1 or marker.kwargs or not isinstance(marker.args[0], int):
        raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.tl_seed(n) with one int n, "
                                f"got args {marker.args} kwargs {marker.kwargs}")
    return marker.args[0]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test: the dtype option and the seed marker, if any."""
    dtype = item.config.getoption('tl_dtype')
    seed = _seed_of(item)
    if dtype is None and seed is None:
        return
    import numpy as np

    import tinygrad_ls as tl
    from tinygrad_ls import random as tl_random

    restore = item.stash.setdefault(_RESTORE, [])
    if dtype is not None:
        saved_dtype = tl.get_default_dtype()
        restore.append(lambda: tl.set_default_dtype(saved_dtype))
        tl.set_default_dtype(dtype)
    if seed is not None:
        saved_numpy, saved_generator = np.random.get_state(), tl_random.generator()
        restore.append(lambda: np.random.set_state(saved_numpy))
        restore.append(lambda: setattr(tl_random, '_generator', saved_generator))
        np.random.seed(seed)
        tl.manual_seed(seed)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """After every fixture of the test is torn down: undo what setup changed, last first."""
    restore = item.stash.get(_RESTORE, [])
    while restore:
        restore.pop()()


@pytest.fixture
def tl_dtype():
    """The default float dtype in force: ``--tl-dtype``'s, else the library's (a np.dtype)."""
    import tinygrad_ls as tl

    return tl.get_default_dtype()


@pytest.fixture
def gradcheck():
    """``gradcheck(fn, *inputs, **kw)``: ``tl.gradcheck(fn, inputs, **kw)``.

    Inputs may be given one by one or as one list/tuple; keywords (``eps``, ``atol``,
    ``rtol``) pass through. The comparison is always in float64.
    """
    import tinygrad_ls as tl

    def check(fn, *inputs, **kwargs) -> bool:
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        return tl.gradcheck(fn, inputs, **kwargs)

    return check


@pytest.fixture
def assert_close():
    """``tl.testing.assert_close(actual, expected, rtol=None, atol=None)``."""
    from tinygrad_ls.testing import assert_close as library_assert_close

    return library_assert_close
