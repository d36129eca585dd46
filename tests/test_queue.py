"""Tests for core.queue: what to label next, the Annotate page's filters and orders, which ranking serves an order and
the fallbacks when none can (no Streamlit)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core import active, formats, live, queue
from core.store import LiveHead

POOL = b"One here .\n\nTwo there .\n\nThree too .\n\nFour more ."


def test_order_modes():
    ids = [1, 2, 3, 4, 5, 6]
    assert queue.order(ids, "in order") == ids
    shuffled = queue.order(ids, "random", seed=3)
    assert sorted(shuffled) == ids and shuffled != ids
    assert shuffled == queue.order(ids, "random", seed=3)
    assert queue.order(ids, "least confident", confidence={4: 0.2, 2: 0.5, 6: 0.2}) == [4, 6, 2, 1, 3, 5]
    with pytest.raises(ValueError, match="order must be one of"):
        queue.order(ids, "alphabetical")


def test_sentence_confidence_is_min_word_probability():
    assert queue.sentence_confidence([0.9, 0.31, 0.8]) == pytest.approx(0.31)
    assert queue.sentence_confidence([]) == 1.0


def test_neighbour():
    q = [5, 2, 9, 7]
    assert queue.neighbour(q, 2, 1) == 9 and queue.neighbour(q, 2, -1) == 5
    assert queue.neighbour(q, 7, 1) is None and queue.neighbour(q, 5, -1) is None
    assert queue.neighbour(q, None, 1) == 5
    assert queue.neighbour([2, 5, 9], 6, 1) == 9 and queue.neighbour([2, 5, 9], 6, -1) == 5
    assert queue.neighbour([], 3, 1) is None


def test_index_pools_window_and_arrange():
    index = queue.Index([1, 2, 3, 4, 5], human={2}, labelled={2, 3}, flagged={5})
    assert 3 in index and 9 not in index
    assert index.pool("unlabeled") == [1, 4]
    assert index.pool("not human-checked") == [1, 3, 4]
    assert index.pool("all") == [1, 2, 3, 4] and index.pool("flagged") == [5]
    with pytest.raises(ValueError, match="filter must be one of"):
        index.pool("todo")
    assert queue.arrange(index, "all", "least confident", confidence={4: 0.1, 3: 0.4}) == [4, 3, 1, 2]
    # random: a sentence leaving the view does not reshuffle the others
    before = queue.arrange(index, "not human-checked", "random", seed=1)
    after = queue.arrange(queue.Index([1, 2, 3, 4, 5], human={2, 4}, labelled={2, 3, 4}, flagged={5}),
                          "not human-checked", "random", seed=1)
    assert after == [i for i in before if i != 4]
    big = queue.Index(list(range(1, queue.RANK_POOL + 50)), human=set(), labelled=set())
    assert big.window("all") == list(range(1, queue.RANK_POOL + 1))


def test_strategy_spec_and_ranked_first():
    assert queue.strategy_spec("entropy", "MNLP", True) == "entropy:mnlp+diverse"
    assert queue.strategy_spec("least confidence", "max") == "least_confidence:max"
    assert active.parse_strategy(queue.strategy_spec("BALD", "mean")).key == "bald:mean"
    with pytest.raises(ValueError, match="measure"):
        queue.strategy_spec("confusion", "max")
    with pytest.raises(ValueError, match="aggregate"):
        queue.strategy_spec("margin", "median")
    assert queue.ranked_first([1, 2, 3, 4, 5], [4, 9, 2, 4]) == [4, 2, 1, 3, 5]
    assert queue.ranked_first([], [1]) == []


@pytest.fixture
def pid(store) -> int:
    pid = store.create_project("p", ["PER"])
    store.import_sentences(pid, formats.loads(POOL, name="u.txt").sentences, split="unlabeled")
    return pid


def _head(pid: int) -> LiveHead:
    return LiveHead(id=7, project_id=pid, model_id=None, encoder="e", annotation_id=1, train_sentences=3,
                    dev_sentences=1, held_out=True, dev_f1=0.5, base_f1=None, fit_seconds=0.1, predicted=4,
                    file="head.npz", created="")


def test_plan_picks_the_ranking_and_its_fallbacks(store, pid):
    model = store.model(store.add_model(pid, folder="f", base_model="b", status="ready"))
    head = _head(pid)

    def plan(which="unlabeled", how="in order", strategy=None, model=None, head=None) -> queue.Plan:
        return queue.plan(store, pid, which=which, how=how, strategy=strategy, model=model, head=head)

    assert plan(queue.MINE, queue.ACTIVE_LEARNING, "entropy", model, head).source == "mine"  # the queue wins
    assert plan(how="random", model=model, head=head) == queue.Plan("order", "random")
    assert plan(how="least confident", model=model) == queue.Plan("confidence", "least confident")
    assert plan(how="least confident") == queue.Plan("order", "in order", why="cold")
    assert plan(how=queue.ACTIVE_LEARNING, strategy="margin:max") == queue.Plan("order", "random", why="cold")
    assert plan(how=queue.ACTIVE_LEARNING, strategy="margin:max", model=model) == queue.Plan("version")
    live = plan(how=queue.ACTIVE_LEARNING, strategy="margin:max", model=model, head=head)
    assert live == queue.Plan("live", column="margin:max") and live.final
    assert plan(how=queue.ACTIVE_LEARNING, strategy="bald:mean", head=head) == \
        queue.Plan("live", column="entropy:mnlp", why="entropy")  # the live head has no dropout passes
    assert plan(how=queue.ACTIVE_LEARNING, strategy="margin:max+diverse", head=head) == \
        queue.Plan("live", column="margin:max", why="entropy")
    job = store.create_job(pid, "train", {})
    store.update_job(job, status="running")
    store.add_event(job, "scoring_pool", {"sentences": 4})
    waiting = plan(how=queue.ACTIVE_LEARNING, strategy="entropy", model=model)
    assert (waiting.source, waiting.how, waiting.why, waiting.job.id, waiting.final) == \
        ("order", "random", "scoring", job, False)
    assert plan(how=queue.ACTIVE_LEARNING, strategy="entropy", model=model, head=head).source == "live"
    store.add_event(job, "pool_scored", {})
    assert plan(how=queue.ACTIVE_LEARNING, strategy="entropy", model=model) == queue.Plan("version")


def test_rank_pool_puts_a_diverse_batch_first(store, pid):
    pool = [r.id for r in store.sentences(pid)]
    plain = queue.rank_pool(store, pid, "entropy", len(pool), seed=2)
    assert plain == active.suggest(store, pid, len(pool), strategy="entropy", seed=2) and sorted(plain) == pool
    diverse = queue.rank_pool(store, pid, "entropy+diverse", len(pool), seed=2)
    batch = active.suggest(store, pid, queue.DIVERSE_BATCH, strategy="entropy+diverse", seed=2)
    assert diverse == batch + plain and queue.ranked_first(pool, diverse) == batch


def test_suggest_follows_the_live_head_while_it_pre_tags(store, pid, tmp_path):
    rows = store.sentences(pid)  # 3 words each
    labels = ["O", "B-PER", "I-PER"]
    probs = np.full((9, 3), 1 / 3, dtype=np.float32)
    scored = [r.id for r in rows[:3]]  # the fourth is not scored by the head yet
    file = live.write_predictions(tmp_path / "h.npz", scored, [3, 3, 3], probs, labels,
                                  {"entropy:mnlp": np.array([0.2, 0.9, 0.5]), "margin:max": np.array([0.7, 0.1, 0.3])})
    head = replace(_head(pid), file=str(file))
    assert queue.suggest(store, pid, 3, strategy="entropy", head=head) == [scored[1], scored[2], scored[0]]
    assert queue.suggest(store, pid, 2, strategy="margin:max", head=head) == [scored[0], scored[2]]
    assert queue.suggest(store, pid, None, strategy="bald", token_budget=6, head=head) == [scored[1], scored[2]]
    assert queue.suggest(store, pid, 4, strategy="entropy:max", head=head) == \
        active.suggest(store, pid, 4, strategy="entropy:max")  # a column the head did not write: the version's way
    assert queue.suggest(store, pid, 4, strategy="random", seed=5, head=head) == \
        active.suggest(store, pid, 4, strategy="random", seed=5)
    assert queue.suggest(store, pid, 4, strategy="entropy") == active.suggest(store, pid, 4, strategy="entropy")
