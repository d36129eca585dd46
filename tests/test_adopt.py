"""The round trip of a version trained elsewhere: a project exported as a Hugging Face dataset folder, trained on
with `nerloop train --train FOLDER`, brought home with `nerloop models add` (tag set checked, lineage, dev F1
recomputed, promotion by policy); refusals write nothing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import adopt, versions
from core.cli import main
from core.model import Tagger
from core.store import Store
from core.train import evaluate
from core.vocab import label_set

DATA = Path(__file__).parent / "data"
TYPES = ["PER", "LOC", "ORG", "MISC", "DATE"]  # DATE: a type of the project that the sample data never uses
QUICK = ["--epochs", "1", "--min-steps", "4", "--batch-size", "16"]


def ok(*argv: str) -> None:
    assert main(list(argv)) == 0


@pytest.fixture(scope="module")
def trip(tmp_path_factory, tiny_model) -> dict[str, Path]:
    """A project (sample train and dev files), its hf export, and a model trained on the export elsewhere."""
    home, away = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("gpu-box")
    db = home / "nerloop.db"
    ok("--db", str(db), "init", "news", "--labels", ",".join(TYPES))
    ok("--db", str(db), "import", "news", str(DATA / "sample.conll"))
    ok("--db", str(db), "import", "news", str(DATA / "sample_dev.conll"), "--split", "dev")
    ok("--db", str(db), "export", "news", "--format", "hf", "--out", str(away / "news-hf"))
    ok("train", "--train", str(away / "news-hf"), "--out", str(away / "model"), "--model", tiny_model, *QUICK)
    return {"db": db, "away": away, "model": away / "model"}


def leftovers(store: Store) -> list[str]:
    root = versions.model_root(store, 1)
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_training_on_an_hf_export_takes_its_splits_and_tag_set(trip):
    metrics = json.loads((trip["model"] / "metrics.json").read_text())
    assert metrics["labels"] == label_set(TYPES)  # the project's, DATE included, though no sentence has one
    assert (metrics["train_sentences"], metrics["dev_sentences"]) == (50, 15)  # train and validation splits


def test_models_add_registers_scores_and_promotes(trip, capsys):
    ok("--db", str(trip["db"]), "models", "add", "news", str(trip["model"]))
    assert "as v1" in capsys.readouterr().out
    store = Store(trip["db"])
    [model] = store.models(1)
    assert store.serving(1).id == model.id and model.parent_id is None  # the first version serves
    folder = Path(model.folder)
    assert folder.parent == versions.model_root(store, 1) and folder != trip["model"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in trip["model"].iterdir())
    dev = [r for r in store.sentences(1, split="dev") if r.tags is not None]
    f1 = evaluate(Tagger.load(str(folder)), [r.words for r in dev], [r.tags for r in dev]).f1
    assert model.dev_f1 == pytest.approx(f1) and model.metrics["dev_digest"] == versions.dev_digest(dev)
    assert model.metrics["trained_elsewhere"]["train_sentences"] == 50

    # a warm start from a copy of v1, trained away and added: v1 is its parent; never promoted on request
    shutil.copytree(folder, trip["away"] / "v1-copy")
    ok("train", "--train", str(trip["away"] / "news-hf"), "--out", str(trip["away"] / "warm"), "--model",
       str(trip["away"] / "v1-copy"), *QUICK)
    added = adopt.add(store, 1, trip["away"] / "warm", policy="never")
    assert added.parent is not None and added.parent.id == model.id and added.model.parent_id == model.id
    assert not added.promoted and store.serving(1).id == model.id
    assert "Parent version:" in (Path(added.model.folder) / "README.md").read_text()
    assert [a["action"] for a in store.audit()].count("add_model") == 2


def test_a_folder_with_other_tags_is_refused_and_nothing_is_written(trip, tiny_model, tmp_path):
    other = tmp_path / "four-types"
    ok("train", "--train", str(DATA / "sample.conll"), "--out", str(other), "--model", tiny_model, *QUICK)
    store = Store(trip["db"])
    before, folders = [m.id for m in store.models(1)], leftovers(store)
    with pytest.raises(ValueError, match=rf"{other}: its tags are not project 'news'.*missing B-DATE, I-DATE"):
        adopt.add(store, 1, other)
    assert main(["--db", str(trip["db"]), "models", "add", "news", str(other)]) == 2
    assert [m.id for m in store.models(1)] == before and leftovers(store) == folders


@pytest.mark.parametrize("what, message", [("missing", "no such folder"), ("empty", "not a model folder"),
                                           ("encoder", "not a token-classification model")])
def test_not_a_model_folder_is_refused(trip, tiny_model, tmp_path, what, message):
    folder = {"missing": tmp_path / "nothing", "empty": tmp_path, "encoder": Path(tiny_model)}[what]
    store = Store(trip["db"])
    before, folders = [m.id for m in store.models(1)], leftovers(store)
    with pytest.raises(ValueError, match=message):
        adopt.add(store, 1, folder)
    assert [m.id for m in store.models(1)] == before and leftovers(store) == folders


def test_train_project_refuses_several_processes(trip, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["--db", str(trip["db"]), "train", "--project", "news"]) == 2
    assert "--format hf" in capsys.readouterr().err
