"""Tests for core.report: the data behind the Train and Evaluate pages (no model, no Streamlit)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from core import formats, metrics, report
from core.train import evaluate

TRAIN = b"Anna B-PER\nlives O\nin O\nOslo B-LOC\n\nBo B-PER\nleft O\n\n"
DEV = b"Carl B-PER\nmet O\nDora B-PER\n\nin O\nRome B-LOC\n\nLima B-LOC\nrocks O\n\n"
PRED = [["B-PER", "O", "O"], ["O", "B-PER"], ["B-LOC", "O"]]  # Dora missed, Rome as PER, Lima right


@pytest.fixture
def pid(store) -> int:
    pid = store.create_project("p", ["PER", "LOC"])
    store.import_sentences(pid, formats.loads(TRAIN, name="t.conll").sentences, split="train")
    store.import_sentences(pid, formats.loads(DEV, name="d.conll").sentences, split="dev")
    unlabelled = formats.loads(b"Just text here .", name="u.txt").sentences
    store.import_sentences(pid, unlabelled, split="train")
    return pid


class FakeTagger:
    def __init__(self, tags):
        self.tags = tags

    def predict(self, words, batch_size=64):
        assert len(words) == len(self.tags)
        return [SimpleNamespace(tags=t) for t in self.tags]


def scores(f1s: dict[str, float], micro: float) -> dict:
    return {"micro": {"precision": 0, "recall": 0, "f1": micro, "support": 0},
            "per_class": {k: {"precision": 0, "recall": 0, "f1": v, "support": 1} for k, v in f1s.items()}}


def test_labelled_keeps_labelled_rows_and_hash_follows_corrections(store, pid):
    train = report.labelled(store, pid, "train")
    assert [w[0] for w in train.words] == ["Anna", "Bo"] and train.sources == ["gold", "gold"]
    assert report.labelled(store, pid, "train", limit=1).words == [["Bo", "left"]]
    dev = report.labelled(store, pid, "dev")
    assert len(dev.ids) == 3 and dev.digest == report.labelled(store, pid, "dev").digest
    store.annotate(dev.ids[2], ["O", "O"])
    fixed = report.labelled(store, pid, "dev")
    assert fixed.tags[2] == ["O", "O"] and fixed.sources[2] == "human" and fixed.digest != dev.digest


def test_evaluate_and_errors(store, pid):
    dev = report.labelled(store, pid, "dev")
    evaluation = evaluate(FakeTagger(PRED), dev.words, dev.tags)
    pred, result = evaluation.predicted, evaluation.scores
    assert pred == PRED and result == metrics.score(dev.tags, PRED) and evaluation.f1 == result["micro"]["f1"]
    assert result["per_class"]["LOC"]["f1"] == pytest.approx(2 / 3)
    errs = report.errors(dev, pred)
    assert [e["id"] for e in errs] == dev.ids[:2]
    assert errs[1] == {"id": dev.ids[1], "source": "gold", "words": ["in", "Rome"], "gold": ["O", "B-LOC"],
                       "pred": ["O", "B-PER"]}
    with pytest.raises(ValueError, match="2 predictions for 3 sentences"):
        report.errors(dev, pred[:2])


def test_job_history_progress_and_log(store, pid, tmp_path):
    log = tmp_path / "job.log"
    log.write_text("x" * 5000 + "Traceback: boom\n")
    failed = store.create_job(pid, "train", {"model": "tiny", "epochs": 2}, log_path=str(log))
    store.update_job(failed, status="failed", error="process 9 ended without finishing")
    done = store.create_job(pid, "train", {"warm_start": True, "promote": "never"})
    store.update_job(done, status="running")
    store.add_event(done, "step", {"step": 1, "total_steps": 4, "loss": 2.0})
    store.add_event(done, "eval", {"step": 2, "scores": scores({}, 0.25)})
    store.add_event(done, "eval", {"step": 4, "scores": None})
    model = store.add_model(pid, folder="m", base_model="b")
    store.add_event(done, "registered", {"model_id": model, "promoted": False})
    store.update_job(done, status="done", model_id=model)

    history = report.job_history(store, pid)
    assert history["id"].tolist() == [done, failed]
    assert history.loc[0, "version"] == "v1" and history.loc[0, "promoted"] is False
    assert history.loc[0, "settings"] == "warm start, promote never"
    assert history.loc[1, "settings"] == "tiny, epochs 2"
    assert history.loc[1, "error"] == "process 9 ended without finishing" and history.loc[1, "promoted"] is None
    assert len(history.loc[1, "started (UTC)"]) == 0 and len(history.loc[1, "ended (UTC)"]) == 19

    live = report.Live(done)
    assert live.feed(store) == 4 and live.version == 1 and live.registered and live.dev_f1 == 0.25
    assert live.loss == [[1, 2.0]] and live.f1 == [[2, 0.25]] and live.step["total_steps"] == 4
    assert live.feed(store) == 0 and live.version == 1  # nothing new: nothing changed
    store.add_event(done, "step", {"step": 5, "total_steps": 8, "loss": 1.0})
    assert live.feed(store) == 1 and live.loss == [[1, 2.0], [5, 1.0]] and live.version == 2
    store.add_event(done, "start", {"step": 0, "total_steps": 8, "info": {"s_per_step": 0.5, "evals_left": 1}})
    assert live.feed(store) == 1 and live.start["total_steps"] == 8  # the plan and pace before the first step
    tail = report.log_tail(store.job(failed), chars=100)
    assert len(tail) == 100 and tail.endswith("Traceback: boom\n")
    assert report.log_tail(store.job(done)) == ""


def test_versions_compare_and_learning_curve(store, pid):
    v1 = store.add_model(pid, folder="a", base_model="b", metrics={"train_sentences": 40, "dev": scores(
        {"LOC": 0.5, "PER": 0.1}, 0.3)})
    store.add_model(pid, folder="x", base_model="b", status="failed")
    v3 = store.add_model(pid, folder="c", base_model="b", metrics={"train_sentences": 20, "dev": scores(
        {"PER": 0.7}, 0.6)})
    models = store.models(pid)
    assert [m.id for m in report.ready_models(store, pid)] == [v1, v3]
    assert report.previous_version(models, v3).id == v1 and report.previous_version(models, v1) is None
    assert store.model(v3).dev_f1 == 0.6 and models[1].dev_f1 is None

    curve = report.learning_curve(models)
    assert curve["sentences"].tolist() == [20, 20, 40, 40, 40]  # sorted by sentences, failed version left out
    micro = curve[curve["series"] == "micro"]
    assert micro["version"].tolist() == ["v3", "v1"] and micro["f1"].tolist() == [0.6, 0.3]

    frame = report.compare_frame(scores({"PER": 0.7}, 0.6), scores({"LOC": 0.5, "PER": 0.1}, 0.3))
    f1 = frame[frame["metric"] == "f1"]
    assert f1[f1["version"] == "current"][["label", "value", "support"]].values.tolist() == [
        ["LOC", 0.0, 0], ["PER", 0.7, 1]]
    assert f1[f1["version"] == "previous"]["value"].tolist() == [0.5, 0.1]
    assert set(report.compare_frame(scores({"PER": 1.0}, 1.0))["version"]) == {"current"}
