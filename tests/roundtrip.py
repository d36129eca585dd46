"""The round-trip suite's harness: a file in a tool's own layout imported into a fresh project and exported back in
the same format, and every difference between the two listed (bytes for text formats, parsed JSON for JSON ones).

The peers' own files are read from ../shared/data/interop-peers/ (never copied into the repository).
"""
from __future__ import annotations

import difflib
import io
import json
import zipfile
from pathlib import Path

from core import export, formats
from core.store import Store

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "data" / "interop-peers"


def round_trip(source: Path | bytes, fmt: str, *, tmp_path: Path, name: str | None = None, split: str = "train",
               scheme: str | None = None, unlabeled: bool = False, project: str = "trip", **read
               ) -> tuple[bytes, dict]:
    """(the export of `source` in `fmt` after importing it into a new project, as `nerloop export` writes it by
    default or with `--unlabeled`, the import's counts and notes)."""
    store = Store(tmp_path / f"{project}.db")
    pid = store.create_project(project, [])
    stream = formats.iter_read(source, name=name, fmt=fmt, **read)
    counts = store.import_many(pid, [(stream, split, name or str(source))])[0]
    counts["notes"] = dict(stream.notes)
    out = export.export_annotations(store, pid, fmt=fmt, scheme=scheme, unlabeled=unlabeled)
    counts["lost"] = out.lost
    store.close()
    return out.data, counts


def text_differences(before: bytes, after: bytes) -> list[str]:
    """Every line that differs, as a unified diff (line ends and a missing final line end shown)."""
    if before == after:
        return []
    a, b = before.decode("utf-8").splitlines(keepends=True), after.decode("utf-8").splitlines(keepends=True)
    return [repr(line) for line in difflib.unified_diff(a, b, "before", "after", n=0)] or ["bytes differ"]


def json_differences(before: object, after: object, at: str = "$") -> list[str]:
    """Every path where two parsed JSON values differ: "$[0].meta.id: 3 != None"."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [d for k in dict.fromkeys([*before, *after])
                for d in (json_differences(before.get(k), after.get(k), f"{at}.{k}") if k in before and k in after
                          else [f"{at}.{k}: {'missing after' if k in before else 'added'}"])]
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{at}: {len(before)} items != {len(after)}"]
        return [d for n, (x, y) in enumerate(zip(before, after)) for d in json_differences(x, y, f"{at}[{n}]")]
    return [] if before == after and type(before) is type(after) else [f"{at}: {before!r} != {after!r}"]


def jsonl(data: bytes) -> list[object]:
    """The records of a JSON-lines file."""
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]


def folder_differences(folder: Path, zipped: bytes) -> list[str]:
    """Every file of `folder` missing from the zip or differing from its copy there (by name, in any subfolder), and
    every file the zip adds."""
    with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
        written = {Path(n).name: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    out = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.name not in written:
            out.append(f"{path.name}: missing after")
        else:
            out += [f"{path.name}: {d}" for d in text_differences(path.read_bytes(), written.pop(path.name))]
    return out + [f"{n}: added" for n in sorted(written)]
