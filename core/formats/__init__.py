"""Read and write NER corpora in the formats of the tools our users come from: a registry of format modules.

Each module of this package that declares `FORMAT = Format(...)` is a format: its name (as `--format` takes it),
extensions, a content sniffer, a reader and, if it exports, a writer; the CLI, Upload and Export list formats from
here. Inside the engine tags are IOB2. At the edge a leading byte-order mark is dropped, CR and CRLF line ends read as
line ends, and every problem is a FormatError naming file and line. `iter_read` parses a file while it reads it;
`read` and `loads` give the whole Corpus.
"""
from __future__ import annotations

import errno
import importlib
import io
import itertools
import os
import pkgutil
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Collection, Sequence
from functools import partial
from pathlib import Path

from core.formats.base import (SCHEMES, Corpus, Format, FormatError, Sentence, Source, Stream, binary, carried,
                               decode, detect_scheme, from_iob2, kept_text, notes_text, read_lines, spans,
                               tags_from_spans, to_iob2)
from core.formats.text import LANGUAGES, looks_line_per_sentence, split_sentences, tokenize

__all__ = ["FORMATS", "LANGUAGES", "REGISTRY", "SCHEMES", "WRITABLE", "Corpus", "Format", "FormatError", "Sentence",
           "Stream", "carried", "detect_format", "detect_scheme", "dumps", "extensions", "format_of", "from_iob2",
           "get", "iter_read", "kept_text", "listing", "loads", "looks_line_per_sentence", "notes_text", "read",
           "spans", "split_sentences", "tags_from_spans", "to_iob2", "tokenize", "write", "write_atomic",
           "write_folder"]

_SNIFF_LINES = 100
_SNIFF_NAMES = 1000


def _discover() -> dict[str, Format]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        fmt = getattr(importlib.import_module(f"{__name__}.{info.name}"), "FORMAT", None)
        if isinstance(fmt, Format):
            found.append(fmt)
    return {f.name: f for f in sorted(found, key=lambda f: (f.order, f.name))}


REGISTRY = _discover()
FORMATS = tuple(REGISTRY)
WRITABLE = tuple(name for name, f in REGISTRY.items() if f.write is not None)


def get(name: str) -> Format:
    """The format called `name`; ValueError naming the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown format {name!r} (expected one of {', '.join(FORMATS)})")
    return REGISTRY[name]


def extensions() -> list[str]:
    """Every extension a format reads, without the dot (for file pickers)."""
    return list(dict.fromkeys(e.lstrip(".") for f in REGISTRY.values() for e in f.extensions))


def format_of(path: str | Path) -> str | None:
    """The format a file of this name is written in: the one whose first extension it has, else the first listing
    it; None when no writable format does."""
    suffix = Path(path).suffix.lower()
    writable = [f for f in REGISTRY.values() if f.write is not None]
    found = [f for f in writable if f.extensions[0] == suffix] or [f for f in writable if suffix in f.extensions]
    return found[0].name if found else None


def _choose(name: str, head: Callable[[bool], str | None], folder: bool = False) -> str:
    """The format of input `name` from its extension and, when several formats take it, what `head(binary)` gives:
    the first lines of a text, the file names of a folder or zip. The best-scoring sniffer wins, a tie is an error
    naming the candidates, no match takes the extension's default."""
    suffix = Path(name).suffix.lower()
    if folder:
        candidates = [f for f in REGISTRY.values() if f.binary]
    else:
        candidates = ([f for f in REGISTRY.values() if suffix in f.extensions]
                      or [f for f in REGISTRY.values() if not f.binary])
    if len(candidates) == 1:
        return candidates[0].name
    head = head(all(f.binary for f in candidates))
    if head is None:
        return candidates[0].name
    scores = {f.name: f.sniff(head) for f in candidates}
    best = max(scores.values())
    if best == 0:
        return candidates[0].name
    top = [n for n, s in scores.items() if s == best]
    if len(top) > 1:
        raise FormatError(name, 1, f"could be {' or '.join(top)}: choose the format (--format)")
    return top[0]


def detect_format(name: str, text: str) -> str:
    """Format by extension and, where several formats take it, by content."""
    return _choose(name, lambda binary: None if binary else "\n".join(text.split("\n")[:_SNIFF_LINES]))


def listing(source: Source | None) -> str | None:
    """The file names in a folder or a zip, one a line (what formats of folders sniff); None for anything else."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        root = Path(source)
        files = (p for p in sorted(root.rglob("*")) if p.is_file())
        return "\n".join(p.relative_to(root).as_posix() for p in itertools.islice(files, _SNIFF_NAMES))
    if source is None:
        return None
    try:
        with binary(source) as f, zipfile.ZipFile(f) as zf:
            return "\n".join(zf.namelist()[:_SNIFF_NAMES])
    except (zipfile.BadZipFile, OSError, EOFError):
        return None


def _head(source: Source | None, open_lines) -> Callable[[bool], str | None]:
    def head(binary: bool) -> str | None:
        if binary:
            return listing(source)
        try:
            return "\n".join(itertools.islice(open_lines(), _SNIFF_LINES))
        except FormatError:  # bad UTF-8 in the first lines: the reader reports it
            return None
    return head


def _stream(source: Source | None, open_lines, *, name: str, fmt: str | None, labels: Collection[str] | None,
            lines: bool | None, language: str, folder: bool = False, layer: str | None = None) -> Stream:
    if fmt is None:
        fmt = _choose(name, _head(source, open_lines), folder)
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r} (expected one of {', '.join(LANGUAGES)})")
    found = get(fmt)
    if missing := found.missing_dependency:
        raise FormatError(name, 1, missing)
    return Stream(source, open_lines, name=name, fmt=found, labels=labels, lines=lines, language=language, layer=layer)


def iter_read(source: Source, *, name: str | None = None, fmt: str | None = None,
              labels: Collection[str] | None = None, lines: bool | None = None, language: str = "en",
              layer: str | None = None) -> Stream:
    """A Stream of a file read a block at a time: a path (a folder for BRAT and hf), a file's bytes or a seekable binary file
    object; `name` (default: the path, or the object's name) for format detection and errors; `layer`: webanno's span
    layer to edit. Sentences and problems
    are those of `read`, except that the first problem in reading order wins (`read` reports bad UTF-8 anywhere
    first)."""
    if name is None:
        name = str(source) if isinstance(source, (str, Path)) else str(getattr(source, "name", "") or "input")
    folder = isinstance(source, (str, Path)) and Path(source).is_dir()
    return _stream(source, partial(read_lines, source, name), name=name, fmt=fmt, labels=labels, lines=lines,
                   language=language, folder=folder, layer=layer)


def loads(data: bytes | str, *, name: str, fmt: str | None = None, labels: Collection[str] | None = None,
          lines: bool | None = None, language: str = "en", layer: str | None = None) -> Corpus:
    """Parse a whole file's content; `name` is used for format detection and error messages. Plain text: `lines`
    True keeps each non-empty line as one sentence, False splits lines into sentences (by the rules of `language`),
    None sniffs which."""
    if isinstance(data, bytes):
        chosen = fmt or _choose(name, lambda binary: listing(data) if binary else None)
        if get(chosen).binary:  # a zip: read whole, not as lines
            return _stream(data, lambda: iter(()), name=name, fmt=chosen, labels=labels, lines=lines,
                           language=language).corpus()
    text = decode(data, name)
    return _stream(data if isinstance(data, bytes) else None, lambda: iter(text.split("\n")), name=name, fmt=fmt,
                   labels=labels, lines=lines, language=language, layer=layer).corpus()


def read(path: str | Path, *, fmt: str | None = None, labels: Collection[str] | None = None,
         lines: bool | None = None, language: str = "en") -> Corpus:
    """Read a corpus file, or a folder of BRAT files or a `datasets` folder (`lines`, `language`: see `loads`)."""
    if Path(path).is_dir():
        return iter_read(path, fmt=fmt, labels=labels, lines=lines, language=language).corpus()
    return loads(Path(path).read_bytes(), name=str(path), fmt=fmt, labels=labels, lines=lines, language=language)


def dumps(sentences: Sequence[Sentence], fmt: str, *, scheme: str | None = "iob2", sep: str = " ",
          labels: Sequence[str] | None = None) -> str | bytes:
    """Serialise sentences (bytes for a zip); CoNLL tags are written in `scheme` (None: as read) with columns joined by
    `sep`; a format naming its classes (hf) takes the IOB2 `labels` (default: those the sentences use). ImportError
    when the format's optional dependency is missing."""
    found = get(fmt)
    if found.write is None:
        raise ValueError(f"format {fmt!r} is read only (writable: {', '.join(WRITABLE)})")
    if missing := found.missing_dependency:
        raise ImportError(missing)
    if found.takes_labels:
        return found.write(sentences, scheme, sep, labels=labels)
    return found.write(sentences, scheme, sep)


def write(sentences: Sequence[Sentence], path: str | Path, fmt: str | None = None, *,
          scheme: str = "iob2", sep: str = " ") -> None:
    """Write atomically (temp file in the same folder, then rename); fmt defaults to the extension's."""
    path = Path(path)
    fmt = fmt or format_of(path)
    if fmt is None:
        raise ValueError(f"cannot tell the format of {path}; pass fmt")
    out = dumps(sentences, fmt, scheme=scheme, sep=sep)
    write_atomic(path, out.encode("utf-8") if isinstance(out, str) else out)


def write_folder(path: str | Path, data: bytes, fmt: str) -> None:
    """Unpack the zip a folder format (`fmt`) wrote into folder `path`, atomically (unpacked beside it, then renamed).
    An existing folder is replaced only when it is empty or holds that format's files, a file never."""
    path = Path(path)
    if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or get(fmt).sniff(listing(path) or "") == 3)):
        raise FileExistsError(errno.EEXIST, f"exists and is not a {fmt} folder: not replacing it", str(path))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file in the same folder, then rename), keeping its permissions."""
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
