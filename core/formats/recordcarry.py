"""What the JSON-record formats (doccano, Prodigy) carry through a project: a record's keys in their order and the
values nerloop does not edit, its span items as written (matched back to the edited spans on export), and the words'
character offsets nerloop writes as `nerloop_offsets` so another tool's trip does not re-tokenise them."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from core.formats.base import is_int
from core.labels import word_problem

OFFSETS = "nerloop_offsets"  # a record's words as [start, end] character offsets (also Label Studio's task data)
OFFSETS_NOTE = f"{OFFSETS} that do not fit the text (words tokenised again)"
FIELDS = "record fields"  # what a carry's `kept` calls the keys of a record other than text, spans, meta, relations
Span = tuple[int, int, str]


def record_carry(fmt: str, obj: dict, edited: Sequence[str]) -> dict:
    """A carry for `fmt`'s writer: the record's keys in order and the value of each key not in `edited`."""
    return {"format": fmt, "keys": list(obj), "fields": {k: v for k, v in obj.items() if k not in edited}}


def trimmed(text: str, span: Span) -> Span:
    """A character span without the whitespace at its edges, as the readers read it."""
    a, b, label = span
    part = text[a:b]
    return a + len(part) - len(part.lstrip()), b - len(part) + len(part.rstrip()), label


def merged(text: str, originals: list, key: Callable[[object], Span], edited: Sequence[Span],
           stacked: Sequence[Span], new: Callable[[Span], object]) -> list:
    """The span items a record is written with: each original item (in its order, duplicates too) whose span is still
    annotated or was carried as stacked, then a `new` item for each annotated span no original has."""
    current, under = set(edited), {tuple(x) for x in stacked}
    out, matched = [], set()
    for item in originals:
        span = key(item)
        if span in under or trimmed(text, span) in current:
            out.append(item)
            matched.add(trimmed(text, span))
    return out + [new(span) for span in edited if span not in matched]


def offset_words(value: object, text: str) -> list[tuple[str, int, int]] | None:
    """The words `nerloop_offsets` gives `text`, or None when they do not fit it: [start, end] pairs in order, each a
    valid word, with only whitespace between them."""
    if not isinstance(value, list) or not value:
        return None
    words, prev = [], 0
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and all(is_int(x) for x in pair)):
            return None
        a, b = pair
        if not prev <= a < b <= len(text) or text[prev:a].strip() or word_problem(text[a:b]):
            return None
        words.append((text[a:b], a, b))
        prev = b
    return None if text[prev:].strip() else words
