"""The training schedule: steps chosen by data size (cold and warm), the time budget measured after warm-up and at every
evaluation (a fake clock), a dev evaluation every quarter at least, the ETA, early stopping on a plateau."""
from __future__ import annotations

import math

import pytest

import core.train
from core import jobs
from core.train import MEASURE_STEPS, LinearDecay, TrainConfig, plan, train

from small_data import DATASET

CFG = TrainConfig()  # the app's defaults: batch 16, 3 epochs, floor of 25 epochs within [250, 1200] steps


def per_epoch(sentences: int, batch: int = CFG.batch_size) -> int:
    return math.ceil(sentences / batch)


class FakeClock:
    """A clock the test moves: `core.train.train(clock=...)` reads it, the test advances it between steps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def timed_run(cfg: TrainConfig, monkeypatch, step_s, *, eval_s: float = 0.0, prior: dict | None = None,
              dev=DATASET[:8]) -> tuple[list, list[float]]:
    """Train on the tiny model with a fake clock: step k takes step_s(k) seconds, a dev evaluation eval_s. Returns the
    events and the clock's time at each."""
    clock = FakeClock()
    real = core.train.evaluate

    def slow_evaluate(*args, **kwargs):
        clock.now += eval_s
        return real(*args, **kwargs)

    monkeypatch.setattr(core.train, "evaluate", slow_evaluate)
    events, times = [], []
    clock.now += step_s(1)
    for ev in train(cfg, DATASET, dev, clock=clock, prior=prior):
        events.append(ev)
        times.append(clock.now)
        if ev.kind == "step":
            clock.now += step_s(ev.step + 1)  # the next step's duration
    return events, times


@pytest.mark.parametrize("sentences, cold, warm", [
    (50, (252, 63, 42, 126), (60, 15, 15, 0)),  # tiny: the 250-step lower bound, 6 dev evaluations; warm: 60
    (500, (800, 25, 134, 400), (96, 3, 24, 0)),  # 25 epochs; warm: the 3 epochs asked for, evaluated every quarter
    (5000, (1252, 4, 209, 626), (939, 3, 235, 0)),  # the 1,200-step upper bound; warm: the 3 epochs asked for
])
def test_steps_chosen_by_data_size(sentences, cold, warm):
    for is_warm, expected in ((False, cold), (True, warm)):
        p = plan(CFG, sentences, per_epoch(sentences), is_warm)
        assert (p.total_steps, p.epochs, p.eval_every, p.stop_after) == expected
        assert p.epochs * p.steps_per_epoch == p.total_steps and not p.budget_cut


def test_the_floor_before_issue_10_is_still_reachable():
    before = TrainConfig(floor_epochs=0, small_evals=0)
    p = plan(before, 50, 4, False)
    assert (p.total_steps, p.eval_every, p.stop_after) == (1200, 250, 0)
    assert plan(TrainConfig(min_steps=0), 50, 4, False).total_steps == 12  # no floor: the 3 epochs asked for


@pytest.mark.parametrize("cfg", [CFG, TrainConfig(small_evals=0), TrainConfig(small_evals=2, min_eval_interval=10_000),
                                 TrainConfig(evals_per_epoch=1, min_eval_interval=5000, min_steps=0),
                                 TrainConfig(batch_size=8, warm_min_steps=60)])
def test_a_dev_evaluation_at_least_every_quarter_of_a_run(cfg):
    for sentences in (1, 7, 50, 200, 500, 2000, 5000, 20000, 100_000):
        per = per_epoch(sentences, cfg.batch_size)
        for warm in (False, True):
            for rate in (None, 0.01, 0.5, 5.0):
                p = plan(cfg, sentences, per, warm, seconds_per_step=rate)
                assert p.eval_every <= math.ceil(p.total_steps / 4), (sentences, warm, rate, p)
                assert p.evals_left(0) >= min(4, p.total_steps)


def test_the_time_budget_cuts_only_the_floor():
    cfg = TrainConfig(budget_min_steps=100, floor_low=400)
    slow = plan(cfg, 50, 4, False, seconds_per_step=6.0)  # 300 s fit 50 steps: cut to the lowest a budget allows
    assert slow.budget_cut and slow.total_steps == 100 and slow.stop_after == 50
    assert plan(cfg, 50, 4, False, seconds_per_step=2.0).total_steps == 150
    assert not plan(cfg, 50, 4, False, seconds_per_step=0.5).budget_cut  # 400 steps fit in 200 s
    big = plan(cfg, 5000, 313, False, seconds_per_step=1.0)  # never below the 3 epochs asked for
    assert big.budget_cut and big.total_steps == 939
    assert not plan(TrainConfig(time_budget=0), 50, 4, False, seconds_per_step=60.0).budget_cut
    assert plan(TrainConfig(budget_min_steps=200, floor_low=400), 50, 4, False, seconds_per_step=6.0).total_steps == 200


def test_the_time_budget_counts_the_time_spent_and_may_give_steps_back():
    cfg = TrainConfig(budget_min_steps=100, floor_low=400)
    # 60 steps took 240 s (a slow start); at 0.5 s a step the 60 s left fit 120 more: 180 in all
    assert plan(cfg, 50, 4, False, seconds_per_step=0.5, done_steps=60, spent_s=240.0).total_steps == 180
    # faster now: the whole plan fits again, never more
    back = plan(cfg, 50, 4, False, seconds_per_step=0.05, done_steps=60, spent_s=240.0)
    assert back.total_steps == 400 and not back.budget_cut
    # the budget spent: the floor, or the steps already done when they are more
    assert plan(cfg, 50, 4, False, seconds_per_step=1.0, done_steps=60, spent_s=400.0).total_steps == 100
    assert plan(cfg, 50, 4, False, seconds_per_step=1.0, done_steps=130, spent_s=400.0).total_steps == 130


def test_a_shortened_decay_still_ends_at_zero():
    decay = LinearDecay(400, 0.1)
    assert decay(20) == 0.5 and decay(40) == 1.0 and decay(400) == 0.0
    before = decay(60)
    decay.shorten(100, 60)
    assert decay(60) == before and decay(80) == pytest.approx(before / 2) and decay(100) == 0.0
    decay.shorten(300, 80)  # longer again: from where it is, to 0 at the new end
    assert decay(80) == pytest.approx(before / 2) and decay(190) == pytest.approx(before / 4) and decay(300) == 0.0
    early = LinearDecay(400, 0.1)
    early.shorten(100, 5)  # still warming up: the warm-up shrinks with the run
    assert early(5) == 0.5 and early(10) == 1.0 and early(100) == 0.0


def test_the_time_budget_shortens_a_run(tiny_model):
    cfg = TrainConfig(model=tiny_model, batch_size=8, min_steps=400, floor_low=400, time_budget=1e-6, patience=0,
                      device="cpu", lr=1e-3, budget_min_steps=100)
    events = list(train(cfg, DATASET, DATASET[:8]))
    steps = [e for e in events if e.kind == "step"]
    assert events[0].total_steps == 400  # planned, before the speed was known
    assert {e.total_steps for e in steps[:MEASURE_STEPS]} == {400}
    assert {e.total_steps for e in steps[MEASURE_STEPS:]} == {100}  # measured again at each evaluation: still over
    assert steps[-1].step == 100 and steps[-1].lr == 0.0  # the decay was re-aimed at the new total
    assert events[-1].kind == "done" and events[-1].info["steps"] == 100


def test_slow_first_steps_keep_the_floor_and_the_run_grows_back(tiny_model, monkeypatch):
    cfg = TrainConfig(model=tiny_model, batch_size=8, min_steps=400, floor_low=400, time_budget=300, patience=0,
                      device="cpu", lr=1e-3, budget_min_steps=100)
    # the first 20 steps take 5 s each (a busy machine: 100 s), the rest 0.1 s
    events, _ = timed_run(cfg, monkeypatch, lambda k: 5.0 if k <= 20 else 0.1)
    steps = [e for e in events if e.kind == "step"]
    totals = [e.total_steps for e in steps]
    assert totals[MEASURE_STEPS] == 100  # at step 11, 5 s a step: 49 more would fit, the floor holds
    assert min(totals) == 100
    assert totals[-1] == 400 and steps[-1].step == 400 and steps[-1].lr == 0.0  # measured again: all of the plan
    evals = [0] + [e.step for e in events if e.kind == "eval"]
    assert max(b - a for a, b in zip(evals, evals[1:])) <= math.ceil(400 / 4)
    assert events[-1].info["steps"] == 400

    slow, _ = timed_run(cfg, monkeypatch, lambda k: 10.0)  # slow throughout: the floor, never less
    assert {e.total_steps for e in slow if e.kind == "step"} == {400, 100}
    assert slow[-1].info["steps"] == 100


@pytest.mark.parametrize("prior", [True, False])
def test_the_eta_is_within_a_quarter_of_the_time_left_from_a_tenth_of_the_run_on(tiny_model, monkeypatch, prior):
    cfg = TrainConfig(model=tiny_model, batch_size=8, min_steps=400, floor_low=400, patience=0, device="cpu",
                      lr=1e-3, time_budget=0)
    # CoNLL-2003's proportions on 2 cores: a step of 16 sentences 0.27 s, a dev evaluation of 1,000 sentences 4.7 s
    # (17 steps); here 480 dev sentences, which EVAL_SPEEDUP prices at 4.3 s from the training speed (no last run)
    step_s, eval_s, dev = 0.25, 4.5, DATASET * 15
    last = {"train_s_per_sentence": step_s / 8, "eval_s_per_sentence": eval_s / len(dev)} if prior else None
    # the first step is slow (warm-up): 20 s, which an ETA taken over all steps would count 400 times
    events, times = timed_run(cfg, monkeypatch, lambda k: 20.0 if k == 1 else step_s, eval_s=eval_s, prior=last,
                              dev=dev)
    end, total = times[-1], events[-1].info["steps"]
    start = events[0]
    assert start.kind == "start" and start.info["evals_left"] == 6
    if prior:
        assert jobs.eta_seconds(start.to_dict()) == pytest.approx((end - times[0]) - 20.0 + step_s, rel=0.25)
    else:
        assert jobs.eta_seconds(start.to_dict()) is None
    checked = 0
    for ev, t in zip(events, times):
        if ev.kind != "step" or ev.step < total / 10:
            continue
        left = end - t
        assert jobs.eta_seconds(ev.to_dict()) == pytest.approx(left, rel=0.25), ev.step
        checked += 1
    assert checked > 300


def test_early_stopping_on_a_plateau_ends_before_the_planned_total(tiny_model):
    # nothing is learnt at lr 0: dev F1 is flat from the first evaluation on
    cfg = TrainConfig(model=tiny_model, batch_size=8, min_steps=60, floor_low=60, lr=0.0, head_lr=0.0, device="cpu",
                      time_budget=0)
    events = list(train(cfg, DATASET, DATASET[:8]))
    assert events[0].total_steps == 60 and events[0].info["eval_every"] == 10
    assert [e.step for e in events if e.kind == "eval"] == [10, 20, 30, 40]  # patience 3
    assert events[-1].info["steps"] == 40 < 60
    cfg.patience = 1  # the first half always runs: no stop at step 20
    events = list(train(cfg, DATASET, DATASET[:8]))
    assert [e.step for e in events if e.kind == "eval"] == [10, 20, 30] and events[-1].info["steps"] == 30
