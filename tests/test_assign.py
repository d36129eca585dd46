"""Tests for core.assign: queues with overlap, and nobody sees another's labels on an overlapped sentence first."""
from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from core.assign import assign, overlapped, visible

NAMES = ["ann", "ben", "cat"]


@pytest.mark.parametrize("n", [10, 49, 100, 101, 250])
def test_twenty_percent_overlap_three_annotators(n):
    ids = random.Random(n).sample(range(1000, 5000), n)  # active-learning order: not sorted
    queues = assign(ids, NAMES, overlap=0.2)
    holders = Counter(sid for q in queues.values() for sid in q)
    assert set(holders) == set(ids)  # every sentence covered
    assert set(holders.values()) <= {1, 2}
    assert abs(sum(c == 2 for c in holders.values()) - 0.2 * n) <= 1  # the overlapped share: 20 % +- one sentence
    loads = [len(q) for q in queues.values()]
    assert max(loads) - min(loads) <= 2
    order = {sid: i for i, sid in enumerate(ids)}
    assert all(q == sorted(q, key=order.get) for q in queues.values())  # each queue keeps the given order
    assert assign(ids, NAMES, overlap=0.2) == queues  # deterministic
    if n >= 49:  # enough overlapped sentences: every pair of annotators shares some (agreement needs it)
        pairs = Counter(p for sid in ids for p in itertools.combinations([a for a in NAMES if sid in queues[a]], 2))
        assert set(pairs) == set(itertools.combinations(NAMES, 2)) and max(pairs.values()) - min(pairs.values()) <= 1


def test_more_copies_and_edge_shares():
    ids = list(range(60))
    queues = assign(ids, ["a", "b", "c", "d"], overlap=0.5, copies=3)
    holders = Counter(sid for q in queues.values() for sid in q)
    assert sorted(Counter(holders.values()).items()) == [(1, 30), (3, 30)]
    assert max(map(len, queues.values())) - min(map(len, queues.values())) <= 2
    assert sorted(sum(assign(ids, NAMES, overlap=0).values(), [])) == ids  # no overlap: a partition
    assert all(len(q) == 60 for q in assign(ids, ["a", "b"], overlap=1).values())
    spread = sorted(overlapped(ids, 0.1))
    assert len(spread) == 6 and all(b - a == 10 for a, b in itertools.pairwise(spread))  # spread along the order
    assert assign([], NAMES) == {a: [] for a in NAMES}


@pytest.mark.parametrize("args, problem", [
    (([1], ["a", "a"]), "distinct"), (([1], []), "distinct"), (([1], ["a", " "]), "distinct"),
    (([1, 1], ["a"]), "repeated"), (([1], ["a", "b"], 1.5), "between 0 and 1"),
    (([1, 2], ["a", "b"], 0.5, 3), "2 to 2 annotators, not 3"), (([1, 2], ["a"], 0.5), "2 to 1"),
])
def test_bad_input_is_refused(args, problem):
    with pytest.raises(ValueError, match=problem):
        assign(*args)


def test_nobody_sees_another_annotators_labels_before_saving_their_own():
    queues = assign(list(range(20)), NAMES, overlap=0.2)
    shared = [sid for sid in range(20) if sum(sid in q for q in queues.values()) == 2]
    assert len(shared) == 4
    for sid in shared:
        first, second = [a for a in NAMES if sid in queues[a]]
        assigned = {first, second}
        assert visible(second, assigned=assigned, saved={first}) == set()  # first saved: second still sees nothing
        assert visible(first, assigned=assigned, saved={first}) == {first}  # own labels
        assert visible(second, assigned=assigned, saved={first, second}) == {first, second}  # after saving
        assert visible("rev", assigned=assigned, saved={first}, reviewer=True) == {first}
        assert visible(first, assigned=assigned, saved=set(), reviewer=True) == set()
    single = next(sid for sid in range(20) if sid not in shared)
    owner = next(a for a in NAMES if single in queues[a])
    assert visible(owner, assigned={owner}, saved={"old"}) == {"old"}  # not overlapped: nothing to hide
