"""The active-learning loop in the app: strategies on Annotate, "retrain every N", demo mode on Home, the Evaluate
x-axis; and the core helpers behind them (core.annotate, core.report)."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import active, formats, jobs, report, retrain
from core.formats import Sentence
from core.store import ModelVersion, Store

from apptest import UNLABELED, open_app, raw as _raw

DATA = Path(__file__).parent / "data"
TRAIN = 30  # sample.conll: the first 30 sentences are train, the next 10 the plain pool, the last 10 hidden gold


def sample() -> list[Sentence]:
    return formats.read(DATA / "sample.conll").sentences


@pytest.fixture(scope="module")
def base(tmp_path_factory, tiny_model) -> tuple[Path, int]:
    """Project "news": 30 train sentences, the dev file, an unlabelled pool of 15, a serving tiny model."""
    path = tmp_path_factory.mktemp("active_app") / "base.db"
    store = Store(path)
    pid = store.create_project("news", ["PER", "LOC", "ORG", "MISC"])
    store.import_sentences(pid, sample()[:TRAIN], split="train")
    store.import_sentences(pid, formats.read(DATA / "sample_dev.conll").sentences, split="dev")
    store.import_sentences(pid, formats.loads(UNLABELED, name="u.txt").sentences, split="unlabeled")
    store.import_sentences(pid, [_raw(s.words) for s in sample()[TRAIN:TRAIN + 10]], split="unlabeled")
    jobs.execute(store, jobs.create(store, pid, {"model": tiny_model, "min_steps": 30, "epochs": 2,
                                                 "promote": "always"}))
    assert store.serving(pid) is not None
    store.close()
    return path, pid


@pytest.fixture
def env(base, tmp_path, monkeypatch):
    """A fresh copy of the base database as $NERLOOP_DB and a Store on it; jobs it started are cancelled after."""
    path, pid = base
    db = tmp_path / "t.db"
    shutil.copy(path, db)
    monkeypatch.setenv("NERLOOP_DB", str(db))
    store = Store(db)
    yield store, pid
    for job in store.jobs(status=["queued", "running"]):
        jobs.cancel(store, job.id)
    for job in store.jobs():  # let this test's children end before the next test
        proc = jobs._procs.pop((str(store.path.resolve()), job.id), None)
        if proc is not None:
            proc.wait(timeout=30)
    store.close()


def press(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, at.exception


def decode(values) -> list:
    """A plotly JSON array: a list, or {"dtype", "bdata"} base64."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


# ---------------------------------------------------------------- Annotate: strategies

def test_a_strategy_changes_the_order_of_suggestions_and_scores_once_per_version(env, monkeypatch):
    store, pid = env
    calls = []
    suggest = active.suggest

    def counting(*args, **kwargs):
        calls.append(kwargs.get("strategy"))
        return suggest(*args, **kwargs)

    monkeypatch.setattr(active, "suggest", counting)
    at = open_app(pid, "pages/annotate.py")
    in_order = list(at.session_state["annotate_queue"])
    pool = [s.id for s in store.sentences(pid, split="unlabeled")]
    assert in_order == pool and at.session_state["annotate_sentence_id"] == pool[0]
    assert not calls  # nothing is scored for the plain orders

    at.segmented_control(key="annotate_order").set_value("active learning").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="annotate_measure").value == "entropy"
    ranked = list(at.session_state["annotate_queue"])
    seed = at.session_state["annotate_seed"]
    assert ranked == suggest(store, pid, 100, strategy="entropy:mnlp", seed=seed)  # the stored scores' ranking
    assert sorted(ranked) == pool and ranked != in_order
    assert at.session_state["annotate_sentence_id"] == ranked[0]  # the most uncertain sentence is shown first
    assert any("Active learning (`entropy:mnlp`)" in c.value for c in at.caption)
    serving = store.serving(pid)
    assert set(store.pool_scores(serving.id)) == set(pool)  # scored once for this version, and stored
    assert calls == ["entropy:mnlp"]

    at.segmented_control(key="annotate_aggregate").set_value("max").run()
    by_max = list(at.session_state["annotate_queue"])
    assert by_max == suggest(store, pid, 100, strategy="entropy:max", seed=seed)
    at.selectbox(key="annotate_measure").set_value("BALD").run()
    assert list(at.session_state["annotate_queue"]) == suggest(store, pid, 100, strategy="bald:max", seed=seed)
    at.toggle(key="annotate_diverse").set_value(True).run()
    assert not at.exception, at.exception
    assert sorted(at.session_state["annotate_queue"]) == pool  # spread over clusters, still the whole pool
    assert len(calls) == 5  # max, BALD, then diverse: the batch and the rest
    at.segmented_control(key="annotate_order").set_value("in order").run()
    assert list(at.session_state["annotate_queue"]) == in_order
    at.segmented_control(key="annotate_order").set_value("active learning").run()
    assert at.selectbox(key="annotate_measure").value == "BALD" and at.toggle(key="annotate_diverse").value
    press(at, "annotate_next")  # reruns reuse the cached ranking: no new suggest call
    assert len(calls) == 5


def test_active_order_waits_for_the_job_that_is_scoring_the_pool(env, monkeypatch):
    store, pid = env
    sleeper = subprocess.Popen(["sleep", "120"], start_new_session=True)  # stands for the job's process
    job_id = store.create_job(pid, "train", {})
    store.update_job(job_id, status="running", pid=sleeper.pid)
    store.add_event(job_id, "registered", {"model_id": store.serving(pid).id, "promoted": True})
    assert retrain.scoring_job(store, pid) is None  # registered, but not scoring: nothing to wait for
    store.add_event(job_id, "scoring_pool", {"model_id": store.serving(pid).id, "sentences": 15})
    assert retrain.scoring_job(store, pid).id == job_id
    calls = []
    monkeypatch.setattr(active, "suggest", lambda *a, **k: calls.append(k) or [])
    try:
        at = open_app(pid, "pages/annotate.py")
        at.segmented_control(key="annotate_order").set_value("active learning").run()
        assert not at.exception, at.exception
        assert any(f"Job {job_id} is scoring the unlabelled pool" in c.value for c in at.caption)
        pool = [s.id for s in store.sentences(pid, split="unlabeled")]
        assert sorted(at.session_state["annotate_queue"]) == pool and not calls  # random order, nothing scored
        store.add_event(job_id, "pool_scored", {"model_id": store.serving(pid).id, "sentences": len(pool)})
        store.update_job(job_id, status="done")
        press(at, "annotate_next")
        assert not at.exception, at.exception
        assert len(calls) == 1 and not any("is scoring" in c.value for c in at.caption)
    finally:
        sleeper.kill()
        sleeper.wait()


# ---------------------------------------------------------------- Annotate: retrain every N new labels

def test_retrain_every_n_starts_a_warm_started_job_after_n_saves(env):
    store, pid = env
    at = open_app(pid, "pages/annotate.py")
    at.number_input(key="annotate_retrain_every").set_value(2).run()
    assert any("Retraining every 2 new labels: 0 since the last training job" in c.value for c in at.caption)
    before = [j.id for j in store.jobs(pid)]
    saved = []
    for n in (1, 2):
        saved.append(at.session_state["annotate_sentence_id"])
        press(at, "annotate_label_1")
        press(at, "annotate_save")  # Ctrl+Enter
        assert store.history(saved[-1])[-1].source == "human"
        if n == 1:
            assert [j.id for j in store.jobs(pid)] == before
            assert store.human_since_last_job(pid) == 1
    assert {r.id: r.split for r in store.sentences(pid, ids=saved)} == dict.fromkeys(saved, "train")
    new = [j for j in store.jobs(pid) if j.id not in before]
    assert len(new) == 1
    job = new[0]
    assert job.params == {"warm_start": True, "promote": "better"} and job.status in ("queued", "running")
    assert any(f"job {job.id}" in t.value for t in at.toast)
    assert store.human_since_last_job(pid) == 0
    assert any(f"job {job.id}" in c.value for c in at.caption if "Retraining every 2" in c.value)
    press(at, "annotate_label_1")
    press(at, "annotate_save")
    assert len(store.jobs(pid)) == len(before) + 1  # one label since: no second job
    jobs.cancel(store, job.id)
    assert store.job(job.id).status == "cancelled"


def test_retrain_off_starts_nothing(env):
    store, pid = env
    at = open_app(pid, "pages/annotate.py")
    assert at.number_input(key="annotate_retrain_every").value == 0
    before = len(store.jobs(pid))
    for _ in range(3):
        press(at, "annotate_accept")
    assert len(store.jobs(pid)) == before
    assert not any("Retraining every" in c.value for c in at.caption)


# ---------------------------------------------------------------- Home: demo mode

def test_demo_mode_imports_a_pool_with_hidden_gold_and_reveals_batches(env):
    store, pid = env
    at = open_app(pid)
    assert not any(s.value == "Simulated annotator" for s in at.subheader)  # no hidden gold yet
    hidden = sample()[TRAIN + 10:]
    conll = formats.dumps(hidden, "conll").encode("utf-8")
    at.file_uploader(key="home_hidden_file").upload("pool.conll", conll, "text/plain").run()
    press(at, "home_hidden_import")
    assert any("10 sentences in the pool with hidden gold" in s.value for s in at.success)
    gold = store.hidden_gold(pid)
    assert len(gold) == 10 and store.hidden_gold_left(pid) == (10, 10)
    assert all(store.sentences(pid, ids=[i])[0].tags is None for i in gold)  # hidden: the app sees no tags
    assert any(s.value == "Simulated annotator" for s in at.subheader)

    at.number_input(key="home_sim_batch").set_value(3).run()
    at.checkbox(key="home_sim_train").uncheck().run()
    jobs_before = len(store.jobs(pid))
    press(at, "home_sim_reveal")
    revealed = [r for r in store.sentences(pid, ids=list(gold)) if r.tags is not None]
    assert len(revealed) == 3
    assert all(r.split == "train" and r.source == "gold" and r.tags == gold[r.id] for r in revealed)
    assert store.hidden_gold_left(pid) == (7, 10)
    assert any("Revealed the gold tags of 3 sentences" in s.value for s in at.success)
    assert any("7 of 10 sentences still hide their gold tags" in c.value for c in at.caption)
    assert len(store.jobs(pid)) == jobs_before

    at.checkbox(key="home_sim_train").check().run()
    press(at, "home_sim_reveal")
    assert store.hidden_gold_left(pid) == (4, 10)
    job = store.jobs(pid)[0]
    assert len(store.jobs(pid)) == jobs_before + 1 and job.params == {"warm_start": True, "promote": "better"}
    assert any(f"Training job {job.id} started" in s.value for s in at.success)
    if store.job(job.id).status in ("queued", "running"):
        assert at.button(key="home_sim_reveal").disabled  # the next batch waits for the new version
    jobs.cancel(store, job.id)


def test_demo_import_of_an_unlabelled_file_names_the_problem(env):
    store, pid = env
    at = open_app(pid)
    at.file_uploader(key="home_hidden_file").upload("plain.conll", b"Hello\nworld\n\n", "text/plain").run()
    press(at, "home_hidden_import")
    assert at.error and "plain" in at.error[0].value and ":1: expected at least 2 columns" in at.error[0].value
    assert store.hidden_gold(pid) == {}


# ---------------------------------------------------------------- Evaluate: learning curve x-axis

def test_evaluate_curve_x_axis_in_sentences_or_tokens(env):
    store, pid = env
    tokens = sum(len(s.words) for s in sample()[:TRAIN])
    start = store.events(store.jobs(pid)[0].id, kind="start")[0].data["info"]
    assert (start["train_sentences"], start["train_tokens"]) == (TRAIN, tokens)
    assert store.serving(pid).metrics["train_tokens"] == tokens
    at = open_app(pid, "pages/evaluate.py")

    def curve_x() -> list:
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        curve = next(s for s in specs if s["data"][0]["type"] == "scatter")
        return decode({t["name"]: t for t in curve["data"]}["micro"]["x"])

    assert at.segmented_control(key="evaluate_curve_x").value == "sentences"
    assert curve_x() == [TRAIN]
    at.segmented_control(key="evaluate_curve_x").set_value("tokens").run()
    assert not at.exception, at.exception
    assert curve_x() == [tokens]
    dev = store.serving(pid).metrics["dev"]
    store.add_model(pid, folder="old", base_model="b", status="ready", metrics={"train_sentences": 12, "dev": dev})
    at.run()
    assert curve_x() == [12, TRAIN]  # a version without train_tokens: the whole curve falls back to sentences
    assert any("x in sentences" in c.value for c in at.caption)


# ---------------------------------------------------------------- core helpers

def test_human_since_last_job_counts_sentences_saved_after_the_latest_job(tmp_path):
    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", ["PER"])
    other = store.create_project("q", ["PER"])
    store.import_sentences(pid, [_raw(["a", "b"]), _raw(["c"])], split="unlabeled")
    store.import_sentences(other, [_raw(["z"])], split="unlabeled")
    a, c = [s.id for s in store.sentences(pid)]
    z = store.sentences(other)[0].id
    assert store.human_since_last_job(pid) == 0
    store.save_human(a, ["B-PER", "O"], annotator="x")
    store.annotate(c, ["O"], source="gold")  # not a human label
    store.annotate(z, ["B-PER"])  # another project
    assert store.human_since_last_job(pid) == 1
    store.save_human(a, ["O", "O"], annotator="x")  # a second save of the same sentence is not a new label
    assert store.human_since_last_job(pid) == 1
    store.create_job(pid, "train", {})
    assert store.human_since_last_job(pid) == 0
    assert store.human_since_last_job(other) == 1  # its own jobs only
    store.save_human(c, ["B-PER"], annotator="x")
    assert store.human_since_last_job(pid) == 1
    assert {s.id: s.split for s in store.sentences(pid)} == {a: "train", c: "train"}
    store.import_sentences(pid, [_raw(["d"])], split="dev")
    d = store.sentences(pid, split="dev")[0].id
    store.save_human(d, ["O"], annotator="x")
    assert store.sentences(pid, ids=[d])[0].split == "dev"  # only the unlabelled pool moves to train
    store.close()


def test_curve_x_falls_back():
    dev = {"micro": {"f1": 0.5}, "per_class": {}}
    version = partial(ModelVersion, project_id=1, folder="", base_model="", parent_id=None, params={}, created="",
                      status="ready")
    new = version(id=2, name="v2", metrics={"train_sentences": 5, "train_tokens": 50, "dev": dev})
    old = version(id=1, name="v1", metrics={"train_sentences": 3, "dev": dev})
    curve = report.learning_curve([new])
    assert curve["tokens"].tolist() == [50]
    assert report.curve_x(curve, "tokens") == ("tokens", False)
    assert report.curve_x(curve, "sentences") == ("sentences", False)
    assert report.curve_x(report.learning_curve([old, new]), "tokens") == ("sentences", True)
    with pytest.raises(ValueError, match="axis"):
        report.curve_x(curve, "words")
