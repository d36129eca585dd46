"""Format layer: CoNLL / JSONL / plain text reading, writing, scheme conversion and input errors."""
import json
import os
import pickle

import pytest

from core.formats import (Corpus, FormatError, Sentence, detect_format, detect_scheme, dumps, from_iob2, loads,
                          looks_line_per_sentence, read, spans, split_sentences, tags_from_spans, to_iob2, tokenize,
                          write)

# Self-written sentences; the same entities in three tag schemes, four columns (word POS chunk tag).
IOB2 = """\
-DOCSTART- -X- -X- O

Anna NNP B-NP B-PER
Berg NNP I-NP I-PER
visited VBD B-VP O
Oslo NNP B-NP B-LOC
. . O O

Kari NNP B-NP B-PER
Nils NNP I-NP B-PER
met VBD B-VP O
Acme NNP B-NP B-ORG
Tools NNPS I-NP I-ORG

-DOCSTART- -X- -X- O

Rain NN B-NP O
fell VBD B-VP O
"""
IOB1 = IOB2.replace("B-PER\nBerg", "I-PER\nBerg").replace("B-LOC", "I-LOC").replace(
    "Kari NNP B-NP B-PER", "Kari NNP B-NP I-PER").replace("B-ORG", "I-ORG")
BIOES = IOB2.replace("Berg NNP I-NP I-PER", "Berg NNP I-NP E-PER").replace("B-LOC", "S-LOC").replace(
    "Kari NNP B-NP B-PER", "Kari NNP B-NP S-PER").replace("Nils NNP I-NP B-PER", "Nils NNP I-NP S-PER").replace(
    "Tools NNPS I-NP I-ORG", "Tools NNPS I-NP E-ORG")
EXPECTED_TAGS = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-PER", "B-PER", "O", "B-ORG", "I-ORG"], ["O", "O"]]


def fields(s: Sentence) -> tuple:
    return s.words, s.tags, s.text, s.offsets, s.doc_id, s.columns


def assert_same(a: list[Sentence], b: list[Sentence]) -> None:
    assert [fields(s) for s in a] == [fields(s) for s in b]


# ---------------------------------------------------------------- CoNLL

@pytest.mark.parametrize("text,scheme", [(IOB2, "iob2"), (IOB1, "iob1"), (BIOES, "bioes")])
def test_conll_schemes_read_as_iob2_and_round_trip_byte_for_byte(text, scheme):
    c = loads(text, name="a.conll")
    assert (c.fmt, c.scheme, c.sep) == ("conll", scheme, " ")
    assert [s.tags for s in c.sentences] == EXPECTED_TAGS
    assert dumps(c.sentences, "conll", scheme=c.scheme, sep=c.sep) == text
    assert_same(loads(dumps(c.sentences, "conll", scheme=scheme), name="b.conll").sentences, c.sentences)


def test_conll_sentence_fields():
    c = loads(IOB2.encode(), name="a.conll")
    s = c.sentences[0]
    assert s.words == ["Anna", "Berg", "visited", "Oslo", "."]
    assert s.text == "Anna Berg visited Oslo ."
    assert all(s.text[a:b] == w for w, (a, b) in zip(s.words, s.offsets))
    assert s.columns[:2] == [["NNP", "B-NP"], ["NNP", "I-NP"]]
    assert [x.line for x in c.sentences] == [3, 9, 17]


def test_conll_converts_between_schemes_on_export():
    c = loads(IOB1, name="a.conll")
    assert dumps(c.sentences, "conll", scheme="bioes") == BIOES
    assert dumps(loads(BIOES, name="b.conll").sentences, "conll", scheme="iob1") == IOB1


def test_conll_bilou_aliases():
    c = loads("Ann X U-PER\nLee X B-PER\nMoe X L-PER\n", name="a.bio")
    assert c.scheme == "bioes"
    assert c.sentences[0].tags == ["B-PER", "B-PER", "I-PER"]


def test_conll_docstart_documents():
    text = "Hi O\n\n-DOCSTART- O\n\nA B-X\n\nB O\n\n-DOCSTART- O\n\nC O\n"
    c = loads(text, name="d.conll")
    assert [s.words for s in c.sentences] == [["Hi"], ["A"], ["B"], ["C"]]
    assert [s.doc_id for s in c.sentences] == [None, "doc-1", "doc-1", "doc-2"]
    assert dumps(c.sentences, "conll") == text


def test_conll_tabs_and_two_columns():
    text = "-DOCSTART-\tO\n\nNew-York\tB-LOC\nis\tO\n\nok\tO\n"
    c = loads(text, name="t.tsv")
    assert c.sep == "\t"
    assert c.sentences[0].words == ["New-York", "is"]
    assert c.sentences[0].offsets == [(0, 8), (9, 11)]
    assert c.sentences[0].columns is None
    assert dumps(c.sentences, "conll", scheme=c.scheme, sep=c.sep) == text
    with pytest.raises(ValueError, match="separator"):  # words built in code are still guarded on export
        dumps([Sentence(["New York"], ["B-LOC"], "New York", [(0, 8)])], "conll", sep=" ")


def test_conll_runs_of_spaces_and_crlf_and_bom():
    c = loads(b"\xef\xbb\xbfAnna   NNP  B-PER\r\nruns VBZ O\r\n\r\n", name="x.conll")
    assert c.sentences[0].words == ["Anna", "runs"]
    assert c.sentences[0].columns == [["NNP"], ["VBZ"]]
    assert c.sentences[0].tags == ["B-PER", "O"]


def test_conll_docstart_adapts_to_column_count_and_unlabelled_get_o():
    sents = [Sentence(["a", "b"], None, "a b", [(0, 1), (2, 3)], doc_id="d1")]
    assert dumps(sents, "conll") == "-DOCSTART- O\n\na O\nb O\n\n"
    sents[0].columns = [["N", "c1"], ["V", "c2"]]
    assert dumps(sents, "conll", sep="\t") == "-DOCSTART-\t-X-\t-X-\tO\n\na\tN\tc1\tO\nb\tV\tc2\tO\n\n"


def test_conll_export_refuses_mixed_column_counts():
    a = Sentence(["a"], ["O"], "a", [(0, 1)], columns=[["N"]])
    b = Sentence(["b"], ["O"], "b", [(0, 1)])
    with pytest.raises(ValueError, match="middle CoNLL columns"):
        dumps([a, b], "conll")


# ---------------------------------------------------------------- format detection

def test_detect_format_conll_txt_and_extensions():
    conll_txt = "-DOCSTART- -X- -X- O\n\nZed NNP I-NP I-ORG\nsold VBD I-VP O\n\n"
    assert detect_format("train.txt", conll_txt) == "conll"
    assert loads(conll_txt, name="train.txt").fmt == "conll"
    assert detect_format("notes.txt", "Zed sold the firm.\nIt was O\n") == "text"
    assert detect_format("notes.txt", "") == "text"
    assert detect_format("x.IOB", "") == detect_format("x.bioes", "") == detect_format("x.tsv", "") == "conll"
    assert detect_format("x.json", "") == detect_format("x.jsonl", "") == "jsonl"
    assert detect_format("noext", "a O\nb B-X\n") == "conll"


# ---------------------------------------------------------------- JSONL

def test_jsonl_with_and_without_tokens():
    recs = [
        {"text": "Meet Ola Nordmann today", "spans": [{"start": 5, "end": 17, "label": "PER"}],
         "tokens": [{"text": "Meet", "start": 0, "end": 4, "id": 0}, {"text": "Ola", "start": 5, "end": 8},
                    {"text": "Nordmann", "start": 9, "end": 17}, {"text": "today", "start": 18, "end": 23}],
         "meta": {"doc_id": "m7"}},
        {"text": "Visit Rome, now.", "spans": [{"start": 6, "end": 10, "label": "LOC"}], "doc_id": "d2"},
        {"text": "No entities here"},
        {"text": "All O", "spans": []},
    ]
    data = "\n".join(json.dumps(r) for r in recs[:2]) + "\n\n" + "\n".join(json.dumps(r) for r in recs[2:]) + "\n"
    c = loads(data, name="x.jsonl")
    assert (c.fmt, c.scheme) == ("jsonl", "iob2")
    s0, s1, s2, s3 = c.sentences
    assert (s0.words, s0.tags, s0.doc_id) == (["Meet", "Ola", "Nordmann", "today"], ["O", "B-PER", "I-PER", "O"], "m7")
    assert (s1.words, s1.tags, s1.doc_id) == (["Visit", "Rome", ",", "now", "."], ["O", "B-LOC", "O", "O", "O"], "d2")
    assert s2.tags is None and s3.tags == ["O", "O"]
    assert [s.line for s in c.sentences] == [1, 2, 4, 5]
    back = loads(dumps(c.sentences, "jsonl"), name="y.jsonl")
    assert_same(back.sentences, c.sentences)
    assert "spans" not in json.loads(dumps([s2], "jsonl"))


def test_jsonl_unlabelled_scheme_none():
    assert loads('{"text": "just words"}\n', name="u.jsonl").scheme is None


def test_cross_format_conll_to_jsonl_keeps_entities():
    c = loads(IOB1, name="a.conll")
    back = loads(dumps(c.sentences, "jsonl"), name="b.jsonl").sentences
    assert [(s.words, s.tags, s.text) for s in back] == [(s.words, s.tags, s.text) for s in c.sentences]


# ---------------------------------------------------------------- plain text

TEXT = "Dr. Ada Lind moved to the U.S. in 2001. She didn't stay long!\nIt cost 3.5 million.\n\n  \"Why?\" asked Bo.\n"


def test_plain_text_sentences_words_offsets():
    c = loads(TEXT, name="story.txt")
    assert (c.fmt, c.scheme) == ("text", None)
    texts = [s.text for s in c.sentences]
    assert texts == ["Dr. Ada Lind moved to the U.S. in 2001.", "She didn't stay long!", "It cost 3.5 million.",
                     '"Why?" asked Bo.']
    assert [s.doc_id for s in c.sentences] == ["p-1", "p-1", "p-1", "p-2"]
    assert [s.line for s in c.sentences] == [1, 1, 2, 4]
    assert c.sentences[1].words == ["She", "didn't", "stay", "long", "!"]
    assert "U.S." in c.sentences[0].words and "3.5" in c.sentences[2].words
    for s in c.sentences:
        assert s.tags is None
        assert all(s.text[a:b] == w for w, (a, b) in zip(s.words, s.offsets))
        assert s.text in TEXT


def test_plain_text_round_trip():
    c = loads(TEXT.replace("\n", "\r\n"), name="story.txt")
    out = dumps(c.sentences, "text")
    assert out == ("Dr. Ada Lind moved to the U.S. in 2001.\nShe didn't stay long!\nIt cost 3.5 million.\n\n"
                   '"Why?" asked Bo.\n')
    assert_same(loads(out, name="again.txt").sentences, c.sentences)


def test_tokenize_and_split_sentences():
    text = "A well-known e-mail, (ok) rock'n'roll U.S.A. café\u0301s U.S.A"
    assert [w for w, _, _ in tokenize(text)] == ["A", "well-known", "e-mail", ",", "(", "ok", ")", "rock'n'roll",
                                                 "U.S.A.", "café\u0301s", "U.S.A"]
    assert all(text[a:b] == w for w, a, b in tokenize(text))
    s = "One. two. Three? 4 is next.  Mr. Li said so"
    assert [s[a:b] for a, b in split_sentences(s)] == ["One. two.", "Three?", "4 is next.", "Mr. Li said so"]


# One sentence per line, tokenised as biomedical corpora are: a split decimal ("3 . 5") or an abbreviation before a
# number ("Fig. 2") looks like a sentence break to the splitter. Self-written.
LINE_TEMPLATES = [
    "Patients in arm {i} received 3 . 5 mg of the study drug twice daily .",
    "Serum levels fell in {i} of the treated mice ( p = 0 . 04 ) .",
    "As shown in Fig. 2 , cohort {i} responded within a week .",
    "Doses of 3.5 mg were well tolerated by volunteer {i} .",
    "The BRCA1 variant was found in family {i} .",
    "No adverse events were reported at site {i} .",
    "Expression of TP53 was measured in sample {i} by qPCR .",
    "Tumour size decreased in patient {i} after the second cycle .",
    "Approval was granted by the ethics board of hospital {i} .",
    "Follow-up of participant {i} continued for two years .",
]
LINES_400 = "".join(LINE_TEMPLATES[i % 10].format(i=i) + "\n" for i in range(400))


def test_one_sentence_per_line_keeps_every_line_whole():
    split = loads(LINES_400, name="bio.txt", lines=False)
    assert len(split.sentences) > 400 and not split.lines  # the splitter cuts at "3 ." and "Fig."
    for c in (loads(LINES_400, name="bio.txt"), loads(LINES_400, name="bio.txt", lines=True)):
        assert c.lines is True and len(c.sentences) == 400
        assert [s.text for s in c.sentences] == LINES_400.splitlines()
        assert [s.line for s in c.sentences] == list(range(1, 401))
        assert {s.doc_id for s in c.sentences} == {"p-1"}
        for s in c.sentences:
            assert all(s.text[a:b] == w for w, (a, b) in zip(s.words, s.offsets))
    first = loads(LINES_400, name="bio.txt").sentences[0]
    assert first.words[5:8] == ["3", ".", "5"]


def test_one_sentence_per_line_trims_and_keeps_documents():
    c = loads("  Ann met Bo . It cost 3 . 5 mg .\r\n\r\nSecond document here .\r\n", name="d.txt", lines=True)
    assert [(s.text, s.doc_id, s.line) for s in c.sentences] == [
        ("Ann met Bo . It cost 3 . 5 mg .", "p-1", 1), ("Second document here .", "p-2", 3)]
    assert c.sentences[0].offsets[:2] == [(0, 3), (4, 7)]
    with pytest.raises(FormatError) as e:
        loads(" \n\n", name="blank.txt", lines=True)
    assert str(e.value) == "blank.txt:1: empty file"


def test_sniffer_says_line_per_sentence():
    assert looks_line_per_sentence(LINES_400)
    assert looks_line_per_sentence("Ann met Bo.\nIt rained in Oslo.\n\nBo left?\n")
    exported = dumps(loads(TEXT, name="story.txt").sentences, "text")
    assert looks_line_per_sentence(exported)


WRAPPED = """The committee met in Geneva in the spring of 1864 and agreed on the
first convention, which ten states signed in August. Its articles
protected the wounded and those who cared for them, and the red cross
on a white ground became the sign of that protection.

Later conferences extended the rules to war at sea and to
prisoners, and by 1906 a revised text had been adopted.
"""
PARAGRAPH_LINES = ("Ada moved to Oslo in 1901. She taught there for years. Her pupils loved her.\n"
                   "Bo stayed in Rome. He wrote a book. It sold well.\n"
                   "The war came. Both of them left. Neither returned.\n")


@pytest.mark.parametrize("text", [WRAPPED, PARAGRAPH_LINES, TEXT, "One line. Two sentences in it.\n",
                                  "Just one line\n", ""])
def test_sniffer_says_split(text):
    assert not looks_line_per_sentence(text)
    if text.strip():
        assert loads(text, name="t.txt").lines is False


# ---------------------------------------------------------------- tag schemes

def test_detect_scheme():
    assert detect_scheme([["B-X", "I-X", "O"], ["B-Y"]]) == "iob2"
    assert detect_scheme([["O", "I-X"], ["B-Y"]]) == "iob1"
    assert detect_scheme([["B-X", "I-Y"]]) == "iob1"
    assert detect_scheme([["I-X", "B-X"], ["S-Y"]]) == "bioes"
    assert detect_scheme([["U-X"]]) == "bioes"
    assert detect_scheme([["O", "O"]]) == "iob2"


def test_scheme_conversions():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"]
    bioes = ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "S-ORG"]
    assert to_iob2(iob1, "iob1") == iob2
    assert from_iob2(iob2, "iob1") == iob1
    assert to_iob2(bioes, "bioes") == iob2
    assert from_iob2(iob2, "bioes") == bioes
    assert to_iob2(["B-A", "I-A", "L-A", "U-B"], "bioes") == ["B-A", "I-A", "I-A", "B-B"]
    assert from_iob2(["B-A", "I-A", "I-A"], "bioes") == ["B-A", "I-A", "E-A"]
    assert from_iob2(["O", "I-A"], "iob2") == ["O", "B-A"]
    with pytest.raises(ValueError, match="not closed"):
        to_iob2(["B-A", "O"], "bioes")
    with pytest.raises(ValueError, match="unknown tag scheme"):
        from_iob2(["O"], "bilou")


def test_spans_and_tags_from_spans():
    tags = ["B-A", "I-A", "O", "I-B", "B-B", "B-C"]
    assert spans(tags) == [(0, 2, "A"), (3, 4, "B"), (4, 5, "B"), (5, 6, "C")]
    assert tags_from_spans(6, spans(tags)) == ["B-A", "I-A", "O", "B-B", "B-B", "B-C"]
    with pytest.raises(ValueError):
        tags_from_spans(3, [(0, 2, "A"), (1, 3, "B")])
    with pytest.raises(ValueError):
        tags_from_spans(3, [(2, 4, "A")])


# ---------------------------------------------------------------- bad input

def jl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


OK = {"text": "Ann met Bo", "spans": [{"start": 0, "end": 3, "label": "PER"}]}
TOKS = [{"text": "Ann", "start": 0, "end": 3}, {"text": "met", "start": 4, "end": 7}]

BAD = [
    ("c.conll", "a X O\nb X\n", None, 2, "expected 3 columns, found 2"),
    ("c.conll", "a\n", None, 1, "expected at least 2 columns, found 1"),
    ("c.conll", "a X O\n\nb X B-\n", None, 3, "illegal tag 'B-'"),
    ("c.conll", "a O\nb per\n", None, 2, "illegal tag 'per'"),
    ("c.conll", "a B-PER\nb B-LOC\n", {"PER", "ORG"}, 2, "unknown label 'LOC' (known: ORG, PER)"),
    ("c.conll", "a S-X\n\nb O\nc I-X\nd E-X\n", None, 4, "'I-X' starts an entity"),
    ("c.conll", "a S-X\nb E-X\n", None, 2, "'E-X' starts an entity"),
    ("c.conll", "a S-X\n\nb B-X\nc I-X\nd O\n", None, 3, "'B-X' is not closed"),
    ("c.conll", "a B-X\nb S-X\n", None, 1, "'B-X' is not closed"),
    ("c.conll", b"a O\n\nb\xff O\n", None, 3, "invalid UTF-8"),
    ("c.conll", "", None, 1, "empty file"),
    ("c.conll", "-DOCSTART- -X- -X- O\n\n", None, 1, "empty file"),
    ("j.jsonl", jl(OK, "{not json"), None, 2, "invalid JSON"),
    ("j.jsonl", jl(OK, OK, [1, 2]), None, 3, "expected a JSON object"),
    ("j.jsonl", jl({"spans": []}), None, 1, "missing or non-string 'text'"),
    ("j.jsonl", jl(OK, {"text": 5}), None, 2, "missing or non-string 'text'"),
    ("j.jsonl", jl({"text": "Ann met", "tokens": [TOKS[0], {"text": "mat", "start": 4, "end": 7}]}), None, 1,
     "offsets (4, 7) do not match"),
    ("j.jsonl", jl(OK, {"text": "Ann", "spans": [{"start": 0, "end": 9, "label": "PER"}]}), None, 2,
     "span (0, 9) out of range"),
    ("j.jsonl", jl({"text": "Ann met", "tokens": [TOKS[0]], "spans": [{"start": 4, "end": 7, "label": "PER"}]}),
     None, 1, "span (4, 7) 'met' is not on token boundaries"),
    ("j.jsonl", jl(OK), {"LOC"}, 1, "unknown label 'PER' (known: LOC)"),
    ("j.jsonl", jl({"text": "Ann", "spans": [{"start": 0, "end": 3, "label": ""}]}), None, 1, "empty label"),
    ("j.jsonl", "\n \n", None, 1, "empty file"),
    ("p.txt", "\n  \n\t\n", None, 1, "empty file"),
    ("p.txt", b"Fine line.\nBad \xc3( byte\n", None, 2, "invalid UTF-8"),
]


@pytest.mark.parametrize("name,data,labels,line,problem", BAD)
def test_bad_input_names_file_line_problem(name, data, labels, line, problem):
    with pytest.raises(FormatError) as err:
        loads(data, name=name, labels=labels)
    e = err.value
    assert (e.file, e.line) == (name, line)
    assert problem in e.problem
    assert str(e) == f"{name}:{line}: {e.problem}"


def test_format_error_is_value_error_and_pickles():
    e = FormatError("f.conll", 7, "illegal tag 'x'")
    assert isinstance(e, ValueError)
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.file, e2.line, e2.problem, str(e2)) == ("f.conll", 7, "illegal tag 'x'", "f.conll:7: illegal tag 'x'")


def test_labels_accepted_when_known():
    c = loads(IOB2, name="a.conll", labels=["PER", "LOC", "ORG"])
    assert len(c.sentences) == 3


# ---------------------------------------------------------------- files

def test_read_and_write_files(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(IOB1.encode())
    c = read(src)
    assert isinstance(c, Corpus) and (c.fmt, c.scheme) == ("conll", "iob1")
    for ext, fmt in [(".conll", "conll"), (".jsonl", "jsonl")]:
        out = tmp_path / f"out{ext}"
        write(c.sentences, out, scheme="bioes")
        back = read(out)
        assert back.fmt == fmt
        assert [(s.words, s.tags) for s in back.sentences] == [(s.words, s.tags) for s in c.sentences]
    assert (tmp_path / "out.conll").read_text() == BIOES
    assert (tmp_path / "out.conll").stat().st_mode & 0o777 == 0o644
    write(c.sentences, tmp_path / "plain.out", fmt="text")
    assert read(tmp_path / "plain.out", fmt="text").sentences[0].text == "Anna Berg visited Oslo ."
    assert sorted(os.listdir(tmp_path)) == ["in.txt", "out.conll", "out.jsonl", "plain.out"]


def test_write_failure_leaves_old_file(tmp_path):
    out = tmp_path / "keep.conll"
    out.write_text("old\n")
    bad = [Sentence(["a"], ["O"], "a", [(0, 1)], columns=[["N"]]), Sentence(["b"], ["O"], "b", [(0, 1)])]
    with pytest.raises(ValueError):
        write(bad, out)
    with pytest.raises(ValueError, match="format"):
        write(bad[:1], tmp_path / "x.unknown")
    assert out.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["keep.conll"]
