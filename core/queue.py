"""What to label next: the filters and orders of the Annotate page's queue, which ranking serves each order (the
live head, the serving version, its confidence) and the fallbacks when none can."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from core import active, labelhistory, live, retrain
from core.store import Job, LiveHead, ModelVersion, Store

FILTERS = ("unlabeled", "not human-checked", "partial", "all", "flagged")  # partial: see core.labelhistory
ORDERS = ("in order", "random", "least confident")
ACTIVE_LEARNING = "active learning"  # an order too: by a core.active strategy over the unlabelled pool
MINE = "assigned to me"  # a filter too: the annotator's stored queue (core.team), what they have not saved yet
RANK_POOL = 300  # "least confident" ranks at most this many sentences of the view per model version
DIVERSE_BATCH = 20  # with "+diverse", the first this many sentences are spread over embedding clusters
MEASURES = {"least confidence": "least_confidence", "margin": "margin", "entropy": "entropy", "BALD": "bald"}
AGGREGATES = {"max": "max", "mean": "mean", "MNLP": "mnlp"}


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


@dataclass
class Index:
    """Every sentence id of a project (by id), which of them have human / any (human or gold) labels, which are
    flagged as junk, and which are partial (labelled before some types could be given)."""

    ids: list[int]
    human: set[int]
    labelled: set[int]
    flagged: set[int] = field(default_factory=set)
    partial: dict[int, set[str]] = field(default_factory=dict)  # labelled before these types could be given
    members: set[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.members = set(self.ids)

    def __contains__(self, sentence_id: object) -> bool:
        return sentence_id in self.members

    def pool(self, which: str) -> list[int]:
        """Ids in a filter: no labels at all, no human annotation (any split), partial, or all, never the flagged
        ones; or the flagged ones (to restore them)."""
        if which == "flagged":
            return [i for i in self.ids if i in self.flagged]
        if which == "unlabeled":
            return [i for i in self.ids if i not in self.labelled and i not in self.flagged]
        if which == "not human-checked":
            return [i for i in self.ids if i not in self.human and i not in self.flagged]
        if which == "all":
            return [i for i in self.ids if i not in self.flagged]
        if which == "partial":
            return [i for i in self.ids if i in self.partial and i not in self.flagged]
        raise ValueError(f"filter must be one of {FILTERS}, not {which!r}")

    def window(self, which: str) -> list[int]:
        """The first sentences of a filter that "least confident" ranks (at most RANK_POOL)."""
        return self.pool(which)[:RANK_POOL]


def index(store: Store, project_id: int) -> Index:
    """Ids, label flags, junk flags and partial sentences of a project, without loading words or tags."""
    rows = store.label_index(project_id)
    return Index([i for i, _, _ in rows], {i for i, human, _ in rows if human}, {i for i, _, any_ in rows if any_},
                 store.flagged(project_id), labelhistory.partial(store, project_id, ("train", "dev", "test")))


def arrange(index: Index, which: str, how: str, *, confidence: dict[int, float] | None = None,
            seed: int = 0) -> list[int]:
    """The sentences of filter `which` in order `how`. Random shuffles all of the project's ids, so the
    order of the remaining sentences stays put as sentences leave the filter."""
    pool = index.pool(which)
    if how == "random":
        keep = set(pool)
        return [i for i in order(index.ids, "random", seed=seed) if i in keep]
    return order(pool, how, confidence=confidence)


def ranked_first(pool: Sequence[int], ranked: Sequence[int]) -> list[int]:
    """The ranked ids that are in `pool`, best first, then the rest of the pool in its own order."""
    keep = set(pool)
    head = [i for i in dict.fromkeys(ranked) if i in keep]
    taken = set(head)
    return head + [i for i in pool if i not in taken]


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


def strategy_spec(measure: str, aggregate: str, diverse: bool = False) -> str:
    """A core.active strategy spec from the page's choices, e.g. ("entropy", "MNLP", True) -> entropy:mnlp+diverse."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {tuple(MEASURES)}, not {measure!r}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {tuple(AGGREGATES)}, not {aggregate!r}")
    return f"{MEASURES[measure]}:{AGGREGATES[aggregate]}{'+diverse' if diverse else ''}"


def live_column(strategy: str | active.Strategy) -> str:
    """The live head's score column that serves `strategy`: its own, but entropy for BALD (the head has no dropout
    passes); a diverse batch is ranked without the spread (the head keeps no embeddings)."""
    spec = active.parse_strategy(strategy)
    return "entropy:mnlp" if spec.name == "bald" else spec.key


def suggest(store: Store, project_id: int, k: int | None = None, *, strategy: str = "entropy", seed: int = 0,
            token_budget: int | None = None, head: LiveHead | None = None) -> list[int]:
    """What to label next from the unlabelled pool (core.active.pool_rows), at most k sentences and token_budget
    words: by the uncertainty of `head` when the live head pre-tags (as the Annotate page ranks; the sentences it has
    not scored yet are left out), else by the serving version's stored scores (core.active.suggest)."""
    spec = active.parse_strategy(strategy)
    predictions = live.Predictions.read(head.file) if head is not None and spec.uncertain else None
    column = live_column(spec)
    if predictions is None or column not in predictions.uncertainty:
        return active.suggest(store, project_id, k, strategy=spec, seed=seed, token_budget=token_budget)
    rows = [r for r in active.pool_rows(store, project_id) if r.id in predictions.index]
    values = predictions.uncertainty[column][[predictions.index[r.id] for r in rows]]
    scores = active.PoolScores({column: values}, np.array([len(r.words) for r in rows], dtype=int))
    picked = active.select(scores, [r.words for r in rows], k, strategy=column, seed=seed,
                           token_budget=token_budget, min_words=active.MIN_WORDS)
    return [rows[i].id for i in picked]


def rank_pool(store: Store, project_id: int, strategy: str, size: int, *, seed: int = 0) -> list[int]:
    """The unlabelled pool ranked by `strategy` under the serving version (core.active.suggest); with `+diverse`,
    a first batch of DIVERSE_BATCH spread over clusters, then the rest by uncertainty."""
    spec = active.parse_strategy(strategy)
    ranked = active.suggest(store, project_id, max(size, 1), strategy=spec.key, seed=seed)
    if spec.diverse:
        ranked = active.suggest(store, project_id, DIVERSE_BATCH, strategy=spec, seed=seed) + ranked
    return ranked


@dataclass(frozen=True)
class Plan:
    """How a view is ordered. source: "mine" (the annotator's stored queue), "live" (the live head's uncertainty,
    by `column`), "version" (the serving version's stored scores), "confidence" (the serving version's confidence
    over the window), or "order" (`how`, no model). why: the fallback taken, for the page's note ("" when none):
    "cold" (no model), "entropy" (the live head cannot do BALD or diverse batches), "scoring" (a job is scoring the
    pool: random until it ends, then ranked again; `job`)."""

    source: str
    how: str = "in order"
    column: str | None = None
    why: str = ""
    job: Job | None = None

    @property
    def final(self) -> bool:
        """Whether the order may be kept until the data or the choices change (not while a job scores the pool)."""
        return self.why != "scoring"


def plan(store: Store, project_id: int, *, which: str, how: str, strategy: str | None, model: ModelVersion | None,
         head: LiveHead | None) -> Plan:
    """The ranking that serves order `how` over filter `which`, with `model` the serving version that can predict
    (None: none) and `head` the live head that pre-tags (core.learner.serving_head; None: none)."""
    if which == MINE:
        return Plan("mine")
    if how == "least confident":
        return Plan("confidence", how) if model is not None else Plan("order", "in order", why="cold")
    if how != ACTIVE_LEARNING:
        return Plan("order", how)
    if head is not None:  # active learning follows the live head after every save
        spec = active.parse_strategy(strategy or "entropy")
        return Plan("live", column=live_column(spec), why="entropy" if spec.name == "bald" or spec.diverse else "")
    if model is None:
        return Plan("order", "random", why="cold")
    if (job := retrain.scoring_job(store, project_id)) is not None:
        return Plan("order", "random", why="scoring", job=job)
    return Plan("version")
