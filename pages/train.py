"""Train: hyperparameters, a background training job with live progress, cancel, and the job history."""
from __future__ import annotations

import time
from dataclasses import Field, fields
from typing import Any

import streamlit as st

from core import adopt, jobs, report, retrain, selftrain, versions, vocab
from core.config import TrainConfig
from core.job_params import JobParams
from core.store import Store
from core.vocab import clip
from pages import ui

ui.ensure_navigation()  # a first request for this page on a fresh server: run app.py first

FAST, SLOW = 1.0, 4.0  # seconds between live polls: while events arrive, and once none came for IDLE seconds
IDLE = 10.0


def chart_spec(points: list, field: str, title: str) -> dict:
    """A small Vega-Lite line chart of [step, value] points (a plain dict: no Altair, no validation)."""
    return {"data": {"values": [{"step": x, field: y} for x, y in points]}, "height": 220,
            "mark": {"type": "line", "point": len(points) < 30},
            "encoding": {"x": {"field": "step", "type": "quantitative"},
                         "y": {"field": field, "type": "quantitative", "title": title}}}


def _live_state(job_id: int) -> dict:
    """This session's view of a job: its folded events (report.Live), chart specs built for a Live version, when
    events last arrived, the status seen and the number of spec builds."""
    key = f"train_live_{job_id}"
    if key not in st.session_state:
        st.session_state[key] = {"live": report.Live(job_id), "specs": None, "built_for": -1, "builds": 0,
                                 "changed": time.monotonic(), "status": None}
    return st.session_state[key]


def render_live(*, job_id: int) -> None:
    """Live progress of a queued/running job, polled every FAST seconds while events arrive, SLOW otherwise."""
    st.fragment(_live_panel, run_every=st.session_state.get("train_live_every", FAST))(job_id=job_id)


def _live_panel(*, job_id: int) -> None:
    """Read only the job's new events, redraw the charts only when they changed; a full rerun when the job's status
    changes (the history shows it) or when the polling interval should."""
    store = ui.store()
    jobs.reap(store)
    job = store.job(job_id)
    state = _live_state(job_id)
    seen, state["status"] = state["status"], job.status
    if seen not in (None, job.status) or job.status not in vocab.JOB_UNFINISHED:
        st.rerun()
    live = state["live"]
    now = time.monotonic()
    if live.feed(store):
        state["changed"] = now
    every = FAST if now - state["changed"] < IDLE else SLOW
    if every != st.session_state.get("train_live_every", FAST):
        st.session_state["train_live_every"] = every
        st.rerun()
    step = live.step or live.start or {}  # before the first step: the plan and the last run's pace
    if step.get("total_steps"):
        progress = {"step": step["step"], "total_steps": step["total_steps"], "epoch": step["epoch"],
                    "loss": step.get("loss"), "dev_f1": live.dev_f1, "eta_s": jobs.eta_seconds(step)}
        text = f"Job {job_id} {job.status}: " + report.progress_text(progress)
        if live.registered:
            text += " · version saved, finishing (self-training, scoring the pool for active learning)…"
        st.progress(min(1.0, step["step"] / step["total_steps"]), text=text)
    else:
        st.progress(0.0, text=f"Job {job_id} {job.status}: loading the model and the data…")
    if state["built_for"] != live.version:
        state["specs"] = (chart_spec(live.loss, "loss", "loss"), chart_spec(live.f1, "dev F1", "dev micro F1"))
        state["built_for"], state["builds"] = live.version, state["builds"] + 1
    left, right = st.columns(2)
    for col, points, spec, title in zip((left, right), (live.loss, live.f1), state["specs"],
                                        ("Training loss (smoothed)", "Dev micro F1")):
        with col:
            st.caption(title)
            if points:
                st.vega_lite_chart(spec, width="stretch")
            else:
                st.caption("(no points yet)")
    if st.button("Cancel", key="train_cancel", icon=":material/stop:"):
        jobs.cancel(store, job_id, actor=ui.actor())
        st.rerun()


def render_outcome(*, store: Store, project_id: int) -> None:
    """The result of the newest finished job: its error and log tail when it failed."""
    job = retrain.last_finished(store, project_id)
    if job is None:
        return
    if job.status == "failed":
        st.error(f"Job {job.id} failed: {job.error}")
        tail = report.log_tail(job)
        if tail:
            with st.expander("Log tail"):
                st.code(tail, language=None)
    elif job.status == "cancelled":
        st.warning(f"Job {job.id} was cancelled.")
    elif job.model_id is not None:
        model = store.model(job.model_id)
        serving = store.serving(project_id)
        f1 = model.dev_f1
        what = f"dev F1 {f1:.3f}" if f1 is not None else "no dev score"
        where = "now serving" if serving and serving.id == model.id else \
            f"not promoted ({serving.name if serving else 'nothing'} serves)"
        registered = store.last_event(job.id, "registered")
        reason = (registered.data or {}).get("reason") if registered else None
        st.success(f"Job {job.id} trained {model.name} ({what}), {where}" + (f": {reason}." if reason else "."))


def _sync_warm_start(serving: dict | None) -> None:
    """Tick warm start at first and when a serving version appears, through the checkbox's state only (it ignores a
    changed default, and Streamlit warns about a default set through the state too)."""
    appeared = serving is not None and not st.session_state.get("train_had_serving")
    if appeared or "train_warm" not in st.session_state:
        st.session_state["train_warm"] = serving is not None
    st.session_state["train_had_serving"] = serving is not None


def render_param(f: Field, *, disabled: bool = False) -> Any:
    """The widget of one TrainConfig field, generated from its declaration (core.config.param); returns its value in
    the field's own unit."""
    meta, key = f.metadata, f"train_{f.name}"
    label = meta["label"] + (f" ({meta['unit']})" if meta["unit"] else "")
    common = {"key": key, "help": meta["help"][:1].upper() + meta["help"][1:] + ".", "disabled": disabled}
    kind, scale = meta["kind"], meta["scale"]
    if kind is bool:
        return st.checkbox(label, value=f.default, **common)
    if meta["choices"]:
        return st.selectbox(label, meta["choices"], index=meta["choices"].index(f.default), **common)
    if kind is list:
        text = st.text_input(label, value="", **common)
        return [t.strip() for t in text.split(",") if t.strip()] or None
    if kind is str:
        return st.text_input(label, value=f.default, **common).strip() or f.default
    low, high = meta["low"], meta["high"]
    if kind is int:
        value = st.number_input(label, min_value=low, max_value=high, value=f.default, step=1, **common)
        return None if value is None else int(value)
    step = meta["step"] or (0.01 if high == 1 or (f.default or 0) < 1 else 1.0)
    value = st.number_input(label, min_value=None if low is None else low / scale,
                            max_value=None if high is None else high / scale,
                            value=None if f.default is None else f.default / scale, step=step, format=meta["fmt"],
                            **common)
    return None if value is None else float(value) * scale


def render_settings(*, store: Store, project_id: int, busy: str | None) -> None:
    """The start options, the hyperparameters (main ones, then the rest under Advanced) generated from TrainConfig,
    and the Start button."""
    serving = store.serving(project_id)
    _sync_warm_start(serving)
    st.subheader("Settings")
    declared = fields(TrainConfig)
    c1, *cols = st.columns(3)
    with c1:
        warm = st.checkbox(f"Warm start from the serving version ({serving.name})" if serving
                           else "Warm start (no serving version yet)", disabled=serving is None, key="train_warm",
                           help="Continue from the serving version instead of the base model.")
        policy = st.radio("Promote the new version", vocab.PROMOTE_POLICIES, index=0, key="train_promote",
                          horizontal=True, format_func=str.capitalize,
                          help="; ".join(f"{k}: {v}" for k, v in vocab.PROMOTE_HELP.items()))
        params = {"model": render_param(declared[0], disabled=bool(warm and serving))}
    main = [f for f in declared if f.metadata["page"] == "main" and f.name != "model"]
    for i, f in enumerate(main):
        with cols[i % 2]:
            params[f.name] = render_param(f)
    with st.expander("Advanced settings", icon=":material/tune:"):
        rest = [f for f in declared if f.metadata["page"] != "main"]
        for i, col in enumerate(st.columns(3)):
            with col:
                for f in rest[i::3]:
                    params[f.name] = render_param(f)
    params.update(warm_start=bool(warm and serving), promote=policy)
    render_plan(store=store, project_id=project_id, params=params)
    params.update(render_self_training())
    if busy:
        st.info(busy)
    if st.button("Start training", key="train_start", type="primary", icon=":material/play_arrow:", disabled=busy is not None):
        try:  # checked again: another session may have started one meanwhile
            retrain.start(store, project_id, params, actor=ui.actor())
        except ValueError as exc:
            st.error(clip(f"Cannot start: {exc}"))
            return
        st.session_state["train_live_every"] = FAST
        st.rerun()


def render_plan(*, store: Store, project_id: int, params: dict) -> None:
    """The epochs and steps this run will really take (core.train.plan), before it starts."""
    sentences = len(versions.training_data(store, project_id)[0])
    if not sentences:
        return
    try:
        cfg = JobParams.parse(params).config
    except ValueError as exc:
        st.error(clip(f"Settings: {exc}"))
        return
    p = report.run_plan(cfg, sentences, warm=params["warm_start"])
    text = (f"This run: **{p.total_steps} steps**, {p.epochs} epochs of {sentences} labelled sentences, dev "
            f"evaluation every {p.eval_every} steps")
    if p.stop_after:
        text += f", stopping early from step {p.stop_after} if dev F1 stops improving"
    if params["time_budget"]:
        lowest = min(p.total_steps, max(cfg.budget_min_steps, cfg.epochs * p.steps_per_epoch))
        if lowest < p.total_steps:
            text += (f"; fewer (never below {lowest}) if {report.duration(params['time_budget'])} of training "
                     f"cannot fit them")
    st.caption(text + ".")


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


def render_add(*, store: Store, project_id: int) -> None:
    """A model folder trained elsewhere (`nerloop models add`): checked, scored on dev, added, promoted if better."""
    with st.expander("Add a model trained elsewhere", icon=":material/move_to_inbox:"):
        folder = st.text_input("Model folder (on this machine)", key="add_folder",
                               help="a folder `nerloop train --out` wrote, e.g. on a GPU machine (docs/gpu.md)")
        if st.button("Add", key="add_model", disabled=not folder.strip()):
            try:
                with st.spinner("Scoring it on the dev split..."):
                    added = adopt.add(store, project_id, folder.strip(), actor=ui.actor())
            except (ValueError, PermissionError, OSError) as e:
                st.error(clip(str(e)))
                return
            f1 = "-" if added.dev_f1 is None else f"{added.dev_f1:.4f}"
            served = "now serving" if added.promoted else "not promoted"
            st.success(f"Added as {added.model.name}: dev F1 {f1}, {served}.")


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
jobs.reap(_store, proj.id)
_active = retrain.active_job(_store, proj.id)
if _active is not None:
    render_live(job_id=_active.id)
else:
    render_outcome(store=_store, project_id=proj.id)
render_settings(store=_store, project_id=proj.id, busy=retrain.why_not_train(_store, proj.id))
render_add(store=_store, project_id=proj.id)
render_history(store=_store, project_id=proj.id)
