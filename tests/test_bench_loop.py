"""bench/loop.py's pure parts: actions per corrected sentence on hand-made tag pairs, the results table, options."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench_loop", Path(__file__).parents[1] / "bench" / "loop.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)

O = "O"
# (prediction, gold, keyboard-only keys, span-editor actions), counted by hand:
CASES = {
    # keyboard: PER, PER (I- by itself), →, LOC, Ctrl+Enter; spans: drag+1, click+2, Ctrl+Enter
    "from blank": ([O] * 5, ["B-PER", "I-PER", O, "B-LOC", O], 5, 5),
    # keyboard: 0 three times (each clear turns the next I- into B-), → → →, 0, Ctrl+Enter; spans: clear all, save
    "spurious entities": (["B-PER", "I-PER", "I-PER", O, O, O, "B-ORG"], [O] * 7, 8, 2),
    # keyboard: LOC, LOC gives I-LOC and the cursor stays on the last word, LOC again gives B-LOC, Ctrl+Enter
    "adjacent same type": ([O, O], ["B-LOC", "B-LOC"], 4, 5),
    # keyboard: LOC (the I-ORG after it becomes B-ORG), LOC (now I-LOC), Ctrl+Enter; spans: click entity, 2, save
    "wrong type": (["B-ORG", "I-ORG", O], ["B-LOC", "I-LOC", O], 3, 3),
    # keyboard: 0, seven arrows, PER, PER, Ctrl+Enter; spans: clear all, drag, 1, save (removing is 2 + 2 + 1)
    "far apart": (["B-LOC"] + [O] * 9, [O] * 8 + ["B-PER", "I-PER"], 11, 4),
    # keyboard: →, then B-PER can only become I-PER through O: 0, ←, PER; Ctrl+Enter; spans: drag (replaces both), 1
    "two entities into one": (["B-PER", "B-PER", O], ["B-PER", "I-PER", O], 5, 3),
}


@pytest.mark.parametrize("name", CASES)
def test_actions_counted_by_hand(name):
    pred, gold, keys, spans = CASES[name]
    assert bench.keyboard_actions(pred, gold) == keys
    assert bench.span_actions(pred, gold) == spans


def test_actions_per_sentence_skips_correct_predictions_and_keeps_the_keyboard_where_shorter():
    pairs = [CASES["from blank"][:2], CASES["spurious entities"][:2], CASES["adjacent same type"][:2],
             (["B-PER", O], ["B-PER", O])]
    out = bench.actions_per_sentence(pairs)
    assert out["sentences"] == 3
    assert out["before"] == pytest.approx((5 + 8 + 4) / 3)
    assert out["after"] == pytest.approx((5 + 2 + 4) / 3)  # "adjacent same type": 4 keys beat 5 span actions
    assert out["reduction"] == pytest.approx(1 - 11 / 17)
    assert bench.actions_per_sentence([(["O"], ["O"])])["sentences"] == 0


def test_the_table_compares_each_figure_with_its_target():
    res = {k: None for k in bench.TARGETS}
    res.update(key_to_render_ms_p50=80.0, key_to_render_ms_p95=300.0, actions_per_sentence_before=10.0,
               actions_per_sentence_after=6.0, date="2026-12-02", command="python bench/loop.py", cpu_count=2,
               load_start=(0.5, 0, 0), load_end=(1.5, 0, 0),
               settings={"model": "default", "labelled": [50, 200], "dev": 300, "pool": 2000, "keys": 100})
    table = bench.markdown(res)
    assert "| key_to_render_ms_p50 | 80 | <= 100 ms | yes |" in table
    assert "| key_to_render_ms_p95 | 300 | <= 250 ms | no |" in table
    assert "| actions_per_sentence_after | 6 | >= 30 % fewer than before | yes |" in table
    assert "| warm_serving_s | - | <= 30 s |  |" in table
    assert "load 0.50 at start and 1.50 at the end" in table


def test_quick_needs_a_model_folder_and_keeps_given_sizes():
    with pytest.raises(SystemExit):
        bench.parse(["--quick"])
    args = bench.parse(["--quick", "--model", "/tmp/tiny", "--keys", "40"])
    assert (args.keys, args.labelled, args.min_steps) == (40, [20, 40], 30)
    full = bench.parse([])
    assert (full.keys, full.labelled, full.dev, full.pool, full.more, full.min_steps) == (100, [50, 200], 300, 2000,
                                                                                          20, None)


# ---------------------------------------------------------------- --live: the simulated annotator's pure parts

def _random_iob2(rng, n: int) -> list[str]:
    tags = []
    for i in range(n):
        r = rng.random()
        if r < 0.5:
            tags.append("O")
        elif r < 0.75 and i and tags[-1] != "O":
            tags.append("I-" + tags[-1][2:])  # continues the entity before it
        else:
            tags.append("B-" + rng.choice(bench.LABELS))  # also a B- right after an entity of the same type
    return tags


def test_planned_keys_turn_any_pre_tags_into_gold():
    import random

    rng = random.Random(7)
    hard = [(["O", "O"], ["B-LOC", "B-LOC"]),  # B- right after the same type, on the last word (cursor stays there)
            (["B-PER"] * 3, ["B-PER", "B-PER", "O"]), (["O"], ["B-MISC"]), (["I-ORG", "O", "O"], ["O", "O", "O"])]
    cases = hard + [(_random_iob2(rng, n), _random_iob2(rng, n)) for n in rng.choices(range(1, 14), k=300)]
    for pre, gold in cases:
        keys = bench.plan_keys(gold, bench.LABELS)
        assert keys[:2] == ["x", "Home"]
        for cursor in (0, len(gold) - 1):  # wherever the cursor was
            assert bench.simulate_keys(pre, keys, bench.LABELS, cursor=cursor)[0] == gold, (pre, gold, keys)
    assert bench.plan_keys(["O", "B-LOC", "B-LOC", "O"], bench.LABELS) == ["x", "Home", "ArrowRight", "2", "2",
                                                                            "ArrowLeft", "2"]
    assert bench.plan_keys(["B-PER", "I-PER", "O", "B-ORG"], bench.LABELS) == ["x", "Home", "1", "1",
                                                                                "ArrowRight", "3"]


def test_percentile_counts_a_miss_as_slower_than_any():
    assert bench.percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert bench.percentile([1.0, None, 3.0, 2.0], 50) == pytest.approx(2.5)
    assert bench.percentile([1.0] * 20 + [None], 95) == 1.0
    assert bench.percentile([1.0] * 19 + [None], 95) is None  # interpolated towards a miss
    assert bench.percentile([], 50) is None


def test_eta_error_at_the_first_step_past_ten_percent():
    # 100 steps; 2 s a step so far (train_s 16 over 8 steps, then 24 over 12); training ends at t=1,000 + 230
    steps = [(1000.0 + 2 * s, {"step": s, "total_steps": 100, "info": {"train_s": 2.0 * s}}) for s in (4, 8, 12, 50)]
    out = bench.eta_error(steps, 1000.0 + 230)
    assert (out["step"], out["eta_s"], out["actual_s"]) == (12, 176.0, 206.0)
    assert out["error"] == pytest.approx(30 / 206)
    assert bench.eta_error(steps[:2], 1100.0) is None  # never reached 10 %


def test_status_line_says_what_pre_tagged():
    head = "Sentence #12 · unlabeled · no labels yet · 1 of 9 · pre-tagged by the live head on the base encoder " \
           "(7 labels seen, dev F1 0.61)"
    assert bench.parse_status(head) == {"kind": "head", "on": "the base encoder", "seen": 7, "f1": 0.61}
    assert bench.parse_status("Sentence #3 · pre-tagged by the live head on v1 (40 labels seen)")["on"] == "v1"
    assert bench.parse_status("Sentence #3 · x · pre-tagged by v2 (dev F1 0.55)") == {"kind": "version",
                                                                                     "version": "v2", "f1": 0.55}
    assert bench.parse_status("Sentence #3 · no serving model yet: train one on the Train page") == {"kind": "none"}


def test_live_options():
    quick = bench.parse(["--live", "--quick"])  # the learner's encoder is the packaged one: no model folder needed
    assert (quick.target, quick.pace, quick.dev, quick.pool, quick.start_at, quick.warm_at) == (12, 3.0, 100, 300, 6,
                                                                                                0)
    full = bench.parse(["--live"])
    assert (full.target, full.pace, full.dev, full.order, full.start_at, full.warm_at) == (200, 8.0, 1000,
                                                                                          "active learning", 50, 150)


def test_live_table_and_the_server_env_keep_the_learner_on(monkeypatch, tmp_path):
    monkeypatch.setenv("NERLOOP_LIVE", "0")
    assert "NERLOOP_LIVE" not in bench.live_env(tmp_path)
    res = {k: None for k in bench.LIVE_TARGETS}
    res.update(live_update_s_p95=1.5, served_dev_f1_50=0.5, actions_per_sentence_live=4.0,
               actions_per_sentence_cold=5.0, date="2026-12-08", command="python bench/loop.py --live", cpu_count=2,
               load_start=(0.5, 0, 0), load_end=(1.5, 0, 0), saved_equal_gold=[10, 10], live_update_missed=0,
               live_update_s=[1.5], head_window_s=6.0,
               settings={"model": "default", "target": 200, "order": "active learning", "pace": 8.0, "dev": 1000,
                         "pool": 5000, "start_at": 50, "warm_at": 150})
    table = bench.markdown_live(res)
    assert "| live_update_s_p95 | 1.5 | <= 2 s | yes |" in table
    assert "| served_dev_f1_50 | 0.5 | >= 0.55 | no |" in table
    assert "| actions_per_sentence_live | 4 | <= 0.7 x cold | no |" in table
    assert "one save every 8 s" in table
