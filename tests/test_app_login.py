"""The app's login in AppTest: the form alone, a session ending after inactivity, a removed account logged out,
the Users page managing accounts as the logged-in admin."""
from __future__ import annotations

import time

from core import users
from core.store import Store
from tests.apptest import open_app


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
    assert [p["name"] for p in store.projects()] == ["demo"]  # the admin's first visit makes it
    at.switch_page("pages/users.py").run()
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
