"""Model versions: the data they are trained and scored on, promotion by policy, and their folders on disk (keyed by
the database's UUID and the project id, never by user text; reserved before a save; tidied after a crash)."""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from core import labelhistory, vocab
from core.access import OWNER, Actor
from core.procs import SLACK_S, alive, start_time
from core.store import Job, ModelVersion, SentenceRow, Store

log = logging.getLogger(__name__)
_TEMP = re.compile(r"^\..+\.(?:tmp|old)-(?P<pid>\d+)$")  # save_atomic's folders beside the one it writes
_JOB = re.compile(r"^job-(?P<id>\d+)(?:-|$)")  # job-N, job-N-2, job-N-self: folders of job N


def training_data(store: Store, project_id: int) -> tuple[list[SentenceRow], list[SentenceRow]]:
    """Every labelled train sentence (gold and human corrections; a partial one as a labelhistory.PartialRow, with the
    tags each word may have) and the labelled dev sentences, none flagged as junk."""
    train_rows = [s for s in store.sentences(project_id, split="train", flagged=False) if s.tags is not None]
    dev_rows = [s for s in store.sentences(project_id, split="dev", flagged=False) if s.tags is not None]
    return labelhistory.marked(store, project_id, train_rows), dev_rows


def dev_digest(rows: list[SentenceRow]) -> str:
    """A fingerprint of a dev set (each sentence's id, words and tags), recorded with the F1 a version scored on it."""
    digest = hashlib.sha1()
    for row in sorted(rows, key=lambda r: r.id):
        digest.update(json.dumps([row.id, row.words, row.tags]).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Verdict:
    """A promotion by policy: whether the version was promoted, why (one line), and per class of the serving
    version its dev F1 drop (serving minus new, in F1 points x 100) when both were compared."""

    promoted: bool
    reason: str
    drops: dict[str, float] = field(default_factory=dict)


def class_drops(serving: dict | None, new: dict | None) -> dict[str, float]:
    """Per class the serving version scores (per_class of core.metrics.score, with support), how many F1 points
    (x 100) the new version loses on it (negative: gains); a class the new version lacks scores 0."""
    if not serving or not new:
        return {}
    theirs, ours = serving.get("per_class") or {}, new.get("per_class") or {}
    return {c: 100 * (row["f1"] - (ours.get(c) or {}).get("f1", 0.0)) for c, row in sorted(theirs.items())
            if row.get("support", 1)}


def judge(serving_scores: dict | None, new_scores: dict | None, *, tolerance: float = 0.02) -> Verdict:
    """Policy `better` on two dev scores: promote when the new micro F1 beats the serving one and no class of the
    serving version drops by more than `tolerance` (F1, 0.02 = 2 points)."""
    if serving_scores is None:
        return Verdict(new_scores is not None, "the serving version has no dev score")
    old = serving_scores["micro"]["f1"]
    new = -1.0 if new_scores is None else new_scores["micro"]["f1"]
    drops = class_drops(serving_scores, new_scores)
    worst = max(drops.items(), key=lambda kv: kv[1], default=(None, 0.0))
    if new <= old:
        return Verdict(False, f"dev F1 {new:.4f} does not beat the serving version's {old:.4f}", drops)
    if worst[0] is not None and worst[1] > 100 * tolerance + 1e-9:
        return Verdict(False, f"{worst[0]} drops {worst[1]:.1f} points of dev F1 (tolerance {100 * tolerance:g})",
                       drops)
    return Verdict(True, f"dev F1 {new:.4f} beats {old:.4f} and no class drops more than {100 * tolerance:g} "
                         "points", drops)


def promote_by_policy(store: Store, project_id: int, model_id: int, policy: str, *, tolerance: float = 0.02,
                      actor: Actor = OWNER, job_id: int | None = None) -> Verdict:
    """Promote the new version by policy: always, never, or `better` (see judge; the serving version rescored on
    today's dev set when its folder is there and its recorded scores are of another dev set: see `dev_digest`),
    audited as `actor` (who started training job `job_id`)."""
    serving = store.serving(project_id)
    if policy == "never":
        return Verdict(False, "policy never")
    verdict = Verdict(True, f"policy {policy}")
    if policy == "better" and serving is not None:
        current = (serving.metrics or {}).get("dev") or _f1_only(serving.dev_f1)
        if serving.folder and Path(serving.folder).exists() and not _scored_on_todays_dev(store, project_id, serving):
            current = dev_scores(store, project_id, serving) or current
        new = store.model(model_id)
        verdict = judge(current, (new.metrics or {}).get("dev") or _f1_only(new.dev_f1), tolerance=tolerance)
    if verdict.promoted:
        store.promote(model_id, actor=actor, job_id=job_id)
    return verdict


def maybe_promote(store: Store, project_id: int, model_id: int, policy: str, *, actor: Actor = OWNER,
                  job_id: int | None = None, tolerance: float = 0.02) -> bool:
    """promote_by_policy's outcome: whether the version was promoted."""
    return promote_by_policy(store, project_id, model_id, policy, tolerance=tolerance, actor=actor,
                             job_id=job_id).promoted


def _f1_only(f1: float | None) -> dict | None:
    """Scores holding only a recorded micro F1 (None without one: any score beats it)."""
    return None if f1 is None else {"micro": {"f1": f1}, "per_class": {}}


def _scored_on_todays_dev(store: Store, project_id: int, model: ModelVersion) -> bool:
    """Whether the version's recorded dev F1 is of today's dev set (same sentences, same tags)."""
    recorded = (model.metrics or {}).get("dev_digest")
    return recorded is not None and model.dev_f1 is not None and \
        recorded == dev_digest(training_data(store, project_id)[1])


def dev_scores(store: Store, project_id: int, model: ModelVersion) -> dict | None:
    """A version's scores (core.metrics.score) on today's dev set; None without labelled dev sentences."""
    _, dev_rows = training_data(store, project_id)
    if not dev_rows:
        return None
    from core.model import Tagger  # torch: loaded only when a version is scored
    from core.train import evaluate

    tagger = Tagger.load(model.folder)
    return evaluate(tagger, [r.words for r in dev_rows], [r.tags for r in dev_rows]).scores


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
