"""Upload: files or pasted text, parsed and previewed with their tags, then imported all together; the project's
entity patterns (pages/pattern_panel.py)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import streamlit as st

from core import formats
from core.formats import webanno
from core.labels import LabelSet
from core.vocab import SPLIT_PURPOSES, SPLIT_TITLES, SPLITS, clip
from pages import pattern_panel, ui

ui.ensure_navigation()  # a first request for this page on a fresh server: run app.py first

TYPES = formats.extensions()
PASTE_FORMATS = ["auto", *(name for name, f in formats.REGISTRY.items() if not f.binary)]
LINE_MODES = {"one sentence per line": True, "split into sentences": False}
PREVIEW = 5
AS_IN_FILE = "as in the file"  # the split chooser's choice for a file that gives each sentence its split (hf)


@dataclass
class Preview:
    """What the page shows of one parsed input, without its sentences: counts, format, entity counts in order of
    first use, the first sentences, and how many of its sentences the project holds already."""

    fmt: str
    scheme: str | None
    lines: bool | None
    sentences: int
    labelled: int
    entities: Counter[str]
    first: list[formats.Sentence]
    already: int
    notes: str  # what the reader skipped or changed
    splits: Counter[str]  # sentences by the split the file gives them (hf), empty when it gives none


@dataclass
class Item:
    """One uploaded file or the pasted text: its data (read again on import), its Preview or the FormatError's
    text."""

    name: str
    key: str
    data: bytes | BinaryIO
    fmt: str | None
    preview: Preview | None
    error: str | None

    language: str
    layers: list[str]  # a WebAnno file's span layers (LAYER|feature), one of which is edited
    layer: str | None  # the one chosen (None: NamedEntity, else the only one)

    @classmethod
    def parsed(cls, name: str, key: str, data: bytes | BinaryIO, fmt: str | None, lines: bool | None,
               project_id: int, size: int, language: str) -> Item:
        """The input previewed (see parse), with the WebAnno span layer chosen for it."""
        raw = data if isinstance(data, bytes) else data.getvalue()
        layers = webanno.span_layers(raw) if webanno.sniff(raw[:100].decode("utf-8", "ignore").lstrip("\ufeff")) else []
        layer = st.session_state.get(f"upload_layer_{key}")
        fields, error = parse(raw, name, fmt, lines, ui.db_path(), project_id, size, language, layer)
        return cls(name, key, data, fmt, Preview(**fields) if fields else None, error, language, layers, layer)

    def stream(self) -> formats.Stream:
        """The input's sentences, parsed again while they are imported."""
        return formats.iter_read(self.data, name=self.name, fmt=self.fmt, lines=self.preview.lines,
                                 language=self.language, layer=self.layer)


@st.cache_data(max_entries=4, show_spinner=False)
def parse(data: bytes, name: str, fmt: str | None, lines: bool | None, db: str, project_id: int,
          size: int, language: str = "en", layer: str | None = None) -> tuple[dict | None, str | None]:
    """The input's Preview fields, read once as a stream (memory of a chunk, not of the file; only the preview is
    cached, by content, project size and language); a FormatError comes back as its "file:line: problem" text."""
    first: list[formats.Sentence] = []
    entities: Counter[str] = Counter()
    splits: Counter[str] = Counter()
    counts = {"sentences": 0, "labelled": 0}

    def counted() -> Iterator[formats.Sentence]:
        for s in stream:
            counts["sentences"] += 1
            if s.split is not None:
                splits[s.split] += 1
            if s.tags is not None:
                counts["labelled"] += 1
                entities.update(label for _, _, label in formats.spans(s.tags))
            if len(first) < PREVIEW:
                first.append(s)
            yield s

    try:
        stream = formats.iter_read(data, name=name, fmt=fmt, lines=lines, language=language, layer=layer)
        already = ui.store().duplicates(project_id, counted())
    except formats.FormatError as e:
        return None, clip(str(e))
    finally:
        ui.release_memory()
    return {"fmt": stream.fmt, "scheme": stream.scheme, "lines": stream.lines if stream.fmt == "text" else None,
            "entities": entities, "first": first, "already": already, "notes": formats.notes_text(stream.notes),
            "splits": splits, **counts}, None


def _lines(key: str) -> bool | None:
    """The sentence mode chosen for a plain-text input, None (sniffed) before any choice."""
    return LINE_MODES.get(st.session_state.get(f"upload_lines_{key}"))


def collect(project_id: int) -> list[Item]:
    """The uploader's files and the pasted text, each previewed."""
    items, size = [], sum(ui.store().counts(project_id)["by_split"].values())
    language = st.session_state.get("upload_language") or "en"
    for i, f in enumerate(st.session_state.get("upload_files") or []):
        key = f"{i}_{f.name}"
        items.append(Item.parsed(f.name, key, f, None, _lines(key), project_id, size, language))
    text = st.session_state.get("upload_paste") or ""
    if text.strip():
        choice = st.session_state.get("upload_paste_fmt") or "auto"
        fmt, data = None if choice == "auto" else choice, text.encode("utf-8")
        items.append(Item.parsed("pasted text", "paste", data, fmt, _lines("paste"), project_id, size, language))
    return items


def render_inputs() -> None:
    """The file uploader and the paste box."""
    st.file_uploader("Files: " + ", ".join(f.label for f in formats.REGISTRY.values()),
                     type=TYPES, accept_multiple_files=True, key="upload_files")
    with st.expander("…or paste text", expanded=bool(st.session_state.get("upload_paste"))):
        st.text_area("Text", key="upload_paste", height=140,
                     placeholder="Plain text (one sentence per line or running text), CoNLL rows, or JSONL records")
        st.segmented_control("Format", PASTE_FORMATS, default="auto", key="upload_paste_fmt")
    st.selectbox("Language of plain text", formats.LANGUAGES, index=formats.LANGUAGES.index("en"),
                 key="upload_language", help="whose sentence rules split running text into sentences (plain text "
                                             "and BRAT documents)")


def render_item(item: Item, *, labels: list[str]) -> str | None:
    """Preview of one parsed input: counts, format, scheme, the first sentences with their tags, and its split
    chooser; returns the chosen split (None for an input that failed to parse)."""
    with st.container(border=True):
        st.markdown(f"**{ui.md_escape(item.name)}**")
        if len(item.layers) > 1:
            st.selectbox("Layer to edit", item.layers, index=None, key=f"upload_layer_{item.key}",
                         placeholder="NamedEntity (choose another span layer)",
                         help="the WebAnno span layer (and feature) whose spans you annotate; every other layer is "
                              "kept as it is and written back by a WebAnno export")
        if item.error is not None:
            st.error(item.error)
            return None
        p = item.preview
        new = sorted(set(p.entities) - set(labels))
        info, choose = st.columns([3, 2], vertical_alignment="center")
        info.markdown(
            f"{p.sentences} sentences · {p.labelled} labelled · {p.already} already in the project · "
            f"format **{p.fmt}** · scheme **{p.scheme or 'none'}**  \n"
            + (" · ".join(f"{ui.md_escape(lab)} {n}" for lab, n in p.entities.most_common()) or "no entities"))
        if p.splits:
            st.caption("Splits in the file: " + ", ".join(f"{SPLIT_TITLES[k]} {n}" for k, n in p.splits.items()))
        options = [AS_IN_FILE, *SPLITS] if p.splits else list(SPLITS)
        # a labelled file's split is chosen, never assumed; plain text goes to the pool unless told otherwise
        index = 0 if p.splits else None if p.labelled else SPLITS.index("unlabeled")
        split = choose.selectbox("Split", options, index=index, key=f"upload_split_{item.key}",
                                 format_func=_split_choice, placeholder="Choose a split (it holds labels)",
                                 help="Train: the model learns from it. Dev: held-out gold that scores every "
                                      "version. Test: held-out gold for the final figures. Unlabelled: the pool "
                                      "to annotate.")
        if p.lines is not None:
            st.segmented_control(
                "Sentences", list(LINE_MODES), default=next(m for m, v in LINE_MODES.items() if v == p.lines),
                required=True, key=f"upload_lines_{item.key}",
                help="one sentence per line: each non-empty line is one sentence (the default for files that look "
                     "so); split into sentences: lines are also cut after . ! ? followed by a capital or a digit")
        if p.notes:
            st.caption(ui.md_escape(p.notes))
        if new:
            st.warning(f"Labels new to the project: {', '.join(ui.md_escape(lab) for lab in new)}")
        for s in p.first:
            ui.render_sentence(s.words, s.tags, labels=labels + new)
        if p.sentences > PREVIEW:
            st.caption(f"… and {p.sentences - PREVIEW} more")
        return split


def _split_title(split: str) -> str:
    return SPLIT_TITLES.get(split, split)


def _split_choice(split: str) -> str:
    """A split as the chooser offers it: its name and what it is for."""
    return f"{SPLIT_TITLES[split].capitalize()} ({SPLIT_PURPOSES[split]})" if split in SPLITS else split.capitalize()


def render_new_labels(*, known: list[str], new: list[str]) -> bool:
    """The entity types the inputs bring that the project lacks: a project without labels takes them, one with labels
    only when the box is ticked, a label differing from another only by case never; returns whether to go on."""
    if not new:
        return True
    check = LabelSet(known)
    problems = [problem for lab in new if (problem := check.check(lab))]
    names = ", ".join(ui.md_escape(lab) for lab in new)
    if problems:
        st.error(ui.md_escape("; ".join(problems)))
        return False
    if not known:
        st.info(f"The project takes its labels from this import: {names}")
        return True
    if st.checkbox(f"Add the new labels {names} to the project", key="upload_new_labels"):
        return True
    st.error(f"{names}: not among the project's labels ({ui.md_escape(', '.join(known))}). Tick the box above to "
             "add them, or fix the files.")
    return False


def commit(project_id: int, chosen: list[tuple[Item, str]], *, new_labels: bool) -> list[str]:
    """Import every parsed input into its split in one transaction (all of them, or none), each read again a chunk
    at a time; one report line each, naming the split."""
    results = ui.store().import_many(project_id, [(item.stream(), None if split == AS_IN_FILE else split, item.name)
                                                  for item, split in chosen],
                                     new_labels=new_labels, actor=ui.actor())
    ui.release_memory()  # the server skips Streamlit's collection after each run (config: runner.postScriptGC)
    return [f"{ui.md_escape(item.name)} → {_report_split(split, r)}: {r['added']} added, {r['duplicates']} "
            f"duplicates skipped, {r['annotated']} with tags"
            + (f" ({r['duplicates_carrying']} skipped with data kept but not editable, not imported again)"
               if r.get("duplicates_carrying") else "")
            + (f", {r['suggested']} with model suggestions" if r.get("suggested") else "")
            for (item, split), r in zip(chosen, results)]


def _report_split(split: str, result: dict) -> str:
    """Where an input went: its split, or the splits its file gave its sentences with their counts."""
    if split != AS_IN_FILE:
        return _split_title(split)
    return ", ".join(f"{_split_title(k)} {n}" for k, n in result.get("splits", {}).items()) or "as in the file"


def render_dev_hint(*, project_dev: int, splits: list[str | None], labelled: bool) -> None:
    """What dev is for, while the project has none and no input goes there; a labelled input could."""
    if project_dev or "dev" in splits:
        return
    st.info("**This project has no dev split yet.** Dev is the held-out gold every version is scored on (Evaluate, "
            "promotion by dev F1); without it, trained versions get no dev score and the live head scores itself on "
            "a slice of its train labels." + (" Choose *Dev* for one labelled file." if labelled else ""),
            icon=":material/info:")


proj = ui.require_project()
st.title("Upload")
st.caption("Choose the split of each labelled file (train, dev or test); plain text goes to the unlabelled pool. "
           "Nothing is imported before you press Import, and sentences the project already holds are skipped.")
for line in st.session_state.pop("upload_report", []):
    st.success(line)
render_inputs()
items = collect(proj.id)
hint = st.container()  # above the previews, once their splits are chosen
splits = [render_item(item, labels=list(proj.labels)) for item in items]
with hint:
    render_dev_hint(project_dev=ui.store().counts(proj.id)["by_split"]["dev"], splits=splits,
                    labelled=any(i.preview.labelled for i in items if i.preview))
if items:
    failed = [item for item in items if item.error is not None]
    if failed:
        st.error(f"Nothing can be imported while {len(failed)} input(s) fail to parse: fix or remove them.")
    unchosen = [item.name for item, split in zip(items, splits) if item.preview is not None and split is None]
    if unchosen:
        st.warning(f"Choose the split of {', '.join(ui.md_escape(name) for name in unchosen)}: labelled files go "
                   "to train, dev or test as you say, never by default.")
    found = dict.fromkeys(lab for i in items if i.preview for lab in i.preview.entities)
    labels_ok = render_new_labels(known=list(proj.labels), new=[lab for lab in found if lab not in proj.labels])
    already = [i.preview.already for i in items if i.preview]
    fresh = sum(i.preview.sentences for i in items if i.preview) - sum(already)
    label = f"Import {fresh} new sentences" + (f" ({sum(already)} already in the project)" if sum(already) else "")
    if st.button(label, key="upload_import", type="primary", disabled=bool(failed or unchosen) or not labels_ok):
        try:
            st.session_state["upload_report"] = commit(proj.id, list(zip(items, splits)),
                                                          new_labels=bool(st.session_state.get("upload_new_labels")))
        except ValueError as e:  # formats.FormatError included: nothing was imported
            st.error(ui.md_escape(clip(str(e))))
        else:
            st.rerun()
pattern_panel.render_upload(project=proj)
