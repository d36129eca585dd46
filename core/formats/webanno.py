"""WebAnno / INCEpTION TSV 3 (import): the named-entity layer's `value` column; `#Text=` lines give each sentence's
text, `PER[3]` marks the words of one multi-word entity. Stacked entities and sub-token rows are errors."""
from __future__ import annotations

import re
from collections.abc import Iterator

from core.formats.base import Format, FormatError, Sentence, Stream, tags_from_spans
from core.formats.conll import joined_sentence
from core.labels import LabelSet, word_problem

_NE_LAYER = "de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity"
_ROW = re.compile(r"(\d+)-(\d+)(\.\d+)?")
_VALUE = re.compile(r"(.*?)(?:\[(\d+)\])?")


def sniff(head: str) -> int:
    return 3 if head.lstrip().startswith("#FORMAT=WebAnno TSV 3") else 0


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _column(header: list[tuple[int, str]], name: str) -> int:
    """The column (0-based) of the named-entity layer's `value` feature, from the #T_SP/#T_CH/#T_RL lines."""
    col = 3
    for i, line in header:
        layer, *features = line.split("=", 1)[1].split("|")
        if layer == _NE_LAYER:
            if "value" not in features:
                raise FormatError(name, i, "the named-entity layer has no 'value' feature")
            return col + features.index("value")
        col += len(features)
    raise FormatError(name, 1, f"no named-entity layer ({_NE_LAYER}) in the header")


def _sentence(rows: list[tuple[int, list[str]]], text: str, col: int, name: str, seen: LabelSet) -> Sentence:
    words, spans, open_ids = [], [], {}
    for n, (i, parts) in enumerate(rows):
        if len(parts) <= col:
            raise FormatError(name, i, f"expected at least {col + 1} columns, found {len(parts)}")
        if _ROW.fullmatch(parts[0])[3]:
            raise FormatError(name, i, f"sub-token annotation {parts[0]} (not supported)")
        if problem := word_problem(parts[2]):
            raise FormatError(name, i, problem)
        words.append(parts[2])
        value = parts[col]
        if value == "_":
            continue
        if "|" in value.replace("\\|", ""):
            raise FormatError(name, i, f"stacked entities {value!r} (one entity a word)")
        m = _VALUE.fullmatch(value)
        label = _unescape(m[1])
        if label in ("", "*"):
            raise FormatError(name, i, f"entity without a label ({value!r})")
        if problem := seen.check(label):
            raise FormatError(name, i, problem)
        if m[2] and m[2] in open_ids and open_ids[m[2]][1] == n:
            start, _, _ = open_ids[m[2]]
            open_ids[m[2]] = (start, n + 1, label)
            spans[-1] = (start, n + 1, label) if spans and spans[-1][0] == start else spans[-1]
            continue
        spans.append((n, n + 1, label))
        if m[2]:
            open_ids[m[2]] = (n, n + 1, label)
    offsets = [tuple(map(int, p[1].split("-"))) for _, p in rows]
    base = offsets[0][0]
    local = [(a - base, b - base) for a, b in offsets]
    if all(text[a:b] == w for w, (a, b) in zip(words, local)):
        return Sentence(words, tags_from_spans(len(words), spans), text, local, line=rows[0][0])
    return joined_sentence(words, tags_from_spans(len(words), spans), line=rows[0][0])


def read(stream: Stream) -> Iterator[Sentence]:
    """A sentence per block of rows, tagged (a sentence without entities has all O)."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    header: list[tuple[int, str]] = []
    rows: list[tuple[int, list[str]]] = []
    text, col, found = "", None, False
    stream.scheme = "iob2"
    for i, line in enumerate([*stream.open_lines(), ""], 1):
        if i == 1 and not line.startswith("#FORMAT=WebAnno TSV 3"):
            raise FormatError(stream.name, 1, "expected '#FORMAT=WebAnno TSV 3.x' on the first line")
        if line.startswith(("#T_SP=", "#T_CH=", "#T_RL=")):
            header.append((i, line))
        elif line.startswith("#Text="):
            text = (text + "\n" if text and not rows else "") + line[len("#Text="):]
        elif line.strip() and not line.startswith("#"):
            parts = line.split("\t")
            if not _ROW.fullmatch(parts[0]) or len(parts) < 3 or not re.fullmatch(r"\d+-\d+", parts[1]):
                raise FormatError(stream.name, i, "expected a row: SENT-TOKEN<TAB>BEGIN-END<TAB>WORD<TAB>...")
            rows.append((i, parts))
        elif not line.strip() and rows:
            if col is None:
                col = _column(header, stream.name)
            found = True
            yield _sentence(rows, text, col, stream.name, seen)
            rows, text = [], ""
    if not found:
        raise FormatError(stream.name, 1, "empty file")


FORMAT = Format("webanno", (".tsv",), sniff, read, order=60, label="WebAnno / INCEpTION TSV 3")
