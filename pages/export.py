"""Export: annotations in any writable format, and the serving model as a zip of its folder."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import streamlit as st

from core import export, formats
from core.store import Project
from core.vocab import SPLIT_TITLES, SPLITS
from pages import ui

ui.ensure_navigation()  # a first request for this page on a fresh server: run app.py first

PREDICT_RATE = 80  # sentences per second, all-MiniLM-L6-v2 batched on 2 CPU cores
AS_IMPORTED = "as imported"  # the CoNLL scheme choice: the imported files' own


def _format_title(fmt: str) -> str:
    """A format's name as the page shows it, marked when its optional dependency is missing."""
    return fmt.upper() + (" (not installed)" if not formats.get(fmt).available() else "")


def _annotation_bytes(**kwargs) -> bytes:
    """Deferred download: the export is written when the button is clicked, so it is never stale."""
    return export.export_annotations(**kwargs).data


def render_annotations(*, project: Project) -> None:
    """Split, format and scheme choices, the predictions option, and the download button named after its content."""
    store = ui.store()
    by_split = store.counts(project.id)["by_split"]
    labelled = store.labelled_by_split(project.id)
    st.subheader("Annotations")
    splits = st.multiselect("Splits", SPLITS, default=export.default_splits(store, project.id),
                            format_func=lambda s: f"{SPLIT_TITLES[s]} ({labelled[s]} of {by_split[s]} labelled)",
                            key="export_splits", help="At first: the splits that hold annotations (gold, human or "
                                                      "review)")
    fmt = st.segmented_control("Format", export.EXPORT_FORMATS, default="conll", format_func=_format_title,
                               key="export_format", required=True)
    missing = formats.get(fmt).missing_dependency
    if missing:
        st.info(f"{fmt} is not available: {ui.md_escape(missing)}")
    scheme = st.segmented_control("Tag scheme (CoNLL)", (AS_IMPORTED, *formats.SCHEMES), default=AS_IMPORTED,
                                  key="export_scheme", required=True, disabled=fmt != "conll",
                                  help="As imported: the scheme of the imported CoNLL files (iob2 where they "
                                       "differ, or for sentences of other formats)")
    serving = store.serving(project.id)
    if serving is not None and not Path(serving.folder).is_dir():
        serving = None  # its folder was removed: nothing can predict
    predict = st.toggle(
        "Include model predictions for sentences without an annotation", key="export_predictions",
        disabled=serving is None or fmt not in export.PREDICTING,
        help="Predicted sentences are marked: JSONL records get \"source\": \"model\" and the version in "
             "\"model\"; CoNLL rows get a middle column with each sentence's source (gold, human or model); "
             "Label Studio tasks get them as scored `predictions` of the version, for review.")
    if serving is None:
        st.caption("No model yet: sentences without a human or gold annotation are left out.")
    tagger = None
    if predict and serving is not None and fmt in export.PREDICTING:
        tagger, _ = ui.serving_tagger(project.id)
        waiting = sum(by_split[s] - labelled[s] for s in splits)
        if waiting > 10 * PREDICT_RATE:
            st.caption(f"Tagging {waiting} unlabelled sentences takes about {waiting // PREDICT_RATE} s "
                       "after you click Download.")
    written = export.written_splits(store, project.id, splits, everything=tagger is not None)
    if splits and not written:
        st.caption("Nothing to export: the chosen splits hold no annotations.")
    data = partial(_annotation_bytes, store=store, project_id=project.id, splits=list(splits), fmt=fmt,
                   scheme=None if scheme == AS_IMPORTED else scheme, tagger=tagger,
                   model_name=serving.name if serving else "", actor=ui.actor())
    name = export.download_name(store, project.id, project.name, written, fmt, predicted=tagger is not None)
    if left := export.lost(store.kept(project.id, written), fmt):
        st.caption(f"Not in a {ui.md_escape(formats.get(fmt).label or fmt)} file (kept in the project; export in "
                   f"their own format to write them back): {ui.md_escape(formats.kept_text(left))}")
    mime = "application/zip" if name.endswith(".zip") else formats.get(fmt).mime
    st.download_button(f"Download {name}", data=data, file_name=name, mime=mime,
                       key="export_download",
                       type="primary", icon="⬇️", disabled=not written or bool(missing), on_click="ignore")


def render_model(*, project: Project) -> None:
    """The serving version as a zip of its folder (a Hugging Face model folder plus metrics.json)."""
    st.subheader("Serving model")
    serving = ui.store().serving(project.id)
    if serving is None:
        st.caption("No model yet: train one on the Train page.")
        return
    f1 = serving.dev_f1
    st.markdown(f"Version **{serving.name}**, dev F1 {'n/a' if f1 is None else f'{f1:.3f}'}, "
                f"base model {ui.md_escape(serving.base_model)}")
    if not Path(serving.folder).is_dir():
        st.error(f"The folder of {serving.name} is missing: {ui.md_escape(serving.folder)}")
        return
    root = export.safe_name(f"{project.name}-{serving.name}")
    st.download_button(f"Download {root}.zip", data=partial(export.export_model, ui.store(), serving.id, root,
                                                                    actor=ui.actor()),
                       file_name=f"{root}.zip", mime="application/zip", key="export_model_download",
                       icon=":material/folder_zip:", on_click="ignore")


proj = ui.require_project()
st.title("Export")
render_annotations(project=proj)
st.divider()
render_model(project=proj)
