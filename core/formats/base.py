"""What every format shares: Sentence and Corpus, FormatError, IOB2 tag helpers, UTF-8 decoding of an input a block
at a time, the Format record each format module declares, and the Stream a reader reads from."""
from __future__ import annotations

import importlib.util
import io
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from core.labels import lone_surrogate

SCHEMES = ("iob1", "iob2", "bioes")
_MAX_INT_DIGITS = 100
_BLOCK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_LINE_ENDS = re.compile(rb"\r\n?|\n")

Source = str | Path | bytes | BinaryIO


class FormatError(ValueError):
    """Bad input: names the file, the line (1-based) and the problem."""

    def __init__(self, file: str, line: int, problem: str):
        super().__init__(file, line, problem)
        self.file, self.line, self.problem = file, line, problem

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


@dataclass
class Sentence:
    """One sentence: words, IOB2 tags (None = unlabelled), its text and each word's char offsets in it; its document's
    name, the middle CoNLL columns of each word, the reader's line, annotator, a JSON record's `meta` object, the
    split its file gives it, a model's suggested tags, and what the import carries through (`carry`)."""

    words: list[str]
    tags: list[str] | None
    text: str
    offsets: list[tuple[int, int]]
    doc_id: str | None = None
    columns: list[list[str]] | None = None
    line: int = 0
    annotator: str | None = None
    meta: dict | None = None
    split: str | None = None  # the project split the file puts it in (hf: the dataset split)
    suggestion: list[str] | None = None  # a model's IOB2 tags to suggest, never gold (Label Studio predictions)
    suggested_by: str | None = None  # the model that made `suggestion`
    document: int | None = None  # what tells two documents of one name apart (the store's document id)
    carry: dict | None = None  # what nerloop keeps but does not edit, for the same format's writer (see `Carry`)

    def same_document(self, other: Sentence) -> bool:
        """Whether this sentence is of `other`'s document (same name and same document id)."""
        return (self.doc_id, self.document) == (other.doc_id, other.document)


def joined_sentence(words: list[str], tags: list[str] | None, columns: list[list[str]] | None = None,
                    doc_id: str | None = None, line: int = 0) -> Sentence:
    """A sentence whose text is its words joined by single spaces."""
    offsets, pos = [], 0
    for w in words:
        offsets.append((pos, pos + len(w)))
        pos += len(w) + 1
    return Sentence(words, tags, " ".join(words), offsets, doc_id, columns, line)


@dataclass
class Corpus:
    """Sentences read from one file, with the source format, tag scheme, CoNLL separator, for plain text whether each
    line was taken as one sentence, and the reader's notes (records skipped or words split, by reason)."""

    sentences: list[Sentence]
    fmt: str
    scheme: str | None
    sep: str = " "
    lines: bool | None = None
    notes: Counter[str] = field(default_factory=Counter)


# ---------------------------------------------------------------- tags and spans

def spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """IOB2 tags -> (first_word, end_word_exclusive, label); a stray I- starts a new entity."""
    out: list[tuple[int, int, str]] = []
    start, label = -1, None
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and tag[2:] == label:
            continue
        if label is not None:
            out.append((start, i, label))
        start, label = (i, tag[2:]) if tag != "O" else (-1, None)
    if label is not None:
        out.append((start, len(tags), label))
    return out


def tags_from_spans(n_words: int, spans: Iterable[tuple[int, int, str]]) -> list[str]:
    """(first_word, end_exclusive, label) spans -> IOB2 tags; raises ValueError on overlap or bad range."""
    tags = ["O"] * n_words
    end = 0
    for s, e, label in sorted(spans):
        if not 0 <= s < e <= n_words:
            raise ValueError(f"span ({s}, {e}) out of range for {n_words} words")
        if s < end:
            raise ValueError(f"span ({s}, {e}) overlaps the previous span")
        tags[s] = "B-" + label
        tags[s + 1:e] = ["I-" + label] * (e - s - 1)
        end = e
    return tags


def _iob1_start(tags: Sequence[str]) -> bool:
    """Whether an I- tag starts an entity in `tags` (IOB1, not IOB2)."""
    prev = "O"
    for tag in tags:
        if tag[0] == "I" and (prev == "O" or prev[2:] != tag[2:]):
            return True
        prev = tag
    return False


def detect_scheme(tag_seqs: Iterable[Sequence[str]]) -> str:
    """Any E-/S-/L-/U- -> "bioes"; else an I- that starts an entity -> "iob1"; else "iob2"."""
    iob1 = False
    for tags in tag_seqs:
        if any(tag[0] in "ESLU" for tag in tags):
            return "bioes"
        iob1 = iob1 or _iob1_start(tags)
    return "iob1" if iob1 else "iob2"


def bioes_problem(tags: Sequence[str]) -> tuple[int, str] | None:
    """First BIOES violation as (word index, problem), or None. L-/U- count as E-/S-."""
    open_at, open_label = -1, None
    for i, tag in enumerate(tags):
        prefix, label = tag[0], tag[2:]
        if open_label is not None:
            if prefix in "IEL" and label == open_label:
                if prefix != "I":
                    open_label = None
                continue
            return open_at, f"entity {tags[open_at]!r} is not closed by E-{open_label}"
        if prefix in "IEL":
            return i, f"{tag!r} starts an entity (BIOES entities start with B- or S-)"
        if prefix == "B":
            open_at, open_label = i, label
    if open_label is not None:
        return open_at, f"entity {tags[open_at]!r} is not closed by E-{open_label}"
    return None


def to_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert tags from `scheme` to IOB2; raises ValueError on tags the scheme does not allow."""
    if scheme == "bioes":
        problem = bioes_problem(tags)
        if problem:
            raise ValueError(f"tag {problem[0] + 1}: {problem[1]}")
        return [t if t == "O" or t[0] in "BI" else ("I-" if t[0] in "EL" else "B-") + t[2:] for t in tags]
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}")
    out, prev = [], None
    for tag in tags:
        if tag == "O":
            out.append(tag)
            prev = None
            continue
        if tag[0] not in "BI":
            raise ValueError(f"tag {tag!r} is not allowed in {scheme}")
        label = tag[2:]
        out.append(tag if tag[0] == "I" and label == prev else "B-" + label)
        prev = label
    return out


def from_iob2(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert IOB2 tags to `scheme` ("iob1": I- except B- right after the same type; "bioes")."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}")
    found = spans(tags)
    if scheme == "iob2":
        return tags_from_spans(len(tags), found)
    out = ["O"] * len(tags)
    prev_end, prev_label = -1, None
    for s, e, label in found:
        if scheme == "iob1":
            out[s:e] = ["I-" + label] * (e - s)
            if s == prev_end and label == prev_label:
                out[s] = "B-" + label
        elif e - s == 1:
            out[s] = "S-" + label
        else:
            out[s:e] = ["B-" + label] + ["I-" + label] * (e - s - 2) + ["E-" + label]
        prev_end, prev_label = e, label
    return out


# ---------------------------------------------------------------- decoding

def is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def json_int(digits: str) -> int:
    """json's parse_int: integers are offsets or ids, so a longer one is an error, not a minute of int()."""
    if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(digits.lstrip('-'))} digits (at most {_MAX_INT_DIGITS})")
    return int(digits)


def utf8(data: bytes, name: str, line: int) -> str:
    """UTF-8 bytes whose first line is `line` as text, CRLF and CR line ends read as LF; an invalid byte is a
    FormatError at its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(name, line + len(_LINE_ENDS.findall(data, 0, e.start)),
                          f"invalid UTF-8 byte 0x{data[e.start]:02x}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def decode(data: bytes | str, name: str) -> str:
    """The text of a file: UTF-8, a leading byte-order mark dropped (an encoding mark, not text), CRLF and CR line
    ends read as LF; lone surrogates (only a str can hold them) refused."""
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
        at = lone_surrogate(text)
        if at is not None:
            raise FormatError(name, len(re.findall(r"\r\n?|\n", text[:at])) + 1,
                              f"a lone surrogate U+{ord(text[at]):04X} (not valid Unicode)")
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    return utf8(data.removeprefix(_BOM), name, 1)


@contextmanager
def binary(source: str | Path | bytes | BinaryIO) -> Iterator[BinaryIO]:
    """A binary file object at the start of `source`: a path (opened and closed here), bytes, or a seekable file."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            yield f
    elif isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source)
    else:
        source.seek(0)
        yield source


def read_lines(source: str | Path | bytes | BinaryIO, name: str, block: int = _BLOCK) -> Iterator[str]:
    """The lines of a binary input as `decode(data).split("\\n")` gives them, decoded one block at a time."""
    with binary(source) as f:
        buf, line, bom = bytearray(), 1, True
        while True:
            chunk = f.read(block)
            buf += chunk
            if bom and (len(buf) >= len(_BOM) or not chunk):
                bom = False
                if buf.startswith(_BOM):
                    del buf[:len(_BOM)]
            cut = max(buf.rfind(b"\n"), buf.rfind(b"\r", 0, len(buf) - 1)) + 1 if chunk else len(buf)
            if bom or (chunk and not cut):  # a CR last in the block may be the first half of a CRLF
                continue
            lines = utf8(bytes(buf[:cut]), name, line).split("\n")
            del buf[:cut]
            if chunk:
                lines.pop()  # the empty rest after the block's last line end: the next block continues it
            line += len(lines)
            yield from lines
            if not chunk:
                return




# ---------------------------------------------------------------- formats and streams

@dataclass(frozen=True)
class Format:
    """One format as a module declares it: its name (`--format`), file extensions (first: the one it writes), a
    sniffer scoring the first lines of a file (0: not this format, 1: could be anything, 2: has this shape, 3: carries
    this tool's own markers), a reader of a Stream and, if it exports, a writer."""

    name: str
    extensions: tuple[str, ...]
    sniff: Callable[[str], int]
    read: Callable[[Stream], Iterator[Sentence]]
    write: Callable[[Sequence[Sentence], str, str], str | bytes] | None = None  # (sentences, scheme, sep)
    order: int = 50  # the first format for an extension is its default when nothing sniffs
    mime: str = "text/plain"
    label: str = ""  # what the Upload page calls it
    binary: bool = False  # reads the raw input (a zip or a folder), not its text lines; sniffs its file names
    requires: str | None = None  # the module it reads and writes with, when that is an optional dependency
    install: str = ""  # how to install that module
    folder: bool = False  # writes a zip of a folder, which a path without .zip receives unpacked
    takes_labels: bool = False  # its writer takes the project's IOB2 tags (`labels=`) as its label names

    @property
    def missing_dependency(self) -> str | None:
        """What to install before this format can be used, or None when it can."""
        if self.requires is None or importlib.util.find_spec(self.requires) is not None:
            return None
        return f"the {self.name} format needs {self.requires}: {self.install or 'pip install ' + self.requires}"

    def available(self) -> bool:
        """Whether the modules it needs are installed."""
        return self.missing_dependency is None


class Stream:
    """The sentences of one input, parsed while it is read: memory of a sentence, not of the file. Every pass reads
    the input again (its first problem raises FormatError); after a pass `scheme`, `sep`, `lines` and `notes` (what
    the reader skipped or changed, by reason) are those a Corpus of it would have."""

    def __init__(self, source: Source | None, open_lines: Callable[[], Iterator[str]], *, name: str, fmt: Format,
                 labels: Collection[str] | None = None, lines: bool | None = None, language: str = "en",
                 layer: str | None = None) -> None:
        self.source, self.open_lines, self.name, self.format = source, open_lines, name, fmt
        self.fmt, self.labels, self.lines, self.language = fmt.name, labels, lines, language
        self.layer = layer  # webanno: the span layer (LAYER or LAYER|feature) to edit
        self.scheme: str | None = None
        self.sep = " "
        self.notes: Counter[str] = Counter()

    def __iter__(self) -> Iterator[Sentence]:
        self.notes = Counter()
        return self.format.read(self)

    def corpus(self) -> Corpus:
        """Every sentence, in memory."""
        sentences = list(self)
        return Corpus(sentences, self.fmt, self.scheme, self.sep, self.lines if self.fmt == "text" else None,
                      self.notes)

    def open_bytes(self) -> bytes:
        """The whole input as bytes (for formats read at once, such as a zip)."""
        if isinstance(self.source, str):
            return Path(self.source).read_bytes()
        if isinstance(self.source, Path):
            return self.source.read_bytes()
        if isinstance(self.source, (bytes, bytearray, memoryview)):
            return bytes(self.source)
        if self.source is None:
            return "\n".join(self.open_lines()).encode("utf-8")
        self.source.seek(0)
        return self.source.read()


def document_stem(doc_id: str | None, k: int, used: set[str]) -> str:
    """A safe file name (without extension) for the k-th document of a folder written as a zip, subfolders kept,
    unique (case aside) among `used`."""
    parts = [re.sub(r"[^\w.+ -]+", "_", p).strip("._ ") for p in (doc_id or "").split("/")]
    stem = "/".join(p for p in parts if p) or f"doc-{k}"
    n, found = 1, stem
    while found.lower() in used:
        n += 1
        found = f"{stem}-{k}" if n == 2 else f"{stem}-{k}-{n}"
    used.add(found.lower())
    return found


def carried(s: Sentence, fmt: str) -> dict:
    """What sentence `s` carries for format `fmt`'s writer: its `carry` when the import read it in `fmt`, else {}.
    A carry is {"format": name, "kept": {what: count}, ...}: the writer of that format reads the rest, `kept` says
    what is kept but not editable (for reports), and another format's writer leaves it out."""
    return s.carry if s.carry and s.carry.get("format") == fmt else {}


def kept_text(kept: Counter[str] | dict[str, int]) -> str:
    """What is kept, as one line: "3 relations, 1 note (brat)" (kinds are plural nouns, said once in the singular)."""
    return ", ".join(f"{n} {_one(what) if n == 1 else what}" for what, n in kept.items() if n)


def _one(kind: str) -> str:
    """"relations whose entity was deleted" -> "relation whose ...": a plural kind's noun in the singular."""
    return re.sub(r"^(.*?)s\b(?= \(| whose | of | written |$)", r"\1", kind, count=1)


def notes_text(notes: Counter[str]) -> str:
    """The notes as one line: "records with answer reject skipped: 2, words split at span edges: 3"."""
    return ", ".join(f"{reason}: {n}" for reason, n in notes.items() if n)
