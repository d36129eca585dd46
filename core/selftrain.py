"""Self-training: pseudo-label confident unlabelled sentences, train on them at a lower weight, and keep the
result only if dev F1 does not drop. Pseudo-labels are stored with source `model`, never as human or gold."""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from core import versions, vocab
from core.access import OWNER, Actor
from core.model import Tagger
from core.store import Store
from core.train import Event, TrainConfig, evaluate, labelled_pairs, train

THRESHOLD = 0.95  # every word's tag at least this probable
WEIGHT = 0.3  # loss weight of a pseudo-labelled sentence (a human or gold one weighs 1)
BALANCE = False  # cap entity-free pseudo-labels at the labelled set's share of entity-free sentences
ANNOTATOR = "self-training"


@dataclass
class Pseudo:
    """A confidently tagged sentence: its index in the pool, its tags and its lowest word probability."""

    index: int
    tags: list[str]
    confidence: float


@dataclass
class SelfTrainResult:
    """Outcome of one self-training round; `folder` is the model kept (the base one when rejected)."""

    accepted: bool
    base_f1: float
    new_f1: float
    n_pseudo: int
    folder: str
    candidate: str | None = None  # the self-trained model's folder; None when nothing was confident enough
    model_id: int | None = None  # store-level: the version registered for the candidate
    promoted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(threshold: float, weight: float, max_pseudo: int | None, balance: bool = BALANCE) -> None:
    """ValueError naming the option that is out of range."""
    if not isinstance(balance, bool):
        raise ValueError(f"pseudo_balance must be true or false, not {balance!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:
        raise ValueError(f"pseudo_threshold must be a number from 0 to 1, not {threshold!r}")
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0 < weight < math.inf:
        raise ValueError(f"pseudo_weight must be a positive number, not {weight!r}")
    if max_pseudo is not None and (isinstance(max_pseudo, bool) or not isinstance(max_pseudo, int) or max_pseudo < 0):
        raise ValueError(f"max_pseudo must be a whole number >= 0 or None, not {max_pseudo!r}")


@dataclass(frozen=True)
class SelfTraining:
    """The options of a self-training round, checked when made: every word's tag at least `threshold` probable, the
    loss weight of a pseudo-label, at most `max_pseudo` of them (None: no cap), entity-free ones `balance`d."""

    threshold: float = THRESHOLD
    weight: float = WEIGHT
    max_pseudo: int | None = None
    balance: bool = BALANCE

    def __post_init__(self) -> None:
        check(self.threshold, self.weight, self.max_pseudo, self.balance)


def pseudo_label(tagger: Tagger, sentences: Sequence[Sequence[str]], *, threshold: float = THRESHOLD,
                 limit: int | None = None, batch_size: int = 64) -> list[Pseudo]:
    """Sentences whose every word's predicted tag has probability >= threshold; most confident first, at most
    `limit`."""
    check(threshold, WEIGHT, limit)
    keep = [i for i, s in enumerate(sentences) if len(s)]
    preds = tagger.predict([sentences[i] for i in keep], batch_size=batch_size)
    found = [Pseudo(i, p.tags, min(p.scores)) for i, p in zip(keep, preds) if min(p.scores) >= threshold]
    found.sort(key=lambda p: (-p.confidence, p.index))
    return found if limit is None else found[:limit]


def balanced(pseudo: list[Pseudo], labelled_tags: Sequence[Sequence[str]], limit: int | None = None
             ) -> list[Pseudo]:
    """At most `limit` pseudo-labels (most confident first) whose share of entity-free sentences is at most the
    labelled set's: entity-free sentences are the easiest to be confident about, and too many of them teach misses."""
    share = (sum(all(t == "O" for t in tags) for tags in labelled_tags) / len(labelled_tags)) if labelled_tags else 1.0
    if share >= 1:
        return pseudo[:limit]
    entity = [p for p in pseudo if any(t != "O" for t in p.tags)]
    if limit is not None:
        entity = entity[: math.ceil(limit * (1 - share))]
    room = int(len(entity) * share / (1 - share))
    if limit is not None:
        room = min(room, limit - len(entity))
    free = [p for p in pseudo if all(t == "O" for t in p.tags)][:room]
    kept = {id(p) for p in entity + free}
    return [p for p in pseudo if id(p) in kept]


def _f1(tagger: Tagger, words: list[list[str]], tags: list[list[str]]) -> float:
    return evaluate(tagger, words, tags).f1


def _consume(events: Iterable[Event], on_event: Callable[[Event], None] | None) -> Event:
    last = None
    for last in events:
        if on_event is not None:
            on_event(last)
    return last


def _words(item: Any) -> list[str]:
    if isinstance(item, dict):
        return list(item["words"])
    return list(item.words) if hasattr(item, "words") else list(item)


def _dev(dev: Sequence) -> tuple[list[list[str]], list[list[str]]]:
    words, tags = labelled_pairs(dev)
    if not words:
        raise ValueError("self-training needs labelled dev sentences to accept or reject its result")
    return words, tags


@dataclass
class _Round:
    base_f1: float
    pseudo: list[Pseudo]
    final: Event | None = None  # the candidate's last training event, None when nothing was pseudo-labelled
    new_f1: float | None = None


def _round(cfg: TrainConfig, tagger: Tagger, labelled: Sequence, pool: list[list[str]], dev: Sequence, out: Path, *,
           threshold: float, weight: float, max_pseudo: int | None, balance: bool,
           on_event: Callable[[Event], None] | None, keep: Callable[[list[Pseudo]], list[Pseudo]] | None = None
           ) -> _Round:
    """Score the base `tagger` (from folder cfg.model) on dev, pseudo-label `pool` with it (balanced, at most
    `max_pseudo`), filter through `keep`, then (when any is left) train the candidate into `out` on labelled +
    pseudo-labels at `weight` and score it."""
    dev_words, dev_tags = _dev(dev)
    base_f1 = _f1(tagger, dev_words, dev_tags)
    pseudo = pseudo_label(tagger, pool, threshold=threshold)
    pseudo = balanced(pseudo, labelled_pairs(labelled)[1], max_pseudo) if balance else pseudo[:max_pseudo]
    if keep is not None:
        pseudo = keep(pseudo)
    if not pseudo:
        return _Round(base_f1, pseudo)
    data = list(labelled) + [{"words": pool[p.index], "tags": p.tags, "weight": weight} for p in pseudo]
    final = _consume(train(cfg, data, dev, out), on_event)
    return _Round(base_f1, pseudo, final, _f1(Tagger.load(str(out), device=cfg.device), dev_words, dev_tags))


def self_train(cfg: TrainConfig, labelled: Sequence, unlabelled: Sequence, dev: Sequence, out: str | Path, *,
               base: str | Path | None = None, threshold: float = THRESHOLD, weight: float = WEIGHT,
               max_pseudo: int | None = None, balance: bool = BALANCE,
               on_event: Callable[[Event], None] | None = None) -> SelfTrainResult:
    """Train on `labelled` into `<out>-base` (or take the trained `base` folder), pseudo-label `unlabelled` with it,
    then warm-start from it on labelled + pseudo-labels (at `weight`) into `out`: accepted when dev F1 does not drop."""
    check(threshold, weight, max_pseudo, balance)
    _dev(dev)
    out = Path(out)
    if base is None:
        base = out.with_name(out.name + "-base")
        _consume(train(cfg, labelled, dev, base), on_event)
    tagger = Tagger.load(str(base), device=cfg.device)
    cfg = replace(cfg, model=str(base), labels=cfg.labels or tagger.labels)
    r = _round(cfg, tagger, labelled, [_words(u) for u in unlabelled], dev, out, threshold=threshold, weight=weight,
               max_pseudo=max_pseudo, balance=balance, on_event=on_event)
    if r.new_f1 is None:
        return SelfTrainResult(False, r.base_f1, r.base_f1, 0, str(base))
    accepted = r.new_f1 >= r.base_f1
    return SelfTrainResult(accepted, r.base_f1, r.new_f1, len(r.pseudo), str(out if accepted else base), str(out))


def self_train_project(store: Store, project_id: int, *, base_model_id: int | None = None,
                       cfg: TrainConfig | None = None, options: SelfTraining = SelfTraining(),
                       promote: str = "better", out: str | Path | None = None,
                       on_event: Callable[[Event], None] | None = None, actor: Actor = OWNER,
                       job_id: int | None = None) -> SelfTrainResult:
    """Pseudo-label the project's train/unlabeled sentences that have no human or gold label and are not flagged as
    junk with a version (default: the serving one), store them (source `model`, that version's id), train and register
    a new version warm-started from it; promoted by `promote` only when accepted, otherwise marked rejected in its
    metrics; a promotion is audited as `actor` (who started training job `job_id`)."""
    if promote not in vocab.PROMOTE_POLICIES:
        raise ValueError(f"promote must be one of {vocab.PROMOTE_POLICIES}")
    project = store.project(project_id)
    base = store.model(base_model_id) if base_model_id is not None else store.serving(project_id)
    if base is None or base.project_id != project_id:
        raise ValueError(f"project {project.name!r}: no trained version to self-train from")
    train_rows, dev_rows = versions.training_data(store, project_id)
    _dev(dev_rows)
    cfg = replace(cfg or TrainConfig(), model=base.folder, labels=vocab.label_set(project.labels))
    pool = [r for split in ("train", "unlabeled") for r in store.sentences(project_id, split=split, flagged=False)
            if r.tags is None]
    reserved = versions.reserve(versions.model_root(store, project_id), f"self-{base.name}") if out is None else None
    out = Path(out) if out is not None else reserved

    def keep(items: list[Pseudo]) -> list[Pseudo]:
        """Store the pseudo-labels (in one transaction, once per base version); skip sentences a human labelled
        meanwhile, and tags outside the label set."""
        free = {r.id for r in store.sentences(project_id, ids=[pool[p.index].id for p in items])
                if r.tags is None}
        items = [p for p in items if pool[p.index].id in free and set(p.tags) <= set(cfg.labels)]
        stored = store.tagged_by(base.id, [pool[p.index].id for p in items])  # by an earlier run: kept once
        store.annotate_many([(pool[p.index].id, p.tags) for p in items if pool[p.index].id not in stored],
                            source="model", annotator=ANNOTATOR, model_id=base.id)
        return items

    try:
        tagger = Tagger.load(base.folder, device=cfg.device)
        r = _round(cfg, tagger, train_rows, [row.words for row in pool], dev_rows, out, **asdict(options),
                   on_event=on_event, keep=keep)
    finally:
        versions.release(reserved)  # when nothing was saved into it
    if r.new_f1 is None:
        return SelfTrainResult(False, r.base_f1, r.base_f1, 0, base.folder)
    accepted = r.new_f1 >= r.base_f1
    metrics = {k: v for k, v in r.final.info.items() if k != "config"}
    metrics.update(train_sentences=len(train_rows), train_tokens=sum(len(row.words) for row in train_rows),
                   pseudo_sentences=len(r.pseudo), self_training={
        "accepted": accepted, "base_model_id": base.id, "base_f1": r.base_f1, "new_f1": r.new_f1,
        **asdict(options)})
    model_id = store.add_model(project_id, folder=str(out), base_model=cfg.model, parent_id=base.id,
                               params=asdict(cfg), metrics=metrics, status="ready")
    promoted = accepted and versions.maybe_promote(store, project_id, model_id, promote, actor=actor, job_id=job_id,
                                                   tolerance=cfg.class_tolerance)
    return SelfTrainResult(accepted, r.base_f1, r.new_f1, len(r.pseudo), str(out) if accepted else base.folder,
                           str(out), model_id, promoted)
