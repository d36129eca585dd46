"""Annotate: one sentence at a time, pre-tagged by the serving model, corrected with the keyboard and the mouse in
the span editor (pages/span_editor.py); the buttons below it do the same for mouse users."""
from __future__ import annotations

import html
import os
import random
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import jobs, learner, live, predict, queue, retrain, team, vocab
from core import annotate as ann
from core.store import Annotation, LiveHead, ModelVersion, SentenceRow
from core.vocab import clip
from pages import pattern_panel, ui
from pages.span_editor import actions as editor_actions, render_span_editor

if TYPE_CHECKING:  # pages call models through core.predict
    from core.model import Tagger

ui.ensure_navigation()  # a first request for this page on a fresh server: run app.py first

AHEAD = 16  # sentences predicted with the current one, in one batch, so moving on is instant
SID = ui.ANNOTATE_SENTENCE  # also set by the Evaluate page's error browser (ui.open_in_annotate)
DRAFTS = "annotate_drafts"  # {sentence id: ann.Draft}
QUEUE = "annotate_queue"  # sentence ids of the view, in the order shown
FLASH = "annotate_flash"
RETRAIN = "annotate_retrain_every"  # 0: off; else start a warm-started job after that many new human labels
RETRAIN_FLASH = "annotate_retrain_flash"
ORDERS = (*queue.ORDERS, queue.ACTIVE_LEARNING)
EDITOR = "annotate_editor"  # the span editor's key: its state holds the actions Python has not acknowledged yet
APPLIED = "annotate_applied_seq"  # sequence number of the last editor action applied (or refused)
NOTICE = "annotate_editor_notice"  # why the editor's last keys were not applied, shown in the editor once
SHOWN = "annotate_shown"  # (sentence id, what "accept" saves) of the sentence last rendered in the editor
URL_SIDS = "annotate_url_sids"  # every `?sid=` this session has followed or written
STORED = "annotate_stored_drafts"  # {sentence id: draft version} last written to the database
CONTEXT = 2  # neighbouring sentences of the same document shown greyed above and below
LIVE_POLL_S = 0.5  # how often the page looks for a newer live head (core.learner refits it after every save)
LEARNER = "annotate_learner_pid"  # the learner process this session last saw
HELP = "**1-9** label the word or the selected words · **0** clear · click a word: cursor · drag or Shift+click: " \
       "select words · click an entity: select it · **←/→** move (**Shift** selects) · **Home**/**End** first/last " \
       "word · **]**/**[** next/previous entity · **Backspace** remove the entity · **X** clear all · **U** undo · " \
       "**Ctrl+Enter** save & next · **A** accept the model & next · **N**/**P** next/previous without saving · " \
       "**F** flag as junk (or restore)"


# ---------------------------------------------------------------- caches shared by all sessions

@st.cache_resource(max_entries=4)
def _predictions(folder: str) -> dict[int, tuple[list[str], list[float]]]:
    """(tags, scores) per sentence id predicted by one model version; a promoted version gets a new dict."""
    return {}


@st.cache_resource(max_entries=4)
def _live_predictions(file: str) -> live.Predictions:
    """A live head's predictions file (core.learner writes a new one after every refit), read once."""
    return live.Predictions.read(file)


@st.cache_resource(max_entries=8)
def _index(db: str, project_id: int, stamp: tuple[int, int, int]) -> queue.Index:
    """The project's ids and label flags, recomputed only when the stamp (a save, an import) changes."""
    return queue.index(ui.store(), project_id)


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


def _predict(tagger: Tagger, folder: str, project_id: int, ids: list[int]) -> dict[int, tuple[list[str], list[float]]]:
    """The cache of `folder`, after predicting the ids it lacks in one batch."""
    cache = _predictions(folder)
    if missing := [i for i in ids if i not in cache]:
        cache.update(predict.tag_ids(ui.store(), tagger, project_id, missing))
    return cache


# ---------------------------------------------------------------- button callbacks (run before the rerun)

def _draft(sid: int) -> ann.Draft | None:
    return st.session_state.get(DRAFTS, {}).get(sid)


def _label(sid: int, label: str | None) -> None:
    if (draft := _draft(sid)) is not None:
        draft.label(label)


def _move(sid: int, step: int) -> None:
    if (draft := _draft(sid)) is not None:
        draft.move(step)


def _undo(sid: int) -> None:
    if (draft := _draft(sid)) is not None and not draft.undo():
        st.session_state[FLASH] = "Nothing to undo."


def _go(sid: int, step: int) -> None:
    target = queue.neighbour(st.session_state.get(QUEUE, []), sid, step)
    if target is None:
        st.session_state[FLASH] = "That was the last sentence of this view." if step > 0 else "This is the first one."
    else:
        st.session_state[SID] = target


def _save(project_id: int, sid: int, tags: list[str] | None, annotator: str) -> None:
    """Write one human annotation now (its own transaction), forget the draft, go to the next sentence; maybe
    start a retraining."""
    draft = _draft(sid)
    tags = tags if tags is not None else (draft.tags if draft is not None else None)
    if tags is None:
        return
    ui.store().save_human(sid, tags, annotator=_who(annotator), actor=ui.actor())  # drops their stored draft too
    st.session_state.get(DRAFTS, {}).pop(sid, None)
    st.session_state.get(STORED, {}).pop(sid, None)
    st.session_state[FLASH] = f"Saved sentence #{sid}."
    _go(sid, 1)
    _maybe_retrain(project_id)


def _maybe_retrain(project_id: int) -> None:
    """"Retrain every N new labels" (core.retrain), with a toast saying what it did."""
    done = retrain.maybe_retrain(ui.store(), project_id, int(st.session_state.get(RETRAIN) or 0), actor=ui.actor())
    if done is not None and done.job_id is None:
        st.session_state[RETRAIN_FLASH] = clip(f"Not retraining: {done.reason}")
    elif done is not None:
        st.session_state[RETRAIN_FLASH] = (f"{done.fresh} new labels: retraining in the background (job "
                                           f"{done.job_id}). Keep labelling; suggestions come from the new version "
                                           "once it is promoted.")


def _who(annotator: str) -> str:
    """The name saves and drafts are kept under: the logged-in account's, else the Annotator box's."""
    if user := st.session_state.get(ui.USER):
        return user["name"]
    return annotator.strip() or "anonymous"


def _reload(sid: int, annotator: str) -> None:
    st.session_state.get(DRAFTS, {}).pop(sid, None)
    st.session_state.get(STORED, {}).pop(sid, None)
    ui.store().drop_draft(sid, _who(annotator))


def _flag(project_id: int, sid: int, annotator: str) -> None:
    """Flag the sentence as junk (it leaves the queue, training and active learning) and go on; a flagged one is
    restored instead."""
    store = ui.store()
    restore = store.sentences(project_id, ids=[sid])[0].flagged
    store.flag([sid], flagged=not restore, annotator=_who(annotator), actor=ui.actor())
    st.session_state[FLASH] = (f"Restored sentence #{sid}: it is back in the queue." if restore else
                               f"Flagged sentence #{sid} as junk: it left the queue (the 'flagged' filter lists it).")
    _go(sid, 1)


def _apply_editor_actions(project_id: int, labels: list[str]) -> None:
    """The span editor's actions not applied yet, in order, on the sentence they were made on; an action made on
    another sentence than the current one (a key pressed while the next sentence was loading) is refused."""
    refused, problems = 0, []
    for action in ann.new_actions(editor_actions(EDITOR), st.session_state.get(APPLIED, 0)):
        st.session_state[APPLIED] = action["seq"]
        sid, kind = st.session_state.get(SID), action.get("kind")
        shown = st.session_state.get(SHOWN)
        if action.get("sid") != sid or shown is None or shown[0] != sid or _draft(sid) is None:
            refused += 1
        elif kind in ann.SENTENCE_KINDS:
            annotator = st.session_state.get("annotate_annotator") or ""
            if kind == "save":
                _save(project_id, sid, None, annotator)
            elif kind == "accept":
                _save(project_id, sid, list(shown[1]), annotator)
            elif kind == "flag":
                _flag(project_id, sid, annotator)
            else:
                _go(sid, 1 if kind == "next" else -1)
        else:
            try:
                ann.apply(_draft(sid), action, labels=labels)
            except ValueError as exc:
                problems.append(clip(str(exc)))
    notes = []
    if refused:
        notes.append(f"{refused} key(s) ignored: made on a sentence that is no longer shown "
                     f"(now #{st.session_state.get(SID)}).")
    if problems:
        notes.append("Ignored: " + "; ".join(problems))
    if notes:
        st.session_state[FLASH] = st.session_state[NOTICE] = " ".join(notes)  # a toast, and in the editor itself


# ---------------------------------------------------------------- page parts

def _requested_sentence(index: queue.Index) -> None:
    """`?sid=ID` in the URL that this session has never followed or written (a reload, a new tab, a shared link) opens
    that sentence; the page then keeps the current sentence in the URL. One it wrote before is the URL of a request
    the browser sent before the newer one reached it (a key batch while a save's reply was on its way): ignored, or the
    session would go back to a sentence it has left."""
    sid = st.query_params.get("sid")
    seen = st.session_state.setdefault(URL_SIDS, set())
    if sid is None or sid in seen:
        return
    seen.add(sid)
    if sid.isdigit() and int(sid) in index:
        st.session_state[SID] = int(sid)
    else:
        st.warning(f"Ignored ?sid={sid}: no such sentence in this project.")


def _keep_in_url(sid: int) -> None:
    """The current sentence in the URL (`?sid=`), so that a reload or a copied link opens it again."""
    if st.query_params.get("sid") != str(sid):
        st.query_params["sid"] = str(sid)
    st.session_state.setdefault(URL_SIDS, set()).add(str(sid))


def _open_draft(store, sid: int, start: list[str], basis: int | None, annotator: str) -> ann.Draft:
    """The sentence's working state: the annotator's draft kept in the database (a reload, another tab), else fresh
    tags."""
    kept = store.draft(sid, _who(annotator))
    draft = ann.Draft.open(start, basis=basis)
    if kept is not None and len(kept["tags"]) == len(start):
        draft.tags, draft.cursor = list(kept["tags"]), kept["cursor"]
        st.session_state.setdefault(STORED, {})[sid] = draft.version
    return draft


def _store_draft(store, sid: int, draft: ann.Draft, annotator: str) -> None:
    """Write the draft to the database when it changed since it was last written (unchanged: nothing to do)."""
    stored = st.session_state.setdefault(STORED, {})
    if stored.get(sid) == draft.version:
        return
    if draft.dirty:
        store.save_draft(sid, draft.tags, draft.cursor, annotator=_who(annotator))
    elif sid in stored:
        store.drop_draft(sid, _who(annotator))
    stored[sid] = draft.version


def render_controls(*, index: queue.Index, has_queue: bool) -> tuple[str, str, str | None, bool, str]:
    """Filter (with "assigned to me" when the annotator has a queue), order (with the active-learning strategy, a core.active spec, when chosen), table view, annotator
    name and "retrain every N"; all kept across page switches."""
    row = st.container(horizontal=True, vertical_alignment="bottom")  # wraps: nothing is cut on narrow screens
    default_filter = "unlabeled" if len(index.labelled) < len(index.ids) else "not human-checked"
    filters = [*([queue.MINE] if has_queue else []), *queue.FILTERS]
    if has_queue:
        default_filter = queue.MINE
    if st.session_state.get("annotate_filter") not in filters:  # its state only, no default: Streamlit would warn
        st.session_state["annotate_filter"] = default_filter
    which = row.segmented_control(
        "Sentences", filters, required=True, key="annotate_filter",
        persist_state="session", help="assigned to me: your queue of the shared work, what you have not saved yet; "
                                      "unlabeled: no gold or human tags yet; not human-checked: no human "
                                      "annotation yet, in any split; all: every sentence")
    how = row.segmented_control("Show next", ORDERS, default="in order", required=True,
                                key="annotate_order", persist_state="session",
                                help="active learning: the unlabelled sentences the serving model is least sure "
                                     "about first, by the strategy chosen below")
    table = row.toggle("Table view", key="annotate_table_view", persist_state="session",
                       help="Edit the tags in a table: handy for long sentences")
    who = "" if st.session_state.get(ui.USER) else row.text_input(  # logged in: the account's name is used
        "Annotator", key="annotate_annotator", persist_state="session", placeholder="your name", width=180)
    row.number_input("Retrain every N new labels", min_value=0, max_value=10_000, value=0, step=5, key=RETRAIN,
                     width=220, persist_state="session",
                     help="0: off. After N sentences labelled since the last training job, a warm-started job starts "
                          "in the background.")
    strategy = render_strategy() if how == queue.ACTIVE_LEARNING else None
    return which, how, strategy, table, who


def render_strategy() -> str:
    """The active-learning strategy: uncertainty measure, sentence aggregate, diverse batch; a core.active spec."""
    cols = st.columns([2.6, 2.4, 2, 3], vertical_alignment="bottom")
    measure = cols[0].selectbox("Uncertainty", list(queue.MEASURES), index=list(queue.MEASURES).index("entropy"),
                                key="annotate_measure", persist_state="session",
                                help="least confidence, margin between the two best labels, entropy, or BALD "
                                     "(disagreement between Monte-Carlo dropout passes of the head)")
    aggregate = cols[1].segmented_control("Per sentence", list(queue.AGGREGATES), default="MNLP", required=True,
                                          key="annotate_aggregate", persist_state="session",
                                          help="max over words, mean, or MNLP (length-normalised sum)")
    diverse = cols[2].toggle("Diverse batch", key="annotate_diverse", persist_state="session",
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


def _queue(*, project_id: int, index: queue.Index, stamp: tuple, which: str, how: str, strategy: str | None,
           tagger: Tagger | None, model: ModelVersion | None, head: LiveHead | None,
           annotator: str) -> tuple[list[int], str]:
    """The view's sentence ids in the order core.queue.plan chose (kept in session state until something
    changes), and the note saying which ranking (or fallback) orders it."""
    seed = st.session_state.setdefault("annotate_seed", random.randrange(1 << 30))
    model = model if tagger is not None else None
    plan = queue.plan(ui.store(), project_id, which=which, how=how, strategy=strategy, model=model, head=head)
    note = _note(plan, how=how, index=index, which=which, strategy=strategy, model=model, head=head)
    view = (project_id, which, how, strategy)
    if st.session_state.get("annotate_view", view) != view:
        st.session_state.pop(SID, None)  # a new filter or order starts at its first sentence
    st.session_state["annotate_view"] = view
    if plan.source == "mine":  # the stored queue, in its own order; recomputed on every rerun (one light query)
        st.session_state[QUEUE] = team.queue(ui.store(), project_id, _who(annotator))
        st.session_state["annotate_queue_key"] = None
        return st.session_state[QUEUE], note
    key = (project_id, stamp, which, how, strategy, model.folder if model else None, seed,
           head.id if plan.source == "live" else None)
    if st.session_state.get("annotate_queue_key") != key:
        pool, ranked, confidence = index.pool(which), [], None
        if plan.source == "confidence":
            window = index.window(which)
            with st.spinner(f"Predicting {len(window)} sentences with {ui.md_escape(model.name)}…"):
                cache = _predict(tagger, model.folder, project_id, window)
            confidence = {i: queue.sentence_confidence(cache[i][1]) for i in window}
        elif plan.source == "live":
            ranked = _live_predictions(head.file).ranked(plan.column, pool)
        elif plan.source == "version":
            ranked = _ranked(str(ui.store().path), project_id, model.id, strategy, stamp[0], seed)
        st.session_state[QUEUE] = queue.ranked_first(pool, ranked) if plan.source in ("live", "version") else \
            queue.arrange(index, which, plan.how, confidence=confidence, seed=seed)
        st.session_state["annotate_queue_key"] = key if plan.final else None  # ranked again once it is done
    return st.session_state[QUEUE], note


def render_retrain_status(*, project_id: int) -> None:
    """One line on the retraining loop: labels since the last job, the job in progress."""
    store = ui.store()
    job = retrain.active_job(store, project_id)
    fresh = store.human_since_last_job(project_id)
    text = f"Retraining every {st.session_state[RETRAIN]} new labels: {fresh} since the last training job"
    st.caption(text + (f" · job {job.id} {job.status}, the Train page follows it" if job else ""))


def render_counters(*, index: queue.Index, ids: list[int], labels: list[str], counts: dict[str, int]) -> None:
    """Done / remaining (of the view's `ids`) and entities per class among the human annotations."""
    remaining = sum(1 for i in ids if i not in index.human)
    col = ui.colours(labels)
    chips = " ".join(
        f'<span style="border-bottom:3px solid {col.get(lab, "#999999")};margin-right:10px">'
        f'{html.escape(lab)} <b>{counts.get(lab, 0)}</b></span>'
        for lab in labels + sorted(set(counts) - set(labels)))
    st.markdown(
        f'<div style="font-size:1.05rem"><b>{len(index.human)}</b> done (human) · <b>{remaining}</b> '
        f'remaining in this view · of {len(index.ids)} sentences &nbsp;&nbsp;|&nbsp;&nbsp; '
        f'human entities: {chips}</div>', unsafe_allow_html=True)


def render_buttons(*, project_id: int, sid: int, labels: list[str], draft: ann.Draft, suggestion: list[str],
                   annotator: str, has_model: bool, flagged: bool) -> None:
    """The same actions as buttons, for the mouse: label, clear, cursor moves, undo, save, accept, previous, next.
    Their keys belong to the span editor alone (no button shortcuts), so a key is never handled twice."""
    keys = st.container(horizontal=True)
    for n, lab in enumerate(labels, start=1):
        keys.button(lab, key=f"annotate_label_{n}", on_click=_label, args=(sid, lab),
                    help=f"Key {n}" if n <= 9 else None)
    keys.button("Clear", key="annotate_clear", on_click=_label, args=(sid, None), help="Key 0")
    keys.button("", icon=":material/arrow_back:", key="annotate_left", on_click=_move,
                args=(sid, -1), help="Previous word (←)")
    keys.button("", icon=":material/arrow_forward:", key="annotate_right", on_click=_move,
                args=(sid, 1), help="Next word (→)")
    keys.button("Undo", icon=":material/undo:", key="annotate_undo", on_click=_undo, args=(sid,),
                disabled=not draft.undo_stack, help="Key U")
    acts = st.container(horizontal=True)
    acts.button("Save & next", type="primary", icon=":material/save:", key="annotate_save",
                on_click=_save, args=(project_id, sid, None, annotator), help="Ctrl+Enter")
    acts.button("Accept model & next" if has_model else "Accept as opened & next", icon=":material/done_all:",
                key="annotate_accept", on_click=_save,
                args=(project_id, sid, list(suggestion), annotator),
                help=("Save the model's prediction as it is" if has_model else "Save the tags it opened with")
                + " (key A)")
    acts.button("Previous", icon=":material/skip_previous:", key="annotate_prev", on_click=_go,
                args=(sid, -1), help="Key P")
    acts.button("Next", icon=":material/skip_next:", key="annotate_next", on_click=_go,
                args=(sid, 1), help="Next sentence without saving (the draft is kept; key N)")
    acts.button("Restore" if flagged else "Flag as junk", icon=":material/flag:", key="annotate_flag",
                on_click=_flag, args=(project_id, sid, annotator),
                help="Back into the queue (key F)" if flagged else "Not a real sentence: it leaves the queue, training "
                                                                  "and active learning, and can be restored (key F)")


def render_table(*, sid: int, words: list[str], labels: list[str], draft: ann.Draft,
                 pred: tuple[list[str], list[float]] | None) -> None:
    """The tags as a table with a tag select box per word; an edit becomes a draft change (undoable)."""
    options = vocab.label_set(labels, sort=False)
    options += sorted(set(draft.tags) - set(options))
    frame = pd.DataFrame({"word": words, "tag": draft.tags})
    if pred is not None:
        frame["model"], frame["confidence"] = pred
    key = f"annotate_table_{sid}_{draft.version}"
    edited = st.data_editor(
        frame, key=key, num_rows="fixed", width="stretch",
        height=min(35 * (len(words) + 1) + 3, 1200), disabled=["word", "model", "confidence"],
        column_config={"tag": st.column_config.SelectboxColumn("tag", options=options, required=True),
                       "confidence": st.column_config.NumberColumn(format="%.2f")})
    tags = [t if isinstance(t, str) else None for t in edited["tag"]]
    if tags != draft.tags:
        draft.replace(tags)
        del st.session_state[key]  # the edit is in the draft now: a table under this key again starts from it
        st.rerun()


def render_context(rows: list[SentenceRow]) -> None:
    """Neighbouring sentences of the same document, greyed (escaped text)."""
    if rows:
        text = " ".join(html.escape(r.text) for r in rows)
        st.markdown(f'<div class="nl-context" style="color:#8a8a8a;font-size:0.95rem">{text}</div>',
                    unsafe_allow_html=True)


def render_history(*, sid: int, history: list[Annotation]) -> None:
    """How many annotations the sentence has (every save of every session is kept), and the last human one."""
    human = [h for h in history if h.source == "human"]
    last = ""
    if human:
        who, when = ui.md_escape(human[-1].annotator or "?"), human[-1].created[:19].replace("T", " ")
        last = f" · last human save by {who} at {when}"
    st.caption(f"History of #{sid}: {len(history)} annotation(s), {len(human)} by humans{last}")


def _model_note(model: ModelVersion | None, head: LiveHead | None = None) -> str:
    """Which model pre-tagged the sentence: the live head (on which version, after how many labels), or a version."""
    if head is not None:
        on = html.escape(model.name) if model is not None else "the base encoder"
        f1 = "" if head.dev_f1 is None else f", {'held-out' if head.held_out else 'dev'} F1 {head.dev_f1:.2f}"
        return f"pre-tagged by the live head on {on} ({head.train_sentences} labels seen{f1})"
    if model is None:
        return "no serving model yet: train one on the Train page"
    f1 = model.dev_f1
    return f"pre-tagged by {html.escape(model.name)}" + (f" (dev F1 {f1:.2f})" if f1 is not None else "")


def _serving_head(store, project_id: int) -> LiveHead | None:
    """The live head that pre-tags now, after making sure the learner runs (it is started again if it ended: the
    labels are all in the database, so it loses nothing)."""
    if not learner.enabled():
        return None
    pid = learner.ensure(store, parent=os.getpid())
    seen = st.session_state.get(LEARNER)
    if seen is not None and seen != pid:
        st.toast("The live learner had stopped and was started again; no label is lost: it refits on every saved "
                 "label.", icon=":material/restart_alt:")
    st.session_state[LEARNER] = pid
    return learner.serving_head(store, project_id)


def render_live(*, project_id: int, sid: int, shown: int | None, model: ModelVersion | None) -> None:
    """The live head after each save: its dev F1 against the labels it has seen (the improvement to watch); when a
    newer head serves and the sentence is untouched, the page reruns so that its pre-tags come from it."""
    store = ui.store()
    jobs.reap(store, project_id)  # a finished training job's process is waited for, even with Train closed
    head = learner.serving_head(store, project_id)
    now = head.id if head is not None else None
    if now != shown and ((draft := _draft(sid)) is None or not draft.dirty):
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
    text.caption(f"Live head on {ui.md_escape(on)}, refitted after every save: {'held-out' if latest.held_out else 'dev'}"
                 f" F1 **{f1}**{versus} after {latest.train_sentences} labels (refit {latest.fit_seconds:.1f} s){use}")
    curve = store.live_curve(project_id, latest.model_id)
    if len(curve) > 1:
        seen, f1s = zip(*curve)
        fig = go.Figure(go.Scatter(x=seen, y=f1s, mode="lines+markers", marker={"size": 4},
                                   hovertemplate="%{x} labels: dev F1 %{y:.3f}<extra></extra>"))
        fig.update_layout(height=120, margin={"l": 36, "r": 8, "t": 6, "b": 30}, showlegend=False,
                          xaxis={"title": {"text": "labels seen", "standoff": 2}},
                          yaxis={"range": [0, 1], "title": {"text": "dev F1", "standoff": 2}, "dtick": 0.5})
        chart.plotly_chart(fig, config={"displayModeBar": False}, key="annotate_live_curve")


# ---------------------------------------------------------------- the page

def render() -> None:
    proj = ui.require_project()
    pid, labels = proj.id, list(proj.labels)
    _apply_editor_actions(pid, labels)
    store = ui.store()
    tagger, model = ui.serving_tagger(pid)
    st.title("Annotate")
    if model is not None and tagger is None:
        st.warning(f"The serving model {ui.md_escape(model.name)} has no folder at "
                   f"{ui.md_escape(model.folder)}: no predictions.")
    if tagger is None:
        model = None
    head = _serving_head(store, pid)
    stamp = store.stamp(pid)
    if stamp[0] == 0:
        st.info("No sentences yet: bring some text in on the Upload page.")
        return
    index = _index(str(store.path), pid, stamp)
    _requested_sentence(index)
    has_queue = bool(store.assignments(pid, _who(st.session_state.get("annotate_annotator") or "")))
    which, how, strategy, table_view, annotator = render_controls(index=index, has_queue=has_queue)
    ids, note = _queue(project_id=pid, index=index, stamp=stamp, which=which, how=how, strategy=strategy,
                         tagger=tagger, model=model, head=head, annotator=annotator)
    render_counters(index=index, ids=ids, labels=labels, counts=_class_counts(str(store.path), pid, stamp))
    if note:
        st.caption(note)
    if (msg := st.session_state.pop(FLASH, None)) is not None:
        st.toast(msg)
    if (msg := st.session_state.pop(RETRAIN_FLASH, None)) is not None:
        st.toast(msg, icon=":material/model_training:")
    if st.session_state.get(RETRAIN):
        render_retrain_status(project_id=pid)

    sid = st.session_state.get(SID)
    if sid not in index:  # none yet, or one of another project
        if not ids:
            st.success("Nothing left in this view. Pick another filter above, or train a new version.")
            return
        sid = ids[0]
    st.session_state[SID] = sid
    _keep_in_url(sid)
    if learner.enabled():
        st.fragment(render_live, run_every=LIVE_POLL_S)(project_id=pid, sid=sid, shown=head.id if head else None,
                                                        model=model)
    render_sentence_editor(project_id=pid, sid=sid, labels=labels, ids=ids, tagger=tagger, model=model,
                           head=head, table_view=table_view, annotator=annotator)


def render_sentence_editor(*, project_id: int, sid: int, labels: list[str], ids: list[int], tagger: Tagger | None,
                           model: ModelVersion | None, head: LiveHead | None, table_view: bool,
                           annotator: str) -> None:
    """The current sentence: highlighted tags, the model's version when it differs, the keys, the table."""
    store = ui.store()
    pos = ids.index(sid) if sid in ids else None
    pred = _live_predictions(head.file).get(sid) if head is not None else None
    if pred is None:
        head = None  # not predicted by the live head yet (a sentence it has not encoded): the version's
    if pred is None and tagger is not None:
        cache = _predictions(model.folder)
        start = pos + 1 if pos is not None else 0
        ahead = ids[start:start + AHEAD]
        if sid not in cache or any(i not in cache for i in ahead[:4]):
            cache = _predict(tagger, model.folder, project_id, [sid] + ahead)
        pred = cache[sid]
    row = store.sentences(project_id, ids=[sid])[0]
    words = row.words
    matched = pattern_panel.tags(project_id, words)  # the project's patterns: the opening tags while no model serves
    drafts = st.session_state.setdefault(DRAFTS, {})
    opened, basis = team.opening(store, sid, _who(annotator))  # never another's labels on a shared sentence first
    start, origin = ann.opening_tags(store, sid, opened=opened, predicted=pred[0] if pred else None, matched=matched)
    if sid not in drafts or (not drafts[sid].dirty and (drafts[sid].start, drafts[sid].basis) != (start, basis)):
        drafts[sid] = _open_draft(store, sid, start, basis, annotator)  # untouched: follow a prediction or a save
    draft = drafts[sid]
    _store_draft(store, sid, draft, annotator)
    suggestion = pred[0] if pred is not None else draft.start

    where = f"{pos + 1} of {len(ids)} in this view" if pos is not None else "not in this view"
    status = " · <b style='color:#D55E00'>unsaved changes</b>" if draft.dirty else ""
    source = {"human": "human-checked", "gold": "gold (imported)", "review": "reviewed"}.get(row.source,
                                                                                           "no labels yet")
    st.markdown(f"Sentence <b>#{sid}</b> · {html.escape(row.split)} · {source} · {where}{status} · "
                f"{_model_note(model, head)}", unsafe_allow_html=True)
    if basis is not None and basis != draft.basis:
        st.info("This sentence was saved elsewhere since you opened it.")
        st.button("Load the saved version", key="annotate_reload", on_click=_reload, args=(sid, annotator))
    st.session_state[SHOWN] = (sid, list(suggestion))
    before, after = store.neighbours(sid, CONTEXT, CONTEXT)
    with st.container(border=True):
        render_context(before)
        render_span_editor(key=EDITOR, sid=sid, words=words, draft=draft, labels=labels,
                           scores=pred[1] if pred else None, acked=st.session_state.get(APPLIED, 0),
                           notice=st.session_state.pop(NOTICE, None))
        render_context(after)
        if pred is not None and pred[0] != draft.tags:
            st.caption("The live head predicted:" if head is not None else
                       f"Model {ui.md_escape(model.name)} predicted:")
            ui.render_sentence(words, pred[0], labels=labels, scores=pred[1])
        if origin not in ("label", "model", "patterns"):
            st.caption(f"Opened with the imported suggestion of {ui.md_escape(origin)} (a model's, not a label)")
        pattern_panel.render_matches(words=words, matched=matched, predicted=pred[0] if pred else None)
    if not labels:
        st.info("This project has no entity labels yet: add some on the Home page.")
    ui.render_legend(labels)
    render_buttons(project_id=project_id, sid=sid, labels=labels, draft=draft, suggestion=suggestion,
                   annotator=annotator, has_model=pred is not None, flagged=row.flagged)
    st.caption(HELP)
    if table_view:
        render_table(sid=sid, words=words, labels=labels, draft=draft, pred=pred)
    render_history(sid=sid, history=store.history(sid))
    counts = ann.entity_count(draft.tags)
    if counts:
        st.caption("This sentence: " + ", ".join(f"{ui.md_escape(k)} {v}" for k, v in sorted(counts.items())))


render()
