"""Entity patterns before the first model: spaCy EntityRuler JSONL (phrase and token patterns) matched on words."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from core import formats
from core.access import OWNER, Actor
from core.formats import FormatError
from core.labels import LabelSet

_FLAGS = {
    "IS_DIGIT": str.isdigit, "IS_ALPHA": str.isalpha, "IS_UPPER": str.isupper, "IS_LOWER": str.islower,
    "IS_TITLE": str.istitle, "IS_PUNCT": lambda w: bool(w) and all(not c.isalnum() for c in w),
}
_TEXT = {"ORTH": lambda w: w, "TEXT": lambda w: w, "LOWER": str.lower}
_OPS = {"1", "?", "*", "+", "!"}


@dataclass(frozen=True)
class Pattern:
    """One rule: a label and either a phrase (words matched exactly) or token specs (spaCy Matcher dicts)."""

    label: str
    phrase: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()  # each token spec as canonical JSON (hashable)

    def to_json(self) -> dict:
        """The EntityRuler record: `{"label", "pattern"}` with a string or a list of token dicts."""
        pattern = " ".join(self.phrase) if self.phrase else [json.loads(t) for t in self.tokens]
        return {"label": self.label, "pattern": pattern}

    @classmethod
    def of(cls, label: str, pattern: str | list[dict]) -> Pattern:
        """The rule of an EntityRuler pattern already checked (a phrase is split into words as text is)."""
        if isinstance(pattern, str):
            return cls(label, phrase=tuple(w for w, _, _ in formats.tokenize(pattern)))
        return cls(label, tokens=tuple(json.dumps(s, sort_keys=True) for s in pattern))


def _token_problem(spec: object) -> str | None:
    if not isinstance(spec, dict) or not spec:
        return "each token pattern is a non-empty object"
    for key, value in spec.items():
        if key == "OP":
            if value not in _OPS:
                return f"OP {value!r} is not one of {', '.join(sorted(_OPS))}"
        elif key in _TEXT:
            ok = isinstance(value, str) or (isinstance(value, dict) and set(value) <= {"IN", "NOT_IN"}
                                            and all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                                    for v in value.values()))
            if not ok:
                return f"{key} takes a string or {{\"IN\": [strings]}}"
        elif key in _FLAGS:
            if not isinstance(value, bool):
                return f"{key} takes true or false"
        elif key == "LENGTH":
            if not isinstance(value, int) or isinstance(value, bool):
                return "LENGTH takes an integer"
        else:
            return f"unsupported token attribute {key!r} (supported: {', '.join([*_TEXT, *_FLAGS, 'LENGTH', 'OP'])})"
    return None


def parse(text: str, *, name: str, labels: Sequence[str] = ()) -> list[Pattern]:
    """Patterns from EntityRuler JSONL; a bad line raises FormatError `name:line: problem`. Labels are checked
    like any label (and, when `labels` is given, must be among them)."""
    check, out = LabelSet(labels), []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fail = partial(FormatError, name, i)
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            raise fail(f"invalid JSON ({e})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("label"), str) or "pattern" not in obj:
            raise fail('a pattern line is {"label": LABEL, "pattern": TEXT or [token objects]}')
        label = obj["label"]
        if problem := check.check(label):
            raise fail(problem)
        if labels and label not in labels:
            raise fail(f"label {label!r} is not one of the project's labels ({', '.join(labels)})")
        pattern = obj["pattern"]
        if isinstance(pattern, str):
            if not (rule := Pattern.of(label, pattern)).phrase:
                raise fail("empty phrase pattern")
            out.append(rule)
        elif isinstance(pattern, list) and pattern:
            for spec in pattern:
                if problem := _token_problem(spec):
                    raise fail(problem)
            if all(spec.get("OP") in ("?", "*", "!") for spec in pattern):
                raise fail("a token pattern must match at least one word (every token is optional)")
            out.append(Pattern.of(label, pattern))
        else:
            raise fail("pattern is a non-empty string or a non-empty list of token objects")
    return out


def add_to_project(store: Any, project_id: int, text: str, *, name: str, actor: Actor = OWNER) -> dict:
    """Parse EntityRuler JSONL against the project's labels, then store every pattern in one transaction (a bad line
    raises FormatError and nothing is added); returns {"added", "duplicates"}. `actor`: who adds them (admins only)."""
    labels = store.project(project_id).labels
    if not labels:
        raise ValueError(f"{name}: the project has no entity labels yet: add them before its patterns")
    rules = parse(text, name=name, labels=labels)
    if not rules:
        raise ValueError(f"{name}: no patterns in the file")
    return store.add_patterns(project_id, rules, actor=actor)


def dumps(patterns: Iterable[Pattern]) -> str:
    """EntityRuler JSONL of the patterns."""
    return "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in patterns)


def _value_ok(value: object, got: str) -> bool:
    if isinstance(value, str):
        return got == value
    return ("IN" not in value or got in value["IN"]) and ("NOT_IN" not in value or got not in value["NOT_IN"])


@lru_cache(maxsize=4096)
def _spec(token: str) -> dict:
    return json.loads(token)


def _word_ok(spec: dict, word: str) -> bool:
    for key, value in spec.items():
        if key == "OP":
            continue
        if key in _TEXT:
            ok = _value_ok(value, _TEXT[key](word))
        elif key in _FLAGS:
            ok = _FLAGS[key](word) == value
        else:
            ok = len(word) == value
        if not ok:
            return False
    return True


def _ends(specs: Sequence[dict], words: Sequence[str], i: int) -> set[int]:
    """Every end position where `specs` match the words from position i (spaCy's OP semantics)."""
    if not specs:
        return {i}
    spec, rest, op = specs[0], specs[1:], specs[0].get("OP", "1")
    if op == "!":
        return _ends(rest, words, i + 1) if i < len(words) and not _word_ok(spec, words[i]) else set()
    out: set[int] = set()
    if op in ("?", "*"):
        out |= _ends(rest, words, i)
    j = i
    while j < len(words) and _word_ok(spec, words[j]):
        j += 1
        if op in ("1", "?"):
            out |= _ends(rest, words, j)
            break
        out |= _ends(rest, words, j)
    return out


class Matcher:
    """Tags words from patterns: every match, then the longest first (leftmost on ties), without overlaps."""

    def __init__(self, patterns: Iterable[Pattern]):
        self.phrases: dict[tuple[str, ...], str] = {}
        self.token_patterns: list[tuple[list[dict], str]] = []
        for p in patterns:
            if p.phrase:
                self.phrases.setdefault(p.phrase, p.label)
            else:
                self.token_patterns.append(([_spec(t) for t in p.tokens], p.label))
        self.lengths = sorted({len(k) for k in self.phrases}, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.phrases or self.token_patterns)

    def matches(self, words: Sequence[str]) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, label) spans, end exclusive, in word order."""
        found = []
        for i in range(len(words)):
            for n in self.lengths:
                label = self.phrases.get(tuple(words[i:i + n])) if i + n <= len(words) else None
                if label is not None:
                    found.append((i, i + n, label))
            for specs, label in self.token_patterns:
                found += [(i, end, label) for end in _ends(specs, words, i) if end > i]
        taken, out = [False] * len(words), []
        for start, end, label in sorted(found, key=lambda m: (m[0] - m[1], m[0])):
            if not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                out.append((start, end, label))
        return sorted(out)

    def tags(self, words: Sequence[str]) -> list[str]:
        """IOB2 tags of the matches."""
        return formats.tags_from_spans(len(words), self.matches(words))


def correction_keys(start: Sequence[str], gold: Sequence[str]) -> int:
    """Keys to turn `start` into `gold` in the span editor: 2 per entity to add or relabel (select, number key) and
    2 per entity to remove (click, Backspace); a right entity costs nothing."""
    want, have = set(formats.spans(gold)), set(formats.spans(start))
    missing = want - have
    spurious = [s for s in have - want if not any(s[:2] == m[:2] for m in missing)]  # a relabel replaces it
    return 2 * (len(missing) + len(spurious))
