"""AppTest of the Train and Evaluate pages: a background job to serving, dead and running jobs after a reload,
per-class charts equal to core.metrics, promote/rollback, escaped error browser, Open in Annotate."""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.runtime.state.common import user_key_from_element_id
from streamlit.testing.v1 import AppTest

from core import formats, jobs, metrics, report, versions
from core.model import Tagger
from core.store import Store
from core.train import TrainConfig

from apptest import open_app, policy_warnings

DATA = Path(__file__).parent / "data"
INJECTED = b"Hello O\n<script>alert(1)</script> O\n<img O\nsrc=x O\nonerror=alert(1)> O\nsaid O\n\n"
INLINE = {"min_steps": 30, "epochs": 2, "batch_size": 16, "lr": 1e-3, "device": "cpu", "promote": "always"}


def new_project(store: Store, *, train: int | None = None) -> int:
    """Project `news`: sample.conll (its first `train` sentences) as train, sample_dev.conll as dev."""
    pid = store.create_project("news", ["PER", "LOC", "ORG", "MISC"])
    store.import_sentences(pid, formats.read(DATA / "sample.conll").sentences[:train], split="train")
    store.import_sentences(pid, formats.read(DATA / "sample_dev.conll").sentences, split="dev")
    return pid


def open_page(monkeypatch, db: Path, pid: int, page: str) -> AppTest:
    return open_app(pid, page, monkeypatch=monkeypatch, db=db)


@pytest.fixture
def train_store(tmp_path):
    store = Store(tmp_path / "nerloop.db")
    yield store
    for job in store.jobs(status=["queued", "running"]):
        jobs.cancel(store, job.id)
    for job in store.jobs():  # let this test's children end (and be reaped) before the next one
        proc = jobs._procs.pop((str(store.path.resolve()), job.id), None)
        if proc is not None:
            proc.wait(timeout=30)
    store.close()


def test_train_page_runs_a_background_job_to_serving(monkeypatch, tmp_path, train_store, tiny_model):
    pid = new_project(train_store)
    warnings = policy_warnings(monkeypatch)
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/train.py")
    assert at.checkbox(key="train_warm").disabled and not at.checkbox(key="train_warm").value
    assert at.number_input(key="train_epochs").value == 3 and at.radio(key="train_promote").value == "better"
    at.text_input(key="train_model").set_value(tiny_model)
    at.number_input(key="train_min_steps").set_value(20)
    at.number_input(key="train_epochs").set_value(1)
    at.radio(key="train_promote").set_value("always")
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception

    [job] = train_store.jobs(pid)
    assert job.params["model"] == tiny_model and job.params["min_steps"] == 20
    assert job.params["warm_start"] is False and job.pid
    assert at.button(key="train_start").disabled, "a second job must not start while one runs"
    assert "wait for it to end" in at.info[0].value and at.button(key="train_cancel")
    assert at.get("progress"), "the live panel shows while the job runs"

    deadline = time.monotonic() + 120
    while train_store.job(job.id).status in ("queued", "running"):
        assert time.monotonic() < deadline, "job did not finish in 120 s"
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    at.run()
    job = train_store.job(job.id)
    assert job.status == "done", job
    [model] = train_store.models(pid)
    assert job.model_id == model.id and train_store.serving(pid).id == model.id
    assert not at.get("progress") and not at.button(key="train_start").disabled
    assert f"Job {job.id} trained v1" in at.success[0].value and "now serving" in at.success[0].value
    history = at.dataframe[0].value
    assert history.loc[0, ["id", "status", "version", "promoted"]].tolist() == [job.id, "done", "v1", True]
    assert at.checkbox(key="train_warm").value, "warm start is ticked once a version serves"
    assert warnings == []  # ticked through the checkbox's state, without a default value as well


def test_self_training_options_reach_the_job_and_its_outcome_the_history(monkeypatch, tmp_path, train_store,
                                                                          tiny_model):
    pid = new_project(train_store)
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/train.py")
    assert at.number_input(key="train_pseudo_threshold").disabled and not at.toggle(key="train_self").value
    at.toggle(key="train_self").set_value(True).run()
    at.number_input(key="train_pseudo_threshold").set_value(0.9)
    at.checkbox(key="train_pseudo_balance").check()
    at.text_input(key="train_model").set_value(tiny_model)
    at.number_input(key="train_epochs").set_value(100)  # still running when the test looks
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    [job] = train_store.jobs(pid)
    assert {k: job.params[k] for k in ("self_training", "pseudo_threshold", "pseudo_weight", "pseudo_balance")} \
        == {"self_training": True, "pseudo_threshold": 0.9, "pseudo_weight": 0.3, "pseudo_balance": True}
    jobs.cancel(train_store, job.id)

    done = train_store.create_job(pid, "train", {})
    train_store.add_event(done, "self_training", {"accepted": False, "base_f1": 0.8, "new_f1": 0.784, "n_pseudo": 12})
    train_store.update_job(done, status="done")
    at.run()
    history = at.dataframe[0].value.set_index("id")
    assert history.loc[done, "self-training"] == "rejected: dev F1 -1.6 pt, 12 pseudo-labels"
    assert history.loc[job.id, "self-training"] == ""


def test_dead_job_shows_failed_with_reason(monkeypatch, tmp_path, train_store):
    pid = new_project(train_store)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    job = train_store.create_job(pid, "train", {"model": "default"})
    train_store.update_job(job, status="running", pid=gone.pid)
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/train.py")
    assert train_store.job(job).status == "failed"
    assert at.error[0].value.startswith(f"Job {job} failed: process {gone.pid} ended without finishing")
    assert not at.get("progress") and not at.button(key="train_start").disabled
    assert at.dataframe[0].value.loc[0, "status"] == "failed"


def test_reload_shows_the_running_job_and_cancel_stops_it(monkeypatch, tmp_path, train_store):
    pid = new_project(train_store)
    worker = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        job = train_store.create_job(pid, "train", {"model": "default"})
        train_store.update_job(job, status="running", pid=worker.pid)
        train_store.add_event(job, "step", {"step": 5, "total_steps": 50, "epoch": 0.5, "loss": 1.5})
        train_store.add_event(job, "eval", {"step": 5, "scores": {"micro": {"f1": 0.25}}})
        at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/train.py")  # a fresh session
        [bar] = at.get("progress")
        assert bar.proto.value == 10 and "step 5/50 · epoch 0.5 · loss 1.500 · dev F1 0.250" in bar.proto.text
        assert at.button(key="train_start").disabled
        at.button(key="train_cancel").click().run()
        assert not at.exception, at.exception
        assert train_store.job(job).status == "cancelled"
        assert worker.wait(timeout=10) != 0
        assert at.warning[0].value == f"Job {job} was cancelled." and not at.get("progress")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_the_live_panel_reads_only_new_events_and_redraws_only_on_change(monkeypatch, tmp_path, train_store):
    pid = new_project(train_store)
    worker = subprocess.Popen(["sleep", "60"], start_new_session=True)
    reads = []  # (after_id, events returned) of every read of a job's events
    events = Store.events

    def spy(self, job_id, *, after_id=0, kind=None):
        rows = events(self, job_id, after_id=after_id, kind=kind)
        reads.append((after_id, len(rows)))
        return rows

    monkeypatch.setattr(Store, "events", spy)
    try:
        job = train_store.create_job(pid, "train", {"model": "default"})
        train_store.update_job(job, status="queued", pid=worker.pid)
        at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/train.py")
        assert "loading the model" in at.get("progress")[0].proto.text
        assert at.dataframe[0].value.loc[0, ["status", "started (UTC)"]].tolist() == ["queued", ""]
        train_store.update_job(job, status="running")
        first = train_store.add_event(job, "step", {"step": 1, "total_steps": 50, "epoch": 0.1, "loss": 2.0})
        last = train_store.add_event(job, "step", {"step": 5, "total_steps": 50, "epoch": 0.5, "loss": 1.5, "info": {
            "train_s": 2.5, "eval_s": 0.0, "evals": 0, "evals_left": 2}})
        reads.clear()
        at.run()
        assert reads == [(0, 2)] and first < last
        state = at.session_state[f"train_live_{job}"]
        assert state["live"].after == last and state["builds"] == 2  # before any step, then with the two steps
        assert "step 5/50" in at.get("progress")[0].proto.text and "about 22 s left" in at.get("progress")[0].proto.text
        assert at.dataframe[0].value.loc[0, "status"] == "running" and at.dataframe[0].value.loc[0, "started (UTC)"]
        chart = at.get("vega_lite_chart")[0].proto.SerializeToString()
        reads.clear()
        for _ in range(3):  # nothing new: one read from the last event seen, no chart rebuilt
            at.run()
        assert reads == [(last, 0)] * 3 and state["builds"] == 2
        assert at.get("vega_lite_chart")[0].proto.SerializeToString() == chart  # the cached spec, re-emitted
        newest = train_store.add_event(job, "eval", {"step": 5, "scores": {"micro": {"f1": 0.4}}})
        at.run()
        assert reads[-1] == (last, 1) and state["builds"] == 3 and state["live"].after == newest
        assert state["live"].f1 == [[5, 0.4]] and "dev F1 0.400" in at.get("progress")[0].proto.text
    finally:
        worker.kill()
        worker.wait()


def test_the_page_shows_the_steps_that_will_really_run(monkeypatch, tmp_path, train_store):
    pid = new_project(train_store)
    n = len(versions.training_data(train_store, pid)[0])
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/train.py")

    def shown() -> str:
        return next(c.value for c in at.caption if c.value.startswith("This run:"))

    p = report.run_plan(TrainConfig(), n, warm=False)
    assert p.epochs > 3 and shown().startswith(f"This run: **{p.total_steps} steps**, {p.epochs} epochs of {n} "
                                               f"labelled sentences, dev evaluation every {p.eval_every} steps")
    lowest = max(TrainConfig().budget_min_steps, 3 * p.steps_per_epoch)
    assert f"fewer (never below {lowest}) if 5 min of training cannot fit them" in shown()
    at.number_input(key="train_min_steps").set_value(0).run()  # no floor: the 3 epochs asked for
    p = report.run_plan(TrainConfig(min_steps=0), n, warm=False)
    assert p.epochs == 3 and shown().startswith(f"This run: **{p.total_steps} steps**, 3 epochs")


def test_home_job_card_shows_the_time_left(monkeypatch, tmp_path, train_store):
    pid = new_project(train_store)
    job = train_store.create_job(pid, "train", {})
    train_store.update_job(job, status="running", pid=os.getpid())
    train_store.add_event(job, "step", {"step": 10, "total_steps": 130, "epoch": 1.0, "loss": 0.5, "info": {
        "train_s": 10.0, "eval_s": 6.0, "evals": 1, "evals_left": 4}})
    at = open_app(pid, None, monkeypatch=monkeypatch, db=tmp_path / "nerloop.db")
    [bar] = at.get("progress")
    assert "step 10/130" in bar.proto.text and "about 2 min left" in bar.proto.text  # 120 x 1 s + 4 x 6 s
    train_store.update_job(job, status="done")  # its pid is pytest's: the fixture must not cancel (kill) it


def test_no_labelled_train_sentences_says_why(monkeypatch, tmp_path, train_store):
    pid = train_store.create_project("empty", ["PER"])
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/train.py")
    assert "No labelled sentences in the train split" in at.info[0].value
    assert at.button(key="train_start").disabled


# ---------------------------------------------------------------- Evaluate


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model) -> tuple[Path, int, int, int, int]:
    """A database with two versions (v2 serving) and a human-labelled dev sentence full of HTML that v2 gets
    wrong; returns (db, project id, v1, v2, injected sentence id)."""
    folder = tmp_path_factory.mktemp("evaluate")
    store = Store(folder / "nerloop.db")
    pid = new_project(store, train=30)
    v1 = jobs.execute(store, jobs.create(store, pid, {**INLINE, "model": tiny_model}))["model_id"]
    store.import_sentences(pid, formats.read(DATA / "sample.conll").sentences, split="train")
    v2 = jobs.execute(store, jobs.create(store, pid, {**INLINE, "model": tiny_model, "seed": 7}))["model_id"]
    store.import_sentences(pid, formats.loads(INJECTED, name="x.conll").sentences, split="dev", source="human")
    sid = max(s.id for s in store.sentences(pid, split="dev"))
    words = store.sentences(pid, ids=[sid])[0].words
    pred = Tagger.load(store.model(v2).folder).predict([words])[0].tags
    wrong = ["B-PER"] + ["O"] * (len(words) - 1)
    store.annotate(sid, wrong if pred != wrong else ["O"] * len(words))
    store.close()
    return folder / "nerloop.db", pid, v1, v2, sid


@pytest.fixture
def evaluate_db(trained, tmp_path) -> tuple[Path, int, int, int, int]:
    """A private copy of the trained database (the model folders are shared, read-only)."""
    db, *rest = trained
    shutil.copy(db, tmp_path / "nerloop.db")
    return (tmp_path / "nerloop.db", *rest)


def decode(values) -> list:
    """A plotly JSON array: a list, or {"dtype", "bdata"[, "shape"]} base64."""
    if isinstance(values, dict) and "bdata" in values:
        arr = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        if "shape" in values:
            arr = arr.reshape([int(n) for n in str(values["shape"]).split(",")])
        return arr.tolist()
    return list(values)


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly specs by widget key, without the "evaluate_" prefix (bars_f1, curve, confusion, ...)."""
    return {user_key_from_element_id(c.proto.id).removeprefix("evaluate_"): json.loads(c.proto.spec)
            for c in at.get("plotly_chart")}


def dev_scores(db: Path, pid: int, model_id: int) -> tuple[list, list, dict]:
    store = Store(db)
    rows = [r for r in store.sentences(pid, split="dev") if r.tags is not None]
    folder = store.model(model_id).folder
    store.close()
    gold = [r.tags for r in rows]
    pred = [p.tags for p in Tagger.load(folder).predict([r.words for r in rows])]
    return gold, pred, metrics.score(gold, pred)


def test_evaluate_charts_hold_core_metrics_values(monkeypatch, evaluate_db):
    db, pid, v1, v2, _ = evaluate_db
    at = open_page(monkeypatch, db, pid, "pages/evaluate.py")
    assert at.selectbox(key="evaluate_version").value == v2
    gold, pred, expected = dev_scores(db, pid, v2)
    _, _, before = dev_scores(db, pid, v1)
    specs = charts(at)
    assert set(specs) == {"bars_precision", "bars_recall", "bars_f1", "curve", "confusion"}
    for chart in at.get("plotly_chart"):  # no Plotly toolbar over a title or a legend
        assert json.loads(chart.proto.config)["displayModeBar"] is False
    assert all("title" not in spec["layout"] for spec in specs.values())  # titles are above the figures instead
    shown = [m.value for m in at.markdown]
    assert all(f"**{title}**" in shown for title in ("Precision per class", "Recall per class", "F1 per class"))
    axis = at.segmented_control(key="evaluate_curve_x")
    assert axis.options == ["Sentences", "Words"] and axis.value == "sentences"  # short enough to show whole
    for metric in ("precision", "recall", "f1"):
        traces = {t["name"]: t for t in specs[f"bars_{metric}"]["data"]}
        assert set(traces) == {"v1 (previous)", "v2 (chosen)"}
        for name, result in (("v2 (chosen)", expected), ("v1 (previous)", before)):
            labels = decode(traces[name]["x"])
            assert labels == sorted(set(expected["per_class"]) | set(before["per_class"]))
            values = [result["per_class"].get(lab, {metric: 0.0})[metric] for lab in labels]
            assert decode(traces[name]["y"]) == pytest.approx(values), (metric, name)
            support = [result["per_class"].get(lab, {"support": 0})["support"] for lab in labels]
            assert decode(traces[name]["customdata"]) == support
            assert "support %{customdata}" in traces[name]["hovertemplate"]
    figures = {m.label: m for m in at.metric}
    assert figures["Micro F1"].value == f"{expected['micro']['f1']:.3f}"
    assert figures["Macro F1"].value == f"{expected['macro']['f1']:.3f}"
    assert figures["Micro F1"].delta == f"{expected['micro']['f1'] - before['micro']['f1']:+.3f}"

    table = metrics.confusion(gold, pred)
    heat = specs["confusion"]["data"][0]
    assert decode(heat["y"]) == list(table.index) and decode(heat["x"]) == list(table.columns)
    z = [decode(row) for row in heat["z"]] if isinstance(heat["z"], list) else decode(heat["z"])
    assert z == table.values.tolist()
    curve = {t["name"]: t for t in specs["curve"]["data"]}
    assert decode(curve["micro"]["text"]) == ["v1", "v2"] and decode(curve["micro"]["x"]) == [30, 50]


def test_promote_and_rollback_change_serving(monkeypatch, evaluate_db):
    db, pid, v1, v2, _ = evaluate_db
    at = open_page(monkeypatch, db, pid, "pages/evaluate.py")
    assert at.button(key="evaluate_promote").disabled, "the serving version cannot be promoted again"
    at.selectbox(key="evaluate_version").set_value(v1).run()
    assert "v2 (previous)" not in json.dumps([c.proto.spec for c in at.get("plotly_chart")])
    at.button(key="evaluate_promote").click().run()
    store = Store(db)
    assert store.serving(pid).id == v1 and at.success[0].value == "v1 is now serving."
    at.button(key="evaluate_rollback").click().run()
    assert store.serving(pid).id == v2 and at.success[0].value == "Rolled back: v2 is serving again."
    store.close()


def test_error_browser_escapes_and_opens_annotate(monkeypatch, evaluate_db):
    db, pid, _, _, sid = evaluate_db
    at = open_page(monkeypatch, db, pid, "pages/evaluate.py")
    pager = [n for n in at.number_input if n.key == "evaluate_error_page"]
    for page in range(2, int(pager[0].max) + 1 if pager else 2):
        if any(b.key == f"evaluate_open_{sid}" for b in at.button):
            break
        at.number_input(key="evaluate_error_page").set_value(page).run()
    html = "\n".join(m.value for m in at.markdown)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img" in html
    assert "<script>" not in html and "<img" not in html
    at.button(key=f"evaluate_open_{sid}").click().run()
    assert not at.exception, at.exception
    assert at.session_state["annotate_sentence_id"] == sid
    assert at.title[0].value == "Annotate"
