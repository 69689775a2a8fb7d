"""Convolution: F.conv1d, F.conv2d, nn.Conv1d, nn.Conv2d.

A float64 gradcheck matrix over stride, padding (ints, tuples, 'same' with odd and even
kernels, 'valid'), dilation, groups (1, 2, depthwise), odd sizes, batch 1 and bias or none;
gradgradcheck through the recorded gradient ops; values and gradients against PyTorch;
module init, repr and state_dict against PyTorch; bad arguments raise before anything runs.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import leaf, normal

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F

# (id, input shape, weight shape, keyword arguments of conv2d); bias (out,) unless 'bias' is False
CONV2D_CASES = [
    ('plain', (2, 2, 5, 4), (3, 2, 3, 3), {}),
    ('stride2-pad1-odd', (1, 2, 7, 5), (2, 2, 3, 3), dict(stride=2, padding=1)),
    ('same-odd', (2, 1, 5, 5), (2, 1, 3, 3), dict(padding='same')),
    ('same-even-dilated', (1, 2, 5, 6), (2, 2, 2, 4), dict(padding='same', dilation=(1, 2))),
    ('valid-stride21', (2, 2, 6, 5), (2, 2, 3, 2), dict(padding='valid', stride=(2, 1))),
    ('dilation2-pad2', (1, 2, 7, 6), (2, 2, 3, 3), dict(dilation=2, padding=2)),
    ('groups2', (2, 4, 5, 4), (4, 2, 3, 3), dict(groups=2, padding=1)),
    ('depthwise', (1, 3, 5, 5), (6, 1, 3, 3), dict(groups=3, stride=2, padding=1)),
    ('no-bias', (2, 2, 4, 5), (3, 2, 2, 2), dict(bias=False, stride=(1, 2))),
    ('tuple-padding', (1, 2, 4, 6), (2, 2, 1, 3), dict(padding=(0, 2))),
    ('batch1-1x1', (1, 3, 3, 4), (2, 3, 1, 1), {}),
    ('stride-beyond-kernel', (2, 1, 7, 7), (2, 1, 2, 2), dict(stride=3, padding=1)),
]

CONV1D_CASES = [
    ('plain', (2, 2, 7), (3, 2, 3), {}),
    ('stride2-pad1', (1, 2, 8), (2, 2, 3), dict(stride=2, padding=1)),
    ('same-even-dilated', (2, 2, 7), (2, 2, 4), dict(padding='same', dilation=2)),
    ('groups-depthwise', (1, 4, 6), (4, 1, 3), dict(groups=4, bias=False)),
]


def conv_inputs(input_shape: tuple, weight_shape: tuple, options: dict, seed: int = 0) -> tuple:
    """``(arrays, keyword arguments)``: input, weight and (unless bias=False) bias arrays."""
    rng = np.random.default_rng(seed)
    options = dict(options)
    arrays = [normal(rng, input_shape), normal(rng, weight_shape)]
    if options.pop('bias', True):
        arrays.append(normal(rng, weight_shape[:1]))
    return arrays, options


def case_ids(cases: list) -> list:
    return [case[0] for case in cases]


# ---- gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize('_, input_shape, weight_shape, options', CONV2D_CASES, ids=case_ids(CONV2D_CASES))
def test_conv2d_gradcheck(_, input_shape, weight_shape, options):
    arrays, options = conv_inputs(input_shape, weight_shape, options)
    assert tl.gradcheck(lambda *args: F.conv2d(*args, **options), [leaf(a) for a in arrays])


@pytest.mark.parametrize('_, input_shape, weight_shape, options', CONV1D_CASES, ids=case_ids(CONV1D_CASES))
def test_conv1d_gradcheck(_, input_shape, weight_shape, options):
    arrays, options = conv_inputs(input_shape, weight_shape, options)
    assert tl.gradcheck(lambda *args: F.conv1d(*args, **options), [leaf(a) for a in arrays])


GRADGRAD_CASES = ['stride2-pad1-odd', 'same-even-dilated', 'depthwise']


@pytest.mark.parametrize('name', GRADGRAD_CASES)
def test_conv2d_gradgradcheck(name):
    """Second derivatives run through ConvTranspose and ConvWeight, recorded ops whose
    backward is the convolution again."""
    _, input_shape, weight_shape, options = dict((case[0], case) for case in CONV2D_CASES)[name]
    arrays, options = conv_inputs(input_shape, weight_shape, options, seed=1)
    assert tl.gradgradcheck(lambda *args: F.conv2d(*args, **options), [leaf(a) for a in arrays])


def test_conv1d_gradgradcheck():
    arrays, options = conv_inputs((1, 2, 6), (2, 2, 3), dict(stride=2, padding=1))
    assert tl.gradgradcheck(lambda *args: F.conv1d(*args, **options), [leaf(a) for a in arrays])


def test_third_derivative_through_the_gradient_ops():
    """d/dw of (d/dx of a conv) runs ConvTranspose's backward, whose own graph is recorded too."""
    rng = np.random.default_rng(2)
    x, w = leaf(normal(rng, (1, 1, 4, 4))), leaf(normal(rng, (1, 1, 2, 2)))

    def input_gradient(x, w):
        (grad_x,) = tl.grad((F.conv2d(x, w, stride=2) ** 2).sum(), [x], create_graph=True)
        return grad_x
    assert tl.gradgradcheck(input_gradient, [x, w])


def test_unbatched_input_matches_a_batch_of_one():
    rng = np.random.default_rng(3)
    x, w, b = leaf(normal(rng, (2, 5, 4))), leaf(normal(rng, (3, 2, 3, 3))), leaf(normal(rng, (3,)))
    out = F.conv2d(x, w, b, padding=1)
    assert out.shape == (3, 5, 4)
    np.testing.assert_allclose(out.data, F.conv2d(x.data[None], w, b, padding=1).data[0], rtol=1e-14)
    assert tl.gradcheck(lambda *args: F.conv2d(*args, padding=1), [x, w, b])
    assert F.conv1d(leaf(normal(rng, (2, 6))), leaf(normal(rng, (4, 2, 3)))).shape == (4, 4)


def test_exact_small_case():
    """A 3x3 input, a 2x2 kernel of ones: each output is the sum of its window."""
    x = leaf(np.arange(9.0).reshape(1, 1, 3, 3))
    w = leaf(np.ones((1, 1, 2, 2)))
    out = F.conv2d(x, w, np.array([0.5]))
    np.testing.assert_array_equal(out.data, [[[[8.5, 12.5], [20.5, 24.5]]]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(w.grad[0, 0], [[8, 12], [20, 24]])


def test_same_padding_keeps_the_size_and_puts_the_extra_at_the_end():
    x = leaf(np.zeros((1, 1, 5, 6)))
    x.data[0, 0, 0, 0] = 1.0  # only the top-left element is nonzero
    w = leaf(np.zeros((1, 1, 2, 2)))
    w.data[0, 0, 0, 0] = 1.0  # the kernel's first tap reads x[h + i - 0, w + j - 0]
    out = F.conv2d(x, w, padding='same')
    assert out.shape == (1, 1, 5, 6)
    assert out.data[0, 0, 0, 0] == 1.0  # zero padding before: (2 - 1) // 2 = 0 rows, 1 row after


def test_float32_stays_float32():
    layer = nn.Conv2d(2, 3, 3, padding=1)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    x = leaf(np.random.default_rng(4).standard_normal((2, 2, 5, 5)), dtype=np.float32)
    out = layer(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32
    assert nn.Conv1d(2, 3, 3, dtype=np.float64).weight.dtype == np.float64


def test_op_settings_for_graph_pictures():
    x, w = leaf(np.ones((1, 2, 6, 6))), leaf(np.ones((4, 1, 3, 3)))
    assert F.conv2d(x, w, stride=2, padding=1, groups=2)._fn.extra_repr() == \
        'stride=(2, 2), padding=(1, 1), groups=2'
    assert F.conv2d(x, w[:, :1].repeat(1, 2, 1, 1), dilation=2)._fn.extra_repr() == \
        'stride=(1, 1), dilation=(2, 2)'
    out = F.conv2d(x, leaf(np.ones((1, 2, 2, 2))), padding='same')
    assert out._fn.name == 'conv2d'
    assert out._fn.extra_repr() == 'stride=(1, 1), padding=((0, 1), (0, 1))'
    (grad_x,) = tl.grad(out.sum(), [x], create_graph=True)
    assert grad_x._fn.name == 'conv_transpose2d'


# ---- modules ---------------------------------------------------------------------------------
def test_conv2d_module_shapes_and_init_bounds():
    tl.manual_seed(0)
    layer = nn.Conv2d(8, 16, (3, 5), groups=2)
    fan_in = 8 // 2 * 3 * 5
    bound = 1 / math.sqrt(fan_in)
    assert layer.weight.shape == (16, 4, 3, 5) and layer.bias.shape == (16,)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    big = nn.Conv2d(64, 64, 3)  # kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    std = 1 / math.sqrt(64 * 9) / math.sqrt(3)
    assert abs(big.weight.data.std() / std - 1) < 0.02
    assert abs(big.weight.data.mean()) < 0.05 * std
    assert [name for name, _ in layer.named_parameters()] == ['weight', 'bias']
    assert nn.Conv2d(2, 2, 3, bias=False).bias is None
    tl.manual_seed(0)
    again = nn.Conv2d(8, 16, (3, 5), groups=2)
    np.testing.assert_array_equal(again.weight.data, layer.weight.data)


def test_conv1d_module_forward_is_the_functional():
    tl.manual_seed(1)
    layer = nn.Conv1d(2, 4, 3, stride=2, padding=1)
    x = np.random.default_rng(5).standard_normal((3, 2, 9)).astype(np.float32)
    expected = F.conv1d(x, layer.weight, layer.bias, stride=2, padding=1)
    np.testing.assert_array_equal(layer(x).data, expected.data)
    assert layer.kernel_size == (3,) and layer.padding == (1,)


# ---- bad input ---------------------------------------------------------------------------------
def test_wrong_channel_count_names_the_function_and_the_shapes():
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(1, 4, 5, 5\) has 4 channels.*"
                                         r"\(16, 3, 3, 3\) with groups=1 expects 3"):
        F.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((16, 3, 3, 3)))
    layer = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d: input of shape \(2, 1, 8, 8\) has 1 channels"):
        layer(np.zeros((2, 1, 8, 8), dtype=np.float32))
    assert layer.weight.grad is None


def test_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"conv2d: kernel size \(5, 5\) is larger than the padded input "
                                         r"\(4, 6\) \(input shape \(1, 1, 2, 4\), padding=1\)"):
        F.conv2d(np.zeros((1, 1, 2, 4)), np.zeros((1, 1, 5, 5)), padding=1)
    with pytest.raises(ValueError, match=r"Conv1d: kernel size \(3,\) \(dilated: \(7,\)\) is larger"):
        nn.Conv1d(1, 1, 3, dilation=3)(np.zeros((1, 1, 6), dtype=np.float32))


def test_input_rank():
    with pytest.raises(ValueError, match=r"conv2d: expected a 3-d \(C, H, W\) or 4-d \(N, C, H, W\) input, "
                                         r"got shape \(5, 5\)"):
        F.conv2d(np.zeros((5, 5)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"Conv2d: expected a 3-d .* got shape \(1, 1, 1, 5, 5\)"):
        nn.Conv2d(1, 1, 3)(np.zeros((1, 1, 1, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"conv1d: weight must have shape \(out_channels, "
                                         r"in_channels/groups, kL\), got \(1, 1, 3, 3\)"):
        F.conv1d(np.zeros((1, 1, 5)), np.zeros((1, 1, 3, 3)))


def test_groups_must_divide_the_channels():
    with pytest.raises(ValueError, match=r"Conv2d: in_channels=3 and out_channels=4 must both be divisible "
                                         r"by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"conv2d: out_channels=3 \(weight shape \(3, 2, 3, 3\)\) must be "
                                         r"divisible by groups=2"):
        F.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=2)
    with pytest.raises(ValueError, match="groups must be positive"):
        F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), groups=0)


@pytest.mark.parametrize('call, error, message', [
    (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding='same', stride=2),
     ValueError, r"conv2d: padding='same' is not supported for strided convolutions"),
    (lambda: nn.Conv2d(1, 1, 3, stride=2, padding='same'),
     ValueError, r"Conv2d: padding='same' is not supported"),
    (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding='full'),
     ValueError, r"conv2d: padding must be an int, a tuple of ints, 'same' or 'valid', got 'full'"),
    (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=-1),
     ValueError, r"conv2d: padding must be non-negative"),
    (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=(1, 0)),
     ValueError, r"conv2d: stride must be positive, got \(1, 0\)"),
    (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=(1, 1, 1)),
     TypeError, r"conv2d: stride must be an int or a tuple of 2 ints"),
    (lambda: F.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), np.zeros(3)),
     ValueError, r"conv2d: bias must have shape \(2,\) .* got \(3,\)"),
    (lambda: F.conv2d(np.zeros((1, 1, 5, 5), dtype=np.int64), np.zeros((1, 1, 3, 3))),
     TypeError, r"conv2d: input must have a float dtype, got int64 \(shape \(1, 1, 5, 5\)\)"),
    (lambda: nn.Conv2d(1, 2, 0), ValueError, r"Conv2d: kernel_size must be positive"),
    (lambda: nn.Conv2d(0, 2, 3), ValueError, r"Conv2d: in_channels must be positive"),
    (lambda: nn.Conv2d(1, 2, 3, padding_mode='reflect'), ValueError, r"only padding_mode='zeros'"),
], ids=['same-strided', 'module-same-strided', 'padding-string', 'padding-negative', 'stride-zero',
        'stride-length', 'bias-shape', 'int-input', 'kernel-zero', 'channels-zero', 'padding-mode'])
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_an_error_leaves_the_graph_and_the_weights_alone():
    layer = nn.Conv2d(2, 2, 3)
    before = layer.weight.data.copy()
    x = leaf(np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError):
        layer(x)
    assert x.grad is None and layer.weight.grad is None
    np.testing.assert_array_equal(layer.weight.data, before)


# ---- PyTorch ---------------------------------------------------------------------------------
TORCH_CASES = [(2, case) for case in CONV2D_CASES] + [(1, case) for case in CONV1D_CASES]


@pytest.mark.torch
@pytest.mark.filterwarnings('ignore:Using padding=.same. with even kernel')  # torch's note on its own copy
@pytest.mark.parametrize('dims, case', TORCH_CASES, ids=[f'{dims}d-{case[0]}' for dims, case in TORCH_CASES])
def test_values_and_gradients_match_torch(torch, dims, case):
    _, input_shape, weight_shape, options = case
    arrays, options = conv_inputs(input_shape, weight_shape, options, seed=7)
    ours, theirs = getattr(F, f'conv{dims}d'), getattr(torch.nn.functional, f'conv{dims}d')
    values = [leaf(a) for a in arrays]
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = ours(*values, **options), theirs(*tensors, **options)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = np.random.default_rng(8).standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    for value, tensor in zip(values, tensors):
        np.testing.assert_allclose(value.grad, tensor.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_second_derivatives_match_torch(torch):
    """A gradient penalty: d/dw of |d out / d x|^2."""
    rng = np.random.default_rng(9)
    x_array, w_array = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((3, 2, 3, 3))
    x, w = leaf(x_array), leaf(w_array)
    (grad_x,) = tl.grad((F.conv2d(x, w, stride=2, padding=1) ** 2).sum(), [x], create_graph=True)
    (grad_x ** 2).sum().backward()
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x_array, w_array))
    (tgrad_x,) = torch.autograd.grad((torch.nn.functional.conv2d(tx, tw, stride=2, padding=1) ** 2).sum(), tx,
                                     create_graph=True)
    (tgrad_x ** 2).sum().backward()
    np.testing.assert_allclose(grad_x.data, tgrad_x.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


MODULE_CASES = [
    (nn.Conv2d, (1, 16, 3), dict(padding=1)),
    (nn.Conv2d, (4, 8, (2, 3)), dict(stride=2, padding='valid', dilation=2, groups=2, bias=False)),
    (nn.Conv2d, (3, 6, 3), dict(padding='same', groups=3)),
    (nn.Conv2d, (2, 2, 1), {}),
    (nn.Conv1d, (2, 4, 5), dict(stride=2, padding=(2,))),
]


@pytest.mark.torch
@pytest.mark.parametrize('module, args, options', MODULE_CASES,
                         ids=[f'{module.__name__}-{args}' for module, args, _ in MODULE_CASES])
def test_module_repr_state_dict_and_outputs_match_torch(torch, module, args, options):
    tl.manual_seed(0)
    ours = module(*args, **options)
    theirs = getattr(torch.nn, module.__name__)(*args, **options).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, tensor in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(tensor.shape)
    ours.load_state_dict({key: tensor.numpy() for key, tensor in theirs.state_dict().items()})
    x = np.random.default_rng(10).standard_normal((2, args[0]) + (7,) * (module.__name__ == 'Conv2d') + (9,))
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(x).data, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_init_distribution_matches_torch(torch):
    """Both libraries draw from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weight and bias: the same
    largest magnitudes (near the bound) and the same spread."""
    tl.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = nn.Conv2d(32, 64, 3), torch.nn.Conv2d(32, 64, 3)
    bound = 1 / math.sqrt(32 * 9)
    for name, lowest in (('weight', 0.99), ('bias', 0.8)):
        for array in (getattr(ours, name).data, getattr(theirs, name).detach().numpy()):
            assert lowest * bound < np.abs(array).max() <= bound
    assert ours.weight.data.std() == pytest.approx(theirs.weight.detach().std().item(), rel=0.03)
