"""Per-class change of a version: its F1 against the serving version's on the same sentences, and how much of each
class it has forgotten (the best F1 an earlier version recorded on dev minus its own)."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from core.store import ModelVersion

COLUMNS = ("class", "f1", "serving_f1", "delta", "best_earlier_f1", "forgetting")


def class_rows(current: dict, serving: dict | None, earlier: Sequence[ModelVersion]) -> list[dict]:
    """Per class of either score (core.metrics.score on the same sentences): F1, the serving version's F1 and the
    change in points (x 100), the best dev F1 recorded by an `earlier` version and the forgetting in points (that
    minus F1 now; None where no earlier version scored the class)."""
    mine = {c: r["f1"] for c, r in (current.get("per_class") or {}).items()}
    theirs = {c: r["f1"] for c, r in ((serving or {}).get("per_class") or {}).items()}
    best: dict[str, float] = {}
    for m in earlier:
        for c, r in ((((m.metrics or {}).get("dev") or {}).get("per_class")) or {}).items():
            best[c] = max(best.get(c, 0.0), r["f1"])
    rows = []
    for c in sorted({*mine, *theirs}):
        f1, was, top = mine.get(c, 0.0), theirs.get(c), best.get(c)
        rows.append({"class": c, "f1": f1, "serving_f1": was,
                     "delta": None if was is None else round(100 * (f1 - was), 2),
                     "best_earlier_f1": top, "forgetting": None if top is None else round(100 * (top - f1), 2)})
    return rows


def earlier(models: Sequence[ModelVersion], model: ModelVersion) -> list[ModelVersion]:
    """The versions made before `model`."""
    return [m for m in models if m.created < model.created and m.id != model.id]


def versus_serving(model: ModelVersion, scores: dict, serving: ModelVersion | None, models: Sequence[ModelVersion],
                   score_of: Callable[[ModelVersion], dict | None]) -> list[dict]:
    """class_rows of `model` (its `scores`) against the serving version, scored by `score_of` on the same sentences
    (None: it cannot be, e.g. its folder is gone), and the versions of `models` made before it."""
    theirs = None if serving is None else scores if serving.id == model.id else score_of(serving)
    return class_rows(scores, theirs, earlier(models, model))
