"""Prodigy JSONL round trips: ner_manual and rel.manual output (explosion/projects) comes back equal as parsed JSON
record by record, hashes, tokens with `ws` and `disabled`, span `source`, relations and `ignore` answers kept; rejected
and ignored records are unlabelled sentences, never training data, until someone annotates them."""
import json

from core import export, formats, versions
from core.store import Store
from tests.roundtrip import PEERS, json_differences, jsonl, round_trip

TWEETS = PEERS / "prodigy_ner_tweets_head17.jsonl"
RELATIONS = PEERS / "prodigy_rel_component_head4.jsonl"


def imported(tmp_path, source, name: str = "p.jsonl") -> tuple[Store, int]:
    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(source, name=name, fmt="prodigy"), None, name)])
    return store, pid


def test_ner_manual_output_comes_back_equal_record_by_record(tmp_path):
    out, counts = round_trip(TWEETS, "prodigy", tmp_path=tmp_path)
    before, after = jsonl(TWEETS.read_bytes()), jsonl(out)
    assert len(before) == len(after) == 17 and json_differences(before, after) == []
    assert [list(r) for r in after] == [list(r) for r in before]  # same keys in the same order
    assert (counts["added"], counts["annotated"]) == (17, 13)
    assert counts["notes"] == {"records with answer ignore kept unlabelled (not gold)": 4,
                               "kept, not editable: spans of ignored records": 2,
                               "kept, not editable: record fields": 100}  # 5 a record, and 15 records' tokens (ws)


def test_ignored_records_are_unlabelled_and_never_trained_on(tmp_path):
    store, pid = imported(tmp_path, TWEETS)
    rows = store.sentences(pid)
    answers = [r["answer"] for r in jsonl(TWEETS.read_bytes())]
    assert [r.tags is None for r in rows] == [a == "ignore" for a in answers]
    train, dev = versions.training_data(store, pid)
    assert len(train) == 13 and dev == [] and all(r.tags is not None for r in train)
    out = export.export_annotations(store, pid, fmt="prodigy")  # a round trip writes every answer back
    assert (out.labelled, out.untagged) == (13, 4)
    assert export.export_annotations(store, pid, fmt="jsonl").written == 13  # elsewhere only the labelled ones
    lost = export.export_annotations(store, pid, fmt="conll", unlabeled=True).lost
    assert lost == {"ignore answers (prodigy)": 4, "spans of ignored records (prodigy)": 2,
                    "record fields (prodigy)": 100}
    store.close()


def test_an_ignored_record_annotated_in_nerloop_is_accepted(tmp_path):
    store, pid = imported(tmp_path, TWEETS)
    row = next(r for r in store.sentences(pid) if r.tags is None)
    tags = ["O"] * len(row.words)
    tags[1] = "B-PERSON"
    store.annotate(row.id, tags)
    records = jsonl(export.export_annotations(store, pid, fmt="prodigy", unlabeled=True).data)
    rec = next(r for r in records if r["text"] == row.text)
    start, end = row.offsets[1]
    assert rec["answer"] == "accept" and rec["spans"] == [
        {"start": start, "end": end, "label": "PERSON", "token_start": 1, "token_end": 1}]
    assert rec["_task_hash"] == next(r for r in jsonl(TWEETS.read_bytes()) if r["text"] == row.text)["_task_hash"]
    store.close()


def test_rel_manual_output_keeps_its_relations_and_disabled_tokens(tmp_path):
    out, counts = round_trip(RELATIONS, "prodigy", tmp_path=tmp_path)
    before = jsonl(RELATIONS.read_bytes())
    assert json_differences(before, jsonl(out)) == []
    assert counts["notes"] == {"kept, not editable: relations": 15, "kept, not editable: record fields": 20}


def test_reject_and_a_source_file_without_tokens_or_answers(tmp_path):
    records = [
        {"text": "Bo works for Acme Corp.", "spans": [{"start": 13, "end": 22, "label": "ORG"}],
         "_annotator_id": "news-bo", "answer": "reject"},
        {"text": "Kim met Lee.", "spans": [{"start": 0, "end": 3, "label": "PER"}], "meta": {"doc_id": "k"}},
        {"text": "Lee left.", "meta": {}},
    ]
    source = "".join(json.dumps(r) + "\n" for r in records).encode()
    out, counts = round_trip(source, "prodigy", tmp_path=tmp_path, name="p.jsonl")
    assert json_differences(records, jsonl(out)) == []
    assert counts["notes"] == {"records with answer reject kept unlabelled (not gold)": 1,
                               "kept, not editable: spans of rejected records": 1,
                               "kept, not editable: record fields": 1}


def test_a_pool_with_hidden_gold_exports_no_spans_or_answers(tmp_path):
    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(RELATIONS, fmt="prodigy"), None, "r")], hidden_gold=True)
    records = jsonl(export.export_annotations(store, pid, fmt="prodigy", unlabeled=True).data)
    assert not {"spans", "answer", "relations"} & {k for r in records for k in r}  # nothing its file carried
    store.close()
