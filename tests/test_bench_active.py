"""bench/active.py's summary: the ratios the issue's targets are judged by, on hand-made curves."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("bench_active", Path(__file__).parents[1] / "bench" / "active.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def _curve(points: list[tuple[int, float]]) -> list[dict]:
    return [{"round": i + 1, "labelled_sentences": 10 * (i + 1), "labelled_tokens": t, "dev_f1": f,
             "per_class": {}, "seconds": 1.0} for i, (t, f) in enumerate(points)]


CURVES = {
    "random": _curve([(100, 0.5), (200, 0.7), (300, 0.75), (400, 0.8)]),
    "entropy": _curve([(100, 0.5), (150, 0.81), (250, 0.85), (350, 0.9)]),
    "margin": _curve([(100, 0.5), (220, 0.78), (330, 0.8), (440, 0.82)]),
}


def test_summary_ratios_and_best_strategy():
    s = bench.summarise(CURVES, pool_tokens=1000, full=0.9)
    assert s["random_final_dev_f1"] == 0.8 and s["random_tokens"] == 400
    assert s["best_strategy"] == "entropy"
    assert s["tokens_to_match_random_ratio"] == pytest.approx(150 / 400)
    assert s["per_strategy"]["margin"]["tokens_to_match_random_ratio"] == pytest.approx(330 / 400)
    # 95% of 0.9 = 0.855: entropy first reaches it at 350 tokens of a 1000-token pool; random never does
    assert s["pool_token_fraction_to_95pct_full_f1"] == pytest.approx(0.35)
    assert s["per_strategy"]["random"]["tokens_to_95pct_full_f1"] is None
    assert s["tokens_to_match_random_ratio_interpolated"] == pytest.approx((100 + 0.3 / 0.31 * 50) / 400)
    assert s["pool_token_fraction_to_95pct_full_f1_interpolated"] == pytest.approx(0.26)
    assert s["per_strategy"]["margin"]["tokens_to_random_final_f1_interpolated"] == pytest.approx(330)


def test_random_reaches_its_own_final_f1_earlier_than_its_last_round():
    curves = {"random": _curve([(100, 0.5), (200, 0.8), (300, 0.79), (400, 0.8)]),
              "entropy": _curve([(100, 0.5), (300, 0.8)])}
    s = bench.summarise(curves, pool_tokens=1000, full=None)
    assert s["random_tokens"] == 200  # the first round at random's final F1, not the last
    assert s["tokens_to_match_random_ratio"] == pytest.approx(1.5)
    assert s["target_95pct_full_f1"] is None and s["pool_token_fraction_to_95pct_full_f1"] is None


def test_only_uncertainty_strategies_can_be_best():
    curves = {"random": CURVES["random"], "sequential": CURVES["entropy"], "random+diverse": CURVES["entropy"],
              "margin": CURVES["margin"]}
    assert bench.summarise(curves, pool_tokens=1000, full=0.9)["best_strategy"] == "margin"
    alone = bench.summarise({"random": CURVES["random"]}, pool_tokens=1000, full=0.5)
    assert alone["best_strategy"] is None and alone["tokens_to_match_random_ratio"] is None
    assert alone["pool_token_fraction_to_95pct_full_f1"] is None


def test_report_rewrites_table_and_chart(tmp_path):
    res = {"date": "2026-11-28", "device": "cpu", "pool_sentences": 40, "pool_tokens": 1000, "dev_sentences": 5,
           "seconds": 60.0, "full_f1": 0.9, "full_f1_source": "test", "complete": False,
           "settings": {"seed_size": 10, "batch": 10, "batch_tokens": None, "rounds": 4},
           "strategies": CURVES}
    stem = tmp_path / "active-test"
    bench.write(res, stem)
    written = json.loads(stem.with_suffix(".json").read_text())
    assert written["summary"]["best_strategy"] == "entropy"
    md = stem.with_suffix(".md").read_text()
    # in brackets: random's final 0.8 is crossed at 100 + 0.3/0.31 * 50 tokens; 0.855 at 250 + 0.005/0.05 * 100
    assert "Partial" in md and "| entropy (best) | 0.9000 | 350 | 150 (148) | 38% (37%) | 350 (260) | 35.0% (26.0%) |" in md
    assert "| 4 | 40 / 400 / 0.8000 | 40 / 350 / 0.9000 | 40 / 440 / 0.8200 |" in md


def test_ratio_at_each_of_randoms_rounds():
    rows = bench.summarise(CURVES, pool_tokens=1000, full=None)["ratio_by_random_round"]
    assert [r["round"] for r in rows] == [2, 3, 4]
    # random's 0.7 at round 2 (200 tokens): entropy crosses 0.7 at 100 + 0.2/0.31 * 50 tokens
    assert rows[0]["random_tokens"] == 200 and rows[0]["ratio"] == pytest.approx((100 + 0.2 / 0.31 * 50) / 200)
    assert rows[2]["tokens"] == pytest.approx(100 + 0.3 / 0.31 * 50)


def _run(seed: int, curves: dict) -> dict:
    return {"date": "2026-11-28", "device": "cpu", "pool_sentences": 40, "pool_tokens": 1000, "dev_sentences": 5,
            "seconds": 60.0, "full_f1": 0.9, "settings": {"seed_size": 10, "batch": 10, "batch_tokens": None,
                                                           "rounds": 4, "seed": seed, "train": {"seed": seed}},
            "strategies": curves}


def test_mean_of_runs_that_differ_in_their_seed(tmp_path):
    other = {"random": _curve([(120, 0.6), (220, 0.72), (320, 0.78), (420, 0.82)]),
             "entropy": _curve([(120, 0.6), (170, 0.8), (270, 0.86), (370, 0.88)])}
    stopped = {**CURVES, "margin": CURVES["margin"][:2]}  # a strategy that ran in one run only may have stopped
    res = bench.mean_of([{**_run(0, stopped), "complete": False, "baseline": "z.json"}, _run(1, other)],
                        ["a.json", "b.json"])
    assert list(res["strategies"]) == ["random", "entropy"] and res["complete"]
    assert res["settings"]["strategies"] == ["random", "entropy"]
    cut = [{**c, "entropy": c["entropy"][:3]} for c in (CURVES, other)]  # both runs stopped in round 4
    assert not bench.mean_of([_run(0, cut[0]), _run(1, cut[1])], ["a.json", "b.json"])["complete"]
    last = res["strategies"]["random"][-1]
    assert last["labelled_tokens"] == 410 and last["dev_f1"] == pytest.approx(0.81)
    assert [r["seed"] for r in res["runs"]] == [0, 1] and res["seeds"] == [0, 1]
    assert res["runs"][0]["tokens_to_match_random_ratio"] == pytest.approx(150 / 400)
    bench.write(res, tmp_path / "mean")
    md = (tmp_path / "mean.md").read_text()
    assert "Mean of 2 runs, seeds 0, 1" in md and "- seed 1 (b.json)" in md
    assert "of the pool; random's curve from z.json" in md
    # interpolated: a.json's entropy crosses random's final 0.8 after 100 tokens, b.json's crosses 0.82 after 170
    a_ratio, b_ratio = (100 + 0.3 / 0.31 * 50) / 400, (170 + 0.02 / 0.06 * 100) / 420
    assert f"with {(150 / 400 + 270 / 420) / 2:.0%} ({(a_ratio + b_ratio) / 2:.0%}) of random's" in md
    with pytest.raises(ValueError, match="b.json"):
        bench.mean_of([_run(0, CURVES), {**_run(1, other), "dev_sentences": 6}], ["a.json", "b.json"])
    with pytest.raises(ValueError, match="random is not in every run"):
        bench.mean_of([_run(0, CURVES), _run(1, {"entropy": other["entropy"]})], ["a.json", "b.json"])


def test_baseline_takes_randoms_curve_only_from_a_run_with_the_same_settings(tmp_path):
    base = {**_run(0, CURVES), "device": "cpu, 2 threads"}
    meta = {**_run(0, {}), "device": "cpu, 2 threads"}
    # only the strategies may differ; a setting added since the baseline was written counts at its default
    meta["settings"] = {**meta["settings"], "strategies": ["bald+diverse"], "warm_start": True}
    assert bench.baseline_curve(base, meta, "a.json") == CURVES["random"]
    for changed in ({"device": "cpu, 1 threads"}, {"pool_tokens": 999},
                    {"settings": {**meta["settings"], "seed": 1}},
                    {"settings": {**meta["settings"], "warm_start": False}}):
        with pytest.raises(ValueError, match="a.json: its settings, data or device differ"):
            bench.baseline_curve(base, {**meta, **changed}, "a.json")
    short = {**base, "strategies": {"random": CURVES["random"][:3]}}
    with pytest.raises(ValueError, match="a.json: no complete random curve of 4 rounds"):
        bench.baseline_curve(short, meta, "a.json")
    res = {**meta, "strategies": {"random": CURVES["random"], "entropy": CURVES["entropy"]}, "baseline": "a.json",
           "seconds": 1.0}
    bench.write(res, tmp_path / "run")
    assert "Random's curve is taken from a.json" in (tmp_path / "run.md").read_text()


def test_first_round_must_reproduce_the_baselines():
    bench.same_first_round(CURVES["random"], 0.5, "a.json")
    with pytest.raises(ValueError, match="a.json: round 1 gives dev F1 0.51 here, 0.5 there"):
        bench.same_first_round(CURVES["random"], 0.51, "a.json")


def test_report_draws_charts_from_the_json_into_their_own_folder_and_offline(tmp_path, monkeypatch):
    res = {"date": "2026-11-28", "device": "cpu", "pool_sentences": 40, "pool_tokens": 1000, "dev_sentences": 5,
           "seconds": 60.0, "full_f1": 0.9, "full_f1_source": "test", "complete": True,
           "settings": {"seed_size": 10, "batch": 10, "batch_tokens": None, "rounds": 4},
           "strategies": CURVES, "chart_html": "active-test.html", "chart_png": None}  # as older results had
    results, charts = tmp_path / "results", tmp_path / "charts"
    results.mkdir()
    (results / "active-test.json").write_text(json.dumps(res))
    monkeypatch.setattr("sys.argv", ["active.py", "--report", str(results / "active-test.json"),
                                     "--charts", str(charts)])
    bench.main()
    assert [p.name for p in results.iterdir()] == ["active-test.json"]  # no chart beside it, the result untouched
    html = (charts / "active-test.html").read_text()
    assert not re.search(r"<script[^>]*\bsrc=", html)  # no script to fetch (the CDN's plotly.js, say)
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js itself is in the file
    assert json.loads((results / "active-test.json").read_text()) == res
    assert "95% of full-data F1" in html  # the summary's lines are drawn
    bench.write(res, results / "run", charts=charts)  # a run's files: its chart goes to the charts folder
    assert sorted(p.name for p in results.iterdir()) == ["active-test.json", "run.json", "run.md"]
    assert (charts / "run.html").is_file() and "chart_html" not in json.loads((results / "run.json").read_text())
