"""The one trainer: a generator of events shared by the CLI, background jobs and the benchmark."""
from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import numbers
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from core import card, metrics
from core.config import TrainConfig
from core.model import Tagger
from core.vocab import label_set, seen_types

log = logging.getLogger(__name__)


@dataclass
class Event:
    """One item of the training stream."""

    kind: str  # start | step | eval | saved | done
    step: int
    total_steps: int
    epoch: float
    loss: float | None = None
    lr: float | None = None
    scores: dict | None = None
    is_best: bool = False
    path: str | None = None
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MEASURE_STEPS = 10  # steps timed after the first (warm-up) before a time budget is first applied
RATE_WINDOW = 50  # the ETA's seconds per step: the mean over the last this many steps (never the first)
RATE_MIN_STEPS = 5  # ... once this many are timed after the first; before, the last run's pace when there is one
EVAL_SPEEDUP = 3.5  # a dev sentence predicted costs about this fraction of a trained one (bench/conll.py --small-data)


@dataclass(frozen=True)
class Plan:
    """The steps a run will take: epochs, total, dev evaluation interval, and from which step it may stop early."""

    epochs: int
    total_steps: int
    eval_every: int
    steps_per_epoch: int
    train_sentences: int
    warm: bool
    stop_after: int = 0  # early stopping only from this step on (small data: the first half always runs)
    budget_cut: bool = False  # shortened to fit cfg.time_budget

    def evals_left(self, step: int) -> int:
        """Dev evaluations still to come after `step` (the last step always evaluates)."""
        left = self.total_steps // self.eval_every - step // self.eval_every
        return left + (self.total_steps % self.eval_every != 0)


def plan(cfg: TrainConfig, n_train_sentences: int, steps_per_epoch: int, warm: bool, *,
         seconds_per_step: float | None = None, done_steps: int = 0, spent_s: float = 0.0) -> Plan:
    """The schedule of a run. Cold start: at least `floor_epochs` epochs, within [floor_low, min_steps] steps, and
    `small_evals` dev evaluations when that floor added epochs; warm start: at least `warm_min_steps`. A dev evaluation
    at least every quarter of the run. With the measured `seconds_per_step` (after `done_steps` steps that took
    `spent_s` seconds of training), the steps beyond the epochs asked for are aimed at what fits `time_budget`: never
    below `budget_min_steps` (nor the epochs asked for, nor the steps done), never above the plan without a budget."""
    per = max(1, steps_per_epoch)
    asked = cfg.epochs * per
    if warm:
        floor = cfg.warm_min_steps
    elif cfg.floor_epochs and cfg.min_steps:
        floor = min(cfg.min_steps, max(cfg.floor_low, math.ceil(cfg.floor_epochs * per)))
    else:
        floor = cfg.min_steps
    total = per * max(cfg.epochs, math.ceil(floor / per)) if floor else asked
    full, cut = total, False
    if seconds_per_step and cfg.time_budget:
        fits = done_steps + int(max(0.0, cfg.time_budget - spent_s) / seconds_per_step)
        if fits < full:
            total = max(min(full, max(asked, cfg.budget_min_steps, done_steps)), fits)
            cut = total < full
    small = not warm and cfg.small_evals and full > asked
    if small:
        eval_every = max(1, math.ceil(total / cfg.small_evals))
    else:
        eval_every = max(per // max(1, cfg.evals_per_epoch), min(cfg.min_eval_interval, total))
    eval_every = min(eval_every, math.ceil(total / 4))  # at least every quarter of the run
    return Plan(epochs=math.ceil(total / per), total_steps=total, eval_every=max(1, eval_every), steps_per_epoch=per,
                train_sentences=n_train_sentences, warm=warm, stop_after=total // 2 if small else 0, budget_cut=cut)


class LinearDecay:
    """LR factor: linear warm-up, then linear decay to 0 at `total`; `shorten` re-aims the decay at a new total
    (shorter or longer)."""

    def __init__(self, total: int, warmup: float):
        self.warmup, self.total, self.warm = warmup, total, int(warmup * total)
        self.anchor = (self.warm, 1.0)  # the decay runs from this (step, factor) to (total, 0)

    def __call__(self, step: int) -> float:
        if step < self.warm:
            return step / self.warm
        start, factor = self.anchor
        return max(0.0, factor * (self.total - step) / max(1, self.total - start))

    def shorten(self, total: int, step: int) -> None:
        """From `step` on, reach 0 at `total` instead, sooner or later (a warm-up still running is kept
        proportional)."""
        warm = int(self.warmup * total)
        if step < warm:
            self.warm, self.anchor = warm, (warm, 1.0)
        else:
            self.anchor, self.warm = (step, self(step)), min(self.warm, step)
        self.total = total


def _fields(item) -> tuple[Sequence[str], Sequence[str] | None, Any]:
    """Words, tags and loss weight (default 1) of a dict, a Sentence-like object or a (words, tags) pair."""
    if isinstance(item, dict):
        return item["words"], item["tags"], item.get("weight", 1.0)
    if hasattr(item, "words"):
        return item.words, item.tags, getattr(item, "weight", 1.0)
    w, t = item
    return w, t, 1.0


def _pairs(data: Sequence) -> tuple[list[list[str]], list[list[str]]]:
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
    """Per-sentence loss weights aligned with `_pairs` (empty sentences dropped); None when all are 1."""
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
    """The model's own loss, or the weighted one when the batch carries `weights`."""
    weights = batch.pop("weights", None)
    if weights is None:
        return model(**batch).loss
    labels = batch.pop("labels")
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
        piece = {k: (v[:, :keep] if v.dim() == 2 else v).contiguous() for k, v in rows.items()}
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
    base = model.base_model
    if how == "none":
        return
    emb = getattr(base, "embeddings", None)
    if how == "embeddings" or how.startswith("top-"):
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
    elif how != "embeddings":
        raise ValueError(f"freeze must be none, embeddings or top-K, not {how!r}")


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


def save_atomic(tagger: Tagger, out: str | Path, extra: dict) -> Path:
    """Write a model folder (weights, tokenizer, metrics.json and the model card README.md) beside `out`, then rename
    it into place; a crash leaves no half-written folder. An existing `out` is replaced only when it is empty
    (reserved for this save) or a model folder (it holds metrics.json)."""
    out = Path(out)
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / "metrics.json").is_file())):
        raise FileExistsError(f"{out} exists and is not a model folder: not replacing it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tagger.save(tmp)
        (tmp / "metrics.json").write_text(json.dumps(extra, indent=2, default=str))
        (tmp / "README.md").write_text(card.render(extra), encoding="utf-8")
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


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


def train(cfg: TrainConfig, train_data: Sequence, dev_data: Sequence = (), out: str | Path | None = None, *,
          about: dict | None = None, prior: dict | None = None, clock=time.perf_counter) -> Iterator[Event]:
    """Fine-tune, yielding events; the best model (by dev micro F1) is saved to `out` by the main process.
    `about`: facts for the model card the trainer cannot know (`command`, `job`, `test_sentences`, `test_tokens`).
    `prior`: the last run's `train_s_per_sentence` and `eval_s_per_sentence` on this machine (see `rates`), for the
    time left until this run's own are measured. `clock`: seconds (time.perf_counter; a fake one in tests).

    Each start and step event's `info` carries what the time left needs: `s_per_step` (measured seconds of training
    per step, None until known), `s_per_eval` (seconds per dev evaluation: measured, else estimated), `evals_left`;
    with the event's `total_steps` (the plan that will run): see `eta`."""
    from accelerate import Accelerator
    from transformers import set_seed

    set_seed(cfg.seed)
    provenance = {"base_model": card.base_model(cfg.model), "nerloop_version": card.nerloop_version(),
                  "command": card.process_command(), **(about or {})}
    words, tags = _pairs(train_data)
    weights = _weights(train_data)
    dev_words, dev_tags = _pairs(dev_data)
    if not words:
        raise ValueError("no labelled training sentences")
    labels = cfg.labels or label_set(seen_types(tags + dev_tags))
    unknown = {t for seq in tags + dev_tags for t in seq} - set(labels)
    if unknown:
        raise ValueError(f"tags not in the label set: {sorted(unknown)}")

    use_cuda = cfg.device in ("auto", "cuda") and torch.cuda.is_available()
    acc = Accelerator(mixed_precision="bf16" if use_cuda else "no", cpu=not use_cuda)
    tagger = Tagger.load(cfg.model, labels=labels, device=str(acc.device), shape=cfg.shape, dropout=cfg.dropout)
    _freeze(tagger.model, cfg.freeze)
    windows = tagger.windows(words, tags, weights=weights)
    sampler = LengthGroupedBatches([len(w.input_ids) for w in windows], cfg.batch_size, cfg.seed)
    loader = torch.utils.data.DataLoader(
        windows, batch_sampler=sampler, collate_fn=lambda b: tagger.collate(b, labels=True)
    )
    optimizer = _optimizer(tagger.model, cfg)
    model, optimizer, loader = acc.prepare(tagger.model, optimizer, loader)
    per_epoch = len(loader)
    schedule = plan(cfg, len(words), per_epoch, tagger.trained)
    total = schedule.total_steps
    decay = LinearDecay(total, cfg.warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    gen = torch.Generator().manual_seed(cfg.seed + acc.process_index)

    rows_per_step = len(windows) / per_epoch  # the last batch of an epoch may be short
    prior = prior or {}

    def prior_step_s() -> float | None:
        return prior["train_s_per_sentence"] * rows_per_step if prior.get("train_s_per_sentence") else None

    def eval_estimate(per_step: float | None, rows: float) -> float | None:
        """Seconds of one dev evaluation before one was timed: the last run's per dev sentence, else this run's
        training speed per sentence / EVAL_SPEEDUP."""
        if not dev_words:
            return 0.0
        if prior.get("eval_s_per_sentence"):
            return prior["eval_s_per_sentence"] * len(dev_words)
        return None if per_step is None else per_step / max(1.0, rows) * len(dev_words) / EVAL_SPEEDUP

    first = prior_step_s()
    info = {"labels": labels, "train_sentences": len(words), "train_tokens": sum(map(len, words)),
            "dev_sentences": len(dev_words), "warm_start": tagger.trained, "epochs": schedule.epochs,
            "steps_per_epoch": per_epoch, "processes": acc.num_processes, "eval_every": schedule.eval_every,
            "time_budget": cfg.time_budget, "s_per_step": first, "s_per_eval": eval_estimate(first, rows_per_step),
            "evals_left": schedule.evals_left(0), "rate": "last run" if first else None}
    log.info("training %s (%s) on %d sentences (%d tokens), %d dev sentences, %d labels; plan: %d steps (%d epochs of "
             "%d), dev evaluation every %d steps, %d process(es)", cfg.model,
             "warm start" if tagger.trained else "new head", len(words), info["train_tokens"], len(dev_words), len(labels), total, schedule.epochs, per_epoch,
             schedule.eval_every, acc.num_processes)
    yield Event("start", 0, total, 0.0, info=info)
    best_f1, best_state, best_scores, best_step, bad_evals = -1.0, None, None, 0, 0
    step, smooth, started, seen, eval_seconds, evals = 0, None, clock(), 0, 0.0, 0
    saved, last_eval = False, -1
    window: collections.deque = collections.deque(maxlen=RATE_WINDOW + 1)  # (step, training seconds) from step 1
    mark = (1, 0.0)  # where the step time for the budget was last measured from (after the first step: warm-up)

    def aim(train_s: float) -> None:
        """Re-aim the schedule at what fits the time budget, at the step time measured since `mark`."""
        nonlocal schedule, total, mark
        rate = (train_s - mark[1]) / (step - mark[0])
        mark = (step, train_s)
        new = plan(cfg, len(words), per_epoch, tagger.trained, seconds_per_step=rate, done_steps=step,
                   spent_s=train_s)
        if new.total_steps != total:
            log.info("time budget of %s s: %d steps instead of %d (%.3f s each measured, %.0f s spent at step %d)",
                     cfg.time_budget, new.total_steps, total, rate, train_s, step)
            total = max(step, new.total_steps)
            decay.shorten(total, step)
        schedule = new

    def pace(step: int, seen: int) -> dict:
        """The ETA's figures after `step`: measured seconds per training step (over the last RATE_WINDOW steps,
        never the first: warm-up; the last run's until RATE_MIN_STEPS are timed, when known) and per dev
        evaluation."""
        start_step, start_s = window[0]
        per_step, source = None, None
        if step - start_step >= RATE_MIN_STEPS or (step > start_step and prior_step_s() is None):
            per_step, source = (window[-1][1] - start_s) / (step - start_step), "run"
        elif prior_step_s() is not None:
            per_step, source = prior_step_s(), "last run"
        per_eval = eval_seconds / evals if evals and dev_words else eval_estimate(per_step, seen / max(1, step))
        return {"s_per_step": per_step, "s_per_eval": per_eval, "rate": source}

    def check() -> Event:
        """Score the current weights on dev and keep them when they are the best so far."""
        nonlocal best_f1, best_scores, best_step, bad_evals, best_state, eval_seconds, last_eval, evals
        last_eval, evals = step, evals + 1
        if dev_words:
            t_eval = clock()
            scores = evaluate(tagger, dev_words, dev_tags).scores
            eval_seconds += clock() - t_eval
            f1 = scores["micro"]["f1"]
        else:
            scores, f1 = None, float(step)  # no dev set: the last model is the best
        is_best = f1 > best_f1
        if is_best:
            best_f1, best_scores, best_step, bad_evals = f1, scores, step, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in tagger.model.state_dict().items()}
        else:
            bad_evals += 1
        log.info("step %d/%d: loss %s, %s%s", step, total, "-" if smooth is None else f"{smooth:.4f}",
                 "no dev set" if scores is None else f"dev F1 {f1:.4f}", " (best so far)" if is_best else "")
        return Event("eval", step, total, step / per_epoch, loss=smooth, scores=scores, is_best=is_best)

    try:
        stop = False
        for _ in range(schedule.epochs):  # the full plan's epochs: a re-aimed budget stays within them
            model.train()
            for batch in loader:
                if cfg.shape_dropout and "token_type_ids" in batch:
                    drop = torch.rand(batch["input_ids"].shape[0], generator=gen) < cfg.shape_dropout
                    batch["token_type_ids"][drop.to(batch["token_type_ids"].device)] = 0
                n_rows = batch["input_ids"].shape[0]
                pieces = micro_batches(batch, cfg.max_batch_tokens)
                loss = 0.0
                for k, (piece, share) in enumerate(pieces):
                    sync = contextlib.nullcontext() if k == len(pieces) - 1 else acc.no_sync(model)
                    with sync:
                        part = _loss(model, piece) * share
                        acc.backward(part)
                    loss += part.detach()
                if cfg.max_grad_norm:
                    acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                seen += n_rows
                value = float(loss.detach())
                smooth = value if smooth is None else 0.9 * smooth + 0.1 * value
                elapsed = clock() - started
                train_s = elapsed - eval_seconds
                if step == 1:
                    mark = (1, train_s)
                elif step == 1 + MEASURE_STEPS and cfg.time_budget:  # the speed after warm-up is known
                    aim(train_s)
                window.append((step, train_s))
                yield Event("step", step, total, step / per_epoch, loss=smooth, lr=scheduler.get_last_lr()[0],
                            info={"elapsed": elapsed, "train_s": train_s, "eval_s": eval_seconds, "evals": evals,
                                  "evals_left": schedule.evals_left(step - 1),  # this step's own evaluation is to come
                                  **pace(step, seen)})
                if step % schedule.eval_every == 0 or step == total:
                    yield check()
                    if dev_words and cfg.patience and bad_evals >= cfg.patience and step >= schedule.stop_after:
                        log.info("stopped early at step %d: %d evaluations without a better dev F1", step, bad_evals)
                        stop = True
                        break
                    if cfg.time_budget and step < total and step - mark[0] >= MEASURE_STEPS:
                        aim(train_s)  # measured again at every evaluation: shorter or longer, within the plan
                if step >= total:
                    stop = True
                    break
            if stop:
                break
        if last_eval != step:  # the loader ended before `total` (e.g. uneven shards): judge the last state too
            yield check()
        if best_state is not None:
            tagger.model.load_state_dict(best_state)
        extra = {"dev": best_scores, "best_step": best_step, "steps": step, "labels": labels,
                 "train_sentences": len(words), "train_tokens": sum(map(len, words)),
                 "dev_sentences": len(dev_words), "dev_tokens": sum(map(len, dev_words)), **provenance,
                 "config": asdict(cfg),
                 "steps_per_epoch": per_epoch, "processes": acc.num_processes,
                 "train_windows_seen": seen * acc.num_processes,
                 "train_seconds": clock() - started - eval_seconds, "eval_seconds": eval_seconds, "evals": evals}
        if out is not None and acc.is_main_process:
            save_atomic(tagger, out, extra)
            saved = True
            log.info("saved the model of step %d (dev F1 %s) to %s", best_step,
                     "-" if best_scores is None else f"{best_scores['micro']['f1']:.4f}", out)
        acc.wait_for_everyone()
        yield Event("saved" if out is not None else "done", step, total, step / per_epoch,
                    scores=best_scores, is_best=True, path=str(out) if out else None, info=extra)
    except Exception:
        # a crash still leaves the best state reached so far, when there is one
        if out is not None and not saved and best_state is not None and acc.is_main_process:
            tagger.model.load_state_dict(best_state)
            save_atomic(tagger, out, {"dev": best_scores, "best_step": best_step, "steps": step,
                                      "labels": labels, "interrupted": True, **provenance, "config": asdict(cfg)})
            log.warning("interrupted at step %d: saved the best model so far (step %d) to %s", step, best_step, out)
        raise
    finally:
        acc.free_memory()


def run(cfg: TrainConfig, train_data: Sequence, dev_data: Sequence = (), out: str | Path | None = None, *,
        about: dict | None = None) -> Event:
    """Consume the whole stream and return the last event."""
    last = None
    for last in train(cfg, train_data, dev_data, out, about=about):
        pass
    return last
