"""nn.init: PyTorch's fans and gains, every initialiser's bounds (exactly) and moments
(statistically, with tolerances of five standard errors of the estimate), in-place semantics
(same Parameter, same array, no graph), seeding, and errors; behind the ``torch`` fixture (a
skip without PyTorch), calculate_gain and the fans equal torch.nn.init's and the samples have
the same ranges and spreads as torch's."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import init
from tinygrad_ls.nn.init import _calculate_fan_in_and_fan_out

NONLINEARITIES = [('linear', None), ('conv1d', None), ('conv2d', None), ('conv3d', None),
                  ('conv_transpose1d', None), ('conv_transpose2d', None), ('conv_transpose3d', None),
                  ('sigmoid', None), ('tanh', None), ('relu', None), ('selu', None),
                  ('leaky_relu', None), ('leaky_relu', 0.2), ('leaky_relu', 0), ('leaky_relu', 3),
                  ('leaky_relu', np.float64(0.1)), ('relu', 0.5)]
# A weight of shape (out, in, 3, 3): fan_in = 200 * 9, fan_out = 300 * 9; 540 000 draws.
SHAPE, FAN_IN, FAN_OUT = (300, 200, 3, 3), 1800, 2700


def empty(*shape, dtype=np.float64) -> nn.Parameter:
    return nn.Parameter(np.full(shape, np.nan, dtype=dtype))


def check_uniform(data: np.ndarray, low: float, high: float) -> None:
    """Exactly inside [low, high], reaching both ends, with the mean and std of U(low, high)."""
    n, width = data.size, high - low
    assert data.min() >= low and data.max() <= high
    assert data.min() < low + 1e-4 * width and data.max() > high - 1e-4 * width  # P(miss) ~ e^-54
    std = width / math.sqrt(12)
    assert abs(data.mean() - (low + high) / 2) < 5 * std / math.sqrt(n)
    assert abs(data.std() / std - 1) < 5 * math.sqrt(0.2 / n)  # SE of a sample std: sqrt((kurtosis-1)/4n)


def check_normal(data: np.ndarray, mean: float, std: float) -> None:
    n = data.size
    assert abs(data.mean() - mean) < 5 * std / math.sqrt(n)
    assert abs(data.std() / std - 1) < 5 * math.sqrt(0.5 / n)
    assert abs(np.mean(np.abs(data - mean) < std) - 0.6827) < 0.005  # the shape, not just 2 moments


# ---- gains and fans ---------------------------------------------------------------------------
def test_calculate_gain_values():
    expected = {'linear': 1.0, 'conv2d': 1.0, 'sigmoid': 1.0, 'tanh': 5 / 3, 'relu': math.sqrt(2),
                'selu': 0.75}
    for name, gain in expected.items():
        assert init.calculate_gain(name) == gain
    assert init.calculate_gain('leaky_relu') == math.sqrt(2 / (1 + 0.01 ** 2))
    assert init.calculate_gain('leaky_relu', 0.2) == math.sqrt(2 / 1.04)
    assert init.calculate_gain('leaky_relu', 1) == 1.0


@pytest.mark.parametrize('nonlinearity, param, error', [
    ('softmax', None, 'unsupported nonlinearity'), ('ReLU', None, 'unsupported nonlinearity'),
    (None, None, 'must be a name'), ('leaky_relu', True, 'negative_slope True'),
    ('leaky_relu', 'x', 'not a valid number'), ('leaky_relu', math.nan, 'not a valid number')])
def test_calculate_gain_errors(nonlinearity, param, error):
    with pytest.raises(ValueError, match=f"calculate_gain: .*{error}"):
        init.calculate_gain(nonlinearity, param)


@pytest.mark.parametrize('shape, fans', [
    ((3, 5), (5, 3)), ((4, 3, 2), (6, 8)), ((8, 4, 3, 3), (36, 72)), ((2, 1, 1, 1, 5), (5, 10)),
    ((0, 3), (3, 0))])
def test_fans(shape, fans):
    assert _calculate_fan_in_and_fan_out(empty(*shape)) == fans


# ---- in place, no graph, seeded ------------------------------------------------------------------
ALL = [(init.uniform_, {}), (init.normal_, {}), (init.constant_, {'val': 0.5}), (init.zeros_, {}),
       (init.ones_, {}), (init.xavier_uniform_, {}), (init.xavier_normal_, {}),
       (init.kaiming_uniform_, {}), (init.kaiming_normal_, {'mode': 'fan_out'})]


@pytest.mark.parametrize('fn, kwargs', ALL, ids=lambda x: getattr(x, '__name__', ''))
def test_in_place_keeps_the_parameter_and_records_no_graph(fn, kwargs):
    weight = nn.Linear(4, 3).weight  # requires grad; grad mode is on
    array, version = weight.data, weight._version
    assert fn(weight, **kwargs) is weight
    assert weight.data is array and weight.dtype == np.float32 and np.isfinite(array).all()
    assert weight.is_leaf and weight.requires_grad and weight.grad is None
    assert weight._version == version + 1  # so a graph recorded earlier refuses backward


def test_seeded_by_manual_seed():
    first, second = empty(50, 40), empty(50, 40)
    tl.manual_seed(3)
    init.kaiming_normal_(first)
    tl.manual_seed(3)
    init.kaiming_normal_(second)
    np.testing.assert_array_equal(first.data, second.data)
    assert not np.array_equal(first.data, init.kaiming_normal_(second).data)


def test_constant_zeros_ones_keep_any_dtype():
    counts = nn.Parameter(np.arange(6).reshape(2, 3), requires_grad=False)
    assert init.constant_(counts, 7).data.tolist() == [[7] * 3] * 2 and counts.dtype == np.int64
    assert not init.zeros_(counts).data.any() and (init.ones_(empty(3)).data == 1).all()


# ---- distributions -------------------------------------------------------------------------------
def test_uniform_and_normal():
    tl.manual_seed(0)
    check_uniform(init.uniform_(empty(*SHAPE), -2.0, 3.0).data, -2.0, 3.0)
    check_uniform(init.uniform_(empty(*SHAPE)).data, 0.0, 1.0)
    check_normal(init.normal_(empty(*SHAPE), mean=1.0, std=2.0).data, 1.0, 2.0)
    check_normal(init.normal_(empty(*SHAPE)).data, 0.0, 1.0)
    assert (init.normal_(empty(5), 4.0, 0.0).data == 4.0).all()


@pytest.mark.parametrize('gain', [1.0, 0.5, init.calculate_gain('tanh')])
def test_xavier(gain):
    tl.manual_seed(1)
    bound = gain * math.sqrt(6 / (FAN_IN + FAN_OUT))
    check_uniform(init.xavier_uniform_(empty(*SHAPE), gain).data, -bound, bound)
    std = gain * math.sqrt(2 / (FAN_IN + FAN_OUT))
    check_normal(init.xavier_normal_(empty(*SHAPE), gain=gain).data, 0.0, std)


@pytest.mark.parametrize('a, mode, nonlinearity, gain', [
    (0, 'fan_in', 'leaky_relu', math.sqrt(2)), (0, 'fan_out', 'relu', math.sqrt(2)),
    (0.2, 'FAN_IN', 'leaky_relu', math.sqrt(2 / 1.04)),
    (math.sqrt(5), 'fan_in', 'leaky_relu', math.sqrt(1 / 3)),
    (0, 'fan_out', 'tanh', 5 / 3), (0, 'fan_in', 'linear', 1.0)])
def test_kaiming(a, mode, nonlinearity, gain):
    tl.manual_seed(2)
    fan = FAN_IN if mode.lower() == 'fan_in' else FAN_OUT
    bound = gain * math.sqrt(3 / fan)
    check_uniform(init.kaiming_uniform_(empty(*SHAPE), a, mode, nonlinearity).data, -bound, bound)
    out = init.kaiming_normal_(empty(*SHAPE), a=a, mode=mode, nonlinearity=nonlinearity)
    check_normal(out.data, 0.0, gain / math.sqrt(fan))


def test_linear_default_init_is_kaiming_uniform_with_a_sqrt5():
    tl.manual_seed(0)
    weight = init.kaiming_uniform_(empty(300, 2000, dtype=np.float32), a=math.sqrt(5))
    bound = np.float32(1 / math.sqrt(2000))  # nn.Linear's bound 1/sqrt(in_features)
    assert weight.dtype == np.float32 and np.abs(weight.data).max() <= bound
    assert np.abs(weight.data).max() > 0.9999 * bound


def test_zero_element_tensors_are_left_alone():
    with pytest.warns(UserWarning, match="kaiming_uniform_: initializing zero-element tensors is a no-op"):
        init.kaiming_uniform_(empty(0, 3))
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_normal_(empty(0))
    assert init.xavier_uniform_(empty(0, 3)).shape == (0, 3)
    assert init.uniform_(empty(0)).shape == (0,)


# ---- errors (nothing changes) ----------------------------------------------------------------
@pytest.mark.parametrize('call, kind, message', [
    (lambda w: init.uniform_(w.data), TypeError, r"nn.init.uniform_: expected a Value .* got ndarray"),
    (lambda w: init.zeros_([1.0]), TypeError, "nn.init.zeros_: expected a Value"),
    (lambda w: init.normal_(nn.Parameter(np.ones(2, dtype=np.int64), requires_grad=False)), TypeError,
     "nn.init.normal_: random initialisation needs a floating dtype, got int64"),
    (lambda w: init.uniform_(w, 1.0, 0.0), ValueError, "a=1.0 must not be greater than b=0.0"),
    (lambda w: init.uniform_(w, -math.inf), ValueError, "a must be finite"),
    (lambda w: init.uniform_(w, '0'), TypeError, "nn.init.uniform_: a must be a number"),
    (lambda w: init.normal_(w, std=-1.0), ValueError, "std must be >= 0, got -1.0"),
    (lambda w: init.normal_(w, mean=math.nan), ValueError, "mean must be finite"),
    (lambda w: init.constant_(w, None), TypeError, "nn.init.constant_: val must be a number"),
    (lambda w: init.xavier_uniform_(w, gain=-1.0), ValueError, "gain must be >= 0"),
    (lambda w: init.xavier_normal_(nn.Parameter(np.ones(4))), ValueError,
     r"xavier_normal_: fan in and fan out can not be computed .* fewer than 2 dimensions \(shape \(4,\)\)"),
    (lambda w: init.kaiming_uniform_(nn.Parameter(np.ones(4))), ValueError, "fewer than 2 dimensions"),
    (lambda w: init.kaiming_normal_(w, mode='fan_avg'), ValueError, "mode 'fan_avg' is not supported"),
    (lambda w: init.kaiming_uniform_(w, nonlinearity='gelu'), ValueError, "unsupported nonlinearity 'gelu'"),
    (lambda w: init.kaiming_uniform_(w, a='x'), ValueError, "negative_slope 'x'"),
])
def test_errors_name_the_function_and_change_nothing(call, kind, message):
    weight = nn.Parameter(np.full((3, 4), 0.25))
    with pytest.raises(kind, match=message):
        call(weight)
    assert (weight.data == 0.25).all() and weight._version == 0


# ---- PyTorch parity ----------------------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize('nonlinearity, param', NONLINEARITIES)
def test_torch_calculate_gain(torch, nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


@pytest.mark.torch
@pytest.mark.parametrize('nonlinearity, param', [('gelu', None), ('leaky_relu', True), ('leaky_relu', 'x')])
def test_torch_calculate_gain_errors(torch, nonlinearity, param):
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain(nonlinearity, param)
    with pytest.raises(ValueError):
        init.calculate_gain(nonlinearity, param)


@pytest.mark.torch
@pytest.mark.parametrize('shape', [(3, 5), (4, 3, 2), (8, 4, 3, 3), (2, 1, 1, 1, 5), (0, 3), (5,)])
def test_torch_fans(torch, shape):
    from torch.nn.init import _calculate_fan_in_and_fan_out as theirs
    if len(shape) < 2:
        with pytest.raises(ValueError, match='fewer than 2 dimensions'):
            theirs(torch.empty(shape))
        with pytest.raises(ValueError, match='fewer than 2 dimensions'):
            _calculate_fan_in_and_fan_out(empty(*shape))
    else:
        assert _calculate_fan_in_and_fan_out(empty(*shape)) == theirs(torch.empty(shape))


@pytest.mark.torch
@pytest.mark.parametrize('name, kwargs', [
    ('uniform_', {'a': -1.0, 'b': 2.0}), ('normal_', {'mean': 0.5, 'std': 2.0}),
    ('xavier_uniform_', {'gain': 2.0}), ('xavier_normal_', {}),
    ('kaiming_uniform_', {'a': math.sqrt(5)}),
    ('kaiming_uniform_', {'mode': 'fan_out', 'nonlinearity': 'relu'}),
    ('kaiming_normal_', {'nonlinearity': 'tanh'}), ('constant_', {'val': -3.0})])
def test_torch_same_distributions(torch, name, kwargs):
    """The same distribution as torch's draws (the numbers differ: another generator): equal
    mean, std and quantiles within 0.03 std (over 4 standard errors of the difference at the
    1% quantile of a normal); a uniform's ends within 0.001 std (its gaps are ~ width / n)."""
    torch.manual_seed(0)
    tl.manual_seed(0)
    theirs = getattr(torch.nn.init, name)(torch.empty(SHAPE, dtype=torch.float64), **kwargs).numpy()
    ours = getattr(init, name)(empty(*SHAPE), **kwargs).data
    tolerance = 0.03 * theirs.std() + 1e-12

    def summary(data):
        return [*np.quantile(data, [0.01, 0.25, 0.5, 0.75, 0.99]), data.mean(), data.std()]

    np.testing.assert_allclose(summary(ours), summary(theirs), rtol=0, atol=tolerance)
    if 'uniform' in name:
        np.testing.assert_allclose([ours.min(), ours.max()], [theirs.min(), theirs.max()], rtol=0,
                                   atol=tolerance / 30)
