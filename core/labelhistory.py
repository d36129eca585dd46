"""A project's label set through time: each type added, renamed, merged or split (kept, and reversible), what an edit
does to tags, and which sentences are partial for a type: labelled before a person could give it."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from core.access import OWNER, Actor
from core.labels import check_labels
from core.store import ModelVersion, SentenceRow, Store

OPS = ("add", "rename", "merge", "split")


@dataclass(frozen=True)
class Edit:
    """One label-set edit: add T...; rename A to B; merge A, B... into C; split X into X1, X2... (stored X tags
    become X1, the first)."""

    op: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]

    @classmethod
    def of(cls, detail: dict) -> Edit:
        """The edit of a stored event's detail ({"op", "from", "to"})."""
        return cls(detail["op"], tuple(detail.get("from", ())), tuple(detail["to"]))

    def detail(self) -> dict:
        return {"op": self.op, "from": list(self.sources), "to": list(self.targets)}

    def type_map(self) -> dict[str, str]:
        """Stored type -> the type its tags hold after the edit."""
        return {s: self.targets[0] for s in self.sources}

    def retag(self, tags: Sequence[str]) -> list[str]:
        """Tags after the edit."""
        moved = self.type_map()
        return [t if t == "O" or t[2:] not in moved else f"{t[:2]}{moved[t[2:]]}" for t in tags]

    def labels_after(self, labels: Sequence[str]) -> list[str]:
        """The project's types after the edit: new ones where their sources were (added ones at the end)."""
        if self.op == "add":
            return [*labels, *self.targets]
        out: list[str] = []
        for label in labels:
            if label == self.sources[0]:
                out += [t for t in self.targets if t not in out]
            elif label not in self.sources:
                out.append(label)
        return out

    def describe(self) -> str:
        if self.op == "add":
            return f"added {', '.join(self.targets)}"
        verb = {"rename": "renamed", "merge": "merged", "split": "split"}[self.op]
        link = " into " if self.op in ("merge", "split") else " to "
        return f"{verb} {', '.join(self.sources)}{link}{', '.join(self.targets)}"


def plan(labels: Sequence[str], op: str, sources: Sequence[str], targets: Sequence[str]) -> Edit:
    """The checked edit of a project's types `labels` (ValueError naming what is wrong)."""
    if op not in OPS:
        raise ValueError(f"label edit must be one of {', '.join(OPS)}, not {op!r}")
    sources, targets = tuple(dict.fromkeys(sources)), tuple(dict.fromkeys(targets))
    missing = [s for s in sources if s not in labels]
    if missing:
        raise ValueError(f"{', '.join(missing)}: not among the project's labels ({', '.join(labels) or 'none'})")
    want = {"add": (0, 0, 1, None), "rename": (1, 1, 1, 1), "merge": (2, None, 1, 1), "split": (1, 1, 2, None)}[op]
    low_s, high_s, low_t, high_t = want
    if len(sources) < low_s or (high_s is not None and len(sources) > high_s):
        raise ValueError(f"{op} takes {'one type' if high_s == 1 else 'two types or more'} to change")
    if len(targets) < low_t or (high_t is not None and len(targets) > high_t):
        raise ValueError(f"{op} makes {'one type' if high_t == 1 else 'two types or more' if low_t == 2 else 'types'}")
    kept = set(sources) if op in ("merge", "split") else set()
    taken = [t for t in targets if t in labels and t not in kept]
    if taken:
        raise ValueError(f"{', '.join(taken)}: already a label of the project")
    edit = Edit(op, sources, targets)
    check_labels(edit.labels_after(labels))
    return edit


@dataclass(frozen=True)
class Event:
    """A stored edit: its id, when it was made, whether an undo reversed it (and, for an undo, which event)."""

    id: int
    edit: Edit | None  # None: an undo
    created: str
    undone: str | None = None
    undoes: int | None = None


def active(events: Iterable[Event]) -> list[Event]:
    """The edits in force, oldest first: neither undone nor undos."""
    return [e for e in events if e.edit is not None and e.undone is None]


def ambiguity(edits: Sequence[Edit]) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """After `edits` (those made since a sentence was labelled): the types each stored type may now be (only those
    not just itself), and the types its O words may hide (types added since)."""
    poss: dict[str, set[str]] = {}
    hidden: set[str] = set()
    for e in edits:
        if e.op == "add":
            hidden |= set(e.targets)
            continue
        repl = {s: set(e.targets) if e.op == "split" else {e.targets[0]} for s in e.sources}

        def sub(types: Iterable[str]) -> set[str]:
            return set().union(*(repl.get(x, {x}) for x in types))

        moved, new = e.type_map(), {}
        for key in {*poss, *e.sources}:
            new.setdefault(moved.get(key, key), set()).update(sub(poss.get(key, {key})))
        poss, hidden = new, sub(hidden)
    return {k: frozenset(v) for k, v in poss.items() if v != {k}}, frozenset(hidden)


def allowed(tags: Sequence[str], poss: dict[str, frozenset[str]], hidden: frozenset[str]
            ) -> list[tuple[str, ...]] | None:
    """Per word, the tags the word may truly have (its own first), or None when each word's tag is certain."""
    if not poss and not hidden:
        return None
    extra = tuple(f"{p}-{t}" for t in sorted(hidden) for p in "BI")
    out = []
    for tag in tags:
        if tag == "O":
            out.append(("O", *extra))
        else:
            others = sorted(poss.get(tag[2:], frozenset()) - {tag[2:]})
            out.append((tag, *(f"{tag[:2]}{t}" for t in others)))
    return out if any(len(a) > 1 for a in out) else None


class History:
    """A project's edits in force, answering for a label time: which edits came later, what they leave unsure."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.edits = active(events)
        self._cache: dict[int, tuple[dict[str, frozenset[str]], frozenset[str]]] = {}

    def since(self, when: str) -> list[Edit]:
        """The edits made after `when` (an ISO time: the same instant counts as before)."""
        return [e.edit for e in self.edits if e.created > when]

    def unsure(self, when: str) -> tuple[dict[str, frozenset[str]], frozenset[str]]:
        """`ambiguity` of the edits made after `when`, computed once per number of them."""
        n = sum(e.created > when for e in self.edits)
        if n not in self._cache:
            self._cache[n] = ambiguity([e.edit for e in self.edits[len(self.edits) - n:]])
        return self._cache[n]

    def allowed(self, tags: Sequence[str], when: str | None) -> list[tuple[str, ...]] | None:
        """Per word the tags a sentence labelled at `when` may truly have; None when it is complete."""
        return None if when is None else allowed(tags, *self.unsure(when))

    def partial_types(self, when: str | None) -> set[str]:
        """The types a sentence labelled at `when` is partial for (not asked for, or split since)."""
        if when is None:
            return set()
        poss, hidden = self.unsure(when)
        return set(hidden).union(*poss.values()) if poss else set(hidden)


def head_sources(edits: Sequence[Edit], old_labels: Sequence[str]) -> dict[str, list[str]]:
    """Tag -> the tags of a version trained before `edits` whose head rows start it (a rename keeps the row, a merge
    averages its sources', a split copies the old one to each part); only tags that changed."""
    src: dict[str, list[str]] = {}
    for e in edits:
        if e.op == "add":
            continue
        if e.op == "split":
            rows = src.pop(e.sources[0], [e.sources[0]])
            src.update({t: list(rows) for t in e.targets})
        else:
            rows = [r for s in e.sources for r in src.pop(s, [s])]
            src[e.targets[0]] = rows
    out = {}
    for new, olds in src.items():
        for p in "BI":
            have = [f"{p}-{o}" for o in olds if f"{p}-{o}" in old_labels]
            if have and have != [f"{p}-{new}"]:
                out[f"{p}-{new}"] = have
    return out


@dataclass(frozen=True)
class PartialRow(SentenceRow):
    """A train sentence labelled before some of today's types could be given: per word, the tags it may truly have
    (its own first); the trainer's loss sums over them (core.partial)."""

    allowed: tuple[tuple[str, ...], ...] | None = None


def events(store: Store, project_id: int) -> list[Event]:
    """The project's label events, oldest first."""
    return [Event(r["id"], None if r["op"] == "undo" else Edit.of(r["detail"]), r["created"], r["undone"],
                  r["detail"].get("event")) for r in store.label_events(project_id)]


def history(store: Store, project_id: int) -> History:
    return History(events(store, project_id))


def marked(store: Store, project_id: int, rows: Sequence[SentenceRow]) -> list[SentenceRow]:
    """`rows` with the partial ones as PartialRow (their allowed tags per word), the rest as they are."""
    hist = history(store, project_id)
    if not hist.edits:
        return list(rows)
    times = store.label_times(project_id)
    out: list[SentenceRow] = []
    for r in rows:
        ok = hist.allowed(r.tags, times.get(r.id)) if r.tags is not None else None
        out.append(r if ok is None else PartialRow(**{f.name: getattr(r, f.name) for f in fields(SentenceRow)},
                                                   allowed=tuple(ok)))
    return out


def partial(store: Store, project_id: int, splits: Sequence[str] = ("train", "dev")) -> dict[int, set[str]]:
    """Labelled sentences of `splits` that are partial: sentence id -> the types they were not labelled for."""
    hist = history(store, project_id)
    if not hist.edits:
        return {}
    out = {}
    for split in splits:
        for sid, when in store.label_times(project_id, split).items():
            if types := hist.partial_types(when):
                out[sid] = types
    return out


def edit(store: Store, project_id: int, op: str, sources: Sequence[str], targets: Sequence[str], *,
         actor: Actor = OWNER) -> Edit:
    """Apply one label-set edit to the project, its annotations, drafts, hidden gold and patterns (see plan)."""
    labels = store.project(project_id).labels
    e = plan(labels, op, sources, targets)
    store.edit_labels(project_id, e.detail(), e.labels_after(labels), e.retag, e.sources, actor=actor)
    return e


def undo(store: Store, project_id: int, *, actor: Actor = OWNER) -> Edit:
    """Reverse the latest label edit in force (kept in the history, marked undone): an added type is dropped (refused
    while an annotation uses it), a rename renamed back, a split merged back, a merge's tags restored (refused when
    annotations made since use a merged type that did not exist before). Returns the edit undone."""
    live = active(events(store, project_id))
    if not live:
        raise ValueError("no label edit to undo")
    last, labels = live[-1], store.project(project_id).labels
    e, restore = last.edit, False
    if e.op == "add" or (e.op == "merge" and e.targets[0] not in e.sources):
        used = store.label_uses(project_id, e.targets, since=None if e.op == "add" else last.created)
        if used:
            raise ValueError(f"cannot undo '{e.describe()}': {used} annotation(s) use {', '.join(e.targets)}"
                             f"{'' if e.op == 'add' else ' since'}; relabel them first")
    if e.op == "add":
        back, after = Edit("add", (), ()), [label for label in labels if label not in e.targets]
    elif e.op == "merge":
        back, restore = Edit("add", (), ()), True
        after = Edit("split", e.targets, e.sources).labels_after(labels)
    else:
        back = Edit("rename" if e.op == "rename" else "merge", e.targets, e.sources)
        after = back.labels_after(labels)
    check_labels(after)
    store.edit_labels(project_id, {"op": "undo", "event": last.id, "undoes": e.detail()}, after, back.retag,
                      back.sources, undo_of=last.id, restore=restore, actor=actor)
    return e


def head_map(store: Store, project_id: int, model: ModelVersion) -> dict[str, list[str]]:
    """For a warm start from `model`: tag -> its head rows' tags, through the label edits made since it was
    trained (see head_sources)."""
    try:
        config = json.loads((Path(model.folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    old = list((config.get("id2label") or {}).values())
    return head_sources([e.edit for e in active(events(store, project_id)) if e.created > model.created], old)


def pretag(tags: Sequence[str], predicted: Sequence[str], types: set[str]) -> list[str]:
    """A partial sentence's label with the predicted entities of `types` written in (the quick pass that adds a new
    type): where the label has O on every word of the span, or an entity of one of `types` on exactly that span (a
    split type's part)."""
    from core.metrics import entities

    out = list(tags)
    held = {(s, e): t for s, e, t in entities(tags)}
    for s, e, t in entities(predicted):
        if t in types and (all(x == "O" for x in tags[s:e]) or held.get((s, e)) in types):
            out[s:e] = [f"B-{t}"] + [f"I-{t}"] * (e - s - 1)
    return out
