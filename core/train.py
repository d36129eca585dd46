"""The one trainer: a generator of events shared by the CLI, background jobs and the benchmark. `train` composes the
parts: `steps` (the optimisation), core.schedule (the plan and the pace) and core.checkpoint (evaluation, the best
state, early stopping, the time budget's re-plan and the saves)."""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import numbers
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from core import card, distributed, metrics, partial
from core.checkpoint import Checkpointer, Event, save_atomic
from core.config import TrainConfig, check_freeze
from core.model import Tagger
from core.schedule import MEASURE_STEPS, LinearDecay, Pace, Plan, plan
from core.vocab import label_set, seen_types

__all__ = ["Event", "Evaluation", "LengthGroupedBatches", "LinearDecay", "MEASURE_STEPS", "Plan", "Step",
           "TrainConfig", "evaluate", "labelled_pairs", "micro_batches", "plan", "run", "save_atomic", "steps", "train",
           "weighted_loss"]  # the trainer's names for its callers, the schedule's and the checkpoint's among them

log = logging.getLogger(__name__)


def _fields(item) -> tuple[Sequence[str], Sequence[str] | None, Any]:
    """Words, tags and loss weight (default 1) of a dict, a Sentence-like object or a (words, tags) pair."""
    if isinstance(item, dict):
        return item["words"], item["tags"], item.get("weight", 1.0)
    if hasattr(item, "words"):
        return item.words, item.tags, getattr(item, "weight", 1.0)
    w, t = item
    return w, t, 1.0


def labelled_pairs(data: Sequence) -> tuple[list[list[str]], list[list[str]]]:
    """The words and tags of labelled sentences (empty ones dropped); ValueError for a sentence without tags, or
    without as many tags as words."""
    words, tags = [], []
    for item in data:
        w, t, _ = _fields(item)
        if t is None:
            raise ValueError("training data must be labelled (a sentence has no tags)")
        if len(w) != len(t):
            raise ValueError(f"sentence {' '.join(w)[:60]!r}: {len(w)} words but {len(t)} tags")
        if w:
            words.append(list(w))
            tags.append(list(t))
    return words, tags


def _weights(data: Sequence) -> list[float] | None:
    """Per-sentence loss weights aligned with `labelled_pairs` (empty sentences dropped); None when all are 1."""
    out = []
    for item in data:
        w, _, weight = _fields(item)
        if not w:
            continue
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0 <= weight < math.inf:
            raise ValueError(f"sentence {' '.join(w)[:60]!r}: weight must be a number >= 0, not {weight!r}")
        out.append(float(weight))
    return None if all(x == 1.0 for x in out) else out


def weighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Token cross-entropy (ignore_index -100), each window's tokens scaled by its weight, over all labelled tokens.

    With every weight 1 this is the model's own (mean) loss."""
    ce = nn.functional.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100,
                                     reduction="none")
    scale = weights.to(ce.dtype)[:, None].expand_as(labels).flatten()
    return (ce * scale).sum() / (labels != -100).sum().clamp(min=1)


def _loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's own loss, the weighted one when the batch carries `weights`, the masked one (core.partial) when
    it carries `allowed`."""
    weights, allowed = batch.pop("weights", None), batch.pop("allowed", None)
    if weights is None and allowed is None:
        return model(**batch).loss
    labels = batch.pop("labels")
    if allowed is not None:
        return partial.masked_loss(model(**batch).logits, labels, allowed, weights)
    return weighted_loss(model(**batch).logits, labels, weights)


def micro_batches(batch: dict[str, torch.Tensor], max_tokens: int) -> list[tuple[dict[str, torch.Tensor], float]]:
    """Split a batch whose padded size exceeds `max_tokens` into pieces (each trimmed to its own longest row),
    with each piece's share of the labelled tokens, so that accumulated gradients equal the whole batch's."""
    n, width = batch["input_ids"].shape
    if not max_tokens or n * width <= max_tokens or n == 1:
        return [(batch, 1.0)]
    total = max(1, int((batch["labels"] != -100).sum()))
    per = max(1, max_tokens // width)
    out = []
    for i in range(0, n, per):
        rows = {k: v[i : i + per] for k, v in batch.items()}
        keep = int(rows["attention_mask"].sum(1).max())
        piece = {k: (v[:, :keep] if v.dim() >= 2 else v).contiguous() for k, v in rows.items()}
        out.append((piece, int((piece["labels"] != -100).sum()) / total))
    return out


class LengthGroupedBatches:
    """Shuffled batches of similar length (little padding); a new order each epoch, same on every process."""

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, group: int = 64):
        self.lengths, self.batch_size, self.seed, self.group = list(lengths), batch_size, seed, group
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self):
        rng = random.Random(self.seed + self.epoch)
        self.epoch += 1
        idx = list(range(len(self.lengths)))
        rng.shuffle(idx)
        mega = self.batch_size * self.group
        batches = []
        for m in range(0, len(idx), mega):
            chunk = sorted(idx[m : m + mega], key=lambda i: self.lengths[i])
            batches += [chunk[b : b + self.batch_size] for b in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return iter(batches)


def _freeze(model: nn.Module, how: str) -> None:
    """Stop training part of the encoder: `embeddings` (words and positions), or `top-K` (all but the top K layers
    and the head); `none` trains it all."""
    base = model.base_model
    if check_freeze(how) == "none":
        return
    emb = getattr(base, "embeddings", None)
    for name in ("word_embeddings", "position_embeddings"):
        mod = getattr(emb, name, None)
        if mod is not None:
            mod.requires_grad_(False)
    if how.startswith("top-"):
        k = int(how[4:])
        emb.requires_grad_(False)
        layers = next(
            m for m in base.modules() if isinstance(m, nn.ModuleList) and len(m) == model.config.num_hidden_layers
        )
        for layer in list(layers)[: max(0, len(layers) - k)]:
            layer.requires_grad_(False)


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    head, decay, no_decay = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("classifier") or "token_type_embeddings" in name:
            head.append(p)
        elif p.ndim < 2:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [
        {"params": decay, "lr": cfg.lr, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "lr": cfg.lr, "weight_decay": 0.0},
        {"params": head, "lr": cfg.head_lr, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    try:
        return torch.optim.AdamW(groups, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups)


@dataclass(frozen=True)
class Evaluation:
    """A tagger's predicted tags for labelled sentences and their core.metrics.score against the labels."""

    predicted: list[list[str]]
    scores: dict

    @property
    def f1(self) -> float:
        """Micro F1."""
        return self.scores["micro"]["f1"]


def evaluate(tagger: Tagger, words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]], *,
             batch_size: int = 64) -> Evaluation:
    """Predict the sentences' tags and score them against `tags` (entity level); the one evaluation of a tagger."""
    predicted = [p.tags for p in tagger.predict(words, batch_size=batch_size)] if words else []
    return Evaluation(predicted, metrics.score(tags, predicted))


@dataclass(frozen=True)
class Corpus:
    """A run's labelled sentences (empty ones dropped), their loss weights (None: all 1), the label set, and per
    sentence its allowed tags per word when some sentence is partial (core.partial)."""

    words: list[list[str]]
    tags: list[list[str]]
    weights: list[float] | None
    dev_words: list[list[str]]
    dev_tags: list[list[str]]
    labels: list[str]
    allowed: list | None = None

    @classmethod
    def of(cls, cfg: TrainConfig, train_data: Sequence, dev_data: Sequence) -> Corpus:
        """The sentences checked: labelled, as many tags as words, every tag in the label set (`cfg.labels`, else
        those seen)."""
        words, tags = labelled_pairs(train_data)
        weights = _weights(train_data)
        dev_words, dev_tags = labelled_pairs(dev_data)
        if not words:
            raise ValueError("no labelled training sentences")
        labels = cfg.labels or label_set(seen_types(tags + dev_tags))
        unknown = {t for seq in tags + dev_tags for t in seq} - set(labels)
        if unknown:
            raise ValueError(f"tags not in the label set: {sorted(unknown)}")
        return cls(words, tags, weights, dev_words, dev_tags, labels, partial.allowed_of(train_data))

    def sizes(self) -> dict:
        """Sentences and tokens, for metrics.json."""
        return {"train_sentences": len(self.words), "train_tokens": sum(map(len, self.words)),
                "dev_sentences": len(self.dev_words), "dev_tokens": sum(map(len, self.dev_words))}


@dataclass(frozen=True)
class Step:
    """An optimizer step done: its number, the rows trained so far, the smoothed loss and the learning rate."""

    step: int
    seen: int
    loss: float
    lr: float


def _backward(acc: Any, model: nn.Module, batch: dict[str, torch.Tensor], max_tokens: int) -> float:
    """Forward and backward over this process's rows of a batch (core.distributed.my_rows), in pieces of at most
    `max_tokens` whose gradients add up; the whole batch's loss (the mean over the processes)."""
    rows, factor = distributed.my_rows(batch, acc)
    pieces = [(piece, share * factor) for piece, share in micro_batches(rows, max_tokens)]
    loss = 0.0
    for k, (piece, share) in enumerate(pieces):
        sync = contextlib.nullcontext() if k == len(pieces) - 1 else acc.no_sync(model)
        with sync:
            part = _loss(model, piece) * share
            acc.backward(part)
        loss += part.detach()
    return float(distributed.mean(acc, loss))


def steps(cfg: TrainConfig, acc: Any, model: nn.Module, optimizer: Any, scheduler: Any, loader: Any,
          epochs: int) -> Iterator[Step]:
    """The optimisation: a Step after each optimizer step (shape dropout, micro-batches, clipping), for at most
    `epochs` epochs; the caller stops it at the plan's end. Every process reads every batch and trains on its rows
    (the effective batch and schedule of one process)."""
    gen = torch.Generator().manual_seed(cfg.seed)  # the same on every process: rows are dropped before sharing
    step, seen, smooth = 0, 0, None
    for _ in range(epochs):
        model.train()
        for batch in loader:
            rows = batch["input_ids"].shape[0]
            if cfg.shape_dropout and "token_type_ids" in batch:
                drop = torch.rand(rows, generator=gen) < cfg.shape_dropout
                batch["token_type_ids"][drop.to(batch["token_type_ids"].device)] = 0
            loss = _backward(acc, model, batch, cfg.max_batch_tokens)
            if cfg.max_grad_norm:
                acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step, seen = step + 1, seen + rows
            smooth = loss if smooth is None else 0.9 * smooth + 0.1 * loss
            yield Step(step, seen, smooth, scheduler.get_last_lr()[0])


def _setup(cfg: TrainConfig, data: Corpus,
           head_from: dict[str, list[str]] | None = None) -> tuple[Any, Tagger, nn.Module, Any, Any, int]:
    """The accelerator (core.distributed), the tagger (its encoder frozen as asked; a new head's rows started as
    `head_from` says), the prepared model and optimizer, the loader of length-grouped batches (whole on every process;
    a partial sentence's windows with their allowed labels: core.partial) and the number of windows (rows) they train
    on."""
    acc = distributed.accelerator(cfg)
    tagger = Tagger.load(cfg.model, labels=data.labels, device=str(acc.device), shape=cfg.shape, dropout=cfg.dropout,
                         head_from=head_from)
    _freeze(tagger.model, cfg.freeze)
    windows = tagger.windows(data.words, data.tags, weights=data.weights)
    if data.allowed:
        partial.attach(windows, data.allowed, tagger.label2id)
    sampler = LengthGroupedBatches([len(w.input_ids) for w in windows], cfg.batch_size, cfg.seed)
    loader = torch.utils.data.DataLoader(
        windows, batch_sampler=sampler, collate_fn=lambda b: partial.collate(tagger, b)
    )
    model, optimizer = acc.prepare(tagger.model, _optimizer(tagger.model, cfg))  # each process takes its rows
    return acc, tagger, model, optimizer, loader, len(windows)


def _dev_scores(acc: Any, tagger: Tagger, data: Corpus) -> dict:
    """The current weights' scores on the dev set (`evaluate`); with several processes, each predicts its share."""
    if acc.num_processes == 1:
        return evaluate(tagger, data.dev_words, data.dev_tags).scores
    return metrics.score(data.dev_tags, distributed.predict(acc, tagger, data.dev_words))


def _start(cfg: TrainConfig, data: Corpus, tagger: Tagger, acc: Any, schedule: Plan, pace: Pace) -> Event:
    """The first event: what will be trained and how, and the time left's figures known before the first step."""
    before = pace.before()
    info = {"labels": data.labels, "train_sentences": len(data.words), "train_tokens": sum(map(len, data.words)),
            "dev_sentences": len(data.dev_words), "warm_start": tagger.trained, "epochs": schedule.epochs,
            "steps_per_epoch": schedule.steps_per_epoch, "processes": acc.num_processes,
            "eval_every": schedule.eval_every, "time_budget": cfg.time_budget, "s_per_step": before["s_per_step"],
            "s_per_eval": before["s_per_eval"], "evals_left": schedule.evals_left(0), "rate": before["rate"]}
    log.info("training %s (%s) on %d sentences (%d tokens), %d dev sentences, %d labels; plan: %d steps (%d epochs of "
             "%d), dev evaluation every %d steps, %d process(es)", cfg.model,
             "warm start" if tagger.trained else "new head", len(data.words), info["train_tokens"],
             len(data.dev_words), len(data.labels), schedule.total_steps, schedule.epochs, schedule.steps_per_epoch,
             schedule.eval_every, acc.num_processes)
    return Event("start", 0, schedule.total_steps, 0.0, info=info)


def train(cfg: TrainConfig, train_data: Sequence, dev_data: Sequence = (), out: str | Path | None = None, *,
          about: dict | None = None, prior: dict | None = None, clock=time.perf_counter,
          head_from: dict[str, list[str]] | None = None) -> Iterator[Event]:
    """Fine-tune, yielding events; the best model (by dev micro F1) is saved to `out` by the main process.
    `about`: facts for the model card the trainer cannot know (`command`, `job`, `test_sentences`, `test_tokens`).
    `prior`: the last run's `train_s_per_sentence` and `eval_s_per_sentence` on this machine (core.jobs.last_rates),
    for the time left until this run's own are measured. `clock`: seconds (time.perf_counter; a fake one in tests).
    `head_from`: tag -> the warm-start version's tags whose head rows start it (label edits: core.labelhistory).
    A sentence may carry `allowed` tags per word (partially labelled: core.partial).

    Each start and step event's `info` carries what the time left needs: `s_per_step` (measured seconds of training
    per step, None until known), `s_per_eval` (seconds per dev evaluation: measured, else estimated), `evals_left`;
    with the event's `total_steps` (the plan that will run): see core.jobs.eta_seconds."""
    from transformers import set_seed

    set_seed(cfg.seed)
    provenance = {"base_model": card.base_model(cfg.model), "parent": card.parent(cfg.model),
                  "nerloop_version": card.nerloop_version(), "command": card.process_command(), **(about or {})}
    data = Corpus.of(cfg, train_data, dev_data)
    acc, tagger, model, optimizer, loader, rows = _setup(cfg, data, head_from)
    per_epoch = len(loader)
    schedule = plan(cfg, len(data.words), per_epoch, tagger.trained)
    decay = LinearDecay(schedule.total_steps, cfg.warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    pace = Pace(prior, rows / per_epoch, len(data.dev_words), clock)  # rows per step: a last batch may be short
    yield _start(cfg, data, tagger, acc, schedule, pace)
    pace.start()
    score = functools.partial(_dev_scores, acc, tagger, data) if data.dev_words else None
    keeper = Checkpointer(cfg, tagger, acc, schedule, decay=decay, pace=pace, score=score, out=out,
                          replan=functools.partial(plan, cfg, len(data.words), per_epoch, tagger.trained),
                          labels=data.labels, facts=data.sizes(), provenance=provenance)
    try:
        for s in steps(cfg, acc, model, optimizer, scheduler, loader, schedule.epochs):  # a re-plan stays within
            elapsed, train_s = pace.lap(s.step)
            keeper.stepped(s.step, s.seen, s.loss, train_s)
            yield Event("step", s.step, keeper.total, keeper.epoch(), loss=s.loss, lr=s.lr,
                        info={"elapsed": elapsed, "train_s": train_s, "eval_s": pace.eval_s, "evals": pace.evals,
                              "evals_left": keeper.schedule.evals_left(s.step - 1),  # this step's own is to come
                              **pace.figures(s.step, s.seen)})
            if keeper.due():
                yield keeper.check()
                if keeper.patience_spent():
                    break
                keeper.reaim(train_s, after_eval=True)  # measured again at every evaluation, within the plan
            if s.step >= keeper.total:
                break
        if keeper.last_eval != keeper.step:  # the loader ended before the plan (e.g. uneven shards): judge it too
            yield keeper.check()
        yield keeper.finish()
    except Exception:
        keeper.crash_save()  # a crash still leaves the best state reached so far, when there is one
        raise
    finally:
        acc.free_memory()


def run(cfg: TrainConfig, train_data: Sequence, dev_data: Sequence = (), out: str | Path | None = None, *,
        about: dict | None = None, head_from: dict[str, list[str]] | None = None) -> Event:
    """Consume the whole stream and return the last event."""
    last = None
    for last in train(cfg, train_data, dev_data, out, about=about, head_from=head_from):
        pass
    return last
