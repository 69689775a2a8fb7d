"""The schedulers MultiStepLR, LambdaLR, OneCycleLR, CosineAnnealingWarmRestarts and
ReduceLROnPlateau: closed forms, state_dict round trips, argument errors, the warning for
``scheduler.step()`` before ``optimizer.step()``; and PyTorch parity (lr sequences and
momenta over many steps, the same warnings), skipped without torch."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import optim
from tinygrad_ls.optim import lr_scheduler

Parameter = tl.nn.Parameter
RTOL = 1e-12


def two_groups(name='SGD', **options):
    """An optimizer of two groups (lr 0.1 and 0.02) over parameters whose grads stay None."""
    groups = [{'params': [Parameter(np.zeros(2))], 'lr': 0.1},
              {'params': [Parameter(np.zeros(1))], 'lr': 0.02}]
    return getattr(optim, name)(groups, **options)


def run(scheduler, steps, metrics=None):
    """The lrs (and momenta) after construction and after each of ``steps`` epochs."""
    def snapshot():
        groups = scheduler.optimizer.param_groups
        return (scheduler.get_last_lr(), [g.get('momentum', g.get('betas', (None,))[0]) for g in groups])
    rows = [snapshot()]
    for epoch in range(steps):
        scheduler.optimizer.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[epoch])
        assert scheduler.get_last_lr() == [g['lr'] for g in scheduler.optimizer.param_groups]
        rows.append(snapshot())
    return rows


class Halving:
    """A callable object as lr_lambda: its attributes go into the state dict."""

    def __init__(self, every):
        self.every = every

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


# ---- closed forms and rules, no torch needed ---------------------------------------------------

def test_multistep_lr_closed_form_with_repeated_and_unsorted_milestones():
    scheduler = lr_scheduler.MultiStepLR(two_groups(), milestones=[7, 3, 7], gamma=0.5)
    assert scheduler.milestones == {3: 1, 7: 2}
    for epoch, (lrs, _) in enumerate(run(scheduler, 10)):
        passed = sum(m <= epoch for m in (3, 7, 7))
        assert lrs == pytest.approx([0.1 * 0.5 ** passed, 0.02 * 0.5 ** passed], rel=RTOL)


def test_lambda_lr_one_function_or_one_per_group():
    lrs = [row[0] for row in run(lr_scheduler.LambdaLR(two_groups(), lambda epoch: 1 / (epoch + 1)), 5)]
    assert lrs == [[0.1 * (1 / (e + 1)), 0.02 * (1 / (e + 1))] for e in range(6)]  # base_lr * factor
    scheduler = lr_scheduler.LambdaLR(two_groups(), [lambda e: 2.0 ** -e, Halving(2)])
    lrs = [row[0] for row in run(scheduler, 5)]
    assert lrs == [[0.1 * 2.0 ** -e, 0.02 * 0.5 ** (e // 2)] for e in range(6)]


def test_lambda_lr_state_dict_keeps_callable_objects_attributes():
    scheduler = lr_scheduler.LambdaLR(two_groups(), [lambda e: 1.0, Halving(2)])
    run(scheduler, 3)
    state = scheduler.state_dict()
    assert state['lr_lambdas'] == [None, {'every': 2}] and state['last_epoch'] == 3
    other = lr_scheduler.LambdaLR(two_groups(), [lambda e: 1.0, Halving(5)])
    other.load_state_dict(state)
    assert other.lr_lambdas[1].every == 2 and other.last_epoch == 3
    with pytest.raises(ValueError, match="'lr_lambdas' must list 2"):
        other.load_state_dict({**state, 'lr_lambdas': [None]})


def test_cosine_warm_restarts_closed_form():
    eta_min, base = 0.01, [0.1, 0.02]
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(two_groups(), T_0=2, T_mult=2, eta_min=eta_min)
    rows = run(scheduler, 30)
    starts = [0, 2, 6, 14, 30]                         # restarts: periods 2, 4, 8, 16
    for epoch, (lrs, _) in enumerate(rows):
        start = max(s for s in starts if s <= epoch)
        period = 2 * 2 ** starts.index(start)
        expected = [eta_min + (b - eta_min) * (1 + math.cos(math.pi * (epoch - start) / period)) / 2
                    for b in base]
        assert lrs == pytest.approx(expected, rel=RTOL)
    assert rows[6][0] == pytest.approx(base) and rows[14][0] == pytest.approx(base)


@pytest.mark.parametrize('three_phase', [False, True])
def test_one_cycle_end_points_and_momentum(three_phase):
    optimizer = two_groups('SGD', momentum=0.9)
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=[1.0, 0.5], total_steps=100,
                                        three_phase=three_phase)
    rows = run(scheduler, 100)
    lrs = np.array([row[0] for row in rows])
    momenta = np.array([row[1] for row in rows])
    np.testing.assert_allclose(lrs[0], [1.0 / 25, 0.5 / 25], rtol=RTOL)      # max_lr / div_factor
    np.testing.assert_allclose(lrs[29], [1.0, 0.5], rtol=RTOL)               # the peak at pct_start * T - 1
    np.testing.assert_allclose(lrs[99], [1.0 / 25 / 1e4, 0.5 / 25 / 1e4], rtol=RTOL)   # min_lr at T - 1
    assert lrs[:, 0].argmax() == 29
    np.testing.assert_allclose(momenta[0], 0.95) and np.testing.assert_allclose(momenta[29], 0.85)
    np.testing.assert_allclose(momenta[99], 0.95, rtol=RTOL)
    if three_phase:
        np.testing.assert_allclose(lrs[58], [1.0 / 25, 0.5 / 25], rtol=RTOL)   # initial_lr at 2 P T - 2
    assert optimizer.param_groups[0]['max_lr'] == 1.0
    assert optimizer.param_groups[1]['min_lr'] == 0.5 / 25 / 1e4
    with pytest.raises(ValueError, match='tried to step 101 times; total_steps is 100'):
        optimizer.step()
        scheduler.step()
        scheduler.step()
    assert scheduler.last_epoch == 100  # the refused step changed nothing


def test_one_cycle_cycles_adams_beta1_and_keeps_beta2():
    optimizer = two_groups('Adam', betas=(0.9, 0.99))
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, epochs=4, steps_per_epoch=5)
    assert scheduler.total_steps == 20
    betas = [optimizer.param_groups[0]['betas']]
    for _ in range(20):
        optimizer.step()
        scheduler.step()
        betas.append(optimizer.param_groups[0]['betas'])
    assert all(b[1] == 0.99 for b in betas) and betas[0][0] == 0.95 and min(b[0] for b in betas) == 0.85


def test_reduce_lr_on_plateau_rules():
    optimizer = two_groups()
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2, cooldown=1,
                                               min_lr=[0.03, 0.0])
    assert scheduler.get_last_lr() == [0.1, 0.02]  # construction changes nothing
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.5]
    lrs = [row[0] for row in run(scheduler, len(metrics), metrics)]
    # bad epochs: 0.95 x3 (reduce after the third), cooldown 1, 3 more (reduce: group 0 stops at min_lr)
    assert lrs == [[0.1, 0.02]] * 5 + [[0.05, 0.01]] * 4 + [[0.03, 0.005]] * 3
    assert scheduler.best == 0.5 and scheduler.num_bad_epochs == 0


def test_reduce_lr_on_plateau_max_mode_thresholds_and_nan():
    def run_with(metrics, **options):
        scheduler = lr_scheduler.ReduceLROnPlateau(two_groups(), patience=0, **options)
        return [row[0][0] for row in run(scheduler, len(metrics), metrics)][1:]
    assert run_with([1.0, 1.05], mode='max', threshold=0.1) == pytest.approx([0.1, 0.01])     # +5% < +10%
    assert run_with([1.0, 1.2], mode='max', threshold=0.1) == pytest.approx([0.1, 0.1])
    assert run_with([1.0, 0.95], threshold=0.1, threshold_mode='abs') == pytest.approx([0.1, 0.01])
    assert run_with([1.0, float('nan')]) == pytest.approx([0.1, 0.01])             # NaN: not better
    assert run_with([1.0, 2.0], eps=0.5) == pytest.approx([0.1, 0.1])              # change < eps


def test_reduce_lr_on_plateau_takes_values_and_refuses_non_numbers():
    scheduler = lr_scheduler.ReduceLROnPlateau(two_groups())
    scheduler.step(tl.Value(np.array([0.5])))
    assert scheduler.best == 0.5
    with pytest.raises(TypeError, match='ReduceLROnPlateau.step: the metric must be a number'):
        scheduler.step('low')
    with pytest.raises(TypeError, match='ReduceLROnPlateau.step'):
        scheduler.step(np.ones(3))
    assert scheduler.last_epoch == 1


SCHEDULERS = {
    'MultiStepLR': lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[2, 5, 9], gamma=0.3),
    'LambdaLR': lambda opt: lr_scheduler.LambdaLR(opt, Halving(3)),
    'OneCycleLR': lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=20),
    'CosineAnnealingWarmRestarts': lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2),
    'ReduceLROnPlateau': lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1),
}
METRICS = [1.0, 0.8, 0.8, 0.8, 0.9, 0.7, 0.7, 0.7, 0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]


@pytest.mark.parametrize('name', SCHEDULERS)
def test_state_dict_round_trip_through_a_file_resumes_the_schedule(name, tmp_path):
    """6 epochs, a checkpoint (tl.save / tl.load), 8 more in a new optimizer and scheduler:
    the same lrs and momenta as 14 epochs in one go."""
    metrics = METRICS if name == 'ReduceLROnPlateau' else None
    straight = run(SCHEDULERS[name](two_groups('SGD', momentum=0.9)), 14, metrics)
    optimizer = two_groups('SGD', momentum=0.9)
    scheduler = SCHEDULERS[name](optimizer)
    run(scheduler, 6, metrics)
    tl.save({'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict()}, tmp_path / 'ck.npz')
    checkpoint = tl.load(tmp_path / 'ck.npz')
    optimizer = two_groups('SGD', momentum=0.9)
    scheduler = SCHEDULERS[name](optimizer)
    optimizer.load_state_dict(checkpoint['optimizer'])
    scheduler.load_state_dict(checkpoint['scheduler'])
    resumed = run(scheduler, 8, metrics[6:] if metrics else None)
    assert resumed == straight[6:]


def test_load_state_dict_refuses_another_schedulers_state():
    step = lr_scheduler.StepLR(two_groups(), step_size=2)
    cycle = lr_scheduler.OneCycleLR(two_groups(), max_lr=0.5, total_steps=20)
    with pytest.raises(ValueError, match=r"OneCycleLR.load_state_dict: the state lacks \[.*'total_steps'"):
        cycle.load_state_dict(step.state_dict())
    with pytest.raises(TypeError, match='expected a dict'):
        cycle.load_state_dict([1])
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        plateau = lr_scheduler.ReduceLROnPlateau(two_groups())
        plateau.load_state_dict({**plateau.state_dict(), 'mode': 'lowest'})
    assert cycle.last_epoch == 0 and plateau.mode == 'min'


@pytest.mark.parametrize('make, error, match', [
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, -1]), ValueError, r'MultiStepLR: milestones.*-1'),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[2.5]), ValueError, 'MultiStepLR: milestones.*2.5'),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=3), TypeError, 'MultiStepLR: milestones'),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[2], gamma='x'), TypeError, 'MultiStepLR: gamma'),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), ValueError, 'LambdaLR: expected 2 lr_lambdas'),
    (lambda o: lr_scheduler.LambdaLR(o, 0.5), TypeError, 'LambdaLR: lr_lambda must be a function'),
    (lambda o: lr_scheduler.LambdaLR(o, lambda e: 'x'), TypeError,
     r"LambdaLR: lr_lambda\(0\) must be a number"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, 'T_0 must be a positive int'),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5), ValueError, 'T_mult'),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, eta_min=-1), ValueError, 'eta_min'),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0), ValueError, 'total_steps or both epochs'),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, 'total_steps'),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, epochs=2, steps_per_epoch=0), ValueError,
     'steps_per_epoch'),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[1.0], total_steps=9), ValueError, 'one value per'),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=9, pct_start=1.5), ValueError, 'pct_start'),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.1), ValueError,
     'zero steps long'),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=9, anneal_strategy='exp'), ValueError,
     'anneal_strategy'),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=9, div_factor=0), ValueError, 'div_factor'),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=9, max_momentum='x'), TypeError,
     'max_momentum'),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, r'factor must be in \[0, 1\)'),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode='low'), ValueError, 'mode'),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode='pct'), ValueError, 'threshold_mode'),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), ValueError, 'patience'),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, 'min_lr'),
    (lambda o: lr_scheduler.ReduceLROnPlateau(object()), TypeError, 'not an Optimizer'),
    (lambda o: lr_scheduler.OneCycleLR(object(), max_lr=1.0, total_steps=9), TypeError, 'not an Optimizer'),
])
def test_bad_arguments_raise_before_the_optimizer_changes(make, error, match):
    optimizer = two_groups('SGD', momentum=0.9)
    before = [dict(g, params=None) for g in optimizer.param_groups]
    with pytest.raises(error, match=match):
        make(optimizer)
    assert [dict(g, params=None) for g in optimizer.param_groups] == before


def test_one_cycle_momentum_needs_an_optimizer_with_momentum():
    with pytest.raises(ValueError, match='Adagrad has neither'):
        lr_scheduler.OneCycleLR(two_groups('Adagrad'), max_lr=1.0, total_steps=9)
    lr_scheduler.OneCycleLR(two_groups('Adagrad'), max_lr=1.0, total_steps=9, cycle_momentum=False)


def test_a_failing_lr_lambda_leaves_the_scheduler_as_it_was():
    optimizer = two_groups()
    scheduler = lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 if epoch < 2 else None)
    run(scheduler, 1)
    before = scheduler.state_dict()
    optimizer.step()
    with pytest.raises(TypeError, match=r'lr_lambda\(2\)'):
        scheduler.step()
    assert scheduler.state_dict() == before and optimizer.param_groups[0]['lr'] == 0.1


# ---- the order warning -------------------------------------------------------------------------

@pytest.mark.parametrize('name', [n for n in SCHEDULERS if n != 'ReduceLROnPlateau'] + ['StepLR'])
def test_stepping_the_scheduler_before_the_optimizer_warns_once(name):
    make = SCHEDULERS.get(name, lambda opt: lr_scheduler.StepLR(opt, step_size=2))
    scheduler = make(two_groups('SGD', momentum=0.9))
    with pytest.warns(UserWarning, match=r'lr_scheduler.step\(\)` before `optimizer.step\(\)`') as caught:
        scheduler.step()
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        scheduler.step()                  # only the first step after construction is checked
        right = make(two_groups('SGD', momentum=0.9))
        right.optimizer.step()
        right.step()                      # the right order: no warning


def test_an_optimizer_stepped_before_the_scheduler_was_made_counts():
    optimizer = two_groups()
    optimizer.step()
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        scheduler.step()
    assert optimizer._step_calls == 1


def test_reduce_lr_on_plateau_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        lr_scheduler.ReduceLROnPlateau(two_groups()).step(1.0)


def test_exports():
    for name in ('LRScheduler', 'StepLR', 'MultiStepLR', 'ExponentialLR', 'LinearLR', 'LambdaLR',
                 'CosineAnnealingLR', 'CosineAnnealingWarmRestarts', 'OneCycleLR', 'ReduceLROnPlateau'):
        assert name in lr_scheduler.__all__
        assert issubclass(getattr(lr_scheduler, name), lr_scheduler.LRScheduler)


# ---- PyTorch parity ----------------------------------------------------------------------------

def torch_pair(torch, name, **options):
    ours = two_groups(name, **options)
    groups = [{'params': [torch.zeros(2, requires_grad=True)], 'lr': 0.1},
              {'params': [torch.zeros(1, requires_grad=True)], 'lr': 0.02}]
    theirs = getattr(torch.optim, name)(groups, **options)
    return ours, theirs


PARITY = [
    ('SGD', {}, 'MultiStepLR', dict(milestones=[3, 7, 7, 15, 40], gamma=0.5)),
    ('SGD', {}, 'MultiStepLR', dict(milestones=[10, 0, 5])),
    ('SGD', {}, 'LambdaLR', dict(lr_lambda=lambda e: 0.95 ** e)),
    ('SGD', {}, 'LambdaLR', dict(lr_lambda=[lambda e: 1 / (e + 1), lambda e: (e % 7) / 3])),
    ('SGD', dict(momentum=0.9), 'OneCycleLR', dict(max_lr=1.0, total_steps=200)),
    ('SGD', dict(momentum=0.9, nesterov=True), 'OneCycleLR', dict(max_lr=1.0, total_steps=200,
                                                                  anneal_strategy='linear')),
    ('Adam', {}, 'OneCycleLR', dict(max_lr=[0.5, 0.1], total_steps=197, anneal_strategy='linear')),
    ('Adam', {}, 'OneCycleLR', dict(max_lr=0.5, epochs=7, steps_per_epoch=29, three_phase=True)),
    ('AdamW', {}, 'OneCycleLR', dict(max_lr=0.5, total_steps=150, pct_start=0.25, base_momentum=[0.8, 0.7],
                                     max_momentum=0.9, div_factor=10.0, final_div_factor=100.0)),
    ('RMSprop', dict(momentum=0.5), 'OneCycleLR', dict(max_lr=0.5, total_steps=150, pct_start=0.45,
                                                       three_phase=True, anneal_strategy='linear')),
    ('Adagrad', {}, 'OneCycleLR', dict(max_lr=0.5, total_steps=150, cycle_momentum=False)),
    ('SGD', {}, 'CosineAnnealingWarmRestarts', dict(T_0=5)),
    ('SGD', {}, 'CosineAnnealingWarmRestarts', dict(T_0=3, T_mult=2, eta_min=0.01)),
    ('SGD', {}, 'CosineAnnealingWarmRestarts', dict(T_0=1, T_mult=3)),
]


@pytest.mark.torch
@pytest.mark.parametrize('opt_name, opt_options, name, options', PARITY,
                         ids=[f"{p[2]}-{p[0]}-{i}" for i, p in enumerate(PARITY)])
def test_lr_and_momentum_sequences_match_torch(torch, opt_name, opt_options, name, options):
    ours_opt, theirs_opt = torch_pair(torch, opt_name, **opt_options)
    ours = getattr(lr_scheduler, name)(ours_opt, **options)
    theirs = getattr(torch.optim.lr_scheduler, name)(theirs_opt, **options)
    steps = getattr(ours, 'total_steps', 300)
    for epoch in range(steps + 1):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=RTOL, atol=0,
                                   err_msg=f"epoch {epoch}")
        for key in ('momentum', 'betas'):
            if key in ours_opt.param_groups[0]:
                np.testing.assert_allclose([g[key] for g in ours_opt.param_groups],
                                           [g[key] for g in theirs_opt.param_groups], rtol=RTOL, atol=0,
                                           err_msg=f"{key}, epoch {epoch}")
        assert ours.last_epoch == theirs.last_epoch
        if epoch < steps:
            ours_opt.step(), theirs_opt.step()
            ours.step(), theirs.step()


PLATEAU = [
    dict(),
    dict(mode='max', factor=0.5, patience=2),
    dict(threshold=0.05, threshold_mode='abs', patience=1, cooldown=2),
    dict(mode='max', threshold=0.01, threshold_mode='abs', patience=0, min_lr=[0.01, 0.005]),
    dict(factor=0.3, patience=3, cooldown=1, min_lr=1e-3, eps=1e-4),
]


@pytest.mark.torch
@pytest.mark.parametrize('options', PLATEAU, ids=[str(i) for i in range(len(PLATEAU))])
def test_reduce_lr_on_plateau_matches_torch(torch, options):
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 20), 0.5 + 0.01 * rng.standard_normal(60),
                              np.linspace(0.5, 0.2, 20), np.full(40, 0.2), [np.nan], np.full(30, 0.2)])
    ours_opt, theirs_opt = torch_pair(torch, 'SGD')
    ours = lr_scheduler.ReduceLROnPlateau(ours_opt, **options)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **options)
    reductions = 0
    for epoch, metric in enumerate(metrics):
        ours_opt.step(), theirs_opt.step()
        ours.step(float(metric)), theirs.step(float(metric))
        reductions += ours.get_last_lr() != [0.1, 0.02] and ours.num_bad_epochs == 0
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=RTOL, atol=0,
                                   err_msg=f"epoch {epoch}")
        assert (ours.num_bad_epochs, ours.cooldown_counter, ours.last_epoch) == \
               (theirs.num_bad_epochs, theirs.cooldown_counter, theirs.last_epoch)
        assert ours.best == theirs.best or (math.isnan(ours.best) and math.isnan(theirs.best))
    assert ours.get_last_lr() != [0.1, 0.02]  # the run does reduce


@pytest.mark.torch
@pytest.mark.parametrize('name', ['StepLR', 'MultiStepLR', 'LambdaLR', 'OneCycleLR'])
def test_the_order_warning_is_given_when_torch_gives_it(torch, name):
    options = {'StepLR': dict(step_size=2), 'MultiStepLR': dict(milestones=[2]),
               'LambdaLR': dict(lr_lambda=lambda e: 1.0),
               'OneCycleLR': dict(max_lr=1.0, total_steps=10)}[name]
    for optimizer_first in (False, True):
        seen = []
        for library, pair_index in ((lr_scheduler, 0), (torch.optim.lr_scheduler, 1)):
            opt = torch_pair(torch, 'SGD', momentum=0.9)[pair_index]
            scheduler = getattr(library, name)(opt, **options)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                for _ in range(3):
                    if optimizer_first:
                        opt.step()
                    scheduler.step()
            seen.append([str(w.message).split(':')[0].split('.')[0] for w in caught
                         if 'before `optimizer.step()`' in str(w.message)])
        assert len(seen[0]) == len(seen[1]) == (0 if optimizer_first else 1), seen
