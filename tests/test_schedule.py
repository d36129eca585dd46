"""The training schedule: steps chosen by data size (cold and warm), the time budget, early stopping on a plateau."""
from __future__ import annotations

import math

import pytest

from core.train import BUDGET_MIN_STEPS, MEASURE_STEPS, LinearDecay, TrainConfig, plan, train

from small_data import DATASET

CFG = TrainConfig()  # the app's defaults: batch 16, 3 epochs, floor of 25 epochs within [400, 1200] steps


def per_epoch(sentences: int) -> int:
    return math.ceil(sentences / CFG.batch_size)


@pytest.mark.parametrize("sentences, cold, warm", [
    (50, (400, 100, 67, 200), (152, 38, 152, 0)),  # tiny: the 400-step lower bound, 6 dev evaluations
    (500, (800, 25, 134, 400), (160, 5, 160, 0)),  # 25 epochs
    (5000, (1252, 4, 209, 626), (939, 3, 313, 0)),  # the 1,200-step upper bound; warm: the 3 epochs asked for
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


def test_the_time_budget_cuts_only_the_floor():
    slow = plan(CFG, 50, 4, False, seconds_per_step=6.0)  # 300 s fit 50 steps: cut to the lowest a budget allows
    assert slow.budget_cut and slow.total_steps == BUDGET_MIN_STEPS and slow.stop_after == 50
    assert plan(CFG, 50, 4, False, seconds_per_step=2.0).total_steps == 150
    assert not plan(CFG, 50, 4, False, seconds_per_step=0.5).budget_cut  # 400 steps fit in 200 s
    big = plan(CFG, 5000, 313, False, seconds_per_step=1.0)  # never below the 3 epochs asked for
    assert big.budget_cut and big.total_steps == 939
    assert not plan(TrainConfig(time_budget=0), 50, 4, False, seconds_per_step=60.0).budget_cut


def test_a_shortened_decay_still_ends_at_zero():
    decay = LinearDecay(400, 0.1)
    assert decay(20) == 0.5 and decay(40) == 1.0 and decay(400) == 0.0
    before = decay(60)
    decay.shorten(100, 60)
    assert decay(60) == before and decay(80) == pytest.approx(before / 2) and decay(100) == 0.0
    early = LinearDecay(400, 0.1)
    early.shorten(100, 5)  # still warming up: the warm-up shrinks with the run
    assert early(5) == 0.5 and early(10) == 1.0 and early(100) == 0.0


def test_the_time_budget_shortens_a_run(tiny_model):
    cfg = TrainConfig(model=tiny_model, batch_size=8, min_steps=400, floor_low=400, time_budget=1e-6, patience=0,
                      device="cpu", lr=1e-3)
    events = list(train(cfg, DATASET, DATASET[:8]))
    steps = [e for e in events if e.kind == "step"]
    assert events[0].total_steps == 400  # planned, before the speed was known
    assert {e.total_steps for e in steps[:MEASURE_STEPS]} == {400}
    assert {e.total_steps for e in steps[MEASURE_STEPS:]} == {BUDGET_MIN_STEPS}
    assert steps[-1].step == BUDGET_MIN_STEPS and steps[-1].lr == 0.0  # the decay was re-aimed at the new total
    assert events[-1].kind == "done" and events[-1].info["steps"] == BUDGET_MIN_STEPS


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
