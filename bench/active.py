"""Active learning on CoNLL-2003: the simulated annotator, several strategies against random, same seeds.

    python bench/active.py                       # quick version (pool 3000, dev 500, 5 rounds): < 20 min on 2 cores
    python bench/active.py --threads 1           # the same while another job keeps a core busy
    python bench/active.py --pool-size 0 --dev-size 0 --batch 250 --rounds 13 --strategies random,entropy+diverse \
        --warm-min-steps 400 --seed 0 --tag full-pool-seed0    # all of train as the pool, full dev: ~1 h on 2 cores
    python bench/active.py --report A.json B.json --tag mean   # the mean of runs that differ only in --seed
    python bench/active.py --report bench/results/active-*.json  # no --tag: each file's chart, drawn again
    python bench/active.py ... --strategies bald+diverse --baseline A.json   # random's curve from run A (same settings)

CoNLL-2003 train is the pool (its gold is revealed batch by batch), dev is scored every round. Writes
bench/results/active-<date>[-<tag>].json (curves and summary, rewritten after every round) and .md (tables), and the
chart into bench/charts/ (not in git): .html with plotly's JS inside (opens offline), .png when kaleido is installed
(`pip install -e '.[bench]'`, it drives Chrome/Chromium).
Full-data F1 for the 95% target: --full-f1, else `ours.dev_f1` of the newest full-data bench/results/conll-*.json.
`--report FILE.json ...` draws the charts of earlier results again, from their JSON.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"
RESULTS = ROOT / "bench" / "results"
CHARTS = ROOT / "bench" / "charts"  # in .gitignore: drawn from the JSON by --report


def subset(sentences: list, size: int, seed: int) -> list:
    """A random `size` of the sentences in their file order (all of them when size is 0)."""
    if not size or size >= len(sentences):
        return list(sentences)
    keep = sorted(random.Random(seed).sample(range(len(sentences)), size))
    return [sentences[i] for i in keep]


def full_f1(results: Path) -> tuple[float | None, str | None]:
    """Dev F1 of the newest full-data engine benchmark (bench/conll.py on all of train), if there is one."""
    found = []
    for path in results.glob("conll-*.json"):
        try:
            res = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        full = res.get("train_fraction", 1.0) >= 1.0 and not res.get("max_train") and not res.get("max_eval")
        if full and res.get("ours", {}).get("dev_f1") is not None:
            found.append((res.get("date", ""), path.stat().st_mtime, res["ours"]["dev_f1"], path.name))
    if not found:
        return None, None
    *_, f1, name = max(found)
    return float(f1), name


def reach(curve: list[dict], target: float, *, interpolate: bool = False) -> float | None:
    """Labelled tokens at the first round whose dev F1 reaches `target`; with interpolate, the straight line from
    the round before crosses `target` (the curve is only measured at the rounds)."""
    before = None
    for p in curve:
        if p["dev_f1"] >= target:
            if not interpolate or before is None:
                return p["labelled_tokens"]
            t0, f0 = before["labelled_tokens"], before["dev_f1"]
            return t0 + (target - f0) / (p["dev_f1"] - f0) * (p["labelled_tokens"] - t0)
        before = p
    return None


def _ratio(x: float | None, y: float | None) -> float | None:
    return x / y if x is not None and y else None


def summarise(curves: dict[str, list[dict]], pool_tokens: int, full: float | None) -> dict:
    """Per strategy: tokens to random's final F1 (and the ratio to random's), tokens to 95% of full-data F1, at the
    first round that reaches them and interpolated between rounds; the best strategy is the uncertainty strategy
    (not random, sequential or random+diverse) with the lowest ratio."""
    random_final = curves["random"][-1]["dev_f1"]
    target95 = 0.95 * full if full is not None else None
    per = {}
    for kind, interpolate in (("", False), ("_interpolated", True)):
        random_tokens = reach(curves["random"], random_final, interpolate=interpolate)
        for name, curve in curves.items():
            tokens = reach(curve, random_final, interpolate=interpolate)
            t95 = reach(curve, target95, interpolate=interpolate) if target95 is not None else None
            per.setdefault(name, {"final_dev_f1": curve[-1]["dev_f1"], "final_tokens": curve[-1]["labelled_tokens"]})
            per[name].update({f"tokens_to_random_final_f1{kind}": tokens,
                              f"tokens_to_match_random_ratio{kind}": _ratio(tokens, random_tokens),
                              f"tokens_to_95pct_full_f1{kind}": t95,
                              f"pool_token_fraction_to_95pct_full_f1{kind}": _ratio(t95, pool_tokens)})
    from core.active import parse_strategy

    def rank(n: str) -> tuple:
        r, ri = per[n]["tokens_to_match_random_ratio"], per[n]["tokens_to_match_random_ratio_interpolated"]
        return r is None, r or 0.0, ri or 0.0, -per[n]["final_dev_f1"]

    uncertain = [n for n in curves if parse_strategy(n).uncertain]
    best = min(uncertain, key=rank) if uncertain else None
    keys = ("tokens_to_match_random_ratio", "pool_token_fraction_to_95pct_full_f1")
    return {"best_strategy": best, "random_final_dev_f1": random_final,
            "random_tokens": reach(curves["random"], random_final), "full_data_dev_f1": full,
            "target_95pct_full_f1": target95,
            **{k + kind: per[best][k + kind] if best else None for k in keys for kind in ("", "_interpolated")},
            "ratio_by_random_round": by_round(curves["random"], curves[best]) if best else [],
            "per_strategy": per}


def by_round(random_curve: list[dict], curve: list[dict]) -> list[dict]:
    """At each of random's rounds after the first: the tokens `curve` needs to reach random's F1 there, over the
    tokens random needed (both interpolated); shows whether the saving grows or shrinks with the budget."""
    rows = []
    for p in random_curve[1:]:
        mine, theirs = (reach(c, p["dev_f1"], interpolate=True) for c in (curve, random_curve))
        rows.append({"round": p["round"], "random_dev_f1": p["dev_f1"], "random_tokens": theirs,
                     "tokens": mine, "ratio": _ratio(mine, theirs)})
    return rows


def _settings(res: dict, *drop: str) -> dict:
    """A result's settings but the `drop` ones, with those added since older result files at their defaults."""
    return {k: v for k, v in {"warm_start": True, **res["settings"]}.items() if k not in drop}


def mean_of(results: list[dict], names: list[str]) -> dict:
    """Runs that differ only in their seed as one result: per strategy they all ran and per round, the mean labelled
    tokens, dev F1 and per-class F1 over the runs; each run's own summary is kept under `runs`."""
    first = results[0]
    common = [n for n in first["strategies"] if all(n in res["strategies"] for res in results)]
    if "random" not in common:
        raise ValueError(f"random is not in every run ({', '.join(names)}): it is the baseline")

    def same(res: dict) -> tuple:
        st = _settings(res, "seed", "strategies")
        st["train"] = {k: v for k, v in st["train"].items() if k != "seed"}
        return st, res["pool_sentences"], res["dev_sentences"], [len(res["strategies"][n]) for n in common]

    for res, name in zip(results[1:], names[1:]):
        if same(res) != same(first):
            raise ValueError(f"{name}: its settings, data sizes or rounds differ from {names[0]}'s (only the seed may)")
    curves = {}
    for strategy in common:
        curve = first["strategies"][strategy]
        per_run = [res["strategies"][strategy] for res in results]
        if any(q["labelled_sentences"] != p["labelled_sentences"] for c in per_run for p, q in zip(curve, c)):
            raise ValueError(f"{strategy}: the runs label different numbers of sentences per round")
        curves[strategy] = [{"round": p["round"], "labelled_sentences": p["labelled_sentences"],
                             "labelled_tokens": round(mean(c[i]["labelled_tokens"] for c in per_run)),
                             "dev_f1": mean(c[i]["dev_f1"] for c in per_run),
                             "per_class": {k: mean(c[i]["per_class"].get(k, 0.0) for c in per_run)
                                           for k in p["per_class"]},
                             "seconds": mean(c[i]["seconds"] for c in per_run)} for i, p in enumerate(curve)]
    keep = ("date", "device", "pool_size", "dev_size", "full_f1", "full_f1_source", "settings", "pool_sentences",
            "pool_tokens", "dev_sentences")
    full = first.get("full_f1")
    runs = []
    for res, name in zip(results, names):
        s = summarise({n: res["strategies"][n] for n in common}, res["pool_tokens"], full)
        done = all(len(res["strategies"][n]) == res["settings"]["rounds"] for n in common)  # others may have stopped
        runs.append({"file": name, "seed": res["settings"]["seed"], "complete": done, "device": res.get("device"),
                     "baseline": res.get("baseline"),
                     **{k: s[k] for k in ("best_strategy", "random_final_dev_f1", "random_tokens",
                                          "tokens_to_match_random_ratio", "tokens_to_match_random_ratio_interpolated",
                                          "pool_token_fraction_to_95pct_full_f1")}})
    devices = list(dict.fromkeys(r["device"] for r in runs))
    settings = {**first["settings"], "strategies": common}
    return {**{k: first.get(k) for k in keep}, "device": " / ".join(map(str, devices)), "settings": settings,
            "seeds": [r["seed"] for r in runs],
            "seconds": sum(r.get("seconds", 0.0) for r in results),
            "complete": all(r["complete"] for r in runs), "strategies": curves, "runs": runs}


def baseline_curve(base: dict, meta: dict, name: str) -> list[dict]:
    """Random's curve from an earlier run `base` (file `name`): its settings (strategies aside), data and device
    must match this run's `meta`, and `same_first_round` checks the shared round-1 model when it is trained."""
    if len(base.get("strategies", {}).get("random", [])) != meta["settings"]["rounds"]:
        raise ValueError(f"{name}: no complete random curve of {meta['settings']['rounds']} rounds")

    def same(res: dict) -> tuple:
        return (_settings(res, "strategies"), res["pool_sentences"], res["pool_tokens"], res["dev_sentences"],
                res["device"])

    if same(base) != same(meta):
        raise ValueError(f"{name}: its settings, data or device differ from this run's (only the strategies may)")
    return base["strategies"]["random"]


def same_first_round(curve: list[dict], f1: float, name: str) -> None:
    """ValueError unless this run's round-1 dev F1 is exactly the baseline's: the same seed set and training. Later
    rounds of random are not retrained; they rely on the same code, seeds and threads giving the same numbers."""
    if f1 != curve[0]["dev_f1"]:
        raise ValueError(f"{name}: round 1 gives dev F1 {f1!r} here, {curve[0]['dev_f1']!r} there: the runs are not "
                         "the same computation, so random must be trained in this run")


def chart(res: dict, stem: Path) -> str | None:
    """Dev F1 against labelled tokens per strategy: `stem`.html (plotly's JS embedded: no network needed to open it)
    always, `stem`.png when kaleido is installed; returns why there is no PNG, None when there is one."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, curve in res["strategies"].items():
        fig.add_trace(go.Scatter(x=[p["labelled_tokens"] for p in curve], y=[p["dev_f1"] for p in curve],
                                 mode="lines+markers", name=name))
    s = res["summary"]
    fig.add_hline(y=s["random_final_dev_f1"], line_dash="dot", annotation_text="random, final F1")
    if s["target_95pct_full_f1"] is not None:
        fig.add_hline(y=s["target_95pct_full_f1"], line_dash="dash", annotation_text="95% of full-data F1")
        fig.add_hline(y=s["full_data_dev_f1"], line_dash="dashdot", line_color="grey",
                      annotation_text="full data (all of train)")
    fig.update_layout(title=f"CoNLL-2003 active learning: pool {res['pool_sentences']} sentences, "
                            f"dev {res['dev_sentences']}, seed set {res['settings']['seed_size']}, "
                            f"batch {res['settings']['batch']}"
                            + (f", mean of seeds {', '.join(map(str, res['seeds']))}" if res.get("seeds") else ""),
                      xaxis_title="labelled tokens", yaxis_title="dev entity F1 (micro)", template="plotly_white")
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(stem.with_suffix(".html"), include_plotlyjs=True)
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return "kaleido is not installed (pip install -e '.[bench]'): no PNG"
    try:
        fig.write_image(stem.with_suffix(".png"), width=900, height=550)
    except Exception as exc:  # kaleido needs Chrome/Chromium; the JSON, table and HTML are written regardless
        return f"no PNG: kaleido failed ({type(exc).__name__}: {exc})"
    return None


def _f(x: float | None, fmt: str = "{:.4f}") -> str:
    return "-" if x is None else fmt.format(x)


def table(res: dict) -> str:
    s, st = res["summary"], res["settings"]
    subset_note = " Dev is a random subset here and the full-data F1 is on all of dev: the 95% column is approximate."
    notes = f" Mean of {len(res['runs'])} runs, seeds {', '.join(map(str, res['seeds']))} (tokens and dev F1 " \
            "averaged per round; each run below)." if res.get("runs") else ""
    if res.get("baseline"):
        notes += f" Random's curve is taken from {res['baseline']} (same settings, seed and threads; round 1 " \
                 "reproduced its dev F1 exactly)."
    lines = [f"Active learning on CoNLL-2003 ({res['date']}, {res['device']}): pool {res['pool_sentences']} sentences "
             f"/ {res['pool_tokens']} tokens, dev {res['dev_sentences']}, seed set {st['seed_size']}, batch "
             f"{st['batch_tokens'] or st['batch']}{' tokens' if st['batch_tokens'] else ''}, {st['rounds']} rounds, "
             f"{res['seconds'] / 60:.1f} min{' over the runs' if res.get('runs') else ''}. "
             f"Full-data dev F1: {_f(s['full_data_dev_f1'])}"
             f"{' (' + res['full_f1_source'] + ')' if res.get('full_f1_source') else ''}."
             f"{subset_note if res.get('dev_size') else ''}{notes}"
             f"{'' if res.get('complete', True) else ' Partial: the run is still going or was stopped.'}",
             "Tokens are counted at the first round that reaches the F1; in brackets, interpolated on the straight "
             "line from the round before.", "",
             "| strategy | final dev F1 | labelled tokens | tokens to random's final F1 | vs random | "
             "tokens to 95% of full F1 | share of pool |", "|---|---|---|---|---|---|---|"]
    both = "{} ({})"
    for name, p in s["per_strategy"].items():
        cells = [both.format(_f(p[k], fmt), _f(p.get(k + "_interpolated"), fmt)) for k, fmt in (
            ("tokens_to_random_final_f1", "{:.0f}"), ("tokens_to_match_random_ratio", "{:.0%}"),
            ("tokens_to_95pct_full_f1", "{:.0f}"), ("pool_token_fraction_to_95pct_full_f1", "{:.1%}"))]
        lines.append(f"| {name}{' (best)' if name == s['best_strategy'] else ''} | {_f(p['final_dev_f1'])} | "
                     f"{p['final_tokens']} | " + " | ".join(cells) + " |")
    if s.get("ratio_by_random_round"):
        lines += ["", f"Tokens {s['best_strategy']} needs to reach random's dev F1 at each of random's rounds, over "
                      "random's tokens (interpolated): " + ", ".join(
                          f"round {r['round']} {_f(r['ratio'], '{:.0%}')}" for r in s["ratio_by_random_round"]) + "."]
    runs = res.get("runs", [])
    ratios = [(r["tokens_to_match_random_ratio"], r["tokens_to_match_random_ratio_interpolated"]) for r in runs]
    if runs and all(a is not None and b is not None for a, b in ratios):
        lines.append(f"Averaged run by run instead of on the mean curves: {runs[0]['best_strategy']} reaches random's "
                     f"final F1 with {mean(a for a, _ in ratios):.0%} ({mean(b for _, b in ratios):.0%}) of random's "
                     "tokens.")
    for run in runs:
        lines.append(f"- seed {run['seed']} ({run['file']}): random's final F1 {_f(run['random_final_dev_f1'])}; "
                     f"{run['best_strategy']} reaches it with {_f(run['tokens_to_match_random_ratio'], '{:.0%}')} "
                     f"({_f(run['tokens_to_match_random_ratio_interpolated'], '{:.0%}')}) of random's tokens; 95% of "
                     f"full F1 at {_f(run['pool_token_fraction_to_95pct_full_f1'], '{:.1%}')} of the pool"
                     + (f"; random's curve from {run['baseline']}" if run.get("baseline") else ""))
    names = list(res["strategies"])
    lines += ["", "| round | " + " | ".join(f"{n}: sentences / tokens / dev F1" for n in names) + " |",
              "|---|" + "---|" * len(names)]
    for r in range(max(len(c) for c in res["strategies"].values())):
        cells = []
        for n in names:
            p = res["strategies"][n][r] if r < len(res["strategies"][n]) else None
            cells.append(f"{p['labelled_sentences']} / {p['labelled_tokens']} / {p['dev_f1']:.4f}" if p else "-")
        lines.append(f"| {r + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="folder with train.txt and dev.txt")
    ap.add_argument("--pool-size", type=int, default=3000, help="random subset of train as the pool (0: all)")
    ap.add_argument("--dev-size", type=int, default=500, help="random subset of dev (0: all)")
    ap.add_argument("--strategies", default="random,least_confidence,entropy+diverse",
                    help="comma-separated, random included (see core/active.py for the spec)")
    ap.add_argument("--seed-size", type=int, default=100)
    ap.add_argument("--batch", type=int, default=100, help="sentences revealed per round")
    ap.add_argument("--batch-tokens", type=int, help="words revealed per round instead")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--min-steps", type=int, default=400, help="minimum steps of round 1 (from the base encoder)")
    ap.add_argument("--warm-min-steps", type=int, default=150, help="minimum steps of the warm-started rounds")
    ap.add_argument("--retrain-from-base", action="store_true",
                    help="train every round from the base encoder (--min-steps) instead of warm-starting")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--mc-passes", type=int, default=8)
    ap.add_argument("--model", default="default")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch threads (1 is much faster while another job uses the cores)")
    ap.add_argument("--full-f1", type=float, help="full-data dev F1 (default: from bench/results/conll-*.json)")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--charts", type=Path, default=CHARTS, help="folder of the charts (default: bench/charts, ignored "
                    "by git)")
    ap.add_argument("--tag", help="suffix of the result files: active-<date>-<tag>.*")
    ap.add_argument("--baseline", metavar="JSON", help="take random's curve from this earlier run (same settings, "
                         "seed and threads) instead of training it again; round 1 must reproduce its F1 exactly")
    ap.add_argument("--report", metavar="JSON", nargs="+",
                    help="draw the charts of earlier result files again (into --charts) and exit; with --tag, "
                         "the files are runs that differ only in --seed: write their mean as active-<date>-<tag>.*")
    args = ap.parse_args()
    if args.report:
        report([Path(p) for p in args.report], args.tag, out=Path(args.out), charts=args.charts, error=ap.error)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if args.baseline:
        strategies = [s for s in strategies if s != "random"]
        if not strategies:
            ap.error("--baseline gives random's curve: name the strategies to compare with it in --strategies")
    elif "random" not in strategies:
        ap.error("--strategies must include random (the baseline), or give --baseline")
    strategies.sort(key=lambda s: s != "random")  # random first: every partial result can be summarised

    import torch
    from transformers.utils import logging as hf_logging

    from core import formats
    from core.simulate import SimConfig, describe, run
    from core.train import TrainConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    pool = subset(formats.read(Path(args.data) / "train.txt").sentences, args.pool_size, args.seed)
    dev = subset(formats.read(Path(args.data) / "dev.txt").sentences, args.dev_size, args.seed + 1)
    train_cfg = TrainConfig(model=args.model, epochs=args.epochs, min_steps=args.min_steps,
                            warm_min_steps=args.warm_min_steps, batch_size=args.batch_size, seed=args.seed)
    cfg = SimConfig(strategies=strategies, seed_size=args.seed_size, batch=args.batch, batch_tokens=args.batch_tokens,
                    rounds=args.rounds, seed=args.seed, mc_passes=args.mc_passes, train=train_cfg,
                    warm_start=not args.retrain_from_base)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    full, source = (args.full_f1, "--full-f1") if args.full_f1 is not None else full_f1(RESULTS)
    started = time.perf_counter()
    stem = out / "-".join(["active", dt.date.today().isoformat()] + ([args.tag] if args.tag else []))
    meta = dict(date=dt.date.today().isoformat(), pool_size=args.pool_size, dev_size=args.dev_size,
                device="cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads",
                full_f1=full, full_f1_source=source, **describe(pool, dev, cfg))
    curves: dict[str, list[dict]] = {s: [] for s in cfg.strategies}
    if args.baseline:
        try:
            curves = {"random": baseline_curve(json.loads(Path(args.baseline).read_text()), meta, args.baseline),
                      **curves}
        except (OSError, ValueError) as exc:
            ap.error(str(exc))
        meta["baseline"] = Path(args.baseline).name

    def progress(r) -> None:
        if args.baseline and r.round == 1:
            try:
                same_first_round(curves["random"], r.dev_f1, args.baseline)
            except ValueError as exc:
                sys.exit(str(exc))
        print(f"{r.strategy} round {r.round}/{cfg.rounds}: {r.labelled_sentences} sentences, {r.labelled_tokens} "
              f"tokens, dev F1 {r.dev_f1:.4f} ({r.seconds:.0f}s, {(time.perf_counter() - started) / 60:.1f} min in)",
              flush=True)
        curves[r.strategy].append(r.point())
        done = all(len(c) == cfg.rounds for c in curves.values())
        write({**meta, "strategies": {k: v for k, v in curves.items() if v},
               "seconds": round(time.perf_counter() - started, 1), "complete": done}, stem,
              charts=args.charts if done else None)

    run(pool, dev, cfg, on_round=progress)
    print(stem.with_suffix(".md").read_text())
    print(f"wrote {stem}.json and .md; the chart in {args.charts}")


def report(paths: list[Path], tag: str | None, *, out: Path, charts: Path, error) -> None:
    """Draw the chart of each result file again (the files stay as they are); with `tag`, write the mean of the runs
    and its chart."""
    if tag is None:
        for path in paths:
            res = json.loads(path.read_text())
            res["summary"] = summarise(res["strategies"], res["pool_tokens"], _full(res))
            chart(res, charts / path.stem)
            print(f"{path}: chart in {charts / path.stem}.html")
        return
    try:
        res = mean_of([json.loads(p.read_text()) for p in paths], [p.name for p in paths])
    except ValueError as exc:
        error(str(exc))
    stem = out / "-".join(["active", dt.date.today().isoformat(), tag])
    write(res, stem, charts=charts)
    print(stem.with_suffix(".md").read_text())


def _full(res: dict) -> float | None:
    """The full-data dev F1 a result was judged against."""
    return res.get("full_f1", res.get("summary", {}).get("full_data_dev_f1"))


def write(res: dict, stem: Path, *, charts: Path | None = None) -> None:
    """Summary, JSON and markdown (after every round, so a stopped run keeps its rounds), and with `charts` the chart
    there (named as the JSON)."""
    res["summary"] = summarise(res["strategies"], res["pool_tokens"], _full(res))
    for key in ("chart_html", "chart_png", "chart_png_skipped"):  # charts no longer lie beside the results
        res.pop(key, None)
    if charts is not None and (why := chart(res, charts / stem.name)):
        print(why)
    tmp = stem.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=2))
    tmp.replace(stem.with_suffix(".json"))
    stem.with_suffix(".md").write_text(table(res))


if __name__ == "__main__":
    main()
