"""Unit tests of core/annotate.py: keyboard tag rules, the Draft state, the span editor's actions, a save."""
from __future__ import annotations

import pytest

from core import annotate as ann
from core import queue
from core.formats import Sentence
from core.store import Store
from core.vocab import label_set

O = "O"


def test_set_label_begins_then_continues():
    tags = [O, O, O, O]
    tags = ann.set_label(tags, 0, "PER")
    assert tags == ["B-PER", O, O, O]
    tags = ann.set_label(tags, 1, "PER")
    assert tags == ["B-PER", "I-PER", O, O]
    tags = ann.set_label(tags, 2, "LOC")
    assert tags == ["B-PER", "I-PER", "B-LOC", O]


def test_set_label_second_press_restarts_entity():
    tags = ["B-PER", "I-PER", O]
    assert ann.set_label(tags, 1, "PER") == ["B-PER", "B-PER", O]
    assert ann.set_label(["B-PER", "B-PER", O], 1, "PER") == ["B-PER", "B-PER", O]


def test_set_label_after_other_type_begins():
    assert ann.set_label(["B-LOC", O], 1, "PER") == ["B-LOC", "B-PER"]


def test_set_label_clear_repairs_following_word():
    tags = ["B-ORG", "I-ORG", "I-ORG"]
    assert ann.set_label(tags, 0, None) == [O, "B-ORG", "I-ORG"]
    assert ann.set_label(tags, 1, None) == ["B-ORG", O, "B-ORG"]


def test_set_label_changing_type_repairs_continuation():
    # Relabelling the head of "Port Alder" from ORG to LOC leaves Alder as its own ORG entity.
    assert ann.set_label(["B-ORG", "I-ORG", O], 0, "LOC") == ["B-LOC", "B-ORG", O]


def test_repair_turns_orphan_inside_tags_into_begin():
    assert ann.repair(["I-PER", "I-PER", O, "I-LOC", "B-PER", "I-LOC"]) == \
        ["B-PER", "I-PER", O, "B-LOC", "B-PER", "B-LOC"]


def test_tag_options():
    assert label_set(["PER", "LOC"], sort=False) == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_draft_label_advances_and_undo_restores_tags_and_cursor():
    d = ann.Draft.open([O, O, O])
    d.label("PER")
    d.label("PER")
    assert (d.tags, d.cursor, d.dirty) == (["B-PER", "I-PER", O], 2, True)
    d.label("PER")  # cursor stays on the last word
    assert (d.tags, d.cursor) == (["B-PER", "I-PER", "I-PER"], 2)
    assert d.undo()
    assert (d.tags, d.cursor) == (["B-PER", "I-PER", O], 2)
    assert d.undo() and d.undo()
    assert (d.tags, d.cursor, d.dirty) == ([O, O, O], 0, False)
    assert not d.undo()


def test_draft_unchanged_press_adds_no_undo_step_and_moves_clamp():
    d = ann.Draft.open(["B-PER", O])
    version = d.version
    d.label("PER")
    assert d.undo_stack == [] and d.version == version and d.cursor == 1
    d.move(5)
    assert d.cursor == 1
    d.move(-9)
    assert d.cursor == 0


def test_draft_replace_repairs_and_is_undoable():
    d = ann.Draft.open([O, O, O])
    d.replace(["I-LOC", None, "I-LOC"])
    assert d.tags == ["B-LOC", O, "B-LOC"]
    d.undo()
    assert d.tags == [O, O, O]
    with pytest.raises(ValueError, match="2 tags for a sentence of 3 words"):
        d.replace([O, O])


def test_entity_count():
    assert ann.entity_count(["B-PER", "I-PER", O, "B-LOC", "B-PER"]) == {"PER": 2, "LOC": 1}


def _sentence(words: list[str], tags: list[str] | None) -> Sentence:
    return Sentence(words, tags, " ".join(words), [(0, 0)] * len(words))


def test_store_queries(tmp_path):
    store = Store(tmp_path / "a.db")
    pid = store.create_project("p", ["PER", "LOC"])
    other = store.create_project("q", ["PER"])
    store.import_sentences(pid, [_sentence(["Ann", "ran"], ["B-PER", O]),
                                 _sentence(["Bob", "Lee", "sat"], None),
                                 _sentence(["in", "Rome"], None)], split="train")
    store.import_sentences(other, [_sentence(["Zed"], ["B-PER"])], split="train")
    a, b, c = [s.id for s in store.sentences(pid)]
    before = store.stamp(pid)
    assert before[:2] == (3, c)
    index = queue.index(store, pid)
    assert (index.ids, index.human, index.labelled) == ([a, b, c], set(), {a})

    store.annotate(b, ["B-PER", "I-PER", O], annotator="x")
    store.annotate(b, ["B-PER", "B-PER", O], annotator="y")  # latest human annotation counts
    store.annotate(c, [O, "B-LOC"], annotator="x")
    after = store.stamp(pid)
    assert after[:2] == before[:2] and after[2] > before[2]
    index = queue.index(store, pid)
    assert (index.human, index.labelled) == ({b, c}, {a, b, c})
    assert store.human_entity_counts(pid) == {"LOC": 1, "PER": 2}
    assert store.human_entity_counts(other) == {}
    store.close()


def test_a_save_is_one_transaction_that_moves_an_unlabeled_sentence_to_train(tmp_path):
    store = Store(tmp_path / "a.db")
    pid = store.create_project("p", ["PER"])
    store.import_sentences(pid, [_sentence(["Ann", "ran"], None)], split="unlabeled")
    (sid,) = [s.id for s in store.sentences(pid)]
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    store.save_human(sid, ["B-PER", O], annotator="x")
    store.db.conn.set_trace_callback(None)
    assert [s for s in statements if s.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT"]
    assert store.sentences(pid)[0].split == "train" and store.sentences(pid)[0].tags == ["B-PER", O]

    def refuse() -> None:
        raise RuntimeError("refused at commit")

    store.import_sentences(pid, [_sentence(["Bo", "sat"], None)], split="unlabeled")
    other = store.sentences(pid, split="unlabeled")[0].id
    store._check_file = refuse  # the commit of the save fails: neither the annotation nor the move is kept
    with pytest.raises(RuntimeError):
        store.save_human(other, ["B-PER", O], annotator="x")
    del store._check_file
    assert store.history(other) == [] and store.sentences(pid, ids=[other])[0].split == "unlabeled"
    store.close()


# ---------------------------------------------------------------- the span editor's actions

def test_label_span_makes_exactly_that_entity():
    assert ann.label_span([O, O, O, O], 1, 3, "PER") == [O, "B-PER", "I-PER", O]
    # inside a longer entity of the same type: the rest after the span starts its own entity
    assert ann.label_span(["B-ORG"] + ["I-ORG"] * 3, 1, 3, "ORG") == ["B-ORG", "B-ORG", "I-ORG", "B-ORG"]
    assert ann.label_span(["B-ORG", "I-ORG", "I-ORG"], 0, 2, None) == [O, O, "B-ORG"]
    assert ann.label_span([O, "B-LOC"], 0, 2, "PER") == ["B-PER", "I-PER"]


def test_entity_at_and_remove_span():
    tags = ["B-PER", "I-PER", O, "B-LOC", "B-LOC", "I-LOC"]
    assert [ann.entity_at(tags, i) for i in range(6)] == [(0, 2), (0, 2), None, (3, 4), (4, 6), (4, 6)]
    assert ann.remove_span(tags, 1) == [O, O, O, "B-LOC", "B-LOC", "I-LOC"]
    assert ann.remove_span(tags, 5) == ["B-PER", "I-PER", O, "B-LOC", O, O]
    assert ann.remove_span(tags, 2) == tags
    assert ann.clear_all(tags) == [O] * 6


def test_entity_jump():
    tags = [O, "B-PER", "I-PER", O, "B-LOC", O]
    assert [ann.entity_jump(tags, c, 1) for c in range(6)] == [1, 4, 4, 4, 4, 5]
    assert [ann.entity_jump(tags, c, -1) for c in range(6)] == [0, 1, 1, 1, 1, 4]


def test_apply_follows_the_keyboard_rules_and_undo():
    d = ann.Draft.open([O] * 5)
    for action in [{"kind": "label", "label": "PER", "at": 0}, {"kind": "label", "label": "PER", "at": 1},
                   {"kind": "move", "step": 1}, {"kind": "label", "label": "LOC", "start": 3, "end": 5}]:
        ann.apply(d, action, labels=["PER", "LOC"])
    assert (d.tags, d.cursor) == (["B-PER", "I-PER", O, "B-LOC", "I-LOC"], 4)
    ann.apply(d, {"kind": "home"})
    ann.apply(d, {"kind": "next_entity"})
    assert d.cursor == 3
    ann.apply(d, {"kind": "prev_entity"})
    assert d.cursor == 0
    ann.apply(d, {"kind": "end"})
    assert d.cursor == 4
    ann.apply(d, {"kind": "remove", "at": 1})
    assert d.tags == [O, O, O, "B-LOC", "I-LOC"] and d.cursor == 1
    ann.apply(d, {"kind": "clear_all"})
    assert d.tags == [O] * 5
    ann.apply(d, {"kind": "undo"})
    ann.apply(d, {"kind": "undo"})
    assert (d.tags, d.cursor) == (["B-PER", "I-PER", O, "B-LOC", "I-LOC"], 1)
    ann.apply(d, {"kind": "cursor", "at": 2})
    ann.apply(d, {"kind": "label", "label": None, "at": 2})  # clearing an O word changes nothing
    assert d.cursor == 3 and len(d.undo_stack) == 3


@pytest.mark.parametrize("action", [
    {"kind": "label", "label": "ORG", "at": 0}, {"kind": "label", "label": "PER", "at": 5},
    {"kind": "label", "label": "PER", "start": 2, "end": 2}, {"kind": "label", "label": "PER", "at": True},
    {"kind": "move", "step": 3}, {"kind": "flag"}, {"kind": "remove"}])
def test_apply_refuses_bad_actions(action):
    d = ann.Draft.open([O] * 3)
    with pytest.raises(ValueError, match=str(action["kind"])):
        ann.apply(d, action, labels=["PER"])
    assert d.tags == [O] * 3 and d.cursor == 0


def test_new_actions_keeps_unapplied_in_sequence_order():
    batch = [{"kind": "move", "seq": 5}, {"kind": "undo", "seq": 3}, {"kind": "home", "seq": 2}, "junk",
             {"kind": "end"}, {"kind": "end", "seq": "7"}]
    assert [a["seq"] for a in ann.new_actions(batch, 2)] == [3, 5]
    assert ann.new_actions(None, 0) == [] and ann.new_actions(batch, 5) == []
