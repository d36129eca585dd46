"""What the JSON formats share: records one a line with file:line errors, and a sentence built from a text and
character spans, its words split where a span edge falls inside one (other tools tokenise differently)."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from core.formats.base import FormatError, Sentence, Stream, json_int, spans, tags_from_spans
from core.formats.text import tokenize
from core.labels import LabelSet, text_problem, word_problem, words_problem

SPLIT_NOTE = "words split at span edges"
DUPLICATE_NOTE = "duplicate spans read as one"
STACKED = "stacked spans"  # what a carry's `kept` calls the spans under an outer one (not editable)
Fail = Callable[[str], FormatError]


def parse_json(text: str, name: str, line: int) -> object:
    """One JSON value; a problem is a FormatError at `line`."""
    try:
        return json.loads(text, parse_int=json_int)
    except json.JSONDecodeError as e:
        raise FormatError(name, line + e.lineno - 1, f"invalid JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise FormatError(name, line, "invalid JSON: nested too deeply") from None
    except ValueError as e:  # from json_int
        raise FormatError(name, line, f"invalid JSON: {e}") from None


def json_lines(stream: Stream) -> Iterator[tuple[int, object]]:
    """(line number, value) of each non-blank line; a file without one is an "empty file" error."""
    found = False
    for i, line in enumerate(stream.open_lines(), 1):
        if line.strip():
            found = True
            yield i, parse_json(line, stream.name, i)
    if not found:
        raise FormatError(stream.name, 1, "empty file")


def head_objects(head: str) -> list[dict] | None:
    """The JSON objects on the first lines of a file, or None when a line is not one (for sniffers)."""
    out = []
    for line in head.split("\n"):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(obj, dict):
            return None
        out.append(obj)
    return out or None


def checked_text(text: object, fail: Fail, key: str = "text") -> str:
    if not isinstance(text, str):
        raise fail(f"missing or non-string '{key}'")
    if problem := text_problem(text):
        raise fail(problem)
    return text


def doc_id_of(obj: dict, fail: Fail) -> str | None:
    """A record's `doc_id`, or its `meta.doc_id`, as a string."""
    doc_id = obj.get("doc_id")
    if doc_id is None and isinstance(obj.get("meta"), dict):
        doc_id = obj["meta"].get("doc_id")
    if isinstance(doc_id, bool) or (doc_id is not None and not isinstance(doc_id, (str, int))):
        raise fail("'doc_id' must be a string or integer")
    if isinstance(doc_id, str) and (problem := text_problem(doc_id)):
        raise fail(f"'doc_id' {problem.removeprefix('text ')}")
    return None if doc_id is None else str(doc_id)


def _split_words(toks: list[tuple[str, int, int]], cuts: set[int]) -> tuple[list[tuple[str, int, int]], int]:
    """Words cut at every offset of `cuts` strictly inside one; and how many words were cut."""
    out, split = [], 0
    for word, a, b in toks:
        inside = sorted(c for c in cuts if a < c < b) if cuts else []
        if not inside:
            out.append((word, a, b))
            continue
        split += 1
        edges = [a, *inside, b]
        out.extend((word[s - a:e - a], s, e) for s, e in zip(edges, edges[1:]))
    return out, split


def unstack(found: Sequence[tuple], key: Callable[[tuple], tuple[int, int]] = lambda x: (x[0], x[1])
            ) -> tuple[list[tuple], list[tuple], int]:
    """Spans as one editable layer: (kept, stacked, duplicates). An exact duplicate (same range and label) counts
    once; of overlapping spans the outermost (longest, then first) is kept and the others are stacked under it."""
    unique = list(dict.fromkeys(found))
    kept: list[tuple] = []
    stacked = []
    for span in sorted(unique, key=lambda x: (key(x)[0] - key(x)[1], key(x)[0])):
        a, b = key(span)
        if any(a < key(k)[1] and key(k)[0] < b for k in kept):
            stacked.append(span)
        else:
            kept.append(span)
    order = {span: n for n, span in enumerate(unique)}
    return (sorted(kept, key=order.__getitem__), sorted(stacked, key=order.__getitem__),
            len(found) - len(unique))


def count_kept(carry: dict, kind: str, n: int) -> None:
    """Add `n` of `kind` to what `carry` keeps (nothing when n is 0)."""
    if n:
        carry["kept"] = {**carry.get("kept", {}), kind: carry.get("kept", {}).get(kind, 0) + n}


def with_kept(carry: dict | None, fmt: str, kind: str, n: int, **data) -> dict | None:
    """`carry` (a new one for `fmt` when None) with `n` more of `kind` kept and `data` added; unchanged when n is 0."""
    if not n:
        return carry
    carry = dict(carry or {"format": fmt})
    count_kept(carry, kind, n)
    return carry | data


def char_sentence(text: str, char_spans: Sequence[tuple[int, int, str]] | None, *, fail: Fail, seen: LabelSet,
                  notes: Counter[str], tokens: list[tuple[str, int, int]] | None = None, fmt: str = "",
                  **fields) -> Sentence:
    """A Sentence of `text` (words from `tokens`, else tokenised) tagged with character spans (None: unlabelled).
    Whitespace at a span's edges is dropped; a word a span edge cuts is split there (counted in `notes`). Exact
    duplicate spans count once; spans under an outer one go to the sentence's carry for `fmt`'s writer as
    `stacked` [start, end, label] (both noted)."""
    if tokens is None:
        tokens = tokenize(text)
        if problem := words_problem([w for w, _, _ in tokens]):
            raise fail(problem)
    if not tokens:
        raise fail("no tokens in text")
    if char_spans is None:
        return Sentence([w for w, _, _ in tokens], None, text, [(s, e) for _, s, e in tokens], **fields)
    spans_read = []
    for s, e, label in char_spans:
        if not 0 <= s < e <= len(text):
            raise fail(f"span ({s}, {e}) out of range (text length {len(text)})")
        a, b = s + len(text[s:e]) - len(text[s:e].lstrip()), e - len(text[s:e]) + len(text[s:e].rstrip())
        if a >= b:
            raise fail(f"span ({s}, {e}) holds only whitespace")
        spans_read.append((a, b, label, s, e))
    trimmed, stacked, duplicates = unstack(spans_read, key=lambda x: (x[0], x[1]))  # spans meeting in a space don't
    if duplicates:
        notes[DUPLICATE_NOTE] += duplicates
    if stacked:
        notes[f"kept, not editable: {STACKED}"] += len(stacked)
        fields["carry"] = with_kept(fields.get("carry"), fmt, STACKED, len(stacked),
                                    stacked=[[s, e, label] for _, _, label, s, e in stacked])
    for _, _, label, s, e in trimmed:
        if problem := seen.check(label):
            raise fail(f"span ({s}, {e}): {problem}")
    trimmed.sort()
    tokens, split = _split_words(tokens, {x for a, b, *_ in trimmed for x in (a, b)})
    if split:
        notes[SPLIT_NOTE] += split
    for w, _, _ in tokens:
        if problem := word_problem(w):
            raise fail(f"word {w!r}: {problem}")
    starts = {s: n for n, (_, s, _) in enumerate(tokens)}
    ends = {e: n + 1 for n, (_, _, e) in enumerate(tokens)}
    word_spans = []
    for a, b, label, s, e in trimmed:
        if a not in starts or b not in ends:
            raise fail(f"span ({s}, {e}) {text[s:e]!r} is not on token boundaries")
        word_spans.append((starts[a], ends[b], label))
    return Sentence([w for w, _, _ in tokens], tags_from_spans(len(tokens), word_spans), text,
                    [(s, e) for _, s, e in tokens], **fields)


def ws_after(s: Sentence) -> list[bool]:
    """Whether each word of a sentence is followed by whitespace in its text."""
    return [e < len(s.text) and s.text[e].isspace() for _, e in s.offsets]


def char_spans(s: Sentence) -> list[tuple[int, int, str]]:
    """A tagged sentence's entities as (start char, end char, label)."""
    return [(s.offsets[a][0], s.offsets[b - 1][1], label) for a, b, label in spans(s.tags or [])]
