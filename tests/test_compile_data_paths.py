"""Per-batch data that reaches ops by roads other than their inputs — attention masks,
one-hot targets, metrics — is recomputed at every replay, as eager code recomputes it."""
from __future__ import annotations

import warnings

import numpy as np

import tinygrad_ls as tl
from tinygrad_ls import nn, optim
from tinygrad_ls.nn import functional as F


def _compare(make_step, batches):
    """Run the same step eagerly and compiled (fresh copies, same seed, no fallback to eager
    allowed); every result equal, and the .grad of every returned Value."""
    results = []
    for compiled in (False, True):
        tl.manual_seed(0)
        step = make_step()
        step = tl.compile(step) if compiled else step
        with warnings.catch_warnings():
            warnings.simplefilter('error', tl.compiler.CompileWarning)
            results.append([step(*batch) for batch in batches])
        if compiled:
            assert step.recordings == 1
    for eager, replayed in zip(*results):
        for a, b in zip(eager, replayed):
            np.testing.assert_array_equal(getattr(a, 'data', a), getattr(b, 'data', b))
            np.testing.assert_array_equal(getattr(a, 'grad', None), getattr(b, 'grad', None))


def test_a_key_padding_mask_that_changes_per_batch():
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(5):
        x = rng.standard_normal((2, 4, 8)).astype(np.float32)
        pad = rng.random((2, 4)) < 0.4
        pad[:, 0] = False                      # every sequence keeps one key
        batches.append((x, pad))

    def make_step():
        attention = nn.MultiheadAttention(8, 2, batch_first=True)
        optimizer = optim.SGD(attention.parameters(), lr=0.1)

        def step(x, pad):
            optimizer.zero_grad()
            out, weights = attention(x, x, x, key_padding_mask=pad)
            loss = (out * out).mean()
            loss.backward()
            optimizer.step()
            return loss, weights
        return step
    _compare(make_step, batches)


def test_rows_with_every_key_masked_are_found_in_each_batch():
    rng = np.random.default_rng(1)
    batches = []
    for i in range(4):
        q = rng.standard_normal((3, 5)).astype(np.float64)
        mask = rng.random((3, 3)) < 0.5        # True: attend (F.scaled_dot_product_attention)
        mask[i % 3] = False                    # one query attends to nothing (a dead row) ...
        mask[(i + 1) % 3, 0] = True            # ... the others to at least one key
        mask[(i + 2) % 3, 0] = True
        batches.append((q, mask))

    def make_step():
        def step(q, mask):
            value = tl.Value(q, requires_grad=True)
            out = F.scaled_dot_product_attention(value, value, value, attn_mask=mask)
            out.sum().backward()
            return out, value  # a leaf made in the step: a new one at each replay, with its .grad
        return step
    _compare(make_step, batches)


def test_one_hot_targets_and_accuracy_follow_each_batch():
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6)) for _ in range(5)]

    def make_step():
        model = nn.Linear(4, 3)
        optimizer = optim.Adam(model.parameters(), lr=0.1)

        def step(x, y):
            optimizer.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, F.one_hot(y, 3).astype(np.float32))
            loss.backward()
            optimizer.step()
            return loss, tl.metrics.accuracy(logits, y)
        return step
    _compare(make_step, batches)
