"""Formats of other tools (Prodigy, doccano, Label Studio, BRAT, WebAnno): hand-written files in each tool's layout
import with their sentences, tags and annotators; malformed ones name file and line and import nothing; round trips
through a project; the registry's sniffing; plain-text sentence splitting."""
import io
import zipfile
from pathlib import Path

import pytest

from core import annotate, cli, export, formats, versions
from core.formats import FormatError, loads, read, split_sentences

DATA = Path(__file__).parent / "data" / "formats"


def tagged(corpus):
    return [(s.words, s.tags) for s in corpus.sentences]


def imported(store, path, fmt=None):
    """Import one file into a new project; (project id, [(words, tags, source, annotator)])."""
    pid = store.create_project(Path(path).name, [])
    store.import_many(pid, [(formats.iter_read(path, fmt=fmt), None, str(path))])
    rows = store.sentences(pid)
    return pid, [(r.words, r.tags, r.source,
                  store.history(r.id)[-1].annotator if r.tags is not None else None) for r in rows]


def test_prodigy_keeps_accepted_records_and_their_annotators(store):
    c = read(DATA / "prodigy.jsonl")
    assert c.fmt == "prodigy"
    assert {k: n for k, n in c.notes.items() if k.startswith("records")} == {
        "records with answer reject kept unlabelled (not gold)": 1,
        "records with answer ignore kept unlabelled (not gold)": 1}
    _, rows = imported(store, DATA / "prodigy.jsonl")
    assert [row for row in rows if row[1] is not None] == [
        (["Ada", "Lind", "flew", "to", "Oslo", "."], ["B-PER", "I-PER", "O", "O", "B-LOC", "O"], "gold", "news-ada"),
        (["Acme", "Corp", "hired", "Kim", "."], ["B-ORG", "I-ORG", "O", "B-PER", "O"], "gold", "news-kim")]
    assert c.sentences[0].doc_id == "news-1"


def test_prodigy_reject_is_not_gold(store):
    pid, rows = imported(store, DATA / "prodigy.jsonl")
    assert [(words[:2], tags) for words, tags, *_ in rows if words[:2] in (["Bo", "works"], ["Kim", "met"])] == [
        (["Bo", "works"], None), (["Kim", "met"], None)]  # kept, unlabelled, their answer carried for Prodigy
    assert len(versions.training_data(store, pid)[0]) == 2


def test_doccano_both_variants():
    c = read(DATA / "doccano.jsonl")
    assert c.fmt == "doccano"
    assert tagged(c) == [
        (["UN", "thanks", "Danish", "call", "to", "support", "Swiss", "wine", "."],
         ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]),
        (["Maria", "Lindqvist"], ["B-PER", "I-PER"]), (["OSLO", "2001-03-14"], ["O", "O"])]
    assert tagged(read(DATA / "doccano_entities.jsonl")) == [
        (["Anna", "Berg", "lives", "in", "Bergen", "."], ["B-PER", "I-PER", "O", "O", "B-LOC", "O"])]


def test_label_studio_latest_annotation_and_predictions_not_gold(store):
    c = read(DATA / "labelstudio.json")
    assert c.fmt == "labelstudio" and c.notes["predictions kept as model suggestions (never gold)"] == 2
    pid, rows = imported(store, DATA / "labelstudio.json")
    # the latest non-cancelled annotation (user 3) wins over the earlier one and the later cancelled one
    assert rows[0] == (["Maria", "Okonkwo", "visited", "Port", "Alder", "."],
                       ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"], "gold", "3")
    assert rows[1] == (["The", "ferry", "left", "at", "dawn", "."], None, None, None)  # a prediction only: no gold
    assert c.sentences[0].line == 2 and c.sentences[1].line == 25
    # the predictions are kept as model suggestions: what Annotate opens an unlabelled sentence with, never a label
    first, second = (r.id for r in store.sentences(pid))
    blank = ["O"] * 6
    assert annotate.opening_tags(store, second, opened=None, predicted=None, matched=blank) == (
        ["O", "B-ORG", "O", "O", "O", "O"], "Label Studio ner-v1")
    suggested = store.suggestion(first)
    assert (suggested.source, suggested.tags) == ("model", ["O", "O", "O", "B-ORG", "I-ORG", "O"])
    assert annotate.opening_tags(store, first, opened=store.effective(first).tags, predicted=None,
                                 matched=blank)[1] == "label"
    assert store.project(pid).labels == ["LOC", "ORG", "PER"]  # a suggestion's label joins the project's
    train, _ = versions.training_data(store, pid)
    assert [r.id for r in train] == [first] and train[0].tags[3] == "B-LOC"  # the annotation, not the ORG
    pid2 = store.create_project("only predictions", ["ORG"])
    store.import_many(pid2, [([c.sentences[1]], None, "ls.json")])  # predictions only: an unlabelled sentence
    assert [(r.split, r.tags) for r in store.sentences(pid2)] == [("unlabeled", None)]
    assert versions.training_data(store, pid2) == ([], [])
    jl = read(DATA / "labelstudio.jsonl")
    assert jl.fmt == "labelstudio" and jl.sentences[0].annotator == "5"
    assert tagged(jl) == [(["Lee", "joined", "Acme", "."], ["B-PER", "O", "B-ORG", "O"])]


def test_brat_folder_and_zip(tmp_path):
    c = read(DATA / "brat")
    assert c.fmt == "brat" and c.notes["words split at span edges"] == 1  # "Acmeco": the entity is "Acme"
    assert [(s.doc_id, s.words, s.tags) for s in c.sentences] == [
        ("doc1", ["Anna", "Berg", "met", "the", "Acme", "board", "in", "Oslo", "."],
         ["B-PER", "I-PER", "O", "O", "B-ORG", "O", "O", "B-LOC", "O"]),
        ("doc1", ["She", "left", "early", "."], ["O"] * 4), ("doc1", ["Bo", "stayed", "."], ["O"] * 3),
        ("doc2", ["The", "Acme", "co", "merger", "closed", "."], ["O", "B-ORG", "O", "O", "O", "O"])]
    assert c.sentences[3].text == "The Acmeco merger closed." and c.sentences[3].offsets[1:3] == [(4, 8), (8, 10)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted((DATA / "brat").iterdir()):
            zf.write(p, f"corpus/{p.name}")
    zipped = loads(buf.getvalue(), name="corpus.zip")
    assert tagged(zipped) == tagged(c)
    out = loads(formats.dumps(c.sentences, "brat"), name="again.zip")
    assert [(s.doc_id, s.words, s.tags) for s in out.sentences] == [(s.doc_id, s.words, s.tags) for s in c.sentences]


def test_webanno_tsv_named_entity_layer():
    c = read(DATA / "webanno.tsv")
    assert c.fmt == "webanno"
    assert tagged(c) == [(["Anna", "Berg", "visited", "New", "York", "."],
                          ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]),
                         (["Acme", "hired", "her", "."], ["B-ORG", "O", "O", "O"])]
    assert c.sentences[0].text == "Anna Berg visited New York ." and c.sentences[1].offsets[0] == (0, 4)


@pytest.mark.parametrize("name,line,problem", [
    ("prodigy_bad.jsonl", 2, "'answer' must be one of accept, reject, ignore, not 'maybe'"),
    ("doccano_bad.jsonl", 2, "'label' must be a list of [start, end, \"TYPE\"] triples"),
    ("labelstudio_bad.json", 4, "a 'labels' result needs integer 'start', 'end'"),
    ("brat_bad", 2, "TYPE START END[;START END...]<TAB>TEXT, found 'T2\\tORG 0 4;18\\tAnna Acme'"),
    ("webanno_bad.tsv", 6, "stacked entities 'PER|LOC'"),
])
def test_malformed_files_name_file_and_line_and_import_nothing(store, name, line, problem):
    pid = store.create_project("p", [])
    with pytest.raises(FormatError) as err:
        store.import_many(pid, [(formats.iter_read(DATA / "doccano.jsonl"), None, "ok.jsonl"),
                                (formats.iter_read(DATA / name), None, str(DATA / name))])
    e = err.value
    where = str(DATA / name / "doc1.ann") if name == "brat_bad" else str(DATA / name)
    assert (e.file, e.line) == (where, line) and problem in e.problem
    assert store.sentences(pid) == []  # the good file before it was not imported either


@pytest.mark.parametrize("fmt,name", [("prodigy", "prodigy.jsonl"), ("labelstudio", "labelstudio.json"),
                                      ("doccano", "doccano.jsonl")])
def test_round_trip_through_a_project(store, tmp_path, fmt, name):
    pid, _ = imported(store, DATA / name)
    out = export.export_annotations(store, pid, splits=["train", "unlabeled"], fmt=fmt).data
    again = loads(out, name=f"out{formats.get(fmt).extensions[0]}")
    assert again.fmt == fmt
    before = read(DATA / name).sentences  # every record goes back to its own format, labelled or not
    assert [(s.text, formats.records.char_spans(s)) for s in again.sentences] == [
        (s.text, formats.records.char_spans(s)) for s in before]


def test_character_spans_off_word_boundaries_split_words():
    c = loads('{"text": "pre-IL2 cells", "spans": [{"start": 4, "end": 7, "label": "GENE"}]}\n', name="x.jsonl")
    s = c.sentences[0]
    assert (s.words, s.tags) == (["pre-", "IL2", "cells"], ["O", "B-GENE", "O"])
    assert s.offsets == [(0, 4), (4, 7), (8, 13)] and c.notes["words split at span edges"] == 1
    spaced = loads('{"text": "Ann met", "label": [[0, 4, "PER"]]}\n', name="d.jsonl").sentences[0]
    assert spaced.tags == ["B-PER", "O"]  # a trailing space in a span (Label Studio writes them) is dropped


def test_sniffer_decides_and_an_ambiguous_file_names_the_candidates():
    assert formats.detect_format("x.jsonl", '{"text": "a", "answer": "accept"}') == "prodigy"
    assert formats.detect_format("x.jsonl", '{"text": "a", "label": []}') == "doccano"
    assert formats.detect_format("x.jsonl", '{"text": "a"}') == "jsonl"
    assert formats.detect_format("x.json", '[\n {"data": {"text": "a"}}\n]') == "labelstudio"
    assert formats.detect_format("x.tsv", "#FORMAT=WebAnno TSV 3.3\n") == "webanno"
    assert formats.detect_format("x.tsv", "a\tO\n") == "conll"
    assert formats.detect_format("pasted text", '{"text": "a", "label": []}') == "doccano"
    with pytest.raises(FormatError, match=r"^x.jsonl:1: could be prodigy or doccano: choose the format"):
        loads('{"text": "a b", "label": [], "answer": "accept"}\n', name="x.jsonl")
    assert loads('{"text": "a b", "label": [], "answer": "accept"}\n', name="x.jsonl", fmt="doccano").fmt == "doccano"


def test_cli_import_prints_what_was_kept_unlabelled(tmp_path, capsys):
    db = str(tmp_path / "n.db")
    assert cli.main(["--db", db, "init", "p"]) == 0
    assert cli.main(["--db", db, "import", "p", str(DATA / "prodigy.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "records with answer reject kept unlabelled (not gold): 1" in out
    assert "records with answer ignore kept unlabelled (not gold): 1" in out
    assert "4 added" in out


# ---------------------------------------------------------------- plain text sentences

def sentences(text, language="en"):
    return [text[a:b] for a, b in split_sentences(text, language)]


def test_ordinal_dates_and_abbreviations_before_numbers_stay_whole():
    assert sentences("Er kam am 3. Mai.", "de") == ["Er kam am 3. Mai."]
    assert sentences("Approx. 5 people came.") == ["Approx. 5 people came."]


def test_german_paragraph():
    text = ("Die Sitzung am 12. März wurde vertagt, weil Dr. Müller krank war. Sie findet nun z. B. im April statt. "
            "Der 2. Platz ging an die GmbH.")
    assert sentences(text, "de") == ["Die Sitzung am 12. März wurde vertagt, weil Dr. Müller krank war.",
                                     "Sie findet nun z. B. im April statt.", "Der 2. Platz ging an die GmbH."]


def test_french_paragraph():
    text = ("Le 14 juillet, M. Dupont a rencontré Mme Leroy à Paris. Ils ont parlé du projet pendant 2 h. "
            "Ensuite, ils sont partis vers 17 h 30.")
    assert sentences(text, "fr") == ["Le 14 juillet, M. Dupont a rencontré Mme Leroy à Paris.",
                                     "Ils ont parlé du projet pendant 2 h.", "Ensuite, ils sont partis vers 17 h 30."]


def test_biomedical_paragraph():
    text = ("Mutations in the BRCA1 gene (e.g. c.68_69delAG) were found in 5 pts. vs. controls. The p.Val600Glu "
            "variant was detected in 12% of cases (Fig. 2). E. coli was grown at 37 °C.")
    assert sentences(text) == ["Mutations in the BRCA1 gene (e.g. c.68_69delAG) were found in 5 pts. vs. controls.",
                               "The p.Val600Glu variant was detected in 12% of cases (Fig. 2).",
                               "E. coli was grown at 37 °C."]


def test_language_option_reaches_the_reader_and_is_checked():
    c = loads("Er kam am 3. Mai. Dann ging er.\n", name="de.txt", lines=False, language="de")
    assert [s.text for s in c.sentences] == ["Er kam am 3. Mai.", "Dann ging er."]
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        loads("Hi.\n", name="a.txt", language="xx")
