"""Evaluate: per-class scores of a version beside the previous one, learning curve, confusion and errors."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import forgetting, metrics, predict, report
from core.store import ModelVersion, Store
from core.vocab import clip
from pages import ui

ui.ensure_navigation()  # a first request for this page on a fresh server: run app.py first

GREY = "#999999"
PAGE_SIZE = 10
TRAIN_LIMIT = 500
CURVE_AXES = {"sentences": "Sentences", "tokens": "Words"}  # the learning curve's x-axis: labelled sentences or words
AXIS_TITLES = {"sentences": "labelled sentences", "tokens": "labelled words"}
TITLES = {"precision": "Precision per class", "recall": "Recall per class", "f1": "F1 per class"}


@st.cache_data(max_entries=32, show_spinner="Evaluating the version…")
def scored(model_id: int, folder: str, created: str, digest: str, _data: report.Labelled) -> tuple[list, dict]:
    """Predicted tags and core.metrics scores of a version on labelled data, cached per (model, content hash)."""
    result = predict.score(ui.tagger(folder), _data)
    return result.predicted, result.scores


def _score(model: ModelVersion, data: report.Labelled) -> tuple[list, dict]:
    return scored(model.id, model.folder, model.created, data.digest, data)


def _usable(model: ModelVersion | None) -> bool:
    return model is not None and Path(model.folder).is_dir()


def _flash(kind: str, text: str) -> None:
    st.session_state["evaluate_flash"] = (kind, text)


def _promote(model_id: int) -> None:
    try:
        ui.store().promote(model_id, actor=ui.actor())
    except ValueError as exc:
        _flash("error", clip(str(exc)))
        return
    _flash("success", f"{ui.store().model(model_id).name} is now serving.")


def _rollback(project_id: int) -> None:
    try:
        model_id = ui.store().rollback(project_id, actor=ui.actor())
    except ValueError as exc:
        _flash("error", clip(str(exc)))
        return
    _flash("success", f"Rolled back: {ui.store().model(model_id).name} is serving again.")


def render_versions(*, store: Store, project_id: int, models: list[ModelVersion]) -> ModelVersion:
    """Version picker with Promote / Rollback; returns the chosen version."""
    serving = store.serving(project_id)
    by_id = {m.id: m for m in models}
    ids = sorted(by_id, reverse=True)
    if st.session_state.get("evaluate_version") not in ids:
        st.session_state["evaluate_version"] = serving.id if serving and serving.id in ids else ids[0]

    def label(model_id: int) -> str:
        m, f1 = by_id[model_id], by_id[model_id].dev_f1
        text = m.name + (f" · dev F1 {f1:.3f}" if f1 is not None else "") + f" · {m.created[:16].replace('T', ' ')} UTC"
        return text + (" · serving" if serving and serving.id == model_id else "")

    pick, promote, rollback = st.columns([4, 1, 1], vertical_alignment="bottom")
    admin = ui.actor().may("promote")
    chosen = pick.selectbox("Version", ids, format_func=label, key="evaluate_version")
    promote.button("Promote", key="evaluate_promote", icon=":material/publish:", on_click=_promote, args=(chosen,),
                   disabled=not admin or (serving is not None and serving.id == chosen), width="stretch")
    rollback.button("Rollback", key="evaluate_rollback", icon=":material/undo:", on_click=_rollback, args=(project_id,),
                    disabled=not admin or serving is None, width="stretch")
    flash = st.session_state.pop("evaluate_flash", None)
    if flash:
        getattr(st, flash[0])(flash[1])
    return by_id[chosen]


def render_figures(*, current: dict, previous: dict | None, names: dict[str, str]) -> None:
    """Micro/macro figures with deltas against the previous version."""
    figures = [("Micro precision", "micro", "precision"), ("Micro recall", "micro", "recall"),
               ("Micro F1", "micro", "f1"), ("Macro F1", "macro", "f1")]
    columns = st.columns(len(figures) + 1)
    for col, (title, avg, field) in zip(columns, figures):
        value = current[avg][field]
        delta = f"{value - previous[avg][field]:+.3f}" if previous else None
        col.metric(title, f"{value:.3f}", delta=delta, border=True,
                   help=f"vs {names['previous']}" if previous else None)
    columns[-1].metric("Dev sentences", current["sentences"], border=True)


def bar_figure(frame: pd.DataFrame, metric: str, *, names: dict[str, str], colours: dict[str, str]) -> go.Figure:
    """Grouped bars of one metric per class: previous version hatched and faded, chosen version solid with its
    values."""
    fig = go.Figure()
    for version in ("previous", "current"):
        rows = frame[(frame["version"] == version) & (frame["metric"] == metric)]
        if rows.empty:
            continue
        solid = version == "current"
        fig.add_bar(
            name=names[version], x=rows["label"].tolist(), y=rows["value"].tolist(),
            customdata=rows["support"].tolist(), textposition="outside",  # values over the chosen bars only (two
            text=[f"{v:.2f}" for v in rows["value"]] if solid else None,  # side by side overlap on narrow charts)
            marker={"color": [colours.get(lab, GREY) for lab in rows["label"]], "opacity": 1.0 if solid else 0.5,
                    "pattern": {"shape": "" if solid else "/"}, "line": {"color": "#333333", "width": 1}},
            hovertemplate=f"<b>%{{x}}</b><br>{names[version]}<br>{metric} %{{y:.3f}}<br>support %{{customdata}}"
                          "<extra></extra>",
        )
    fig.update_layout(barmode="group", yaxis={"range": [0, 1.12]}, height=340,
                      margin={"t": 10, "b": 30, "l": 30, "r": 10}, legend={"orientation": "h", "y": -0.12},
                      font={"size": 15})
    return fig


def render_bars(*, current: dict, previous: dict | None, names: dict[str, str], colours: dict[str, str]) -> None:
    frame = report.compare_frame(current, previous)
    if frame.empty:
        st.info("No entities in the dev labels or predictions yet.")
        return
    for metric, col in zip(report.METRICS, st.columns(len(report.METRICS))):
        with col:
            st.markdown(f"**{TITLES[metric]}**")  # above the figure, where no toolbar covers it
            st.plotly_chart(bar_figure(frame, metric, names=names, colours=colours), key=f"evaluate_bars_{metric}",
                            config=ui.CHART_CONFIG)


def render_class_deltas(*, rows: list[dict], serving_name: str) -> None:
    """Per class against the serving version (same dev sentences) and the forgetting of each class
    (core.forgetting.versus_serving)."""
    if not rows:
        return
    st.markdown(f"**Per class against the serving version ({serving_name})**")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="evaluate_class_deltas", column_config={
        "f1": st.column_config.NumberColumn("F1", format="%.3f"),
        "serving_f1": st.column_config.NumberColumn(f"F1 of {serving_name}", format="%.3f"),
        "delta": st.column_config.NumberColumn("Change (points)", format="%+.2f"),
        "best_earlier_f1": st.column_config.NumberColumn("Best earlier dev F1", format="%.3f"),
        "forgetting": st.column_config.NumberColumn("Forgetting (points)", format="%+.2f",
                                                    help="best dev F1 an earlier version recorded minus now")})


def render_learning_curve(*, models: list[ModelVersion], colours: dict[str, str]) -> None:
    """Dev F1 per class and micro of every version, against labelled train sentences or their words."""
    st.subheader("Learning curve")
    axis = st.segmented_control("x-axis: labelled", list(CURVE_AXES), default="sentences", required=True,
                                format_func=CURVE_AXES.get, key="evaluate_curve_x", persist_state="session",
                                help="Uncertainty sampling favours long sentences: count labelling cost in words "
                                     "to compare strategies fairly.")
    curve = report.learning_curve(models)
    if curve.empty:
        st.caption("No version with dev scores yet.")
        return
    x, fell_back = report.curve_x(curve, axis)
    fig = go.Figure()
    for series, rows in curve.groupby("series", sort=False):
        micro = series == "micro"
        rows = rows.sort_values(x, kind="stable")
        fig.add_scatter(x=rows[x].astype(int).tolist(), y=rows["f1"].tolist(), text=rows["version"].tolist(),
                        name=series, mode="lines+markers",
                        line={"color": "#222222" if micro else colours.get(series, GREY), "width": 4 if micro else 2},
                        marker={"size": 10 if micro else 7},
                        hovertemplate=f"{series} %{{text}}: F1 %{{y:.3f}} with %{{x}} {x}<extra></extra>")
    title = f"{AXIS_TITLES[x]} in train at training time" if x in AXIS_TITLES else "version"
    fig.update_layout(xaxis_title=title, yaxis={"title": "dev F1",
                      "range": [0, 1.02]}, height=400, margin={"t": 20, "b": 40}, font={"size": 15})
    st.plotly_chart(fig, key="evaluate_curve", config=ui.CHART_CONFIG)
    note = f" Some versions did not record their labelled {'words' if x == 'sentences' else 'sentences'}: x in " \
        f"{'sentences' if x == 'sentences' else 'versions'}." if fell_back else ""
    st.caption("Dev F1 recorded when each version was trained." + note)


def render_confusion(*, gold: list[list[str]], pred: list[list[str]], name: str) -> None:
    st.subheader(f"Confusion on dev ({name})", help="Spans of each gold entity type (rows) by the type the version "
                                                    "predicted for them (columns)")
    table = metrics.confusion(gold, pred)
    if table.shape[0] <= 1:
        st.caption("No entities in the dev labels or predictions yet.")
        return
    fig = go.Figure(go.Heatmap(
        z=table.values.tolist(), x=list(table.columns), y=list(table.index), text=table.values.tolist(),
        texttemplate="%{text}", colorscale="Blues", showscale=False,
        hovertemplate="gold %{y} → predicted %{x}: %{z} spans<extra></extra>"))
    fig.update_layout(xaxis_title="predicted", yaxis={"title": "gold", "autorange": "reversed"}, height=400,
                      margin={"t": 20, "b": 40}, font={"size": 15})
    st.plotly_chart(fig, key="evaluate_confusion", config=ui.CHART_CONFIG)
    st.caption(f"Row {metrics.NONE}: spurious predicted spans; column {metrics.NONE}: missed gold spans.")


def render_error(*, error: dict, labels: list[str], name: str) -> None:
    """One disagreement: both taggings (escaped HTML) and a button opening it in Annotate."""
    with st.container(border=True):
        head = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
        head.caption(f"Sentence {error['id']} · labels: {error['source']}")
        if head.button("Open in Annotate", key=f"evaluate_open_{error['id']}", icon=":material/edit_note:"):
            ui.open_in_annotate(error["id"])
        st.markdown("**Human / gold**")
        ui.render_sentence(error["words"], error["gold"], labels=labels)
        st.markdown(f"**Model {name}**")
        ui.render_sentence(error["words"], error["pred"], labels=labels)


def render_errors(*, store: Store, project_id: int, model: ModelVersion, dev: report.Labelled, labels: list[str]) -> None:
    st.subheader("Error browser")
    split = st.radio("Sentences", ("dev", "train"), horizontal=True, key="evaluate_error_split")
    data = dev if split == "dev" else report.labelled(store, project_id, "train", limit=TRAIN_LIMIT)
    pred, _ = _score(model, data)
    errors = report.errors(data, pred)
    limit = f" (the newest {TRAIN_LIMIT})" if split == "train" and len(data.ids) == TRAIN_LIMIT else ""
    st.caption(f"{len(errors)} of {len(data.ids)} labelled {split} sentences{limit} where {model.name} "
               "disagrees with the human/gold labels.")
    pages = max(1, math.ceil(len(errors) / PAGE_SIZE))
    if st.session_state.get("evaluate_error_page", 1) > pages:
        st.session_state["evaluate_error_page"] = pages
    page = st.number_input("Page", min_value=1, max_value=pages, key="evaluate_error_page") \
        if pages > 1 else 1
    for error in errors[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]:
        render_error(error=error, labels=labels, name=model.name)


proj = ui.require_project()
st.title("Evaluate")
_store = ui.store()
_models = report.ready_models(_store, proj.id)
if not _models:
    st.info("No trained version yet: start one on the Train page.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()
_colours = ui.colours(proj.labels)
_chosen = render_versions(store=_store, project_id=proj.id, models=_models)
if not _usable(_chosen):
    st.error(f"The folder of {_chosen.name} is missing: {_chosen.folder}")
    st.stop()
_previous = report.previous_version(_models, _chosen.id)
_previous = _previous if _usable(_previous) else None
_names = {"current": f"{_chosen.name} (chosen)", "previous": f"{_previous.name} (previous)" if _previous else ""}
_dev = report.labelled(_store, proj.id, "dev")
if _dev.ids:
    _pred, _current = _score(_chosen, _dev)
    _before = _score(_previous, _dev)[1] if _previous else None
    render_figures(current=_current, previous=_before, names=_names)
    render_bars(current=_current, previous=_before, names=_names, colours=_colours)
    _serving = _store.serving(proj.id)
    render_class_deltas(rows=forgetting.versus_serving(_chosen, _current, _serving, _models,
                                                       lambda m: _score(m, _dev)[1] if _usable(m) else None),
                        serving_name=_serving.name if _serving else "none")
else:
    st.warning("No labelled dev sentences: import labelled data into the dev split on the Upload page to score "
               "versions.")
_left, _right = st.columns(2)
with _left:
    render_learning_curve(models=_models, colours=_colours)
with _right:
    if _dev.ids:
        render_confusion(gold=_dev.tags, pred=_pred, name=_chosen.name)
render_errors(store=_store, project_id=proj.id, model=_chosen, dev=_dev, labels=proj.labels)
