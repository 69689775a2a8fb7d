"""tl.datasets: the standard-library docstring corpus, the module split and CharTokenizer."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_ls as tl
from tinygrad_ls.datasets import CharTokenizer, split_by_module, stdlib_docstrings

SMALL = ('json', 'textwrap', 'string', 'heapq', 'bisect', 'fnmatch', 'colorsys', 'email')


def test_corpus_is_docstrings_of_the_requested_modules():
    texts = stdlib_docstrings(SMALL)
    assert 'json' in texts and 'email.message' in texts  # a package brings its submodules
    assert all(name.split('.')[0] in SMALL for name in texts)
    assert 'Serialize' in texts['json'] or 'JSON' in texts['json']
    assert all(isinstance(text, str) and text for text in texts.values())


def test_corpus_is_deterministic_and_sorted():
    first, second = stdlib_docstrings(SMALL), stdlib_docstrings(tuple(reversed(SMALL)))
    assert first == second
    assert list(first) == sorted(first)


def test_default_corpus_is_large_and_cached():
    texts = stdlib_docstrings()
    assert len(texts) > 50 and sum(map(len, texts.values())) > 100_000
    assert stdlib_docstrings() == texts
    stdlib_docstrings()['json'] = 'changed'  # callers get a fresh dict, never the cache
    assert stdlib_docstrings()['json'] != 'changed'


@pytest.mark.parametrize('max_chars', [0, 1, 1000, 12345])
def test_max_chars_bounds_the_total(max_chars):
    texts = stdlib_docstrings(max_chars=max_chars)
    assert sum(map(len, texts.values())) == max_chars
    full = stdlib_docstrings()
    assert all(full[name].startswith(text) for name, text in texts.items())


def test_bad_max_chars_and_missing_modules():
    with pytest.raises(ValueError, match='max_chars'):
        stdlib_docstrings(max_chars=-1)
    assert stdlib_docstrings(['no_such_module_xyz', 'json'], submodules=False) == {
        'json': stdlib_docstrings(['json'])['json']}


def test_split_is_disjoint_by_package_and_deterministic():
    texts = stdlib_docstrings()
    train, val = split_by_module(texts, val_fraction=0.2, seed=3)
    assert train and val and set(train) | set(val) == set(texts)
    train_packages = {name.split('.')[0] for name in train}
    val_packages = {name.split('.')[0] for name in val}
    assert not train_packages & val_packages
    assert split_by_module(texts, val_fraction=0.2, seed=3) == (train, val)
    assert split_by_module(texts, val_fraction=0.2, seed=4) != (train, val)
    packages = train_packages | val_packages
    assert len(val_packages) == round(0.2 * len(packages))


def test_split_edge_cases():
    texts = {'a': 'x', 'b': 'y'}
    assert split_by_module(texts, val_fraction=0.0) == (texts, {})
    train, val = split_by_module(texts, val_fraction=0.01)
    assert len(train) == len(val) == 1
    with pytest.raises(ValueError, match='val_fraction'):
        split_by_module(texts, val_fraction=1.0)


def test_tokenizer_round_trips():
    text = ''.join(stdlib_docstrings(['textwrap', 'json']).values())
    tokenizer = CharTokenizer(text)
    ids = tokenizer.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert ids.min() >= 1 and ids.max() < tokenizer.vocab_size
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(list(ids[:10])) == text[:10]
    assert tokenizer.decode(tl.Value(ids[:10])) == text[:10]
    assert tokenizer.encode('').shape == (0,) and tokenizer.decode([]) == ''


def test_tokenizer_unknown_characters():
    tokenizer = CharTokenizer('abc')
    assert tokenizer.vocab_size == 4
    ids = tokenizer.encode('abzc\u00e9')
    np.testing.assert_array_equal(ids, [1, 2, tokenizer.unk_id, 3, tokenizer.unk_id])
    assert tokenizer.decode(ids) == 'ab\ufffdc\ufffd'
    with pytest.raises(ValueError, match='ids must be in'):
        tokenizer.decode([4])
    with pytest.raises(TypeError):
        CharTokenizer(['a'])


def test_tokenizer_state_dict_survives_save_and_load(tmp_path):
    tokenizer = CharTokenizer('hello, world\n\t\u00e9')
    tl.save({'tokenizer': tokenizer.state_dict()}, tmp_path / 'tok.npz')
    restored = CharTokenizer.from_state_dict(tl.load(tmp_path / 'tok.npz')['tokenizer'])
    assert restored.chars == tokenizer.chars and restored.vocab_size == tokenizer.vocab_size
    np.testing.assert_array_equal(restored.encode('hello?'), tokenizer.encode('hello?'))
