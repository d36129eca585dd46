"""Tests for core.store: migrations, import, annotation history, models, jobs, concurrency."""
from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
from dataclasses import dataclass, field

import pytest

from core.store import MIGRATIONS, Store, sentence_hash

TABLES = {"projects", "documents", "sentences", "annotations", "models", "promotions", "jobs",
          "job_events", "pool_scores", "hidden_gold", "flags", "drafts", "users"}


@dataclass
class Sent:
    """Local stand-in for core.formats.Sentence (same fields)."""

    words: list[str]
    tags: list[str] | None
    text: str = ""
    offsets: list[tuple[int, int]] = field(default_factory=list)
    doc_id: str | None = None
    columns: list = field(default_factory=list)
    line: int = 1


def sent(words: str, tags: str | None = None, doc_id: str | None = None, line: int = 1) -> Sent:
    ws = words.split()
    offsets, pos = [], 0
    for w in ws:
        offsets.append((pos, pos + len(w)))
        pos += len(w) + 1
    return Sent(ws, tags.split() if tags else None, words, offsets, doc_id, [], line)


@pytest.fixture
def pid(store):
    return store.create_project("demo", ["PER"])


def test_migrates_empty_file_and_reopen_is_noop(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    s = Store(path)
    assert s.schema_version == len(MIGRATIONS) >= 1
    assert TABLES <= set(s.db.table_names())
    assert s.db.journal_mode == "wal"
    assert s.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    s.create_project("kept", ["LOC"])
    s.close()
    again = Store(path)
    assert again.schema_version == len(MIGRATIONS)
    assert [p.name for p in again.projects()] == ["kept"]
    indexes = {i.name for i in again.db["annotations"].indexes}
    assert "idx_annotations_sentence" in indexes
    again.close()


def test_projects_and_labels(store, pid):
    assert store.project("demo").id == pid
    assert store.project(pid).labels == ["PER"]
    with pytest.raises(ValueError, match="already exists"):
        store.create_project("demo", ["PER"])
    for bad in (["B-PER"], ["PER", "PER"], [""], "PER"):
        with pytest.raises(ValueError):
            store.create_project("other", bad)
    with pytest.raises(KeyError, match="nope"):
        store.project("nope")
    store.set_labels(pid, ["PER", "ORG"])
    assert store.project(pid).labels == ["PER", "ORG"]


def test_import_dedup_documents_and_new_labels(store, pid):
    batch = [sent("John lives here", "B-PER O O", "d1"),
             sent("Acme Corp hires", "B-ORG I-ORG O", "d1"),
             sent("no tags at all", None, "d2"),
             sent("John lives here", "B-PER O O", "d2")]  # repeated inside the import: kept
    with pytest.raises(ValueError, match="unknown label 'ORG'"):  # the project has labels: new ones need consent
        store.import_sentences(pid, batch, split="train", source_name="a.conll")
    assert store.sentences(pid) == []
    assert store.import_sentences(pid, batch, split="train", source_name="a.conll", new_labels=True) == {
        "added": 4, "duplicates": 0, "annotated": 3}
    assert store.project(pid).labels == ["PER", "ORG"]
    rows = store.sentences(pid)
    assert [r.words for r in rows] == [b.words for b in batch]
    assert rows[0].offsets == [(0, 4), (5, 10), (11, 15)]
    assert [r.position for r in rows] == [0, 1, 0, 1]
    assert rows[0].document_id == rows[1].document_id != rows[2].document_id
    assert (rows[1].tags, rows[1].source) == (["B-ORG", "I-ORG", "O"], "gold")
    assert rows[2].tags is None and rows[2].source is None
    docs = store.db.execute("SELECT name, source FROM documents ORDER BY id").fetchall()
    assert docs == [("d1", "a.conll"), ("d2", "a.conll")]
    again = store.import_sentences(pid, batch, split="dev")
    assert again == {"added": 0, "duplicates": 4, "annotated": 0}
    once = store.import_sentences(pid, batch[:1], split="dev")  # another file holding it once
    assert once == {"added": 0, "duplicates": 1, "annotated": 0}
    assert store.db["sentences"].count == 4
    assert store.db["documents"].count == 2
    hashes = {r["hash"] for r in store.db.query("SELECT hash FROM sentences")}
    assert sentence_hash(["John", "lives", "here"]) in hashes


def test_import_rejects_bad_input_naming_line(store, pid):
    with pytest.raises(ValueError, match=r"^a\.txt:7: 1 tags for 2 words$"):
        store.import_sentences(pid, [sent("a b", "O", line=7)], split="train",
                               source_name="a.txt")
    with pytest.raises(ValueError, match="^import:3: token 2 has invalid IOB2 tag 'PER'"):
        store.import_sentences(pid, [sent("a b", "O PER", line=3)], split="train")
    assert store.db["sentences"].count == 0


def test_annotation_history_and_effective(store, pid):
    store.import_sentences(pid, [sent("Ann met Bob", "B-PER O B-PER")], split="train")
    sid = store.sentences(pid)[0].id
    first = store.annotate(sid, ["B-PER", "O", "O"], annotator="amy")
    second = store.annotate(sid, ["O", "O", "B-PER"], annotator="bob")
    assert [h.source for h in store.history(sid)] == ["gold", "human", "human"]
    assert first < second
    assert store.effective(sid).id == second
    model_id = store.add_model(pid, folder="m1", base_model="base")
    store.annotate(sid, ["O", "O", "O"], source="model", model_id=model_id)
    assert len(store.history(sid)) == 4
    assert store.effective(sid).tags == ["O", "O", "B-PER"]
    row = store.sentences(pid, ids=[sid])[0]
    assert (row.tags, row.source) == (["O", "O", "B-PER"], "human")
    with pytest.raises(ValueError, match="2 tags for 3 words"):
        store.annotate(sid, ["O", "O"])
    assert store.tagged_by(model_id, [sid]) == {sid} and store.tagged_by(model_id + 1, [sid]) == set()


def test_annotate_many_is_one_transaction(store, pid):
    store.import_sentences(pid, [sent("a b"), sent("c d e")], split="unlabeled")
    a, b = (r.id for r in store.sentences(pid))
    model_id = store.add_model(pid, folder="m1", base_model="base")
    with pytest.raises(ValueError, match=f"sentence {b}: 2 tags for 3 words"):
        store.annotate_many([(a, ["B-PER", "O"]), (b, ["O", "O"])], source="model", model_id=model_id)
    assert store.history(a) == [] and store.tagged_by(model_id, [a, b]) == set()  # nothing partly written
    ids = store.annotate_many([(a, ["B-PER", "O"]), (b, ["O", "O", "B-LOC"])], source="model", model_id=model_id)
    assert [h.id for h in store.history(a) + store.history(b)] == ids
    assert store.tagged_by(model_id, [a, b]) == {a, b} and store.effective(a) is None
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("UPDATE annotations SET tags = '[]'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM annotations")


def test_effective_falls_back_to_gold_and_model_alone_is_unlabelled(store, pid):
    store.import_sentences(pid, [sent("a b", "O O"), sent("c d")], split="unlabeled")
    gold_sid, bare_sid = (r.id for r in store.sentences(pid))
    assert store.effective(gold_sid).source == "gold"
    store.annotate(bare_sid, ["B-PER", "O"], source="model")
    assert store.effective(bare_sid) is None


def test_counts_and_set_split(store, pid):
    store.import_sentences(pid, [sent("a b", "O O"), sent("c d", "O O")], split="train")
    store.import_sentences(pid, [sent("e f"), sent("g h")], split="unlabeled")
    ids = [r.id for r in store.sentences(pid)]
    store.annotate(ids[0], ["O", "B-PER"])
    store.annotate(ids[2], ["O", "O"])
    store.annotate(ids[3], ["O", "O"], source="model")
    store.set_split([ids[1]], "test")
    assert store.counts(pid) == {"by_split": {"train": 1, "dev": 0, "test": 1, "unlabeled": 2},
                                 "human": 2, "labelled": 3, "flagged": 0}
    store.flag([ids[2]])
    assert store.counts(pid)["flagged"] == 1
    assert [r.id for r in store.sentences(pid, split="test")] == [ids[1]]
    with pytest.raises(KeyError):
        store.set_split([999], "dev")


def test_a_version_2_database_migrates_and_keeps_its_data(tmp_path, monkeypatch):
    path = tmp_path / "v2.db"
    monkeypatch.setattr("core.store.base.MIGRATIONS", MIGRATIONS[:2])  # the schema as the code before flags wrote it
    monkeypatch.setattr(Store, "add_audit", lambda *a, **k: 0)  # and before the audit trail
    old = Store(path)
    pid = old.create_project("old", ["PER"])
    for words, tags in ((["Ann", "met", "Bo"], ["B-PER", "O", "B-PER"]), (["it", "rained"], None)):  # raw: the
        sid = old.db.execute(  # code of today writes and reads columns that v2 lacks
            "INSERT INTO sentences (project_id, position, text, words, offsets, split, hash, created) "
            "VALUES (?, 0, ?, ?, '[]', 'train', ?, 'T')",
            [pid, " ".join(words), json.dumps(words), sentence_hash(words)]).lastrowid
        if tags:
            old.db.execute("INSERT INTO annotations (sentence_id, tags, source, created) VALUES (?, ?, 'gold', 'T')",
                           [sid, json.dumps(tags)])
    sid = old.db.execute("SELECT MIN(id) FROM sentences WHERE project_id = ?", [pid]).fetchone()[0]
    old.annotate(sid, ["B-PER", "O", "O"], source="model")
    assert old.schema_version == 2 and "flags" not in old.db.table_names()
    old.close()
    monkeypatch.setattr("core.store.base.MIGRATIONS", MIGRATIONS)
    monkeypatch.undo()
    new = Store(path)
    assert new.schema_version == len(MIGRATIONS) == 14
    assert {"flags", "drafts", "live_heads"} <= set(new.db.table_names())
    assert [r.words for r in new.sentences(pid)] == [["Ann", "met", "Bo"], ["it", "rained"]]
    assert [a.source for a in new.history(sid)] == ["gold", "model"]
    assert new.flagged(pid) == set() and new.draft(sid) is None
    assert new.flag([sid]) == [sid] and new.flagged(pid) == {sid}
    new.close()


def test_flags_keep_history_and_filter_sentences(store, pid):
    store.import_sentences(pid, [sent("a b"), sent("c d"), sent("e f")], split="unlabeled")
    other = store.create_project("other", [])
    store.import_sentences(other, [sent("x y")], split="unlabeled")
    a, b, c = (r.id for r in store.sentences(pid))
    assert store.flag([a, b], annotator="ann") == [a, b]
    assert store.flag([a]) == []  # already flagged: no new history row
    assert store.flagged(pid) == {a, b} and store.flagged(other) == set()
    assert [r.id for r in store.sentences(pid, flagged=False)] == [c]
    assert [r.id for r in store.sentences(pid, flagged=True)] == [a, b]
    assert store.flag([a], flagged=False, annotator="bo") == [a]
    assert store.flagged(pid) == {b}
    assert [r.id for r in store.sentences(pid, split="unlabeled", flagged=False)] == [a, c]
    assert [(h["flagged"], h["annotator"]) for h in store.flag_history(a)] == [(1, "ann"), (0, "bo")]
    assert store.flag([a]) == [a] and store.flagged(pid) == {a, b}
    assert [h["flagged"] for h in store.flag_history(a)] == [1, 0, 1]
    with pytest.raises(KeyError, match="999"):
        store.flag([c, 999])
    assert store.flagged(pid) == {a, b}  # nothing written by the failed call
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM flags")


def test_drafts_round_trip_and_a_human_save_drops_them(store, pid):
    store.import_sentences(pid, [sent("Ann met Bo"), sent("c d")], split="unlabeled")
    a, b = (r.id for r in store.sentences(pid))
    assert store.draft(a, "ann") is None
    store.save_draft(a, ["B-PER", "O", "O"], 1, annotator="ann")
    d = store.draft(a, "ann")
    assert (d["sentence_id"], d["tags"], d["cursor"], d["annotator"]) == (a, ["B-PER", "O", "O"], 1, "ann")
    store.save_draft(a, ["B-PER", "O", "B-PER"], 2, annotator="ann")
    assert (store.draft(a, "ann")["tags"], store.draft(a, "ann")["cursor"]) == (["B-PER", "O", "B-PER"], 2)
    store.save_draft(b, ["O", "O"], 0)
    for tags, cursor in ((["O", "O"], 0), (["O", "O", "X"], 0), (["O", "O", "O"], 3)):
        with pytest.raises(ValueError):
            store.save_draft(a, tags, cursor, annotator="ann")
    assert store.draft(a, "ann")["tags"] == ["B-PER", "O", "B-PER"]
    store.annotate(a, ["B-PER", "O", "O"], source="model", annotator="ann")  # a model's tags are no save
    assert store.draft(a, "ann") is not None
    store.annotate(a, ["B-PER", "O", "B-PER"], source="human")  # someone else's save keeps ann's draft
    assert store.draft(a, "ann") is not None
    store.annotate(a, ["B-PER", "O", "B-PER"], source="human", annotator="ann")
    assert store.draft(a, "ann") is None and store.draft(b) is not None
    with pytest.raises(ValueError):  # a failed human save keeps the draft
        store.annotate_many([(b, ["O", "O"]), (a, ["O"])])
    assert store.draft(b) is not None
    assert store.drop_draft(b) and not store.drop_draft(b)
    assert store.draft(b) is None


def test_neighbours_by_document_position_or_import(store, pid):
    store.import_sentences(pid, [sent(f"d1 s{i}", doc_id="d1") for i in range(5)]
                           + [sent(f"d2 s{i}", doc_id="d2") for i in range(2)], split="unlabeled")
    store.import_sentences(pid, [sent(f"free s{i}") for i in range(4)], split="unlabeled")
    store.import_sentences(pid, [sent("later s0")], split="unlabeled")
    rows = {r.text: r.id for r in store.sentences(pid)}

    def texts(sid, before=2, after=2):
        head, tail = store.neighbours(sid, before, after)
        return [r.text for r in head], [r.text for r in tail]

    assert texts(rows["d1 s2"]) == (["d1 s0", "d1 s1"], ["d1 s3", "d1 s4"])
    assert texts(rows["d1 s0"]) == ([], ["d1 s1", "d1 s2"])
    assert texts(rows["d1 s4"], 3, 1) == (["d1 s1", "d1 s2", "d1 s3"], [])
    assert texts(rows["d2 s0"]) == ([], ["d2 s1"])  # never into another document
    assert texts(rows["free s1"]) == (["free s0"], ["free s2", "free s3"])
    assert texts(rows["free s3"]) == (["free s1", "free s2"], [])  # never into another import
    assert texts(rows["later s0"]) == ([], [])
    head, _ = store.neighbours(rows["d1 s1"], 1, 0)
    assert head[0].words == ["d1", "s0"] and head[0].document_id is not None
    with pytest.raises(KeyError):
        store.neighbours(999)


def test_invalid_split_source_and_status_raise(store, pid):
    with pytest.raises(ValueError, match="invalid split 'validation'"):
        store.import_sentences(pid, [sent("a")], split="validation")
    with pytest.raises(ValueError, match="invalid annotation source 'robot'"):
        store.import_sentences(pid, [sent("a", "O")], split="train", source="robot")
    store.import_sentences(pid, [sent("a")], split="train")
    sid = store.sentences(pid)[0].id
    with pytest.raises(ValueError, match="invalid annotation source"):
        store.annotate(sid, ["O"], source="auto")
    with pytest.raises(ValueError, match="invalid split"):
        store.set_split([sid], "holdout")
    with pytest.raises(ValueError, match="invalid split"):
        store.sentences(pid, split="all")
    with pytest.raises(ValueError, match="invalid model status"):
        store.add_model(pid, folder="f", base_model="b", status="done")


def test_models_promote_rollback(store, pid):
    v1 = store.add_model(pid, folder="m/v1", base_model="bert", params={"lr": 1e-4})
    v2 = store.add_model(pid, folder="m/v2", base_model="bert", parent_id=v1)
    v3 = store.add_model(pid, folder="m/v3", base_model="bert", parent_id=v2, status="training")
    assert [m.name for m in store.models(pid)] == ["v1", "v2", "v3"]
    assert store.model(v1).params == {"lr": 1e-4}
    assert store.serving(pid) is None
    with pytest.raises(ValueError, match="training"):
        store.promote(v3)
    store.update_model(v3, status="ready", metrics={"f1": 0.9})
    assert store.model(v3).metrics == {"f1": 0.9}
    with pytest.raises(ValueError, match="cannot update"):
        store.update_model(v3, name="v9")
    for m in (v1, v2, v3):
        store.promote(m)
    assert store.serving(pid).id == v3
    assert store.rollback(pid) == v2
    assert store.serving(pid).id == v2
    assert store.rollback(pid) == v1
    with pytest.raises(ValueError, match="no earlier served model"):
        store.rollback(pid)
    store.promote(v3)
    assert store.rollback(pid) == v1
    assert [p["model_id"] for p in store.promotions(pid)] == [v1, v2, v3, v2, v1, v3, v1]


def test_jobs_and_events(store, pid):
    a = store.create_job(pid, "train", {"epochs": 2}, log_path="logs/a.log")
    b = store.create_job(pid, "predict", {})
    assert store.job(a).status == "queued" and store.job(a).params == {"epochs": 2}
    store.update_job(a, status="running", pid=123)
    assert store.job(a).started is not None and store.job(a).ended is None
    store.update_job(a, status="failed", error="boom")
    assert store.job(a).ended >= store.job(a).started
    assert [j.id for j in store.jobs(pid)] == [b, a]
    assert [j.id for j in store.jobs(status="queued")] == [b]
    assert [j.id for j in store.jobs(pid, status=["queued", "failed"])] == [b, a]
    with pytest.raises(ValueError, match="invalid job status"):
        store.update_job(a, status="finished")
    with pytest.raises(KeyError, match="job 99"):
        store.add_event(99, "log", {})
    e1 = store.add_event(a, "progress", {"step": 1})
    e2 = store.add_event(a, "log", {"line": "hi"})
    e3 = store.add_event(a, "progress", {"step": 2})
    assert [e.id for e in store.events(a)] == [e1, e2, e3]
    assert [e.data for e in store.events(a, after_id=e1)] == [{"line": "hi"}, {"step": 2}]
    assert [e.id for e in store.events(a, after_id=e1, kind="progress")] == [e3]
    assert store.last_event(a, "progress").data == {"step": 2} and store.last_event(a, "log").id == e2
    assert store.last_event(a, "eval") is None and store.last_event(b, "progress") is None


def _writer(path: str, sid: int, job_id: int, name: str, n: int, barrier) -> None:
    store = Store(path)
    barrier.wait()
    for i in range(n):  # alternate annotation / event, each its own transaction
        if i % 2:
            store.add_event(job_id, "step", {"writer": name, "i": i})
        else:
            store.annotate(sid, ["O"], annotator=name)
    store.close()


def test_concurrent_writers_in_two_processes_lose_nothing(store, pid):
    store.import_sentences(pid, [sent("x")], split="train")
    sid = store.sentences(pid)[0].id
    job_id = store.create_job(pid, "train", {})
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(store.path), sid, job_id, name, 200, barrier))
             for name in ("w1", "w2")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(store.history(sid)) + len(store.events(job_id)) == 400
    per_writer = store.db.execute(
        "SELECT annotator, COUNT(*) FROM annotations GROUP BY annotator ORDER BY 1").fetchall()
    assert per_writer == [("w1", 100), ("w2", 100)]


def test_a_version_3_database_gets_a_uuid_made_once(tmp_path, monkeypatch):
    path = tmp_path / "v3.db"
    monkeypatch.setattr("core.store.base.MIGRATIONS", MIGRATIONS[:3])  # the schema before model folders by database
    monkeypatch.setattr(Store, "add_audit", lambda *a, **k: 0)  # and before the audit trail
    old = Store(path)
    pid = old.create_project("old", ["PER"])
    job_id = old.create_job(pid, "train", {"epochs": 1})
    assert "meta" not in old.db.table_names()
    old.close()
    monkeypatch.setattr("core.store.base.MIGRATIONS", MIGRATIONS)
    monkeypatch.undo()
    new = Store(path)
    assert new.schema_version == len(MIGRATIONS) == 14
    assert len(new.uuid) == 32 and int(new.uuid, 16) >= 0
    assert new.job(job_id).pid_started is None and new.job(job_id).params == {"epochs": 1}
    new.update_job(job_id, pid=123, pid_started=1.5)
    assert (new.job(job_id).pid, new.job(job_id).pid_started) == (123, 1.5)
    made = new.uuid
    new.close()
    assert Store(path).uuid == made  # made once
    assert Store(tmp_path / "other.db").uuid != made  # and per database
