"""Training jobs and their events."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.store.base import JOB_STATUSES, StoreBase
from core.store.records import Job, JobEvent
from core.store.shared import check_choice, now

_JOB_FIELDS = {"status", "pid", "pid_started", "params", "log_path", "model_id", "started", "ended", "error"}


class JobRows(StoreBase):
    """Training jobs and their events."""

    def create_job(self, project_id: int, kind: str, params: dict, *, log_path: str = "") -> int:
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"invalid job kind {kind!r}")
        with self._write():
            self.project(project_id)
            return self._insert("jobs", {
                "project_id": project_id, "kind": kind, "status": "queued", "pid": None,
                "params": json.dumps(params), "log_path": str(log_path), "model_id": None,
                "started": None, "ended": None, "error": None, "created": now()})

    def update_job(self, job_id: int, **fields: Any) -> None:
        """Update job fields; moving to running/done/failed/cancelled stamps started/ended."""
        status = fields.get("status")
        if status == "running":
            fields.setdefault("started", now())
        elif status in ("done", "failed", "cancelled"):
            fields.setdefault("ended", now())
        self._update("jobs", job_id, fields, _JOB_FIELDS, JOB_STATUSES)

    def job(self, job_id: int) -> Job:
        return Job.from_row(self._one("jobs", job_id))

    def jobs(self, project_id: int | None = None, *,
             status: str | Sequence[str] | None = None) -> list[Job]:
        """Jobs newest first, optionally of one project and with one of the given statuses."""
        sql, params = "SELECT * FROM jobs WHERE 1", []
        if project_id is not None:
            sql += " AND project_id = ?"
            params.append(project_id)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            for s in wanted:
                check_choice(s, JOB_STATUSES, "job status")
            sql += " AND status IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(wanted))
        return [Job.from_row(r) for r in self._rows(sql + " ORDER BY id DESC", params)]

    def add_event(self, job_id: int, kind: str, data: dict) -> int:
        with self._write():
            self._one("jobs", job_id)
            return self._insert("job_events", {"job_id": job_id, "created": now(), "kind": kind,
                                               "data": json.dumps(data)})

    def events(self, job_id: int, *, after_id: int = 0, kind: str | None = None) -> list[JobEvent]:
        sql, params = "SELECT * FROM job_events WHERE job_id = ? AND id > ?", [job_id, after_id]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return [JobEvent.from_row(r) for r in self._rows(sql + " ORDER BY id", params)]

    def last_event(self, job_id: int, kind: str) -> JobEvent | None:
        """The newest event of this kind (a backward walk of the job's index, however long the job ran)."""
        rows = self._rows("SELECT * FROM job_events WHERE job_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
                          [job_id, kind])
        return JobEvent.from_row(rows[0]) if rows else None
