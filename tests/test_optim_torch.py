"""PyTorch parity for optim: parameter trajectories and lr sequences against torch.optim.

Every case builds the same small problem (a tanh regression with a quartic penalty, three
parameters of shapes (3, 2), (2,) and (), plus one parameter the loss does not use, so its
grad stays None) from identical float64 starts in tinygrad_ls and in torch, runs the same
optimizer for 25 steps, and compares every parameter after every step to 1e-10. LBFGS runs
on Rosenbrock's function and on a convex quartic, with and without the strong-Wolfe line
search. Schedulers must give exactly PyTorch's floats.

The whole module is skipped when torch is not installed.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygrad_ls as tl

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

RTOL = 1e-10
ATOL = 1e-12
STEPS = 25

_rng = np.random.default_rng(0)
X = _rng.normal(size=(6, 3))
Y = _rng.normal(size=(6, 2))
INIT = [_rng.normal(size=(3, 2)), _rng.normal(size=(2,)), np.array(0.7), _rng.normal(size=(4,))]


Value = tl.Value


# ---- the problem, in both libraries ---------------------------------------------------------
def loss_tl(w, b, c):
    pred = (Value(X.astype(w.dtype)) @ w + b).tanh() * c
    return ((pred - Value(Y.astype(w.dtype))) ** 2).mean() + 0.05 * (w ** 4).sum()


def loss_torch(w, b, c):
    pred = torch.tanh(torch.from_numpy(X).to(w.dtype) @ w + b) * c
    return ((pred - torch.from_numpy(Y).to(w.dtype)) ** 2).mean() + 0.05 * (w ** 4).sum()



def make_params(dtype=np.float64):
    tl_params = [tl.nn.Parameter(a.astype(dtype)) for a in INIT]
    torch_params = [torch.tensor(a.astype(dtype), requires_grad=True) for a in INIT]
    return tl_params, torch_params


def trajectories(name, kwargs, groups=None, steps=STEPS, dtype=np.float64):
    """Run optimizer ``name`` in both libraries; return both lists of per-step parameter copies
    and both optimizers. ``groups``: a function of the parameter list giving param groups."""
    tl_params, torch_params = make_params(dtype)
    tl_opt = getattr(tl.optim, name)(groups(tl_params) if groups else tl_params, **kwargs)
    torch_opt = getattr(torch.optim, name)(groups(torch_params) if groups else torch_params, **kwargs)
    tl_traj, torch_traj = [], []
    for _ in range(steps):
        tl_opt.zero_grad()
        loss_tl(*tl_params[:3]).backward()
        tl_opt.step()
        tl_traj.append([p.data.copy() for p in tl_params])
        torch_opt.zero_grad()
        loss_torch(*torch_params[:3]).backward()
        torch_opt.step()
        torch_traj.append([p.detach().numpy().copy() for p in torch_params])
    return tl_traj, torch_traj, tl_opt, torch_opt


def assert_same_trajectory(tl_traj, torch_traj, rtol=RTOL, atol=ATOL):
    for step, (ours, theirs) in enumerate(zip(tl_traj, torch_traj)):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert a.dtype == b.dtype, f"step {step}, param {i}: dtype {a.dtype} vs torch {b.dtype}"
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"step {step}, param {i}")


def assert_same_state(tl_opt, torch_opt):
    """Same state entries, same values (torch's 0-d step tensor against our int)."""
    ours, theirs = tl_opt.state_dict()['state'], torch_opt.state_dict()['state']
    assert sorted(ours) == sorted(theirs)
    for index in theirs:
        assert sorted(ours[index]) == sorted(theirs[index]), index
        for key, value in theirs[index].items():
            np.testing.assert_allclose(np.asarray(ours[index][key]), value.numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=f"state[{index}][{key!r}]")


def grid(**options):
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*options.values())]


def case_id(kwargs):
    return ','.join(f"{k}={v}" for k, v in kwargs.items())


# ---- optimizers --------------------------------------------------------------------------------
SGD_CASES = [kw for kw in grid(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.3], nesterov=[False, True],
                               weight_decay=[0.0, 0.1], maximize=[False])
             if not (kw['nesterov'] and (kw['momentum'] == 0 or kw['dampening'] != 0))]
SGD_CASES.append(dict(lr=0.01, momentum=0.5, maximize=True))
ADAM_CASES = grid(lr=[0.05], betas=[(0.9, 0.999), (0.5, 0.8)], weight_decay=[0.0, 0.1],
                  amsgrad=[False, True])
ADAM_CASES += [dict(lr=0.02, maximize=True),
               dict(lr=0.1, eps=1e-3, decoupled_weight_decay=True, weight_decay=0.2)]
ADAMW_CASES = grid(lr=[0.05], weight_decay=[0.01, 0.5], amsgrad=[False, True])
ADAMW_CASES.append(dict(lr=0.02, maximize=True))
RMSPROP_CASES = grid(lr=[0.01], alpha=[0.99, 0.6], centered=[False, True], momentum=[0.0, 0.9],
                     weight_decay=[0.0, 0.1])
RMSPROP_CASES.append(dict(lr=0.01, eps=1e-2, maximize=True, centered=True))
ADAGRAD_CASES = grid(lr=[0.1], lr_decay=[0.0, 0.1], weight_decay=[0.0, 0.1],
                     initial_accumulator_value=[0.0, 0.5])
ADAGRAD_CASES.append(dict(lr=0.1, eps=1e-3, maximize=True))

CASES = ([('SGD', kw) for kw in SGD_CASES] + [('Adam', kw) for kw in ADAM_CASES]
         + [('AdamW', kw) for kw in ADAMW_CASES] + [('RMSprop', kw) for kw in RMSPROP_CASES]
         + [('Adagrad', kw) for kw in ADAGRAD_CASES])


@pytest.mark.parametrize('name,kwargs', CASES, ids=[f"{n}[{case_id(kw)}]" for n, kw in CASES])
def test_trajectory_matches_torch(name, kwargs):
    tl_traj, torch_traj, tl_opt, torch_opt = trajectories(name, kwargs)
    assert_same_trajectory(tl_traj, torch_traj)
    np.testing.assert_array_equal(tl_traj[-1][3], INIT[3])  # grad None: never moved
    assert tl_opt.param_groups[0]['params'][3] not in tl_opt.state
    if name != 'Adagrad':  # torch's Adagrad fills every parameter's state in its constructor
        assert_same_state(tl_opt, torch_opt)


@pytest.mark.parametrize('name,kwargs', [('SGD', dict(lr=0.05, momentum=0.9, nesterov=True)),
                                         ('Adam', dict(lr=0.05, amsgrad=True)), ('AdamW', dict(lr=0.05)),
                                         ('RMSprop', dict(lr=0.01, centered=True, momentum=0.5)),
                                         ('Adagrad', dict(lr=0.1, lr_decay=0.05))])
def test_param_groups_match_torch(name, kwargs):
    """Two groups with their own lr (and weight decay), the rest from the defaults."""
    def groups(params):
        return [{'params': params[:1], 'lr': 0.02, 'weight_decay': 0.3}, {'params': params[1:]}]
    tl_traj, torch_traj, _, _ = trajectories(name, kwargs, groups=groups)
    assert_same_trajectory(tl_traj, torch_traj)


@pytest.mark.parametrize('name,kwargs', [('SGD', dict(lr=0.05, momentum=0.9)), ('Adam', dict(lr=0.05)),
                                         ('AdamW', dict(lr=0.05, amsgrad=True)),
                                         ('RMSprop', dict(lr=0.01, centered=True, momentum=0.5)),
                                         ('Adagrad', dict(lr=0.1))])
def test_float32_trajectory_matches_torch(name, kwargs):
    """float32 parameters stay float32 and follow torch's float32 run closely."""
    tl_traj, torch_traj, tl_opt, _ = trajectories(name, kwargs, steps=10, dtype=np.float32)
    assert_same_trajectory(tl_traj, torch_traj, rtol=2e-5, atol=1e-6)
    for state in tl_opt.state.values():
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, key


def test_schedulers_drive_optimizer_like_torch():
    """Adam under a CosineAnnealingLR: the lr reaches the update rule every step."""
    tl_params, torch_params = make_params()
    tl_opt, torch_opt = tl.optim.Adam(tl_params, lr=0.1), torch.optim.Adam(torch_params, lr=0.1)
    tl_sched = tl.optim.lr_scheduler.CosineAnnealingLR(tl_opt, T_max=6, eta_min=0.01)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(torch_opt, T_max=6, eta_min=0.01)
    for _ in range(15):
        tl_opt.zero_grad()
        loss_tl(*tl_params[:3]).backward()
        tl_opt.step()
        tl_sched.step()
        torch_opt.zero_grad()
        loss_torch(*torch_params[:3]).backward()
        torch_opt.step()
        torch_sched.step()
        assert tl_sched.get_last_lr() == torch_sched.get_last_lr()
    for a, b in zip(tl_params, torch_params):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=RTOL, atol=ATOL)


# ---- LBFGS ----------------------------------------------------------------------------------------
X0_ROSENBROCK = np.array([-1.2, 1.0, -0.5, 0.8])


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2).sum() + ((1 - x[:-1]) ** 2).sum()


def convex_quartic(x):
    """Strictly convex: 0.5 x.A x + 0.1 sum x^4 - b.x with A = diag(1..n) + 0.3 (off-diagonal)."""
    n = x.shape[0]
    a = np.diag(np.arange(1.0, n + 1)) + 0.3 * (np.ones((n, n)) - np.eye(n))
    rhs = np.linspace(-1.0, 1.0, n)
    if isinstance(x, tl.Value):
        return 0.5 * (x * (Value(a) @ x)).sum() + 0.1 * (x ** 4).sum() - (x * Value(rhs)).sum()
    a, rhs = torch.from_numpy(a), torch.from_numpy(rhs)
    return 0.5 * (x * (a @ x)).sum() + 0.1 * (x ** 4).sum() - (x * rhs).sum()


def lbfgs_runs(fn, x0, kwargs, calls):
    """Run ``calls`` LBFGS steps in both libraries on ``fn``, the parameter split in two
    (so the flat vector is a concatenation). Returns per-call params, losses, eval counts, optimizers."""
    n = len(x0) // 2
    tl_parts = [tl.nn.Parameter(x0[:n].copy()), tl.nn.Parameter(x0[n:].copy())]
    torch_parts = [torch.tensor(x0[:n], requires_grad=True), torch.tensor(x0[n:], requires_grad=True)]
    tl_opt, torch_opt = tl.optim.LBFGS(tl_parts, **kwargs), torch.optim.LBFGS(torch_parts, **kwargs)
    counts = {'tl': 0, 'torch': 0}

    def tl_closure():
        counts['tl'] += 1
        tl_opt.zero_grad()
        loss = fn(tl.concat(tl_parts))
        loss.backward()
        return loss

    def torch_closure():
        counts['torch'] += 1
        torch_opt.zero_grad()
        loss = fn(torch.cat(torch_parts))
        loss.backward()
        return loss

    results = []
    for _ in range(calls):
        tl_loss = tl_opt.step(tl_closure)
        torch_loss = torch_opt.step(torch_closure)
        results.append((np.concatenate([p.data for p in tl_parts]),
                        np.concatenate([p.detach().numpy() for p in torch_parts]),
                        float(tl_loss), torch_loss.item(), counts['tl'], counts['torch']))
    return results, tl_opt, torch_opt


LBFGS_CASES = [
    ('rosenbrock', dict(line_search_fn='strong_wolfe'), 4),
    ('rosenbrock', dict(line_search_fn='strong_wolfe', history_size=3, max_iter=7), 6),
    ('rosenbrock', dict(line_search_fn='strong_wolfe', lr=0.5, max_iter=4, max_eval=6), 6),
    ('rosenbrock', dict(lr=0.05, max_iter=5, history_size=4), 6),
    ('quartic', dict(), 3),
    ('quartic', dict(lr=0.8, max_iter=4, history_size=2), 5),
    ('quartic', dict(line_search_fn='strong_wolfe', history_size=2, max_iter=6), 4),
]


@pytest.mark.parametrize('problem,kwargs,calls', LBFGS_CASES,
                         ids=[f"{p}[{case_id(kw)}]x{c}" for p, kw, c in LBFGS_CASES])
def test_lbfgs_matches_torch(problem, kwargs, calls):
    """Same parameters, losses and closure calls after every ``step(closure)``.

    Rosenbrock's curved valley is ill-conditioned: rounding differences of one ulp (BLAS dot
    products, fused multiply-adds in torch's kernels) grow ~1e5-fold over 20 line searches even
    with identical gradients, so it gets 1e-8; the well-conditioned quartic gets 1e-10. The
    number of closure calls must be equal: every branch of the algorithm is taken alike."""
    if problem == 'rosenbrock':
        fn, x0, rtol = rosenbrock, X0_ROSENBROCK, 1e-8
    else:
        fn, x0, rtol = convex_quartic, np.linspace(2, -1, 6), 1e-10
    results, tl_opt, torch_opt = lbfgs_runs(fn, x0, kwargs, calls)
    for call, (ours, theirs, our_loss, their_loss, our_evals, their_evals) in enumerate(results):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-12, err_msg=f"step call {call}")
        assert our_loss == pytest.approx(their_loss, rel=rtol, abs=1e-14)
        assert our_evals == their_evals, f"step call {call}: closure calls"
    ours, theirs = tl_opt.state[tl_opt.param_groups[0]['params'][0]], next(iter(torch_opt.state.values()))
    assert (ours['func_evals'], ours['n_iter']) == (theirs['func_evals'], theirs['n_iter'])
    assert len(ours['old_dirs']) == len(theirs['old_dirs'])


def test_lbfgs_rosenbrock_reaches_minimum_like_torch():
    kwargs = dict(line_search_fn='strong_wolfe', max_iter=100)
    results, _, _ = lbfgs_runs(rosenbrock, X0_ROSENBROCK, kwargs, 3)
    ours, theirs = results[-1][:2]
    np.testing.assert_allclose(ours, np.ones(4), atol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)


# ---- schedulers -------------------------------------------------------------------------------
SCHEDULER_CASES = [
    ('StepLR', dict(step_size=3)),
    ('StepLR', dict(step_size=4, gamma=0.5)),
    ('ExponentialLR', dict(gamma=0.9)),
    ('LinearLR', dict()),
    ('LinearLR', dict(start_factor=0.5, end_factor=0.1, total_iters=7)),
    ('LinearLR', dict(start_factor=1.0, end_factor=0.0, total_iters=4)),
    ('CosineAnnealingLR', dict(T_max=7)),
    ('CosineAnnealingLR', dict(T_max=5, eta_min=0.003)),
    ('CosineAnnealingLR', dict(T_max=1, eta_min=0.01)),
]


@pytest.mark.parametrize('name,kwargs', SCHEDULER_CASES,
                         ids=[f"{n}[{case_id(kw)}]" for n, kw in SCHEDULER_CASES])
def test_scheduler_lrs_match_torch_exactly(name, kwargs):
    """Two parameter groups with different lrs, 40 epochs: PyTorch's floats, bit for bit."""
    tl_params, torch_params = make_params()
    def groups(params):
        return [{'params': params[:2], 'lr': 0.1}, {'params': params[2:], 'lr': 0.02}]
    tl_opt, torch_opt = tl.optim.SGD(groups(tl_params)), torch.optim.SGD(groups(torch_params))
    ours = getattr(tl.optim.lr_scheduler, name)(tl_opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs)
    assert ours.get_last_lr() == theirs.get_last_lr()
    for epoch in range(40):
        tl_opt.step()
        torch_opt.step()
        ours.step()
        theirs.step()
        assert ours.get_last_lr() == theirs.get_last_lr(), f"epoch {epoch + 1}"
        assert [g['lr'] for g in tl_opt.param_groups] == [g['lr'] for g in torch_opt.param_groups]
        assert ours.last_epoch == theirs.last_epoch
