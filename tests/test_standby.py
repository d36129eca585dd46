"""Tests for core.standby: a job process loaded ahead of time takes the next job, and a stale offer is never used."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from core import jobs, procs, standby
from test_jobs import FAST, log_of, project, wait_for  # noqa: F401 (project: the fixture)


def _offered(store, pid: int) -> bool:
    return (store.standby() or {}).get("pid") == pid


def test_a_standby_process_runs_the_next_job_in_its_own_log_and_then_ends(project, tiny_model):
    store, pid = project
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        proc = procs.spawn([sys.executable, "-m", "core.jobs", "--db", str(store.path), "--standby",
                            "--parent", str(parent.pid)], log_file=store.path.parent / "standby.log",
                           cwd=Path(__file__).resolve().parents[1], env=dict(os.environ))
        wait_for(lambda: _offered(store, proc.pid), 120, "the standby to offer itself")
        job_id = jobs.start(store, pid, {**FAST, "model": tiny_model})
        assert (str(store.path.resolve()), job_id) not in jobs._procs  # no new process started
        assert store.job(job_id).pid == proc.pid and store.standby() is None  # handed over, the offer withdrawn
        job = wait_for(lambda: (j := jobs.status(store, job_id)).status not in ("queued", "running") and j,
                       120, "the job to finish")
        assert job.status == "done", (job, log_of(store, job_id))
        assert job.progress["registered"] and store.serving(pid).id == job.model_id
        log = Path(job.log_path).read_text()
        assert job.log_path.endswith(f"job-{job_id}.log") and f"core.jobs: job {job_id} done" in log
        ready = f"standby {proc.pid} ready"
        assert ready not in log  # the waiting went to the standby's log, the job's log holds the job
        assert proc.wait(30) == 0  # one job per process: it ends after it
        assert ready in (store.path.parent / "standby.log").read_text()
    finally:
        parent.kill()
        parent.wait()


def test_a_standby_stops_waiting_when_its_parent_ends(store):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    proc = procs.spawn([sys.executable, "-m", "core.jobs", "--db", str(store.path), "--standby",
                        "--parent", str(parent.pid)], log_file=store.path.parent / "standby.log",
                       cwd=Path(__file__).resolve().parents[1], env=dict(os.environ))
    wait_for(lambda: _offered(store, proc.pid), 120, "the standby to offer itself")
    parent.kill()
    parent.wait()
    assert proc.wait(30) == 0
    assert store.standby() is None  # its offer withdrawn: no job is handed to a process that is gone


def test_an_offer_from_a_process_that_ended_is_dropped_and_the_job_gets_its_own_process(project, tiny_model):
    store, pid = project
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store.offer_standby(gone.pid, 0.0)
    job_id = jobs.start(store, pid, {**FAST, "model": tiny_model})
    assert store.standby() is None
    key = (str(store.path.resolve()), job_id)
    assert key in jobs._procs and store.job(job_id).pid == jobs._procs[key].pid != gone.pid
    assert wait_for(lambda: jobs.status(store, job_id).status == "done", 120, "the job to finish")
    jobs.reap(store)


def test_keep_starts_one_standby_and_no_second_while_it_loads_or_waits(store):
    first = standby.keep(store)
    try:
        assert standby.keep(store) == first  # still loading: not a second one
        wait_for(lambda: _offered(store, first), 120, "the standby to offer itself")
        assert standby.keep(store) == first
        assert len(standby._children) == 1
    finally:
        standby.stop_all()
    assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE
    wait_for(lambda: store.standby() is None or not procs.alive(first), 10, "the standby to be gone")
