"""What to label next: the filters and orders of the Annotate page's queue, which ranking serves each order (the
live head, the serving version, its confidence) and the fallbacks when none can."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from core import active, retrain
from core.store import Job, LiveHead, ModelVersion, Store

FILTERS = ("unlabeled", "not human-checked", "all", "flagged")
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

    def window(self, which: str) -> list[int]:
        """The first sentences of a filter that "least confident" ranks (at most RANK_POOL)."""
        return self.pool(which)[:RANK_POOL]


def index(store: Store, project_id: int) -> Index:
    """Ids, label flags and junk flags of a project's sentences, without loading words or tags."""
    rows = store.label_index(project_id)
    return Index([i for i, _, _ in rows], {i for i, human, _ in rows if human}, {i for i, _, any_ in rows if any_},
                 store.flagged(project_id))


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
        weak = spec.name == "bald" or spec.diverse
        return Plan("live", column="entropy:mnlp" if spec.name == "bald" else spec.key, why="entropy" if weak else "")
    if model is None:
        return Plan("order", "random", why="cold")
    if (job := retrain.scoring_job(store, project_id)) is not None:
        return Plan("order", "random", why="scoring", job=job)
    return Plan("version")
