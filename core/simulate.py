"""The simulated annotator: active-learning rounds on a pool whose gold tags stay hidden until a batch is selected.

Files: `simulate(pool, dev, cfg)` trains on a random seed set, then each round scores the rest of the pool,
selects a batch by strategy, reveals its gold tags and trains again (warm start from the previous round's model,
or from the base encoder with `warm_start=False`);
every strategy starts from the same seed set and the same round-1 model.

Store projects (demo mode): `Store.import_hidden_gold` imports a labelled file as unlabeled sentences whose tags
sit in the `hidden_gold` table, invisible to the rest of the app; `demo_round` selects a batch among them by the
serving version's stored scores and `reveal` turns their hidden gold into gold annotations of the train split.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from core import active
from core.model import Tagger
from core.store import Store
from core.train import TrainConfig, run as train_run
from core.vocab import label_set, seen_types

ANNOTATOR = "simulated annotator"


@dataclass
class SimConfig:
    """One simulation: strategies (active.parse_strategy specs) compared on the same seed set and seeds."""

    strategies: Sequence[str] = ("random", "least_confidence")
    seed_size: int = 100
    batch: int = 100  # sentences revealed per round
    batch_tokens: int | None = None  # or: words revealed per round (a token budget), when set
    rounds: int = 5  # trainings; the labelled set grows between them
    seed: int = 0
    mc_passes: int = 8  # Monte-Carlo head passes for bald
    train: TrainConfig = field(default_factory=TrainConfig)  # round 1 trains from train.model
    warm_start: bool = True  # later rounds from the round before; False: from train.model again (min_steps)

    def __post_init__(self) -> None:
        self.strategies = [str(active.parse_strategy(s)) for s in self.strategies]
        if not self.strategies:
            raise ValueError("give at least one strategy")
        if len(set(self.strategies)) != len(self.strategies):
            raise ValueError(f"a strategy is given twice in {self.strategies}")
        for name in ("seed_size", "batch", "rounds"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.batch_tokens is not None and self.batch_tokens < 1:
            raise ValueError(f"batch_tokens must be at least 1, not {self.batch_tokens}")


@dataclass
class RoundResult:
    """One point of a strategy's learning curve: the model trained on the labelled set of this round."""

    strategy: str
    round: int
    labelled_sentences: int
    labelled_tokens: int
    dev_f1: float
    per_class: dict[str, float]
    seconds: float
    selected: list[int] = field(default_factory=list)  # pool indices revealed after this round

    def point(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("strategy", "selected")}


def _train(cfg: TrainConfig, data: Sequence, dev: Sequence, out: Path) -> dict:
    last = train_run(cfg, data, dev, out)
    return last.scores or {}


def simulate(pool: Sequence, dev: Sequence, cfg: SimConfig, *, workdir: str | Path | None = None
             ) -> Iterator[RoundResult]:
    """Yield every strategy's rounds in turn. pool, dev: labelled Sentence-likes (words, tags)."""
    for where, data in (("pool", pool), ("dev", dev)):
        if not data:
            raise ValueError(f"the {where} is empty")
        if any(s.tags is None for s in data):
            raise ValueError(f"every {where} sentence needs gold tags")
    words = [list(s.words) for s in pool]
    if cfg.seed_size >= len({tuple(w) for w in words}):
        raise ValueError(f"seed_size {cfg.seed_size} leaves nothing to select in a pool of {len(words)} sentences")
    labels = label_set(seen_types([s.tags for s in pool] + [s.tags for s in dev]))
    base = replace(cfg.train, labels=labels)
    seed_set = active.select(None, words, cfg.seed_size, strategy="random", seed=cfg.seed)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        first = _train(base, [pool[i] for i in seed_set], dev, root / "round-1")
        first_seconds = time.perf_counter() - started
        for s_index, spec in enumerate(cfg.strategies):
            strat = active.parse_strategy(spec)
            labelled = list(seed_set)
            previous = root / "round-1"
            for r in range(1, cfg.rounds + 1):
                started = time.perf_counter()
                if r == 1:
                    scores = first
                else:
                    out = root / f"s{s_index}-round-{r}"
                    start = str(previous) if cfg.warm_start else base.model
                    scores = _train(replace(base, model=start), [pool[i] for i in labelled], dev, out)
                    if previous.name != "round-1":
                        shutil.rmtree(previous, ignore_errors=True)
                    previous = out
                picked = _pick(strat, previous, words, labelled, cfg, r) if r < cfg.rounds else []
                seconds = time.perf_counter() - started + (first_seconds if r == 1 else 0.0)
                yield RoundResult(spec, r, len(labelled), sum(len(words[i]) for i in labelled),
                                  float(scores.get("micro", {}).get("f1", 0.0)),
                                  {k: float(v["f1"]) for k, v in scores.get("per_class", {}).items()},
                                  round(seconds, 2), picked)
                labelled += picked
            if previous.name != "round-1":
                shutil.rmtree(previous, ignore_errors=True)


def _pick(strat: active.Strategy, folder: Path, words: list[list[str]], labelled: list[int], cfg: SimConfig,
          r: int) -> list[int]:
    """The batch a strategy selects from the still-hidden part of the pool after round r."""
    taken = set(labelled)
    rest = [i for i in range(len(words)) if i not in taken]
    rest_words = [words[i] for i in rest]
    scores = None
    if strat.uncertain or strat.diverse:
        tagger = Tagger.load(str(folder))
        scores = active.score_pool(tagger, rest_words, mc_passes=cfg.mc_passes if strat.name == "bald" else 0,
                                   seed=cfg.seed + r)
    k = None if cfg.batch_tokens else cfg.batch
    chosen = active.select(scores, rest_words, k, strategy=strat, seed=cfg.seed + r, token_budget=cfg.batch_tokens)
    return [rest[i] for i in chosen]


def run(pool: Sequence, dev: Sequence, cfg: SimConfig, *, workdir: str | Path | None = None,
        on_round: Callable[[RoundResult], None] | None = None) -> dict:
    """The whole simulation as JSON-ready data: settings and, per strategy, its curve (one point per round)."""
    curves: dict[str, list[dict]] = {s: [] for s in cfg.strategies}
    for result in simulate(pool, dev, cfg, workdir=workdir):
        curves[result.strategy].append(result.point())
        if on_round is not None:
            on_round(result)
    return {**describe(pool, dev, cfg), "strategies": curves}


def describe(pool: Sequence, dev: Sequence, cfg: SimConfig) -> dict:
    """A simulation's settings and data sizes as JSON-ready data (what its result file records besides curves)."""
    settings = asdict(cfg)
    settings["train"].pop("labels", None)
    return {"settings": settings, "pool_sentences": len(pool), "pool_tokens": sum(len(s.words) for s in pool),
            "dev_sentences": len(dev)}


# ---------------------------------------------------------------- demo mode on a store project

def reveal(store: Store, project_id: int, sentence_ids: Sequence[int]) -> int:
    """Turn the hidden gold of these sentences into gold annotations (annotator "simulated annotator") and move
    them from unlabeled to train; a sentence that already has a human or gold label keeps it. Returns how many
    got the hidden gold."""
    ids = list(dict.fromkeys(int(i) for i in sentence_ids))
    gold = store.hidden_gold(project_id, ids)
    missing = [i for i in ids if i not in gold]
    if missing:
        raise KeyError(f"project {project_id}: sentence(s) {', '.join(map(str, missing[:5]))} have no hidden gold")
    rows = store.sentences(project_id, ids=ids)
    revealed = 0
    for row in rows:
        if row.tags is None:
            store.annotate(row.id, gold[row.id], source="gold", annotator=ANNOTATOR)
            revealed += 1
    unlabeled = [r.id for r in rows if r.split == "unlabeled"]
    if unlabeled:
        store.set_split(unlabeled, "train")
    return revealed


def demo_round(store: Store, project_id: int, k: int | None = 100, *, strategy: str = "least_confidence",
               seed: int = 0, token_budget: int | None = None) -> list[int]:
    """Select a batch among the still-hidden gold sentences (by the serving version's stored scores, random
    before the first version) and reveal it; returns the revealed sentence ids. Training is the app's job."""
    hidden = list(store.hidden_gold(project_id))
    ids = active.suggest(store, project_id, k, strategy=strategy, seed=seed, token_budget=token_budget, ids=hidden)
    reveal(store, project_id, ids)
    return ids
