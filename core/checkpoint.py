"""What a training run keeps between its steps and reports: the events, dev evaluation, the best state, patience,
the time budget's re-plan, and the saves (the best model at the end, the best so far on a crash)."""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from core import card, distributed
from core.config import TrainConfig
from core.model import Tagger
from core.schedule import MEASURE_STEPS, LinearDecay, Pace, Plan

log = logging.getLogger("core.train")  # the trainer's lines (`nerloop -v`, a job's log) read as core.train's


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


class Checkpointer:
    """A run's memory: told of each step (`stepped`), it says when a dev evaluation is `due`; `check` scores the
    weights and keeps the best, `patience_spent` says when to stop early, `reaim` fits the plan to the time budget,
    `finish` saves the best state to `out` (the main process only) and `crash_save` saves the best so far.

    `score`: the dev set's core.metrics.score of the current weights (None without a dev set: the last state is the
    best); `replan`: core.schedule.plan for this run, given the measured pace; `facts`: the run's sizes and provenance
    for metrics.json."""

    def __init__(self, cfg: TrainConfig, tagger: Tagger, acc: Any, schedule: Plan, *, decay: LinearDecay, pace: Pace,
                 score: Callable[[], dict] | None, replan: Callable[..., Plan], out: str | Path | None,
                 labels: list[str], facts: dict, provenance: dict):
        self.cfg, self.tagger, self.acc, self.out = cfg, tagger, acc, out
        self.schedule, self.total, self.decay, self.pace = schedule, schedule.total_steps, decay, pace
        self.score, self.replan = score, replan
        self.labels, self.facts, self.provenance = labels, facts, provenance
        self.best_f1, self.best_state, self.best_scores, self.best_step, self.bad_evals = -1.0, None, None, 0, 0
        self.step, self.seen, self.loss, self.last_eval, self.saved = 0, 0, None, -1, False
        self.mark = (1, 0.0)  # where the step time for the budget was last measured from (after step 1: warm-up)

    def epoch(self) -> float:
        return self.step / self.schedule.steps_per_epoch

    def stepped(self, step: int, seen: int, loss: float, train_s: float) -> None:
        """Note a finished step (`seen` rows and `train_s` seconds of training so far); once the MEASURE_STEPS after
        the first are timed, aim at the time budget."""
        self.step, self.seen, self.loss = step, seen, loss
        if step == 1:
            self.mark = (1, train_s)
        elif step == 1 + MEASURE_STEPS and self.cfg.time_budget:
            self.reaim(train_s)

    def due(self) -> bool:
        """Whether the plan evaluates on dev after this step."""
        return self.step % self.schedule.eval_every == 0 or self.step == self.total

    def check(self) -> Event:
        """Score the current weights on dev and keep them when they are the best so far."""
        self.last_eval = self.step
        self.pace.evals += 1
        if self.score is not None:
            scores = self.pace.timed(self.score)
            f1 = scores["micro"]["f1"]
        else:
            scores, f1 = None, float(self.step)  # no dev set: the last model is the best
        is_best = f1 > self.best_f1
        if is_best:
            self.best_f1, self.best_scores, self.best_step, self.bad_evals = f1, scores, self.step, 0
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.tagger.model.state_dict().items()}
        else:
            self.bad_evals += 1
        log.info("step %d/%d: loss %s, %s%s", self.step, self.total, "-" if self.loss is None else f"{self.loss:.4f}",
                 "no dev set" if scores is None else f"dev F1 {f1:.4f}", " (best so far)" if is_best else "")
        return Event("eval", self.step, self.total, self.epoch(), loss=self.loss, scores=scores, is_best=is_best)

    def patience_spent(self) -> bool:
        """Whether `patience` evaluations in a row did not improve on the best (never in the part that always runs)."""
        cfg = self.cfg
        spent = bool(self.score and cfg.patience and self.bad_evals >= cfg.patience
                     and self.step >= self.schedule.stop_after)
        if spent:
            log.info("stopped early at step %d: %d evaluations without a better dev F1", self.step, self.bad_evals)
        return spent

    def reaim(self, train_s: float, *, after_eval: bool = False) -> None:
        """Re-aim the plan at what fits the time budget, at the step time measured since the last aim (after a dev
        evaluation: when there is a budget, steps are left and MEASURE_STEPS were timed since)."""
        if after_eval and not (self.cfg.time_budget and self.step < self.total
                               and self.step - self.mark[0] >= MEASURE_STEPS):
            return
        rate = distributed.agree(self.acc, (train_s - self.mark[1]) / (self.step - self.mark[0]))  # one plan for all
        self.mark = (self.step, train_s)
        new = self.replan(seconds_per_step=rate, done_steps=self.step, spent_s=train_s)
        if new.total_steps != self.total:
            log.info("time budget of %s s: %d steps instead of %d (%.3f s each measured, %.0f s spent at step %d)",
                     self.cfg.time_budget, new.total_steps, self.total, rate, train_s, self.step)
            self.total = max(self.step, new.total_steps)
            self.decay.shorten(self.total, self.step)
        self.schedule = new

    def finish(self) -> Event:
        """Load the best state, save it to `out` (the main process) and report it with the run's figures."""
        if self.best_state is not None:
            self.tagger.model.load_state_dict(self.best_state)
        acc, pace = self.acc, self.pace
        extra = {"dev": self.best_scores, "best_step": self.best_step, "steps": self.step, "labels": self.labels,
                 **self.facts, **self.provenance, "config": asdict(self.cfg),
                 "steps_per_epoch": self.schedule.steps_per_epoch, "processes": acc.num_processes,
                 "train_windows_seen": self.seen, "mixed_precision": acc.mixed_precision,
                 "train_seconds": pace.clock() - pace.started - pace.eval_s, "eval_seconds": pace.eval_s,
                 "evals": pace.evals}
        if self.out is not None and acc.is_main_process:
            save_atomic(self.tagger, self.out, extra)
            self.saved = True
            log.info("saved the model of step %d (dev F1 %s) to %s", self.best_step,
                     "-" if self.best_scores is None else f"{self.best_scores['micro']['f1']:.4f}", self.out)
        acc.wait_for_everyone()
        return Event("saved" if self.out is not None else "done", self.step, self.total, self.epoch(),
                     scores=self.best_scores, is_best=True, path=str(self.out) if self.out else None, info=extra)

    def crash_save(self) -> None:
        """After a crash, save the best state reached so far, when there is one and nothing was saved yet."""
        if self.out is None or self.saved or self.best_state is None or not self.acc.is_main_process:
            return
        self.tagger.model.load_state_dict(self.best_state)
        save_atomic(self.tagger, self.out, {"dev": self.best_scores, "best_step": self.best_step, "steps": self.step,
                                            "labels": self.labels, "interrupted": True, **self.provenance,
                                            "config": asdict(self.cfg)})
        log.warning("interrupted at step %d: saved the best model so far (step %d) to %s", self.step, self.best_step,
                    self.out)
