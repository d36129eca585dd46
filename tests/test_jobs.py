"""Tests for core.jobs: a background training job run to the end, a killed job, a cancelled job."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import psutil
import pytest

from core import formats, jobs, procs, versions
from core.store import Store

DATA = Path(__file__).parent / "data"
FAST = {"epochs": 1, "min_steps": 20, "batch_size": 16, "lr": 1e-3, "device": "cpu", "promote": "always",
        "patience": 0}  # all 20 steps, no early stop
LONG = {**FAST, "epochs": 100_000}  # a time budget never cuts the epochs asked for


@pytest.fixture
def project(tmp_path) -> tuple[Store, int]:
    """Project `news`: sample.conll as train, sample_dev.conll as dev."""
    store = Store(tmp_path / "nerloop.db")
    pid = store.create_project("news", ["PER", "LOC", "ORG", "MISC"])
    store.import_sentences(pid, formats.read(DATA / "sample.conll").sentences, split="train")
    store.import_sentences(pid, formats.read(DATA / "sample_dev.conll").sentences, split="dev")
    yield store, pid
    for job in store.jobs(pid, status=["queued", "running"]):
        jobs.cancel(store, job.id)
    store.close()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def log_of(store: Store, job_id: int) -> str:
    path = store.job(job_id).log_path
    return Path(path).read_text()[-3000:] if path and Path(path).exists() else ""


def running_with_steps(store: Store, job_id: int) -> bool:
    job = jobs.status(store, job_id)
    assert job.status in ("queued", "running"), (job, log_of(store, job_id))
    assert not job.progress["registered"]  # still training
    return job.status == "running" and job.progress["step"] > 0


def test_job_runs_to_the_end(project, tiny_model):
    store, pid = project
    job_id = jobs.start(store, pid, {**FAST, "model": tiny_model})
    job = wait_for(lambda: (j := jobs.status(store, job_id)).status not in ("queued", "running") and j,
                   120, "the job to finish")
    assert job.status == "done", (job, log_of(store, job_id))
    assert job.pid and job.started and job.ended and job.error is None
    assert job.progress["step"] == job.progress["total_steps"] == 20
    assert job.progress["dev_f1"] is not None
    assert job.progress["registered"]

    model = store.model(job.model_id)
    assert store.serving(pid).id == model.id and model.status == "ready"
    assert Path(model.folder).is_dir() and (Path(model.folder) / "model.safetensors").exists()
    assert model.metrics["labels"] == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER",
                                          "I-PER"]
    assert "micro" in model.metrics["dev"]

    events = store.events(job_id)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-2:] == ["saved", "registered"]
    assert {"step", "eval"} <= set(kinds)
    steps = [e.data for e in events if e.kind == "step"]
    assert all(s["loss"] is not None and s["total_steps"] == 20 for s in steps)
    assert steps[-1]["step"] == 20
    assert events[-1].data == {"model_id": model.id, "promoted": True, "reason": "policy always", "class_drops": {}}
    assert "config" not in next(e for e in events if e.kind == "saved").data["info"]

    log = Path(job.log_path).read_text()  # the job's own log: what the trainer did, not only tracebacks
    n_train, n_dev = (len(rows) for rows in versions.training_data(store, pid))
    assert f"core.train: training {tiny_model} (new head) on {n_train} sentences" in log
    assert f"{n_dev} dev sentences, 9 labels" in log
    assert "plan: 20 steps" in log
    assert re.search(r"core\.train: step \d+/20: loss [\d.]+, dev F1 [\d.]+", log)
    assert f"core.train: saved the model of step {model.metrics['best_step']}" in log
    assert re.search(rf"core\.jobs: version {model.name} \(dev F1 [\d.]+\) promoted by policy 'always'; "
                     r"serving before: none", log)
    assert f"core.jobs: job {job_id} done" in log


def test_a_newly_serving_version_scores_the_pool_before_the_job_ends(project, tiny_model, monkeypatch):
    store, pid = project
    text = "\n".join(f"Smith visited Paris on day {i}." for i in range(5))
    store.import_sentences(pid, formats.loads(text, name="pool.txt").sentences, split="unlabeled")
    pool = [r.id for r in store.sentences(pid, split="unlabeled")]
    result = jobs.execute(store, jobs.create(store, pid, {**FAST, "model": tiny_model}))
    assert result["promoted"] and result["pool_scored"]["sentences"] == 5
    assert jobs.status(store, result["job_id"]).progress["registered"]
    assert set(store.pool_scores(result["model_id"], pool)) == set(pool)
    assert [e.kind for e in store.events(store.jobs(pid)[0].id)][-2:] == ["scoring_pool", "pool_scored"]
    again = jobs.execute(store, jobs.create(store, pid, {**FAST, "model": tiny_model, "promote": "never"}))
    assert "pool_scored" not in again and store.pool_scores(again["model_id"]) == {}  # not serving: not scored
    off = jobs.execute(store, jobs.create(store, pid, {**FAST, "model": tiny_model, "score_pool": False}))
    assert off["promoted"] and "pool_scored" not in off and store.pool_scores(off["model_id"]) == {}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs.active, "stored_scores", broken)  # scoring is a courtesy: the job still succeeds
    failed = jobs.execute(store, jobs.create(store, pid, {**FAST, "model": tiny_model}))
    assert failed["pool_scored"]["error"] == "RuntimeError: disk full"
    job = store.job(failed["job_id"])
    assert job.status == "done" and job.model_id == failed["model_id"] == store.serving(pid).id


def test_killed_job_is_marked_failed(project, tiny_model):
    store, pid = project
    job_id = jobs.start(store, pid, {**LONG, "model": tiny_model})
    wait_for(lambda: running_with_steps(store, job_id), 90, "the job to train")
    proc_pid = store.job(job_id).pid
    psutil.Process(proc_pid).kill()
    job = wait_for(lambda: (j := jobs.status(store, job_id)).status != "running" and j, 15, "the reaper")
    assert job.status == "failed"
    assert f"process {proc_pid}" in job.error and "exit code -9" in job.error
    assert store.models(pid) == []


def test_killed_job_of_another_process_is_reaped(project, tiny_model):
    """A job whose process this one did not start (an earlier app run) is reaped by pid."""
    store, pid = project
    job_id = store.create_job(pid, "train", {**LONG, "model": tiny_model})
    store.update_job(job_id, status="running", pid=2**22 + 12345)  # above the default pid_max: no such process
    assert jobs.reap(store, pid) == [job_id]
    job = store.job(job_id)
    assert job.status == "failed" and "ended without finishing" in job.error


def test_cancel_stops_the_process(project, tiny_model):
    store, pid = project
    job_id = jobs.start(store, pid, {**LONG, "model": tiny_model})
    wait_for(lambda: running_with_steps(store, job_id), 90, "the job to train")
    proc_pid = store.job(job_id).pid
    started = time.monotonic()
    jobs.cancel(store, job_id)
    wait_for(lambda: not procs.alive(proc_pid), 10, "the process to end")
    assert time.monotonic() - started < 10
    job = jobs.status(store, job_id)
    assert job.status == "cancelled" and job.ended
    assert store.models(pid) == [] and store.serving(pid) is None
    assert "registered" not in [e.kind for e in store.events(job_id)]
    assert "Traceback" not in log_of(store, job_id)


def test_a_started_job_runs_below_normal_priority_on_every_core(project, tiny_model, monkeypatch):
    store, pid = project
    job_id = jobs.start(store, pid, {**LONG, "model": tiny_model})
    proc = psutil.Process(store.job(job_id).pid)
    assert proc.nice() >= procs.NICE  # set by the app right after the start, before the child's threads exist
    wait_for(lambda: running_with_steps(store, job_id), 90, "the job to train")
    assert all(psutil.Process(t.id).nice() >= procs.NICE for t in proc.threads())  # every thread of the trainer
    jobs.cancel(store, job_id)
    assert jobs.threads() == 1  # OMP_NUM_THREADS (tests: 1) wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert jobs.threads() == len(os.sched_getaffinity(0))


def test_eta_counts_steps_and_evaluations_left():
    assert jobs.eta_seconds(None) is None
    assert jobs.eta_seconds({"step": 0, "total_steps": 100, "info": {}}) is None
    # the trainer's pace: steps left of the plan that will run x seconds per step + evaluations left x their time
    step = {"step": 10, "total_steps": 110, "info": {"train_s": 25.0, "s_per_step": 0.5, "s_per_eval": 4.0,
                                                     "evals_left": 3}}
    assert jobs.eta_seconds(step) == 50.0 + 3 * 4.0  # not 25 s / 10 steps: the first step's warm-up is not the pace
    assert jobs.eta_seconds({"step": 1, "total_steps": 110, "info": {"s_per_step": None}}) is None  # not known yet
    # events recorded before the trainer carried its pace
    step = {"step": 10, "total_steps": 110, "info": {"elapsed": 13.0, "train_s": 5.0, "eval_s": 0.0, "evals": 0}}
    assert jobs.eta_seconds(step) == 50.0  # 100 steps at 0.5 s; no evaluation timed yet
    step["info"].update(eval_s=8.0, evals=2, evals_left=3)  # evaluation time is not step time
    assert jobs.eta_seconds(step) == 50.0 + 3 * 4.0


def test_status_reports_the_eta_of_the_last_step(project):
    store, pid = project
    job_id = store.create_job(pid, "train", {})
    assert jobs.status(store, job_id).progress["eta_s"] is None
    store.add_event(job_id, "start", {"step": 0, "total_steps": 20, "epoch": 0.0,
                                      "info": {"s_per_step": 0.4, "s_per_eval": 1.0, "evals_left": 4}})
    assert jobs.status(store, job_id).progress["eta_s"] == 20 * 0.4 + 4 * 1.0  # before the first step: the last run's
    store.add_event(job_id, "step", {"step": 4, "total_steps": 20, "epoch": 1.0, "loss": 1.0,
                                     "info": {"train_s": 2.0, "eval_s": 1.0, "evals": 1, "evals_left": 2,
                                              "s_per_step": 0.5, "s_per_eval": 1.0}})
    assert jobs.status(store, job_id).progress["eta_s"] == 16 * 0.5 + 2 * 1.0


def test_the_last_finished_run_gives_its_pace_to_the_next(project, tiny_model):
    store, pid = project
    assert jobs.last_rates(store) is None
    first = jobs.execute(store, jobs.create(store, pid, {**FAST, "model": tiny_model}))
    info = store.last_event(first["job_id"], "saved").data["info"]
    rates = jobs.last_rates(store)
    assert rates["job_id"] == first["job_id"]
    assert rates["train_s_per_sentence"] == pytest.approx(info["train_seconds"] / info["train_windows_seen"])
    assert rates["eval_s_per_sentence"] == pytest.approx(
        info["eval_seconds"] / (info["evals"] * info["dev_sentences"]))
    second = jobs.create(store, pid, {**FAST, "model": tiny_model})
    jobs.execute(store, second)
    start = store.events(second, kind="start")[0].data["info"]  # before its first step: the first job's pace
    rows = start["train_sentences"] / start["steps_per_epoch"]  # sentences (windows) per step
    assert start["rate"] == "last run"
    assert start["s_per_step"] == pytest.approx(rates["train_s_per_sentence"] * rows, rel=0.2)
    assert start["s_per_eval"] == pytest.approx(rates["eval_s_per_sentence"] * info["dev_sentences"])
    assert jobs.eta_seconds(store.events(second, kind="start")[0].data) > 0


def test_a_better_version_is_promoted_without_rescoring_the_serving_one_on_the_same_dev_set(project, tiny_model,
                                                                                              monkeypatch):
    store, pid = project
    first = jobs.execute(store, jobs.create(store, pid, {**FAST, "model": tiny_model}))
    assert store.model(first["model_id"]).metrics["dev_digest"] == versions.dev_digest(
        versions.training_data(store, pid)[1])
    rescored, real = [], versions.dev_scores
    monkeypatch.setattr(versions, "dev_scores", lambda *a, **k: rescored.append(a[2].id) or real(*a, **k))
    better = {**FAST, "warm_start": True, "promote": "better"}
    jobs.execute(store, jobs.create(store, pid, better))
    assert rescored == []  # the serving version's recorded F1 is of today's dev set: nothing reloaded
    serving = store.serving(pid).id
    store.flag([versions.training_data(store, pid)[1][0].id])  # the dev set changed: its F1 is rescored on it
    jobs.execute(store, jobs.create(store, pid, better))
    assert rescored == [serving]


def test_a_finished_jobs_process_is_reaped(project, tiny_model):
    store, pid = project
    job_id = jobs.start(store, pid, {**FAST, "model": tiny_model})
    key = (str(store.path.resolve()), job_id)
    proc = jobs._procs[key]
    wait_for(lambda: jobs.status(store, job_id).status == "done", 120, "the job to finish")
    wait_for(lambda: jobs.reap(store) == [] and key not in jobs._procs, 30, "the page's polling to reap the process")
    assert proc.returncode == 0
    zombies = [p.pid for p in psutil.Process().children() if p.status() == psutil.STATUS_ZOMBIE]
    assert store.job(job_id).pid not in zombies and not psutil.pid_exists(store.job(job_id).pid)


def test_a_failed_job_leaves_no_folder_reserved_for_its_version(project, tmp_path):
    store, pid = project
    job_id = jobs.create(store, pid, {**FAST, "model": str(tmp_path / "no-such-model")})
    with pytest.raises(Exception):
        jobs.execute(store, job_id)
    assert store.job(job_id).status == "failed" and store.job(job_id).pid_started == procs.start_time()
    root = versions.model_root(store, pid)
    assert root == tmp_path / "models" / store.uuid / str(pid) and root.is_dir() and not any(root.iterdir())
    assert versions.reserve(root, "job-1") == root / "job-1" and versions.reserve(root, "job-1") == root / "job-1-2"


def test_a_promotion_by_policy_is_audited_as_who_started_the_job(project, tiny_model):
    from core import users

    store, pid = project
    users.add(store, "ada", "admin", "pw for ada 12")
    ada = users.actor(store, "ada")
    job_id = jobs.create(store, pid, {**FAST, "model": tiny_model, "score_pool": False}, actor=ada)
    users.add(store, "bo", "admin", "pw for bo 1234")  # someone else acting meanwhile takes nothing over
    result = jobs.execute(store, job_id)
    assert result["promoted"]
    rows = [(r["actor"], r["role"], r["action"], r["detail"]) for r in store.audit(pid)
            if r["action"] in ("train", "promote")]
    assert rows == [("ada", "admin", "train", {"job_id": job_id}),
                    ("ada", "admin", "promote", {"model_id": result["model_id"], "model": "v1", "job_id": job_id})]
    unaudited = jobs.execute(store, store.create_job(pid, "train", {**FAST, "model": tiny_model,
                                                                     "score_pool": False}))
    assert store.audit(pid)[-1]["actor"] == "owner" and unaudited["promoted"]  # no train row: the local owner
