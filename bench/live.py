"""The live head chosen by measurement: dev F1 of heads on frozen encoder states at few labels, and refit times.

    python bench/live.py                       # CoNLL-2003: 25/50/100/200 labels, dev = first 1000 dev sentences
    python bench/live.py --sizes 25,50 --dev 300 --variants l2=1e-3
    python bench/live.py --scale 9000 --refit 1000   # the learner: save -> published head in a 10,000-sentence project

Reads ../shared/data/conll2003 (never copied). Train sentences are a seeded random sample; a size's set holds the
smaller ones. Each variant is a head setting (core.live); dev F1 is entity-level micro F1 (core.metrics). Refit
times: a cold fit and warm-started refits after one more sentence, at `--refit` labelled sentences.
Writes bench/results/live-<date>.json and .md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._results import write  # noqa: E402
DATA = ROOT.parent / "shared" / "data" / "conll2003"


def parse_variant(text: str) -> dict:
    """`l2=1e-3,iter=60` -> {"l2": 0.001, "iter": 60}."""
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key] = float(value) if key == "l2" else int(value)  # l2, iter, dims (of the projected states)
    return out


def run(args) -> dict:
    import torch

    from core import formats, live, metrics
    from core.model import Tagger
    from core.vocab import label_set

    torch.set_num_threads(args.threads)
    train = [s for s in formats.read(Path(args.data) / "train.txt").sentences if s.words]
    dev = [s for s in formats.read(Path(args.data) / "dev.txt").sentences if s.words][: args.dev]
    sizes = sorted(int(x) for x in args.sizes.split(","))
    rng = random.Random(args.seed)
    picked = rng.sample(range(len(train)), max(max(sizes), args.refit + 10))
    labels = label_set(["PER", "LOC", "ORG", "MISC"])
    lab = {t: i for i, t in enumerate(labels)}
    tagger = Tagger.load(args.model, labels=labels, device="cpu")
    t0 = time.perf_counter()
    dev_enc = live.encode(tagger, [s.words for s in dev])
    encode_s = time.perf_counter() - t0
    train_rows = [train[i] for i in picked]
    train_enc = live.encode(tagger, [s.words for s in train_rows])
    dev_len = [len(s.words) for s in dev]
    basis_sample = np.concatenate(dev_enc.states[:200] + train_enc.states[:200])  # as StateCache: 400 sentences

    def features(dims: int) -> tuple[list, list]:
        """Dev and train feature rows with states projected on `dims` axes."""
        basis = live.Basis.fit(basis_sample, dims)
        return ([live.features(basis(st), c) for st, c in zip(dev_enc.states, dev_enc.cases)],
                [live.features(basis(st), c) for st, c in zip(train_enc.states, train_enc.cases)])

    def fit(n: int, train_x: list, sample: np.ndarray, **kw) -> tuple[live.Head, float]:
        x = np.concatenate(train_x[:n])
        y = np.concatenate([[lab[t] for t in s.tags] for s in train_rows[:n]])
        head = live.Head.standardised_on(labels, sample)
        started = time.perf_counter()
        head.fit(x, y, l2=kw.get("l2", live.L2), max_iter=kw.get("iter"))
        return head, time.perf_counter() - started

    def dev_f1(head: live.Head, dev_x: list) -> float:
        paths = head.decode(head.log_probs(np.concatenate(dev_x)), dev_len)
        return metrics.score([s.tags for s in dev], [[labels[j] for j in p] for p in paths])["micro"]["f1"]

    rows = []
    for spec in args.variants:
        kw = parse_variant(spec)
        dev_x, train_x = features(kw.get("dims", live.STATE_DIMS))
        sample = np.concatenate(dev_x[:200] + train_x[:200])
        for n in sizes:
            head, seconds = fit(n, train_x, sample, **kw)
            rows.append({"variant": spec or "default", "labels": n, "dev_f1": round(dev_f1(head, dev_x), 4),
                         "fit_s": round(seconds, 3)})
            print(rows[-1], flush=True)
    # refit times at --refit labelled sentences: cold, then warm refits each after one more sentence
    kw = parse_variant(args.variants[0])
    dev_x, train_x = features(kw.get("dims", live.STATE_DIMS))
    head, cold = fit(args.refit, train_x, np.concatenate(dev_x[:200] + train_x[:200]), **kw)
    warm = []
    for k in range(1, 6):
        x = np.concatenate(train_x[: args.refit + k])
        y = np.concatenate([[lab[t] for t in s.tags] for s in train_rows[: args.refit + k]])
        started = time.perf_counter()
        head.fit(x, y, seconds=live.FIT_S)  # as the learner refits after a save
        warm.append(time.perf_counter() - started)
    return {"date": dt.date.today().isoformat(), "model": args.model, "dev_sentences": len(dev), "seed": args.seed,
            "threads": args.threads, "features": int(dev_x[0].shape[1]), "encode_dev_s": round(encode_s, 2),
            "rows": rows, "refit_at": args.refit, "refit_words": int(sum(len(s.words) for s in train_rows[:args.refit])),
            "cold_fit_s": round(cold, 3), "warm_refit_s": [round(w, 3) for w in warm],
            "warm_refit_s_median": round(statistics.median(warm), 3),
            "refit_dev_f1": round(dev_f1(head, dev_x), 4)}


def run_scale(args) -> dict:
    """The learner itself (core.learner, one thread as in its process) on a project of `--scale` CoNLL train
    sentences and `--dev` dev sentences with `--refit` of them labelled: the time to encode them all, then
    save -> published head for `--saves` more labels, one at a time."""
    import tempfile

    import torch

    from core import formats, learner
    from core.store import Store

    torch.set_num_threads(learner.THREADS)
    train = [s for s in formats.read(Path(args.data) / "train.txt").sentences if s.words]
    dev = [s for s in formats.read(Path(args.data) / "dev.txt").sentences if s.words][: args.dev]
    rng = random.Random(args.seed)
    picked = [train[i] for i in rng.sample(range(len(train)), args.scale)]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "nerloop.db")
        pid = store.create_project("conll", ["PER", "LOC", "ORG", "MISC"])
        store.import_sentences(pid, dev, split="dev")
        store.import_hidden_gold(pid, picked, source_name="train.txt")
        gold = store.hidden_gold(pid)
        pool = store.sentence_ids(pid, ("unlabeled",))
        for sid in pool[: args.refit]:
            store.save_human(sid, gold[sid], annotator="bench")
        pl = learner.ProjectLearner(store, pid)
        started = time.perf_counter()
        while pl.step() != "idle":
            pass
        settle_s = time.perf_counter() - started
        updates, fits = [], []
        for sid in pool[args.refit: args.refit + args.saves]:
            t0 = time.perf_counter()
            store.save_human(sid, gold[sid], annotator="bench")
            assert pl.step() == "fitted"
            updates.append(time.perf_counter() - t0)
            fits.append(store.live_head(pid).fit_seconds)
            while time.perf_counter() - t0 < args.pace and pl.step() != "idle":
                pass  # until the next save: the learner resumes a refit its deadline cut
        head = store.live_head(pid)
        store.close()
    q = np.quantile(updates, [0.5, 0.95])
    return {"scale_sentences": args.scale + len(dev), "scale_labelled": args.refit, "scale_settle_s": round(settle_s, 1),
            "scale_update_s": [round(u, 3) for u in updates], "scale_update_s_p50": round(float(q[0]), 3),
            "scale_update_s_p95": round(float(q[1]), 3), "scale_fit_s_p50": round(float(np.median(fits)), 3),
            "scale_dev_f1": round(head.dev_f1, 4), "scale_threads": learner.THREADS, "scale_pace_s": args.pace}


def markdown(res: dict) -> str:
    if "rows" not in res:
        return (f"The learner on a project of {res['scale_sentences']} CoNLL-2003 sentences ({res['date']}, "
                f"{res['scale_threads']} thread, as in its process), {res['scale_labelled']} of them labelled: all "
                f"encoded and a first fit in {res['scale_settle_s']} s; then save -> published head (refit on every "
                f"label, dev F1 on {res['dev_sentences']} dev sentences, predictions of the pool written): p50 "
                f"{res['scale_update_s_p50']:.2f} s, p95 {res['scale_update_s_p95']:.2f} s over "
                f"{len(res['scale_update_s'])} saves, one every {res.get('scale_pace_s', 0):g} s (fit alone p50 {res['scale_fit_s_p50']:.2f} s); dev F1 "
                f"{res['scale_dev_f1']:.3f}.\n")
    lines = [f"Live head on frozen `{res['model']}` states, CoNLL-2003 ({res['date']}, {res['threads']} threads): "
             f"dev = first {res['dev_sentences']} dev sentences, train sample seed {res['seed']}, "
             f"{res['features']} features per word",
             "", "| variant | labels | dev F1 | fit s |", "|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['labels']} | {r['dev_f1']:.3f} | {r['fit_s']:.2f} |" for r in res["rows"]]
    lines += ["", f"At {res['refit_at']} labelled sentences ({res['refit_words']} words): cold fit "
                  f"{res['cold_fit_s']:.2f} s, warm refits after one more sentence {res['warm_refit_s']} s "
                  f"(median {res['warm_refit_s_median']:.2f} s), dev F1 {res['refit_dev_f1']:.3f}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--sizes", default="25,50,100,200")
    ap.add_argument("--dev", type=int, default=1000)
    ap.add_argument("--refit", type=int, default=1000, help="labelled sentences for the refit timing")
    ap.add_argument("--variants", nargs="+", default=[""], help="head settings, e.g. l2=1e-3,iter=60")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--scale", type=int, help="the learner on a project of this many train sentences (see run_scale)")
    ap.add_argument("--saves", type=int, default=20, help="--scale: saves timed")
    ap.add_argument("--pace", type=float, default=8.0, help="--scale: seconds from one save to the next (an "
                    "expert's pace with the span editor)")
    args = ap.parse_args(argv)
    if args.scale:
        res = {"date": dt.date.today().isoformat(), "model": args.model, "dev_sentences": args.dev,
               **run_scale(args)}
        args.tag = args.tag or f"scale{args.scale}"
    else:
        res = run(args)
    write(res, markdown(res), args.out, f"live-{res['date']}" + (f"-{args.tag}" if args.tag else ""))


if __name__ == "__main__":
    main()
