"""Regression tests for defects found by fuzzing, crashing and attacking nerloop (one test per defect)."""
from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core import cli, export, formats, jobs, procs, versions
from core.formats import Sentence
from core.formats.base import decode, read_lines
from core.model import Tagger
from core.store import NEW_LABEL_HINT, Store, StoreError
from core.train import save_atomic

from apptest import open_app
from bench.robustness import CONLL2003, generate_conll


def test_jsonl_export_keeps_texts_with_unicode_line_separators(tmp_path):
    """Defect 8: a text holding U+2028, U+2029 or U+0085 broke the app's JSONL export (splitlines)."""
    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", ["PER"])
    words = ["Ada", "met", "Babbage", "."]
    text = "Ada\u2028met\u2029Babbage\u0085."  # the separators stand between words, in the text only
    store.import_sentences(pid, [formats.Sentence(words, ["B-PER", "O", "B-PER", "O"], text,
                                                  [(0, 3), (4, 7), (8, 15), (16, 17)])], split="train")
    out = export.export_annotations(store, pid, splits=["train"], fmt="jsonl")
    [record] = [json.loads(line) for line in out.data.decode("utf-8").split("\n") if line]
    assert record["text"] == text and out.labelled == 1
    assert [s["label"] for s in record["spans"]] == ["PER", "PER"]


# ---------------------------------------------------------------- the import edge (defects 3, 4, 5, 6, 7, 10, 17)

def dump(store: Store) -> list[str]:
    """Every table's content as SQL, to compare a database before and after a refused import."""
    return list(store.db.conn.iterdump())


def tagged(words: str, tags: str, line: int = 1) -> Sentence:
    """A sentence built in code, as an API caller of the store would."""
    ws, offsets, pos = words.split(" "), [], 0
    for w in ws:
        offsets.append((pos, pos + len(w)))
        pos += len(w) + 1
    return Sentence(ws, tags.split(), words, offsets, line=line)


def test_a_label_with_a_lone_surrogate_is_refused_before_anything_is_stored(tmp_path, capsys):
    """Defect 3: a JSONL label holding a lone surrogate ("P\\udc00") was imported, then `projects`, `export` and the
    app failed with UnicodeEncodeError for every project of the database."""
    path = tmp_path / "s.jsonl"
    path.write_text('{"text": "Ada met", "spans": [{"start": 0, "end": 3, "label": "P\\udc00"}]}\n')  # a JSON escape
    db = str(tmp_path / "n.db")
    assert cli.main(["--db", db, "init", "P"]) == 0
    assert cli.main(["--db", db, "import", "P", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"nerloop: error: {path}:1: span (0, 3): label 'P\\udc00' holds a lone surrogate U+DC00"
    assert cli.main(["--db", db, "projects"]) == 0 and "P" in capsys.readouterr().out
    store = Store(db)
    before = dump(store)
    with pytest.raises(formats.FormatError, match=r"^api:3: token 1 tag 'B-P\\udc00': label .* lone surrogate U\+DC00"):
        store.import_sentences(1, [tagged("Ada met", "B-P\udc00 O", line=3)], split="train", source_name="api")
    with pytest.raises(ValueError, match="lone surrogate"):
        store.create_project("Q", ["P\udc00"])
    with pytest.raises(ValueError, match="lone surrogate"):
        store.set_labels(1, ["P\udc00"])
    with pytest.raises(formats.FormatError, match=r"^api:1: text holds a lone surrogate U\+DC00 at character 5$"):
        store.import_sentences(1, [Sentence(["Ada"], None, "Ada \udc00", [(0, 3)])], split="train", source_name="api")
    assert dump(store) == before


OK_LINE = '{"text": "Ada met Bob"}\n'
RAW = [("deep.jsonl", OK_LINE + '{"text": "a", "x": ' + "[" * 50_000 + "]" * 50_000 + "}\n",
        "deep.jsonl:2: invalid JSON: nested too deeply"),
       ("big.jsonl", OK_LINE + '{"text": "a", "x": ' + "9" * 5000 + "}\n",
        "big.jsonl:2: invalid JSON: an integer of 5000 digits (at most 100)"),
       ("sur.jsonl", OK_LINE + '{"text": "Ada \\udc00 met"}\n',
        "sur.jsonl:2: text holds a lone surrogate U+DC00 at character 5")]


def test_raw_exceptions_become_file_line_problem(tmp_path, capsys):
    """Defect 10: deeply nested JSON gave RecursionError (exit 1), integers over 4,300 digits and lone surrogates
    exit 2 without file or line."""
    db = str(tmp_path / "n.db")
    assert cli.main(["--db", db, "init", "P"]) == 0
    for name, text, message in RAW:
        path = tmp_path / name
        path.write_text(text)
        assert cli.main(["--db", db, "import", "P", str(path)]) == 2
        assert capsys.readouterr().err.strip() == f"nerloop: error: {tmp_path}/{message}"
    with pytest.raises(formats.FormatError, match=r"^s\.conll:3: a lone surrogate U\+DC00 \(not valid Unicode\)$"):
        formats.loads("Ada O\r\nmet O\r\nB\udc00b O\n", name="s.conll")  # a str can hold one; CRLF counts once


def test_upload_shows_refused_files_as_file_line_problem(monkeypatch, tmp_path):
    """Defect 10 on the Upload page: these files showed a traceback box and the page stopped working."""
    store = Store(tmp_path / "nerloop.db")
    pid = store.create_project("news", ["PER"])
    at = open_app(pid, "pages/upload.py", monkeypatch=monkeypatch, db=tmp_path / "nerloop.db")
    at.file_uploader(key="upload_files").set_value([(name, text.encode(), "text/plain") for name, text, _ in RAW])
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors[:3] == [message for _, _, message in RAW] and at.button(key="upload_import").disabled


def test_cr_line_ends_are_line_ends_for_every_reader():
    """Defect 5: CR-only line ends (old Mac files) imported silently as one word per sentence."""
    conll = formats.loads(b"Ada B-PER\rmet O\r\rBob B-PER\r", name="mac.conll")
    assert [(s.words, s.tags, s.line) for s in conll.sentences] == [(["Ada", "met"], ["B-PER", "O"], 1),
                                                                   (["Bob"], ["B-PER"], 4)]
    jsonl = formats.loads(b'{"text": "Ada met"}\r{"text": "Bob"}\r', name="mac.jsonl")
    assert [s.words for s in jsonl.sentences] == [["Ada", "met"], ["Bob"]]
    text = formats.loads(b"Ada met Bob.\rBob met Ada.\r\rNew page here.\r", name="mac.txt")
    assert [(s.text, s.doc_id, s.line) for s in text.sentences] == [
        ("Ada met Bob.", "p-1", 1), ("Bob met Ada.", "p-1", 2), ("New page here.", "p-2", 4)]
    with pytest.raises(formats.FormatError, match=r"^mac\.conll:3: illegal tag 'X'$"):
        formats.loads(b"Ada O\r\nmet O\rBob X\r", name="mac.conll")


MALFORMED = [("B-B-PER", "label 'B-PER' looks like a tag"), ("B-O", "label 'O' is the outside tag"),
             ("B-PER,LOC", "label 'PER,LOC' holds a comma"), ("B-" + "X" * 5000, "has 5000 characters (at most 50)")]


@pytest.mark.parametrize("tag,problem", MALFORMED)
def test_malformed_labels_are_refused_by_every_reader_and_the_store(tmp_path, tag, problem):
    """Defect 6: `B-O`, `B-B-PER`, `PER,LOC`, a 5,000-character label were accepted and added to the project."""
    with pytest.raises(formats.FormatError, match=r"^a\.conll:2: ") as err:
        formats.loads(f"Ada O\nBob {tag}\n", name="a.conll")
    assert problem in err.value.problem
    record = {"text": "Ada met", "spans": [{"start": 0, "end": 3, "label": tag[2:]}]}
    with pytest.raises(formats.FormatError, match=r"^a\.jsonl:2: span \(0, 3\): ") as err:
        formats.loads(OK_LINE + json.dumps(record) + "\n", name="a.jsonl")
    assert problem in err.value.problem
    store = Store(tmp_path / "n.db")
    pid = store.create_project("P", [])
    before = dump(store)
    with pytest.raises(formats.FormatError, match=r"^api:4: token 2 tag ") as err:
        store.import_sentences(pid, [tagged("Ada Bob", f"O {tag}", line=4)], split="train", source_name="api")
    assert problem in err.value.problem
    with pytest.raises(ValueError, match="invalid label"):
        store.create_project("Q", ["PER", tag[2:]])
    assert dump(store) == before and store.project(pid).labels == []


def test_unknown_labels_stop_an_import_into_a_labelled_project(tmp_path, capsys):
    """Defect 6: `B-P` from a truncated file was added to a project that has PER, and `per` beside `PER`;
    docs/formats.md says an unknown tag stops the import. A project with labels takes a new type only when asked to."""
    store = Store(tmp_path / "n.db")
    pid = store.create_project("news", ["PER", "LOC"])
    cut = formats.loads("Ada B-PER\nLovelace I-PER\n\nBob B-P\n", name="cut.conll").sentences  # P is a sane name
    before = dump(store)
    with pytest.raises(formats.FormatError) as err:
        store.import_sentences(pid, cut, split="train", source_name="cut.conll")
    assert str(err.value) == "cut.conll:4: unknown label 'P' (known: LOC, PER)" + NEW_LABEL_HINT
    low = formats.loads("Ada B-per\n", name="low.conll").sentences
    with pytest.raises(formats.FormatError, match=r"^low\.conll:1: label 'per' differs from 'PER' only by case$"):
        store.import_sentences(pid, low, split="train", source_name="low.conll", new_labels=True)
    with pytest.raises(formats.FormatError, match=r"^mix\.conll:2: tag 'B-per': label 'per' differs from 'PER' only"):
        formats.loads("Ada B-PER\nBob B-per\n", name="mix.conll")
    with pytest.raises(ValueError, match="label 'per' differs from 'PER' only by case"):
        store.set_labels(pid, ["PER", "per"])
    assert dump(store) == before
    assert store.import_sentences(pid, cut, split="train", source_name="cut.conll", new_labels=True)["added"] == 2
    assert store.project(pid).labels == ["PER", "LOC", "P"]
    fresh = store.create_project("fresh", [])  # a project without labels takes its first import's
    store.import_sentences(fresh, cut, split="train")
    assert store.project(fresh).labels == ["P", "PER"]


def test_words_with_whitespace_are_refused_so_export_keeps_working(tmp_path):
    """Defect 7: words holding a space or tab (tab-separated `New York`, JSONL tokens with spaces) imported, then
    blocked the CoNLL export of the whole project."""
    with pytest.raises(formats.FormatError, match=r"^t\.tsv:2: word 'New York' holds a space \(a CoNLL word is one"):
        formats.loads("Ada\tB-PER\nNew York\tB-LOC\n", name="t.tsv")
    tokens = [{"text": "New York", "start": 0, "end": 8}, {"text": "fell", "start": 9, "end": 13}]
    with pytest.raises(formats.FormatError, match=r"^j\.jsonl:1: token 1: word 'New York' holds a space$"):
        formats.loads(json.dumps({"text": "New York fell", "tokens": tokens}) + "\n", name="j.jsonl")
    with pytest.raises(formats.FormatError, match=r"^s\.conll:1: word 'a\\x00b' holds a control character U\+0000$"):
        formats.loads("a\x00b O\n", name="s.conll")
    store = Store(tmp_path / "n.db")
    pid = store.create_project("P", ["LOC"])
    store.import_sentences(pid, [tagged("Oslo fell", "B-LOC O")], split="train")
    before = dump(store)
    for word, what in (("New York", "a space"), ("New\tYork", "a tab"), ("New\u00a0York", "whitespace U+00A0"),
                       ("New\x1fYork", "whitespace U+001F"), ("", "is empty")):
        s = Sentence([word, "fell"], ["B-LOC", "O"], f"{word} fell", [(0, len(word)), (len(word) + 1, len(word) + 5)])
        with pytest.raises(formats.FormatError, match=r"^api:1: word 1 ") as err:
            store.import_sentences(pid, [s], split="train", source_name="api")
        assert what in err.value.problem
    assert dump(store) == before
    out = export.export_annotations(store, pid, splits=["train"], fmt="conll")
    assert out.data.decode("utf-8") == "Oslo B-LOC\nfell O\n\n"


def test_docstart_only_txt_is_an_empty_conll_file():
    """Defect 17: a `.txt` holding only `-DOCSTART-` lines imported as a text sentence."""
    for data in ("-DOCSTART-\n", "-DOCSTART- -X- -X- O\n\n-DOCSTART-\n"):
        with pytest.raises(formats.FormatError, match=r"^d\.txt:1: empty file \(only -DOCSTART- lines, no sentence\)$"):
            formats.loads(data, name="d.txt")


def test_a_byte_order_mark_is_an_encoding_mark_dropped_by_every_reader(tmp_path):
    """Defect 17: a leading U+FEFF on the first word was lost on round trip. Decision: U+FEFF at the start of a file
    (bytes or str) is an encoding mark, dropped by every reader; U+FEFF inside a word is refused with file:line, so no
    stored word holds one and a project's export reads back to exactly its words."""
    for name, body in (("a.conll", "Ada B-PER\nmet O\n"), ("a.jsonl", '{"text": "Ada met"}\n'), ("a.txt", "Ada met\n")):
        plain = [(s.words, s.text, s.offsets) for s in formats.loads(body, name=name).sentences]
        for data in ("\ufeff" + body, ("\ufeff" + body).encode("utf-8")):
            assert [(s.words, s.text, s.offsets) for s in formats.loads(data, name=name).sentences] == plain
    for name, body, line in (("b.conll", "Ada O\n\ufeffmet O\n", 2), ("b.jsonl", OK_LINE + '{"text": "\\ufeffAda"}\n', 2),
                             ("b.txt", "Ada met.\n\ufeffBob ran.\n", 2)):
        with pytest.raises(formats.FormatError, match=rf"^b\.{name[2:]}:{line}: .*U\+FEFF \(a byte-order mark\)"):
            formats.loads(body, name=name)
    store = Store(tmp_path / "n.db")
    pid = store.create_project("P", ["PER"])
    with pytest.raises(formats.FormatError, match=r"U\+FEFF"):
        store.import_sentences(pid, [tagged("\ufeffAda met", "B-PER O")], split="train")
    store.import_sentences(pid, formats.loads("\ufeffAda B-PER\nmet O\n", name="a.conll").sentences, split="train")
    for fmt in ("conll", "jsonl"):
        out = export.export_annotations(store, pid, splits=["train"], fmt=fmt)
        back = formats.loads(out.data, name=f"out.{fmt}").sentences
        assert [(s.words, s.tags) for s in back] == [(r.words, r.tags) for r in store.sentences(pid)]
    assert store.sentences(pid)[0].words == ["Ada", "met"]


def test_a_multi_file_import_is_one_transaction(tmp_path, capsys):
    """Defect 4: `nerloop import P good.conll bad.jsonl` kept good.conll's sentences after the error."""
    good, bad = tmp_path / "good.conll", tmp_path / "bad.jsonl"
    good.write_text("Ada B-PER\nmet O\nBob B-PER\n")
    bad.write_text(OK_LINE + json.dumps({"text": "Oslo fell", "spans": [{"start": 0, "end": 4, "label": "LOC"}]}))
    db = str(tmp_path / "n.db")
    assert cli.main(["--db", db, "init", "P", "--labels", "PER"]) == 0
    store = Store(db)
    before = dump(store)
    assert cli.main(["--db", db, "import", "P", str(good), str(bad)]) == 2  # bad.jsonl parses; the store refuses it
    assert capsys.readouterr().err.strip() == (f"nerloop: error: {bad}:2: unknown label 'LOC' (known: PER); "
                                               "--new-labels adds it")
    assert dump(store) == before
    batches = [(formats.read(good).sentences, "train", "good.conll"),
               ([tagged("Ada met", "B-PER O"), tagged("Bob ran", "B-PER", line=2)], "dev", "api")]
    with pytest.raises(formats.FormatError, match=r"^api:2: 1 tags for 2 words$"):
        store.import_many(1, batches)
    assert dump(store) == before
    batches[1] = (formats.read(good).sentences, "dev", "again.conll")  # the same file twice: the second adds nothing
    assert store.import_many(1, batches) == [{"added": 1, "duplicates": 0, "annotated": 1},
                                             {"added": 0, "duplicates": 1, "annotated": 0}]


def test_upload_imports_every_file_in_one_transaction(monkeypatch, tmp_path):
    """Defect 4 on the Upload page: each file was committed on its own, so a failure kept the files before it."""
    store = Store(tmp_path / "nerloop.db")
    pid = store.create_project("news", ["PER"])
    before = dump(store)
    at = open_app(pid, "pages/upload.py", monkeypatch=monkeypatch, db=tmp_path / "nerloop.db")
    at.file_uploader(key="upload_files").set_value([("a.conll", b"Ada B-PER\nmet O\n", "text/plain"),
                                                    ("b.conll", b"Bob B-PER\nran O\n", "text/plain")]).run()
    for key in ("upload_split_0_a.conll", "upload_split_1_b.conll"):
        at.selectbox(key=key).set_value("train")
    at.run()
    calls = []
    batch = Store._import_batch

    def second_fails(self, *args, **kwargs):  # the second file fails inside the transaction (as a full disk would)
        calls.append(args[3])
        if len(calls) == 2:
            raise formats.FormatError(args[3], 1, "refused")
        return batch(self, *args, **kwargs)

    monkeypatch.setattr(Store, "_import_batch", second_fails)
    at.button(key="upload_import").click().run()
    assert not at.exception and calls == ["a.conll", "b.conll"]
    assert [e.value for e in at.error] == [r"b\.conll:1: refused"]  # Markdown-escaped
    assert dump(store) == before
    monkeypatch.setattr(Store, "_import_batch", batch)
    at.button(key="upload_import").click().run()
    assert store.counts(pid)["by_split"]["train"] == 2


def test_upload_asks_before_adding_labels_to_a_labelled_project(monkeypatch, tmp_path):
    """Defect 6 on the Upload page: new labels were added to the project without asking."""
    store = Store(tmp_path / "nerloop.db")
    pid = store.create_project("news", ["PER"])
    at = open_app(pid, "pages/upload.py", monkeypatch=monkeypatch, db=tmp_path / "nerloop.db")
    at.file_uploader(key="upload_files").upload("a.conll", b"Ada B-PER\nin O\nOslo B-LOC\n", "text/plain").run()
    at.selectbox(key="upload_split_0_a.conll").set_value("train").run()
    assert at.button(key="upload_import").disabled and "not among the project's labels" in at.error[0].value
    at.checkbox(key="upload_new_labels").check().run()
    assert not at.button(key="upload_import").disabled
    at.button(key="upload_import").click().run()
    assert store.project(pid).labels == ["PER", "LOC"] and store.counts(pid)["by_split"]["train"] == 1
    at.file_uploader(key="upload_files").upload("b.conll", b"Bob B-per\n", "text/plain").run()
    assert at.button(key="upload_import").disabled
    assert at.error[0].value == "label 'per' differs from 'PER' only by case"


# ---------------------------------------------------------------- the database and the app (defects 11, 12, 15, 16)

def sample_db(path: Path) -> int:
    """A database at `path` with project "news" of one annotated sentence, closed (its WAL merged): the project id."""
    store = Store(path)
    pid = store.create_project("news", ["PER"])
    store.import_sentences(pid, [tagged("Ada met Bob", "B-PER O B-PER")], split="train")
    store.close()
    return pid


def test_a_database_deleted_or_replaced_under_a_running_app_refuses_saves(monkeypatch, tmp_path):
    """Defect 12: with the database deleted while the app ran, saves were reported done into the deleted file."""
    db = tmp_path / "nerloop.db"
    pid = sample_db(db)
    store = Store(db)
    sid = store.sentences(pid)[0].id
    store.annotate(sid, ["O", "O", "B-PER"])
    db.unlink()
    with pytest.raises(StoreError, match=f"^{db} was deleted or replaced while nerloop had it open"):
        store.annotate(sid, ["B-PER", "O", "O"])
    assert store.effective(sid).tags == ["O", "O", "B-PER"]  # rolled back, not acknowledged
    other, fresh = tmp_path / "other.db", tmp_path / "fresh.db"
    sample_db(other), sample_db(fresh)
    again = Store(other)
    os.replace(fresh, other)  # another file in its place
    with pytest.raises(StoreError, match="deleted or replaced"):
        again.save_draft(1, ["O", "O", "O"])
    assert Store(other).draft(1) is None

    sample_db(db)
    at = open_app(pid, "pages/annotate.py", monkeypatch=monkeypatch, db=db)
    db.unlink()
    at.run()
    assert not at.exception
    assert any(e.value.startswith("nerloop\\.db was deleted or replaced while nerloop had it open") for e in at.error)
    assert not any(str(tmp_path) in e.value for e in at.error)


def test_a_new_database_beside_signs_of_earlier_use_is_noted(monkeypatch, tmp_path, capsys):
    """Defect 12: after the database was deleted, the next start silently made a new (demo) database."""
    db = tmp_path / "data" / "nerloop.db"
    (tmp_path / "data" / "models" / "news").mkdir(parents=True)
    assert cli.main(["--db", str(db), "init", "fresh"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"nerloop: note: no database nerloop.db in {db.parent}, though that folder holds model "
                          "versions (models/) of earlier use")
    assert cli.main(["--db", str(tmp_path / "clean.db"), "init", "x"]) == 0 and capsys.readouterr().err == ""

    monkeypatch.setenv("NERLOOP_HOME", str(tmp_path / "home"))
    app_db = tmp_path / "app" / "nerloop.db"
    (tmp_path / "app" / "logs").mkdir(parents=True)
    (tmp_path / "app" / "logs" / "job-3.log").write_text("done\n")
    at = open_app(monkeypatch=monkeypatch, db=app_db)
    [note] = [w.value for w in at.sidebar.warning]
    assert note.startswith("no database nerloop\\.db in app, though that folder holds job logs \\(logs/\\) of earlier "
                           "use; a new one is made")
    assert f"no database nerloop.db in {app_db.parent}" in (tmp_path / "home" / "logs" / "app.log").read_text()


def test_a_read_only_folder_opens_the_database_read_only(monkeypatch, tmp_path, capsys):
    """Defect 15: in a read-only data folder every command failed, reads included, and the message did not say
    read-only. Tests run as root (permission bits stop no write), so the folder is made unwritable to os.access."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "nerloop.db"
    pid = sample_db(db)
    before = db.read_bytes()
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: access(path, mode, **kw) and not (
        mode & os.W_OK and Path(path).resolve().is_relative_to(folder)))
    store = Store(db)
    assert store.sentences(pid)[0].tags == ["B-PER", "O", "B-PER"]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # read-only in SQLite itself, not only here
        store.db.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match=f"^{db} is read-only \\(the folder {folder} is not writable\\)"):
        store.annotate(store.sentences(pid)[0].id, ["O", "O", "O"])
    store.close()

    assert cli.main(["--db", str(db), "projects"]) == 0 and "news" in capsys.readouterr().out
    out = tmp_path / "out.conll"
    assert cli.main(["--db", str(db), "export", "news", "--out", str(out)]) == 0 and "Ada" in out.read_text()
    capsys.readouterr()
    assert cli.main(["--db", str(db), "init", "other"]) == 1
    assert capsys.readouterr().err == f"nerloop: error: {db} is read-only (the folder {folder} is not writable): " \
                                      "nothing was saved\n"
    assert cli.main(["--db", str(folder / "new.db"), "init", "other"]) == 1
    assert "cannot create the database" in capsys.readouterr().err and not (folder / "new.db").exists()
    at = open_app(pid, monkeypatch=monkeypatch, db=db)
    assert not at.error and any("news" in m.value for m in at.markdown)
    assert db.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["nerloop.db"]


def test_a_damaged_database_is_refused_at_open(monkeypatch, tmp_path, capsys):
    """Defect 16: a corrupted database accepted imports, and the app showed raw tracebacks."""
    db = tmp_path / "nerloop.db"
    store = Store(db)
    pid = store.create_project("news", ["PER"])
    store.import_sentences(pid, [tagged(f"Ada met Bob{i}", "B-PER O B-PER") for i in range(400)], split="train")
    store.close()
    data = bytearray(db.read_bytes())
    data[-4096:-4088] = b"\x0d\xff\xff\xff\xff\xff\xff\xff"  # the last page's b-tree header
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=f"^{db}: the database is damaged .*restore it from a backup"):
        Store(db)
    sample = tmp_path / "s.conll"
    sample.write_text("Eve B-PER\n")
    for argv in (["import", "news", str(sample)], ["projects"]):
        assert cli.main(["--db", str(db), *argv]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"nerloop: error: {db}: the database is damaged") and "backup" in err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert db.read_bytes() == bytes(data)
    at = open_app(monkeypatch=monkeypatch, db=db)
    [error] = at.error
    assert error.value.startswith("Something went wrong: StoreError: nerloop\\.db: the database is damaged")
    assert str(tmp_path) not in error.value


def test_a_page_error_shows_one_short_line_and_logs_the_details(monkeypatch, tmp_path):
    """Defect 11: tracebacks with server paths reached the browser; now a short error, the details in app.log."""
    import streamlit as st

    from pages import home

    def render() -> None:
        raise RuntimeError(f"cannot read {tmp_path}/secret/config_x.py (line 3)\n  second line")

    monkeypatch.setattr(home, "render", render)
    monkeypatch.setenv("NERLOOP_HOME", str(tmp_path / "home"))
    at = open_app(monkeypatch=monkeypatch, db=tmp_path / "nerloop.db")  # no exception element
    assert [e.value for e in at.error] == [
        "Something went wrong: RuntimeError: cannot read config\\_x\\.py \\(line 3\\). Details are in app\\.log."]
    log = (tmp_path / "home" / "logs" / "app.log").read_text()
    assert "Traceback (most recent call last)" in log and f"{tmp_path}/secret/config_x.py" in log

    def control() -> None:  # st.rerun and st.stop raise BaseException subclasses: they pass the boundary
        if not st.session_state.get("reran"):
            st.session_state["reran"] = True
            st.rerun()
        st.markdown("after rerun")
        st.stop()
        st.markdown("after stop")

    monkeypatch.setattr(home, "render", control)
    at = open_app(monkeypatch=monkeypatch, db=tmp_path / "nerloop.db")
    assert not at.error and [m.value for m in at.markdown if m.value.startswith("after")] == ["after rerun"]
# ---------------------------------------------------------------- model folders and jobs (defects 1, 2, 13, 14)

QUICK = {"epochs": 1, "min_steps": 4, "batch_size": 16, "lr": 1e-3, "device": "cpu", "promote": "always",
         "patience": 0}  # a few steps: the folders matter here, not the model


def news(db, name: str) -> tuple[Store, int]:
    """A project `name` in database `db`: sample.conll as train, sample_dev.conll as dev."""

    data = Path(__file__).parent / "data"
    store = Store(db)
    pid = store.create_project(name, ["PER", "LOC", "ORG", "MISC"])
    store.import_sentences(pid, formats.read(data / "sample.conll").sentences, split="train")
    store.import_sentences(pid, formats.read(data / "sample_dev.conll").sentences, split="dev")
    return store, pid


def test_two_databases_in_one_folder_keep_their_own_model_folders(tmp_path, tiny_model):
    """Defect 1: two databases in one folder (each with a `demo` project) wrote the same models/demo/job-1, and the
    second training replaced the first database's serving model."""

    (a, pa), (b, pb) = news(tmp_path / "a.db", "demo"), news(tmp_path / "b.db", "demo")
    first = jobs.execute(a, jobs.create(a, pa, {**QUICK, "model": tiny_model}))
    folder = Path(a.model(first["model_id"]).folder)
    weights = (folder / "model.safetensors").read_bytes()
    second = jobs.execute(b, jobs.create(b, pb, {**QUICK, "model": tiny_model, "seed": 7}))
    other = Path(b.model(second["model_id"]).folder)
    assert first["job_id"] == second["job_id"] == 1 and folder != other
    assert folder.is_relative_to(tmp_path / "models" / a.uuid) and other.is_relative_to(tmp_path / "models" / b.uuid)
    assert a.serving(pa).folder == str(folder) and (folder / "model.safetensors").read_bytes() == weights


def test_project_names_never_become_paths(tmp_path, tiny_model):
    """Defect 2: a project named "../../somewhere" (or an absolute path) wrote its model folders outside the data
    folder, and save_atomic replaced a `job-N` folder that was already there."""

    data = tmp_path / "data"
    data.mkdir()
    store, pid = news(data / "n.db", "../../somewhere")
    absolute = store.create_project(str(tmp_path / "anywhere"), ["PER"])
    assert versions.model_root(store, pid) == data / "models" / store.uuid / str(pid)
    assert versions.model_root(store, absolute) == data / "models" / store.uuid / str(absolute)
    planted = versions.model_root(store, pid) / "job-1"  # a folder the job did not make (say a copied database's)
    planted.mkdir(parents=True)
    (planted / "metrics.json").write_text('{"dev": "theirs"}')
    result = jobs.execute(store, jobs.create(store, pid, {**QUICK, "model": tiny_model}))
    folder = Path(store.model(result["model_id"]).folder)
    assert folder == planted.with_name("job-1-2") and (folder / "config.json").is_file()
    assert (planted / "metrics.json").read_text() == '{"dev": "theirs"}' and not (planted / "config.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing written outside the data folder
    notes = tmp_path / "notes"  # and a save never replaces a folder that is not a model folder
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a model folder"):
        save_atomic(Tagger.load(str(folder), device="cpu"), notes, {})
    assert [p.name for p in notes.iterdir()] == ["todo.txt"]


def test_a_killed_save_leaves_nothing_behind_after_the_next_start(tmp_path, tiny_model, monkeypatch, caplog, capsys):
    """Defect 13: `kill -9` during the save left hidden `.job-N.tmp-PID` folders forever, and a kill between the
    rename and the registration left a complete but unregistered folder (the training was lost)."""

    db = tmp_path / "n.db"
    store, pid = news(db, "news")

    def killed(*args, **kwargs):  # the process dies after the rename into place, before the version is recorded
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as m:
        m.setattr(Store, "add_model", killed)
        with pytest.raises(KeyboardInterrupt):
            jobs.execute(store, jobs.create(store, pid, {**QUICK, "model": tiny_model}))
    root = versions.model_root(store, pid)
    assert store.models(pid) == [] and (root / "job-1" / "config.json").is_file()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    leftovers = {name: root / name for name in (f".job-1.tmp-{gone.pid}", f".job-2.tmp-{os.getpid()}",
                                                f".job-3.tmp-{os.getpid()}", "job-4")}
    for folder in leftovers.values():
        folder.mkdir()
    (leftovers[f".job-1.tmp-{gone.pid}"] / "model.safetensors").write_bytes(b"half")  # its writer is gone
    day_ago = time.time() - 86400  # written before this process started: not by it
    os.utime(leftovers[f".job-2.tmp-{os.getpid()}"], (day_ago, day_ago))
    running = store.create_job(pid, "train", {})  # a temp folder of a live writer and a running job's are kept
    store.update_job(running, status="running", pid=os.getpid(), pid_started=procs.start_time())
    (root / f"job-{running}").mkdir()
    foreign = root / "job-99"  # complete, but no job of this database made it (a copy of the database did, say)
    foreign.mkdir()
    (foreign / "config.json").write_text("{}")
    (foreign / "metrics.json").write_text("{}")
    caplog.set_level(logging.INFO, logger="core.versions")
    assert cli.main(["--db", str(db), "models", "news"]) == 0  # opening a project's models tidies up
    listed = capsys.readouterr().out
    [model] = store.models(pid)
    assert model.folder == str(root / "job-1") and model.name in listed and store.serving(pid) is None
    assert model.metrics["recovered"] and model.metrics["dev"]["micro"]["f1"] is not None
    assert model.base_model == tiny_model and store.job(1).model_id == model.id
    assert sorted(p.name for p in root.iterdir()) == sorted(["job-1", f".job-3.tmp-{os.getpid()}", f"job-{running}",
                                                              "job-99"])
    logged = caplog.text
    assert f"registered {root / 'job-1'}" in logged and f"removed {leftovers['job-4']}" in logged
    assert f"{foreign} left as it is: no job of this database made it" in logged


def test_a_reused_pid_is_not_the_job(tmp_path):
    """Defect 14: a stale job row whose PID was reused: the job looked alive, and `nerloop jobs cancel` killed an
    unrelated process."""

    store = Store(tmp_path / "n.db")
    pid = store.create_project("p", ["PER"])
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = psutil.Process(stranger.pid).create_time()
        stale = store.create_job(pid, "train", {})
        store.update_job(stale, status="running", pid=stranger.pid, pid_started=started - 3600)
        assert jobs.reap(store, pid) == [stale] and store.job(stale).status == "failed"
        other = store.create_job(pid, "train", {})
        store.update_job(other, status="running", pid=stranger.pid, pid_started=started - 3600)
        assert cli.main(["--db", str(tmp_path / "n.db"), "jobs", "cancel", str(other)]) == 0
        assert store.job(other).status == "cancelled" and stranger.poll() is None  # not killed
        mine = store.create_job(pid, "train", {})  # the same process with its own start time is the job's
        store.update_job(mine, status="running", pid=stranger.pid, pid_started=started)
        assert jobs.reap(store, pid) == []
        jobs.cancel(store, mine)
        assert stranger.wait(timeout=10) != 0  # terminated
    finally:
        stranger.kill()
        stranger.wait()


# ---------------------------------------------------------------- large inputs (defect 9)

def big_conll(folder: Path, n_bytes: int) -> Path:
    """A CoNLL file of about n_bytes in `folder` (never the repository): CoNLL-2003's train where it lies beside the
    repository, else the tests' sample, repeated with new sentences (the robustness benchmark's generator)."""
    source = CONLL2003 if CONLL2003.is_file() else Path(__file__).parent / "data" / "sample.conll"
    generate_conll(folder / "big.conll", n_bytes, source)
    return folder / "big.conll"


def test_a_streamed_import_matches_the_in_memory_one_and_stays_atomic(tmp_path, monkeypatch):
    """Defect 9: a 50 MB file took 2.7 GB (every sentence in memory). Now files are read and written a chunk at a time
    in one transaction: the result equals read + import_many, and a bad line at the end leaves nothing behind."""
    monkeypatch.setattr("core.store.projects._CHUNK", 200)  # several chunks even on the small sample
    path = big_conll(tmp_path, 1_000_000)
    stream = formats.iter_read(path)
    corpus = formats.read(path)
    assert list(stream) == corpus.sentences and (stream.scheme, stream.sep) == (corpus.scheme, corpus.sep)
    stores = [Store(tmp_path / f"{name}.db") for name in ("memory", "stream")]
    for store in stores:
        store.create_project("news", [])
    counts = {"added": len(corpus.sentences), "duplicates": 0, "annotated": len(corpus.sentences)}
    assert stores[0].import_many(1, [(corpus.sentences, "train", str(path))]) == [counts]
    assert stores[1].import_many(1, [(formats.iter_read(path), None, str(path))]) == [counts | {"split": "train"}]
    created = re.compile(r"'\d{4}-\d\d-\d\dT[\d:.+]+'")  # the import time differs, nothing else

    def content(store: Store) -> list[str]:  # each database's own UUID aside
        return [created.sub("T", line) for line in dump(store) if not line.startswith('INSERT INTO "meta"')]

    assert content(stores[0]) == content(stores[1])

    bad = tmp_path / "bad.conll"  # every sentence new to the project, then a bad row on the last line
    text = re.sub(r"(?m)^(?!-DOCSTART-)(\S+) ", r"\1x ", path.read_text()) + "\nword\n"
    bad.write_text(text)
    before = dump(stores[1])
    with pytest.raises(formats.FormatError, match=r"bad\.conll:\d+: expected \d columns, found 1") as refused:
        stores[1].import_many(1, [(formats.iter_read(bad), None, str(bad))])
    assert refused.value.line == text.count("\n")  # read to the end: the chunks before it were written, then undone
    assert dump(stores[1]) == before
    assert cli.main(["import", "--db", str(tmp_path / "stream.db"), "news", str(bad)]) == 2
    assert dump(stores[1]) == before


def test_the_block_reader_splits_lines_as_the_whole_file_decoder(tmp_path):
    """Defect 9: the streaming reader decodes a block at a time; CRLF, a BOM and bad UTF-8 across block edges read as
    when the whole file is decoded, with the same line numbers."""
    data = "\ufeffAda B-PER\r\nmet O\rBob B-PER\n\r\nOslo é B-LOC\r".encode()
    for block in (1, 2, 3, 5, 64):
        assert list(read_lines(data, "f", block)) == decode(data, "f").split("\n")
        bad = data[:-4] + b"\xff" + data[-4:]
        with pytest.raises(formats.FormatError) as whole:
            decode(bad, "f")
        with pytest.raises(formats.FormatError) as streamed:
            list(read_lines(bad, "f", block))
        assert str(streamed.value) == str(whole.value) == "f:5: invalid UTF-8 byte 0xff"
