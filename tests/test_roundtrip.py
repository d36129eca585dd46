"""The round trips' shared part: what an import carries through is stored with its sentence, named in the import
report, written back only by its own format, and reported as left behind by an export to another."""
from __future__ import annotations

import json

from core import export, formats
from core.store import Store
from tests.test_cli import ok

STACKED = [{"text": "Ann met Bo Smith in Paris.", "spans": [
    {"start": 8, "end": 16, "label": "PER"}, {"start": 11, "end": 16, "label": "LOC"},
    {"start": 20, "end": 25, "label": "LOC"}, {"start": 20, "end": 25, "label": "LOC"}]}]


def test_stacked_spans_are_carried_and_duplicates_read_as_one(tmp_path):
    stream = formats.iter_read("\n".join(json.dumps(r) for r in STACKED).encode(), name="s.jsonl", fmt="jsonl")
    [s] = list(stream)
    assert s.tags == ["O", "O", "B-PER", "I-PER", "O", "B-LOC", "O"]  # the outer span is the editable one
    assert s.carry == {"format": "jsonl", "kept": {"stacked spans": 1}, "stacked": [[11, 16, "LOC"]]}
    assert stream.notes == {"duplicate spans read as one": 1, "kept, not editable: stacked spans": 1}
    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", [])
    store.import_many(pid, [(stream, "train", "s.jsonl")])
    [row] = store.sentences(pid, carry=True)
    assert row.carry == s.carry and store.sentences(pid)[0].carry is None  # decoded for exports only
    assert store.kept(pid, ["train"]) == [("jsonl", "stacked spans", 1)] and store.kept(pid, ["dev"]) == []
    assert export.export_annotations(store, pid, fmt="conll").lost == {"stacked spans (jsonl)": 1}
    assert export.export_annotations(store, pid, fmt="jsonl").lost == {}
    store.close()


def test_the_cli_names_what_is_kept_and_what_an_export_leaves_behind(tmp_path):
    db, src = str(tmp_path / "n.db"), tmp_path / "s.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in STACKED) + "\n")
    ok("--db", db, "init", "p", "--labels", "PER,LOC")
    assert "kept, not editable: stacked spans: 1" in ok("--db", db, "import", "p", str(src))
    printed = ok("--db", db, "export", "p", "--out", str(tmp_path / "o.conll"))
    assert "not in a conll file (kept in the project; export in their own format to write them back): " \
           "1 stacked span (jsonl)" in printed
    assert "not in a" not in ok("--db", db, "export", "p", "--out", str(tmp_path / "o.jsonl"))


def test_a_pool_with_hidden_gold_carries_nothing_that_would_show_its_tags(tmp_path):
    task = {"data": {"text": "Ann met Bo."}, "annotations": [{"id": 7, "result": [
        {"id": "r1", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 3, "text": "Ann", "labels": ["PER"]}}]}]}
    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(json.dumps([task]).encode(), name="t.json"), None, "t.json"),
                            (formats.iter_read(b"Kim B-PER\nleft O\n\n", name="c.conll"), None, "c.conll")],
                      hidden_gold=True)
    assert [r.carry for r in store.sentences(pid, carry=True)] == [None, None]
    assert export.export_annotations(store, pid, fmt="conll").written == 0  # an unlabelled pool, not all-O gold
    tasks = json.loads(export.export_annotations(store, pid, fmt="labelstudio", unlabeled=True).data)
    assert [t.get("annotations", []) for t in tasks] == [[], []]
    store.close()


def test_spans_that_meet_only_in_a_space_are_both_editable():
    record = {"text": "Ann Bo", "spans": [{"start": 0, "end": 4, "label": "PER"}, {"start": 3, "end": 6, "label": "PER"}]}
    [s] = formats.loads(json.dumps(record).encode(), name="s.jsonl").sentences
    assert s.tags == ["B-PER", "B-PER"] and s.carry is None


def test_a_duplicate_whose_file_carried_data_is_reported(tmp_path):
    db, src = str(tmp_path / "n.db"), tmp_path / "s.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in STACKED) + "\n")
    ok("--db", db, "init", "p", "--labels", "PER,LOC")
    ok("--db", db, "import", "p", str(src))
    printed = ok("--db", db, "import", "p", str(src))
    assert "0 added, 1 duplicates (1 of them with data kept but not editable, not imported again)" in printed
