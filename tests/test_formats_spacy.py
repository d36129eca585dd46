"""The spacy format: DocBin files made by spaCy come through a project with their words, entities and documents;
without spaCy a clear message names the install command."""
from __future__ import annotations

import sys

import pytest
import spacy
from spacy.tokens import DocBin

from core import formats
from core.store import Store
from tests.test_cli import ok, run

TEXTS = [("Ann Lee flew to New York on Monday.", [(0, 7, "PER"), (16, 24, "LOC")], "trip-1"),
         ("Nothing happened there.", [], "trip-1"),
         ("Acme hired  Bo .", [(0, 4, "ORG"), (12, 14, "PER")], "hr-2")]


def _docbin(nlp) -> bytes:
    """Docs tokenised by a blank English pipeline, entities set, a document name in user_data."""
    docbin = DocBin(store_user_data=True)
    for text, ents, name in TEXTS:
        doc = nlp(text)
        doc.set_ents([doc.char_span(a, b, label=label) for a, b, label in ents], default="outside")
        doc.user_data["doc_id"] = name
        docbin.add(doc)
    unlabelled = nlp("Kim waited.")  # no entity annotation: imported unlabelled
    docbin.add(unlabelled)
    return docbin.to_bytes()


def test_a_docbin_goes_through_a_project_with_its_words_entities_and_documents(tmp_path):
    nlp = spacy.blank("en")
    src, out, db = tmp_path / "train.spacy", tmp_path / "out.spacy", str(tmp_path / "n.db")
    src.write_bytes(_docbin(nlp))
    ok("--db", db, "init", "trips", "--labels", "PER,LOC,ORG")
    assert "3 annotated" in ok("--db", db, "import", "trips", str(src))
    ok("--db", db, "export", "trips", "--out", str(out), "--unlabeled")
    store = Store(db)
    rows = store.sentences(store.project("trips").id)
    assert [r.document for r in rows] == ["trip-1", "trip-1", "hr-2", None]
    store.close()
    before = list(DocBin().from_bytes(src.read_bytes()).get_docs(nlp.vocab))
    after = list(DocBin().from_bytes(out.read_bytes()).get_docs(nlp.vocab))
    assert [d.text for d in after] == [d.text for d in before]
    assert [[t.text for t in d] for d in after] == [[t.text for t in d] for d in before]
    assert [[(e.text, e.label_) for e in d.ents] for d in after] == [[(e.text, e.label_) for e in d.ents]
                                                                    for d in before]
    assert [d.has_annotation("ENT_IOB") for d in after] == [True, True, True, False]
    assert [d.user_data.get("doc_id") for d in after] == ["trip-1", "trip-1", "hr-2", None]


def test_a_doc_with_sentence_boundaries_gives_one_sentence_each():
    nlp = spacy.blank("en")
    doc = nlp("Ann sang.  Bo danced in Paris.")
    for token in doc:
        token.is_sent_start = token.i in (0, 3)
    doc.set_ents([doc.char_span(0, 3, label="PER"), doc.char_span(24, 29, label="LOC")], default="outside")
    docbin = DocBin()
    docbin.add(doc)
    back = formats.loads(docbin.to_bytes(), name="s.spacy")
    assert [(s.words, s.tags, s.text) for s in back.sentences] == [
        (["Ann", "sang", "."], ["B-PER", "O", "O"], "Ann sang."),
        (["Bo", "danced", "in", "Paris", "."], ["O", "O", "O", "B-LOC", "O"], "Bo danced in Paris.")]
    assert back.sentences[1].offsets[3] == (13, 18)


def test_a_bad_docbin_is_an_error_naming_the_file_and_nothing_is_imported(tmp_path):
    bad = tmp_path / "bad.spacy"
    bad.write_bytes(b"this is not a DocBin")
    with pytest.raises(formats.FormatError, match=r"bad\.spacy:1: not a spaCy DocBin file"):
        formats.read(bad)
    db = str(tmp_path / "n.db")
    ok("--db", db, "init", "p", "--labels", "PER")
    code, _, err = run("--db", db, "import", "p", str(bad))
    assert code == 2 and "bad.spacy:1: not a spaCy DocBin file" in err
    store = Store(db)
    assert store.sentences(store.project("p").id) == []
    store.close()


def test_without_spacy_the_message_names_the_install_command(tmp_path, monkeypatch):
    data = formats.dumps(formats.loads("Ann B-PER\n", name="a.conll").sentences, "spacy")
    monkeypatch.setitem(sys.modules, "spacy", None)  # `import spacy` now fails as if it were not installed
    with pytest.raises(formats.FormatError, match=r"a\.spacy:1: .*pip install nerloop\[spacy\]"):
        formats.loads(data, name="a.spacy")
    with pytest.raises(ImportError, match=r"pip install nerloop\[spacy\]"):
        formats.dumps(formats.loads("Ann B-PER\n", name="a.conll").sentences, "spacy")
    db = str(tmp_path / "n.db")
    ok("--db", db, "init", "p", "--labels", "PER")
    ok("--db", db, "import", "p", "--format", "conll", "--split", "train", str(_write(tmp_path, "a.conll")))
    code, _, err = run("--db", db, "export", "p", "--out", str(tmp_path / "o.spacy"))
    assert code == 2 and "pip install nerloop[spacy]" in err and not (tmp_path / "o.spacy").exists()
    code, _, err = run("--db", db, "import", "p", "--format", "spacy", str(tmp_path / "x.spacy"))
    assert code == 2 and err.strip().endswith("the spacy format needs spacy: pip install nerloop[spacy]")
    assert not formats.get("spacy").available() and formats.get("conll").available()


def _write(folder, name: str):
    path = folder / name
    path.write_text("Ann B-PER\nran O\n")
    return path
