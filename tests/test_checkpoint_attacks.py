"""Hostile archives that ``tl.load`` must refuse without inflating, allocating or dropping
anything (issue 20): a zip bomb, members that are compressed, duplicated, encrypted or named
like paths, a directory that declares more bytes than the file holds, a .npy header over
NumPy's safe size or one whose shape does not match its bytes. Each is a ValueError naming
the member, never "pickled objects" for what is not a pickle."""
from __future__ import annotations

import io
import struct
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from helpers import saved_members

import tinygrad_ls as tl

genuine = saved_members


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def write_zip(path, members: list, compression=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # zipfile warns about a duplicate name
        with zipfile.ZipFile(path, 'w', compression=compression) as archive:
            for name, content in members:
                archive.writestr(name, content)
    return path


def load_error(path) -> str:
    with pytest.raises(ValueError) as info:
        tl.load(path)
    assert str(path) in str(info.value)
    assert 'pickled' not in str(info.value)
    return str(info.value)


def test_a_zip_bomb_is_refused_without_inflating_it(tmp_path):
    """64 MB of zeros deflated to about 64 kB: load refuses it reading only the directory."""
    members = genuine(tmp_path)
    path = tmp_path / 'bomb.npz'
    size = 64 * 2**20
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('%structure.npy', members['%structure.npy'], compress_type=zipfile.ZIP_STORED)
        with archive.open('w.npy', 'w', force_zip64=True) as member:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {'descr': '<f8', 'fortran_order': False,
                                                          'shape': (size // 8,)})
            member.write(header.getvalue())
            chunk = bytes(2**20)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    assert path.stat().st_size < size // 100
    tracemalloc.start()
    try:
        message = load_error(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "its member 'w' is compressed (DEFLATE" in message and 'zip bomb' in message
    assert peak < 4 * 2**20  # nothing near the 64 MB was ever allocated


@pytest.mark.parametrize('method, name', [(zipfile.ZIP_BZIP2, 'BZIP2'), (zipfile.ZIP_LZMA, 'LZMA')])
def test_every_compression_method_is_refused(method, name, tmp_path):
    members = genuine(tmp_path)
    path = write_zip(tmp_path / 'ckpt.npz', list(members.items()), compression=method)
    assert f"is compressed ({name}" in load_error(path)


def test_a_key_listed_twice_is_refused(tmp_path):
    members = genuine(tmp_path)
    path = write_zip(tmp_path / 'ckpt.npz', [*members.items(), ('w.npy', npy(np.zeros(3)))])
    assert "holds the member 'w' twice" in load_error(path)


@pytest.mark.parametrize('name', ['a/../w.npy', './w.npy', 'a//w.npy', 'a\\w.npy', '/w.npy', '.npy',
                                  '../w.npy'])
def test_member_names_that_are_not_plain_keys_are_refused(name, tmp_path):
    members = genuine(tmp_path)
    path = write_zip(tmp_path / 'ckpt.npz', [*members.items(), (name, npy(np.zeros(2)))])
    assert f"its member {name!r} is not a plain key name" in load_error(path)


def test_keys_that_look_like_paths_save_under_plain_names_and_round_trip(tmp_path):
    state = {'': np.ones(1), '.': {'..': np.zeros(2), '': 3}, 'a/b': np.arange(2), '%empty': np.ones(3)}
    path = tmp_path / 'ckpt.npz'
    tl.save(state, path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert all('/..' not in f"/{name}" and '//' not in name and not name.startswith(('/', './', '.npy'))
               for name in names), names
    loaded = tl.load(path)
    assert list(loaded) == list(state) and list(loaded['.']) == ['..', '']
    np.testing.assert_array_equal(loaded['.']['..'], np.zeros(2))
    np.testing.assert_array_equal(loaded['%empty'], np.ones(3))


def test_an_oversized_header_is_named_as_such_not_as_pickles(tmp_path):
    members = genuine(tmp_path)
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }" + ' ' * 20_000 + '\n'
    content = b'\x93NUMPY\x02\x00' + struct.pack('<I', len(header)) + header.encode() + bytes(16)
    path = write_zip(tmp_path / 'ckpt.npz', [*[(k, v) for k, v in members.items() if k != 'w.npy'],
                                             ('w.npy', content)])
    message = load_error(path)
    assert f"its member 'w' has a .npy header of {len(header):,} bytes, over NumPy's safe limit of 10,000" \
        in message


def test_a_header_whose_shape_does_not_match_its_bytes_is_refused(tmp_path):
    members = genuine(tmp_path)
    content = npy(np.zeros(2))[:-8]  # claims 2 float64, holds 1
    path = write_zip(tmp_path / 'ckpt.npz', [*[(k, v) for k, v in members.items() if k != 'w.npy'],
                                             ('w.npy', content)])
    assert "its member 'w' declares an array of shape (2,) and dtype float64 (16 bytes) but holds 8" \
        in load_error(path)


def central_directory_entry(content: bytes, name: bytes) -> int:
    """The offset of the central directory record of member ``name``."""
    offset = content.find(b'PK\x01\x02')
    while offset >= 0:
        length = struct.unpack_from('<H', content, offset + 28)[0]
        if content[offset + 46:offset + 46 + length] == name:
            return offset
        offset = content.find(b'PK\x01\x02', offset + 4)
    raise AssertionError(name)


def test_a_directory_declaring_more_bytes_than_the_file_holds_is_refused(tmp_path):
    path = tmp_path / 'ckpt.npz'
    tl.save({'w': np.arange(3.0)}, path)
    content = bytearray(path.read_bytes())
    entry = central_directory_entry(bytes(content), b'w.npy')
    struct.pack_into('<II', content, entry + 20, 2**31, 2**31)  # compressed and uncompressed sizes
    path.write_bytes(bytes(content))
    assert 'more than the' in load_error(path) and 'the file holds' in load_error(path)


def test_an_encrypted_member_is_refused(tmp_path):
    path = tmp_path / 'ckpt.npz'
    tl.save({'w': np.arange(3.0)}, path)
    content = bytearray(path.read_bytes())
    entry = central_directory_entry(bytes(content), b'w.npy')
    flags = struct.unpack_from('<H', content, entry + 8)[0]
    struct.pack_into('<H', content, entry + 8, flags | 0x1)
    path.write_bytes(bytes(content))
    assert "its member 'w' is encrypted" in load_error(path)


def test_genuine_files_still_load(tmp_path):
    state = {'model': {'w': np.arange(6.0).reshape(2, 3), 'b': np.ones(3, np.float32)}, 'step': 3,
             'f': np.asfortranarray(np.arange(6).reshape(2, 3))}
    tl.save(state, tmp_path / 'ckpt.npz')
    loaded = tl.load(tmp_path / 'ckpt.npz')
    np.testing.assert_array_equal(loaded['model']['w'], state['model']['w'])
    np.testing.assert_array_equal(loaded['f'], state['f'])
    assert loaded['step'] == 3 and loaded['model']['b'].dtype == np.float32
    assert loaded['model']['w'].flags.writeable
