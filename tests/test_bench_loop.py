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
