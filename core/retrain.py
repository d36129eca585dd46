"""Job rules beside the jobs: when a training job may start, what an automatic retraining trains, and the "retrain
every N new labels" policy; the Train, Home and Annotate pages and `nerloop train --project` all start jobs here."""
from __future__ import annotations

from dataclasses import dataclass

from core import jobs, versions, vocab
from core.access import OWNER, Actor
from core.model import DEFAULT
from core.store import Job, Store


def active_job(store: Store, project_id: int) -> Job | None:
    """The project's newest queued or running job (it survives reloads and restarts: it lives in the store)."""
    rows = store.jobs(project_id, status=list(vocab.JOB_UNFINISHED))
    return rows[0] if rows else None


def last_finished(store: Store, project_id: int) -> Job | None:
    """The project's newest job that has ended (done, failed or cancelled)."""
    rows = store.jobs(project_id, status=[s for s in vocab.JOB_STATUSES if s not in vocab.JOB_UNFINISHED])
    return rows[0] if rows else None


def scoring_job(store: Store, project_id: int) -> Job | None:
    """The project's job while it scores the unlabelled pool with its new serving version (see core.jobs): active
    learning waits for those stored scores instead of scoring the same pool a second time."""
    job = active_job(store, project_id)
    if job is None or store.last_event(job.id, "scoring_pool") is None:
        return None
    return None if store.last_event(job.id, "pool_scored") is not None else job


def why_not_train(store: Store, project_id: int) -> str | None:
    """Why a training job cannot start now (one is in progress, or nothing in train is labelled), or None."""
    job = active_job(store, project_id)
    if job is not None:
        return f"Job {job.id} is in progress: wait for it to end or cancel it before starting another."
    if not versions.training_data(store, project_id)[0]:  # what a job would train on (flagged junk left out)
        return ("No labelled sentences in the train split yet: import labelled data as train (the Upload page, or "
                "`nerloop import PROJECT FILE --split train`), or correct sentences on the Annotate page.")
    return None


def retrain_params(store: Store, project_id: int) -> dict:
    """Job parameters of an automatic retraining (the Annotate loop, demo mode): a warm start from the serving
    version, or the default base model before the first one; promoted when its dev F1 is better."""
    if store.serving(project_id) is not None:
        return {"warm_start": True, "promote": "better"}
    return {"model": DEFAULT, "promote": "better"}


def check(store: Store, project_id: int) -> None:
    """Raise ValueError saying why no training job may start now (a finished job's process is waited for first)."""
    jobs.reap(store, project_id)
    if (reason := why_not_train(store, project_id)) is not None:
        raise ValueError(reason)


def start(store: Store, project_id: int, params: dict, *, actor: Actor = OWNER) -> int:
    """A training job in the background after `check` (ValueError saying why not, or what is wrong in `params`);
    returns its id."""
    check(store, project_id)
    return jobs.start(store, project_id, params, actor=actor)


@dataclass(frozen=True)
class Retrain:
    """What "retrain every N new labels" did: the labels counted, and the job started or why none was."""

    fresh: int
    job_id: int | None = None
    reason: str | None = None


def maybe_retrain(store: Store, project_id: int, every: int, *, actor: Actor = OWNER) -> Retrain | None:
    """Start a warm-started job once `every` sentences got a human label since the last job was created; None when
    off (`every` 0), not due yet, or while a job is in progress (the labels then count towards the next one)."""
    if every <= 0 or (fresh := store.human_since_last_job(project_id)) < every:
        return None
    jobs.reap(store, project_id)
    if active_job(store, project_id) is not None:
        return None
    try:
        return Retrain(fresh, job_id=start(store, project_id, retrain_params(store, project_id), actor=actor))
    except ValueError as exc:
        return Retrain(fresh, reason=str(exc))
