"""Shared Streamlit pieces: the store, the current project, label colours, escaped sentence rendering."""
from __future__ import annotations

import contextlib
import ctypes
import gc
import html
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Sequence

import streamlit as st

from core import formats, paths, predict, versions
from core.access import OWNER, Actor
from core.store import ModelVersion, Project, Store

if TYPE_CHECKING:  # pages call models through core.predict
    from core.model import Tagger

# Colour-blind-friendly palette (Okabe-Ito, then Tableau); a label keeps its colour on every page.
PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
           "#8C564B", "#17BECF", "#BCBD22", "#7F7F7F", "#1F77B4"]
LOW_CONFIDENCE = 0.6
CHART_CONFIG = {"displayModeBar": False, "displaylogo": False}  # Plotly: no toolbar over titles and legends
# (Streamlit's own fullscreen button stays; a drag zooms, a double click resets)
ANNOTATE_SENTENCE = "annotate_sentence_id"  # the Annotate page's current sentence (session state)
USER = "auth_user"  # the logged-in account, {"name", "role"} (session state; pages/login.py sets it)


def release_memory() -> None:
    """Collect garbage and hand the freed heap back to the system (glibc's malloc_trim; elsewhere the collection
    alone): after a large parse the server would otherwise keep its peak."""
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def db_path() -> str:
    """The database the app works on, absolute: $NERLOOP_DB, else a legacy ./nerloop.db, else the data folder's."""
    return str(paths.db_path())


@st.cache_resource
def _store(path: str) -> tuple[Store, str | None]:
    note = paths.earlier_use(Path(path))  # looked at before Store makes the file
    if note:
        logging.getLogger("nerloop.app").warning(note)
    store = Store(path)
    versions.cleanup(store)  # leftovers of a killed save: once per server start, logged
    return store, note


def store() -> Store:
    """One Store per database file, shared by every session of this server (StoreError when it is damaged or
    cannot be opened: not cached, so the next run tries again)."""
    return _store(db_path())[0]


def start_note() -> str | None:
    """Why the database this server opened is new although its folder shows earlier use (see paths.earlier_use)."""
    return _store(db_path())[1]


def actor() -> Actor:
    """Who this session acts as: the logged-in account, else the local owner while no account exists (a session
    without a login on a database with accounts gets PermissionError: app.py shows it only the login form)."""
    if user := st.session_state.get(USER):
        return Actor(user["name"], user["role"])
    if store().users():
        raise PermissionError("not logged in")
    return OWNER


@st.cache_resource(max_entries=2)
def tagger(folder: str) -> Tagger:
    """A model version, loaded once; a promoted version has another folder, so it is loaded anew."""
    return predict.load(folder, device="cpu")


def serving_tagger(project_id: int) -> tuple[Tagger | None, ModelVersion | None]:
    """The serving version's tagger (cached) and row, or (None, None) before the first training."""
    return predict.serving(store(), project_id, loader=tagger)


def annotator_name(typed: str) -> str:
    """The name saves and drafts are kept under: the logged-in account's, else the name typed in (else anonymous)."""
    if user := st.session_state.get(USER):
        return user["name"]
    return typed.strip() or "anonymous"


def ensure_navigation() -> None:
    """Run the page through app.py's navigation. On a fresh server, a first request for /annotate (a reload, a
    link) runs pages/annotate.py alone: Streamlit treats a pages/ folder beside app.py as its older page routing until
    st.navigation has run once. Switch that off and rerun, so app.py (project, sidebar, pages) runs first."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def open_in_annotate(sentence_id: int) -> None:
    """Switch to the Annotate page, opened on `sentence_id`."""
    st.session_state[ANNOTATE_SENTENCE] = int(sentence_id)
    st.switch_page("pages/annotate.py")


def project() -> Project | None:
    """The project chosen in the sidebar (session state `project_id`)."""
    pid = st.session_state.get("project_id")
    if pid is None:
        return None
    try:
        return store().open_project(int(pid), actor())
    except (KeyError, PermissionError):
        st.session_state.pop("project_id", None)
        return None


def require_project() -> Project:
    """The current project, or a hint and a stop when there is none."""
    proj = project()
    if proj is None:
        st.info("Pick or create a project on the Home page first.")
        st.stop()
    return proj


def _picked(key: str) -> None:
    """Selectbox callback: the project chosen in the sidebar becomes the current one."""
    st.session_state["project_id"] = st.session_state[key]


def render_project_picker(*, key: str = "sidebar_project") -> None:
    """Sidebar select box of projects; sets `st.session_state.project_id` and keeps it in the URL (`?project=ID`),
    so a reload, a new tab or a shared link opens the same project."""
    projects = store().projects(actor())  # those this user may open
    _refuse_url_project({p.id for p in projects})
    if not projects:
        return
    ids = [p.id for p in projects]
    names = {p.id: p.name for p in projects}
    current = st.session_state.get("project_id")
    if current not in ids:
        current = url_project(ids) or ids[0]
    st.session_state["project_id"] = current
    if st.session_state.get(key) != current:  # the box follows the current project, through its state only: a
        st.session_state[key] = current  # default value as well would make Streamlit warn
    st.sidebar.selectbox("Project", ids, format_func=names.get, key=key, on_change=_picked, args=(key,))
    if st.query_params.get("project") != str(current):
        st.query_params["project"] = str(current)


def _refuse_url_project(ids: set[int]) -> None:
    """Say why `?project=ID` in the URL is not opened when it names a project this user may not open."""
    wanted = st.query_params.get("project", "")
    if not wanted.isdigit() or int(wanted) in ids or st.session_state.get("project_id") in ids:
        return
    try:
        store().scoped(actor(), int(wanted))
    except PermissionError:
        st.error(f"Project {wanted} is not open to you: you are not a member of it. Ask an admin to add you "
                 "(Home, Team; or `nerloop team PROJECT --add-member NAME`).")
    except KeyError:
        st.warning(f"There is no project {wanted}.")


def url_project(ids: Sequence[int]) -> int | None:
    """The project named by `?project=ID` in the URL, when it is one of `ids`."""
    wanted = st.query_params.get("project", "")
    return int(wanted) if wanted.isdigit() and int(wanted) in ids else None


def colours(labels: Sequence[str]) -> dict[str, str]:
    """Colour of each entity type: by its position in the project's label list."""
    return {lab: PALETTE[i % len(PALETTE)] for i, lab in enumerate(labels)}


def sentence_html(
    words: Sequence[str],
    tags: Sequence[str] | None,
    *,
    labels: Sequence[str],
    scores: Sequence[float] | None = None,
    cursor: int | None = None,
    low: float = LOW_CONFIDENCE,
    marked: Collection[int] = (),
) -> str:
    """The sentence as HTML: entities as coloured chips with their type, low-confidence words underlined,
    the cursor word outlined, `marked` words (e.g. where versions differ) boxed in red. Every word is escaped."""
    col = colours(labels)
    tags = list(tags) if tags is not None else ["O"] * len(words)
    parts, i = [], 0
    spans = {s: (e, lab) for s, e, lab in formats.spans(tags)}
    while i < len(words):
        if i in spans:
            end, lab = spans[i]
            inner = " ".join(_word(words[k], k, scores, cursor, low, marked) for k in range(i, end))
            c = col.get(lab, "#999999")
            parts.append(
                f'<span class="nl-ent" style="background:{c}33;border:2px solid {c};border-radius:6px;'
                f'padding:1px 4px;margin:0 2px">{inner} <b style="font-size:0.6em;color:{c};'
                f'vertical-align:middle">{html.escape(lab)}</b></span>'
            )
            i = end
        else:
            parts.append(_word(words[i], i, scores, cursor, low, marked))
            i += 1
    return f'<div class="nl-sentence" style="font-size:1.5rem;line-height:2.6rem">{" ".join(parts)}</div>'


def _word(word: str, i: int, scores: Sequence[float] | None, cursor: int | None, low: float,
          marked: Collection[int] = ()) -> str:
    style = ["box-shadow:0 0 0 2px #d62728;background:#d6272822;border-radius:3px"] if i in marked else []
    title = ""
    if scores is not None and i < len(scores):
        title = f' title="confidence {scores[i]:.2f}"'
        if scores[i] < low:
            style.append("text-decoration:underline wavy #d62728")
    if cursor == i:
        style.append("outline:3px solid #1f77b4;outline-offset:2px;border-radius:3px")
    css = f' style="{";".join(style)}"' if style else ""
    return f'<span class="nl-w" data-i="{i}"{css}{title}>{html.escape(word)}</span>'


def render_sentence(words: Sequence[str], tags: Sequence[str] | None, *, labels: Sequence[str], **kw) -> None:
    """Show one sentence (escaped HTML)."""
    st.markdown(sentence_html(words, tags, labels=labels, **kw), unsafe_allow_html=True)


def render_legend(labels: Sequence[str], *, keys: bool = True) -> None:
    """The label colours, with their number keys."""
    col = colours(labels)
    chips = [
        f'<span style="background:{col[lab]}33;border:2px solid {col[lab]};border-radius:6px;padding:1px 6px;'
        f'margin-right:6px">{f"<b>{n}</b> " if keys else ""}{html.escape(lab)}</span>'
        for n, lab in enumerate(labels, start=1)
    ]
    st.markdown(" ".join(chips), unsafe_allow_html=True)


# ---------------------------------------------------------------- added for Home / Upload / Export

_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~")


def md_escape(text: str) -> str:
    """User text made inert inside st.markdown: Markdown syntax escaped (st.markdown renders no HTML by default)."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)
