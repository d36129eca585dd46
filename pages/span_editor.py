"""The Annotate page's span editor: a Streamlit components v2 component (inline JS/CSS from pages/static, no build
step) that renders one sentence and handles keys and mouse in the browser, sending the actions to Python."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import streamlit as st

from core import annotate as ann
from pages import ui

STATIC = Path(__file__).parent / "static"
UNDO_SENT = 50  # undo steps the browser can replay by itself; more are applied when Python answers

_component = st.components.v2.component(
    "nerloop.span_editor", html='<div class="nl-root"></div>',
    css=(STATIC / "span_editor.css").read_text(encoding="utf-8"),
    js=(STATIC / "span_editor.js").read_text(encoding="utf-8"))


def actions(key: str) -> object:
    """The actions the editor `key` has sent and Python has not acknowledged yet (as sent: check them)."""
    return (st.session_state.get(key) or {}).get("actions")


def render_span_editor(*, key: str, sid: int, words: Sequence[str], draft: ann.Draft, labels: Sequence[str],
                       scores: Sequence[float] | None, acked: int, notice: str | None = None) -> None:
    """Mount the editor on sentence `sid` with the draft's tags, cursor and undo steps; `acked` is the sequence
    number of the last action Python has applied, so the browser drops those and replays the rest; `notice` says in
    the editor why keys were not applied (refused)."""
    _component(key=key, default={"actions": []}, on_actions_change=lambda: None, data={
        "sid": sid, "words": list(words), "tags": list(draft.tags), "cursor": draft.cursor,
        "undo": [[list(t), c] for t, c in draft.undo_stack[-UNDO_SENT:]],
        "scores": [round(float(s), 4) for s in scores] if scores is not None else None,
        "low": ui.LOW_CONFIDENCE, "labels": list(labels), "colours": ui.colours(labels), "acked": acked,
        "notice": notice})
