"""Label Studio tasks, as a JSON list (its JSON export), one task object, or one a line: `data.text`,
`annotations[].result[]` items of type `labels`. The latest annotation that was not cancelled is gold, its
`completed_by` the annotator; the latest prediction holding `labels` results is a model suggestion (its
`model_version` the suggester), never gold. Everything else of a task (ids, `meta`, other annotations, predictions,
results of other types) is carried through and written back by a Label Studio export. Export writes human and gold
tags as `annotations`, a model's as `predictions` with scores, and each task's words as `data.nerloop_offsets`."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from statistics import fmean

from core.formats.base import Format, FormatError, Sentence, Stream, carried, is_int, spans
from core.formats.recordcarry import OFFSETS, OFFSETS_NOTE, offset_words, trimmed
from core.formats.records import char_sentence, char_spans, checked_text, head_objects, json_lines, parse_json
from core.labels import LabelSet

PREDICTIONS_NOTE = "predictions kept as model suggestions (never gold)"
FMT = "labelstudio"
_OWN = ("data", "annotations", "predictions")  # task keys nerloop reads; the others are kept as fields


def sniff(head: str) -> int:
    """3 for a JSON list whose first lines hold `"data"`, one task object over several lines, or task records with
    a `data` object."""
    start = head.lstrip()[:1]
    if start == "[" and '"data"' in head:
        return 3
    objs = head_objects(head)
    if objs is None and start == "{" and any(f'"{key}"' in head for key in _OWN):
        return 3
    return 3 if any(isinstance(o.get("data"), dict) for o in objs or []) else 0


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def _tasks(stream: Stream) -> Iterator[tuple[int, object]]:
    """(line, task): the items of a JSON list, each at the line it starts on, one task object written over several
    lines, or one task a line."""
    lines = stream.open_lines()
    at, first = next(((n, line) for n, line in enumerate(lines, 1) if line.strip()), (1, None))
    if first is not None and first.lstrip().startswith("["):
        yield from _listed(stream)
    elif first is not None and first.lstrip().startswith("{") and not _is_json(first):
        text = "\n".join(stream.open_lines())
        if first.strip() != "{" and not _is_json(text):
            yield from json_lines(stream)  # a broken first record of a file of records: its own error
            return
        yield at, parse_json(text, stream.name, 1)
    else:
        yield from json_lines(stream)


def _listed(stream: Stream) -> Iterator[tuple[int, object]]:
    """(line, task) of each item of a JSON list, read one item at a time."""
    text = "\n".join(stream.open_lines())
    decoder, pos = json.JSONDecoder(), text.index("[") + 1

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\n,":
            pos += 1
        return pos

    pos = skip(pos)
    while pos < len(text) and text[pos] != "]":
        line = text.count("\n", 0, pos) + 1
        try:
            task, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            parse_json(text[pos:], stream.name, line)  # raises at the right line
            raise
        except RecursionError:
            raise FormatError(stream.name, line, "invalid JSON: nested too deeply") from None
        yield line, task
        pos = skip(pos)
    if pos >= len(text):
        raise FormatError(stream.name, text.count("\n") + 1, "invalid JSON: the list is not closed")


def _annotator(who: object) -> str | None:
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return None if who is None or isinstance(who, bool) else str(who)


def _is_entity(item: object) -> bool:
    """Whether a result item is an entity: of type `labels` (choices, relations, text areas are not)."""
    return isinstance(item, dict) and item.get("type") == "labels"


def _result_spans(result: object, fail) -> list[tuple[int, int, str]]:
    if not isinstance(result, list):
        raise fail("an annotation's 'result' must be a list")
    out = []
    for item in filter(_is_entity, result):
        value = item.get("value")
        if not (isinstance(value, dict) and is_int(value.get("start")) and is_int(value.get("end"))
                and isinstance(value.get("labels"), list) and len(value["labels"]) == 1
                and isinstance(value["labels"][0], str)):
            raise fail("a 'labels' result needs integer 'start', 'end' and one label in 'labels'")
        out.append((value["start"], value["end"], value["labels"][0]))
    return out


def _latest(items: list[dict]) -> dict | None:
    """The item updated or created last (of undated ones, the last listed)."""
    return max(reversed(items), key=lambda a: str(a.get("updated_at") or a.get("created_at") or ""), default=None)



def _suggested(s: Sentence, text: str, prediction: dict, fail, seen: LabelSet, notes: Counter[str]) -> Sentence:
    """Sentence `s` with the prediction's spans as its suggestion (words split at their edges too; spans stacked
    under others are not noted as kept apart: the prediction is kept whole)."""
    found, own = _result_spans(prediction.get("result"), fail), Counter()
    pred = char_sentence(text, found, fail=fail, seen=seen, notes=own,
                         tokens=[(w, a, b) for w, (a, b) in zip(s.words, s.offsets)])
    notes.update({why: n for why, n in own.items() if not why.startswith("kept, not editable")})
    if pred.words != s.words and s.tags is not None:  # the prediction split words: tag the gold on them again
        gold = [(s.offsets[a][0], s.offsets[b - 1][1], label) for a, b, label in spans(s.tags)]
        tokens = [(w, a, b) for w, (a, b) in zip(pred.words, pred.offsets)]
        s = replace(s, tags=char_sentence(text, gold, fail=fail, seen=seen, notes=Counter(), tokens=tokens).tags)
    version = prediction.get("model_version")
    return replace(s, words=pred.words, offsets=pred.offsets, suggestion=pred.tags,
                   suggested_by=f"Label Studio {version}" if version not in (None, "") else "Label Studio")


def _suggesting(predictions: list[dict]) -> dict | None:
    """The latest prediction that suggests entities: one with a `labels` result or an empty one (one without a
    list is refused when read)."""
    return _latest([p for p in predictions
                    if not isinstance(p.get("result"), list) or not p["result"] or any(map(_is_entity, p["result"]))])


def _kept(task: dict, read_at: int | None) -> dict[str, int]:
    """What a task holds that nerloop keeps but does not edit, by kind."""
    annotations, data = task.get("annotations") or [], task["data"]
    gold = {} if read_at is None else annotations[read_at]
    fields = ([k for k in task if k not in _OWN] + [k for k in data if k not in ("text", "doc_id", OFFSETS)]
              + [k for k in gold if k not in ("result", "completed_by")])
    return {"predictions": len(task.get("predictions") or []),
            "other annotations": len(annotations) - (read_at is not None),
            "other results": sum(not _is_entity(r) for r in gold.get("result") or []),
            "ids and other fields": len(fields)}


def _carry(s: Sentence, task: dict, read_at: int | None, offsets: bool, notes: Counter[str]) -> dict:
    """The sentence's carry: the task as it came (its text left out, the words' offsets when they were read from
    it), which annotation was read, and what is kept (noted)."""
    kept = {kind: n for kind, n in _kept(task, read_at).items() if n}
    for kind, n in kept.items():
        notes[f"kept, not editable: {kind}"] += n
    carry = dict(s.carry or {"format": FMT})
    data = task["data"] | {"text": None} | ({OFFSETS: None} if offsets else {})
    return carry | {"kept": carry.get("kept", {}) | kept, "task": task | {"data": data}, "read": read_at,
                    "offsets": offsets}


def _checked(task: object, fail) -> tuple[str, list[dict], list[dict]]:
    """A task's text, annotations and predictions (Label Studio's plain export lists only their ids: carried, not
    read), checked."""
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise fail("expected a task object with a 'data' object")
    text = checked_text(task["data"].get("text"), fail, "data.text")
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        raise fail("'annotations' must be a list of objects")
    predictions = task.get("predictions") or []
    if not isinstance(predictions, list) or not all(isinstance(p, dict) or is_int(p) for p in predictions):
        raise fail("'predictions' must be a list of objects (or of prediction ids)")
    return text, annotations, [p for p in predictions if isinstance(p, dict)]


def read(stream: Stream) -> Iterator[Sentence]:
    """A sentence a task, tagged by its latest non-cancelled annotation (untagged without one), suggested its latest
    prediction with entities; words from `data.nerloop_offsets` where they fit the text, else tokenised."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    for i, task in _tasks(stream):
        def fail(problem: str, i: int = i) -> FormatError:
            return FormatError(stream.name, i, problem)

        text, annotations, predictions = _checked(task, fail)
        live = [n for n, a in enumerate(annotations) if not a.get("was_cancelled")]
        latest = _latest([annotations[n] for n in live])
        read_at = next((n for n in live if annotations[n] is latest), None)
        found = None if latest is None else _result_spans(latest.get("result"), fail)
        if found is not None:
            stream.scheme = "iob2"
        tokens = offset_words(task["data"].get(OFFSETS), text)  # data key: as nerloop wrote them
        if tokens is None and OFFSETS in task["data"]:
            stream.notes[OFFSETS_NOTE] += 1
        doc_id = task["data"].get("doc_id")
        s = char_sentence(text, found, fail=fail, seen=seen, notes=stream.notes, line=i, tokens=tokens,
                          fmt=FMT, doc_id=None if doc_id is None else str(doc_id),
                          annotator=None if latest is None else _annotator(latest.get("completed_by")))
        if (prediction := _suggesting(predictions)) is not None:
            stream.notes[PREDICTIONS_NOTE] += 1
            s = _suggested(s, text, prediction, fail, seen, stream.notes)
        yield replace(s, carry=_carry(s, task, read_at, tokens is not None, stream.notes))



def _item(s: Sentence, span: tuple[int, int, str], rid: str, names: tuple[str, str]) -> dict:
    start, end, label = span
    return {"id": rid, "from_name": names[0], "to_name": names[1], "type": "labels",
            "value": {"start": start, "end": end, "text": s.text[start:end], "labels": [label]}}


def _results(s: Sentence, k: int, scores: Sequence[float] | None = None) -> list[dict]:
    """A tagged sentence's entities as `labels` results; with per-word `scores`, each with its words' mean."""
    out = []
    for n, (a, b, label) in enumerate(spans(s.tags or [])):
        item = _item(s, (s.offsets[a][0], s.offsets[b - 1][1], label), f"s{k}-{n}", ("label", "text"))
        out.append(item | ({"score": round(fmean(scores[a:b]), 4)} if scores is not None else {}))
    return out


def _merged(s: Sentence, k: int, result: list, stacked: list) -> list:
    """An imported annotation's `result` with the sentence's entities now: entities still there (and the stacked
    ones) kept as they came, removed ones dropped with the results that point at them, new ones added."""
    now, under = set(char_spans(s)), {tuple(x) for x in stacked}
    out, there, gone = [], set(), set()
    for item in result:
        if _is_entity(item):
            v = item["value"]
            span = trimmed(s.text, (v["start"], v["end"], v["labels"][0]))
            if span not in now and (v["start"], v["end"], v["labels"][0]) not in under:
                gone.add(item.get("id"))
                continue
            there.add(span)
        out.append(item)
    out = [r for r in out if _is_entity(r) or not ({r.get("id"), r.get("from_id"), r.get("to_id")} & gone - {None})]
    names = next(((r.get("from_name", "label"), r.get("to_name", "text")) for r in result if _is_entity(r)),
                 ("label", "text"))
    taken = {r.get("id") for r in result if isinstance(r, dict)}
    fresh = (rid for n in range(len(taken) + len(now) + 1) if (rid := f"s{k}-{n}") not in taken)
    return out + [_item(s, span, next(fresh), names) for span in char_spans(s) if span not in there]


def _carried_task(s: Sentence, k: int, carry: dict) -> dict:
    """The task a sentence came from, its text and words as they are now and its tags in the annotation read."""
    task = dict(carry["task"])
    task["data"] = task["data"] | {"text": s.text} | (
        {OFFSETS: [list(o) for o in s.offsets]} if carry.get("offsets") else {})
    if s.tags is None:
        return task
    annotations, at = list(task.get("annotations") or []), carry.get("read")
    if at is None:
        annotations.append({"result": _results(s, k)})
    else:
        gold = annotations[at]
        annotations[at] = gold | {"result": _merged(s, k, gold.get("result") or [], carry.get("stacked", []))}
    return task | {"annotations": annotations}


def task(s: Sentence, k: int) -> dict:
    """Task `k` of a sentence: the task it was imported from, with its tags now; else data.text, data.doc_id and
    the words' offsets (data.nerloop_offsets), its tags as one annotation."""
    if carry := carried(s, FMT):
        return _carried_task(s, k, carry)
    data: dict[str, object] = {"text": s.text} | ({"doc_id": s.doc_id} if s.doc_id is not None else {})
    data[OFFSETS] = [list(o) for o in s.offsets]
    return {"data": data} | ({"annotations": [{"result": _results(s, k)}]} if s.tags is not None else {})


def predicted_task(s: Sentence, k: int, scores: Sequence[float], model_version: str) -> dict:
    """Task `k` of a sentence a model tagged: its tags as one more prediction of `model_version`, each span scored by
    its words' mean probability, the prediction by all words' mean (a pre-annotation to review, never gold)."""
    base = task(replace(s, tags=None), k)
    return base | {"predictions": [*base.get("predictions", []), {
        "model_version": model_version, "score": round(fmean(scores), 4) if scores else 0.0,
        "result": _results(s, k, scores)}]}


def dump(tasks: Sequence[dict]) -> str:
    """Tasks as Label Studio's JSON import takes them: one list."""
    return json.dumps(list(tasks), ensure_ascii=False, indent=1) + "\n"


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str:
    """A JSON list of tasks (see `task`)."""
    return dump([task(s, k) for k, s in enumerate(sentences)])


FORMAT = Format("labelstudio", (".json", ".jsonl"), sniff, read, write, order=50, mime="application/json",
                label="Label Studio tasks")
