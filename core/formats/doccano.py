"""doccano sequence-labelling JSONL: `text` with `label` as [start, end, type] triples, or the newer `entities`
variant ({start_offset, end_offset, label}). A record is a document of its own (its `doc_id`, else its `id`, else
`<file>-<line>`); `id`, `meta`, `Comments`, `relations` and any other key are carried back to a doccano export."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from core.formats.base import Format, FormatError, Sentence, Stream, carried, is_int
from core.formats.recordcarry import FIELDS, OFFSETS, OFFSETS_NOTE, Span, merged, offset_words, record_carry
from core.formats.records import (char_sentence, char_spans, checked_text, count_kept, doc_id_of, head_objects,
                                  json_lines)
from core.labels import LabelSet, text_problem

_KEPT = {"relations": "relations", "Comments": "comments"}  # keys whose items an import report counts


def _triple(x: object) -> bool:
    return isinstance(x, list) and len(x) == 3 and is_int(x[0]) and is_int(x[1]) and isinstance(x[2], str)


def sniff(head: str) -> int:
    """3 when a record on the first lines has a `label` list or `entities` with start_offset."""
    objs = head_objects(head) or []
    return 3 if any(isinstance(o.get("label"), list) or (
        isinstance(o.get("entities"), list) and any(isinstance(e, dict) and "start_offset" in e
                                                    for e in o["entities"])) for o in objs) else 0


def _entity(e: object) -> Span:
    return e["start_offset"], e["end_offset"], e["label"]


def _span_key(obj: dict) -> str | None:
    """The key that holds a record's spans: "entities", "label", or None (an unlabelled record)."""
    return "entities" if isinstance(obj.get("entities"), list) else "label" if "label" in obj else None


def _spans(obj: dict, fail) -> list[Span] | None:
    if _span_key(obj) == "entities":
        for e in obj["entities"]:
            if not (isinstance(e, dict) and is_int(e.get("start_offset")) and is_int(e.get("end_offset"))
                    and isinstance(e.get("label"), str)):
                raise fail("each entity must be an object with integer 'start_offset', 'end_offset' and string "
                           "'label'")
        return [_entity(e) for e in obj["entities"]]
    if "label" not in obj:
        return None
    if not (isinstance(obj["label"], list) and all(_triple(x) for x in obj["label"])):
        raise fail("'label' must be a list of [start, end, \"TYPE\"] triples")
    return [tuple(x) for x in obj["label"]]


def _document(obj: dict, stream: Stream, line: int, fail) -> str:
    """A record's document: its `doc_id` (or `meta.doc_id`), else its `id`, else `<file stem>-<line>`."""
    rid = obj.get("id")
    if (doc_id := doc_id_of(obj, fail)) is not None:
        return doc_id
    if is_int(rid) or (isinstance(rid, str) and rid.strip() and not text_problem(rid)):
        return str(rid)
    return f"{Path(stream.name).stem}-{line}"


def _words(obj: dict, text: str, notes) -> list[tuple[str, int, int]] | None:
    """The words nerloop's export named (`nerloop_offsets`, at the top or in `meta`) when they fit the text."""
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    value = obj.get(OFFSETS, meta.get(OFFSETS))
    if value is None:
        return None
    if (words := offset_words(value, text)) is None:
        notes[OFFSETS_NOTE] += 1
    return words


def _carry(obj: dict, s: Sentence, text_key: str, stream: Stream) -> dict:
    """The record as doccano wrote it, less what nerloop edits: the text and the spans (kept as written only when
    they differ from what the writer would write)."""
    key = _span_key(obj)
    carry = record_carry("doccano", obj, [text_key, key] + (["meta"] if s.meta else []))
    carry |= s.carry or {}
    if key and obj[key] != _default(s, carry):
        carry["spans"] = obj[key]
    counts = {kind: len(obj[k]) for k, kind in _KEPT.items() if isinstance(obj.get(k), list)}
    counts[FIELDS] = sum(k not in (text_key, key, "meta", "doc_id", OFFSETS, *_KEPT)
                         and not (k == "id" and s.doc_id == str(obj[k])) for k in obj)
    for kind, n in filter(lambda x: x[1], counts.items()):
        count_kept(carry, kind, n)
        stream.notes[f"kept, not editable: {kind}"] += n
    return carry


def read(stream: Stream) -> Iterator[Sentence]:
    """A record a line (a record with `label: []` is labelled: no entity)."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    for i, obj in json_lines(stream):
        def fail(problem: str, i: int = i) -> FormatError:
            return FormatError(stream.name, i, problem)

        if not isinstance(obj, dict):
            raise fail("expected a JSON object")
        text_key = "text" if "text" in obj else "data"
        text = checked_text(obj.get(text_key), fail)
        found = _spans(obj, fail)
        if found is not None:
            stream.scheme = "iob2"
        meta = obj.get("meta")
        s = char_sentence(text, found, fail=fail, seen=seen, notes=stream.notes, tokens=_words(obj, text, stream.notes),
                          fmt=stream.fmt, doc_id=_document(obj, stream, i, fail), line=i,
                          meta=meta if isinstance(meta, dict) and meta else None)
        s.carry = _carry(obj, s, text_key, stream)
        yield s


def _default(s: Sentence, carry: dict) -> list:
    """The `label` triples of a sentence's spans, then those carried as stacked."""
    return [[a, b, label] for a, b, label in char_spans(s)] + [list(x) for x in carry.get("stacked", [])]


def _spans_out(s: Sentence, carry: dict, key: str) -> list:
    """A record's spans as imported (the edited ones matched back to their items), new ones added."""
    if "spans" not in carry:
        return _default(s, carry)
    originals = carry["spans"]
    if key == "label":
        return merged(s.text, originals, tuple, char_spans(s), carry.get("stacked", []), list)
    ids = iter(range(max((e["id"] for e in originals if is_int(e.get("id"))), default=0) + 1, 1 << 62))
    return merged(s.text, originals, _entity, char_spans(s), carry.get("stacked", []),
                  lambda x: {"id": next(ids), "label": x[2], "start_offset": x[0], "end_offset": x[1]})


def _relations(value: object, originals: list, entities: list) -> object:
    """doccano relations less those of an entity no longer written (removed in nerloop)."""
    gone = {e.get("id") for e in originals} - {e.get("id") for e in entities}
    return [r for r in value if not (isinstance(r, dict) and {r.get("from_id"), r.get("to_id")} & gone)] \
        if isinstance(value, list) and gone else value


def _carried_record(s: Sentence, carry: dict) -> dict:
    """A record written back in its imported layout and key order, with the sentence's text and spans (none when it
    has no annotation)."""
    fields = carry["fields"]
    key = next((k for k in carry["keys"] if k not in fields and k in ("label", "entities")), "label")
    made = {"text": s.text, "data": s.text, "meta": s.meta}
    if s.tags is not None:
        made[key] = _spans_out(s, carry, key)
    rec = {k: fields[k] if k in fields else made[k] for k in carry["keys"] if k in fields or k in made}
    if key in made:
        rec[key] = made[key]
    if key == "entities" and "relations" in rec:
        rec["relations"] = _relations(rec["relations"], carry.get("spans", []), rec.get("entities", []))
    return rec


def _record(s: Sentence, doc_ids: bool) -> dict:
    """A record of nerloop's own: text, label triples (none for an untagged sentence), doc_id (null without one
    where others have one: doccano 1.8 refuses a file whose records differ in their keys), the words' offsets."""
    rec: dict[str, object] = {"text": s.text}
    if s.tags is not None:
        rec["label"] = [[a, b, label] for a, b, label in char_spans(s)]
    if doc_ids:
        rec["doc_id"] = s.doc_id
    rec[OFFSETS] = [list(o) for o in s.offsets]
    return rec


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str:
    """A record a sentence: as imported from doccano (same keys, same order), else one of nerloop's own; where
    both meet, every record gets every key (null where it had none: doccano 1.8 refuses records that differ)."""
    doc_ids = any(s.doc_id is not None for s in sentences)
    records = [_carried_record(s, c) if (c := carried(s, "doccano")) else _record(s, doc_ids) for s in sentences]
    if len({bool(carried(s, "doccano")) for s in sentences}) > 1:
        keys = list(dict.fromkeys(k for r in records for k in r))
        records = [{k: r.get(k) for k in keys} for r in records]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


FORMAT = Format("doccano", (".jsonl", ".json"), sniff, read, write, order=40, mime="application/jsonl",
                label="doccano JSONL")
