"""A job process started ahead of time: the trainer imported and an encoder's code loaded, it waits for the next
training job, so that a job does not pay for starting Python, importing torch and transformers, and loading."""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import psutil

from core import procs
from core.store import Store

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often a standby looks for the job handed to it
_children: list[psutil.Popen] = []  # standby processes started here


def _alive(offer: dict) -> bool:
    return procs.alive(offer.get("pid"), offer.get("started"))


def take(store: Store, job_id: int, log_file: Path) -> int | None:
    """Hand queued job `job_id` to the database's waiting standby process; its PID, or None when none waits."""
    offer = store.take_standby(job_id, str(log_file), alive=_alive)
    return offer["pid"] if offer else None


def keep(store: Store) -> int | None:
    """Keep one standby process waiting for this database (started by the learner, which calls this as it polls):
    start one unless one waits or one started here is still loading; ended ones are waited for (no zombie).
    Returns the PID of the one waiting or loading."""
    running = procs.reap(_children)
    offer = store.standby()
    if offer and _alive(offer):
        return offer["pid"]
    if running:  # no live offer: a child still running is still loading
        return running[-1].pid
    log_file = store.path.resolve().parent / "logs" / store.uuid / "standby.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    proc = procs.spawn([sys.executable, "-m", "core.jobs", "--db", str(store.path.resolve()), "--standby",
                        "--parent", str(os.getpid())], log_file=log_file, cwd=Path(__file__).resolve().parents[1],
                       env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    _children.append(proc)
    log.info("standby job process started: %s", proc.pid)
    return proc.pid


def stop_all() -> None:
    """Stop the standby processes started here (the learner's exit)."""
    for child in _children:
        procs.stop(child.pid)
        procs.exit_code(child)
    _children.clear()


def warm(store: Store) -> None:
    """Load what a job loads first: the encoder of the most recently changed project's serving version (else the
    default encoder), so that transformers' lazily imported model code and the weights' pages are in."""
    from core.model import Tagger

    folder = None
    for project in sorted(store.projects(), key=lambda p: p.id, reverse=True):
        serving = store.serving(project.id)
        if serving is not None and Path(serving.folder).is_dir():
            folder = serving.folder
            break
    try:
        Tagger.load(folder, device="cpu") if folder else Tagger.load(labels=["O", "B-X", "I-X"], device="cpu")
    except Exception as exc:  # the job loads what it needs itself
        log.warning("standby: could not preload an encoder (%s: %s)", type(exc).__name__, exc)


def wait(store: Store, *, parent: int | None) -> int | None:
    """Offer this process to the database and wait for a job; its id, or None once `parent` ended."""
    me, started = os.getpid(), procs.start_time()
    store.offer_standby(me, started)
    log.info("standby %s ready", me)
    try:
        while parent is None or procs.alive(parent):
            mine = [j for j in store.jobs(status="queued") if j.pid == me]
            if mine:
                return mine[0].id
            time.sleep(POLL_S)
    finally:
        store.withdraw_standby(me)
    return None


def redirect(log_path: str) -> None:
    """Send this process's output (stdout, stderr, so the job's log) to the job's log file."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
