"""The live head (core.live) and its learner (core.learner): states cached once per version and sentence, a refit
after every save, a killed learner restarted with nothing lost, the head used only while it beats its version."""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from core import annotate, formats, learner, live, procs, versions
from core.config import DEFAULT
from core.model import Tagger, viterbi, _allowed_transitions
from core.store import Store
from core.train import TrainConfig, run

DATA = Path(__file__).parent / "data"
LABELS = ["PER", "LOC", "ORG", "MISC"]


@pytest.fixture
def project(tmp_path) -> tuple[Store, int]:
    """Project `news`: 10 labelled train sentences of sample.conll, sample_dev.conll as dev, the rest unlabelled."""
    store = Store(tmp_path / "nerloop.db")
    pid = store.create_project("news", LABELS)
    sentences = formats.read(DATA / "sample.conll").sentences
    store.import_sentences(pid, sentences[:10], split="train")
    store.import_sentences(pid, formats.read(DATA / "sample_dev.conll").sentences, split="dev")
    store.import_sentences(pid, [dataclasses.replace(s, tags=None) for s in sentences[10:]], split="unlabeled")
    yield store, pid
    store.close()


@pytest.fixture
def load(tiny_model):
    """The learner's loader with the tiny model as the base encoder."""
    return lambda name, labels: Tagger.load(tiny_model if name == DEFAULT else name, labels=labels, device="cpu")


def settle(pl: learner.ProjectLearner) -> list[str]:
    """Step until there is nothing left to do; the steps taken."""
    steps = []
    while (step := pl.step()) != "idle":
        steps.append(step)
        assert len(steps) < 100
    return steps


def serve_version(store: Store, pid: int, tiny_model: str, tmp_path: Path) -> int:
    """Train a version on the project's labels with the tiny model, register and promote it."""
    train, dev = versions.training_data(store, pid)
    out = tmp_path / "v"
    run(TrainConfig(model=tiny_model, min_steps=10, floor_low=10, device="cpu", time_budget=0, lr=1e-3,
                    labels=None), [(r.words, r.tags) for r in train], [(r.words, r.tags) for r in dev], out)
    model_id = store.add_model(pid, folder=str(out), base_model=tiny_model, metrics={})
    store.promote(model_id)
    return model_id


def test_viterbi_many_agrees_with_the_one_sentence_viterbi():
    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    start, trans = _allowed_transitions(labels)
    rng = np.random.default_rng(0)
    lengths = [5, 1, 0, 9, 3]
    logp = np.log(rng.dirichlet(np.ones(len(labels)), size=sum(lengths)))
    many = live.viterbi_many(logp, lengths, start, trans)
    at = 0
    for n, path in zip(lengths, many):
        assert path == (viterbi(logp[at:at + n], start, trans) if n else [])
        at += n


def test_a_predictions_file_decodes_each_sentence_as_the_batch_would(tmp_path):
    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    rng = np.random.default_rng(2)
    lengths = [4, 1, 7]
    probs = rng.dirichlet(np.ones(len(labels)), size=sum(lengths)).astype(np.float32)
    file = live.write_predictions(tmp_path / "p.npz", [7, 8, 9], lengths, probs, labels, {"entropy:mnlp": np.ones(3)})
    read = live.Predictions.read(file)
    paths = live.viterbi_many(np.log(probs.astype(np.float16).astype(np.float32)), lengths,
                              *_allowed_transitions(labels))
    at = 0
    for sid, n, path in zip([7, 8, 9], lengths, paths):
        tags, scores = read.get(sid)
        assert tags == [labels[j] for j in path]
        assert scores == pytest.approx([probs[at + k, j] for k, j in enumerate(path)], abs=1e-3)
        at += n
    assert read.get(10) is None


def test_the_head_reads_states_without_building_features():
    rng = np.random.default_rng(1)
    states = [rng.normal(size=(n, 8)).astype(np.float32) for n in (4, 1, 6)]
    cases = [rng.integers(0, 2, size=(len(s), 6)).astype(np.float32) for s in states]
    x = np.concatenate([live.features(s, c) for s, c in zip(states, cases)])
    head = live.Head.standardised_on(["O", "B-X", "I-X"], x)
    head.fit(x, rng.integers(0, 3, size=len(x)))
    assert np.allclose(head.log_probs_many(states, cases), head.log_probs(x), atol=1e-4)


def test_the_basis_projects_states_on_principal_axes_completed_when_the_sample_is_small():
    rng = np.random.default_rng(2)
    sample = rng.normal(size=(300, 40)).astype(np.float32) * np.linspace(0.1, 5, 40)
    basis = live.Basis.fit(sample, 8)
    assert basis.axes.shape == (40, 8) and np.allclose(basis.axes.T @ basis.axes, np.eye(8), atol=1e-5)
    assert basis(sample).shape == (300, 8)
    small = live.Basis.fit(sample[:3], 8)  # rank 3: the other five axes random, all orthonormal
    assert np.allclose(small.axes.T @ small.axes, np.eye(8), atol=1e-5)


def test_states_are_computed_once_per_version_and_sentence(project, load, tiny_model, tmp_path):
    store, pid = project
    n = len(store.label_index(pid))
    pl = learner.ProjectLearner(store, pid, load=load)
    assert settle(pl)[0] == "fitted"
    assert pl.cache.computed == n and len(pl.cache.states) == n
    store.save_human(store.sentences(pid, split="unlabeled")[0].id, ["O"] * len(
        store.sentences(pid, split="unlabeled")[0].words), annotator="ann")
    assert settle(pl) == ["fitted"]
    assert pl.cache.computed == n  # the refit read cached states: nothing encoded again
    again = learner.ProjectLearner(store, pid, load=load)  # a new process: the states come from disk
    settle(again)
    assert again.cache.computed == 0 and len(again.cache.states) == n
    ranked = live.Predictions.read(store.live_head(pid).file).ranked(learner.ENCODE_ORDER,
                                                                      store.sentence_ids(pid, ("unlabeled",)))
    serve_version(store, pid, tiny_model, tmp_path)  # a new encoder: every sentence once more, for it
    assert again._sync_encoder() and again.first == ranked  # active learning's next sentences are encoded first
    settle(again)
    assert again.encoder.startswith("v") and again.cache.computed == n


def test_a_refit_after_a_save_changes_the_next_predictions(project, load):
    store, pid = project
    pl = learner.ProjectLearner(store, pid, load=load)
    settle(pl)
    before = store.live_head(pid)
    pool = store.sentences(pid, split="unlabeled")
    first = live.Predictions.read(before.file)
    target = pool[0]
    tags = ["B-ORG"] * len(target.words)  # a surprising label: every word an organisation
    saved = store.save_human(target.id, annotate.repair(tags), annotator="ann")
    assert settle(pl) == ["fitted"]
    after = store.live_head(pid)
    assert after.id > before.id and after.annotation_id >= saved and after.train_sentences == 11
    second = live.Predictions.read(after.file)
    neighbours = [r.id for r in pool[1:]]
    changed = [i for i in neighbours if first.get(i) != second.get(i)]
    assert changed  # the sentences shown next are pre-tagged by a head that has seen the save
    orgs = lambda p: sum(t.endswith("ORG") for i in neighbours for t in p.get(i)[0])  # noqa: E731
    assert orgs(second) > orgs(first)


def test_active_learning_ranks_fragments_and_repeated_sentences_last(project, load):
    store, pid = project
    words = ["London", "said", "on", "Monday", "that", "prices", "rose"]
    store.import_sentences(pid, [formats.Sentence(words, None, " ".join(words), [(0, 0)] * 7, doc_id=f"d{k}")
                                 for k in range(3)] + [formats.Sentence(["Paris"], None, "Paris", [(0, 5)])],
                           split="unlabeled")
    copies = store.sentence_ids(pid, ("unlabeled",))[-4:-1]
    fragment = store.sentence_ids(pid, ("unlabeled",))[-1]
    assert store.repeats(pid) == set(copies[1:])  # the first copy is worth labelling once
    pl = learner.ProjectLearner(store, pid, load=load)
    settle(pl)
    pool = store.sentence_ids(pid, ("unlabeled",))
    ranked = live.Predictions.read(store.live_head(pid).file).ranked("entropy:mnlp", pool)
    assert ranked[-2:] == copies[1:] and ranked[-3] == fragment and copies[0] in ranked[:-3]
    store.save_human(copies[0], ["O"] * 7, annotator="ann")  # labelled: every copy repeats it now
    assert store.repeats(pid) == set(copies[1:])
    settle(pl)
    ranked = live.Predictions.read(store.live_head(pid).file).ranked("entropy:mnlp",
                                                                     store.sentence_ids(pid, ("unlabeled",)))
    assert ranked[-2:] == copies[1:] and ranked[-3] == fragment


def test_without_a_dev_split_a_share_of_the_labels_scores_the_head(project, load):
    store, pid = project
    store.set_split([r.id for r in store.sentences(pid, split="dev")], "test")
    pl = learner.ProjectLearner(store, pid, load=load)
    settle(pl)
    head = store.live_head(pid)
    assert head.held_out and head.dev_sentences == 2 and head.train_sentences == 8  # every 5th of 10


def test_the_live_head_serves_only_while_it_beats_its_version(project, load, tiny_model, tmp_path):
    store, pid = project
    pl = learner.ProjectLearner(store, pid, load=load)
    settle(pl)
    head = store.live_head(pid)
    assert head.model_id is None and head.base_f1 is None
    assert learner.serving_head(store, pid) == head  # nothing else serves: the head does
    worse = dataclasses.replace(head, dev_f1=0.3, base_f1=0.5)
    assert not worse.better and dataclasses.replace(head, dev_f1=0.5, base_f1=0.5).better
    model_id = serve_version(store, pid, tiny_model, tmp_path)
    assert learner.serving_head(store, pid) is None  # the head sits on the base encoder, not on the new version
    settle(pl)
    on_version = store.live_head(pid)
    assert on_version.model_id == model_id and on_version.base_f1 is not None
    expected = on_version if on_version.dev_f1 >= on_version.base_f1 else None
    assert learner.serving_head(store, pid) == expected
    store.add_live_head(pid, **{**{k: getattr(on_version, k) for k in (
        "model_id", "encoder", "annotation_id", "train_sentences", "dev_sentences", "fit_seconds", "predicted",
        "file")}, "held_out": 0, "dev_f1": 0.1, "base_f1": 0.9})
    assert learner.serving_head(store, pid) is None  # below its version: the version pre-tags


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_a_killed_learner_is_restarted_and_nothing_is_lost(project, tiny_model, tmp_path):
    store, pid = project
    serve_version(store, pid, tiny_model, tmp_path)  # the learner process reads the version's encoder
    first = learner.ensure(store, parent=os.getpid())
    try:
        tagged = len(store.sentence_ids(pid, ("unlabeled", "train")))
        wait_for(lambda: (h := store.live_head(pid)) and h.predicted == tagged, 120, "the first learner's head")
        assert learner.running(store) == first
        psutil.Process(first).kill()
        wait_for(lambda: learner.running(store) is None, 30, "the learner to be gone")
        row = store.sentences(pid, split="unlabeled")[0]
        saved = store.save_human(row.id, ["O"] * len(row.words), annotator="ann")  # saved while none runs
        second = learner.ensure(store, parent=os.getpid())
        assert second != first
        head = wait_for(lambda: (h := store.live_head(pid)) and h.annotation_id >= saved and h, 120,
                        "a head that has seen the save")
        assert head.train_sentences == 11
        assert learner.ensure(store, parent=os.getpid()) == second  # one learner per database
        chunks = sorted((learner.states_root(store) / str(pid)).glob("*/chunk-*.npz"))
        ids = np.concatenate([np.load(c)["ids"] for c in chunks])
        assert len(ids) == len(set(ids.tolist())) == len(store.label_index(pid))  # nothing encoded twice
        assert not [c for c in psutil.Process().children() if c.status() == psutil.STATUS_ZOMBIE
                    and c.pid == first]  # the killed one was waited for
    finally:
        learner.stop(store)
    assert learner.running(store) is None


def test_annotate_is_pre_tagged_by_the_live_head_and_follows_each_save(project, load, monkeypatch):
    """The page says the live head pre-tagged the sentence and after how many labels; a save, a refit, and the page
    shows the newer head (this test process holds the learner's claim and steps it itself)."""
    from apptest import open_app

    store, pid = project
    monkeypatch.setenv(learner.OFF, "1")
    assert store.claim_learner(os.getpid(), procs.start_time(), free=lambda claim: True)
    pl = learner.ProjectLearner(store, pid, load=load)
    settle(pl)
    at = open_app(pid, "pages/annotate.py", monkeypatch=monkeypatch, db=store.path, annotate_filter="unlabeled")
    text = " ".join(m.value for m in at.markdown)
    assert "pre-tagged by the live head on the base encoder (10 labels seen, dev F1" in text
    sid = at.session_state["annotate_sentence_id"]
    shown = live.Predictions.read(store.live_head(pid).file).get(sid)[0]
    assert at.session_state["annotate_drafts"][sid].tags == shown  # it opened with the head's tags
    captions = " ".join(c.value for c in at.caption)
    assert "Live head on the base encoder, refitted after every save: dev F1" in captions and "after 10 labels" in captions
    at.button(key="annotate_save").click().run()
    assert settle(pl) == ["fitted"]
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "(11 labels seen" in text and at.session_state["annotate_sentence_id"] != sid
    assert len(at.get("plotly_chart")) == 1  # the dev F1 after each save, as a line
    at.segmented_control(key="annotate_order").set_value("active learning").run()
    head = store.live_head(pid)
    pool = store.sentence_ids(pid, ("unlabeled",))
    ranked = live.Predictions.read(head.file).ranked("entropy:mnlp", pool)
    assert len(ranked) == len(pool) and at.session_state["annotate_queue"] == ranked  # the head's uncertainty
    assert "ranks the unlabelled pool by the uncertainty of the live head" in " ".join(c.value for c in at.caption)
    store.release_learner(os.getpid())


def test_nerloop_learn_runs_the_learner_headless(project, tiny_model, tmp_path, capsys):
    from core.cli import main

    store, pid = project
    model_id = serve_version(store, pid, tiny_model, tmp_path)
    assert main(["--db", str(store.path), "learn", "news", "--once"]) == 0
    head = store.live_head(pid)
    assert head.model_id == model_id and head.train_sentences == 10
    assert head.predicted == len(store.sentence_ids(pid, ("unlabeled", "train")))  # dev is for scoring
    assert store.learner_claim() is None  # released on the way out
    assert store.claim_learner(os.getpid(), procs.start_time(), free=lambda claim: True)
    assert main(["--db", str(store.path), "learn", "--once"]) == 2
    assert f"a learner already serves {store.path} (process {os.getpid()})" in capsys.readouterr().err
    store.release_learner(os.getpid())


def test_a_refit_cut_by_its_deadline_is_resumed_while_idle_and_drawn_once(project, load, monkeypatch):
    store, pid = project
    pl = learner.ProjectLearner(store, pid, load=load)
    settle(pl)  # the first fit is cold: it runs to the end
    assert not pl.head.cut
    monkeypatch.setattr(live, "FIT_S", 0.0)  # every warm refit is out of time at once
    monkeypatch.setattr(learner, "POLISH", 2)
    target = store.sentences(pid, split="unlabeled")[0]
    store.save_human(target.id, ["O"] * len(target.words), annotator="ann")
    heads = len(store.live_curve(pid, None))
    assert settle(pl) == ["fitted", "polished", "polished"]  # published at once, then resumed twice, then idle
    assert pl.head.cut
    curve = store.live_curve(pid, None)
    assert len(curve) == heads + 1 and curve[-1][0] == 11  # three refits on the same labels: one point
    monkeypatch.setattr(live, "FIT_S", 30.0)
    pl.head.cut, pl.polished = True, 0
    assert settle(pl) == ["polished"] and not pl.head.cut  # a resumed fit that ends in time is the last


def test_a_fit_out_of_time_keeps_its_weights_and_says_it_was_cut():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(60, 8)).astype(np.float32), rng.integers(0, 3, size=60)
    head = live.Head.standardised_on(["O", "B-A", "I-A"], x).fit(x, y)
    assert not head.cut
    weight = head.weight.clone()
    head.fit(x, y, seconds=0.0)
    assert head.cut and torch.equal(head.weight, weight)


def test_the_learner_reads_again_only_the_sentences_whose_labels_changed(project, load, monkeypatch):
    store, pid = project
    pl = learner.ProjectLearner(store, pid, load=load)

    def same() -> bool:
        mine, theirs = pl._training_data(), versions.training_data(store, pid)
        return all([(r.id, r.tags) for r in a] == [(r.id, r.tags) for r in b] for a, b in zip(mine, theirs))

    assert same()
    read = []
    original = store.sentences
    monkeypatch.setattr(store, "sentences", lambda *a, **k: read.append(k.get("ids")) or original(*a, **k))
    pl._training_data()
    assert read == []  # nothing changed: no sentence loaded
    train = versions.training_data(store, pid)[0]
    store.save_human(train[0].id, ["O"] * len(train[0].words), annotator="ann")  # a correction
    target = original(pid, split="unlabeled")[0]
    store.save_human(target.id, ["O"] * len(target.words), annotator="ann")  # a new label
    store.flag([train[1].id], True)  # junk: out
    assert same()
    assert [sorted(ids) for ids in read if ids is not None] == [sorted([train[0].id, target.id])]
