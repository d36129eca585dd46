"""Fuzzing the import edge (Hypothesis, fixed seed, bounded examples): random bytes and mutated CoNLL, JSONL and text
files either parse or raise FormatError("name:line: problem"); a refused import leaves the database content as it
was, an accepted one leaves every project readable and exportable."""
from __future__ import annotations

import io
import itertools
import re
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import export, formats
from core.formats import Sentence
from core.store import SPLITS, Store

CONLL = ("-DOCSTART- -X- O\n\nAda NNP B-PER\nLovelace NNP I-PER\nmet VBD O\nBob NNP B-PER\n. . O\n\n"
         "Oslo NNP B-LOC\nfell VBD O\n")
JSONL = ('{"text": "Ada Lovelace met Bob.", "spans": [{"start": 0, "end": 12, "label": "PER"}, '
         '{"start": 17, "end": 20, "label": "PER"}], "doc_id": "d1"}\n'
         '{"text": "Oslo fell.", "tokens": [{"text": "Oslo", "start": 0, "end": 4}, {"text": "fell", "start": 5, '
         '"end": 9}, {"text": ".", "start": 9, "end": 10}], "spans": [{"start": 0, "end": 4, "label": "LOC"}]}\n')
TEXT = "Ada Lovelace met Bob in London.\nOslo fell.\n\nA new page here.\n"
NAMES = ["f.conll", "f.tsv", "f.jsonl", "f.json", "f.txt", "f"]
NASTY = ["\r", "\r\n", "\n", "\n\n", "\t", " ", "\\udc00", "\\ud83d\\ude00", "\udc00", "\ud800", "\ufeff", "\x00",
         "\x1f", "\u2028", "\u0085", "\u00a0", "[" * 3000, '{"a": ' * 1500, "9" * 5000, "-" + "9" * 120, "1e999",
         "B-B-PER", "B-O", "I-", "per", "B-per", "PER,LOC", "B-" + "X" * 60, "B-P", "E-PER", "S-LOC", "-DOCSTART-",
         "-DOCSTART- O\n", '"', "{", "}", "[", "]", ":", ",", "New York\tB-LOC\n", '{"text": "New York"}',
         '"label": "P\\udc00"', '"label": "per"', '"start": -1', '"end": 99999', "null", "true", "O", "\\u0000"]
LINE_END = re.compile(r"\r\n?|\n")
FRESH = itertools.count()
WORD = st.text(st.sampled_from(list("Adaob.-'é") + [" ", "\t", "\udc00", "\ufeff", "\x00", "\x1f", "\u00a0"]), max_size=4)
TAG = st.sampled_from(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-per", "B-B-PER", "B-P\udc00", "B-PER,LOC",
                       "B-" + "X" * 60, "B-O", "I-", "PER", "B-NEW"])


@st.composite
def mutated(draw: st.DrawFn, most: int = 4) -> tuple[str, str]:
    """A valid CoNLL, JSONL or text file after 1 to `most` character or line mutations; (name, text)."""
    text = draw(st.sampled_from([CONLL, JSONL, TEXT]))
    for _ in range(draw(st.integers(1, most))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "line"]))
        i = draw(st.integers(0, len(text)))
        piece = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=6)))
        if kind == "insert":
            text = text[:i] + piece + text[i:]
        elif kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 30)):]
        elif kind == "replace":
            text = text[:i] + piece + text[i + 1:]
        else:
            lines = text.split("\n")
            j = draw(st.integers(0, len(lines) - 1))
            lines[j:j + 1] = draw(st.sampled_from([[], [lines[j], lines[j]], [piece], [lines[j] + piece]]))
            text = "\n".join(lines)
    return draw(st.sampled_from(NAMES)), text


@st.composite
def built(draw: st.DrawFn) -> list[Sentence]:
    """1-3 sentences built in code, as an API caller of the store would, from odd words and tags."""
    sentences = []
    for line in range(1, draw(st.integers(1, 3)) + 1):
        words = draw(st.lists(WORD, max_size=4))
        tags = draw(st.none() | st.lists(TAG, min_size=len(words), max_size=len(words)))
        offsets, pos = [], 0
        for w in words:
            offsets.append((pos, pos + len(w)))
            pos += len(w) + 1
        sentences.append(Sentence(words, tags, " ".join(words), offsets, line=line))
    return sentences


def as_input(text: str, as_bytes: bool) -> bytes | str:
    """The file's bytes (a lone surrogate becomes invalid UTF-8) or, as a page may pass it, the str itself."""
    return text.encode("utf-8", "surrogatepass") if as_bytes else text


def parse(name: str, data: bytes | str) -> formats.Corpus | None:
    """formats.loads, or None after checking that its refusal is a FormatError of the form `name:line: problem`."""
    try:
        return formats.loads(data, name=name)
    except formats.FormatError as e:
        raw = data if isinstance(data, str) else data.decode("utf-8", "replace")
        assert str(e).startswith(f"{name}:{e.line}: ") and e.problem.strip()
        assert 1 <= e.line <= len(LINE_END.findall(raw)) + 1
        str(e).encode("utf-8")  # the message prints anywhere: no lone surrogate in it
        return None


FUZZ = settings(derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@settings(FUZZ, max_examples=150)
@given(name=st.sampled_from(NAMES), data=st.binary(max_size=400))
def test_random_bytes_parse_or_raise_format_error(name, data):
    parse(name, data)


@settings(FUZZ, max_examples=250)
@given(file=mutated(), as_bytes=st.booleans())
def test_mutated_files_parse_or_raise_format_error(file, as_bytes):
    name, text = file
    parse(name, as_input(text, as_bytes))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("fuzz") / "n.db")
    store.create_project("fixed", ["PER", "LOC"])
    store.create_project("open", [])
    yield store
    store.close()


def files(data: bytes, name: str, fmt: str) -> list[tuple[str, bytes]]:
    """An export as the files it holds: itself, or for a text format's zip (webanno's several documents) each file."""
    if formats.get(fmt).binary or not data.startswith(b"PK\x03\x04"):
        return [(name, data)]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(n, zf.read(n)) for n in zf.namelist()]


def readable(store: Store) -> None:
    """Every project lists, reads and exports in every export format, and the export reads back to the stored words
    (or, for formats without tokens, the stored characters)."""
    for project in store.projects():
        rows = store.sentences(project.id)
        for fmt in export.EXPORT_FORMATS:
            out = export.export_annotations(store, project.id, splits=list(SPLITS), fmt=fmt)
            if not out.labelled + out.predicted:  # nothing written (a zip still has its directory)
                continue
            back = [s for name, data in files(out.data, f"export{formats.get(fmt).extensions[0]}", fmt)
                    for s in formats.loads(data, name=name, fmt=fmt).sentences]
            held = [r for r in rows if r.tags is not None]
            if fmt in ("conll", "jsonl", "prodigy"):  # formats that keep our words
                assert sorted(s.words for s in back) == sorted(r.words for r in held)
            else:  # text and spans only: the same characters come back, tokenised and split anew
                assert sorted(c for s in back for c in s.text if not c.isspace()) == sorted(
                    c for r in held for c in r.text if not c.isspace())


def import_all_or_nothing(store: Store, sentences: list[Sentence], name: str, project: str, new_labels: bool) -> None:
    """Import a good file then `sentences` in one go: refused with `name:line:` and the database unchanged, or done
    and every project still readable."""
    pid = store.project(project).id
    before = list(store.db.conn.iterdump())
    good = formats.loads(f"Ada B-PER\nmet O\nvisitor{next(FRESH)} O\n", name="good.conll").sentences  # new each time
    try:  # the good file first: a refusal must not keep it either
        store.import_many(pid, [(good, "dev", "good.conll"), (sentences, "train", name)], new_labels=new_labels)
    except formats.FormatError as e:
        assert str(e).startswith(f"{name}:{e.line}: ")
        str(e).encode("utf-8")  # the message prints anywhere: no lone surrogate in it
        assert list(store.db.conn.iterdump()) == before
    readable(store)


@settings(FUZZ, max_examples=40)
@given(file=mutated(most=2), as_bytes=st.booleans(), project=st.sampled_from(["fixed", "open"]),
       new_labels=st.booleans())
def test_a_file_import_is_all_or_nothing_and_leaves_the_database_readable(store, file, as_bytes, project, new_labels):
    name, text = file
    corpus = parse(name, as_input(text, as_bytes))
    if corpus is not None:
        import_all_or_nothing(store, corpus.sentences, name, project, new_labels)


@settings(FUZZ, max_examples=40)
@given(sentences=built(), project=st.sampled_from(["fixed", "open"]), new_labels=st.booleans())
def test_sentences_built_in_code_are_checked_as_files_are(store, sentences, project, new_labels):
    import_all_or_nothing(store, sentences, "api", project, new_labels)
