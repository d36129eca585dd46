"""BRAT standoff: a folder or zip of `NAME.txt` + `NAME.ann`; text-bound annotations (`T1<TAB>PER 0 4<TAB>Anna`)
are entities, other lines (relations, events, notes) are ignored, a discontinuous span is an error. A document's
text is split into sentences as plain text is (an entity never straddles two: they are joined)."""
from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from core.formats.base import Format, FormatError, Sentence, Stream, decode
from core.formats.records import char_sentence, char_spans
from core.formats.text import split_sentences
from core.labels import LabelSet

_T_LINE = re.compile(r"(\S+) (\d+) (\d+)")


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


def _entities(ann: str, name: str, text: str) -> list[tuple[int, int, str, int]]:
    """The T lines of an .ann file as (start, end, label, line)."""
    out = []
    for i, line in enumerate(ann.split("\n"), 1):
        if not line.startswith("T"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise FormatError(name, i, "a text-bound annotation needs ID<TAB>TYPE START END<TAB>TEXT")
        if ";" in parts[1]:
            raise FormatError(name, i, f"discontinuous span {parts[1]!r} (not supported: split it in BRAT)")
        m = _T_LINE.fullmatch(parts[1])
        if not m:
            raise FormatError(name, i, f"expected TYPE START END, found {parts[1]!r}")
        s, e = int(m[2]), int(m[3])
        if not 0 <= s < e <= len(text):
            raise FormatError(name, i, f"span ({s}, {e}) out of range (text length {len(text)})")
        if len(parts) > 2 and parts[2] != text[s:e].replace("\n", " "):
            raise FormatError(name, i, f"span ({s}, {e}) is {text[s:e]!r} in the text, not {parts[2]!r}")
        out.append((s, e, m[1], i))
    return out


def _ranges(text: str, entities: list[tuple[int, int, str, int]], language: str) -> list[tuple[int, int]]:
    """Sentence ranges, neighbours an entity straddles joined."""
    out: list[tuple[int, int]] = []
    for s, e in split_sentences(text, language):
        if out and any(a < out[-1][1] and b > s for a, b, _, _ in entities):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def read(stream: Stream) -> Iterator[Sentence]:
    """Documents in name order, a sentence at a time, each tagged (an .ann without T lines: no entity)."""
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
        txt_name, txt = members[f"{stem}.txt"]
        ann_name, ann = members[f"{stem}.ann"]
        text = decode(txt, txt_name)
        entities = _entities(decode(ann, ann_name), ann_name, text)
        for a, b in _ranges(text, entities, stream.language):
            inside = [(s - a, e - a, label, i) for s, e, label, i in entities if a <= s and e <= b]
            at = inside[0][3] if inside else 1

            def fail(problem: str, at: int = at) -> FormatError:
                return FormatError(ann_name, at, problem)

            yield char_sentence(text[a:b], [x[:3] for x in inside], fail=fail, seen=seen, notes=stream.notes,
                                doc_id=stem, line=text.count("\n", 0, a) + 1)


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> bytes:
    """A zip with a .txt (a sentence a line) and an .ann per document (names from the document ids, made safe)."""
    docs: list[tuple[str | None, list[Sentence]]] = []
    for s in sentences:
        if not docs or not s.same_document(docs[-1][1][-1]):
            docs.append((s.doc_id, []))
        docs[-1][1].append(s)
    buf, used = io.BytesIO(), set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, (doc_id, group) in enumerate(docs, 1):
            stem = re.sub(r"[^\w.-]+", "_", doc_id or "").strip("._") or f"doc-{k}"
            stem = stem if stem not in used else f"{stem}-{k}"
            used.add(stem)
            text, ann, pos = [], [], 0
            for s in group:
                line = s.text.replace("\r", " ").replace("\n", " ")
                for a, b, label in char_spans(s):
                    ann.append(f"T{len(ann) + 1}\t{label} {pos + a} {pos + b}\t{line[a:b]}\n")
                text.append(line + "\n")
                pos += len(line) + 1
            zf.writestr(f"{stem}.txt", "".join(text))
            zf.writestr(f"{stem}.ann", "".join(ann))
    return buf.getvalue()


def sniff(names: str) -> int:
    """3 for a folder or zip listing an .ann file."""
    return 3 if any(n.endswith(".ann") for n in names.split("\n")) else 0


FORMAT = Format("brat", (".zip",), sniff, read, write, order=70, mime="application/zip",
                label="BRAT standoff (zip of .txt + .ann)", binary=True)
