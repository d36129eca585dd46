"""Tests for core.agreement and `nerloop agreement` / `nerloop import --annotator`: figures computed by hand."""
from __future__ import annotations

import json

import pytest

from core import metrics
from core.agreement import agreement
from core.store import Store
from tests.test_cli import ok, run

S1 = "Anna Smith visited New York".split()
S2 = "Acme hired Bob today".split()
S3 = "nothing to see".split()
ALICE = {1: "B-PER I-PER O B-LOC I-LOC", 2: "B-ORG O B-PER O", 3: "O O O"}
BOB = {1: "B-PER I-PER O B-LOC I-LOC", 2: "B-PER O B-PER O"}
CAROL = {2: "B-ORG O O O", 3: "O O O"}
LABELS = {name: {sid: tags.split() for sid, tags in d.items()} for name, d in
          (("alice", ALICE), ("bob", BOB), ("carol", CAROL))}

# alice-bob share sentences 1 and 2. Spans: alice {PER 0-2, LOC 3-5; ORG 0-1, PER 2-3} (4), bob {PER 0-2, LOC 3-5;
# PER 0-1, PER 2-3} (4); matched: PER 0-2, LOC 3-5, PER 2-3 (3). F1 = 2*3/(4+4) = 0.75. PER: 2*2/(2+3) = 0.8, support
# 2+3-2 = 3; LOC: 2*1/(1+1) = 1, support 1; ORG: 0/(1+0) = 0, support 1.
# Kappa on 9 tokens: all equal but token 1 of sentence 2 (B-ORG/B-PER): po = 8/9. Marginals alice B-PER 2, I-PER 1,
# O 3, B-LOC 1, I-LOC 1, B-ORG 1; bob B-PER 3, I-PER 1, O 3, B-LOC 1, I-LOC 1: pe = (2*3+1+3*3+1+1)/81 = 18/81 = 2/9.
# kappa = (8/9 - 2/9)/(1 - 2/9) = 6/7.
# alice-carol share 2 and 3. alice {ORG 0-1, PER 2-3}, carol {ORG 0-1}: F1 = 2*1/(2+1) = 2/3; ORG 1 (support 1),
# PER 0 (support 1). 7 tokens, 6 equal: po = 6/7 = 42/49; alice B-ORG 1, B-PER 1, O 5; carol B-ORG 1, O 6:
# pe = (1*1 + 5*6)/49 = 31/49; kappa = (42-31)/(49-31) = 11/18.
# bob-carol share 2. bob {PER 0-1, PER 2-3}, carol {ORG 0-1}: F1 = 0/(2+1) = 0; PER 0 (support 2), ORG 0 (support 1).
# 4 tokens, 2 equal: po = 1/2; bob B-PER 2, O 2; carol B-ORG 1, O 3: pe = 2*3/16 = 3/8; kappa = (1/2-3/8)/(5/8) = 1/5.
# Overall: F1 = 2*(3+1+0)/(8+3+3) = 4/7. Pooled tokens 20, equal 8+6+2 = 16: po = 4/5. Side a (alice, alice, bob):
# B-PER 2+1+2 = 5, I-PER 1, O 3+5+2 = 10, B-LOC 1, I-LOC 1, B-ORG 1+1 = 2; side b (bob, carol, carol): B-PER 3, I-PER 1,
# O 3+6+3 = 12, B-LOC 1, I-LOC 1, B-ORG 2: pe = (5*3+1+10*12+1+1+2*2)/400 = 142/400; kappa = (320-142)/(400-142)
# = 178/258 = 89/129.
EXPECTED = {
    ("alice", "bob"): (2, 0.75, 6 / 7, {"PER": (0.8, 3), "LOC": (1.0, 1), "ORG": (0.0, 1)}),
    ("alice", "carol"): (2, 2 / 3, 11 / 18, {"ORG": (1.0, 1), "PER": (0.0, 1)}),
    ("bob", "carol"): (1, 0.0, 1 / 5, {"PER": (0.0, 2), "ORG": (0.0, 1)}),
}
OVERALL = (4 / 7, 89 / 129)


def check(result: dict) -> None:
    assert [(p["a"], p["b"]) for p in result["pairs"]] == list(EXPECTED)
    for p in result["pairs"]:
        sentences, f1, kappa, per_class = EXPECTED[p["a"], p["b"]]
        assert p["sentences"] == sentences
        assert p["f1"] == pytest.approx(f1) and p["kappa"] == pytest.approx(kappa)
        assert {label: c["support"] for label, c in p["per_class"].items()} == {k: v[1] for k, v in per_class.items()}
        assert {label: c["f1"] for label, c in p["per_class"].items()} == pytest.approx({k: v[0] for k, v in
                                                                                         per_class.items()})
        assert set(p) == {"a", "b", "sentences", "f1", "kappa", "per_class"}
    assert (result["overall"]["f1"], result["overall"]["kappa"]) == pytest.approx(OVERALL)


def test_pairwise_f1_and_kappa_equal_hand_computed_values():
    check(agreement(LABELS))


def test_f1_is_seqeval_and_symmetric_kappa_too():
    a, b = LABELS["alice"], LABELS["bob"]
    seqeval = metrics.score([a[1], a[2]], [b[1], b[2]])
    forward, backward = agreement({"x": a, "y": b})["pairs"][0], agreement({"x": b, "y": a})["pairs"][0]
    assert forward["f1"] == pytest.approx(seqeval["micro"]["f1"]) == pytest.approx(backward["f1"])
    assert forward["per_class"]["PER"]["f1"] == pytest.approx(seqeval["per_class"]["PER"]["f1"])
    assert forward["kappa"] == pytest.approx(backward["kappa"])


def test_undefined_values_and_refusals():
    same = {"x": {1: ["O", "O"]}, "y": {1: ["O", "O"]}}  # no span, one category: nothing to measure
    assert agreement(same)["pairs"][0] | {"per_class": None} == {"a": "x", "b": "y", "sentences": 1, "f1": None,
                                                                "kappa": None, "per_class": None}
    assert agreement({"x": {1: ["O"]}, "y": {2: ["O"]}}) == {"pairs": [], "overall": {"f1": None, "kappa": None,
                                                                                         "sentences": 0}}
    with pytest.raises(ValueError, match="sentence 1, x against y: 2 tags against 1"):
        agreement({"x": {1: ["O", "O"]}, "y": {1: ["O"]}})


def conll(path, labels: dict[int, str]) -> str:
    words = {1: S1, 2: S2, 3: S3}
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(words[sid], tags.split()))
                                for sid, tags in labels.items()) + "\n")
    return str(path)


def test_import_as_annotator_then_agreement_json(tmp_path, capsys):
    db = str(tmp_path / "t.db")
    ok("--db", db, "init", "team", "--labels", "PER,LOC,ORG")
    (tmp_path / "raw.txt").write_text(" ".join(S3) + "\n")
    ok("--db", db, "import", "team", str(tmp_path / "raw.txt"), "--lines")
    stale = BOB | {2: "O O O O"}  # bob's earlier labels: only his latest count
    for name, labels in (("alice", ALICE), ("bob", stale), ("bob", BOB), ("carol", CAROL)):
        ok("--db", db, "import", "team", conll(tmp_path / f"{name}.conll", labels), "--annotator", name)
    assert "0 added, 2 duplicates, 0 annotated" in ok("--db", db, "import", "team", str(tmp_path / "bob.conll"),
                                                      "--annotator", "bob")  # the same file again adds nothing
    check(json.loads(ok("--db", db, "agreement", "team", "--json")))
    table = ok("--db", db, "agreement", "team")
    assert "alice  bob    2          0.7500  0.8571" in table and "f1 0.5714, kappa 0.6899" in table

    store = Store(db)
    rows = store.sentences(1)
    assert [r.words for r in rows] == [S3, S1, S2]  # the raw sentence first, then alice's file
    bob = store.human_labels(1)["bob"]
    assert bob == {2: BOB[1].split(), 3: BOB[2].split()}  # his latest labels, not the stale ones
    assert [r.split for r in rows] == ["train"] * 3  # the unlabeled sentence got labels: it moved to train
    assert [len(store.history(r.id)) for r in rows] == [2, 2, 4]  # S2: alice, bob, bob again, carol
    store.close()
    assert run("--db", db, "import", "team", str(tmp_path / "bob.conll"), "--annotator", " ")[0] == 2
    assert run("--db", db, "import", "team", str(tmp_path / "bob.conll"), "--annotator", "x", "--hidden-gold")[0] == 2
