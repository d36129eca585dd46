"""What pre-tags the Annotate page: the predictions of the serving version and of the live head (cached for every
session), the learner kept running, and the live head's progress after each save."""
from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import streamlit as st

from core import jobs, learner, live, predict
from core.store import LiveHead, ModelVersion, Store
from pages import ui

if TYPE_CHECKING:  # pages call models through core.predict
    from core.model import Tagger

LIVE_POLL_S = 0.5  # how often the page looks for a newer live head (core.learner refits it after every save)


@st.cache_resource(max_entries=4)
def cached(folder: str) -> dict[int, tuple[list[str], list[float]]]:
    """(tags, scores) per sentence id predicted so far by one model version; a promoted version gets a new dict."""
    return {}


@st.cache_resource(max_entries=4)
def live_predictions(file: str) -> live.Predictions:
    """A live head's predictions file (core.learner writes a new one after every refit), read once."""
    return live.Predictions.read(file)


def predicted(tagger: Tagger, folder: str, project_id: int, ids: Sequence[int]
              ) -> dict[int, tuple[list[str], list[float]]]:
    """The cache of `folder`, after predicting the ids it lacks in one batch (core.predict.tag_ids)."""
    cache = cached(folder)
    if missing := [i for i in ids if i not in cache]:
        cache.update(predict.tag_ids(ui.store(), tagger, project_id, missing))
    return cache


def model_note(model: ModelVersion | None, head: LiveHead | None = None) -> str:
    """Which model pre-tagged the sentence: the live head (on which version, after how many labels), or a version."""
    if head is not None:
        on = html.escape(model.name) if model is not None else "the base encoder"
        f1 = "" if head.dev_f1 is None else f", {'held-out' if head.held_out else 'dev'} F1 {head.dev_f1:.2f}"
        return f"pre-tagged by the live head on {on} ({head.train_sentences} labels seen{f1})"
    if model is None:
        return "no serving model yet: train one on the Train page"
    f1 = model.dev_f1
    return f"pre-tagged by {html.escape(model.name)}" + (f" (dev F1 {f1:.2f})" if f1 is not None else "")


def serving_head(store: Store, project_id: int, *, key: str = "annotate") -> LiveHead | None:
    """The live head that pre-tags now, after making sure the learner runs (it is started again if it ended: the
    labels are all in the database, so it loses nothing)."""
    if not learner.enabled():
        return None
    pid = learner.ensure(store, parent=os.getpid())
    seen = st.session_state.get(f"{key}_learner_pid")  # the learner process this session last saw
    if seen is not None and seen != pid:
        st.toast("The live learner had stopped and was started again; no label is lost: it refits on every saved "
                 "label.", icon=":material/restart_alt:")
    st.session_state[f"{key}_learner_pid"] = pid
    return learner.serving_head(store, project_id)


def render_live(*, project_id: int, shown: int | None, model: ModelVersion | None, dirty: Callable[[], bool],
                key: str = "annotate") -> None:
    """The live head after each save: its dev F1 against the labels it has seen (the improvement to watch); when a
    newer head serves than the one that pre-tagged the sentence (`shown`) and it is not `dirty`, the page reruns so
    that its pre-tags come from it. Run as a fragment every LIVE_POLL_S seconds."""
    store = ui.store()
    jobs.reap(store, project_id)  # a finished training job's process is waited for, even with Train closed
    head = learner.serving_head(store, project_id)
    now = head.id if head is not None else None
    if now != shown and not dirty():
        st.rerun()
    latest = store.live_head(project_id)
    if latest is None:
        st.caption("Live head: learning starts with the first saved label." if learner.running(store) else
                   "Live head: the learner is starting…")
        return
    on = model.name if model is not None else "the base encoder"
    base = model.name if model is not None else "no version"
    if latest.model_id != (model.id if model is not None else None):
        st.caption(f"Live head: catching up with {ui.md_escape(on)} (states of the new encoder, then a refit).")
        return
    f1 = "-" if latest.dev_f1 is None else f"{latest.dev_f1:.3f}"
    versus = "" if latest.base_f1 is None else f" against {ui.md_escape(base)}'s {latest.base_f1:.3f}"
    use = "" if latest.better else f"; {ui.md_escape(base)} pre-tags while it is better"
    text, chart = st.columns([3, 2], vertical_alignment="center")
    split = "held-out" if latest.held_out else "dev"
    text.caption(f"Live head on {ui.md_escape(on)}, refitted after every save: {split} F1 **{f1}**{versus} after "
                 f"{latest.train_sentences} labels (refit {latest.fit_seconds:.1f} s){use}")
    curve = store.live_curve(project_id, latest.model_id)
    if len(curve) > 1:
        seen, f1s = zip(*curve)
        fig = go.Figure(go.Scatter(x=seen, y=f1s, mode="lines+markers", marker={"size": 4},
                                   hovertemplate="%{x} labels: dev F1 %{y:.3f}<extra></extra>"))
        fig.update_layout(height=120, margin={"l": 36, "r": 8, "t": 6, "b": 30}, showlegend=False,
                          xaxis={"title": {"text": "labels seen", "standoff": 2}},
                          yaxis={"range": [0, 1], "title": {"text": "dev F1", "standoff": 2}, "dtick": 0.5})
        chart.plotly_chart(fig, config={"displayModeBar": False}, key=f"{key}_live_curve")
