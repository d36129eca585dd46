"""Editing IOB2 tags word by word (the keyboard rules of the Annotate page), its working state (Draft), the span
editor's actions and the tags a sentence opens with; what to label next is core.queue's."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from core import formats, labelhistory
from core.store import Store


def _type(tag: str) -> str | None:
    return None if tag == "O" else tag[2:]


def repair(tags: Sequence[str]) -> list[str]:
    """Make a tag sequence valid IOB2: an I-X that does not continue an X entity becomes B-X."""
    out = list(tags)
    for i, tag in enumerate(out):
        if tag.startswith("I-") and (i == 0 or _type(out[i - 1]) != tag[2:]):
            out[i] = "B-" + tag[2:]
    return out


def set_label(tags: Sequence[str], i: int, label: str | None) -> list[str]:
    """Give word i the entity type `label` (None clears it): I- when it continues the previous word's entity,
    else B-; pressing the same label again on a continuing word starts a new entity there."""
    out = list(tags)
    if label is None:
        out[i] = "O"
    elif out[i] == f"I-{label}":
        out[i] = f"B-{label}"
    elif i > 0 and _type(out[i - 1]) == label and out[i] != f"B-{label}":
        out[i] = f"I-{label}"
    else:
        out[i] = f"B-{label}"
    return repair(out)


def label_span(tags: Sequence[str], start: int, end: int, label: str | None) -> list[str]:
    """Make words start..end-1 exactly one entity of type `label` (B- then I-; None clears them); a word after the
    span that continued an entity there starts its own."""
    out = list(tags)
    for k in range(start, end):
        out[k] = "O" if label is None else f"{'B' if k == start else 'I'}-{label}"
    if end < len(out) and out[end].startswith("I-"):
        out[end] = "B-" + out[end][2:]
    return repair(out)


def entity_at(tags: Sequence[str], i: int) -> tuple[int, int] | None:
    """(first word, end exclusive) of the entity containing word i, or None when word i is O."""
    if not 0 <= i < len(tags) or tags[i] == "O":
        return None
    start = i
    while tags[start].startswith("I-") and start > 0 and _type(tags[start - 1]) == _type(tags[i]):
        start -= 1
    end = i + 1
    while end < len(tags) and tags[end] == f"I-{_type(tags[i])}":
        end += 1
    return start, end


def remove_span(tags: Sequence[str], i: int) -> list[str]:
    """The whole entity under word i set to O (unchanged when word i is O)."""
    span = entity_at(tags, i)
    return list(tags) if span is None else label_span(tags, *span, None)


def clear_all(tags: Sequence[str]) -> list[str]:
    """Every word O."""
    return ["O"] * len(tags)


def entity_jump(tags: Sequence[str], cursor: int, step: int) -> int:
    """The first word of the next (step > 0) or previous (step < 0) entity from the cursor; the cursor itself
    when there is none."""
    starts = [s for s, _, _ in formats.spans(tags)]
    if step > 0:
        return next((s for s in starts if s > cursor), cursor)
    return next((s for s in reversed(starts) if s < cursor), cursor)


def entity_count(tags: Sequence[str]) -> dict[str, int]:
    """Number of entities per type."""
    counts: dict[str, int] = {}
    for tag in tags:
        if tag.startswith("B-"):
            counts[tag[2:]] = counts.get(tag[2:], 0) + 1
    return counts


# ---------------------------------------------------------------- the Annotate page's working state

UNDO_DEPTH = 200


@dataclass
class Draft:
    """The working tags of one sentence: what it opened with (and the annotation id they came from), a word
    cursor, an undo stack and a version that changes on every edit."""

    tags: list[str]
    start: list[str] = field(default_factory=list)
    cursor: int = 0
    version: int = 0
    undo_stack: list[tuple[list[str], int]] = field(default_factory=list)
    basis: int | None = None

    @classmethod
    def open(cls, tags: Sequence[str], *, basis: int | None = None) -> "Draft":
        return cls(list(tags), start=list(tags), basis=basis)

    @property
    def dirty(self) -> bool:
        return self.tags != self.start

    def move(self, step: int) -> None:
        self.cursor = max(0, min(len(self.tags) - 1, self.cursor + step))

    def label(self, label: str | None, *, advance: bool = True) -> None:
        """set_label on the cursor word (None clears), then move the cursor to the next word."""
        self._change(set_label(self.tags, self.cursor, label))
        if advance:
            self.move(1)

    def label_span(self, start: int, end: int, label: str | None) -> None:
        """label_span on words start..end-1 (None clears them); the cursor goes to the word after the span."""
        self._change(label_span(self.tags, start, end, label))
        self.cursor = max(0, min(len(self.tags) - 1, end))

    def remove_span(self, i: int) -> None:
        """The whole entity under word i becomes O."""
        self._change(remove_span(self.tags, i))

    def clear_all(self) -> None:
        self._change(clear_all(self.tags))

    def replace(self, tags: Sequence[str | None]) -> None:
        """Take a whole tag sequence (from the table view); empty cells become O, then IOB2 is repaired."""
        if len(tags) != len(self.tags):
            raise ValueError(f"{len(tags)} tags for a sentence of {len(self.tags)} words")
        self._change(repair([t or "O" for t in tags]))

    def undo(self) -> bool:
        """Restore the tags and cursor before the last change; False when there is nothing to undo."""
        if not self.undo_stack:
            return False
        self.tags, self.cursor = self.undo_stack.pop()
        self.version += 1
        return True

    def _change(self, tags: list[str]) -> None:
        if tags == self.tags:
            return
        self.undo_stack = (self.undo_stack + [(self.tags, self.cursor)])[-UNDO_DEPTH:]
        self.tags = tags
        self.version += 1


# ---------------------------------------------------------------- actions of the span editor
# The page's span editor (pages/static/span_editor.js) renders each action at once with the same rules and sends
# them in order as {"kind", "sid", "seq", ...}; Python applies them here. A new kind goes in one of the tuples, in
# `apply` (or the page, for sentence actions) and in the JavaScript.

EDIT_KINDS = ("label", "remove", "clear_all", "move", "cursor", "home", "end", "next_entity", "prev_entity", "undo")
SENTENCE_KINDS = ("save", "accept", "next", "prev", "flag")  # they leave the sentence: the page runs them


def apply(draft: Draft, action: Mapping, *, labels: Sequence[str] | None = None) -> None:
    """Apply one editing action to a draft. label: `label` (None clears) on word `at` then the cursor moves on,
    or on the selected words `start`..`end`-1 as one entity; remove: the entity under word `at`; move: `step`
    words; cursor: to word `at`; home / end / next_entity / prev_entity: cursor jumps; undo."""
    kind, n = action.get("kind"), len(draft.tags)

    def word(name: str, hi: int = n - 1) -> int:
        value = action.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= hi:
            raise ValueError(f"{kind} action: {name} must be a word index 0..{hi}, not {value!r}")
        return value

    if kind == "label":
        label = action.get("label")
        if label is not None and labels is not None and label not in labels:
            raise ValueError(f"label action: {label!r} is not one of this project's labels {list(labels)}")
        if "end" in action:
            start = word("start")
            end = word("end", n)
            if end <= start:
                raise ValueError(f"label action: empty span {start}..{end}")
            draft.label_span(start, end, label)
        else:
            draft.cursor = word("at")
            draft.label(label)
    elif kind == "remove":
        draft.cursor = word("at")
        draft.remove_span(draft.cursor)
    elif kind == "clear_all":
        draft.clear_all()
    elif kind == "move":
        step = action.get("step")
        if step not in (-1, 1):
            raise ValueError(f"move action: step must be -1 or 1, not {step!r}")
        draft.move(step)
    elif kind == "cursor":
        draft.cursor = word("at")
    elif kind in ("home", "end"):
        draft.cursor = 0 if kind == "home" else n - 1
    elif kind in ("next_entity", "prev_entity"):
        draft.cursor = entity_jump(draft.tags, draft.cursor, 1 if kind == "next_entity" else -1)
    elif kind == "undo":
        draft.undo()
    else:
        raise ValueError(f"unknown editing action {kind!r}: one of {EDIT_KINDS}")


def new_actions(actions: object, applied: int) -> list[dict]:
    """The actions of a batch not yet applied (sequence number above `applied`), in sequence order; anything that
    is not an action with an integer seq is left out."""
    if not isinstance(actions, list):
        return []
    fresh = [a for a in actions if isinstance(a, dict) and isinstance(a.get("seq"), int) and a["seq"] > applied]
    return sorted(fresh, key=lambda a: a["seq"])


# ---------------------------------------------------------------- what a sentence opens with

def opening_tags(store: Store, sentence_id: int, *, opened: Sequence[str] | None, predicted: Sequence[str] | None,
                 matched: Sequence[str], missing: set[str] | None = None) -> tuple[list[str], str]:
    """(tags, where from) a sentence opens with: the annotator's own or visible label (`opened`, core.team.opening;
    a partial one pre-tagged with the prediction's entities of the `missing` types, "label+model"), else the serving
    model's prediction, else a stored model suggestion (an import's predictions), else the pattern matches; where
    from: "label", "label+model", "model", the suggester's name, or "patterns"."""
    if opened is not None and missing and predicted is not None:
        filled = labelhistory.pretag(opened, predicted, missing)
        return filled, "label+model" if filled != list(opened) else "label"
    if opened is not None:
        return list(opened), "label"
    if predicted is not None:
        return list(predicted), "model"
    stored = store.suggestion(sentence_id)
    if stored is not None and len(stored.tags) == len(matched):
        return list(stored.tags), stored.annotator or "model"
    return list(matched), "patterns"
