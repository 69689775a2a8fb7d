"""DistributedDataParallel like PyTorch's, and nothing hangs (issue 20): real `mpirun -n 2` and
`-n 3` runs of tests/mpi_scripts/ddp_{buffers,mismatch,uneven,raise}.py.

- buffers (BatchNorm running statistics) are broadcast from rank 0 at each forward, also at
  a compiled step's replays; ``broadcast_buffers=False`` lets them drift;
- replicas that differ (order, sizes, dtypes, buffers, frozen parameters) are refused at wrap
  time on every rank, naming the first difference; mismatched all_reduce arrays too;
- unequal batch counts raise on every rank (a plain loop, the end of a script, fit), and
  ``with ddp.join():`` trains them with PyTorch's Join semantics (zeros shadowing, the
  divisor PyTorch uses), compared with one process doing the same arithmetic;
- an uncaught exception on one rank ends the whole job with its traceback.

Every run is bounded: mpirun's own time limit (MPIEXEC_TIMEOUT) and subprocess.run(timeout=).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls.nn import functional as F

SCRIPTS = Path(__file__).resolve().parent / 'mpi_scripts'
ROOT = Path(__file__).resolve().parents[1]
MPIRUN = shutil.which('mpirun')
HAVE_MPI4PY = importlib.util.find_spec('mpi4py') is not None
pytestmark = pytest.mark.skipif(MPIRUN is None or not HAVE_MPI4PY,
                                reason="needs `mpirun` (Open MPI or MPICH) and mpi4py "
                                       "(pip install 'tinygrad_ls[distributed]')")
TIMEOUT = 90


def mpirun(script: str, *arguments: str, n: int, ok: bool = True) -> subprocess.CompletedProcess:
    """Run tests/mpi_scripts/<script> on ``n`` processes (as root too; more ranks than cores),
    killed by mpirun itself after TIMEOUT - 10 s and by subprocess.run after TIMEOUT."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT='1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1',
               OMPI_MCA_rmaps_base_oversubscribe='1', MPIEXEC_TIMEOUT=str(TIMEOUT - 10),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    command = [MPIRUN, '-n', str(n), sys.executable, str(SCRIPTS / script), *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert 'time limit for job execution has been reached' not in result.stderr, result.stderr
    if ok:
        failure = f"mpirun failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        assert result.returncode == 0, failure
    return result


def script_module(name: str):
    sys.path.insert(0, str(SCRIPTS))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(SCRIPTS))


# ---- buffers --------------------------------------------------------------------------------------

@pytest.mark.parametrize('n', [2, 3])
@pytest.mark.parametrize('mode', ['eager', 'compiled', 'off'])
def test_batchnorm_statistics_are_rank_zeros_at_every_forward(mode, n, tmp_path):
    """With broadcast: rank r's statistics after step k are rank 0's after step k - 1 moved by
    rank r's batch k; without, each rank moves its own (and they drift apart)."""
    script = script_module('ddp_buffers')
    mpirun('ddp_buffers.py', str(tmp_path), mode, n=n)
    runs = [np.load(tmp_path / f"rank{r}.npz") for r in range(n)]
    m = script.MOMENTUM
    for rank, run in enumerate(runs):
        previous_mean, previous_var = np.zeros(4), np.ones(4)
        for k in range(script.STEPS):
            x = script.batch(rank, k)[0]
            expected_mean = (1 - m) * previous_mean + m * x.mean(axis=0)
            expected_var = (1 - m) * previous_var + m * x.var(axis=0, ddof=1)
            np.testing.assert_allclose(run['means'][k], expected_mean, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(run['variances'][k], expected_var, rtol=1e-12, atol=1e-12)
            source = runs[0] if mode != 'off' else run  # whose statistics the next step starts from
            previous_mean, previous_var = source['means'][k], source['variances'][k]
    if mode == 'compiled':
        assert all(run['recordings'] == 1 for run in runs)  # the steps after the first were replays
    drift = max(np.abs(run['after_eval'] - runs[0]['after_eval']).max() for run in runs)
    if mode == 'off':
        assert drift > 1.0  # rank r's inputs are shifted by 3 r: its mean goes its own way
        assert not np.allclose(runs[-1]['evaluated'], runs[0]['evaluated'])
    else:  # the first no-grad forward after training broadcasts too (PyTorch's rule)
        assert drift == 0.0
        for run in runs:
            np.testing.assert_array_equal(run['evaluated'], runs[0]['evaluated'])


# ---- replicas that differ -------------------------------------------------------------------------

EXPECTED = {
    'order': "rank 0 has parameter 'first.weight' of shape (8, 3) and dtype float64 but rank {odd} has "
             "parameter 'second.weight' of shape (2, 8)",
    'hidden': "rank 0 has parameter 'first.weight' of shape (8, 3) and dtype float64 but rank {odd} has "
              "parameter 'first.weight' of shape (16, 3)",
    'dtype': "and dtype float64 but rank {odd} has parameter 'first.weight' of shape (8, 3) and dtype "
             "float32",
    'buffer': "rank 0 has parameter 'norm.weight' of shape (3,) and dtype float32 but rank {odd} has "
              "parameter 'norm.weight' of shape (5,)",
    'frozen': "rank 0 has parameter 'first.bias' of shape (8,) and dtype float64 but rank {odd} has "
              "parameter 'first.bias' of shape (8,) and dtype float64 (frozen)",
    'extra': "rank 0 has 4 parameters and buffers but rank {odd} has 6: the first one only rank {odd} has is "
             "parameter 'third.weight'",
    'allreduce-size': "all_reduce(op='sum') of 4 float64 elements",
}


@pytest.mark.parametrize('n', [2, 3])
def test_replicas_that_differ_are_refused_on_every_rank_naming_the_first_difference(n, tmp_path):
    mpirun('ddp_mismatch.py', str(tmp_path), n=n)
    odd = n - 1
    for case, fragment in EXPECTED.items():
        messages = [(tmp_path / f"{case}.rank{r}.txt").read_text() for r in range(n)]
        assert len(set(messages)) == 1, messages  # the same error on every rank
        assert messages[0].startswith('Mismatch: '), messages[0]
        assert fragment.format(odd=odd) in messages[0], (case, messages[0])
    assert all((tmp_path / f"same.rank{r}.txt").read_text() == 'no error' for r in range(n))
    assert 'MPI_ERR' not in (tmp_path / 'allreduce-size.rank0.txt').read_text()


# ---- uneven inputs -------------------------------------------------------------------------------

def messages_of(directory: Path, n: int) -> list[str]:
    return [(directory / f"rank{r}.txt").read_text() for r in range(n)]


@pytest.mark.parametrize('n', [2, 3])
@pytest.mark.parametrize('mode', ['loop', 'fit'])
def test_unequal_batch_counts_raise_on_every_rank(mode, n, tmp_path):
    mpirun('ddp_uneven.py', str(tmp_path), mode, n=n)
    for message in messages_of(tmp_path, n):
        assert message.startswith('Mismatch: ') and 'the ranks are out of step' in message, message
        assert "rank 0: all_reduce(op='sum')" in message  # rank 0 (3 batches) ran out first
        assert 'a training forward of DistributedDataParallel #0 (its synchronising forward number 4)' \
            in message
        assert 'uneven inputs' in message and 'with ddp.join():' in message


@pytest.mark.parametrize('n', [2, 3])
def test_a_rank_that_reaches_the_end_of_its_script_early_ends_the_job_with_the_error(n, tmp_path):
    result = mpirun('ddp_uneven.py', str(tmp_path), 'loop-exit', n=n, ok=False)
    assert result.returncode != 0
    assert ('tinygrad_ls.distributed: Mismatch: rank 0 at the end of its script: the ranks are out of step'
            in result.stderr), result.stderr
    assert 'rank 0: the end of its script (after 3 synchronising forwards)' in result.stderr
    assert (tmp_path / 'rank0.txt').read_text() == 'finished the loop'
    longer = [tmp_path / f"rank{r}.txt" for r in range(1, n)]
    for path in longer:  # (written unless the abort came first)
        if path.exists():
            assert path.read_text().startswith('Mismatch: ') and 'the end of its script' in path.read_text()


def joined_training(n: int, divide_by_initial_world_size: bool) -> dict:
    """One process doing what ``join()`` does on ``n`` ranks with 3 + r batches each: at each
    step the gradients of the ranks that still have a batch, summed (a joined rank adds
    zeros) and divided by ``n`` (or by the number of those ranks); BatchNorm statistics as
    the highest rank's, which has batches to the end and whose state is broadcast last."""
    script = script_module('ddp_uneven')
    data = [script.batches(rank) for rank in range(n)]
    model = script.make_model()
    for step in range(3 + n - 1):
        active = [rank for rank in range(n) if step < len(data[rank])]
        state = model.state_dict()
        grads = []
        for rank in active:
            replica = script.make_model()
            replica.load_state_dict(state)
            x, y = data[rank][step]
            F.cross_entropy(replica(tl.Value(x)), y).backward()
            grads.append([p.grad for p in replica.parameters()])
            if rank == n - 1:
                buffers = {k: v for k, v in replica.state_dict().items()
                           if 'running' in k or 'num_batches' in k}
        divisor = n if divide_by_initial_world_size else len(active)
        with tl.no_grad():
            for index, param in enumerate(model.parameters()):
                param.data -= 0.1 * sum(g[index] for g in grads) / divisor
        model.load_state_dict({**model.state_dict(), **buffers})
    return model.state_dict()


@pytest.mark.parametrize('n', [2, 3])
@pytest.mark.parametrize('mode, divide', [('join', True), ('join-active', False)])
def test_join_trains_uneven_inputs_with_pytorchs_divisor(mode, divide, n, tmp_path, restore_default_dtype):
    mpirun('ddp_uneven.py', str(tmp_path), mode, n=n)
    states = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(n)]
    for state in states[1:]:  # every replica ends equal
        for key, value in state.items():
            np.testing.assert_array_equal(value, states[0][key], err_msg=key)
    expected = joined_training(n, divide)
    for key, value in expected.items():
        np.testing.assert_allclose(states[0][key], value, rtol=1e-10, atol=1e-12, err_msg=key)
    if n == 3 and divide:  # the other divisor gives other weights: the test can tell them apart
        other = joined_training(n, not divide)
        assert not np.allclose(other['0.weight'], states[0]['0.weight'])


def test_join_with_throw_on_early_termination_raises_on_every_rank(tmp_path):
    mpirun('ddp_uneven.py', str(tmp_path), 'join-throw', n=3)
    messages = messages_of(tmp_path, 3)
    assert messages[0] == 'RuntimeError: Rank 0 exhausted all inputs.'
    for message in messages[1:]:
        assert message.startswith('RuntimeError: Detected at least one rank that exhausted inputs '
                                  '(ranks [0])')


# ---- an exception on one rank ----------------------------------------------------------------------

@pytest.mark.parametrize('n', [2, 3])
def test_an_uncaught_exception_on_one_rank_ends_the_job_with_its_traceback(n):
    result = mpirun('ddp_raise.py', n=n, ok=False)
    assert result.returncode != 0
    banner = f"tinygrad_ls.distributed: uncaught ZeroDivisionError on rank {n - 1} of {n}; aborting"
    assert banner in result.stderr
    assert 'print(1 / 0)  # the failing line' in result.stderr
    assert 'ZeroDivisionError: division by zero' in result.stderr
