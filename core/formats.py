"""Read and write NER corpora: CoNLL columns, JSONL spans and plain text.

Inside the engine tags are IOB2; CoNLL files may be IOB1, IOB2 or BIOES (BILOU) and are converted. At the edge a
leading byte-order mark is dropped, CR and CRLF line ends read as line ends, and words and labels are checked by
`core.labels`: every problem is a FormatError naming file and line. `iter_read` parses a file while it reads it (memory
of a block and a sentence, for large files); `read` and `loads` give the whole Corpus.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from core.labels import LabelSet, lone_surrogate, text_problem, word_problem, words_problem

FORMATS = ("conll", "jsonl", "text")
SCHEMES = ("iob1", "iob2", "bioes")
_EXTENSIONS = {".conll": "conll", ".iob": "conll", ".bio": "conll", ".bioes": "conll", ".tsv": "conll",
               ".jsonl": "jsonl", ".json": "jsonl", ".txt": "text"}
_DOCSTART = "-DOCSTART-"
_TAG_LIKE = re.compile(r"O|[BIESLU]-\S+")
_SNIFF_LINES = 100
_SNIFF_TEXT_LINES = 2000
_LINE_END = re.compile(r"[.!?…:;][\"'”’»)\]]*$")
_WORD = re.compile(r"(?:[^\W\d_]\.){2,}(?!\w)|\w+(?:[-'’.]\w+)*|\S")
_SENT_END = re.compile(r"(\w*)([.!?]+)[\"'”’»)\]]*\s+")
_SENT_OPENERS = "\"'“‘«"
_ABBREVIATIONS = frozenset({"Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Jr", "Sr", "vs"})
_MAX_INT_DIGITS = 100
_BLOCK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_LINE_ENDS = re.compile(rb"\r\n?|\n")
_MAYBE_BIOES = re.compile(r"\s[ESLU]-")  # an E-/S-/L-/U- tag always follows a separator


class FormatError(ValueError):
    """Bad input: names the file, the line (1-based) and the problem."""

    def __init__(self, file: str, line: int, problem: str):
        super().__init__(file, line, problem)
        self.file, self.line, self.problem = file, line, problem

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


@dataclass
class Sentence:
    """One sentence: words, IOB2 tags (None = unlabelled), its text and each word's char offsets in it."""

    words: list[str]
    tags: list[str] | None
    text: str
    offsets: list[tuple[int, int]]
    doc_id: str | None = None
    columns: list[list[str]] | None = None
    line: int = 0


@dataclass
class Corpus:
    """Sentences read from one file, with the source format, tag scheme, CoNLL separator and, for plain text,
    whether each line was taken as one sentence."""

    sentences: list[Sentence]
    fmt: str
    scheme: str | None
    sep: str = " "
    lines: bool | None = None


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


def _bioes_problem(tags: Sequence[str]) -> tuple[int, str] | None:
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
        problem = _bioes_problem(tags)
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


# ---------------------------------------------------------------- plain text

def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words with char offsets: "U.S.", "don't", "3.5", "e-mail" stay whole; other symbols stand alone."""
    out: list[tuple[str, int, int]] = []
    for m in _WORD.finditer(text):
        s, e = m.span()
        if out and out[-1][2] == s and (_is_mark(text[s]) or (_is_mark(text[s - 1]) and text[s].isalnum())):
            s = out.pop()[1]  # combining marks (accents, Indic vowel signs) join the word around them
        out.append((text[s:e], s, e))
    return out


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence char ranges (whitespace trimmed): split at line breaks, and after . ! ? followed by
    whitespace and an uppercase letter, digit or opening quote, except after Mr./Dr./... and initials."""
    ranges: list[tuple[int, int]] = []

    def add(s: int, e: int) -> None:
        chunk = text[s:e]
        stripped = chunk.strip()
        if stripped:
            s += len(chunk) - len(chunk.lstrip())
            ranges.append((s, s + len(stripped)))

    pos = 0
    for line in text.splitlines(keepends=True):
        start, end = pos, pos + len(line)
        for m in _SENT_END.finditer(text, pos, end):
            nxt = text[m.end()] if m.end() < end else ""
            if not nxt or not (nxt.isupper() or nxt.isdigit() or nxt in _SENT_OPENERS):
                continue
            word = m.group(1)
            if m.group(2) == "." and (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
                continue
            add(start, m.end())
            start = m.end()
        add(start, end)
        pos = end
    return ranges


def looks_line_per_sentence(text: str) -> bool:
    """Whether plain text looks like one sentence per line: two lines or more, at most a quarter of them holding a
    sentence break (one before a digit, as in a tokenised "3 . 5" or "Fig. 2", does not count), most ending like a
    sentence, and hardly any running on into a lower-case line (wrapped prose)."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:_SNIFF_TEXT_LINES]]
    filled = [line for line in lines if line]
    if len(filled) < 2:
        return False
    breaks = sum(any(not line[s].isdigit() for s, _ in split_sentences(line)[1:]) for line in filled)
    ends = sum(bool(_LINE_END.search(line)) for line in filled)
    run_on = sum(bool(a and b and not _LINE_END.search(a) and b[0].islower()) for a, b in zip(lines, lines[1:]))
    n = len(filled)
    return breaks <= 0.25 * n and ends >= 0.6 * n and run_on <= 0.1 * n


def _line_ranges(text: str) -> list[tuple[int, int]]:
    """Char ranges of the non-empty lines of `text`, whitespace trimmed."""
    ranges, pos = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            start = pos + len(line) - len(line.lstrip())
            ranges.append((start, start + len(stripped)))
        pos += len(line) + 1
    return ranges


def _text_sentences(lines: Iterable[str], name: str, mode: bool) -> Iterator[Sentence]:
    """Blank lines separate documents (`p-N`); each non-empty line is one sentence when `mode`, else lines are split
    into sentences (a sentence never runs over a line end)."""
    split = _line_ranges if mode else split_sentences
    paragraph, blank, found = 0, True, False
    for i, line in enumerate(lines, 1):
        if not line.strip():
            blank = True
            continue
        paragraph, blank = paragraph + blank, False
        for s, e in split(line):
            text = line[s:e]
            toks = tokenize(text)
            words = [w for w, _, _ in toks]
            if problem := words_problem(words):
                raise FormatError(name, i, problem)
            found = True
            yield Sentence(words, None, text, [(a, b) for _, a, b in toks], doc_id=f"p-{paragraph}", line=i)
    if not found:
        raise FormatError(name, 1, "empty file")


# ---------------------------------------------------------------- CoNLL

def _parse_tag(tag: str) -> str | None:
    """A legal tag with L-/U- renamed E-/S-, or None if illegal."""
    if tag == "O":
        return tag
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIESLU":
        return {"L": "E", "U": "S"}.get(tag[0], tag[0]) + tag[1:]
    return None


def _sentence(words: list[str], tags: list[str] | None, columns: list[list[str]] | None,
              doc_id: str | None, line: int) -> Sentence:
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


def _conll_sentences(stream: Stream) -> Iterator[Sentence]:
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
        yield _sentence(words, to_iob2(tags, scheme), cols, doc_id, rows[0])


def _dump_conll(sentences: Sequence[Sentence], scheme: str, sep: str) -> str:
    widths = {len(s.columns[0]) if s.columns else 0 for s in sentences if s.words}
    if len(widths) > 1:
        raise ValueError(f"sentences have different numbers of middle CoNLL columns: {sorted(widths)}")
    ncols = (widths.pop() if widths else 0) + 2
    out: list[str] = []
    doc_id = None
    for k, s in enumerate(sentences):
        if s.doc_id is not None and s.doc_id != doc_id:
            out.append(sep.join([_DOCSTART] + ["-X-"] * (ncols - 2) + ["O"]))
            out.append("")
        doc_id = s.doc_id
        tags = from_iob2(s.tags, scheme) if s.tags is not None else ["O"] * len(s.words)
        for j, word in enumerate(s.words):
            line = sep.join([word, *(s.columns[j] if s.columns else ()), tags[j]])
            if line.count(sep) != ncols - 1 or "\n" in line or "\r" in line or (sep == " " and "\t" in line):
                raise ValueError(f"sentence {k + 1}, word {j + 1}: a field in {line!r} has a separator "
                                 f"or line break, or the column count differs")
            out.append(line)
        out.append("")
    return "\n".join(out[:-1]) + "\n" if out else ""


# ---------------------------------------------------------------- JSONL

def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _jsonl_record(obj: object, name: str, i: int, seen: LabelSet) -> Sentence:
    """One JSONL record -> Sentence; every problem raises FormatError at line i."""
    def fail(problem: str) -> FormatError:
        return FormatError(name, i, problem)

    if not isinstance(obj, dict):
        raise fail("expected a JSON object")
    text = obj.get("text")
    if not isinstance(text, str):
        raise fail("missing or non-string 'text'")
    if problem := text_problem(text):
        raise fail(problem)
    if obj.get("tokens") is None:
        toks = tokenize(text)
    else:
        if not isinstance(obj["tokens"], list):
            raise fail("'tokens' must be a list")
        toks, prev_end = [], 0
        for n, t in enumerate(obj["tokens"], 1):
            if not (isinstance(t, dict) and isinstance(t.get("text"), str)
                    and _is_int(t.get("start")) and _is_int(t.get("end"))):
                raise fail(f"token {n} must be an object with string 'text' and integer 'start', 'end'")
            s, e = t["start"], t["end"]
            if not (prev_end <= s < e <= len(text)) or text[s:e] != t["text"]:
                raise fail(f"token {n} {t['text']!r} offsets ({s}, {e}) do not match the text")
            prev_end = e
            if t["text"].strip():
                if problem := word_problem(t["text"]):
                    raise fail(f"token {n}: {problem}")
                toks.append((t["text"], s, e))
    if not toks:
        raise fail("no tokens in text")
    if obj.get("tokens") is None and (problem := words_problem([w for w, _, _ in toks])):
        raise fail(problem)
    tags = None
    if obj.get("spans") is not None:
        if not isinstance(obj["spans"], list):
            raise fail("'spans' must be a list")
        starts = {s: n for n, (_, s, _) in enumerate(toks)}
        ends = {e: n + 1 for n, (_, _, e) in enumerate(toks)}
        word_spans, char_spans = [], []
        for sp in obj["spans"]:
            if not (isinstance(sp, dict) and _is_int(sp.get("start")) and _is_int(sp.get("end"))
                    and isinstance(sp.get("label"), str)):
                raise fail("each span must be an object with integer 'start', 'end' and string 'label'")
            s, e, label = sp["start"], sp["end"], sp["label"]
            if not 0 <= s < e <= len(text):
                raise fail(f"span ({s}, {e}) out of range (text length {len(text)})")
            if problem := seen.check(label):
                raise fail(f"span ({s}, {e}): {problem}")
            if s not in starts or e not in ends:
                raise fail(f"span ({s}, {e}) {text[s:e]!r} is not on token boundaries")
            char_spans.append((s, e))
            word_spans.append((starts[s], ends[e], label))
        char_spans.sort()
        for (s1, e1), (s2, e2) in zip(char_spans, char_spans[1:]):
            if s2 < e1:
                raise fail(f"overlapping spans ({s1}, {e1}) and ({s2}, {e2})")
        tags = tags_from_spans(len(toks), word_spans)
    doc_id = obj.get("doc_id")
    if doc_id is None and isinstance(obj.get("meta"), dict):
        doc_id = obj["meta"].get("doc_id")
    if isinstance(doc_id, bool) or (doc_id is not None and not isinstance(doc_id, (str, int))):
        raise fail("'doc_id' must be a string or integer")
    if isinstance(doc_id, str) and (problem := text_problem(doc_id)):
        raise fail(f"'doc_id' {problem.removeprefix('text ')}")
    return Sentence([w for w, _, _ in toks], tags, text, [(s, e) for _, s, e in toks],
                    None if doc_id is None else str(doc_id), line=i)


def _json_int(digits: str) -> int:
    """json's parse_int: integers are offsets or ids, so a longer one is an error, not a minute of int()."""
    if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(digits.lstrip('-'))} digits (at most {_MAX_INT_DIGITS})")
    return int(digits)


def _jsonl_sentences(stream: Stream) -> Iterator[Sentence]:
    """A JSONL file's records, one a line; sets stream.scheme to "iob2" once a record has spans."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    found = False
    for i, line in enumerate(stream.open_lines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_int=_json_int)
        except json.JSONDecodeError as e:
            raise FormatError(stream.name, i, f"invalid JSON: {e.msg} (column {e.colno})") from None
        except RecursionError:
            raise FormatError(stream.name, i, "invalid JSON: nested too deeply") from None
        except ValueError as e:  # from _json_int
            raise FormatError(stream.name, i, f"invalid JSON: {e}") from None
        sentence = _jsonl_record(obj, stream.name, i, seen)
        if sentence.tags is not None:
            stream.scheme = "iob2"
        found = True
        yield sentence
    if not found:
        raise FormatError(stream.name, 1, "empty file")


def _dump_jsonl(sentences: Sequence[Sentence]) -> str:
    lines = []
    for s in sentences:
        rec: dict[str, object] = {"text": s.text, "tokens": [
            {"text": w, "start": a, "end": b} for w, (a, b) in zip(s.words, s.offsets)]}
        if s.tags is not None:
            rec["spans"] = [{"start": s.offsets[a][0], "end": s.offsets[b - 1][1], "label": label}
                            for a, b, label in spans(s.tags)]
        if s.doc_id is not None:
            rec["doc_id"] = s.doc_id
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    return "".join(lines)


def _dump_text(sentences: Sequence[Sentence]) -> str:
    out: list[str] = []
    for k, s in enumerate(sentences):
        if k and s.doc_id != sentences[k - 1].doc_id:
            out.append("\n")
        out.append(s.text.replace("\r", " ").replace("\n", " ") + "\n")
    return "".join(out)


# ---------------------------------------------------------------- public entry points

def _sniff(name: str, lines: Iterable[str]) -> str:
    """Format by extension; a .txt or unknown file is "conll" if its first lines look like CoNLL rows (reads lines
    only until it knows)."""
    fmt = _EXTENSIONS.get(Path(name).suffix.lower())
    if fmt is not None and fmt != "text":
        return fmt
    seen, docstarts = 0, 0
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == _DOCSTART:
            docstarts += 1
            continue
        if len(parts) < 2 or not _TAG_LIKE.fullmatch(parts[-1]):
            return "text"
        seen += 1
        if seen == _SNIFF_LINES:
            break
    return "conll" if seen or docstarts else "text"


def detect_format(name: str, text: str) -> str:
    """Format by extension; a .txt or unknown file is "conll" if its first lines look like CoNLL rows."""
    return _sniff(name, text.split("\n"))


def _utf8(data: bytes, name: str, line: int) -> str:
    """UTF-8 bytes whose first line is `line` as text, CRLF and CR line ends read as LF; an invalid byte is a
    FormatError at its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(name, line + len(_LINE_ENDS.findall(data, 0, e.start)),
                          f"invalid UTF-8 byte 0x{data[e.start]:02x}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _decode(data: bytes | str, name: str) -> str:
    """The text of a file: UTF-8, a leading byte-order mark dropped (an encoding mark, not text), CRLF and CR line
    ends read as LF; lone surrogates (only a str can hold them) refused."""
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
        at = lone_surrogate(text)
        if at is not None:
            raise FormatError(name, len(re.findall(r"\r\n?|\n", text[:at])) + 1,
                              f"a lone surrogate U+{ord(text[at]):04X} (not valid Unicode)")
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
    return _utf8(data.removeprefix(_BOM), name, 1)


@contextmanager
def _binary(source: str | Path | bytes | BinaryIO) -> Iterator[BinaryIO]:
    """A binary file object at the start of `source`: a path (opened and closed here), bytes, or a seekable file."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            yield f
    elif isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source)
    else:
        source.seek(0)
        yield source


def _read_lines(source: str | Path | bytes | BinaryIO, name: str, block: int = _BLOCK) -> Iterator[str]:
    """The lines of a binary input as `_decode(data).split("\\n")` gives them, decoded one block at a time."""
    with _binary(source) as f:
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
            lines = _utf8(bytes(buf[:cut]), name, line).split("\n")
            del buf[:cut]
            if chunk:
                lines.pop()  # the empty rest after the block's last line end: the next block continues it
            line += len(lines)
            yield from lines
            if not chunk:
                return


class Stream:
    """The sentences of one input, parsed while it is read: memory of a sentence, not of the file. Every pass reads
    the input again (its first problem raises FormatError); after a pass `scheme`, `sep` and `lines` are those a
    Corpus of it would have."""

    def __init__(self, open_lines: Callable[[], Iterator[str]], *, name: str, fmt: str | None = None,
                 labels: Collection[str] | None = None, lines: bool | None = None) -> None:
        self.open_lines, self.name, self.labels = open_lines, name, labels
        self.fmt = fmt or _sniff(name, open_lines())
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown format {self.fmt!r} (expected one of {', '.join(FORMATS)})")
        self.scheme: str | None = None
        self.sep = " "
        self.lines = lines

    def __iter__(self) -> Iterator[Sentence]:
        if self.fmt == "conll":
            return _conll_sentences(self)
        if self.fmt == "jsonl":
            return _jsonl_sentences(self)
        return self._text()

    def _text(self) -> Iterator[Sentence]:
        lines = self.open_lines()
        if self.lines is None:  # sniffed on the first lines, then read from the start
            head = list(itertools.islice(lines, _SNIFF_TEXT_LINES))
            self.lines, lines = looks_line_per_sentence("\n".join(head)), itertools.chain(head, lines)
        return _text_sentences(lines, self.name, self.lines)

    def corpus(self) -> Corpus:
        """Every sentence, in memory."""
        sentences = list(self)
        return Corpus(sentences, self.fmt, self.scheme, self.sep, self.lines if self.fmt == "text" else None)


def iter_read(source: str | Path | bytes | BinaryIO, *, name: str | None = None, fmt: str | None = None,
              labels: Collection[str] | None = None, lines: bool | None = None) -> Stream:
    """A Stream of a file read a block at a time: a path, a file's bytes or a seekable binary file object; `name`
    (default: the path, or the object's name) for format detection and errors. Sentences and problems are those of
    `read`, except that the first problem in reading order wins (`read` reports bad UTF-8 anywhere first)."""
    if name is None:
        name = str(source) if isinstance(source, (str, Path)) else str(getattr(source, "name", "") or "input")
    return Stream(partial(_read_lines, source, name), name=name, fmt=fmt, labels=labels, lines=lines)


def loads(data: bytes | str, *, name: str, fmt: str | None = None,
          labels: Collection[str] | None = None, lines: bool | None = None) -> Corpus:
    """Parse a whole file's content; `name` is used for format detection and error messages. Plain text: `lines`
    True keeps each non-empty line as one sentence, False splits lines into sentences, None sniffs which."""
    text = _decode(data, name)
    return Stream(lambda: iter(text.split("\n")), name=name, fmt=fmt, labels=labels, lines=lines).corpus()


def read(path: str | Path, *, fmt: str | None = None, labels: Collection[str] | None = None,
         lines: bool | None = None) -> Corpus:
    """Read a corpus file (`lines`: see `loads`)."""
    return loads(Path(path).read_bytes(), name=str(path), fmt=fmt, labels=labels, lines=lines)


def dumps(sentences: Sequence[Sentence], fmt: str, *, scheme: str = "iob2", sep: str = " ") -> str:
    """Serialise sentences; CoNLL tags are written in `scheme` with columns joined by `sep`."""
    if fmt == "conll":
        if sep not in (" ", "\t"):
            raise ValueError(f"CoNLL separator must be ' ' or '\\t', not {sep!r}")
        return _dump_conll(sentences, scheme, sep)
    if fmt == "jsonl":
        return _dump_jsonl(sentences)
    if fmt == "text":
        return _dump_text(sentences)
    raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")


def format_of(path: str | Path) -> str | None:
    """The format a file name's extension stands for (`.conll`, `.iob`, `.jsonl`, `.txt`, ...), or None."""
    return _EXTENSIONS.get(Path(path).suffix.lower())


def write(sentences: Sequence[Sentence], path: str | Path, fmt: str | None = None, *,
          scheme: str = "iob2", sep: str = " ") -> None:
    """Write atomically (temp file in the same folder, then rename); fmt defaults to the extension's."""
    fmt = fmt or format_of(path)
    if fmt is None:
        raise ValueError(f"cannot tell the format of {path}; pass fmt")
    write_atomic(path, dumps(sentences, fmt, scheme=scheme, sep=sep).encode("utf-8"))


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, then rename), keeping its permissions."""
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
