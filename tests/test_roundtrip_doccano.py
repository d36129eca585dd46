"""doccano JSONL round trips: files in doccano's own layout (ids, meta, Comments, relations, a duplicate and a stacked
span) come back equal as parsed JSON record by record; each record is a document of its own; nerloop's words survive
a trip through doccano (`nerloop_offsets`, at the top or moved into `meta`)."""
import io
import json
import zipfile

from core import export, formats
from core.store import Store
from tests.roundtrip import json_differences, jsonl, round_trip

# doccano's layouts: its importer's example (label triples, meta, an exact duplicate span), its 1.8 export (id, label,
# Comments, the meta spread at the top), and the relation variant (entities with ids, relations, Comments).
DOCCANO = [
    {"text": "exampleA", "label": [[0, 1, "LOC"], [0, 1, "LOC"]], "meta": {"wikiPageID": 1}},
    {"text": "exampleB", "label": [], "meta": {"wikiPageID": 2}},
    {"id": 3, "text": "Peter Blackwell met EU officials in Brussels.", "Comments": [],
     "label": [[36, 44, "LOC"], [0, 15, "PER"], [20, 22, "ORG"]], "wikiPageID": 3},
    {"id": 4, "text": "Anna Berg works for New York Life in New York.",
     "entities": [{"id": 11, "label": "PER", "start_offset": 0, "end_offset": 9},
                  {"id": 12, "label": "ORG", "start_offset": 20, "end_offset": 33},
                  {"id": 13, "label": "LOC", "start_offset": 20, "end_offset": 28},
                  {"id": 14, "label": "LOC", "start_offset": 37, "end_offset": 45}],
     "relations": [{"id": 1, "from_id": 11, "to_id": 12, "type": "works_for"},
                   {"id": 2, "from_id": 12, "to_id": 14, "type": "based_in"}],
     "Comments": [{"id": 5, "user": 1, "username": "admin", "text": "check the ORG", "example": 4}]},
    {"id": 5, "text": "No entity here .", "label": [], "Comments": []},
]


def lines(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def test_a_doccano_file_comes_back_equal_record_by_record(tmp_path):
    out, counts = round_trip(lines(DOCCANO), "doccano", tmp_path=tmp_path, name="doccano.jsonl")
    assert json_differences(DOCCANO, jsonl(out)) == []
    assert [list(r) for r in jsonl(out)] == [list(r) for r in DOCCANO]  # same keys in the same order
    assert counts["added"] == 5 and counts["notes"] == {
        "duplicate spans read as one": 1, "words split at span edges": 1, "kept, not editable: stacked spans": 1,
        "kept, not editable: relations": 2, "kept, not editable: comments": 1,
        "kept, not editable: record fields": 1}  # wikiPageID at the top of record 3


def test_each_record_is_a_document_of_its_own(tmp_path):
    store = Store(tmp_path / "n.db")
    pid = store.create_project("d", [])
    store.import_many(pid, [(formats.iter_read(lines(DOCCANO), name="corpus/doccano.jsonl", fmt="doccano"), "train",
                             "doccano.jsonl")])
    assert [r.document for r in store.sentences(pid)] == ["doccano-1", "doccano-2", "3", "4", "5"]
    zipped = export.export_annotations(store, pid, fmt="brat", unlabeled=True)
    with zipfile.ZipFile(io.BytesIO(zipped.data)) as zf:
        texts = sorted(zf.read(n).decode() for n in zf.namelist() if n.endswith(".txt"))
    assert texts == sorted(r["text"] + "\n" for r in DOCCANO)  # one .txt (and .ann) a record
    assert zipped.lost == {"stacked spans (doccano)": 1, "relations (doccano)": 2, "comments (doccano)": 1,
                           "record fields (doccano)": 1}
    store.close()


def test_a_record_with_a_doc_id_keeps_it_and_gets_no_key_it_did_not_have(tmp_path):
    records = [{"text": "Ann met Bo .", "label": [[0, 3, "PER"]], "doc_id": 7},
               {"text": "Bo left .", "label": [[0, 2, "PER"]], "meta": {"doc_id": "letters"}}]
    out, _ = round_trip(lines(records), "doccano", tmp_path=tmp_path, name="d.jsonl")
    assert json_differences(records, jsonl(out)) == []


def test_edited_spans_keep_the_others_items_and_drop_relations_of_a_removed_entity(tmp_path):
    store = Store(tmp_path / "n.db")
    pid = store.create_project("d", [])
    store.import_many(pid, [(formats.iter_read(lines(DOCCANO[3:4]), name="d.jsonl", fmt="doccano"), "train", "d")])
    row = store.sentences(pid)[0]
    assert row.words == ["Anna", "Berg", "works", "for", "New", "York", "Life", "in", "New", "York", "."]
    store.annotate(row.id, ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG", "I-ORG", "O", "O", "O", "O"])
    (rec,) = jsonl(export.export_annotations(store, pid, fmt="doccano").data)
    assert rec["entities"] == DOCCANO[3]["entities"][:3]  # the LOC "New York" at 37 is gone, the stacked LOC stays
    assert rec["relations"] == DOCCANO[3]["relations"][:1]
    store.annotate(row.id, ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG", "I-ORG", "O", "B-GPE", "I-GPE", "O"])
    (rec,) = jsonl(export.export_annotations(store, pid, fmt="doccano").data)
    assert rec["entities"][3:] == [{"id": 15, "label": "GPE", "start_offset": 37, "end_offset": 45}]
    store.close()


CONLL = """-DOCSTART- -X- -X- O

Germany NNP B-NP B-LOC
's POS B-NP O
exports NNS I-NP O
rose VBD B-VP O
to TO B-PP O
47,600 CD B-NP O
tonnes NNS I-NP O
-- : O O
UN NNP B-NP B-ORG
says VBZ B-VP O
. . O O

Peter NNP B-NP B-PER
Blackwell NNP I-NP I-PER

"""


def conll_project(tmp_path) -> tuple[Store, int]:
    store = Store(tmp_path / "n.db")
    pid = store.create_project("c", [])
    store.import_many(pid, [(formats.iter_read(CONLL.encode(), name="c.conll", fmt="conll"), "train", "c.conll")])
    return store, pid


def test_words_survive_a_trip_through_doccano(tmp_path):
    store, pid = conll_project(tmp_path)
    rows = store.sentences(pid)
    records = jsonl(export.export_annotations(store, pid, fmt="doccano").data)
    assert records[0]["nerloop_offsets"][:3] == [[0, 7], [8, 10], [11, 18]]
    assert records[1]["nerloop_offsets"] == [[0, 5], [6, 15]]  # every record has every key: doccano 1.8 needs it
    assert [list(r) for r in records] == [["text", "label", "doc_id", "nerloop_offsets"]] * len(records)
    metas = [{k: v for k, v in r.items() if k not in ("text", "label")} for r in records]
    keys = list(dict.fromkeys(k for m in metas for k in m))
    # doccano 1.8.4 keeps a record's other keys as its meta (pandas: null where another record has the key) and
    # its JSONL export spreads them back between text and the sorted label; its API holds them in "meta"
    exported = [{"id": n, "text": r["text"]} | {k: m.get(k) for k in keys} | {"label": sorted(r["label"]),
                                                                               "Comments": []}
                for n, (r, m) in enumerate(zip(records, metas), 1)]
    nested = [{"id": n, "text": r["text"], "meta": m, "label": r["label"]}
              for n, (r, m) in enumerate(zip(records, metas), 1)]
    for back in (records, exported, nested):
        again = formats.loads(lines(back), name="back.jsonl", fmt="doccano")
        assert [(s.words, s.tags, s.doc_id) for s in again.sentences] == [(r.words, r.tags, r.document) for r in rows]
        assert not [note for note in again.notes if "nerloop_offsets" in note]  # a null is no offsets, not bad ones
    store.close()


def test_offsets_that_do_not_fit_the_text_are_ignored():
    record = {"text": "47,600 tonnes", "label": [], "nerloop_offsets": [[0, 6], [7, 13]]}
    fits = formats.loads(lines([record]), name="x.jsonl", fmt="doccano")
    assert fits.sentences[0].words == ["47,600", "tonnes"] and fits.notes == {}
    for bad in ([[0, 6], [8, 13]], [[0, 6]], [[0, 7], [7, 13]], [[0, 6], [6, 13]], [[0, 6, 1]], "0-6", []):
        c = formats.loads(lines([record | {"nerloop_offsets": bad}]), name="x.jsonl", fmt="doccano")
        assert c.sentences[0].words == ["47", ",", "600", "tonnes"], bad
        assert c.notes == {"nerloop_offsets that do not fit the text (words tokenised again)": 1}


def test_a_pool_with_hidden_gold_exports_no_spans(tmp_path):
    store = Store(tmp_path / "n.db")
    pid = store.create_project("d", [])
    store.import_many(pid, [(formats.iter_read(lines(DOCCANO[2:4]), name="d.jsonl", fmt="doccano"), None, "d")],
                      hidden_gold=True)
    records = jsonl(export.export_annotations(store, pid, fmt="doccano", unlabeled=True).data)
    assert [list(r) for r in records] == [["text", "doc_id", "nerloop_offsets"]] * 2  # nothing its file carried
    store.close()


def test_doccano_to_brat_to_label_studio_keeps_every_record_and_entity(tmp_path):
    store = Store(tmp_path / "n.db")
    pid = store.create_project("d", [])
    store.import_many(pid, [(formats.iter_read(lines(DOCCANO), name="doccano.jsonl", fmt="doccano"), "train", "d")])
    before = sorted((r.document, r.words, r.tags) for r in store.sentences(pid))
    brat = export.export_annotations(store, pid, fmt="brat").data
    again = store.create_project("b", [])
    store.import_many(again, [(formats.iter_read(brat, name="d.zip", fmt="brat"), "train", "d.zip")])
    studio = export.export_annotations(store, again, fmt="labelstudio").data
    after = formats.loads(studio, name="d.json", fmt="labelstudio").sentences
    assert sorted((s.doc_id, s.words, s.tags) for s in after) == before  # one document a record, same words, same tags
    store.close()


def test_null_offsets_are_no_offsets():
    record = {"text": "Peter Blackwell", "label": [[0, 15, "PER"]], "doc_id": None, "nerloop_offsets": None}
    again = formats.loads(lines([record]), name="x.jsonl", fmt="doccano")  # what pandas writes for a missing key
    assert again.sentences[0].words == ["Peter", "Blackwell"] and not again.notes


def test_a_project_of_doccano_and_other_records_exports_records_of_the_same_keys(tmp_path):
    store, pid = conll_project(tmp_path)
    store.import_many(pid, [(formats.iter_read(lines(DOCCANO[:2]), name="d.jsonl", fmt="doccano"), "train", "d")])
    records = jsonl(export.export_annotations(store, pid, fmt="doccano").data)
    assert len({tuple(r) for r in records}) == 1 and len(records) == len(store.sentences(pid))
    store.close()
