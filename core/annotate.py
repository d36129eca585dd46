"""Editing IOB2 tags word by word (the keyboard rules of the Annotate page), its working state (Draft), choosing
what to label next, and the light store queries the page runs on every rerun."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from core import formats
from core.access import OWNER, Actor
from core.store import Store

ORDERS = ("in order", "random", "least confident")


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


def order(ids: Sequence[int], how: str, *, confidence: dict[int, float] | None = None, seed: int = 0) -> list[int]:
    """Sentence ids in labelling order: as stored, shuffled (seeded), or least confident first."""
    if how == "in order":
        return list(ids)
    if how == "random":
        out = list(ids)
        random.Random(seed).shuffle(out)
        return out
    if how == "least confident":
        conf = confidence or {}
        return sorted(ids, key=lambda i: (conf.get(i, 1.0), i))
    raise ValueError(f"order must be one of {ORDERS}, not {how!r}")


def sentence_confidence(scores: Sequence[float]) -> float:
    """A sentence's confidence: the probability of its least certain word (1.0 when empty)."""
    return min(scores) if len(scores) else 1.0


# ---------------------------------------------------------------- the Annotate page's working state

FILTERS = ("unlabeled", "not human-checked", "all", "flagged")
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


def neighbour(queue: Sequence[int], current: int | None, step: int) -> int | None:
    """The sentence `step` places from `current` in `queue` (None past either end). A sentence outside the
    queue goes to the first queued id after it (step > 0) or the last one before it (step < 0)."""
    if not queue:
        return None
    if current is None:
        return queue[0] if step > 0 else queue[-1]
    if current in queue:
        k = queue.index(current) + step
        return queue[k] if 0 <= k < len(queue) else None
    if step > 0:
        return next((i for i in queue if i > current), None)
    return next((i for i in reversed(queue) if i < current), None)


def queue(index: Index, which: str, how: str, *, confidence: dict[int, float] | None = None,
          seed: int = 0) -> list[int]:
    """The sentences of filter `which` in order `how`. Random shuffles all of the project's ids, so the
    order of the remaining sentences stays put as sentences leave the filter."""
    pool = index.pool(which)
    if how == "random":
        keep = set(pool)
        return [i for i in order(index.ids, "random", seed=seed) if i in keep]
    return order(pool, how, confidence=confidence)


# ---------------------------------------------------------------- light queries for the page

@dataclass
class Index:
    """Every sentence id of a project (by id), which of them have human / any (human or gold) labels, and which are
    flagged as junk."""

    ids: list[int]
    human: set[int]
    labelled: set[int]
    flagged: set[int] = field(default_factory=set)
    members: set[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.members = set(self.ids)

    def __contains__(self, sentence_id: object) -> bool:
        return sentence_id in self.members

    def pool(self, which: str) -> list[int]:
        """Ids in a filter: no labels at all, no human annotation (any split), or all, never the flagged ones; or
        the flagged ones (to restore them)."""
        if which == "flagged":
            return [i for i in self.ids if i in self.flagged]
        if which == "unlabeled":
            return [i for i in self.ids if i not in self.labelled and i not in self.flagged]
        if which == "not human-checked":
            return [i for i in self.ids if i not in self.human and i not in self.flagged]
        if which == "all":
            return [i for i in self.ids if i not in self.flagged]
        raise ValueError(f"filter must be one of {FILTERS}, not {which!r}")


def index(store: Store, project_id: int) -> Index:
    """Ids, label flags and junk flags of a project's sentences, without loading words or tags."""
    rows = store.label_index(project_id)
    return Index([i for i, _, _ in rows], {i for i, human, _ in rows if human}, {i for i, _, any_ in rows if any_},
                 store.flagged(project_id))


def opening_tags(store: Store, sentence_id: int, *, opened: Sequence[str] | None, predicted: Sequence[str] | None,
                 matched: Sequence[str]) -> tuple[list[str], str]:
    """(tags, where from) a sentence opens with: the annotator's own or visible label (`opened`, core.team.opening),
    else the serving model's prediction, else a stored model suggestion (an import's predictions), else the pattern
    matches; where from: "label", "model", the suggester's name, or "patterns"."""
    if opened is not None:
        return list(opened), "label"
    if predicted is not None:
        return list(predicted), "model"
    stored = store.suggestion(sentence_id)
    if stored is not None and len(stored.tags) == len(matched):
        return list(stored.tags), stored.annotator or "model"
    return list(matched), "patterns"


# ---------------------------------------------------------------- the active-learning loop of the page

MEASURES = {"least confidence": "least_confidence", "margin": "margin", "entropy": "entropy", "BALD": "bald"}
AGGREGATES = {"max": "max", "mean": "mean", "MNLP": "mnlp"}


def strategy_spec(measure: str, aggregate: str, diverse: bool = False) -> str:
    """A core.active strategy spec from the page's choices, e.g. ("entropy", "MNLP", True) -> entropy:mnlp+diverse."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {tuple(MEASURES)}, not {measure!r}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {tuple(AGGREGATES)}, not {aggregate!r}")
    return f"{MEASURES[measure]}:{AGGREGATES[aggregate]}{'+diverse' if diverse else ''}"


def ranked_queue(pool: Sequence[int], ranked: Sequence[int]) -> list[int]:
    """The ranked ids that are in `pool`, best first, then the rest of the pool in its own order."""
    keep = set(pool)
    head = [i for i in dict.fromkeys(ranked) if i in keep]
    taken = set(head)
    return head + [i for i in pool if i not in taken]


def save(store: Store, sentence_id: int, tags: Sequence[str], *, annotator: str, actor: Actor = OWNER) -> int:
    """A human annotation of a sentence by `actor`; one from the unlabeled split moves to train, so the next training
    learns from it (one transaction). Returns the annotation id."""
    return store.save_human(sentence_id, tags, annotator=annotator, actor=actor)
