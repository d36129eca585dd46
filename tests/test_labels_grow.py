"""Label sets that grow (issue 25): the label history, partial sentences, the masked loss, label edits applied to every
annotation and undone, and the head rows that follow."""
from __future__ import annotations

import sqlite3

import pytest
import torch

from core import labelhistory, partial, versions
from core.labelhistory import Edit, ambiguity, plan
from core.store import Store
from tests.test_store import sent


@pytest.fixture
def project(store: Store) -> tuple[Store, int]:
    """PER and LOC, two labelled train sentences."""
    pid = store.create_project("grow", ["PER", "LOC"])
    store.import_sentences(pid, [sent("John visited Paris .", "B-PER O B-LOC O"),
                                 sent("Mary saw Aspirin .", "B-PER O O O")], split="train")
    return store, pid


def ids(store: Store, pid: int) -> list[int]:
    return [r.id for r in store.sentences(pid)]


def test_plan_checks_and_orders_the_types():
    assert plan(["PER", "LOC"], "add", [], ["DRUG"]).labels_after(["PER", "LOC"]) == ["PER", "LOC", "DRUG"]
    assert plan(["PER", "LOC"], "rename", ["LOC"], ["PLACE"]).labels_after(["PER", "LOC"]) == ["PER", "PLACE"]
    assert plan(["A", "B", "C"], "merge", ["A", "C"], ["X"]).labels_after(["A", "B", "C"]) == ["X", "B"]
    assert plan(["A", "B"], "split", ["A"], ["A", "A2"]).labels_after(["A", "B"]) == ["A", "A2", "B"]
    for bad in [("add", [], ["PER"]), ("rename", ["NOPE"], ["X"]), ("merge", ["PER"], ["X"]),
                ("split", ["PER"], ["P1"]), ("rename", ["PER"], ["loc"]), ("add", [], ["B-X"])]:
        with pytest.raises(ValueError):
            plan(["PER", "LOC"], *bad)


def test_ambiguity_follows_adds_renames_merges_and_splits():
    add = Edit("add", (), ("MISC",))
    assert ambiguity([add]) == ({}, frozenset({"MISC"}))
    # added, then renamed: O may hide the new name
    assert ambiguity([add, Edit("rename", ("MISC",), ("OTHER",))]) == ({}, frozenset({"OTHER"}))
    # a split: an X tag may be either part; an O is still not X
    poss, hidden = ambiguity([Edit("split", ("X",), ("X1", "X2"))])
    assert poss == {"X1": frozenset({"X1", "X2"})} and hidden == frozenset()
    # a merge of a known type with one added since: the merged type is hidden behind O, A's tags are sure
    poss, hidden = ambiguity([Edit("add", (), ("B",)), Edit("merge", ("A", "B"), ("C",))])
    assert poss == {} and hidden == frozenset({"C"})
    assert labelhistory.allowed(["B-X1", "I-X1", "O"], *ambiguity([Edit("split", ("X",), ("X1", "X2"))])) == [
        ("B-X1", "B-X2"), ("I-X1", "I-X2"), ("O",)]
    assert labelhistory.allowed(["B-PER", "O"], {}, frozenset({"MISC"})) == [("B-PER",), ("O", "B-MISC", "I-MISC")]
    assert labelhistory.allowed(["B-PER"], {}, frozenset({"MISC"})) is None  # no O word: nothing unsure


def test_a_sentence_labelled_before_a_type_was_added_is_partial_until_saved_again(project):
    store, pid = project
    a, b = ids(store, pid)
    assert labelhistory.partial(store, pid) == {}
    labelhistory.edit(store, pid, "add", [], ["DRUG"])
    assert store.project(pid).labels == ["PER", "LOC", "DRUG"]
    assert labelhistory.partial(store, pid) == {a: {"DRUG"}, b: {"DRUG"}}
    rows = {r.id: r for r in versions.training_data(store, pid)[0]}
    assert rows[b].allowed == (("B-PER",), ("O", "B-DRUG", "I-DRUG"), ("O", "B-DRUG", "I-DRUG"),
                               ("O", "B-DRUG", "I-DRUG"))
    store.save_human(b, ["B-PER", "O", "B-DRUG", "O"], annotator="ann")  # reviewed with DRUG available
    assert labelhistory.partial(store, pid) == {a: {"DRUG"}}
    rows = {r.id: r for r in versions.training_data(store, pid)[0]}
    assert not isinstance(rows[b], labelhistory.PartialRow) and isinstance(rows[a], labelhistory.PartialRow)
    # an import that brings a new type: its own sentences are not partial for it, the older ones are
    store.import_sentences(pid, [sent("Ibuprofen helps .", "B-MED O O")], split="train", new_labels=True)
    c = ids(store, pid)[-1]
    assert labelhistory.partial(store, pid) == {a: {"DRUG", "MED"}, b: {"MED"}}
    assert c not in labelhistory.partial(store, pid)


def test_rename_merge_split_rewrite_every_annotation_and_undo_restores_them(project):
    store, pid = project
    a, b = ids(store, pid)
    store.save_draft(a, ["B-PER", "O", "B-LOC", "O"], annotator="ann")
    labelhistory.edit(store, pid, "rename", ["LOC"], ["PLACE"])
    assert store.effective(a).tags == ["B-PER", "O", "B-PLACE", "O"]
    assert store.draft(a, "ann")["tags"] == ["B-PER", "O", "B-PLACE", "O"]
    assert labelhistory.partial(store, pid) == {}  # a rename leaves nothing unsure
    labelhistory.edit(store, pid, "merge", ["PER", "PLACE"], ["ENT"])
    assert store.project(pid).labels == ["ENT"]
    assert store.effective(a).tags == ["B-ENT", "O", "B-ENT", "O"]
    labelhistory.undo(store, pid)  # the merge: each tag back to what it was
    assert store.project(pid).labels == ["PER", "PLACE"]
    assert store.effective(a).tags == ["B-PER", "O", "B-PLACE", "O"]
    labelhistory.edit(store, pid, "split", ["PER"], ["PER", "ANIMAL"])
    assert labelhistory.partial(store, pid) == {a: {"PER", "ANIMAL"}, b: {"PER", "ANIMAL"}}
    store.save_human(b, ["B-ANIMAL", "O", "O", "O"], annotator="ann")
    labelhistory.undo(store, pid)  # a split is merged back, the later ANIMAL tag included
    assert store.effective(b).tags == ["B-PER", "O", "O", "O"]
    labelhistory.undo(store, pid)  # the rename
    assert store.project(pid).labels == ["PER", "LOC"] and store.effective(a).tags == ["B-PER", "O", "B-LOC", "O"]
    assert [e["op"] for e in store.label_events(pid)] == ["rename", "merge", "undo", "split", "undo", "undo"]
    assert [e["undone"] is not None for e in store.label_events(pid)] == [True, True, False, True, False, False]
    with pytest.raises(ValueError, match="no label edit to undo"):
        labelhistory.undo(store, pid)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):  # still append-only outside an edit
        store.db.execute("UPDATE annotations SET tags = '[]'")


def test_undo_of_an_added_type_in_use_is_refused(project):
    store, pid = project
    a, _ = ids(store, pid)
    labelhistory.edit(store, pid, "add", [], ["DRUG"])
    store.save_human(a, ["B-PER", "O", "B-DRUG", "O"], annotator="ann")
    with pytest.raises(ValueError, match="1 annotation"):
        labelhistory.undo(store, pid)
    assert store.project(pid).labels == ["PER", "LOC", "DRUG"]


def test_masked_loss_is_cross_entropy_when_sure_and_frees_the_new_type_when_not():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 5, requires_grad=True)  # labels: O, B-PER, I-PER, B-NEW, I-NEW
    labels = torch.tensor([[-100, 0, 1, -100]])
    sure = torch.zeros(1, 4, 5, dtype=torch.bool)
    sure[0, 1, 0] = sure[0, 2, 1] = True
    ce = torch.nn.functional.cross_entropy(logits[0], labels[0], ignore_index=-100)
    assert partial.masked_loss(logits, labels, sure).item() == pytest.approx(ce.item())
    unsure = sure.clone()
    unsure[0, 1, 3:] = True  # the O word may be a NEW entity
    (g_sure,) = torch.autograd.grad(partial.masked_loss(logits, labels, sure), logits)
    (g_unsure,) = torch.autograd.grad(partial.masked_loss(logits, labels, unsure), logits)
    assert (g_sure[0, 1, 3:] > 0).all()  # plain O: pushes the NEW logits down
    assert (g_unsure[0, 1, 3:] < 0).all()  # masked: O and NEW share the mass, NEW logits pulled up with O
    assert torch.equal(g_sure[0, 2], g_unsure[0, 2])  # the sure word is untouched
    weights = torch.tensor([0.5])
    assert partial.masked_loss(logits, labels, unsure, weights).item() == pytest.approx(
        0.5 * partial.masked_loss(logits, labels, unsure).item())


def test_a_partial_batch_trains_through_the_trainer(tiny_model, tmp_path):
    from core.model import Tagger
    from core.train import TrainConfig, run

    rows = [{"words": ["John", "visited", "Paris"], "tags": ["B-PER", "O", "B-LOC"]},
            {"words": ["Mary", "saw", "London"], "tags": ["B-PER", "O", "O"],
             "allowed": [["B-PER"], ["O", "B-LOC", "I-LOC"], ["O", "B-LOC", "I-LOC"]]}] * 4
    tagger = Tagger.load(tiny_model, labels=["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], device="cpu")
    windows = tagger.windows([r["words"] for r in rows], [r["tags"] for r in rows])
    partial.attach(windows, partial.allowed_of(rows), tagger.label2id)
    batch = partial.collate(tagger, windows[:2])
    assert batch["allowed"].shape == (*batch["labels"].shape, 5)
    assert batch["allowed"][1, 2].tolist() == [True, True, True, False, False]  # "saw": O or LOC
    assert batch["allowed"][0, 2].tolist() == [True, False, False, False, False]  # a sure O
    cfg = TrainConfig(model=tiny_model, lr=5e-3, head_lr=1e-2, batch_size=4, min_steps=8, device="cpu", epochs=1,
                      labels=["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], time_budget=0)
    last = run(cfg, rows, out=tmp_path / "v")
    assert last.kind == "saved" and last.info["steps"] >= 8


def test_head_rows_follow_renames_merges_and_splits(tiny_model, tmp_path):
    from core.model import Tagger

    old = ["O", "B-A", "I-A", "B-B", "I-B"]
    tagger = Tagger.load(tiny_model, labels=old, device="cpu")
    tagger.save(tmp_path / "v1")
    w = tagger.model.classifier.weight.detach()
    edits = [Edit("rename", ("A",), ("AA",)), Edit("merge", ("AA", "B"), ("C",)), Edit("split", ("C",), ("C", "D"))]
    head_from = labelhistory.head_sources(edits, old)
    assert head_from["B-C"] == head_from["B-D"] == ["B-A", "B-B"]
    assert labelhistory.head_sources(edits[:1], old) == {"B-AA": ["B-A"], "I-AA": ["I-A"]}
    new = Tagger.load(str(tmp_path / "v1"), labels=["O", "B-C", "I-C", "B-D", "I-D"], device="cpu",
                      head_from=head_from)
    got = new.model.classifier.weight.detach()
    assert torch.allclose(got[1], (w[1] + w[3]) / 2) and torch.allclose(got[3], got[1])
    assert torch.allclose(got[0], w[0])


def scores(micro: float, **per_class: float) -> dict:
    return {"micro": {"f1": micro}, "per_class": {c: {"f1": f, "support": 10} for c, f in per_class.items()}}


def test_the_per_class_guard_refuses_a_version_that_loses_a_class(store):
    serving, better_but_forgets = scores(0.80, PER=0.90, LOC=0.80, ORG=0.70), scores(0.82, PER=0.95, LOC=0.77,
                                                                                      ORG=0.72, MISC=0.5)
    verdict = versions.judge(serving, better_but_forgets)
    assert not verdict.promoted and "LOC drops 3.0 points" in verdict.reason and "tolerance 2" in verdict.reason
    assert verdict.drops == pytest.approx({"LOC": 3.0, "ORG": -2.0, "PER": -5.0})
    assert versions.judge(serving, better_but_forgets, tolerance=0.05).promoted
    assert versions.judge(serving, scores(0.81, PER=0.89, LOC=0.79, ORG=0.70)).promoted  # within 2 points
    assert not versions.judge(serving, scores(0.79, PER=0.99, LOC=0.80, ORG=0.70)).promoted  # micro F1 first
    pid = store.create_project("guard", ["PER", "LOC", "ORG"])
    first = store.add_model(pid, folder="gone-1", base_model="b", params={}, metrics={"dev": serving},
                            status="ready")
    store.promote(first)
    second = store.add_model(pid, folder="gone-2", base_model="b", params={}, metrics={"dev": better_but_forgets},
                             status="ready")
    assert not versions.maybe_promote(store, pid, second, "better") and store.serving(pid).id == first
    assert versions.maybe_promote(store, pid, second, "better", tolerance=0.03) and store.serving(pid).id == second


def test_the_quick_pass_pretags_only_the_missing_types():
    label = ["B-PER", "O", "O", "B-X1", "O"]
    predicted = ["B-MISC", "B-MISC", "I-MISC", "B-X2", "B-LOC"]
    assert labelhistory.pretag(label, predicted, {"MISC", "X1", "X2"}) == ["B-PER", "B-MISC", "I-MISC", "B-X2", "O"]
    assert labelhistory.pretag(label, predicted, set()) == label


def test_the_annotate_filter_serves_the_partial_sentences(project):
    from core import annotate, queue

    store, pid = project
    a, b = ids(store, pid)
    labelhistory.edit(store, pid, "add", [], ["DRUG"])
    store.save_human(a, ["B-PER", "O", "B-LOC", "O"], annotator="ann")
    index = queue.index(store, pid)
    assert index.pool("partial") == [b] and index.partial == {b: {"DRUG"}}
    tags, origin = annotate.opening_tags(store, b, opened=["B-PER", "O", "O", "O"], matched=["O"] * 4,
                                         predicted=["B-PER", "O", "B-DRUG", "O"], missing=index.partial[b])
    assert (tags, origin) == (["B-PER", "O", "B-DRUG", "O"], "label+model")


def test_class_rows_show_the_change_against_serving_and_the_forgetting():
    from core.forgetting import class_rows
    from core.store import ModelVersion

    old = ModelVersion(1, 1, "v1", "f", "b", None, {}, {"dev": scores(0.8, PER=0.95, LOC=0.7)}, "t1", "ready")
    rows = class_rows(scores(0.8, PER=0.90, LOC=0.72, MISC=0.5), scores(0.78, PER=0.93, LOC=0.72), [old])
    assert rows == [
        {"class": "LOC", "f1": 0.72, "serving_f1": 0.72, "delta": 0.0, "best_earlier_f1": 0.7, "forgetting": -2.0},
        {"class": "MISC", "f1": 0.5, "serving_f1": None, "delta": None, "best_earlier_f1": None, "forgetting": None},
        {"class": "PER", "f1": 0.90, "serving_f1": 0.93, "delta": -3.0, "best_earlier_f1": 0.95, "forgetting": 5.0}]


def test_a_version_is_compared_with_the_serving_one_scored_on_the_same_sentences():
    from core.forgetting import versus_serving
    from core.store import ModelVersion

    def version(i: int, created: str) -> ModelVersion:
        return ModelVersion(i, 1, f"v{i}", "f", "b", None, {}, {"dev": scores(0.8, PER=0.95)}, created, "ready")

    old, new = version(1, "t1"), version(2, "t2")
    mine, asked = scores(0.8, PER=0.90), []
    rows = versus_serving(new, mine, old, [old, new], lambda m: asked.append(m.id) or scores(0.78, PER=0.93))
    assert asked == [1] and rows[0]["serving_f1"] == 0.93 and rows[0]["forgetting"] == 5.0
    assert versus_serving(new, mine, new, [old, new], lambda m: asked.append(m.id))[0]["delta"] == 0.0
    assert versus_serving(new, mine, None, [old, new], lambda m: asked.append(m.id))[0]["serving_f1"] is None
    assert versus_serving(new, mine, old, [new], lambda m: None)[0]["best_earlier_f1"] is None and asked == [1]


def test_labels_command_edits_undoes_and_shows_the_history(project, capsys):
    from core.cli import main

    store, pid = project
    db = ["--db", str(store.path)]
    assert main(["labels", "add", "grow", "MISC", *db]) == 0
    assert "added MISC" in capsys.readouterr().out
    assert main(["labels", "split", "grow", "LOC", "CITY,COUNTRY", *db]) == 0
    assert main(["labels", "history", "grow", *db]) == 0
    out = capsys.readouterr().out
    assert "split LOC into CITY, COUNTRY" in out and "2 labelled train/dev sentence(s) partial" in out
    assert main(["labels", "undo", "grow", *db]) == 0
    assert "undone: split LOC into CITY, COUNTRY" in capsys.readouterr().out
    assert main(["labels", "rename", "grow", "NOPE", "X", *db]) == 2
    assert "NOPE: not among the project's labels" in capsys.readouterr().err
    assert store.project(pid).labels == ["PER", "LOC", "MISC"]


def test_a_warm_start_maps_the_head_rows_of_the_edits_since_the_version(project, tiny_model, tmp_path):
    from core.model import Tagger

    store, pid = project
    Tagger.load(tiny_model, labels=["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], device="cpu").save(tmp_path / "v1")
    labelhistory.edit(store, pid, "add", [], ["MISC"])  # before the version: not replayed
    model = store.model(store.add_model(pid, folder=str(tmp_path / "v1"), base_model="b", status="ready"))
    labelhistory.edit(store, pid, "rename", ["LOC"], ["PLACE"])
    labelhistory.edit(store, pid, "merge", ["PER", "MISC"], ["PER"])
    assert labelhistory.head_map(store, pid, model) == {"B-PLACE": ["B-LOC"], "I-PLACE": ["I-LOC"]}
    labelhistory.undo(store, pid)
    labelhistory.undo(store, pid)
    assert labelhistory.head_map(store, pid, model) == {}
