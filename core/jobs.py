"""Background training jobs: a subprocess running the trainer, its events recorded in the store."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import psutil

from core import active, labelhistory, procs, selftrain, standby, versions, vocab
from core.access import OWNER, Actor, require
from core.config import TrainConfig
from core.job_params import JobParams
from core.store import Job, ModelVersion, Project, SentenceRow, Store
from core.train import Event, train

log = logging.getLogger(__spec__.name)  # "core.jobs" also when run as `python -m core.jobs` (__name__: "__main__")
_procs: dict[tuple[str, int], psutil.Popen] = {}  # (database, job id) -> child started here


def create(store: Store, project_id: int, params: dict, *, actor: Actor = OWNER) -> int:
    """Record a queued training job. params: TrainConfig fields, plus `warm_start` (bool) and `promote`, and
    `self_training` (bool) with `pseudo_threshold`, `pseudo_weight`, `max_pseudo`, `pseudo_balance` (see
    core.selftrain), and `score_pool` (default true: a newly serving version scores the unlabelled pool for active
    learning before the job ends, so the Annotate page finds the scores stored); checked now (JobParams.parse), not
    in the subprocess. Admins only (`actor`); audited."""
    store.authorize(actor, "train", project_id)
    checked = JobParams.parse(params)
    if checked.self_training and not versions.training_data(store, project_id)[1]:
        raise ValueError("self-training needs labelled dev sentences to accept or reject its result")
    job_id = store.create_job(project_id, "train", checked.to_dict())
    store.add_audit(actor, "train", project_id=project_id, job_id=job_id)
    return job_id


def start(store: Store, project_id: int, params: dict, *, actor: Actor = OWNER) -> int:
    """Create a job and run it in the standby process the learner keeps ready (core.standby), else in a new detached
    subprocess (`python -m core.jobs`); admins only (`actor`), audited; returns the job id."""
    job_id = create(store, project_id, params, actor=actor)
    log_file = store.path.resolve().parent / "logs" / store.uuid / f"job-{job_id}.log"  # by database: ids repeat
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if (pid := standby.take(store, job_id, log_file)) is not None:
        log.info("job %s handed to standby process %s, log %s", job_id, pid, log_file)
        return job_id
    proc = procs.spawn([sys.executable, "-m", "core.jobs", "--db", str(store.path.resolve()), "--job-id", str(job_id)],
                       log_file=log_file, cwd=Path(__file__).resolve().parents[1],
                       env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    _procs[(str(store.path.resolve()), job_id)] = proc
    store.update_job(job_id, pid=proc.pid, pid_started=procs.start_time(proc.pid), log_path=str(log_file))
    log.info("job %s started: process %s, log %s", job_id, proc.pid, log_file)
    return job_id


def threads() -> int:
    """Torch threads for a job: OMP_NUM_THREADS when set, else every core this process may run on."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    return procs.cpu_count()


def eta_seconds(step: dict | None) -> float | None:
    """Seconds left, from a job's last step event (or its start event before the first step): the steps left of the
    plan that will run (the event's total) x the seconds per training step, plus the dev evaluations left x the
    seconds per evaluation, as the trainer measured them (core.train.train: this run's after its first step, the
    last run's before); None while unknown."""
    info = (step or {}).get("info") or {}
    done, total = (step or {}).get("step", 0), (step or {}).get("total_steps", 0)
    if "s_per_step" in info:
        if info["s_per_step"] is None:
            return None
        return max(0, total - done) * info["s_per_step"] + info.get("evals_left", 0) * (info.get("s_per_eval") or 0.0)
    if not done or "train_s" not in info:  # an event written before the trainer carried its pace
        return None
    left = max(0, total - done) * info["train_s"] / done
    if info.get("evals"):
        left += info.get("evals_left", 0) * info["eval_s"] / info["evals"]
    return left


def last_rates(store: Store, *, look_back: int = 5) -> dict | None:
    """The pace of the newest finished training job of this data folder that trained (its `saved` event): seconds of
    training per sentence and of dev evaluation per dev sentence (core.train.train's `prior`); None without one."""
    for job in store.jobs(status="done")[:look_back]:
        saved = store.last_event(job.id, "saved")
        info = (saved.data.get("info") if saved else None) or {}
        if not info.get("train_windows_seen") or not info.get("train_seconds"):
            continue
        out = {"train_s_per_sentence": info["train_seconds"] / info["train_windows_seen"], "job_id": job.id}
        if info.get("evals") and info.get("dev_sentences") and info.get("eval_seconds"):
            out["eval_s_per_sentence"] = info["eval_seconds"] / (info["evals"] * info["dev_sentences"])
        return out
    return None


def _alive(job: Job) -> bool:
    """Whether the job's process runs: its PID, started when the job recorded (a reused PID is another process)."""
    return procs.alive(job.pid, job.pid_started)


def reap(store: Store, project_id: int | None = None) -> list[int]:
    """Mark queued/running jobs whose process is gone as failed, with the reason; returns their ids. Every ended
    child process this server started for this database is waited for (no zombie) and forgotten once its job is
    finished."""
    dead = []
    for job in store.jobs(project_id, status=list(vocab.JOB_UNFINISHED)):
        proc = _procs.get((str(store.path.resolve()), job.id))
        code = procs.exit_code(proc) if proc is not None else None
        if proc is not None and code is None:
            continue
        if proc is None and _alive(job):
            continue
        if job.status == "queued" and not job.pid:
            continue  # created but not started in a subprocess (run inline by the CLI)
        fresh = store.job(job.id)
        if fresh.status not in vocab.JOB_UNFINISHED:
            continue
        reason = f"process {job.pid} ended without finishing"
        if code is not None:
            reason += f" (exit code {code})"
        if job.log_path:
            reason += f"; log: {job.log_path}"
        store.update_job(job.id, status="failed", error=reason)
        log.warning("job %s failed: %s", job.id, reason)
        dead.append(job.id)
    db = str(store.path.resolve())
    for key, proc in list(_procs.items()):
        if key[0] != db or procs.exit_code(proc) is None:  # exit_code waits: an ended child is reaped here
            continue
        try:
            finished = store.job(key[1]).status not in vocab.JOB_UNFINISHED
        except KeyError:
            finished = True
        if finished:  # else the next reap marks its job failed, with the exit code
            _procs.pop(key, None)
    return dead


@dataclass(frozen=True)
class JobStatus(Job):
    """A job with its latest progress: step, total_steps, epoch, loss, dev_f1, eta_s, registered."""

    progress: dict[str, Any]


def status(store: Store, job_id: int) -> JobStatus:
    """The job with its latest progress (step, total, loss, dev F1), after reaping dead processes."""
    reap(store)
    job = store.job(job_id)
    step, ev = store.last_event(job_id, "step"), store.last_event(job_id, "eval")
    last = step.data if step else {}
    start = store.last_event(job_id, "start") if not step else None
    scores = ev.data.get("scores") if ev else None
    return JobStatus(**{f.name: getattr(job, f.name) for f in fields(Job)}, progress={
        "step": last.get("step", 0), "total_steps": last.get("total_steps", 0), "epoch": last.get("epoch", 0.0),
        "loss": last.get("loss"), "dev_f1": scores["micro"]["f1"] if scores else None, "eta_s": eta_seconds(last or (start.data if start else None)),
        "registered": store.last_event(job_id, "registered") is not None,  # training over: self-training / scoring
    })


def cancel(store: Store, job_id: int, *, actor: Actor = OWNER) -> None:
    """Stop a running job: its process and all their children (when it is still the process that started the job)
    are terminated, and killed after a grace period; it is marked cancelled (admins only, audited)."""
    require(actor, "cancel")
    job = store.job(job_id)
    store.authorize(actor, "cancel", job.project_id)
    if job.status not in vocab.JOB_UNFINISHED:
        return
    store.update_job(job_id, status="cancelled", error="cancelled by user")
    store.add_audit(actor, "cancel", project_id=job.project_id, job_id=job_id)
    log.info("job %s cancelled", job_id)
    if job.pid:
        procs.stop(job.pid, job.pid_started)
    proc = _procs.pop((str(store.path.resolve()), job_id), None)
    if proc is not None:
        procs.exit_code(proc)  # reap it: no zombie left behind


class _Recorder:
    """A job's event sink: each event to `progress` and the store, step events at most every 0.5 s (the last one
    before any other event). While it is open, SIGTERM (a cancel) is noted (`stopping`) and the next event raises
    KeyboardInterrupt."""

    def __init__(self, store: Store, job_id: int, progress: Callable[[Event], None] | None):
        self.store, self.job_id, self.progress = store, job_id, progress
        self.stopping, self.last_write, self.pending = False, 0.0, None
        self.previous: Any = None

    def __enter__(self) -> _Recorder:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._on_term)
        return self

    def __exit__(self, *_) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)

    def _on_term(self, *_) -> None:
        self.stopping = True

    def __call__(self, ev: Event) -> None:
        if self.progress is not None:
            self.progress(ev)
        if self.stopping:
            raise KeyboardInterrupt("cancelled")
        now = time.monotonic()
        if ev.kind == "step" and now - self.last_write < 0.5 and ev.step != ev.total_steps:
            self.pending = ev
            return
        if ev.kind != "step" and self.pending is not None:
            self.store.add_event(self.job_id, self.pending.kind, _event_data(self.pending))
        self.store.add_event(self.job_id, ev.kind, _event_data(ev))
        self.last_write, self.pending = now, None


@dataclass
class _Run:
    """One job run in this process: what it trains, the version serving before it, its event sink, and the
    wall-clock time of its phases (time.time(): the process's start time is on the same clock)."""

    store: Store
    job_id: int
    project: Project
    params: JobParams
    cfg: TrainConfig
    serving: ModelVersion | None
    train_rows: list[SentenceRow]
    dev_rows: list[SentenceRow]
    record: _Recorder
    starter: Actor  # who started the job: a promotion by policy is their act
    began: float
    since: float | None  # when this process began to work for the job (None: its start)
    marks: dict[str, float] = field(default_factory=dict)


def execute(store: Store, job_id: int, *, progress: Callable[[Event], None] | None = None,
            since: float | None = None) -> dict:
    """Run a job in this process: train, record events, register the version and maybe promote it, then finish
    (self-training, the pool scored for active learning). `since`: when this process began to work for the job
    (default: its start; a standby process's: when it took the job)."""
    began = time.time()
    job = store.job(job_id)
    params = JobParams.parse(job.params or {})
    project = store.project(job.project_id)
    serving = store.serving(project.id)
    cfg = params.train_config(serving_folder=serving.folder if serving else None, project_labels=project.labels)
    train_rows, dev_rows = versions.training_data(store, project.id)
    store.update_job(job_id, status="running", pid=os.getpid(), pid_started=procs.start_time())
    log.info("job %s: project %s, %d labelled train and %d dev sentences, parameters %s", job_id, project.id,
             len(train_rows), len(dev_rows), params.to_dict())
    out: Path | None = None
    self_out: Path | None = None  # folders reserved for this job's versions
    with _Recorder(store, job_id, progress) as record:
        run = _Run(store, job_id, project, params, cfg, serving, train_rows, dev_rows, record,
                   store.job_starter(job_id) or OWNER, began, since)
        try:
            versions.cleanup(store)  # what a killed job left: temp folders, saved but unregistered versions
            root = versions.model_root(store, project.id)
            out = versions.reserve(root, f"job-{job_id}")
            self_out = versions.reserve(root, f"job-{job_id}-self") if params.self_training else None
            result = _promote(run, _train(run, out), out)
            return _finish(run, result, self_out)
        except KeyboardInterrupt:
            store.update_job(job_id, status="cancelled", error="cancelled by user")
            log.info("job %s cancelled", job_id)
            raise
        except Exception as exc:
            store.update_job(job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            versions.release(out)
            versions.release(self_out)


def _train(run: _Run, out: Path) -> Event:
    """Train into `out`, recording the events; the `saved` event."""
    final: Event | None = None
    about = _about(run.store, run.project, run.job_id, run.params)
    head_from = labelhistory.head_map(run.store, run.project.id, run.serving) \
        if run.serving and run.params.warm_start else None
    for ev in train(run.cfg, run.train_rows, run.dev_rows, out, about=about, prior=last_rates(run.store),
                    head_from=head_from):
        run.record(ev)
        run.marks["loaded" if ev.kind == "start" else "saved" if ev.kind == "saved" else "trained"] = time.time()
        if ev.kind == "saved":
            final = ev
    if final is None:
        raise RuntimeError("the trainer ended without saving the model")
    return final


def _promote(run: _Run, final: Event, out: Path) -> dict:
    """Register the saved version and promote it by the job's policy; the job's result so far."""
    store, project, serving, cfg = run.store, run.project, run.serving, run.cfg
    metrics = dict(final.info)
    metrics.pop("config", None)
    metrics["dev_digest"] = versions.dev_digest(run.dev_rows)  # a promotion by policy needs no rescoring on it
    model_id = store.add_model(
        project.id, folder=str(out), base_model=cfg.model,
        parent_id=serving.id if serving and run.params.warm_start else None, params=asdict(cfg), metrics=metrics,
        status="ready",
    )
    store.update_job(run.job_id, model_id=model_id)  # the version exists whatever happens after this
    verdict = versions.promote_by_policy(store, project.id, model_id, run.params.promote,
                                         tolerance=cfg.class_tolerance, actor=run.starter, job_id=run.job_id)
    promoted = verdict.promoted
    version = store.model(model_id)
    log.info("version %s (dev F1 %s) %s by policy %r; serving before: %s (%s)", version.name, version.dev_f1,
             "promoted" if promoted else "not promoted", run.params.promote, serving.name if serving else "none",
             verdict.reason)
    store.add_event(run.job_id, "registered", {"model_id": model_id, "promoted": promoted, "reason": verdict.reason,
                                               "class_drops": verdict.drops})
    run.marks["registered"] = time.time()
    return {"job_id": run.job_id, "model_id": model_id, "promoted": promoted, "metrics": metrics}


def _finish(run: _Run, result: dict, self_out: Path | None) -> dict:
    """After the version is registered: self-training when asked, the pool scored by a newly serving version, the
    phases' times; the job done (or cancelled, the version kept). The job's result."""
    store, job_id, project = run.store, run.job_id, run.project
    if run.params.self_training:
        st = selftrain.self_train_project(store, project.id, base_model_id=result["model_id"], cfg=run.cfg,
                                          options=run.params.self_training, promote=run.params.promote, out=self_out,
                                          on_event=run.record, actor=run.starter, job_id=job_id)
        store.add_event(job_id, "self_training", st.to_dict())
        log.info("self-training %s: dev F1 %.4f -> %.4f with %d pseudo-labelled sentences",
                 "accepted" if st.accepted else "rejected", st.base_f1, st.new_f1, st.n_pseudo)
        result["self_training"] = st.to_dict()
    now_serving = store.serving(project.id)
    changed = now_serving is not None and now_serving.id != (run.serving.id if run.serving else None)
    pool = active.pool_rows(store, project.id) if changed else []
    if run.params.score_pool and pool and not run.record.stopping:
        store.add_event(job_id, "scoring_pool", {"model_id": now_serving.id, "sentences": len(pool)})
        result["pool_scored"] = _score_pool(store, now_serving, pool)
        store.add_event(job_id, "pool_scored", result["pool_scored"])
    if run.record.stopping:  # cancelled after training: the version stays registered, the job says cancelled
        raise KeyboardInterrupt("cancelled")
    result["phases"] = _phases(run.began, run.marks, result["metrics"], run.since)
    log.info("job %s phases (s): %s", job_id, json.dumps(result["phases"]))
    store.update_job(job_id, status="done")
    log.info("job %s done", job_id)
    return result


def _phases(began: float, marks: dict[str, float], metrics: dict, since: float | None = None) -> dict[str, float]:
    """Where a job's time went, in seconds: `process` (this process's start to the job's: interpreter, imports),
    `load` (data, encoder), `train` and `eval` (the trainer's steps and dev evaluations), `save` (the best state
    saved), `register` (recorded and promoted by policy), `serving_after_process_start` (the version is registered
    this long after the process started, or after `since`), `after` (self-training, pool scoring)."""
    started = since or procs.start_time() or began
    out = {"process": began - started, "load": marks["loaded"] - began,
           "train": metrics.get("train_seconds", 0.0), "eval": metrics.get("eval_seconds", 0.0),
           "save": marks["saved"] - marks.get("trained", marks["loaded"]),
           "register": marks["registered"] - marks["saved"],
           "serving_after_process_start": marks["registered"] - started, "after": time.time() - marks["registered"]}
    return {k: round(v, 3) for k, v in out.items()}


def _about(store: Store, project: Project, job_id: int, params: JobParams) -> dict:
    """Model-card facts of a job's version: what started it and the size of the project's labelled test split."""
    test = [s for s in store.sentences(project.id, split="test", flagged=False) if s.tags is not None]
    return {"job": f"training job {job_id} of project {project.name!r}", "command": params.command,
            "test_sentences": len(test), "test_tokens": sum(len(s.words) for s in test)}


def _score_pool(store: Store, model: ModelVersion, pool: list[SentenceRow]) -> dict:
    """Store the version's active-learning scores of the pool; a failure is reported, the version stays good."""
    started = time.perf_counter()
    try:
        active.stored_scores(store, model, pool)
    except Exception as exc:  # the page scores what is missing itself
        return {"model_id": model.id, "sentences": len(pool), "error": f"{type(exc).__name__}: {exc}"}
    return {"model_id": model.id, "sentences": len(pool), "seconds": round(time.perf_counter() - started, 2)}


def _event_data(ev: Event) -> dict:
    data = ev.to_dict()
    if data.get("info") and "config" in data["info"]:
        data["info"] = {k: v for k, v in data["info"].items() if k != "config"}
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.jobs", description="Run one recorded training job.")
    ap.add_argument("--db", required=True)
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--job-id", type=int)
    which.add_argument("--standby", action="store_true", help="load, then wait for a job (core.standby)")
    ap.add_argument("--parent", type=int, help="with --standby: stop waiting when this process ends")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,  # stderr: the job's log file
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    procs.lower_priority()
    import torch

    torch.set_num_threads(threads())
    store = Store(args.db)
    job_id, since = args.job_id, None
    if args.standby:
        standby.warm(store)
        if (job_id := standby.wait(store, parent=args.parent)) is None:
            return 0
        since = time.time()
        standby.redirect(store.job(job_id).log_path)
    try:
        execute(store, job_id, since=since)
    except KeyboardInterrupt:
        return 130
    except Exception:
        log.exception("job %s failed", job_id)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
