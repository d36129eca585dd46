"""Job processes through core.procs: the Windows and macOS paths run against a fake psutil, and a real cancel stops
a job's child processes too."""
from __future__ import annotations

import os
import sys
import time

import psutil
import pytest

from core import jobs, procs


class FakeProcess:
    """One process of FakePsutil: terminate/kill end it (unless it ignores terminate), wait reaps it."""

    def __init__(self, system: FakePsutil, pid: int) -> None:
        self.system, self.pid = system, pid

    @property
    def rec(self) -> dict:
        return self.system.table[self.pid]

    def create_time(self) -> float:
        return self.rec["created"]

    def is_running(self) -> bool:
        return self.rec["state"] != "reaped"

    def status(self) -> str:
        return psutil.STATUS_ZOMBIE if self.rec["state"] == "ended" else psutil.STATUS_RUNNING

    def children(self, recursive: bool = False) -> list[FakeProcess]:
        assert recursive
        kids = [FakeProcess(self.system, pid) for pid in self.rec["children"]]
        return [p for k in kids for p in (k, *k.children(recursive=True))]

    def terminate(self) -> None:
        self.rec["signals"].append("terminate")
        if not self.rec["ignores_terminate"]:
            self.system.end(self.pid, 1)  # TerminateProcess's exit code on Windows

    def kill(self) -> None:
        self.rec["signals"].append("kill")
        self.system.end(self.pid, 1)

    def nice(self, value: int | None = None) -> int:
        if value is not None:
            self.rec["nice"] = value
        return self.rec["nice"]

    def wait(self, timeout: float | None = None) -> int:
        if self.rec["state"] == "running":
            raise psutil.TimeoutExpired(timeout, self.pid)
        self.rec["state"] = "reaped"
        return self.rec["code"]

    def cpu_affinity(self) -> list[int]:
        return [0, 1, 2]


class FakePsutil:
    """The part of psutil that core.procs uses, over a table of made-up processes (PIDs no real process has)."""

    Error, NoSuchProcess, AccessDenied, TimeoutExpired = (psutil.Error, psutil.NoSuchProcess, psutil.AccessDenied,
                                                          psutil.TimeoutExpired)
    STATUS_ZOMBIE = psutil.STATUS_ZOMBIE

    def __init__(self) -> None:
        self.table: dict[int, dict] = {}
        self.popen_calls: list[tuple[list[str], dict]] = []

    def add(self, *, parent: int | None = None, ignores_terminate: bool = False) -> int:
        pid = 2**22 + 100 + len(self.table)  # above Linux's default pid_max
        self.table[pid] = {"created": 1000.0 + pid, "state": "running", "code": None, "children": [], "nice": 0,
                           "signals": [], "ignores_terminate": ignores_terminate}
        if parent is not None:
            self.table[parent]["children"].append(pid)
        return pid

    def end(self, pid: int, code: int) -> None:
        if self.table[pid]["state"] == "running":
            self.table[pid].update(state="ended", code=code)

    def Popen(self, argv: list[str], **kwargs) -> FakeProcess:  # noqa: N802 (psutil's name)
        self.popen_calls.append((argv, kwargs))
        return FakeProcess(self, self.add())

    def Process(self, pid: int | None = None) -> FakeProcess:  # noqa: N802
        if pid is None:  # this process: only its CPU affinity is read
            return FakeProcess(self, 0)
        if pid not in self.table or self.table[pid]["state"] == "reaped":
            raise psutil.NoSuchProcess(pid)
        return FakeProcess(self, pid)

    def cpu_count(self) -> int:
        return 7


@pytest.fixture
def fake(monkeypatch) -> FakePsutil:
    system = FakePsutil()
    monkeypatch.setattr(procs, "psutil", system)
    monkeypatch.setattr(procs, "GRACE_S", 0.2)
    return system


def test_windows_path_starts_checks_cancels_and_reaps_jobs(store, fake, monkeypatch):
    monkeypatch.setattr(procs, "PLATFORM", "win32")
    pid = store.create_project("news", ["PER"])
    job_id = jobs.start(store, pid, {"model": "m"})
    [(argv, kwargs)] = fake.popen_calls
    assert argv[1:3] == ["-m", "core.jobs"] and argv[-2:] == ["--job-id", str(job_id)]
    assert kwargs["creationflags"] == procs.CREATE_NEW_PROCESS_GROUP and "start_new_session" not in kwargs
    job = store.job(job_id)
    assert fake.table[job.pid]["nice"] == procs.BELOW_NORMAL_PRIORITY_CLASS
    assert job.pid_started == fake.table[job.pid]["created"]
    assert jobs.status(store, job_id).status == "queued"  # alive: not reaped

    child = fake.add(parent=job.pid, ignores_terminate=True)  # say a data-loading worker that hangs
    grandchild = fake.add(parent=child)
    jobs.cancel(store, job_id)
    assert store.job(job_id).status == "cancelled"
    assert fake.table[job.pid]["signals"] == ["terminate"] and fake.table[job.pid]["state"] == "reaped"
    assert fake.table[child]["signals"] == ["terminate", "kill"]  # killed after the grace period
    assert fake.table[grandchild]["signals"] == ["terminate"] and fake.table[grandchild]["state"] == "ended"

    crashed = jobs.start(store, pid, {"model": "m"})
    fake.end(store.job(crashed).pid, 3)
    assert jobs.reap(store) == [crashed]
    assert "exit code 3" in store.job(crashed).error

    other = store.create_job(pid, "train", {})  # started by an earlier app run: a PID of another process now
    reused = fake.add()
    store.update_job(other, status="running", pid=reused, pid_started=5.0)
    jobs.cancel(store, other)  # not the job's process: left alone
    assert store.job(other).status == "cancelled" and fake.table[reused]["signals"] == []


def test_macos_path_starts_a_new_session_at_a_lower_niceness(store, fake, monkeypatch):
    monkeypatch.setattr(procs, "PLATFORM", "darwin")
    monkeypatch.delenv("OMP_NUM_THREADS")
    pid = store.create_project("news", ["PER"])
    job_id = jobs.start(store, pid, {"model": "m"})
    [(_, kwargs)] = fake.popen_calls
    assert kwargs["start_new_session"] is True and "creationflags" not in kwargs
    assert fake.table[store.job(job_id).pid]["nice"] == procs.NICE
    assert jobs.threads() == 7  # no CPU affinity on macOS: every core
    monkeypatch.setattr(procs, "PLATFORM", "linux")
    assert jobs.threads() == 3
    jobs.cancel(store, job_id)
    assert store.job(job_id).status == "cancelled"


PARENT = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a job that does not end when asked: killed after the grace period
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""


def test_cancel_stops_the_jobs_child_processes_too(store, tmp_path, monkeypatch):
    monkeypatch.setattr(procs, "GRACE_S", 1.0)
    pid = store.create_project("news", ["PER"])
    job_id = store.create_job(pid, "train", {})
    log = tmp_path / "job.log"
    parent = procs.spawn([sys.executable, "-c", PARENT], log_file=log, cwd=tmp_path, env=dict(os.environ))
    try:
        store.update_job(job_id, status="running", pid=parent.pid, pid_started=procs.start_time(parent.pid))
        deadline = time.monotonic() + 60
        while not log.read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(log.read_text().split()[0])
        assert procs.alive(child) and procs.alive(parent.pid)
        jobs.cancel(store, job_id)
        assert not procs.alive(child) and not procs.alive(parent.pid)
        assert parent.wait(timeout=10) == -9  # it ignored SIGTERM: killed
        assert store.job(job_id).status == "cancelled"
    finally:
        for proc in (parent, *parent.children(recursive=True)) if parent.is_running() else ():
            proc.kill()
