"""`import tinygrad_ls` loads the core only: the compiler, rendering (graphviz), ONNX, MPI,
tqdm and the testing tools are imported when a program first uses them (PEP 562), and every
public name still works, through attributes, `dir()` and `from tinygrad_ls import X`."""
import json
import os
import subprocess
import sys

import pytest

import tinygrad_ls as tl

HEAVY = ['graphviz', 'tqdm', 'onnx', 'onnxruntime', 'mpi4py', 'hypothesis', 'torch',
         'tinygrad_ls.render', 'tinygrad_ls.compiler', 'tinygrad_ls.testing', 'tinygrad_ls.onnx',
         'tinygrad_ls.distributed', 'tinygrad_ls.models', 'tinygrad_ls.datasets']


def _loaded_after(code: str) -> list[str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    script = f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env,
                            timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_loads_nothing_heavy():
    assert _loaded_after('import tinygrad_ls') == []


def test_the_pytest_plugin_loads_nothing_heavy():
    assert _loaded_after('import tinygrad_ls.testing.plugin') == ['tinygrad_ls.testing']


def test_drawing_a_graph_does_not_load_the_compiler():
    loaded = _loaded_after('import tinygrad_ls as tl\ntl.to_mermaid(tl.Value(1.0) * 2)')
    assert 'tinygrad_ls.render' in loaded and 'tinygrad_ls.compiler' not in loaded


def test_fit_without_compile_or_progress_loads_no_compiler():
    loaded = _loaded_after(
        'import numpy as np, tinygrad_ls as tl\n'
        'm = tl.nn.Linear(2, 1)\n'
        'loader = tl.data.DataLoader(tl.data.TensorDataset(np.ones((4, 2)), np.ones((4, 1))), batch_size=2)\n'
        'sgd = tl.optim.SGD(m.parameters(), lr=0.1)\n'
        'tl.train.fit(m, tl.nn.functional.mse_loss, sgd, loader, progress=False)')
    assert 'tinygrad_ls.compiler' not in loaded and 'mpi4py' not in loaded


def test_every_public_name_works():
    for module in (tl, tl.testing, tl.render, tl.compiler, tl.onnx, tl.distributed, tl.models):
        for name in module.__all__:
            assert getattr(module, name) is not None, (module.__name__, name)
            assert name in dir(module), (module.__name__, name)
    from tinygrad_ls import compile, draw_graph, onnx, save_graph, testing, to_mermaid  # noqa: F401
    from tinygrad_ls.testing import Check, CheckReport, assert_close, check_op, strategies  # noqa: F401
    assert tl.compile is tl.compiler.compile and tl.draw_graph is tl.render.draw_graph


def test_unknown_names_raise_attribute_error():
    for module in (tl, tl.testing, tl.render):
        with pytest.raises(AttributeError, match='no_such_name'):
            module.no_such_name  # noqa: B018


def test_no_module_shadows_a_top_level_one():
    """`checks.py`, `random.py` name one module each (the battery's checks, the ops that draw and
    the ONNX validation have their own names), and the package source names no moved function."""
    from pathlib import Path
    package = Path(tl.__file__).parent
    top = {path.name for path in package.glob('*.py')} - {'__init__.py'}
    clashes = [str(path.relative_to(package)) for path in package.glob('*/*.py') if path.name in top]
    assert clashes == []
    assert 'function.sequence_mark' not in (package / 'render' / 'graph.py').read_text()


def test_the_op_clock_and_the_anomaly_check_live_in_mode():
    from tinygrad_ls import mode
    from tinygrad_ls.ops import base
    assert not hasattr(base, 'edits') and not hasattr(base, '_check_finite')
    first = mode.sequence_mark()
    op = tl.Value([1.0], requires_grad=True) * 2
    assert op._fn.sequence > first and mode.sequence_mark() > op._fn.sequence
    with pytest.raises(RuntimeError, match='detect_anomaly: here produced nan'):
        mode.check_finite(tl.Value([float('nan')]), 'here')


def test_a_no_grad_module_call_stamps_no_span():
    model = tl.nn.Linear(2, 2)
    with tl.no_grad():
        model(tl.Value([[1.0, 2.0]]))
    assert '_last_call_span' not in vars(model)  # nothing recorded, nothing to draw
    model(tl.Value([[1.0, 2.0]]))
    assert '_last_call_span' in vars(model)
