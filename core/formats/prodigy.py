"""Prodigy JSONL (ner_manual and friends): `text`, `tokens` ({text, start, end, id, ws}), `spans` ({start, end,
label, token_start, token_end}), `answer` and `meta`. Only `accept` (or no answer: a source file) is gold; `reject`
and `ignore` records are skipped and counted. Writes what `prodigy db-in` takes."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from core.formats.base import Format, FormatError, Sentence, Stream
from core.formats.jsonl import record_sentence
from core.formats.records import char_spans, head_objects, json_lines, ws_after
from core.labels import LabelSet

ANSWERS = ("accept", "reject", "ignore")
_MARKERS = ("answer", "_input_hash", "_task_hash", "_view_id", "_annotator_id", "_session_id")


def sniff(head: str) -> int:
    """3 when a record on the first lines carries Prodigy's keys (answer, hashes) or token indices on spans."""
    objs = head_objects(head) or []
    def marked(o: dict) -> bool:
        found = o.get("spans") if isinstance(o.get("spans"), list) else []
        return any(k in o for k in _MARKERS) or any(isinstance(sp, dict) and "token_start" in sp for sp in found)

    return 3 if any(map(marked, objs)) else 0


def read(stream: Stream) -> Iterator[Sentence]:
    """Accepted records (and records without an answer), annotated by `_annotator_id` or `_session_id`."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    for i, obj in json_lines(stream):
        answer = obj.get("answer", "accept") if isinstance(obj, dict) else "accept"
        if answer not in ANSWERS:
            raise FormatError(stream.name, i, f"'answer' must be one of {', '.join(ANSWERS)}, not {answer!r}")
        if answer != "accept":
            stream.notes[f"records with answer {answer} skipped"] += 1
            continue
        who = obj.get("_annotator_id") or obj.get("_session_id")
        sentence = record_sentence(obj, stream.name, i, seen, stream.notes, who if isinstance(who, str) else None)
        if sentence.tags is not None:
            stream.scheme = "iob2"
        yield sentence


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str:
    """A task a sentence: text, tokens with id and ws, spans with token_start and token_end (inclusive), answer
    accept for a tagged sentence, the record's meta with doc_id when known."""
    lines = []
    for s in sentences:
        starts = {a: n for n, (a, _) in enumerate(s.offsets)}
        ends = {b: n for n, (_, b) in enumerate(s.offsets)}
        rec: dict[str, object] = {"text": s.text, "tokens": [
            {"text": w, "start": a, "end": b, "id": n, "ws": ws}
            for n, (w, (a, b), ws) in enumerate(zip(s.words, s.offsets, ws_after(s)))]}
        if s.tags is not None:
            rec["spans"] = [{"start": a, "end": b, "label": label, "token_start": starts[a], "token_end": ends[b]}
                            for a, b, label in char_spans(s)]
            rec["answer"] = "accept"
        meta = dict(s.meta or {})
        if s.doc_id is not None:
            meta.setdefault("doc_id", s.doc_id)
        if meta:
            rec["meta"] = meta
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    return "".join(lines)


FORMAT = Format("prodigy", (".jsonl", ".json"), sniff, read, write, order=30, mime="application/jsonl",
                label="Prodigy JSONL")
