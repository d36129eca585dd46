"""doccano sequence-labelling JSONL: `text` with `label` as [start, end, type] triples, or the newer `entities`
variant ({start_offset, end_offset, label}); other keys (id, Comments, relations) are ignored."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from core.formats.base import Format, FormatError, Sentence, Stream, is_int
from core.formats.records import char_sentence, char_spans, checked_text, doc_id_of, head_objects, json_lines
from core.labels import LabelSet


def _triple(x: object) -> bool:
    return isinstance(x, list) and len(x) == 3 and is_int(x[0]) and is_int(x[1]) and isinstance(x[2], str)


def sniff(head: str) -> int:
    """3 when a record on the first lines has a `label` list or `entities` with start_offset."""
    objs = head_objects(head) or []
    return 3 if any(isinstance(o.get("label"), list) or (
        isinstance(o.get("entities"), list) and any(isinstance(e, dict) and "start_offset" in e
                                                    for e in o["entities"])) for o in objs) else 0


def _spans(obj: dict, fail) -> list[tuple[int, int, str]] | None:
    if isinstance(obj.get("entities"), list):
        out = []
        for e in obj["entities"]:
            if not (isinstance(e, dict) and is_int(e.get("start_offset")) and is_int(e.get("end_offset"))
                    and isinstance(e.get("label"), str)):
                raise fail("each entity must be an object with integer 'start_offset', 'end_offset' and string "
                           "'label'")
            out.append((e["start_offset"], e["end_offset"], e["label"]))
        return out
    if "label" not in obj:
        return None
    if not (isinstance(obj["label"], list) and all(_triple(x) for x in obj["label"])):
        raise fail("'label' must be a list of [start, end, \"TYPE\"] triples")
    return [tuple(x) for x in obj["label"]]


def read(stream: Stream) -> Iterator[Sentence]:
    """A record a line (a record with `label: []` is labelled: no entity)."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    for i, obj in json_lines(stream):
        def fail(problem: str, i: int = i) -> FormatError:
            return FormatError(stream.name, i, problem)

        if not isinstance(obj, dict):
            raise fail("expected a JSON object")
        text = checked_text(obj.get("text", obj.get("data")), fail)
        found = _spans(obj, fail)
        if found is not None:
            stream.scheme = "iob2"
        yield char_sentence(text, found, fail=fail, seen=seen, notes=stream.notes, doc_id=doc_id_of(obj, fail),
                            line=i)


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str:
    """A record a sentence: text, label triples (none for an untagged sentence), doc_id when known."""
    lines = []
    for s in sentences:
        rec: dict[str, object] = {"text": s.text}
        if s.tags is not None:
            rec["label"] = [[a, b, label] for a, b, label in char_spans(s)]
        if s.doc_id is not None:
            rec["doc_id"] = s.doc_id
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    return "".join(lines)


FORMAT = Format("doccano", (".jsonl", ".json"), sniff, read, write, order=40, mime="application/jsonl",
                label="doccano JSONL")
