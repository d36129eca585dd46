"""`make run` / `nerloop serve`: the address Streamlit will use, and the refusal before it starts."""
from __future__ import annotations

import os

import pytest

from core import serve, users
from core.cli import main
from core.store import Store


def test_address_follows_streamlits_precedence(tmp_path):
    user, app = tmp_path / "user.toml", tmp_path / "app.toml"
    user.write_text('[server]\naddress = "0.0.0.0"\nport = 8501\n')
    app.write_text('[server]\nport = 8502\n')
    assert serve.address([], {}, [user, app]) == "0.0.0.0"  # the app's file does not set it: the user's counts
    app.write_text('[server]\naddress = "127.0.0.1"\n')
    assert serve.address([], {}, [user, app]) == "127.0.0.1"  # the later file wins
    assert serve.address([], {serve.ENV: "10.0.0.5"}, [user, app]) == "10.0.0.5"  # the environment over files
    flags = ["--server.port", "1", "--server.address", "::", "--server.address=192.168.1.2"]
    assert serve.address(flags, {serve.ENV: "10.0.0.5"}, [user, app]) == "192.168.1.2"  # the last flag over all
    assert serve.address([], {}, [tmp_path / "missing.toml"]) is None  # every interface
    app.write_text("[server\n")
    with pytest.raises(ValueError, match="app.toml"):
        serve.address([], {}, [user, app])


def test_refusal_only_beyond_this_machine_without_an_admin(store):
    for local in ("127.0.0.1", "localhost", "::1", "[::1]"):
        assert serve.refusal(local, store) is None
    for wide in ("0.0.0.0", None, "192.168.1.2"):
        assert "needs at least one admin account" in serve.refusal(wide, store)
    users.add(store, "ada", "admin", "correct horse")
    users.add(store, "bo", "annotator", "battery staple")
    assert serve.refusal("0.0.0.0", store) is None
    assert "reachable from other machines: 2 accounts, log in required" in serve.start_note("0.0.0.0", store)


@pytest.fixture
def started(monkeypatch) -> list:
    calls: list = []
    monkeypatch.setattr(serve, "run", lambda options: calls.append((list(options), os.environ.get("NERLOOP_DB"))))
    monkeypatch.delenv(serve.ENV, raising=False)
    monkeypatch.delenv("NERLOOP_DB", raising=False)
    return calls


def test_serve_refuses_before_streamlit_starts(tmp_path, started, capsys):
    db = tmp_path / "n.db"
    assert main(["--db", str(db), "serve", "--", "--server.address", "0.0.0.0"]) == 2
    assert started == [] and "refusing to serve on 0.0.0.0" in capsys.readouterr().err
    assert main(["--db", str(db), "serve", "--", "oops"]) == 2 and started == []
    assert "'oops' is not a Streamlit option" in capsys.readouterr().err
    store = Store(db)
    users.add(store, "ada", "admin", "correct horse")
    store.close()
    assert main(["--db", str(db), "serve", "--", "--server.address", "0.0.0.0", "--server.port", "8600"]) == 0
    assert started == [(["--server.address", "0.0.0.0", "--server.port", "8600"], str(db.resolve()))]
    assert "serving on 0.0.0.0, reachable from other machines: 1 account" in capsys.readouterr().err


def test_serve_on_this_machine_needs_no_account(tmp_path, started, capsys):
    assert main(["--db", str(tmp_path / "n.db"), "serve"]) == 0
    assert started == [([], str((tmp_path / "n.db").resolve()))]
    assert "serving on 127.0.0.1 (this machine only); single-user, no login" in capsys.readouterr().err
