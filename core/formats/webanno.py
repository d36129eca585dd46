"""WebAnno / INCEpTION TSV 3.3: one span layer's feature is edited (`Stream.layer`, default the NamedEntity layer's
`value`); every other layer, column and line is carried, so an unedited import is written back byte for byte."""
from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from core.formats.base import (Format, FormatError, Sentence, Source, Stream, carried, document_stem, joined_sentence,
                               read_lines, spans, tags_from_spans)
from core.formats.records import DUPLICATE_NOTE, STACKED, unstack
from core.labels import LabelSet, label_problem, word_problem

NAME = "webanno"
NE_LAYER = "de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity"
FORMAT_LINE = "#FORMAT=WebAnno TSV 3.3"
_KINDS = {"#T_SP=": "spans", "#T_CH=": "chain links", "#T_RL=": "relations"}
_ROW = re.compile(r"(\d+)-(\d+)(\.\d+)?")
_OFFSETS = re.compile(r"(\d+)-(\d+)")
_WITH_ID = re.compile(r"(.*?)\[(\d+)\]", re.S)
_IDS = re.compile(r"\[(\d+)\]|\[(\d+)_(\d+)\]")
_ESCAPE = re.compile(r"->|[\\\[\]|_;\t\n*]")
_UNESCAPE = re.compile(r"\\(.)", re.S)
_UNSET = ("", "*")


@dataclass(frozen=True)
class Layer:
    """One `#T_SP=`/`#T_CH=`/`#T_RL=` header line: its kind, layer name, features and first column in a row."""

    kind: str
    name: str
    features: tuple[str, ...]
    column: int

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def width(self) -> int:
        """Its columns: one a feature (a span layer without features still has one)."""
        return max(len(self.features), 1)

    def offered(self) -> list[str]:
        """What `--layer` takes for it: LAYER|feature for each feature."""
        return [f"{self.name}|{f}" for f in self.features] or [self.name]


@dataclass(frozen=True)
class Layout:
    """A document's header lines, the edited layer's columns (absolute), which of them holds the value, the row width
    and the label of a span whose value is unset or not a label (the layer's short name)."""

    head: tuple[str, ...]
    columns: tuple[int, ...]
    value: int
    width: int
    unset: str

    @classmethod
    def of(cls, carry: dict) -> Layout:
        """The layout a sentence carries; a NamedEntity|value document's when it carries none."""
        if "layout" not in carry:
            return cls((FORMAT_LINE, f"#T_SP={NE_LAYER}|value", "", ""), (3,), 0, 4, "NamedEntity")
        found = carry["layout"]
        return cls(tuple(found["head"]), tuple(found["columns"]), found["value"], found["width"], found["unset"])

    def saved(self) -> dict:
        """As a carry holds it (JSON)."""
        return {"head": list(self.head), "columns": list(self.columns), "value": self.value, "width": self.width,
                "unset": self.unset}


def sniff(head: str) -> int:
    return 3 if head.lstrip().startswith("#FORMAT=WebAnno TSV 3") else 0


_ID = re.compile(r"(?<!\\)(\[\d+\])?$")  # an entry's span id, "[7]" (or nothing) at its end


def _escape(value: str) -> str:
    return _ESCAPE.sub(lambda m: {"\t": "\\t", "\n": "\\n"}.get(m[0], "\\" + m[0]), value)


def _unescape(value: str) -> str:
    return _UNESCAPE.sub(lambda m: {"t": "\t", "n": "\n"}.get(m[1], m[1]), value)


def _entries(cell: str) -> list[str]:
    """A cell's stacked entries (split at each unescaped `|`); none for `_`."""
    if cell == "_":
        return []
    out, current, escaped = [], [], False
    for ch in cell:
        if ch == "|" and not escaped:
            out.append("".join(current))
            current = []
            continue
        current.append(ch)
        escaped = ch == "\\" and not escaped
    return [*out, "".join(current)]


def _layers(lines: list[str]) -> list[Layer]:
    """The layers of a header's lines, in column order."""
    out, column = [], 3
    for line in lines:
        if not line.startswith(tuple(_KINDS)):
            continue
        name, *features = line[6:].split("|")
        kind = line[:6]
        out.append(Layer(kind, name, tuple(features), column))
        column += out[-1].width
    return out


def span_layers(source: Source, name: str = "input") -> list[str]:
    """The span layers (and features) a TSV 3 file offers to edit, as `--layer` takes them: LAYER|feature; none
    when the file cannot be read (its import says why)."""
    header = []
    try:
        for line in read_lines(source, name):
            if line.startswith("#Text=") or (line.strip() and not line.startswith("#")):
                break
            header.append(line)
    except FormatError:
        return []
    return [x for layer in _layers(header) if layer.kind == "#T_SP=" for x in layer.offered()]


def _chosen(layers: list[Layer], wanted: str | None, name: str, notes: Counter[str]) -> tuple[Layer, int]:
    """The span layer to edit and the index of its value feature: `wanted` (LAYER or its short name, |feature
    optional), else NamedEntity|value, else the file's only span layer; a FormatError listing them otherwise."""
    found = [x for x in layers if x.kind == "#T_SP="]
    offered = ", ".join(x for layer in found for x in layer.offered()) or "none"
    layer_name, _, feature = (wanted or f"{NE_LAYER}|value").partition("|")
    match = [x for x in found if x.name == layer_name or x.name.endswith("." + layer_name)]
    if not match and wanted is None and len(found) == 1:
        match = found
        notes[f"no NamedEntity layer: editing its only span layer, {found[0].name}"] += 1
    if not match:
        what = f"no span layer {wanted!r}" if wanted else "no named-entity layer"
        raise FormatError(name, 1, f"{what}; its span layers: {offered} (choose one: --layer LAYER|feature)")
    layer = match[0]
    feature = feature or ("value" if "value" in layer.features or not layer.features else layer.features[0])
    if layer.features and feature not in layer.features:
        raise FormatError(name, 1, f"layer {layer.name} has no feature {feature!r}; its span layers: {offered}")
    return layer, layer.features.index(feature) if layer.features else 0


def _blocks(stream: Stream) -> Iterator[list[tuple[int, str]]]:
    """The header lines, then each sentence's lines (its #Text lines, rows and the lines after them), numbered:
    joined with line ends they are the file."""
    block: list[tuple[int, str]] = []
    state = "head"
    for i, line in enumerate(stream.open_lines(), 1):
        if i == 1 and not line.startswith("#FORMAT=WebAnno TSV 3"):
            raise FormatError(stream.name, 1, "expected '#FORMAT=WebAnno TSV 3.x' on the first line")
        row = bool(line.strip()) and not line.startswith("#")
        if (line.startswith("#Text=") and state != "text") or (row and state in ("head", "after")):
            yield block
            block = []
            state = "text"
        if row:
            state = "rows"
        elif state == "rows":
            state = "after"
        block.append((i, line))
    yield block


def _row(i: int, line: str, width: int, name: str) -> list[str]:
    parts = line.split("\t")
    if not _ROW.fullmatch(parts[0]) or len(parts) < 3 or not _OFFSETS.fullmatch(parts[1]):
        raise FormatError(name, i, "expected a row: SENT-TOKEN<TAB>BEGIN-END<TAB>WORD<TAB>...")
    if len(parts) < width:
        raise FormatError(name, i, f"expected at least {width} columns, found {len(parts)}")
    return parts


def _spans(rows: list[tuple[int, list[str]]], layout: Layout, name: str) -> list[tuple[int, int, str, list[str]]]:
    """The edited layer's annotations on word rows: (first word, end word, value as read, entries per column)."""
    found: dict[str, list] = {}
    for n, (i, parts) in enumerate(rows):
        cells = [_entries(parts[c]) for c in layout.columns]
        if len({len(x) for x in cells}) > 1:
            raise FormatError(name, i, f"stacked entities {parts[layout.columns[layout.value]]!r} do not match the "
                              f"layer's other columns ({', '.join(repr(parts[c]) for c in layout.columns)})")
        for k, texts in enumerate(zip(*cells)):
            m = _WITH_ID.fullmatch(texts[layout.value])
            key = m[2] if m else f"{n}.{k}"
            if key in found:
                found[key][1] = n + 1
            else:
                found[key] = [n, n + 1, m[1] if m else texts[layout.value], list(texts)]
    return [tuple(x) for x in found.values()]


def _label(value: str, layout: Layout, notes: Counter[str]) -> str:
    label = _unescape(value)
    if label in _UNSET or label_problem(label):
        notes[f"values unset or not a label, read as {layout.unset}"] += 1
        return layout.unset
    return label


def _kept(layers: list[Layer], edited: Layer, rows: list[list[str]], layout: Layout, subtokens: list[list[str]]
          ) -> dict[str, int]:
    """What the sentence carries but nerloop does not edit: the other layers' annotations, by kind."""
    kept = Counter()
    for layer in layers:
        if layer is edited:
            continue
        entries = [e for parts in rows + subtokens for e in _entries(parts[layer.column])]
        ids = {m[2] for e in entries if (m := _WITH_ID.fullmatch(e))}
        unique = len(ids) + sum(not _WITH_ID.fullmatch(e) for e in entries) if layer.kind != "#T_RL=" else len(entries)
        kept[f"{layer.short} {_KINDS[layer.kind]}"] += unique
    if sub := sum(len(_entries(p[layout.columns[layout.value]])) for p in subtokens):
        kept[f"sub-token {edited.short} {_KINDS[edited.kind]}"] += sub
    return {k: n for k, n in kept.items() if n}


def _local(text: str, offsets: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
    """Offsets in the document (UTF-16 code units, as INCEpTION counts) as offsets in the sentence text, or None."""
    at, unit = {0: 0}, 0
    for i, ch in enumerate(text, 1):
        unit += 2 if ord(ch) > 0xFFFF else 1
        at[unit] = i
    base = offsets[0][0]
    local = [(at.get(a - base), at.get(b - base)) for a, b in offsets]
    return None if any(a is None or b is None for a, b in local) else local


def _rows(block: list[tuple[int, str]], width: int, name: str
          ) -> tuple[list[tuple[int, list[str]]], list[int], list[list[str]]]:
    """A block's word rows (line number, cells), where each is in the block, and its sub-token rows."""
    rows, at, subtokens = [], [], []
    for j, (i, line) in enumerate(block):
        if line.strip() and not line.startswith("#"):
            parts = _row(i, line, width, name)
            if _ROW.fullmatch(parts[0])[3]:
                subtokens.append(parts)
                continue
            if problem := word_problem(parts[2]):
                raise FormatError(name, i, problem)
            rows.append((i, parts))
            at.append(j)
    if not rows:
        raise FormatError(name, block[0][0], "a sentence without token rows")
    return rows, at, subtokens


def _unstacked(labelled: list[tuple]) -> tuple[list[tuple], list[tuple], int, int]:
    """(editable spans, carried spans, how many of those are stacked, how many duplicates): of spans on the same
    words with the same label the first is editable; of overlapping ones the outermost."""
    editable, stacked, duplicates = unstack([x[:3] for x in labelled])
    mine, rest, free = [], [], set(editable)
    for x in labelled:
        (mine if x[:3] in free else rest).append(x)
        free.discard(x[:3])
    return mine, rest, len(stacked), duplicates


def _sentence(block: list[tuple[int, str]], layers: list[Layer], edited: Layer, layout: Layout, stream: Stream,
              seen: LabelSet) -> Sentence:
    """One sentence of a block; its carry holds the block's lines and the edited layer's entries as read."""
    name = stream.name
    rows, at, subtokens = _rows(block, layout.width, name)
    labelled = [(a, b, _label(v, layout, stream.notes), texts) for a, b, v, texts in _spans(rows, layout, name)]
    mine, rest, stacked, duplicates = _unstacked(labelled)
    for a, _, label, _ in mine:
        if problem := seen.check(label):
            raise FormatError(name, rows[a][0], problem)
    kept = _kept(layers, edited, [p for _, p in rows], layout, subtokens) | {STACKED: stacked}
    stream.notes.update({f"kept, not editable: {k}": n for k, n in kept.items() if n})
    stream.notes.update({DUPLICATE_NOTE: duplicates} if duplicates else {})
    kept["duplicate spans"] = duplicates
    carry = {"format": NAME, "kept": {k: n for k, n in kept.items() if n}, "lines": [line for _, line in block],
             "rows": at, "spans": [list(x) for x in mine], "stacked": [list(x) for x in rest]}
    words = [p[2] for _, p in rows]
    tags = tags_from_spans(len(words), [x[:3] for x in mine])
    text = "\n".join(line[len("#Text="):] for _, line in block if line.startswith("#Text="))
    local = _local(text, [tuple(map(int, p[1].split("-"))) for _, p in rows])
    doc_id = PurePath(name).name.removesuffix(".tsv")
    if local is not None and all(text[a:b] == w for w, (a, b) in zip(words, local)):
        return Sentence(words, tags, text, local, doc_id, line=rows[0][0], carry=carry)
    s = joined_sentence(words, tags, doc_id=doc_id, line=rows[0][0])
    s.carry = carry
    return s


def _layout(head: list[tuple[int, str]], stream: Stream) -> tuple[list[Layer], Layer, Layout]:
    """The file's layers, the one edited (see _chosen) and the document's Layout (each sentence carries it: an export
    of some of them still knows their columns)."""
    layers = _layers([line for _, line in head])
    edited, value = _chosen(layers, stream.layer, stream.name, stream.notes)
    return layers, edited, Layout(tuple(line for _, line in head),
                                  tuple(range(edited.column, edited.column + edited.width)), value,
                                  3 + sum(x.width for x in layers), edited.short)


def read(stream: Stream) -> Iterator[Sentence]:
    """A sentence per block of rows, tagged with the edited layer's spans: the outermost of stacked ones, the others
    and every other layer carried (a sentence without spans has all O), with the document's header and layout."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    stream.scheme = "iob2"
    blocks = _blocks(stream)
    layers, edited, layout = _layout(next(blocks), stream)
    n = -1
    for n, block in enumerate(blocks):
        s = _sentence(block, layers, edited, layout, stream, seen)
        s.carry |= {"layout": layout.saved(), "first": n == 0}
        yield s
    if n < 0:
        raise FormatError(stream.name, 1, "empty file")


# ---------------------------------------------------------------- writing

def _entry(label: str, column: int, layout: Layout, span_id: int | None) -> str:
    value = ("*" if label == layout.unset else _escape(label)) if column == layout.value else "*"
    return value + (f"[{span_id}]" if span_id is not None else "")


def _cells(found: list[tuple[int, int, str]], carry: dict, n_words: int, layout: Layout,
           ids: Iterator[int]) -> list[list[str]]:
    """Each word's edited-layer cells: the spans as imported keep their entries (and ids), the stacked ones carried
    come back, new spans get fresh ids where they span words or stack."""
    imported = {(a, b, label): texts for a, b, label, texts in carry.get("spans", [])}
    placed = [(a, b, imported[(a, b, label)]) for a, b, label in found if (a, b, label) in imported]
    gone = {(a, b): texts for (a, b, label), texts in imported.items() if (a, b, label) not in found}
    new = []
    for a, b, label in (x for x in found if x not in imported):
        if (a, b) in gone:  # the same words, another label: its entries and id stay (relations point at it)
            texts = list(gone.pop((a, b)))
            texts[layout.value] = _entry(label, layout.value, layout, None) + _ID.search(texts[layout.value])[0]
            placed.append((a, b, texts))
        else:
            new.append((a, b, label))
    placed += [(a, b, texts) for a, b, _, texts in carry.get("stacked", [])]
    depth = Counter(t for a, b, *_ in placed + new for t in range(a, b))
    for a, b, label in new:
        span_id = next(ids) if b - a > 1 or any(depth[t] > 1 for t in range(a, b)) else None
        placed.append((a, b, [_entry(label, k, layout, span_id) for k in range(len(layout.columns))]))
    cells = [[[] for _ in layout.columns] for _ in range(n_words)]
    for a, b, texts in sorted(placed, key=lambda x: (x[0], -x[1])):
        for t in range(a, b):
            for k, text in enumerate(texts):
                cells[t][k].append(text)
    return ["|".join(c) or "_" for word in cells for c in word]


def _carried_block(s: Sentence, carry: dict, layout: Layout, ids: Iterator[int]) -> list[str]:
    """The sentence's lines as imported, the edited layer's cells rewritten when its spans changed."""
    found = spans(s.tags or [])
    if sorted(found) == sorted((a, b, label) for a, b, label, _ in carry["spans"]):
        return carry["lines"]
    cells, k = _cells(found, carry, len(s.words), layout, ids), len(layout.columns)
    lines = list(carry["lines"])
    for n, j in enumerate(carry["rows"]):
        parts = lines[j].split("\t")
        for c, column in enumerate(layout.columns):
            parts[column] = cells[n * k + c]
        lines[j] = "\t".join(parts)
    return lines


def _units(text: str) -> list[int]:
    """The UTF-16 offset of each character position of `text` (and of its end)."""
    return [0, *itertools.accumulate(2 if ord(ch) > 0xFFFF else 1 for ch in text)]


def _new_block(s: Sentence, number: int, start: int, layout: Layout, ids: Iterator[int]) -> list[str]:
    """A sentence nerloop did not read from TSV: #Text lines and a row a word at `start` in the document."""
    cells, k = _cells(spans(s.tags or []), {}, len(s.words), layout, ids), len(layout.columns)
    units = _units(s.text)
    rows = []
    for n, (word, (a, b)) in enumerate(zip(s.words, s.offsets)):
        columns = ["_"] * (layout.width - 3)
        for c, column in enumerate(layout.columns):
            columns[column - 3] = cells[n * k + c]
        rows.append(f"{number}-{n + 1}\t{start + units[a]}-{start + units[b]}\t{word}\t" + "".join(
            x + "\t" for x in columns))
    return [*(f"#Text={line}" for line in s.text.split("\n")), *rows, ""]


def _end(lines: list[str], rows: list[int]) -> int:
    """Where the last word row of carried lines ends in the document."""
    return int(lines[rows[-1]].split("\t")[1].split("-")[1])


def _document(group: list[Sentence]) -> str:
    """One TSV 3.3 document: its header and sentences as imported, or a NamedEntity|value one for other imports."""
    layout = Layout.of(carried(group[0], NAME) if group else {})
    lines = [line for s in group for line in carried(s, NAME).get("lines", [])]
    used = [int(x) for line in lines for m in _IDS.finditer(line) for x in m.groups() if x]
    ids = itertools.count(max(used, default=0) + 1)
    out, start = list(layout.head), 0
    for number, s in enumerate(group, 1):
        carry = carried(s, NAME)
        if carry.get("lines") and len(carry["rows"]) == len(s.words):
            out += _carried_block(s, carry, layout, ids)
            start = _end(carry["lines"], carry["rows"]) + 1
        else:
            out += _new_block(s, number, start, layout, ids)
            start += _units(s.text)[-1] + 1
    return "\n".join(out)


def _documents(sentences: Sequence[Sentence]) -> list[list[Sentence]]:
    """The sentences by document: a new one at another document or at the first sentence of an imported file."""
    docs: list[list[Sentence]] = []
    for s in sentences:
        if not docs or not s.same_document(docs[-1][-1]) or carried(s, NAME).get("first"):
            docs.append([])
        docs[-1].append(s)
    return docs


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str | bytes:
    """WebAnno TSV 3.3: one document as a .tsv; several as a zip of one .tsv a document (named after it)."""
    docs = _documents(sentences)
    if len(docs) <= 1:
        return _document(docs[0] if docs else [])
    buf, used = io.BytesIO(), set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, group in enumerate(docs, 1):
            zf.writestr(f"{document_stem(group[0].doc_id, k, used)}.tsv", _document(group))
    return buf.getvalue()


FORMAT = Format("webanno", (".tsv",), sniff, read, write, order=60, label="WebAnno / INCEpTION TSV 3")
