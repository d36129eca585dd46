"""Roles enforced in core: a direct call with an annotator is refused, the audit trail, the login slow-down per
client."""
from __future__ import annotations

import pytest

from core import export, jobs, users
from core.access import NOBODY, OWNER, Actor, LoginThrottle, client, local_address, require
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


def clocked(**kw) -> tuple[LoginThrottle, list[float]]:
    """A throttle on a fake clock that the test moves on."""
    now = [100.0]
    return LoginThrottle(clock=lambda: now[0], **kw), now


def attempt(t: LoginThrottle, address: str | None, name: str, right: bool) -> str:
    """What the login page does: no password check while the client must wait, else count the outcome."""
    if t.wait(address, name) > 0:
        return "throttled"
    (t.succeeded if right else t.failed)(address, name)
    return "ok" if right else "wrong password"


def test_a_lockout_attempt_from_one_client_does_not_keep_another_out():
    t, now = clocked()
    outcomes = []
    for _ in range(10):  # ten wrong passwords for admin, 3.6 s apart, from one address
        outcomes.append(attempt(t, "203.0.113.9", "admin", right=False))
        now[0] += 3.6
    assert outcomes == ["wrong password"] * 3 + ["throttled", "wrong password"] + ["throttled"] * 2 + [
        "wrong password"] + ["throttled"] * 2  # waits of 1, 2, 4, 8, 16 s, with no password check while waiting
    assert attempt(t, "203.0.113.9", "admin", right=True) == "throttled"  # the attacker waits even when right
    assert attempt(t, "198.51.100.7", "admin", right=True) == "ok"  # the admin, from elsewhere, gets in at once
    assert attempt(t, None, "admin", right=True) == "ok"  # and so does the unknown client (this machine)


def test_the_failing_client_is_slowed_per_name_and_across_names():
    t, now = clocked(base=1.0, cap=8.0, budget=3)
    for expected in (1.0, 2.0, 4.0, 8.0, 8.0):  # one name: 2**(n-1) s, capped
        t.failed("a", "ann")
        assert t.wait("a", "ann") == expected and t.wait("b", "ann") == 0
    now[0] += 8.0
    assert t.wait("a", "ann") == 0
    t.succeeded("a", "ann")
    t2, now2 = clocked(base=1.0, cap=8.0, budget=3)
    for i, expected in enumerate((0.0, 0.0, 0.0, 1.0, 2.0, 4.0)):  # one failure per name: the client's budget of 3,
        t2.failed("a", f"name{i}")  # then 2**(m-budget-1) s before any name, even a new one
        assert t2.wait("a", "never tried") == expected and t2.wait("b", "never tried") == 0
        now2[0] += 0.5 if i < 3 else 0.0


def test_a_success_clears_that_clients_failures_for_that_name():
    t, now = clocked(base=1.0, budget=4)
    for _ in range(3):
        t.failed("a", "ann")
        t.failed("a", "bo")
    now[0] += 10.0  # every wait over, the client's 6 failures over its budget of 4 still count
    t.failed("a", "cy")
    assert t.wait("a", "ann") == 4.0  # 7 failures: 2**(7-4-1) s for every name
    t.succeeded("a", "ann")  # ann's 3 leave the total: 4, within the budget
    assert t.wait("a", "ann") == 0 and t.wait("a", "zed") == 0 and t.wait("a", "cy") == 1.0
    t.failed("a", "ann")  # counted from one again
    assert t.wait("a", "ann") == 1.0
    t.failed("b", "bo")
    t.succeeded("b", "bo")  # another client's success clears nothing of a's
    assert t.wait("a", "ann") == 1.0


def test_failures_are_forgotten_after_a_quiet_while():
    t, now = clocked(base=1.0, cap=8.0, budget=1, forget=60.0)
    for _ in range(6):
        t.failed("a", "ann")
    assert t.wait("a", "ann") == 8.0
    now[0] += 61.0
    assert t.wait("a", "ann") == 0
    t.failed("a", "bo")  # a fresh count: within the budget of one, and bo's first
    assert t.wait("a", "ann") == 0 and t.wait("a", "bo") == 1.0
    assert len(t._pairs) == 1 and len(t._clients) == 1  # what was forgotten is no longer kept


@pytest.mark.parametrize("address, forwarded, trust, expected", [
    ("203.0.113.9", "10.0.0.1", True, "203.0.113.9"),  # a direct connection: its own address, whatever it says
    (None, "10.0.0.1", False, None),  # from this machine, no proxy trusted: the unknown client
    (None, "10.0.0.1", True, "10.0.0.1"),  # through the proxy
    (None, "6.6.6.6, 10.0.0.1", True, "10.0.0.1"),  # the last entry, which the proxy wrote, not the client's own
    (None, None, True, None), (None, " ", True, None)])
def test_client_address(address, forwarded, trust, expected):
    assert client(address, forwarded, trust_proxy=trust) == expected


def test_nobody_is_no_account_and_may_nothing(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    with pytest.raises(ValueError, match="invalid user name"):
        users.add(s, NOBODY.name, "admin", "long enough")
    with pytest.raises(PermissionError):
        require(NOBODY, "annotate")


@pytest.mark.parametrize("address, local", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
                                            ("0.0.0.0", False), ("", False), (None, False), ("192.168.1.2", False)])
def test_local_addresses(address, local):
    assert local_address(address) is local
