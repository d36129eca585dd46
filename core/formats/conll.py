"""CoNLL columns: a word a line, the tag last, middle columns kept, blank lines between sentences, `-DOCSTART-`
lines between documents; IOB1, IOB2 and BIOES (BILOU) tags are read and written. A file read here is written back
byte for byte: each sentence's carry keeps the layout (separator, line end, blank and `-DOCSTART-` lines, rows and
tags written otherwise than the writer would) and the file's scheme."""
from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from core.formats.base import (Format, FormatError, Sentence, Source, Stream, binary, bioes_problem, carried,
                               detect_scheme, from_iob2, joined_sentence, to_iob2)
from core.labels import LabelSet, word_problem

_DOCSTART = "-DOCSTART-"
_TAG_LIKE = re.compile(r"O|[BIESLU]-\S+")
_SNIFF_LINES = 100
_MAYBE_BIOES = re.compile(r"\s[ESLU]-")  # an E-/S-/L-/U- tag always follows a separator
_BLOCK = 1 << 20
_EOL_NAMES = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}


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


def _is_docstart(line: str) -> bool:
    """Whether `line` is a -DOCSTART- line (its first field, at the start of the line)."""
    return line.startswith(_DOCSTART) and line.split(None, 1)[0] == _DOCSTART


def _fields(line: str, sep: str) -> list[str]:
    """A row's fields as the reader splits them: at each TAB (fields stripped), or at runs of spaces."""
    return [p.strip() for p in line.split("\t")] if sep == "\t" else [p for p in line.split(" ") if p]


def _docstart(ncols: int, sep: str) -> str:
    """The -DOCSTART- line the writer makes for rows of `ncols` columns."""
    return sep.join([_DOCSTART] + ["-X-"] * (ncols - 2) + ["O"])


def _default_before(first: bool, new_doc: bool, docstart: str) -> list[str]:
    """The lines the writer puts before a sentence: a blank line after the previous one, then -DOCSTART- and a blank
    line where a document starts."""
    return ([] if first else [""]) + ([docstart, ""] if new_doc else [])


@dataclass
class _Block:
    """One sentence's rows: words, tags (L-/U- read as E-/S-), the tags verbatim, the rows the writer would write
    otherwise, middle columns, line numbers, document id, the blank and -DOCSTART- lines before it and, for the
    file's last, those after it."""

    gap: list[str]
    new_doc: bool
    doc_id: str | None
    words: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    lines: list[tuple[int, str]] = field(default_factory=list)  # (word index, row) where the writer's row differs
    cols: list[list[str]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    end: list[str] | None = None

    @property
    def columns(self) -> list[list[str]] | None:
        """The middle columns, None when the file has none."""
        return self.cols if self.cols and self.cols[0] else None


class _Rows:
    """The checks of a file's rows: one separator and column count, words, legal tags of known labels."""

    def __init__(self, name: str, labels: Collection[str] | None, out: Stream) -> None:
        self.name, self.out, self.sep, self.ncols = name, out, "", 0
        self.known: dict[str, str] = {}
        self.seen = LabelSet(labels or (), fixed=labels is not None)

    def add(self, block: _Block, line: str, i: int) -> None:
        """Check row `line` (line `i`) and add it to `block`; sets out.sep from the first row."""
        if not self.sep:
            self.sep = self.out.sep = "\t" if "\t" in line else " "
        parts = _fields(line, self.sep)
        if len(parts) != self.ncols:
            if self.ncols:
                raise FormatError(self.name, i, f"expected {self.ncols} columns, found {len(parts)}")
            if len(parts) < 2:
                raise FormatError(self.name, i, f"expected at least 2 columns, found {len(parts)}")
            self.ncols = len(parts)
        if problem := word_problem(parts[0]):
            raise FormatError(self.name, i, problem + (" (a CoNLL word is one token)" if self.sep == "\t" else ""))
        block.words.append(parts[0])
        block.tags.append(self.tag(parts[-1], i))
        block.written.append(parts[-1])
        if line != self.sep.join(parts):
            block.lines.append((len(block.words) - 1, line))
        block.cols.append(parts[1:-1])
        block.rows.append(i)

    def tag(self, tag: str, i: int) -> str:
        """`tag` with L-/U- read as E-/S-, its label checked."""
        found = self.known.get(tag)
        if found is None:
            found = _parse_tag(tag)
            if found is None:
                raise FormatError(self.name, i, f"illegal tag {tag!r}")
            problem = None if found == "O" else self.seen.check(found[2:])
            if problem:
                raise FormatError(self.name, i, f"tag {tag!r}: {problem}")
            self.known[tag] = found
        return found


def _conll_raw(lines: Iterable[str], name: str, labels: Collection[str] | None, out: Stream) -> Iterator[_Block]:
    """The checked rows of a CoNLL file a sentence at a time, each with the lines before it; the last, with the lines
    after it, once the file is read. Sets out.sep."""
    rows = _Rows(name, labels, out)
    gap: list[str] = []
    block: _Block | None = None
    held: _Block | None = None
    docs, docstarts, new_doc, doc_id = 0, 0, False, None
    for i, line in enumerate(lines, 1):
        docstart = line.startswith(_DOCSTART) and _is_docstart(line)
        if docstart or not line.strip():
            if block is not None:
                if held is not None:
                    yield held
                held, block = block, None
            gap.append(line)
            if docstart:
                new_doc, docstarts = True, docstarts + 1
            continue
        if block is None:
            if new_doc:
                docs += 1
                doc_id = f"doc-{docs}"
            block, gap, new_doc = _Block(gap, new_doc, doc_id), [], False
        rows.add(block, line, i)
    if block is not None:
        if held is not None:
            yield held
        held = block
    if held is None:
        raise FormatError(name, 1, "empty file" + (" (only -DOCSTART- lines, no sentence)" if docstarts else ""))
    held.end = gap
    yield held


def _file_scheme(stream: Stream) -> str:
    """The scheme of the file's tags, from a first pass: a tag that could be BIOES reads the file through (its checks
    included); else "iob1" when an I- starts an entity, "iob2" otherwise."""
    prev, iob1 = "", False
    for line in stream.open_lines():
        if _MAYBE_BIOES.search(line):
            return detect_scheme(b.tags for b in _conll_raw(stream.open_lines(), stream.name, stream.labels, stream))
        if not iob1 and "I-" in line:
            tag = line.split()[-1]
            iob1 = tag.startswith("I-") and (prev.split() or ["O"])[-1][2:] != tag[2:]
        prev = line
    return "iob1" if iob1 else "iob2"


def _line_ends(source: Source | None) -> tuple[Counter[str], bool]:
    """How many lines of an input end in LF, CRLF and CR (none for text already decoded), and whether it starts with
    a byte-order mark."""
    found: Counter[str] = Counter()
    if source is None:
        return found, False
    with binary(source) as f:
        head = rest = f.read(_BLOCK)
        while rest:
            more = f.read(_BLOCK)
            if rest.endswith(b"\r") and more:  # a CRLF across two blocks: the CR goes with the next
                rest, more = rest[:-1], b"\r" + more
            crlf = rest.count(b"\r\n")
            found.update({"\r\n": crlf, "\n": rest.count(b"\n") - crlf, "\r": rest.count(b"\r") - crlf})
            rest = more
    return +found, head.startswith(codecs.BOM_UTF8)


END = ["", ""]  # after the last sentence: its line end and a blank line, as CoNLL-2003 and DKPro write


def _carry(block: _Block, tags: list[str], scheme: str, sep: str, eol: str, bom: bool, first: bool) -> dict:
    """What a sentence keeps of its file's layout: whatever differs from what the writer makes on its own."""
    carry: dict = {"format": "conll", "kept": {}}
    for key, value, default in (("sep", sep, " "), ("scheme", scheme, "iob2"), ("eol", eol, "\n"), ("bom", bom, False)):
        if value != default:
            carry[key] = value
    ncols = 2 + (len(block.cols[0]) if block.cols else 0)
    if block.gap != _default_before(first, block.new_doc, _docstart(ncols, sep)):
        carry["head" if first else "gap"] = block.gap
    if block.end is not None and block.end != END:
        carry["end"] = block.end
    if block.lines:
        carry["lines"] = [list(row) for row in block.lines]
    if block.written != from_iob2(tags, scheme):
        carry["tags"] = block.written
    return carry


def read(stream: Stream) -> Iterator[Sentence]:
    """A CoNLL file's sentences in IOB2, each carrying its layout (line ends: the file's most common one, the others
    noted). A first pass finds the scheme (reading the file through, checks included, only when a tag could be
    BIOES); the second converts."""
    scheme = stream.scheme = _file_scheme(stream)
    ends, bom = _line_ends(stream.source)
    eol = max(ends, key=ends.__getitem__, default="\n")
    if others := sum(ends.values()) - ends[eol]:
        stream.notes[f"line ends other than {_EOL_NAMES[eol]}, written back as {_EOL_NAMES[eol]}"] = others
    for n, block in enumerate(_conll_raw(stream.open_lines(), stream.name, stream.labels, stream)):
        if scheme == "bioes" and (problem := bioes_problem(block.tags)):
            raise FormatError(stream.name, block.rows[problem[0]], problem[1])
        tags = to_iob2(block.tags, scheme)
        sentence = joined_sentence(block.words, tags, block.columns, block.doc_id, block.rows[0])
        sentence.carry = _carry(block, tags, scheme, stream.sep, eol, bom and n == 0, n == 0)
        yield sentence


# ---------------------------------------------------------------- writing

@dataclass(frozen=True)
class _Style:
    """What an output file uses throughout: its tag scheme, column separator and line end."""

    scheme: str
    sep: str
    eol: str

    @classmethod
    def of(cls, sentences: Sequence[Sentence], scheme: str | None, sep: str) -> _Style:
        """The files' own scheme (when `scheme` is None), separator and line end where the sentences read from CoNLL
        agree on them; else `scheme`, `sep`, iob2 and LF."""
        carries = [c for s in sentences if (c := carried(s, "conll"))]

        def common(key: str, default: str) -> str | None:
            values = {c.get(key, default) for c in carries}
            return values.pop() if len(values) == 1 else None

        return cls(scheme or common("scheme", "iob2") or "iob2", common("sep", " ") or sep, common("eol", "\n") or "\n")


def _before(carry: dict, first: bool, new_doc: bool, docstart: str) -> list[str]:
    """The blank and -DOCSTART- lines before a sentence: as read, where they still start a document exactly when
    the output does; else the writer's, with the -DOCSTART- line as read."""
    lines = carry.get("head" if first else "gap")
    if lines is not None and any(map(_is_docstart, lines)) == new_doc:
        return lines
    read_as = next((line for line in carry.get("head") or carry.get("gap") or () if _is_docstart(line)), docstart)
    return _default_before(first, new_doc, read_as)


def _tags(s: Sentence, carry: dict, scheme: str) -> list[str]:
    """A sentence's tags in `scheme`: as read, where they are in the file's scheme and unchanged."""
    if s.tags is None:
        return ["O"] * len(s.words)
    written = carry.get("tags")
    if (written and carry.get("scheme", "iob2") == scheme and len(written) == len(s.tags)
            and None not in (parsed := [_parse_tag(t) for t in written]) and to_iob2(parsed, scheme) == s.tags):
        return written
    return from_iob2(s.tags, scheme)


def _as_read(line: str | None, fields: list[str], sep: str) -> str | None:
    """Row `line` as read, with the tag of `fields`, when its other fields are those of `fields`; else None."""
    if line is None or (parts := _fields(line, sep))[:-1] != fields[:-1]:
        return None
    at = line.rindex(parts[-1])
    return line[:at] + fields[-1] + line[at + len(parts[-1]):]


def _rows(s: Sentence, k: int, carry: dict, style: _Style, ncols: int) -> list[str]:
    """A sentence's rows in `style`; one its file wrote otherwise than the writer does comes back as written, with
    its tag updated."""
    tags, read_as, out = _tags(s, carry, style.scheme), dict(carry.get("lines", ())), []
    for j, word in enumerate(s.words):
        fields = [word, *(s.columns[j] if s.columns else ()), tags[j]]
        line = _as_read(read_as.get(j), fields, style.sep) or style.sep.join(fields)
        if (len(_fields(line, style.sep)) != ncols or "\n" in line or "\r" in line
                or (style.sep == " " and "\t" in line)):
            raise ValueError(f"sentence {k + 1}, word {j + 1}: a field in {line!r} has a separator "
                             f"or line break, or the column count differs")
        out.append(line)
    return out


def write(sentences: Sequence[Sentence], scheme: str | None = "iob2", sep: str = " ") -> str:
    """Columns joined by `sep` (a space or a tab), tags in `scheme`, a -DOCSTART- line before each document.
    Sentences read from CoNLL files come back as read (separators, line ends, blank and -DOCSTART- lines, a
    byte-order mark), their tags too where unchanged and `scheme` is their file's or None (None: the files' scheme)."""
    if sep not in (" ", "\t"):
        raise ValueError(f"CoNLL separator must be ' ' or '\\t', not {sep!r}")
    if not sentences:
        return ""
    widths = {len(s.columns[0]) if s.columns else 0 for s in sentences if s.words}
    if len(widths) > 1:
        raise ValueError(f"sentences have different numbers of middle CoNLL columns: {sorted(widths)}")
    ncols = (widths.pop() if widths else 0) + 2
    style = _Style.of(sentences, scheme, sep)
    out: list[str] = []
    carry: dict = {}
    for k, s in enumerate(sentences):
        carry = carried(s, "conll")
        carry = carry if carry.get("sep", " ") == style.sep else {}  # its rows and lines are of another separator
        new_doc = s.doc_id is not None and (k == 0 or not s.same_document(sentences[k - 1]))
        out += _before(carry, k == 0, new_doc, _docstart(ncols, style.sep))
        out += _rows(s, k, carry, style, ncols)
    bom = "\ufeff" if carried(sentences[0], "conll").get("bom") else ""
    return bom + style.eol.join(out + carry.get("end", END))


FORMAT = Format("conll", (".conll", ".iob", ".bio", ".bioes", ".tsv", ".txt"), sniff, read, write, order=10,
                label="CoNLL columns")
