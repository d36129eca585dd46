"""Hugging Face `datasets` folders: a DatasetDict (`tokens`, `ner_tags` as ClassLabel with IOB2 names, one split per
project split) written with `save_to_disk`, as `run_ner.py`-style scripts load it; and read back."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence

from core.formats import FormatError, Sentence

NAME = "hf"
SPLIT_NAMES = {"dev": "validation"}  # project split -> dataset split (the name Hugging Face scripts expect)
PROJECT_SPLITS = {"train": "train", "validation": "dev", "dev": "dev", "test": "test", "unlabeled": "unlabeled"}
NO_TAG = -1  # ClassLabel's "no label": every word of an unlabelled sentence


def _datasets():
    try:
        import datasets
    except ImportError:
        raise RuntimeError("the hf format needs the `datasets` package: pip install datasets") from None
    return datasets


def write(sentences_by_split: Mapping[str, Sequence[Sentence]], labels: Sequence[str], out: str | Path) -> Path:
    """Save the sentences as a DatasetDict folder `out` (atomic); `labels`: the IOB2 tags, in ClassLabel order.
    An unlabelled sentence gets -1 (no label) for every word. `dev` is written as `validation`."""
    datasets = _datasets()
    labels = list(labels)
    index = {tag: i for i, tag in enumerate(labels)}
    features = datasets.Features({"id": datasets.Value("string"),
                                  "tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=labels)),
                                  "document": datasets.Value("string")})
    splits = {}
    for split, sentences in sentences_by_split.items():
        rows: dict[str, list] = {"id": [], "tokens": [], "ner_tags": [], "document": []}
        for i, s in enumerate(sentences):
            unknown = sorted(set(s.tags or ()) - set(index))
            if unknown:
                raise ValueError(f"{split} sentence {i}: tags {unknown} are not in the label set {labels}")
            rows["id"].append(str(i))
            rows["tokens"].append(list(s.words))
            rows["ner_tags"].append([NO_TAG] * len(s.words) if s.tags is None else [index[t] for t in s.tags])
            rows["document"].append(s.doc_id or "")
        splits[SPLIT_NAMES.get(split, split)] = datasets.Dataset.from_dict(rows, features=features)
    out = Path(out)
    if out.exists() and not (out / "dataset_dict.json").is_file():
        raise FileExistsError(f"{out} exists and is not a saved DatasetDict: not replacing it")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        datasets.DatasetDict(splits).save_to_disk(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read(folder: str | Path) -> dict[str, list[Sentence]]:
    """Sentences by project split (`validation` read as dev) of a saved DatasetDict, or of a saved Dataset (as
    train). `ner_tags` may be a ClassLabel sequence (its names are the tags) or strings; -1 everywhere: unlabelled.
    Raises FormatError naming the folder, split and row."""
    datasets = _datasets()
    folder = Path(folder)
    if not folder.is_dir():
        raise FormatError(str(folder), 0, "not a folder (a `datasets` save_to_disk folder is expected)")
    try:
        loaded = datasets.load_from_disk(str(folder))
    except (FileNotFoundError, ValueError) as e:
        raise FormatError(str(folder), 0, f"not a saved Dataset or DatasetDict ({e})") from None
    parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("train", loaded)]
    out: dict[str, list[Sentence]] = {}
    for name, data in parts:
        where = f"{folder} [{name}]"
        if name not in PROJECT_SPLITS:
            raise FormatError(where, 0, f"unknown split {name!r}: expected one of {sorted(PROJECT_SPLITS)}")
        for column in ("tokens", "ner_tags"):
            if column not in data.column_names:
                raise FormatError(where, 0, f"no {column!r} column (columns: {', '.join(data.column_names)})")
        feature = data.features["ner_tags"]
        inner = getattr(feature, "feature", None) or (feature[0] if isinstance(feature, list) else None)
        names = list(inner.names) if isinstance(inner, datasets.ClassLabel) else None
        docs = data["document"] if "document" in data.column_names else [None] * len(data)
        sentences = out.setdefault(PROJECT_SPLITS[name], [])
        for row, (words, tags, doc) in enumerate(zip(data["tokens"], data["ner_tags"], docs)):
            sentences.append(_row(where, row, list(words), list(tags), names, doc or None))
    return out


def _sentence(words: list[str], tags: list[str] | None, doc: str | None, line: int) -> Sentence:
    """A sentence whose text is its words joined by single spaces."""
    offsets, pos = [], 0
    for w in words:
        offsets.append((pos, pos + len(w)))
        pos += len(w) + 1
    return Sentence(words, tags, " ".join(words), offsets, doc, None, line)


def _row(where: str, row: int, words: list[str], tags: list, names: list[str] | None, doc: str | None) -> Sentence:
    """One checked sentence; `row` counts from 0 as in the dataset, reported from 1 as a line."""
    if len(words) != len(tags):
        raise FormatError(where, row + 1, f"{len(words)} tokens but {len(tags)} ner_tags")
    if any(not isinstance(w, str) or not w or any(c.isspace() for c in w) for w in words):
        raise FormatError(where, row + 1, "a token is empty, not a string, or holds white space")
    if tags and all(t == NO_TAG for t in tags):
        return _sentence(words, None, doc, row + 1)
    if names is not None:
        bad = [t for t in tags if not isinstance(t, int) or not 0 <= t < len(names)]
        if bad:
            raise FormatError(where, row + 1, f"ner_tags value {bad[0]!r} is not a class of {names}")
        tags = [names[t] for t in tags]
    bad = [t for t in tags if not isinstance(t, str) or not (t == "O" or (len(t) > 2 and t[:2] in ("B-", "I-")))]
    if bad:
        raise FormatError(where, row + 1, f"tag {bad[0]!r} is not an IOB2 tag (O, B-X, I-X)")
    return _sentence(words, tags, doc, row + 1)
