"""tl.models.GPT: shapes, loss and init, gradients (with a finite-difference check), key/value
cached generation against an uncached reference, sampling, and a tiny overfit run."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls.models import GPT, GPTConfig
from tinygrad_ls.nn import functional as F

VOCAB = 13


def tiny(seed: int = 0, **overrides) -> GPT:
    options = dict(vocab_size=VOCAB, block_size=8, n_layer=2, n_head=2, n_embd=16)
    tl.manual_seed(seed)
    return GPT(GPTConfig(**{**options, **overrides}))


def tokens(shape: tuple, seed: int = 0, high: int = VOCAB) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, size=shape)


@pytest.fixture
def float64(restore_default_dtype):
    tl.set_default_dtype(np.float64)


def uncached_generate(model: GPT, idx: np.ndarray, max_new_tokens: int) -> np.ndarray:
    """The reference: greedy decoding that reruns the model on the last block_size tokens."""
    out = np.array(idx, dtype=np.int64)
    with tl.no_grad():
        for _ in range(max_new_tokens):
            logits, _ = model(out[:, -model.config.block_size:])
            out = np.concatenate([out, logits.data[:, -1, :].argmax(axis=-1)[:, None]], axis=1)
    return out


def count_positions(model: GPT) -> list:
    """Record how many token positions each forward pass embeds (B * T per call)."""
    seen, embed = [], model.transformer.wte.forward

    def counting(idx):
        seen.append(int(np.size(idx)))
        return embed(idx)
    model.transformer.wte.forward = counting
    return seen


# ---- the model -------------------------------------------------------------------------------
def test_config_is_checked():
    with pytest.raises(ValueError, match='divisible'):
        GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=3, n_embd=8)
    with pytest.raises(ValueError, match='block_size'):
        GPTConfig(vocab_size=5, block_size=0, n_layer=1, n_head=1, n_embd=8)
    with pytest.raises(ValueError, match='dropout'):
        GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=8, dropout=1.0)


def test_shapes_and_loss_is_none_without_targets():
    model = tiny()
    idx = tokens((3, 5))
    logits, loss = model(idx)
    assert logits.shape == (3, 5, VOCAB) and loss is None
    logits, loss = model(tl.Value(idx.astype(np.int64)), tl.Value(tokens((3, 5), 1).astype(np.int64)))
    assert logits.shape == (3, 5, VOCAB) and loss.shape == ()
    with pytest.raises(ValueError, match='block_size'):
        model(tokens((1, 9)))
    with pytest.raises(ValueError, match='targets'):
        model(idx, tokens((3, 4)))


def test_loss_is_mean_cross_entropy_and_near_log_vocab_at_init():
    model = tiny()
    idx, targets = tokens((4, 8)), tokens((4, 8), seed=1)
    logits, loss = model(idx, targets)
    expected = F.cross_entropy(logits.reshape(32, VOCAB), targets.reshape(-1))
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-6)
    assert abs(loss.item() - math.log(VOCAB)) < 0.05


def test_init_and_parameters():
    model = tiny(n_layer=4)
    assert model.lm_head.weight is model.transformer.wte.weight
    for name, param in model.named_parameters():
        assert param.dtype == tl.get_default_dtype(), name
        if name.endswith('c_proj.weight'):
            assert abs(param.data.std() - 0.02 / math.sqrt(8)) < 0.003, name
        elif name.endswith(('c_attn.weight', 'c_fc.weight', 'wte.weight', 'wpe.weight')):
            assert abs(param.data.std() - 0.02) < 0.004, name
        elif name.endswith('bias'):
            assert not param.data.any(), name
    untied = tiny(n_layer=4, tie_weights=False)
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    assert untied.num_parameters() - model.num_parameters() == VOCAB * 16
    assert model.num_parameters() == sum(p.size for p in model.parameters())
    assert model.num_parameters(non_embedding=True) == model.num_parameters() - 8 * 16
    no_bias = tiny(bias=False)
    assert not any(name.endswith('bias') for name, _ in no_bias.named_parameters())


def test_parameters_follow_the_default_dtype(float64):
    assert all(p.dtype == np.float64 for p in tiny().parameters())


def test_gradients_reach_every_parameter():
    model = tiny(tie_weights=False)
    _, loss = model(tokens((2, 8)), tokens((2, 8), seed=1))
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and np.abs(param.grad).sum() > 0, name


def test_finite_differences_match_backward(float64):
    model = tiny(n_layer=1, n_head=2, n_embd=8, block_size=4)
    idx, targets = tokens((2, 4)), tokens((2, 4), seed=1)
    model(idx, targets)[1].backward()
    params = dict(model.named_parameters())
    rng = np.random.default_rng(0)
    for name in ('transformer.wte.weight', 'transformer.h.0.attn.c_attn.weight',
                 'transformer.h.0.ln_1.weight', 'transformer.h.0.mlp.c_proj.bias'):
        param = params[name]
        for flat in rng.choice(param.size, size=4, replace=False):
            where = np.unravel_index(flat, param.shape)
            saved = param.data[where]
            param.data[where] = saved + 1e-6
            plus = model(idx, targets)[1].item()
            param.data[where] = saved - 1e-6
            minus = model(idx, targets)[1].item()
            param.data[where] = saved
            numeric = (plus - minus) / 2e-6
            assert abs(param.grad[where] - numeric) <= 1e-7 + 1e-5 * abs(numeric), (name, where)


def test_dropout_only_in_training():
    model = tiny(dropout=0.5)
    idx = tokens((2, 8))
    first, second = model(idx)[0].data, model(idx)[0].data
    assert not np.allclose(first, second)
    model.eval()
    np.testing.assert_array_equal(model(idx)[0].data, model(idx)[0].data)


# ---- generation -----------------------------------------------------------------------------
@pytest.mark.parametrize('prompt_length, max_new_tokens', [(1, 6), (3, 12), (8, 5)])
def test_cached_generation_equals_uncached_at_temperature_zero(prompt_length, max_new_tokens):
    model = tiny(seed=prompt_length)
    prompt = tokens((3, prompt_length), seed=prompt_length)
    out = model.generate(prompt, max_new_tokens, temperature=0)
    assert out.dtype == np.int64 and out.shape == (3, prompt_length + max_new_tokens)
    np.testing.assert_array_equal(out.data[:, :prompt_length], prompt)
    np.testing.assert_array_equal(out.data, uncached_generate(model, prompt, max_new_tokens))


def test_cached_generation_equals_uncached_in_float64_with_a_wide_model(float64):
    model = tiny(n_layer=3, n_head=4, n_embd=32, block_size=16, tie_weights=False)
    prompt = tokens((2, 5), seed=7)
    np.testing.assert_array_equal(model.generate(prompt, 20, temperature=0).data,
                                  uncached_generate(model, prompt, 20))


def test_cached_generation_runs_one_position_per_new_token():
    model = tiny(block_size=64, n_layer=1)
    seen = count_positions(model)
    prompt = tokens((1, 4))
    model.generate(prompt, 30, temperature=0)
    assert seen == [4] + [1] * 29                   # linear in the new tokens
    seen.clear()
    uncached_generate(model, prompt, 30)
    assert seen == list(range(4, 34))                # quadratic without the cache


def test_full_context_recomputes_the_last_block():
    model = tiny(block_size=8)
    seen = count_positions(model)
    model.generate(tokens((1, 6)), 5, temperature=0)
    assert seen == [6, 1, 1, 8, 8]


def test_generation_leaves_no_graph_and_keeps_training_mode():
    model = tiny()
    out = model.generate(tokens((1, 2)), 3)
    assert not out.requires_grad and all(p.grad is None for p in model.parameters())
    assert model.training


def test_seeded_sampling_is_reproducible():
    model = tiny()
    prompt = tokens((2, 3))
    tl.manual_seed(5)
    first = model.generate(prompt, 10).data
    tl.manual_seed(5)
    np.testing.assert_array_equal(model.generate(prompt, 10).data, first)
    tl.manual_seed(6)
    assert not np.array_equal(model.generate(prompt, 10).data, first)


def test_top_k_keeps_the_k_most_likely_tokens():
    model = tiny()
    prompt = np.repeat(tokens((1, 3)), 200, axis=0)
    with tl.no_grad():
        logits = model(prompt[:1])[0].data[0, -1]
    tl.manual_seed(0)
    drawn = model.generate(prompt, 1, top_k=3).data[:, -1]
    assert set(drawn) == set(np.argsort(logits)[-3:])
    tl.manual_seed(0)
    greedy = model.generate(prompt[:4], 6, top_k=1).data
    np.testing.assert_array_equal(greedy, model.generate(prompt[:4], 6, temperature=0).data)


def test_temperature_sharpens_or_flattens_the_distribution():
    model = tiny()
    with tl.no_grad():  # make the logits spread out so that temperature matters
        model.transformer.wte.weight.data *= 50
    prompt = np.repeat(tokens((1, 3)), 300, axis=0)
    tl.manual_seed(0)
    cold = model.generate(prompt, 1, temperature=1e-3).data[:, -1]
    hot = model.generate(prompt, 1, temperature=100.0).data[:, -1]
    greedy = model.generate(prompt[:1], 1, temperature=0).data[0, -1]
    assert set(cold) == {greedy}
    assert len(set(hot)) > VOCAB // 2


def test_generate_checks_its_arguments():
    model = tiny()
    with pytest.raises(ValueError, match='temperature'):
        model.generate(tokens((1, 2)), 3, temperature=-1)
    with pytest.raises(ValueError, match='top_k'):
        model.generate(tokens((1, 2)), 3, top_k=0)
    with pytest.raises(ValueError, match=r'\(B, T0\)'):
        model.generate(tokens((2,)), 3)
    assert model.generate(tokens((1, 2)), 0).shape == (1, 2)


@pytest.mark.parametrize('arguments, error, match', [
    ({'temperature': float('nan')}, ValueError, r'temperature must be a finite number >= 0.*nan'),
    ({'temperature': float('inf')}, ValueError, r'temperature must be a finite number >= 0.*inf'),
    ({'temperature': -0.5}, ValueError, r'temperature.*-0\.5'),
    ({'temperature': True}, TypeError, r'temperature must be a real number'),
    ({'temperature': '0.8'}, TypeError, r'temperature must be a real number'),
    ({'top_k': 2.5}, TypeError, r'top_k must be None or an int .*2\.5 \(float\)'),
    ({'top_k': True}, TypeError, r'top_k must be None or an int .*\(bool\)'),
    ({'top_k': 0}, ValueError, rf'top_k must be in \[1, vocab_size={VOCAB}\] or None, got 0'),
    ({'top_k': VOCAB + 1}, ValueError, rf'top_k must be in \[1, vocab_size={VOCAB}\]'),
    ({'max_new_tokens': -1}, ValueError, r'max_new_tokens must be >= 0, got -1'),
    ({'max_new_tokens': 2.0}, TypeError, r'max_new_tokens must be an int >= 0, got 2\.0 \(float\)'),
    ({'max_new_tokens': True}, TypeError, r'max_new_tokens must be an int'),
    ({'idx': np.array([[1.0, 2.7]])}, TypeError, r'idx must hold integer token ids, got dtype float64'),
    ({'idx': np.array([[True, False]])}, TypeError, r'idx must hold integer token ids, got dtype bool'),
    ({'idx': np.array([[1, VOCAB]])}, ValueError, rf'idx holds token ids outside \[0, vocab_size={VOCAB}\): '
                                                  rf'{VOCAB} at index \(0, 1\)'),
    ({'idx': np.array([[-1, 2]])}, ValueError, r'idx holds token ids outside .*: -1 at index \(0, 0\)'),
], ids=lambda value: None)
def test_generate_refuses_every_bad_argument_naming_it(arguments, error, match):
    model = tiny()
    call = {'idx': tokens((1, 3)), 'max_new_tokens': 2, **arguments}
    state = {key: value.copy() for key, value in model.state_dict().items()}
    tl.manual_seed(5)
    draw = tl.random.generator().random()
    tl.manual_seed(5)
    with pytest.raises(error, match=rf'^GPT\.generate: {match}'):
        model.generate(**call)
    assert tl.random.generator().random() == draw  # nothing was sampled
    assert all(np.array_equal(value, state[key]) for key, value in model.state_dict().items())


def test_generate_accepts_numpy_integers_and_the_whole_vocabulary_as_top_k():
    model = tiny()
    out = model.generate(tokens((2, 3)).astype(np.int32), np.int64(2), temperature=np.float32(0.5),
                         top_k=np.int64(VOCAB))
    assert out.shape == (2, 5) and out.dtype == np.int64
    assert model.generate(tokens((1, 3)), 2, top_k=1).shape == (1, 5)


# ---- learning -------------------------------------------------------------------------------
def test_overfits_a_repeated_string():
    text = 'hello tiny gpt! ' * 8
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text])
    model = tiny(vocab_size=len(chars), block_size=16, n_layer=1, n_head=2, n_embd=32)
    starts = np.arange(0, len(data) - 17, 3)
    x = np.stack([data[s:s + 16] for s in starts])
    y = np.stack([data[s + 1:s + 17] for s in starts])
    optimizer = tl.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    losses = []
    for _ in range(40):
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.0 and losses[-1] < 0.2 * losses[0]
    out = model.generate(x[:1, :4], 12, temperature=0).data[0]
    assert ''.join(chars[i] for i in out) == text[:16]
