"""Every snippet in docs/*.md runs, and prints exactly what the page shows.

Conventions of the pages:
- a ```python block runs as a script in a scratch folder; if the next fenced block is
  ```text, the script's stdout must equal it exactly, otherwise it must print nothing;
- a ```python block whose first line is ``# file: NAME`` is written to NAME instead of run,
  and files named ``test_*.py`` are then run with pytest;
- ```pycon blocks are doctests sharing one namespace per page.

A page whose snippets import an optional package (``[onnx]``, ``[torch]``, ...) is skipped, with
the reason, where that package is not installed (the README's ``pip install -e '.[dev]'``).
"""
from __future__ import annotations

import doctest
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import OPTIONAL

DOCS = Path(__file__).resolve().parent.parent / 'docs'
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.S | re.M)


IMPORT = re.compile(r"^(?:>>> |\.\.\. )?\s*(?:import|from)\s+(\w+)", re.M)


def _missing_packages(text: str) -> list[str]:
    """The optional packages that the page's run snippets import and that are not installed."""
    needed = set()
    for match in FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        if language == 'pycon' or (language == 'python' and not body.startswith('# file: ')):
            needed |= {name for name in IMPORT.findall(body) if name in OPTIONAL}
            if 'tl.onnx.export' in body:
                needed |= {'onnx', 'onnxruntime'}
    return sorted(name for name in needed if importlib.util.find_spec(name) is None)


def _pages() -> list:
    return sorted(DOCS.glob('*.md'))


def _run(arguments: list, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *arguments], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize('page', _pages(), ids=lambda page: page.name)
def test_snippets_of_page(page: Path, tmp_path: Path) -> None:
    text = page.read_text()
    missing = _missing_packages(text)
    if missing:
        how = '; '.join(sorted({OPTIONAL[name] for name in missing}))
        pytest.skip(f"{page.name} needs {', '.join(missing)}: {how}")
    blocks = [(m.group(1), m.group(2), text.count('\n', 0, m.start()) + 1) for m in FENCE.finditer(text)]
    failures, test_files = [], []
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner()
    namespace: dict = {}
    for i, (language, body, line) in enumerate(blocks):
        if language == 'python':
            first_line = body.splitlines()[0] if body else ''
            if first_line.startswith('# file: '):
                name = first_line[len('# file: '):].strip()
                (tmp_path / name).write_text(body)
                if name.startswith('test_'):
                    test_files.append(name)
                continue
            expected = blocks[i + 1][1] if i + 1 < len(blocks) and blocks[i + 1][0] == 'text' else ''
            result = _run(['-c', body], tmp_path)
            if result.returncode != 0:
                failures.append(f"line {line}: exit {result.returncode}\n{result.stderr}")
            elif result.stdout != expected:
                failures.append(f"line {line}: output differs\nexpected:\n{expected}actual:\n{result.stdout}")
        elif language == 'pycon':
            test = parser.get_doctest(body, namespace, f'{page.name}:{line}', str(page), line)
            before = runner.failures
            runner.run(test, clear_globs=False, out=lambda report: failures.append(report))
            namespace = test.globs
            if runner.failures == before and failures and failures[-1].startswith('*****'):
                failures.pop()
    for name in test_files:
        result = _run(['-m', 'pytest', '-q', '-p', 'no:cacheprovider', name], tmp_path)
        if result.returncode != 0:
            failures.append(f"pytest {name}:\n{result.stdout}")
    assert not failures, f"{page.name}:\n" + '\n'.join(failures)


def test_readme_snippets_run(tmp_path: Path) -> None:
    """The README's Python blocks run cleanly (their output is illustrative, not compared)."""
    readme = (DOCS.parent / 'README.md').read_text()
    snippets = [m.group(2) for m in FENCE.finditer(readme) if m.group(1) == 'python']
    assert snippets, "README.md has no python snippet"
    for snippet in snippets:
        result = _run(['-c', snippet], tmp_path)
        assert result.returncode == 0, result.stderr
