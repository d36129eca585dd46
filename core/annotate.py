"""Editing IOB2 tags word by word (the keyboard rules of the Annotate page) and choosing what to label next."""
from __future__ import annotations

import random
from typing import Sequence

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
