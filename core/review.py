"""Review: sentences whose annotators disagree (or whose human label the serving model contradicts), their versions
side by side, and the reviewer's decision, stored as an annotation with source `review` (the sentence's label ahead
of every human one; the history stays)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from core import predict
from core.access import OWNER, Actor
from core.model import Tagger
from core.store import Annotation, Store

MODEL_CHECK = 200  # human-labelled sentences the serving model re-tags when its disagreements are asked for


def versions(store: Store, sentence_id: int) -> dict[str, list[str]]:
    """The latest human tags of each annotator of the sentence: annotator -> tags."""
    return {name: row.tags for name, row in store.human_versions(sentence_id).items()}


def differing(tag_seqs: Sequence[Sequence[str]]) -> set[int]:
    """Token positions where the tag sequences do not all agree."""
    return {i for i, column in enumerate(zip(*tag_seqs)) if len(set(column)) > 1}


def decision(store: Store, sentence_id: int) -> Annotation | None:
    """The latest review annotation of the sentence when no human one came after it (it still holds), else None."""
    history = [h for h in store.history(sentence_id) if h.source in ("human", "review")]
    return history[-1] if history and history[-1].source == "review" else None


def disagreements(store: Store, project_id: int, *, reviewed: bool = False) -> list[dict]:
    """Sentences whose annotators' latest versions differ: {"sentence_id", "annotators", "tokens" (positions that
    differ), "reviewed"}; those already decided by a review only when `reviewed`."""
    out = []
    for sid in store.multi_annotated(project_id):
        seen = versions(store, sid)
        tokens = differing(list(seen.values()))
        if not tokens:
            continue
        done = decision(store, sid) is not None
        if reviewed or not done:
            out.append({"sentence_id": sid, "annotators": sorted(seen), "tokens": sorted(tokens), "reviewed": done})
    return out


def model_disagreements(store: Store, project_id: int, predicted: Mapping[int, Sequence[str]]) -> list[dict]:
    """Human-labelled sentences among `predicted` (id -> the serving model's tags) whose label the model
    contradicts: {"sentence_id", "tokens", "source"} of the label."""
    rows = store.sentences(project_id, ids=list(predicted), flagged=False)
    return [{"sentence_id": r.id, "tokens": sorted(differing([r.tags, predicted[r.id]])), "source": r.source}
            for r in rows if r.source in ("human", "review") and differing([r.tags, predicted[r.id]])]


def model_check(store: Store, project_id: int, tagger: Tagger, *, limit: int = MODEL_CHECK) -> list[dict]:
    """model_disagreements of `tagger` (the serving version's) over the project's first `limit` human-labelled
    sentences, none flagged."""
    rows = [r for r in store.sentences(project_id, flagged=False) if r.source in ("human", "review")][:limit]
    return model_disagreements(store, project_id, {i: tags for i, (tags, _) in predict.tag_rows(tagger, rows).items()})


def adjudicate(store: Store, sentence_id: int, tags: Sequence[str], *, reviewer: str, actor: Actor = OWNER) -> int:
    """Store the reviewer's tags as the sentence's label (source review); returns the annotation id."""
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ValueError("a review needs the reviewer's name")
    return store.save_human(sentence_id, list(tags), annotator=reviewer.strip(), source="review", actor=actor)


def accept(store: Store, sentence_id: int, annotator: str, *, reviewer: str, actor: Actor = OWNER) -> int:
    """Adopt one annotator's latest version as the sentence's label (a review annotation)."""
    seen = versions(store, sentence_id)
    if annotator not in seen:
        names = ", ".join(sorted(seen)) or "nobody"
        raise KeyError(f"sentence {sentence_id} has no human label by {annotator!r} (labelled by {names})")
    return adjudicate(store, sentence_id, seen[annotator], reviewer=reviewer, actor=actor)
