"""Tests for core.active: strategies on hand-made distributions, diversity, token budgets, stored pool scores."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import sqlite_utils
import torch

from core import active, formats
from core.active import PoolScores, parse_strategy, score_pool, select
from core.model import Tagger
from core.store import MIGRATIONS, Store
from tests.conftest import DATA

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
UNCERTAIN = ("least_confidence", "margin", "entropy")


def dist(top: float, n_words: int, labels: int = len(LABELS)) -> np.ndarray:
    """n_words identical distributions: `top` on label 0, the rest shared by the others (second one a bit more)."""
    rest = np.full(labels - 1, (1 - top) / labels)
    rest[0] += 1 - top - rest.sum()
    return np.tile(np.concatenate([[top], rest]), (n_words, 1))


def sentences(n: int) -> list[list[str]]:
    return [[f"w{i}", "x"] for i in range(n)]


@pytest.fixture(scope="module")
def tagger(tiny_model) -> Tagger:
    return Tagger.load(tiny_model, labels=LABELS)


@pytest.fixture(scope="module")
def pool_words() -> list[list[str]]:
    return [s.words for s in formats.read(DATA / "sample.conll").sentences]


# ------------------------------------------------------------- ranking hand-made distributions

@pytest.mark.parametrize("measure", UNCERTAIN)
@pytest.mark.parametrize("aggregate", active.AGGREGATES)
def test_uncertain_sentence_first_confident_last(measure, aggregate):
    probs = [dist(0.7, 4), dist(0.99, 4), dist(0.3, 4), dist(0.5, 4)]
    scores = PoolScores.from_probs(probs)
    order = select(scores, sentences(4), 4, strategy=f"{measure}:{aggregate}")
    assert order == [2, 3, 0, 1]


def test_max_aggregate_follows_the_worst_word():
    calm = dist(0.95, 6)
    one_bad = calm.copy()
    one_bad[3] = dist(0.3, 1)[0]
    scores = PoolScores.from_probs([dist(0.6, 6), one_bad])
    assert select(scores, sentences(2), 1, strategy="entropy:max") == [1]
    assert select(scores, sentences(2), 1, strategy="entropy:mean") == [0]


@pytest.mark.parametrize("measure", UNCERTAIN)
def test_mnlp_normalises_length_and_sum_does_not(measure):
    short, long = dist(0.6, 3), dist(0.62, 15)  # the long one is a bit less uncertain per word
    scores = PoolScores.from_probs([long, short])
    words = [["a"] * 15, ["b"] * 3]
    assert select(scores, words, 1, strategy=f"{measure}:sum") == [0]
    assert select(scores, words, 1, strategy=f"{measure}:mnlp") == [1]
    assert select(scores, words, 1, strategy=f"{measure}:mean") == [1]


def test_least_confidence_mnlp_is_the_normalised_log_probability_of_the_best_path():
    probs = dist(0.8, 2)
    probs[1] = dist(0.5, 1)[0]
    value = PoolScores.from_probs([probs]).values["least_confidence:mnlp"][0]
    assert value == pytest.approx(-(np.log(0.8) + np.log(0.5)) / 2)


def test_margin_uses_the_two_best_labels():
    near_tie = np.array([[0.45, 0.44, 0.11, 0.0, 0.0]])
    clear = np.array([[0.45, 0.14, 0.14, 0.14, 0.13]])
    scores = PoolScores.from_probs([clear, near_tie])
    assert scores.values["margin:max"] == pytest.approx([1 - 0.31, 1 - 0.01])
    assert scores.values["least_confidence:max"][0] == pytest.approx(scores.values["least_confidence:max"][1])


def test_bald_is_zero_when_passes_agree_and_ranks_disagreement_first():
    agree = np.stack([dist(0.4, 3)] * 6)  # uncertain, but every pass says the same
    flip = np.stack([dist(0.9, 3)[:, ::-1] if t % 2 else dist(0.9, 3) for t in range(6)])
    scores = PoolScores.from_probs([agree.mean(0), flip.mean(0)], mc=[agree, flip])
    for aggregate in active.AGGREGATES:
        assert scores.values[f"bald:{aggregate}"][0] == pytest.approx(0.0, abs=1e-9)
        assert scores.values[f"bald:{aggregate}"][1] > 0.1
    assert select(scores, sentences(2), 1, strategy="bald") == [1]
    assert select(scores, sentences(2), 1, strategy="entropy") == [0]
    with pytest.raises(ValueError, match="same number of Monte-Carlo passes"):
        PoolScores.from_probs([agree.mean(0), flip.mean(0)], mc=[agree[:5], flip])


def test_bald_without_mc_passes_is_an_error():
    with pytest.raises(ValueError, match="Monte-Carlo"):
        select(PoolScores.from_probs([dist(0.5, 2)]), sentences(1), 1, strategy="bald")


def test_random_and_sequential_ignore_scores_and_random_follows_the_seed():
    scores = PoolScores.from_probs([dist(0.9, 2)] * 30)
    words = sentences(30)
    assert select(scores, words, 5, strategy="sequential") == [0, 1, 2, 3, 4]
    first = select(scores, words, 10, strategy="random", seed=1)
    assert first == select(None, words, 10, strategy="random", seed=1)
    assert first != select(scores, words, 10, strategy="random", seed=2)
    assert len(set(first)) == 10


def test_cold_start_falls_back_to_random():
    words = sentences(40)
    assert select(None, words, 8, strategy="entropy", seed=3) == select(None, words, 8, strategy="random", seed=3)
    untrained = PoolScores.from_probs([dist(0.99, 2)] * 39 + [dist(0.2, 2)], trained=False)
    picks = {select(untrained, words, 1, strategy="entropy", seed=s)[0] for s in range(10)}
    assert len(picks) > 1  # not always the "most uncertain" sentence 39: its scores mean nothing


def test_parse_strategy():
    assert parse_strategy("entropy") == active.Strategy("entropy", "mnlp", False)
    assert parse_strategy("bald:max+diverse") == active.Strategy("bald", "max", True)
    assert str(parse_strategy("least_confidence:mnlp")) == "least_confidence"
    with pytest.raises(ValueError, match="unknown strategy 'lc'"):
        parse_strategy("lc")
    with pytest.raises(ValueError, match="unknown aggregate 'median'"):
        parse_strategy("entropy:median")


# ------------------------------------------------------------- diversity, duplicates, token budget

def test_identical_sentences_never_twice_in_one_batch():
    words = [["same", "words"]] * 6 + [[f"other{i}"] for i in range(6)]
    probs = [dist(0.2, 2)] * 6 + [dist(0.9, 1)] * 6
    emb = np.ones((12, 4), dtype=np.float32)
    scores = PoolScores.from_probs(probs, embeddings=emb)
    for diverse in (False, True):
        batch = select(scores, words, 5, strategy="entropy", diverse=diverse)
        assert len(batch) == 5
        assert len({tuple(words[i]) for i in batch}) == 5


def test_diverse_batch_spreads_over_clusters():
    rng = np.random.default_rng(0)
    emb = rng.normal(0, 0.01, (20, 8)).astype(np.float32)  # all different sentences in two tight groups
    emb[:10, 0] += 1
    emb[10:, 1] += 1
    probs = [dist(0.3 + 0.01 * i, 2) for i in range(10)] + [dist(0.6 + 0.01 * i, 2) for i in range(10)]
    scores = PoolScores.from_probs(probs, embeddings=emb)
    words = sentences(20)
    assert select(scores, words, 2, strategy="entropy") == [0, 1]
    assert select(scores, words, 2, strategy="entropy+diverse") == [0, 10]  # the best of each group
    four = select(scores, words, 4, strategy="entropy", diverse=True)
    assert four[0] == 0 and any(i >= 10 for i in four)


def test_token_budget_is_respected():
    lengths = [12, 3, 7, 20, 5, 9, 4, 15]
    words = [[f"s{i}w{j}" for j in range(n)] for i, n in enumerate(lengths)]
    scores = PoolScores.from_probs([dist(0.3, n) for n in lengths])
    for budget in (4, 10, 25, 60):
        for diverse in (False, True):
            emb = np.eye(8, dtype=np.float32)
            batch = select(PoolScores(scores.values, scores.tokens, emb), words, None,
                           strategy="entropy:sum", token_budget=budget, diverse=diverse)
            assert batch and sum(lengths[i] for i in batch) <= budget
    both = select(scores, words, 2, strategy="entropy:sum", token_budget=60)
    assert len(both) == 2
    with pytest.raises(ValueError, match="k .* or token_budget"):
        select(scores, words, None, strategy="entropy")


def test_fragments_rank_after_every_full_length_sentence():
    lengths = [2, 6, 3, 8, 1, 5, 4]  # fragments (under 4 words): 0, 2, 4; the fragments are the most uncertain
    words = [[f"s{i}w{j}" for j in range(n)] for i, n in enumerate(lengths)]
    tops = [0.51, 0.7, 0.55, 0.95, 0.6, 0.65, 0.8]
    scores = PoolScores.from_probs([dist(t, n) for t, n in zip(tops, lengths)])
    for strategy in ("entropy", "least_confidence:max", "margin:mean"):
        assert select(scores, words, 7, strategy=strategy) == [0, 2, 4, 5, 1, 6, 3]
        assert select(scores, words, 7, strategy=strategy, min_words=4) == [5, 1, 6, 3, 0, 2, 4]
        assert select(scores, words, 3, strategy=strategy, min_words=active.MIN_WORDS) == [5, 1, 6]
    assert select(scores, words, 7, strategy="entropy", min_words=9) == [0, 2, 4, 5, 1, 6, 3]  # all fragments
    for strategy in ("random", "sequential"):  # no preference to change: they stay as they are
        assert select(scores, words, 7, strategy=strategy, seed=4, min_words=4) == select(
            scores, words, 7, strategy=strategy, seed=4)
    emb = np.eye(7, dtype=np.float32)
    diverse = select(PoolScores(scores.values, scores.tokens, emb), words, 7, strategy="entropy+diverse", min_words=4)
    assert set(diverse[:4]) == {1, 3, 5, 6} and set(diverse[4:]) == {0, 2, 4}
    cold = select(None, words, 7, strategy="entropy", seed=2, min_words=4)
    assert set(cold[:4]) == {1, 3, 5, 6}


def test_kmeans_separates_obvious_groups():
    x = np.concatenate([np.zeros((5, 2)), np.full((5, 2), 10.0)]) + np.arange(10)[:, None] * 1e-3
    labels = active.kmeans(x, 2, np.random.default_rng(0))
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1 and labels[0] != labels[5]


# ------------------------------------------------------------- scoring with a model

def test_encode_states_feed_the_head_like_predict(tagger, pool_words):
    words = pool_words[:6] + [[]]
    states, pooled = tagger.encode(words)
    assert [s.shape for s in states] == [(len(w), tagger.model.config.hidden_size) for w in words]
    assert np.allclose(pooled[0], states[0].mean(0), atol=1e-6) and not pooled[-1].any()
    tagger.model.eval()
    with torch.inference_mode():
        probs = torch.softmax(tagger.model.classifier(torch.from_numpy(states[0])), -1).numpy()
    assert np.allclose(probs, tagger.predict(words[:1])[0].probs, atol=1e-5)


def test_score_pool_matches_predict_and_bald_needs_dropout(tagger, pool_words):
    words = pool_words[:12]
    scores = score_pool(tagger, words, mc_passes=4, bf16=False, chunk=5)
    expected = PoolScores.from_probs([p.probs for p in tagger.predict(words)])
    for key in ("entropy:mnlp", "least_confidence:mnlp", "margin:max"):
        assert np.allclose(scores.values[key], expected.values[key], atol=1e-4)
    assert scores.embeddings.shape == (12, tagger.model.config.hidden_size)
    assert list(scores.tokens) == [len(w) for w in words]
    still = score_pool(tagger, words, mc_passes=4, mc_dropout=0.0, bf16=False)
    assert np.allclose(still.values["bald:sum"], 0.0, atol=1e-6)
    noisy = score_pool(tagger, words, mc_passes=4, mc_dropout=0.5, bf16=False)
    assert (noisy.values["bald:sum"] > 1e-4).all()
    again = score_pool(tagger, words, mc_passes=4, mc_dropout=0.5, bf16=False)
    assert np.array_equal(noisy.values["bald:sum"], again.values["bald:sum"])  # seeded
    assert "bald:mnlp" not in score_pool(tagger, words[:2], mc_passes=0, bf16=False).values


# ------------------------------------------------------------- stored scores, suggestions, migration

@pytest.fixture
def project(tmp_path, tagger):
    """A store with 20 unlabeled sample sentences and a ready model version (the untrained-head tiny model)."""
    store = Store(tmp_path / "db.sqlite")
    pid = store.create_project("p", ["PER", "LOC"])
    corpus = formats.read(DATA / "sample.conll").sentences[:20]
    store.import_sentences(pid, [formats.Sentence(s.words, None, s.text, s.offsets) for s in corpus], split="unlabeled")
    folder = tmp_path / "v1"
    tagger.save(folder)
    model_id = store.add_model(pid, folder=str(folder), base_model="tiny")
    yield store, pid, store.model(model_id)
    store.close()


def test_stored_scores_are_computed_once_per_model_version(project, monkeypatch):
    store, pid, model = project
    calls = []
    real = active.score_pool

    def counting(tagger, sentences, **kw):
        calls.append(len(sentences))
        return real(tagger, sentences, **kw)

    monkeypatch.setattr(active, "score_pool", counting)
    rows = store.sentences(pid, split="unlabeled")
    first = active.stored_scores(store, model, rows, mc_passes=2)
    assert calls == [20]
    second = active.stored_scores(store, model, rows, mc_passes=2)
    assert calls == [20]
    for key, value in first.values.items():
        assert np.allclose(second.values[key], value)
    assert np.allclose(second.embeddings, first.embeddings, atol=1e-2)
    assert len(store.pool_scores(model.id)) == 20
    new = formats.read(DATA / "sample.conll").sentences[30]
    store.import_sentences(pid, [formats.Sentence(new.words, None, new.text, new.offsets)], split="unlabeled")
    active.stored_scores(store, model, store.sentences(pid, split="unlabeled"), mc_passes=2)
    assert calls == [20, 1]


def test_suggest_uses_the_serving_version_and_skips_annotated(project):
    store, pid, model = project
    rows = store.sentences(pid, split="unlabeled")
    store.annotate(rows[0].id, ["O"] * len(rows[0].words))
    cold = active.suggest(store, pid, 5, strategy="entropy", seed=1)
    assert len(cold) == 5 and rows[0].id not in cold
    assert cold == active.suggest(store, pid, 5, strategy="random", seed=1)
    store.promote(model.id)
    warm = active.suggest(store, pid, 5, strategy="entropy")
    scores = store.pool_scores(model.id)
    assert len(scores) == 19  # the annotated sentence is not scored
    best = sorted(scores, key=lambda sid: -scores[sid]["data"]["values"]["entropy:mnlp"])
    assert warm[0] == best[0]
    only = [r.id for r in rows[5:8]]
    assert set(active.suggest(store, pid, 10, strategy="entropy", ids=only)) == set(only)
    for row in rows[1:]:  # the pool used up: nothing to suggest, whatever the strategy
        store.annotate(row.id, ["O"] * len(row.words))
    for strategy in ("entropy", "bald+diverse", "random"):
        assert active.suggest(store, pid, 5, strategy=strategy) == []
    assert active.select(active.PoolScores.from_probs([]), [], 5, strategy="entropy") == []


def test_flagged_sentences_leave_the_queue_training_and_active_learning(project):
    from core import queue, versions

    store, pid, model = project
    store.promote(model.id)
    ids = [r.id for r in store.sentences(pid)]
    store.set_split(ids[:4], "train")
    store.set_split(ids[4:6], "dev")
    for sid in ids[:6]:
        store.annotate(sid, ["O"] * len(store.sentences(pid, ids=[sid])[0].words))
    junk = [ids[0], ids[4], ids[10], ids[11]]  # train, dev and two of the pool
    before = active.suggest(store, pid, 20, strategy="entropy")
    assert set(ids[10:12]) <= set(before)
    stamp = store.stamp(pid)
    assert store.flag(junk, annotator="ann") == sorted(junk)
    assert store.stamp(pid) != stamp  # the page's cached index notices a flag
    index = queue.index(store, pid)
    assert index.flagged == set(junk) and index.pool("flagged") == sorted(junk)
    for which in ("unlabeled", "not human-checked", "all"):
        assert not set(index.pool(which)) & set(junk)
    assert index.pool("all") == [i for i in ids if i not in junk]
    assert not set(queue.arrange(index, "all", "random", seed=3)) & set(junk)
    train_rows, dev_rows = versions.training_data(store, pid)
    assert [r.id for r in train_rows] == ids[1:4] and [r.id for r in dev_rows] == [ids[5]]
    assert {r.id for r in active.pool_rows(store, pid)} == set(ids[6:]) - set(junk)
    after = active.suggest(store, pid, 20, strategy="entropy")
    assert after == [i for i in before if i not in junk]
    assert not set(active.suggest(store, pid, 20, strategy="random")) & set(junk)
    store.flag(junk, flagged=False)  # restored: back everywhere
    index = queue.index(store, pid)
    assert index.pool("flagged") == [] and index.pool("all") == ids
    assert len(versions.training_data(store, pid)[0]) == 4
    assert active.suggest(store, pid, 20, strategy="entropy") == before
    assert [h["flagged"] for h in store.flag_history(ids[10])] == [1, 0]


def test_suggest_ranks_fragments_last(project):
    store, pid, model = project
    store.import_sentences(pid, formats.loads("3 .\n04 ) .\nFig .\n", name="f.txt", lines=True).sentences,
                           split="unlabeled")
    store.promote(model.id)
    rows = store.sentences(pid, split="unlabeled")
    fragments = {r.id for r in rows if len(r.words) < active.MIN_WORDS}
    assert len(fragments) == 3
    for strategy in ("entropy", "bald", "least_confidence:max"):
        ranked = active.suggest(store, pid, len(rows), strategy=strategy)
        assert set(ranked[-3:]) == fragments
    anywhere = active.suggest(store, pid, len(rows), strategy="entropy", min_words=0)
    assert set(anywhere) == {r.id for r in rows}


def test_v1_database_migrates_to_pool_scores(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    MIGRATIONS[0](sqlite_utils.Database(conn))
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS) >= 2
    assert {"pool_scores", "hidden_gold"} <= set(store.db.table_names())
    store.close()
