"""Which program lays a graph out: the Graphviz ``dot`` program, else ``graphviz-pure`` (a
dot-compatible program installed by ``pip install graphviz-pure``), else a
``GraphvizNotFoundError`` that says how to get one.

Rendering itself is the graphviz package's (``Digraph.pipe``, ``render``, ``view``, Jupyter's
display): ``layout_program()`` is wrapped around those calls. graphviz runs the program named
by ``graphviz.backend.dot_command.DOT_BINARY`` (``dot``, looked up on PATH) and has no
argument to run another one; ``graphviz-pure`` takes the same command line, so where it is
the program found, ``DOT_BINARY`` names it for the duration of the call (under a lock, and
put back afterwards).
"""
from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import graphviz
from graphviz.backend import dot_command

INSTALL_HELP = (
    "Rendering a graph to an image needs a Graphviz layout program, and neither `dot` nor "
    "`graphviz-pure` was found. Install one of them:\n"
    "  - Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
    "`conda install graphviz`, `choco install graphviz` (Windows), or see "
    "https://graphviz.org/download/;\n"
    "  - graphviz-pure, a dot-compatible program on PyPI with no system dependencies: "
    "`pip install graphviz-pure` (or `pip install tinygrad_ls[render]`).\n"
    "Without either, `.source` (the DOT text), `tl.save_graph(graph, 'graph.dot')` and "
    "`tl.to_mermaid(...)` still work.")

_BINARY_LOCK = threading.RLock()  # guards graphviz's DOT_BINARY while it names graphviz-pure


class GraphvizNotFoundError(RuntimeError):
    """Neither the Graphviz ``dot`` program nor ``graphviz-pure`` is installed."""


def find_layout_program() -> tuple[str, str] | None:
    """``('dot', path)`` if the Graphviz program is on PATH, else ``('graphviz-pure', path)``
    if that is installed (on PATH or next to this Python), else None."""
    dot = shutil.which('dot')
    if dot:
        return 'dot', dot
    for folder in (None, sysconfig.get_path('scripts'), os.path.dirname(sys.executable)):
        pure = shutil.which('graphviz-pure', path=folder)
        if pure:
            return 'graphviz-pure', pure
    return None


@contextmanager
def layout_program() -> Iterator[str]:
    """Run the graphviz package's rendering calls inside this block with ``dot``, or with
    ``graphviz-pure`` where ``dot`` is missing; yields the program's name. Raises
    GraphvizNotFoundError (saying how to install one) before anything is run or written if
    neither is found, and in place of graphviz's ExecutableNotFound if the program found
    cannot be started."""
    program = find_layout_program()
    if program is None:
        raise GraphvizNotFoundError(INSTALL_HELP)
    name, path = program
    try:
        if name == 'graphviz-pure':
            with _dot_binary(Path(path)):
                yield name
        else:
            yield name  # graphviz's default, `dot` on PATH
    except graphviz.ExecutableNotFound as error:
        raise GraphvizNotFoundError(INSTALL_HELP) from error


@contextmanager
def _dot_binary(path: Path) -> Iterator[None]:
    """graphviz runs ``path`` in place of ``dot`` inside this block."""
    with _BINARY_LOCK:
        default, dot_command.DOT_BINARY = dot_command.DOT_BINARY, path
        try:
            yield
        finally:
            dot_command.DOT_BINARY = default
