"""Team load in real browsers: concurrent annotators logged in to `streamlit run app.py`, each saving a sentence a
second on Annotate through the keyboard, while a training job runs.

    python bench/team.py                           # 10 annotators, one save a second each, 5 minutes
    python bench/team.py --minutes 1 --annotators 3   # a short run (development)

One project in a fresh temporary data folder: CoNLL-2003 sentences from ../shared/data/conll2003 (never copied into
the repository), a gold train and dev set and an unlabelled pool shared out among the annotator accounts with
core.team (10 % overlap, two copies). One admin and N annotator accounts (core.users, random passwords kept in
memory). The server is started as `make run` starts it (bench/_app.py). A training job started by the admin
(core.jobs.start: the Train page's subprocess; a new one whenever it ends) runs the whole time. One Chromium, one
browser context per annotator, driven from one asyncio loop: each logs in on the login form, opens Annotate (its
queue, "assigned to me") and, on an absolute schedule of one tick a second, presses 1 (the first label on the
cursor's word) and Ctrl+Enter; the save is acknowledged when the page shows the next sentence. Measured: saves
scheduled, attempted and acknowledged (and the rates per second), the sentences acknowledged against the human
annotations stored per annotator (they must be equal), p50/p95/max latency from Ctrl+Enter to the next sentence,
errors, the training jobs, and who used the CPU. Writes bench/results/team-<date>.json and .md.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._results import write  # noqa: E402
from bench._app import (CHROMIUM, CHROMIUM_ARGS, DEEP_JS, VIEWPORT, log_in_async, open_page_async,  # noqa: E402
                        server)

DATA = ROOT.parent / "shared" / "data" / "conll2003"
LABELS = ["PER", "LOC", "ORG", "MISC"]
EDITOR = ".nl-editor"
# true once the span editor shows another sentence than `old` (the save's acknowledgement)
MOVED_JS = "(old) => {" + DEEP_JS + " const b = deep('" + EDITOR + "'); return !!b && b.dataset.sid !== old; }"
SID_JS = "() => {" + DEEP_JS + " const b = deep('" + EDITOR + "'); return b ? b.dataset.sid : null; }"
# what the editor says when Python refused keys (made on a sentence no longer current): not an acknowledgement
NOTE_JS = "() => {" + DEEP_JS + " const n = deep('" + EDITOR + " .nl-note'); return n ? n.textContent : null; }"
ACK_TIMEOUT_MS = 60_000


@dataclass
class Session:
    """One annotator's run: what was attempted and acknowledged, latencies, lateness against the schedule."""

    name: str
    attempted: int = 0
    acked: list[int] = field(default_factory=list)  # sentence ids whose save the page acknowledged
    latency: list[float] = field(default_factory=list)  # Ctrl+Enter to the next sentence shown
    cycle: list[float] = field(default_factory=list)  # the whole save: the label key, Ctrl+Enter, the next sentence
    late: list[float] = field(default_factory=list)  # seconds each attempt started after its scheduled tick
    errors: list[str] = field(default_factory=list)
    page_errors: int = 0


# ---------------------------------------------------------------- the project

def build(folder: Path, args) -> tuple[dict[str, str], int]:
    """The data folder's database: the project, the admin and annotator accounts, the queues; returns ({name:
    password}, project id)."""
    from core import formats, team, users
    from core.store import Store

    store = Store(folder / "nerloop.db")
    passwords = {name: secrets.token_urlsafe(12) for name in ["admin", *annotator_names(args.annotators)]}
    users.add(store, "admin", "admin", passwords["admin"])
    admin = users.actor(store, "admin")
    for name in annotator_names(args.annotators):
        users.add(store, name, "annotator", passwords[name], actor=admin)
    pid = store.create_project("team", LABELS, actor=admin)
    train = formats.read(DATA / "train.txt").sentences
    dev = formats.read(DATA / "dev.txt").sentences[:args.dev]
    need = int(args.annotators * args.rate * args.minutes * 60) + 200
    pool = [formats.Sentence(s.words, None, s.text, s.offsets, s.doc_id)
            for s in train[args.train:args.train + need]]
    store.import_sentences(pid, train[:args.train], split="train", source_name="train.txt", actor=admin)
    store.import_sentences(pid, dev, split="dev", source_name="dev.txt", actor=admin)
    store.import_sentences(pid, pool, split="unlabeled", source_name="train.txt", actor=admin)
    store.set_overlap(pid, args.overlap, 2, actor=admin)
    team.extend(store, pid, team.pool_order(store, pid), annotator_names(args.annotators), actor=admin)
    store.close()
    return passwords, pid


def annotator_names(n: int) -> list[str]:
    return [f"annotator{i + 1:02d}" for i in range(n)]


# ---------------------------------------------------------------- training throughout

class Trainer(threading.Thread):
    """Starts a training job as the admin and a new one whenever it ends (until `stop_at`); samples the jobs' CPU."""

    def __init__(self, db: Path, pid: int, params: dict) -> None:
        super().__init__(daemon=True)
        self.db, self.pid, self.params = db, pid, params
        self.stop_at = float("inf")  # set once the schedule is known: no new job in its last 20 s
        self.job_ids: list[int] = []
        self.cpu: dict[int, float] = {}  # job process id -> CPU seconds last seen
        self.done = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        from core import jobs, users
        from core.store import Store

        store = Store(self.db)
        try:
            admin = users.actor(store, "admin")
            self.job_ids.append(jobs.start(store, self.pid, self.params, actor=admin))
            while not self.done.wait(2.0):
                self._sample(store)
                jobs.reap(store, self.pid)
                if (store.job(self.job_ids[-1]).status not in ("queued", "running")
                        and time.monotonic() < self.stop_at - 20):
                    self.job_ids.append(jobs.start(store, self.pid, self.params, actor=admin))
            self._sample(store)
        except Exception as e:  # reported in the results: the bench measures failures
            self.error = f"{type(e).__name__}: {e}"
        finally:
            store.close()

    def _sample(self, store) -> None:
        for job_id in self.job_ids:
            job = store.job(job_id)
            if job.pid and job.status in ("queued", "running"):
                try:
                    t = psutil.Process(job.pid).cpu_times()
                    self.cpu[job.pid] = t.user + t.system + t.children_user + t.children_system
                except psutil.Error:
                    pass


# ---------------------------------------------------------------- one annotator in the browser

async def annotate(browser, url: str, session: Session, password: str, ready: asyncio.Barrier, go: asyncio.Event,
                   start: list[float], args) -> None:
    """Log in, open Annotate, wait for every session and the start time, then save on the schedule until the end."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    try:
        await page.goto(url)
        await log_in_async(page, session.name, password)
        await open_page_async(page, "Annotate")
        await page.locator(EDITOR).first.click()  # the keyboard focus on the sentence, not a text field
    except Exception as e:
        session.errors.append(f"setup: {type(e).__name__}: {str(e)[:300]}")
    await ready.wait()
    await go.wait()  # start[0] is set
    if session.errors:
        await context.close()
        return
    t0, period, end = start[0], 1.0 / args.rate, start[0] + args.minutes * 60
    tick = 0
    while (due := t0 + tick * period) < end and time.monotonic() < end:  # behind schedule: at once, not past end
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        session.late.append(time.monotonic() - due)
        session.attempted += 1
        await save_one(page, session)
        tick += 1
    session.page_errors = await page.locator('[data-testid="stAlertContentError"], [data-testid="stException"]').count()
    await context.close()


async def save_one(page, session: Session) -> None:
    """Label the cursor's word with the first label and save with Ctrl+Enter; acknowledged once the next sentence
    shows."""
    t0 = time.perf_counter()
    sid = await page.evaluate(SID_JS)
    try:
        if sid is None:
            raise RuntimeError("no sentence on Annotate")
        await page.keyboard.press("1")
        t = time.perf_counter()
        await page.keyboard.press("Control+Enter")
        await page.wait_for_function(MOVED_JS, arg=sid, timeout=ACK_TIMEOUT_MS)
        if note := await page.evaluate(NOTE_JS):
            raise RuntimeError(f"the page moved on but refused keys:{note}")
        session.latency.append(time.perf_counter() - t)
        session.cycle.append(time.perf_counter() - t0)
        session.acked.append(int(sid))
    except Exception as e:  # counted and reported; the next tick goes on from what the page shows
        session.errors.append(f"save of #{sid}: {type(e).__name__}: {str(e)[:300]}")
        try:
            await page.locator(EDITOR).first.click(timeout=10_000)
        except Exception:
            pass


async def drive(url: str, passwords: dict[str, str], sessions: list[Session], trainer: Trainer, args,
                skip: set[int]) -> tuple[float, float]:
    """One Chromium, a context per annotator; returns (seconds from the first scheduled tick to the last ack, CPU
    seconds of the browser and Playwright's driver: this process's children but the pids in `skip` and the jobs)."""
    from playwright.async_api import async_playwright

    ready, go, start = asyncio.Barrier(len(sessions) + 1), asyncio.Event(), [0.0]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tasks = [asyncio.create_task(annotate(browser, url, s, passwords[s.name], ready, go, start, args))
                 for s in sessions]
        await ready.wait()  # every session logged in and on Annotate (or failed to)
        start[0] = time.monotonic() + 1.0
        trainer.stop_at = start[0] + args.minutes * 60
        go.set()
        await asyncio.gather(*tasks)
        wall = time.monotonic() - start[0]
        browser_cpu = cpu_of([c for c in psutil.Process().children(recursive=True)
                              if c.pid not in skip | set(trainer.cpu)])
        await browser.close()
    return wall, browser_cpu


# ---------------------------------------------------------------- the run

def stored(db: Path, pid: int, names: list[str]) -> dict[str, dict]:
    """Human annotations on disk per annotator (a fresh connection): rows and the sentences they cover."""
    conn = sqlite3.connect(db)
    out = {}
    for name in names:
        rows = conn.execute("SELECT a.sentence_id FROM annotations a JOIN sentences s ON s.id = a.sentence_id "
                            "WHERE s.project_id = ? AND a.source = 'human' AND a.annotator = ?",
                            [pid, name]).fetchall()
        out[name] = {"rows": len(rows), "sentences": {r[0] for r in rows}}
    conn.close()
    return out


def cpu_of(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def run(args) -> dict:
    from core import jobs
    from core.store import Store

    folder = Path(tempfile.mkdtemp(prefix="nerloop-team-"))
    try:
        passwords, pid = build(folder, args)
        names = annotator_names(args.annotators)
        sessions = [Session(n) for n in names]
        params = {"model": args.model, "epochs": args.epochs, "promote": "always"}
        load_start, busy_start = os.getloadavg(), psutil.cpu_times()
        with server(folder) as (url, spid, _):
            srv = psutil.Process(spid)
            srv_cpu0 = cpu_of([srv])
            trainer = Trainer(folder / "nerloop.db", pid, params)
            trainer.start()
            t_run = time.monotonic()
            own0 = cpu_of([psutil.Process()])
            wall, browser_cpu = asyncio.run(drive(url, passwords, sessions, trainer, args, {spid}))
            own_cpu = cpu_of([psutil.Process()]) - own0
            run_s = time.monotonic() - t_run
            srv_cpu = cpu_of([srv]) - srv_cpu0
            trainer.done.set()
            trainer.join()
            store = Store(folder / "nerloop.db")
            jobs.reap(store, pid)
            statuses = []
            for job_id in trainer.job_ids:
                job = jobs.status(store, job_id)
                statuses.append({"id": job_id, "status": job.status, "step": job.progress["step"],
                                 "total_steps": job.progress["total_steps"],
                                 "version": store.model(job.model_id).name if job.model_id else None})
                if job.status in ("queued", "running"):
                    jobs.cancel(store, job_id)
                    statuses[-1]["status"] += ", cancelled when the run ended"
            store.close()
        busy_end = psutil.cpu_times()
        on_disk = stored(folder / "nerloop.db", pid, names)
        store = Store(folder / "nerloop.db")
        promoted_rows = [r for r in store.audit(pid) if r["action"] == "promote"]
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report(args, sessions, on_disk, statuses, trainer, wall=wall, run_s=run_s,
                  cpu={"server": srv_cpu, "browser": browser_cpu, "driver": own_cpu},
                  busy=(busy_start, busy_end), load=(load_start, os.getloadavg()), promoted=promoted_rows)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1000, 1)


def _busy_share(a, b) -> float:
    """Share of the machine's CPU time (all cores) that was busy between two psutil.cpu_times() samples."""
    idle = (b.idle - a.idle) + (getattr(b, "iowait", 0) - getattr(a, "iowait", 0))
    total = sum(b) - sum(a)
    return 1 - idle / total if total else 0.0


def report(args, sessions: list[Session], on_disk: dict, statuses: list[dict], trainer: Trainer, *, wall: float,
           run_s: float, cpu: dict[str, float], busy, load, promoted: list[dict]) -> dict:
    """The results: counts, rates, latencies, errors, jobs and CPU (seconds of CPU in `cpu`, over `run_s`)."""
    seconds = args.minutes * 60
    latency = [x for s in sessions for x in s.latency]
    cycle = [x for s in sessions for x in s.cycle]
    per = {s.name: {"attempted": s.attempted, "acknowledged": len(s.acked), "stored_rows": on_disk[s.name]["rows"],
                    "equal": sorted(s.acked) == sorted(on_disk[s.name]["sentences"])
                    and len(s.acked) == on_disk[s.name]["rows"],
                    "errors": len(s.errors), "max_late_s": round(max(s.late), 2) if s.late else None}
           for s in sessions}
    acked = sum(p["acknowledged"] for p in per.values())
    cores = os.cpu_count() or 1
    trainer_cpu = sum(trainer.cpu.values())
    return {
        "date": dt.date.today().isoformat(), "command": "python bench/team.py " + " ".join(sys.argv[1:]),
        "settings": {"annotators": args.annotators, "minutes": args.minutes, "saves_per_s_each": args.rate,
                     "overlap": args.overlap, "copies": 2, "model": args.model, "epochs": args.epochs,
                     "train": args.train, "dev": args.dev},
        "browser": "one Chromium (Debian, headless), one context per annotator, Playwright async API",
        "scheduled": int(args.annotators * args.rate * seconds), "attempted": sum(s.attempted for s in sessions),
        "acknowledged": acked, "stored": sum(p["stored_rows"] for p in per.values()),
        "equal": all(p["equal"] for p in per.values()),
        "rate_per_s": {"target": args.annotators * args.rate, "attempted": round(sum(s.attempted for s in sessions)
                                                                                   / seconds, 2),
                       "acknowledged": round(acked / wall, 2) if wall > 0 else None},
        "missed_ticks": int(args.annotators * args.rate * seconds) - sum(s.attempted for s in sessions),
        "wall_seconds": round(wall, 1), "run_seconds_with_logins": round(run_s, 1),
        "latency_ms": {"p50": _ms(_pct(latency, 0.5)), "p95": _ms(_pct(latency, 0.95)),
                       "max": _ms(max(latency) if latency else None),
                       "mean": _ms(statistics.fmean(latency) if latency else None)},
        "cycle_ms": {"p50": _ms(_pct(cycle, 0.5)), "p95": _ms(_pct(cycle, 0.95)),
                     "max": _ms(max(cycle) if cycle else None)},
        "late_s": {"p50": _round(_pct([x for s in sessions for x in s.late], 0.5)),
                   "max": _round(max((x for s in sessions for x in s.late), default=None))},
        "errors": sum(len(s.errors) for s in sessions) + (trainer.error is not None),
        "error_examples": [e for s in sessions for e in s.errors][:10] + ([trainer.error] if trainer.error else []),
        "page_errors": sum(s.page_errors for s in sessions),
        "per_annotator": per,
        "training_jobs": statuses,
        "training": {"ran": any(j["status"] != "queued" for j in statuses),
                     "finished": sum(j["status"] == "done" for j in statuses),
                     "promotions_audited_as": sorted({r["actor"] for r in promoted})},
        "cpu": {"cores": cores, "load_start": [round(x, 2) for x in load[0]], "load_end": [round(x, 2) for x in load[1]],
                "machine_busy_pct": round(100 * _busy_share(*busy), 1),
                **{f"{k}_pct_of_a_core": round(100 * v / run_s, 1) for k, v in cpu.items()},
                "training_pct_of_a_core": round(100 * trainer_cpu / run_s, 1),
                "over_seconds": round(run_s, 1), "note": "CPU from the first login to the last acknowledgement; "
                "browser: Chromium and Playwright's driver; driver: this script's asyncio loop"},
    }


def markdown(r: dict) -> str:
    s, lat, rate, cpu = r["settings"], r["latency_ms"], r["rate_per_s"], r["cpu"]
    jobs_run = ", ".join(f"job {j['id']} {j['status']} at step {j['step']} of {j['total_steps']}"
                         + (f", version {j['version']}" if j["version"] else "") for j in r["training_jobs"])
    return "\n".join([
        f"# Team load in real browsers, {r['date']}: `{r['command']}`", "",
        f"{s['annotators']} annotators ({r['browser']}), each logged in and saving on Annotate with the keyboard "
        f"(1, Ctrl+Enter) on a schedule of {s['saves_per_s_each']:g} a second for {s['minutes']:g} min, "
        f"{s['overlap']:.0%} overlap; training throughout: {jobs_run}. {cpu['cores']} CPUs, machine "
        f"{cpu['machine_busy_pct']} % busy (load {cpu['load_start'][0]} -> {cpu['load_end'][0]}); % of a core: "
        f"server {cpu['server_pct_of_a_core']}, browser {cpu['browser_pct_of_a_core']}, bench driver "
        f"{cpu['driver_pct_of_a_core']}, training {cpu['training_pct_of_a_core']}.", "",
        "| saves/s target | attempted/s | acknowledged/s | scheduled | attempted | acknowledged | stored | equal "
        "| p50 ms | p95 ms | max ms | errors |", "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {rate['target']:g} | {rate['attempted']} | {rate['acknowledged']} | {r['scheduled']} | {r['attempted']} "
        f"| {r['acknowledged']} | {r['stored']} | {r['equal']} | {lat['p50']} | {lat['p95']} | {lat['max']} "
        f"| {r['errors']} |", "",
        f"Latency: Ctrl+Enter to the next sentence shown. A whole save (the label key, Ctrl+Enter, the next "
        f"sentence) took p50 {r['cycle_ms']['p50']} ms, p95 {r['cycle_ms']['p95']} ms; {r['missed_ticks']} scheduled "
        "ticks fell after the end of the run (a session behind schedule saves again at once).", ""])


def summary(r: dict) -> str:
    lat, rate = r["latency_ms"], r["rate_per_s"]
    return (f"team: {r['settings']['annotators']} browsers, {r['acknowledged']}/{r['scheduled']} saves acknowledged "
            f"({rate['acknowledged']}/s of {rate['target']:g}/s), stored {r['stored']}, equal {r['equal']}, "
            f"p50 {lat['p50']} ms p95 {lat['p95']} ms max {lat['max']} ms, {r['errors']} errors, training jobs "
            f"{[j['status'] for j in r['training_jobs']]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--annotators", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=1.0, help="saves a second per annotator (the schedule)")
    ap.add_argument("--overlap", type=float, default=0.1)
    ap.add_argument("--train", type=int, default=300, help="gold train sentences")
    ap.add_argument("--dev", type=int, default=200, help="gold dev sentences")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--model", default="default", help="base model of the training job (default: packaged MiniLM)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    result = run(args)
    write(result, markdown(result), args.out, f"team-{result['date']}")
    print(summary(result), flush=True)
    return 0 if result["equal"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
