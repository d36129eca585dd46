"""A training run's schedule: the plan of its steps, the learning-rate decay, and its pace (the time left)."""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Callable

from core.config import TrainConfig

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


class Pace:
    """A run's clock and the time left's figures: seconds of training (dev evaluations not counted), per training
    step over the last RATE_WINDOW steps (never the first: warm-up) and per dev evaluation; the last run's (`prior`,
    see core.jobs.last_rates) until this run's are measured."""

    def __init__(self, prior: dict | None, rows_per_step: float, dev_sentences: int, clock: Callable[[], float]):
        self.prior, self.rows_per_step, self.dev_sentences = prior or {}, rows_per_step, dev_sentences
        self.clock, self.started = clock, 0.0
        self.eval_s, self.evals = 0.0, 0
        self.window: collections.deque = collections.deque(maxlen=RATE_WINDOW + 1)  # (step, training s) from step 1

    def prior_step_s(self) -> float | None:
        """Seconds per step at the last run's speed, when known."""
        per = self.prior.get("train_s_per_sentence")
        return per * self.rows_per_step if per else None

    def eval_estimate(self, per_step: float | None, rows: float) -> float | None:
        """Seconds of one dev evaluation before one was timed: the last run's per dev sentence, else this run's
        training speed per sentence / EVAL_SPEEDUP."""
        if not self.dev_sentences:
            return 0.0
        if self.prior.get("eval_s_per_sentence"):
            return self.prior["eval_s_per_sentence"] * self.dev_sentences
        return None if per_step is None else per_step / max(1.0, rows) * self.dev_sentences / EVAL_SPEEDUP

    def before(self) -> dict:
        """The figures before the first step (the last run's, when known)."""
        first = self.prior_step_s()
        return {"s_per_step": first, "s_per_eval": self.eval_estimate(first, self.rows_per_step),
                "rate": "last run" if first else None}

    def start(self) -> None:
        self.started = self.clock()

    def timed(self, work: Callable[[], dict]) -> dict:
        """Run a dev evaluation, its seconds counted apart from training."""
        began = self.clock()
        out = work()
        self.eval_s += self.clock() - began
        return out

    def lap(self, step: int) -> tuple[float, float]:
        """Seconds since the start, and of training alone, after `step` (kept for the rate)."""
        elapsed = self.clock() - self.started
        train_s = elapsed - self.eval_s
        self.window.append((step, train_s))
        return elapsed, train_s

    def figures(self, step: int, seen: int) -> dict:
        """The ETA's figures after `step` (`seen` rows trained): seconds per training step (the last run's until
        RATE_MIN_STEPS are timed, when known) and per dev evaluation."""
        start_step, start_s = self.window[0]
        per_step, source = None, None
        if step - start_step >= RATE_MIN_STEPS or (step > start_step and self.prior_step_s() is None):
            per_step, source = (self.window[-1][1] - start_s) / (step - start_step), "run"
        elif self.prior_step_s() is not None:
            per_step, source = self.prior_step_s(), "last run"
        if self.evals and self.dev_sentences:
            per_eval = self.eval_s / self.evals
        else:
            per_eval = self.eval_estimate(per_step, seen / max(1, step))
        return {"s_per_step": per_step, "s_per_eval": per_eval, "rate": source}
