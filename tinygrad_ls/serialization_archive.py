"""Reading a ``tl.save`` archive safely: every member of the zip is checked before a byte of
its array is read, so that no file can make ``tl.load`` unpickle, inflate, allocate or
silently drop anything.

Refused, each with a ValueError naming the member (``serialization.load`` adds the path):

- compressed members (DEFLATE, BZIP2, LZMA): ``tl.save`` stores its members, and a
  compressed member can inflate far past its size (a 1.5 MB zip bomb inflates to 1.6 GB), so
  ``tl.load`` never inflates one; encrypted members;
- members that are not plain keys: a name that is not ``<key>.npy``, starts with ``/``, holds
  a ``\\``, or has an empty, ``.`` or ``..`` part (``../../escaped.npy``);
- two members of one key (the zip directory may list a name twice; one would be dropped);
- members whose declared sizes add up to more than the file holds (a corrupted or crafted
  directory);
- a ``.npy`` header longer than NumPy's safe limit of 10,000 bytes, an object dtype (pickled
  Python objects), or a header whose shape and dtype do not account for exactly the bytes
  the member holds (a header claiming 80 TB is refused without allocating anything).

Reading an array then goes through ``np.lib.format.read_array(allow_pickle=False)``, and the
zip reader checks each member's CRC-32 as its last byte is read.
"""
from __future__ import annotations

import os
import struct
import tokenize
import zipfile
import zlib

import numpy as np

MAX_NPY_HEADER = 10_000  # bytes: NumPy's own limit for headers it parses without allow_pickle
_METHODS = {zipfile.ZIP_DEFLATED: 'DEFLATE', zipfile.ZIP_BZIP2: 'BZIP2', zipfile.ZIP_LZMA: 'LZMA'}

# What reading a damaged zip archive or .npy member can raise (a .npy header is parsed with
# tokenize and ast.literal_eval, hence TokenError and SyntaxError).
READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, IndexError,
               struct.error, NotImplementedError, RuntimeError, UnicodeDecodeError, tokenize.TokenError,
               SyntaxError, OverflowError, TypeError)


class Corrupt(Exception):
    """A file that is not a valid tl.save file; ``load`` turns it into a ValueError naming the path."""


def _name_problem(name: str) -> str | None:
    """Why ``name`` (a zip member name ending in ``.npy``) is not a plain key, or None."""
    key = name[:-len('.npy')]
    if not key:
        return 'it has no key before .npy'
    if key.startswith('/'):
        return 'it is an absolute path'
    if '\\' in key or '\0' in key:
        return 'it holds a backslash or NUL'
    if any(part in ('', '.', '..') for part in key.split('/')):
        return "it has an empty, '.' or '..' part"
    return None


def _check_directory(infos: list, file_size: int) -> None:
    """Every member of the zip directory is a stored, unencrypted ``.npy`` file of a plain,
    unique key; together they fit in the file."""
    not_npy = [info.filename for info in infos if not info.filename.endswith('.npy')]
    if not_npy:  # (np.load would hand these over as raw bytes)
        raise Corrupt(f"its members {not_npy[:5]} are not .npy arrays")
    seen, declared = set(), 0
    for info in infos:
        name = info.filename
        key = name[:-len('.npy')]
        problem = _name_problem(name)
        if problem:
            raise Corrupt(f"its member {name!r} is not a plain key name ({problem}); tl.save writes none "
                          "such and tl.load never uses a member name as a path")
        if key in seen:
            raise Corrupt(f"it holds the member {key!r} twice (a crafted or corrupted zip directory: one of "
                          "them would be dropped silently)")
        seen.add(key)
        if info.flag_bits & 0x1:
            raise Corrupt(f"its member {key!r} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            method = _METHODS.get(info.compress_type, f"method {info.compress_type}")
            raise Corrupt(f"its member {key!r} is compressed ({method}: {info.compress_size:,} bytes that "
                          f"would inflate to {info.file_size:,} or more); tl.save stores its members and "
                          "tl.load never inflates one, since a compressed member can inflate far past its "
                          "size (a zip bomb). Unzip the archive and save the arrays again with tl.save")
        if info.compress_size != info.file_size:
            raise Corrupt(f"its member {key!r} is stored with {info.compress_size:,} bytes but declares "
                          f"{info.file_size:,} (a corrupted zip directory)")
        declared += info.file_size
    if declared > file_size:
        raise Corrupt(f"its members declare {declared:,} bytes, more than the {file_size:,} the file holds "
                      "(overlapping members, as in a zip bomb, or a corrupted zip directory)")


def _read_header(member, key: str) -> tuple[tuple, bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, header_end)`` of a .npy member, checked."""
    try:
        version = np.lib.format.read_magic(member)
    except ValueError:
        member.seek(0)
        raise Corrupt(f"its member {key!r} is not a .npy array (it starts with {member.read(8)!r})") from None
    width = 2 if version == (1, 0) else 4
    raw = member.read(width)
    if len(raw) < width:
        raise Corrupt(f"its member {key!r} is truncated (in its .npy header)")
    length = int.from_bytes(raw, 'little')
    if length > MAX_NPY_HEADER:
        raise Corrupt(f"its member {key!r} has a .npy header of {length:,} bytes, over NumPy's safe limit of "
                      f"{MAX_NPY_HEADER:,} (the file is corrupted or crafted)")
    member.seek(6 + 2)
    # Version 3 differs from 2 only in decoding the header as UTF-8 (for non-Latin-1 field
    # names); read as Latin-1 here, the shape and the itemsize come out the same.
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(member, max_header_size=MAX_NPY_HEADER)
    return shape, fortran_order, dtype, member.tell()


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    key = info.filename[:-len('.npy')]
    with archive.open(info) as member:
        shape, fortran_order, dtype, header_end = _read_header(member, key)
        if dtype.hasobject:
            raise Corrupt(f"its member {key!r} is an array of pickled Python objects (dtype {dtype}), and "
                          "tl.load never unpickles")
        count = 1
        for size in shape:
            count *= size
        needed = header_end + count * dtype.itemsize
        if needed != info.file_size:
            raise Corrupt(f"its member {key!r} declares an array of shape {shape} and dtype {dtype} "
                          f"({count * dtype.itemsize:,} bytes) but holds {info.file_size - header_end:,} "
                          "bytes after its header (the file is corrupted or crafted)")
        member.seek(0)
        return np.lib.format.read_array(member, allow_pickle=False, max_header_size=MAX_NPY_HEADER)


def _refuse_foreign(archive: zipfile.ZipFile, infos: list, required: str) -> None:
    """Corrupt for a zip without the member ``required``: not written by tl.save (and, if a
    stored .npy member holds objects, a carrier of pickles)."""
    for info in infos:
        if info.filename.endswith('.npy') and info.compress_type == zipfile.ZIP_STORED:
            with archive.open(info) as member:
                dtype = _read_header(member, info.filename[:-4])[2]
            if dtype.hasobject:
                raise Corrupt(f"its member {info.filename[:-4]!r} is an array of pickled Python objects "
                              f"(dtype {dtype}), and tl.load never unpickles")
    names = sorted(info.filename.removesuffix('.npy') for info in infos)
    raise Corrupt(f"it has no {required!r} entry, so it was not written by tl.save (it holds {names[:5]}; "
                  "use np.load for plain .npz files)")


def read_members(path: str, required: str) -> dict[str, np.ndarray]:
    """Every member of the archive at ``path`` as ``{key: ndarray}`` (``key``: the member name
    without ``.npy``), read now, so that a damaged member fails here; the archive must hold
    the member ``required``. Raises ``Corrupt``."""
    with open(path, 'rb') as file:
        magic = file.read(6)
    if magic.startswith(b'\x80'):
        raise Corrupt("it is a pickle file, and tl.load never unpickles")
    if magic.startswith(b'\x93NUMPY'):
        raise Corrupt("it is a single .npy array, not a tl.save archive")
    if not magic.startswith(b'PK'):
        what = 'it is empty' if not magic else f"it starts with {magic!r}"
        raise Corrupt(f"it is not an .npz (zip) archive ({what})")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if required not in names and f"{required}.npy" not in names:
                _refuse_foreign(archive, infos, required)
            _check_directory(infos, os.path.getsize(path))
            arrays = {}
            for info in infos:
                try:
                    arrays[info.filename[:-len('.npy')]] = _read_member(archive, info)
                except READ_ERRORS as error:
                    raise Corrupt(f"its member {info.filename[:-4]!r} is truncated or corrupted "
                                  f"({type(error).__name__}: {error})") from None
    except READ_ERRORS as error:
        raise Corrupt(f"it is truncated or corrupted ({type(error).__name__}: {error})") from None
    return arrays


__all__ = ['Corrupt', 'read_members', 'MAX_NPY_HEADER']
