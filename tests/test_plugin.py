"""The pytest plugin (tinygrad_ls.testing.plugin): fixtures, --tl-dtype and the tl_seed marker,
each checked by running an inner pytest on a small test directory with ``pytester``."""
from __future__ import annotations

import re
from importlib.metadata import entry_points

import numpy as np
import pytest

import tinygrad_ls as tl

pytest_plugins = ['pytester']

ENTRY_POINT_INSTALLED = any(ep.value == 'tinygrad_ls.testing.plugin' for ep in entry_points(group='pytest11'))
# The two ways to load the plugin: by the pytest11 entry point of the installed package, or
# by hand with -p (blocking the entry point's name, else pluggy sees the module twice).
LOADED_BY = {
    'entry_point': [],
    'dash_p': ['-p', 'no:tinygrad_ls', '-p', 'tinygrad_ls.testing.plugin'],
}
needs_entry_point = pytest.mark.skipif(
    not ENTRY_POINT_INSTALLED, reason="the pytest11 entry point is not installed: pip install --no-deps -e .")


@pytest.fixture(params=list(LOADED_BY))
def plugin_args(request) -> list:
    if request.param == 'entry_point' and not ENTRY_POINT_INSTALLED:
        pytest.skip("the pytest11 entry point is not installed: pip install --no-deps -e .")
    return LOADED_BY[request.param]


@pytest.fixture
def keep_global_state():
    """In-process inner runs share this process's default dtype and generators: put them back."""
    dtype, numpy_state = tl.get_default_dtype(), np.random.get_state()
    yield
    tl.set_default_dtype(dtype)
    np.random.set_state(numpy_state)


# ---- fixtures ----------------------------------------------------------------------------------
def test_gradcheck_fixture_runs_tl_gradcheck(pytester, plugin_args):
    pytester.makepyfile(
        """
        import numpy as np
        import pytest
        import tinygrad_ls as tl

        def test_inputs_one_by_one(gradcheck):
            a = tl.Value(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
            b = tl.Value(np.linspace(1, 2, 3), requires_grad=True)
            assert gradcheck(lambda x, y: (x * y).tanh(), a, b) is True

        def test_inputs_as_a_list_and_keywords(gradcheck):
            a = tl.Value(np.arange(1.0, 4.0), requires_grad=True)
            assert gradcheck(lambda x: x.log(), [a], eps=1e-7, atol=1e-6)

        def test_a_wrong_gradient_raises(gradcheck):
            a = tl.Value(np.array([0.0, 2.0]), requires_grad=True)
            with pytest.raises(tl.GradcheckError):
                gradcheck(lambda x: x.abs().detach() * x, a)
        """)
    result = pytester.runpytest(*plugin_args)
    result.assert_outcomes(passed=3)


def test_assert_close_fixture_is_the_library_function(pytester, plugin_args):
    try:
        from tinygrad_ls.testing import assert_close  # noqa: F401
    except ImportError as error:
        pytest.skip(f"tl.testing.assert_close is not there yet ({error})")
    pytester.makepyfile(
        """
        import numpy as np
        import pytest
        import tinygrad_ls as tl
        from tinygrad_ls.testing import assert_close as library_assert_close

        def test_it_is_the_library_function(assert_close):
            assert assert_close is library_assert_close

        def test_it_compares(assert_close):
            assert_close(tl.Value([1.0, 2.0]), np.array([1.0, 2.0]))
            with pytest.raises(AssertionError):
                assert_close(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
        """)
    result = pytester.runpytest(*plugin_args)
    result.assert_outcomes(passed=2)


def test_without_the_plugin_its_fixtures_are_missing(pytester):
    pytester.makepyfile("def test_it(gradcheck):\n    pass\n")
    result = pytester.runpytest('-p', 'no:tinygrad_ls')
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'gradcheck' not found*"])


# ---- --tl-dtype --------------------------------------------------------------------------------
DTYPE_TESTS = """
    import numpy as np
    import pytest
    import tinygrad_ls as tl

    @pytest.fixture
    def made_in_a_fixture():
        return tl.Value([1.0, 2.0])

    def test_default_dtype(tl_dtype, made_in_a_fixture):
        print('DEFAULT', tl.get_default_dtype(), 'FIXTURE', tl_dtype, 'MADE', made_in_a_fixture.dtype)
        assert tl.get_default_dtype() == tl_dtype == made_in_a_fixture.dtype
        assert isinstance(tl_dtype, np.dtype)
    """


@pytest.mark.parametrize('dtype, outer_default', [('float32', np.float64), ('float64', np.float32)])
def test_tl_dtype_option_sets_the_default_dtype_and_restores_it(pytester, plugin_args, keep_global_state,
                                                              dtype, outer_default):
    tl.set_default_dtype(outer_default)
    pytester.makepyfile(DTYPE_TESTS)
    result = pytester.runpytest('-s', '--tl-dtype', dtype, *plugin_args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*DEFAULT {dtype} FIXTURE {dtype} MADE {dtype}*"])
    assert tl.get_default_dtype() == outer_default  # restored after the test


def test_without_the_option_the_library_default_stands(pytester, plugin_args, keep_global_state):
    tl.set_default_dtype(np.float64)
    pytester.makepyfile(DTYPE_TESTS)
    result = pytester.runpytest('-s', *plugin_args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*DEFAULT float64 FIXTURE float64 MADE float64*"])


def test_tl_dtype_option_rejects_other_dtypes(pytester, plugin_args):
    pytester.makepyfile("def test_it():\n    pass\n")
    result = pytester.runpytest('--tl-dtype', 'float16', *plugin_args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tl-dtype*invalid choice*float16*"])


def test_help_lists_the_option_and_the_marker(pytester, plugin_args):
    pytester.runpytest('--help', *plugin_args).stdout.fnmatch_lines(["*--tl-dtype*"])
    pytester.runpytest('--markers', *plugin_args).stdout.fnmatch_lines(["@pytest.mark.tl_seed(n)*"])


# ---- tl_seed -----------------------------------------------------------------------------------
SEED_TESTS = """
    import numpy as np
    import pytest
    import tinygrad_ls as tl

    @pytest.fixture
    def drawn_in_a_fixture():
        return float(np.random.rand())

    @pytest.mark.tl_seed(7)
    def test_seeded(drawn_in_a_fixture):
        print('SEEDED', drawn_in_a_fixture, np.random.rand(), tl.randn(3).data.tolist())

    @pytest.mark.tl_seed(7)
    class TestSeededClass:
        def test_method(self, drawn_in_a_fixture):
            print('CLASS', drawn_in_a_fixture, np.random.rand(), tl.randn(3).data.tolist())
    """


def printed(result, *tags: str) -> list:
    """The lines the inner tests printed that start with one of ``tags`` (with -s, a line
    may begin with the test file's name)."""
    pattern = re.compile(rf"\b((?:{'|'.join(tags)}) .*?)\.?$")
    return [match.group(1) for match in map(pattern.search, result.stdout.lines) if match]


def test_tl_seed_makes_two_runs_draw_the_same_numbers(pytester):
    plugin_args = [] if ENTRY_POINT_INSTALLED else LOADED_BY['dash_p']  # two processes: one way only
    pytester.makepyfile(SEED_TESTS)
    first = pytester.runpytest_subprocess('-s', '--strict-markers', *plugin_args)
    second = pytester.runpytest_subprocess('-s', '--strict-markers', *plugin_args)
    first.assert_outcomes(passed=2)
    second.assert_outcomes(passed=2)
    lines = printed(first, 'SEEDED', 'CLASS')
    assert len(lines) == 2 and lines == printed(second, 'SEEDED', 'CLASS')
    assert lines[0].split()[1:] == lines[1].split()[1:]  # same seed, same numbers, fixture first
    expected = np.random.RandomState(7).rand(2).tolist()
    assert [float(word) for word in lines[0].split()[1:3]] == expected


def test_tl_seed_restores_the_generators_and_leaves_unmarked_tests_alone(pytester, plugin_args,
                                                                        keep_global_state):
    pytester.makepyfile(SEED_TESTS + """
    def test_unmarked():
        print('UNMARKED', np.random.rand(), tl.randn(2).data.tolist())
    """)
    np.random.seed(123)
    tl.manual_seed(5)
    result = pytester.runpytest('-s', '-p', 'no:randomly', *plugin_args)
    result.assert_outcomes(passed=3)
    # The unmarked test (last) continued the outer generators where they were: both restored.
    (unmarked,) = printed(result, 'UNMARKED')
    tl.manual_seed(5)
    assert unmarked == f"UNMARKED {np.random.RandomState(123).rand()} {tl.randn(2).data.tolist()}"
    np.testing.assert_array_equal(np.random.rand(), np.random.RandomState(123).rand(2)[1])


def test_tl_seed_needs_one_int(pytester, plugin_args):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.tl_seed('seven')
        def test_it():
            pass
        """)
    result = pytester.runpytest(*plugin_args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*use @pytest.mark.tl_seed(n) with one int n*"])


# ---- tests that use none of it -----------------------------------------------------------------
PLAIN_TESTS = """
    import numpy as np
    import tinygrad_ls as tl

    def test_plain():
        print('PLAIN', tl.get_default_dtype(), tl.Value([1.0]).dtype)
        assert (tl.Value([2.0]) * 3).item() == 6.0
    """


@needs_entry_point
def test_a_test_that_uses_none_of_it_runs_the_same_with_or_without_the_plugin(pytester, keep_global_state):
    pytester.makepyfile(PLAIN_TESTS)
    with_plugin = pytester.runpytest('-s', '--strict-markers')
    without_plugin = pytester.runpytest('-s', '--strict-markers', '-p', 'no:tinygrad_ls')
    with_plugin.assert_outcomes(passed=1)
    without_plugin.assert_outcomes(passed=1)
    plain = [printed(result, 'PLAIN') for result in (with_plugin, without_plugin)]
    assert plain[0] == plain[1] == [f"PLAIN {tl.get_default_dtype()} {tl.get_default_dtype()}"]


def test_loading_the_plugin_imports_neither_hypothesis_nor_matplotlib(pytester):
    pytester.makepyfile(
        """
        import sys

        def test_modules():
            print('LOADED', 'hypothesis' in sys.modules, 'matplotlib' in sys.modules)
        """)
    result = pytester.runpytest_subprocess(
        '-s', '-p', 'no:hypothesispytest', '-p', 'no:tinygrad_ls', '-p', 'tinygrad_ls.testing.plugin')
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*LOADED False False*"])
