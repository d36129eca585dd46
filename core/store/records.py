"""Typed records of what leaves the store (rows decoded: JSON columns as Python values). `SentenceRow` is a stored
sentence with its effective labels; `core.formats.Sentence` is a parsed input sentence, before it is stored."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

R = TypeVar("R", bound="Record")


class Record:
    """A frozen row: `from_row` takes a decoded row's columns by the record's field names (others are ignored)."""

    @classmethod
    def from_row(cls: type[R], row: dict[str, Any]) -> R:
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})  # type: ignore[call-arg]


@dataclass(frozen=True)
class Project(Record):
    """A project: its name, its entity types in order, the version it serves (None before the first), and how its
    team shares the work (the share of sentences labelled by several annotators, and by how many)."""

    id: int
    name: str
    labels: list[str]
    created: str
    serving_model_id: int | None
    overlap: float = 0.0
    copies: int = 2


@dataclass(frozen=True)
class SentenceRow(Record):
    """A stored sentence with its effective tags (latest human, else gold; None when unlabelled), their source and
    annotation id, whether it is flagged as junk, and what its import kept. `neighbours` returns them without the
    fields after `position` (None, flagged False)."""

    id: int
    text: str
    words: list[str]
    offsets: list[tuple[int, int]]
    split: str
    document_id: int | None
    position: int
    tags: list[str] | None = None
    source: str | None = None
    annotation_id: int | None = None
    flagged: bool = False
    document: str | None = None  # the document's name
    columns: list[list[str]] | None = None  # each word's middle CoNLL columns, as imported
    meta: dict[str, Any] | None = None  # a JSON record's meta, as imported
    carry: dict[str, Any] | None = None  # what the import carries through for its format's writer (formats.Carry)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flagged", bool(self.flagged))  # SQLite's 0/1


@dataclass(frozen=True)
class Annotation(Record):
    """One row of a sentence's append-only annotation history."""

    id: int
    sentence_id: int
    tags: list[str]
    source: str
    annotator: str
    model_id: int | None
    created: str


@dataclass(frozen=True)
class ModelVersion(Record):
    """A trained model version of a project: its folder, what it was trained from and with, and its scores."""

    id: int
    project_id: int
    name: str
    folder: str
    base_model: str
    parent_id: int | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    created: str
    status: str

    @property
    def dev_f1(self) -> float | None:
        """Micro F1 on dev recorded in the metrics when it was trained, or None."""
        f1 = (((self.metrics or {}).get("dev") or {}).get("micro") or {}).get("f1")
        return None if f1 is None else float(f1)


@dataclass(frozen=True)
class Job(Record):
    """A background job: its parameters as recorded, its process (PID and start time), its outcome."""

    id: int
    project_id: int
    kind: str
    status: str
    pid: int | None
    pid_started: float | None
    params: dict[str, Any]
    log_path: str
    model_id: int | None
    started: str | None
    ended: str | None
    error: str | None
    created: str


@dataclass(frozen=True)
class JobEvent(Record):
    """One event a job recorded (step, eval, saved, registered, ...) with its data."""

    id: int
    job_id: int
    created: str
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class LiveHead(Record):
    """One refit of a project's live head (core.live): the version whose encoder it reads (None: the base encoder),
    the last annotation it has seen, how many labelled sentences it was fitted on, its dev F1 and the version's on the
    same sentences (a held-out share of the labels when there is no dev split), and its predictions file."""

    id: int
    project_id: int
    model_id: int | None
    encoder: str
    annotation_id: int
    train_sentences: int
    dev_sentences: int
    held_out: bool
    dev_f1: float | None
    base_f1: float | None
    fit_seconds: float
    predicted: int
    file: str
    created: str

    @property
    def better(self) -> bool:
        """Whether it may pre-tag: its dev F1 is at least the version's (always, on a plain encoder)."""
        if self.base_f1 is None:
            return True
        return self.dev_f1 is not None and self.dev_f1 >= self.base_f1
