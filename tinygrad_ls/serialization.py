"""``save`` / ``load``: nested state (e.g. model and optimizer state dicts) as ``.npz``, never pickle.

File format: an ordinary ``.npz`` (zip) archive that ``np.load`` can open. Every array of the
state is one ``.npy`` member, named by its path in the state with ``/`` between the parts
(``model/layers.0.weight``, ``optimizer/state/0/exp_avg``); inside a string key ``%``,
``/``, ``\\`` and NUL are written ``%25``, ``%2F``, ``%5C`` and ``%00``, and where an int key and
a string key still meet (``0`` and ``'0'``) a ``~1`` suffix keeps the names apart; a path
longer than ``MAX_MEMBER_NAME`` characters gets the short name ``%deep/<n>``. One more member,
``%structure`` (a name no escaped path can take), holds a UTF-8 JSON description of the whole
tree as a ``uint8`` array::

    {"format": "tinygrad_ls", "version": 2, "nodes": [CONTAINER, ...], "root": NODE}
    NODE = null | true | 3 | 2.5 | "text"                       a Python None/bool/int/float/str
         | {"t": "array" | "scalar", "name": MEMBER}             an ndarray / a NumPy scalar
         | {"t": "node", "i": INDEX}                             the container nodes[INDEX]
    CONTAINER = {"t": "dict", "items": [[KEY, NODE], ...]}       KEY: a JSON string or integer
              | {"t": "list" | "tuple", "items": [NODE, ...]}

so ``load`` rebuilds exactly the structure that was saved (int keys stay int, tuples stay
tuples, Python numbers stay Python numbers, arrays keep dtype and shape) without ever parsing
member names. Writing never pickles (``allow_pickle=False``), reading never unpickles.

Depth: every container is listed once in ``nodes`` and named by its index, so the JSON is a
few levels deep however deeply the state nests, and ``save`` and ``load`` walk the state with
an explicit stack: no nesting depth makes them recurse (a state 5000 levels deep saves and
loads). Version 1 files, whose containers were written inside their parents, still load; a
crafted one nested too deeply for the JSON reader is refused with ValueError.
"""
from __future__ import annotations

import json
import os
import struct
import tokenize
import uuid
import zipfile
import zlib
from typing import Any

import numpy as np

FORMAT = 'tinygrad_ls'
VERSION = 2
READABLE_VERSIONS = (1, 2)
STRUCTURE_MEMBER = '%structure'
MAX_MEMBER_NAME = 1024  # characters; zip names are limited, and load never parses them anyway

_CONTAINERS = {dict: 'dict', list: 'list', tuple: 'tuple'}


# ---- saving -------------------------------------------------------------------------------------

def _escape(key: str) -> str:
    return key.replace('%', '%25').replace('/', '%2F').replace('\\', '%5C').replace('\0', '%00')


def _path_of(link: tuple | None) -> tuple:
    """The path ``(key, key, ...)`` of a value from its link ``(parent link, key)``."""
    parts = []
    while link is not None:
        link, key = link
        parts.append(key)
    return tuple(reversed(parts))


def _describe_path(path: tuple) -> str:
    """``state['a'][0]``; a deep path shows its first and last parts and its depth."""
    def show(parts):
        return ''.join(f"[{part!r}]" for part in parts)
    if len(path) > 12:
        return f"state{show(path[:4])}...{show(path[-4:])} (at depth {len(path)})"
    return 'state' + show(path)


def _encode_leaf(value: Any, link: tuple | None, arrays: dict[str, np.ndarray]) -> Any:
    """The JSON node of a value that is not a container; its array goes into ``arrays``.

    Raises TypeError naming the value's place for anything that is not plain data."""
    if isinstance(value, (np.ndarray, np.generic)):  # first: np.float64 is also a float
        array = np.asarray(value)
        path = _path_of(link)
        if array.dtype.hasobject:
            raise TypeError(f"save: {_describe_path(path)} is an array of Python objects "
                            f"(dtype {array.dtype}), which cannot be stored without pickle; "
                            "convert it to a numeric array")
        name = '/'.join(_escape(p) if isinstance(p, str) else str(p) for p in path)
        if len(name) > MAX_MEMBER_NAME:
            name = f"%deep/{len(arrays)}"
        base, n = name, 1
        while name in arrays or name == STRUCTURE_MEMBER:  # int key 0 and str key '0' in one dict
            name, n = f"{base}~{n}", n + 1
        arrays[name] = array
        return {'t': 'array' if isinstance(value, np.ndarray) else 'scalar', 'name': name}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    hint = (" (a Value: save value.numpy(), or model.state_dict())"
            if type(value).__name__ in ('Value', 'Parameter') else '')
    raise TypeError(f"save: {_describe_path(_path_of(link))} is a {type(value).__name__}{hint}; only dicts, "
                    "lists, tuples, ndarrays, NumPy scalars, numbers, bools, strings and None can be saved")


def _dict_key(key: Any, link: tuple | None) -> str | int:
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)):
        raise TypeError(f"save: key {key!r} in {_describe_path(_path_of(link))} is a {type(key).__name__}; "
                        "keys must be strings (or ints, as in an optimizer's state)")
    if isinstance(key, str):
        try:
            key.encode('utf-8')
        except UnicodeEncodeError:
            raise TypeError(f"save: key {key!r} in {_describe_path(_path_of(link))} "
                            "is not valid UTF-8") from None
        return str(key)
    return int(key)


_LEAVE = object()  # on the stack after a container's items: the container is done


def _encode(state: dict, arrays: dict[str, np.ndarray]) -> tuple[list[dict], Any]:
    """The container nodes and the root node of ``state``; its arrays are added to ``arrays``
    under member names, in depth-first order. An explicit stack, not recursion, so any depth
    of nesting works. Raises TypeError naming the place of anything that is not plain data."""
    nodes: list[dict] = []
    root: list = [None]
    active: set[int] = set()  # the containers being walked: meeting one again is a cycle
    stack: list[tuple] = [(state, None, root, 0)]  # (value, link to its path, where its node goes)
    while stack:
        value, link, target, slot = stack.pop()
        if value is _LEAVE:
            active.discard(link)
            continue
        kind = _CONTAINERS.get(type(value))
        if kind is None:
            target[slot] = _encode_leaf(value, link, arrays)
            continue
        if id(value) in active:
            raise TypeError(f"save: {_describe_path(_path_of(link))} contains itself (a reference cycle)")
        active.add(id(value))
        if kind == 'dict':
            items = [[_dict_key(key, link), None] for key in value]
            children = [(item, (link, entry[0]), entry, 1) for entry, item in zip(items, value.values())]
        else:
            items = [None] * len(value)
            children = [(item, (link, i), items, i) for i, item in enumerate(value)]
        target[slot] = {'t': 'node', 'i': len(nodes)}
        nodes.append({'t': kind, 'items': items})
        stack.append((_LEAVE, id(value), None, None))  # (its link slot carries the id to forget)
        stack.extend(reversed(children))
    return nodes, root[0]


def _write_npz(file, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as the members of an uncompressed ``.npz`` archive, never pickling."""
    with zipfile.ZipFile(file, mode='w', compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + '.npy', mode='w', force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def save(state: dict, path: str | os.PathLike) -> None:
    """Save ``state`` to the ``.npz`` file ``path`` (written at exactly that path).

    ``state``: a dict whose values are dicts, lists, tuples (nested to any depth: no
    recursion), ndarrays, NumPy scalars, Python numbers, bools, strings or None — e.g.
    ``{'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': 3}``. Dict
    keys are strings (ints are also accepted, as in an optimizer's ``state``). Anything
    else (Values, functions, other objects, object arrays, non-string keys) raises
    TypeError naming its place, before anything is written.

    The write is atomic: the archive goes to a temporary file in the same directory, which
    is flushed to disk and then renamed over ``path``. If anything fails, ``path`` keeps its
    previous content and the temporary file is removed.
    """
    if not isinstance(state, dict):
        raise TypeError(f"save: state must be a dict, got {type(state).__name__}")
    arrays: dict[str, np.ndarray] = {}
    nodes, root = _encode(state, arrays)
    document = json.dumps({'format': FORMAT, 'version': VERSION, 'nodes': nodes, 'root': root},
                          allow_nan=True)
    arrays[STRUCTURE_MEMBER] = np.frombuffer(document.encode('utf-8'), dtype=np.uint8)

    path = os.fspath(path)
    directory, filename = os.path.split(os.path.abspath(path))
    temp_path = os.path.join(directory, f".{filename}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(temp_path, 'xb') as file:
            _write_npz(file, arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


# ---- loading ------------------------------------------------------------------------------------

# What reading a damaged zip archive or .npy member can raise (a .npy header is parsed with
# tokenize and ast.literal_eval, hence TokenError and SyntaxError).
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError, IndexError,
                struct.error, NotImplementedError, RuntimeError, UnicodeDecodeError, tokenize.TokenError,
                SyntaxError)


class _Corrupt(Exception):
    """Raised inside ``load`` for a file that is not a valid tl.save file; becomes ValueError."""


def _container(node: Any, nodes: list, taken: set[int]) -> tuple[str, list]:
    """``(kind, items)`` of a container node: written inline (version 1) or named by its index
    in ``nodes`` (version 2, each index once)."""
    if node.get('t') == 'node':
        index = node.get('i')
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(nodes):
            raise _Corrupt(f"the structure names a node {index!r} that it does not hold")
        if index in taken:
            raise _Corrupt(f"the structure uses node {index} twice")
        taken.add(index)
        node = nodes[index]
        if not isinstance(node, dict) or node.get('t') not in ('dict', 'list', 'tuple'):
            raise _Corrupt(f"the structure holds an unknown node {str(node)[:80]}")
    kind, items = node.get('t'), node.get('items')
    if kind not in ('dict', 'list', 'tuple') or not isinstance(items, list):
        raise _Corrupt(f"the structure holds an unknown node {str(node)[:80]}")
    return kind, items


def _decode(root: Any, nodes: list, arrays: dict[str, np.ndarray], used: set[str], taken: set[int]) -> Any:
    """Rebuild the state from its root node, with an explicit stack (no recursion); the names
    of the arrays it uses go into ``used``, the indices of the nodes into ``taken``."""
    result: list = [None]
    stack: list[tuple] = [(root, result, 0)]  # (node, where its value goes)
    while stack:
        node, target, slot = stack.pop()
        if node is _LEAVE:  # a tuple's items are all decoded: freeze them
            items, (outer, outer_slot) = target, slot
            outer[outer_slot] = tuple(items)
            continue
        if node is None or isinstance(node, (bool, int, float, str)):
            target[slot] = node
            continue
        if not isinstance(node, dict):
            raise _Corrupt(f"the structure holds an unexpected {type(node).__name__}")
        if node.get('t') in ('array', 'scalar'):
            name = node.get('name')
            if name not in arrays:
                raise _Corrupt(f"the structure names an array {name!r} that the archive does not hold")
            used.add(name)
            target[slot] = arrays[name] if node['t'] == 'array' else arrays[name][()]
            continue
        kind, items = _container(node, nodes, taken)
        if kind == 'dict':
            for entry in items:
                if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], (str, int))):
                    raise _Corrupt("a dict entry of the structure is malformed")
            value = dict.fromkeys(entry[0] for entry in items)
            children = [(entry[1], value, entry[0]) for entry in items]
        else:
            value = [None] * len(items)
            children = [(item, value, i) for i, item in enumerate(items)]
        if kind == 'tuple':
            stack.append((_LEAVE, value, (target, slot)))
        else:
            target[slot] = value
        stack.extend(reversed(children))
    return result[0]


def _read_members(path: str) -> dict[str, np.ndarray]:
    """Every member of the archive, read now (so a corrupt member fails here)."""
    with open(path, 'rb') as file:
        magic = file.read(6)
    if magic.startswith(b'\x80'):
        raise _Corrupt("it is a pickle file, and tl.load never unpickles")
    if magic.startswith(b'\x93NUMPY'):
        raise _Corrupt("it is a single .npy array, not a tl.save archive")
    if not magic.startswith(b'PK'):
        what = 'it is empty' if not magic else f"it starts with {magic!r}"
        raise _Corrupt(f"it is not an .npz (zip) archive ({what})")
    try:
        loaded = np.load(path, allow_pickle=False)
    except _READ_ERRORS as error:
        raise _Corrupt(f"it is truncated or corrupted ({type(error).__name__}: {error})") from None
    with loaded:
        arrays = {}
        for name in loaded.files:
            try:
                arrays[name] = loaded[name]
            except ValueError as error:
                if 'allow_pickle' in str(error):
                    raise _Corrupt(f"its member {name!r} is an array of pickled Python objects, "
                                   "and tl.load never unpickles") from None
                raise _Corrupt(f"its member {name!r} is corrupted ({error})") from None
            except _READ_ERRORS as error:
                raise _Corrupt(f"its member {name!r} is truncated or corrupted "
                               f"({type(error).__name__}: {error})") from None
            except MemoryError:  # a crafted header can declare a shape of petabytes
                raise _Corrupt(f"its member {name!r} declares an array too large to allocate "
                               "(the file is corrupted or crafted)") from None
    return arrays


def load(path: str | os.PathLike) -> dict:
    """Load what ``save`` wrote: the same nested dicts/lists/tuples, with arrays as ndarrays
    (same dtype and shape), NumPy scalars as NumPy scalars and Python values as Python values.

    Never unpickles (``np.load(..., allow_pickle=False)``). Raises FileNotFoundError for a
    missing file and ValueError naming the path and the problem for a file that holds
    pickled objects, is truncated or corrupted, or was not written by ``tl.save``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path!r}")
    try:
        arrays = _read_members(path)
        if STRUCTURE_MEMBER not in arrays:
            raise _Corrupt(f"it has no {STRUCTURE_MEMBER!r} entry, so it was not written by tl.save "
                           f"(it holds {sorted(arrays)[:5]}; use np.load for plain .npz files)")
        not_arrays = sorted(name for name, member in arrays.items() if not isinstance(member, np.ndarray))
        if not_arrays:  # np.load hands over a member that is not a .npy file as raw bytes
            raise _Corrupt(f"its members {not_arrays[:5]} are not .npy arrays")
        raw = arrays.pop(STRUCTURE_MEMBER)
        try:
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError(f"dtype {raw.dtype}, shape {raw.shape}")
            document = json.loads(raw.tobytes().decode('utf-8'))
        except (ValueError, UnicodeDecodeError) as error:
            raise _Corrupt(f"its structure description is unreadable ({error})") from None
        if not isinstance(document, dict) or document.get('format') != FORMAT:
            raise _Corrupt("its structure description is not a tinygrad_ls one")
        if document.get('version') not in READABLE_VERSIONS:
            raise _Corrupt(f"it has format version {document.get('version')!r}; this tinygrad_ls reads "
                           f"versions {', '.join(map(str, READABLE_VERSIONS))}")
        nodes = document.get('nodes', [])
        if not isinstance(nodes, list):
            raise _Corrupt("its structure's node table is not a list")
        used: set[str] = set()
        taken: set[int] = set()
        state = _decode(document.get('root'), nodes, arrays, used, taken)
        if not isinstance(state, dict):
            raise _Corrupt(f"its structure describes a {type(state).__name__}, not a dict")
        unused = sorted(set(arrays) - used)
        if unused:
            raise _Corrupt(f"it holds arrays the structure does not name: {unused[:5]}")
        if len(taken) != len(nodes):
            raise _Corrupt(f"its structure holds {len(nodes) - len(taken)} nodes the state does not reach")
    except _Corrupt as error:
        raise ValueError(f"load: cannot load {path!r}: {error}") from None
    except RecursionError:  # only the JSON reader recurses: a version-1 structure nested thousands deep
        raise ValueError(f"load: cannot load {path!r}: its structure is nested too deeply for the JSON "
                         "reader (version-1 files nest their containers; tl.save writes version 2)") from None
    return state

__all__ = ['save', 'load']
