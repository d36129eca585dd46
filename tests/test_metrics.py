"""Hand-computed checks for core.metrics (strict IOB2 entity scores, confusion, frames)."""
import json
import random

import pytest
from seqeval.scheme import IOB2, Tokens

from core import metrics
from core.metrics import compare, confusion, entities, per_class_frame, score

# s0: LOC missed; s1: LOC spurious, ORG correct; s2: PER predicted as ORG; s3: LOC boundary too short.
GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["O", "O", "B-ORG", "O"],
    ["B-PER", "O"],
    ["B-LOC", "I-LOC", "I-LOC"],
]
PRED = [
    ["B-PER", "I-PER", "O", "O"],
    ["B-LOC", "O", "B-ORG", "O"],
    ["B-ORG", "O"],
    ["B-LOC", "I-LOC", "O"],
]


def close(d: dict, **expected: float) -> None:
    for k, v in expected.items():
        assert d[k] == pytest.approx(v), k


def test_perfect_prediction_all_ones():
    r = score(GOLD, GOLD)
    close(r["micro"], precision=1, recall=1, f1=1)
    close(r["macro"], precision=1, recall=1, f1=1)
    assert r["micro"]["support"] == 5 and r["accuracy"] == 1.0 and r["sentences"] == 4
    assert all(d["f1"] == 1.0 for d in r["per_class"].values())


def test_mixed_errors_exact_scores():
    r = score(GOLD, PRED)
    assert list(r["per_class"]) == ["LOC", "ORG", "PER"]
    close(r["per_class"]["PER"], precision=1.0, recall=0.5, f1=2 / 3, support=2)
    close(r["per_class"]["LOC"], precision=0.0, recall=0.0, f1=0.0, support=2)
    close(r["per_class"]["ORG"], precision=0.5, recall=1.0, f1=2 / 3, support=1)
    close(r["micro"], precision=0.4, recall=0.4, f1=0.4, support=5)
    close(r["macro"], precision=0.5, recall=0.5, f1=4 / 9, support=5)
    assert r["accuracy"] == pytest.approx(9 / 13)
    assert json.loads(json.dumps(r)) == r
    assert type(r["micro"]["f1"]) is float and type(r["micro"]["support"]) is int


def test_strict_mode_ignores_stray_inside_tag():
    assert entities(["I-PER", "I-PER", "O"]) == []
    assert entities(["B-PER", "I-LOC", "I-LOC"]) == [(0, 1, "PER")]
    r = score([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]])
    close(r["micro"], precision=0, recall=0, f1=0, support=1)
    assert r["accuracy"] == pytest.approx(2 / 3)


def test_entities_match_seqeval_strict():
    rng = random.Random(0)
    pool = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    for _ in range(300):
        tags = [rng.choice(pool) for _ in range(rng.randint(0, 8))]
        expected = [(e.start, e.end, e.tag) for e in Tokens(tags, IOB2).entities]
        assert entities(tags) == expected, tags


def test_label_only_in_pred_has_zero_support():
    r = score([["B-PER", "O"]], [["B-PER", "B-MISC"]])
    assert r["per_class"]["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    close(r["micro"], precision=0.5, recall=1.0, support=1)


def test_length_mismatch_names_sentence():
    with pytest.raises(ValueError, match="sentence 1"):
        score([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="2 sentences"):
        score([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0 \\(pred\\), token 1"):
        score([["O", "O"]], [["O", "E-PER"]])


def test_empty_and_entity_free_input():
    for gold, pred in [([], []), ([["O", "O"]], [["O", "O"]])]:
        r = score(gold, pred)
        assert r["micro"] == r["macro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        assert r["per_class"] == {}
    assert score([], [])["accuracy"] == 0.0
    assert confusion([], []).shape == (1, 1)
    assert per_class_frame(score([], [])).empty


def test_confusion_exact_counts():
    t = confusion(GOLD, PRED)
    order = ["LOC", "ORG", "PER", "(none)"]
    assert list(t.index) == order and list(t.columns) == order
    assert t.values.tolist() == [
        [0, 0, 0, 2],  # LOC: missed in s0, wrong boundary in s3
        [0, 1, 0, 0],
        [0, 1, 1, 0],  # PER: one right, one typed ORG
        [2, 0, 0, 0],  # spurious LOC in s1, short LOC in s3
    ]
    assert str(t.values.dtype).startswith("int")


def test_per_class_frame_rows():
    f = per_class_frame(score(GOLD, PRED))
    assert list(f.columns) == ["label", "precision", "recall", "f1", "support"]
    assert f["label"].tolist() == ["LOC", "ORG", "PER"]
    assert f["support"].tolist() == [2, 1, 2]


def test_compare_deltas():
    new, old = score(GOLD, GOLD), score(GOLD, PRED)
    old["per_class"]["MISC"] = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1}
    c = compare(new, old).set_index("label")
    assert c.loc["PER", "f1_delta"] == pytest.approx(1 / 3)
    assert c.loc["ORG", "precision_delta"] == pytest.approx(0.5)
    assert c.loc["LOC", "recall_a"] == 1.0 and c.loc["LOC", "recall_b"] == 0.0
    assert c.loc["MISC", "f1_a"] == 0.0 and c.loc["MISC", "f1_delta"] == pytest.approx(-0.5)
    assert c.loc["MISC", "support_a"] == 0 and c.loc["PER", "support_b"] == 2


def test_micro_f1_is_the_reports_micro_f1():
    rng = random.Random(1)
    pool = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    for _ in range(100):
        n = rng.randint(1, 6)
        gold = [[rng.choice(pool) for _ in range(rng.randint(1, 8))] for _ in range(n)]
        pred = [[rng.choice(pool) for _ in g] for g in gold]
        assert metrics.micro_f1(gold, pred) == pytest.approx(metrics.score(gold, pred)["micro"]["f1"]), (gold, pred)
