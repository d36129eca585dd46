"""Shared work: per-annotator queues with overlap, and who may see whose labels on a sentence (pure functions)."""
from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Sequence


def overlapped(sentence_ids: Sequence[int], share: float) -> set[int]:
    """round(share · n) of the sentences, spread evenly along their order (every stretch of the queue has some)."""
    if not 0 <= share <= 1:
        raise ValueError(f"overlap share must be between 0 and 1, not {share}")
    n = len(sentence_ids)
    k = round(share * n)
    return {sid for i, sid in enumerate(sentence_ids) if (i + 1) * k // n > i * k // n}


def assign(sentence_ids: Sequence[int], annotators: Sequence[str], overlap: float = 0.1,
           copies: int = 2) -> dict[str, list[int]]:
    """Queues per annotator, each in the order of `sentence_ids` (active-learning or document order): the overlapped
    share goes to `copies` annotators, the rest to one. A sentence goes to the least-loaded annotator (then the
    longest unserved, then the first named); an overlapped one to the group, among those at most one above the
    lowest load, whose members shared fewest overlapped sentences yet: loads stay within one or two, and pairs of
    annotators take turns. Deterministic."""
    names = list(annotators)
    if not names or any(not isinstance(a, str) or not a.strip() for a in names) or len(set(names)) != len(names):
        raise ValueError(f"annotators must be distinct non-empty names, not {names!r}")
    if len(set(sentence_ids)) != len(sentence_ids):
        raise ValueError("a sentence id is repeated")
    shared = overlapped(sentence_ids, overlap)
    if shared and not 2 <= copies <= len(names):
        raise ValueError(f"an overlapped sentence goes to 2 to {len(names)} annotators, not {copies}")
    queues: dict[str, list[int]] = {a: [] for a in names}
    last = {a: (-1, i) for i, a in enumerate(names)}  # (step last served, position in `annotators`)
    met: Counter = Counter()  # frozenset({a, b}) -> overlapped sentences the two share

    def rank(a: str) -> tuple:
        return len(queues[a]), last[a]

    def cost(group: Sequence[str], low: int) -> tuple:
        """Members above load `low`, overlapped sentences the members shared already, then their ranks."""
        return (sum(len(queues[a]) > low for a in group),
                sum(met[frozenset(pair)] for pair in itertools.combinations(group, 2)), sorted(map(rank, group)))

    for step, sid in enumerate(sentence_ids):
        if sid not in shared:
            group = [min(names, key=rank)]
        else:
            low = min(map(len, queues.values())) + 1
            group = list(min(itertools.combinations(names, 2), key=lambda pair: cost(pair, low)))
            while len(group) < copies:
                group.append(min((a for a in names if a not in group), key=lambda a: cost([*group, a], low)))
        met.update(frozenset(pair) for pair in itertools.combinations(group, 2))
        for a in group:
            queues[a].append(sid)
            last[a] = (step, last[a][1])
    return queues


def visible(viewer: str, *, assigned: Collection[str], saved: Collection[str], reviewer: bool = False
            ) -> set[str]:
    """Whose saved labels `viewer` may see on one sentence: their own always; on an overlapped sentence (assigned
    to two or more) an annotator among them sees the others' only once they saved their own; a reviewer sees all."""
    if reviewer or len(assigned) < 2 or viewer not in assigned or viewer in saved:
        return set(saved)
    return set()

