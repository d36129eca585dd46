"""Typed records that leave the store: what its methods return, and a round trip through each record type."""
from __future__ import annotations

import dataclasses

import pytest

from core import jobs
from core.formats import Sentence
from core.store import Annotation, Job, JobEvent, ModelVersion, Project, SentenceRow


def test_model_methods_return_model_versions_that_round_trip(store):
    pid = store.create_project("p", ["PER"])
    metrics = {"dev": {"micro": {"f1": 0.75}}, "train_sentences": 3}
    v1 = store.add_model(pid, folder="a", base_model="bert", params={"lr": 1e-4}, metrics=metrics)
    v2 = store.add_model(pid, folder="b", base_model="bert", parent_id=v1, status="failed")
    store.promote(v1)
    one, models, serving = store.model(v1), store.models(pid), store.serving(pid)
    assert type(one) is ModelVersion and all(type(m) is ModelVersion for m in models) and serving == one
    assert (one.id, one.project_id, one.name, one.folder, one.base_model, one.parent_id, one.status) == (
        v1, pid, "v1", "a", "bert", None, "ready")
    assert one.params == {"lr": 1e-4} and one.metrics == metrics and isinstance(one.created, str)
    assert one.dev_f1 == 0.75 and store.model(v2).dev_f1 is None and store.model(v2).parent_id == v1
    row = dataclasses.asdict(one)
    assert ModelVersion.from_row(row) == one and ModelVersion(**row) == one
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.status = "failed"  # type: ignore[misc]
    store.update_model(v2, metrics={"dev": {"micro": {"f1": "0.5"}}})
    assert store.model(v2).dev_f1 == 0.5  # a number, whatever the JSON held


def round_trips(record) -> None:
    """asdict and back gives the same record, which is frozen."""
    row = dataclasses.asdict(record)
    assert type(record).from_row(row) == record and type(record)(**row) == record
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.id = 0


def test_job_methods_return_jobs_and_events_that_round_trip(store):
    pid = store.create_project("p", ["PER"])
    a = store.create_job(pid, "train", {"epochs": 2, "promote": "never"}, log_path="x.log")
    b = store.create_job(pid, "train", {})
    store.update_job(a, status="running", pid=12, pid_started=3.5)
    one, listed = store.job(a), store.jobs(pid, status="running")
    assert type(one) is Job and listed == [one] and [j.id for j in store.jobs(pid)] == [b, a]
    assert (one.project_id, one.kind, one.status, one.pid, one.pid_started, one.log_path) == (
        pid, "train", "running", 12, 3.5, "x.log")
    assert one.params == {"epochs": 2, "promote": "never"} and one.started and one.ended is None and one.model_id is None
    e1 = store.add_event(a, "step", {"step": 1, "total_steps": 4, "loss": 2.0})
    e2 = store.add_event(a, "eval", {"step": 1, "scores": {"micro": {"f1": 0.25}}})
    events = store.events(a)
    assert all(type(e) is JobEvent for e in events) and [(e.id, e.job_id, e.kind) for e in events] == [
        (e1, a, "step"), (e2, a, "eval")]
    assert store.last_event(a, "eval") == events[1] and events[0].data["loss"] == 2.0 and store.last_event(b, "step") is None
    for record in (one, events[0]):
        round_trips(record)
    status = jobs.status(store, a)  # a Job with its progress; PID 12 is no process this job started: reaped
    assert isinstance(status, Job) and status.id == a and status.status == "failed"
    assert status.progress["step"] == 1 and status.progress["dev_f1"] == 0.25


def test_project_methods_return_projects_that_round_trip(store):
    pid = store.create_project("p", ["PER", "LOC"])
    other = store.create_project("q", [])
    one = store.project(pid)
    assert type(one) is Project and store.project("p") == one and store.projects() == [one, store.project(other)]
    assert (one.id, one.name, one.labels, one.serving_model_id) == (pid, "p", ["PER", "LOC"], None)
    store.set_overlap(other, 0.25, 3)
    assert (one.overlap, one.copies) == (0.0, 2) and (store.project(other).overlap, store.project(other).copies) == (0.25, 3)
    store.promote(store.add_model(pid, folder="a", base_model="bert"))
    assert store.project(pid).serving_model_id == store.serving(pid).id and one.serving_model_id is None  # a snapshot
    round_trips(one)


def test_annotation_methods_return_annotations_that_round_trip(store):
    pid = store.create_project("p", ["PER"])
    store.import_sentences(pid, [Sentence(words=["Ada", "came"], text="Ada came", offsets=[(0, 3), (4, 8)],
                                          tags=["B-PER", "O"])], split="train")
    [sid] = [r.id for r in store.sentences(pid)]
    model_id = store.add_model(pid, folder="a", base_model="bert")
    store.annotate(sid, ["O", "O"], source="model", model_id=model_id)
    human = store.save_human(sid, ["B-PER", "B-PER"], annotator="ada")
    history = store.history(sid)
    assert all(type(a) is Annotation for a in history) and [a.source for a in history] == ["gold", "model", "human"]
    gold, model, last = history
    assert (gold.sentence_id, gold.tags, gold.annotator, gold.model_id) == (sid, ["B-PER", "O"], "import", None)
    assert model.model_id == model_id and (last.id, last.tags, last.annotator) == (human, ["B-PER", "B-PER"], "ada")
    assert store.effective(sid) == last and last.created >= gold.created and store.human_versions(sid) == {"ada": last}
    for record in history:
        round_trips(record)


def test_sentences_and_neighbours_return_sentence_rows(store):
    pid = store.create_project("p", ["PER"])
    store.import_sentences(pid, [
        Sentence(["Ada", "came"], ["B-PER", "O"], "Ada came", [(0, 3), (4, 8)], doc_id="memo",
                 columns=[["NNP"], ["VBD"]]),
        Sentence(["Bo", "sat"], None, "Bo sat", [(0, 2), (3, 6)], doc_id="memo", meta={"score": 0.5}),
        Sentence(["Cy", "ran"], None, "Cy ran", [(0, 2), (3, 6)], doc_id="memo")], split="train")
    a, b, c = store.sentences(pid)
    assert all(type(r) is SentenceRow for r in (a, b, c))
    human = store.save_human(b.id, ["B-PER", "O"], annotator="ann")
    store.flag([c.id])
    a, b, c = store.sentences(pid)
    assert (a.text, a.words, a.offsets, a.split, a.position) == (
        "Ada came", ["Ada", "came"], [(0, 3), (4, 8)], "train", 0)
    assert (a.tags, a.source, a.document, a.columns, a.meta, a.flagged) == (
        ["B-PER", "O"], "gold", "memo", [["NNP"], ["VBD"]], None, False)
    assert a.annotation_id == store.effective(a.id).id and a.document_id == b.document_id == c.document_id is not None
    assert (b.tags, b.source, b.annotation_id, b.meta, b.columns, b.position) == (
        ["B-PER", "O"], "human", human, {"score": 0.5}, None, 1)
    assert (c.tags, c.source, c.annotation_id, c.flagged) == (None, None, None, True)
    assert store.sentences(pid, flagged=False) == [a, b] and store.sentences(pid, ids=[c.id]) == [c]
    before, after = store.neighbours(b.id, 1, 1)
    assert all(type(r) is SentenceRow for r in before + after)
    assert [(r.id, r.text, r.words, r.offsets, r.position) for r in before + after] == [
        (a.id, a.text, a.words, a.offsets, 0), (c.id, c.text, c.words, c.offsets, 2)]
    assert (before[0].tags, before[0].source, before[0].document, before[0].flagged) == (None, None, None, False)
    round_trips(a)
    round_trips(b)
