"""Tests for core.predict and core.review.model_check: the model calls pages and commands share, with the tiny random
BERT of tests/conftest.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from core import formats, predict, report, review
from core.model import Tagger
from core.train import evaluate

DATA = Path(__file__).parent / "data"
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


@pytest.fixture(scope="module")
def folder(tiny_model, tmp_path_factory) -> str:
    """A saved version folder: the tiny encoder with a (random) head for the sample's labels."""
    out = tmp_path_factory.mktemp("version") / "v1"
    Tagger.load(tiny_model, labels=LABELS).save(out)
    return str(out)


@pytest.fixture
def pid(store) -> int:
    """Project p: the first 6 sample sentences as train (gold), the next 4 unlabelled."""
    corpus = formats.read(DATA / "sample.conll").sentences
    pid = store.create_project("p", ["PER", "LOC", "ORG", "MISC"])
    store.import_sentences(pid, corpus[:6], split="train")
    store.import_sentences(pid, [formats.Sentence(s.words, None, s.text, s.offsets) for s in corpus[6:10]],
                           split="unlabeled")
    return pid


def test_serving_loads_the_serving_version_while_its_folder_is_there(store, pid, folder, tmp_path):
    assert predict.serving(store, pid) == (None, None)
    loaded = []
    gone = store.add_model(pid, folder=str(tmp_path / "gone"), base_model="tiny", status="ready")
    store.promote(gone)
    assert predict.serving(store, pid, loader=loaded.append) == (None, store.model(gone)) and not loaded
    store.promote(store.add_model(pid, folder=folder, base_model="tiny", status="ready"))
    tagger, model = predict.serving(store, pid, loader=lambda f: loaded.append(f) or predict.load(f, device="cpu"))
    assert loaded == [folder] and model.folder == folder and tagger.labels == LABELS


def test_tag_ids_and_score_match_the_tagger(store, pid, folder):
    tagger = predict.load(folder, device="cpu")
    rows = store.sentences(pid)
    tagged = predict.tag_ids(store, tagger, pid, [rows[1].id, rows[7].id])
    assert list(tagged) == [rows[1].id, rows[7].id]
    for row in (rows[1], rows[7]):
        [pred] = tagger.predict([row.words])
        tags, scores = tagged[row.id]
        assert tags == list(pred.tags) and scores == pytest.approx(list(pred.scores)) and len(tags) == len(row.words)
    data = report.labelled(store, pid, "train")
    scored = predict.score(tagger, data)
    assert len(data.ids) == 6 and scored == evaluate(tagger, data.words, data.tags)


def test_model_check_lists_the_human_labels_the_model_contradicts(store, pid, folder):
    tagger = predict.load(folder, device="cpu")
    rows = store.sentences(pid, split="unlabeled")
    predicted = predict.tag_rows(tagger, rows)
    for row in rows[:2]:  # a human label equal to the model's tags, and one that contradicts them everywhere
        store.save_human(row.id, predicted[row.id][0], annotator="ann")
    wrong = ["O" if t != "O" else "B-PER" for t in predicted[rows[2].id][0]]
    store.save_human(rows[2].id, wrong, annotator="ann")
    found = review.model_check(store, pid, tagger)
    assert [d["sentence_id"] for d in found] == [rows[2].id]
    assert found[0]["tokens"] == list(range(len(wrong))) and found[0]["source"] == "human"
    assert review.model_check(store, pid, tagger, limit=0) == []
