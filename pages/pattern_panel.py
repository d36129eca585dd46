"""A project's entity patterns in the app: the Upload page's section to add, list and clear them, and the Annotate
page's tags from them (a Matcher cached per project and patterns stamp)."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from core import formats, patterns
from core.vocab import clip
from pages import ui

REPORT = "upload_patterns_report"  # (kind, text) lines shown once after Add or Clear


@st.cache_resource(max_entries=8)
def _matcher(db: str, project_id: int, stamp: tuple[int, int]) -> patterns.Matcher:
    """The project's rules compiled once per stamp (an add or a removal makes a new one)."""
    return patterns.Matcher(ui.store().patterns(project_id))


def tags(project_id: int, words: Sequence[str]) -> list[str]:
    """IOB2 tags of the project's patterns on these words (all O when it has none)."""
    store = ui.store()
    return _matcher(str(store.path), project_id, store.patterns_stamp(project_id)).tags(words)


def render_matches(*, words: Sequence[str], matched: Sequence[str], predicted: Sequence[str] | None) -> None:
    """A caption of the pattern matches the model did not predict (every match when no model serves)."""
    have = set(formats.spans(predicted)) if predicted is not None else set()
    missed = [span for span in formats.spans(matched) if span not in have]
    if missed:
        head = "Patterns matched" + (", not predicted by the model" if predicted is not None else "")
        st.caption(f"{head}: " + ", ".join(f"{ui.md_escape(' '.join(words[a:b]))} ({ui.md_escape(label)})"
                                           for a, b, label in missed), help="the project's patterns (Upload page)")


def _add(project_id: int, data: bytes, name: str) -> None:
    try:
        r = patterns.add_to_project(ui.store(), project_id, data.decode("utf-8"), name=name, actor=ui.actor())
    except UnicodeDecodeError:
        st.session_state[REPORT] = [("error", f"{name}: not UTF-8 text")]
    except (ValueError, PermissionError) as e:  # FormatError included: nothing was added
        st.session_state[REPORT] = [("error", clip(str(e)))]
    else:
        st.session_state[REPORT] = [("success", f"{name}: {r['added']} patterns added, {r['duplicates']} "
                                                "duplicates skipped")]


def _clear(project_id: int) -> None:
    try:
        st.session_state[REPORT] = [("success", f"Removed {ui.store().clear_patterns(project_id, actor=ui.actor())} "
                                                "patterns.")]
    except PermissionError as e:
        st.session_state[REPORT] = [("error", clip(str(e)))]


def render_upload(*, project: dict) -> None:
    """Upload a spaCy EntityRuler JSONL file into the project (a preview of its counts, then Add), and the project's
    patterns with a Clear button. Annotate pre-tags from them while no model serves."""
    store, pid, labels = ui.store(), project.id, list(project.labels)
    held = store.patterns_stamp(pid)[0]
    with st.expander(f"Patterns: pre-tag sentences before the first model ({held} in the project)",
                     expanded=bool(st.session_state.get(REPORT))):
        for kind, line in st.session_state.pop(REPORT, []):
            getattr(st, kind)(ui.md_escape(line))
        st.markdown('spaCy EntityRuler JSONL, one rule a line: `{"label": "LOC", "pattern": "New York"}` or token '
                   'patterns `{"label": "LOC", "pattern": [{"LOWER": "paris"}]}`. While no model serves, Annotate '
                   "opens unlabelled sentences with their matches; afterwards it lists the matches the model missed.")
        if not labels:
            st.info("The project has no entity labels yet: add them on the Home page first.")
            return
        file = st.file_uploader("Patterns file", type=["jsonl", "json"], key="upload_patterns_file")
        if file is not None:
            data = file.getvalue()
            try:
                rules = patterns.parse(data.decode("utf-8"), name=file.name, labels=labels)
            except UnicodeDecodeError:
                st.error(f"{ui.md_escape(file.name)}: not UTF-8 text")
            except formats.FormatError as e:
                st.error(ui.md_escape(clip(str(e))))
            else:
                by_label = Counter(r.label for r in rules)
                st.markdown(f"{len(rules)} patterns: " + (" · ".join(f"{ui.md_escape(lab)} {n}"
                                                                     for lab, n in by_label.most_common()) or "none"))
                st.button(f"Add {len(rules)} patterns", key="upload_patterns_add", disabled=not rules,
                          on_click=_add, args=(pid, data, file.name))
        if held:
            rules = store.patterns(pid)
            st.dataframe(pd.DataFrame({"label": [r.label for r in rules],
                                       "pattern": [json.dumps(r.to_json()["pattern"], ensure_ascii=False)
                                                   for r in rules]}),
                         hide_index=True, height=min(35 * (len(rules) + 1) + 3, 250))
            st.button(f"Clear the {held} patterns", key="upload_patterns_clear", on_click=_clear, args=(pid,))
