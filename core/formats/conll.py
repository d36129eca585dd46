"""CoNLL columns: a word a line, the tag last, middle columns kept, blank lines between sentences, `-DOCSTART-`
lines between documents; IOB1, IOB2 and BIOES (BILOU) tags are read and written."""
from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterable, Iterator, Sequence

from core.formats.base import (Format, FormatError, Sentence, Stream, _bioes_problem, _iob1_start, detect_scheme,
                               from_iob2, to_iob2)
from core.labels import LabelSet, word_problem

_DOCSTART = "-DOCSTART-"
_TAG_LIKE = re.compile(r"O|[BIESLU]-\S+")
_SNIFF_LINES = 100
_MAYBE_BIOES = re.compile(r"\s[ESLU]-")  # an E-/S-/L-/U- tag always follows a separator


def sniff(head: str) -> int:
    """2 when the first lines look like CoNLL rows (a last column like a tag), else 0."""
    seen, docstarts = 0, 0
    for line in head.split("\n"):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == _DOCSTART:
            docstarts += 1
            continue
        if len(parts) < 2 or not _TAG_LIKE.fullmatch(parts[-1]):
            return 0
        seen += 1
        if seen == _SNIFF_LINES:
            break
    return 2 if seen or docstarts else 0


def _parse_tag(tag: str) -> str | None:
    """A legal tag with L-/U- renamed E-/S-, or None if illegal."""
    if tag == "O":
        return tag
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIESLU":
        return {"L": "E", "U": "S"}.get(tag[0], tag[0]) + tag[1:]
    return None


def joined_sentence(words: list[str], tags: list[str] | None, columns: list[list[str]] | None = None,
                    doc_id: str | None = None, line: int = 0) -> Sentence:
    """A sentence whose text is its words joined by single spaces."""
    offsets, pos = [], 0
    for w in words:
        offsets.append((pos, pos + len(w)))
        pos += len(w) + 1
    return Sentence(words, tags, " ".join(words), offsets, doc_id, columns, line)


_Raw = tuple[list[str], list[str], "list[list[str]] | None", list[int], "str | None"]


def _conll_raw(lines: Iterable[str], name: str, labels: Collection[str] | None, out: Stream) -> Iterator[_Raw]:
    """The checked rows of a CoNLL file a sentence at a time: (words, tags as written with L-/U- read as E-/S-,
    middle columns or None, line numbers, document id); sets out.sep."""
    sep, ncols = "", 0
    words: list[str] = []
    tags: list[str] = []
    cols: list[list[str]] = []
    rows: list[int] = []
    docs, doc_id, docstarts, found = 0, None, 0, False
    new_doc = False
    known: dict[str, str] = {}
    seen = LabelSet(labels or (), fixed=labels is not None)
    for i, line in enumerate(itertools.chain(lines, [""]), 1):  # a last blank line ends the last sentence
        docstart = line.startswith(_DOCSTART) and line.split(None, 1)[0] == _DOCSTART
        if docstart or not line.strip():
            if words:
                if new_doc:
                    docs, new_doc = docs + 1, False
                    doc_id = f"doc-{docs}"
                found = True
                yield words, tags, cols if ncols > 2 else None, rows, doc_id
                words, tags, cols, rows = [], [], [], []
            if docstart:
                new_doc, docstarts = True, docstarts + 1
            continue
        if not sep:
            sep = out.sep = "\t" if "\t" in line else " "
        parts = [p.strip() for p in line.split("\t")] if sep == "\t" else [p for p in line.split(" ") if p]
        if len(parts) != ncols:
            if ncols:
                raise FormatError(name, i, f"expected {ncols} columns, found {len(parts)}")
            if len(parts) < 2:
                raise FormatError(name, i, f"expected at least 2 columns, found {len(parts)}")
            ncols = len(parts)
        problem = word_problem(parts[0])
        if problem:
            raise FormatError(name, i, problem + (" (a CoNLL word is one token)" if sep == "\t" else ""))
        tag = known.get(parts[-1])
        if tag is None:
            tag = _parse_tag(parts[-1])
            if tag is None:
                raise FormatError(name, i, f"illegal tag {parts[-1]!r}")
            problem = None if tag == "O" else seen.check(tag[2:])
            if problem:
                raise FormatError(name, i, f"tag {parts[-1]!r}: {problem}")
            known[parts[-1]] = tag
        words.append(parts[0])
        tags.append(tag)
        cols.append(parts[1:-1])
        rows.append(i)
    if not found:
        raise FormatError(name, 1, "empty file" + (" (only -DOCSTART- lines, no sentence)" if docstarts else ""))


def read(stream: Stream) -> Iterator[Sentence]:
    """A CoNLL file's sentences in IOB2. Without a tag that could be BIOES (found by a quick scan) the file is read
    once, IOB1 and IOB2 converting alike; else a first pass finds the scheme and a second converts."""
    if any(map(_MAYBE_BIOES.search, stream.open_lines())):
        scheme = detect_scheme(raw[1] for raw in _conll_raw(stream.open_lines(), stream.name, stream.labels, stream))
    else:
        scheme = "iob2"
    stream.scheme = scheme
    for words, tags, cols, rows, doc_id in _conll_raw(stream.open_lines(), stream.name, stream.labels, stream):
        if scheme == "bioes" and (problem := _bioes_problem(tags)):
            raise FormatError(stream.name, rows[problem[0]], problem[1])
        if scheme == "iob2" and _iob1_start(tags):
            stream.scheme = "iob1"
        yield joined_sentence(words, to_iob2(tags, scheme), cols, doc_id, rows[0])


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str:
    """Columns joined by `sep` (a space or a tab), tags in `scheme`, a -DOCSTART- line before each document."""
    if sep not in (" ", "\t"):
        raise ValueError(f"CoNLL separator must be ' ' or '\\t', not {sep!r}")
    widths = {len(s.columns[0]) if s.columns else 0 for s in sentences if s.words}
    if len(widths) > 1:
        raise ValueError(f"sentences have different numbers of middle CoNLL columns: {sorted(widths)}")
    ncols = (widths.pop() if widths else 0) + 2
    out: list[str] = []
    for k, s in enumerate(sentences):
        if s.doc_id is not None and (k == 0 or not s.same_document(sentences[k - 1])):
            out.append(sep.join([_DOCSTART] + ["-X-"] * (ncols - 2) + ["O"]))
            out.append("")
        tags = from_iob2(s.tags, scheme) if s.tags is not None else ["O"] * len(s.words)
        for j, word in enumerate(s.words):
            line = sep.join([word, *(s.columns[j] if s.columns else ()), tags[j]])
            if line.count(sep) != ncols - 1 or "\n" in line or "\r" in line or (sep == " " and "\t" in line):
                raise ValueError(f"sentence {k + 1}, word {j + 1}: a field in {line!r} has a separator "
                                 f"or line break, or the column count differs")
            out.append(line)
        out.append("")
    return "\n".join(out[:-1]) + "\n" if out else ""


FORMAT = Format("conll", (".conll", ".iob", ".bio", ".bioes", ".tsv", ".txt"), sniff, read, write, order=10,
                label="CoNLL columns")
