"""AppTest of a project's entity patterns: the Upload section adds them, Annotate opens an unlabelled sentence with
their tags while no model serves, and lists the matches a serving model missed apart from its suggestion."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import formats, jobs, patterns
from core.store import Store

from apptest import UNLABELED, open_app, raw

DATA = Path(__file__).parent / "data"
RULES = ('{"label": "PER", "pattern": "Ann"}\n'
         '{"label": "LOC", "pattern": [{"LOWER": {"IN": ["rome", "paris"]}}]}\n').encode()


def shown(elements) -> list[str]:
    """The texts of these elements, Markdown escapes removed."""
    return [e.value.replace("\\", "") for e in elements]


@pytest.fixture
def plain(tmp_path, monkeypatch) -> tuple[Store, int, Path]:
    """A project without a model: two unlabelled sentences."""
    db = tmp_path / "p.db"
    store = Store(db)
    pid = store.create_project("plain", ["PER", "LOC"])
    store.import_sentences(pid, [raw(["Ann", "lives", "in", "Rome"]), raw(["Bob", "too"])], split="unlabeled")
    monkeypatch.setenv("NERLOOP_DB", str(db))
    yield store, pid, db
    store.close()


def test_the_upload_section_previews_adds_and_clears_patterns(plain):
    store, pid, _ = plain
    at = open_app(pid, "pages/upload.py")
    at.file_uploader(key="upload_patterns_file").upload("bad.jsonl", RULES + b'{"label": "ORG", "pattern": "X"}\n',
                                                        "application/json").run()
    assert any(e.startswith("bad.jsonl:3: label 'ORG' is not one of the project") for e in shown(at.error))
    assert not [b for b in at.button if b.key == "upload_patterns_add"] and store.patterns(pid) == []
    at.file_uploader(key="upload_patterns_file").upload("rules.jsonl", RULES, "application/json").run()
    assert "2 patterns: PER 1 · LOC 1" in shown(at.markdown)
    at.button(key="upload_patterns_add").click().run()
    assert not at.exception, at.exception
    assert store.patterns(pid) == patterns.parse(RULES.decode(), name="rules.jsonl")
    assert any("rules.jsonl: 2 patterns added, 0 duplicates skipped" in s for s in shown(at.success))
    at.button(key="upload_patterns_clear").click().run()
    assert store.patterns(pid) == [] and any("Removed 2 patterns" in s for s in shown(at.success))


def test_annotate_opens_an_unlabelled_sentence_with_the_pattern_tags(plain):
    store, pid, _ = plain
    patterns.add_to_project(store, pid, RULES.decode(), name="rules.jsonl")
    at = open_app(pid, "pages/annotate.py")
    sid = at.session_state["annotate_sentence_id"]
    assert store.sentences(pid, ids=[sid])[0].words == ["Ann", "lives", "in", "Rome"]
    assert at.session_state["annotate_drafts"][sid].tags == ["B-PER", "O", "O", "B-LOC"]
    assert "Patterns matched: Ann (PER), Rome (LOC)" in shown(at.caption)
    at.button(key="annotate_accept").click().run()  # "Accept as opened": the pattern tags become a human save
    assert store.sentences(pid, ids=[sid])[0].tags == ["B-PER", "O", "O", "B-LOC"]


def test_matches_a_serving_model_missed_are_listed_apart(tmp_path, monkeypatch, tiny_model):
    db = tmp_path / "m.db"
    store = Store(db)
    pid = store.create_project("news", ["PER", "LOC", "ORG", "MISC"])
    store.import_sentences(pid, formats.read(DATA / "sample.conll").sentences, split="train")
    store.import_sentences(pid, formats.loads(UNLABELED, name="u.txt").sentences, split="unlabeled")
    jobs.execute(store, jobs.create(store, pid, {"model": tiny_model, "min_steps": 30, "epochs": 1,
                                                 "promote": "always"}))
    store.set_labels(pid, ["PER", "LOC", "ORG", "MISC", "DRUG"])  # a type the model cannot predict
    patterns.add_to_project(store, pid, json.dumps({"label": "DRUG", "pattern": "Paris"}), name="drugs.jsonl")
    sid = next(r.id for r in store.sentences(pid, split="unlabeled") if "Paris" in r.words)
    at = open_app(pid, "pages/annotate.py", monkeypatch=monkeypatch, db=db, query={"sid": str(sid)})
    assert at.session_state["annotate_sentence_id"] == sid
    assert "B-DRUG" not in at.session_state["annotate_drafts"][sid].tags  # the model's suggestion opens it
    assert "Patterns matched, not predicted by the model: Paris (DRUG)" in shown(at.caption)
    store.close()
