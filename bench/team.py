"""Team load: concurrent annotators saving through the Annotate page's code path while a training job runs.

    python bench/team.py                       # 10 annotators, one save a second each, 5 minutes
    python bench/team.py --minutes 2           # a shorter run on a busy machine

One project in a fresh temporary data folder: CoNLL-2003 sentences from ../shared/data/conll2003 (never copied into
the repository), a gold train and dev set and an unlabelled pool shared out with core.team (10 % overlap, two
copies). A training job (`core.jobs.start`: the subprocess the Train page starts; a new one whenever it ends) runs
the whole time. Each annotator is a thread on the app's one Store (as the Streamlit server's sessions share it):
every second it takes the next sentence of its stored queue (core.team.queue), what it opens with
(core.team.opening), and saves the gold tags (core.annotate.save, the page's save). Measured: saves acknowledged
against human annotations stored (they must be equal), p50/p95/max save latency, errors, jobs run.
Writes bench/results/team-<date>.json and .md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"
LABELS = ["PER", "LOC", "ORG", "MISC"]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _annotator(store, project_id: int, name: str, gold: dict[int, list[str]], until: float, out: dict) -> None:
    """Save one sentence a second until `until`, on an absolute schedule (a slow save does not shift later ones)."""
    from core import annotate as ann
    from core import team

    tick = time.monotonic()
    while tick < until:
        time.sleep(max(0.0, tick - time.monotonic()))
        try:
            todo = team.queue(store, project_id, name)
            if not todo:
                out["empty"] += 1
            else:
                sid = todo[0]
                team.opening(store, sid, name)
                start = time.perf_counter()
                ann.save(store, sid, gold[sid], annotator=name)
                out["latency"].append(time.perf_counter() - start)
                out["acked"] += 1
        except Exception as e:  # counted and reported: the bench measures failures
            out["errors"].append(f"{type(e).__name__}: {e}")
        tick += 1.0


def run(args: argparse.Namespace) -> dict:
    from core import formats, jobs, team
    from core.store import Store, sentence_hash

    home = Path(tempfile.mkdtemp(prefix="nerloop-team-"))
    os.environ["NERLOOP_HOME"] = str(home)
    store = Store(home / "team.db")
    pid = store.create_project("team", LABELS)
    train = formats.read(DATA / "train.txt").sentences
    dev = formats.read(DATA / "dev.txt").sentences[:args.dev]
    need = args.annotators * int(args.minutes * 60) + 100
    labelled, pool = train[:args.train], train[args.train:args.train + need]
    store.import_sentences(pid, labelled, split="train")
    store.import_sentences(pid, dev, split="dev")
    store.import_sentences(pid, [formats.Sentence(s.words, None, s.text, s.offsets, s.doc_id) for s in pool],
                           split="unlabeled")
    by_hash = {sentence_hash(s.words): list(s.tags) for s in pool}
    gold = {r.id: by_hash[sentence_hash(r.words)] for r in store.sentences(pid, split="unlabeled")}
    store.set_overlap(pid, args.overlap, 2)
    names = [f"annotator{i + 1:02d}" for i in range(args.annotators)]
    team.extend(store, pid, team.pool_order(store, pid), names)
    params = {"model": args.model, "epochs": args.epochs, "promote": "always"}
    job_ids = [jobs.start(store, pid, params)]
    results = {n: {"acked": 0, "latency": [], "errors": [], "empty": 0} for n in names}
    until = time.monotonic() + args.minutes * 60
    threads = [threading.Thread(target=_annotator, args=(store, pid, n, gold, until, results[n])) for n in names]
    started = time.time()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(2)
        jobs.reap(store, pid)
        if store.job(job_ids[-1]).status not in ("queued", "running") and time.monotonic() < until - 20:
            job_ids.append(jobs.start(store, pid, params))
    for t in threads:
        t.join()
    wall = time.time() - started
    last = store.job(job_ids[-1])
    if last.status in ("queued", "running"):
        jobs.cancel(store, job_ids[-1])
    check = Store(home / "team.db")  # a fresh connection: what is on disk
    stored = {n: len(check.saved_ids(pid, n)) for n in names}
    rows = check.db.execute("SELECT COUNT(*) FROM annotations WHERE source = 'human'").fetchone()[0]
    statuses = [check.job(j).status for j in job_ids]
    check.close()
    store.close()
    latency = [x for r in results.values() for x in r["latency"]]
    acked = {n: r["acked"] for n, r in results.items()}
    return {
        "date": dt.date.today().isoformat(), "annotators": args.annotators, "minutes": args.minutes,
        "wall_seconds": round(wall, 1), "overlap": args.overlap, "model": args.model, "cpus": os.cpu_count(),
        "acknowledged": sum(acked.values()), "stored": sum(stored.values()), "human_rows": rows,
        "equal": acked == stored and rows == sum(acked.values()),
        "per_annotator": {n: {"acknowledged": acked[n], "stored": stored[n]} for n in names},
        "latency_ms": {"p50": _ms(_percentile(latency, 0.5)), "p95": _ms(_percentile(latency, 0.95)),
                       "max": _ms(max(latency) if latency else None),
                       "mean": _ms(statistics.fmean(latency) if latency else None)},
        "errors": [e for r in results.values() for e in r["errors"]],
        "queue_empty": sum(r["empty"] for r in results.values()),
        "training_jobs": [{"id": j, "status": s} for j, s in zip(job_ids, statuses)],
    }


def _ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1000, 1)


def markdown(r: dict) -> str:
    lat = r["latency_ms"]
    jobs_run = ", ".join(f"{j['id']} {j['status']}" for j in r["training_jobs"])
    return "\n".join([
        f"# Team load, {r['date']}", "",
        f"{r['annotators']} annotators, one save a second each for {r['minutes']} min ({r['wall_seconds']} s wall), "
        f"{r['overlap']:.0%} overlap, training jobs running throughout ({jobs_run}), {r['cpus']} CPUs.", "",
        "| acknowledged | stored | equal | p50 ms | p95 ms | max ms | errors |", "|---|---|---|---|---|---|---|",
        f"| {r['acknowledged']} | {r['stored']} | {r['equal']} | {lat['p50']} | {lat['p95']} | {lat['max']} | "
        f"{len(r['errors'])} |", ""])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--annotators", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--overlap", type=float, default=0.1)
    ap.add_argument("--train", type=int, default=300, help="gold train sentences")
    ap.add_argument("--dev", type=int, default=200, help="gold dev sentences")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--model", default="default", help="base model of the training job (default: packaged MiniLM)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    result = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"team-{result['date']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0 if result["equal"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
