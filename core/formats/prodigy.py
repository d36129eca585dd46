"""Prodigy JSONL (ner_manual and friends): `text`, `tokens` ({text, start, end, id, ws}), `spans` ({start, end,
label, token_start, token_end}), `answer` and `meta`. Only `accept` (or no answer: a source file) is gold; `reject`
and `ignore` records come in as unlabelled sentences, their spans and answer carried. Every other key (hashes,
`_view_id`, `_timestamp`, relations), the tokens and spans as written are carried back to a Prodigy export, which
otherwise writes what `prodigy db-in` takes."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence

from core.formats.base import Format, FormatError, Sentence, Stream, carried
from core.formats.jsonl import record_sentence
from core.formats.records import char_spans, count_kept, head_objects, json_lines, ws_after
from core.formats.recordcarry import FIELDS, Span, merged, record_carry
from core.labels import LabelSet

ANSWERS = ("accept", "reject", "ignore")
_UNACCEPTED = {"reject": "rejected", "ignore": "ignored"}
_MARKERS = ("answer", "_input_hash", "_task_hash", "_view_id", "_annotator_id", "_session_id")
_EDITED = ("text", "tokens", "spans", "meta")  # what the writer writes from the sentence (or carries when it differs)


def sniff(head: str) -> int:
    """3 when a record on the first lines carries Prodigy's keys (answer, hashes) or token indices on spans."""
    objs = head_objects(head) or []
    def marked(o: dict) -> bool:
        found = o.get("spans") if isinstance(o.get("spans"), list) else []
        return any(k in o for k in _MARKERS) or any(isinstance(sp, dict) and "token_start" in sp for sp in found)

    return 3 if any(map(marked, objs)) else 0


def _sentence(obj: object, stream: Stream, i: int, seen: LabelSet) -> Sentence:
    """One record -> Sentence (jsonl.record_sentence): tagged when accepted (or unanswered) and it has spans, else
    unlabelled; its annotator the record's `_annotator_id` or `_session_id`."""
    answer = obj.get("answer", "accept") if isinstance(obj, dict) else "accept"
    if answer not in ANSWERS:
        raise FormatError(stream.name, i, f"'answer' must be one of {', '.join(ANSWERS)}, not {answer!r}")
    who = (obj.get("_annotator_id") or obj.get("_session_id")) if isinstance(obj, dict) else None
    return record_sentence(obj, stream.name, i, seen, stream.notes, annotator=who if isinstance(who, str) else None,
                           fmt=stream.fmt, labelled=answer == "accept")


def _carry(obj: dict, s: Sentence, stream: Stream) -> dict:
    """The record less what the writer writes from the sentence; its tokens and spans when they differ from those."""
    carry = record_carry("prodigy", obj, _EDITED[:3] + (("meta",) if s.meta else ())) | (s.carry or {})
    tokens = _tokens(s, {})
    if "tokens" in obj and obj["tokens"] != tokens:
        carry["tokens"] = obj["tokens"]
    if "spans" in obj and obj["spans"] != (_new_spans(s, tokens) if s.tags is not None else []):
        carry["spans"] = obj["spans"]
    if (answer := obj.get("answer", "accept")) != "accept":
        stream.notes[f"records with answer {answer} kept unlabelled (not gold)"] += 1
        count_kept(carry, f"{answer} answers", 1)
    for kind, n in _kept(obj, answer, "tokens" in carry).items():
        count_kept(carry, kind, n)
        stream.notes[f"kept, not editable: {kind}"] += n
    return carry


def _kept(obj: dict, answer: str, tokens: bool) -> dict[str, int]:
    """What a record keeps that nerloop does not edit, by kind: the spans of a rejected or ignored record, relations,
    other keys (and its tokens when they are carried as written)."""
    def items(key: str) -> int:
        return len(obj[key]) if isinstance(obj.get(key), list) else 0

    kept = {f"spans of {_UNACCEPTED[answer]} records": items("spans")} if answer in _UNACCEPTED else {}
    kept |= {"relations": items("relations"),
             FIELDS: sum(k not in (*_EDITED, "answer", "relations") for k in obj) + tokens}
    return {kind: n for kind, n in kept.items() if n}


def read(stream: Stream) -> Iterator[Sentence]:
    """A sentence a record: accepted ones (and records without an answer) annotated by `_annotator_id` or
    `_session_id`, rejected and ignored ones unlabelled (never gold)."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    for i, obj in json_lines(stream):
        sentence = _sentence(obj, stream, i, seen)
        if sentence.tags is not None:
            stream.scheme = "iob2"
        sentence.carry = _carry(obj, sentence, stream)
        yield sentence


def _tokens(s: Sentence, carry: dict) -> list[dict]:
    """The tokens as imported when they still give the sentence's words, else its words with id and ws."""
    kept = carry.get("tokens")
    if kept and [(t["start"], t["end"]) for t in kept if t["text"].strip()] == list(map(tuple, s.offsets)):
        return kept
    return [{"text": w, "start": a, "end": b, "id": n, "ws": ws}
            for n, (w, (a, b), ws) in enumerate(zip(s.words, s.offsets, ws_after(s)))]


def _new_spans(s: Sentence, tokens: list[dict]) -> list[dict]:
    """A tagged sentence's spans with token_start and token_end (inclusive) in `tokens`."""
    return list(map(_span_item(tokens), char_spans(s)))


def _span_item(tokens: list[dict]) -> Callable[[Span], dict]:
    """What makes a span item of nerloop's own, its token indices in `tokens`."""
    starts = {t["start"]: n for n, t in enumerate(tokens)}
    ends = {t["end"]: n for n, t in enumerate(tokens)}
    return lambda x: {"start": x[0], "end": x[1], "label": x[2], "token_start": starts[x[0]], "token_end": ends[x[1]]}


def _key(item: dict) -> Span:
    return item["start"], item["end"], item["label"]


def _spans(s: Sentence, carry: dict, tokens: list[dict]) -> list[dict]:
    """An unlabelled record's spans as imported; a tagged one's matched back to their items, new ones added."""
    if s.tags is None:
        return carry.get("spans", [])
    if "spans" not in carry:
        return _new_spans(s, tokens)
    return merged(s.text, carry["spans"], _key, char_spans(s), carry.get("stacked", []), _span_item(tokens))


def _carried_record(s: Sentence, carry: dict) -> dict:
    """A record written back with its imported keys in their order; a record annotated in nerloop is accepted, an
    accepted one without an annotation in the project (hidden gold) is written without spans or answer."""
    fields, tokens = carry["fields"], _tokens(s, carry)
    made = {"text": s.text, "tokens": tokens, "spans": _spans(s, carry, tokens), "meta": s.meta}
    rec = {k: fields[k] if k in fields else made[k] for k in carry["keys"]}
    if s.tags is not None and "spans" not in rec:
        rec |= {"spans": made["spans"], "answer": "accept"}
    if s.tags is not None and rec.get("answer") in _UNACCEPTED:
        rec["answer"] = "accept"
    if s.tags is None and fields.get("answer", "accept") == "accept":  # accepted, but not annotated in the project
        rec = {k: v for k, v in rec.items() if k not in ("spans", "answer")}
    return rec


def _record(s: Sentence) -> dict:
    """A task of nerloop's own: text, tokens with id and ws, spans with token_start and token_end (inclusive), answer
    accept for a tagged sentence, the record's meta with doc_id when known."""
    rec: dict[str, object] = {"text": s.text, "tokens": _tokens(s, {})}
    if s.tags is not None:
        rec |= {"spans": _new_spans(s, rec["tokens"]), "answer": "accept"}
    meta = dict(s.meta or {})
    if s.doc_id is not None:
        meta.setdefault("doc_id", s.doc_id)
    if meta:
        rec["meta"] = meta
    return rec


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str:
    """A task a sentence: as imported from Prodigy (same keys, same order), else one of nerloop's own."""
    return "".join(json.dumps(_carried_record(s, c) if (c := carried(s, "prodigy")) else _record(s),
                              ensure_ascii=False) + "\n" for s in sentences)


FORMAT = Format("prodigy", (".jsonl", ".json"), sniff, read, write, order=30, mime="application/jsonl",
                label="Prodigy JSONL")
