"""Pseudo-rehearsal after a label set grows: the previous version's confident tags of its own types, on sentences no
person labelled, trained on as partial sentences (their O words may be the new types) at a lower weight."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.model import Tagger


def rehearsal(tagger: Tagger, sentences: Sequence[Sequence[str]], new_types: Iterable[str], *,
              threshold: float = 0.9, weight: float = 0.5, limit: int | None = None) -> list[dict]:
    """Training items ({words, tags, weight, allowed}) of the sentences `tagger` (the previous version) tags with
    every word's probability at least `threshold`, at most `limit` of them; an O word may be any of `new_types`."""
    extra = tuple(f"{p}-{t}" for t in sorted(set(new_types)) for p in "BI")
    out = []
    for words, pred in zip(sentences, tagger.predict(sentences)):
        if not words or min(pred.scores) < threshold:
            continue
        out.append({"words": list(words), "tags": pred.tags, "weight": weight,
                    "allowed": [("O", *extra) if t == "O" else (t,) for t in pred.tags]})
        if limit is not None and len(out) >= limit:
            break
    return out
