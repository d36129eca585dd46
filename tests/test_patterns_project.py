"""A project's entity patterns: stored one row per rule (duplicates skipped), and `nerloop patterns`."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from core import patterns
from core.access import Actor
from core.cli import main
from core.formats import FormatError
from core.store import Store

RULES = [{"label": "Chemical", "pattern": "aspirin"},
         {"label": "Chemical", "pattern": "acetyl salicylic acid"},
         {"label": "Disease", "pattern": [{"LOWER": "type"}, {"IS_DIGIT": True}, {"LOWER": "diabetes"}]}]
JSONL = "".join(json.dumps(r) + "\n" for r in RULES)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path) -> tuple[Store, int]:
    store = Store(tmp_path / "n.db")
    yield store, store.create_project("bio", ["Chemical", "Disease"])
    store.close()


def test_patterns_round_trip_through_the_store(project):
    store, pid = project
    assert patterns.add_to_project(store, pid, JSONL, name="p.jsonl") == {"added": 3, "duplicates": 0}
    assert patterns.add_to_project(store, pid, JSONL + JSONL.splitlines()[0], name="p.jsonl") == {
        "added": 0, "duplicates": 4}  # the project's own and one repeated inside the file
    assert store.patterns(pid) == patterns.parse(JSONL, name="p.jsonl")
    assert patterns.dumps(store.patterns(pid)) == patterns.dumps(patterns.parse(JSONL, name="x"))
    other = store.create_project("other", ["Chemical"])
    assert store.patterns(other) == [] and store.patterns_stamp(other) == (0, 0)
    assert store.remove_patterns(pid, patterns.parse(JSONL.splitlines()[0], name="x")) == 1
    assert [p.label for p in store.patterns(pid)] == ["Chemical", "Disease"]
    before = store.patterns_stamp(pid)
    assert store.clear_patterns(pid) == 2 and store.patterns(pid) == []
    store.add_patterns(pid, patterns.parse(JSONL.splitlines()[0], name="x"))
    assert store.patterns_stamp(pid)[1] > before[1]  # ids never reused: a stamp never comes back


def test_a_bad_file_adds_nothing(project):
    store, pid = project
    bad = JSONL + '{"label": "Gene", "pattern": "BRCA1"}\n'
    with pytest.raises(FormatError, match=r"^bad.jsonl:4: label 'Gene' is not one of the project's labels"):
        patterns.add_to_project(store, pid, bad, name="bad.jsonl")
    assert store.patterns(pid) == []
    empty = store.create_project("empty", [])
    with pytest.raises(ValueError, match="no entity labels"):
        patterns.add_to_project(store, empty, JSONL, name="p.jsonl")


def test_only_admins_change_patterns_and_it_is_audited(project):
    store, pid = project
    annotator = Actor("ann", "annotator")
    with pytest.raises(PermissionError, match="import refused"):
        patterns.add_to_project(store, pid, JSONL, name="p.jsonl", actor=annotator)
    assert store.patterns(pid) == []
    patterns.add_to_project(store, pid, JSONL, name="p.jsonl", actor=Actor("boss", "admin"))
    with pytest.raises(PermissionError):
        store.clear_patterns(pid, actor=annotator)
    assert len(store.patterns(pid)) == 3
    assert [(a["actor"], a["action"]) for a in store.audit(pid)][-1] == ("boss", "import")


def test_cli_adds_lists_exports_and_clears(tmp_path: Path):
    db = str(tmp_path / "n.db")
    assert run("--db", db, "init", "bio", "--labels", "Chemical,Disease")[0] == 0
    good, bad = tmp_path / "p.jsonl", tmp_path / "bad.jsonl"
    good.write_text(JSONL, encoding="utf-8")
    bad.write_text(JSONL.replace('"Disease"', '"Gene"'), encoding="utf-8")
    code, out, err = run("--db", db, "patterns", "add", "bio", str(bad))
    assert code == 2 and err.strip() == (f"nerloop: error: {bad}:3: label 'Gene' is not one of the project's labels "
                                         "(Chemical, Disease)")
    assert run("--db", db, "patterns", "list", "bio")[1].strip() == "no patterns"  # nothing added
    code, out, err = run("--db", db, "patterns", "add", "bio", str(good))
    assert code == 0 and "3 added, 0 duplicates skipped" in out
    assert "0 added, 3 duplicates skipped" in run("--db", db, "patterns", "add", "bio", str(good))[1]
    listed = run("--db", db, "patterns", "list", "bio")[1]
    assert '"acetyl salicylic acid"' in listed and '{"LOWER": "type"}' in listed
    code, exported, _ = run("--db", db, "patterns", "export", "bio")
    assert code == 0 and patterns.parse(exported, name="out") == patterns.parse(JSONL, name="in")
    assert run("--db", db, "patterns", "clear", "bio")[1].startswith("removed 3 patterns")
    assert run("--db", db, "patterns", "export", "bio")[1] == ""
    assert run("--db", db, "patterns", "add", "nope", str(good))[0] == 2
    assert run("--db", db, "patterns", "add", "bio", str(tmp_path / "missing.jsonl"))[0] == 2
