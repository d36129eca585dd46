"""The Annotate page's queue: the filter, order and strategy controls, the view in the order core.queue.plan
chose with a note on it, the counters and the retraining line. Widget and state keys start with `key`."""
from __future__ import annotations

import html
import random
from typing import TYPE_CHECKING

import streamlit as st

from core import queue, retrain, team
from core.store import LiveHead, ModelVersion
from pages import annotate_model, ui

if TYPE_CHECKING:  # pages call models through core.predict
    from core.model import Tagger

ORDERS = (*queue.ORDERS, queue.ACTIVE_LEARNING)


@st.cache_resource(max_entries=8)
def _index(db: str, project_id: int, stamp: tuple[int, int, int]) -> queue.Index:
    """The project's ids and label flags, recomputed only when the stamp (a save, an import) changes."""
    return queue.index(ui.store(), project_id)


def index(project_id: int, stamp: tuple) -> queue.Index:
    """core.queue.index of the project, cached for every session until `stamp` (Store.stamp) changes."""
    return _index(str(ui.store().path), project_id, stamp)


@st.cache_data(max_entries=16, show_spinner="Scoring the unlabelled pool with the serving version (once per "
                                                     "version; later views reuse the stored scores)…")
def _ranked(db: str, project_id: int, model_id: int, strategy: str, size: int, seed: int) -> list[int]:
    """The unlabelled pool ranked by an active-learning strategy under serving version `model_id`
    (core.queue.rank_pool); computed once per (version, strategy, pool size), as the page's reruns must stay fast."""
    return queue.rank_pool(ui.store(), project_id, strategy, size, seed=seed)


@st.cache_resource(max_entries=8)
def _class_counts(db: str, project_id: int, stamp: tuple[int, int, int]) -> dict[str, int]:
    """Human-labelled entities per type, recomputed only when the stamp changes."""
    return ui.store().human_entity_counts(project_id)


def render_controls(*, index: queue.Index, has_queue: bool, key: str = "annotate"
                    ) -> tuple[str, str, str | None, bool, str]:
    """Filter (with "assigned to me" when the annotator has a queue), order (with the active-learning strategy, a
    core.active spec, when chosen), table view, annotator name and "retrain every N"; all kept across page switches.
    Widget keys start with `key`."""
    row = st.container(horizontal=True, vertical_alignment="bottom")  # wraps: nothing is cut on narrow screens
    default_filter = "unlabeled" if len(index.labelled) < len(index.ids) else "not human-checked"
    filters = [*([queue.MINE] if has_queue else []), *queue.FILTERS]
    if has_queue:
        default_filter = queue.MINE
    if st.session_state.get(f"{key}_filter") not in filters:  # its state only, no default: Streamlit would warn
        st.session_state[f"{key}_filter"] = default_filter
    which = row.segmented_control(
        "Sentences", filters, required=True, key=f"{key}_filter",
        persist_state="session", help="assigned to me: your queue of the shared work, what you have not saved yet; "
                                      "unlabeled: no gold or human tags yet; not human-checked: no human "
                                      "annotation yet, in any split; partial: labelled before a type was added or "
                                      "split (opens pre-tagged with the model's entities of it); all: every sentence")
    how = row.segmented_control("Show next", ORDERS, default="in order", required=True,
                                key=f"{key}_order", persist_state="session",
                                help="active learning: the unlabelled sentences the serving model is least sure "
                                     "about first, by the strategy chosen below")
    table = row.toggle("Table view", key=f"{key}_table_view", persist_state="session",
                       help="Edit the tags in a table: handy for long sentences")
    who = "" if st.session_state.get(ui.USER) else row.text_input(  # logged in: the account's name is used
        "Annotator", key=f"{key}_annotator", persist_state="session", placeholder="your name", width=180)
    row.number_input("Retrain every N new labels", min_value=0, max_value=10_000, value=0, step=5,
                     key=f"{key}_retrain_every", width=220, persist_state="session",
                     help="0: off. After N sentences labelled since the last training job, a warm-started job starts "
                          "in the background.")
    strategy = render_strategy(key=key) if how == queue.ACTIVE_LEARNING else None
    return which, how, strategy, table, who


def render_strategy(*, key: str = "annotate") -> str:
    """The active-learning strategy: uncertainty measure, sentence aggregate, diverse batch; a core.active spec."""
    cols = st.columns([2.6, 2.4, 2, 3], vertical_alignment="bottom")
    measure = cols[0].selectbox("Uncertainty", list(queue.MEASURES), index=list(queue.MEASURES).index("entropy"),
                                key=f"{key}_measure", persist_state="session",
                                help="least confidence, margin between the two best labels, entropy, or BALD "
                                     "(disagreement between Monte-Carlo dropout passes of the head)")
    aggregate = cols[1].segmented_control("Per sentence", list(queue.AGGREGATES), default="MNLP", required=True,
                                          key=f"{key}_aggregate", persist_state="session",
                                          help="max over words, mean, or MNLP (length-normalised sum)")
    diverse = cols[2].toggle("Diverse batch", key=f"{key}_diverse", persist_state="session",
                             help=f"Spread the first {queue.DIVERSE_BATCH} over clusters of similar sentences")
    return queue.strategy_spec(measure, aggregate, diverse)


def _note(plan: queue.Plan, *, how: str, index: queue.Index, which: str, strategy: str | None,
          model: ModelVersion | None, head: LiveHead | None) -> str:
    """The caption above the queue: which ranking orders it, or which fallback core.queue.plan took."""
    if plan.source == "mine":
        return "Your queue of the shared work, in the order it was assigned."
    if plan.source == "live":
        return (f"Active learning (`{plan.column}`) ranks the unlabelled pool by the uncertainty of the live head, "
                f"refitted after every save ({head.train_sentences} labelled sentences); the rest of this view "
                "follows in order." + (" BALD and diverse batches need a fine-tuned version: entropy is used."
                                       if plan.why == "entropy" else ""))
    if plan.source == "version":
        return (f"Active learning (`{strategy}`) ranks the unlabelled pool by the uncertainty of "
                f"{ui.md_escape(model.name)} (scored once per version); the rest of this view follows in order.")
    if plan.source == "confidence":
        return (f"Least confident ranks the first {len(index.window(which))} sentences of this view by the serving "
                f"model ({ui.md_escape(model.name)}); the others follow in order.")
    if plan.why == "scoring":
        return (f"Job {plan.job.id} is scoring the unlabelled pool with the new version: active learning follows "
                "its scores once the job ends (random order until then).")
    if plan.why == "cold":
        return ("No serving model yet: least confident falls back to in order." if how == "least confident" else
                "No serving model yet: active learning starts cold, in random order.")
    return ""


def ordered(*, project_id: int, index: queue.Index, stamp: tuple, which: str, how: str, strategy: str | None,
            tagger: Tagger | None, model: ModelVersion | None, head: LiveHead | None, annotator: str,
            key: str = "annotate") -> tuple[list[int], str]:
    """The view's sentence ids in the order core.queue.plan chose (kept in session state until something
    changes), and the note saying which ranking (or fallback) orders it."""
    seed = st.session_state.setdefault(f"{key}_seed", random.randrange(1 << 30))
    model = model if tagger is not None else None
    plan = queue.plan(ui.store(), project_id, which=which, how=how, strategy=strategy, model=model, head=head)
    note = _note(plan, how=how, index=index, which=which, strategy=strategy, model=model, head=head)
    view = (project_id, which, how, strategy)
    if st.session_state.get(f"{key}_view", view) != view:
        st.session_state.pop(ui.ANNOTATE_SENTENCE, None)  # a new filter or order starts at its first sentence
    st.session_state[f"{key}_view"] = view
    if plan.source == "mine":  # the stored queue, in its own order; recomputed on every rerun (one light query)
        st.session_state[f"{key}_queue"] = team.queue(ui.store(), project_id, ui.annotator_name(annotator))
        st.session_state[f"{key}_queue_key"] = None
        return st.session_state[f"{key}_queue"], note
    made_of = (project_id, stamp, which, how, strategy, model.folder if model else None, seed,
           head.id if plan.source == "live" else None)
    if st.session_state.get(f"{key}_queue_key") != made_of:
        pool, ranked, confidence = index.pool(which), [], None
        if plan.source == "confidence":
            window = index.window(which)
            with st.spinner(f"Predicting {len(window)} sentences with {ui.md_escape(model.name)}…"):
                cache = annotate_model.predicted(tagger, model.folder, project_id, window)
            confidence = {i: queue.sentence_confidence(cache[i][1]) for i in window}
        elif plan.source == "live":
            ranked = annotate_model.live_predictions(head.file).ranked(plan.column, pool)
        elif plan.source == "version":
            ranked = _ranked(str(ui.store().path), project_id, model.id, strategy, stamp[0], seed)
        st.session_state[f"{key}_queue"] = queue.ranked_first(pool, ranked) if plan.source in ("live", "version") else \
            queue.arrange(index, which, plan.how, confidence=confidence, seed=seed)
        st.session_state[f"{key}_queue_key"] = made_of if plan.final else None  # ranked again once it is done
    return st.session_state[f"{key}_queue"], note


def shown(key: str = "annotate") -> list[int]:
    """The view's sentence ids in the order `ordered` last gave them."""
    return st.session_state.get(f"{key}_queue", [])


def render_retrain_status(*, project_id: int, key: str = "annotate") -> None:
    """One line on the retraining loop (when it is on): labels since the last job, the job in progress."""
    if not (every := st.session_state.get(f"{key}_retrain_every")):
        return
    store = ui.store()
    job = retrain.active_job(store, project_id)
    fresh = store.human_since_last_job(project_id)
    text = f"Retraining every {every} new labels: {fresh} since the last training job"
    st.caption(text + (f" · job {job.id} {job.status}, the Train page follows it" if job else ""))


def render_counters(*, project_id: int, stamp: tuple, index: queue.Index, ids: list[int], labels: list[str]) -> None:
    """Done / remaining (of the view's `ids`) and entities per class among the human annotations."""
    counts = _class_counts(str(ui.store().path), project_id, stamp)
    remaining = sum(1 for i in ids if i not in index.human)
    col = ui.colours(labels)
    chips = " ".join(
        f'<span style="border-bottom:3px solid {col.get(lab, "#999999")};margin-right:10px">'
        f'{html.escape(lab)} <b>{counts.get(lab, 0)}</b></span>'
        for lab in labels + sorted(set(counts) - set(labels)))
    st.markdown(
        f'<div style="font-size:1.05rem"><b>{len(index.human)}</b> done (human) · <b>{remaining}</b> '
        f'remaining in this view · of {len(index.ids)} sentences'
        + (f' · <b>{len(index.partial)}</b> partial (labelled before a type was added: filter <i>partial</i>)'
           if index.partial else '') + ' &nbsp;&nbsp;|&nbsp;&nbsp; '
        f'human entities: {chips}</div>', unsafe_allow_html=True)
