"""Upload and Export pages (AppTest) and core.demo's export helpers: preview before import, all-or-nothing on
parse errors, duplicates, escaping, CoNLL/JSONL round trips with marked model predictions, the model zip."""
from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core import export, formats, jobs
from core.model import Tagger
from core.store import Store

from apptest import open_app

DATA = Path(__file__).parent / "data"
SAMPLE = (DATA / "sample.conll").read_bytes()
SAMPLE_DEV = (DATA / "sample_dev.conll").read_bytes()
TEXT = b"Ada Lovelace met Charles Babbage in London.\nThe Great Exhibition opened in Hyde Park in 1851.\n"
BIOES = b"Otto S-PER\nvon O\nvisited O\nNew B-LOC\nYork E-LOC\n. O\n"
BAD = b"Hello O\nworld O\nagain X-PER\n"
EVIL = ("Hello\tO\n<script>alert(1)</script>\tB-PER\n<img/src=x/onerror=alert(1)>\tO\nsaid\tO\n").encode()


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """Deferred download callables and file names by file id (AppTest's media manager is dropped after each run)."""
    found: dict = {}
    add = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        file_id = add(self, data_callable, mimetype, coordinates, file_name=file_name, **kwargs)
        found[file_id] = (data_callable, file_name)
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return found


def download(at: AppTest, downloads: dict, key: str) -> tuple[str, bytes]:
    """The file name and the content that clicking the download button `key` would send."""
    data_callable, file_name = downloads[at.download_button(key=key).proto.deferred_file_id]
    data = data_callable()
    return file_name, data.encode() if isinstance(data, str) else data


def open_page(monkeypatch, db: Path, project_id: int, page: str) -> AppTest:
    return open_app(project_id, page, monkeypatch=monkeypatch, db=db)


def new_project(db: Path) -> tuple[Store, int]:
    store = Store(db)
    return store, store.create_project("news", ["PER", "LOC", "ORG", "MISC"])


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model) -> tuple[Path, int]:
    """A project with gold train/dev, one human correction, 3 unlabelled sentences and a served tiny model."""
    db = tmp_path_factory.mktemp("export") / "nerloop.db"
    store, pid = new_project(db)
    store.import_sentences(pid, formats.loads(SAMPLE, name="s.conll").sentences, split="train")
    store.import_sentences(pid, formats.loads(SAMPLE_DEV, name="d.conll").sentences, split="dev")
    store.import_sentences(pid, formats.loads(TEXT + b"Maria Okonkwo visited Port Alder.\n", name="t.txt").sentences,
                           split="unlabeled")
    first = store.sentences(pid, split="train")[0]
    store.annotate(first.id, ["B-ORG"] + ["O"] * (len(first.words) - 1), source="human")
    params = {"model": tiny_model, "min_steps": 30, "epochs": 2, "batch_size": 16, "device": "cpu",
              "promote": "always"}
    jobs.execute(store, jobs.create(store, pid, params))
    store.close()
    return db, pid


# ---------------------------------------------------------------- Upload


def test_upload_preview_then_import_then_duplicates(monkeypatch, tmp_path):
    store, pid = new_project(tmp_path / "nerloop.db")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/upload.py")
    at.file_uploader(key="upload_files").upload("sample.conll", SAMPLE, "text/plain").run()
    assert not at.exception
    shown = markdown(at)
    assert any("50 sentences · 50 labelled · 0 already in the project · format **conll** · scheme **iob2**" in m
               for m in shown)
    previews = [m for m in shown if 'class="nl-sentence"' in m]
    assert len(previews) == 5 and "Maria" in previews[0] and "PER</b>" in previews[0]
    assert at.caption[-1].value == "… and 45 more"
    split = at.selectbox(key="upload_split_0_sample.conll")
    assert split.value is None  # a labelled file has no default split
    assert split.options == ["Train (the model learns from it)", "Dev (held out: scores every version)",
                             "Test (held out: final figures)", "Unlabelled (to annotate)"]
    assert at.button(key="upload_import").disabled and r"Choose the split of sample\.conll" in at.warning[0].value
    assert "no dev split yet" in at.info[0].value and "Choose *Dev* for one labelled file" in at.info[0].value
    assert store.counts(pid)["by_split"]["train"] == 0  # nothing before Import
    at.selectbox(key="upload_split_0_sample.conll").set_value("train").run()
    assert not at.warning and not at.button(key="upload_import").disabled
    assert "no dev split yet" in at.info[0].value  # still: train is not dev
    assert at.button(key="upload_import").label == "Import 50 new sentences"

    at.button(key="upload_import").click().run()
    assert [s.value for s in at.success] == [r"sample\.conll → train: 50 added, 0 duplicates skipped, 50 with tags"]
    rows = store.sentences(pid, split="train")
    assert [r.tags for r in rows] == [s.tags for s in formats.loads(SAMPLE, name="s.conll").sentences]
    assert any("50 already in the project" in m for m in markdown(at))
    assert at.button(key="upload_import").label == "Import 0 new sentences (50 already in the project)"

    again = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/upload.py")
    again.file_uploader(key="upload_files").upload("copy.conll", SAMPLE, "text/plain").run()
    again.selectbox(key="upload_split_0_copy.conll").set_value("dev").run()
    assert not [i for i in again.info if "no dev split yet" in i.value]  # a file goes to dev now
    again.button(key="upload_import").click().run()
    assert [s.value for s in again.success] == [r"copy\.conll → dev: 0 added, 50 duplicates skipped, 0 with tags"]
    assert store.counts(pid)["by_split"] == {"train": 50, "dev": 0, "test": 0, "unlabeled": 0}


def test_upload_several_files_each_to_its_split(monkeypatch, tmp_path):
    store, pid = new_project(tmp_path / "nerloop.db")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/upload.py")
    at.file_uploader(key="upload_files").set_value([("dev.conll", SAMPLE_DEV, "text/plain"),
                                                    ("notes.txt", TEXT, "text/plain"),
                                                    ("names.bioes.iob", BIOES, "text/plain")]).run()
    assert any("scheme **bioes**" in m for m in markdown(at))
    assert any("format **text** · scheme **none**" in m for m in markdown(at))
    assert at.selectbox(key="upload_split_1_notes.txt").value == "unlabeled"  # plain text: the pool
    assert at.selectbox(key="upload_split_0_dev.conll").value is None
    assert at.button(key="upload_import").disabled
    at.selectbox(key="upload_split_0_dev.conll").set_value("dev").run()
    assert at.button(key="upload_import").disabled  # names.bioes.iob still has none
    assert r"Choose the split of names\.bioes\.iob:" in at.warning[0].value
    assert not [i for i in at.info if "no dev split yet" in i.value]
    at.selectbox(key="upload_split_2_names.bioes.iob").set_value("test").run()
    at.button(key="upload_import").click().run()
    assert not at.exception
    assert [s.value.split(":")[0] for s in at.success] == [r"dev\.conll → dev", r"notes\.txt → unlabelled",
                                                           r"names\.bioes\.iob → test"]
    assert store.counts(pid)["by_split"] == {"train": 0, "dev": 15, "test": 1, "unlabeled": 2}
    [row] = store.sentences(pid, split="test")
    assert row.tags == ["B-PER", "O", "O", "B-LOC", "I-LOC", "O"]


def test_bad_file_names_file_and_line_and_nothing_is_imported(monkeypatch, tmp_path):
    store, pid = new_project(tmp_path / "nerloop.db")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/upload.py")
    at.file_uploader(key="upload_files").set_value([("good.conll", SAMPLE, "text/plain"),
                                                    ("bad.conll", BAD, "text/plain")]).run()
    errors = [e.value for e in at.error]
    assert errors[0] == "bad.conll:3: illegal tag 'X-PER'" and "Nothing can be imported" in errors[1]
    assert at.button(key="upload_import").disabled
    assert sum(store.counts(pid)["by_split"].values()) == 0


def test_pasted_text_goes_to_the_unlabelled_pool(monkeypatch, tmp_path):
    store, pid = new_project(tmp_path / "nerloop.db")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/upload.py")
    at.text_area(key="upload_paste").input(TEXT.decode()).run()
    assert at.selectbox(key="upload_split_paste").value == "unlabeled"
    assert any("2 sentences · 0 labelled" in m for m in markdown(at))
    at.button(key="upload_import").click().run()
    rows = store.sentences(pid, split="unlabeled")
    assert [r.text for r in rows] == TEXT.decode().splitlines() and all(r.tags is None for r in rows)
    at.segmented_control(key="upload_paste_fmt").set_value("conll").run()  # the same text read as CoNLL fails
    assert at.error[0].value.startswith("pasted text:1: ") and at.button(key="upload_import").disabled


BIO_LINES = ("Patients received 3 . 5 mg daily .\nAs shown in Fig. 2 , doses rose .\n"
             "Serum levels fell ( p = 0 . 04 ) .\nNo adverse events were seen .\n").encode()
PROSE = b"Ada moved to Oslo in 1901. She taught there. Her pupils loved her.\nBo stayed in Rome. He wrote a book.\n"


def test_plain_text_one_sentence_per_line_or_split(monkeypatch, tmp_path):
    store, pid = new_project(tmp_path / "nerloop.db")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/upload.py")
    at.file_uploader(key="upload_files").set_value([("bio.txt", BIO_LINES, "text/plain"),
                                                    ("prose.txt", PROSE, "text/plain"),
                                                    ("dev.conll", SAMPLE_DEV, "text/plain")]).run()
    assert not at.exception
    at.selectbox(key="upload_split_2_dev.conll").set_value("dev")
    assert at.segmented_control(key="upload_lines_0_bio.txt").value == "one sentence per line"  # sniffed
    assert at.segmented_control(key="upload_lines_1_prose.txt").value == "split into sentences"
    assert not [c for c in at.segmented_control if c.key == "upload_lines_2_dev.conll"]  # CoNLL has no choice
    assert any(m.startswith("4 sentences · 0 labelled") for m in markdown(at))
    assert any(m.startswith("5 sentences · 0 labelled") for m in markdown(at))
    at.segmented_control(key="upload_lines_0_bio.txt").set_value("split into sentences").run()
    assert any(m.startswith("5 sentences · 0 labelled") for m in markdown(at))  # cut at "3 ." only (not "Fig. 2")
    at.segmented_control(key="upload_lines_0_bio.txt").set_value("one sentence per line")
    at.segmented_control(key="upload_lines_1_prose.txt").set_value("one sentence per line").run()
    assert at.button(key="upload_import").label == "Import 21 new sentences"
    at.button(key="upload_import").click().run()
    assert not at.exception
    texts = [r.text for r in store.sentences(pid, split="unlabeled")]
    assert texts == BIO_LINES.decode().splitlines() + PROSE.decode().splitlines()


GERMAN = "Der Vertrag wurde am 3. Mai unterzeichnet. Dann ging er nach Hause, z. B. zu Fuß.\n".encode()


def test_upload_language_reaches_the_sentence_splitter(monkeypatch, tmp_path):
    store, pid = new_project(tmp_path / "nerloop.db")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/upload.py")
    at.file_uploader(key="upload_files").upload("vertrag.txt", GERMAN, "text/plain").run()
    assert at.selectbox(key="upload_language").value == "en"
    assert any(m.startswith("3 sentences · 0 labelled") for m in markdown(at))  # English rules cut after "3."
    at.selectbox(key="upload_language").set_value("de").run()
    assert any(m.startswith("2 sentences · 0 labelled") for m in markdown(at))
    at.button(key="upload_import").click().run()
    assert not at.exception
    assert [r.text for r in store.sentences(pid)] == ["Der Vertrag wurde am 3. Mai unterzeichnet.",
                                                         "Dann ging er nach Hause, z. B. zu Fuß."]


def test_upload_hf_zip_into_the_splits_it_holds(monkeypatch, tmp_path):
    store, pid = new_project(tmp_path / "nerloop.db")
    sentences = formats.loads(SAMPLE_DEV, name="d.conll").sentences[:3]
    for s, split in zip(sentences, ("train", "dev", "test")):
        s.split = split
    data = formats.dumps(sentences, "hf", labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG",
                                                  "B-MISC", "I-MISC"])
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/upload.py")
    at.file_uploader(key="upload_files").upload("corpus_hf.zip", data, "application/zip").run()
    assert not at.exception
    assert any("3 sentences · 3 labelled" in m and "format **hf**" in m for m in markdown(at))
    assert at.selectbox(key="upload_split_0_corpus_hf.zip").value == "as in the file"
    at.button(key="upload_import").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [r"corpus\_hf\.zip → train 1, dev 1, test 1: 3 added, 0 duplicates "
                                             "skipped, 3 with tags"]
    assert store.counts(pid)["by_split"] == {"train": 1, "dev": 1, "test": 1, "unlabeled": 0}
    assert [r.tags for r in store.sentences(pid)] == [s.tags for s in sentences]


def test_preview_escapes_html_in_words_labels_and_file_names(monkeypatch, tmp_path):
    store, pid = new_project(tmp_path / "nerloop.db")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/upload.py")
    at.file_uploader(key="upload_files").upload("<b>evil</b>.conll", EVIL, "text/plain").run()
    assert not at.exception
    shown = "\n".join(markdown(at))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "&lt;img/src=x/onerror=alert(1)&gt;" in shown
    assert "<script>" not in shown and "<img" not in shown and "<b>evil" not in shown


# ---------------------------------------------------------------- Export


def test_export_conll_round_trips_the_effective_tags(monkeypatch, trained, downloads):
    db, pid = trained
    at = open_page(monkeypatch, db, pid, "pages/export.py")
    assert at.multiselect(key="export_splits").value == ["train", "dev"]
    at.segmented_control(key="export_scheme").set_value("iob1").run()
    name, data = download(at, downloads, "export_download")
    assert name == "news-train-dev.conll"
    store = Store(db)
    expected = store.sentences(pid, split="train") + store.sentences(pid, split="dev")
    assert expected[0].source == "human"
    back = formats.loads(data, name="export.conll")
    assert [s.words for s in back.sentences] == [r.words for r in expected]
    assert [s.tags for s in back.sentences] == [r.tags for r in expected]
    assert back.scheme == "iob1" and not any(line.startswith("B-") for line in data.decode().split())


def test_export_defaults_to_the_splits_with_annotations_and_names_the_file_after_them(monkeypatch, tmp_path,
                                                                                      downloads):
    store, pid = new_project(tmp_path / "nerloop.db")
    store.import_sentences(pid, formats.loads(SAMPLE_DEV, name="d.conll").sentences[:3], split="train")
    store.import_sentences(pid, formats.loads(TEXT, name="t.txt").sentences, split="test")  # no annotation
    store.import_sentences(pid, formats.loads(b"Ada went home.\nBo stayed.\n", name="u.txt").sentences,
                           split="unlabeled")
    ada = store.sentences(pid, split="unlabeled")[0]
    store.annotate(ada.id, ["B-PER", "O", "O", "O"], source="human")  # a correction left in the pool
    assert store.labelled_by_split(pid) == {"train": 3, "dev": 0, "test": 0, "unlabeled": 1}
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/export.py")
    assert at.multiselect(key="export_splits").value == ["train", "unlabeled"]
    name, data = download(at, downloads, "export_download")
    assert name == "news-train-unlabeled.conll"
    assert [s.words for s in formats.loads(data, name="x.conll").sentences][-1] == ada.words
    at.multiselect(key="export_splits").set_value(["train"]).run()
    assert download(at, downloads, "export_download")[0] == "news-train.conll"
    at.multiselect(key="export_splits").set_value(["test", "train"]).run()  # test holds nothing to write
    name, data = download(at, downloads, "export_download")
    assert name == "news-train.conll" and len(formats.loads(data, name="x.conll").sentences) == 3
    at.multiselect(key="export_splits").set_value(["test"]).run()
    assert at.download_button(key="export_download").disabled
    assert any("Nothing to export" in c.value for c in at.caption)


def test_export_writes_docstart_only_for_files_that_had_document_markers(monkeypatch, tmp_path, downloads):
    plain = b"Ada B-PER\nmet O\nBob B-PER\n\nThey O\nleft O\n"
    marked = b"-DOCSTART- O\n\nOslo B-LOC\nwas O\ncold O\n\n-DOCSTART- O\n\nRome B-LOC\nwas O\nwarm O\n"
    store, pid = new_project(tmp_path / "nerloop.db")
    store.import_sentences(pid, formats.loads(plain, name="plain.conll").sentences, split="train")
    store.import_sentences(pid, formats.loads(marked, name="marked.conll").sentences, split="dev")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/export.py")
    at.multiselect(key="export_splits").set_value(["train"]).run()
    name, data = download(at, downloads, "export_download")
    assert name == "news-train.conll" and data == plain  # no -DOCSTART- line where the file had none
    at.multiselect(key="export_splits").set_value(["dev"]).run()
    assert download(at, downloads, "export_download")[1] == marked  # one before each document, as imported


def test_export_jsonl_marks_model_predictions(monkeypatch, trained, downloads):
    db, pid = trained
    at = open_page(monkeypatch, db, pid, "pages/export.py")
    at.multiselect(key="export_splits").set_value(["dev", "unlabeled"])
    at.segmented_control(key="export_format").set_value("jsonl").run()
    assert not at.toggle(key="export_predictions").disabled
    without = [json.loads(line) for line in download(at, downloads, "export_download")[1].decode().splitlines()]
    assert len(without) == 15 and {r["source"] for r in without} == {"gold"}  # unlabelled left out
    at.toggle(key="export_predictions").set_value(True).run()
    name, data = download(at, downloads, "export_download")
    assert name == "news-dev-unlabeled-predicted.jsonl"
    records = [json.loads(line) for line in data.decode().splitlines()]
    store = Store(db)
    unlabelled = store.sentences(pid, split="unlabeled")
    assert [r["source"] for r in records] == ["gold"] * 15 + ["model"] * 3
    assert {r.get("model") for r in records[15:]} == {store.serving(pid).name}
    back = formats.loads(data, name="export.jsonl").sentences
    assert [s.tags for s in back[:15]] == [r.tags for r in store.sentences(pid, split="dev")]
    predicted = Tagger.load(store.serving(pid).folder).predict([r.words for r in unlabelled])
    assert [s.tags for s in back[15:]] == [p.tags for p in predicted]
    assert [s.text for s in back[15:]] == [r.text for r in unlabelled]


def test_export_model_zip_holds_the_serving_folder(monkeypatch, trained, downloads):
    db, pid = trained
    at = open_page(monkeypatch, db, pid, "pages/export.py")
    serving = Store(db).serving(pid)
    name, data = download(at, downloads, "export_model_download")
    assert name == f"news-{serving.name}.zip"
    archive = zipfile.ZipFile(io.BytesIO(data))
    root = f"news-{serving.name}"
    folder = Path(serving.folder)
    assert sorted(archive.namelist()) == sorted(f"{root}/{p.relative_to(folder).as_posix()}"
                                                for p in folder.rglob("*") if p.is_file())
    assert json.loads(archive.read(f"{root}/config.json")) == json.loads((folder / "config.json").read_text())


def test_export_without_a_model(monkeypatch, tmp_path, downloads):
    store, pid = new_project(tmp_path / "nerloop.db")
    store.import_sentences(pid, formats.loads(TEXT, name="t.txt").sentences, split="unlabeled")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/export.py")
    assert at.toggle(key="export_predictions").disabled and not at.get("download_button")[1:]
    assert at.multiselect(key="export_splits").value == []
    assert at.download_button(key="export_download").disabled


def test_export_offers_hf_as_a_zip_and_spacy_only_when_installed(monkeypatch, trained, downloads):
    import datasets

    db, pid = trained
    at = open_page(monkeypatch, db, pid, "pages/export.py")
    at.segmented_control(key="export_format").set_value("hf").run()
    name, data = download(at, downloads, "export_download")
    assert name == "news-train-dev.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "dataset_dict.json" in zf.namelist()
        zf.extractall(Path(db).parent / "hf")
    loaded = datasets.load_from_disk(str(Path(db).parent / "hf"))
    labels = Store(db).project(pid).labels
    assert loaded["train"].features["ner_tags"].feature.names == ["O"] + [f"{p}-{t}" for t in sorted(labels)
                                                                         for p in "BI"]
    assert set(loaded) == {"train", "validation"} and len(loaded["validation"]) == 15
    assert not at.download_button(key="export_download").disabled
    monkeypatch.setitem(sys.modules, "spacy", None)  # as if spaCy were not installed
    at = open_page(monkeypatch, db, pid, "pages/export.py")
    assert [o.content for o in at.segmented_control(key="export_format").proto.options
            if "not installed" in o.content] == ["SPACY (not installed)"]
    at.segmented_control(key="export_format").set_value("spacy").run()
    assert [i.value for i in at.info] == [r"spacy is not available: the spacy format needs spacy: pip install "
                                          r"nerloop\[spacy\]"]
    assert at.download_button(key="export_download").disabled


# ---------------------------------------------------------------- core.demo export helpers


def test_export_annotations_bioes_and_counts(tmp_path):
    store, pid = new_project(tmp_path / "n.db")
    store.import_sentences(pid, formats.loads(SAMPLE_DEV, name="d.conll").sentences, split="dev")
    store.import_sentences(pid, formats.loads(TEXT, name="t.txt").sentences, split="dev")
    result = export.export_annotations(store, pid, splits=["dev"], fmt="conll", scheme="bioes")
    assert (result.labelled, result.predicted, result.left_out) == (15, 0, 2)
    back = formats.loads(result.data, name="x.conll")
    assert back.scheme == "bioes"
    assert [s.tags for s in back.sentences] == [r.tags for r in store.sentences(pid, split="dev")[:15]]
    with pytest.raises(ValueError, match="export format"):
        export.export_annotations(store, pid, splits=["dev"], fmt="text")
    with pytest.raises(ValueError, match="invalid split"):
        export.export_annotations(store, pid, splits=["gold"], fmt="conll")


def test_export_annotations_marks_predictions_in_a_conll_column(tmp_path):
    class Stub:  # a tagger that calls every first word a person
        def predict(self, sentences, *, batch_size):
            return [type("P", (), {"tags": ["B-PER"] + ["O"] * (len(w) - 1)}) for w in sentences]

    store, pid = new_project(tmp_path / "n.db")
    store.import_sentences(pid, formats.loads(SAMPLE_DEV, name="d.conll").sentences[:2], split="dev")
    store.import_sentences(pid, formats.loads(TEXT, name="t.txt").sentences, split="unlabeled")
    result = export.export_annotations(store, pid, splits=["dev", "unlabeled"], fmt="conll", tagger=Stub())
    assert (result.labelled, result.predicted, result.left_out) == (2, 2, 0)
    back = formats.loads(result.data, name="x.conll").sentences
    assert [s.columns[0] for s in back] == [["gold"], ["gold"], ["model"], ["model"]]
    assert back[2].tags[:2] == ["B-PER", "O"]


def test_known_counts_what_an_import_would_skip(tmp_path):
    store, pid = new_project(tmp_path / "n.db")
    dev = formats.loads(SAMPLE_DEV, name="d.conll").sentences
    store.import_sentences(pid, dev[:4] + dev[:1], split="dev")  # the first sentence twice
    assert len(store.sentences(pid)) == 5
    corpora = [dev, dev[4:], [], dev[:1] * 3]
    assert [store.duplicates(pid, c) for c in corpora] == [4, 0, 0, 2]
    assert store.import_sentences(pid, dev[:1] * 3, split="dev") == {"added": 1, "duplicates": 2, "annotated": 1}
    assert [store.duplicates(pid, c) for c in [dev, dev[:1] * 4]] == [4, 3]
    assert store.import_sentences(pid, dev, split="dev")["duplicates"] == 4


def test_zip_folder(tmp_path):
    (tmp_path / "m" / "sub").mkdir(parents=True)
    (tmp_path / "m" / "config.json").write_text("{}")
    (tmp_path / "m" / "sub" / "w.bin").write_bytes(b"\0" * 10)
    names = zipfile.ZipFile(io.BytesIO(export.zip_folder(tmp_path / "m", "root"))).namelist()
    assert sorted(names) == ["root/config.json", "root/sub/w.bin"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export.zip_folder(tmp_path / "missing", "root")


def test_export_names_what_another_format_leaves_behind(monkeypatch, tmp_path, downloads):
    store, pid = new_project(tmp_path / "nerloop.db")
    record = {"text": "Ann met Bo Smith.", "spans": [{"start": 8, "end": 16, "label": "PER"},
                                                    {"start": 11, "end": 16, "label": "PER"}]}
    store.import_sentences(pid, formats.loads(json.dumps(record).encode(), name="s.jsonl").sentences, split="train")
    at = open_page(monkeypatch, tmp_path / "nerloop.db", pid, "pages/export.py")
    assert any("Not in a CoNLL" in c.value and "1 stacked span" in c.value for c in at.caption)
    at.segmented_control(key="export_format").set_value("jsonl").run()
    assert not any("Not in a" in c.value for c in at.caption)
