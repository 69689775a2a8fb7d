"""tl.save / tl.load: exact round trips of nested state, no pickle either way, clear refusals,
atomic writes."""
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import optim, serialization
from tinygrad_ls.serialization import load, save


def _assert_same(a, b, where='state'):
    """Equal structure, types, dtypes, shapes and values (NaN equal to NaN)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _round_trip(state, tmp_path):
    path = tmp_path / 'state.npz'
    save(state, path)
    loaded = load(path)
    _assert_same(state, loaded)
    return loaded


def _optimizer_like_state():
    """What an Adam optimizer's state_dict() looks like (int keys, tuples, None, bools)."""
    return {
        'state': {
            0: {'step': 3, 'exp_avg': np.full((2, 3), 0.5, np.float32),
                'exp_avg_sq': np.full((2, 3), 0.25, np.float32)},
            1: {'step': 3, 'exp_avg': np.zeros(3, np.float32), 'exp_avg_sq': np.ones(3, np.float32)},
        },
        'param_groups': [{'lr': 0.001, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0,
                          'amsgrad': False, 'maximize': False, 'foreach': None, 'initial_lr': 0.01,
                          'params': [0, 1]}],
    }


# ---- round trips --------------------------------------------------------------------------------

def test_round_trip_checkpoint_with_model_and_optimizer_state(tmp_path):
    state = {
        'model': {'layers.0.weight': np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32),
                  'layers.0.bias': np.zeros(4, np.float32),
                  'layers.2.weight': np.ones((1, 4), np.float32)},
        'optimizer': _optimizer_like_state(),
        'epoch': 7,
        'best_loss': 0.125,
        'note': 'after warm-up',
        'finished': True,
        'seed': None,
    }
    loaded = _round_trip(state, tmp_path)
    assert isinstance(loaded['epoch'], int) and isinstance(loaded['best_loss'], float)
    assert isinstance(loaded['optimizer']['param_groups'][0]['betas'], tuple)
    assert list(loaded['optimizer']['state']) == [0, 1]


@pytest.mark.parametrize('array', [
    np.arange(6, dtype=np.float32).reshape(2, 3),
    np.arange(6, dtype=np.float64).reshape(3, 2),
    np.arange(5, dtype=np.int64),
    np.arange(5, dtype=np.int32),
    np.array([3], dtype=np.uint8),
    np.array([True, False, True]),
    np.array(2.5, dtype=np.float32),
    np.array(7, dtype=np.int64),
    np.array(True),
    np.zeros((0, 4), dtype=np.float32),
    np.arange(2 * 3 * 4, dtype=np.float16).reshape(2, 3, 4),
    np.array([1 + 2j], dtype=np.complex64),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.arange(10.0)[::3],
    np.array(['a', 'bc']),
])
def test_arrays_keep_dtype_shape_and_values(array, tmp_path):
    loaded = _round_trip({'x': array, 'nested': {'x': array}}, tmp_path)
    assert type(loaded['x']) is np.ndarray


def test_python_and_numpy_scalars_keep_their_types(tmp_path):
    state = {'int': 3, 'big': 2 ** 70, 'neg': -1, 'float': 0.1, 'nan': float('nan'),
             'inf': float('inf'), 'ninf': -float('inf'), 'true': True, 'false': False, 'none': None,
             'str': 'h\u00e9llo / % \\ "quoted"', 'empty': '',
             'np_f32': np.float32(1.5), 'np_f64': np.float64(0.1), 'np_i64': np.int64(-4),
             'np_bool': np.bool_(True)}
    loaded = _round_trip(state, tmp_path)
    assert type(loaded['np_f64']) is np.float64 and type(loaded['float']) is float


def test_nested_containers_and_awkward_keys(tmp_path):
    state = {
        'a/b': np.ones(1), 'a': {'b': np.zeros(1)},           # '/' in a key vs. real nesting
        '%structure': np.full(2, 3.0), '%2F': np.ones(2),      # the reserved member name, escapes
        '': {'': np.arange(2)}, 'back\\slash': np.ones(3), 'nul\0key': np.zeros(2),
        'ints': {0: np.ones(1), '0': np.zeros(1), 1: 'one', -3: np.full(1, 2.0)},
        'lists': [np.ones(2), [1, 2.5, None], (), [], {}, ({'deep': [np.arange(3)]},)],
        'unicode \u2603': {'\u00e9': np.eye(2)},
        'layers.0.weight': np.ones((2, 2)),
    }
    _round_trip(state, tmp_path)


def test_empty_state(tmp_path):
    _round_trip({}, tmp_path)


def test_loaded_arrays_are_writable_copies(tmp_path):
    x = np.arange(4.0)
    loaded = _round_trip({'x': x}, tmp_path)
    loaded['x'][0] = 100.0
    assert x[0] == 0.0


def test_file_is_a_plain_npz_with_readable_member_names(tmp_path):
    path = tmp_path / 'ckpt.npz'
    save({'model': {'layers.0.weight': np.ones(2)}, 'optimizer': _optimizer_like_state()}, path)
    with np.load(path, allow_pickle=False) as archive:
        assert 'model/layers.0.weight' in archive.files
        assert 'optimizer/state/0/exp_avg' in archive.files
        structure = json.loads(archive['%structure'].tobytes().decode('utf-8'))
    assert structure['format'] == 'tinygrad_ls' and structure['version'] == 2


def test_path_is_used_exactly_and_may_be_a_str(tmp_path):
    path = str(tmp_path / 'checkpoint')  # no .npz suffix is added
    save({'x': np.ones(2)}, path)
    assert os.listdir(tmp_path) == ['checkpoint']
    _assert_same(load(path), {'x': np.ones(2)})


def test_overwrite_replaces_the_old_file(tmp_path):
    path = tmp_path / 'ckpt.npz'
    save({'x': np.ones(2)}, path)
    save({'y': np.zeros(3)}, path)
    _assert_same(load(path), {'y': np.zeros(3)})
    assert os.listdir(tmp_path) == ['ckpt.npz']


def test_round_trip_of_real_optimizer_state(tmp_path):
    w = leaf(np.ones((2, 3)), np.float32)
    b = leaf(np.zeros(3), np.float32)
    opt = optim.Adam([w, b], lr=0.01)
    for _ in range(2):
        opt.zero_grad()
        ((w * w).sum() + (b * 3.0).sum()).backward()
        opt.step()
    state = opt.state_dict()
    _round_trip({'optimizer': state}, tmp_path)
    fresh = optim.Adam([leaf(np.ones((2, 3)), np.float32), leaf(np.zeros(3), np.float32)], lr=0.5)
    fresh.load_state_dict(load(tmp_path / 'state.npz')['optimizer'])
    _assert_same(fresh.state_dict(), state)


# ---- refusals when saving -----------------------------------------------------------------------

class Thing:
    pass


@pytest.mark.parametrize('state, match', [
    ({'a': {'b': lambda x: x}}, r"state\['a'\]\['b'\] is a function"),
    ({'a': [1, Thing()]}, r"state\['a'\]\[1\] is a Thing"),
    ({'a': np.array([1, 'x', None], dtype=object)}, r"state\['a'\].*objects.*pickle"),
    ({'a': {1.5: 2}}, r"key 1\.5 in state\['a'\] is a float"),
    ({'a': {(1, 2): 2}}, r"key \(1, 2\).*tuple"),
    ({'a': {True: 2}}, r"key True.*bool"),
    ({'a': {None: 2}}, r"key None"),
    ({'a': {1, 2}}, r"state\['a'\] is a set"),
    ({'v': tl.Value([1.0, 2.0])}, r"state\['v'\] is a Value.*numpy\(\)"),
    ({'bad\ud800key': np.ones(1)}, 'UTF-8'),
    ({'a': np.array([(1, 'x')], dtype=[('i', 'i4'), ('o', 'O')])}, 'objects'),
])
def test_unsupported_values_are_refused_before_writing(state, match, tmp_path):
    path = tmp_path / 'ckpt.npz'
    with pytest.raises(TypeError, match=match):
        save(state, path)
    assert os.listdir(tmp_path) == []


def test_refusal_leaves_an_existing_file_untouched(tmp_path):
    path = tmp_path / 'ckpt.npz'
    save({'x': np.arange(3)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save({'x': np.arange(3), 'f': print}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['ckpt.npz']


def test_state_must_be_a_dict(tmp_path):
    with pytest.raises(TypeError, match='must be a dict'):
        save([np.ones(2)], tmp_path / 'x.npz')


def test_reference_cycle_is_refused(tmp_path):
    state = {'a': []}
    state['a'].append(state)
    with pytest.raises(TypeError, match='cycle'):
        save(state, tmp_path / 'x.npz')


def test_shared_references_are_fine(tmp_path):
    shared = np.ones(2)
    loaded = _round_trip({'a': shared, 'b': shared, 'c': [shared, shared]}, tmp_path)
    assert loaded['a'] is not loaded['b']


# ---- depth: no recursion on the user's nesting ----------------------------------------------------

def _deep_state(depth):
    """``{'chain': ...}`` nested ``depth`` containers deep, cycling dict -> list -> tuple, with
    an array every 100 levels and one at the bottom."""
    state = {}
    bottom = {'end': np.arange(3.0), 'depth': depth}
    for level in reversed(range(depth)):
        kind = level % 3
        if kind == 0:
            bottom = {'next': bottom, 'level': level, 'w': np.full(2, level) if level % 100 == 0 else None}
        elif kind == 1:
            bottom = [level, bottom]
        else:
            bottom = (bottom, str(level))
    state['chain'] = bottom
    return state


def _walk(node):
    """The containers along the chain, iteratively: (type, plain items, arrays) per level."""
    rows = []
    while True:
        if isinstance(node, dict) and 'end' in node:
            rows.append(('end', node['depth'], node['end'].tolist()))
            return rows
        if isinstance(node, dict):
            w = node['w']
            rows.append(('dict', list(node), node['level'], None if w is None else (w.dtype.str, w.tolist())))
            node = node['next']
        elif isinstance(node, list):
            rows.append(('list', node[0]))
            node = node[1]
        else:
            rows.append(('tuple', node[1]))
            node = node[0]


def _json_depth(document):
    depth, stack = 0, [(document, 1)]
    while stack:
        node, level = stack.pop()
        depth = max(depth, level)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, level + 1) for child in children)
    return depth


@pytest.mark.parametrize('depth', [500, 5000])
def test_deeply_nested_state_round_trips_without_recursion(depth, tmp_path):
    state = _deep_state(depth)
    path = tmp_path / 'deep.npz'
    save(state, path)
    loaded = load(path)
    assert _walk(loaded['chain']) == _walk(state['chain'])
    with np.load(path) as archive:
        document = json.loads(archive['%structure'].tobytes())
        assert len(archive.files) == depth // 300 + 2 + 1  # every 100th level is a dict level
    assert document['version'] == 2 and len(document['nodes']) == depth + 2
    assert _json_depth(document) <= 7                      # flat, however deep the state


def test_a_deep_array_gets_a_short_member_name(tmp_path):
    state = _deep_state(1000)
    path = tmp_path / 'deep.npz'
    save(state, path)
    with np.load(path) as archive:
        assert '%deep/' in ' '.join(archive.files) and max(map(len, archive.files)) <= 1024 + 4
    assert _walk(load(path)['chain']) == _walk(state['chain'])


def test_errors_deep_in_a_state_name_the_place_briefly(tmp_path):
    state = _deep_state(5000)
    bottom = state['chain']
    for row in _walk(state['chain'])[:-1]:
        bottom = bottom['next'] if row[0] == 'dict' else bottom[1] if row[0] == 'list' else bottom[0]
    bottom['end'] = object()
    with pytest.raises(TypeError, match=r"^save: state\['chain'\]\['next'\]\[1\]\[0\]\.\.\..*\['end'\] "
                                        r"\(at depth 5002\) is a object"):
        save(state, tmp_path / 'x.npz')
    bottom['end'] = state                                  # a cycle 5000 levels down
    with pytest.raises(TypeError, match=r'\(at depth 5002\) contains itself'):
        save(state, tmp_path / 'x.npz')
    assert not os.listdir(tmp_path)


def _write_structure(path, document, arrays=None):
    members = dict(arrays or {})
    members['%structure'] = np.frombuffer(json.dumps(document).encode(), dtype=np.uint8)
    np.savez(path, **members)


def test_version_1_files_still_load(tmp_path):
    """Containers written inside their parents, as tl.save wrote them before version 2."""
    path = tmp_path / 'v1.npz'
    model = {'t': 'dict', 'items': [['w', {'t': 'array', 'name': 'model/w'}]]}
    root = {'t': 'dict', 'items': [['model', model], ['betas', {'t': 'tuple', 'items': [0.9, 0.999]}],
                                   [0, {'t': 'list', 'items': []}]]}
    _write_structure(path, {'format': 'tinygrad_ls', 'version': 1, 'root': root}, {'model/w': np.ones(2)})
    loaded = load(path)
    assert list(loaded) == ['model', 'betas', 0] and loaded['betas'] == (0.9, 0.999) and loaded[0] == []
    np.testing.assert_array_equal(loaded['model']['w'], np.ones(2))


def test_a_crafted_structure_nested_too_deeply_is_a_value_error(tmp_path):
    """A version-1 structure (containers inline) 100 000 lists deep: the JSON reader gives up,
    and load says so with a ValueError, not a RecursionError."""
    path = tmp_path / 'crafted.npz'
    text = '{"t": "list", "items": [' * 100_000 + ']}' * 100_000
    document = ('{"format": "tinygrad_ls", "version": 1, "root": {"t": "dict", "items": [["x", '
                + text + ']]}}')
    np.savez(path, **{'%structure': np.frombuffer(document.encode(), dtype=np.uint8)})
    assert 'nested too deeply' in _load_error(path)


@pytest.mark.parametrize('nodes, root, match', [
    ([{'t': 'dict', 'items': []}], {'t': 'node', 'i': 3}, "names a node 3 that it does not hold"),
    ([{'t': 'dict', 'items': [['a', {'t': 'node', 'i': 0}]]}], {'t': 'node', 'i': 0}, 'uses node 0 twice'),
    ([{'t': 'dict', 'items': []}, {'t': 'list', 'items': []}], {'t': 'node', 'i': 0}, '1 nodes the state'),
    ([{'t': 'array', 'name': 'x'}], {'t': 'node', 'i': 0}, 'unknown node'),
    ({'t': 'dict'}, {'t': 'node', 'i': 0}, 'node table is not a list'),
    ([{'t': 'dict', 'items': []}], {'t': 'node', 'i': True}, 'names a node True'),
])
def test_a_broken_node_table_is_refused(nodes, root, match, tmp_path):
    path = tmp_path / 'broken.npz'
    _write_structure(path, {'format': 'tinygrad_ls', 'version': 2, 'nodes': nodes, 'root': root})
    assert match in _load_error(path)


# ---- refusals when loading ----------------------------------------------------------------------

def _load_error(path):
    with pytest.raises(ValueError) as info:
        load(path)
    assert str(path) in str(info.value)
    return str(info.value)


def test_pickle_file_is_refused(tmp_path):
    path = tmp_path / 'evil.pkl'
    with open(path, 'wb') as f:
        pickle.dump({'x': np.ones(2)}, f)
    assert 'pickle' in _load_error(path)


def test_npz_with_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / 'objects.npz'
    np.savez(path, x=np.array([{'a': 1}, None], dtype=object))
    message = _load_error(path)
    assert 'pickled' in message and "'x'" in message


def test_tl_file_with_an_injected_object_member_is_refused(tmp_path):
    path = tmp_path / 'ckpt.npz'
    save({'x': np.ones(2)}, path)
    with zipfile.ZipFile(path, 'a') as archive, archive.open('evil.npy', 'w') as member:
        np.lib.format.write_array(member, np.array([Thing], dtype=object), allow_pickle=True)
    assert 'pickled' in _load_error(path)


def test_plain_npz_is_not_a_tl_file(tmp_path):
    path = tmp_path / 'plain.npz'
    np.savez(path, weights=np.ones(3))
    message = _load_error(path)
    assert 'not written by tl.save' in message and 'weights' in message


def test_npy_text_and_empty_files_are_refused(tmp_path):
    npy = tmp_path / 'a.npy'
    np.save(npy, np.ones(3))
    assert '.npy' in _load_error(npy)
    text = tmp_path / 'notes.txt'
    text.write_text('hello')
    assert 'not an .npz' in _load_error(text)
    empty = tmp_path / 'empty.npz'
    empty.write_bytes(b'')
    assert 'empty' in _load_error(empty)


def test_other_zip_is_not_a_tl_file(tmp_path):
    path = tmp_path / 'other.zip'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('readme.txt', 'hi')
    assert 'not written by tl.save' in _load_error(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.npz'):
        load(tmp_path / 'nope.npz')


@pytest.mark.parametrize('keep', [0.9, 0.5, 0.1, 10])
def test_truncated_file_is_refused(keep, tmp_path):
    path = tmp_path / 'ckpt.npz'
    save({'model': {'w': np.arange(1000.0)}, 'optimizer': _optimizer_like_state()}, path)
    content = path.read_bytes()
    path.write_bytes(content[:int(len(content) * keep) if keep < 1 else keep])
    assert 'truncated or corrupted' in _load_error(path)


def test_every_flipped_byte_is_refused_or_harmless(tmp_path):
    # Each byte of a small checkpoint flipped in turn: load raises ValueError naming the file,
    # or (for a byte no reader checks, such as a zip timestamp) returns the exact state, never
    # garbage and never another exception type.
    path = tmp_path / 'ckpt.npz'
    state = {'model': {'w': np.arange(20.0), 'b': np.ones(3, np.float32)}, 'step': 3,
             'optimizer': {'state': {0: {'step': 2}}, 'param_groups': [{'betas': (0.9, 0.99)}]}}
    save(state, path)
    content = path.read_bytes()
    refused = 0
    for position in range(len(content)):
        for flip in (0xFF, 0x01):
            damaged = bytearray(content)
            damaged[position] ^= flip
            path.write_bytes(bytes(damaged))
            try:
                loaded = load(path)
            except ValueError as error:
                assert str(path) in str(error)
                refused += 1
            else:
                _assert_same(loaded, state, f"byte {position} ^ {flip:#x}")
    assert refused > len(content)  # most bytes matter


def _rewrite_structure(path, transform):
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    document = transform(json.loads(arrays['%structure'].tobytes()))
    arrays['%structure'] = np.frombuffer(json.dumps(document).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize('transform, match', [
    (lambda d: {**d, 'format': 'other'}, 'not a tinygrad_ls'),
    (lambda d: {**d, 'version': 99}, 'version 99'),
    (lambda d: {**d, 'root': {'t': 'dict', 'items': [['x', {'t': 'array', 'name': 'missing'}]]}},
     "'missing'"),
    (lambda d: {**d, 'root': {'t': 'dict', 'items': []}}, 'does not name'),
    (lambda d: {**d, 'root': {'t': 'weird'}}, 'unknown node'),
    (lambda d: {**d, 'root': [1, 2]}, 'unexpected list'),
    (lambda d: {**d, 'root': {'t': 'list', 'items': []}}, 'not a dict'),
    (lambda d: {**d, 'root': {'t': 'dict', 'items': [['x']]}}, 'malformed'),
])
def test_inconsistent_structure_is_refused(transform, match, tmp_path):
    path = tmp_path / 'ckpt.npz'
    save({'x': np.ones(2)}, path)
    _rewrite_structure(str(path), transform)
    assert match in _load_error(path)


def test_unreadable_structure_is_refused(tmp_path):
    path = tmp_path / 'ckpt.npz'
    np.savez(path, **{'%structure': np.frombuffer(b'{not json', dtype=np.uint8)})
    assert 'structure description is unreadable' in _load_error(path)
    np.savez(path, **{'%structure': np.zeros(3, dtype=np.float32)})
    assert 'structure description is unreadable' in _load_error(path)


# ---- atomic writes ------------------------------------------------------------------------------

def test_crash_while_writing_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / 'ckpt.npz'
    save({'generation': 1, 'w': np.ones(100)}, path)
    before = path.read_bytes()
    calls = []

    def crash_on_second_array(file, array, **kwargs):
        calls.append(array.shape)
        if len(calls) == 2:
            file.write(b'half an array')
            raise OSError('disk full')
        return original(file, array, **kwargs)

    original = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, 'write_array', crash_on_second_array)
    with pytest.raises(OSError, match='disk full'):
        save({'generation': 2, 'w': np.zeros(100), 'v': np.zeros(5)}, path)
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['ckpt.npz']
    monkeypatch.undo()
    _assert_same(load(path), {'generation': 1, 'w': np.ones(100)})


def test_crash_before_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'ckpt.npz'
    save({'generation': 1}, path)

    def failing_replace(src, dst):
        raise KeyboardInterrupt  # even an interrupt cleans up

    monkeypatch.setattr(serialization.os, 'replace', failing_replace)
    with pytest.raises(KeyboardInterrupt):
        save({'generation': 2}, path)
    monkeypatch.undo()
    assert load(path) == {'generation': 1}
    assert os.listdir(tmp_path) == ['ckpt.npz']


def test_crash_on_first_save_leaves_nothing(tmp_path, monkeypatch):
    def failing_write_array(*args, **kwargs):
        raise OSError('no space')

    monkeypatch.setattr(np.lib.format, 'write_array', failing_write_array)
    with pytest.raises(OSError):
        save({'w': np.ones(3)}, tmp_path / 'new.npz')
    assert os.listdir(tmp_path) == []


def test_writes_never_pickle(tmp_path, monkeypatch):
    seen = []
    original = np.lib.format.write_array

    def spy(file, array, **kwargs):
        seen.append(kwargs.get('allow_pickle'))
        return original(file, array, **kwargs)

    monkeypatch.setattr(np.lib.format, 'write_array', spy)
    save({'a': np.ones(2), 'b': {'c': np.zeros(1)}}, tmp_path / 'x.npz')
    assert seen == [False, False, False]


def test_public_names():
    assert tl.save is save and tl.load is load
