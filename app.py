"""nerloop: the Streamlit app. `streamlit run app.py` (or `make run`)."""
from __future__ import annotations

import logging
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path

import streamlit as st
from streamlit.errors import FragmentHandledException

from core import paths
from core.access import Actor
from pages import home, login, ui

st.set_page_config(page_title="nerloop", page_icon=":material/autorenew:", layout="wide")

# Each page with the action (core.access) a role needs to see it; core refuses the writes of the others anyway.
HOME = "home"  # the default page's url_path, which Streamlit knows it by
PAGES = [
    (st.Page(home.render, title="Home", icon=":material/home:", default=True, url_path=HOME), "annotate"),
    (st.Page("pages/upload.py", title="Upload", icon=":material/upload:"), "import"),
    (st.Page("pages/annotate.py", title="Annotate", icon=":material/edit_note:"), "annotate"),
    (st.Page("pages/train.py", title="Train", icon=":material/model_training:"), "train"),
    (st.Page("pages/evaluate.py", title="Evaluate", icon=":material/bar_chart:"), "review"),
    (st.Page("pages/agreement.py", title="Agreement", icon=":material/groups:"), "review"),
    (st.Page("pages/review.py", title="Review", icon=":material/rate_review:"), "review"),
    (st.Page("pages/export.py", title="Export", icon=":material/download:"), "export"),
    (st.Page("pages/users.py", title="Users", icon=":material/group:"), "users"),
]
# The login form at every page's address: a link to a page (its query too) shows the form, and the login's rerun then
# runs that page, which has the same url_path, so the same page hash, as the form it replaces.
GATES = {"refuse": [st.Page(login.render_refusal, title="nerloop", url_path="refused", default=True)],
         "login": [st.Page(login.render_login, title="Log in", url_path=p.url_path or HOME, default=not p.url_path)
                   for p, _ in PAGES]}
LOG = logging.getLogger("nerloop.app")
# An absolute path (not a URL's or a relative one's tail), to be shown by its last name only.
_PATH = re.compile(r"(?<![\w.~/:-])(?:[A-Za-z]:\\|~?/)[^\s'\",;:()]*")


def open_log() -> str:
    """Send the `nerloop` loggers to <data folder>/logs/app.log (rotating; one handler per process, moved when the
    data folder changes); the place to name to users, the server's output where that file cannot be written."""
    logger = logging.getLogger("nerloop")
    try:
        file = paths.home() / "logs" / "app.log"
        current = [h for h in logger.handlers if isinstance(h, RotatingFileHandler)]
        if [h.baseFilename for h in current] != [str(file)]:
            for handler in current:
                logger.removeHandler(handler)
                handler.close()
            file.parent.mkdir(exist_ok=True)
            handler = RotatingFileHandler(file, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
        return file.name
    except OSError:
        return "the server's output"


def short(message: str) -> str:
    """The first line of `message`, each absolute path in it cut to its last name, Markdown-escaped: fit for any
    browser."""
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return ui.md_escape(_PATH.sub(lambda m: Path(m.group()).name or "/", first).rstrip("."))


def gate() -> tuple[str | None, Actor | None]:
    """("refuse", None) when this server must serve nothing, ("login", None) before a login, else (None, actor)."""
    try:
        store = ui.store()
    except Exception:  # no pages then: the error boundary below shows the error
        return "login", None
    if login.address_refusal(store):
        return "refuse", None
    actor = login.current(store)
    return ("login", None) if actor is None else (None, actor)


log_name = open_log()
closed, actor = gate()
page = st.navigation(GATES[closed] if closed else [p if actor.may(action) else login.role_refusal(p, action, actor=actor)
                                                  for p, action in PAGES],
                     position="hidden" if closed else "sidebar")
try:  # one error boundary: st.rerun, st.stop and st.switch_page raise BaseException subclasses, which pass
    store = ui.store()
    if closed is None:
        if problem := store.file_problem():
            st.error(short(problem))
        if note := ui.start_note():
            st.sidebar.warning(short(note))
        if actor.may("project"):
            home.ensure_demo(store, actor=actor)
        login.render_account(actor=actor)
        ui.render_project_picker()
    page.run()
except FragmentHandledException as e:  # a fragment's error, already shown in its place by Streamlit
    LOG.error("a fragment failed on page %s", page.title, exc_info=e.__context__)
    raise
except Exception as e:
    LOG.exception("page %s failed", page.title)
    st.error(f"Something went wrong: {type(e).__name__}: {short(str(e))}. Details are in {ui.md_escape(log_name)}.")
