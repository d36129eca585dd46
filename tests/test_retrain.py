"""Tests for core.retrain: when a training job may start, what a retraining trains, "retrain every N new labels"
(no Streamlit; a started job is recorded by core.jobs.create instead of spawning a training process)."""
from __future__ import annotations

import pytest

from core import formats, jobs, retrain

TRAIN = b"Anna B-PER\nlives O\nin O\nOslo B-LOC\n\nBo B-PER\nleft O\n\n"


@pytest.fixture
def pid(store) -> int:
    """Project p: two labelled train sentences and five unlabelled ones."""
    pid = store.create_project("p", ["PER", "LOC"])
    store.import_sentences(pid, formats.loads(TRAIN, name="t.conll").sentences, split="train")
    pool = b"One here .\n\nTwo there .\n\nThree too .\n\nFour more .\n\nFive left ."
    store.import_sentences(pid, formats.loads(pool, name="u.txt").sentences, split="unlabeled")
    return pid


@pytest.fixture
def started(monkeypatch) -> list[dict]:
    """The params of every job started: recorded as a queued job (jobs.create), without a training process."""
    seen: list[dict] = []

    def record(store, project_id, params, *, actor):
        seen.append(params)
        return jobs.create(store, project_id, params, actor=actor)

    monkeypatch.setattr(jobs, "start", record)
    return seen


def _label(store, pid: int, n: int) -> None:
    for row in store.sentences(pid, split="unlabeled")[:n]:
        store.save_human(row.id, ["O"] * len(row.words), annotator="ann")


def test_why_not_train_and_active_job(store, pid):
    empty = store.create_project("empty", ["PER"])
    assert "No labelled sentences in the train split" in retrain.why_not_train(store, empty)
    with pytest.raises(ValueError, match="No labelled sentences"):
        retrain.start(store, empty, {})
    assert retrain.why_not_train(store, pid) is None and retrain.active_job(store, pid) is None
    job = store.create_job(pid, "train", {})
    store.update_job(job, status="running", pid=1)
    assert retrain.active_job(store, pid).id == job
    assert retrain.why_not_train(store, pid).startswith(f"Job {job} is in progress")
    assert retrain.last_finished(store, pid) is None
    store.update_job(job, status="failed", error="boom")
    assert retrain.why_not_train(store, pid) is None and retrain.last_finished(store, pid).id == job
    newer = store.create_job(pid, "train", {})
    assert retrain.active_job(store, pid).id == newer and retrain.last_finished(store, pid).id == job


def test_scoring_job_only_between_scoring_and_scored(store, pid):
    job = store.create_job(pid, "train", {})
    store.update_job(job, status="running")
    assert retrain.scoring_job(store, pid) is None
    store.add_event(job, "scoring_pool", {"sentences": 3})
    assert retrain.scoring_job(store, pid).id == job
    store.add_event(job, "pool_scored", {})
    assert retrain.scoring_job(store, pid) is None


def test_retrain_params_warm_start_once_a_version_serves(store, pid):
    assert retrain.retrain_params(store, pid) == {"model": "default", "promote": "better"}
    store.promote(store.add_model(pid, folder="f", base_model="b", status="ready"))
    assert retrain.retrain_params(store, pid) == {"warm_start": True, "promote": "better"}


def test_maybe_retrain_every_n_new_labels(store, pid, started):
    assert retrain.maybe_retrain(store, pid, 2) is None  # no new label yet
    _label(store, pid, 1)
    assert retrain.maybe_retrain(store, pid, 0) is None  # off
    assert retrain.maybe_retrain(store, pid, 2) is None and not started  # one of two
    _label(store, pid, 1)
    done = retrain.maybe_retrain(store, pid, 2)
    assert done.fresh == 2 and done.reason is None and store.job(done.job_id).status == "queued"
    assert started == [{"model": "default", "promote": "better"}]
    _label(store, pid, 1)
    assert store.human_since_last_job(pid) == 1  # counted from the job just created
    store.update_job(done.job_id, status="done")
    _label(store, pid, 1)
    assert retrain.maybe_retrain(store, pid, 2).job_id != done.job_id and len(started) == 2


def test_maybe_retrain_waits_for_the_job_in_progress_and_says_why_not(store, pid, started):
    _label(store, pid, 2)
    job = store.create_job(pid, "train", {})  # queued, run inline by a command: reap leaves it alone
    first = store.sentences(pid, split="train")[0]
    store.save_human(first.id, ["O"] * len(first.words), annotator="ann")
    assert store.human_since_last_job(pid) == 1
    _label(store, pid, 1)
    assert retrain.maybe_retrain(store, pid, 2) is None and not started  # its labels count towards the next one
    store.update_job(job, status="failed", error="boom")
    done = retrain.maybe_retrain(store, pid, 2, actor=retrain.OWNER)
    assert done.job_id is not None and len(started) == 1
    empty = store.create_project("empty", ["PER"])
    store.import_sentences(empty, formats.loads(b"Just text .", name="u.txt").sentences, split="dev")
    store.save_human(store.sentences(empty)[0].id, ["O"] * 3, annotator="ann")  # a dev label: nothing in train
    refused = retrain.maybe_retrain(store, empty, 1)
    assert refused.job_id is None and "No labelled sentences in the train split" in refused.reason
