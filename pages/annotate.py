"""Annotate: one sentence at a time, pre-tagged by the serving model, corrected with the keyboard and the mouse in
the span editor (pages/span_editor.py); the buttons below it do the same for mouse users."""
from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from core import learner, queue, retrain, team, vocab
from core import annotate as ann
from core.store import Annotation, LiveHead, ModelVersion, SentenceRow
from core.vocab import clip
from pages import annotate_model, annotate_queue, pattern_panel, ui
from pages.span_editor import actions as editor_actions, render_span_editor

if TYPE_CHECKING:  # pages call models through core.predict
    from core.model import Tagger

ui.ensure_navigation()  # a first request for this page on a fresh server: run app.py first

KEY = "annotate"  # the page's widget and state keys start with it (pages/annotate_queue.py, annotate_model.py too)
AHEAD = 16  # sentences predicted with the current one, in one batch, so moving on is instant
SID = ui.ANNOTATE_SENTENCE  # also set by the Evaluate page's error browser (ui.open_in_annotate)
DRAFTS = f"{KEY}_drafts"  # {sentence id: ann.Draft}
FLASH = f"{KEY}_flash"
RETRAIN = f"{KEY}_retrain_every"  # 0: off; else start a warm-started job after that many new human labels
RETRAIN_FLASH = f"{KEY}_retrain_flash"
EDITOR = f"{KEY}_editor"  # the span editor's key: its state holds the actions Python has not acknowledged yet
APPLIED = f"{KEY}_applied_seq"  # sequence number of the last editor action applied (or refused)
NOTICE = f"{KEY}_editor_notice"  # why the editor's last keys were not applied, shown in the editor once
SHOWN = f"{KEY}_shown"  # (sentence id, what "accept" saves) of the sentence last rendered in the editor
URL_SIDS = f"{KEY}_url_sids"  # every `?sid=` this session has followed or written
STORED = f"{KEY}_stored_drafts"  # {sentence id: draft version} last written to the database
CONTEXT = 2  # neighbouring sentences of the same document shown greyed above and below
HELP = "**1-9** label the word or the selected words · **0** clear · click a word: cursor · drag or Shift+click: " \
       "select words · click an entity: select it · **←/→** move (**Shift** selects) · **Home**/**End** first/last " \
       "word · **]**/**[** next/previous entity · **Backspace** remove the entity · **X** clear all · **U** undo · " \
       "**Ctrl+Enter** save & next · **A** accept the model & next · **N**/**P** next/previous without saving · " \
       "**F** flag as junk (or restore)"


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
    target = queue.neighbour(annotate_queue.shown(KEY), sid, step)
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
    ui.store().save_human(sid, tags, annotator=ui.annotator_name(annotator), actor=ui.actor())  # drops their stored draft too
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


def _reload(sid: int, annotator: str) -> None:
    st.session_state.get(DRAFTS, {}).pop(sid, None)
    st.session_state.get(STORED, {}).pop(sid, None)
    ui.store().drop_draft(sid, ui.annotator_name(annotator))


def _flag(project_id: int, sid: int, annotator: str) -> None:
    """Flag the sentence as junk (it leaves the queue, training and active learning) and go on; a flagged one is
    restored instead."""
    store = ui.store()
    restore = store.sentences(project_id, ids=[sid])[0].flagged
    store.flag([sid], flagged=not restore, annotator=ui.annotator_name(annotator), actor=ui.actor())
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
            annotator = st.session_state.get(f"{KEY}_annotator") or ""
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
    kept = store.draft(sid, ui.annotator_name(annotator))
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
        store.save_draft(sid, draft.tags, draft.cursor, annotator=ui.annotator_name(annotator))
    elif sid in stored:
        store.drop_draft(sid, ui.annotator_name(annotator))
    stored[sid] = draft.version


def render_buttons(*, project_id: int, sid: int, labels: list[str], draft: ann.Draft, suggestion: list[str],
                   annotator: str, has_model: bool, flagged: bool) -> None:
    """The same actions as buttons, for the mouse: label, clear, cursor moves, undo, save, accept, previous, next.
    Their keys belong to the span editor alone (no button shortcuts), so a key is never handled twice."""
    keys = st.container(horizontal=True)
    for n, lab in enumerate(labels, start=1):
        keys.button(lab, key=f"{KEY}_label_{n}", on_click=_label, args=(sid, lab),
                    help=f"Key {n}" if n <= 9 else None)
    keys.button("Clear", key=f"{KEY}_clear", on_click=_label, args=(sid, None), help="Key 0")
    keys.button("", icon=":material/arrow_back:", key=f"{KEY}_left", on_click=_move,
                args=(sid, -1), help="Previous word (←)")
    keys.button("", icon=":material/arrow_forward:", key=f"{KEY}_right", on_click=_move,
                args=(sid, 1), help="Next word (→)")
    keys.button("Undo", icon=":material/undo:", key=f"{KEY}_undo", on_click=_undo, args=(sid,),
                disabled=not draft.undo_stack, help="Key U")
    acts = st.container(horizontal=True)
    acts.button("Save & next", type="primary", icon=":material/save:", key=f"{KEY}_save",
                on_click=_save, args=(project_id, sid, None, annotator), help="Ctrl+Enter")
    acts.button("Accept model & next" if has_model else "Accept as opened & next", icon=":material/done_all:",
                key=f"{KEY}_accept", on_click=_save,
                args=(project_id, sid, list(suggestion), annotator),
                help=("Save the model's prediction as it is" if has_model else "Save the tags it opened with")
                + " (key A)")
    acts.button("Previous", icon=":material/skip_previous:", key=f"{KEY}_prev", on_click=_go,
                args=(sid, -1), help="Key P")
    acts.button("Next", icon=":material/skip_next:", key=f"{KEY}_next", on_click=_go,
                args=(sid, 1), help="Next sentence without saving (the draft is kept; key N)")
    acts.button("Restore" if flagged else "Flag as junk", icon=":material/flag:", key=f"{KEY}_flag",
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
    key = f"{KEY}_table_{sid}_{draft.version}"
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
    head = annotate_model.serving_head(store, pid, key=KEY)
    stamp = store.stamp(pid)
    if stamp[0] == 0:
        st.info("No sentences yet: bring some text in on the Upload page.")
        return
    index = annotate_queue.index(pid, stamp)
    _requested_sentence(index)
    has_queue = bool(store.assignments(pid, ui.annotator_name(st.session_state.get(f"{KEY}_annotator") or "")))
    which, how, strategy, table_view, annotator = annotate_queue.render_controls(index=index, has_queue=has_queue,
                                                                                 key=KEY)
    ids, note = annotate_queue.ordered(project_id=pid, index=index, stamp=stamp, which=which, how=how,
                                       strategy=strategy, tagger=tagger, model=model, head=head, annotator=annotator,
                                       key=KEY)
    annotate_queue.render_counters(project_id=pid, stamp=stamp, index=index, ids=ids, labels=labels)
    if note:
        st.caption(note)
    if (msg := st.session_state.pop(FLASH, None)) is not None:
        st.toast(msg)
    if (msg := st.session_state.pop(RETRAIN_FLASH, None)) is not None:
        st.toast(msg, icon=":material/model_training:")
    annotate_queue.render_retrain_status(project_id=pid, key=KEY)

    sid = st.session_state.get(SID)
    if sid not in index:  # none yet, or one of another project
        if not ids:
            st.success("Nothing left in this view. Pick another filter above, or train a new version.")
            return
        sid = ids[0]
    st.session_state[SID] = sid
    _keep_in_url(sid)
    if learner.enabled():
        st.fragment(annotate_model.render_live, run_every=annotate_model.LIVE_POLL_S)(
            project_id=pid, shown=head.id if head else None, model=model, key=KEY,
            dirty=lambda: (draft := _draft(sid)) is not None and draft.dirty)
    render_sentence_editor(project_id=pid, sid=sid, labels=labels, ids=ids, tagger=tagger, model=model,
                           head=head, table_view=table_view, annotator=annotator, missing=index.partial.get(sid))


def render_sentence_editor(*, project_id: int, sid: int, labels: list[str], ids: list[int], tagger: Tagger | None,
                           model: ModelVersion | None, head: LiveHead | None, table_view: bool,
                           annotator: str, missing: set[str] | None = None) -> None:
    """The current sentence: highlighted tags, the model's version when it differs, the keys, the table."""
    store = ui.store()
    pos = ids.index(sid) if sid in ids else None
    pred = annotate_model.live_predictions(head.file).get(sid) if head is not None else None
    if pred is None:
        head = None  # not predicted by the live head yet (a sentence it has not encoded): the version's
    if pred is None and tagger is not None:
        cache = annotate_model.cached(model.folder)
        start = pos + 1 if pos is not None else 0
        ahead = ids[start:start + AHEAD]
        if sid not in cache or any(i not in cache for i in ahead[:4]):
            cache = annotate_model.predicted(tagger, model.folder, project_id, [sid] + ahead)
        pred = cache[sid]
    row = store.sentences(project_id, ids=[sid])[0]
    words = row.words
    matched = pattern_panel.tags(project_id, words)  # the project's patterns: the opening tags while no model serves
    drafts = st.session_state.setdefault(DRAFTS, {})
    opened, basis = team.opening(store, sid, ui.annotator_name(annotator))  # never another's labels on a shared sentence first
    start, origin = ann.opening_tags(store, sid, opened=opened, predicted=pred[0] if pred else None, matched=matched,
                                     missing=missing)
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
                f"{annotate_model.model_note(model, head)}", unsafe_allow_html=True)
    if basis is not None and basis != draft.basis:
        st.info("This sentence was saved elsewhere since you opened it.")
        st.button("Load the saved version", key=f"{KEY}_reload", on_click=_reload, args=(sid, annotator))
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
        if origin == "label+model":
            st.caption(f"Partial for {ui.md_escape(', '.join(sorted(missing)))}: opened with its label and the model's "
                       "entities of those types; save to mark it complete")
        elif origin not in ("label", "model", "patterns"):
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
