"""Random draws and running counters inside op forwards (``ops/draws.py``, ``BatchNorm``).

``tl.compile`` records a step once and replays its ops' ``forward``; whatever changes from one
call to the next must therefore happen in a forward. Checked here:

- ``dropout`` is one op (``F.dropout``, ``nn.Dropout``, attention dropout): bit-identical to
  the former formula drawn from ``np.random.default_rng(seed)``, gradient ``grad * scale``
  (first order and ``create_graph``), ``p == 1`` and ``p == 0``/eval unchanged, and calling
  the recorded op's ``forward`` again draws the mask a second eager call would;
- ``randn``/``rand``/``randint``/``randn_like``: the same numbers as before for a seed, and
  their ops draw anew at each ``forward``;
- BatchNorm: calling the recorded op's ``forward`` again counts the batch in
  ``num_batches_tracked`` and updates the running statistics as a second eager call does
  (momentum 0.1 and None); ``F.batch_norm`` without a counter still works.
"""
from __future__ import annotations

import numpy as np
import pytest
from helpers import leaf, normal

import tinygrad_ls as tl
from tinygrad_ls import nn
from tinygrad_ls.nn import functional as F
from tinygrad_ls.ops import draws as random_ops
from tinygrad_ls.random import generator

SHAPES = [(7,), (3, 4), (2, 3, 5)]


def old_dropout(x: np.ndarray, p: float, seed: int) -> np.ndarray:
    """The formula F.dropout used before the op, drawn from a fresh generator of ``seed``."""
    keep = np.random.default_rng(seed).random(x.shape) >= p
    return x * (keep * (1.0 / (1.0 - p))).astype(x.dtype)


def ops_in_graph(root: tl.Value) -> list:
    """The ops of every node that ``root`` was made from (an explicit stack, no recursion)."""
    found, stack, seen = [], [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen or node._fn is None:
            continue
        seen.add(id(node))
        found.append(node._fn)
        stack.extend(node.parents)
    return found


# ---- dropout -----------------------------------------------------------------------------------
@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('p', [0.1, 0.5, 0.9])
def test_dropout_is_bit_identical_to_the_old_formula(shape, dtype, p):
    x = normal(np.random.default_rng(0), shape).astype(dtype)
    tl.manual_seed(11)
    out = F.dropout(leaf(x, dtype), p)
    assert out.op == 'dropout' and out.dtype == dtype
    np.testing.assert_array_equal(out.data, old_dropout(x, p, 11))


@pytest.mark.parametrize('shape', SHAPES)
def test_dropout_gradient_is_the_saved_scale(shape):
    x = leaf(normal(np.random.default_rng(1), shape))
    tl.manual_seed(2)
    out = F.dropout(x, 0.4)
    scale = out._fn.scale
    assert set(np.unique(scale)) <= {0.0, 1.0 / 0.6}
    g = normal(np.random.default_rng(3), shape)
    out.backward(g)
    np.testing.assert_array_equal(x.grad, g * scale)
    (first,) = tl.grad(out.sum(), x, create_graph=True)  # backward given a Value
    assert isinstance(first, tl.Value)
    np.testing.assert_array_equal(first.data, scale)


def test_dropout_modules_and_attention_use_the_op():
    x = leaf(np.ones((4, 6)))
    layer = nn.Dropout(0.3)
    out = layer(x)
    assert out.op == 'dropout' and out._fn.extra_repr() == 'p=0.3'
    assert layer.eval()(x) is x
    q = leaf(normal(np.random.default_rng(4), (2, 3, 4)))
    attended = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    assert 'dropout' in [fn.name for fn in ops_in_graph(attended)]


def test_dropout_p_one_and_p_zero_draw_nothing():
    x = leaf(normal(np.random.default_rng(5), (3, 4)))
    tl.manual_seed(6)
    state = generator().bit_generator.state
    zeros = F.dropout(x, 1.0)
    np.testing.assert_array_equal(zeros.data, 0.0)
    zeros.sum().backward()
    np.testing.assert_array_equal(x.grad, 0.0)
    assert F.dropout(x, 0.0) is x and F.dropout(x, 0.5, training=False) is x
    assert generator().bit_generator.state == state


def test_calling_the_recorded_dropout_again_draws_what_eager_would():
    x = leaf(normal(np.random.default_rng(7), (20, 30)))
    tl.manual_seed(8)
    eager = [F.dropout(x, 0.5).data for _ in range(2)]
    tl.manual_seed(8)
    out = F.dropout(x, 0.5)
    fn = out._fn
    replayed = fn.forward(x.data)  # what a compiled step's replay does
    np.testing.assert_array_equal(out.data, eager[0])
    np.testing.assert_array_equal(replayed, eager[1])
    assert not np.array_equal(replayed, out.data)
    np.testing.assert_array_equal(fn.backward(np.ones(x.shape), None, x.data)[0], fn.scale)
    np.testing.assert_array_equal(replayed, x.data * fn.scale)  # backward reads the new mask


def test_dropout_forward_follows_a_new_seed():
    x = np.ones((5, 5))
    fn = F.dropout(leaf(x), 0.5)._fn
    tl.manual_seed(9)
    first = fn.forward(x)
    tl.manual_seed(9)
    np.testing.assert_array_equal(fn.forward(x), first)


# ---- random creation ---------------------------------------------------------------------------
@pytest.mark.parametrize('dtype', [None, np.float64])
def test_randn_and_rand_draw_the_same_numbers_as_before(dtype):
    resolved = dtype or tl.get_default_dtype()
    tl.manual_seed(21)
    values = [tl.randn(3, 4, dtype=dtype), tl.rand((2, 5), dtype=dtype)]
    rng = np.random.default_rng(21)
    expected = [rng.standard_normal((3, 4)).astype(resolved), rng.random((2, 5)).astype(resolved)]
    for value, want in zip(values, expected):
        assert value.dtype == want.dtype and value.is_leaf and not value.requires_grad
        np.testing.assert_array_equal(value.data, want)


def test_randint_and_randn_like_draw_the_same_numbers_as_before():
    like = tl.Value(np.zeros((2, 3), np.float64))
    tl.manual_seed(22)
    values = [tl.randint(3, 9, (4, 2)), tl.randint(5, size=(3,), dtype=np.int32), tl.randn_like(like),
              tl.randn_like(np.arange(4))]
    rng = np.random.default_rng(22)
    expected = [rng.integers(3, 9, size=(4, 2)).astype(np.int64),
                rng.integers(0, 5, size=(3,)).astype(np.int32),
                rng.standard_normal((2, 3)).astype(np.float64),
                rng.standard_normal((4,)).astype(tl.get_default_dtype())]
    for value, want in zip(values, expected):
        assert value.dtype == want.dtype
        np.testing.assert_array_equal(value.data, want)


def test_random_creation_requires_grad_and_errors():
    value = tl.randn(2, 2, requires_grad=True)
    assert value.requires_grad and value.is_leaf and value.op == ''
    with pytest.raises(TypeError, match='only floating dtypes'):
        tl.randint(0, 3, (2,), requires_grad=True)
    with pytest.raises(TypeError, match='numeric'):
        tl.rand(2, dtype=str)


@pytest.mark.parametrize('op', [random_ops.Randn(shape=(4, 4), dtype=np.float32),
                                random_ops.Rand(shape=(4, 4), dtype=np.float64),
                                random_ops.Randint(low=0, high=1000, shape=(4, 4), dtype=np.int64)],
                         ids=['randn', 'rand', 'randint'])
def test_random_creation_ops_draw_anew_at_each_forward(op):
    tl.manual_seed(23)
    first, second = op.forward(), op.forward()
    assert first.shape == (4, 4) and first.dtype == op.dtype
    assert not np.array_equal(first, second)
    tl.manual_seed(23)
    np.testing.assert_array_equal(op.forward(), first)


# ---- BatchNorm -----------------------------------------------------------------------------------
@pytest.mark.parametrize('make, shape', [(lambda **kw: nn.BatchNorm1d(3, **kw), (5, 3)),
                                         (lambda **kw: nn.BatchNorm1d(3, **kw), (4, 3, 2)),
                                         (lambda **kw: nn.BatchNorm2d(3, **kw), (2, 3, 2, 2))],
                         ids=['bn1d', 'bn1d-3d', 'bn2d'])
@pytest.mark.parametrize('momentum', [0.1, None])
def test_calling_the_recorded_batch_norm_again_counts_as_an_eager_call(make, shape, momentum):
    rng = np.random.default_rng(31)
    batches = [normal(rng, shape) * 2 + 1, normal(rng, shape) - 3]
    recorded, eager = make(momentum=momentum, dtype=np.float64), make(momentum=momentum, dtype=np.float64)
    out = recorded(batches[0])
    fn = out._fn
    assert fn.name == 'batch_norm' and recorded.num_batches_tracked == 1
    replayed = fn.forward(batches[1], *fn.input_data[1:])  # what a compiled step's replay does
    eager_outs = [eager(batch).data for batch in batches]
    np.testing.assert_array_equal(out.data, eager_outs[0])
    np.testing.assert_array_equal(replayed, eager_outs[1])
    assert recorded.num_batches_tracked == eager.num_batches_tracked == 2
    assert recorded.num_batches_tracked.dtype == np.int64 and recorded.num_batches_tracked.shape == ()
    np.testing.assert_array_equal(recorded.running_mean, eager.running_mean)
    np.testing.assert_array_equal(recorded.running_var, eager.running_var)


def test_batch_norm_counter_only_counts_tracked_training_batches():
    x = normal(np.random.default_rng(32), (4, 3))
    layer = nn.BatchNorm1d(3, momentum=None)
    layer(x)
    layer.eval()(x)  # eval: no count, momentum None unused
    assert layer.num_batches_tracked == 1
    untracked = nn.BatchNorm1d(3, momentum=None, track_running_stats=False)
    assert untracked(x).shape == (4, 3) and untracked.num_batches_tracked is None


def test_functional_batch_norm_has_no_counter():
    x = normal(np.random.default_rng(33), (6, 2))
    mean, var = np.zeros(2), np.ones(2)
    out = F.batch_norm(leaf(x), mean, var, training=True, momentum=0.5)
    assert out._fn.num_batches_tracked is None
    np.testing.assert_allclose(mean, 0.5 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, 0.5 + 0.5 * x.var(axis=0, ddof=1), rtol=1e-12)
    with pytest.raises(TypeError, match='momentum=None'):
        F.batch_norm(x, mean, var, training=True, momentum=None)
