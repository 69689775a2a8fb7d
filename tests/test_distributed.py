"""tl.distributed: the sampler's index arithmetic, the single-process fallbacks, and real MPI
runs (`mpirun -n 2` on the scripts in tests/mpi_scripts/): collectives, DDP equal to one
process on the whole batches, fit with DDP and DistributedSampler, the demo's smoke test.
Faults under mpirun (buffers, replicas that differ, uneven inputs, join, an exception on one
rank) are in test_distributed_faults.py; their single-process pieces are at the end here."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import load_demo

import tinygrad_ls as tl
import tinygrad_ls.distributed as dist
from tinygrad_ls import nn, optim
from tinygrad_ls.distributed import DistributedDataParallel, DistributedSampler
from tinygrad_ls.nn import functional as F

SCRIPTS = Path(__file__).resolve().parent / 'mpi_scripts'
MPIRUN = shutil.which('mpirun')
HAVE_MPI4PY = importlib.util.find_spec('mpi4py') is not None
needs_mpi = pytest.mark.skipif(MPIRUN is None or not HAVE_MPI4PY,
                               reason="needs `mpirun` (Open MPI or MPICH) and mpi4py "
                                      "(pip install 'tinygrad_ls[distributed]')")


def mpirun(script: str, *arguments: str, n: int = 2) -> subprocess.CompletedProcess:
    """Run tests/mpi_scripts/<script> on ``n`` processes (as root too; more ranks than cores)."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT='1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM='1',
               OMPI_MCA_rmaps_base_oversubscribe='1')
    command = [MPIRUN, '-n', str(n), sys.executable, str(SCRIPTS / script), *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, f"mpirun failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


# ---- DistributedSampler: index arithmetic, no MPI ------------------------------------------------
def shares(n: int, replicas: int, **kwargs) -> list[list[int]]:
    return [list(DistributedSampler(range(n), num_replicas=replicas, rank=r, **kwargs))
            for r in range(replicas)]


def test_sampler_in_order_pads_by_repeating_the_first_indices():
    assert shares(10, 4, shuffle=False) == [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]
    assert shares(8, 2, shuffle=False) == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert shares(2, 5, shuffle=False) == [[0], [1], [0], [1], [0]]  # padding longer than the data
    sampler = DistributedSampler(range(10), num_replicas=4, rank=0, shuffle=False)
    assert len(sampler) == sampler.num_samples == 3 and sampler.total_size == 12


def test_sampler_drop_last_drops_the_tail():
    assert shares(10, 4, shuffle=False, drop_last=True) == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert shares(8, 4, shuffle=False, drop_last=True) == [[0, 4], [1, 5], [2, 6], [3, 7]]
    assert len(DistributedSampler(range(10), num_replicas=4, rank=1, drop_last=True)) == 2


def test_sampler_shuffles_with_seed_plus_epoch():
    perm = np.random.default_rng(5).permutation(11).tolist()  # seed 2 + epoch 3
    padded = perm + perm[:1]
    got = []
    for rank in range(3):
        sampler = DistributedSampler(range(11), num_replicas=3, rank=rank, seed=2)
        sampler.set_epoch(3)
        got.append(list(sampler))
        assert got[-1] == padded[rank::3]
    assert sorted(sum(got, [])) == sorted(padded)
    first = DistributedSampler(range(11), num_replicas=3, rank=0, seed=2)
    assert list(first) == np.random.default_rng(2).permutation(11).tolist()[0::3]  # epoch 0
    assert list(first) == list(first)  # the same order until set_epoch changes it


def test_sampler_defaults_to_the_process_group_and_checks_rank():
    sampler = DistributedSampler(range(5))
    assert (sampler.num_replicas, sampler.rank, sampler.shuffle) == (1, 0, True)
    with pytest.raises(ValueError, match='rank'):
        DistributedSampler(range(5), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match='num_replicas'):
        DistributedSampler(range(5), num_replicas=0, rank=0)


def test_dataloader_takes_a_sampler():
    data = tl.data.TensorDataset(np.arange(10.0), np.arange(10))
    sampler = DistributedSampler(data, num_replicas=2, rank=1, shuffle=False)
    loader = tl.data.DataLoader(data, batch_size=2, sampler=sampler)
    assert len(loader) == 3
    assert [yb.data.tolist() for _, yb in loader] == [[1, 3], [5, 7], [9]]
    with pytest.raises(ValueError, match='sampler'):
        tl.data.DataLoader(data, sampler=sampler, shuffle=True)


# ---- one process: the fallbacks -------------------------------------------------------------------
def test_single_process_collectives_are_no_ops():
    if not dist.is_initialized():
        assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
    array = np.array([1.0, 2.0])
    for op in ('sum', 'mean', 'max', 'min', 'prod'):
        assert dist.all_reduce(array, op=op) is array and array.tolist() == [1.0, 2.0]
    assert dist.broadcast(array) is array
    dist.barrier()
    with pytest.raises(ValueError, match='op must be one of'):
        dist.all_reduce(array, op='median')
    with pytest.raises(TypeError, match='ndarray'):
        dist.all_reduce([1.0])
    with pytest.raises(ValueError, match='src'):
        dist.broadcast(array, src=1)


def test_init_without_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setattr(dist.comm, '_comm', None)
    monkeypatch.setitem(sys.modules, 'mpi4py', None)  # makes `from mpi4py import MPI` fail
    with pytest.raises(ImportError, match=r"pip install 'tinygrad_ls\[distributed\]'"):
        dist.init()
    assert not dist.is_initialized()


def test_ddp_wrapper_in_one_process_keeps_gradients_and_prefixes_state_dict():
    tl.manual_seed(0)
    model = nn.MLP([4, 8, 3])
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.0001)  # 100 bytes: one bucket per parameter
    assert ddp.module is model
    assert list(ddp.state_dict()) == [f"module.{name}" for name in model.state_dict()]
    assert ddp.buckets == [['layers.2.bias'], ['layers.2.weight'], ['layers.0.bias'], ['layers.0.weight']]
    x = tl.Value(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32))
    ddp(x).sum().backward()
    wrapped = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    model(x).sum().backward()
    for got, p in zip(wrapped, model.parameters()):
        np.testing.assert_array_equal(got, p.grad)
    assert ddp.reductions == 8  # 4 buckets, twice: a backward without forward is averaged too
    assert len(DistributedDataParallel(model).buckets) == 1  # the default 1 MB holds it all


def test_ddp_frozen_and_unused_parameters_do_not_stall_buckets():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.used, self.unused = nn.Linear(3, 4), nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, x):
            return self.used(self.body(x))

    model = TwoHeads()
    model.body.weight.requires_grad_(False)
    ddp = DistributedDataParallel(model, bucket_cap_mb=1e-6)  # one parameter per bucket
    ddp(tl.Value(np.ones((2, 3), dtype=np.float32))).sum().backward()
    assert model.body.weight.grad is None and model.unused.weight.grad is None
    assert model.used.weight.grad is not None and model.body.bias.grad is not None
    assert ddp.reductions == len(ddp.buckets) == 5  # every bucket once, the unused ones with zeros


def test_fit_with_a_sampler_in_one_process_sets_the_epoch():
    data = tl.data.TensorDataset(np.random.default_rng(0).standard_normal((12, 3)), np.arange(12) % 2)
    sampler = DistributedSampler(data, seed=1)
    model = DistributedDataParallel(nn.MLP([3, 4, 2]).double())
    history = tl.train.fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1),
                           tl.data.DataLoader(data, batch_size=4, sampler=sampler), epochs=3, progress=False)
    assert sampler.epoch == 2 and len(history['loss']) == 3


# ---- real MPI runs --------------------------------------------------------------------------------
@needs_mpi
def test_collectives_under_mpirun():
    result = json.loads(mpirun('collectives.py').stdout)
    assert result['world'] == 2 and result['initialized']
    assert result['sum'] == [12.0, 14.0, 16.0] and result['mean'] == result['AVG'] == [6.0, 7.0, 8.0]
    assert result['max'] == [11.0, 12.0, 13.0] and result['min'] == [1.0, 2.0, 3.0]
    assert result['prod'] == [11.0, 24.0, 39.0]
    assert all(result[f"{op}_same_object"] for op in ('sum', 'mean', 'max', 'min', 'prod'))
    assert result['int_sum'] == [0, 3, 6, 9]
    assert result['strided'] == [[0.0, 6.0], [12.0, 18.0]]
    assert result['broadcast_from_1'] == [[8.0, 8.0], [8.0, 8.0]]
    assert result['everyone'] == [1.0, 1.0]


@needs_mpi
def test_ddp_on_two_halves_equals_one_process_on_whole_batches(tmp_path, restore_default_dtype):
    sys.path.insert(0, str(SCRIPTS))
    try:
        import ddp_equivalence as script
    finally:
        sys.path.remove(str(SCRIPTS))
    mpirun('ddp_equivalence.py', str(tmp_path / 'out.npz'))
    saved = np.load(tmp_path / 'out.npz')
    assert saved['world'] == 2 and saved['buckets'] >= 2
    assert saved['reductions'] == script.STEPS * saved['buckets']  # one Allreduce per bucket per step

    model = script.make_model(seed=0)  # rank 0's initial weights, broadcast to rank 1 at wrap time
    optimizer = optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    X, y = script.make_data()
    for step in range(script.STEPS):
        batch = slice(step * script.BATCH, (step + 1) * script.BATCH)
        optimizer.zero_grad()
        F.cross_entropy(model(tl.Value(X[batch])), y[batch]).backward()
        optimizer.step()
    for name, p in model.named_parameters():
        assert p.dtype == np.float64
        np.testing.assert_allclose(saved[f"param_{name}"], p.data, rtol=0, atol=1e-10, err_msg=name)


@needs_mpi
@pytest.mark.parametrize('compile', [False, True], ids=['eager', 'compiled'])
def test_fit_with_ddp_and_sampler_under_mpirun(tmp_path, compile):
    result = mpirun('ddp_fit.py', str(tmp_path / 'out.json'), *(['--compile'] if compile else []))
    saved = json.loads((tmp_path / 'out.json').read_text())
    assert saved['checksum_spread'] == 0.0  # the replicas stayed identical
    assert saved['epoch'] == 2  # fit called set_epoch
    history = saved['history']
    assert len(history['loss']) == 3 and history['loss'][-1] < history['loss'][0]
    # 15 validation samples padded to 16: each accuracy is a multiple of 1/16, averaged over both ranks
    assert all(abs(a * 16 - round(a * 16)) < 1e-9 for a in history['val_accuracy'])
    assert result.stderr.count('3/3') == 1  # only rank 0 draws the progress bar


def test_ddp_digits_demo_smoke(capsys):
    out = load_demo('ddp_digits').main(epochs=3, n_samples=600, show_progress=False)
    assert out['world_size'] == 1
    assert out['test_accuracy'] > 0.8
    assert len(out['history']['loss']) == 3
    assert 'mpirun -n 2' in capsys.readouterr().out


# ---- issue 20 in one process: the pieces the MPI runs of test_distributed_faults.py rely on ----
def test_ddp_options_and_join_in_one_process():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    with pytest.raises(TypeError, match='broadcast_buffers must be a bool'):
        DistributedDataParallel(model, broadcast_buffers='yes')
    ddp = DistributedDataParallel(model, broadcast_buffers=False)
    assert ddp.broadcast_buffers is False
    with ddp.join():  # one process: nothing to shadow
        ddp(tl.Value(np.ones((2, 3), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_compiled_step_calls_the_ddp_pre_forward_at_every_replay():
    calls = []

    class CountingDDP(DistributedDataParallel):
        def _pre_forward(self, grad_enabled):
            calls.append(grad_enabled)
            return super()._pre_forward(grad_enabled)

    tl.manual_seed(0)
    ddp = CountingDDP(nn.Linear(3, 2))
    optimizer = optim.SGD(ddp.parameters(), lr=0.1)

    def step(x):
        optimizer.zero_grad()
        loss = ddp(tl.Value(x)).square().mean()
        loss.backward()
        optimizer.step()
        return loss

    compiled = tl.compile(step)
    for _ in range(4):
        compiled(np.ones((5, 3), dtype=np.float32))
    assert compiled.recordings == 1 and calls == [True] * 4


def test_the_replica_description_and_its_first_difference():
    from tinygrad_ls.distributed import replicas
    one = replicas.description(nn.MLP([3, 4, 2]), 1.0, True)
    assert one[0] == 'settings bucket_cap_mb=1.0, broadcast_buffers=True'
    assert one[1] == "parameter 'layers.0.weight' of shape (4, 3) and dtype float32"
    other = replicas.description(nn.MLP([3, 5, 2]), 1.0, True)
    assert replicas.digest(one) != replicas.digest(other)
    assert replicas.digest(one) == replicas.digest(list(one))
    assert replicas.first_difference([one, one, other]).startswith(
        "at position 0 of the parameters and buffers (in registration order) rank 0 has parameter "
        "'layers.0.weight' of shape (4, 3) and dtype float32 but rank 2 has parameter 'layers.0.weight' "
        "of shape (5, 3)")
    settings = replicas.description(nn.MLP([3, 4, 2]), 2.0, True)
    assert 'rank 0 has the settings bucket_cap_mb=1.0' in replicas.first_difference([one, settings])


def test_lockstep_messages_name_every_rank():
    from tinygrad_ls.distributed import lockstep
    float64 = lockstep.dtype_code(np.float64)
    table = np.stack([lockstep.record(lockstep.COLLECTIVE, size=2, dtype=float64, op=0),
                      lockstep.record(lockstep.STEP, count=4, flags=lockstep.REDUCE),
                      lockstep.record(lockstep.STEP, count=4, flags=lockstep.REDUCE)])
    with pytest.raises(lockstep.Mismatch) as info:
        lockstep.agree(table, ('kind',), 'here')
    message = str(info.value)
    assert message.startswith("here: the ranks are out of step (rank 0: all_reduce(op='sum') of 2 float64 "
                              "elements; ranks 1, 2: a training forward of DistributedDataParallel #0")
    assert 'with ddp.join():' in message
    lockstep.agree(table[1:], ('kind', 'count'), 'here')  # equal: no error


def test_the_excepthook_prints_the_traceback_then_aborts(monkeypatch, capsys):
    aborted = []

    class FakeComm:
        def Abort(self, code):
            aborted.append(code)

        def Get_rank(self):
            return 1

        def Get_size(self):
            return 2

    monkeypatch.setattr(dist.comm, '_comm', FakeComm())
    monkeypatch.setattr(dist.comm, 'ABORT_GRACE', 0.0)
    printed = []
    hook = dist.comm._aborting_excepthook(lambda kind, value, trace: printed.append((kind, str(value))))
    try:
        raise ZeroDivisionError('boom')
    except ZeroDivisionError as error:
        hook(type(error), error, error.__traceback__)
    assert printed == [(ZeroDivisionError, 'boom')] and aborted == [1]
    assert 'uncaught ZeroDivisionError on rank 1 of 2; aborting the job' in capsys.readouterr().err
