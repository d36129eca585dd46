"""Train: hyperparameters, a background training job with live progress, cancel, and the job history."""
from __future__ import annotations

import streamlit as st

from core import jobs, report, selftrain
from core.store import Store, dev_f1
from core.train import TrainConfig
from pages import ui

ui.ensure_navigation()  # a first request for this page on a fresh server: run app.py first

DEFAULTS = TrainConfig()
FREEZE = ("none", "embeddings", "top-K")
POLICIES = ("better", "always", "never")
POLICY_HELP = {"better": "promote if its dev F1 beats the serving version",
               "always": "always serve the new version", "never": "keep the serving version"}


@st.fragment(run_every=1)
def render_live(*, job_id: int) -> None:
    """Progress of a queued/running job, polled every second; one full rerun when it ends."""
    store = ui.store()
    job = jobs.status(store, job_id)
    if job["status"] not in report.ACTIVE:
        st.rerun()
    p = job["progress"]
    total = p["total_steps"] or 0
    if total:
        text = f"Job {job_id} {job['status']}: step {p['step']}/{total} · epoch {p['epoch']:.2f}"
        if p["loss"] is not None:
            text += f" · loss {p['loss']:.4f}"
        if p["dev_f1"] is not None:
            text += f" · dev F1 {p['dev_f1']:.3f}"
        if p["registered"]:
            text += " · version saved, finishing (self-training, scoring the pool for active learning)…"
    else:
        text = f"Job {job_id} {job['status']}: loading the model and the data…"
    st.progress(min(1.0, p["step"] / total) if total else 0.0, text=text)
    loss, f1 = report.progress_frames(store, job_id)
    left, right = st.columns(2)
    for col, frame, title, y in ((left, loss, "Training loss (smoothed)", "loss"), (right, f1, "Dev micro F1", "dev F1")):
        with col:
            st.caption(title)
            if frame.empty:
                st.caption("(no points yet)")
            else:
                st.line_chart(frame, x="step", y=y, height=220)
    if st.button("Cancel", key="train_cancel", icon=":material/stop:"):
        jobs.cancel(store, job_id)
        st.rerun()


def render_outcome(*, store: Store, project_id: int) -> None:
    """The result of the newest finished job: its error and log tail when it failed."""
    done = [j for j in store.jobs(project_id) if j["status"] not in report.ACTIVE]
    if not done:
        return
    job = done[0]
    if job["status"] == "failed":
        st.error(f"Job {job['id']} failed: {job['error']}")
        tail = report.log_tail(job)
        if tail:
            with st.expander("Log tail"):
                st.code(tail, language=None)
    elif job["status"] == "cancelled":
        st.warning(f"Job {job['id']} was cancelled.")
    elif job["model_id"] is not None:
        model = store.model(job["model_id"])
        serving = store.serving(project_id)
        f1 = dev_f1(model)
        what = f"dev F1 {f1:.3f}" if f1 is not None else "no dev score"
        where = "now serving" if serving and serving["id"] == model["id"] else \
            f"not promoted ({serving['name'] if serving else 'nothing'} serves)"
        st.success(f"Job {job['id']} trained {model['name']} ({what}), {where}.")


def _sync_warm_start(serving: dict | None) -> None:
    """Tick warm start when a serving version appears (a keyed checkbox ignores a changed default)."""
    if serving is not None and not st.session_state.get("train_had_serving"):
        st.session_state["train_warm"] = True
    st.session_state["train_had_serving"] = serving is not None


def render_settings(*, store: Store, project_id: int, busy: str | None) -> None:
    """Hyperparameters with TrainConfig defaults, the start options and the Start button."""
    serving = store.serving(project_id)
    _sync_warm_start(serving)
    st.subheader("Settings")
    c1, c2, c3 = st.columns(3)
    with c1:
        warm = st.checkbox(f"Warm start from the serving version ({serving['name']})" if serving
                           else "Warm start (no serving version yet)", value=serving is not None,
                           disabled=serving is None, key="train_warm",
                           help="Continue from the serving version instead of the base model.")
        model = st.text_input("Base model (folder or Hugging Face id)", value=DEFAULTS.model, key="train_model",
                              disabled=bool(warm and serving),
                              help="`default` is the packaged MiniLM encoder. Used when not warm-starting.")
        policy = st.radio("Promote the new version", POLICIES, index=0, key="train_promote", horizontal=True,
                          format_func=str.capitalize, help="; ".join(f"{k}: {v}" for k, v in POLICY_HELP.items()))
    with c2:
        epochs = st.number_input("Epochs", min_value=1, max_value=100, value=DEFAULTS.epochs, key="train_epochs")
        lr = st.number_input("Learning rate", min_value=1e-7, max_value=1e-2, value=DEFAULTS.lr, step=1e-5,
                             format="%.1e", key="train_lr")
        batch = st.number_input("Batch size", min_value=1, max_value=256, value=DEFAULTS.batch_size,
                                key="train_batch")
    with c3:
        freeze = st.selectbox("Freeze", FREEZE, index=0, key="train_freeze",
                              help="none: train everything; embeddings: keep word/position embeddings fixed; "
                                   "top-K: train only the top K layers and the head (fastest).")
        top_k = st.number_input("K (top layers trained)", min_value=1, max_value=48, value=2, key="train_top_k",
                                disabled=freeze != "top-K")
        min_steps = st.number_input("Min steps", min_value=0, max_value=1_000_000, value=DEFAULTS.min_steps,
                                    step=100, key="train_min_steps",
                                    help="On small data, train for at least this many steps (more epochs).")
    params = {"model": (model.strip() or DEFAULTS.model), "epochs": int(epochs), "lr": float(lr),
              "batch_size": int(batch), "freeze": f"top-{int(top_k)}" if freeze == "top-K" else freeze,
              "min_steps": int(min_steps), "warm_start": bool(warm and serving), "promote": policy}
    params.update(render_self_training())
    if busy:
        st.info(busy)
    if st.button("Start training", key="train_start", type="primary", icon=":material/play_arrow:", disabled=busy is not None):
        reason = report.why_not_train(store, project_id)  # another session may have started one meanwhile
        if reason:
            st.warning(reason)
            return
        try:
            jobs.start(store, project_id, params)
        except ValueError as exc:
            st.error(f"Cannot start: {exc}")
            return
        st.rerun()


def render_self_training() -> dict:
    """The self-training options, as job parameters (empty when off)."""
    with st.expander("Self-training: learn from the model's own confident predictions", icon=":material/autorenew:"):
        on = st.toggle("After training, self-train on confident pseudo-labels of unlabelled sentences",
                       key="train_self", help="Kept only when dev F1 does not drop; pseudo-labels are stored as "
                                              "model annotations, never as labels.")
        c1, c2, c3 = st.columns(3)
        threshold = c1.number_input("Confidence threshold (every word)", min_value=0.5, max_value=1.0,
                                    value=selftrain.THRESHOLD, step=0.01, key="train_pseudo_threshold", disabled=not on)
        weight = c2.number_input("Weight of a pseudo-label", min_value=0.05, max_value=1.0, value=selftrain.WEIGHT,
                                 step=0.05, key="train_pseudo_weight", disabled=not on)
        balance = c3.checkbox("Balance entity-free sentences", value=selftrain.BALANCE, key="train_pseudo_balance",
                              disabled=not on, help="At most the labelled share of pseudo-labels without entities.")
    if not on:
        return {}
    return {"self_training": True, "pseudo_threshold": float(threshold), "pseudo_weight": float(weight),
            "pseudo_balance": bool(balance)}


def render_history(*, store: Store, project_id: int) -> None:
    st.subheader("Job history")
    history = report.job_history(store, project_id)
    if history.empty:
        st.caption("No training job yet.")
        return
    st.dataframe(history, hide_index=True, width="stretch",
                 column_config={"promoted": st.column_config.CheckboxColumn("promoted")})


proj = ui.require_project()
st.title("Train")
_store = ui.store()
jobs.reap(_store, proj["id"])
_active = report.active_job(_store, proj["id"])
if _active is not None:
    render_live(job_id=_active["id"])
else:
    render_outcome(store=_store, project_id=proj["id"])
render_settings(store=_store, project_id=proj["id"], busy=report.why_not_train(_store, proj["id"]))
render_history(store=_store, project_id=proj["id"])
