"""nerloop's JSONL: a record a line with `text`, optional `tokens` ({text, start, end}), character `spans`
({start, end, label}), `doc_id` (or `meta.doc_id`) and a `meta` object, kept as it is; spans stacked under another
and a record's other fields are carried through to the JSONL writer."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence

from core.formats.base import Format, FormatError, Sentence, Stream, carried, is_int
from core.formats.recordcarry import FIELDS
from core.formats.records import (char_sentence, char_spans, checked_text, doc_id_of, head_objects, json_lines,
                                  with_kept)
from core.labels import LabelSet, word_problem

OWN_KEYS = ("text", "tokens", "spans", "doc_id", "meta", "source", "model")  # source, model: what nerloop's export adds


def sniff(head: str) -> int:
    """2 when the first lines are JSON objects with a string `text`."""
    objs = head_objects(head)
    return 2 if objs and all(isinstance(o.get("text"), str) for o in objs) else 0


def record_tokens(obj: dict, text: str, fail) -> list[tuple[str, int, int]] | None:
    """A record's `tokens` as (word, start, end), whitespace tokens dropped; None when it has none."""
    if obj.get("tokens") is None:
        return None
    if not isinstance(obj["tokens"], list):
        raise fail("'tokens' must be a list")
    toks, prev_end = [], 0
    for n, t in enumerate(obj["tokens"], 1):
        if not (isinstance(t, dict) and isinstance(t.get("text"), str) and is_int(t.get("start"))
                and is_int(t.get("end"))):
            raise fail(f"token {n} must be an object with string 'text' and integer 'start', 'end'")
        s, e = t["start"], t["end"]
        if not (prev_end <= s < e <= len(text)) or text[s:e] != t["text"]:
            raise fail(f"token {n} {t['text']!r} offsets ({s}, {e}) do not match the text")
        prev_end = e
        if t["text"].strip():
            if problem := word_problem(t["text"]):
                raise fail(f"token {n}: {problem}")
            toks.append((t["text"], s, e))
    return toks


def record_spans(obj: dict, fail) -> list[tuple[int, int, str]] | None:
    """A record's `spans` as (start, end, label); None when it has none."""
    if obj.get("spans") is None:
        return None
    if not isinstance(obj["spans"], list):
        raise fail("'spans' must be a list")
    out = []
    for sp in obj["spans"]:
        if not (isinstance(sp, dict) and is_int(sp.get("start")) and is_int(sp.get("end"))
                and isinstance(sp.get("label"), str)):
            raise fail("each span must be an object with integer 'start', 'end' and string 'label'")
        out.append((sp["start"], sp["end"], sp["label"]))
    return out


def record_sentence(obj: object, name: str, i: int, seen: LabelSet, notes: Counter[str],
                    annotator: str | None = None, fmt: str = "", labelled: bool = True) -> Sentence:
    """One record -> Sentence, spans stacked under another carried for `fmt`'s writer (its spans unread when not
    `labelled`: an unlabelled sentence); every problem raises FormatError at line i."""
    def fail(problem: str) -> FormatError:
        return FormatError(name, i, problem)

    if not isinstance(obj, dict):
        raise fail("expected a JSON object")
    text = checked_text(obj.get("text"), fail)
    tokens = record_tokens(obj, text, fail)
    found = record_spans(obj, fail) if labelled else None
    meta = obj.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise fail("'meta' must be an object")
    return char_sentence(text, found, fail=fail, seen=seen, notes=notes, tokens=tokens, doc_id=doc_id_of(obj, fail),
                         line=i, annotator=annotator, meta=meta or None, fmt=fmt)


def read(stream: Stream) -> Iterator[Sentence]:
    """A record a line; sets stream.scheme to "iob2" once a record has spans."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    for i, obj in json_lines(stream):
        sentence = record_sentence(obj, stream.name, i, seen, stream.notes, fmt=stream.fmt)
        if other := {k: v for k, v in obj.items() if k not in OWN_KEYS}:
            stream.notes[f"kept, not editable: {FIELDS}"] += len(other)
            sentence.carry = with_kept(sentence.carry, stream.fmt, FIELDS, len(other), fields=other)
        if sentence.tags is not None:
            stream.scheme = "iob2"
        yield sentence


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str:
    """A record a sentence: text, tokens, spans when tagged (with those a JSONL import stacked), doc_id and meta when
    known, and the other fields a JSONL import carried."""
    lines = []
    for s in sentences:
        carry = carried(s, "jsonl")
        rec: dict[str, object] = {"text": s.text, "tokens": [
            {"text": w, "start": a, "end": b} for w, (a, b) in zip(s.words, s.offsets)]}
        if s.tags is not None:
            found = sorted([*char_spans(s), *map(tuple, carry.get("stacked", ()))], key=lambda x: (x[0], -x[1]))
            rec["spans"] = [{"start": a, "end": b, "label": label} for a, b, label in found]
        if s.doc_id is not None:
            rec["doc_id"] = s.doc_id
        if s.meta:
            rec["meta"] = s.meta
        rec |= {k: v for k, v in carry.get("fields", {}).items() if k not in rec}
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    return "".join(lines)


FORMAT = Format("jsonl", (".jsonl", ".json"), sniff, read, write, order=20, mime="application/jsonl",
                label="JSONL spans")
