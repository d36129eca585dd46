"""A label set that grows (issue 25) on CoNLL-2003: 500 train sentences labelled PER, LOC, ORG only (MISC tagged O, as
a user who had not asked for it would), a model trained; then MISC added and 200 more sentences labelled with all
four; then a warm-started fine-tune. Compared on the full dev set against all four types from the start on the same
700 sentences, and against today's behaviour (the 500 old sentences as plain O for MISC):

    python bench/labels.py --threads 2                     # masking, masking + pseudo-rehearsal, today, from start
    python bench/labels.py --threads 2 --dev 1000 --select-dev 200 --cold-steps 150 --batch-size 8 --warm-epochs 1
                                                           # lighter (a busy 2-core machine)

Each fine-tune variant starts from the same 3-type version. CoNLL-2003 is read from ../shared/data/conll2003 and
never copied; results go to bench/results/labels-<date>.json and .md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._results import write  # noqa: E402
DATA = ROOT.parent / "shared" / "data" / "conll2003"
OLD, NEW = ("LOC", "ORG", "PER"), "MISC"


def without(tags: list[str], kind: str = NEW) -> list[str]:
    """Tags with the entities of `kind` as O (a project that had not asked for it)."""
    return ["O" if t[2:] == kind else t for t in tags]


def sample(args) -> dict:
    """The simulated project's sentences: 500 old (MISC as O), 200 new (all four), a pool of unlabelled ones, the
    model-selection dev sentences and the full dev set."""
    from core import formats

    train = [s for s in formats.read(Path(args.data) / "train.txt").sentences if s.words]
    dev = [s for s in formats.read(Path(args.data) / "dev.txt").sentences if s.words][: args.dev or None]
    order = list(range(len(train)))
    random.Random(args.seed).shuffle(order)
    take = [train[i] for i in order[: args.old + args.new + args.pool]]
    old = [{"words": s.words, "tags": without(s.tags)} for s in take[: args.old]]
    new = [{"words": s.words, "tags": list(s.tags)} for s in take[args.old: args.old + args.new]]
    pool = [list(s.words) for s in take[args.old + args.new:]]
    select = [{"words": s.words, "tags": list(s.tags)} for s in dev[: args.select_dev]]
    return {"old": old, "new": new, "pool": pool, "select": select, "dev": dev,
            "old_full": [{"words": s.words, "tags": list(s.tags)} for s in take[: args.old]]}


def masked(items: list[dict]) -> list[dict]:
    """The old sentences as partial for MISC: each O word may be a MISC entity."""
    extra = ("O", f"B-{NEW}", f"I-{NEW}")
    return [{**it, "allowed": [extra if t == "O" else (t,) for t in it["tags"]]} for it in items]


def fit(cfg, items: list[dict], select: list[dict], out: Path, label: str) -> dict:
    from core.train import train

    started = time.perf_counter()
    for ev in train(cfg, items, select, out):
        if ev.kind == "eval":
            print(f"  {label} step {ev.step}/{ev.total_steps} selection dev F1 {ev.scores['micro']['f1']:.4f}",
                  flush=True)
        last = ev
    return {"steps": last.info["steps"], "best_step": last.info["best_step"],
            "train_seconds": round(last.info["train_seconds"], 1), "wall_seconds": round(time.perf_counter() - started)}


def scored(folder: Path, dev) -> dict:
    from core.model import Tagger
    from core.train import evaluate

    scores = evaluate(Tagger.load(str(folder)), [s.words for s in dev], [s.tags for s in dev]).scores
    return {"micro_f1": scores["micro"]["f1"], "per_class": {c: r["f1"] for c, r in scores["per_class"].items()}}


def run(args, data: dict, work: Path) -> dict:
    from core.config import TrainConfig
    from core.rehearsal import rehearsal
    from core.model import Tagger
    from core.vocab import label_set

    cold = TrainConfig(seed=args.seed, min_steps=args.cold_steps, time_budget=0, batch_size=args.batch_size)
    three, four = label_set(OLD), label_set((*OLD, NEW))
    select_old = [{"words": s["words"], "tags": without(s["tags"])} for s in data["select"]]
    runs: dict[str, dict] = {}
    runs["three"] = fit(replace(cold, labels=three), data["old"], select_old, work / "three", "3 types")
    warm = replace(cold, model=str(work / "three"), labels=four, epochs=args.warm_epochs)
    variants = {"today": data["old"] + data["new"], "mask": masked(data["old"]) + data["new"]}
    if args.rehearsal:
        pseudo = rehearsal(Tagger.load(str(work / "three")), data["pool"], [NEW], threshold=args.threshold,
                           weight=args.pseudo_weight)
        variants["mask+rehearsal"] = variants["mask"] + pseudo
        print(f"  rehearsal: {len(pseudo)} of {len(data['pool'])} pool sentences kept", flush=True)
    for name, items in variants.items():
        runs[name] = fit(warm, items, data["select"], work / name, name)
        if name == "mask+rehearsal":
            runs[name]["pseudo_sentences"] = len(pseudo)
    runs["from_start"] = fit(replace(cold, labels=four), data["old_full"] + data["new"], data["select"],
                             work / "from_start", "from start")
    for name in runs:
        runs[name].update(scored(work / name, data["dev"]))
        print(f"{name}: dev F1 {runs[name]['micro_f1']:.4f} {runs[name]['per_class']}", flush=True)
    return runs


def summary(runs: dict) -> dict:
    """The issue's keys for the chosen method (the masked variant with the best MISC F1 among those whose old classes
    drop least: see `choice`), in F1 points."""
    three = runs["three"]["per_class"]

    def drop(name: str) -> float:
        return max(100 * (three[c] - runs[name]["per_class"].get(c, 0.0)) for c in OLD)

    candidates = [n for n in ("mask", "mask+rehearsal") if n in runs]
    chosen = max(candidates, key=lambda n: (drop(n) <= 1.0, runs[n]["per_class"].get(NEW, 0.0)))
    return {"chosen": chosen, "old_class_drop_max": round(drop(chosen), 2),
            "misc_f1": round(100 * runs[chosen]["per_class"].get(NEW, 0.0), 2),
            "misc_f1_from_start": round(100 * runs["from_start"]["per_class"].get(NEW, 0.0), 2),
            "misc_f1_today": round(100 * runs["today"]["per_class"].get(NEW, 0.0), 2),
            "old_class_drop_max_today": round(drop("today"), 2),
            "old_class_drop": {n: round(drop(n), 2) for n in runs if n not in ("three", "from_start")}}


def table(res: dict) -> str:
    runs, s = res["runs"], res["summary"]
    names = [n for n in ("three", "today", "mask", "mask+rehearsal", "from_start") if n in runs]
    head = ("A label set that grows on CoNLL-2003 (bench/labels.py): F1 on the dev set "
            f"({res['dev_sentences']} sentences), {res['old']} old sentences (MISC as O) + {res['new']} with all "
            f"four; {res['date']}, {res['device']}, seed {res['seed']}. Chosen: `{s['chosen']}`.")
    lines = [head, "", "| run | " + " | ".join(OLD)
             + f" | {NEW} | micro | old-class drop (max, pt) | steps | training s |",
             "|---|" + "---|" * (len(OLD) + 5)]
    for n in names:
        r = runs[n]
        drop = s["old_class_drop"].get(n)
        lines.append(f"| {n} | " + " | ".join(f"{100 * r['per_class'].get(c, 0.0):.2f}" for c in OLD)
                     + f" | {100 * r['per_class'].get(NEW, 0.0):.2f} | {100 * r['micro_f1']:.2f} | "
                     + ("" if drop is None else f"{drop:+.2f}") + f" | {r['steps']} | {r['train_seconds']:.0f} |")
    lines += ["", f"MISC F1 {s['misc_f1']:.2f} against {s['misc_f1_from_start']:.2f} from the start "
              f"({s['misc_f1'] - s['misc_f1_from_start']:+.2f} pt) and {s['misc_f1_today']:.2f} today "
              f"({s['misc_f1'] - s['misc_f1_today']:+.2f} pt); the worst old class drops {s['old_class_drop_max']:.2f} "
              f"pt (today: {s['old_class_drop_max_today']:.2f} pt).", ""]
    return "\n".join(lines)


COUNTS = {  # the integer options: default and help
    "seed": (42, "the sample's shuffle and every run's seed"),
    "old": (500, "sentences labelled before MISC is added"),
    "new": (200, "sentences labelled with all four types after"),
    "pool": (500, "unlabelled sentences for pseudo-rehearsal"),
    "dev": (0, "score on the first N dev sentences (0: all; quick checks)"),
    "select-dev": (500, "first N dev sentences pick each run's best step"),
    "cold-steps": (400, "the cold runs' step floor (min_steps)"),
    "batch-size": (16, "the batch size of every run"),
    "warm-epochs": (3, "epochs of each fine-tune (TrainConfig.epochs)"),
    "threads": (0, "torch threads (0: torch's default)"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="folder with train.txt and dev.txt")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--tag", default="")
    for name, (default, text) in COUNTS.items():
        ap.add_argument(f"--{name}", type=int, default=default, help=text)
    ap.add_argument("--threshold", type=float, default=0.9, help="pseudo-rehearsal: least word probability")
    ap.add_argument("--pseudo-weight", type=float, default=0.5)
    ap.add_argument("--no-rehearsal", dest="rehearsal", action="store_false")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    data = sample(args)
    res = {"date": dt.date.today().isoformat(), "command": "python bench/labels.py " + " ".join(sys.argv[1:]),
           "seed": args.seed, "old": args.old, "new": args.new, "pool": args.pool, "select_dev": args.select_dev,
           "dev_sentences": len(data["dev"]), "cold_steps": args.cold_steps, "batch_size": args.batch_size,
           "warm_epochs": args.warm_epochs,
           "device": "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads",
           "load": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        res["runs"] = run(args, data, Path(tmp))
    res["summary"] = summary(res["runs"])
    res.update({k: v for k, v in res["summary"].items() if k != "old_class_drop"})
    write(res, table(res), args.out, f"labels-{res['date']}" + (f"-{args.tag}" if args.tag else ""))


if __name__ == "__main__":
    main()
