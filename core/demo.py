"""App logic without Streamlit: the first-run demo project, dashboard hint and learning curve, exports."""
from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core import formats
from core.store import SPLITS, ModelVersion, Store, sentence_hash

if TYPE_CHECKING:
    from core.model import Tagger

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEMO_NAME = "demo"
DEMO_LABELS = ("PER", "LOC", "ORG", "MISC")
DEMO_FILES = (("demo_train.conll", "train"), ("demo_dev.conll", "dev"), ("demo_unlabeled.txt", "unlabeled"))
EXPORT_FORMATS = tuple(f for f in formats.WRITABLE if f != "text")  # text holds no annotations


def create_demo(store: Store, assets: Path = ASSETS) -> int | None:
    """If the database has no project, create the demo project from `assets`; returns its id, else None."""
    if store.projects():
        return None
    corpora = [(formats.read(Path(assets) / name), split, name) for name, split in DEMO_FILES]
    try:
        project_id = store.create_project(DEMO_NAME, list(DEMO_LABELS))
    except ValueError:  # another session created it a moment ago
        return None
    for corpus, split, name in corpora:
        store.import_sentences(project_id, corpus.sentences, split=split, source_name=name)
    return project_id


@dataclass
class CurvePoint:
    """One version on the learning curve."""

    model_id: int
    version: str
    x: int
    f1: float


def learning_curve(models: Sequence[ModelVersion]) -> tuple[list[CurvePoint], str]:
    """Dev micro F1 of each ready version, against its number of labelled training sentences when every
    version recorded it (metrics["train_sentences"]), else against the version number; and the x title."""
    scored = [m for m in models if m.status == "ready" and m.dev_f1 is not None]
    sizes = [(m.metrics or {}).get("train_sentences") for m in scored]
    by_size = all(isinstance(n, int) for n in sizes)
    points = [CurvePoint(m.id, m.name, sizes[i] if by_size else i + 1, m.dev_f1) for i, m in enumerate(scored)]
    return points, "labelled training sentences" if by_size else "version"


def next_step(counts: dict, serving: ModelVersion | None, job: dict | None) -> str:
    """One line telling the user what to do next, from store.counts(), the serving model and the latest job."""
    by_split = counts["by_split"]
    if job is not None and job["status"] in ("queued", "running"):
        return "A training job is running: follow it on **Train**."
    if counts["labelled"] == 0:
        return "Bring labelled sentences in on **Upload**, or label a few on **Annotate**."
    if serving is None:
        return "Go to **Train** to fine-tune a first model on the labelled sentences."
    if by_split["unlabeled"]:
        return (f"{by_split['unlabeled']} sentences wait in the unlabelled pool: correct the model's "
                "predictions on **Annotate**, then retrain on **Train**.")
    return "Every sentence is labelled: upload more text on **Upload**, or compare versions on **Evaluate**."


def copies(store: Store, project_id: int) -> Counter[str]:
    """How many copies of each sentence (by store.sentence_hash) the project holds."""
    return Counter(sentence_hash(r["words"]) for r in store.sentences(project_id))


def known(held: Counter[str], corpora: Sequence[Sequence[formats.Sentence]]) -> list[int]:
    """For each list of sentences, how many an import would skip as duplicates: like the store, the k-th copy of a
    sentence inside one list is a duplicate only if the project holds at least k copies."""
    counts = []
    for sentences in corpora:
        seen: Counter[str] = Counter()
        for s in sentences:
            seen[sentence_hash(s.words)] += 1
        counts.append(sum(min(n, held[digest]) for digest, n in seen.items()))
    return counts


@dataclass
class Export:
    """An exported annotation file and what went into it."""

    data: bytes
    labelled: int  # sentences with a gold or human annotation
    predicted: int  # unlabelled sentences written with the model's tags
    left_out: int  # unlabelled sentences not written


def export_annotations(store: Store, project_id: int, *, splits: Sequence[str], fmt: str, scheme: str = "iob2",
                       tagger: Tagger | None = None, model_name: str = "", batch_size: int = 32) -> Export:
    """The effective annotations of `splits` in an export format (CoNLL tags in `scheme`). With a tagger, CoNLL and
    JSONL sentences without an annotation get its predictions, marked: JSONL records carry "source" (gold, human or
    model) and "model"; CoNLL rows get a middle column with the sentence's source. Other formats hold only human
    and gold annotations."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"export format must be one of {EXPORT_FORMATS}, not {fmt!r}")
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"invalid split {split!r}: expected one of {', '.join(SPLITS)}")
    if fmt not in ("conll", "jsonl"):
        tagger = None
    rows = [r for split in splits for r in store.sentences(project_id, split=split)]
    todo = [r for r in rows if r["tags"] is None] if tagger is not None else []
    preds = tagger.predict([r["words"] for r in todo], batch_size=batch_size) if todo else []
    predicted = {r["id"]: p.tags for r, p in zip(todo, preds)}
    chosen, sources = [], []
    for r in rows:
        tags, source = (r["tags"], r["source"]) if r["tags"] is not None else (predicted.get(r["id"]), "model")
        if tags is None:
            continue
        columns = [[source]] * len(r["words"]) if tagger is not None else None
        doc = None if r["document_id"] is None else str(r["document_id"])
        chosen.append(formats.Sentence(list(r["words"]), list(tags), r["text"], list(r["offsets"]), doc, columns))
        sources.append(source)
    if fmt != "jsonl":
        text = formats.dumps(chosen, fmt, scheme=scheme)
    else:
        # one record per "\n": splitlines() would also break at U+2028, U+2029 or U+0085 inside a text
        records = [json.loads(line) for line in formats.dumps(chosen, "jsonl").split("\n") if line]
        text = "".join(json.dumps({**rec, "source": src, **({"model": model_name} if src == "model" else {})},
                                  ensure_ascii=False) + "\n" for rec, src in zip(records, sources))
    data = text.encode("utf-8") if isinstance(text, str) else text  # a zip (BRAT) is bytes already
    return Export(data, len(chosen) - len(predicted), len(predicted), len(rows) - len(chosen))


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
