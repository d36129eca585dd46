"""Shared work over the store: the team's annotators, stored queues made with core.assign (overlap share and
copies set on the project), progress per annotator, and what an annotator may open a sentence with."""
from __future__ import annotations

from collections.abc import Sequence

from core import active
from core.access import OWNER, Actor
from core.assign import assign, visible
from core.store import Annotation, Store


def annotators(store: Store, project_id: int) -> list[str]:
    """The team: the project's members who annotate there, or, with none, the names that saved human labels in the
    project (imports under a name included)."""
    named = [m["name"] for m in store.members(project_id) if m["role"] == "annotator"]
    if named:
        return named
    return store.human_annotators(project_id)


def settings(store: Store, project_id: int) -> dict:
    """{"overlap": share, "copies": n} of the project."""
    project = store.project(project_id)
    return {"overlap": float(project.overlap), "copies": int(project.copies)}


def pool_order(store: Store, project_id: int, strategy: str | None = None) -> list[int]:
    """The project's unannotated, unflagged unlabelled sentences: by an active-learning strategy (core.active, the
    serving version's stored scores) when given, else in order."""
    if strategy:
        return active.suggest(store, project_id, None, strategy=strategy)
    return [r.id for r in active.pool_rows(store, project_id, None)]


def extend(store: Store, project_id: int, order: Sequence[int], team: Sequence[str] | None = None, *,
           actor: Actor = OWNER) -> dict[str, int]:
    """Assign the sentences of `order` not assigned to anyone yet, with the project's overlap setting, after what
    each annotator holds (the queues stay stable: nothing is reassigned). Returns sentences added per annotator."""
    team = list(team) if team is not None else annotators(store, project_id)
    if not team:
        raise ValueError("no annotators: add accounts with role annotator, or name them")
    held = {r["sentence_id"] for r in store.assignments(project_id)}
    fresh = [i for i in dict.fromkeys(order) if i not in held]
    conf = settings(store, project_id)
    queues = assign(fresh, team, conf["overlap"], min(conf["copies"], len(team))) if fresh and len(team) > 1 \
        else {a: list(fresh) if a == team[0] else [] for a in team}
    store.add_assignments(project_id, queues, actor=actor)
    return {a: len(q) for a, q in queues.items()}


def saved_by(store: Store, sentence_id: int) -> dict[str, Annotation]:
    """The latest human annotation of each annotator who saved the sentence."""
    return store.human_versions(sentence_id)


def queue(store: Store, project_id: int, annotator: str, *, remaining: bool = True) -> list[int]:
    """The annotator's stored queue, in order; `remaining`: only what they have not saved and is not flagged."""
    ids = [r["sentence_id"] for r in store.assignments(project_id, annotator)]
    if not remaining:
        return ids
    done = store.saved_ids(project_id, annotator) | store.flagged(project_id)
    return [i for i in ids if i not in done]


def progress(store: Store, project_id: int) -> list[dict]:
    """Per annotator with a queue: {"annotator", "assigned", "done", "overlapped"} (done: assigned sentences they
    saved; overlapped: assigned sentences shared with someone else)."""
    rows = store.assignments(project_id)
    shared: dict[int, int] = {}
    for r in rows:
        shared[r["sentence_id"]] = shared.get(r["sentence_id"], 0) + 1
    out = []
    for name in sorted({r["annotator"] for r in rows}):
        mine = [r["sentence_id"] for r in rows if r["annotator"] == name]
        done = store.saved_ids(project_id, name)
        out.append({"annotator": name, "assigned": len(mine), "done": sum(i in done for i in mine),
                    "overlapped": sum(shared[i] > 1 for i in mine)})
    return out


def opening(store: Store, sentence_id: int, annotator: str, *, reviewer: bool = False) -> tuple[list[str] | None,
                                                                                                  int | None]:
    """(tags, annotation id) the annotator opens the sentence with: their own latest save when they made one, else
    its label unless that is another annotator's they may not see yet (core.assign.visible), else (None, None):
    the model's suggestion or blank."""
    versions = saved_by(store, sentence_id)
    if annotator in versions:
        own = versions[annotator]
        return own.tags, own.id
    label = store.effective(sentence_id)
    if label is None:
        return None, None
    if label.source == "human" and label.annotator not in visible(
            annotator, assigned=store.assigned_to(sentence_id), saved=versions, reviewer=reviewer):
        return None, None
    return label.tags, label.id
