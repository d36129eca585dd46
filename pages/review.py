"""Review: sentences where annotators disagree (optionally where the serving model contradicts the human label), their
versions side by side with the differences marked; the reviewer accepts one or edits in the span editor (the keys
and mouse of Annotate), stored with source `review` (core.review): the label training and evaluation use."""
from __future__ import annotations

import html

import streamlit as st

from core import annotate as ann
from core import predict, review
from core.vocab import clip
from pages import ui
from pages.span_editor import actions as editor_actions, render_span_editor

ui.ensure_navigation()

SID = "review_sentence_id"
EDITOR = "review_editor"
APPLIED = "review_applied_seq"
DRAFT = "review_draft"  # (sentence id, ann.Draft) of the reviewer's edit
FLASH = "review_flash"
REVIEWER = "review_reviewer"


def _reviewer() -> str:
    if user := st.session_state.get(ui.USER):
        return user["name"]
    return (st.session_state.get(REVIEWER) or st.session_state.get("annotate_annotator") or "").strip() or "reviewer"


def _decide(sid: int, tags: list[str] | None, who: str) -> None:
    """Button callback: store `tags` (the edit when None) as the reviewed label, then go on."""
    held = st.session_state.get(DRAFT)
    tags = tags if tags is not None else (held[1].tags if held and held[0] == sid else None)
    if tags is None:
        return
    review.adjudicate(ui.store(), sid, tags, reviewer=_reviewer(), actor=ui.actor())
    st.session_state.pop(DRAFT, None)
    st.session_state[FLASH] = f"Sentence #{sid}: {who} stored as the reviewed label."


def _apply_editor_actions(labels: list[str]) -> None:
    """The span editor's new actions on the reviewer's draft; "save" stores it; keys made on another sentence are
    refused."""
    held = st.session_state.get(DRAFT)
    for action in ann.new_actions(editor_actions(EDITOR), st.session_state.get(APPLIED, 0)):
        st.session_state[APPLIED] = action["seq"]
        if held is None or action.get("sid") != held[0]:
            continue
        if action.get("kind") == "save":
            _decide(held[0], None, "your edit")
        elif action.get("kind") not in ann.SENTENCE_KINDS:
            try:
                ann.apply(held[1], action, labels=labels)
            except ValueError as exc:
                st.session_state[FLASH] = clip(f"Ignored: {exc}")


def _model_items(project_id: int) -> list[dict]:
    """Where the serving model contradicts the human label (core.review.model_check)."""
    tagger, _ = ui.serving_tagger(project_id)
    if tagger is None:
        st.caption("No serving model: only the annotators' disagreements are listed.")
        return []
    return [d | {"annotators": ["model"], "reviewed": False}
            for d in review.model_check(ui.store(), project_id, tagger)]


def render_list(*, items: list[dict]) -> int:
    """The sentences to review as a select box; returns the chosen id."""
    ids = [d["sentence_id"] for d in items]
    about = {d["sentence_id"]: d for d in items}
    if st.session_state.get(SID) not in ids:
        st.session_state[SID] = ids[0]
    return st.selectbox(f"{len(ids)} sentence(s) to review", ids, key=SID, format_func=lambda i: (
        f"#{i} · {', '.join(about[i]['annotators'])} · {len(about[i]['tokens'])} word(s) differ"
        + (" · reviewed" if about[i]["reviewed"] else "")))


def render_versions(*, sid: int, words: list[str], labels: list[str], seen: dict[str, list[str]]) -> None:
    """Each version side by side, the words where they differ boxed in red, with a button to accept it."""
    marked = review.differing(list(seen.values()))
    for col, (name, tags) in zip(st.columns(len(seen)), seen.items()):
        with col.container(border=True):
            st.markdown(f"**{ui.md_escape(name)}**")
            st.markdown(ui.sentence_html(words, tags, labels=labels, marked=marked), unsafe_allow_html=True)
            st.button(f"Accept {name}", key=f"review_accept_{sid}_{name}", on_click=_decide,
                      args=(sid, list(tags), name), help="Store this version as the sentence's label")


def render() -> None:
    proj = ui.require_project()
    pid, labels = proj.id, list(proj.labels)
    _apply_editor_actions(labels)
    store = ui.store()
    st.title("Review")
    row = st.container(horizontal=True, vertical_alignment="bottom")
    if not st.session_state.get(ui.USER):  # logged in: the account's name is the reviewer's
        row.text_input("Reviewer", key=REVIEWER, placeholder="your name", width=180)
    done = row.toggle("Show reviewed ones", key="review_done")
    with_model = row.toggle("Also where the model disagrees", key="review_model",
                            help=f"Re-tag up to {review.MODEL_CHECK} human-labelled sentences with the serving version")
    if (msg := st.session_state.pop(FLASH, None)) is not None:
        st.toast(msg)
    items = review.disagreements(store, pid, reviewed=done)
    if with_model:
        listed = {d["sentence_id"] for d in items}
        items += [d for d in _model_items(pid) if d["sentence_id"] not in listed]
    if not items:
        st.success("Nothing to review: no sentence where annotators disagree.")
        return
    sid = render_list(items=items)
    sentence = store.sentences(pid, ids=[sid])[0]
    words = sentence.words
    seen = review.versions(store, sid)
    if with_model and len(seen) < 2 and sentence.tags is not None:
        seen = {f"label ({sentence.source})": sentence.tags}
        tagger, _ = ui.serving_tagger(pid)
        seen["model"] = predict.tag_rows(tagger, [sentence])[sid][0]
    if (decided := review.decision(store, sid)) is not None:
        st.caption(f"Reviewed by {html.escape(decided.annotator)} at {decided.created[:19].replace('T', ' ')}")
    render_versions(sid=sid, words=words, labels=labels, seen=seen)
    held = st.session_state.get(DRAFT)
    if held is None or held[0] != sid:
        start = decided.tags if decided else next(iter(seen.values()))
        held = st.session_state[DRAFT] = (sid, ann.Draft.open(start))
    st.markdown("**Edit** (same keys as Annotate; Ctrl+Enter saves):")
    render_span_editor(key=EDITOR, sid=sid, words=words, draft=held[1], labels=labels, scores=None,
                       acked=st.session_state.get(APPLIED, 0))
    ui.render_legend(labels)
    st.button("Save my edit as the reviewed label", type="primary", key="review_save", on_click=_decide,
              args=(sid, None, "your edit"))
    st.caption(f"History of #{sid}: {len(store.history(sid))} annotation(s); nothing is overwritten.")


render()
