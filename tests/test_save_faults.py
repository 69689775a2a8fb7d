"""``tl.save`` under real faults (issue 20): a process killed with SIGKILL or SIGTERM (or
interrupted with SIGINT) in the middle of a large save, permission bits, symlinks, and the
stale temporary files a killed save leaves behind.

The faults are real: a child process saves a 24 MB state over and over, the test waits until
a temporary file is being written and sends the signal. Every child is bounded by a timeout.
"""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tinygrad_ls as tl

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60  # seconds for any child process

SAVER = """
import signal, sys
import numpy as np
import tinygrad_ls as tl
if sys.argv[2] == 'sigint-default':
    signal.signal(signal.SIGINT, signal.SIG_DFL)
state = {'model': {f'w{i}': np.full((3, 2**20 // 8), float(i)) for i in range(8)}, 'epoch': 1}
tl.save(state, sys.argv[1])
print('first save done', flush=True)
while True:
    state['epoch'] += 1
    tl.save(state, sys.argv[1])
"""

pytestmark = pytest.mark.skipif(not hasattr(signal, 'SIGKILL'), reason='needs POSIX signals')


def temp_files(directory: Path) -> list:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith('.tlsave.tmp'))


def start_saver(path: Path, mode: str = '') -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    child = subprocess.Popen([sys.executable, '-c', SAVER, str(path), mode], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    assert child.stdout.readline().strip() == 'first save done'
    return child


def signal_mid_save(child: subprocess.Popen, directory: Path, signum: int) -> list:
    """Send ``signum`` once the child is writing a temporary file; the temporary files that
    existed just before, and the child's return code."""
    deadline = time.monotonic() + TIMEOUT
    while not temp_files(directory):
        assert time.monotonic() < deadline and child.poll() is None, 'the child never wrote a temp file'
        time.sleep(0.001)
    child.send_signal(signum)
    try:
        child.wait(timeout=TIMEOUT)
    finally:
        child.kill()
        child.communicate(timeout=TIMEOUT)
    return child.returncode


@pytest.mark.parametrize('signum, mode, returncodes', [
    (signal.SIGTERM, '', (-signal.SIGTERM,)),
    (signal.SIGINT, '', (-signal.SIGINT, 1)),  # Python's handler: KeyboardInterrupt
    (signal.SIGINT, 'sigint-default', (-signal.SIGINT,)),
], ids=['sigterm', 'sigint', 'sigint-default-handler'])
def test_a_signal_during_a_save_removes_the_temporary_file(signum, mode, returncodes, tmp_path):
    path = tmp_path / 'ckpt.npz'
    child = start_saver(path, mode)
    returncode = signal_mid_save(child, tmp_path, signum)
    assert returncode in returncodes  # the process ended as the signal would have ended it
    assert temp_files(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ['ckpt.npz']
    loaded = tl.load(path)  # the previous (or the just renamed) complete checkpoint
    assert loaded['epoch'] >= 1 and np.all(loaded['model']['w7'] == 7.0)


def test_sigkill_during_a_save_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    path = tmp_path / 'ckpt.npz'
    for _ in range(5):  # the kill may land between two saves; then try again
        child = start_saver(path)
        signal_mid_save(child, tmp_path, signal.SIGKILL)
        left = temp_files(tmp_path)
        if left:
            break
    assert left, 'no kill landed inside a save in 5 tries'
    assert tl.load(path)['epoch'] >= 1  # the target is whole: the kill hit the temporary file
    keep = [tmp_path / f".other.npz.{'0' * 8}-{os.getpid()}-{'a' * 12}.tlsave.tmp",  # another host
            tmp_path / '.notes.txt', tmp_path / 'x.tlsave.tmp']
    host = left[0].split('.')[-3].split('-')[0]
    live = tmp_path / f".other.npz.{host}-1-{'b' * 12}.tlsave.tmp"  # pid 1 runs
    for extra in (*keep, live):
        extra.write_bytes(b'x')
    tl.save({'w': np.ones(2)}, tmp_path / 'other.npz')  # any save into the directory cleans up
    assert not any((tmp_path / name).exists() for name in left)
    assert all(extra.exists() for extra in (*keep, live))
    assert tl.load(path)['epoch'] >= 1


def test_a_handler_of_the_program_is_left_alone(tmp_path):
    """A program's own SIGTERM handler runs; save goes on and completes."""
    code = """
import os, signal, sys
import numpy as np
import tinygrad_ls as tl
seen = []
signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
np.lib.format.write_array_original = np.lib.format.write_array
def write_and_signal(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    return np.lib.format.write_array_original(*args, **kwargs)
np.lib.format.write_array = write_and_signal
tl.save({'w': np.ones(3)}, sys.argv[1])
print(sorted(set(seen)), sorted(tl.load(sys.argv[1])))
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([sys.executable, '-c', code, str(tmp_path / 'ckpt.npz')], capture_output=True,
                            text=True, timeout=TIMEOUT, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"[{int(signal.SIGTERM)}]", "['w']"]
    assert temp_files(tmp_path) == []


# ---- permissions and symlinks ---------------------------------------------------------------------

@pytest.mark.parametrize('mode', [0o600, 0o640, 0o444])
def test_an_existing_file_keeps_its_permission_bits(mode, tmp_path):
    path = tmp_path / 'ckpt.npz'
    tl.save({'w': np.ones(2)}, path)
    os.chmod(path, mode)
    tl.save({'w': np.zeros(2)}, path)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    np.testing.assert_array_equal(tl.load(path)['w'], np.zeros(2))


def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path):
    tl.save({'w': np.ones(2)}, tmp_path / 'new.npz')
    (tmp_path / 'plain').write_bytes(b'')
    mode = stat.S_IMODE((tmp_path / 'plain').stat().st_mode)
    assert stat.S_IMODE((tmp_path / 'new.npz').stat().st_mode) == mode


def test_a_symlink_is_written_through(tmp_path):
    store = tmp_path / 'store'
    store.mkdir()
    target = store / 'real.npz'
    tl.save({'w': np.ones(2)}, target)
    os.chmod(target, 0o600)
    link = tmp_path / 'latest.npz'
    link.symlink_to(target)
    tl.save({'w': np.zeros(2)}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(tl.load(target)['w'], np.zeros(2))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ['latest.npz', 'store']
    dangling = tmp_path / 'next.npz'
    dangling.symlink_to(store / 'next-real.npz')
    tl.save({'w': np.ones(1)}, dangling)  # as open() would: the target is created
    assert dangling.is_symlink() and (store / 'next-real.npz').is_file()
