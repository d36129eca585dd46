"""BRAT standoff: a folder or zip of `NAME.txt` + `NAME.ann`. Continuous `T` spans are the entities to edit (of
stacked ones, the outermost); every other line (events and their triggers, relations, attributes, normalisations, notes,
equivalences, discontinuous and stacked spans) is carried through with the document's text, so an export of the import
writes both files as they came, each edit on its own line (`dropped`: the carried lines an edit takes along)."""
from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from core.formats.base import Format, FormatError, Sentence, Stream, carried, decode, document_stem
from core.formats.records import STACKED, char_sentence, char_spans, unstack
from core.formats.text import split_sentences
from core.labels import LabelSet

_T_LINE = re.compile(r"(\S+) (\d+ \d+(?:;\d+ \d+)*)")
_KINDS = {"E": "events", "R": "relations", "A": "attributes", "M": "attributes", "N": "normalisations",
          "#": "notes", "*": "equivalences"}
TRIGGERS, DISCONTINUOUS, OTHER = "event triggers", "discontinuous spans", "other lines"
_DELETED, _LEFT_OUT = "whose entity was deleted", "in sentences left out of the export"
_UNLAID = "documents written a sentence a line, without their other lines (their first sentence left out)"

Entity = tuple[int, int, str, int]  # start, end, label, line number in the .ann
Line = str | dict  # a carried .ann line, or an editable entity's {"T": line, "at": [start, end] whitespace trimmed}


def _members(stream: Stream) -> dict[str, tuple[str, bytes]]:
    """Each .txt and .ann of the folder or zip: {relative name: (name in errors, bytes)}."""
    out = {}
    if isinstance(stream.source, (str, Path)) and Path(stream.source).is_dir():
        root = Path(stream.source)
        for path in sorted(root.rglob("*")):
            if path.suffix in (".txt", ".ann") and path.is_file():
                out[path.relative_to(root).as_posix()] = (str(path), path.read_bytes())
        return out
    try:
        with zipfile.ZipFile(io.BytesIO(stream.open_bytes())) as zf:
            for info in zf.infolist():
                parts = PurePosixPath(info.filename).parts
                if info.is_dir() or parts[0] == "__MACOSX" or parts[-1].startswith("."):
                    continue
                if info.filename.endswith((".txt", ".ann")):
                    out[info.filename] = (f"{stream.name}/{info.filename}", zf.read(info))
    except zipfile.BadZipFile as e:
        raise FormatError(stream.name, 1, f"not a zip archive of BRAT files ({e})") from None
    return out


def _fragments(line: str) -> tuple[str, str, list[tuple[int, int]]] | None:
    """A T line's (id, type, [(start, end), ...]), or None when it is not TYPE START END[;START END...]."""
    parts = line.split("\t")
    m = _T_LINE.fullmatch(parts[1]) if len(parts) > 1 else None
    if not m:
        return None
    return parts[0], m[1], [(int(a), int(b)) for a, b in (f.split(" ") for f in m[2].split(";"))]


def _triggers(lines: Sequence[str]) -> set[str]:
    """The ids of the T lines that are event triggers (`E1<TAB>TYPE:T3 ...`)."""
    return {parts[1].split(" ")[0].rsplit(":", 1)[-1] for line in lines if line.startswith("E")
            for parts in [line.split("\t")] if len(parts) > 1}


def _kind(line: str, triggers: set[str]) -> str | None:
    """What a carried line is, as a plural noun (None for a blank line)."""
    if not line.strip():
        return None
    if line.startswith("T"):
        found = _fragments(line)
        return DISCONTINUOUS if found and len(found[2]) > 1 else TRIGGERS if line.split("\t")[0] in triggers \
            else STACKED
    return _KINDS.get(line[0], OTHER)


def _parse(ann: str, name: str, text: str) -> tuple[list[Entity], list[Line], Counter[str]]:
    """The editable entities of an .ann file, its lines (theirs as placeholders), and what is carried, by kind."""
    lines: list[Line] = list(ann.split("\n"))
    triggers = _triggers(lines)
    candidates = []
    for i, line in enumerate(lines, 1):
        if not line.startswith("T"):
            continue
        found = _fragments(line)
        if found is None:
            raise FormatError(name, i, "a text-bound annotation needs ID<TAB>TYPE START END[;START END...]<TAB>TEXT,"
                                       f" found {line!r}")
        tid, label, frags = found
        for s, e in frags:
            if not 0 <= s < e <= len(text):
                raise FormatError(name, i, f"span ({s}, {e}) out of range (text length {len(text)})")
        if len(frags) > 1 or tid in triggers:
            continue
        (s, e), parts = frags[0], line.split("\t")
        if len(parts) > 2 and parts[2] != text[s:e].replace("\n", " "):
            raise FormatError(name, i, f"span ({s}, {e}) is {text[s:e]!r} in the text, not {parts[2]!r}")
        a, b = s + len(text[s:e]) - len(text[s:e].lstrip()), e - len(text[s:e]) + len(text[s:e].rstrip())
        if a >= b:
            raise FormatError(name, i, f"span ({s}, {e}) holds only whitespace")
        candidates.append((s, e, label, i, a, b))
    entities, _, _ = unstack(candidates, key=lambda x: (x[4], x[5]))
    for s, e, label, i, a, b in entities:
        lines[i - 1] = {"T": lines[i - 1], "at": [a, b]}
    kept = Counter(k for line in lines if isinstance(line, str) and (k := _kind(line, triggers)))
    return [(a, b, label, i) for _, _, label, i, a, b in entities], lines, kept


def _ranges(text: str, entities: list[Entity], language: str) -> list[tuple[int, int]]:
    """Sentence ranges, neighbours an entity straddles joined."""
    out: list[tuple[int, int]] = []
    for s, e in split_sentences(text, language):
        if out and any(a < out[-1][1] and b > s for a, b, _, _ in entities):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _document(stream: Stream, stem: str, members: dict[str, tuple[str, bytes]], seen: LabelSet
              ) -> Iterator[Sentence]:
    """The sentences of one document, the first carrying its text and .ann lines, each its offset in the text."""
    txt_name, txt = members[f"{stem}.txt"]
    ann_name, ann = members[f"{stem}.ann"]
    text = decode(txt, txt_name)
    entities, lines, kept = _parse(decode(ann, ann_name), ann_name, text)
    for kind, n in kept.items():
        stream.notes[f"kept, not editable: {kind}"] += n
    ranges = _ranges(text, entities, stream.language)
    for k, (a, b) in enumerate(ranges):
        inside = [(s - a, e - a, label, i) for s, e, label, i in entities if a <= s and e <= b]
        at = inside[0][3] if inside else 1

        def fail(problem: str, at: int = at) -> FormatError:
            return FormatError(ann_name, at, problem)

        carry = {"format": stream.fmt, "at": a}
        if k == 0:
            carry |= {"kept": dict(kept), "text": text, "ann": lines, "sentences": len(ranges)}
        yield char_sentence(text[a:b], [x[:3] for x in inside], fail=fail, seen=seen, notes=stream.notes,
                            fmt=stream.fmt, doc_id=stem, line=text.count("\n", 0, a) + 1, carry=carry)


def read(stream: Stream) -> Iterator[Sentence]:
    """Documents in name order, a sentence at a time, each tagged (an .ann without entities: no entity)."""
    members = _members(stream)
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    stems = sorted({n.rsplit(".", 1)[0] for n in members})
    if not stems:
        raise FormatError(stream.name, 1, "empty file (no .txt and .ann files)")
    stream.scheme = "iob2"
    for stem in stems:
        if f"{stem}.txt" not in members or f"{stem}.ann" not in members:
            have, lacks = (".txt", ".ann") if f"{stem}.txt" in members else (".ann", ".txt")
            raise FormatError(members[stem + have][0], 1, f"no {lacks} file beside it")
        yield from _document(stream, stem, members, seen)


# ---------------------------------------------------------------- writing

def _entity_line(tid: str, label: str, a: int, b: int, text: str) -> str:
    return f"{tid}\t{label} {a} {b}\t{text[a:b].replace(chr(10), ' ')}"


def _match(placeholders: list[tuple[int, dict]], spans: list[tuple[int, int, str]]
           ) -> tuple[dict[int, tuple[int, int, str]], list[tuple[int, int, str]]]:
    """Each imported entity (by line index) paired with the entity now on its range, else with one overlapping it (of
    its label first); and the entities left over (new ones)."""
    now = {(a, b): (a, b, label) for a, b, label in spans}
    pairs = {i: now.pop(tuple(entry["at"])) for i, entry in placeholders if tuple(entry["at"]) in now}
    left = list(now.values())
    for same_label in (True, False):
        for i, entry in placeholders:
            a, b = entry["at"]
            label = _fragments(entry["T"])[1]
            found = next((x for x in left if x[0] < b and a < x[1] and (x[2] == label or not same_label)), None)
            if i not in pairs and found is not None:
                pairs[i] = found
                left.remove(found)
    return pairs, left


def _edited(entry: dict, now: tuple[int, int, str] | None, text: str) -> str | None:
    """An imported entity's line as it is now: unchanged, relabelled in place, moved, or None (deleted)."""
    if now is None:
        return None
    tid, label, _ = _fragments(entry["T"])
    if [now[0], now[1]] == entry["at"]:
        if now[2] == label:
            return entry["T"]
        head, rest = entry["T"].split("\t", 1)
        return f"{head}\t{now[2]}{rest[len(label):]}"
    return _entity_line(tid, now[2], now[0], now[1], text)


def _refs(line: str) -> set[str]:
    """The ids a carried line names (`Arg1:T1`, `T4`, `TYPE:T3`)."""
    parts = line.split("\t")
    return {t.rsplit(":", 1)[-1] for t in parts[1].split(" ")} if len(parts) > 1 and not line.startswith("T") \
        else set()


def _carried_lines(lines: list[str | None], gone: dict[str, str], triggers: set[str], dropped: Counter[str]) -> None:
    """Drop (set to None) each carried line that refers to a gone id, and what refers to it in turn; an equivalence
    loses the gone members (the line goes when fewer than two are left). Counts what went in `dropped`."""
    changed = True
    while changed:
        changed = False
        for k, line in enumerate(lines):
            hit = [gone[r] for r in _refs(line or "") if r in gone]
            if not hit:
                continue
            changed = True
            if line.startswith("*"):
                head, members = line.split("\t", 1)[0], line.split("\t", 1)[1].split(" ")
                rest = [m for m in members[1:] if m not in gone]
                dropped[f"equivalence members {hit[0]}"] += len(members) - 1 - len(rest)
                lines[k] = f"{head}\t{' '.join([members[0], *rest])}" if len(rest) > 1 else None
                if len(rest) < 2:
                    dropped[f"equivalences {hit[0]}"] += 1
                continue
            gone[line.split("\t")[0]] = hit[0]
            dropped[f"{_kind(line, triggers)} {hit[0]}"] += 1
            lines[k] = None


def _blank(text: str, covered: list[tuple[int, int]]) -> str:
    """`text` with every character outside the `covered` ranges but whitespace made a space (offsets kept)."""
    inside = [False] * len(text)
    for a, b in covered:
        inside[a:b] = [True] * (b - a)
    return "".join(c if inside[n] or c.isspace() else " " for n, c in enumerate(text))


def _faithful(group: list[Sentence]) -> tuple[str, str, Counter[str]] | None:
    """A document imported from BRAT as (.txt, .ann, what was dropped): the original text (sentences left out of the
    export blanked), the .ann lines in their order; None when the group does not hold its document's carry."""
    doc = carried(group[0], "brat")
    if "text" not in doc:
        return None
    text, spans, covered = doc["text"], [], []
    for s in group:
        at = carried(s, "brat").get("at")
        if at is None or text[at:at + len(s.text)] != s.text:
            return None
        covered.append((at, at + len(s.text)))
        spans += [(at + a, at + b, label) for a, b, label in char_spans(s)]
    original, text = text, text if len(group) == doc["sentences"] else _blank(text, covered)
    lines: list = list(doc["ann"])
    placeholders = [(i, x) for i, x in enumerate(lines) if isinstance(x, dict)]
    pairs, new = _match(placeholders, spans)
    gone: dict[str, str] = {}
    for i, entry in placeholders:
        lines[i] = _edited(entry, pairs.get(i), text)
        if lines[i] is None:
            a, b = entry["at"]
            gone[entry["T"].split("\t")[0]] = _DELETED if any(x <= a and b <= y for x, y in covered) else _LEFT_OUT
    triggers, dropped = _triggers([x for x in lines if isinstance(x, str)]), Counter()
    for k, line in enumerate(lines if text != original else []):
        found = _fragments(line) if line and line.startswith("T") else None
        if found and any(text[a:b] != original[a:b] for a, b in found[2]):
            gone[found[0]] = _LEFT_OUT
            dropped[f"{_kind(line, triggers)} {_LEFT_OUT}"] += 1
            lines[k] = None
    _carried_lines(lines, gone, triggers, dropped)
    top = max((int(m[1]) for x in doc["ann"] if (m := re.match(r"T(\d+)\t", x if isinstance(x, str) else x["T"]))),
              default=0)
    return text, _ann(lines, new, text, top), dropped


def _ann(lines: list[str | None], new: list[tuple[int, int, str]], text: str, top: int) -> str:
    """The .ann text: the lines kept, in order, then the new entities numbered from T`top + 1`."""
    trailing = bool(lines) and lines[-1] == ""
    body = [x for x in (lines[:-1] if trailing else lines) if x is not None]
    body += [_entity_line(f"T{top + n}", label, a, b, text) for n, (a, b, label) in enumerate(new, 1)]
    return "".join(x + "\n" for x in body) if trailing or not lines else "\n".join(body)


def _plain(group: list[Sentence]) -> tuple[str, str]:
    """A document not imported from BRAT as (.txt: a sentence a line, .ann: its entities numbered T1, T2...)."""
    text, ann, pos = [], [], 0
    for s in group:
        line = s.text.replace("\r", " ").replace("\n", " ")
        for a, b, label in char_spans(s):
            ann.append(f"T{len(ann) + 1}\t{label} {pos + a} {pos + b}\t{line[a:b]}\n")
        text.append(line + "\n")
        pos += len(line) + 1
    return "".join(text), "".join(ann)


def _documents(sentences: Sequence[Sentence]) -> Iterator[tuple[str, str, str, Counter[str]]]:
    """Each document as (file stem, .txt, .ann, what was dropped): one per document name and id, in order."""
    groups: list[list[Sentence]] = []
    for s in sentences:
        if not groups or not s.same_document(groups[-1][-1]):
            groups.append([])
        groups[-1].append(s)
    used: set[str] = set()
    for k, group in enumerate(groups, 1):
        found = _faithful(group)
        txt, ann, dropped = found if found else (*_plain(group), Counter())
        if not found and any("at" in carried(s, "brat") for s in group):
            dropped[_UNLAID] += 1
        yield document_stem(group[0].doc_id, k, used), txt, ann, dropped


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> bytes:
    """A zip with a .txt and an .ann per document (names from the document names, made safe): as imported where the
    document came from BRAT, else a sentence a line with entities T1, T2..."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for stem, txt, ann, _ in _documents(sentences):
            zf.writestr(f"{stem}.txt", txt)
            zf.writestr(f"{stem}.ann", ann)
    return buf.getvalue()


def dropped(sentences: Sequence[Sentence]) -> dict[str, int]:
    """What a BRAT export of these sentences leaves out of the carried lines: those referring to a deleted entity
    (or to one in a sentence left out), by "<kind> <why>"."""
    return dict(sum((d for *_, d in _documents(sentences)), Counter()))


def sniff(names: str) -> int:
    """3 for a folder or zip listing an .ann file."""
    return 3 if any(n.endswith(".ann") for n in names.split("\n")) else 0


FORMAT = Format("brat", (".zip",), sniff, read, write, order=70, mime="application/zip",
                label="BRAT standoff (zip of .txt + .ann)", binary=True)
