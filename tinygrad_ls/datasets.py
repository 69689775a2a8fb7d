"""Text data from the user's own machine: the docstrings of the Python standard library.

    texts = tl.datasets.stdlib_docstrings(max_chars=200_000)     # {module name: text}
    train, val = tl.datasets.split_by_module(texts, val_fraction=0.1)
    tok = tl.datasets.CharTokenizer(''.join(train.values()))
    ids = tok.encode(''.join(val.values()))                       # int64, unknown chars -> unk_id

Nothing is downloaded and nothing is stored in the repository: the text is collected at run
time with ``inspect`` from the modules of an allow-list of plain, side-effect-free standard
library modules (and their public submodules), in a fixed order, and cached per process.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import warnings
from collections.abc import Iterable, Mapping

import numpy as np

from .checks import is_int

STDLIB_MODULES = (
    'abc', 'argparse', 'array', 'asyncio', 'base64', 'bisect', 'calendar', 'cmath', 'codecs',
    'collections', 'colorsys', 'concurrent', 'contextlib', 'copy', 'csv', 'dataclasses',
    'datetime', 'decimal', 'difflib', 'doctest', 'email', 'enum', 'fnmatch', 'fractions',
    'functools', 'glob', 'gzip', 'hashlib', 'heapq', 'html', 'http', 'inspect', 'io',
    'ipaddress', 'itertools', 'json', 'locale', 'logging', 'math', 'multiprocessing', 'numbers',
    'operator', 'os', 'pathlib', 'pdb', 'pickle', 'platform', 'pprint', 'queue', 'random', 're',
    'secrets', 'shelve', 'shutil', 'socket', 'sqlite3', 'statistics', 'string', 'struct',
    'subprocess', 'sysconfig', 'tarfile', 'tempfile', 'textwrap', 'threading', 'time', 'timeit',
    'traceback', 'types', 'typing', 'unittest', 'urllib', 'uuid', 'warnings', 'wave', 'weakref',
    'xml', 'xmlrpc', 'zipfile',
)
"""The modules ``stdlib_docstrings`` reads by default: importing them only defines things."""

# Submodules never imported: ``__main__`` runs a program, tests are slow and not prose.
_SKIPPED_SUBMODULES = ('test', 'tests')


def stdlib_docstrings(modules: Iterable[str] | None = None, *, submodules: bool = True,
                      max_chars: int | None = None) -> dict[str, str]:
    """``{module name: text}``: the docstrings of each module and of its public classes, their
    public methods, and its public functions (those defined in that module), in sorted order.

    ``modules``: names to read (default: ``STDLIB_MODULES``); a module that fails to import is
    skipped. ``submodules``: also read the public submodules of packages (one level down; names
    starting with ``_`` and test packages are skipped). ``max_chars``: stop once the texts hold
    this many characters in all (the last text is cut). Modules are visited in sorted name
    order, so the result is deterministic; each module is read once per process.
    """
    if max_chars is not None and (not is_int(max_chars)
                                  or max_chars < 0):
        raise ValueError(f"stdlib_docstrings: max_chars must be a non-negative int or None, "
                         f"got {max_chars!r}")
    names = sorted(set(STDLIB_MODULES if modules is None else modules))
    if submodules:
        names = sorted({sub for name in names for sub in (name, *_public_submodules(name))})
    texts, total = {}, 0
    for name in names:
        if max_chars is not None and total >= max_chars:
            break
        text = _module_text(name)
        if not text:
            continue
        if max_chars is not None:
            text = text[:max_chars - total]
        texts[name] = text
        total += len(text)
    return texts


@functools.cache
def _public_submodules(name: str) -> tuple:
    module = _import(name)
    if module is None or not hasattr(module, '__path__'):
        return ()
    return tuple(sorted(f"{name}.{info.name}" for info in pkgutil.iter_modules(module.__path__)
                        if not info.name.startswith('_') and info.name not in _SKIPPED_SUBMODULES))


def _import(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - e.g. a Windows-only submodule; such a module is skipped
        return None


@functools.cache
def _module_text(name: str) -> str:
    """The docstrings of module ``name`` and of what it defines, '' if it does not import."""
    with warnings.catch_warnings():  # reading a deprecated alias (typing.io) warns
        warnings.simplefilter('ignore')
        return _read_module_text(name)


def _read_module_text(name: str) -> str:
    module = _import(name)
    if module is None:
        return ''
    parts = [_entry(name, module)]
    for member_name, member in sorted(vars(module).items()):
        if member_name.startswith('_') or getattr(member, '__module__', None) != name:
            continue
        if inspect.isclass(member):
            parts.append(_entry(f"{name}.{member_name}", member))
            for method_name, method in sorted(vars(member).items()):
                if not method_name.startswith('_') and inspect.isfunction(method):
                    parts.append(_entry(f"{name}.{member_name}.{method_name}", method))
        elif inspect.isfunction(member) or inspect.isbuiltin(member):
            parts.append(_entry(f"{name}.{member_name}", member))
    return '\n\n'.join(part for part in parts if part)


def _entry(qualified_name: str, obj) -> str:
    try:
        doc = inspect.getdoc(obj)
    except Exception:  # noqa: BLE001 - a broken __doc__ property: no text from it
        doc = None
    return f"{qualified_name}\n{doc.strip()}" if doc and doc.strip() else ''


def split_by_module(texts: Mapping[str, str], val_fraction: float = 0.1,
                    seed: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    """``(train, val)``: the texts split by top-level package, so no validation module (nor any
    submodule of its package) is seen in training. About ``val_fraction`` of the packages go to
    ``val`` (at least one when there are two or more and ``val_fraction > 0``), drawn with
    ``np.random.default_rng(seed)`` from the sorted package names: the same split every run."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"split_by_module: val_fraction must be in [0, 1), got {val_fraction!r}")
    packages = sorted({name.split('.')[0] for name in texts})
    n_val = round(val_fraction * len(packages))
    if val_fraction > 0 and len(packages) >= 2:
        n_val = min(max(n_val, 1), len(packages) - 1)
    order = np.random.default_rng(seed).permutation(len(packages))
    val_packages = {packages[i] for i in order[:n_val]}
    train = {name: text for name, text in texts.items() if name.split('.')[0] not in val_packages}
    val = {name: text for name, text in texts.items() if name.split('.')[0] in val_packages}
    return train, val


class CharTokenizer:
    """Characters <-> integer ids, built from a text: id 0 is ``<unk>`` (any character not in
    that text), ids 1.. are the text's distinct characters in sorted order.

    ``encode(text)`` gives an int64 array; ``decode(ids)`` a string, with ``<unk>`` decoded
    as ``unk_char`` (U+FFFD, one character, so positions line up with the ids).
    """

    unk_id = 0
    unk_char = '\ufffd'

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer: text must be a str, got {type(text).__name__}")
        self.chars = ''.join(sorted(set(text)))
        self._ids = {char: i + 1 for i, char in enumerate(self.chars)}
        self._lookup = np.array([self.unk_char, *self.chars], dtype=object)

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> np.ndarray:
        """int64 ids of shape (len(text),); unknown characters become ``unk_id``."""
        ids = self._ids
        return np.fromiter((ids.get(char, self.unk_id) for char in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        """The text of a 1-D sequence of ids (an array, list or Value)."""
        ids = np.asarray(getattr(ids, 'data', ids), dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"CharTokenizer.decode: ids must be in [0, {self.vocab_size}), got "
                             f"min {ids.min()}, max {ids.max()}")
        return ''.join(self._lookup[ids])

    def state_dict(self) -> dict:
        """``{'chars': ...}``, which ``tl.save`` can write and ``from_state_dict`` reads back."""
        return {'chars': self.chars}

    @classmethod
    def from_state_dict(cls, state: Mapping) -> CharTokenizer:
        return cls(str(state['chars']))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
