"""LayerNorm and BatchNorm: ``F.layer_norm``, ``F.batch_norm``, ``nn.LayerNorm``,
``nn.BatchNorm1d``, ``nn.BatchNorm2d``.

- float64 ``gradcheck`` and ``gradgradcheck`` over a matrix of configurations (normalised
  shapes of one and two axes, affine parameters on and off, BatchNorm1d on 2-D and 3-D
  input, BatchNorm2d, training and eval statistics, a batch of 2), and the first-order
  gradients equal to the ``create_graph`` ones (the two ways the closed form is fed);
- behind the ``torch`` fixture (a skip without PyTorch): values and gradients against
  PyTorch in float64, running statistics and ``num_batches_tracked`` over several training
  steps (momentum 0.1 and None), eval after training, ``state_dict`` keys and order, a torch
  ``state_dict`` loaded into ours, ``repr``;
- bad input: errors naming the function or layer and the shapes, raised before the running
  statistics or the batch count change; float32 stays float32.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import leaf, normal

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F

RTOL, ATOL = 1e-10, 1e-12


def assert_close(actual, expected, what: str = '') -> None:
    actual = actual.data if isinstance(actual, tl.Value) else np.asarray(actual)
    expected = expected.detach().numpy() if hasattr(expected, 'detach') else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def affine_leaves(rng, shape: tuple, affine: tuple) -> list:
    """``[weight, bias]`` leaves (None where ``affine`` leaves one out), away from 0 and 1 so
    that a dropped factor would show."""
    has_weight, has_bias = affine
    return [leaf(rng.uniform(0.5, 1.5, shape)) if has_weight else None,
            leaf(normal(rng, shape)) if has_bias else None]


def present(*values) -> list:
    return [v for v in values if v is not None]


# ---- gradcheck and gradgradcheck -----------------------------------------------------------
AFFINE = [(True, True), (True, False), (False, True), (False, False)]
LAYER_NORM_CASES = [((5,), (5,)), ((3, 4), (4,)), ((2, 3, 4), (3, 4))]


def layer_norm_fn(normalized_shape: tuple, affine: tuple):
    """``(x, *present params) -> F.layer_norm``, for gradcheck."""
    def fn(x, *params):
        params = list(params)
        weight = params.pop(0) if affine[0] else None
        bias = params.pop(0) if affine[1] else None
        return F.layer_norm(x, normalized_shape, weight, bias, eps=1e-5)
    return fn


@pytest.mark.parametrize('affine', AFFINE, ids=str)
@pytest.mark.parametrize('x_shape, normalized_shape', LAYER_NORM_CASES, ids=str)
def test_layer_norm_gradcheck_and_gradgradcheck(x_shape, normalized_shape, affine):
    rng = np.random.default_rng(len(x_shape) + 3 * len(normalized_shape))
    x = leaf(normal(rng, x_shape) * 2 + 1)
    inputs = [x, *present(*affine_leaves(rng, normalized_shape, affine))]
    fn = layer_norm_fn(normalized_shape, affine)
    assert fn(*inputs).shape == x_shape
    assert tl.gradcheck(fn, inputs)
    assert tl.gradgradcheck(fn, inputs)


# (input shape, training): BatchNorm1d on (N, C) and (N, C, L), BatchNorm2d, a batch of 2
BATCH_NORM_CASES = [((4, 3), True), ((4, 3), False), ((3, 2, 4), True), ((3, 2, 4), False),
                    ((2, 2, 3, 3), True), ((2, 2, 3, 3), False), ((2, 3), True)]


def batch_norm_fn(channels: int, affine: tuple, training: bool, seed: int = 0):
    """``(x, *present params) -> F.batch_norm`` with fresh copies of fixed running statistics
    on each call (so gradcheck's many calls all see the same ones)."""
    rng = np.random.default_rng(seed)
    mean, var = normal(rng, (channels,)), rng.uniform(0.5, 2.0, channels)

    def fn(x, *params):
        params = list(params)
        weight = params.pop(0) if affine[0] else None
        bias = params.pop(0) if affine[1] else None
        return F.batch_norm(x, mean.copy(), var.copy(), weight, bias, training=training, momentum=0.1)
    return fn


@pytest.mark.parametrize('affine', [(True, True), (False, False), (True, False)], ids=str)
@pytest.mark.parametrize('x_shape, training', BATCH_NORM_CASES, ids=str)
def test_batch_norm_gradcheck_and_gradgradcheck(x_shape, training, affine):
    rng = np.random.default_rng(len(x_shape))
    channels = x_shape[1]
    x = leaf(normal(rng, x_shape) * 1.5 - 0.5)
    inputs = [x, *present(*affine_leaves(rng, (channels,), affine))]
    fn = batch_norm_fn(channels, affine, training)
    assert fn(*inputs).shape == x_shape
    assert tl.gradcheck(fn, inputs)
    assert tl.gradgradcheck(fn, inputs)


@pytest.mark.parametrize('kind', ['layer_norm', 'batch_norm train', 'batch_norm eval'])
def test_first_order_gradients_equal_the_create_graph_ones(kind):
    """The closed form gets saved statistics in a first-order pass and recomputed (recorded)
    ones with create_graph=True: both must give the same numbers. LayerNorm over enough rows
    for several blocks (the first-order pass walks blocks of rows)."""
    rng = np.random.default_rng(5)
    if kind == 'layer_norm':
        x, weight, bias = leaf(normal(rng, (3, 700, 48)) + 2), leaf(normal(rng, 48)), leaf(normal(rng, 48))
        fn = layer_norm_fn((48,), (True, True))
    else:
        x, weight, bias = leaf(normal(rng, (5, 3, 4)) + 2), leaf(normal(rng, 3)), leaf(normal(rng, 3))
        fn = batch_norm_fn(3, (True, True), training=kind.endswith('train'))
    upstream = normal(rng, x.shape)
    first = tl.grad(fn(x, weight, bias), [x, weight, bias], upstream)
    graph = tl.grad(fn(x, weight, bias), [x, weight, bias], upstream, create_graph=True)
    assert graph[0].requires_grad and graph[1].requires_grad  # (bias's is the upstream's sum)
    for a, b, name in zip(first, graph, ('x', 'weight', 'bias')):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-11, atol=1e-12, err_msg=name)


def test_only_the_wanted_gradients_are_computed():
    """An input that does not require grad gets none (the op skips its part of the work)."""
    rng = np.random.default_rng(2)
    x, weight, bias = leaf(normal(rng, (4, 6)), requires_grad=False), leaf(np.ones(6)), leaf(np.zeros(6))
    F.layer_norm(x, 6, weight, bias).sum().backward()
    assert x.grad is None and weight.grad is not None and bias.grad is not None
    np.testing.assert_allclose(bias.grad, np.full(6, 4.0))
    x2 = leaf(normal(rng, (4, 3, 2)))
    F.batch_norm(x2, None, None, leaf(np.ones(3), requires_grad=False), leaf(np.zeros(3)),
                 training=True).sum().backward()
    np.testing.assert_allclose(x2.grad, 0.0, atol=1e-12)  # the sum of a normalised channel is 0


def test_layer_norm_by_hand():
    """(x - mean) / sqrt(var + eps) of [1, 2, 3, 6]: mean 3, var 3.5."""
    x = leaf([1.0, 2.0, 3.0, 6.0])
    out = F.layer_norm(x, (4,), eps=0.5)
    np.testing.assert_allclose(out.data, np.array([-2.0, -1.0, 0.0, 3.0]) / 2.0, rtol=1e-15)


def test_an_input_edited_in_place_after_the_op_is_refused():
    """Backward reads the input: the in-place check of the engine sees the edit."""
    x = leaf(normal(np.random.default_rng(0), (3, 4)))
    h = x * 1.0
    out = F.layer_norm(h, 4)
    with tl.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match='layer_norm'):
        out.sum().backward()


# ---- modules ---------------------------------------------------------------------------------
def test_layer_norm_module_parameters_and_repr():
    layer = nn.LayerNorm((3, 4))
    assert [name for name, _ in layer.named_parameters()] == ['weight', 'bias']
    assert layer.weight.shape == layer.bias.shape == (3, 4)
    assert layer.weight.dtype == tl.get_default_dtype()
    np.testing.assert_array_equal(layer.weight.data, 1.0)
    np.testing.assert_array_equal(layer.bias.data, 0.0)
    assert repr(layer) == 'LayerNorm((3, 4), eps=1e-05, elementwise_affine=True, bias=True)'
    assert nn.LayerNorm(5, elementwise_affine=False).weight is None
    assert nn.LayerNorm(5, bias=False).bias is None
    assert list(nn.LayerNorm(5, elementwise_affine=False).state_dict()) == []


def test_batch_norm_buffers_follow_the_mode():
    layer = nn.BatchNorm2d(3)
    names = [name for name, _ in layer.named_buffers()]
    assert names == ['running_mean', 'running_var', 'num_batches_tracked']
    assert layer.num_batches_tracked.dtype == np.int64 and layer.num_batches_tracked.shape == ()
    assert layer.running_mean.dtype == layer.weight.dtype == tl.get_default_dtype()
    rng = np.random.default_rng(0)
    x = (normal(rng, (4, 3, 2, 2)) * 2 + 3).astype(np.float32)
    layer(x)
    assert layer.num_batches_tracked == 1
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-5)
    saved = layer.state_dict()
    layer.eval()
    out = layer(x)  # eval: the running statistics normalise, and nothing is updated
    expected = (x - layer.running_mean[:, None, None]) / np.sqrt(layer.running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, saved[key])


def test_batch_norm_without_running_stats_always_uses_the_batch():
    layer = nn.BatchNorm1d(3, track_running_stats=False, affine=False)
    assert layer.running_mean is None and layer.num_batches_tracked is None
    assert list(layer.state_dict()) == []
    x = normal(np.random.default_rng(1), (5, 3)).astype(np.float32) + 4
    train_out = layer(x).data
    np.testing.assert_allclose(layer.eval()(x).data, train_out)
    np.testing.assert_allclose(train_out.mean(axis=0), 0.0, atol=1e-5)


def test_momentum_none_is_the_cumulative_average():
    layer = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    rng = np.random.default_rng(3)
    batches = [normal(rng, (4, 2)) + i for i in range(3)]
    for batch in batches:
        layer(batch)
    np.testing.assert_allclose(layer.running_mean, np.mean([b.mean(axis=0) for b in batches], axis=0))
    np.testing.assert_allclose(layer.running_var, np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0))
    assert layer.num_batches_tracked == 3


def test_reset_and_to():
    layer = nn.BatchNorm1d(2)
    layer(np.array([[1.0, 2.0], [3.0, 5.0]], dtype=np.float32))
    with tl.no_grad():
        layer.weight.mul_(3.0)
    layer.to(np.float64)
    assert layer.running_mean.dtype == layer.weight.dtype == np.float64
    assert layer.num_batches_tracked.dtype == np.int64
    layer.reset_parameters()
    np.testing.assert_array_equal(layer.running_mean, 0.0)
    np.testing.assert_array_equal(layer.running_var, 1.0)
    np.testing.assert_array_equal(layer.weight.data, 1.0)
    assert layer.num_batches_tracked == 0


@pytest.mark.parametrize('make, shape', [(lambda: nn.LayerNorm(8), (2, 3, 8)),
                                         (lambda: nn.BatchNorm1d(3), (4, 3)),
                                         (lambda: nn.BatchNorm2d(3), (2, 3, 2, 2))],
                         ids=['ln', 'bn1d', 'bn2d'])
def test_float32_stays_float32(make, shape):
    layer = make()
    x = tl.Value(normal(np.random.default_rng(0), shape).astype(np.float32), requires_grad=True)
    out = layer(x)
    assert out.dtype == np.float32
    (out * out).sum().backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())
    assert all(b.dtype in (np.float32, np.int64) for b in layer.buffers())


def test_op_extra_repr():
    x = leaf(np.ones((2, 3)))
    assert F.layer_norm(x, 3)._fn.extra_repr() == '(3,), eps=1e-05'
    out = F.batch_norm(x, None, None, training=True, momentum=0.2)
    assert out._fn.extra_repr() == '3, eps=1e-05, momentum=0.2, training=True'


# ---- bad input -------------------------------------------------------------------------------
def _state(layer) -> dict:
    return {key: value.copy() for key, value in layer.state_dict().items()}


BAD_INPUTS = {
    'bn2d-channels': (nn.BatchNorm2d(3), (2, 4, 2, 2), r'BatchNorm2d: expected 3 channels.*\(2, 4, 2, 2\)'),
    'bn2d-dims': (nn.BatchNorm2d(3), (2, 3, 2), r'BatchNorm2d: .*shape \(N, C, H, W\).*\(2, 3, 2\)'),
    'bn1d-dims': (nn.BatchNorm1d(3), (2, 3, 2, 2), r'BatchNorm1d: .*\(N, C\) or \(N, C, L\).*\(2, 3, 2, 2\)'),
    'bn1d-batch1': (nn.BatchNorm1d(3), (1, 3),
                    r'BatchNorm1d: Expected more than 1 value per channel when training.*\(1, 3\)'),
    'bn1d-batch1-length1': (nn.BatchNorm1d(3), (1, 3, 1), r'Expected more than 1 value per channel'),
    'ln-shape': (nn.LayerNorm((3, 4)), (2, 4, 3),
                 r'LayerNorm: normalized_shape=\(3, 4\).*\(\*, 3, 4\).*\(2, 4, 3\)'),
    'ln-short': (nn.LayerNorm(4), (3,), r'LayerNorm: .*\(3,\)'),
}


@pytest.mark.parametrize('layer, bad, match', BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_names_the_layer_and_shapes_and_changes_nothing(layer, bad, match):
    before = _state(layer)
    with pytest.raises(ValueError, match=match):
        layer(np.zeros(bad, np.float32))
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_batch_one_is_fine_in_eval():
    layer = nn.BatchNorm1d(3).eval()
    assert layer(np.ones((1, 3), np.float32)).shape == (1, 3)


def test_integer_input_is_a_type_error():
    layer = nn.BatchNorm1d(3)
    with pytest.raises(TypeError, match=r'BatchNorm1d: input must have a float dtype, got int64'):
        layer(np.zeros((4, 3), dtype=np.int64))
    assert layer.num_batches_tracked == 0
    with pytest.raises(TypeError, match='layer_norm'):
        F.layer_norm(np.zeros((2, 3), dtype=np.int64), 3)


def test_functional_argument_errors():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r'layer_norm: weight must have shape \(3,\), got \(4,\)'):
        F.layer_norm(x, 3, weight=np.ones(4))
    with pytest.raises(ValueError, match=r'layer_norm: normalized_shape=\(2,\)'):
        F.layer_norm(x, 2)
    with pytest.raises(TypeError, match='normalized_shape'):
        F.layer_norm(x, 'three')
    with pytest.raises(ValueError, match='eps'):
        F.layer_norm(x, 3, eps=-1.0)
    mean, var = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match=r'batch_norm: running_mean must have shape \(3,\).*\(4, 3\)'):
        F.batch_norm(x, np.zeros(2), var)
    with pytest.raises(ValueError, match='training=False'):
        F.batch_norm(x, None, None)
    with pytest.raises(TypeError, match='momentum=None'):
        F.batch_norm(x, mean, var, training=True, momentum=None)
    with pytest.raises(ValueError, match=r'batch_norm: bias must have shape \(3,\)'):
        F.batch_norm(x, mean, var, bias=np.zeros(4))
    with pytest.raises(ValueError, match='both'):
        F.batch_norm(x, mean, None)
    with pytest.raises(TypeError, match='running_var must be a float np.ndarray'):
        F.batch_norm(x, mean, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(mean, 0.0)  # nothing was updated by any of these
    with pytest.raises(ValueError, match='num_features'):
        nn.BatchNorm2d(0)
    with pytest.raises(TypeError, match='affine'):
        nn.BatchNorm2d(3, affine='yes')


# ---- PyTorch parity (float64) ----------------------------------------------------------------
def torch_leaf(torch, value):
    return None if value is None else torch.tensor(value.data, requires_grad=True)


def backward_both(torch, out, torch_out, seed: int = 9) -> None:
    upstream = normal(np.random.default_rng(seed), out.shape)
    out.backward(upstream)
    torch_out.backward(torch.tensor(upstream))


@pytest.mark.torch
@pytest.mark.parametrize('affine', AFFINE, ids=str)
@pytest.mark.parametrize('x_shape, normalized_shape',
                         [((3, 5), (5,)), ((2, 3, 4), (3, 4)), ((4, 300, 64), (64,))], ids=str)
def test_layer_norm_matches_torch(torch, x_shape, normalized_shape, affine):
    rng = np.random.default_rng(11)
    x = leaf(normal(rng, x_shape) * 3 + 2)
    weight, bias = affine_leaves(rng, normalized_shape, affine)
    tx, tw, tb = (torch_leaf(torch, v) for v in (x, weight, bias))
    out = F.layer_norm(x, normalized_shape, weight, bias, eps=1e-3)
    torch_out = torch.nn.functional.layer_norm(tx, normalized_shape, tw, tb, eps=1e-3)
    assert_close(out, torch_out, 'output')
    backward_both(torch, out, torch_out)
    for ours, theirs, name in zip((x, weight, bias), (tx, tw, tb), ('x', 'weight', 'bias')):
        if ours is not None:
            assert_close(ours.grad, theirs.grad, f'grad of {name}')


@pytest.mark.torch
@pytest.mark.parametrize('affine', [(True, True), (False, False), (False, True)], ids=str)
@pytest.mark.parametrize('x_shape, training', BATCH_NORM_CASES, ids=str)
def test_batch_norm_matches_torch(torch, x_shape, training, affine):
    rng = np.random.default_rng(12)
    channels = x_shape[1]
    x = leaf(normal(rng, x_shape) * 2 - 1)
    weight, bias = affine_leaves(rng, (channels,), affine)
    mean, var = normal(rng, (channels,)), rng.uniform(0.5, 2.0, channels)
    t_mean, t_var = torch.tensor(mean), torch.tensor(var)
    tx, tw, tb = (torch_leaf(torch, v) for v in (x, weight, bias))
    out = F.batch_norm(x, mean, var, weight, bias, training=training, momentum=0.3, eps=1e-4)
    torch_out = torch.nn.functional.batch_norm(tx, t_mean, t_var, tw, tb, training=training, momentum=0.3,
                                               eps=1e-4)
    assert_close(out, torch_out, 'output')
    assert_close(mean, t_mean, 'running_mean')
    assert_close(var, t_var, 'running_var')
    backward_both(torch, out, torch_out)
    for ours, theirs, name in zip((x, weight, bias), (tx, tw, tb), ('x', 'weight', 'bias')):
        if ours is not None:
            assert_close(ours.grad, theirs.grad, f'grad of {name}')


def module_pair(torch, kind: str, args: tuple, **options):
    """Our layer and PyTorch's, float64, with the same (random) parameters."""
    ours = getattr(nn, kind)(*args, dtype=np.float64, **options)
    theirs = getattr(torch.nn, kind)(*args, **options).double()
    rng = np.random.default_rng(4)
    with tl.no_grad():
        for param in ours.parameters():
            param.copy_(rng.uniform(0.5, 1.5, param.shape))
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


BN_MODULES = [
    ('BatchNorm1d', {'args': (3,)}, (6, 3)),
    ('BatchNorm1d', {'args': (3,), 'momentum': None}, (4, 3, 5)),
    ('BatchNorm2d', {'args': (2,), 'momentum': 0.25, 'eps': 1e-3}, (3, 2, 3, 3)),
    ('BatchNorm2d', {'args': (2,), 'affine': False}, (2, 2, 2, 2)),
    ('BatchNorm2d', {'args': (2,), 'bias': False, 'momentum': None}, (2, 2, 3, 1)),
    ('BatchNorm1d', {'args': (3,), 'track_running_stats': False}, (5, 3)),
]


@pytest.mark.torch
@pytest.mark.parametrize('kind, options, x_shape', BN_MODULES,
                         ids=[f"{k}-{'-'.join(f'{a}={b}' for a, b in o.items() if a != 'args')}" for k, o, _
                              in BN_MODULES])
def test_batch_norm_modules_match_torch_over_training_steps(torch, kind, options, x_shape):
    """Several training steps (values, gradients, running statistics, batch count), then eval."""
    ours, theirs = module_pair(torch, kind, **options)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(8)
    for step in range(4):
        x = leaf(normal(rng, x_shape) * (step + 1) + step)
        tx = torch.tensor(x.data, requires_grad=True)
        ours.zero_grad()
        theirs.zero_grad()
        out, torch_out = ours(x), theirs(tx)
        assert_close(out, torch_out, f'output at step {step}')
        backward_both(torch, out, torch_out, seed=step)
        assert_close(x.grad, tx.grad, f'grad of x at step {step}')
        for (name, param), (_, torch_param) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert_close(param.grad, torch_param.grad, f'grad of {name} at step {step}')
        for key, value in theirs.state_dict().items():
            assert_close(ours.state_dict()[key], value, f'{key} after step {step}')
    ours.eval()
    theirs.eval()
    x = normal(rng, x_shape)
    assert_close(ours(x), theirs(torch.tensor(x)), 'eval output')


@pytest.mark.torch
@pytest.mark.parametrize('options', [{}, {'elementwise_affine': False}, {'bias': False}, {'eps': 1e-3}],
                         ids=str)
def test_layer_norm_module_matches_torch(torch, options):
    ours, theirs = module_pair(torch, 'LayerNorm', ((3, 4),), **options)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = leaf(normal(np.random.default_rng(1), (2, 3, 4)) + 1)
    tx = torch.tensor(x.data, requires_grad=True)
    out, torch_out = ours(x), theirs(tx)
    assert_close(out, torch_out, 'output')
    backward_both(torch, out, torch_out)
    assert_close(x.grad, tx.grad, 'grad of x')
    for (name, param), (_, torch_param) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(param.grad, torch_param.grad, f'grad of {name}')


@pytest.mark.torch
@pytest.mark.parametrize('kind, args, x_shape', [('BatchNorm1d', (3,), (4, 3, 2)),
                                                 ('BatchNorm2d', (3,), (2, 3, 2, 2)),
                                                 ('LayerNorm', ((2, 2),), (3, 2, 2))], ids=str)
def test_a_torch_state_dict_loads_and_gives_the_same_outputs(torch, kind, args, x_shape):
    theirs = getattr(torch.nn, kind)(*args).double()
    rng = np.random.default_rng(6)
    theirs.train()
    for _ in range(3):  # move the running statistics (BatchNorm) away from 0 and 1
        theirs(torch.tensor(normal(rng, x_shape) * 2 + 1))
    with torch.no_grad():
        for param in theirs.parameters():
            param.copy_(torch.tensor(rng.uniform(0.5, 1.5, tuple(param.shape))))
    ours = getattr(nn, kind)(*args, dtype=np.float64)
    ours.load_state_dict({key: value.numpy() for key, value in theirs.state_dict().items()})
    theirs.eval()
    ours.eval()
    x = normal(rng, x_shape)
    assert_close(ours(x), theirs(torch.tensor(x)), 'eval output')
    if kind != 'LayerNorm':
        assert ours.num_batches_tracked == 3 and ours.num_batches_tracked.dtype == np.int64
