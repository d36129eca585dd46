"""Logins in a real browser: a visitor sees only the login form, a wrong password is refused, an annotator cannot
reach Train, Export, Upload or Users, logins are audited, a link to a sentence opens it after the login, and the app
serves nothing on 0.0.0.0 until an admin account exists."""
from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench._app import env_for, server as app_server, wait_idle
from core import users
from core.formats import Sentence
from core.store import Store
from tests.test_browser import ARGS, CHROMIUM, ROOT

from playwright.sync_api import expect, sync_playwright  # noqa: E402  (after test_browser's chromium check)

SECRET = "Zanzibar"  # a word of the project's text: never on the page before a login
PASSWORD = "correct horse 42"


@contextlib.contextmanager
def serving(tmp_path: Path, db: Path, address: str, *, direct: bool = False) -> Iterator[tuple[str, Path]]:
    """The app on `address` and a free port, as `make run` starts it (`direct`: `streamlit run app.py` itself, without
    the check before start); yields the URL to open and the server's output file."""
    env = {**env_for(tmp_path / "home"), "NERLOOP_DB": str(db), "OMP_NUM_THREADS": "1"}
    with app_server(tmp_path, ["--server.address", address], env=env, direct=direct) as (url, _, output):
        yield url, output


def nav(page) -> list[str]:
    return [t.split("\n")[-1].strip() for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


def log_in(page, name: str, password: str) -> None:
    page.get_by_role("textbox", name="Name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_login_form_wrong_password_and_annotator_pages(tmp_path):
    db = tmp_path / "nerloop.db"
    store = Store(db)
    pid = store.create_project("treaties", ["LOC"])
    store.import_sentences(pid, [Sentence([SECRET, "signed"], None, f"{SECRET} signed", [(0, 8), (9, 15)])],
                           split="unlabeled")
    users.add(store, "ada", "admin", PASSWORD)
    users.add(store, "ann", "annotator", PASSWORD)
    store.set_member(pid, "ann")  # the project is open to ann
    store.close()
    with serving(tmp_path, db, "127.0.0.1") as (url, output), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
        body = page.locator("body").inner_text()
        assert SECRET not in body and "treaties" not in body and nav(page) == []
        for deep in ("annotate", "train"):  # a deep link shows the login form too, never the page
            page.goto(f"{url}/{deep}")
            expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
            page.wait_for_timeout(500)
            assert "treaties" not in page.locator("body").inner_text() and not page.locator("h1", has_text=deep).count()
        page.goto(url)  # a reload is a new session: logged out, as before
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)

        log_in(page, "ann", "not the password")
        expect(page.get_by_text("Wrong name or password.")).to_be_visible(timeout=30_000)
        assert nav(page) == [] and "treaties" not in page.locator("body").inner_text()
        page.wait_for_timeout(1100)  # the slow-down after one failure: a second
        log_in(page, "ann", PASSWORD)
        expect(page.get_by_text("Logged in as")).to_be_visible(timeout=60_000)
        expect(page.locator('[data-testid="stSidebarNav"]')).to_be_visible(timeout=30_000)
        assert nav(page) == ["Home", "Annotate"]  # no Upload, Train, Evaluate, Export or Users to reach
        assert "New project" not in page.locator("body").inner_text()  # nor the form that creates one
        page.wait_for_function("document.cookie.includes('nerloop_session=')", timeout=30_000)
        page.goto(f"{url}/annotate")  # a link, then a reload: still logged in, on the same page
        expect(page.locator("h1", has_text="Annotate")).to_be_visible(timeout=60_000)
        page.reload()
        expect(page.locator("h1", has_text="Annotate")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Logged in as")).to_be_visible(timeout=30_000)
        page.goto(f"{url}/export")  # a page the role cannot open: it says why, and the menu does not grow
        expect(page.get_by_text("Annotators cannot open Export: only admins may export")).to_be_visible(timeout=60_000)
        assert nav(page) == ["Home", "Annotate"]
        cookie = next(c for c in page.context.cookies() if c["name"] == "nerloop_session")
        assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0 and len(cookie["value"]) >= 40
        token = cookie["value"].encode()
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(500)
        assert not [c for c in page.context.cookies() if c["name"] == "nerloop_session" and c["value"]]
        page.reload()  # logged out stays logged out
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
        page.context.add_cookies([{**cookie}])  # the old cookie, kept by an attacker, logs nobody in any more
        page.reload()
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)
        assert nav(page) == [] and "Logged in as" not in page.locator("body").inner_text()

        log_in(page, "ada", PASSWORD)
        expect(page.get_by_text("Logged in as")).to_be_visible(timeout=60_000)
        expect(page.locator('[data-testid="stSidebarNav"]')).to_be_visible(timeout=30_000)
        assert nav(page) == ["Home", "Upload", "Annotate", "Train", "Evaluate", "Agreement", "Review", "Export",
                             "Users"]
        browser.close()
    secret = PASSWORD.encode()
    files = [db, *db.parent.glob("nerloop.db-*"), output, *(tmp_path / "home").rglob("*")]
    assert any(f.name == "app.log" for f in files)  # the logins were logged (names only)
    assert "failed login for 'ann'" in (tmp_path / "home" / "logs" / "app.log").read_text()
    logins = [(r["actor"], r["detail"]["op"], r["detail"]["address"]) for r in Store(db).audit()
              if r["action"] == "login"]
    assert logins == [("ann", "wrong password", None), ("ann", "ok", None), *[("ann", "resumed", None)] * 3,
                      ("ann", "logout", None), ("ada", "ok", None)]  # None: this machine
    for f in files:
        if f.is_file():
            assert secret not in f.read_bytes() and token not in f.read_bytes(), f  # the database keeps hashes only


def test_a_link_to_a_sentence_opens_it_after_the_login(tmp_path):
    db = tmp_path / "nerloop.db"
    store = Store(db)
    pid = store.create_project("treaties", ["LOC"])
    for text in ("Alpha came", "Bravo went", f"{SECRET} signed"):
        store.import_sentences(pid, [Sentence(text.split(), None, text, [(0, 0), (0, 0)])], split="unlabeled")
    sid = store.sentences(pid, split="unlabeled")[2].id
    users.add(store, "ada", "admin", PASSWORD)
    store.close()
    with serving(tmp_path, db, "127.0.0.1") as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/annotate?project={pid}&sid={sid}")  # a link sent by a colleague, opened logged out
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
        assert SECRET not in page.locator("body").inner_text()
        log_in(page, "ada", PASSWORD)
        expect(page.locator("h1", has_text="Annotate")).to_be_visible(timeout=60_000)
        expect(page.get_by_text(SECRET).first).to_be_visible(timeout=60_000)
        wait_idle(page)
        assert page.url == f"{url}/annotate?project={pid}&sid={sid}"  # the page keeps the sentence it shows there
        assert "Page not found" not in page.locator("body").inner_text()
        browser.close()


def test_refuses_every_interface_until_an_admin_exists(tmp_path):
    """`make run` (nerloop serve) refuses 0.0.0.0 before Streamlit starts; `streamlit run app.py` itself serves only
    the refusal; with an admin account, both serve the login form."""
    db = tmp_path / "nerloop.db"
    Store(db).close()
    refused = subprocess.run([sys.executable, "-m", "core.cli", "--db", str(db), "serve", "--", "--server.address",
                              "0.0.0.0", "--server.headless", "true"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2 and "refusing to serve on 0.0.0.0" in refused.stderr
    assert "needs at least one admin account" in refused.stderr and "You can now view" not in refused.stdout
    with serving(tmp_path, db, "0.0.0.0", direct=True) as (url, output), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        expect(page.get_by_text(re.compile("refusing to serve on 0.0.0.0"))).to_be_visible(timeout=60_000)
        assert nav(page) == [] and not page.get_by_role("textbox", name="Password").count()
        assert Store(db).projects() == []  # not even the demo project was made
        assert "refusing to serve on 0.0.0.0" in output.read_text()  # said on the server's output too
        store = Store(db)
        users.add(store, "ada", "admin", PASSWORD)
        store.close()
        page.reload()
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
        log_in(page, "ada", PASSWORD)
        expect(page.get_by_text("Logged in as")).to_be_visible(timeout=60_000)
        browser.close()
    with serving(tmp_path, db, "0.0.0.0") as (url, output), sync_playwright() as p:  # make run, now that an admin exists
        assert "reachable from other machines: 1 account, log in required" in output.read_text()
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=60_000)
        browser.close()
