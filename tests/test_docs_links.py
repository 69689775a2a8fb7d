"""Every link in README.md and docs/ resolves inside a clone of the repository: relative file
links name files that exist here, anchors name headings that exist, and no link or path
points outside the repository. api.md's contents list names every section, in order."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
FENCE = re.compile(r'^(```|~~~)')


def prose_lines(page: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, in_code = [], False
    for line in page.read_text(encoding='utf-8').splitlines():
        if FENCE.match(line.strip()):
            in_code = not in_code
            continue
        if not in_code:
            lines.append(line)
    return lines


def heading_anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces to
    hyphens, a repeated anchor numbered -1, -2, …"""
    anchors: set[str] = set()
    for line in prose_lines(page):
        match = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if not match:
            continue
        anchor = re.sub(r'[^\w\- ]', '', match.group(1).strip().lower()).replace(' ', '-')
        candidate, n = anchor, 0
        while candidate in anchors:
            n += 1
            candidate = f"{anchor}-{n}"
        anchors.add(candidate)
    return anchors


def links_of(page: Path) -> list[str]:
    return [target for line in prose_lines(page) for target in LINK.findall(line)]


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(page):
    broken = []
    for target in links_of(page):
        if re.match(r'^[a-z][a-z0-9+.-]*:', target):  # https:, mailto: — not files of ours
            continue
        path_part, _, anchor = target.partition('#')
        file = (page.parent / path_part).resolve() if path_part else page
        if ROOT not in file.parents and file != ROOT:
            broken.append(f"{target}: outside the repository")
        elif not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == '.md' and anchor not in heading_anchors(file):
            broken.append(f"{target}: no heading with that anchor in {file.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + '; '.join(broken)


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_path_points_outside_the_repository(page):
    escaping = [line.strip() for line in prose_lines(page) if '../../' in line]
    assert not escaping, f"{page.relative_to(ROOT)} names paths outside the repository: {escaping}"


def test_api_contents_lists_every_section_in_order():
    page = ROOT / 'docs' / 'api.md'
    sections = [re.sub(r'[^\w\- ]', '', line[3:].strip().lower()).replace(' ', '-')
                for line in prose_lines(page) if line.startswith('## ')]
    text = '\n'.join(prose_lines(page))
    contents = text[text.index('Contents:'):text.index('\n## ')]
    listed = re.findall(r'\]\(#([^)]+)\)', contents)
    assert listed == sections
    numbers = [int(re.match(r'\[(\d+) ', item).group(1)) for item in re.findall(r'\[\d+ [^\]]*\]', contents)]
    assert numbers == list(range(1, len(sections) + 1))
