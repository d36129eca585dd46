"""Model interoperability: the model card of a version folder, ONNX export (onnxruntime agrees with PyTorch), and
Hugging Face `datasets` export and import through a project."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from core import formats, onnx_model
from core.formats import FormatError, Sentence
from core.model import Tagger
from core.store import ModelVersion, Store
from tests.test_cli import DEV, FAST, TRAIN, new_project, ok, run

SENTENCES = [["John", "Smith", "visited", "Paris", "on", "Monday", "."],
             ["The", "bank", "said", "prices", "were", "up", "."],
             ["Mary"],
             ["He", "met", "the", "president", "of", "the", "company", "in", "London", "and", "Berlin", "after",
              "the", "news", "reports", "about", "the", "market", "this", "week", "."] * 3]


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model) -> str:
    """Project `news` (sample train and dev files) with one version trained through the CLI."""
    db = new_project(tmp_path_factory.mktemp("interop"))
    ok("--db", db, "train", "--project", "news", "--model", tiny_model, *FAST)
    return db


@pytest.fixture(scope="module")
def version(project) -> ModelVersion:
    [model] = Store(project).models(1)
    return model


def test_model_card_in_the_version_folder(project, version):
    folder = Path(version.folder)
    card = (folder / "README.md").read_text(encoding="utf-8")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert card.startswith("---\nlibrary_name: transformers\npipeline_tag: token-classification\n")
    assert f"- Base model: `{metrics['config']['model']}`" in card  # a local folder: no base_model in the header
    assert "base_model:" not in card
    assert "tags (IOB2): O, B-LOC, I-LOC, B-MISC, I-MISC, B-ORG, I-ORG, B-PER, I-PER" in card
    store = Store(project)
    train_n = sum(1 for s in store.sentences(1, split="train") if s.tags is not None)
    dev_rows = [s for s in store.sentences(1, split="dev") if s.tags is not None]
    assert f"| train | {train_n} | {metrics['train_tokens']} |" in card
    assert f"| dev | {len(dev_rows)} | {sum(len(s.words) for s in dev_rows)} |" in card
    assert "| test | 0 | 0 |" in card
    for label, row in metrics["dev"]["per_class"].items():
        assert f"| {label} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |" in card
    assert "- nerloop version: 0.1.0" in card
    assert re.search(r"^- Made by: training job 1 of project 'news', started by `nerloop --db \S+ train --project news "
                     r"--model [^`]+`$", card, re.M)
    assert f"| lr | `{metrics['config']['lr']}` |" in card


def test_version_folder_with_its_card_loads_in_a_pipeline(version):
    from transformers import pipeline

    tagger = pipeline("token-classification", model=version.folder, device="cpu")
    out = tagger("John Smith visited Paris on Monday.")
    assert all(item["entity"] in Tagger.load(version.folder).labels for item in out)


def test_model_card_of_a_warm_start_names_the_first_base(tmp_path, tiny_model):
    from core.train import TrainConfig, run as run_training

    data = formats.read(TRAIN).sentences[:20]
    first = tmp_path / "first"
    run_training(TrainConfig(model=tiny_model, epochs=1, min_steps=2), data, out=first,
                 about={"command": "first run", "test_sentences": 7})
    run_training(TrainConfig(model=str(first), epochs=1, min_steps=2), data, out=tmp_path / "second")
    card = (tmp_path / "second" / "README.md").read_text()
    assert f"- Base model: `{tiny_model}` (warm start from an earlier version)" in card
    assert "No dev set: the last state was kept." in card
    first_card = (first / "README.md").read_text()
    assert "- Made by: `first run`" in first_card and "| test | 7 | - |" in first_card


def test_model_card_of_an_app_job_on_the_default_encoder():
    from core.card import render

    card = render({"job": "training job 3 of project 'x|y'", "command": None, "labels": ["O", "B-A", "I-A"],
                   "config": {"model": "default", "freeze": "a|b"}})
    assert "- Made by: training job 3 of project 'x|y', started without a command line (the app)" in card
    assert "base_model:\n- sentence-transformers/all-MiniLM-L6-v2\n---" in card
    assert "| freeze | `\"a\\|b\"` |" in card  # a pipe inside a table cell is escaped


def test_onnx_predictions_agree_with_pytorch(version, tmp_path):
    out = onnx_model.export(version.folder, tmp_path / "model.onnx")
    ours = Tagger.load(version.folder)
    onnx = onnx_model.load(out, version.folder, threads=1)
    sentences = SENTENCES + [s.words for s in formats.read(DEV).sentences]
    want, got = ours.predict(sentences, batch_size=4), onnx.predict(sentences, batch_size=4)
    assert [p.tags for p in got] == [p.tags for p in want]
    assert any(t != "O" for p in want for t in p.tags)  # something to agree on besides O
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-4)
    import onnx as onnx_lib

    meta = {p.key: p.value for p in onnx_lib.load(str(out)).metadata_props}
    assert json.loads(meta["nerloop_labels"]) == ours.labels and json.loads(meta["nerloop_shape"]) is True


def test_onnx_refuses_a_folder_of_other_labels(version, tmp_path, tiny_model):
    out = onnx_model.export(version.folder, tmp_path / "model.onnx")
    other = tmp_path / "other"
    Tagger.load(tiny_model, labels=["O", "B-X", "I-X"]).save(other)
    with pytest.raises(ValueError, match="are not those of the model folder"):
        onnx_model.load(out, other)


def test_export_model_command(project, version, tmp_path):
    out = tmp_path / "v1.onnx"
    printed = ok("--db", project, "export-model", "v1", "--project", "news", "--onnx", str(out))
    assert f"wrote {out}: model v1 (id {version.id})" in printed and out.stat().st_size > 0
    code, _, err = run("--db", project, "export-model", "v1", "--onnx", str(out))
    assert code == 2 and "needs --project" in err
    code, _, err = run("--db", project, "export-model", "v9", "--project", "news", "--onnx", str(out))
    assert code == 2 and "has no model version 'v9'" in err
    code, _, err = run("--db", project, "export-model", "999", "--onnx", str(out))
    assert code == 2 and "not found" in err


def test_export_model_without_onnxruntime(project, version, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_model, "missing", lambda: ["onnxruntime"])
    code, _, err = run("--db", project, "export-model", str(version.id), "--onnx", str(tmp_path / "m.onnx"))
    assert code == 1 and "needs onnxruntime: pip install 'nerloop[onnx]'" in err
    assert not (tmp_path / "m.onnx").exists()


def test_hf_export_loads_with_datasets_and_imports_back(project, tmp_path):
    import datasets

    held_out = tmp_path / "test.conll"
    held_out.write_text("Mary B-PER\nwent O\nto O\nLondon B-LOC\n\nNothing O\nhere O\n")
    ok("--db", project, "import", "news", str(held_out), "--split", "test")
    store = Store(project)
    out = tmp_path / "news_hf"
    printed = ok("--db", project, "export", "news", "--format", "hf", "--out", str(out))
    assert "news_hf (a hf folder)" in printed
    loaded = datasets.load_from_disk(str(out))
    project_tags = ["O"] + [f"{p}-{t}" for t in sorted(store.project(1).labels) for p in ("B", "I")]
    assert set(loaded) == {"train", "validation", "test"}
    for name, split in (("train", "train"), ("validation", "dev"), ("test", "test")):
        names = loaded[name].features["ner_tags"].feature.names
        assert names == project_tags
        rows = [r for r in store.sentences(1, split=split) if r.tags is not None]
        assert loaded[name]["tokens"] == [r.words for r in rows]
        assert [[names[i] for i in tags] for tags in loaded[name]["ner_tags"]] == [r.tags for r in rows]

    db2 = str(tmp_path / "copy.db")
    ok("--db", db2, "init", "copy", "--labels", "PER,LOC,ORG,MISC")
    printed = ok("--db", db2, "import", "copy", str(out))  # a folder the sniffer knows as hf
    assert f"{out}: 67 added, 0 duplicates, 67 annotated -> train 50, dev 15, test 2" in printed
    copy = Store(db2)
    for split in ("train", "dev", "test"):
        want = [(r.words, r.tags) for r in store.sentences(1, split=split) if r.tags is not None]
        assert [(r.words, r.tags) for r in copy.sentences(1, split=split)] == want


def test_hf_unlabelled_sentences_round_trip(tmp_path):
    labelled = Sentence(["John", "went"], ["B-PER", "O"], "John went", [(0, 4), (5, 9)], "doc-1", split="train")
    bare = Sentence(["no", "tags"], None, "no tags", [(0, 2), (3, 7)], split="unlabeled")
    data = formats.dumps([labelled, bare], "hf", labels=["O", "B-PER", "I-PER"])
    formats.write_folder(tmp_path / "d", data, "hf")
    for back in (formats.read(tmp_path / "d").sentences, formats.loads(data, name="d.zip").sentences):
        assert [(s.words, s.tags, s.doc_id, s.split) for s in back] == [
            (["John", "went"], ["B-PER", "O"], "doc-1", "train"), (["no", "tags"], None, None, "unlabeled")]
    with pytest.raises(ValueError, match=r"tags \['B-LOC'\] are not in the label set"):
        formats.dumps([Sentence(["Paris"], ["B-LOC"], "Paris", [(0, 5)])], "hf", labels=["O"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a hf folder"):
        formats.write_folder(tmp_path / "other", data, "hf")
    assert (tmp_path / "other" / "mine.txt").read_text() == "keep"


def test_hf_import_of_a_bad_folder_names_split_and_row(project, tmp_path):
    import datasets

    bad = datasets.DatasetDict({"train": datasets.Dataset.from_dict(
        {"tokens": [["John"], ["a", "b"]], "ner_tags": [["B-PER"], ["O"]]})})
    bad.save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(FormatError, match=r"bad \[train\]:2: 2 tokens but 1 ner_tags"):
        formats.read(tmp_path / "bad")
    before = len(Store(project).sentences(1))
    code, _, err = run("--db", project, "import", "news", str(tmp_path / "bad"), "--format", "hf")
    assert code == 2 and "[train]:2: 2 tokens but 1 ner_tags" in err
    assert len(Store(project).sentences(1)) == before
    code, _, err = run("--db", project, "import", "news", str(tmp_path), "--format", "hf")
    assert code == 2 and "not a saved Dataset or DatasetDict" in err
