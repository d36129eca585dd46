"""One validation of entity-type names, words and texts, shared by every reader and by the store.

A label is an entity type (PER), never a tag: non-empty, at most MAX_LABEL characters, no whitespace, comma, control
character, byte-order mark or lone surrogate, not `O` and not tag-prefixed (`B-`, `I-`, `E-`, `S-`, `L-`, `U-`).
A word holds no whitespace, control character, byte-order mark or lone surrogate; a text no lone surrogate.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

MAX_LABEL = 50
_TAG_PREFIX = re.compile(r"[BIESLU]-")
_BAD_IN_WORD = re.compile("[\\s\x00-\x1f\x7f-\x9f\ufeff\ud800-\udfff]")
_BAD_IN_LABEL = re.compile("[\\s,\x00-\x1f\x7f-\x9f\ufeff\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMES = {" ": "a space", "\t": "a tab", ",": "a comma", "\ufeff": "U+FEFF (a byte-order mark)"}


def _describe(ch: str) -> str:
    if ch in _NAMES:
        return _NAMES[ch]
    if "\ud800" <= ch <= "\udfff":
        return f"a lone surrogate U+{ord(ch):04X}"
    return f"{'whitespace' if ch.isspace() else 'a control character'} U+{ord(ch):04X}"


def _short(text: str, n: int = 30) -> str:
    """repr of `text` cut after n characters (repr escapes lone surrogates and control characters)."""
    return repr(text if len(text) <= n else text[:n] + "…")


def label_problem(label: object) -> str | None:
    """Why `label` is not a sane entity-type name, or None."""
    if not isinstance(label, str):
        return f"label {label!r} is not a string"
    if not label:
        return "empty label"
    if len(label) > MAX_LABEL:
        return f"label {_short(label)} has {len(label)} characters (at most {MAX_LABEL})"
    bad = _BAD_IN_LABEL.search(label)
    if bad:
        return f"label {_short(label)} holds {_describe(bad.group())}"
    if label == "O":
        return "label 'O' is the outside tag, not an entity type"
    if _TAG_PREFIX.match(label):
        return f"label {_short(label)} looks like a tag: give entity types ({label[2:]}), not tags"
    return None


def _word_issue(word: object) -> str | None:
    if not isinstance(word, str):
        return "is not a string"
    if not word:
        return "is empty"
    bad = _BAD_IN_WORD.search(word)
    return None if bad is None else f"holds {_describe(bad.group())}"


def word_problem(word: object) -> str | None:
    """Why `word` cannot be a word (one token of a sentence), or None."""
    issue = _word_issue(word)
    return None if issue is None else f"word {_short(word) if isinstance(word, str) else repr(word)} {issue}"


def words_problem(words: Sequence[str]) -> str | None:
    """The first bad word's problem with its number ("word 3 'a b' holds a space"), or None; one regex pass over
    the sentence when all is well."""
    if all(isinstance(w, str) and w for w in words) and not _BAD_IN_WORD.search("".join(words)):
        return None
    k, w, issue = next((k, w, i) for k, w in enumerate(words, 1) if (i := _word_issue(w)))
    return f"word {k} {_short(w) if isinstance(w, str) else repr(w)} {issue}"


def lone_surrogate(text: str) -> int | None:
    """Index of the first lone surrogate in `text` (not valid Unicode, cannot be stored or printed), or None."""
    bad = _SURROGATE.search(text)
    return None if bad is None else bad.start()


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored (a lone surrogate), or None."""
    at = lone_surrogate(text)
    return None if at is None else f"text holds {_describe(text[at])} at character {at + 1}"


class LabelSet:
    """Labels met so far, checked one by one: malformed names, a label differing from another only by case, and,
    when the set is fixed, labels it does not know are refused; the rest join it (see `new`)."""

    def __init__(self, known: Iterable[str] = (), *, fixed: bool = False, hint: str = "") -> None:
        self.known = list(known)
        self.fixed, self.hint = fixed, hint
        self.new: list[str] = []
        self._ok = set(self.known)
        self._folded = {k.casefold(): k for k in self.known}

    def check(self, label: str) -> str | None:
        """The problem of `label` here, or None (a new label is then added to the set)."""
        if label in self._ok:
            return None
        problem = label_problem(label)
        if problem:
            return problem
        twin = self._folded.get(label.casefold())
        if twin is not None:
            return f"label {_short(label)} differs from {_short(twin)} only by case"
        if self.fixed:
            return f"unknown label {_short(label)} (known: {', '.join(sorted(self.known))}){self.hint}"
        self._ok.add(label)
        self._folded[label.casefold()] = label
        self.new.append(label)
        return None


def check_labels(labels: Sequence[str]) -> list[str]:
    """A project's label list, each a sane entity type, no duplicates, none differing from another only by case;
    ValueError otherwise."""
    if isinstance(labels, str):
        raise ValueError(f"labels must be a list of strings, not the string {_short(labels)}")
    labels = list(labels)
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in {_short(', '.join(map(str, labels)), 200)}")
    seen = LabelSet()
    for label in labels:
        problem = seen.check(label)
        if problem:
            raise ValueError(f"invalid label: {problem}")
    return labels
