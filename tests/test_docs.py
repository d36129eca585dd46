"""The documentation holds together: the README is a short front page naming the test command, every relative link
and image in README.md and docs/*.md points at a file of the repository (and a `#anchor` at a heading of it), and
every page of docs/ can be reached from the README."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 200

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target) and ![alt](target), an optional "title" after the target; the text may hold one level of brackets
# and run over several lines of one paragraph
_LINK = re.compile(r"!?\[(?:[^\[\]\n]|\n(?![ \t]*\n)|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto: ... (not checked)


def _prose(text: str) -> str:
    """The Markdown outside fenced code blocks (each fenced line left empty, so line numbers hold), with inline code
    spans blanked out."""
    out, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            out.append("")
        else:
            out.append("" if fenced else _CODE_SPAN.sub("code", line))
    return "\n".join(out)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text (link targets and code marks dropped), lower-case, every character
    but letters, digits, `_`, `-` and spaces dropped, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings; a repeated heading gets -1, -2 ... as on GitHub."""
    found: dict[str, int] = {}
    out = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = found.get(base, 0)
            found[base] = count + 1
            out.add(base if count == 0 else f"{base}-{count}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image of a Markdown file, outside code; the line is where the link
    starts."""
    text = _prose(path.read_text(encoding="utf-8"))
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _LINK.finditer(text)]


def problems(path: Path) -> list[str]:
    """Each relative link or image of `path` that does not resolve, as `file:line: target: why`."""
    out = []
    for number, target in links(path):
        if _EXTERNAL.match(target):
            continue
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        file_part, _, anchor = target.partition("#")
        file = (path.parent / unquote(file_part)).resolve() if file_part else path
        if ROOT not in file.parents and file != ROOT:
            out.append(f"{where}: outside the repository")
        elif not file.exists():
            out.append(f"{where}: no such file")
        elif anchor:
            if file.suffix != ".md":
                out.append(f"{where}: an anchor into a file that is not Markdown")
            elif anchor not in anchors(file):
                out.append(f"{where}: no heading of {file.relative_to(ROOT)} has this anchor")
    return out


def test_readme_is_a_short_front_page_that_names_the_test_command():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES, f"README.md has {len(text.splitlines())} lines"
    assert "make test" in text  # CI runs the test command the README names


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_image_resolves(path):
    assert links(path) or path != README
    assert problems(path) == []


def test_every_docs_page_is_linked_from_the_readme():
    assert PAGES, "docs/ holds no page"
    linked = {(README.parent / unquote(t.partition("#")[0])).resolve() for _, t in links(README)
              if not _EXTERNAL.match(t) and t.partition("#")[0]}
    assert [p.name for p in PAGES if p.resolve() not in linked] == []


def test_the_checker_finds_broken_links_and_anchors(tmp_path, monkeypatch):
    """The checks above would fail: a missing file, a missing heading and an image outside the repository are
    reported, a link in code is not read, and GitHub's slug rule is the one applied."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# The `a` page: (x_y) & more\n## Again\n## Again\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#the-a-page-x_y--more) [dup](docs/a.md#again-1) [self](#top)\n# Top\n"
                    "[gone](docs/b.md) [bad anchor](docs/a.md#nothing) ![out](../x.png) [web](https://example.org)\n"
                    "`[in code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n[two\nlines](docs/a.md#again-2)\n\n"
                    "[not a link\n\nacross paragraphs](nowhere.md)\n", encoding="utf-8")
    assert problems(page) == ["README.md:3: docs/b.md: no such file",
                              "README.md:3: docs/a.md#nothing: no heading of docs/a.md has this anchor",
                              "README.md:3: ../x.png: outside the repository",
                              "README.md:8: docs/a.md#again-2: no heading of docs/a.md has this anchor"]
