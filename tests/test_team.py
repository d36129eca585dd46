"""Shared work through the store: stored overlap queues, what an annotator may open, review as the training label,
and the migration to version 7 (drafts per annotator, source review)."""
from __future__ import annotations

import json
import sqlite3

import pytest
import sqlite_utils

from core import review, team, users, versions
from core.access import Actor
from core.store import MIGRATIONS, Store, migrations

from apptest import raw

TEAM = ["ann", "bob", "cy"]


def project(store: Store, n: int = 50) -> int:
    pid = store.create_project("shared", ["PER", "LOC"])
    store.import_sentences(pid, [raw([f"w{i}", "in", "Paris"]) for i in range(n)], split="unlabeled")
    return pid


def test_overlap_queues_cover_share_and_stay_stable(store):
    pid = project(store, 50)
    store.set_overlap(pid, 0.2, 2)
    order = team.pool_order(store, pid)
    added = team.extend(store, pid, order, TEAM)
    queues = {a: team.queue(store, pid, a) for a in TEAM}
    assert sum(added.values()) == sum(map(len, queues.values()))
    holders: dict[int, int] = {}
    for q in queues.values():
        assert q == sorted(q)  # in the pool's order
        for sid in q:
            holders[sid] = holders.get(sid, 0) + 1
    assert set(holders) == set(order)  # every sentence is someone's
    shared = sum(1 for n in holders.values() if n > 1)
    assert abs(shared - 0.2 * len(order)) <= 1 and set(holders.values()) <= {1, 2}
    before = store.assignments(pid)
    assert team.extend(store, pid, order, TEAM) == {a: 0 for a in TEAM}  # nothing reassigned
    assert store.assignments(pid) == before
    progress = {p["annotator"]: p for p in team.progress(store, pid)}
    assert {a: p["assigned"] for a, p in progress.items()} == {a: len(q) for a, q in queues.items()}
    assert all(p["done"] == 0 for p in progress.values())


def test_nobody_opens_another_annotators_labels_first(store):
    pid = project(store, 20)
    store.set_overlap(pid, 0.5, 2)
    team.extend(store, pid, team.pool_order(store, pid), TEAM)
    shared = next(r["sentence_id"] for r in store.assignments(pid) if len(store.assigned_to(r["sentence_id"])) == 2)
    first, second = store.assigned_to(shared)
    store.save_human(shared, ["B-PER", "O", "B-LOC"], annotator=first)
    assert team.opening(store, shared, second) == (None, None)  # the model's suggestion or blank
    assert team.opening(store, shared, first)[0] == ["B-PER", "O", "B-LOC"]
    assert team.opening(store, shared, "rev", reviewer=True)[0] == ["B-PER", "O", "B-LOC"]
    store.save_human(shared, ["O", "O", "B-LOC"], annotator=second)
    assert team.opening(store, shared, second)[0] == ["O", "O", "B-LOC"]  # their own, not the later one
    assert team.queue(store, pid, second).count(shared) == 0
    done = {p["annotator"]: p["done"] for p in team.progress(store, pid)}
    assert done[first] == done[second] == 1


def test_review_becomes_the_training_label_and_history_stays(store):
    pid = project(store, 3)
    sid = store.sentences(pid)[0].id
    store.save_human(sid, ["B-PER", "O", "B-LOC"], annotator="ann")
    store.save_human(sid, ["O", "O", "B-LOC"], annotator="bob")
    listed = review.disagreements(store, pid)
    assert [(d["sentence_id"], d["annotators"], d["tokens"]) for d in listed] == [(sid, ["ann", "bob"], [0])]
    review.accept(store, sid, "ann", reviewer="rita")
    train, _ = versions.training_data(store, pid)
    assert [r.tags for r in train if r.id == sid] == [["B-PER", "O", "B-LOC"]]
    assert [r.source for r in train if r.id == sid] == ["review"]
    history = store.history(sid)
    assert [(h.source, h.annotator) for h in history] == [("human", "ann"), ("human", "bob"), ("review", "rita")]
    assert review.disagreements(store, pid) == [] and len(review.disagreements(store, pid, reviewed=True)) == 1
    store.save_human(sid, ["O", "O", "O"], annotator="bob")  # a later human save does not outrank the review
    assert store.effective(sid).source == "review"
    review.adjudicate(store, sid, ["B-PER", "O", "O"], reviewer="rita")
    assert [r.tags for r in versions.training_data(store, pid)[0] if r.id == sid] == [["B-PER", "O", "O"]]
    with pytest.raises(KeyError, match="no human label by 'zed'"):
        review.accept(store, sid, "zed", reviewer="rita")
    ann = Actor("ann", "annotator")
    before = len(store.history(sid))
    with pytest.raises(PermissionError, match="'ann' is annotator"):
        review.accept(store, sid, "bob", reviewer="ann", actor=ann)
    with pytest.raises(PermissionError, match="'ann' is annotator"):
        team.extend(store, pid, [sid], ["ann", "bob"], actor=ann)
    assert len(store.history(sid)) == before
    users.add(store, "ada", "admin", "correct horse")
    users.add(store, "rita", "reviewer", "battery staple")
    rita = users.actor(store, "rita")
    with pytest.raises(PermissionError, match="'rita' .reviewer. is not a member of project 'shared'"):
        review.accept(store, sid, "bob", reviewer="rita", actor=rita)
    store.set_member(pid, "rita", "reviewer", actor=users.actor(store, "ada"))
    review.accept(store, sid, "bob", reviewer="rita", actor=rita)


def test_drafts_are_per_annotator(store):
    pid = project(store, 1)
    sid = store.sentences(pid)[0].id
    store.save_draft(sid, ["B-PER", "O", "O"], 1, annotator="ann")
    store.save_draft(sid, ["O", "O", "B-LOC"], 2, annotator="bob")
    assert store.draft(sid, "ann")["tags"] == ["B-PER", "O", "O"] and store.draft(sid, "bob")["cursor"] == 2
    store.save_human(sid, ["B-PER", "O", "O"], annotator="ann")
    assert store.draft(sid, "ann") is None and store.draft(sid, "bob") is not None


def test_migration_7_keeps_history_and_allows_review(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(sqlite3.connect(path))
    monkeypatch.setattr(migrations, "SOURCES", ("gold", "human", "model"))  # the CHECK of a database made before review
    for number, migration in enumerate(MIGRATIONS[:5], start=1):
        migration(db)
        db.execute(f"PRAGMA user_version={number}")
    pid = db["projects"].insert({"name": "old", "labels": "[]", "created": "x"}).last_pk
    sid = db["sentences"].insert({"project_id": pid, "position": 0, "text": "a b c", "words": '["a","b","c"]',
                                  "offsets": "[[0,1],[2,3],[4,5]]", "split": "unlabeled", "hash": "h",
                                  "created": "x"}).last_pk
    db["annotations"].insert({"sentence_id": sid, "tags": '["O","O","O"]', "source": "human", "annotator": "ann",
                              "created": "x"})
    db["drafts"].insert({"sentence_id": sid, "tags": '["O","O","O"]', "cursor": 0, "annotator": "", "updated": "x"})
    with pytest.raises(sqlite3.IntegrityError):
        db["annotations"].insert({"sentence_id": sid, "tags": "[]", "source": "review", "created": "x"})
    db.conn.commit()
    db.close()
    monkeypatch.undo()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert [h.annotator for h in store.history(sid)] == ["ann"] and store.draft(sid) is not None
    store.save_human(sid, ["O", "O", "B-LOC"], annotator="rita", source="review")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("DELETE FROM annotations")
    assert store.effective(sid).source == "review"
    assert team.settings(store, pid) == {"overlap": 0.0, "copies": 2}
    store.close()


def test_cli_team_and_review(tmp_path, capsys):
    from core.cli import main

    db = tmp_path / "cli.db"
    store = Store(db)
    pid = project(store, 10)
    sid = store.sentences(pid)[0].id
    store.close()
    assert main(["team", "shared", "--db", str(db), "--overlap", "0.2", "--assign", "--annotators", "ann,bob",
                 "--json"]) == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after the "assigned: ..." line
    assert shown["settings"] == {"overlap": 0.2, "copies": 2} and sum(p["assigned"] for p in shown["progress"]) == 12
    store = Store(db)
    store.save_human(sid, ["B-PER", "O", "B-LOC"], annotator="ann")
    store.save_human(sid, ["O", "O", "B-LOC"], annotator="bob")
    store.close()
    assert main(["review", "shared", "--list", "--json", "--db", str(db)]) == 0
    assert [d["sentence_id"] for d in json.loads(capsys.readouterr().out)] == [sid]
    assert main(["review", "shared", str(sid), "--accept", "zed", "--db", str(db)]) == 2
    assert "no human label by 'zed'" in capsys.readouterr().err
    assert main(["review", "shared", str(sid), "--accept", "bob", "--reviewer", "rita", "--db", str(db)]) == 0
    store = Store(db)
    assert (store.effective(sid).source, store.effective(sid).tags) == ("review", ["O", "O", "B-LOC"])
    store.close()
