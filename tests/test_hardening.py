"""Regression tests for defects found by fuzzing, crashing and attacking nerloop (one test per defect)."""
from __future__ import annotations

import json

from core import demo, formats
from core.store import Store


def test_jsonl_export_keeps_texts_with_unicode_line_separators(tmp_path):
    """Defect 8: a text holding U+2028, U+2029 or U+0085 broke the app's JSONL export (splitlines)."""
    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", ["PER"])
    words = ["Ada", "met", "Babbage", "."]
    text = "Ada\u2028met\u2029Babbage\u0085."  # the separators stand between words, in the text only
    store.import_sentences(pid, [formats.Sentence(words, ["B-PER", "O", "B-PER", "O"], text,
                                                  [(0, 3), (4, 7), (8, 15), (16, 17)])], split="train")
    out = demo.export_annotations(store, pid, splits=["train"], fmt="jsonl")
    [record] = [json.loads(line) for line in out.data.decode("utf-8").split("\n") if line]
    assert record["text"] == text and out.labelled == 1
    assert [s["label"] for s in record["spans"]] == ["PER", "PER"]
