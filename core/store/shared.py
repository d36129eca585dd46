"""Internal to core.store: what its row modules share besides StoreBase (import it only inside core.store): the
SQL fragments of a sentence's label and junk flag, the checks of a value and of a sentence before they are stored,
the store's time format and a sentence's identity."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from core.labels import label_problem, text_problem, words_problem

LABEL_SOURCES = "'review', 'human', 'gold'"  # the sources that are labels (SQL list), strongest first
# the id of a sentence's label (the strongest source, the newest), {sid} its id column
EFFECTIVE_ID = """(SELECT e.id FROM annotations e WHERE e.sentence_id = {sid}
    AND e.source IN ('review', 'human', 'gold') ORDER BY e.source = 'review' DESC, e.source = 'human' DESC,
    e.id DESC LIMIT 1)"""
# whether a sentence is flagged as junk (its newest flag), {sid} its id column
FLAGGED = "COALESCE((SELECT f.flagged FROM flags f WHERE f.sentence_id = {sid} ORDER BY f.id DESC LIMIT 1), 0)"
NEW_LABEL_HINT = "; new entity types are added only when allowed"


def now() -> str:
    """Current time as an ISO-8601 UTC string with microseconds (the store's only time format)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def sentence_hash(words: Sequence[str]) -> str:
    """sha1 of the words joined by \\x1f: the per-project identity of a sentence."""
    return hashlib.sha1("\x1f".join(words).encode("utf-8")).hexdigest()


def check_choice(value: str, allowed: Sequence[str], what: str) -> str:
    """`value` when it is one of `allowed`, else ValueError naming `what`."""
    if value not in allowed:
        raise ValueError(f"invalid {what} {value!r}: expected one of {', '.join(allowed)}")
    return value


def tag_labels(tags: Sequence[str], fail: Callable[[str], Exception]) -> list[str]:
    """Entity types used in IOB2 `tags`, in order of first use; raises fail(problem) on a malformed tag or label."""
    found: dict[str, None] = {}
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        if not isinstance(tag, str) or tag[:2] not in ("B-", "I-") or len(tag) < 3:
            raise fail(f"token {i + 1} has invalid IOB2 tag {tag!r}")
        if tag[2:] not in found:
            if problem := label_problem(tag[2:]):
                raise fail(f"token {i + 1} tag {tag!r}: {problem}")
            found[tag[2:]] = None
    return list(found)


def check_sentence(s: Any, fail: Callable[[str], Exception]) -> list[str]:
    """Check one Sentence-like object before it is stored (the words and labels rules of core.labels); returns the
    entity types its tags use."""
    if not s.words:
        raise fail("sentence has no words")
    if not isinstance(s.text, str):
        raise fail("the sentence text is not a string")
    if problem := words_problem(s.words) or text_problem(s.text):
        raise fail(problem)
    if s.doc_id is not None and (not isinstance(s.doc_id, str) or text_problem(s.doc_id)):
        raise fail(f"invalid document id {s.doc_id!r}")
    if len(s.offsets) != len(s.words):
        raise fail(f"{len(s.offsets)} offsets for {len(s.words)} words")
    columns, meta = getattr(s, "columns", None), getattr(s, "meta", None)
    if columns and (len(columns) != len(s.words) or len({len(c) for c in columns}) > 1
                                or not all(isinstance(v, str) for c in columns for v in c)):
        raise fail("the extra columns must be as many strings for each word")
    if meta is not None and not isinstance(meta, dict):
        raise fail("'meta' must be an object")
    if s.tags is None:
        return []
    if len(s.tags) != len(s.words):
        raise fail(f"{len(s.tags)} tags for {len(s.words)} words")
    return tag_labels(s.tags, fail)


def located(where: str, problem: str) -> ValueError:
    """A ValueError saying where: `where: problem`."""
    return ValueError(f"{where}: {problem}")
