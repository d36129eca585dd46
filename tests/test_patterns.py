"""Entity patterns (spaCy EntityRuler JSONL): parsing, matching, the key count."""
from __future__ import annotations

import json

import pytest

from core import patterns
from core.formats import FormatError

RULES = "\n".join(json.dumps(r) for r in [
    {"label": "Chemical", "pattern": "aspirin"},
    {"label": "Chemical", "pattern": "acetyl salicylic acid"},
    {"label": "Disease", "pattern": [{"LOWER": "type"}, {"IS_DIGIT": True}, {"LOWER": "diabetes"}]},
    {"label": "Dose", "pattern": [{"IS_DIGIT": True}, {"LOWER": {"IN": ["mg", "g"]}}]},
    {"label": "Disease", "pattern": [{"LOWER": "chronic", "OP": "?"}, {"LOWER": "pain"}]},
])


def tagged(words: str) -> list[str]:
    return patterns.Matcher(patterns.parse(RULES, name="rules.jsonl")).tags(words.split())


def test_phrase_and_token_patterns_tag_words():
    assert tagged("Give aspirin now") == ["O", "B-Chemical", "O"]
    assert tagged("Aspirin helps") == ["O", "O"]  # a phrase matches the exact text, as spaCy's does
    assert tagged("acetyl salicylic acid for Type 2 diabetes") == [
        "B-Chemical", "I-Chemical", "I-Chemical", "O", "B-Disease", "I-Disease", "I-Disease"]
    assert tagged("take 500 mg") == ["O", "B-Dose", "I-Dose"]
    assert tagged("chronic pain and pain") == ["B-Disease", "I-Disease", "O", "B-Disease"]


def test_the_longest_match_wins_over_an_overlapping_shorter_one():
    rules = "\n".join(json.dumps(r) for r in [{"label": "LOC", "pattern": "York"},
                                               {"label": "ORG", "pattern": "New York Times"}])
    matcher = patterns.Matcher(patterns.parse(rules, name="r.jsonl"))
    assert matcher.tags("the New York Times in York".split()) == ["O", "B-ORG", "I-ORG", "I-ORG", "O", "B-LOC"]


@pytest.mark.parametrize("line, problem", [
    ('{"label": "X"}', '{"label": LABEL, "pattern"'),
    ("not json", "invalid JSON"),
    ('{"label": "X", "pattern": [{"POS": "NOUN"}]}', "unsupported token attribute 'POS'"),
    ('{"label": "X", "pattern": [{"LOWER": "a", "OP": "?"}]}', "at least one word"),
    ('{"label": "B-X", "pattern": "a"}', "B-X"),
    ('{"label": "X", "pattern": ""}', "empty phrase"),
])
def test_a_bad_pattern_line_names_file_line_and_problem(line, problem):
    with pytest.raises(FormatError) as e:
        patterns.parse('{"label": "X", "pattern": "ok"}\n' + line, name="p.jsonl")
    assert str(e.value).startswith("p.jsonl:2: ") and problem in str(e.value)


def test_labels_outside_the_project_are_refused():
    with pytest.raises(FormatError, match="p.jsonl:1: .*not one of the project's labels"):
        patterns.parse('{"label": "Gene", "pattern": "BRCA1"}', name="p.jsonl", labels=["Chemical"])


def test_patterns_round_trip_through_jsonl():
    parsed = patterns.parse(RULES, name="r.jsonl")
    assert patterns.parse(patterns.dumps(parsed), name="again") == parsed


def test_correction_keys_count_adds_relabels_and_removals():
    gold = ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert patterns.correction_keys(["O"] * 5, gold) == 4  # two entities to add
    assert patterns.correction_keys(gold, gold) == 0
    assert patterns.correction_keys(["B-ORG", "I-ORG", "O", "B-LOC", "B-MISC"], gold) == 4  # a relabel, a removal
