"""Model versions: the data they are trained and scored on, promotion by policy, and their folders on disk (keyed by
the database's UUID and the project id, never by user text; reserved before a save; tidied after a crash)."""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import shutil
from pathlib import Path

from core import vocab
from core.access import OWNER, Actor
from core.procs import SLACK_S, alive, start_time
from core.store import Job, ModelVersion, SentenceRow, Store

log = logging.getLogger(__name__)
_TEMP = re.compile(r"^\..+\.(?:tmp|old)-(?P<pid>\d+)$")  # save_atomic's folders beside the one it writes
_JOB = re.compile(r"^job-(?P<id>\d+)(?:-|$)")  # job-N, job-N-2, job-N-self: folders of job N


def training_data(store: Store, project_id: int) -> tuple[list[SentenceRow], list[SentenceRow]]:
    """Every labelled train sentence (gold and human corrections) and the labelled dev sentences, none flagged as
    junk."""
    train_rows = [s for s in store.sentences(project_id, split="train", flagged=False) if s.tags is not None]
    dev_rows = [s for s in store.sentences(project_id, split="dev", flagged=False) if s.tags is not None]
    return train_rows, dev_rows


def dev_digest(rows: list[SentenceRow]) -> str:
    """A fingerprint of a dev set (each sentence's id, words and tags), recorded with the F1 a version scored on it."""
    digest = hashlib.sha1()
    for row in sorted(rows, key=lambda r: r.id):
        digest.update(json.dumps([row.id, row.words, row.tags]).encode())
    return digest.hexdigest()


def maybe_promote(store: Store, project_id: int, model_id: int, policy: str, *, actor: Actor = OWNER,
                  job_id: int | None = None) -> bool:
    """Promote the new version by policy: always, never, or when its dev F1 beats the serving one's (rescored on
    today's dev set when its folder is there and its recorded F1 is of another dev set: see `dev_digest`), audited
    as `actor` (who started training job `job_id`). Returns whether it was promoted."""
    serving = store.serving(project_id)
    if policy == "never":
        return False
    if policy == "better" and serving is not None:
        current = _recorded_f1(serving)
        if serving.folder and Path(serving.folder).exists() and not _scored_on_todays_dev(store, project_id, serving):
            current = rescore(store, project_id, serving, current)
        if _recorded_f1(store.model(model_id)) <= current:
            return False
    store.promote(model_id, actor=actor, job_id=job_id)
    return True


def _scored_on_todays_dev(store: Store, project_id: int, model: ModelVersion) -> bool:
    """Whether the version's recorded dev F1 is of today's dev set (same sentences, same tags)."""
    recorded = (model.metrics or {}).get("dev_digest")
    return recorded is not None and model.dev_f1 is not None and \
        recorded == dev_digest(training_data(store, project_id)[1])


def _recorded_f1(model: ModelVersion) -> float:
    """Recorded dev F1, -1 when there is none (so any score beats it)."""
    return -1.0 if model.dev_f1 is None else model.dev_f1


def rescore(store: Store, project_id: int, serving: ModelVersion, fallback: float) -> float:
    """The serving version's F1 on today's dev set (it may have grown since it was trained); `fallback` without one."""
    _, dev_rows = training_data(store, project_id)
    if not dev_rows:
        return fallback
    from core.model import Tagger  # torch: loaded only when a version is scored
    from core.train import evaluate

    tagger = Tagger.load(serving.folder)
    return evaluate(tagger, [r.words for r in dev_rows], [r.tags for r in dev_rows]).f1


def models_root(store: Store) -> Path:
    """This database's model folders: `<db folder>/models/<database UUID>`."""
    return store.path.resolve().parent / "models" / store.uuid


def model_root(store: Store, project_id: int) -> Path:
    """Folder holding a project's model versions: `<db folder>/models/<database UUID>/<project id>`."""
    return models_root(store) / str(int(project_id))


def reserve(root: Path, stem: str) -> Path:
    """Create and return a new empty folder `root/stem` (`stem-2`, `stem-3`, ... when taken): a version is saved only
    into a folder made for it, never over one that exists."""
    root.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        folder = root / (stem if n == 1 else f"{stem}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise AssertionError("unreachable")


def release(folder: Path | None) -> None:
    """Remove a reserved folder that is still empty (nothing was saved into it)."""
    if folder is not None:
        try:
            folder.rmdir()
        except OSError:  # a version is in it, or it is gone
            pass


def complete(folder: Path) -> dict | None:
    """The metrics of a complete model folder (config.json and a readable metrics.json), else None."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return metrics if (folder / "config.json").is_file() and isinstance(metrics, dict) else None


def cleanup(store: Store) -> dict[str, list[str]]:
    """Tidy this database's model folders after a crash, logging each change: temp folders whose writer is gone are
    removed; a complete folder that no version records is registered (not promoted; its metrics.json gives its
    scores) when a job of this database made it (its name says which: a copy of the database shares its UUID, and
    its folders are left alone); empty folders are removed. Folders of queued and running jobs are left alone.
    Returns the paths touched."""
    root = models_root(store)
    done: dict[str, list[str]] = {"removed": [], "registered": []}
    if not root.is_dir():
        return done
    projects = {str(p.id): p.id for p in store.projects()}
    recorded = {str(Path(m.folder).resolve()) for pid in projects.values() for m in store.models(pid)}
    jobs = {j.id: j for j in store.jobs()}
    for project_dir in sorted(root.iterdir()):
        if project_dir.name not in projects or not project_dir.is_dir():
            continue
        for folder in sorted(project_dir.iterdir()):
            named = _JOB.match(folder.name)
            job = jobs.get(int(named["id"])) if named else None
            if job is not None and job.project_id != projects[project_dir.name]:
                job = None
            if (not folder.is_dir() or str(folder.resolve()) in recorded
                    or (job is not None and job.status in vocab.JOB_UNFINISHED)):
                continue
            try:
                _tidy(store, projects[project_dir.name], folder, job, done)
            except OSError as exc:
                log.warning("model folder %s left as it is: %s", folder, exc)
    return done


def _tidy(store: Store, project_id: int, folder: Path, job: Job | None, done: dict[str, list[str]]) -> None:
    """Remove, register or leave one unrecorded folder of a project (see cleanup); `job`: the job that made it."""
    if temp := _TEMP.match(folder.name):
        started = start_time(int(temp["pid"])) if alive(int(temp["pid"])) else None
        if started is None or started > folder.stat().st_mtime + SLACK_S:  # gone, or a later process with its PID
            shutil.rmtree(folder)
            log.warning("removed %s: a save that did not finish (its process %s is gone)", folder, temp["pid"])
            done["removed"].append(str(folder))
    elif not any(folder.iterdir()):
        folder.rmdir()
        log.warning("removed %s: an empty folder reserved for a version that was never saved", folder)
        done["removed"].append(str(folder))
    elif (metrics := complete(folder)) is not None and job is not None:
        config = metrics.pop("config", None) or {}
        model_id = store.add_model(project_id, folder=str(folder), base_model=str(config.get("model", "")),
                                   params=config, metrics={**metrics, "recovered": True}, status="ready")
        if job.model_id is None:
            store.update_job(job.id, model_id=model_id)
        log.warning("registered %s as version %s of project %s: job %s saved it but was stopped before recording "
                    "it (not promoted)", folder, store.model(model_id).name, project_id, job.id)
        done["registered"].append(str(folder))
    else:
        log.warning("model folder %s left as it is: %s", folder, "no job of this database made it"
                    if job is None else "incomplete (no config.json or no readable metrics.json)")
