"""Pooling: F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d and their modules.

Float64 gradcheck over kernel, stride, padding, dilation, ceil_mode, odd sizes and batch 1
(max-pool inputs are random normals: no ties, so finite differences see one maximum);
gradgradcheck through the recorded scatter/gather and transpose ops; values and gradients
against PyTorch, with ties (the gradient goes to the first maximum in window order) and
non-finite numbers; module reprs; bad arguments raise before anything runs.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import leaf, normal

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F

# (id, input shape, keyword arguments)
MAX_CASES = [
    ('k2', (2, 2, 4, 6), dict(kernel_size=2)),
    ('k3-s1-p1-overlap', (1, 2, 5, 5), dict(kernel_size=3, stride=1, padding=1)),
    ('k3-s2-p1-odd', (2, 1, 7, 5), dict(kernel_size=3, stride=2, padding=1)),
    ('k32-s12-dilation', (1, 2, 7, 6), dict(kernel_size=(3, 2), stride=(1, 2), dilation=(2, 1))),
    ('k2-ceil', (2, 1, 5, 7), dict(kernel_size=2, ceil_mode=True)),
    ('k3-s2-p1-ceil', (1, 1, 6, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ('k2-s3-gaps', (1, 2, 7, 7), dict(kernel_size=2, stride=3)),
]

AVG_CASES = [
    ('k2', (2, 2, 4, 6), dict(kernel_size=2)),
    ('k3-s1-p1', (1, 2, 5, 5), dict(kernel_size=3, stride=1, padding=1)),
    ('k3-s2-p1-exclude-pad', (2, 1, 7, 5), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ('k3-s2-p1-ceil', (1, 1, 6, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ('ceil-exclude-pad', (1, 1, 6, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                            count_include_pad=False)),
    ('k32-divisor', (1, 2, 5, 4), dict(kernel_size=(3, 2), stride=(2, 1), divisor_override=4)),
]

ADAPTIVE_CASES = [
    ('global', (2, 3, 5, 4), dict(output_size=1)),
    ('even', (1, 2, 6, 4), dict(output_size=(3, 2))),
    ('uneven', (2, 1, 7, 5), dict(output_size=(3, 4))),
    ('keep-width', (1, 2, 5, 3), dict(output_size=(2, None))),
    ('larger-than-input', (1, 1, 3, 2), dict(output_size=(4, 3))),
]


def case_ids(cases: list) -> list:
    return [case[0] for case in cases]


def sample(shape: tuple, seed: int = 0) -> np.ndarray:
    return normal(np.random.default_rng(seed), shape)


# ---- gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize('_, shape, options', MAX_CASES, ids=case_ids(MAX_CASES))
def test_max_pool2d_gradcheck(_, shape, options):
    assert tl.gradcheck(lambda x: F.max_pool2d(x, **options), [leaf(sample(shape))])


@pytest.mark.parametrize('_, shape, options', AVG_CASES, ids=case_ids(AVG_CASES))
def test_avg_pool2d_gradcheck(_, shape, options):
    assert tl.gradcheck(lambda x: F.avg_pool2d(x, **options), [leaf(sample(shape))])


@pytest.mark.parametrize('_, shape, options', ADAPTIVE_CASES, ids=case_ids(ADAPTIVE_CASES))
def test_adaptive_avg_pool2d_gradcheck(_, shape, options):
    assert tl.gradcheck(lambda x: F.adaptive_avg_pool2d(x, **options), [leaf(sample(shape))])


@pytest.mark.parametrize('fn', [
    lambda x: F.max_pool2d(x ** 2, 3, stride=1, padding=1),
    lambda x: F.max_pool2d(x * x.sum(), (2, 3), stride=2, ceil_mode=True),
    lambda x: F.avg_pool2d(x ** 2, 3, stride=2, padding=1, count_include_pad=False),
    lambda x: F.avg_pool2d(x * x.sum(), 2),
    lambda x: F.adaptive_avg_pool2d(x ** 2, (2, 3)),
], ids=['max-overlap', 'max-ceil', 'avg-exclude-pad', 'avg', 'adaptive'])
def test_second_derivatives(fn):
    """The pools are (piecewise) linear, so a square inside makes the second derivative
    nonzero; it runs through PickScatter/PickGather and AvgPoolTranspose/AvgPool."""
    assert tl.gradgradcheck(fn, [leaf(sample((1, 2, 5, 5), seed=1))])


def test_max_pool_gradient_goes_to_the_first_maximum():
    """Ties: each window's gradient goes to its first maximum in row-major window order."""
    x = leaf(np.ones((1, 1, 2, 4)))
    x.data[0, 0, 1, 3] = 2.0
    out = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(out.data, [[[[1.0, 2.0]]]])
    out.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(x.grad[0, 0], [[10, 0, 0, 0], [0, 0, 0, 20]])


def test_overlapping_windows_add_their_gradients():
    x = leaf([[[[0.0, 5.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]]])
    F.max_pool2d(x, 2, stride=1).sum().backward()
    # 5 wins both top windows; the all-zero bottom-right window picks its first element
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 2, 0], [0, 1, 0], [1, 0, 0]])


def test_avg_pool_exact_small_case():
    x = leaf(np.arange(16.0).reshape(1, 1, 4, 4))
    out = F.avg_pool2d(x, 2)
    np.testing.assert_array_equal(out.data, [[[[2.5, 4.5], [10.5, 12.5]]]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((1, 1, 4, 4), 0.25))
    edge = F.avg_pool2d(x, 3, stride=3, padding=1)  # corner window: 4 of its 9 elements are inputs
    assert edge.data[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 9


def test_unbatched_input():
    x = leaf(sample((2, 6, 5)))
    for fn in (lambda v: F.max_pool2d(v, 2), lambda v: F.avg_pool2d(v, 3, 1, 1),
               lambda v: F.adaptive_avg_pool2d(v, (2, 2)), nn.MaxPool2d(2, 1)):
        out = fn(x)
        np.testing.assert_array_equal(out.data, fn(x.data[None]).data[0])
        assert tl.gradcheck(fn, [x])


def test_float32_stays_float32():
    x = leaf(sample((2, 3, 6, 6)), dtype=np.float32)
    for layer in (nn.MaxPool2d(2), nn.AvgPool2d(3, 2, 1, count_include_pad=False), nn.AdaptiveAvgPool2d(2)):
        x.grad = None
        out = layer(x)
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float32


def test_modules_are_their_functionals():
    x = sample((2, 3, 7, 6))
    assert np.array_equal(nn.MaxPool2d(3, 2, 1)(x).data, F.max_pool2d(x, 3, 2, 1).data)
    assert np.array_equal(nn.AvgPool2d(2, ceil_mode=True)(x).data, F.avg_pool2d(x, 2, ceil_mode=True).data)
    global_mean = x.mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x).data, global_mean, rtol=1e-14)
    assert list(nn.MaxPool2d(2).parameters()) == [] and nn.AvgPool2d(2).state_dict() == {}


def test_op_settings_for_graph_pictures():
    x = leaf(sample((1, 1, 6, 6)))
    out = F.max_pool2d(x, 2)
    assert out._fn.name == 'max_pool2d'
    assert out._fn.extra_repr() == 'kernel_size=(2, 2), stride=(2, 2)'
    out = F.avg_pool2d(x, 3, stride=2, padding=1)
    assert out._fn.name == 'avg_pool2d'
    assert out._fn.extra_repr() == 'kernel_size=(3, 3), stride=(2, 2), padding=(1, 1)'
    assert F.adaptive_avg_pool2d(x, 1)._fn.extra_repr() == 'output_size=(1, 1)'


# ---- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize('call, error, message', [
    (lambda: F.max_pool2d(np.zeros((1, 1, 6, 6)), 2, padding=2),
     ValueError, r"max_pool2d: padding should be at most half of the kernel size, got padding=\(2, 2\) "
                 r"for kernel_size=\(2, 2\)"),
    (lambda: nn.MaxPool2d(3, padding=2), ValueError, r"MaxPool2d: padding should be at most half"),
    (lambda: nn.AvgPool2d(2, padding=(0, 2)), ValueError, r"AvgPool2d: padding should be at most half"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 2, 6)), 3),
     ValueError, r"max_pool2d: kernel size \(3, 3\) is larger than the padded input \(2, 6\) "
                 r"\(input shape \(1, 1, 2, 6\), padding=\(0, 0\)\)"),
    (lambda: nn.AvgPool2d(4)(np.zeros((3, 3, 3), dtype=np.float32)),
     ValueError, r"AvgPool2d: kernel size \(4, 4\) is larger than the padded input \(3, 3\)"),
    (lambda: F.max_pool2d(np.zeros((6, 6)), 2),
     ValueError, r"max_pool2d: expected a 3-d \(C, H, W\) or 4-d \(N, C, H, W\) input, got shape \(6, 6\)"),
    (lambda: nn.AdaptiveAvgPool2d(2)(np.zeros((1, 1, 1, 6, 6), dtype=np.float32)),
     ValueError, r"AdaptiveAvgPool2d: expected a 3-d .* got shape \(1, 1, 1, 6, 6\)"),
    (lambda: F.avg_pool2d(np.zeros((1, 1, 6, 6), dtype=np.int64), 2),
     TypeError, r"avg_pool2d: input must have a float dtype, got int64"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 6, 6)), 0),
     ValueError, r"max_pool2d: kernel_size must be positive"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 6, 6)), 2, stride=(1, 2, 3)),
     TypeError, r"max_pool2d: stride must be an int or a tuple of 2 ints"),
    (lambda: nn.MaxPool2d(2, ceil_mode=1), TypeError, r"MaxPool2d: ceil_mode must be a bool"),
    (lambda: nn.AvgPool2d(2, divisor_override=0),
     ValueError, r"AvgPool2d: divisor_override must be positive"),
    (lambda: nn.AdaptiveAvgPool2d((2, 0)),
     ValueError, r"AdaptiveAvgPool2d: output_size must be a positive int"),
    (lambda: F.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4)), (1, 2, 3)),
     ValueError, r"adaptive_avg_pool2d: output_size must be a positive int or a pair"),
], ids=['padding-over-half', 'module-padding', 'avg-module-padding', 'kernel-too-big',
        'module-kernel-too-big', '2d-input', '5d-input', 'int-input', 'kernel-zero', 'stride-length',
        'ceil-mode-type', 'divisor-zero', 'adaptive-zero', 'adaptive-three'])
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_an_error_leaves_the_input_alone():
    x = leaf(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError):
        F.max_pool2d(x, 3)
    assert x.grad is None and not x.data.any()


# ---- PyTorch ---------------------------------------------------------------------------------
def check_against_torch(torch, ours, theirs, array: np.ndarray, upstream: np.ndarray | None = None):
    """Values and the gradient of ``upstream`` (default: random normals), float64, to 1e-10;
    NaN must appear where torch has it."""
    x = leaf(array)
    tx = torch.tensor(array, requires_grad=True)
    out, expected = ours(x), theirs(tx)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    if upstream is None:
        upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


TORCH_CASES = ([('max_pool2d', case, data) for case in MAX_CASES for data in ('normal', 'ties')]
               + [('avg_pool2d', case, 'normal') for case in AVG_CASES]
               + [('adaptive_avg_pool2d', case, 'normal') for case in ADAPTIVE_CASES])


@pytest.mark.torch
@pytest.mark.parametrize('function, case, data', TORCH_CASES,
                         ids=[f'{function}-{case[0]}-{data}' for function, case, data in TORCH_CASES])
def test_values_and_gradients_match_torch(torch, function, case, data):
    """``data='ties'``: inputs of 0s and 1s, so most windows hold several maxima; the gradient
    must go where torch's goes (the first maximum in window order)."""
    _, shape, options = case
    rng = np.random.default_rng(2)
    array = normal(rng, shape) if data == 'normal' else rng.integers(0, 2, shape).astype(np.float64)
    ours, theirs = getattr(F, function), getattr(torch.nn.functional, function)
    check_against_torch(torch, lambda x: ours(x, **options), lambda x: theirs(x, **options), array)


@pytest.mark.torch
def test_max_pool2d_non_finite_numbers_match_torch(torch):
    """NaN wins a window (its last NaN takes the gradient), -inf and inf behave as numbers,
    and a non-finite upstream gradient reaches only the winning elements."""
    x = sample((1, 2, 5, 6), seed=4)
    x[0, 0, 0, 1] = x[0, 0, 2, 2] = x[0, 1, 1, 1] = np.nan
    x[0, 0, 4, 0], x[0, 1, 3, 3], x[0, 1, 0, 5] = np.inf, -np.inf, np.inf
    upstream = np.random.default_rng(5).standard_normal((1, 2, 5, 6))
    upstream[0, 0, 1, 1], upstream[0, 1, 4, 4] = np.inf, np.nan
    check_against_torch(torch, lambda v: F.max_pool2d(v, 3, stride=1, padding=1),
                        lambda t: torch.nn.functional.max_pool2d(t, 3, stride=1, padding=1), x, upstream)


@pytest.mark.torch
@pytest.mark.parametrize('name, args, options', [
    ('MaxPool2d', (2,), {}),
    ('MaxPool2d', (3, 2, 1), dict(dilation=2, ceil_mode=True)),
    ('MaxPool2d', ((2, 3),), dict(stride=(1, 2))),
    ('AvgPool2d', (3,), dict(stride=1, padding=1)),
    ('AvgPool2d', (2,), dict(ceil_mode=True, count_include_pad=False, divisor_override=3)),
    ('AdaptiveAvgPool2d', (1,), {}),
    ('AdaptiveAvgPool2d', ((3, None),), {}),
], ids=lambda v: str(v))
def test_module_reprs_and_outputs_match_torch(torch, name, args, options):
    ours, theirs = getattr(nn, name)(*args, **options), getattr(torch.nn, name)(*args, **options)
    assert repr(ours) == repr(theirs)
    x = sample((2, 3, 9, 8), seed=8)
    np.testing.assert_allclose(ours(x).data, theirs(torch.from_numpy(x)).numpy(), rtol=1e-10, atol=1e-12)
