"""Tests for core.users and `nerloop users`: argon2 hashes only, roles, the last admin, removal keeps the name."""
from __future__ import annotations

import sqlite3

import pytest

from core import users
from tests.test_cli import ok, run


def test_accounts_hash_roles_and_removal(store):
    users.add(store, "ada", "admin", "correct horse")
    users.add(store, "bo", "annotator", "battery staple")
    assert users.listing(store) == [{"name": n, "role": r, "created": u["created"], "updated": u["updated"]}
                                    for (n, r), u in zip([("ada", "admin"), ("bo", "annotator")], store.users())]
    row = store.user("ada")
    assert row["password_hash"].startswith("$argon2id$") and "correct horse" not in row["password_hash"]
    assert users.authenticate(store, "ada", "correct horse") == {"name": "ada", "role": "admin"}
    assert users.authenticate(store, "ada", "wrong horse") is None
    assert users.authenticate(store, "nobody", "no such user") is None  # the dummy hash's own password
    users.passwd(store, "bo", "new password")
    assert users.authenticate(store, "bo", "battery staple") is None
    assert users.authenticate(store, "bo", "new password") == {"name": "bo", "role": "annotator"}
    with pytest.raises(ValueError, match="last admin"):
        users.remove(store, "ada")
    with pytest.raises(ValueError, match="last admin"):
        users.set_role(store, "ada", "reviewer")
    users.set_role(store, "bo", "admin")
    users.remove(store, "ada")
    assert users.authenticate(store, "ada", "correct horse") is None and store.user("ada") is None
    assert [u["name"] for u in store.users(removed=True)] == ["ada", "bo"]
    with pytest.raises(ValueError, match="not reused"):
        users.add(store, "ada", "annotator", "another one")


def test_login_sessions_expire_end_and_keep_only_hashes(store, monkeypatch):
    users.add(store, "ada", "admin", "correct horse")
    users.add(store, "bo", "annotator", "battery staple")
    clock = [1000.0]
    monkeypatch.setattr(users.time, "time", lambda: clock[0])
    token = users.open_session(store, "bo")
    assert len(token) >= 40 and token not in str(store.db.execute("SELECT * FROM sessions").fetchall())
    assert users.resume(store, token, idle_minutes=30) == {"name": "bo", "role": "annotator"}
    assert users.resume(store, token + "x", idle_minutes=30) is None and users.resume(store, "", idle_minutes=30) is None
    clock[0] += 29 * 60  # used within the idle limit: alive, and its last use moves on
    assert users.resume(store, token, idle_minutes=30) is not None
    clock[0] += 29 * 60
    assert users.resume(store, token, idle_minutes=30) is not None
    clock[0] += 31 * 60  # idle too long: ended for good
    assert users.resume(store, token, idle_minutes=30) is None
    clock[0] -= 31 * 60
    assert users.resume(store, token, idle_minutes=30) is None
    busy = users.open_session(store, "bo", hours=1)
    for _ in range(4):  # active all along, but a session lasts `hours` at most
        clock[0] += 20 * 60
        alive = users.resume(store, busy, idle_minutes=30)
    assert alive is None
    one, two = users.open_session(store, "bo"), users.open_session(store, "ada")
    users.close_session(store, one)  # log out ends that session only
    assert users.resume(store, one, idle_minutes=30) is None and users.resume(store, two, idle_minutes=30)
    three = users.open_session(store, "bo")
    users.passwd(store, "bo", "new password")  # a new password ends the account's sessions
    assert users.resume(store, three, idle_minutes=30) is None and users.resume(store, two, idle_minutes=30)
    users.set_role(store, "bo", "admin")
    users.remove(store, "ada")  # so does a removal
    assert users.resume(store, two, idle_minutes=30) is None
    with pytest.raises(KeyError):
        users.open_session(store, "ada")


@pytest.mark.parametrize("name, role, password, problem", [
    ("a b", "admin", "long enough", "invalid user name"), ("", "admin", "long enough", "invalid user name"),
    ("x" * 65, "admin", "long enough", "invalid user name"), ("ok", "boss", "long enough", "invalid role"),
    ("ok", "admin", "short", "at least 8"),
])
def test_bad_accounts_are_refused(store, name, role, password, problem):
    with pytest.raises(ValueError, match=problem):
        users.add(store, name, role, password)
    assert store.users(removed=True) == []


def test_users_cli_no_plaintext_anywhere(tmp_path, capsys):
    db = str(tmp_path / "t.db")
    secret = tmp_path / "pw"
    secret.write_text("s3cret-passphrase\n")
    assert run("--db", db, "users", "list")[0] == 2  # no database yet: `users add` creates one
    ok("--db", db, "init", "p")
    assert "no accounts" in ok("--db", db, "users", "list")
    assert "added admin 'root'" in ok("--db", db, "users", "add", "root", "--role", "admin", "--password-file",
                                      str(secret))
    assert "added annotator 'eve'" in ok("--db", db, "users", "add", "eve", "--role", "annotator",
                                         "--password-file", str(secret))
    table = ok("--db", db, "users", "list")
    assert "root  admin" in table and "eve   annotator" in table and "s3cret" not in table
    code, _, err = run("--db", db, "users", "remove", "root")
    assert code == 2 and "last admin" in err
    assert ok("--db", db, "users", "role", "eve", "reviewer")
    secret.write_text("changed-passphrase")
    ok("--db", db, "users", "passwd", "eve", "--password-file", str(secret))
    ok("--db", db, "users", "remove", "eve")
    assert "eve" not in ok("--db", db, "users", "list")
    assert run("--db", db, "users", "passwd", "nobody", "--password-file", str(secret))[0] == 2
    assert run("--db", db, "users", "add", "x", "--role", "admin", "--password-file", str(tmp_path / "none"))[0] == 2
    for path in tmp_path.glob("t.db*"):  # the database and its WAL: hashes only
        assert b"passphrase" not in path.read_bytes()
    rows = sqlite3.connect(db).execute("SELECT name, role, password_hash FROM users ORDER BY id").fetchall()
    assert [(n, r) for n, r, _ in rows] == [("root", "admin"), ("eve", "reviewer")]
    assert all(h.startswith("$argon2id$") for _, _, h in rows)
