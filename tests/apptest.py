"""Shared by the AppTest modules: open the app as a browser session would, and a few unlabelled sentences."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.formats import Sentence

APP = str(Path(__file__).resolve().parents[1] / "app.py")
UNLABELED = """Maria Okonkwo visited Westmoor on Friday.
The Harbor Rail Company said prices would rise.
John Smith met Mary in Paris.
Police in Berlin said the market was closed.
The minister left London on Monday.
"""


def raw(words: list[str]) -> Sentence:
    """An unlabelled sentence of these words (offsets unused)."""
    return Sentence(list(words), None, " ".join(words), [(0, 0)] * len(words))


def open_app(project_id: int | None = None, page: str | None = None, *, monkeypatch=None, db: Path | None = None,
             query: dict[str, str] | None = None, **state) -> AppTest:
    """app.py run once (on database `db` as $NERLOOP_DB when given, with `project_id` and `state` in the session),
    with the `query` parameters in its URL from the start, then switched to `page`; no exception on the way."""
    if db is not None:
        monkeypatch.setenv("NERLOOP_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=120)  # a hang guard, generous for a busy CI machine
    if project_id is not None:
        at.session_state["project_id"] = project_id
    for key, value in state.items():
        at.session_state[key] = value
    for key, value in (query or {}).items():  # in the URL from the first request on, as in a browser
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def policy_warnings(monkeypatch) -> list[str]:
    """Records the widget-policy warnings Streamlit logs (e.g. a widget "created with a default value but also had its
    value set via the Session State API") in the app runs that follow: AppTest has no runtime, so it skips them."""
    from types import SimpleNamespace

    from streamlit.elements.lib import policies

    seen: list[str] = []
    monkeypatch.setattr(policies, "runtime", SimpleNamespace(exists=lambda: True))
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies._LOGGER, "warning", lambda msg, *args, **kwargs: seen.append(msg % args))
    return seen
