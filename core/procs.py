"""Operating-system processes through psutil, the same on Linux, macOS and Windows: start detached, priority, liveness,
exit status, and stopping a process with all its children."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import psutil

log = logging.getLogger(__name__)
PLATFORM = sys.platform  # chooses the Windows or the POSIX way below (tests set it to run the other one)
NICE = 10  # a background process's niceness on POSIX; BELOW_NORMAL_PRIORITY_CLASS on Windows
SLACK_S = 1.0  # process start times read by two processes may differ this much (the boot time is rounded)
GRACE_S = 10.0  # how long a stopped process may take to end before it is killed
CREATE_NEW_PROCESS_GROUP = 0x00000200  # subprocess.CREATE_NEW_PROCESS_GROUP, which exists only on Windows
BELOW_NORMAL_PRIORITY_CLASS = 0x00004000  # psutil.BELOW_NORMAL_PRIORITY_CLASS, which exists only on Windows


def windows() -> bool:
    """Whether this runs on Windows."""
    return PLATFORM == "win32"


def spawn(argv: list[str], *, log_file: Path, cwd: Path, env: dict[str, str]) -> psutil.Popen:
    """Start `argv` detached from this process's terminal signals (a new session on POSIX, a new process group on
    Windows), stdout and stderr appended to `log_file`; returns it below normal priority."""
    detach = {"creationflags": CREATE_NEW_PROCESS_GROUP} if windows() else {"start_new_session": True}
    with open(log_file, "ab") as out:
        proc = psutil.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=str(cwd), env=env, **detach)
    lower_priority(proc.pid)  # at once, before the child starts its threads (which inherit it)
    return proc


def lower_priority(pid: int | None = None) -> None:
    """Run a process (default this one) below normal priority, so that the app stays responsive while it trains."""
    try:
        proc = psutil.Process(pid)
        proc.nice(BELOW_NORMAL_PRIORITY_CLASS if windows() else max(NICE, proc.nice()))
    except psutil.Error:  # gone already, or not allowed: it runs at normal priority
        log.warning("process %s keeps its priority", pid or os.getpid())


def cpu_count() -> int:
    """The cores this process may run on (CPU affinity on Linux and Windows; elsewhere, macOS included, all of them)."""
    if PLATFORM.startswith("linux") or windows():
        return len(psutil.Process().cpu_affinity())
    return psutil.cpu_count() or 1


def start_time(pid: int | None = None) -> float | None:
    """The start time of process `pid` (default this one), None when it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def alive(pid: int | None, started: float | None = None) -> bool:
    """Whether process `pid` runs (not a zombie) and, when `started` is given, is the one that started then (a reused
    PID is another process)."""
    if not pid:
        return False

    def ask() -> bool:
        proc = psutil.Process(pid)
        return _running(proc) and (started is None or abs(proc.create_time() - started) <= SLACK_S)
    return _answer(ask)


def exit_code(proc: psutil.Popen) -> int | None:
    """The exit code of a process this one started (negative: the signal that ended it on POSIX), None while it runs."""
    try:
        code = proc.wait(timeout=0)
    except psutil.TimeoutExpired:
        return None
    return None if code is None else int(code)


def reap(children: list[psutil.Popen]) -> list[psutil.Popen]:
    """Wait for the processes of `children` (started here) that ended and drop them from it (a killed one may take a
    moment to be reapable: it stays for the next call); returns those still running."""
    for child in list(children):
        if exit_code(child) is not None:
            children.remove(child)
    return [child for child in children if alive(child.pid)]


def stop(pid: int, started: float | None = None, *, grace: float | None = None) -> bool:
    """Terminate process `pid` and all its children (SIGTERM on POSIX, TerminateProcess on Windows), kill those left
    after `grace` seconds (default GRACE_S); nothing when `pid` is no longer the process that started at `started`.
    Returns whether it was stopped. It is not reaped: its parent still reads its exit status."""
    if not alive(pid, started):
        return False
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:  # ended meanwhile
        return False
    grace = GRACE_S if grace is None else grace
    for proc in family:
        _signal(proc, "terminate")
    left = _wait_gone(family, grace)
    for proc in left:
        log.warning("process %s did not end %.0f s after it was asked to: killed", proc.pid, grace)
        _signal(proc, "kill")
    _wait_gone(left, grace)
    return True


def _signal(proc: psutil.Process, how: str) -> None:
    try:
        getattr(proc, how)()
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        log.warning("not allowed to %s process %s", how, proc.pid)


def _answer(ask: Callable[[], bool]) -> bool:
    """`ask()`, a question about a process: no once it is gone, yes when its state is hidden from us (it exists)."""
    try:
        return ask()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _running(proc: psutil.Process) -> bool:
    """Whether a process runs and is not a zombie (ended, waiting for its parent to read its exit status)."""
    return _answer(lambda: proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` seconds for processes to end, without reaping them; returns those still running."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in procs if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
