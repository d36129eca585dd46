"""The one export service of the CLI (`nerloop export`) and the app (the Export page): a project's effective
annotations as a file, and a model folder as a zip."""
from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core import formats
from core.access import OWNER, Actor, require
from core.formats import brat, labelstudio
from core.store import SentenceRow, Store
from core.vocab import SPLITS, label_set

if TYPE_CHECKING:
    from core.model import Tagger

EXPORT_FORMATS = tuple(f for f in formats.WRITABLE if f != "text")  # plain text would drop the annotations
PREDICTING = ("conll", "jsonl", "labelstudio")  # the formats that mark a model's tags apart from annotations
RECORDS = ("prodigy", "doccano", "labelstudio")  # a record imported from such a file goes back to it, labelled or not


@dataclass
class Export:
    """An exported annotation file and what went into it."""

    data: bytes
    labelled: int  # sentences with a gold or human annotation
    predicted: int  # unlabelled sentences written with the model's tags
    untagged: int  # unlabelled sentences written without tags (unlabeled=True)
    left_out: int  # unlabelled sentences not written
    lost: dict[str, int] = field(default_factory=dict)  # what imports in other formats carried, not written: by kind
    dropped: dict[str, int] = field(default_factory=dict)  # carried lines of this format gone with what they were on

    @property
    def written(self) -> int:
        return self.labelled + self.predicted + self.untagged


def export_format(path: str | Path, fmt: str | None = None) -> str:
    """`fmt`, else the export format of `path`'s extension; ValueError naming the file when there is none."""
    fmt = fmt or formats.format_of(path)
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"{path}: cannot tell the export format from the extension; pass one of "
                         f"{', '.join(EXPORT_FORMATS)}" if fmt is None else
                         f"export format must be one of {EXPORT_FORMATS}, not {fmt!r}")
    return fmt


def default_splits(store: Store, project_id: int) -> list[str]:
    """The splits that hold annotations (gold, human or review), in SPLITS order: what an export takes by default."""
    labelled = store.labelled_by_split(project_id)
    return [s for s in SPLITS if labelled[s]]


def written_splits(store: Store, project_id: int, splits: Sequence[str], *, everything: bool = False) -> list[str]:
    """Of `splits`, in SPLITS order, those an export writes sentences of: the ones with annotations, or (`everything`:
    with predictions or untagged sentences) with any sentence."""
    held = store.counts(project_id)["by_split"] if everything else store.labelled_by_split(project_id)
    return [s for s in SPLITS if s in splits and held[s]]


def safe_name(text: str) -> str:
    """`text` as a safe file or folder name."""
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "export"


def file_name(project: str, splits: Sequence[str], fmt: str, *, predicted: bool = False) -> str:
    """What an export of `splits` is called: `<project>-<splits in SPLITS order>[-predicted]<extension>`."""
    parts = [project, *(s for s in SPLITS if s in splits), *(["predicted"] if predicted else [])]
    return safe_name("-".join(parts)) + formats.get(fmt).extensions[0]


def download_name(store: Store, project_id: int, project: str, splits: Sequence[str], fmt: str, *,
                  predicted: bool = False) -> str:
    """file_name, made a .zip when a WebAnno export of `splits` spans several documents (one .tsv each)."""
    name = file_name(project, splits, fmt, predicted=predicted)
    if fmt == "webanno" and len({r.document_id for r in store.sentences(project_id)
                                 if r.split in splits and r.tags is not None}) > 1:
        return name.removesuffix(".tsv") + ".zip"
    return name


def _columns(row: SentenceRow, width: int, source: str | None) -> list[list[str]] | None:
    """A row's middle CoNLL columns as imported, padded with "_" to `width`, then its `source` when given."""
    stored = row.columns or [[] for _ in row.words]
    tail = [source] if source is not None else []
    columns = [list(c) + ["_"] * (width - len(c)) + tail for c in stored]
    return columns if width or tail else None


def export_annotations(store: Store, project_id: int, *, splits: Sequence[str] = SPLITS, fmt: str,
                       scheme: str | None = None, tagger: Tagger | None = None, model_name: str = "",
                       batch_size: int = 32, unlabeled: bool = False, actor: Actor = OWNER) -> Export:
    """The effective annotations of `splits`, in sentence order, in an export format (CoNLL tags in `scheme`, None:
    as imported), with what their import kept: document names, the middle CoNLL columns (a sentence without them gets
    "_"), JSONL `meta`, and what a file of `fmt` carried through (such a record goes back out even unlabelled: a
    Label Studio task without annotations, an ignored Prodigy answer); hf names its classes after the project's
    labels. With a tagger, CoNLL, JSONL and Label Studio sentences without an annotation get its predictions,
    marked: CoNLL rows get a last middle column with the sentence's source, JSONL records "source" (gold, human or
    model) and "model", Label Studio tasks hold them as `predictions` of `model_name` with scores; without one,
    `unlabeled` writes them untagged. Other formats hold human and gold annotations only. Admins only (`actor`);
    audited."""
    store.authorize(actor, "export", project_id)
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {EXPORT_FORMATS}, not {fmt!r}")
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"invalid split {split!r}: expected one of {', '.join(SPLITS)}")
    if fmt not in PREDICTING:
        tagger = None
    rows = [r for r in store.sentences(project_id, carry=True) if r.split in splits]
    todo = [r for r in rows if r.tags is None] if tagger is not None else []
    preds = tagger.predict([r.words for r in todo], batch_size=batch_size) if todo else []
    predicted = {r.id: p for r, p in zip(todo, preds)}
    width = max((len(r.columns[0]) for r in rows if r.columns), default=0)
    chosen, sources, preds_of = [], [], []
    for r in rows:
        pred = predicted.get(r.id)
        tags, source = (r.tags, r.source) if pred is None else (pred.tags, "model")
        if tags is None and not unlabeled and not (fmt in RECORDS and formats.carried(r, fmt)):
            continue  # a record of this format's file goes back out, labelled or not (a round trip)
        chosen.append(formats.Sentence(list(r.words), None if tags is None else list(tags), r.text,
                                       list(r.offsets), r.document,
                                       _columns(r, width, source if tagger is not None else None), meta=r.meta,
                                       split=r.split, document=r.document_id, carry=r.carry))
        sources.append(source if tags is not None else None)
        preds_of.append(pred)
    if fmt == "jsonl":
        # one record per "\n": splitlines() would also break at U+2028, U+2029 or U+0085 inside a text
        records = [json.loads(line) for line in formats.dumps(chosen, "jsonl").split("\n") if line]
        text = "".join(json.dumps({**rec, **({"source": src} if src else {}),
                                   **({"model": model_name} if src == "model" else {})}, ensure_ascii=False) + "\n"
                       for rec, src in zip(records, sources))
    elif fmt == "labelstudio":
        text = labelstudio.dump([labelstudio.task(s, k) if p is None else
                                 labelstudio.predicted_task(s, k, p.scores, model_name)
                                 for k, (s, p) in enumerate(zip(chosen, preds_of))])
    else:
        text = formats.dumps(chosen, fmt, scheme=scheme, labels=label_set(store.project(project_id).labels))
    untagged = sum(src is None for src in sources)
    store.add_audit(actor, "export", project_id=project_id, format=fmt, splits=list(splits), sentences=len(chosen),
                    predicted=bool(tagger))
    data = text.encode("utf-8") if isinstance(text, str) else text  # a zip (BRAT, hf) or a DocBin is bytes already
    return Export(data, len(chosen) - len(predicted) - untagged, len(predicted), untagged,
                  len(rows) - len(chosen), lost(kept(s.carry for s in chosen), fmt),
                  brat.dropped(chosen) if fmt == "brat" else {})  # lines on a deleted entity or a left-out sentence


def kept(carries: Iterable[dict | None]) -> list[tuple[str, str, int]]:
    """What these carries keep without letting it be edited, as (format, kind, count) (as Store.kept counts it)."""
    return [(c["format"], kind, n) for c in carries if c for kind, n in c.get("kept", {}).items()]


def lost(kinds: Iterable[tuple[str, str, int]], fmt: str) -> dict[str, int]:
    """Of what imports carried through, by (format, kind, count), what a `fmt` file cannot hold (relations, notes,
    other layers of other formats), by "<kind> (<format>)": what an export to `fmt` reports as left behind."""
    out: Counter[str] = Counter()
    for source, kind, n in kinds:
        if source != fmt and n:
            out[f"{kind} ({source})"] += n
    return dict(out)


def export_model(store: Store, model_id: int, root: str, *, actor: Actor = OWNER) -> bytes:
    """A model version's folder as a zip under the top folder `root` (admins only; audited)."""
    require(actor, "export")
    model = store.model(model_id)
    store.authorize(actor, "export", model.project_id)
    data = zip_folder(model.folder, root)
    store.add_audit(actor, "export", project_id=model.project_id, model_id=model_id, model=model.name)
    return data


def zip_folder(folder: str | Path, root: str) -> bytes:
    """A zip archive of every file under `folder`, stored under the top folder `root`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} does not exist")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            zf.write(path, f"{root}/{path.relative_to(folder).as_posix()}")
    return buf.getvalue()

