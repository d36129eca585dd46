"""Home: create or pick a project, and the project dashboard."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core import demo, jobs
from core.store import SPLITS, Store
from pages import ui

SPLIT_TITLES = {"train": "Train", "dev": "Dev", "test": "Test", "unlabeled": "Unlabelled"}
STATUS_ICONS = {"queued": "⏳", "running": "🏃", "done": "✅", "failed": "❌", "cancelled": "⏹️"}


def ensure_demo(store: Store) -> None:
    """First run (no project at all): create the demo project from assets/ and select it."""
    project_id = demo.create_demo(store)
    if project_id is not None:
        st.session_state["project_id"] = project_id


def _select(project_id: int) -> None:
    """Widget callback: make `project_id` the current project, in the sidebar picker too."""
    st.session_state["project_id"] = project_id
    st.session_state["sidebar_project"] = project_id


def _create() -> None:
    """Form callback: create the project typed in the form and select it."""
    name = st.session_state.get("home_new_name", "").strip()
    labels = [lab.strip() for lab in st.session_state.get("home_new_labels", "").split(",") if lab.strip()]
    try:
        project_id = ui.store().create_project(name, labels)
    except ValueError as e:
        st.session_state["home_create_error"] = str(e)
        return
    st.session_state.pop("home_create_error", None)
    st.session_state["home_new_name"] = ""
    _select(project_id)


def render() -> None:
    """The Home page: the current project's dashboard, then the project list and the new-project form."""
    proj = ui.project()
    if proj is None:
        st.title("nerloop")
        st.info("Create a project below to start.")
    else:
        render_dashboard(project=proj)
    st.divider()
    render_projects(current=proj)


def render_dashboard(*, project: dict) -> None:
    """Counts by split, human corrections, serving model, latest job, learning curve and a next-step hint."""
    store = ui.store()
    pid = project["id"]
    counts = store.counts(pid)
    serving = store.serving(pid)
    models = store.models(pid)
    recent = store.jobs(pid)
    job = jobs.status(store, recent[0]["id"]) if recent else None
    st.title(project["name"])
    ui.render_legend(project["labels"], keys=False)
    st.info(demo.next_step(counts, serving, job), icon="👉")
    cols = st.columns(len(SPLITS) + 2)
    for col, split in zip(cols, SPLITS):
        col.metric(SPLIT_TITLES[split], counts["by_split"][split], border=True)
    cols[-2].metric("Labelled", counts["labelled"], border=True, help="Sentences with a gold or human annotation")
    cols[-1].metric("Corrected", counts["human"], border=True, help="Sentences with a human annotation")
    left, right = st.columns([1, 2], gap="large")
    with left:
        render_serving(serving=serving, models=models)
        running = job is not None and job["status"] in ("queued", "running")
        st.fragment(_job_card, run_every=2 if running else None)(pid, running)
    with right:
        render_curve(models=models, serving=serving)


def render_serving(*, serving: dict | None, models: list[dict]) -> None:
    """The serving version and its dev F1, with the change from the version before it."""
    if serving is None:
        st.metric("Serving model", "none yet", border=True)
        return
    points, _ = demo.learning_curve(models)
    f1 = demo.dev_f1(serving)
    before = [p.f1 for p in points if p.model_id < serving["id"]]
    delta = None if f1 is None or not before else f"{f1 - before[-1]:+.3f}"
    st.metric(f"Serving model {serving['name']}: dev F1", "n/a" if f1 is None else f"{f1:.3f}", delta,
              border=True, help=f"Trained {serving['created'][:16].replace('T', ' ')} from {serving['base_model']}")


def _job_card(project_id: int, was_running: bool) -> None:
    """The latest training job with its status and progress; polled while it runs."""
    store = ui.store()
    recent = store.jobs(project_id)
    if not recent:
        st.caption("No training job yet.")
        return
    job = jobs.status(store, recent[0]["id"])
    running = job["status"] in ("queued", "running")
    if was_running and not running:
        st.rerun()  # it just ended: refresh the counts, the serving model and the curve
    st.markdown(f"**Training job #{job['id']}**: {STATUS_ICONS.get(job['status'], '')} {job['status']}")
    progress = job["progress"]
    if progress["total_steps"]:
        text = f"step {progress['step']}/{progress['total_steps']}, epoch {progress['epoch']:.1f}"
        if progress["loss"] is not None:
            text += f", loss {progress['loss']:.3f}"
        if progress["dev_f1"] is not None:
            text += f", dev F1 {progress['dev_f1']:.3f}"
        st.progress(min(1.0, progress["step"] / progress["total_steps"]), text=text)
    if job["status"] == "failed" and job["error"]:
        st.error(job["error"])
    if job["model_id"]:
        st.caption(f"Produced version {store.model(job['model_id'])['name']}.")


def render_curve(*, models: list[dict], serving: dict | None) -> None:
    """Compact learning curve: dev micro F1 per version, the serving one starred."""
    points, x_title = demo.learning_curve(models)
    if not points:
        st.caption("The learning curve appears here once a first version is trained.")
        return
    fig = go.Figure()
    served = [p for p in points if serving is not None and p.model_id == serving["id"]]
    if served:
        fig.add_trace(go.Scatter(x=[served[0].x], y=[served[0].f1], mode="markers", name="serving",
                                 marker={"symbol": "star", "size": 16, "color": "#E69F00"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=[p.x for p in points], y=[p.f1 for p in points], mode="lines+markers+text", name="dev micro F1",
        text=[p.version for p in points], textposition="top center", line={"width": 3, "color": "#0072B2"},
        hovertemplate="%{text}: F1 %{y:.3f}<extra></extra>",
    ))
    fig.update_layout(title="Learning curve (dev micro F1)", height=280, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      xaxis_title=x_title, yaxis={"title": "F1", "range": [0, 1.05]}, showlegend=False)
    st.plotly_chart(fig, key="home_curve")


def render_projects(*, current: dict | None) -> None:
    """Every project with an Open button, and the form that creates a new one."""
    store = ui.store()
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Projects")
        for proj in store.projects():
            counts = store.counts(proj["id"])
            name_col, button_col = st.columns([4, 1], vertical_alignment="center")
            labels = ui.md_escape(", ".join(proj["labels"]) or "no labels yet")
            name_col.markdown(f"**{ui.md_escape(proj['name'])}** · {labels} · "
                              f"{sum(counts['by_split'].values())} sentences")
            is_current = current is not None and current["id"] == proj["id"]
            button_col.button("Current" if is_current else "Open", key=f"home_open_{proj['id']}",
                              disabled=is_current, on_click=_select, args=(proj["id"],))
    with right:
        st.subheader("New project")
        with st.form("home_create_form"):
            st.text_input("Name", key="home_new_name", placeholder="e.g. letters-1850s")
            st.text_input("Entity labels (comma-separated)", key="home_new_labels", value="PER, LOC, ORG, MISC")
            st.form_submit_button("Create project", key="home_create", type="primary", on_click=_create)
        if "home_create_error" in st.session_state:
            st.error(st.session_state["home_create_error"])
