"""Tests for core.simulate and `nerloop simulate`: rounds with a tiny model, demo mode on a store project."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import active, formats, simulate
from core.store import Store
from core.train import TrainConfig
from tests.test_cli import run

DATA = Path(__file__).parent / "data"
POOL, DEV = str(DATA / "sample.conll"), str(DATA / "sample_dev.conll")
FAST = ["--epochs", "1", "--min-steps", "20", "--warm-min-steps", "8", "--batch-size", "8"]
STRATEGIES = ["random", "least_confidence", "bald+diverse"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, tiny_model) -> tuple[int, str, str, dict]:
    out = tmp_path_factory.mktemp("sim") / "results.json"
    code, printed, err = run("simulate", "--pool", POOL, "--dev", DEV, "--model", tiny_model, *FAST,
                             "--strategies", ",".join(STRATEGIES), "--seed-size", "10", "--batch", "10",
                             "--rounds", "3", "--mc-passes", "3", "--out", str(out))
    return code, printed, err, json.loads(out.read_text()) if out.exists() else {}


def test_simulate_runs_the_rounds_of_every_strategy(simulated):
    code, printed, err, result = simulated
    assert code == 0, err
    assert "Traceback" not in err
    assert list(result["strategies"]) == STRATEGIES
    for name, curve in result["strategies"].items():
        assert [p["round"] for p in curve] == [1, 2, 3]
        assert [p["labelled_sentences"] for p in curve] == [10, 20, 30]
        tokens = [p["labelled_tokens"] for p in curve]
        assert tokens[0] < tokens[1] < tokens[2]
        assert all(0.0 <= p["dev_f1"] <= 1.0 for p in curve)
        assert set(curve[0]["per_class"]) <= {"PER", "LOC", "ORG", "MISC"}
    first = {curve[0]["dev_f1"] for curve in result["strategies"].values()}
    assert len(first) == 1  # one seed set, one round-1 model for all strategies
    assert result["pool_sentences"] == 50 and result["dev_sentences"] == 15
    lines = [line for line in printed.splitlines() if " round " in line]
    assert len(lines) == 9
    assert lines[0].startswith("random round 1/3: 10 sentences")
    assert "wrote" in printed.splitlines()[-1]


def test_strategies_pick_different_batches(tiny_model):
    pool = formats.read(POOL).sentences
    dev = formats.read(DEV).sentences
    cfg = simulate.SimConfig(strategies=["sequential", "random", "entropy:sum"], seed_size=8, batch=6, rounds=2,
                             mc_passes=0, train=TrainConfig(model=tiny_model, epochs=1, min_steps=10, batch_size=8))
    results = list(simulate.simulate(pool, dev, cfg))
    picked = {r.strategy: r.selected for r in results if r.round == 1}
    assert all(len(p) == 6 and len(set(p)) == 6 for p in picked.values())
    assert len({tuple(p) for p in picked.values()}) == 3
    assert all(r.selected == [] for r in results if r.round == 2)
    seed_set = set(active.select(None, [s.words for s in pool], 8, strategy="random", seed=cfg.seed))
    assert not seed_set & {i for p in picked.values() for i in p}
    assert picked["sequential"] == [i for i in range(len(pool)) if i not in seed_set][:6]


def test_token_budget_per_round(tiny_model):
    pool = formats.read(POOL).sentences
    cfg = simulate.SimConfig(strategies=["entropy"], seed_size=5, batch_tokens=40, rounds=3, mc_passes=0,
                             train=TrainConfig(model=tiny_model, epochs=1, min_steps=5, warm_min_steps=5, batch_size=8))
    curve = simulate.run(pool, formats.read(DEV).sentences, cfg)["strategies"]["entropy"]
    grown = [b["labelled_tokens"] - a["labelled_tokens"] for a, b in zip(curve, curve[1:])]
    assert all(0 < g <= 40 for g in grown)


@pytest.mark.parametrize("warm_start", [True, False])
def test_rounds_warm_start_or_retrain_from_the_base_model(tiny_model, monkeypatch, warm_start):
    started_from = []
    real = simulate._train

    def recording(cfg, data, dev, out):
        started_from.append(cfg.model)
        return real(cfg, data, dev, out)

    monkeypatch.setattr(simulate, "_train", recording)
    cfg = simulate.SimConfig(strategies=["random"], seed_size=5, batch=5, rounds=3, mc_passes=0, warm_start=warm_start,
                             train=TrainConfig(model=tiny_model, epochs=1, min_steps=5, warm_min_steps=5, batch_size=8))
    curve = simulate.run(formats.read(POOL).sentences, formats.read(DEV).sentences, cfg)["strategies"]["random"]
    assert [p["labelled_sentences"] for p in curve] == [5, 10, 15]
    assert started_from[0] == tiny_model and len(started_from) == 3
    if warm_start:
        assert [Path(m).name for m in started_from[1:]] == ["round-1", "s0-round-2"]
    else:
        assert started_from[1:] == [tiny_model, tiny_model]


@pytest.mark.parametrize("argv, message", [
    (["--strategies", "random,lc"], "unknown strategy 'lc'"),
    (["--seed-size", "50"], "seed_size 50 leaves nothing to select"),
    (["--batch", "0"], "must be positive"),
    (["--retrain-from-base", "--warm-min-steps", "5"], "--warm-min-steps has no effect with --retrain-from-base"),
])
def test_simulate_bad_options_exit_2(argv, message, tiny_model):
    code, _, err = run("simulate", "--pool", POOL, "--dev", DEV, "--model", tiny_model, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_simulate_help():
    code, printed, _ = run("simulate", "--help")
    assert code == 0
    assert "--strategies" in printed and "--batch-tokens" in printed and "--warm-min-steps" in printed


def test_simulate_needs_labelled_readable_files(tmp_path):
    text = tmp_path / "plain.txt"
    text.write_text("Some text without labels.\n")
    code, _, err = run("simulate", "--pool", str(text), "--dev", DEV)
    assert code == 2 and "plain.txt" in err and "no labels" in err
    code, _, err = run("simulate", "--pool", str(tmp_path / "missing.conll"), "--dev", DEV)
    assert code == 2 and "missing.conll" in err
    code, _, err = run("simulate", "--pool", POOL, "--dev", DEV, "--out", str(tmp_path / "no" / "r.json"))
    assert code == 2 and "no such folder" in err


# ------------------------------------------------------------- demo mode on a store project

@pytest.fixture
def demo(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    pid = store.create_project("demo", [])
    corpus = formats.read(POOL).sentences
    counts = store.import_hidden_gold(pid, corpus, source_name=POOL)
    yield store, pid, corpus, counts
    store.close()


def test_hidden_gold_stays_hidden_until_revealed(demo):
    store, pid, corpus, counts = demo
    assert counts["added"] == counts["hidden"] == 50
    assert store.counts(pid)["labelled"] == 0
    assert all(r.tags is None for r in store.sentences(pid, split="unlabeled"))
    assert set(store.project(pid).labels) == {"PER", "LOC", "ORG", "MISC"}
    assert store.import_hidden_gold(pid, corpus)["hidden"] == 0  # re-import adds nothing
    rows = store.sentences(pid)
    human = rows[1]
    store.annotate(human.id, ["O"] * len(human.words), annotator="expert")
    assert simulate.reveal(store, pid, [rows[0].id, human.id, rows[2].id]) == 2
    shown = store.sentences(pid, ids=[rows[0].id, human.id, rows[2].id])
    assert [r.split for r in shown] == ["train"] * 3
    assert shown[0].tags == corpus[0].tags and shown[0].source == "gold"
    assert shown[1].tags == ["O"] * len(human.words) and shown[1].source == "human"
    assert store.history(rows[0].id)[0].annotator == simulate.ANNOTATOR
    assert simulate.reveal(store, pid, [rows[0].id]) == 0  # revealed once


def test_reveal_refuses_sentences_without_hidden_gold(demo):
    store, pid, *_ = demo
    other = store.create_project("other", ["PER"])
    sentence = formats.read(DEV).sentences[0]
    store.import_sentences(other, [formats.Sentence(sentence.words, None, sentence.text, sentence.offsets)],
                           split="unlabeled")
    plain = store.sentences(other)[0].id
    with pytest.raises(KeyError, match=f"sentence\\(s\\) {plain} have no hidden gold"):
        simulate.reveal(store, pid, [plain])


def test_import_hidden_gold_needs_tags(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    pid = store.create_project("p", [])
    bare = formats.read(POOL).sentences[:2]
    bare[1] = formats.Sentence(bare[1].words, None, bare[1].text, bare[1].offsets, line=7)
    with pytest.raises(ValueError, match="pool.conll:7: sentence has no tags"):
        store.import_hidden_gold(pid, bare, source_name="pool.conll")
    assert store.counts(pid)["by_split"]["unlabeled"] == 0
    store.close()


def test_demo_round_reveals_a_batch_each_time(demo):
    store, pid, *_ = demo
    first = simulate.demo_round(store, pid, 10, strategy="least_confidence", seed=1)
    second = simulate.demo_round(store, pid, 10, strategy="least_confidence", seed=1)
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    counts = store.counts(pid)
    assert counts["labelled"] == 20 and counts["by_split"]["train"] == 20
    assert len(store.hidden_gold(pid)) == 50  # the hidden gold itself is kept
