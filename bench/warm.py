"""Where a training job's time goes, through the app's own path: `nerloop init/import` in a fresh data folder, then
jobs started as the Train page starts them (core.jobs.start: a `python -m core.jobs` subprocess), on CoNLL-2003.

    python bench/warm.py                                   # first job on 50 labels, warm jobs after 20 more
    python bench/warm.py --warm-steps 150,100,60 --dev 300 --pool 2000

A first job on N random train sentences (cold, the Train page's defaults), then M more labels and one warm job per
`--warm-steps` value, each from the first version (the serving version is put back between them). For each job:
Start -> version registered and promoted by policy (seconds, from the store's events), the job's own phase timings
(its log: process start + imports, data and encoder loading, training steps, dev evaluations, save, registration,
what runs after it: self-training, pool scoring), the ETA's error from a tenth of the run on (each recorded step
event's ETA against the time training really took from there), and dev F1 (the project's dev split, and 1,000 other
dev sentences scored here). Results: bench/results/warm-<date>.json and .md. CoNLL-2003 is read from
../shared/data/conll2003 and copied only into the temporary data folder.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._results import write  # noqa: E402
DATA = ROOT.parent / "shared" / "data" / "conll2003"


def cli(db: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "core", "--db", str(db), *args], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def stamp(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def run_job(store, pid: int, params: dict, *, label: str) -> dict:
    """Start a job as the Train page does, wait for its end; its timings from the store's events and its log."""
    from core import jobs

    load_before = os.getloadavg()[0]
    clicked = time.time()
    job_id = jobs.start(store, pid, params)
    while jobs.status(store, job_id).status in ("queued", "running"):
        time.sleep(0.1)
    ended = time.time()
    job = store.job(job_id)
    log = Path(job.log_path).read_text()
    if job.status != "done":
        raise SystemExit(f"job {job_id} {job.status}: {job.error}\n{log[-3000:]}")
    events = store.events(job_id)
    at = {e.kind: stamp(e.created) for e in events}  # the last of each kind
    saved = next(e for e in events if e.kind == "saved")
    info = saved.data["info"]
    steps = [(stamp(e.created), e.data) for e in events if e.kind == "step"]
    trained_at = stamp(saved.created)
    total = info["steps"]
    errors = []  # (share of the run, relative ETA error) of each recorded step from a tenth of the run on
    for t, data in steps:
        eta, left = jobs.eta_seconds(data), trained_at - t
        if data["step"] >= total / 10 and eta is not None and left > 0 and data["step"] < total:
            errors.append((data["step"] / total, (eta - left) / left))
    start = next(e for e in events if e.kind == "start")
    start_eta = jobs.eta_seconds(start.data)
    phases = json.loads(re.search(r"phases \(s\): (\{.*\})", log).group(1))
    model = store.model(job.model_id)
    registered = next(e for e in events if e.kind == "registered").data
    out = {"label": label, "job_id": job_id, "params": params, "warm_start": info.get("warm_start"),
           "train_sentences": info["train_sentences"], "dev_sentences": info["dev_sentences"],
           "steps": total, "planned_steps": saved.data["total_steps"], "evals": info["evals"],
           "best_step": info["best_step"], "dev_f1": model.dev_f1, "promoted": registered["promoted"],
           "serving_s": at["registered"] - clicked, "job_s": ended - clicked,
           "first_step_s": stamp(next(e for e in events if e.kind == "step").created) - clicked,
           "phases": phases, "seconds_per_step": info["train_seconds"] / total,
           "seconds_per_eval": info["eval_seconds"] / max(1, info["evals"]),
           "eta_at_start_s": start_eta, "eta_start_error": None if start_eta is None else
           (start_eta - (trained_at - stamp(start.created))) / (trained_at - stamp(start.created)),
           "eta_error_at_10pct": errors[0][1] if errors else None,
           "eta_error_max_from_10pct": max((abs(e) for _, e in errors), default=None),
           "after_events": [e.kind for e in events if e.id > next(x.id for x in events if x.kind == "registered")],
           "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
           "model_id": model.id, "folder": model.folder}
    print(f"{label}: serving {out['serving_s']:.1f} s after Start (job {out['job_s']:.1f} s), {total} steps, dev F1 "
          f"{model.dev_f1:.4f}, phases {phases}, ETA error at 10 % {out['eta_error_at_10pct']}", flush=True)
    return out


def ready(store) -> None:
    """A standby job process loaded and waiting, as the learner keeps one while the user labels."""
    from core import standby

    pid = standby.keep(store)
    while (store.standby() or {}).get("pid") != pid:
        time.sleep(0.2)
    time.sleep(2)  # the load average settles after its imports


def held_out_f1(folder: str, dev) -> float:
    from core.model import Tagger
    from core.train import evaluate

    return evaluate(Tagger.load(folder), [s.words for s in dev], [s.tags for s in dev]).f1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--first", type=int, default=50, help="labelled train sentences of the first job")
    ap.add_argument("--more", type=int, default=20, help="labels added before the warm jobs")
    ap.add_argument("--dev", type=int, default=300, help="the project's dev split: the first N dev sentences")
    ap.add_argument("--held-out", type=int, default=1000, help="dev sentences after those, scored here (0: none)")
    ap.add_argument("--pool", type=int, default=2000, help="unlabelled sentences (scored after a promotion)")
    ap.add_argument("--warm-steps", default="150", help="comma-separated warm_min_steps, one warm job each")
    ap.add_argument("--first-params", default="{}", help="JSON: job parameters of the first job over the Train "
                    "page's defaults, e.g. '{\"batch_size\": 8}'")
    ap.add_argument("--standby", default="on", help="comma-separated: on (each warm job taken by the standby "
                    "process the app's learner keeps loaded, core.standby), off (a fresh `python -m core.jobs`)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of the jobs (0: every core)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    from core import formats

    train = formats.read(Path(args.data) / "train.txt").sentences
    dev_all = formats.read(Path(args.data) / "dev.txt").sentences
    order = list(range(len(train)))
    random.Random(args.seed).shuffle(order)
    first = [train[i] for i in order[: args.first]]
    more = [train[i] for i in order[args.first : args.first + args.more]]
    pool = [train[i] for i in order[args.first + args.more : args.first + args.more + args.pool]]
    dev, held = dev_all[: args.dev], dev_all[args.dev : args.dev + args.held_out]
    res = {"date": dt.date.today().isoformat(), "command": "python bench/warm.py " + " ".join(sys.argv[1:]),
           "first": args.first, "more": args.more, "dev": args.dev, "held_out": len(held), "pool": args.pool,
           "seed": args.seed, "first_params": json.loads(args.first_params), "cores": os.cpu_count(), "threads": args.threads or "every core", "jobs": []}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["NERLOOP_HOME"] = str(home)
        db = home / "nerloop.db"
        for name, rows in (("first", first), ("more", more), ("dev", dev)):
            formats.write(rows, home / f"{name}.conll", "conll")
        (home / "pool.txt").write_text("\n".join(" ".join(s.words) for s in pool) + "\n")
        cli(db, "init", "conll", "--labels", "PER,LOC,ORG,MISC")
        cli(db, "import", "conll", str(home / "first.conll"), "--split", "train")
        cli(db, "import", "conll", str(home / "dev.conll"), "--split", "dev")
        cli(db, "import", "conll", str(home / "pool.txt"), "--split", "unlabeled", "--lines")
        from core.store import Store

        store = Store(db)
        pid = store.projects()[0].id
        first_params = {"promote": "better", **json.loads(args.first_params)}
        cold = run_job(store, pid, first_params, label=f"first model, {args.first} labels"
                       + "".join(f", {k} {v}" for k, v in first_params.items() if k != "promote"))
        res["jobs"].append(cold)
        cli(db, "import", "conll", str(home / "more.conll"), "--split", "train")
        for steps in (int(x) for x in args.warm_steps.split(",") if x):
            for mode in args.standby.split(","):
                store.promote(cold["model_id"])  # each warm job from the first version
                if mode == "on":
                    ready(store)
                res["jobs"].append(run_job(store, pid, {"warm_start": True, "promote": "better",
                                                        "warm_min_steps": steps},
                                           label=f"warm, {args.first + args.more} labels, warm_min_steps {steps}, "
                                                 f"standby {mode}"))
        if held:
            for job in res["jobs"]:
                job["held_out_f1"] = held_out_f1(job["folder"], held)
        store.close()
    write(res, table(res), args.out, f"warm-{res['date']}" + (f"-{args.tag}" if args.tag else ""))


def table(res: dict) -> str:
    lines = [f"Training jobs through the app's path (`core.jobs.start`, a `python -m core.jobs` subprocess) on "
             f"CoNLL-2003: {res['first']} random train sentences (seed {res['seed']}), then {res['more']} more; "
             f"project dev = the first {res['dev']} dev sentences, held-out F1 on the next {res['held_out']}; "
             f"{res['pool']} unlabelled; {res['date']}, {res['cores']} cores, threads: {res['threads']}. "
             f"`{res['command']}`", "",
             "| job | steps (planned) | evals | serving s after Start | process + imports s | load s | train s "
             "| s/step | eval s (each) | save s | register s | after s | job s | dev F1 | held-out F1 | ETA error "
             "at 10 % (max from 10 %) | load avg |", "|---" * 17 + "|"]
    for j in res["jobs"]:
        p = j["phases"]
        eta = "-" if j["eta_error_at_10pct"] is None else \
            f"{j['eta_error_at_10pct']:+.0%} ({j['eta_error_max_from_10pct']:.0%})"
        lines.append(f"| {j['label']} | {j['steps']} ({j['planned_steps']}) | {j['evals']} | {j['serving_s']:.1f} | "
                     f"{p['process']:.1f} | {p['load']:.1f} | {p['train']:.1f} | {j['seconds_per_step']:.3f} | "
                     f"{p['eval']:.1f} ({j['seconds_per_eval']:.1f}) | {p['save']:.1f} | {p['register']:.1f} | "
                     f"{p['after']:.1f} | {j['job_s']:.1f} | {j['dev_f1']:.4f} | "
                     f"{j.get('held_out_f1', float('nan')):.4f} | {eta} | {j['load_before']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
