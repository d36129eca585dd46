"""BRAT round trips: brat's own tutorial documents and DKPro Core's discontinuous-span test document, and small
hand-written collections, imported into a project and exported back as BRAT: the .txt byte for byte, the .ann with
its ids, offsets and carried lines; an edit changes only its own line."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from core import export, formats
from core.formats import Sentence
from core.store import Store
from tests.roundtrip import PEERS, folder_differences, round_trip, text_differences
from tests.test_cli import ok

INTRO = PEERS / "brat_tutorial_000-introduction"
RELATIONS = PEERS / "brat_tutorial_060-relation_annotation"
KEPT = "kept, not editable: "


@pytest.mark.parametrize("folder,notes", [
    ("brat_tutorial_000-introduction", {"event triggers": 1, "events": 1, "relations": 2, "notes": 1,
                                        "attributes": 5, "normalisations": 1}),
    ("brat_tutorial_060-relation_annotation", {"equivalences": 1, "relations": 1}),
    ("brat_dkpro_discontinuous", {"event triggers": 3, "discontinuous spans": 1, "events": 4}),
])
def test_peer_folders_come_back_byte_for_byte(tmp_path, folder, notes):
    out, counts = round_trip(PEERS / folder, "brat", tmp_path=tmp_path)
    assert folder_differences(PEERS / folder, out) == []
    assert counts["notes"] == {KEPT + kind: n for kind, n in notes.items()} and counts["lost"] == {}


def test_a_zip_of_the_folder_comes_back_as_a_zip_of_the_same_files(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(RELATIONS.iterdir()):
            zf.write(p, p.name)
    out, _ = round_trip(buf.getvalue(), "brat", tmp_path=tmp_path, name="060.zip")
    assert folder_differences(RELATIONS, out) == []


def test_the_discontinuous_span_is_carried_and_its_document_imports():
    c = formats.read(PEERS / "brat_dkpro_discontinuous")
    assert [(s.words, s.tags) for s in c.sentences] == [(["This", "is"], ["O", "O"]), (["a", "test", "."], ["O"] * 3)]
    assert c.notes[KEPT + "discontinuous spans"] == 1
    assert c.sentences[0].carry["kept"] == {"event triggers": 3, "discontinuous spans": 1, "events": 4}


def test_event_triggers_are_carried_and_their_neighbours_are_entities():
    c = formats.read(INTRO)
    tagged = {(w, t[2:]) for s in c.sentences for w, t in zip(s.words, s.tags) if t.startswith("B-")}
    assert tagged == {("Citibank", "Organization"), ("$", "Money"), ("Raul", "Person"), ("former", "Person"),
                      ("banks", "Organization"), ("Switzerland", "GPE")}  # not "moving" (Transfer-money, T3)


# ---------------------------------------------------------------- edits in the project

def imported(tmp_path: Path, source: Path | bytes, name: str | None = None) -> tuple[Store, int]:
    store = Store(tmp_path / "edit.db")
    pid = store.create_project("edit", [])
    store.import_many(pid, [(formats.iter_read(source, name=name, fmt="brat"), "train", "brat")])
    return store, pid


def relabel(store: Store, pid: int, phrase: str, label: str | None, within: str | None = None) -> None:
    """Give the words of `phrase` (in the first sentence holding it, after `within`) the entity `label` (None: O)."""
    row = next(r for r in store.sentences(pid) if phrase in r.text)
    a = row.text.index(phrase, row.text.index(within) if within else 0)
    inside = [n for n, (s, e) in enumerate(row.offsets) if a <= s and e <= a + len(phrase)]
    tags = list(row.tags)
    for k, n in enumerate(inside):
        tags[n] = "O" if label is None else ("I-" if k else "B-") + label
    store.annotate(row.id, tags, annotator="ann")


def exported(store: Store, pid: int, **kw) -> tuple[dict[str, bytes], dict[str, int]]:
    out = export.export_annotations(store, pid, fmt="brat", **kw)
    with zipfile.ZipFile(io.BytesIO(out.data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}, out.dropped


def changed(before: Path, after: bytes) -> list[str]:
    return [d for d in text_differences(before.read_bytes(), after) if d[1] in "+-" and d[1:4] not in ("---", "+++")]


def test_a_relabelled_entity_changes_only_its_own_line(tmp_path):
    store, pid = imported(tmp_path, INTRO)
    relabel(store, pid, "Raul Salinas de Gortari", "Organization")
    files, lost = exported(store, pid)
    assert files["000-introduction.txt"] == (INTRO / "000-introduction.txt").read_bytes()
    assert changed(INTRO / "000-introduction.ann", files["000-introduction.ann"]) == [
        repr("-T4\tPerson 473 496\tRaul Salinas de Gortari\n"),
        repr("+T4\tOrganization 473 496\tRaul Salinas de Gortari\n")]
    assert lost == {}


def test_a_moved_entity_keeps_its_id_and_what_refers_to_it(tmp_path):
    store, pid = imported(tmp_path, INTRO)
    relabel(store, pid, "former", None)
    relabel(store, pid, "Mexican president", "Person")
    files, lost = exported(store, pid)
    assert changed(INTRO / "000-introduction.ann", files["000-introduction.ann"]) == [
        repr("-T5\tPerson 511 535\tformer Mexican president\n"),
        repr("+T5\tPerson 518 535\tMexican president\n")]
    assert lost == {}


def test_a_new_entity_gets_the_next_id_at_the_end(tmp_path):
    store, pid = imported(tmp_path, INTRO)
    relabel(store, pid, "Brat Rapid Annotation Tool", "Organization")
    files, _ = exported(store, pid)
    ann = files["000-introduction.ann"].decode()
    assert ann == (INTRO / "000-introduction.ann").read_text() + "T8\tOrganization 15 41\tBrat Rapid Annotation Tool\n"


def test_a_deleted_entity_takes_the_lines_on_it_along_and_the_export_says_so(tmp_path):
    store, pid = imported(tmp_path, INTRO)
    relabel(store, pid, "Raul Salinas de Gortari", None)
    files, lost = exported(store, pid)
    gone = {line.split("\t")[0] for line in (INTRO / "000-introduction.ann").read_text().splitlines()} - {
        line.split("\t")[0] for line in files["000-introduction.ann"].decode().splitlines()}
    assert gone == {"T4", "R1", "A1", "A2", "E1", "A5"}  # E1 has T4 as Beneficiary-Arg; A5 is on E1
    assert lost == {"relations whose entity was deleted": 1, "attributes whose entity was deleted": 3,
                    "events whose entity was deleted": 1}
    assert files["000-introduction.txt"] == (INTRO / "000-introduction.txt").read_bytes()


def test_an_equivalence_loses_only_the_deleted_member(tmp_path):
    store, pid = imported(tmp_path, RELATIONS)
    relabel(store, pid, "Jo Rowling", None, within="known")
    files, lost = exported(store, pid)
    assert changed(RELATIONS / "060-relation_annotation.ann", files["060-relation_annotation.ann"]) == [
        repr("-T4\tPerson 515 525\tJo Rowling\n"), repr("-*\tAlias T3 T4 T5\n"), repr("+*\tAlias T3 T5\n")]
    assert lost == {"equivalence members whose entity was deleted": 1}


def test_a_sentence_left_out_is_blanked_and_its_lines_dropped_and_reported(tmp_path):
    store, pid = imported(tmp_path, INTRO)
    row = next(r for r in store.sentences(pid) if "Citibank" in r.text)
    store.set_split([row.id], "dev")
    files, lost = exported(store, pid, splits=["train"])
    original = (INTRO / "000-introduction.txt").read_text()
    text = files["000-introduction.txt"].decode()
    assert len(text) == len(original) and "Citibank" not in text and text.replace(" ", "") == original.replace(
        row.text, "").replace(" ", "")
    assert files["000-introduction.ann"] == b""
    why = " in sentences left out of the export"
    assert lost == {f"event triggers{why}": 1, f"events{why}": 1, f"relations{why}": 2, f"notes{why}": 1,
                    f"attributes{why}": 5, f"normalisations{why}": 1}
    dev, lost = exported(store, pid, splits=["dev"])  # without the document's first sentence: as other formats
    assert dev["000-introduction.txt"].decode() == row.text + "\n" and dev["000-introduction.ann"].count(b"\n") == 6
    assert lost == {"documents written a sentence a line, without their other lines (their first sentence left out)": 1}


def test_another_format_reports_what_brat_carried(tmp_path):
    store, pid = imported(tmp_path, INTRO)
    out = export.export_annotations(store, pid, fmt="conll")
    assert out.lost == {"event triggers (brat)": 1, "events (brat)": 1, "relations (brat)": 2, "notes (brat)": 1,
                        "attributes (brat)": 5, "normalisations (brat)": 1}


# ---------------------------------------------------------------- hand-written collections

def collection(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "corpus"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder


STACKED = {
    "a.txt": "Anna Berg met the Acme  board.\n\n\nBo stayed  \nin Oslo .",
    "a.ann": ("T1\tPER 0 9\tAnna Berg\nT2\tPER 0 4\tAnna\nT3\tORG 18 22\tAcme\nT4\tORG 18 22\tAcme\n\n"
              "T5\tLOC 0 9\tAnna Berg\nT9\tLOC 48 53\tOslo \nR1\tRel Arg1:T2 Arg2:T3\nX1\tsomething else"),
    "sub/b.txt": "They left Ghana.  Then UNICEF came. \n",
    "sub/b.ann": "T1\tGPE 10 15\tGhana\n",
}


def test_stacked_duplicate_and_trimmed_spans_blank_lines_and_no_final_line_end_come_back(tmp_path):
    folder = collection(tmp_path, STACKED)
    out, counts = round_trip(folder, "brat", tmp_path=tmp_path)
    with zipfile.ZipFile(io.BytesIO(out)) as zf:
        assert {n: zf.read(n).decode() for n in zf.namelist()} == STACKED
    assert counts["notes"] == {KEPT + "stacked spans": 3, KEPT + "relations": 1, KEPT + "other lines": 1}
    c = formats.read(folder)
    assert [(s.doc_id, s.words, s.tags) for s in c.sentences] == [
        ("a", ["Anna", "Berg", "met", "the", "Acme", "board", "."], ["B-PER", "I-PER", "O", "O", "B-ORG", "O", "O"]),
        ("a", ["Bo", "stayed"], ["O", "O"]), ("a", ["in", "Oslo", "."], ["O", "B-LOC", "O"]),
        ("sub/b", ["They", "left", "Ghana", "."], ["O", "O", "B-GPE", "O"]), ("sub/b", ["Then", "UNICEF", "came", "."], ["O"] * 4)]


def test_an_edit_in_a_file_without_a_final_line_end(tmp_path):
    folder = collection(tmp_path, STACKED)
    store, pid = imported(tmp_path, folder)
    relabel(store, pid, "Oslo", "GPE")
    relabel(store, pid, "Bo", "PER")
    relabel(store, pid, "UNICEF", "ORG")
    files, lost = exported(store, pid)
    assert files["sub/b.ann"].decode() == STACKED["sub/b.ann"] + "T2\tORG 23 29\tUNICEF\n"
    assert files["sub/b.txt"].decode() == STACKED["sub/b.txt"]
    assert files["a.ann"].decode() == STACKED["a.ann"].replace("T9\tLOC", "T9\tGPE") + "\nT10\tPER 33 35\tBo"
    assert files["a.txt"].decode() == STACKED["a.txt"] and lost == {}


def test_documents_from_other_formats_are_one_pair_each_with_safe_unique_names():
    def sentence(text: str, doc_id: str | None, document: int | None = None) -> Sentence:
        words = text.split(" ")
        offsets = [(text.index(w), text.index(w) + len(w)) for w in words]
        return Sentence(words, ["B-PER"] + ["O"] * (len(words) - 1), text, offsets, doc_id, document=document)

    sentences = [sentence("Ann ran", "r/1"), sentence("Bo swam", "r/1"), sentence("Cy sat", "../x y"),
                 sentence("Di ate", "doc", 1), sentence("Ed hid", "doc", 2), sentence("Flo won", "DOC"),
                 sentence("Gus lay", None), sentence("Hal hit", None)]
    with zipfile.ZipFile(io.BytesIO(formats.dumps(sentences, "brat"))) as zf:
        files = {n: zf.read(n).decode() for n in zf.namelist()}
    assert list(files) == ["r/1.txt", "r/1.ann", "x y.txt", "x y.ann", "doc.txt", "doc.ann", "doc-4.txt",
                           "doc-4.ann", "DOC-5.txt", "DOC-5.ann", "doc-6.txt", "doc-6.ann"]
    assert files["r/1.txt"] == "Ann ran\nBo swam\n" and files["r/1.ann"] == "T1\tPER 0 3\tAnn\nT2\tPER 8 10\tBo\n"
    assert files["doc-6.txt"] == "Gus lay\nHal hit\n"


def test_a_new_entity_never_takes_a_deleted_entitys_id(tmp_path):
    store, pid = imported(tmp_path, INTRO)
    relabel(store, pid, "Switzerland", None)
    relabel(store, pid, "Brat Rapid Annotation Tool", "Organization")
    files, lost = exported(store, pid)
    assert changed(INTRO / "000-introduction.ann", files["000-introduction.ann"]) == [
        repr("-T7\tGPE 549 560\tSwitzerland\n"), repr("-R2\tOrigin Arg1:T6 Arg2:T7\t\n"),
        repr("+T8\tOrganization 15 41\tBrat Rapid Annotation Tool\n")]
    assert lost == {"relations whose entity was deleted": 1}


def test_the_cli_says_what_an_edit_took_along(tmp_path):
    store, pid = imported(tmp_path, INTRO)
    relabel(store, pid, "Raul Salinas de Gortari", None)
    store.close()
    printed = ok("--db", str(tmp_path / "edit.db"), "export", "edit", "--out", str(tmp_path / "o.zip"))
    assert "not written, gone with what they were on: 1 event whose entity was deleted, 1 relation whose entity " \
           "was deleted, 3 attributes whose entity was deleted" in printed and "not in a" not in printed
