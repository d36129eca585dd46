"""What goes through a project comes back: CoNLL middle columns and documents byte for byte, JSONL meta and document
names, an older database migrated; Label Studio export of a model's tags as scored predictions."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core import export, formats
from core.model import Prediction
from core.store import MIGRATIONS, Store, sentence_hash
from core.store import migrations
from tests.test_cli import ok

DATA = Path(__file__).parent / "data" / "formats"
CONLL = DATA / "conll2003_style.conll"  # hand-written in CoNLL-2003's layout: POS, chunk, IOB1 tags, -DOCSTART-

JSONL = [
    {"text": "Ann met Bo.", "spans": [{"start": 0, "end": 3, "label": "PER"}],
     "meta": {"doc_id": "letters-7", "source": "Bürgerbrief", "page": 3, "tags": ["a", {"b": None}]}},
    {"text": "Bo left.", "doc_id": "letters-7", "spans": []},
    {"text": "Nothing here", "doc_id": 12, "meta": {"score": 0.5}},
]


def test_conll_with_columns_and_documents_round_trips_byte_for_byte(tmp_path):
    db, out = str(tmp_path / "n.db"), tmp_path / "out.conll"
    ok("--db", db, "init", "news", "--labels", "PER,ORG,LOC,MISC")
    assert "5 added" in ok("--db", db, "import", "news", str(CONLL))
    ok("--db", db, "export", "news", "--out", str(out), "--scheme", "iob1")
    assert out.read_bytes() == CONLL.read_bytes()
    store = Store(db)
    rows = store.sentences(store.project("news").id)
    assert [r.document for r in rows] == ["doc-1", "doc-1", "doc-2", "doc-2", "doc-2"]
    assert rows[0].columns[0] == ["NNP", "B-NP"] and rows[0].meta is None
    store.close()


def test_jsonl_meta_and_document_names_come_back(tmp_path):
    db, src = str(tmp_path / "n.db"), tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in JSONL), encoding="utf-8")
    ok("--db", db, "init", "letters", "--labels", "PER")
    ok("--db", db, "import", "letters", str(src), "--format", "jsonl")
    for fmt in ("jsonl", "prodigy"):
        out = tmp_path / f"out-{fmt}.jsonl"
        ok("--db", db, "export", "letters", "--out", str(out), "--format", fmt, "--unlabeled")
        records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [r["text"] for r in records] == [r["text"] for r in JSONL]
        metas = [r.get("meta") for r in records]
        if fmt == "jsonl":
            assert metas == [JSONL[0]["meta"], None, {"score": 0.5}]
            assert [r.get("doc_id") for r in records] == ["letters-7", "letters-7", "12"]  # names, not row ids
        else:  # Prodigy keeps the document in meta
            assert metas == [JSONL[0]["meta"], {"doc_id": "letters-7"}, {"score": 0.5, "doc_id": "12"}]
    back = formats.read(tmp_path / "out-jsonl.jsonl", fmt="jsonl").sentences
    assert [s.meta for s in back] == [JSONL[0]["meta"], None, {"score": 0.5}]
    assert [s.tags for s in back][:2] == [["B-PER", "O", "O", "O"], ["O", "O", "O"]]


def test_a_non_object_meta_is_an_error_naming_the_line():
    with pytest.raises(formats.FormatError, match=r"x.jsonl:2: 'meta' must be an object"):
        formats.loads('{"text": "a b"}\n{"text": "c", "meta": [1]}\n', name="x.jsonl", fmt="jsonl")


def test_a_database_from_before_the_columns_migrates_and_exports(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    before = MIGRATIONS[:MIGRATIONS.index(migrations._m8)]
    monkeypatch.setattr("core.store.base.MIGRATIONS", before)
    old = Store(path)
    pid = old.create_project("old", ["PER"])
    did = old.db.execute("INSERT INTO documents (project_id, name, created) VALUES (?, 'memo-1', 'T')",
                         [pid]).lastrowid
    sid = old.db.execute("INSERT INTO sentences (project_id, document_id, position, text, words, offsets, split, "
                         "hash, created) VALUES (?, ?, 0, 'Ann ran', '[\"Ann\", \"ran\"]', '[[0, 3], [4, 7]]', "
                         "'train', ?, 'T')", [pid, did, sentence_hash(["Ann", "ran"])]).lastrowid
    old.db.execute("INSERT INTO annotations (sentence_id, tags, source, created) VALUES (?, ?, 'gold', 'T')",
                   [sid, json.dumps(["B-PER", "O"])])
    old.db.conn.commit()
    assert old.schema_version == len(before) and "columns" not in old.db["sentences"].columns_dict
    old.close()
    monkeypatch.setattr("core.store.base.MIGRATIONS", MIGRATIONS)
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    [row] = store.sentences(pid)
    assert (row.document, row.columns, row.meta, row.tags) == ("memo-1", None, None, ["B-PER", "O"])
    store.import_sentences(pid, formats.loads("Bo NNP B-NP B-PER\nsat VBD B-VP O\n", name="b.conll").sentences,
                           split="train")
    data = export.export_annotations(store, pid, fmt="conll").data.decode()
    # the old sentence has no middle columns: "_" keeps the file's column count
    assert data == "-DOCSTART- -X- -X- O\n\nAnn _ _ B-PER\nran _ _ O\n\nBo NNP B-NP B-PER\nsat VBD B-VP O\n"
    back = export.export_annotations(store, pid, fmt="jsonl").data.decode().splitlines()
    assert json.loads(back[0])["doc_id"] == "memo-1"
    store.close()


class StubTagger:
    """Calls every first word a person, with probability 0.9 for it and 0.6 for the other words."""

    def predict(self, sentences, *, batch_size):
        return [Prediction(["B-PER"] + ["O"] * (len(w) - 1), [0.9] + [0.6] * (len(w) - 1), np.zeros((len(w), 3)))
                for w in sentences]


def test_labelstudio_export_holds_model_tags_as_predictions_never_as_annotations(tmp_path):
    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", ["PER", "LOC"])
    gold = formats.loads("Ann NNP B-PER\nin IN O\nRome NNP B-LOC\n", name="g.conll").sentences
    store.import_sentences(pid, gold, split="train")
    store.import_sentences(pid, formats.loads("Kim Lee sang .\nBo slept\n", name="u.txt", lines=True).sentences,
                           split="unlabeled")
    out = export.export_annotations(store, pid, fmt="labelstudio", tagger=StubTagger(), model_name="v3")
    assert (out.labelled, out.predicted) == (1, 2)
    tasks = json.loads(out.data)
    assert [t["data"]["text"] for t in tasks] == ["Ann in Rome", "Kim Lee sang .", "Bo slept"]
    assert "predictions" not in tasks[0]
    assert [r["value"]["labels"] for r in tasks[0]["annotations"][0]["result"]] == [["PER"], ["LOC"]]
    for t in tasks[1:]:
        assert "annotations" not in t
        [pred] = t["predictions"]
        assert pred["model_version"] == "v3" and 0.6 < pred["score"] < 0.9
        [span] = pred["result"]
        assert span["value"]["labels"] == ["PER"] and span["score"] == 0.9 and span["type"] == "labels"
    back = formats.loads(out.data, name="ls.json", fmt="labelstudio")
    assert [s.tags for s in back.sentences] == [["B-PER", "O", "B-LOC"], None, None]
    assert back.notes["predictions kept as model suggestions (never gold)"] == 2
    assert [s.suggestion for s in back.sentences] == [None, ["B-PER", "O", "O", "O"], ["B-PER", "O"]]
    assert {s.suggested_by for s in back.sentences[1:]} == {"Label Studio v3"}
    without = json.loads(export.export_annotations(store, pid, fmt="labelstudio", unlabeled=True).data)
    assert [("annotations" in t, "predictions" in t) for t in without] == [(True, False), (False, False),
                                                                          (False, False)]
    store.close()


def test_documents_of_one_name_from_two_files_stay_apart_on_export(tmp_path):
    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", ["PER", "LOC"])
    first = "-DOCSTART- -X- -X- O\n\nAnn NNP B-NP B-PER\nran VBD B-VP O\n\nShe PRP B-NP O\nwon VBD B-VP O\n"
    second = "-DOCSTART- -X- -X- O\n\nBo NNP B-NP B-PER\nswam VBD B-VP O\n"
    for name, text in (("a.conll", first), ("b.conll", second)):
        store.import_many(pid, [(formats.loads(text, name=name).sentences, "train", name)])
    rows = store.sentences(pid)
    assert [r.document for r in rows] == ["doc-1"] * 3 and len({r.document_id for r in rows}) == 2
    assert export.export_annotations(store, pid, fmt="conll").data.decode() == first + "\n" + second
    brat = formats.loads(export.export_annotations(store, pid, fmt="brat").data, name="x.zip")
    assert [s.doc_id for s in brat.sentences] == ["doc-1", "doc-1", "doc-1-2"]
    text = formats.dumps([formats.Sentence(r.words, None, r.text, r.offsets, r.document,
                                           document=r.document_id) for r in rows], "text")
    assert text == "Ann ran\nShe won\n\nBo swam\n"
    store.close()
