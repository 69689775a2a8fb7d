"""Checkpoints under faults and hostile files, beyond tests/test_serialization.py.

- A write that fails at any point (first byte, middle, the zip directory, fsync, the
  rename), with an OSError or a KeyboardInterrupt, leaves the previous checkpoint intact
  and no temporary file behind.
- A loaded checkpoint whose keys or shapes do not fit the model or optimizer is refused
  by ``load_state_dict`` with every problem named, and nothing is changed.
- Files carrying pickled objects are refused without running them: the payload's
  ``__reduce__`` would create a marker file, and the marker never appears (a control test
  shows the payload does create it when unpickled). Zips with extra, raw, huge, compressed
  or path-named members are refused with ValueError.
"""
from __future__ import annotations

import builtins
import io
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest
from helpers import saved_members

import tinygrad_ls as tl
from tinygrad_ls import nn, optim, serialization
from tinygrad_ls.nn import functional as F


def trained(sizes=(3, 4, 2), seed=0):
    """A model and an Adam optimizer after two steps."""
    tl.manual_seed(seed)
    model = nn.MLP(list(sizes))
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = np.random.default_rng(seed).standard_normal((6, sizes[0])).astype(np.float32)
    y = np.arange(6) % sizes[-1]
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model, opt


def checkpoint(model, opt, epoch: int) -> dict:
    return {'model': model.state_dict(), 'optimizer': opt.state_dict(), 'epoch': epoch}


def files_in(directory: pathlib.Path) -> list:
    return sorted(path.name for path in directory.iterdir())


def same_state(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


# ---- a crash in the middle of tl.save -------------------------------------------------------------

class FailingFile:
    """A real file whose writes fail with ``error`` once ``budget`` bytes have been written
    (the bytes up to the budget do reach the file, as with a disk that fills up)."""

    def __init__(self, path, mode: str, budget: int, error: BaseException):
        self._file = builtins.open(path, mode)
        self._budget, self._error = budget, error

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self._budget:
            self._file.write(data[:self._budget])
            self._budget = 0
            raise self._error
        self._budget -= len(data)
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._file.close()


def saved_size(state: dict, directory: pathlib.Path) -> int:
    probe = directory / 'probe' / 'size.npz'
    probe.parent.mkdir()
    tl.save(state, probe)
    size = probe.stat().st_size
    probe.unlink()
    probe.parent.rmdir()
    return size


@pytest.mark.parametrize('error', [OSError(28, 'No space left on device'), KeyboardInterrupt()],
                         ids=['disk-full', 'interrupt'])
@pytest.mark.parametrize('fraction', [0.0, 0.001, 0.1, 0.5, 0.9, 0.999, 'last-byte'])
def test_a_write_failing_at_any_point_keeps_the_previous_checkpoint(fraction, error, tmp_path, monkeypatch):
    path = tmp_path / 'ckpt.npz'
    model, opt = trained()
    tl.save(checkpoint(model, opt, epoch=1), path)
    previous = path.read_bytes()
    newer_model, newer_opt = trained(seed=1)
    newer = checkpoint(newer_model, newer_opt, epoch=2)
    size = saved_size(newer, tmp_path)
    budget = size - 1 if fraction == 'last-byte' else int(size * fraction)
    monkeypatch.setattr(serialization, 'open',
                        lambda p, mode: FailingFile(p, mode, budget, error), raising=False)
    with pytest.raises(type(error)):
        tl.save(newer, path)
    monkeypatch.undo()
    assert path.read_bytes() == previous
    assert files_in(tmp_path) == ['ckpt.npz']
    assert same_state(tl.load(path), checkpoint(model, opt, epoch=1))


@pytest.mark.parametrize('where', ['fsync', 'replace'])
def test_a_failure_after_writing_keeps_the_previous_checkpoint(where, tmp_path, monkeypatch):
    path = tmp_path / 'ckpt.npz'
    tl.save({'epoch': 1, 'w': np.ones(3)}, path)
    previous = path.read_bytes()

    def fail(*args):
        raise OSError(5, f'{where} failed')

    monkeypatch.setattr(serialization.os, where, fail)
    with pytest.raises(OSError, match=f'{where} failed'):
        tl.save({'epoch': 2, 'w': np.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == previous and files_in(tmp_path) == ['ckpt.npz']


def test_saving_into_a_missing_directory_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        tl.save({'w': np.ones(2)}, tmp_path / 'missing' / 'ckpt.npz')
    assert files_in(tmp_path) == []


def test_saving_over_a_directory_leaves_it_alone_and_no_temp_file(tmp_path):
    target = tmp_path / 'ckpt.npz'
    target.mkdir()
    (target / 'keep.txt').write_text('mine')
    with pytest.raises(OSError):
        tl.save({'w': np.ones(2)}, target)
    assert files_in(tmp_path) == ['ckpt.npz'] and files_in(target) == ['keep.txt']


# ---- loaded checkpoints that do not fit ---------------------------------------------------------

def snapshot(model, opt) -> dict:
    return {'params': {k: v.copy() for k, v in model.state_dict().items()}, 'opt': opt.state_dict()}


def test_a_checkpoint_of_another_architecture_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / 'ckpt.npz'
    small, small_opt = trained((3, 4, 2))
    tl.save(checkpoint(small, small_opt, epoch=1), path)
    wide, wide_opt = trained((3, 5, 2), seed=1)
    before = snapshot(wide, wide_opt)
    loaded = tl.load(path)
    with pytest.raises(RuntimeError) as info:
        wide.load_state_dict(loaded['model'])
    message = str(info.value)
    for key, ours, theirs in (('layers.0.weight', (5, 3), (4, 3)), ('layers.0.bias', (5,), (4,)),
                              ('layers.2.weight', (2, 5), (2, 4))):
        assert f"size mismatch for {key}: copying a value of shape {theirs}" in message
        assert f"the shape in the current model is {ours}" in message
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(4, 3\).*\(5, 3\)"):
        wide_opt.load_state_dict(loaded['optimizer'])
    assert same_state(snapshot(wide, wide_opt), before)


def test_a_checkpoint_with_renamed_keys_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / 'ckpt.npz'
    model, opt = trained()
    state = checkpoint(model, opt, epoch=1)
    state['model'] = {key.replace('layers.', 'net.'): value + 1 for key, value in state['model'].items()}
    tl.save(state, path)
    other, other_opt = trained(seed=1)
    before = snapshot(other, other_opt)
    with pytest.raises(RuntimeError) as info:
        other.load_state_dict(tl.load(path)['model'])
    message = str(info.value)
    assert 'Missing key(s) in state_dict: "layers.0.weight", "layers.0.bias", "layers.2.weight"' in message
    assert 'Unexpected key(s) in state_dict: "net.0.weight"' in message
    assert same_state(snapshot(other, other_opt), before)


def test_a_checkpoint_with_one_bad_array_loads_nothing(tmp_path):
    """Every other entry differs from the model too: a half-done load would show."""
    path = tmp_path / 'ckpt.npz'
    model, opt = trained()
    state = {key: value + 1 for key, value in model.state_dict().items()}
    state['layers.2.bias'] = np.zeros(3, dtype=np.float32)
    tl.save({'model': state}, path)
    before = snapshot(model, opt)
    with pytest.raises(RuntimeError, match=r'layers\.2\.bias.*\(3,\).*\(2,\)'):
        model.load_state_dict(tl.load(path)['model'])
    assert same_state(snapshot(model, opt), before)


def test_an_optimizer_checkpoint_with_a_missing_moment_loads_nothing(tmp_path):
    path = tmp_path / 'ckpt.npz'
    model, opt = trained()
    state = opt.state_dict()
    state['param_groups'][0]['lr'] = 0.5
    del state['state'][2]['exp_avg_sq']
    tl.save({'optimizer': state}, path)
    before = snapshot(model, opt)
    with pytest.raises(ValueError, match=r"state\[2\] lacks \['exp_avg_sq'\]"):
        opt.load_state_dict(tl.load(path)['optimizer'])
    assert same_state(snapshot(model, opt), before)
    opt.step()  # still a working optimizer


# ---- hostile files: pickles never run -----------------------------------------------------------

class Payload:
    """Unpickling this creates ``marker``: the proof that code ran."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def object_npy(marker: pathlib.Path) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([Payload(marker), 1], dtype=object), allow_pickle=True)
    return buffer.getvalue()


tl_members = saved_members


def write_zip(path: pathlib.Path, members: dict) -> pathlib.Path:
    with zipfile.ZipFile(path, 'w') as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_the_payload_is_live_when_unpickled(tmp_path):
    """Control: the payload used below does run code when something unpickles it."""
    marker = tmp_path / 'ran'
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()
    marker.unlink()
    with np.load(write_zip(tmp_path / 'evil.npz', {'x.npy': object_npy(marker)}), allow_pickle=True) as f:
        f['x']
    assert marker.exists()


HOSTILE = {
    'pickle-file': lambda m, marker: pickle.dumps({'model': Payload(marker)}),
    'npz-with-object-array': lambda m, marker: {'w.npy': object_npy(marker)},
    'array-member-replaced': lambda m, marker: {**m, 'w.npy': object_npy(marker)},
    'structure-replaced': lambda m, marker: {**m, '%structure.npy': object_npy(marker)},
    'extra-object-member': lambda m, marker: {**m, 'extra.npy': object_npy(marker)},
    'raw-pickle-member': lambda m, marker: {**m, 'w': pickle.dumps(Payload(marker))},
    'raw-pickle-structure': lambda m, marker: {'%structure': pickle.dumps(Payload(marker)),
                                               'w.npy': m['w.npy']},
}


@pytest.fixture
def no_unpickling(monkeypatch):
    """Any call into pickle's loaders fails the test (the marker is the second proof)."""
    def refuse(*args, **kwargs):
        raise AssertionError('pickle was asked to load')

    for name in ('load', 'loads', 'Unpickler'):
        monkeypatch.setattr(pickle, name, refuse)


@pytest.mark.parametrize('kind', HOSTILE)
def test_files_carrying_pickles_are_refused_without_running_them(kind, tmp_path, no_unpickling):
    marker = tmp_path / 'ran'
    content = HOSTILE[kind](tl_members(tmp_path), marker)
    path = tmp_path / 'ckpt.npz'
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write_zip(path, content)
    with pytest.raises(ValueError) as info:
        tl.load(path)
    assert str(path) in str(info.value)
    assert any(word in str(info.value) for word in ('pickle', 'not .npy arrays')), str(info.value)
    assert not marker.exists()


def test_members_with_path_names_are_refused_and_nothing_is_written(tmp_path):
    members = tl_members(tmp_path)
    buffer = io.BytesIO()
    np.save(buffer, np.ones(2))
    inner = tmp_path / 'inner'
    inner.mkdir()
    escaping = {'../../escaped.npy': buffer.getvalue(), '/abs/escaped.npy': buffer.getvalue()}
    path = write_zip(inner / 'ckpt.npz', {**members, **escaping})
    with pytest.raises(ValueError, match=r"member '(\.\./\.\./|/abs/)escaped\.npy' is not a plain key name"):
        tl.load(path)
    assert files_in(tmp_path) == ['inner'] and files_in(inner) == ['ckpt.npz']


def test_a_raw_structure_member_is_refused_with_value_error(tmp_path):
    """A %structure member that is not a .npy file (np.load hands it over as bytes)."""
    members = tl_members(tmp_path)
    with np.load(io.BytesIO(write_zip_bytes(members))) as archive:
        document = archive['%structure'].tobytes()
    path = write_zip(tmp_path / 'ckpt.npz', {'%structure': document, 'w.npy': members['w.npy']})
    with pytest.raises(ValueError, match=r"members \['%structure'\] are not \.npy arrays"):
        tl.load(path)


def test_a_member_declaring_a_huge_array_is_refused_with_value_error(tmp_path):
    """A header that claims 80 TB must not end in a MemoryError (or an attempt to read it)."""
    members = tl_members(tmp_path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {'descr': '<f8', 'fortran_order': False,
                                                  'shape': (10 ** 13,)})
    path = write_zip(tmp_path / 'ckpt.npz', {**members, 'w.npy': header.getvalue() + bytes(16)})
    with pytest.raises(ValueError, match="member 'w'"):
        tl.load(path)


def write_zip_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_compressed_archive_of_genuine_members_is_refused(tmp_path):
    """tl.load never inflates a member (a compressed member can inflate to any size: see
    tests/test_checkpoint_attacks.py for the zip bomb), even a genuine one re-zipped."""
    members = tl_members(tmp_path)
    path = tmp_path / 'ckpt.npz'
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    with pytest.raises(ValueError, match=r"its member '(w|%structure)' is compressed \(DEFLATE: .*Unzip the "
                                         r"archive and save the arrays again with tl\.save"):
        tl.load(path)
    assert os.path.getsize(path) > 0


def test_loading_a_loss_modules_weights_never_writes_into_the_callers_array():
    """Loss modules keep their own copy of ``weight``: a loaded checkpoint lands there, not in
    the array the user passed (which may even be read-only)."""
    class_weights = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    read_only_weights = np.broadcast_to(np.float32(1.0), (3,))
    for weights in (class_weights, read_only_weights):
        original = weights.copy()
        model = nn.Sequential(nn.Linear(2, 3))
        model.loss = nn.CrossEntropyLoss(weight=weights)
        state = {key: value + 1.0 for key, value in model.state_dict().items()}
        model.load_state_dict(state)
        assert np.array_equal(weights, original)
        assert np.array_equal(model.loss.weight, original + 1.0)
        assert all(np.array_equal(value, state[key]) for key, value in model.state_dict().items())
