"""optim without torch: hand-computed steps, parameter groups, skipped grads, state_dict round
trips, errors, dtypes, LBFGS convergence and the schedulers' lr sequences.

PyTorch parity (trajectories and lr sequences against torch.optim) is in test_optim_torch.py.
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import optim
from tinygrad_ls.nn import Parameter
from tinygrad_ls.optim import lr_scheduler

P0 = np.array([1.0, -2.0])

# one representative configuration per optimizer, using every state entry it has
CONFIGS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.2)),
    (optim.Adam, dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    (optim.AdamW, dict(lr=0.05)),
    (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.9)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]
CONFIG_IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(CONFIGS)]


def quadratic_step(opt, params, scales=(1.0, 3.0)):
    """One step on loss = sum_i scale_i * sum(p_i^2 * (1 + 0.1 p_i)) (a cubic, so grads vary)."""
    opt.zero_grad()
    loss = sum((s * (p * p * (1 + 0.1 * p))).sum() for p, s in zip(params, scales))
    loss.backward()
    opt.step()
    return loss


def make_params(dtype=np.float64):
    return [Parameter(np.array([1.0, -2.0, 0.5], dtype=dtype)),
            Parameter(np.array([[0.3, -0.7]], dtype=dtype))]


# ---- hand computations -------------------------------------------------------------------------
def test_sgd_momentum_first_two_steps_by_hand():
    """loss = sum(p^2), grad = 2p; lr 0.1, momentum 0.9: the buffer starts as the first grad."""
    p = Parameter(P0.copy())
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
    # step 1: g = [2, -4], buf = g, p = [1, -2] - 0.1 [2, -4] = [0.8, -1.6]
    # step 2: g = [1.6, -3.2], buf = 0.9 [2, -4] + [1.6, -3.2] = [3.4, -6.8], p = [0.8, -1.6] - 0.1 buf
    np.testing.assert_allclose(p.data, [0.8 - 0.34, -1.6 + 0.68], rtol=1e-15)
    np.testing.assert_allclose(opt.state[p]['momentum_buffer'], [3.4, -6.8], rtol=1e-15)


def test_sgd_dampening_nesterov_weight_decay_by_hand():
    """Two steps with dampening 0.5, weight decay 0.1 (grad set directly to [1, 1] each time)."""
    p = Parameter(P0.copy())
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1)
    p.grad = np.ones(2)
    opt.step()
    g1 = 1 + 0.1 * P0                     # weight decay enters the gradient
    p1 = P0 - 0.1 * g1                    # first step: buf = g1 (no dampening on the first step)
    np.testing.assert_allclose(p.data, p1, rtol=1e-15)
    opt.step()
    g2 = 1 + 0.1 * p1
    buf = 0.9 * g1 + 0.5 * g2
    np.testing.assert_allclose(p.data, p1 - 0.1 * buf, rtol=1e-15)

    q = Parameter(P0.copy())
    nesterov = optim.SGD([q], lr=0.1, momentum=0.9, nesterov=True)
    q.grad = np.ones(2)
    nesterov.step()
    nesterov.step()
    # buf1 = 1, step 1 uses g + 0.9 buf1 = 1.9; buf2 = 0.9 + 1 = 1.9, step 2 uses 1 + 0.9 * 1.9 = 2.71
    np.testing.assert_allclose(q.data, P0 - 0.1 * 1.9 - 0.1 * 2.71, rtol=1e-15)


def test_adam_first_two_steps_by_hand():
    """loss = sum(p^2); lr 0.1, betas (0.9, 0.999), eps 1e-8, eps added to the corrected sqrt(v)."""
    p = Parameter(P0.copy())
    opt = optim.Adam([p], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
    g1 = 2 * P0                                           # [2, -4]
    m1, v1 = 0.1 * g1, 0.001 * g1 ** 2                    # [0.2, -0.4], [0.004, 0.016]
    p1 = P0 - (0.1 / (1 - 0.9)) * m1 / (np.sqrt(v1) / math.sqrt(1 - 0.999) + 1e-8)
    np.testing.assert_allclose(p1, [0.9, -1.9], rtol=1e-8)  # the first step moves each entry by lr
    g2 = 2 * p1
    m2 = 0.9 * m1 + 0.1 * g2
    v2 = 0.999 * v1 + 0.001 * g2 ** 2
    p2 = p1 - (0.1 / (1 - 0.9 ** 2)) * m2 / (np.sqrt(v2) / math.sqrt(1 - 0.999 ** 2) + 1e-8)
    np.testing.assert_allclose(p.data, p2, rtol=1e-14)
    state = opt.state[p]
    assert state['step'] == 2
    np.testing.assert_allclose(state['exp_avg'], m2, rtol=1e-14)
    np.testing.assert_allclose(state['exp_avg_sq'], v2, rtol=1e-14)


def test_adam_weight_decay_amsgrad_and_adamw_by_hand():
    grads = [np.array([1.0, -1.0]), np.array([0.01, -3.0])]
    p, q, r = Parameter(P0.copy()), Parameter(P0.copy()), Parameter(P0.copy())
    adam = optim.Adam([p], lr=0.1, weight_decay=0.5, amsgrad=True)
    adamw = optim.AdamW([q], lr=0.1, weight_decay=0.5)
    amsgrad = optim.Adam([r], lr=0.1, amsgrad=True)
    expected_p, expected_q, expected_r = P0.copy(), P0.copy(), P0.copy()
    m_p = v_p = vmax_p = m_q = v_q = m_r = v_r = vmax_r = 0.0
    for step, grad in enumerate(grads, start=1):
        p.grad, q.grad, r.grad = grad.copy(), grad.copy(), grad.copy()
        adam.step()
        adamw.step()
        amsgrad.step()
        bc1, bc2 = 1 - 0.9 ** step, 1 - 0.999 ** step
        g = grad + 0.5 * expected_p                                 # Adam: L2 in the gradient
        m_p, v_p = 0.9 * m_p + 0.1 * g, 0.999 * v_p + 0.001 * g * g
        vmax_p = np.maximum(vmax_p, v_p)
        expected_p = expected_p - 0.1 / bc1 * m_p / (np.sqrt(vmax_p) / math.sqrt(bc2) + 1e-8)
        expected_q = expected_q * (1 - 0.1 * 0.5)                   # AdamW: decay the weights first
        m_q, v_q = 0.9 * m_q + 0.1 * grad, 0.999 * v_q + 0.001 * grad * grad
        expected_q = expected_q - 0.1 / bc1 * m_q / (np.sqrt(v_q) / math.sqrt(bc2) + 1e-8)
        m_r, v_r = 0.9 * m_r + 0.1 * grad, 0.999 * v_r + 0.001 * grad * grad
        vmax_r = np.maximum(vmax_r, v_r)
        expected_r = expected_r - 0.1 / bc1 * m_r / (np.sqrt(vmax_r) / math.sqrt(bc2) + 1e-8)
        np.testing.assert_allclose(p.data, expected_p, rtol=1e-14)
        np.testing.assert_allclose(q.data, expected_q, rtol=1e-14)
        np.testing.assert_allclose(r.data, expected_r, rtol=1e-14)
    # the second gradient's first entry is small: amsgrad keeps the larger old v for it
    assert amsgrad.state[r]['max_exp_avg_sq'][0] == (1 - 0.999) * 1.0 * 1.0  # step 1's v
    assert amsgrad.state[r]['exp_avg_sq'][0] < amsgrad.state[r]['max_exp_avg_sq'][0]


def test_rmsprop_and_adagrad_by_hand():
    grads = [np.array([1.0, -2.0]), np.array([0.5, 1.0])]
    p, q, r = Parameter(P0.copy()), Parameter(P0.copy()), Parameter(P0.copy())
    rms = optim.RMSprop([p], lr=0.01, alpha=0.9, momentum=0.5, centered=True)
    ada = optim.Adagrad([q], lr=0.1, lr_decay=0.5, initial_accumulator_value=0.2)
    plain = optim.RMSprop([r], lr=0.01, alpha=0.9)
    v = g_avg = buf = v_r = 0.0
    total = 0.2
    ep, eq, er = P0.copy(), P0.copy(), P0.copy()
    for step, grad in enumerate(grads, start=1):
        p.grad, q.grad, r.grad = grad.copy(), grad.copy(), grad.copy()
        rms.step()
        ada.step()
        plain.step()
        v = 0.9 * v + 0.1 * grad ** 2
        g_avg = 0.9 * g_avg + 0.1 * grad
        buf = 0.5 * buf + grad / (np.sqrt(v - g_avg ** 2) + 1e-8)
        ep = ep - 0.01 * buf
        total = total + grad ** 2
        eq = eq - 0.1 / (1 + (step - 1) * 0.5) * grad / (np.sqrt(total) + 1e-10)
        v_r = 0.9 * v_r + 0.1 * grad ** 2
        er = er - 0.01 * grad / (np.sqrt(v_r) + 1e-8)
        np.testing.assert_allclose(p.data, ep, rtol=1e-13)
        np.testing.assert_allclose(q.data, eq, rtol=1e-14)
        np.testing.assert_allclose(r.data, er, rtol=1e-14)
    assert rms.state[p]['step'] == ada.state[q]['step'] == 2
    np.testing.assert_allclose(ada.state[q]['sum'], total, rtol=1e-15)


def test_maximize_climbs():
    for cls, kwargs in CONFIGS:
        p, q = Parameter(P0.copy()), Parameter(P0.copy())
        up, down = cls([p], maximize=True, **kwargs), cls([q], **kwargs)
        p.grad, q.grad = np.array([1.0, -1.0]), np.array([-1.0, 1.0])
        up.step()
        down.step()
        np.testing.assert_allclose(p.data, q.data, rtol=1e-15, err_msg=cls.__name__)


def test_step_is_in_place_outside_the_graph_and_leaves_grads_alone():
    for cls, kwargs in CONFIGS:
        params = make_params()
        arrays = [p.data for p in params]
        opt = cls(params, **kwargs)
        for _ in range(3):
            quadratic_step(opt, params)
            grads = [p.grad.copy() for p in params]
            opt.step()
            for p, g in zip(params, grads):
                np.testing.assert_array_equal(p.grad, g)  # the rule never writes into grad
        assert all(p.data is a for p, a in zip(params, arrays)), cls.__name__
        assert all(p.is_leaf and p.requires_grad for p in params)


def test_step_with_closure_returns_its_loss():
    p = Parameter(P0.copy())
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with tl.no_grad():  # the closure runs with grad enabled regardless
        loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_allclose(p.data, [0.8, -1.6])


# ---- parameter groups, skipped grads, zero_grad ---------------------------------------------------
@pytest.mark.parametrize('cls,kwargs', CONFIGS, ids=CONFIG_IDS)
def test_params_without_grad_are_untouched_and_get_no_state(cls, kwargs):
    used, unused = Parameter(P0.copy()), Parameter(np.array([3.0, 4.0]))
    opt = cls([used, unused], **kwargs)
    for _ in range(3):
        opt.zero_grad()
        (used * used).sum().backward()
        opt.step()
    np.testing.assert_array_equal(unused.data, [3.0, 4.0])
    assert unused.grad is None and unused not in opt.state
    assert not np.array_equal(used.data, P0)
    assert list(opt.state_dict()['state']) == ([0] if opt.state else [])


def test_param_groups_take_their_own_options_and_defaults():
    a, b, c = Parameter(P0.copy()), Parameter(P0.copy()), Parameter(P0.copy())
    opt = optim.SGD([{'params': [a], 'lr': 0.5}, {'params': b, 'momentum': 0.9}], lr=0.1)
    assert [g['lr'] for g in opt.param_groups] == [0.5, 0.1]
    assert [g['momentum'] for g in opt.param_groups] == [0, 0.9]
    assert opt.param_groups[1]['params'] == [b]  # a single Value becomes a list
    opt.add_param_group({'params': [c], 'lr': 0.01})
    assert opt.param_groups[2]['lr'] == 0.01 and opt.param_groups[2]['nesterov'] is False
    for p in (a, b, c):
        p.grad = np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, P0 - 0.5)
    np.testing.assert_allclose(b.data, P0 - 0.1)
    np.testing.assert_allclose(c.data, P0 - 0.01)
    assert set(opt.state) == {b}  # only the group with momentum keeps a buffer
    assert opt.defaults['lr'] == 0.1


def test_zero_grad():
    params = make_params()
    opt = optim.Adam(params)
    quadratic_step(opt, params)
    grads = [p.grad for p in params]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.any() for p, g in zip(params, grads))  # zeroed in place
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_generators_and_named_lists_of_parameters_are_accepted():
    params = make_params()
    opt = optim.SGD((p for p in params), lr=0.1)
    assert opt.param_groups[0]['params'] == params


# ---- dtypes -------------------------------------------------------------------------------------
@pytest.mark.parametrize('cls,kwargs', CONFIGS, ids=CONFIG_IDS)
def test_float32_stays_float32(cls, kwargs):
    params = make_params(np.float32)
    opt = cls(params, **kwargs)
    for _ in range(3):
        quadratic_step(opt, params)
    for p in params:
        assert p.data.dtype == np.float32
        for key, value in opt.state.get(p, {}).items():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32, key
    reference = make_params(np.float64)
    ref_opt = cls(reference, **kwargs)
    for _ in range(3):
        quadratic_step(ref_opt, reference)
    for p, r in zip(params, reference):
        np.testing.assert_allclose(p.data, r.data, rtol=1e-5, atol=1e-6)


# ---- state_dict --------------------------------------------------------------------------------
def _is_plain(value) -> bool:
    if isinstance(value, dict):
        return all(_is_plain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return value is None or isinstance(value, (np.ndarray, bool, int, float, str))


def _lbfgs_config():
    return optim.LBFGS, dict(max_iter=3, history_size=2, line_search_fn='strong_wolfe')


def _train(opt, params, steps):
    if isinstance(opt, optim.LBFGS):
        def closure():
            opt.zero_grad()
            loss = sum((s * (p * p * (1 + 0.1 * p))).sum() for p, s in zip(params, (1.0, 3.0)))
            loss.backward()
            return loss
        for _ in range(steps):
            opt.step(closure)
    else:
        for _ in range(steps):
            quadratic_step(opt, params)


@pytest.mark.parametrize('cls,kwargs', CONFIGS + [_lbfgs_config()], ids=CONFIG_IDS + ['LBFGS'])
def test_state_dict_round_trip_continues_identically(cls, kwargs):
    """Train 4 steps, save, load into a fresh optimizer on fresh copies, train 4 more: the
    same as 8 uninterrupted steps, bit for bit. The saved dict is plain data and a copy."""
    straight = make_params()
    straight_opt = cls(straight, **kwargs)
    _train(straight_opt, straight, 8)

    params = make_params()
    opt = cls(params, **kwargs)
    _train(opt, params, 4)
    saved = opt.state_dict()
    assert _is_plain(saved)
    assert saved['param_groups'][0]['params'] == [0, 1]
    _train(opt, params, 1)  # the saved dict must not follow the optimizer
    resumed = [Parameter(p.data.copy()) for p in params]
    for r, p_at_save in zip(resumed, _replay(cls, kwargs, 4)):
        r.data[...] = p_at_save
    new_opt = cls(resumed, **{**kwargs, 'lr': 123.0})  # the loaded options replace these
    new_opt.load_state_dict(saved)
    assert new_opt.param_groups[0]['lr'] == kwargs.get('lr', straight_opt.param_groups[0]['lr'])
    assert new_opt.param_groups[0]['params'] == resumed
    _train(new_opt, resumed, 4)
    for a, b in zip(resumed, straight):
        np.testing.assert_array_equal(a.data, b.data)


def _replay(cls, kwargs, steps):
    params = make_params()
    _train(cls(params, **kwargs), params, steps)
    return [p.data.copy() for p in params]


def test_state_dict_survives_a_file_like_format():
    """Index keys as strings and index lists as arrays (what a file format may give back) load too."""
    params = make_params()
    opt = optim.Adam(params, lr=0.05)
    _train(opt, params, 3)
    saved = opt.state_dict()
    mangled = {'state': {str(k): {n: np.asarray(v) for n, v in s.items()} for k, s in saved['state'].items()},
               'param_groups': [{**g, 'params': np.array(g['params'])} for g in saved['param_groups']]}
    other = [Parameter(p.data.copy()) for p in params]
    other_opt = optim.Adam(other, lr=0.05)
    other_opt.load_state_dict(mangled)
    _train(opt, params, 2)
    _train(other_opt, other, 2)
    for a, b in zip(params, other):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_casts_to_param_dtype_and_copies():
    params = make_params()
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    _train(opt, params, 2)
    saved = opt.state_dict()
    small = make_params(np.float32)
    small_opt = optim.SGD(small, lr=0.1, momentum=0.9)
    small_opt.load_state_dict(saved)
    buffer = small_opt.state[small[0]]['momentum_buffer']
    assert buffer.dtype == np.float32
    saved['state'][0]['momentum_buffer'][...] = 0
    assert buffer.any()


@pytest.mark.parametrize('mutate,match', [
    (lambda sd: sd['param_groups'].append({'params': []}), 'parameter groups'),
    (lambda sd: sd['param_groups'][0]['params'].pop(), 'group 0 has 1 parameters'),
    (lambda sd: sd['state'][0].update(exp_avg=np.zeros(5)), r"shape \(5,\)"),
    (lambda sd: sd['state'].update({7: {}}), 'names no parameter'),
    (lambda sd: sd['param_groups'][0].update(lr=-1.0), 'learning rate'),
    (lambda sd: sd.pop('state'), "'state' and 'param_groups'"),
])
def test_load_state_dict_validates_first(mutate, match):
    params = make_params()
    opt = optim.Adam(params, lr=0.05)
    _train(opt, params, 2)
    before = opt.state_dict()
    saved = opt.state_dict()
    mutate(saved)
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(saved)
    after = opt.state_dict()  # unchanged
    assert after['param_groups'] == before['param_groups']
    for k in before['state']:
        for name, value in before['state'][k].items():
            np.testing.assert_array_equal(after['state'][k][name], value)


def _trained(cls, **kwargs):
    params = make_params()
    opt = cls(params, **kwargs)
    _train(opt, params, 2)
    return opt


def _snapshot(opt):
    saved = opt.state_dict()
    state = {k: {n: np.copy(v) for n, v in s.items()} for k, s in saved['state'].items()}
    return saved['param_groups'], state


@pytest.mark.parametrize('target_cls, source_cls, source_kwargs', [
    (optim.Adam, optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.SGD, optim.Adam, dict(lr=0.05)),
    (optim.Adam, optim.AdamW, dict(lr=0.05)),          # same options, another optimizer all the same
    (optim.AdamW, optim.Adam, dict(lr=0.05, decoupled_weight_decay=True)),
    (optim.RMSprop, optim.Adagrad, dict(lr=0.1)),
    (optim.SGD, optim.LBFGS, dict(max_iter=3)),
])
def test_load_state_dict_refuses_another_optimizers_state(target_cls, source_cls, source_kwargs):
    opt = _trained(target_cls)
    before = _snapshot(opt)
    saved = _trained(source_cls, **source_kwargs).state_dict()
    assert saved['kind'] == source_cls.__name__
    match = rf"^load_state_dict: the state dict comes from {source_cls.__name__}, not {target_cls.__name__}"
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(saved)
    after = _snapshot(opt)
    assert after[0] == before[0]
    for k in before[1]:
        for name, value in before[1][k].items():
            np.testing.assert_array_equal(after[1][k][name], value)


def test_a_state_dict_without_kind_is_checked_by_its_options():
    """What state_dict() returned before the kind was recorded (or a dict converted from
    PyTorch): it loads into the same optimizer; another optimizer's options are refused."""
    sgd = _trained(optim.SGD, lr=0.1, momentum=0.9)
    legacy = sgd.state_dict()
    del legacy['kind']
    same = optim.SGD(make_params(), lr=0.5, momentum=0.9)
    same.load_state_dict(legacy)
    assert same.param_groups[0]['lr'] == 0.1 and len(same.state) == 2
    adam = optim.Adam(make_params())
    with pytest.raises(ValueError, match=r"param_groups\[0\] lacks the Adam options \['amsgrad', 'betas', "
                                         r"'decoupled_weight_decay', 'eps'\] and holds \['dampening', "
                                         r"'momentum', 'nesterov'\]: it is another optimizer's state"):
        adam.load_state_dict(legacy)
    assert adam.param_groups[0]['lr'] == 1e-3 and not adam.state


def test_the_kind_survives_a_file(tmp_path):
    opt = _trained(optim.RMSprop, lr=0.01, momentum=0.5)
    tl.save({'optimizer': opt.state_dict()}, tmp_path / 'ck.npz')
    loaded = tl.load(tmp_path / 'ck.npz')['optimizer']
    assert loaded['kind'] == 'RMSprop'
    optim.RMSprop(make_params()).load_state_dict(loaded)
    with pytest.raises(ValueError, match='comes from RMSprop, not Adagrad'):
        optim.Adagrad(make_params()).load_state_dict(loaded)


def test_step_counts_its_calls_for_the_schedulers():
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    assert opt._step_calls == 0
    opt.step()                                   # no grads: nothing moves, but it is a step() call
    _train(opt, params, 2)
    assert opt._step_calls == 3
    lbfgs = _trained(optim.LBFGS, max_iter=3)
    assert lbfgs._step_calls == 2


def test_lbfgs_load_state_dict_validates_sizes():
    params = make_params()
    opt, _ = _lbfgs_config()
    opt = opt(params, **_lbfgs_config()[1])
    _train(opt, params, 1)
    saved = opt.state_dict()
    assert saved['state'][0]['old_dirs'].shape == (len(saved['state'][0]['ro']), 5)
    saved['state'][0]['d'] = np.zeros(4)
    with pytest.raises(ValueError, match=r"'d'.*\(4,\)"):
        opt.load_state_dict(saved)


# ---- errors ------------------------------------------------------------------------------------
INVALID = [
    (optim.SGD, dict(lr=-0.1), 'learning rate'),
    (optim.SGD, dict(lr=float('nan')), 'learning rate'),
    (optim.SGD, dict(momentum=-0.5), 'momentum'),
    (optim.SGD, dict(weight_decay=-1e-4), 'weight_decay'),
    (optim.SGD, dict(nesterov=True), 'Nesterov'),
    (optim.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), 'Nesterov'),
    (optim.Adam, dict(lr=-1e-3), 'learning rate'),
    (optim.Adam, dict(eps=-1e-8), 'epsilon'),
    (optim.Adam, dict(betas=(1.0, 0.999)), 'beta parameter at index 0'),
    (optim.Adam, dict(betas=(-0.1, 0.999)), 'beta parameter at index 0'),
    (optim.Adam, dict(betas=(0.9, 1.0)), 'beta parameter at index 1'),
    (optim.Adam, dict(betas=(0.9, 1.5)), 'beta parameter at index 1'),
    (optim.Adam, dict(betas=(0.9,)), 'two numbers'),
    (optim.Adam, dict(weight_decay=-0.1), 'weight_decay'),
    (optim.AdamW, dict(lr=-1.0), 'learning rate'),
    (optim.AdamW, dict(betas=(0.9, -0.5)), 'beta parameter at index 1'),
    (optim.AdamW, dict(weight_decay=-0.01), 'weight_decay'),
    (optim.AdamW, dict(eps=-1.0), 'epsilon'),
    (optim.RMSprop, dict(lr=-0.01), 'learning rate'),
    (optim.RMSprop, dict(alpha=-0.9), 'alpha'),
    (optim.RMSprop, dict(eps=-1e-8), 'eps'),
    (optim.RMSprop, dict(momentum=-0.9), 'momentum'),
    (optim.RMSprop, dict(weight_decay=-0.1), 'weight_decay'),
    (optim.Adagrad, dict(lr=-0.01), 'learning rate'),
    (optim.Adagrad, dict(lr_decay=-0.1), 'lr_decay'),
    (optim.Adagrad, dict(weight_decay=-0.1), 'weight_decay'),
    (optim.Adagrad, dict(initial_accumulator_value=-0.1), 'initial_accumulator_value'),
    (optim.Adagrad, dict(eps=-1e-10), 'eps'),
    (optim.LBFGS, dict(lr=-1.0), 'learning rate'),
    (optim.LBFGS, dict(max_iter=0), 'max_iter'),
    (optim.LBFGS, dict(max_iter=3, max_eval=0), 'max_eval'),
    (optim.LBFGS, dict(history_size=0), 'history_size'),
    (optim.LBFGS, dict(tolerance_grad=-1.0), 'tolerance_grad'),
    (optim.LBFGS, dict(tolerance_change=-1.0), 'tolerance_change'),
    (optim.LBFGS, dict(line_search_fn='backtracking'), 'line_search_fn'),
]


@pytest.mark.parametrize('cls,kwargs,match', INVALID,
                         ids=[f"{c.__name__}-{next(iter(kw))}-{i}" for i, (c, kw, _) in enumerate(INVALID)])
def test_invalid_hyperparameters_raise_value_error(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([Parameter(P0.copy())], **kwargs)
    if cls is not optim.LBFGS:  # the same option in a parameter group is checked too
        with pytest.raises(ValueError, match=match):
            cls([{'params': [Parameter(P0.copy())], **kwargs}])
        opt = cls([Parameter(P0.copy())])
        with pytest.raises(ValueError, match=match):
            opt.add_param_group({'params': [Parameter(P0.copy())], **kwargs})
        assert len(opt.param_groups) == 1


BUILTIN = [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad, optim.LBFGS]


def _numeric_options(cls):
    """The constructor keywords of ``cls`` whose default is a number (not a bool)."""
    return [name for name, parameter in inspect.signature(cls).parameters.items()
            if isinstance(parameter.default, (int, float)) and not isinstance(parameter.default, bool)]


def _option_cases():
    return [(cls, name) for cls in BUILTIN for name in _numeric_options(cls)]


@pytest.mark.parametrize('cls,name', _option_cases(), ids=[f"{c.__name__}-{n}" for c, n in _option_cases()])
def test_every_numeric_option_of_every_optimizer_must_be_a_number(cls, name):
    """Checked by the base from the constructor's defaults, not from a list of names."""
    for bad in ('0.1', None, True, [0.1]):
        with pytest.raises(TypeError, match=rf"Invalid {name} value: .*a number is expected"):
            cls([Parameter(P0.copy())], **{name: bad})
    with pytest.raises(ValueError, match=name if name != 'lr' else 'learning rate'):
        cls([Parameter(P0.copy())], **{name: float('nan')})
    if cls is not optim.LBFGS:
        opt = cls([Parameter(P0.copy())])
        with pytest.raises(TypeError, match=f"Invalid {name} value"):
            opt.add_param_group({'params': [Parameter(P0.copy())], name: 'x'})
        saved = opt.state_dict()
        saved['param_groups'][0][name] = 'x'
        with pytest.raises(TypeError, match=f"Invalid {name} value"):
            opt.load_state_dict(saved)
        assert len(opt.param_groups) == 1 and opt.param_groups[0][name] != 'x'


def test_numeric_options_come_from_the_constructors():
    assert {cls.__name__: _numeric_options(cls) for cls in BUILTIN} == {
        'SGD': ['lr', 'momentum', 'dampening', 'weight_decay'],
        'Adam': ['lr', 'eps', 'weight_decay'],
        'AdamW': ['lr', 'eps', 'weight_decay'],
        'RMSprop': ['lr', 'alpha', 'eps', 'weight_decay', 'momentum'],
        'Adagrad': ['lr', 'lr_decay', 'weight_decay', 'initial_accumulator_value', 'eps'],
        'LBFGS': ['lr', 'max_iter', 'tolerance_grad', 'tolerance_change', 'history_size'],
    }


def test_lbfgs_max_eval_and_max_iter_must_be_numbers():
    """max_eval's default is None (max_iter * 5 // 4), so LBFGS checks it itself."""
    with pytest.raises(TypeError, match=r"Invalid max_eval value: 'x' \(a number is expected\)"):
        optim.LBFGS([Parameter(P0.copy())], max_eval='x')
    with pytest.raises(TypeError, match=r"Invalid max_iter value: 'x' \(a number is expected\)"):
        optim.LBFGS([Parameter(P0.copy())], max_iter='x')  # not a TypeError from 'xxxxx' // 4
    assert optim.LBFGS([Parameter(P0.copy())], max_iter=8).param_groups[0]['max_eval'] == 10


WEIGHT_DECAY = [cls for cls in BUILTIN if 'weight_decay' in inspect.signature(cls).parameters]


@pytest.mark.parametrize('cls', WEIGHT_DECAY, ids=[c.__name__ for c in WEIGHT_DECAY])
def test_negative_weight_decay_is_refused_by_every_optimizer_that_has_it(cls):
    assert len(WEIGHT_DECAY) == 5 and optim.LBFGS not in WEIGHT_DECAY
    for value in (-1e-4, -1, float('nan')):
        with pytest.raises(ValueError, match=rf"^Invalid weight_decay value: {value}$"):
            cls([Parameter(P0.copy())], weight_decay=value)
        with pytest.raises(ValueError, match='Invalid weight_decay value'):
            cls([{'params': [Parameter(P0.copy())], 'weight_decay': value}])
    opt = cls([Parameter(P0.copy())], weight_decay=0.5)
    with pytest.raises(ValueError, match='Invalid weight_decay value: -0.5'):
        opt.add_param_group({'params': [Parameter(P0.copy())], 'weight_decay': -0.5})
    saved = opt.state_dict()
    saved['param_groups'][0]['weight_decay'] = -0.5
    with pytest.raises(ValueError, match='Invalid weight_decay value: -0.5'):
        opt.load_state_dict(saved)
    assert [g['weight_decay'] for g in opt.param_groups] == [0.5]
    cls([Parameter(P0.copy())], weight_decay=0)  # zero is fine


class ClippedSGD(optim.Optimizer):
    """A toy optimizer with options of its own: ``p -= lr * clip(scale * grad, -max_step, max_step)``."""

    _non_negative_options = ('max_step',)

    def __init__(self, params, lr=0.1, max_step=1.0, scale=2, *, flip=False, name='clipped'):
        super().__init__(params, dict(lr=lr, max_step=max_step, scale=scale, flip=flip, name=name))

    def _check_options(self, options):
        self.checks = getattr(self, 'checks', 0) + 1
        if options['scale'] == 0:
            raise ValueError("Invalid scale value: 0 (it must not be zero)")

    def _update(self, param, grad, group):
        step = group['lr'] * np.clip(group['scale'] * grad, -group['max_step'], group['max_step'])
        param.data += step if group['flip'] else -step


@pytest.mark.parametrize('options,error,match', [
    (dict(max_step='big'), TypeError, r"^Invalid max_step value: 'big' \(a number is expected\)$"),
    (dict(scale=None), TypeError, r"^Invalid scale value: None \(a number is expected\)$"),
    (dict(scale=True), TypeError, 'Invalid scale value: True'),
    (dict(lr='fast'), TypeError, "Invalid lr value: 'fast'"),
    (dict(lr=-1.0), ValueError, r'^Invalid learning rate: -1.0$'),
    (dict(max_step=-1.0), ValueError, r'^Invalid max_step value: -1.0$'),
    (dict(max_step=float('nan')), ValueError, r'^Invalid max_step value: nan$'),
    (dict(scale=float('nan')), ValueError, r'^Invalid scale value: nan$'),  # no range check, yet no NaN
    (dict(scale=0), ValueError, 'must not be zero'),                        # the subclass's own check
])
def test_a_new_optimizer_gets_its_numeric_options_checked_by_the_base(options, error, match):
    with pytest.raises(error, match=match):
        ClippedSGD([Parameter(P0.copy())], **options)
    with pytest.raises(error, match=match):
        ClippedSGD([{'params': [Parameter(P0.copy())], **options}])
    opt = ClippedSGD([Parameter(P0.copy())])
    with pytest.raises(error, match=match):
        opt.add_param_group({'params': [Parameter(P0.copy())], **options})
    saved = opt.state_dict()
    saved['param_groups'][0].update(options)
    with pytest.raises(error, match=match):
        opt.load_state_dict(saved)
    assert len(opt.param_groups) == 1 and opt.param_groups[0]['scale'] == 2


def test_a_new_optimizer_runs_and_its_options_are_checked_only_when_set():
    p = Parameter(np.array([1.0, -2.0, 0.1]))
    opt = ClippedSGD([p], lr=0.5, max_step=1.0, flip=False, name='toy')  # bool and str options: not numbers
    assert 'weight_decay' not in opt.param_groups[0]  # an optimizer without it needs none
    p.grad = np.array([0.2, -3.0, 0.0])
    checks = opt.checks
    for _ in range(3):
        opt.step()
    assert opt.checks == checks  # step() checks no options
    np.testing.assert_allclose(p.data, [1.0 - 3 * 0.2, -2.0 + 3 * 0.5, 0.1])
    opt.add_param_group({'params': [Parameter(P0.copy())], 'max_step': np.float32(2.0)})
    opt.load_state_dict(opt.state_dict())
    assert opt.checks == checks + 3  # one group added, two loaded


def test_non_negative_options_must_be_numbers_whatever_their_default():
    class Toy(optim.Optimizer):
        _non_negative_options = ('k',)

        def __init__(self, params, k=None):
            super().__init__(params, dict(k=k))

    with pytest.raises(TypeError, match=r"Invalid k value: None \(a number is expected\)"):
        Toy([Parameter(P0.copy())])
    with pytest.raises(ValueError, match='Invalid k value: -1'):
        Toy([Parameter(P0.copy())], k=-1)
    assert Toy([Parameter(P0.copy())], k=0).param_groups[0]['k'] == 0


def test_a_subclass_passing_kwargs_on_keeps_its_parents_checks():
    class TracedSGD(optim.SGD):
        def __init__(self, params, **kwargs):
            super().__init__(params, **kwargs)

    with pytest.raises(TypeError, match="Invalid momentum value: 'high'"):
        TracedSGD([Parameter(P0.copy())], lr=0.1, momentum='high')
    with pytest.raises(ValueError, match='Invalid weight_decay value: -1'):
        TracedSGD([Parameter(P0.copy())], lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match='Nesterov'):
        TracedSGD([Parameter(P0.copy())], lr=0.1, nesterov=True)


@pytest.mark.parametrize('bad,words', [
    (np.array([1.0, 2.0]), 'ndarray'),
    (tl.Value(np.array([1, 2])), 'int64'),
    (1.5, 'float'),
    ([1.0, 2.0], 'list'),
])
@pytest.mark.parametrize('cls', [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad,
                                 optim.LBFGS])
def test_non_parameters_raise_type_error_naming_them(cls, bad, words):
    good = Parameter(P0.copy())
    with pytest.raises(TypeError, match=words) as info:
        cls([good, bad])
    assert "params'][1]" in str(info.value)
    assert good.data is not None and np.array_equal(good.data, P0)


@pytest.mark.parametrize('cls', [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad])
def test_frozen_parameters_are_accepted_and_skipped_until_unfrozen(cls):
    """As in PyTorch: optimizer(model.parameters()) after freezing part of a model."""
    trained, frozen = Parameter(P0.copy()), Parameter(P0.copy(), requires_grad=False)
    opt = cls([trained, frozen], lr=0.1)
    ((trained * trained).sum() + (frozen * 1.0).sum()).backward()
    opt.step()
    assert frozen.grad is None and np.array_equal(frozen.data, P0) and frozen not in opt.state
    assert not np.array_equal(trained.data, P0)
    frozen.requires_grad_(True)
    opt.zero_grad()
    (frozen * frozen).sum().backward()
    opt.step()
    assert not np.array_equal(frozen.data, P0)


def test_params_argument_errors():
    p = Parameter(P0.copy())
    with pytest.raises(TypeError, match='iterable of Values'):
        optim.SGD(p, lr=0.1)  # a lone Value, as in PyTorch
    with pytest.raises(TypeError, match='iterable of Values'):
        optim.SGD(np.zeros(3), lr=0.1)
    with pytest.raises(TypeError, match='set'):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(ValueError, match='empty parameter list'):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match='empty parameter list'):
        optim.Adam([{'params': []}])
    with pytest.raises(ValueError, match='more than once'):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match='more than one parameter group'):
        optim.SGD([{'params': [p]}, {'params': [p]}], lr=0.1)
    with pytest.raises(ValueError, match='non-leaf'):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match='must be a dict'):
        optim.SGD([p], lr=0.1).add_param_group([Parameter(P0.copy())])
    with pytest.raises(ValueError, match='parameter groups'):
        optim.LBFGS([{'params': [p]}, {'params': [Parameter(P0.copy())]}])
    with pytest.raises(TypeError, match='closure'):
        optim.LBFGS([p]).step()  # as in PyTorch, LBFGS.step needs the closure


def test_bad_grad_shape_raises_before_any_parameter_moves():
    a, b = Parameter(P0.copy()), Parameter(P0.copy())
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = np.ones(2), np.ones(3)
    with pytest.raises(ValueError, match=r"grad has shape \(3,\)"):
        opt.step()
    np.testing.assert_array_equal(a.data, P0)
    assert not opt.state


# ---- LBFGS --------------------------------------------------------------------------------------
def _quadratic_closure(opt, x, a, b):
    def closure():
        opt.zero_grad()
        loss = 0.5 * (x * (tl.Value(a) @ x)).sum() - (x * tl.Value(b)).sum()
        loss.backward()
        return loss
    return closure


def test_lbfgs_first_iteration_by_hand():
    """Without a line search the first iteration steps along -g by min(1, 1/sum|g|) * lr."""
    x = Parameter(np.array([1.0, -2.0, 0.5]))
    a, b = np.diag([1.0, 2.0, 4.0]), np.array([0.5, 0.0, 1.0])
    opt = optim.LBFGS([x], lr=0.7, max_iter=1)
    loss = opt.step(_quadratic_closure(opt, x, a, b))
    g = a @ [1.0, -2.0, 0.5] - b                                  # [0.5, -4, 1]
    np.testing.assert_allclose(x.data, np.array([1.0, -2.0, 0.5]) - min(1.0, 1 / np.abs(g).sum()) * 0.7 * g,
                               rtol=1e-15)
    assert loss.item() == pytest.approx(0.5 * (1 + 8 + 1) - 1.0)
    state = opt.state[x]
    assert state['n_iter'] == 1 and state['func_evals'] == 1 and state['old_dirs'] == []


@pytest.mark.parametrize('line_search_fn', [None, 'strong_wolfe'])
def test_lbfgs_solves_a_quadratic(line_search_fn):
    """On a convex quadratic L-BFGS reaches the minimiser A^-1 b."""
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 5))
    a, b = m @ m.T + 5 * np.eye(5), rng.normal(size=5)
    x = Parameter(np.zeros(5))
    opt = optim.LBFGS([x], lr=1 if line_search_fn else 0.2, max_iter=100, line_search_fn=line_search_fn,
                      tolerance_grad=1e-12, tolerance_change=0.0)
    opt.step(_quadratic_closure(opt, x, a, b))
    np.testing.assert_allclose(x.data, np.linalg.solve(a, b), rtol=1e-9, atol=1e-10)


def test_lbfgs_rosenbrock_with_strong_wolfe_over_two_parameters():
    parts = [Parameter(np.array([-1.2, 1.0])), Parameter(np.array([-0.5, 0.8]))]
    opt = optim.LBFGS(parts, line_search_fn='strong_wolfe', max_iter=200, history_size=10,
                      tolerance_grad=1e-10, tolerance_change=0.0)

    def closure():
        opt.zero_grad()
        x = tl.concat(parts)
        loss = (100 * (x[1:] - x[:-1] ** 2) ** 2).sum() + ((1 - x[:-1]) ** 2).sum()
        loss.backward()
        return loss

    first = opt.step(closure)
    assert first.item() > 1.0
    np.testing.assert_allclose(np.concatenate([p.data for p in parts]), np.ones(4), atol=1e-10)
    state = opt.state[parts[0]]
    assert len(state['old_dirs']) <= 10 and state['func_evals'] <= 250
    assert parts[1] not in opt.state


def test_lbfgs_float32_stays_float32():
    a, b = np.diag([1.0, 2.0, 4.0]).astype(np.float32), np.array([0.5, 0.0, 1.0], np.float32)
    x = Parameter(np.array([1.0, -2.0, 0.5], np.float32))
    opt = optim.LBFGS([x], line_search_fn='strong_wolfe')
    opt.step(_quadratic_closure(opt, x, a, b))
    assert x.data.dtype == np.float32
    np.testing.assert_allclose(x.data, [0.5, 0.0, 0.25], atol=1e-5)
    state = opt.state[x]
    assert state['d'].dtype == state['prev_flat_grad'].dtype == np.float32
    assert all(y.dtype == np.float32 for y in state['old_dirs'] + state['old_stps'])


def test_lbfgs_stops_at_once_when_the_gradient_is_zero():
    x = Parameter(np.zeros(3))
    opt = optim.LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 0.0
    assert len(calls) == 1 and np.array_equal(x.data, np.zeros(3))


# ---- schedulers --------------------------------------------------------------------------------
def _sgd_two_groups():
    return optim.SGD([{'params': [Parameter(P0.copy())], 'lr': 0.1},
                      {'params': [Parameter(P0.copy())], 'lr': 0.03}], lr=1.0)


def _lrs(scheduler, epochs):
    out = [scheduler.get_last_lr()]
    for _ in range(epochs):
        scheduler.optimizer.step()
        scheduler.step()
        out.append(scheduler.get_last_lr())
        assert out[-1] == [g['lr'] for g in scheduler.optimizer.param_groups]
    return out


def test_step_lr_closed_form_and_groups():
    sched = lr_scheduler.StepLR(_sgd_two_groups(), step_size=3, gamma=0.5)
    for epoch, lrs in enumerate(_lrs(sched, 12)):
        assert lrs == pytest.approx([0.1 * 0.5 ** (epoch // 3), 0.03 * 0.5 ** (epoch // 3)], rel=1e-15)
    assert sched.base_lrs == [0.1, 0.03] and sched.last_epoch == 12


def test_exponential_lr_is_a_running_product():
    sched = lr_scheduler.ExponentialLR(_sgd_two_groups(), gamma=0.9)
    expected = [0.1, 0.03]
    for lrs in _lrs(sched, 10):
        assert lrs == expected
        expected = [lr * 0.9 for lr in expected]


def test_linear_lr_closed_form():
    sched = lr_scheduler.LinearLR(_sgd_two_groups())  # 1/3 -> 1 over 5 epochs
    for epoch, lrs in enumerate(_lrs(sched, 9)):
        factor = 1 / 3 + (1 - 1 / 3) * min(epoch, 5) / 5
        assert lrs == pytest.approx([0.1 * factor, 0.03 * factor], rel=1e-14)
    sched = lr_scheduler.LinearLR(_sgd_two_groups(), start_factor=1.0, end_factor=0.0, total_iters=4)
    assert [lrs[0] for lrs in _lrs(sched, 6)] == pytest.approx([0.1, 0.075, 0.05, 0.025, 0.0, 0.0, 0.0])


def test_cosine_annealing_recursive_form_and_closed_form():
    t_max, eta_min = 4, 0.01
    sched = lr_scheduler.CosineAnnealingLR(_sgd_two_groups(), T_max=t_max, eta_min=eta_min)
    lrs = _lrs(sched, 20)
    # PyTorch's recursion, written out: it must agree float for float
    expected = [[0.1, 0.03]]
    for epoch in range(1, 21):
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            row = [lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                   for base, lr in zip([0.1, 0.03], expected[-1])]
        else:
            row = [(1 + math.cos(math.pi * epoch / t_max)) / (1 + math.cos(math.pi * (epoch - 1) / t_max))
                   * (lr - eta_min) + eta_min for lr in expected[-1]]
        expected.append(row)
    assert lrs == expected
    # and the closed form, periodic past T_max, to rounding
    for epoch, row in enumerate(lrs):
        closed = [eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / t_max)) / 2
                  for base in (0.1, 0.03)]
        assert row == pytest.approx(closed, rel=1e-12, abs=1e-15)
    assert lrs[t_max] == pytest.approx([eta_min, eta_min])


def test_scheduler_sets_initial_lr_and_state_dict_round_trip():
    opt = _sgd_two_groups()
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    assert [g['initial_lr'] for g in opt.param_groups] == [0.1, 0.03]
    _lrs(sched, 3)
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    assert 'optimizer' not in saved_sched and saved_sched['last_epoch'] == 3
    rest = _lrs(sched, 4)

    opt2 = _sgd_two_groups()
    opt2.load_state_dict(saved_opt)
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=5, last_epoch=saved_sched['last_epoch'] - 1)
    sched2.load_state_dict(saved_sched)
    assert _lrs(sched2, 4) == rest


def test_scheduler_errors():
    opt = _sgd_two_groups()
    with pytest.raises(TypeError, match='not an Optimizer'):
        lr_scheduler.StepLR(object(), step_size=2)
    with pytest.raises(KeyError, match='initial_lr'):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)
    for make in (lambda: lr_scheduler.StepLR(opt, step_size=0),
                 lambda: lr_scheduler.StepLR(opt, step_size=2, gamma=-0.1),
                 lambda: lr_scheduler.ExponentialLR(opt, gamma=-1.0),
                 lambda: lr_scheduler.LinearLR(opt, start_factor=0.0),
                 lambda: lr_scheduler.LinearLR(opt, start_factor=1.5),
                 lambda: lr_scheduler.LinearLR(opt, end_factor=-0.1),
                 lambda: lr_scheduler.LinearLR(opt, total_iters=0),
                 lambda: lr_scheduler.CosineAnnealingLR(opt, T_max=0),
                 lambda: lr_scheduler.CosineAnnealingLR(opt, T_max=3, eta_min=-1.0)):
        with pytest.raises(ValueError):
            make()
    assert [g['lr'] for g in opt.param_groups] == [0.1, 0.03]


def test_exports():
    for name in ('Optimizer', 'SGD', 'Adam', 'AdamW', 'RMSprop', 'Adagrad', 'LBFGS', 'lr_scheduler'):
        assert name in optim.__all__ and hasattr(optim, name)
    for name in ('LRScheduler', 'StepLR', 'ExponentialLR', 'LinearLR', 'CosineAnnealingLR'):
        assert hasattr(lr_scheduler, name)
    assert issubclass(optim.AdamW, optim.Adam) and issubclass(optim.LBFGS, optim.Optimizer)
    assert 'lr: 0.1' in repr(optim.SGD([Parameter(P0.copy())], lr=0.1))


@pytest.mark.parametrize('weight', [0.1, 0.3, 0.5, 0.9])
def test_lerp_with_a_scratch_array_gives_the_same_bits(weight):
    """Adam's first moment and RMSprop's average go through the one ``lerp_`` (PyTorch's two forms)."""
    from tinygrad_ls.optim.updates import lerp_
    rng = np.random.default_rng(0)
    start, end = rng.standard_normal(50).astype(np.float32), rng.standard_normal(50).astype(np.float32)
    plain, scratched = start.copy(), start.copy()
    lerp_(plain, end, weight)
    lerp_(scratched, end, weight, np.empty_like(start))
    if weight < 0.5:
        expected = start + np.float32(weight) * (end - start)
    else:
        expected = end - (end - start) * np.float32(1.0 - weight)
    np.testing.assert_array_equal(plain, expected)
    np.testing.assert_array_equal(scratched, expected)
