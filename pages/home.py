"""Home: create or pick a project, and the project dashboard."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core import demo, formats, jobs, queue, report, retrain, simulate
from core.access import Actor
from core.store import ModelVersion, Project, Store
from core.vocab import JOB_UNFINISHED, SPLIT_TITLES, SPLITS, clip
from pages import ui
from pages.team import render_team

STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/directions_run:", "done": ":material/check_circle:", "failed": ":material/error:", "cancelled": ":material/stop_circle:"}
# one-click fillings of the new project's labels box: key, button title, labels
LABEL_PRESETS = {"conll": ("CoNLL (PER, LOC, ORG, MISC)", "PER, LOC, ORG, MISC"),
                 "bio": ("Biomedical (Chemical, Disease)", "Chemical, Disease"), "custom": ("Custom (empty)", "")}


def ensure_demo(store: Store, *, actor: Actor) -> None:
    """First run (no project at all): create the demo project from assets/ and select it."""
    project_id = demo.create_demo(store, actor=actor)
    if project_id is not None:
        st.session_state["project_id"] = project_id


def _select(project_id: int) -> None:
    """Widget callback: make `project_id` the current project (the sidebar picker follows)."""
    st.session_state["project_id"] = project_id


def _preset(labels: str) -> None:
    """Button callback: fill the new project's labels box with a preset."""
    st.session_state["home_new_labels"] = labels


def _create() -> None:
    """Button callback: create the project typed in the New project fields, select it and say so."""
    name = st.session_state.get("home_new_name", "").strip()
    labels = [lab.strip() for lab in st.session_state.get("home_new_labels", "").split(",") if lab.strip()]
    try:
        project_id = ui.store().create_project(name, labels, actor=ui.actor())
    except ValueError as e:
        st.session_state["home_create_error"] = clip(str(e))
        return
    st.session_state.pop("home_create_error", None)
    st.session_state["home_new_name"] = st.session_state["home_new_labels"] = ""
    st.session_state["home_flash"] = f"Created project “{ui.md_escape(name)}” and made it current."
    _select(project_id)


def render() -> None:
    """The Home page: the current project's dashboard, then the project list and the new-project fields."""
    proj = ui.project()
    if proj is None:
        st.title("nerloop")
        st.info("Create a project below to start." if ui.actor().may("project") else
                "No project is open to you yet: ask an admin to add you to one.")
    else:
        render_dashboard(project=proj)
    st.divider()
    render_projects(current=proj)


def render_dashboard(*, project: Project) -> None:
    """Counts by split, human corrections, serving model, latest job, learning curve and a next-step hint."""
    store = ui.store()
    pid = project.id
    counts = store.counts(pid)
    serving = store.serving(pid)
    models = store.models(pid)
    recent = store.jobs(pid)
    job = jobs.status(store, recent[0].id) if recent else None
    st.title(project.name)
    ui.render_legend(project.labels, keys=False)
    st.info(demo.next_step(counts, serving, job), icon=":material/arrow_forward:")
    cols = st.columns(len(SPLITS) + 2)
    for col, split in zip(cols, SPLITS):
        col.metric(SPLIT_TITLES[split].capitalize(), counts["by_split"][split], border=True)
    cols[-2].metric("Labelled", counts["labelled"], border=True, help="Sentences with a gold or human annotation")
    cols[-1].metric("Corrected", counts["human"], border=True, help="Sentences with a human annotation")
    left, right = st.columns([1, 2], gap="large")
    with left:
        render_serving(serving=serving, models=models)
        running = job is not None and job.status in JOB_UNFINISHED
        st.fragment(_job_card, run_every=2 if running else None)(pid, running)
    with right:
        render_curve(models=models, serving=serving)
    render_team(project_id=pid)
    if ui.actor().may("import"):
        render_demo_mode(project_id=pid, running=job is not None and job.status in JOB_UNFINISHED)


def render_serving(*, serving: ModelVersion | None, models: list[ModelVersion]) -> None:
    """The serving version and its dev F1, with the change from the version before it."""
    if serving is None:
        st.metric("Serving model", "none yet", border=True)
        return
    micro = report.learning_curve(models).query("series == 'micro'")
    f1 = serving.dev_f1
    before = micro[micro["model_id"] < serving.id].sort_values("model_id")["f1"].tolist()
    delta = None if f1 is None or not before else f"{f1 - before[-1]:+.3f}"
    st.metric(f"Serving model {serving.name}: dev F1", "n/a" if f1 is None else f"{f1:.3f}", delta,
              border=True, help=f"Trained {serving.created[:16].replace('T', ' ')} from {serving.base_model}")


def _job_card(project_id: int, was_running: bool) -> None:
    """The latest training job with its status and progress; polled while it runs."""
    store = ui.store()
    recent = store.jobs(project_id)
    if not recent:
        st.caption("No training job yet.")
        return
    job = jobs.status(store, recent[0].id)
    running = job.status in JOB_UNFINISHED
    if was_running and not running:
        st.rerun()  # it just ended: refresh the counts, the serving model and the curve
    st.markdown(f"**Training job #{job.id}**: {STATUS_ICONS.get(job.status, '')} {job.status}")
    progress = job.progress
    if progress["total_steps"]:
        text = report.progress_text(progress) if running else f"step {progress['step']}/{progress['total_steps']}"
        st.progress(min(1.0, progress["step"] / progress["total_steps"]), text=text)
    if job.status == "failed" and job.error:
        st.error(job.error)
    if job.model_id:
        st.caption(f"Produced version {store.model(job.model_id).name}.")


def render_curve(*, models: list[ModelVersion], serving: ModelVersion | None) -> None:
    """Compact learning curve: dev micro F1 per version, the serving one starred."""
    curve = report.learning_curve(models)
    if curve.empty:
        st.caption("The learning curve appears here once a first version is trained.")
        return
    x, _ = report.curve_x(curve, "sentences")
    points = curve[curve["series"] == "micro"]
    x_title = "labelled training sentences" if x == "sentences" else "version"
    fig = go.Figure()
    served = points[points["model_id"] == (serving.id if serving is not None else None)]
    if not served.empty:
        fig.add_trace(go.Scatter(x=served[x].tolist(), y=served["f1"].tolist(), mode="markers", name="serving",
                                 marker={"symbol": "star", "size": 16, "color": "#E69F00"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(
        x=points[x].tolist(), y=points["f1"].tolist(), mode="lines+markers+text", name="dev micro F1",
        text=points["version"].tolist(), textposition="top center", line={"width": 3, "color": "#0072B2"},
        hovertemplate="%{text}: F1 %{y:.3f}<extra></extra>",
    ))
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 20, "b": 10}, xaxis_title=x_title,
                      yaxis={"title": "F1", "range": [0, 1.05]}, showlegend=False)
    st.markdown("**Learning curve** (dev micro F1)")  # above the figure, where no toolbar covers it
    st.plotly_chart(fig, key="home_curve", config=ui.CHART_CONFIG)


def render_projects(*, current: Project | None) -> None:
    """Every project this user may open with an Open button, and the fields and presets that create a new one."""
    store = ui.store()
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Projects")
        for proj in store.projects(ui.actor()):
            counts = store.counts(proj.id)
            name_col, button_col = st.columns([3, 1], vertical_alignment="center")
            labels = ui.md_escape(", ".join(proj.labels) or "no labels yet")
            name_col.markdown(f"**{ui.md_escape(proj.name)}** · {labels} · "
                              f"{sum(counts['by_split'].values())} sentences")
            is_current = current is not None and current.id == proj.id
            button_col.button("Current" if is_current else "Open", key=f"home_open_{proj.id}",
                              disabled=is_current, on_click=_select, args=(proj.id,))
    if not ui.actor().may("project"):
        return
    with right:
        st.subheader("New project")
        st.text_input("Name", key="home_new_name", placeholder="e.g. letters-1850s")
        st.text_input("Entity labels (comma-separated)", key="home_new_labels", placeholder="e.g. Person, Place, Date",
                      help="Or one of the presets below. Empty: the project takes the labels of its first labelled "
                           "import.")
        st.caption("Presets")
        presets = st.container(horizontal=True)
        for name, (title, labels) in LABEL_PRESETS.items():
            presets.button(title, key=f"home_preset_{name}", on_click=_preset, args=(labels,))
        st.button("Create project", key="home_create", type="primary", on_click=_create)
        if "home_create_error" in st.session_state:
            st.error(ui.md_escape(st.session_state["home_create_error"]))
        if (flash := st.session_state.pop("home_flash", None)) is not None:  # where the eye is, and in the corner
            st.success(flash, icon=":material/check_circle:")
            st.toast(flash, icon=":material/check_circle:")


# ---------------------------------------------------------------- demo mode: a simulated annotator

def render_demo_mode(*, project_id: int, running: bool) -> None:
    """The simulated annotator when the project has a pool with hidden gold, and the import that makes one."""
    if (msg := st.session_state.pop("home_demo_flash", None)) is not None:
        st.success(msg)
    left, total = ui.store().hidden_gold_left(project_id)
    if total:
        render_simulator(project_id=project_id, left=left, total=total, running=running)
    with st.expander("Demo mode: import a labelled file as a pool with hidden gold"):
        st.caption("Its sentences join the unlabelled pool with their tags hidden; the simulated annotator reveals "
                   "them batch by batch, as a human would label the sentences the strategy picks.")
        upload = st.file_uploader("Labelled file (CoNLL, JSONL)", type=["conll", "iob", "tsv", "jsonl", "json"],
                                  key="home_hidden_file")
        if upload is not None and st.button("Import as pool with hidden gold", key="home_hidden_import"):
            try:
                corpus = formats.loads(upload.getvalue(), name=upload.name)
                result = ui.store().import_hidden_gold(project_id, corpus.sentences, source_name=upload.name,
                                                       actor=ui.actor())
            except ValueError as exc:  # formats.FormatError included: file, line, problem
                st.error(ui.md_escape(clip(str(exc))))
                return
            st.session_state["home_demo_flash"] = (f"{ui.md_escape(upload.name)}: {result['hidden']} sentences in "
                                                   f"the pool with hidden gold, {result['duplicates']} duplicates "
                                                   "skipped.")
            st.rerun()


def render_simulator(*, project_id: int, left: int, total: int, running: bool) -> None:
    """Strategy, batch size, "train after each batch", and the button revealing the next batch's gold tags."""
    with st.container(border=True):
        st.subheader("Simulated annotator")
        cols = st.columns([2, 1.2, 1, 1.6, 1.8], vertical_alignment="bottom")
        choices = ["random", *queue.MEASURES]
        measure = cols[0].selectbox("Strategy", choices, index=choices.index("entropy"), key="home_sim_strategy",
                                    help="Which hidden sentences to reveal next: random, or the ones the serving "
                                         "version is least sure about (MNLP per sentence)")
        batch = cols[1].number_input("Batch size", min_value=1, max_value=10_000, value=50, step=10,
                                     key="home_sim_batch")
        diverse = cols[2].toggle("Diverse", key="home_sim_diverse", help="Spread the batch over clusters")
        train = cols[3].checkbox("Train after each batch", value=True, key="home_sim_train",
                                 help="Start a warm-started training job after revealing")
        wait = train and running
        reveal = cols[4].button("Reveal next batch", key="home_sim_reveal", type="primary", disabled=wait or not left,
                                icon=":material/visibility:", help="Wait for the training job: the next batch is "
                                "chosen by the version it produces" if wait else None)
        st.caption(f"{left} of {total} sentences still hide their gold tags.")
    if not reveal:
        return
    spec = ("random" if measure == "random" else queue.strategy_spec(measure, "MNLP")) + ("+diverse" if diverse else "")
    store = ui.store()
    with st.spinner("Selecting the batch (the pool is scored once per version)…"):
        ids = simulate.demo_round(store, project_id, int(batch), strategy=spec, seed=total - left)
    text = f"Revealed the gold tags of {len(ids)} sentences (`{spec}`); they are in train now."
    if train and ids:
        try:
            job_id = retrain.start(store, project_id, retrain.retrain_params(store, project_id), actor=ui.actor())
            text += f" Training job {job_id} started."
        except ValueError as exc:
            text += f" Not training: {clip(str(exc))}"
    st.session_state["home_demo_flash"] = text
    st.rerun()


if __name__ == "__main__":  # run alone by Streamlit's older pages/ routing (a first request for /home)
    ui.ensure_navigation()
