"""Names of a package imported on first use (PEP 562): ``import tinygrad_ls`` loads the engine,
nn, optim and data, and leaves the compiler, rendering (graphviz), ONNX export, MPI and the
testing tools until a program touches them.

    __getattr__, __dir__ = lazy.attributes(__name__, globals(), {'compile': '.compiler', 'onnx': '.onnx'})

A table entry ``name: '.module'`` gives the attribute ``name`` of ``.module`` (relative to the
package), or the module itself when ``name`` is the module's own last part.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable


def attributes(package: str, namespace: dict, table: dict[str, str]) -> tuple[Callable, Callable]:
    """The module ``__getattr__`` and ``__dir__`` of ``package`` for the lazy names of ``table``.
    A name, once imported, is stored in ``namespace`` so later reads are plain lookups."""
    def __getattr__(name: str):
        where = table.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(where, package)
        value = module if where.rsplit('.', 1)[-1] == name else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
