"""Label Studio JSON round trips: Label Studio's own example files and hand-written tasks in its export layout come
back as equal parsed JSON (ids, meta, predictions, other results, unannotated tasks); an edit in nerloop rewrites
only the entities of the annotation it read; words survive a visit to Label Studio through data.nerloop_offsets."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from core import export, formats
from core.store import Store
from tests.roundtrip import PEERS, json_differences, round_trip

TEXT = "Maria Okonkwo visited Port Alder."
PER = {"value": {"start": 0, "end": 13, "text": "Maria Okonkwo", "labels": ["PER"]}, "id": "Xa1b2C3d4e",
       "from_name": "label", "to_name": "text", "type": "labels", "origin": "manual"}
LOC = {"value": {"start": 22, "end": 32, "text": "Port Alder", "labels": ["LOC"]}, "id": "Yq7r8S9t0u",
       "from_name": "label", "to_name": "text", "type": "labels", "origin": "manual"}
RELATION = {"from_id": "Xa1b2C3d4e", "to_id": "Yq7r8S9t0u", "type": "relation", "direction": "right",
            "labels": ["visited"]}
TOPIC = {"value": {"choices": ["travel"]}, "id": "Zc5d6E7f8g", "from_name": "topic", "to_name": "text",
         "type": "choices", "origin": "manual"}


def annotation(aid: int, task: int, result: list, **more) -> dict:
    """An annotation as Label Studio 1.x exports it."""
    return {"id": aid, "completed_by": 1, "result": result, "was_cancelled": False, "ground_truth": False,
            "created_at": "2025-03-01T10:00:00.000000Z", "updated_at": "2025-03-01T10:02:00.000000Z",
            "draft_created_at": None, "lead_time": 41.2, "prediction": {}, "result_count": 0,
            "unique_id": f"5b0c-{aid}", "import_id": None, "last_action": None, "bulk_created": False, "task": task,
            "project": 3, "updated_by": 1, "parent_prediction": None, "parent_annotation": None,
            "last_created_by": None} | more


def prediction(pid: int, task: int, version: str, result: list) -> dict:
    return {"id": pid, "result": result, "model_version": version, "created_ago": "3 days", "score": 0.71,
            "cluster": None, "neighbors": None, "mislabeling": 0.0, "created_at": "2025-02-26T09:00:00.000000Z",
            "updated_at": "2025-02-26T09:00:00.000000Z", "model": None, "model_run": None, "task": task,
            "project": 3}


def task(tid: int, text: str, annotations: list, predictions: list, **data) -> dict:
    """A task as Label Studio 1.x's JSON export writes it."""
    return {"id": tid, "annotations": annotations, "file_upload": "4d2e1f-tasks.json", "drafts": [],
            "predictions": predictions, "data": {"text": text} | data, "meta": {"batch": "march"} if data else {},
            "created_at": "2025-02-26T08:00:00.000000Z", "updated_at": "2025-03-01T10:02:00.000000Z",
            "inner_id": tid - 100, "total_annotations": len(annotations), "cancelled_annotations": 0,
            "total_predictions": len(predictions), "comment_count": 0, "unresolved_comment_count": 0,
            "last_comment_updated_at": None, "project": 3, "updated_by": 1, "comment_authors": []}


def labels(rid: str, start: int, end: int, text: str, label: str, name: str = "label") -> dict:
    return {"id": rid, "from_name": name, "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text, "labels": [label]}}


EXPORT = [  # Label Studio's JSON export of a project whose config has Labels "label", Choices "topic", relations
    task(101, TEXT, [annotation(7, 101, [PER, LOC, RELATION, TOPIC])],
         [prediction(4, 101, "ner-v2", [labels("p1", 22, 32, "Port Alder", "ORG") | {"score": 0.71}])],
         source="news"),
    task(102, "The ferry left at dawn.", [], []),  # not annotated
    task(103, "Kim scored twice in the final.", [],  # a classifier's prediction only: no entity suggestion
         [prediction(5, 103, "topic-v1", [{"id": "c1", "from_name": "topic", "to_name": "text", "type": "choices",
                                           "value": {"choices": ["sport"]}}])]),
    task(104, "Lee Park joined Acme in May.", [],  # an NER prediction only: a suggestion (of the outer span)
         [prediction(6, 104, "ner-v2", [labels("p2", 0, 8, "Lee Park", "PER"), labels("p3", 0, 3, "Lee", "PER")])]),
    task(105, "New York City Council met.", [  # a cancelled later annotation; stacked spans; a text area
        annotation(8, 105, [labels("n1", 0, 21, "New York City Council", "ORG"),
                            labels("n2", 0, 13, "New York City", "LOC"),
                            labels("n3", 0, 21, "New York City Council", "ORG"),  # an exact duplicate of n1
                            {"id": "t1", "from_name": "notes", "to_name": "text", "type": "textarea",
                             "value": {"text": ["check the name"]}}]),
        annotation(9, 105, [], was_cancelled=True, completed_by=2, updated_at="2025-03-02T08:00:00.000000Z")], []),
]


def trip(tmp_path: Path, data: bytes, name: str, to: str, project: str, **kw) -> tuple[bytes, dict, Store, int]:
    """(`data` imported into a new project and exported in `to`, the import's notes, the open store, the project)."""
    store = Store(tmp_path / f"{project}.db")
    pid = store.create_project(project, [])
    stream = formats.iter_read(data, name=name)
    store.import_many(pid, [(stream, "train", name)])
    out = export.export_annotations(store, pid, fmt=to, unlabeled=True, **kw)
    return out.data, dict(stream.notes) | {"lost": out.lost}, store, pid


def test_label_studio_editor_task_object_comes_back_as_a_list_of_that_task(tmp_path):
    path = PEERS / "labelstudio_ner_task_annotations.json"  # one task object, over several lines
    out, counts = round_trip(path, "labelstudio", tmp_path=tmp_path)
    before, after = json.loads(path.read_bytes()), json.loads(out)
    assert counts["added"] == counts["annotated"] == 1
    assert counts["notes"] == {"kept, not editable: ids and other fields": 3}  # id, task_path, the annotation's id
    # the one difference, by choice: a list, as Label Studio's own export writes (its import takes both)
    assert json_differences(before, after) == [f"$: {before!r} != {after!r}"]
    assert json_differences([before], after) == []


def test_label_studio_predictions_only_task_comes_back_equal(tmp_path):
    path = PEERS / "labelstudio_ner_tasks_predictions.json"
    out, counts = round_trip(path, "labelstudio", tmp_path=tmp_path)
    assert (counts["annotated"], counts["suggested"]) == (0, 1)
    assert counts["notes"] == {"predictions kept as model suggestions (never gold)": 1,
                               "kept, not editable: predictions": 1}
    assert json_differences(json.loads(path.read_bytes()), json.loads(out)) == []


def test_label_studio_export_layout_comes_back_equal(tmp_path):
    out, counts = round_trip(json.dumps(EXPORT, indent=2).encode(), "labelstudio", tmp_path=tmp_path, name="ls.json")
    assert json_differences(EXPORT, json.loads(out)) == []
    assert (counts["added"], counts["annotated"], counts["suggested"]) == (5, 2, 2)  # topic-v1 suggests nothing
    read = formats.loads(json.dumps(EXPORT), name="ls.json").sentences
    assert [s.suggestion for s in read[2:4]] == [None, ["B-PER", "I-PER", "O", "O", "O", "O", "O"]]
    assert counts["notes"] == {
        "kept, not editable: predictions": 3, "kept, not editable: other results": 3,  # relation, choices, text area
        "kept, not editable: other annotations": 1, "kept, not editable: stacked spans": 1,
        "duplicate spans read as one": 1, "predictions kept as model suggestions (never gold)": 2,
        "kept, not editable: ids and other fields": 5 * 16 + 1 + 2 * 19}  # task keys, data.source, annotations'


def test_the_plain_export_listing_prediction_ids_comes_back_equal(tmp_path):
    plain = [task(101, TEXT, [annotation(7, 101, [PER], ground_truth=True)], [4]) | {"allow_skip": True}]
    out, counts = round_trip(json.dumps(plain).encode(), "labelstudio", tmp_path=tmp_path, name="ls.json")
    assert json_differences(plain, json.loads(out)) == []
    assert (counts["annotated"], counts.get("suggested")) == (1, None)  # an id is no suggestion
    assert counts["notes"]["kept, not editable: predictions"] == 1


def test_an_edit_rewrites_the_entities_of_the_annotation_read_and_nothing_else(tmp_path):
    _, _, store, pid = trip(tmp_path, json.dumps(EXPORT).encode(), "ls.json", "labelstudio", "edit")
    first = store.sentences(pid)[0]
    assert first.words == ["Maria", "Okonkwo", "visited", "Port", "Alder", "."]
    store.annotate(first.id, ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O"], annotator="amy")  # LOC -> ORG
    ferry = store.sentences(pid)[1]  # task 102, not annotated in Label Studio
    store.annotate(ferry.id, ["O", "B-MISC", "O", "O", "O", "O"], annotator="amy")
    after = json.loads(export.export_annotations(store, pid, fmt="labelstudio", unlabeled=True).data)
    store.close()
    new = labels("s0-0", 22, 32, "Port Alder", "ORG")  # a fresh id; the unchanged PER keeps its own
    expected = copy.deepcopy(EXPORT)
    expected[0]["annotations"][0]["result"] = [PER, TOPIC, new]  # the relation pointed at the LOC: gone with it
    expected[1]["annotations"] = [{"result": [labels("s1-0", 4, 9, "ferry", "MISC")]}]
    assert json_differences(expected, after) == []


def test_another_format_reports_what_label_studio_tasks_carried(tmp_path):
    conll, notes, store, _ = trip(tmp_path, json.dumps(EXPORT).encode(), "ls.json", "conll", "other")
    store.close()
    assert notes["lost"] == {"predictions (labelstudio)": 3, "other results (labelstudio)": 3,
                             "other annotations (labelstudio)": 1, "stacked spans (labelstudio)": 1,
                             "ids and other fields (labelstudio)": 119}
    assert conll.decode().startswith("Maria B-PER\nOkonkwo I-PER\nvisited O\nPort B-LOC\nAlder I-LOC\n. O\n\n")


def test_a_model_prediction_joins_the_predictions_a_task_came_with(tmp_path):
    tagger = SimpleNamespace(predict=lambda words, batch_size: [
        SimpleNamespace(tags=["B-PER"] + ["O"] * (len(w) - 1), scores=[0.9] * len(w)) for w in words])
    out, _, store, _ = trip(tmp_path, json.dumps(EXPORT[3:4]).encode(), "ls.json", "labelstudio", "model",
                            tagger=tagger, model_name="v3")
    store.close()
    [back] = json.loads(out)
    assert back["predictions"][0] == EXPORT[3]["predictions"][0] and back["predictions"][1]["model_version"] == "v3"
    assert [r["value"]["text"] for r in back["predictions"][1]["result"]] == ["Lee"]


CONLL = ("-DOCSTART- O\n\nAcme B-ORG\npraises O\nNordic B-MISC\nplan O\nto O\nexpand O\nOslo B-LOC\n's O\nport O\n"
         ". O\n\nImports O\nrose O\nto O\n47,600 O\ntonnes O\n-- O\nclerks O\nsaid O\n. O\n\n-DOCSTART- O\n\n"
         "U.K. B-LOC\n's O\nO'Hara B-PER\nwon O\n( O\n2026-12-07 O\n) O\n\n")  # written for this test, laid out as CoNLL-2003


def test_conll_words_survive_a_visit_to_label_studio(tmp_path):
    ls, _, store, _ = trip(tmp_path, CONLL.encode(), "news.conll", "labelstudio", "conll")
    store.close()
    tasks = json.loads(ls)
    assert tasks[1]["data"] == {"text": "Imports rose to 47,600 tonnes -- clerks said .", "doc_id": "doc-1",
                                "nerloop_offsets": [[0, 7], [8, 12], [13, 15], [16, 22], [23, 29], [30, 32],
                                                    [33, 39], [40, 44], [45, 46]]}
    conll, notes, store, pid = trip(tmp_path, ls, "news.json", "conll", "back")
    assert [r.words[1] for r in store.sentences(pid)][::2] == ["praises", "'s"]
    store.close()
    assert conll.decode() == CONLL and notes == {"lost": {}}


def test_offsets_that_no_longer_fit_the_text_are_tokenised_again(tmp_path):
    fits = {"data": {"text": "Kim 's 47,600", "nerloop_offsets": [[0, 3], [4, 6], [7, 13]]}}
    edited = {"data": {"text": "Kim 's 47,600 x", "nerloop_offsets": [[0, 3], [4, 6], [7, 13]]}}
    spaced = {"data": {"text": "Kim 's 47,600", "nerloop_offsets": [[0, 3], [4, 8], [8, 13]]}}  # a word holds " "
    c = formats.loads(json.dumps([fits, edited, spaced]), name="ls.json")
    assert [s.words for s in c.sentences] == [["Kim", "'s", "47,600"], ["Kim", "'", "s", "47", ",", "600", "x"],
                                              ["Kim", "'", "s", "47", ",", "600"]]
    assert c.notes == {"nerloop_offsets that do not fit the text (words tokenised again)": 2}
    out, _ = round_trip(json.dumps([edited]).encode(), "labelstudio", tmp_path=tmp_path, name="ls.json")
    assert json.loads(out) == [edited]  # written back as they came


def test_one_task_object_is_read_and_a_broken_one_names_its_line():
    one = '{\n  "data": {"text": "Ann met Bo."},\n  "annotations": [{"result": []}]\n}\n'
    assert formats.detect_format("t.json", one) == "labelstudio"
    assert [s.tags for s in formats.loads(one, name="t.json").sentences] == [["O", "O", "O", "O"]]
    broken = one.replace('"annotations"', "annotations")
    with pytest.raises(formats.FormatError) as err:
        formats.loads(broken, name="t.json")
    assert (err.value.line, err.value.problem) == (
        3, "invalid JSON: Expecting property name enclosed in double quotes (column 3)")
