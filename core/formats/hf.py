"""Hugging Face `datasets` folders: a DatasetDict (`tokens`, `ner_tags` as ClassLabel with IOB2 names, one split per
project split) as `save_to_disk` writes it and `run_ner.py`-style scripts load it, read from the folder or a zip of
it; written as a zip of such a folder (the CLI unpacks it into a folder). Needs the `datasets` package."""
from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from core.formats.base import Format, FormatError, Sentence, Stream, joined_sentence
from core.vocab import label_set, seen_types

SPLIT_NAMES = {"dev": "validation"}  # project split -> dataset split (the name Hugging Face scripts expect)
PROJECT_SPLITS = {"train": "train", "validation": "dev", "dev": "dev", "test": "test", "unlabeled": "unlabeled"}
NO_TAG = -1  # ClassLabel's "no label": every word of an unlabelled sentence
_MARKERS = ("dataset_dict.json", "state.json")  # what save_to_disk writes at the top of a DatasetDict or Dataset


def _datasets() -> Any:
    import datasets  # lazy: a slow import, needed only here (the registry checks it is installed)

    return datasets


def sniff(names: str) -> int:
    """3 for a folder or zip listing a saved DatasetDict or Dataset at its top or one folder down."""
    return 3 if any(PurePosixPath(n).name in _MARKERS and len(PurePosixPath(n).parts) <= 2
                    for n in names.split("\n")) else 0


@contextmanager
def _folder(stream: Stream) -> Iterator[tuple[Path, bool]]:
    """(the saved folder, whether it is temporary): the input itself, or a zip of it unpacked into a temporary folder
    (the folder may be the zip's top or its one top folder)."""
    if isinstance(stream.source, (str, Path)) and Path(stream.source).is_dir():
        yield Path(stream.source), False
        return
    with tempfile.TemporaryDirectory(prefix="nerloop-hf-") as tmp:
        try:
            with zipfile.ZipFile(io.BytesIO(stream.open_bytes())) as zf:
                zf.extractall(tmp)
        except zipfile.BadZipFile as e:
            raise FormatError(stream.name, 1, f"not a zip of a `datasets` folder ({e})") from None
        root = Path(tmp)
        tops = [p for p in root.iterdir() if p.is_dir() and p.name != "__MACOSX"]
        if not any((root / m).is_file() for m in _MARKERS) and len(tops) == 1:
            root = tops[0]
        yield root, True


def _tag_names(feature: Any, datasets: Any) -> list[str] | None:
    inner = getattr(feature, "feature", None) or (feature[0] if isinstance(feature, list) else None)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def read(stream: Stream) -> Iterator[Sentence]:
    """Sentences of every split in order, each carrying its project split (`validation` read as dev; a saved Dataset
    is train). `ner_tags` may be a ClassLabel sequence (its names are the tags) or strings; -1 everywhere:
    unlabelled. Problems name the input, split and row."""
    datasets = _datasets()
    with _folder(stream) as (folder, temporary):
        try:
            loaded = datasets.load_from_disk(str(folder), keep_in_memory=temporary)
        except (OSError, ValueError, KeyError) as e:
            raise FormatError(stream.name, 1, f"not a saved Dataset or DatasetDict ({e})") from None
    parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("train", loaded)]
    for name, data in parts:
        where = f"{stream.name} [{name}]"
        if name not in PROJECT_SPLITS:
            raise FormatError(where, 1, f"unknown split {name!r}: expected one of {sorted(PROJECT_SPLITS)}")
        for column in ("tokens", "ner_tags"):
            if column not in data.column_names:
                raise FormatError(where, 1, f"no {column!r} column (columns: {', '.join(data.column_names)})")
        names = _tag_names(data.features["ner_tags"], datasets)
        docs = data["document"] if "document" in data.column_names else [None] * len(data)
        for row, (words, tags, doc) in enumerate(zip(data["tokens"], data["ner_tags"], docs)):
            s = _row(where, row, list(words), list(tags), names, doc or None)
            s.split = PROJECT_SPLITS[name]
            if s.tags is not None:
                stream.scheme = "iob2"
            yield s


def tag_names(path: str | Path) -> list[str] | None:
    """The IOB2 tag set a saved `datasets` folder (or a zip of one) names in its `ner_tags` ClassLabel (the project's
    tag set, for an export), or None when its tags are plain strings."""
    datasets = _datasets()
    with _folder(Stream(Path(path), lambda: iter(()), name=str(path), fmt=FORMAT)) as (folder, temporary):
        loaded = datasets.load_from_disk(str(folder), keep_in_memory=temporary)
    parts = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
    return next((names for data in parts if (names := _tag_names(data.features["ner_tags"], datasets))), None)


def _row(where: str, row: int, words: list[str], tags: list, names: list[str] | None, doc: str | None) -> Sentence:
    """One checked sentence; `row` counts from 0 as in the dataset, reported from 1 as a line."""
    if len(words) != len(tags):
        raise FormatError(where, row + 1, f"{len(words)} tokens but {len(tags)} ner_tags")
    if any(not isinstance(w, str) or not w or any(c.isspace() for c in w) for w in words):
        raise FormatError(where, row + 1, "a token is empty, not a string, or holds white space")
    if tags and all(t == NO_TAG for t in tags):
        return joined_sentence(words, None, doc_id=doc, line=row + 1)
    if names is not None:
        bad = [t for t in tags if not isinstance(t, int) or not 0 <= t < len(names)]
        if bad:
            raise FormatError(where, row + 1, f"ner_tags value {bad[0]!r} is not a class of {names}")
        tags = [names[t] for t in tags]
    bad = [t for t in tags if not isinstance(t, str) or not (t == "O" or (len(t) > 2 and t[:2] in ("B-", "I-")))]
    if bad:
        raise FormatError(where, row + 1, f"tag {bad[0]!r} is not an IOB2 tag (O, B-X, I-X)")
    return joined_sentence(words, tags, doc_id=doc, line=row + 1)


def dataset_dict(sentences: Sequence[Sentence], labels: Sequence[str] | None = None) -> Any:
    """The sentences as a DatasetDict, a split per sentence split (none: train; dev as validation); `labels`: the
    IOB2 tags in ClassLabel order (default: those the sentences use); an unlabelled sentence gets -1 (no label)."""
    datasets = _datasets()
    labels = list(labels) if labels is not None else label_set(seen_types(s.tags for s in sentences if s.tags))
    index = {tag: i for i, tag in enumerate(labels)}
    features = datasets.Features({"id": datasets.Value("string"),
                                  "tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=labels)),
                                  "document": datasets.Value("string")})
    rows: dict[str, dict[str, list]] = {}
    for s in sentences:
        split = s.split or "train"
        part = rows.setdefault(split, {"id": [], "tokens": [], "ner_tags": [], "document": []})
        unknown = sorted(set(s.tags or ()) - set(index))
        if unknown:
            raise ValueError(f"{split} sentence {len(part['id'])}: tags {unknown} are not in the label set {labels}")
        part["id"].append(str(len(part["id"])))
        part["tokens"].append(list(s.words))
        part["ner_tags"].append([NO_TAG] * len(s.words) if s.tags is None else [index[t] for t in s.tags])
        part["document"].append(s.doc_id or "")
    return datasets.DatasetDict({SPLIT_NAMES.get(split, split): datasets.Dataset.from_dict(part, features=features)
                                 for split, part in rows.items()})


def write(sentences: Sequence[Sentence], scheme: str | None = "iob2", sep: str = " ",
          labels: Sequence[str] | None = None) -> bytes:
    """A zip of the `save_to_disk` folder of `dataset_dict(sentences, labels)`, its files at the zip's top."""
    if scheme not in (None, "iob2"):
        raise ValueError("the hf format writes IOB2 tags (the ner_tags names): the tag scheme does not apply")
    data = dataset_dict(sentences, labels)
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="nerloop-hf-") as tmp:
        data.save_to_disk(tmp)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for path in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
                zf.write(path, path.relative_to(tmp).as_posix())
    return buf.getvalue()


FORMAT = Format("hf", (".zip",), sniff, read, write, order=75, mime="application/zip",
                label="Hugging Face datasets (a zip of a save_to_disk folder)", binary=True, requires="datasets",
                install="pip install datasets", folder=True, takes_labels=True)
