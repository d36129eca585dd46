"""Typed records of what leaves the store (rows decoded: JSON columns as Python values)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ModelVersion:
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

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ModelVersion:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    @property
    def dev_f1(self) -> float | None:
        """Micro F1 on dev recorded in the metrics when it was trained, or None."""
        f1 = (((self.metrics or {}).get("dev") or {}).get("micro") or {}).get("f1")
        return None if f1 is None else float(f1)
