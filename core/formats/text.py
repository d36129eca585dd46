"""Plain text: sentences split by a rule library keeping character offsets (syntok for English, pysbd's rules for
other languages), words by a tokenizer that keeps "U.S.", "don't" and "3.5" whole."""
from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

import pysbd
import syntok.segmenter

from core.formats.base import Format, FormatError, Sentence, Stream
from core.labels import words_problem

LANGUAGES = tuple(sorted(set(pysbd.languages.LANGUAGE_CODES) | {"en"}))
_SNIFF_TEXT_LINES = 2000
_LINE_END = re.compile(r"[.!?…:;][\"'”’»)\]]*$")
_WORD = re.compile(r"(?:[^\W\d_]\.){2,}(?!\w)|\w+(?:[-'’.]\w+)*|\S")


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words with char offsets: "U.S.", "don't", "3.5", "e-mail" stay whole; other symbols stand alone."""
    out: list[tuple[str, int, int]] = []
    for m in _WORD.finditer(text):
        s, e = m.span()
        if out and out[-1][2] == s and (_is_mark(text[s]) or (_is_mark(text[s - 1]) and text[s].isalnum())):
            s = out.pop()[1]  # combining marks (accents, Indic vowel signs) join the word around them
        out.append((text[s:e], s, e))
    return out


@lru_cache(maxsize=8)
def _segmenter(language: str) -> pysbd.Segmenter:
    return pysbd.Segmenter(language=language, clean=False)


def _line_sentences(line: str, language: str) -> list[str]:
    """The sentences of one line as the library splits them."""
    if language == "en":
        return ["".join(t.spacing + t.value for t in sentence) for paragraph in syntok.segmenter.analyze(line)
                for sentence in paragraph]
    return _segmenter(language).segment(line)


def split_sentences(text: str, language: str = "en") -> list[tuple[int, int]]:
    """Sentence char ranges (whitespace trimmed): split at line breaks, and inside a line where the sentence splitter
    of `language` (an ISO 639-1 code, see LANGUAGES) splits."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (expected one of {', '.join(LANGUAGES)})")
    ranges: list[tuple[int, int]] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        end, at = pos + len(line), pos
        for sentence in _line_sentences(line, language):
            sentence = sentence.strip()
            found = text.find(sentence, at, end) if sentence else -1
            if found < 0:  # the splitter changed the text: what is left of the line is one sentence
                break
            ranges.append((found, found + len(sentence)))
            at = found + len(sentence)
        rest = text[at:end]
        if rest.strip():
            start = at + len(rest) - len(rest.lstrip())
            ranges.append((start, start + len(rest.strip())))
        pos = end
    return ranges


def looks_line_per_sentence(text: str) -> bool:
    """Whether plain text looks like one sentence per line: two lines or more, at most a quarter of them holding a
    sentence break (one before a digit, as in a tokenised "3 . 5" or "Fig. 2", does not count), most ending like a
    sentence, and hardly any running on into a lower-case line (wrapped prose)."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:_SNIFF_TEXT_LINES]]
    filled = [line for line in lines if line]
    if len(filled) < 2:
        return False
    breaks = sum(any(not line[s].isdigit() for s, _ in split_sentences(line)[1:]) for line in filled)
    ends = sum(bool(_LINE_END.search(line)) for line in filled)
    run_on = sum(bool(a and b and not _LINE_END.search(a) and b[0].islower()) for a, b in zip(lines, lines[1:]))
    n = len(filled)
    return breaks <= 0.25 * n and ends >= 0.6 * n and run_on <= 0.1 * n


def _line_ranges(text: str) -> list[tuple[int, int]]:
    """Char ranges of the non-empty lines of `text`, whitespace trimmed."""
    ranges, pos = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            start = pos + len(line) - len(line.lstrip())
            ranges.append((start, start + len(stripped)))
        pos += len(line) + 1
    return ranges


def _text_sentences(lines: Iterable[str], name: str, mode: bool, language: str) -> Iterator[Sentence]:
    """Blank lines separate documents (`p-N`); each non-empty line is one sentence when `mode`, else lines are split
    into sentences (a sentence never runs over a line end)."""
    paragraph, blank, found = 0, True, False
    for i, line in enumerate(lines, 1):
        if not line.strip():
            blank = True
            continue
        paragraph, blank = paragraph + blank, False
        for s, e in _line_ranges(line) if mode else split_sentences(line, language):
            text = line[s:e]
            toks = tokenize(text)
            words = [w for w, _, _ in toks]
            if problem := words_problem(words):
                raise FormatError(name, i, problem)
            found = True
            yield Sentence(words, None, text, [(a, b) for _, a, b in toks], doc_id=f"p-{paragraph}", line=i)
    if not found:
        raise FormatError(name, 1, "empty file")


def read(stream: Stream) -> Iterator[Sentence]:
    """The lines of the input, sniffed for a sentence a line on its first lines unless `stream.lines` says."""
    lines = stream.open_lines()
    if stream.lines is None:  # sniffed on the first lines, then read from the start
        head = list(itertools.islice(lines, _SNIFF_TEXT_LINES))
        stream.lines, lines = looks_line_per_sentence("\n".join(head)), itertools.chain(head, lines)
    return _text_sentences(lines, stream.name, stream.lines, stream.language)


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> str:
    """A sentence a line, a blank line between documents (tags dropped)."""
    out: list[str] = []
    for k, s in enumerate(sentences):
        if k and not s.same_document(sentences[k - 1]):
            out.append("\n")
        out.append(s.text.replace("\r", " ").replace("\n", " ") + "\n")
    return "".join(out)


FORMAT = Format("text", (".txt",), lambda head: 1, read, write, order=90, label="plain text")
