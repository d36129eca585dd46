"""Round trips of CoNLL (byte for byte) and of nerloop's own JSONL, Hugging Face `datasets` and spaCy DocBin files:
imported into a project, exported in the same format, every difference listed (tests/roundtrip.py)."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from core import export, formats
from core.store import Store
from tests.roundtrip import PEERS, ROOT, json_differences, jsonl, round_trip, text_differences
from tests.test_app_upload_export import download, downloads, open_page  # noqa: F401 (downloads: a fixture)
from tests.test_cli import ok

CONLL2003 = ROOT.parent / "shared" / "data" / "conll2003"
OWN_CONLL = Path(__file__).parent / "data" / "formats" / "conll2003_style.conll"  # IOB1, written for nerloop

# Hand-written files in the layouts tools write; each must come back byte for byte.
TAB_CONLL2003 = (b"-DOCSTART-\t-X-\t-X-\tO\n\nAnna\tNNP\tB-NP\tB-PER\nBerg\tNNP\tI-NP\tI-PER\nvisited\tVBD\tB-VP\tO\n"
                 b"Oslo\tNNP\tB-NP\tB-LOC\n.\t.\tO\tO\n\nRain\tNN\tB-NP\tO\nfell\tVBD\tB-VP\tO\n\n"
                 b"-DOCSTART-\t-X-\t-X-\tO\n\nAcme\tNNP\tB-NP\tB-ORG\nTools\tNNPS\tI-NP\tI-ORG\nwon\tVBD\tB-VP\tO\n\n")
LAYOUTS = {
    "tab, 4 columns, -DOCSTART-": TAB_CONLL2003,
    "spaces, final blank line": b"Wolff B-PER\n, O\nplayed O\n\nin O\nMadrid B-LOC\n\n",
    "CRLF": b"Anna NNP B-PER\r\nruns VBZ O\r\n\r\n-DOCSTART- -X- O\r\n\r\nBo NNP B-PER\r\nsat VBD O\r\n",
    "CR only, byte-order mark": b"\xef\xbb\xbfAnna B-PER\rruns O\r\rBo B-PER\r",
    "IOB1": b"Anna I-PER\nBerg I-PER\nmet O\nKari I-PER\nNils B-PER\n\nin O\nOslo I-LOC\n\n",
    "IOB1 with IOB2-style starts": b"Anna I-PER\nmet O\nKari B-PER\nLee I-PER\n\nBo B-PER\n",
    "BILOU": b"Ann U-PER\nLee B-PER\nMoe L-PER\n\nat O\nSea S-LOC\n",
    "no final line end": b"a O\nb B-X\n\nc I-X",
    "aligned columns, stray whitespace": (b"\n\n-DOCSTART-   -X-   O\nAnna      NNP   B-PER  \n  runs    VBZ   O\n"
                                          b"   \n\n\nBo        NNP   B-PER\n\t\n-DOCSTART- -X- O\n-DOCSTART- -X- O\n"
                                          b"\nsat       VBD   O\n\n-DOCSTART- -X- O\n\n\n"),
    "tab with spaces around fields": b"Anna \tB-PER\n runs\t O \n\nBo\tB-PER\n",
}


def conll2003_head(lines: int = 200) -> bytes:
    """The first lines of CoNLL-2003's training file, read where the benchmarks read it (never copied here)."""
    with open(CONLL2003 / "train.txt", "rb") as f:
        return b"".join(itertools.islice(f, lines))


def imported(tmp_path: Path, *files: tuple[str, bytes], split: str = "train") -> tuple[Store, int]:
    """A new project holding these CoNLL files, imported in one transaction as the CLI does."""
    store = Store(tmp_path / "p.db")
    pid = store.create_project("p", [])
    store.import_many(pid, [(formats.iter_read(data, name=name), split, name) for name, data in files])
    return store, pid


# ---------------------------------------------------------------- CoNLL, byte for byte

def test_dkpro_conll2002_writer_output_round_trips_byte_for_byte(tmp_path):
    source = PEERS / "conll2002_dkpro_writer_roundtrip.txt"
    out, counts = round_trip(source, "conll", tmp_path=tmp_path, scheme=None)
    assert text_differences(source.read_bytes(), out) == []
    assert (counts["added"], counts["notes"], counts["lost"]) == (1, {}, {})


def test_conll2003_training_file_head_round_trips_byte_for_byte(tmp_path):
    head = conll2003_head()
    assert head.startswith(b"-DOCSTART- -X- O O\n\n") and b" I-ORG\n" in head  # its own -DOCSTART- line, IOB1
    out, counts = round_trip(head, "conll", tmp_path=tmp_path, name="train.txt", scheme=None)
    assert text_differences(head, out) == []
    assert counts["added"] > 5 and counts["notes"] == {}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_hand_written_layouts_round_trip_byte_for_byte(tmp_path, layout):
    out, _ = round_trip(LAYOUTS[layout], "conll", tmp_path=tmp_path, name="x.conll", scheme=None)
    assert text_differences(LAYOUTS[layout], out) == []


@pytest.mark.parametrize("block", [3, 1 << 20])  # 3 bytes: a CRLF falls across two blocks
def test_mixed_line_ends_come_back_as_the_most_common_one_and_are_noted(tmp_path, monkeypatch, block):
    monkeypatch.setattr("core.formats.conll._BLOCK", block)
    source = b"Anna B-PER\r\nruns O\r\n\r\nBo B-PER\nsat O\r\n"
    out, counts = round_trip(source, "conll", tmp_path=tmp_path, name="x.conll", scheme=None)
    assert out == source.replace(b"B-PER\n", b"B-PER\r\n")
    assert counts["notes"] == {"line ends other than CRLF, written back as CRLF": 1}
    out, counts = round_trip(LAYOUTS["CRLF"], "conll", tmp_path=tmp_path, name="y.conll", scheme=None, project="y")
    assert out == LAYOUTS["CRLF"] and counts["notes"] == {}


def test_an_asked_scheme_converts_the_tags_and_keeps_the_layout(tmp_path):
    source = LAYOUTS["IOB1"].replace(b" ", b"\t")
    out, _ = round_trip(source, "conll", tmp_path=tmp_path, name="x.conll", scheme="iob2")
    assert out == source.replace(b"Anna\tI-PER", b"Anna\tB-PER").replace(b"Kari\tI-PER", b"Kari\tB-PER").replace(
        b"Oslo\tI-LOC", b"Oslo\tB-LOC")
    out, _ = round_trip(LAYOUTS["BILOU"], "conll", tmp_path=tmp_path, name="y.conll", scheme="bioes",
                        project="bioes")  # the file's scheme asked for: its own tags
    assert out == LAYOUTS["BILOU"]


def test_an_edited_sentence_changes_only_its_own_rows(tmp_path):
    store, pid = imported(tmp_path, ("t.conll", TAB_CONLL2003))
    rows = store.sentences(pid)
    store.annotate(rows[1].id, ["B-MISC", "O"])  # "Rain" becomes an entity
    store.annotate(rows[2].id, ["B-ORG", "I-ORG", "O"])  # the same tags again: nothing changes
    out = export.export_annotations(store, pid, fmt="conll").data
    assert out == TAB_CONLL2003.replace(b"Rain\tNN\tB-NP\tO\n", b"Rain\tNN\tB-NP\tB-MISC\n")


def test_rows_read_with_other_whitespace_keep_it_when_their_tag_changes(tmp_path):
    source = LAYOUTS["aligned columns, stray whitespace"]
    store, pid = imported(tmp_path, ("a.conll", source))
    first = store.sentences(pid)[0]
    store.annotate(first.id, ["O", "B-PER"])
    out = export.export_annotations(store, pid, fmt="conll").data
    assert text_differences(source, out) == ["'--- before\\n'", "'+++ after\\n'", "'@@ -4,2 +4,2 @@\\n'",
                                             "'-Anna      NNP   B-PER  \\n'", "'-  runs    VBZ   O\\n'",
                                             "'+Anna      NNP   O  \\n'", "'+  runs    VBZ   B-PER\\n'"]


def test_files_of_one_project_come_back_one_after_the_other(tmp_path):
    first, second = conll2003_head(60), b"-DOCSTART- -X- O O\n\nZed NNP I-NP I-PER\nsold VBD I-VP O\n\n"
    first = first[:first.rindex(b"\n\n") + 2]  # ends after a sentence, as the file does
    store, pid = imported(tmp_path, ("a.txt", first), ("b.txt", second))
    assert export.export_annotations(store, pid, fmt="conll").data == first + second


def test_files_of_other_schemes_and_separators_meet_in_iob2(tmp_path):
    iob1, tabs = b"Anna I-PER\nmet O\nBo I-PER\n", b"Kari\tB-PER\nLee\tI-PER\n\nsat\tO\n"
    store, pid = imported(tmp_path, ("a.conll", iob1), ("b.conll", tabs))
    out = export.export_annotations(store, pid, fmt="conll").data
    assert out == b"Anna B-PER\nmet O\nBo B-PER\n\nKari B-PER\nLee I-PER\n\nsat O\n\n"
    assert export.export_annotations(store, pid, fmt="conll", scheme="iob1").data == out.replace(b"B-", b"I-")


def test_nerloop_export_writes_the_imported_scheme_unless_another_is_asked(tmp_path):
    db, out = str(tmp_path / "n.db"), tmp_path / "out.conll"
    ok("--db", db, "init", "news", "--labels", "PER,ORG,LOC,MISC")
    ok("--db", db, "import", "news", str(OWN_CONLL))
    ok("--db", db, "export", "news", "--out", str(out))
    assert out.read_bytes() == OWN_CONLL.read_bytes()
    ok("--db", db, "export", "news", "--out", str(out), "--scheme", "iob2")
    assert formats.read(out).scheme == "iob2" and out.read_bytes() != OWN_CONLL.read_bytes()


def test_the_export_page_writes_the_imported_scheme_unless_another_is_chosen(monkeypatch, tmp_path, downloads):
    source = LAYOUTS["IOB1"].replace(b" ", b"\t")
    _, pid = imported(tmp_path, ("t.conll", source))
    at = open_page(monkeypatch, tmp_path / "p.db", pid, "pages/export.py")
    assert at.segmented_control(key="export_scheme").value == "as imported"
    assert download(at, downloads, "export_download")[1] == source
    at.segmented_control(key="export_scheme").set_value("iob2").run()
    data = download(at, downloads, "export_download")[1]
    assert formats.loads(data, name="x.conll").scheme == "iob2" and data.count(b"\t") == source.count(b"\t")


def test_sentences_written_in_code_keep_the_writers_layout():
    s = formats.Sentence(["a", "b"], ["B-X", "I-X"], "a b", [(0, 1), (2, 3)], doc_id="d")
    assert formats.dumps([s], "conll", scheme=None) == "-DOCSTART- O\n\na B-X\nb I-X\n\n"
    assert formats.dumps([s], "conll", scheme="iob1", sep="\t") == "-DOCSTART-\tO\n\na\tI-X\nb\tI-X\n\n"


# ---------------------------------------------------------------- nerloop's own JSONL, hf and DocBin

RECORDS = [
    {"text": "Ann  met Bo in Oslo.", "tokens": [{"text": "Ann", "start": 0, "end": 3}, {"text": "met", "start": 5,
     "end": 8}, {"text": "Bo", "start": 9, "end": 11}, {"text": "in", "start": 12, "end": 14}, {"text": "Oslo",
     "start": 15, "end": 19}, {"text": ".", "start": 19, "end": 20}], "spans": [{"start": 0, "end": 3, "label": "PER"},
     {"start": 9, "end": 11, "label": "PER"}, {"start": 15, "end": 19, "label": "LOC"}], "doc_id": "letters-7",
     "meta": {"page": 3, "tags": ["a", {"b": None}]}, "source": "gold"},
    {"text": "No one here", "tokens": [{"text": "No", "start": 0, "end": 2}, {"text": "one", "start": 3, "end": 6},
     {"text": "here", "start": 7, "end": 11}], "spans": [], "doc_id": "letters-7", "source": "gold"},
    {"text": "Unlabelled text", "tokens": [{"text": "Unlabelled", "start": 0, "end": 10},
                                           {"text": "text", "start": 11, "end": 15}]},
    {"text": "New York City", "tokens": [{"text": "New", "start": 0, "end": 3}, {"text": "York", "start": 4, "end": 8},
     {"text": "City", "start": 9, "end": 13}], "spans": [{"start": 0, "end": 13, "label": "LOC"},
     {"start": 0, "end": 8, "label": "LOC"}], "id": 17, "source": "gold"},
]
OWN_JSONL = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS).encode()


def content(data: bytes, fmt: str) -> list[tuple]:
    """What a file in `fmt` holds, sentence by sentence (the parsed content, not its bytes)."""
    return [(s.words, s.tags, s.text, s.offsets, s.doc_id, s.meta, s.split)
            for s in formats.loads(data, name=f"x.{fmt}", fmt=fmt).sentences]


def test_nerloop_jsonl_round_trips_with_stacked_spans_and_other_fields(tmp_path):
    out, counts = round_trip(OWN_JSONL, "jsonl", tmp_path=tmp_path, name="own.jsonl", unlabeled=True)
    assert json_differences(jsonl(OWN_JSONL), jsonl(out)) == []
    assert counts["notes"] == {"kept, not editable: stacked spans": 1, "kept, not editable: record fields": 1}
    assert counts["lost"] == {}
    assert export.lost(export.kept(s.carry for s in formats.loads(OWN_JSONL, name="own.jsonl").sentences), "conll") == {
        "stacked spans (jsonl)": 1, "record fields (jsonl)": 1}


def test_nerloop_hf_dataset_round_trips_its_splits_documents_and_tags(tmp_path):
    sentences = formats.loads(OWN_JSONL, name="own.jsonl").sentences
    for s, split in zip(sentences, ["train", "dev", "unlabeled", "test"]):
        s.split = split
    zipped = formats.dumps(sentences, "hf", labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    out, counts = round_trip(zipped, "hf", tmp_path=tmp_path, name="own.zip", split=None, unlabeled=True)
    assert counts["splits"] == {"train": 1, "dev": 1, "unlabeled": 1, "test": 1}
    assert content(out, "hf") == content(zipped, "hf")
    assert [c[:2] for c in content(out, "hf")] == [(s.words, s.tags) for s in sentences]


def test_nerloop_docbin_round_trips_text_entities_documents_and_meta(tmp_path):
    sentences = formats.loads(OWN_JSONL, name="own.jsonl").sentences
    docbin = formats.dumps(sentences, "spacy")
    out, _ = round_trip(docbin, "spacy", tmp_path=tmp_path, name="own.spacy", unlabeled=True)
    assert content(out, "spacy") == content(docbin, "spacy")
    assert content(out, "spacy") == [(s.words, s.tags, s.text, s.offsets, s.doc_id, s.meta, None) for s in sentences]
