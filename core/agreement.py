"""Inter-annotator agreement: pairwise entity-level F1 and token-level Cohen's kappa on the sentences both labelled.

Pairwise F1 takes one annotator as reference and the other as prediction with seqeval's strict IOB2 span match
(start, end and type equal); 2·TP / (|A| + |B|) is symmetric, so the choice of reference does not matter.
Per class, "support" is the number of distinct spans of that type either annotator marked (|A| + |B| - TP).

Kappa is computed on the IOB2 tags, token by token: the categories are what the annotator chose at each token,
so kappa is 1 exactly when two annotations are identical, as for exact-span F1; kappa on entity types per token
would call one span and two adjacent spans of the same type (a B- where the other has an I-) full agreement.

Overall (over every pair): micro F1 = 2·ΣTP / Σ(|A| + |B|) over all pairs' shared sentences, and the kappa of the
pooled token table (every pair's token pairs counted together). A value with nothing to compare (no span at all,
or one category only so chance agreement is 1) is None.
"""
from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.metrics import entities
from core.store import Store

Labels = Mapping[str, Mapping[int, Sequence[str]]]  # annotator -> sentence id -> IOB2 tags


@dataclass
class _Tally:
    """Span and token counts of one pair of annotators (or of all pairs pooled)."""

    sentences: int = 0
    spans: Counter = field(default_factory=Counter)  # (label, "tp" | "a" | "b") -> count
    a_tags: Counter = field(default_factory=Counter)
    b_tags: Counter = field(default_factory=Counter)
    tokens: int = 0
    same: int = 0

    def add(self, a: Sequence[str], b: Sequence[str]) -> None:
        if len(a) != len(b):
            raise ValueError(f"{len(a)} tags against {len(b)} for the same sentence")
        self.sentences += 1
        sa, sb = set(entities(a)), set(entities(b))
        for spans, key in ((sa & sb, "tp"), (sa, "a"), (sb, "b")):
            self.spans.update((label, key) for _, _, label in spans)
        self.a_tags.update(a)
        self.b_tags.update(b)
        self.tokens += len(a)
        self.same += sum(x == y for x, y in zip(a, b))

    def merge(self, other: "_Tally") -> None:
        self.sentences += other.sentences
        self.spans += other.spans
        self.a_tags += other.a_tags
        self.b_tags += other.b_tags
        self.tokens += other.tokens
        self.same += other.same

    def count(self, kind: str, label: str | None = None) -> int:
        """Spans of one kind ("tp", "a", "b"), of one type or of every type."""
        return sum(n for (lab, k), n in self.spans.items() if k == kind and label in (None, lab))

    def f1(self, label: str | None = None) -> float | None:
        marked = self.count("a", label) + self.count("b", label)
        return 2 * self.count("tp", label) / marked if marked else None

    def kappa(self) -> float | None:
        if not self.tokens:
            return None
        observed = self.same / self.tokens
        chance = sum(self.a_tags[t] * self.b_tags[t] for t in self.a_tags) / self.tokens ** 2
        return None if chance == 1 else (observed - chance) / (1 - chance)

    def per_class(self) -> dict[str, dict]:
        labels = sorted({label for label, _ in self.spans})
        return {label: {"f1": self.f1(label),
                        "support": self.count("a", label) + self.count("b", label) - self.count("tp", label)}
                for label in labels}


def agreement(labels: Labels) -> dict:
    """{"pairs": [{"a", "b", "sentences", "f1", "kappa", "per_class": {LABEL: {"f1", "support"}}}], "overall":
    {"f1", "kappa", "sentences"}} over every pair of annotators (by name) that labelled a sentence in common."""
    pairs, pooled = [], _Tally()
    for a, b in itertools.combinations(sorted(labels), 2):
        shared = sorted(set(labels[a]) & set(labels[b]))
        if not shared:
            continue
        tally = _Tally()
        for sid in shared:
            try:
                tally.add(labels[a][sid], labels[b][sid])
            except ValueError as e:
                raise ValueError(f"sentence {sid}, {a} against {b}: {e}") from None
        pooled.merge(tally)
        pairs.append({"a": a, "b": b, "sentences": tally.sentences, "f1": tally.f1(), "kappa": tally.kappa(),
                      "per_class": tally.per_class()})
    return {"pairs": pairs, "overall": {"f1": pooled.f1(), "kappa": pooled.kappa(), "sentences": pooled.sentences}}


def project_agreement(store: Store, project_id: int) -> dict:
    """agreement() of the project's human annotators."""
    return agreement(store.human_labels(project_id))
