"""tl.onnx.export's refusals and files: names that clash, inputs the graph never reads, opsets
and dtypes onnx or onnxruntime cannot load (each an ExportError, nothing written); atomic
writes (a failed write keeps the previous file byte for byte, no temporary is left); ONNX
external data (the path models over 2 GB take, with the threshold lowered) run in onnxruntime."""
import os

import numpy as np
import pytest
from test_onnx_trust import OTHER_BATCH, TRACE_BATCH, Lambda, Reader, assert_same, floats, refused

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.onnx import ExportError, export
from tinygrad_ls.onnx import write as onnx_write

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')


@pytest.fixture(autouse=True)
def seeded():
    tl.manual_seed(0)


def test_a_refused_export_leaves_the_previous_file_alone(tmp_path):
    path = tmp_path / 'model.onnx'
    export(nn.Linear(5, 5), floats(TRACE_BATCH, 5), path)
    before = path.read_bytes()
    with pytest.raises(ExportError):
        export(Lambda(lambda self, x: x * float(x.sum())), floats(TRACE_BATCH, 5), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['model.onnx']


# ---- names, unused inputs, opsets, dtypes -----------------------------------------------------
@pytest.mark.parametrize('options, match', [
    (dict(input_names=['weight']), r"input name 'weight' is also the name of the model's parameter"),
    (dict(output_names=['bias']), r"output name 'bias' is also"),
    (dict(input_names=['x'], output_names=['x']), r"'x' is given twice"),
    (dict(input_names=['']), r"non-empty strings"),
    (dict(input_names=[3]), r"non-empty strings"),
])
def test_names_that_clash_are_refused(options, match, tmp_path):
    refused(nn.Linear(5, 3), floats(TRACE_BATCH, 5), tmp_path, match, **options)


def test_duplicate_input_names_and_buffer_names(tmp_path):
    model = Lambda(lambda self, x, y: self.lin(x + y))
    refused(model, (floats(4, 5), floats(4, 5)), tmp_path, r"'a' is given twice", input_names=['a', 'a'])
    norm = nn.BatchNorm1d(5)
    refused(norm, floats(4, 5), tmp_path, r"'running_mean' is also", input_names=['running_mean'])


def test_wrong_number_of_names_stays_a_value_error(tmp_path):
    with pytest.raises(ValueError, match='input_names has 2 names for 1 inputs'):
        export(nn.Linear(5, 3), floats(4, 5), tmp_path / 'm.onnx', input_names=['a', 'b'])


@pytest.mark.parametrize('body', [
    lambda self, x, y: self.lin(x),                       # y never touched
    lambda self, x, y: (y * 2, self.lin(x))[1],           # y only feeds an op no output needs
])
def test_an_input_the_graph_never_reads_is_refused(body, tmp_path):
    refused(Lambda(body), (floats(4, 5), floats(4, 5)), tmp_path, r"input 'input_1' \(shape \(4, 5\), "
            r"float32\) is never read")


def test_opsets_outside_what_onnx_and_onnxruntime_load_are_refused(tmp_path):
    top = onnx.defs.onnx_opset_version()
    for opset in (16, top + 1, 100, '17', True, 17.0):
        refused(nn.Linear(5, 3), floats(4, 5), tmp_path, r"opset", opset=opset)


@pytest.mark.parametrize('opset', [17, 18, 'newest'])
def test_every_supported_opset_exports_reductions_and_norms(opset, tmp_path):
    from tinygrad_ls.onnx.validation import ort_max_opset
    if opset == 'newest':
        opset = min(onnx.defs.onnx_opset_version(), ort_max_opset(onnx.defs.onnx_opset_version()))
    model = nn.Sequential(nn.Linear(5, 6), nn.LayerNorm(6), Reader(
        lambda x: tl.concat([x.max(axis=1, keepdims=True), x.min(axis=1, keepdims=True),
                             x.logsumexp(axis=1, keepdims=True), x.prod(axis=1, keepdims=True),
                             x.mean(axis=1, keepdims=True)], axis=1)))
    proto = export(model, floats(TRACE_BATCH, 5), tmp_path / 'm.onnx', opset=opset)
    assert proto.opset_import[0].version == opset
    assert_same(model, tmp_path / 'm.onnx', floats(OTHER_BATCH, 5))


@pytest.mark.parametrize('array, match', [
    (np.ones((4, 5), np.complex64), r"complex64.*no complex kernels"),
    (np.array([['a'] * 5] * 4), r"dtype <U1.*no ONNX tensor type"),
    (np.empty((4, 5), object), r"dtype object"),
])
def test_input_dtypes_without_onnx_or_onnxruntime_support(array, match, tmp_path):
    refused(Lambda(lambda self, x: x), array, tmp_path, match)


def test_float64_ops_onnxruntime_has_no_kernel_for_are_refused(tmp_path):
    """onnxruntime decides: its CPU kernels have no float64 Erf (exact GELU), Elu or Softplus."""
    for act, op in ((nn.GELU(), 'gelu'), (nn.ELU(), 'elu'), (nn.Softplus(), 'softplus')):
        model = nn.Sequential(nn.Linear(5, 6), act).double()
        error = refused(model, floats(4, 5, dtype=np.float64), tmp_path, r"onnxruntime .* cannot load")
        assert error.op == op and error.module.startswith("'1'")


def test_float16_and_float64_models_onnxruntime_loads_are_exported(tmp_path):
    model = nn.Sequential(nn.Linear(5, 6), nn.GELU(approximate='tanh'), nn.LayerNorm(6))
    export(model.double(), floats(4, 5, dtype=np.float64), tmp_path / 'f64.onnx')
    assert_same(model, tmp_path / 'f64.onnx', floats(OTHER_BATCH, 5, dtype=np.float64), atol=1e-10)
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2)).to(np.float16)
    export(model, floats(4, 5, dtype=np.float16), tmp_path / 'f16.onnx')
    assert_same(model, tmp_path / 'f16.onnx', floats(OTHER_BATCH, 5, dtype=np.float16), atol=1e-2)


# ---- atomic writes ----------------------------------------------------------------------------
def _failing_save(real_save, fail_on_call: int):
    """``onnx.save`` that writes some bytes to its target, then raises, at call ``fail_on_call``."""
    calls = []

    def save(proto, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == fail_on_call:
            with open(path, 'wb') as file:
                file.write(b'half a model')
            raise OSError(28, 'No space left on device')
        return real_save(proto, path, *args, **kwargs)
    return save


def test_a_failed_write_keeps_the_old_file_byte_for_byte(tmp_path, monkeypatch):
    path = tmp_path / 'model.onnx'
    export(nn.Linear(5, 3), floats(4, 5), path)
    before = path.read_bytes()
    monkeypatch.setattr(onnx, 'save', _failing_save(onnx.save, 1))
    with pytest.raises(OSError, match='No space left'):
        export(nn.Linear(5, 3), floats(4, 5), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['model.onnx']


def test_a_failed_rename_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / 'model.onnx'
    export(nn.Linear(5, 3), floats(4, 5), path)
    before = path.read_bytes()

    def broken_replace(source, target):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(onnx_write.os, 'replace', broken_replace)
    with pytest.raises(PermissionError):
        export(nn.Linear(5, 3), floats(4, 5), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['model.onnx']


def test_rewrite_keeps_permissions_and_writes_through_a_symlink(tmp_path):
    target = tmp_path / 'real.onnx'
    export(nn.Linear(5, 3), floats(4, 5), target)
    os.chmod(target, 0o640)
    link = tmp_path / 'link.onnx'
    link.symlink_to(target)
    model = nn.Linear(5, 3)
    export(model, floats(4, 5), link)
    assert link.is_symlink() and os.stat(target).st_mode & 0o777 == 0o640
    assert_same(model, target, floats(OTHER_BATCH, 5))
    assert sorted(os.listdir(tmp_path)) == ['link.onnx', 'real.onnx']


# ---- external data (lowered threshold: the path models over 2 GB take) ------------------------
def test_external_data_runs_in_onnxruntime(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_write, 'EXTERNAL_DATA_BYTES', 0)
    model = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 3))
    path = tmp_path / 'big.onnx'
    export(model, floats(4, 5), path)
    assert sorted(os.listdir(tmp_path)) == ['big.onnx', 'big.onnx.data']
    assert os.path.getsize(tmp_path / 'big.onnx.data') >= 64 * 5 * 4
    stored = onnx.load(str(path), load_external_data=False)
    locations = {entry.value for init in stored.graph.initializer for entry in init.external_data
                 if entry.key == 'location'}
    assert locations == {'big.onnx.data'}
    assert_same(model, path, floats(OTHER_BATCH, 5))

    again = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 3))
    size = os.path.getsize(tmp_path / 'big.onnx.data')
    export(again, floats(4, 5), path)  # over the previous export: replaced, not appended to
    assert os.path.getsize(tmp_path / 'big.onnx.data') == size
    assert_same(again, path, floats(OTHER_BATCH, 5))
    assert sorted(os.listdir(tmp_path)) == ['big.onnx', 'big.onnx.data']


@pytest.mark.parametrize('fail_on_call', [1, 2])
def test_a_failed_external_data_write_keeps_both_old_files(fail_on_call, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_write, 'EXTERNAL_DATA_BYTES', 0)
    model = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 3))
    path = tmp_path / 'big.onnx'
    export(model, floats(4, 5), path)
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    monkeypatch.setattr(onnx, 'save', _failing_save(onnx.save, fail_on_call))
    with pytest.raises(OSError):
        export(nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 3)), floats(4, 5), path)
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == before
    assert_same(model, path, floats(OTHER_BATCH, 5))
