"""WebAnno / INCEpTION TSV 3.3 round trips: INCEpTION's own files import whole (one span layer edited, every other
layer, stacked and duplicate span carried) and export byte for byte; an edit changes only the edited layer's cells;
a project from another format exports valid TSV 3.3."""
import dataclasses
import io
import zipfile
from pathlib import Path

import pytest

from core import cli, export, formats
from core.formats import FormatError, webanno
from tests.roundtrip import PEERS, round_trip, text_differences

NE = "de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity"
PEER_FILES = {
    "webanno_tsv33_ne_pos_dep.tsv": (None, {"kept, not editable: POS spans": 86,
                                            "kept, not editable: Dependency relations": 86,
                                            "kept, not editable: stacked spans": 1}),
    "webanno_tsv33_ne_stacked.tsv": (None, {"kept, not editable: stacked spans": 1, "duplicate spans read as one": 1}),
    "webanno_tsv33_custom_span_relation.tsv": ("webanno.custom.Span", {
        "values unset or not a label, read as Span": 2, "kept, not editable: ComplexRelation relations": 2}),
    "webanno_tsv33_escaped_value.tsv": (None, {
        "no NamedEntity layer: editing its only span layer, webanno.custom.Span": 1,
        "values unset or not a label, read as Span": 5}),
}
TWO = ("#FORMAT=WebAnno TSV 3.3\n#T_SP=webanno.custom.A|x|y\n#T_SP=webanno.custom.B\n\n\n#Text=Hi .\n"
       "1-1\t0-2\tHi\tP\t*\t*\t\n1-2\t3-4\t.\t_\t_\t_\t\n")  # two span layers, no NamedEntity


@pytest.mark.parametrize("name", PEER_FILES)
def test_peer_files_round_trip_byte_for_byte(tmp_path, name):
    layer, notes = PEER_FILES[name]
    before = (PEERS / name).read_bytes()
    assert formats.detect_format(name, before.decode()) == "webanno"
    after, counts = round_trip(PEERS / name, "webanno", tmp_path=tmp_path, layer=layer)
    assert text_differences(before, after) == []
    assert counts["notes"] == notes and counts["lost"] == {}


def test_nested_entity_is_carried_under_the_outer_one():
    c = formats.read(PEERS / "webanno_tsv33_ne_pos_dep.tsv")
    s = c.sentences[3]
    assert s.tags[:4] == ["B-ORG", "I-ORG", "I-ORG", "O"]
    assert s.carry["stacked"] == [[0, 1, "PER", ["PER[8]"]]] and s.carry["kept"]["stacked spans"] == 1
    assert [x[:3] for x in c.sentences[0].carry["spans"]] == [[0, 2, "PER"], [3, 4, "OTH"]]
    assert s.text.startswith("BELL INDUSTRIES") and s.offsets[1] == (5, 15) and s.doc_id == "webanno_tsv33_ne_pos_dep"


def test_duplicate_and_stacked_spans_read_as_one_editable_span():
    c = formats.read(PEERS / "webanno_tsv33_ne_stacked.tsv")
    s = c.sentences[0]
    assert s.tags[7:9] == ["B-ORG", "I-ORG"] and s.tags.count("O") == 13
    assert [x[2:] for x in s.carry["stacked"]] == [["ORG", ["*[2]", "ORG[2]"]], ["ORGpart", ["*[3]", "ORGpart[3]"]]]
    assert s.carry["kept"] == {"stacked spans": 1, "duplicate spans": 1}


def _edited(store, path, edit, layer=None) -> bytes:
    """`path` imported, the tags of sentence k replaced by `edit[k]`, exported as TSV 3.3."""
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(path, layer=layer), "train", str(path))])
    rows = store.sentences(pid)
    for k, tags in edit.items():
        store.annotate(rows[k].id, tags)
    return export.export_annotations(store, pid, fmt="webanno").data


def _changed(before: bytes, after: bytes) -> list[tuple[str, str]]:
    a, b = before.decode().split("\n"), after.decode().split("\n")
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b) if x != y]


def test_an_edit_changes_only_the_edited_layer_and_keeps_the_ids_of_spans_it_left(store):
    path = PEERS / "webanno_tsv33_ne_pos_dep.tsv"
    tags = formats.read(path).sentences[0].tags  # Ms. Haag (PER[2]) plays Elianti (OTH) .
    after = _edited(store, path, {0: [*tags[:3], "B-LOC", "I-LOC"], 2: ["O"] * 12})
    assert _changed(path.read_bytes(), after) == [
        ("1-4\t15-22\tElianti\tNNP\tOTH\tOBJ\t1-3\t", "1-4\t15-22\tElianti\tNNP\tLOC[11]\tOBJ\t1-3\t"),
        ("1-5\t23-24\t.\t.\t_\t_\t_\t", "1-5\t23-24\t.\t.\tLOC[11]\t_\t_\t"),
        ("3-12\t186-190\tU.S.\tNNP\tLOC\tPMOD\t3-10\t", "3-12\t186-190\tU.S.\tNNP\t_\tPMOD\t3-10\t")]
    again = formats.loads(after, name="again.tsv").sentences
    assert again[0].tags == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"] and again[2].tags == ["O"] * 12


def test_a_relabelled_span_keeps_its_id_and_place_among_carried_stacked_ones(store):
    path = PEERS / "webanno_tsv33_ne_stacked.tsv"
    tags = ["O"] * 15
    tags[7:9] = ["B-ORGpart", "I-ORGpart"]
    after = _edited(store, path, {0: tags})
    cells = [line.split("\t")[3:5] for line in after.decode().split("\n") if line.startswith(("1-8\t", "1-9\t"))]
    assert cells == [["*[1]|*[2]|*[3]", "ORGpart[1]|ORG[2]|ORGpart[3]"]] * 2  # only the edited value changes
    assert len(_changed(path.read_bytes(), after)) == 2


def test_a_new_span_over_a_carried_stacked_one_gets_a_fresh_id(store):
    path = PEERS / "webanno_tsv33_ne_stacked.tsv"
    tags = ["O"] * 15
    tags[7:10] = ["B-ORG", "I-ORG", "I-ORG"]  # "Champions League" and the word after it
    after = _edited(store, path, {0: tags})
    cells = [line.split("\t")[4] for line in after.decode().split("\n") if line.startswith(("1-8\t", "1-10\t"))]
    assert cells == ["ORG[4]|ORG[2]|ORGpart[3]", "ORG[4]"]  # the old outer span gone, the new one over the rest


def test_a_span_of_an_unset_value_comes_back_unset_and_a_relabelled_one_is_written_escaped_with_its_id(store):
    path = PEERS / "webanno_tsv33_custom_span_relation.tsv"
    after = _edited(store, path, {0: ["B-Span", "I-Span", "B-A_B", "I-A_B", "O"]}, layer="Span")
    assert [x[1].split("\t")[3] for x in _changed(path.read_bytes(), after)] == ["A\\_B[2]", "A\\_B[2]"]  # id kept
    assert formats.loads(after, name="x.tsv", layer="Span").sentences[0].tags[2:4] == ["B-A_B", "I-A_B"]


def test_layer_option_takes_full_short_and_feature_forms_and_a_missing_layer_lists_them():
    path = PEERS / "webanno_tsv33_custom_span_relation.tsv"
    for layer in ("webanno.custom.Span", "Span", "Span|value"):
        c = formats.iter_read(path, layer=layer).corpus()
        assert c.sentences[0].tags == ["B-Span", "I-Span", "B-Span", "I-Span", "O"] and "no NamedEntity" not in str(
            c.notes)
    with pytest.raises(FormatError, match=r"no span layer 'NamedEntity'; its span layers: webanno.custom.Span\|value "
                                          r"\(choose one: --layer LAYER\|feature\)"):
        formats.iter_read(path, layer="NamedEntity").corpus()
    with pytest.raises(FormatError, match=r"has no feature 'colour'"):
        formats.iter_read(path, layer="Span|colour").corpus()
    pos = formats.iter_read(PEERS / "webanno_tsv33_ne_pos_dep.tsv", layer="POS").corpus()
    assert pos.sentences[0].tags == ["B-NNP", "B-NNP", "B-VBD", "B-NNP", "B-."]


def test_span_layers_offered_and_a_file_of_several_without_named_entities_refused_with_them():
    assert webanno.span_layers(PEERS / "webanno_tsv33_ne_pos_dep.tsv") == [
        "de.tudarmstadt.ukp.dkpro.core.api.lexmorph.type.pos.POS|PosValue", f"{NE}|value"]
    two = TWO
    assert webanno.span_layers(two.encode()) == ["webanno.custom.A|x", "webanno.custom.A|y", "webanno.custom.B"]
    with pytest.raises(FormatError, match=r"^two.tsv:1: no named-entity layer; its span layers: webanno.custom.A\|x, "
                                          r"webanno.custom.A\|y, webanno.custom.B \(choose one"):
        formats.loads(two, name="two.tsv")
    b = formats.loads(two, name="two.tsv", layer="B").sentences[0]  # a layer without features has one column
    assert b.tags == ["B-B", "O"] and b.carry["kept"] == {"A spans": 1}
    assert formats.dumps([b], "webanno") == two
    assert webanno.span_layers(two.encode() + b"#Text=caf\xe9\n") == []  # unreadable: its import says why


def test_a_conll_project_exports_valid_tsv_with_a_named_entity_layer(store, tmp_path):
    conll = "Anna\tB-PER\nBerg\tI-PER\nmet\tO\nBob\tB-PER\n\nCafé\tB-LOC\n😀\tO\n.\tO\n"
    path = tmp_path / "c.conll"
    path.write_text(conll)
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(path), "train", str(path))])
    out = export.export_annotations(store, pid, fmt="webanno").data.decode()
    assert out == (f"#FORMAT=WebAnno TSV 3.3\n#T_SP={NE}|value\n\n\n#Text=Anna Berg met Bob\n"
                   "1-1\t0-4\tAnna\tPER[1]\t\n1-2\t5-9\tBerg\tPER[1]\t\n1-3\t10-13\tmet\t_\t\n"
                   "1-4\t14-17\tBob\tPER\t\n\n"
                   "#Text=Café 😀 .\n2-1\t18-22\tCafé\tLOC\t\n2-2\t23-25\t😀\t_\t\n2-3\t26-27\t.\t_\t\n")
    again = formats.loads(out.encode(), name="again.tsv").sentences
    assert [(s.words, s.tags) for s in again] == [(["Anna", "Berg", "met", "Bob"], ["B-PER", "I-PER", "O", "B-PER"]),
                                                  (["Café", "😀", "."], ["B-LOC", "O", "O"])]
    assert again[1].offsets == [(0, 4), (5, 6), (7, 8)]  # UTF-16 offsets in the file, characters in nerloop


def test_several_documents_export_as_a_zip_of_one_tsv_each(store):
    paths = [PEERS / "webanno_tsv33_ne_stacked.tsv", PEERS / "webanno_tsv33_ne_pos_dep.tsv"]
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(p), "train", str(p)) for p in paths])
    data = export.export_annotations(store, pid, fmt="webanno").data
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == {f"{p.stem}.tsv": p.read_bytes() for p in paths}


def test_cli_imports_a_custom_layer_and_exports_it_back(tmp_path, capsys):
    db, out = str(tmp_path / "n.db"), tmp_path / "out.tsv"
    path = PEERS / "webanno_tsv33_custom_span_relation.tsv"
    assert cli.main(["--db", db, "init", "p"]) == 0
    assert cli.main(["--db", db, "import", "p", str(path), "--layer", "webanno.custom.Span"]) == 0
    assert "kept, not editable: ComplexRelation relations: 2" in capsys.readouterr().out
    assert cli.main(["--db", db, "export", "p", "--out", str(out)]) == 0
    assert out.read_bytes() == path.read_bytes()


def test_mismatched_stacked_columns_still_name_file_and_line():
    bad = "#FORMAT=WebAnno TSV 3.3\n#T_SP=" + NE + "|identifier|value\n\n\n#Text=Anna .\n1-1\t0-4\tAnna\t*\tPER|LOC\n"
    with pytest.raises(FormatError, match=r"^b.tsv:6: stacked entities 'PER\|LOC' do not match"):
        formats.loads(bad, name="b.tsv")


def test_upload_offers_the_span_layers_of_a_file_without_named_entities(monkeypatch, tmp_path):
    from apptest import open_app
    from core.store import Store

    store = Store(tmp_path / "nerloop.db")
    pid = store.create_project("p", [])
    at = open_app(pid, "pages/upload.py", monkeypatch=monkeypatch, db=tmp_path / "nerloop.db")
    at.file_uploader(key="upload_files").set_value([("two.tsv", TWO.encode(), "text/tab-separated-values")]).run()
    assert at.error[0].value.startswith("two.tsv:1: no named-entity layer; its span layers: webanno.custom.A|x")
    assert at.selectbox(key="upload_layer_0_two.tsv").options == ["webanno.custom.A|x", "webanno.custom.A|y",
                                                                   "webanno.custom.B"]
    at.selectbox(key="upload_layer_0_two.tsv").set_value("webanno.custom.A|y").run()
    assert not at.error
    at.selectbox(key="upload_split_0_two.tsv").set_value("train").run()
    at.button(key="upload_import").click().run()
    rows = store.sentences(pid, carry=True)
    assert [r.tags for r in rows] == [["B-A", "O"]] and rows[0].carry["kept"] == {"B spans": 1}
    assert export.export_annotations(store, pid, fmt="webanno").data == TWO.encode()


CHAINED = (f"#FORMAT=WebAnno TSV 3.3\n#T_SP={NE}|value\n"
           "#T_CH=de.tudarmstadt.ukp.dkpro.core.api.coref.type.CoreferenceLink|referenceType|referenceRelation\n\n\n"
           "#Text=New York-based Acme\n#Text=hired Anna .\n1-1\t0-3\tNew\tLOC[1]\t*->1-1\t*->1-1\t\n"
           "1-2\t4-14\tYork-based\tLOC[1]\t*->1-1\t*->1-1\t\n1-2.1\t4-8\tYork\tGPE\t_\t_\t\n"
           "1-3\t15-19\tAcme\tORG\t_\t_\t\n"
           "1-4\t20-25\thired\t_\t_\t_\t\n1-5\t26-30\tAnna\tPER\t*->2-1\tcoref->2-1\t\n1-6\t31-32\t.\t_\t_\t_\t\n\n"
           "#Text=She left .\n2-1\t33-36\tShe\t_\t*->2-1\t*->2-1\t\n2-2\t37-41\tleft\t_\t_\t_\t\n"
           "2-3\t42-43\t.\t_\t_\t_\t")


def test_sub_tokens_chains_two_text_lines_and_no_final_line_end_round_trip(store, tmp_path):
    after, counts = round_trip(CHAINED.encode(), "webanno", tmp_path=tmp_path, name="chained.tsv")
    assert text_differences(CHAINED.encode(), after) == []
    assert counts["notes"] == {"kept, not editable: CoreferenceLink chain links": 4,
                               "kept, not editable: sub-token NamedEntity spans": 1}
    s = formats.loads(CHAINED, name="chained.tsv").sentences[0]
    assert s.words == ["New", "York-based", "Acme", "hired", "Anna", "."]
    assert s.text == "New York-based Acme\nhired Anna ."
    path = tmp_path / "chained.tsv"
    path.write_text(CHAINED)
    edited = _edited(store, path, {0: ["B-LOC", "I-LOC", "O", "O", "B-PER", "O"]})
    assert _changed(CHAINED.encode(), edited) == [("1-3\t15-19\tAcme\tORG\t_\t_\t", "1-3\t15-19\tAcme\t_\t_\t_\t")]


def test_an_export_to_another_format_names_what_it_leaves_behind(store):
    path = PEERS / "webanno_tsv33_ne_pos_dep.tsv"
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(path), "train", str(path))])
    out = export.export_annotations(store, pid, fmt="conll")
    assert out.lost == {"POS spans (webanno)": 86, "Dependency relations (webanno)": 86, "stacked spans (webanno)": 1}


def test_cli_names_an_export_of_several_documents_zip(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "n.db")
    paths = [PEERS / "webanno_tsv33_ne_stacked.tsv", PEERS / "webanno_tsv33_ne_pos_dep.tsv"]
    assert cli.main(["--db", db, "init", "p"]) == 0
    assert cli.main(["--db", db, "import", "p", *map(str, paths)]) == 0
    assert cli.main(["--db", db, "export", "p", "--out", "x.tsv"]) != 0
    assert "x.tsv: the export holds several documents, a zip of one file each: pass --format webanno --out NAME.zip" \
        in capsys.readouterr().err and not (tmp_path / "x.tsv").exists()
    assert cli.main(["--db", db, "export", "p", "--format", "webanno"]) == 0
    with zipfile.ZipFile(tmp_path / "p-train.zip") as zf:
        assert sorted(zf.namelist()) == sorted(f"{p.stem}.tsv" for p in paths)


def test_export_page_offers_a_zip_for_several_documents_and_a_tsv_for_one(monkeypatch, tmp_path):
    from apptest import open_app
    from core.store import Store

    store = Store(tmp_path / "nerloop.db")
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(PEERS / "webanno_tsv33_ne_stacked.tsv"), "train", "a.tsv"),
                            (formats.iter_read(PEERS / "webanno_tsv33_ne_pos_dep.tsv"), "dev", "b.tsv")])
    at = open_app(pid, "pages/export.py", monkeypatch=monkeypatch, db=tmp_path / "nerloop.db")
    at.segmented_control(key="export_format").set_value("webanno").run()
    assert at.download_button(key="export_download").proto.label == "Download p-train-dev.zip"
    at.multiselect(key="export_splits").set_value(["dev"]).run()
    assert at.download_button(key="export_download").proto.label == "Download p-dev.tsv"


def test_an_export_of_some_sentences_of_a_document_keeps_its_header_and_columns(store):
    path = PEERS / "webanno_tsv33_ne_pos_dep.tsv"
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(path), "train", str(path))])
    rows = store.sentences(pid)
    store.set_split([rows[3].id], "dev")
    store.annotate(rows[3].id, ["B-ORG", "I-ORG", "O", *["O"] * 12])
    lines = path.read_text().split("\n")
    got = export.export_annotations(store, pid, splits=["dev"], fmt="webanno").data.decode().split("\n")
    want = lines[:6] + lines[next(k for k, line in enumerate(lines) if line.startswith("#Text=BELL")):][:17]
    want[7:10] = ["4-1\t191-195\tBELL\tNNP\tORG[9]|PER[8]\tNAME\t4-2\t",
                  "4-2\t196-206\tINDUSTRIES\tNNP\tORG[9]\tSBJ\t4-4\t",
                  "4-3\t207-211\tInc.\tNNP\t_\tPOSTHON\t4-2\t"]
    assert got == want  # fresh ids: past every id of the sentences written


def test_a_file_without_trailing_tabs_round_trips_and_no_sentence_is_a_bare_header(tmp_path):
    path = Path(__file__).parent / "data" / "formats" / "webanno.tsv"  # rows without the trailing TAB
    after, counts = round_trip(path, "webanno", tmp_path=tmp_path)
    assert text_differences(path.read_bytes(), after) == [] and counts["notes"] == {"kept, not editable: Lemma spans": 10}
    assert formats.dumps([], "webanno") == f"#FORMAT=WebAnno TSV 3.3\n#T_SP={NE}|value\n\n"


def test_documents_of_names_alike_get_files_of_their_own():
    one = formats.loads("Ann B-PER\n", name="x.conll").sentences[0]
    docs = [dataclasses.replace(one, doc_id=name, document=k) for k, name in enumerate(["A", "a", "a-3", "a"], 1)]
    with zipfile.ZipFile(io.BytesIO(formats.dumps(docs, "webanno"))) as zf:
        assert len({n.lower() for n in zf.namelist()}) == 4
