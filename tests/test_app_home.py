"""Home page (AppTest) and core.demo's dashboard logic: first-run demo project, counts, serving model, job
progress, learning curve, creating and picking projects, the next-step hint."""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import demo, formats, jobs, report
from core.store import Job, ModelVersion, Store

import apptest


def open_app(monkeypatch, db: Path, project_id: int | None = None) -> AppTest:
    return apptest.open_app(project_id, monkeypatch=monkeypatch, db=db)


def shown_metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def numbers(value) -> list:
    """A plotly spec array: a list, or {"dtype", "bdata"} base64."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def train_version(store: Store, project_id: int, model: str) -> ModelVersion:
    params = {"model": model, "min_steps": 30, "epochs": 2, "batch_size": 16, "device": "cpu", "promote": "always"}
    result = jobs.execute(store, jobs.create(store, project_id, params))
    return store.model(result["model_id"])


# ---------------------------------------------------------------- core.demo


def test_create_demo_once_from_assets(tmp_path):
    store = Store(tmp_path / "n.db")
    pid = demo.create_demo(store)
    assert pid is not None and demo.create_demo(store) is None
    project = store.project(pid)
    assert project.name == "demo" and project.labels == ["PER", "LOC", "ORG", "MISC"]
    assert store.counts(pid)["by_split"] == {"train": 42, "dev": 15, "test": 0, "unlabeled": 40}
    for split in ("train", "dev"):
        rows = store.sentences(pid, split=split)
        assert all(r.tags is not None and r.source == "gold" for r in rows)
        assert sum(len(formats.spans(r.tags)) for r in rows) >= 2 * len(rows)  # every sentence has entities
    assert all(r.tags is None for r in store.sentences(pid, split="unlabeled"))
    assert len(store.projects()) == 1


def test_create_demo_leaves_a_used_database_alone(tmp_path):
    store = Store(tmp_path / "n.db")
    store.create_project("mine", ["PER"])
    assert demo.create_demo(store) is None
    assert [p.name for p in store.projects()] == ["mine"]


def test_next_step_hint():
    def job(status):
        return Job(id=1, project_id=1, kind="train", status=status, pid=None, pid_started=None, params={}, log_path="",
                   model_id=None, started=None, ended=None, error=None, created="")

    counts = {"by_split": {"train": 0, "dev": 0, "test": 0, "unlabeled": 0}, "human": 0, "labelled": 0}
    assert "Upload" in demo.next_step(counts, None, None)
    counts = {"by_split": {"train": 40, "dev": 10, "test": 0, "unlabeled": 7}, "human": 0, "labelled": 50}
    assert "Train" in demo.next_step(counts, None, None) and "first model" in demo.next_step(counts, None, None)
    assert "running" in demo.next_step(counts, None, job("running"))
    serving = {"id": 1}
    assert "7 sentences" in demo.next_step(counts, serving, job("done"))
    assert "Annotate" in demo.next_step(counts, serving, None)
    counts["by_split"]["unlabeled"] = 0
    assert "Every sentence is labelled" in demo.next_step(counts, serving, None)


def test_learning_curve_points_and_axis():
    def model(i, f1, n=None, status="ready"):
        metrics = {"dev": {"micro": {"f1": f1}}} if f1 is not None else {}
        if n is not None:
            metrics["train_sentences"] = n
        return ModelVersion(id=i, project_id=1, name=f"v{i}", folder="", base_model="", parent_id=None, params={},
                            metrics=metrics, created="", status=status)

    curve = report.learning_curve([model(1, 0.5, 40), model(2, None, 45), model(3, 0.7, 60),
                                   model(4, 0.9, 80, "failed")])
    x, fell_back = report.curve_x(curve, "sentences")
    points = curve[curve["series"] == "micro"]
    assert list(zip(points["version"], points[x], points["f1"])) == [("v1", 40, 0.5), ("v3", 60, 0.7)]
    assert x == "sentences" and not fell_back
    curve = report.learning_curve([model(1, 0.5, 40), model(2, 0.6)])
    x, fell_back = report.curve_x(curve, "sentences")
    assert curve[x].tolist() == [1, 2] and x == "number" and fell_back
    assert model(1, 0.25).dev_f1 == 0.25 and model(1, None).dev_f1 is None


# ---------------------------------------------------------------- the page


def test_first_run_creates_the_demo_and_shows_its_counts(monkeypatch, tmp_path):
    db = tmp_path / "nerloop.db"
    at = open_app(monkeypatch, db)
    store = Store(db)
    [project] = store.projects()
    assert project.name == "demo" and at.session_state["project_id"] == project.id
    assert at.title[0].value == "demo"
    assert shown_metrics(at) == {"Train": "42", "Dev": "15", "Test": "0", "Unlabelled": "40", "Labelled": "57",
                                 "Corrected": "0", "Serving model": "none yet"}
    assert "first model" in at.info[0].value
    assert at.selectbox(key="sidebar_project").value == project.id
    at.run()  # a rerun creates nothing more
    assert len(store.projects()) == 1 and shown_metrics(at)["Train"] == "42"


def test_create_a_project_with_the_form_then_pick_another(monkeypatch, tmp_path):
    db = tmp_path / "nerloop.db"
    warnings = apptest.policy_warnings(monkeypatch)
    at = open_app(monkeypatch, db)
    store = Store(db)
    demo_id = store.project("demo").id
    labels = at.text_input(key="home_new_labels")
    assert labels.value == "" and labels.placeholder  # no silent default: a preset or typed labels
    at.button(key="home_preset_bio").click().run()
    assert at.text_input(key="home_new_labels").value == "Chemical, Disease"
    at.button(key="home_preset_conll").click().run()
    assert at.text_input(key="home_new_labels").value == "PER, LOC, ORG, MISC"
    at.button(key="home_preset_custom").click().run()
    assert at.text_input(key="home_new_labels").value == ""
    at.text_input(key="home_new_name").input("letters_1850s")
    at.text_input(key="home_new_labels").input(" PER, ORG ,")
    at.button(key="home_create").click().run()
    assert not at.exception and not at.error
    project = store.project("letters_1850s")
    assert project.labels == ["PER", "ORG"]
    assert [s.value for s in at.success] == [r"Created project “letters\_1850s” and made it current."]
    assert [t.value for t in at.toast] == [at.success[0].value]
    assert at.text_input(key="home_new_name").value == "" and at.text_input(key="home_new_labels").value == ""
    assert at.session_state["project_id"] == project.id
    assert at.selectbox(key="sidebar_project").value == project.id
    assert at.title[0].value == "letters_1850s"
    assert shown_metrics(at)["Train"] == "0" and "Upload" in at.info[0].value
    at.run()
    assert not at.success  # said once

    at.text_input(key="home_new_name").input("letters_1850s")
    at.button(key="home_create").click().run()
    assert at.error[0].value == r"project 'letters\_1850s' already exists" and len(store.projects()) == 2
    at.text_input(key="home_new_name").input("bad")
    at.text_input(key="home_new_labels").input("B-PER")
    at.button(key="home_create").click().run()
    assert "give entity types" in at.error[0].value and len(store.projects()) == 2

    assert at.button(key=f"home_open_{project.id}").disabled
    at.button(key=f"home_open_{demo_id}").click().run()
    assert at.session_state["project_id"] == demo_id and at.title[0].value == "demo"
    assert at.selectbox(key="sidebar_project").value == demo_id
    at.selectbox(key="sidebar_project").set_value(project.id).run()  # the sidebar picks too
    assert at.session_state["project_id"] == project.id and at.title[0].value == "letters_1850s"
    assert at.button(key=f"home_open_{project.id}").disabled
    assert warnings == []  # the picker's selection is set through its state only


def test_a_project_created_without_labels_takes_them_from_its_first_import(monkeypatch, tmp_path):
    db = tmp_path / "nerloop.db"
    at = open_app(monkeypatch, db)
    at.text_input(key="home_new_name").input("open types")
    at.button(key="home_create").click().run()
    assert not at.error and Store(db).project("open types").labels == []
    assert [s.value for s in at.success] == ["Created project “open types” and made it current."]


def test_dashboard_shows_serving_model_last_job_and_learning_curve(monkeypatch, tmp_path, tiny_model):
    db = tmp_path / "nerloop.db"
    store = Store(db)
    pid = demo.create_demo(store)
    v1 = train_version(store, pid, tiny_model)
    row = store.sentences(pid, split="unlabeled")[0]
    store.annotate(row.id, ["O"] * len(row.words), source="human")
    store.set_split([row.id], "train")
    v2 = train_version(store, pid, tiny_model)
    at = open_app(monkeypatch, db, pid)
    f1 = v2.metrics["dev"]["micro"]["f1"]
    shown = shown_metrics(at)
    assert shown[f"Serving model {v2.name}: dev F1"] == f"{f1:.3f}"
    assert shown["Corrected"] == "1" and shown["Train"] == "43" and shown["Unlabelled"] == "39"
    delta = at.metric[-1].proto.delta
    assert delta == f"{f1 - v1.metrics['dev']['micro']['f1']:+.3f}"
    job = store.jobs(pid)[0]
    assert any(f"Training job #{job.id}" in m.value and "done" in m.value for m in at.markdown)
    assert "39 sentences" in at.info[0].value
    [chart] = at.get("plotly_chart")
    star, line = json.loads(chart.proto.spec)["data"]
    assert numbers(line["x"]) == [42, 43] and line["text"] == ["v1", "v2"]
    assert numbers(line["y"]) == pytest.approx([v1.metrics["dev"]["micro"]["f1"], f1])
    assert numbers(star["x"]) == [43]


def test_dashboard_follows_a_running_job_and_shows_a_failure(monkeypatch, tmp_path):
    db = tmp_path / "nerloop.db"
    store = Store(db)
    pid = demo.create_demo(store)
    job_id = store.create_job(pid, "train", {})
    store.update_job(job_id, status="running", pid=os.getpid())
    store.add_event(job_id, "step", {"step": 5, "total_steps": 20, "epoch": 0.5, "loss": 1.25})
    at = open_app(monkeypatch, db, pid)
    [bar] = at.get("progress")
    assert bar.proto.value == 25 and "step 5/20" in bar.proto.text and "loss 1.250" in bar.proto.text
    assert "running" in at.info[0].value
    store.update_job(job_id, status="failed", error="CUDA out of memory <b>x</b>")
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["CUDA out of memory <b>x</b>"]
    assert "first model" in at.info[0].value


def test_the_project_lives_in_the_url_so_a_reload_keeps_it(monkeypatch, tmp_path):
    db = tmp_path / "nerloop.db"
    store = Store(db)
    demo.create_demo(store)
    other = store.create_project("bio", ["Chemical"])
    at = open_app(monkeypatch, db)
    at.button(key=f"home_open_{other}").click().run()
    assert at.query_params["project"] == str(other)

    monkeypatch.setenv("NERLOOP_DB", str(db))  # a reload: a new session with the URL's query string
    reload = AppTest.from_file(apptest.APP, default_timeout=60)
    reload.query_params["project"] = str(other)
    reload.run()
    assert not reload.exception
    assert reload.session_state["project_id"] == other and reload.title[0].value == "bio"

    stale = AppTest.from_file(apptest.APP, default_timeout=60)  # a link to a project that is gone opens the first one
    stale.query_params["project"] = "9999"
    stale.run()
    assert stale.session_state["project_id"] == store.project("demo").id
    assert stale.query_params["project"] == str(store.project("demo").id)
