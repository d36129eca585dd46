"""The project's vocabulary, written once: splits and their titles, annotation sources, promote policies,
active-learning strategies, model and job states, the label set of a list of entity types, and how long a message
may be."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

SPLITS = ("train", "dev", "test", "unlabeled")
SPLIT_TITLES = {"train": "train", "dev": "dev", "test": "test", "unlabeled": "unlabelled"}  # as the pages say them
SPLIT_PURPOSES = {"train": "the model learns from it", "dev": "held out: scores every version",
                  "test": "held out: final figures", "unlabeled": "to annotate"}  # what each split is for

ROLES = ("admin", "reviewer", "annotator")  # account roles, most rights first (core.access)
MEMBER_ROLES = ("annotator", "reviewer")  # what an account other than an admin may be in a project

SOURCES = ("gold", "human", "model", "review")  # an annotation's origin; all but model are labels
# review: a reviewer's adjudication, the sentence's label ahead of every human one (then human, then gold)

PROMOTE_POLICIES = ("better", "always", "never")
PROMOTE_HELP = {"better": "promote if its dev F1 beats the serving version and no class of it drops more than the "
                          "per-class tolerance",
                "always": "always serve the new version", "never": "keep the serving version"}

MEASURES = ("least_confidence", "margin", "entropy", "bald")  # uncertainty strategies (core.active)
STRATEGIES = ("random", "sequential", *MEASURES)
AGGREGATES = ("max", "mean", "sum", "mnlp")
STRATEGY_HELP = (f"NAME[:AGGREGATE][+diverse]; NAME: {', '.join(STRATEGIES)}; AGGREGATE: "
                 f"{', '.join(a + ' (default)' if a == 'mnlp' else a for a in AGGREGATES)}")

MODEL_STATUSES = ("training", "ready", "failed")
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
MESSAGE_CHARS = 400  # a refusal shown or printed is cut to this (a 20,000-character name is not echoed whole)
JOB_UNFINISHED = ("queued", "running")  # a job in one of these has not ended yet


def label_set(types: Iterable[str], *, sort: bool = True) -> list[str]:
    """The IOB2 tags of entity `types`: O, then B-X and I-X per type (types sorted, or in the given order)."""
    ordered = sorted(set(types)) if sort else list(dict.fromkeys(types))
    return ["O"] + [f"{p}-{t}" for t in ordered for p in ("B", "I")]


def seen_types(tag_seqs: Iterable[Sequence[str]]) -> set[str]:
    """The entity types used in IOB2 tag sequences."""
    return {t[2:] for tags in tag_seqs for t in tags if t != "O"}


def clip(message: str, limit: int = MESSAGE_CHARS) -> str:
    """`message` cut to `limit` characters, an ellipsis marking the cut."""
    return message if len(message) <= limit else message[:limit - 1] + "…"
