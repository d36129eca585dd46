"""Tests for core.train: learning, the event stream, schedule, early stopping, warm start, atomic saves,
freezing, and two processes under accelerate launch."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.model import Tagger
from core.train import TrainConfig, _freeze, evaluate, run, save_atomic, train
from core.vocab import label_set, seen_types

from small_data import DATASET, TAGS, WORDS

DATA = Path(__file__).parent / "data"


def config(model: str, **kw) -> TrainConfig:
    base = dict(model=model, lr=5e-3, head_lr=1e-2, batch_size=8, min_steps=150, device="cpu", seed=7)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def memorised(tiny_model, tmp_path_factory) -> tuple[Path, list]:
    """150 steps on the small dataset, dev = train: the saved folder and every event."""
    out = tmp_path_factory.mktemp("memorised") / "v1"
    events = list(train(config(tiny_model), DATASET, DATASET[:8], out))
    return out, events


def test_loss_falls_and_training_set_is_memorised(memorised):
    out, events = memorised
    steps = [e for e in events if e.kind == "step"]
    assert steps[0].loss > 1.0 > 0.1 > steps[-1].loss
    tagger = Tagger.load(str(out), device="cpu")
    result = evaluate(tagger, WORDS, TAGS)
    assert result.scores["micro"]["f1"] == result.f1 == 1.0
    assert [p.tags for p in tagger.predict(WORDS)] == result.predicted == TAGS


def test_event_stream(memorised):
    out, events = memorised
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "saved" and kinds.count("saved") == 1
    assert set(kinds[1:-1]) == {"step", "eval"} and kinds[1] == "step"
    start, last = events[0], events[-1]
    total = start.total_steps
    assert start.info["epochs"] * start.info["steps_per_epoch"] == total == 152  # 4 per epoch, 38 epochs
    assert start.info["labels"] == label_set(seen_types(TAGS)) and start.info["processes"] == 1
    steps = [e.step for e in events if e.kind == "step"]
    assert steps == list(range(1, len(steps) + 1)) and total // 2 <= len(steps) <= total  # may stop on a plateau
    assert all(e.total_steps == total for e in events)
    evals = [e for e in events if e.kind == "eval"]
    assert evals and evals[-1].step == steps[-1] == last.step
    assert all("f1" in e.scores["micro"] for e in evals) and evals[0].is_best
    assert last.path == str(out) and last.scores["micro"]["f1"] == 1.0
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "metrics.json", "tokenizer.json", "tokenizer_config.json"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["labels"] == start.info["labels"] and metrics["steps"] == last.step
    assert metrics["dev"]["micro"]["f1"] == 1.0 and metrics["config"]["min_steps"] == 150
    assert sorted(p.name for p in out.parent.iterdir()) == ["v1"]  # no temp folder left beside it


def start_event(cfg: TrainConfig, data=DATASET):
    """Only the first event (the model is loaded, nothing trained)."""
    gen = train(cfg, data)
    try:
        return next(gen)
    finally:
        gen.close()


def test_min_steps_adds_epochs(tiny_model):
    ev = start_event(config(tiny_model, epochs=1, min_steps=20))
    assert (ev.info["steps_per_epoch"], ev.info["epochs"], ev.total_steps) == (4, 5, 20)
    ev = start_event(config(tiny_model, epochs=2, min_steps=0))
    assert (ev.info["epochs"], ev.total_steps) == (2, 8)
    ev = start_event(config(tiny_model, epochs=3, min_steps=5))
    assert ev.info["epochs"] == 3


def test_warm_start_uses_its_own_minimum(memorised):
    out1, _ = memorised
    ev = start_event(config(str(out1), epochs=1, min_steps=400, warm_min_steps=12))
    assert ev.info["warm_start"] and ev.total_steps == 12


def test_bad_data_is_refused(tiny_model):
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        start_event(config(tiny_model), [{"words": ["a", "b"], "tags": ["O"]}])
    with pytest.raises(ValueError, match="not in the label set"):
        start_event(config(tiny_model, labels=["O", "B-PER", "I-PER"]))


def test_early_stopping(tiny_model, tmp_path):
    # nothing is learnt at lr 0: the second dev evaluation cannot improve and patience 1 stops training
    cfg = config(tiny_model, lr=0.0, head_lr=0.0, min_steps=40, patience=1, min_eval_interval=1, small_evals=0)
    events = list(train(cfg, DATASET, DATASET[:8], tmp_path / "m"))
    evals = [e for e in events if e.kind == "eval"]
    assert [e.step for e in evals] == [4, 8] and [e.is_best for e in evals] == [True, False]
    assert events[-1].kind == "saved" and events[-1].step == 8 < events[-1].total_steps == 40
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["best_step"] == 4


def test_warm_start_keeps_the_earlier_version(memorised, tmp_path):
    out1, _ = memorised
    cfg = config(str(out1), lr=0.0, head_lr=0.0, min_steps=4, warm_min_steps=4)
    assert run(cfg, DATASET, (), tmp_path / "v2").kind == "saved"
    v1, v2 = Tagger.load(str(out1), device="cpu"), Tagger.load(str(tmp_path / "v2"), device="cpu")
    assert v2.labels == v1.labels and v2.shape
    s1, s2 = v1.model.state_dict(), v2.model.state_dict()
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    sentences = WORDS + [["Smith", "visited", "Berlin", "today", "."]]
    for a, b in zip(v1.predict(sentences), v2.predict(sentences)):
        assert a.tags == b.tags
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)


def test_crash_while_saving_keeps_the_old_folder(memorised, tmp_path, monkeypatch):
    folder = tmp_path / "A"
    shutil.copytree(memorised[0], folder)
    before = Tagger.load(str(folder), device="cpu").predict(WORDS)
    tagger = Tagger.load(str(folder), device="cpu")
    with torch.no_grad():
        tagger.model.classifier.weight.mul_(-1.0)  # new weights that predict differently
    assert [p.tags for p in tagger.predict(WORDS)] != [p.tags for p in before]

    def broken_save(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "model.safetensors").write_bytes(b"partial")
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(Tagger, "save", broken_save)
        with pytest.raises(OSError, match="disk full"):
            save_atomic(tagger, folder, {"x": 1})
        with pytest.raises(OSError, match="disk full"):
            save_atomic(tagger, tmp_path / "B", {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A"]  # no B, no temp folder
    after = Tagger.load(str(folder), device="cpu").predict(WORDS)
    assert [p.tags for p in after] == [p.tags for p in before]
    assert json.loads((folder / "metrics.json").read_text())["labels"] == label_set(seen_types(TAGS))

    # a save that works replaces the folder and leaves nothing beside it
    save_atomic(tagger, folder, {"x": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A"]
    assert json.loads((folder / "metrics.json").read_text()) == {"x": 2}
    assert [p.tags for p in Tagger.load(str(folder), device="cpu").predict(WORDS)] == [
        p.tags for p in tagger.predict(WORDS)
    ]


def trained_params(tiny_model: str, out: Path, freeze: str) -> tuple[dict, dict]:
    """Parameters of the encoder before and after a short training with `freeze`."""
    labels = label_set(seen_types(TAGS))
    before = Tagger.load(tiny_model, labels=labels, device="cpu").model.base_model.state_dict()
    run(config(tiny_model, min_steps=8, freeze=freeze, labels=labels), DATASET, (), out)
    after = Tagger.load(str(out), device="cpu").model.base_model.state_dict()
    return before, after


def changed(before: dict, after: dict, prefix: str) -> list[bool]:
    keys = [k for k in before if k.startswith(prefix)]
    assert keys, prefix
    return [not torch.equal(before[k], after[k]) for k in keys]


def test_freeze_embeddings(tiny_model, tmp_path):
    before, after = trained_params(tiny_model, tmp_path / "m", "embeddings")
    assert not any(changed(before, after, "embeddings.word_embeddings"))
    assert not any(changed(before, after, "embeddings.position_embeddings"))
    assert any(changed(before, after, "encoder.layer.0."))
    assert any(changed(before, after, "encoder.layer.1."))


def test_freeze_top_layers(tiny_model, tmp_path):
    before, after = trained_params(tiny_model, tmp_path / "m", "top-1")
    assert not any(changed(before, after, "embeddings."))
    assert not any(changed(before, after, "encoder.layer.0."))
    assert any(changed(before, after, "encoder.layer.1."))


@pytest.mark.parametrize("how", ["all", "top-x", "bottom-1"])
def test_freeze_bad_value(tiny_model, how):
    model = Tagger.load(tiny_model, labels=["O", "B-PER", "I-PER"], device="cpu").model
    with pytest.raises(ValueError):
        _freeze(model, how)


def test_accelerate_launch_trains_two_cpu_processes_as_one_run(tiny_model, tmp_path):
    """`accelerate launch --cpu --num_processes 2` (which starts one process: nerloop starts the second) trains one
    run in two processes (gloo) with the batches and schedule of one process: without dropout, the same steps, the
    same dev F1 and the same weights as one process; only the first process writes."""
    from core.cli import main

    args = ["train", "--train", str(DATA / "sample.conll"), "--dev", str(DATA / "sample_dev.conll"), "--model",
            tiny_model, "--epochs", "2", "--min-steps", "0", "--batch-size", "8", "--lr", "5e-3", "--head-lr", "1e-2",
            "--dropout", "0", "--shape-dropout", "0", "--patience", "0", "--time-budget", "0", "--seed", "3"]
    one, two = tmp_path / "one" / "model", tmp_path / "two" / "model"
    assert main([*args, "--out", str(one)]) == 0
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
           "--num_cpu_threads_per_process", "1", "-m", "core.cli", "-v", *args, "--out", str(two)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1],
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es)" in proc.stderr and proc.stderr.count("saved the model") == 1  # the first process logs
    assert [p.name for p in two.parent.iterdir()] == ["model"]  # one folder: no temp, nothing from rank 1
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (one, two))
    assert (m1["processes"], m2["processes"]) == (1, 2)
    # 50 sentences in batches of 8: 7 steps an epoch whatever the processes, 14 steps, every sentence twice
    for key in ("steps_per_epoch", "steps", "train_windows_seen", "best_step"):
        assert m1[key] == m2[key], key
    assert m2["steps_per_epoch"] == 7 and m2["train_windows_seen"] == 100
    assert m2["dev"]["micro"]["f1"] == pytest.approx(m1["dev"]["micro"]["f1"], abs=0.02)
    w1, w2 = (load_file(d / "model.safetensors") for d in (one, two))
    assert w1.keys() == w2.keys()
    for name in w1:
        torch.testing.assert_close(w1[name], w2[name], atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("bad", [{"freeze": "top-x"}, {"epochs": 0}, {"lr": -1.0}, {"batch_size": 0}])
def test_config_rejects_bad_values_early(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        TrainConfig(**bad)


def test_micro_batches_give_the_whole_batch_gradient(tiny_model):
    from core.train import _loss, micro_batches

    tagger = Tagger.load(tiny_model, labels=label_set(seen_types(TAGS)), device="cpu")
    words = WORDS + ["John visited Paris and Berlin with Mary Smith on Monday .".split()]
    tags = TAGS + [["B-PER", "O", "B-LOC", "O", "B-LOC", "O", "B-PER", "I-PER", "O", "O", "O"]]
    batch = tagger.collate(sorted(tagger.windows(words, tags), key=lambda w: len(w.input_ids)), labels=True)
    pieces = micro_batches(dict(batch), max_tokens=3 * batch["input_ids"].shape[1])
    assert len(pieces) > 1 and abs(sum(share for _, share in pieces) - 1.0) < 1e-9
    assert all(p["input_ids"].shape[1] <= batch["input_ids"].shape[1] for p, _ in pieces)

    def grads(parts):
        tagger.model.zero_grad()
        tagger.model.eval()  # no dropout: both ways see the same function
        for piece, share in parts:
            (_loss(tagger.model, dict(piece)) * share).backward()
        return {n: p.grad.clone() for n, p in tagger.model.named_parameters() if p.grad is not None}

    whole, split = grads([(dict(batch), 1.0)]), grads(pieces)
    assert whole.keys() == split.keys()
    for name in whole:
        torch.testing.assert_close(whole[name], split[name], atol=1e-5, rtol=1e-4)


def test_a_loader_that_ends_early_still_ends_with_an_evaluation(tiny_model, tmp_path, monkeypatch):
    import core.train as trainer

    whole = trainer.LengthGroupedBatches.__iter__

    def one_short(self):  # as a sharded loader can be: the second epoch has a batch less than len() says
        batches = list(whole(self))
        return iter(batches[:-1] if self.epoch == 2 else batches)

    monkeypatch.setattr(trainer.LengthGroupedBatches, "__iter__", one_short)
    events = list(train(config(tiny_model, epochs=2, min_steps=0, min_eval_interval=1000), DATASET, DATASET[:8],
                        tmp_path / "m"))
    # every 2 steps (a quarter of 8), and at step 7, where the loader ended
    assert [e.step for e in events if e.kind == "eval"] == [2, 4, 6, 7] and events[0].total_steps == 8
    assert events[-1].kind == "saved" and events[-1].info["steps"] == 7 and events[-1].scores is not None
