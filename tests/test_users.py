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
