"""Label Studio tasks, as a JSON list (its JSON export) or one a line: `data.text`, `annotations[].result[]` items
of type `labels`. The latest annotation that was not cancelled is gold, its `completed_by` the annotator; the
latest of `predictions` is a model suggestion (its `model_version` the suggester), never gold. Export writes human
and gold tags as `annotations`, a model's as `predictions` with scores."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from collections import Counter
from dataclasses import replace
from statistics import fmean

from core.formats.base import Format, FormatError, Sentence, Stream, is_int, spans
from core.formats.records import char_sentence, checked_text, head_objects, json_lines, parse_json
from core.labels import LabelSet

PREDICTIONS_NOTE = "predictions kept as model suggestions (never gold)"


def sniff(head: str) -> int:
    """3 for a JSON list whose first lines hold `"data"`, or task records with a `data` object."""
    if head.lstrip().startswith("[") and '"data"' in head:
        return 3
    objs = head_objects(head) or []
    return 3 if any(isinstance(o.get("data"), dict) for o in objs) else 0


def _tasks(stream: Stream) -> Iterator[tuple[int, object]]:
    """(line, task): the items of a JSON list, each at the line it starts on, or one task a line."""
    lines = stream.open_lines()
    first = next((line for line in lines if line.strip()), None)
    if first is None or not first.lstrip().startswith("["):
        yield from json_lines(stream)
        return
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


def _result_spans(result: object, fail) -> list[tuple[int, int, str]]:
    if not isinstance(result, list):
        raise fail("an annotation's 'result' must be a list")
    out = []
    for item in result:
        if not isinstance(item, dict) or item.get("type") != "labels":
            continue  # choices, relations, text areas: not entities
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
    """Sentence `s` with the prediction's spans as its suggestion (words split at their edges too)."""
    found = _result_spans(prediction.get("result"), fail)
    pred = char_sentence(text, found, fail=fail, seen=seen, notes=notes,
                         tokens=[(w, a, b) for w, (a, b) in zip(s.words, s.offsets)])
    if pred.words != s.words and s.tags is not None:  # the prediction split words: tag the gold on them again
        gold = [(s.offsets[a][0], s.offsets[b - 1][1], label) for a, b, label in spans(s.tags)]
        tokens = [(w, a, b) for w, (a, b) in zip(pred.words, pred.offsets)]
        s = replace(s, tags=char_sentence(text, gold, fail=fail, seen=seen, notes=Counter(), tokens=tokens).tags)
    version = prediction.get("model_version")
    return replace(s, words=pred.words, offsets=pred.offsets, suggestion=pred.tags,
                   suggested_by=f"Label Studio {version}" if version not in (None, "") else "Label Studio")


def read(stream: Stream) -> Iterator[Sentence]:
    """A sentence a task, tagged by its latest non-cancelled annotation (untagged without one), suggested its latest
    prediction."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    for i, task in _tasks(stream):
        def fail(problem: str, i: int = i) -> FormatError:
            return FormatError(stream.name, i, problem)

        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise fail("expected a task object with a 'data' object")
        text = checked_text(task["data"].get("text"), fail, "data.text")
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise fail("'annotations' must be a list of objects")
        predictions = task.get("predictions") or []
        if not isinstance(predictions, list) or not all(isinstance(p, dict) for p in predictions):
            raise fail("'predictions' must be a list of objects")
        latest = _latest([a for a in annotations if not a.get("was_cancelled")])
        found = None if latest is None else _result_spans(latest.get("result"), fail)
        if found is not None:
            stream.scheme = "iob2"
        doc_id = task["data"].get("doc_id")
        s = char_sentence(text, found, fail=fail, seen=seen, notes=stream.notes, line=i,
                          doc_id=None if doc_id is None else str(doc_id),
                          annotator=None if latest is None else _annotator(latest.get("completed_by")))
        if predictions:
            stream.notes[PREDICTIONS_NOTE] += 1
            s = _suggested(s, text, _latest(predictions), fail, seen, stream.notes)
        yield s


def _results(s: Sentence, k: int, scores: Sequence[float] | None = None) -> list[dict]:
    """A tagged sentence's entities as `labels` results; with per-word `scores`, each with its words' mean."""
    out = []
    for n, (a, b, label) in enumerate(spans(s.tags or [])):
        start, end = s.offsets[a][0], s.offsets[b - 1][1]
        item = {"id": f"s{k}-{n}", "from_name": "label", "to_name": "text", "type": "labels",
                "value": {"start": start, "end": end, "text": s.text[start:end], "labels": [label]}}
        out.append(item | ({"score": round(fmean(scores[a:b]), 4)} if scores is not None else {}))
    return out


def task(s: Sentence, k: int) -> dict:
    """Task `k` of a sentence: data.text (and data.doc_id), its tags as one annotation."""
    data: dict[str, object] = {"text": s.text} | ({"doc_id": s.doc_id} if s.doc_id is not None else {})
    return {"data": data} | ({"annotations": [{"result": _results(s, k)}]} if s.tags is not None else {})


def predicted_task(s: Sentence, k: int, scores: Sequence[float], model_version: str) -> dict:
    """Task `k` of a sentence a model tagged: its tags as one prediction of `model_version`, each span scored by its
    words' mean probability, the prediction by all words' mean (a pre-annotation to review, never gold)."""
    return task(replace(s, tags=None), k) | {"predictions": [{
        "model_version": model_version, "score": round(fmean(scores), 4) if scores else 0.0,
        "result": _results(s, k, scores)}]}


def dump(tasks: Sequence[dict]) -> str:
    """Tasks as Label Studio's JSON import takes them: one list."""
    return json.dumps(list(tasks), ensure_ascii=False, indent=1) + "\n"


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str:
    """A JSON list of tasks: data.text (and data.doc_id), the tags as one annotation of `labels` results."""
    return dump([task(s, k) for k, s in enumerate(sentences)])


FORMAT = Format("labelstudio", (".json", ".jsonl"), sniff, read, write, order=50, mime="application/json",
                label="Label Studio tasks")
