"""``save`` / ``load``: nested state (e.g. model and optimizer state dicts) as ``.npz``, never pickle.

File format: an ordinary ``.npz`` (zip) archive that ``np.load`` can open. Every array of the
state is one ``.npy`` member, named by its path in the state with ``/`` between the parts
(``model/layers.0.weight``, ``optimizer/state/0/exp_avg``); inside a string key ``%``,
``/``, ``\\`` and NUL are written ``%25``, ``%2F``, ``%5C`` and ``%00`` (and a key that is
``''``, ``'.'`` or ``'..'`` is written ``%empty``, ``%2E``, ``%2E%2E``, so that every member
name is a plain relative path, which ``load`` checks), and where an int key and
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
import stat
import zipfile
from typing import Any

import numpy as np

from .checks import is_int
from .serialization_archive import Corrupt, read_members
from .serialization_temp import cleanup_on_signals, remove_stale_temp_files, temp_path_for

FORMAT = 'tinygrad_ls'
VERSION = 2
READABLE_VERSIONS = (1, 2)
STRUCTURE_MEMBER = '%structure'
MAX_MEMBER_NAME = 1024  # characters; zip names are limited, and load never parses them anyway

_CONTAINERS = {dict: 'dict', list: 'list', tuple: 'tuple'}


# ---- saving -------------------------------------------------------------------------------------

def _escape(key: str) -> str:
    """A string key as one part of a member name: ``%``, ``/``, ``\\`` and NUL escaped, and the
    parts a path reader would take for a directory (``''``, ``'.'``, ``'..'``) written
    ``%empty``, ``%2E``, ``%2E%2E`` (so every name tl.save writes is a plain key)."""
    escaped = key.replace('%', '%25').replace('/', '%2F').replace('\\', '%5C').replace('\0', '%00')
    if escaped in ('', '.', '..'):
        return escaped.replace('.', '%2E') or '%empty'
    return escaped


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
    """Save ``state`` to the ``.npz`` file ``path``.

    ``state``: a dict whose values are dicts, lists, tuples (nested to any depth: no
    recursion), ndarrays, NumPy scalars, Python numbers, bools, strings or None — e.g.
    ``{'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': 3}``. Dict
    keys are strings (ints are also accepted, as in an optimizer's ``state``). Anything
    else (Values, functions, other objects, object arrays, non-string keys) raises
    TypeError naming its place, before anything is written.

    The write is atomic: the archive goes to a temporary file in the same directory, which
    is flushed to disk and then renamed over ``path``. If anything fails, ``path`` keeps its
    previous content and the temporary file is removed; so it is on SIGTERM and SIGINT (the
    temporary file is removed, then the signal takes its course: the process ends as it
    would have). A process killed outright (SIGKILL) cannot clean up: the next ``save`` into
    that directory removes the temporary files of ``save`` calls whose process is gone.
    A ``path`` that is a symlink is written through (its target is replaced, the link stays);
    an existing file keeps its permission bits (a new one gets the usual ``0o666 & ~umask``).
    """
    if not isinstance(state, dict):
        raise TypeError(f"save: state must be a dict, got {type(state).__name__}")
    arrays: dict[str, np.ndarray] = {}
    nodes, root = _encode(state, arrays)
    document = json.dumps({'format': FORMAT, 'version': VERSION, 'nodes': nodes, 'root': root},
                          allow_nan=True)
    arrays[STRUCTURE_MEMBER] = np.frombuffer(document.encode('utf-8'), dtype=np.uint8)

    target = os.path.realpath(os.fspath(path))  # through symlinks, as open() would write
    directory, filename = os.path.split(target)
    remove_stale_temp_files(directory)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    temp_path = temp_path_for(directory, filename)
    with cleanup_on_signals():
        try:
            with open(temp_path, 'xb') as file:
                if mode is not None:
                    os.chmod(temp_path, mode)  # before any data: a 0600 file is never readable by others
                _write_npz(file, arrays)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp_path, target)
        except BaseException:
            if os.path.exists(temp_path):
                os.remove(temp_path)
            raise


# ---- loading ------------------------------------------------------------------------------------

def _container(node: Any, nodes: list, taken: set[int]) -> tuple[str, list]:
    """``(kind, items)`` of a container node: written inline (version 1) or named by its index
    in ``nodes`` (version 2, each index once)."""
    if node.get('t') == 'node':
        index = node.get('i')
        if not is_int(index) or not 0 <= index < len(nodes):
            raise Corrupt(f"the structure names a node {index!r} that it does not hold")
        if index in taken:
            raise Corrupt(f"the structure uses node {index} twice")
        taken.add(index)
        node = nodes[index]
        if not isinstance(node, dict) or node.get('t') not in ('dict', 'list', 'tuple'):
            raise Corrupt(f"the structure holds an unknown node {str(node)[:80]}")
    kind, items = node.get('t'), node.get('items')
    if kind not in ('dict', 'list', 'tuple') or not isinstance(items, list):
        raise Corrupt(f"the structure holds an unknown node {str(node)[:80]}")
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
            raise Corrupt(f"the structure holds an unexpected {type(node).__name__}")
        if node.get('t') in ('array', 'scalar'):
            name = node.get('name')
            if name not in arrays:
                raise Corrupt(f"the structure names an array {name!r} that the archive does not hold")
            used.add(name)
            target[slot] = arrays[name] if node['t'] == 'array' else arrays[name][()]
            continue
        kind, items = _container(node, nodes, taken)
        if kind == 'dict':
            for entry in items:
                if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], (str, int))):
                    raise Corrupt("a dict entry of the structure is malformed")
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


def load(path: str | os.PathLike) -> dict:
    """Load what ``save`` wrote: the same nested dicts/lists/tuples, with arrays as ndarrays
    (same dtype and shape), NumPy scalars as NumPy scalars and Python values as Python values.

    Never unpickles and never inflates: every member of the zip is checked before its array
    is read (``serialization_archive.py``). Raises FileNotFoundError for a missing file and
    ValueError naming the path and the problem for a file that holds pickled objects, is
    truncated or corrupted, was not written by ``tl.save``, or has compressed (a zip bomb),
    duplicated, encrypted or path-named members, or a member whose header does not match
    its bytes.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path!r}")
    try:
        arrays = read_members(path, STRUCTURE_MEMBER)
        raw = arrays.pop(STRUCTURE_MEMBER)
        try:
            if raw.dtype != np.uint8 or raw.ndim != 1:
                raise ValueError(f"dtype {raw.dtype}, shape {raw.shape}")
            document = json.loads(raw.tobytes().decode('utf-8'))
        except (ValueError, UnicodeDecodeError) as error:
            raise Corrupt(f"its structure description is unreadable ({error})") from None
        if not isinstance(document, dict) or document.get('format') != FORMAT:
            raise Corrupt("its structure description is not a tinygrad_ls one")
        if document.get('version') not in READABLE_VERSIONS:
            raise Corrupt(f"it has format version {document.get('version')!r}; this tinygrad_ls reads "
                          f"versions {', '.join(map(str, READABLE_VERSIONS))}")
        nodes = document.get('nodes', [])
        if not isinstance(nodes, list):
            raise Corrupt("its structure's node table is not a list")
        used: set[str] = set()
        taken: set[int] = set()
        state = _decode(document.get('root'), nodes, arrays, used, taken)
        if not isinstance(state, dict):
            raise Corrupt(f"its structure describes a {type(state).__name__}, not a dict")
        unused = sorted(set(arrays) - used)
        if unused:
            raise Corrupt(f"it holds arrays the structure does not name: {unused[:5]}")
        if len(taken) != len(nodes):
            raise Corrupt(f"its structure holds {len(nodes) - len(taken)} nodes the state does not reach")
    except Corrupt as error:
        raise ValueError(f"load: cannot load {path!r}: {error}") from None
    except RecursionError:  # only the JSON reader recurses: a version-1 structure nested thousands deep
        raise ValueError(f"load: cannot load {path!r}: its structure is nested too deeply for the JSON "
                         "reader (version-1 files nest their containers; tl.save writes version 2)") from None
    return state

__all__ = ['save', 'load']
