"""The app's login in AppTest: the form alone, a session ending after inactivity, a removed account logged out,
the Users page managing accounts as the logged-in admin, a deep link kept through the login, logins audited."""
from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from core import users
from core.store import Store
from core.vocab import MESSAGE_CHARS
from pages import login
from tests.apptest import APP, open_app, raw


def log_in(at, name: str, password: str):
    at.text_input(key="login_name").set_value(name)
    at.text_input(key="login_password").set_value(password)
    return at.button(key="login_submit").click().run()


def test_login_expiry_and_removal(tmp_path, monkeypatch):
    db = tmp_path / "nerloop.db"
    store = Store(db)
    users.add(store, "ada", "admin", "correct horse")
    users.add(store, "ann", "annotator", "battery staple")
    monkeypatch.setenv("NERLOOP_SESSION_MINUTES", "5")
    at = open_app(monkeypatch=monkeypatch, db=db)
    assert [t.value for t in at.title] == ["nerloop"] and not at.sidebar.selectbox and store.projects() == []
    log_in(at, "ann", "battery staple")
    assert not at.exception and "auth_user" in at.session_state and at.sidebar.button(key="login_logout")
    assert store.projects() == []  # an annotator does not make the demo project
    at.session_state["auth_seen"] = time.time() - 6 * 60  # six minutes without activity
    at.run()
    assert "auth_user" not in at.session_state and at.text_input(key="login_password") is not None
    assert "5 minutes without activity" in at.info[0].value
    log_in(at, "ada", "correct horse")
    assert at.session_state["auth_user"] == {"name": "ada", "role": "admin"}
    assert [p.name for p in store.projects()] == ["demo"]  # the admin's first visit makes it
    at.switch_page("pages/users.py").run()
    at.text_input(key="users_add_name").set_value("x" * 20_000)  # refused, and not echoed back whole
    at.text_input(key="users_add_password").set_value("a fine secret")
    at.text_input(key="users_add_again").set_value("a fine secret")
    at.button(key="users_add").click().run()
    assert "invalid user name" in at.error[0].value and len(at.error[0].value) <= MESSAGE_CHARS * 2
    at.text_input(key="users_add_name").set_value("bo")
    at.selectbox(key="users_add_role").set_value("reviewer")
    at.text_input(key="users_add_password").set_value("a fine secret")
    at.text_input(key="users_add_again").set_value("a fine secret")
    at.button(key="users_add").click().run()
    assert not at.exception and at.success[0].value == r"Added reviewer bo\."
    assert users.authenticate(store, "bo", "a fine secret") == {"name": "bo", "role": "reviewer"}
    assert store.audit()[-1]["actor"] == "ada" and store.audit()[-1]["detail"] == {"op": "add", "name": "bo",
                                                                                   "role": "reviewer"}
    users.set_role(store, "bo", "admin")
    users.remove(store, "ada")  # removed while logged in: the next run shows the login form
    at.run()
    assert "auth_user" not in at.session_state and at.text_input(key="login_password") is not None


def test_a_deep_link_survives_the_login(tmp_path, monkeypatch):
    db = tmp_path / "nerloop.db"
    store = Store(db)
    users.add(store, "ada", "admin", "correct horse")
    pid = store.create_project("plain", ["PER", "LOC"])
    store.import_sentences(pid, [raw(["Ann", "lives", "in", "Rome"]), raw(["Bob", "too"])], split="unlabeled")
    sid = store.sentences(pid, split="unlabeled")[1].id
    monkeypatch.setenv("NERLOOP_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(project=str(pid), sid=str(sid))
    at.switch_page("pages/annotate.py").run()  # a first request for /annotate?project=..&sid=.., logged out
    assert not at.exception and [t.value for t in at.title] == ["nerloop"]
    assert "annotate_sentence_id" not in at.session_state
    log_in(at, "ada", "correct horse")
    assert not at.exception and [t.value for t in at.title] == ["Annotate"]
    assert at.session_state["annotate_sentence_id"] == sid and at.session_state["project_id"] == pid
    assert at.query_params["sid"] == str(sid) and at.query_params["project"] == str(pid)


def test_logins_are_audited_and_refusals_logged(tmp_path, monkeypatch, caplog):
    db = tmp_path / "nerloop.db"
    store = Store(db)
    users.add(store, "ada", "admin", "correct horse")
    login.throttle.clear()  # the throttle lives as long as the process: no failures of other tests
    at = open_app(monkeypatch=monkeypatch, db=db)
    log_in(at, "ada", "wrong horse")
    for _ in range(8):  # more failures of this client (None: unknown) for ada, so that the wait outlasts a slow run
        login.throttle().failed(None, "ada")
    log_in(at, "ada", "correct horse")  # this client must wait: its password is not checked
    assert "Too many failed logins" in at.error[0].value and "auth_user" not in at.session_state
    login.throttle.clear()
    log_in(at, "my secret pw", "correct horse")  # a password typed as a name: no account, not recorded
    log_in(at, "ada", "correct horse")  # one failure of this client, for another name: ada's password is checked
    assert at.session_state["auth_user"]["name"] == "ada"
    at.sidebar.button(key="login_logout").click().run()
    assert "auth_user" not in at.session_state
    token = users.open_session(store, "ada")  # a reload: a new session that brings the login cookie
    monkeypatch.setattr(login, "_cookie", lambda: token)
    resumed = open_app(monkeypatch=monkeypatch, db=db)
    assert resumed.session_state["auth_user"]["name"] == "ada"
    rows = [(r["actor"], r["role"], r["detail"]) for r in store.audit() if r["action"] == "login"]
    assert rows == [("ada", "admin", {"op": op, "name": "ada", "address": None})
                    for op in ("wrong password", "throttled")] + [
        ("(unknown)", "none", {"op": "wrong password", "name": "an unknown name", "address": None})] + [
        ("ada", "admin", {"op": op, "name": "ada", "address": None}) for op in ("ok", "logout", "resumed")]
    assert all(r["project_id"] is None for r in store.audit() if r["action"] == "login")
    logged = [r.getMessage() for r in caplog.records if r.name == "nerloop.auth"]
    assert logged[:3] == ["failed login for 'ada' from an unknown address",
                          "login refused for 'ada' from an unknown address: too many failed logins, 256 s to wait",
                          "failed login for an unknown name from an unknown address"]
    assert not [m for m in logged if "secret" in m]
