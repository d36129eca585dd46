"""Roles enforced in core: a direct call with an annotator is refused, the audit trail, the login slow-down."""
from __future__ import annotations

import pytest

from core import export, jobs, users
from core.access import OWNER, Actor, LoginThrottle, local_address, require
from core.formats import Sentence
from core.store import Store
from tests.test_cli import ok, run


def sent(text: str, tags: str | None = None) -> Sentence:
    words = text.split()
    return Sentence(words, tags.split() if tags else None, text, [(0, 0)] * len(words))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    users.add(s, "ada", "admin", "correct horse")
    users.add(s, "rev", "reviewer", "battery staple")
    users.add(s, "ann", "annotator", "tr0ub4dor&3x")
    yield s
    s.close()


def test_an_annotator_is_refused_by_every_admin_function(store):
    ann, ada = users.actor(store, "ann"), users.actor(store, "ada")
    pid = store.create_project("p", ["PER"], actor=ada)
    store.import_sentences(pid, [sent("Ann met Bo", "B-PER O B-PER")], split="train", actor=ada)
    sid = store.sentences(pid)[0].id
    store.set_member(pid, "ann", actor=ada)
    store.set_member(pid, "rev", "reviewer", actor=ada)
    refused = [
        lambda: store.create_project("q", ["PER"], actor=ann),
        lambda: store.set_labels(pid, ["PER", "LOC"], actor=ann),
        lambda: store.import_sentences(pid, [sent("x y")], split="train", actor=ann),
        lambda: jobs.start(store, pid, {"epochs": 1}, actor=ann),
        lambda: jobs.cancel(store, 1, actor=ann),
        lambda: store.promote(1, actor=ann),
        lambda: store.rollback(pid, actor=ann),
        lambda: export.export_annotations(store, pid, fmt="conll", actor=ann),
        lambda: users.add(store, "eve", "admin", "long enough", actor=ann),
        lambda: users.set_role(store, "ann", "admin", actor=ann),
        lambda: users.passwd(store, "ada", "long enough", actor=ann),
        lambda: users.remove(store, "ada", actor=ann),
    ]
    before = (store.projects(), store.sentences(pid), store.users(), store.jobs(), store.audit())
    for call in refused:
        with pytest.raises(PermissionError, match=r"refused: user 'ann' is annotator, and only admin may"):
            call()
    assert (store.projects(), store.sentences(pid), store.users(), store.jobs(), store.audit()) == before
    # what an annotator may do: save a label and flag a sentence
    store.save_human(sid, ["B-PER", "O", "O"], annotator="ann", actor=ann)
    assert store.flag([sid], actor=ann) == [sid]
    with pytest.raises(PermissionError, match="'rev' is reviewer"):
        export.export_annotations(store, pid, fmt="conll", actor=users.actor(store, "rev"))
    require(users.actor(store, "rev"), "review")
    with pytest.raises(PermissionError, match="only admin or reviewer may review"):
        require(ann, "review")
    with pytest.raises(PermissionError, match="not a known user"):
        require(Actor("mallory", "root"), "annotate")


def test_the_audit_trail_names_who_did_what_and_keeps_no_password(store, tmp_path):
    ada = users.actor(store, "ada")
    pid = store.create_project("p", ["PER"], actor=ada)
    store.import_sentences(pid, [sent("Ann met Bo", "B-PER O B-PER")], split="train", source_name="a.conll",
                           actor=ada)
    export.export_annotations(store, pid, fmt="jsonl", actor=ada)
    users.passwd(store, "ann", "a new secret 42", actor=ada)
    rows = store.audit()
    assert [(r["actor"], r["role"], r["action"]) for r in rows][-4:] == [
        ("ada", "admin", "project"), ("ada", "admin", "import"), ("ada", "admin", "export"), ("ada", "admin", "users")]
    assert rows[-3]["project_id"] == pid and rows[-3]["detail"]["files"] == ["a.conll"]
    assert rows[-1]["detail"] == {"op": "passwd", "name": "ann"} and rows[-1]["project_id"] is None
    assert [r["action"] for r in store.audit(pid)] == ["project", "import", "export"]
    assert [r["detail"].get("name") for r in rows[:3]] == ["ada", "rev", "ann"]  # the accounts' own creation
    with pytest.raises(Exception, match="append-only"):
        store.db.execute("DELETE FROM audit")
    store.close()
    raw = (tmp_path / "db.sqlite").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite-*"))
    for secret in (b"correct horse", b"battery staple", b"a new secret 42"):
        assert secret not in raw


def test_the_cli_acts_as_a_named_account(tmp_path):
    db = str(tmp_path / "db.sqlite")
    (tmp_path / "pw").write_text("correct horse\n")
    ok("--db", db, "users", "add", "ada", "--role", "admin", "--password-file", str(tmp_path / "pw"))
    ok("--db", db, "users", "add", "ann", "--role", "annotator", "--password-file", str(tmp_path / "pw"))
    code, _, err = run("--db", db, "--as", "ann", "init", "p")
    assert code == 3 and "project refused: user 'ann' is annotator" in err
    code, _, err = run("--db", db, "init", "p", "--as", "nobody")
    assert code == 2 and "--as nobody: no such account" in err
    ok("--db", db, "init", "p", "--as", "ada")
    ok("--db", db, "init", "q")  # no --as: the local owner
    out = ok("--db", db, "audit", "--all")
    assert "ada" in out and "owner" in out and "correct horse" not in out
    assert ok("--db", db, "audit", "q").count("project") == 2  # the header's column and one row
    assert run("--db", db, "audit")[0] == 2


def test_the_first_account_is_an_admin(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    with pytest.raises(ValueError, match="add an admin account before 'bo'"):
        users.add(s, "bo", "annotator", "long enough")
    assert users.has_admin(s) is False and s.users() == []
    users.add(s, "ada", "admin", "long enough", actor=OWNER)
    assert users.has_admin(s)


def test_failed_logins_slow_a_name_down_exponentially():
    now = [100.0]
    t = LoginThrottle(base=1.0, cap=8.0, clock=lambda: now[0])
    assert t.wait("ann") == 0
    for expected in (1.0, 2.0, 4.0, 8.0, 8.0):
        t.failed("ann")
        assert t.wait("ann") == expected and t.wait("bo") == 0
    now[0] += 8.0
    assert t.wait("ann") == 0
    t.succeeded("ann")
    t.failed("ann")
    assert t.wait("ann") == 1.0


@pytest.mark.parametrize("address, local", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
                                            ("0.0.0.0", False), ("", False), (None, False), ("192.168.1.2", False)])
def test_local_addresses(address, local):
    assert local_address(address) is local
