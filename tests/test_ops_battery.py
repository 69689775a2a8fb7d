"""Every differentiable op of the package through ``tl.testing.check_op``: one table of ops
and example inputs, and every op gets the whole battery (first derivatives at several random
points, second derivatives, broadcasting, 0-d and size-1 shapes, float32 against float64,
no_grad, inputs left alone, gradient shape and dtype, repeated backward).

Example inputs are well conditioned: positive where an op needs it (log, sqrt, fractional
powers), at least 0.05 from every kink (relu, abs, clip bounds, the Huber/L1 corners) and
distinct values where max/min/pools pick one. Constants an op needs (targets of class
losses, indices, masks) are closed over by the function; masks are built from the input's
shape, so the function still works on the other shapes the battery tries.

``python tests/test_ops_battery.py`` prints the number of checks per op as a Markdown table
(the table in docs/testing.md).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import tinygrad_ls as tl
import tinygrad_ls.testing as testing
from tinygrad_ls.nn import functional as F


@dataclass(frozen=True)
class Case:
    """One row of the table: ``fn(*inputs)`` checked with ``check_op(fn, *inputs, **options)``;
    ``why`` says why an option departs from the default (required when ``options`` is set)."""
    name: str
    fn: Callable
    inputs: tuple
    options: dict = field(default_factory=dict)
    why: str = ''


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))


def normal(name: str, *shape) -> np.ndarray:
    return _rng(name).standard_normal(shape)


def positive(name: str, *shape, low: float = 0.5, high: float = 2.0) -> np.ndarray:
    return _rng(name).uniform(low, high, shape)


def away_from_zero(name: str, *shape, gap: float = 0.3) -> np.ndarray:
    """Normals pushed ``gap`` away from 0: safe denominators, clear of the kinks at 0."""
    values = _rng(name).standard_normal(shape)
    return np.where(values >= 0, values + gap, values - gap)


def distinct(name: str, *shape) -> np.ndarray:
    """Values 0.1 apart in a random order: no ties for max, min and the pools."""
    size = int(np.prod(shape))
    return _rng(name).permutation(size).reshape(shape) / 10.0 - size / 20.0


def alternating(shape: tuple) -> np.ndarray:
    """A boolean mask of any shape (True at even flat positions): masks that follow the input."""
    return (np.arange(int(np.prod(shape))) % 2 == 0).reshape(shape)


def _split_product(x):
    left, right = tl.split(x, 2, axis=-1)
    return left * right


TARGET = np.array([2, 0, 3, 1])            # class indices for the (4, 5) scores below
TOKENS = np.array([[0, 3, 1], [3, 3, 2]])  # embedding indices, one repeated
NO_SECOND = {'second_order': False}

CASES = [
    # ---- arithmetic ------------------------------------------------------------------------
    Case('add', lambda a, b: a + b, (normal('add', 3, 4), normal('add2', 3, 4))),
    Case('sub', lambda a, b: a - b, (normal('sub', 3, 4), normal('sub2', 3, 4))),
    Case('mul', lambda a, b: a * b, (normal('mul', 3, 4), normal('mul2', 3, 4))),
    Case('div', lambda a, b: a / b, (normal('div', 3, 4), away_from_zero('div2', 3, 4, gap=0.5))),
    Case('pow', lambda a, b: a ** b, (positive('pow', 3, 4), _rng('pow2').uniform(-1.5, 1.5, (3, 4)))),
    Case('pow_number', lambda a: a ** 2.5, (positive('pow_number', 3, 4),)),
    Case('rpow_number', lambda a: 3.0 ** a, (normal('rpow_number', 3, 4),)),
    Case('matmul', lambda a, b: a @ b, (normal('matmul', 3, 4), normal('matmul2', 4, 2))),
    Case('neg', lambda a: -a, (normal('neg', 3, 4),)),
    # ---- elementwise -----------------------------------------------------------------------
    Case('exp', lambda x: x.exp(), (normal('exp', 3, 4),)),
    Case('log', lambda x: x.log(), (positive('log', 3, 4),)),
    Case('sqrt', lambda x: x.sqrt(), (positive('sqrt', 3, 4),)),
    Case('tanh', lambda x: x.tanh(), (normal('tanh', 3, 4),)),
    Case('sigmoid', lambda x: x.sigmoid(), (2 * normal('sigmoid', 3, 4),)),
    Case('relu', lambda x: x.relu(), (away_from_zero('relu', 3, 4),)),
    Case('abs', lambda x: x.abs(), (away_from_zero('abs', 3, 4),)),
    Case('sin', lambda x: x.sin(), (2 * normal('sin', 3, 4),)),
    Case('cos', lambda x: x.cos(), (2 * normal('cos', 3, 4),)),
    Case('log1p', lambda x: x.log1p(), (positive('log1p', 3, 4, low=0.1, high=2.0),)),
    Case('expm1', lambda x: x.expm1(), (normal('expm1', 3, 4),)),
    Case('clip', lambda x: x.clip(min=-0.5, max=0.7),
         (np.array([[-1.7, -0.9, -0.4, -0.1], [0.3, 0.6, 0.8, 1.1], [1.9, -0.2, 0.1, -1.2]]),)),
    Case('square', lambda x: x.square(), (normal('square', 3, 4),)),
    Case('pow_method', lambda x: x.pow(3), (normal('pow_method', 3, 4),)),
    # ---- activations -----------------------------------------------------------------------
    Case('gelu', lambda x: F.gelu(x), (normal('gelu', 3, 4),)),
    Case('gelu_tanh', lambda x: F.gelu(x, approximate='tanh'), (normal('gelu_tanh', 3, 4),)),
    Case('silu', lambda x: F.silu(x), (normal('silu', 3, 4),)),
    Case('elu', lambda x: F.elu(x, alpha=0.7), (away_from_zero('elu', 3, 4),)),
    Case('leaky_relu', lambda x: F.leaky_relu(x, 0.1), (away_from_zero('leaky_relu', 3, 4),)),
    Case('softplus', lambda x: F.softplus(x, beta=2.0), (normal('softplus', 3, 4),)),
    Case('softmax', lambda x: F.softmax(x, dim=-1), (normal('softmax', 3, 4),)),
    Case('log_softmax', lambda x: F.log_softmax(x, dim=-1), (normal('log_softmax', 3, 4),)),
    # ---- reductions ------------------------------------------------------------------------
    Case('sum', lambda x: x.sum(axis=-1), (normal('sum', 3, 4),)),
    Case('mean', lambda x: x.mean(axis=0, keepdims=True), (normal('mean', 3, 4),)),
    Case('max', lambda x: x.max(axis=-1), (distinct('max', 3, 4),)),
    Case('min', lambda x: x.min(), (distinct('min', 3, 4),)),
    Case('prod', lambda x: x.prod(axis=-1), (positive('prod', 3, 4),)),
    Case('logsumexp', lambda x: x.logsumexp(axis=-1), (normal('logsumexp', 3, 4),)),
    # ddof=0: with ddof=1 a size-1 axis (the battery's edge shapes) divides by 0 and gives NaN;
    # ddof=1 stays covered by tests/test_gradcheck_ops.py
    Case('var', lambda x: x.var(axis=-1), (normal('var', 3, 4),)),
    # std has no derivative at zero spread (sqrt at 0), which is every size-1 axis: x joined
    # with -x keeps the spread |x| > 0 in the battery's size-1 shapes too
    Case('std', lambda x: tl.concat([x, -x], axis=-1).std(axis=-1), (normal('std', 3, 4),)),
    Case('cumsum', lambda x: x.cumsum(axis=-1), (normal('cumsum', 3, 4),)),
    # ---- shapes, indexing, combining -------------------------------------------------------
    Case('reshape', lambda x: x.reshape(-1), (normal('reshape', 3, 4),)),
    Case('transpose', lambda x: x.T, (normal('transpose', 3, 4),)),
    Case('permute', lambda x: x.permute(2, 0, 1), (normal('permute', 2, 3, 4),)),
    Case('squeeze', lambda x: x.squeeze(), (normal('squeeze', 3, 1, 4),)),
    Case('unsqueeze', lambda x: x.unsqueeze(0), (normal('unsqueeze', 3, 4),)),
    Case('expand', lambda x: x.expand(2, 3, 4), (normal('expand', 3, 1),)),
    Case('repeat', lambda x: x.repeat(2, 3), (normal('repeat', 3, 4),)),
    Case('getitem', lambda x: x[..., [1, 1, 0]], (normal('getitem', 3, 4),)),
    Case('concat', lambda a, b: tl.concat([a, b, a], axis=-1),
         (normal('concat', 3, 4), normal('concat2', 3, 2))),
    Case('stack', lambda a, b: tl.stack([a, b], axis=0), (normal('stack', 3, 4), normal('stack2', 3, 4))),
    Case('split', _split_product, (normal('split', 3, 4),)),
    Case('where', lambda a, b: tl.where(alternating(np.broadcast_shapes(a.shape, b.shape)), a, b),
         (normal('where', 3, 4), normal('where2', 3, 4))),
    Case('maximum', tl.maximum, (distinct('maximum', 3, 4), distinct('maximum2', 3, 4) + 0.05)),
    Case('minimum', tl.minimum, (distinct('minimum', 3, 4), distinct('minimum2', 3, 4) + 0.05)),
    Case('masked_fill', lambda x: x.masked_fill(alternating(x.shape), -1.0), (normal('masked_fill', 3, 4),)),
    # ---- layers ----------------------------------------------------------------------------
    Case('linear', F.linear, (normal('linear', 3, 4), normal('linear2', 2, 4), normal('linear3', 2))),
    Case('conv1d', lambda x, w, b: F.conv1d(x, w, b, padding=1),
         (normal('conv1d', 1, 2, 5), normal('conv1d2', 3, 2, 3), normal('conv1d3', 3))),
    Case('conv2d', lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
         (normal('conv2d', 1, 2, 4, 4), normal('conv2d2', 2, 2, 3, 3), normal('conv2d3', 2))),
    Case('max_pool2d', lambda x: F.max_pool2d(x, 2), (distinct('max_pool2d', 1, 2, 4, 4),)),
    Case('avg_pool2d', lambda x: F.avg_pool2d(x, 2), (normal('avg_pool2d', 1, 2, 4, 4),)),
    Case('adaptive_avg_pool2d', lambda x: F.adaptive_avg_pool2d(x, (2, 1)),
         (normal('adaptive_avg_pool2d', 1, 2, 4, 3),)),
    Case('batch_norm', lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
         (normal('batch_norm', 4, 3), positive('batch_norm2', 3), normal('batch_norm3', 3))),
    Case('layer_norm', lambda x, w, b: F.layer_norm(x, (4,), w, b),
         (normal('layer_norm', 3, 4), positive('layer_norm2', 4), normal('layer_norm3', 4))),
    Case('embedding', lambda w: F.embedding(TOKENS, w), (normal('embedding', 4, 3),)),
    Case('attention', F.scaled_dot_product_attention,
         (normal('attention', 3, 2), normal('attention2', 4, 2), normal('attention3', 4, 2))),
    # ---- losses ----------------------------------------------------------------------------
    Case('mse_loss', F.mse_loss, (normal('mse_loss', 3, 4), normal('mse_loss2', 3, 4))),
    Case('l1_loss', F.l1_loss,  # the difference of the two inputs stays 0.3 away from the kink at 0
         (normal('l1_loss', 3, 4), normal('l1_loss', 3, 4) + away_from_zero('l1_loss2', 3, 4))),
    Case('huber_loss', lambda a, b: F.huber_loss(a, b, delta=0.5),  # |a - b| on both sides of delta
         (np.zeros((3, 4)),
          np.array([[-1.2, -0.7, -0.3, -0.1], [0.05, 0.2, 0.4, 0.65], [0.9, 1.4, -2.0, 0.3]]))),
    Case('binary_cross_entropy', F.binary_cross_entropy,
         (positive('bce', 3, 4, low=0.1, high=0.9), positive('bce2', 3, 4, low=0.0, high=1.0))),
    Case('bce_with_logits', F.binary_cross_entropy_with_logits,
         (normal('bce_with_logits', 3, 4), positive('bce_with_logits2', 3, 4, low=0.0, high=1.0))),
    Case('cross_entropy', lambda x: F.cross_entropy(x, TARGET), (normal('cross_entropy', 4, 5),)),
    Case('cross_entropy_probs', lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1),
         (normal('cross_entropy_probs', 4, 5), F.softmax(tl.Value(normal('ce_target', 4, 5))).data)),
    Case('nll_loss', lambda x: F.nll_loss(x, TARGET), (normal('nll_loss', 4, 5),)),
]

CASE_IDS = [case.name for case in CASES]


def leaves(case: Case) -> list:
    return [tl.Value(np.array(x, dtype=np.float64), requires_grad=True) for x in case.inputs]


def test_table_names_are_unique_and_options_explained():
    assert len(set(CASE_IDS)) == len(CASE_IDS)
    for case in CASES:
        assert not case.options or case.why, f"{case.name}: say why it needs {case.options}"


@pytest.mark.parametrize('case', CASES, ids=CASE_IDS)
def test_op_passes_the_battery(case: Case):
    report = testing.check_op(case.fn, *leaves(case), **case.options)
    assert report.passed, str(report)


def check_counts() -> list:
    """(name, checks run, checks passed, checks skipped) for every op of the table."""
    rows = []
    for case in CASES:
        report = testing.check_op(case.fn, *leaves(case), **case.options)
        ran = [check for check in report.checks if check.passed is not None]
        rows.append((case.name, len(ran), sum(bool(check.passed) for check in ran),
                     len(report.checks) - len(ran)))
    return rows


def test_every_op_runs_some_checks():
    """The battery is not silently empty for any op (and the counts the docs quote exist)."""
    for name, ran, passed, _ in check_counts():
        assert ran >= 5 and passed == ran, name


# ---- the custom-op demo ----------------------------------------------------------------------
def test_custom_op_demo_prints_the_diagnosis_and_the_pass(capsys, tmp_path):
    from helpers import load_demo

    pytest.importorskip('matplotlib', reason="the demo plots the failure: pip install 'tinygrad_ls[demos]'")
    demo = load_demo('custom_op')
    demo.main(plot_path=tmp_path / 'failure.png')
    printed = capsys.readouterr().out
    assert 'This looks like:' in printed
    assert 'factor of 2' in printed
    assert printed.rstrip().endswith('passed')
    assert (tmp_path / 'failure.png').stat().st_size > 1000


if __name__ == '__main__':
    rows = check_counts()
    print('| op | checks run | skipped |')
    print('|---|---|---|')
    for name, ran, _, skipped in rows:
        print(f'| `{name}` | {ran} | {skipped} |')
    print(f'{len(rows)} ops, {sum(row[1] for row in rows)} checks', file=sys.stderr)
