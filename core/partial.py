"""The loss of partially labelled sentences: a word whose true tag is one of several (an O labelled before a type
existed, a tag of a type split since) is scored by -log of the probability summed over those tags."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from core.model import Tagger, Window


def allowed_of(data: Sequence) -> list[Sequence[Sequence[str]] | None] | None:
    """Per non-empty sentence (aligned with core.train.labelled_pairs), its allowed tags per word or None; None when
    no sentence has any."""
    out = []
    for item in data:
        words = item["words"] if isinstance(item, dict) else getattr(item, "words", None)
        if words is None:
            words = item[0]
        if not words:
            continue
        ok = item.get("allowed") if isinstance(item, dict) else getattr(item, "allowed", None)
        if ok is not None and len(ok) != len(words):
            raise ValueError(f"sentence {' '.join(words)[:60]!r}: {len(words)} words but {len(ok)} allowed tag sets")
        out.append(ok)
    return out if any(a is not None for a in out) else None


def attach(windows: Sequence[Window], allowed: Sequence[Sequence[Sequence[str]] | None],
           label2id: dict[str, int]) -> None:
    """Give each window of a partial sentence its allowed label ids per labelled position (tags outside the label set
    are left out)."""
    for w in windows:
        ok = allowed[w.sentence]
        if ok is None or w.labels is None:
            continue
        per_position: list[list[int] | None] = [None] * len(w.labels)
        for k, word in enumerate(w.words):
            if word in w.owned and len(ok[word]) > 1:
                per_position[w.first_piece[k]] = [label2id[t] for t in ok[word] if t in label2id]
        if any(p is not None for p in per_position):
            w.allowed = per_position


def collate(tagger: Tagger, windows: Sequence[Window]) -> dict[str, torch.Tensor]:
    """The tagger's training batch, plus `allowed` (windows, positions, labels) when a window is partial."""
    batch = tagger.collate(windows, labels=True)
    if not any(w.allowed for w in windows):
        return batch
    labels = batch["labels"]
    mask = torch.zeros((*labels.shape, len(tagger.labels)), dtype=torch.bool)
    known = labels != -100
    mask[known] = torch.nn.functional.one_hot(labels[known], len(tagger.labels)).bool()
    for i, w in enumerate(windows):
        for pos, ids in enumerate(w.allowed or ()):
            if ids:
                mask[i, pos, ids] = True
    batch["allowed"] = mask
    return batch


def masked_loss(logits: torch.Tensor, labels: torch.Tensor, allowed: torch.Tensor,
                weights: torch.Tensor | None = None) -> torch.Tensor:
    """-log sum of the probabilities of each labelled token's allowed labels (with one allowed label: cross-entropy),
    each window's tokens scaled by its weight, over all labelled tokens (the trainer's weighted_loss when no token
    has more than one)."""
    logp = torch.log_softmax(logits.float(), -1)
    known = labels != -100
    mask = allowed | ~known[..., None]  # unlabelled positions: every label, a finite log(1) = 0 that is then dropped
    nll = -torch.logsumexp(logp.masked_fill(~mask, -math.inf), -1) * known
    if weights is not None:
        nll = nll * weights.to(nll.dtype)[:, None]
    return nll.sum() / known.sum().clamp(min=1)

