"""spaCy's DocBin (`.spacy`, what `spacy train` reads), through spaCy itself (`pip install nerloop[spacy]`). A Doc is
one sentence, or several when it has sentence boundaries; its entities are the tags (a Doc without entity annotation
is unlabelled); `user_data` holds the document name and a record's meta. Problems name the Doc by number."""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any

from core.formats.base import Format, FormatError, Sentence, Stream, spans, to_iob2
from core.labels import LabelSet, text_problem, word_problem

MISSING = "the spacy format needs spaCy, an optional dependency: pip install nerloop[spacy]"


def _spacy() -> Any:
    """The spacy module; ImportError naming the install command when it is missing."""
    try:
        return importlib.import_module("spacy")
    except ImportError:
        raise ImportError(MISSING) from None


def _docs(stream: Stream) -> Iterator[Any]:
    try:
        _spacy()
    except ImportError as e:
        raise FormatError(stream.name, 1, str(e)) from None
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    try:
        docbin = DocBin().from_bytes(stream.open_bytes())
    except Exception as e:  # zlib, msgpack or a missing key: whatever it is, not a DocBin
        raise FormatError(stream.name, 1, f"not a spaCy DocBin file ({type(e).__name__}: {e})") from None
    return docbin.get_docs(Vocab())


def _sentence(span: Any, k: int, stream: Stream, seen: LabelSet, labelled: bool, user: dict) -> Sentence:
    """One sentence of Doc `k`: its words (whitespace tokens dropped), their offsets in its text, its tags."""
    tokens = [t for t in span if not t.text.isspace()]
    if not tokens:
        raise FormatError(stream.name, k, f"Doc {k}: a sentence holds only whitespace")
    base = tokens[0].idx
    text = span.doc.text[base:tokens[-1].idx + len(tokens[-1])]
    for t in tokens:
        if problem := word_problem(t.text):
            raise FormatError(stream.name, k, f"Doc {k}, token {t.i + 1}: {problem}")
    if problem := text_problem(text):
        raise FormatError(stream.name, k, f"Doc {k}: {problem}")
    tags = None
    if labelled:
        tags = to_iob2(["O" if t.ent_iob_ in ("O", "") else f"{t.ent_iob_}-{t.ent_type_}" for t in tokens], "iob2")
        for _, _, label in spans(tags):
            if problem := seen.check(label):
                raise FormatError(stream.name, k, f"Doc {k}: entity {label!r}: {problem}")
    doc_id, meta = user.get("doc_id"), user.get("meta")
    return Sentence([t.text for t in tokens], tags, text, [(t.idx - base, t.idx - base + len(t)) for t in tokens],
                    None if doc_id is None else str(doc_id), line=k,
                    meta=_plain(meta) if isinstance(meta, dict) and meta else None)


def _plain(value: Any) -> Any:
    """A `user_data` value with msgpack's tuples read back as the JSON lists they were."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def read(stream: Stream) -> Iterator[Sentence]:
    """The sentences of each Doc in order."""
    seen = LabelSet(stream.labels or (), fixed=stream.labels is not None)
    found = False
    for k, doc in enumerate(_docs(stream), 1):
        labelled = doc.has_annotation("ENT_IOB")
        if labelled:
            stream.scheme = "iob2"
        user = doc.user_data
        for span in (doc.sents if doc.has_annotation("SENT_START") else [doc[:]]):
            if any(not t.text.isspace() for t in span):
                found = True
                yield _sentence(span, k, stream, seen, labelled, user)
    if not found:
        raise FormatError(stream.name, 1, "empty file (no Doc with words)")


def _doc(vocab: Any, s: Sentence) -> Any:
    """A Doc whose text is the sentence's exactly: as spaCy tokenises, whitespace other than one space after a word
    is a token."""
    from spacy.tokens import Doc, Span

    words: list[str] = []
    spaces: list[bool] = []
    index = []
    gaps = [s.text[:s.offsets[0][0]]] + [s.text[b:a] for (_, b), (a, _) in zip(s.offsets, s.offsets[1:])]
    for n, gap in enumerate([*gaps, s.text[s.offsets[-1][1]:]]):
        if words and gap.startswith(" "):
            spaces[-1], gap = True, gap[1:]
        if gap:
            words.append(gap)
            spaces.append(False)
        if n < len(s.words):
            index.append(len(words))
            words.append(s.words[n])
            spaces.append(False)
    doc = Doc(vocab, words=words, spaces=spaces)
    if s.tags is not None:
        doc.set_ents([Span(doc, index[a], index[b - 1] + 1, label=label) for a, b, label in spans(s.tags)],
                     default="outside")
    if s.doc_id is not None:
        doc.user_data["doc_id"] = s.doc_id
    if s.meta:
        doc.user_data["meta"] = s.meta
    return doc


def write(sentences: Sequence[Sentence], scheme: str = "iob2", sep: str = " ") -> bytes:
    """A DocBin of one Doc a sentence, with its entities (none set: unlabelled), document name and meta."""
    _spacy()
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    vocab, docbin = Vocab(), DocBin(store_user_data=True)
    for s in sentences:
        docbin.add(_doc(vocab, s))
    return docbin.to_bytes()


FORMAT = Format("spacy", (".spacy",), lambda head: 0, read, write, order=80, mime="application/octet-stream",
                label="spaCy DocBin (.spacy)", binary=True, requires="spacy", install="pip install nerloop[spacy]")
