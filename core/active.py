"""Active learning: which unlabelled sentences to label next, from the model's per-word label distributions.

A strategy is `NAME[:AGGREGATE][+diverse]`: NAME is random, sequential, least_confidence, margin, entropy or
bald; AGGREGATE turns per-word uncertainty into a sentence score (max, mean, sum, or mnlp: the length-normalised
sum, which for least_confidence is Shen et al. 2017's normalised log-probability of the best path, and for the
other measures equals mean); `+diverse` spreads a batch over clusters of sentence embeddings. A batch never holds
two sentences with the same words.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.model import Tagger
from core.store import ModelVersion, SentenceRow, Store
from core.vocab import AGGREGATES, MEASURES, STRATEGIES

log = logging.getLogger(__name__)
MIN_WORDS = 4  # suggest: uncertainty strategies rank sentences shorter than this after every longer one
_EPS = 1e-12


@dataclass(frozen=True)
class Strategy:
    """A parsed strategy spec."""

    name: str
    aggregate: str = "mnlp"
    diverse: bool = False

    @property
    def key(self) -> str:
        """The PoolScores column this strategy ranks by."""
        return f"{self.name}:{self.aggregate}"

    @property
    def uncertain(self) -> bool:
        return self.name in MEASURES

    def __str__(self) -> str:
        agg = f":{self.aggregate}" if self.uncertain and self.aggregate != "mnlp" else ""
        return f"{self.name}{agg}{'+diverse' if self.diverse else ''}"


def parse_strategy(spec: str | Strategy) -> Strategy:
    """`entropy`, `least_confidence:max`, `bald+diverse` ... -> Strategy; ValueError naming the bad part."""
    if isinstance(spec, Strategy):
        return spec
    text = spec.strip()
    diverse = text.endswith("+diverse")
    text = text.removesuffix("+diverse")
    name, _, aggregate = text.partition(":")
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r} in {spec!r}: expected one of {', '.join(STRATEGIES)}")
    if aggregate and aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r} in {spec!r}: expected one of {', '.join(AGGREGATES)}")
    return Strategy(name, aggregate or "mnlp", diverse)


def _word_measures(probs: np.ndarray, mc: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per word of flat (words, labels) probabilities (and (passes, words, labels) MC ones): uncertainty measures."""
    top = np.sort(probs, axis=-1)[:, ::-1]
    best = top[:, 0] if probs.shape[1] else np.zeros(len(probs))
    second = top[:, 1] if probs.shape[1] > 1 else np.zeros(len(probs))
    out = {
        "least_confidence": 1.0 - best,
        "margin": 1.0 - (best - second),
        "entropy": -(probs * np.log(probs + _EPS)).sum(-1),
        "neglogp": -np.log(best + _EPS),  # the best path's per-word cost, for least_confidence:mnlp
    }
    if mc is not None:
        mean = mc.mean(0)
        expected = -(mc * np.log(mc + _EPS)).sum(-1).mean(0)
        out["bald"] = np.maximum(-(mean * np.log(mean + _EPS)).sum(-1) - expected, 0.0)
    return out


def _aggregate(per_word: dict[str, np.ndarray], lengths: np.ndarray) -> dict[str, np.ndarray]:
    """Sentence scores for every measure and aggregate, from flat per-word measures and sentence lengths."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    nonempty = lengths > 0
    n = np.maximum(lengths, 1)
    out = {}
    for name, values in per_word.items():
        total = np.zeros(len(lengths))
        peak = np.zeros(len(lengths))
        if nonempty.any():
            total[nonempty] = np.add.reduceat(values, starts[nonempty])
            peak[nonempty] = np.maximum.reduceat(values, starts[nonempty])
        if name == "neglogp":
            out["least_confidence:mnlp"] = total / n
            continue
        out[f"{name}:max"], out[f"{name}:sum"], out[f"{name}:mean"] = peak, total, total / n
        if name != "least_confidence":
            out[f"{name}:mnlp"] = total / n
    return out


@dataclass
class PoolScores:
    """Per pool sentence: scores by `measure:aggregate`, words, and pooled encoder embeddings (for diversity).

    `trained` is False for a model whose head was never trained: its uncertainty means nothing (cold start)."""

    values: dict[str, np.ndarray]
    tokens: np.ndarray
    embeddings: np.ndarray | None = None
    trained: bool = True

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def from_probs(cls, probs: Sequence[np.ndarray], mc: Sequence[np.ndarray] | None = None,
                   embeddings: np.ndarray | None = None, *, trained: bool = True) -> "PoolScores":
        """From per-sentence (words, labels) distributions and optional (passes, words, labels) MC samples."""
        lengths = np.array([len(p) for p in probs], dtype=int)
        width = next((p.shape[-1] for p in probs if len(p)), 1)
        flat = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, width) for p in probs]) if len(probs) \
            else np.zeros((0, width))
        flat_mc = None
        if mc is not None:
            passes = {len(m) for m in mc}
            if len(passes) > 1:
                raise ValueError(f"every sentence needs the same number of Monte-Carlo passes, not {sorted(passes)}")
            passes = passes.pop() if passes else 1
            flat_mc = np.concatenate([np.asarray(m, dtype=np.float64).reshape(passes, -1, width) for m in mc], axis=1)
        values = _aggregate(_word_measures(flat, flat_mc), lengths)
        return cls(values, lengths, embeddings, trained)

    def row(self, i: int) -> dict:
        """Sentence i's numbers as JSON-ready data (what the store keeps per model version and sentence)."""
        return {"tokens": int(self.tokens[i]), "values": {k: float(v[i]) for k, v in self.values.items()}}

    @classmethod
    def from_rows(cls, rows: Sequence[dict], *, trained: bool = True) -> "PoolScores":
        """Inverse of `row` for stored rows {"data": row(), "embedding": float16 bytes or None}."""
        keys = set.intersection(*(set(r["data"]["values"]) for r in rows)) if rows else set()
        values = {k: np.array([r["data"]["values"][k] for r in rows]) for k in sorted(keys)}
        tokens = np.array([r["data"]["tokens"] for r in rows], dtype=int)
        emb = None
        if rows and all(r["embedding"] is not None for r in rows):
            emb = np.stack([np.frombuffer(r["embedding"], dtype=np.float16) for r in rows]).astype(np.float32)
        return cls(values, tokens, emb, trained)


def _head_dropout(tagger: Tagger) -> float:
    drop = getattr(tagger.model, "dropout", None)
    if isinstance(drop, torch.nn.Dropout):
        return float(drop.p)
    cfg = tagger.model.config
    return float(getattr(cfg, "classifier_dropout", None) or getattr(cfg, "hidden_dropout_prob", 0.1))


def fast_bf16(tagger: Tagger) -> bool:
    """Whether bfloat16 autocast speeds the encoder up here: CUDA, or a CPU with native bf16 (AVX512-BF16, AMX)."""
    if tagger.device.type == "cuda":
        return True
    try:
        return tagger.device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def score_pool(tagger: Tagger, sentences: Sequence[Sequence[str]], *, mc_passes: int = 8,
               mc_dropout: float | None = None, seed: int = 0, batch_size: int = 128, chunk: int = 2048,
               bf16: bool | None = None) -> PoolScores:
    """Score word-tokenised sentences: one encoder pass (bf16 autocast where fast, see `fast_bf16`), then the
    classification head on the cached states, once plainly and `mc_passes` times with dropout on (BALD);
    `mc_dropout` defaults to the head's own rate."""
    rate = _head_dropout(tagger) if mc_dropout is None else float(mc_dropout)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"mc_dropout must be in [0, 1), not {rate}")
    use_bf16 = fast_bf16(tagger) if bf16 is None else bf16
    head = tagger.model.classifier
    param = next(head.parameters())
    sentences = [list(s) for s in sentences]
    parts, embeddings = [], []
    was_training = head.training
    gpus = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []  # seeded, then restored
    head.eval()
    try:
        for c in range(0, len(sentences), chunk):
            with torch.autocast(tagger.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                states, pooled = tagger.encode(sentences[c : c + chunk], batch_size=batch_size)
            lengths = np.array([len(s) for s in states], dtype=int)
            flat = torch.from_numpy(np.concatenate(states)).to(param.device, param.dtype)
            with torch.inference_mode(), torch.random.fork_rng(devices=gpus):
                torch.manual_seed(seed + c)
                probs = torch.softmax(head(flat).float(), -1).cpu().numpy()
                mc = None
                if mc_passes:
                    mc = np.stack([torch.softmax(head(F.dropout(flat, rate, training=True)).float(), -1).cpu().numpy()
                                   for _ in range(mc_passes)]).astype(np.float64)
            parts.append(_aggregate(_word_measures(probs.astype(np.float64), mc), lengths))
            embeddings.append(pooled)
    finally:
        head.train(was_training)
    keys = parts[0].keys() if parts else ()
    values = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    width = tagger.model.config.hidden_size
    emb = np.concatenate(embeddings) if embeddings else np.zeros((0, width), np.float32)
    return PoolScores(values, np.array([len(s) for s in sentences], dtype=int), emb, tagger.trained)


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator, iters: int = 25) -> np.ndarray:
    """Cluster ids of the rows of x: k-means++ seeding, then Lloyd iterations (numpy only)."""
    n = len(x)
    k = max(1, min(k, n))
    centres = [x[rng.integers(n)]]
    dist = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = dist.sum()
        pick = rng.choice(n, p=dist / total) if total > 0 else rng.integers(n)
        centres.append(x[pick])
        dist = np.minimum(dist, ((x - x[pick]) ** 2).sum(1))
    c = np.stack(centres)
    sq = (x**2).sum(1)[:, None]
    labels = np.full(n, -1)
    for _ in range(iters):
        new = (sq - 2 * x @ c.T + (c**2).sum(1)[None, :]).argmin(1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c[j] = members.mean(0)
    return labels


def _diverse(order: list[int], embeddings: np.ndarray, clusters: int, rng: np.random.Generator) -> list[int]:
    """Reorder: cluster the 10*clusters best candidates, then take them round-robin, best of each cluster first."""
    head, tail = order[: 10 * clusters], order[10 * clusters :]
    x = embeddings[head].astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + _EPS
    labels = kmeans(x, clusters, rng)
    seen: dict[int, int] = {}
    rank = []
    for lab in labels:
        rank.append(seen.get(lab, 0))
        seen[lab] = rank[-1] + 1
    by_rank = sorted(range(len(head)), key=lambda p: (rank[p], p))
    return [head[p] for p in by_rank] + tail


def _fragments_last(order: list[int], tokens: Sequence[int], min_words: int) -> list[int]:
    """`order` with the sentences shorter than `min_words` words moved behind the others, each part kept in order."""
    return [i for i in order if tokens[i] >= min_words] + [i for i in order if tokens[i] < min_words]


def select(scores: PoolScores | None, sentences: Sequence[Sequence[str]], k: int | None = None, *,
           strategy: str | Strategy = "entropy", aggregate: str | None = None, diverse: bool = False, seed: int = 0,
           token_budget: int | None = None, min_words: int = 0) -> list[int]:
    """Indices of the next sentences to label, best first: at most k sentences and at most token_budget words.

    With no scores or an untrained model (cold start), uncertainty strategies fall back to random order, spread
    over embedding clusters when diverse and embeddings exist. Uncertainty strategies rank sentences of fewer than
    `min_words` words (fragments) after all the others."""
    strat = parse_strategy(strategy)
    if aggregate is not None:
        strat = parse_strategy(f"{strat.name}:{aggregate}{'+diverse' if strat.diverse else ''}")
    diverse = diverse or strat.diverse
    if k is None and token_budget is None:
        raise ValueError("give k (sentences) or token_budget (words), or both")
    if (k is not None and k < 0) or (token_budget is not None and token_budget < 0):
        raise ValueError("k and token_budget must not be negative")
    n = len(sentences)
    if scores is not None and len(scores) != n:
        raise ValueError(f"{len(scores)} scores for {n} sentences")
    if n == 0:
        return []
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(n)
    cold = scores is None or not scores.trained
    if strat.name == "sequential":
        order = list(range(n))
    elif strat.name == "random" or cold:
        order = list(np.argsort(tiebreak, kind="stable"))
    else:
        if strat.key not in scores.values:
            raise ValueError(f"no {strat.key} scores (bald needs Monte-Carlo passes: mc_passes > 0)")
        order = list(np.lexsort((tiebreak, -scores.values[strat.key])))
    seen, unique = set(), []
    for i in order:
        key = tuple(sentences[i])
        if key not in seen:
            seen.add(key)
            unique.append(int(i))
    tokens = [len(s) for s in sentences]
    fragments_last = strat.uncertain and min_words > 0
    if fragments_last:
        unique = _fragments_last(unique, tokens, min_words)
    if diverse and scores is not None and scores.embeddings is not None and unique:
        if k is not None:
            clusters = k
        else:
            clusters = max(1, round(token_budget / max(1.0, float(np.mean([tokens[i] for i in unique[:100]])))))
        unique = _diverse(unique, scores.embeddings, clusters, rng)
        if fragments_last:
            unique = _fragments_last(unique, tokens, min_words)
    chosen, used = [], 0
    for i in unique:
        if k is not None and len(chosen) >= k:
            break
        if token_budget is not None and used + tokens[i] > token_budget:
            continue
        chosen.append(i)
        used += tokens[i]
    return chosen


def stored_scores(store: Store, model: ModelVersion, rows: Sequence[SentenceRow], *, tagger: Tagger | None = None,
                  mc_passes: int = 8, seed: int = 0, batch_size: int = 128) -> PoolScores:
    """Scores of store sentences `rows` under model version `model`: the stored ones, the missing ones computed
    (loading the version's folder unless `tagger` is given) and stored, so each version scores a sentence once."""
    have = store.pool_scores(model.id, [r.id for r in rows])
    missing = [r for r in rows if r.id not in have]
    if missing:
        tagger = tagger or Tagger.load(model.folder)
        fresh = score_pool(tagger, [r.words for r in missing], mc_passes=mc_passes, seed=seed,
                           batch_size=batch_size)
        new = [(r.id, fresh.row(i), fresh.embeddings[i].astype(np.float16).tobytes())
               for i, r in enumerate(missing)]
        store.save_pool_scores(model.id, new)
        log.info("version %s scored %d pool sentences (%d stored already)", model.id, len(missing), len(have))
        have.update({sid: {"data": data, "embedding": emb} for sid, data, emb in new})
    return PoolScores.from_rows([have[r.id] for r in rows])


def pool_rows(store: Store, project_id: int, ids: Sequence[int] | None = None) -> list[SentenceRow]:
    """The pool active learning picks from: the project's unlabeled sentences (or `ids` among them) with no human
    or gold label and not flagged as junk."""
    return [r for r in store.sentences(project_id, split="unlabeled", ids=ids, flagged=False) if r.tags is None]


def suggest(store: Store, project_id: int, k: int | None = None, *, strategy: str | Strategy = "entropy",
            seed: int = 0, token_budget: int | None = None, ids: Sequence[int] | None = None,
            min_words: int = MIN_WORDS) -> list[int]:
    """Ids of the project's unannotated, unflagged unlabeled sentences (or of `ids` among them) to label next, by
    the serving version's stored scores, fragments under `min_words` words last; cold start (random) when no
    version serves yet."""
    strat = parse_strategy(strategy)
    rows = pool_rows(store, project_id, ids)
    serving = store.serving(project_id)
    scores = None
    if serving is not None and (strat.uncertain or strat.diverse):
        scores = stored_scores(store, serving, rows, seed=seed)
    picked = select(scores, [r.words for r in rows], k, strategy=strat, seed=seed, token_budget=token_budget,
                    min_words=min_words)
    return [rows[i].id for i in picked]
