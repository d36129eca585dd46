"""Entity-level NER metrics (strict IOB2, via seqeval), span confusion table and comparison frames."""
from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

NONE = "(none)"
FIELDS = ("precision", "recall", "f1", "support")
_TAG = re.compile(r"^(O|[BI]-[^-\s].*)$")


def _zeros() -> dict:
    return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def _check_tags(tags: Sequence[str], where: str) -> None:
    """Raise ValueError on the first tag that is not "O", "B-X" or "I-X"."""
    for j, tag in enumerate(tags):
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise ValueError(f"{where}, token {j}: invalid IOB2 tag {tag!r} (expected 'O', 'B-X' or 'I-X')")


def _validate(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    """Check sentence counts, per-sentence lengths and tag syntax."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but pred has {len(pred)}")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} tags but pred has {len(p)}")
        _check_tags(g, f"sentence {i} (gold)")
        _check_tags(p, f"sentence {i} (pred)")


def entities(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Spans (start, end_exclusive, label) in strict IOB2: only B-X opens a span; a stray I-X is ignored."""
    _check_tags(tags, "tags")
    return _spans(tags)


def _spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """`entities` of tags already checked."""
    spans: list[tuple[int, int, str]] = []
    start, label = -1, ""
    for j, tag in enumerate([*tags, "O"]):
        if start >= 0 and tag != f"I-{label}":
            spans.append((start, j, label))
            start = -1
        if tag.startswith("B-"):
            start, label = j, tag[2:]
    return spans


def _row(d: dict) -> dict:
    """seqeval report row -> plain floats/int with our key names."""
    return {"precision": float(d["precision"]), "recall": float(d["recall"]),
            "f1": float(d["f1-score"]), "support": int(d["support"])}


def score(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Strict IOB2 entity-level micro/macro/per-class P/R/F1 plus token accuracy, as plain JSON-ready data."""
    _validate(gold, pred)
    tokens = sum(len(g) for g in gold)
    correct = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    result = {
        "micro": _zeros(),
        "macro": _zeros(),
        "per_class": {},
        "accuracy": correct / tokens if tokens else 0.0,
        "sentences": len(gold),
    }
    if not any(entities(s) for s in [*gold, *pred]):
        return result
    report = classification_report(
        [list(s) for s in gold], [list(s) for s in pred],
        mode="strict", scheme=IOB2, output_dict=True, zero_division=0,
    )
    result["micro"] = _row(report.pop("micro avg"))
    result["macro"] = _row(report.pop("macro avg"))
    report.pop("weighted avg")
    result["per_class"] = {label: _row(d) for label, d in sorted(report.items())}
    return result


def micro_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """score()'s micro F1 alone, from the entities' sets, without seqeval's report (the live head scores its dev
    sentences after every save)."""
    _validate(gold, pred)
    g = {(k, *e) for k, s in enumerate(gold) for e in _spans(s)}
    p = {(k, *e) for k, s in enumerate(pred) for e in _spans(s)}
    return 2 * len(g & p) / (len(g) + len(p)) if g or p else 0.0


def confusion(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> pd.DataFrame:
    """Span-level type confusion: rows gold type, columns predicted type, "(none)" for missed/spurious spans."""
    _validate(gold, pred)
    cells: list[tuple[str, str]] = []
    for g, p in zip(gold, pred):
        gs = {(s, e): lab for s, e, lab in _spans(g)}
        ps = {(s, e): lab for s, e, lab in _spans(p)}
        cells += [(lab, ps.get(span, NONE)) for span, lab in gs.items()]
        cells += [(NONE, lab) for span, lab in ps.items() if span not in gs]
    labels = sorted({lab for cell in cells for lab in cell} - {NONE}) + [NONE]
    table = pd.DataFrame(0, index=pd.Index(labels, name="gold"), columns=pd.Index(labels, name="pred"), dtype=int)
    for g, p in cells:
        table.loc[g, p] += 1
    return table


def per_class_frame(result: dict) -> pd.DataFrame:
    """One row per class of a score() result: label, precision, recall, f1, support."""
    rows = [{"label": label, **{k: d[k] for k in FIELDS}} for label, d in sorted(result["per_class"].items())]
    return pd.DataFrame(rows, columns=["label", *FIELDS]).astype({"support": int})


def compare(a: dict, b: dict) -> pd.DataFrame:
    """Per-class F1/P/R of score() results a (e.g. new version) and b (e.g. previous) with deltas a - b."""
    labels = sorted(set(a["per_class"]) | set(b["per_class"]))
    rows = []
    for label in labels:
        ra, rb = a["per_class"].get(label, _zeros()), b["per_class"].get(label, _zeros())
        row: dict = {"label": label}
        for k in ("f1", "precision", "recall"):
            row |= {f"{k}_a": ra[k], f"{k}_b": rb[k], f"{k}_delta": ra[k] - rb[k]}
        row |= {"support_a": ra["support"], "support_b": rb["support"]}
        rows.append(row)
    cols = ["label"] + [f"{k}_{s}" for k in ("f1", "precision", "recall") for s in ("a", "b", "delta")]
    return pd.DataFrame(rows, columns=[*cols, "support_a", "support_b"])
