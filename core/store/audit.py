"""The audit trail: who did what and when (imports, training, promotions, exports, user and project changes)."""
from __future__ import annotations

import json
from typing import Any

from core.access import Actor
from core.store.base import StoreBase
from core.store.shared import now


class AuditRows(StoreBase):
    """Append-only audit rows; a detail names what was acted on, never a password or token."""

    def add_audit(self, actor: Any, action: str, *, project_id: int | None = None, **detail: Any) -> int:
        """Append one row for `actor` (an access.Actor) doing `action`; inside a caller's write it joins that
        transaction, so the row is written with the action or not at all. A read-only database records nothing (it
        can only be read, exported, or refuse writes); returns the row id, or 0 then."""
        if self.read_only:
            return 0
        with self._write():  # plain SQL: sqlite-utils' insert would make a missing table instead of failing
            return self.db.execute(
                "INSERT INTO audit (created, actor, role, action, project_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                [now(), actor.name, actor.role, action, project_id,
                 json.dumps(detail, ensure_ascii=False, default=str)]).lastrowid

    def audit(self, project_id: int | None = None, *, actor: str | None = None,
              action: str | None = None) -> list[dict]:
        """Audit rows, oldest first: one project's (every row when project_id is None), of one user, of one kind."""
        filters = {"project_id": project_id, "actor": actor, "action": action}
        where = [f"{column} = ?" for column, value in filters.items() if value is not None]
        return self._rows("SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id",
                          [value for value in filters.values() if value is not None])

    def job_starter(self, job_id: int) -> Actor | None:
        """Who created training job `job_id`, with the role they had then (its "train" audit row), or None."""
        row = self.db.execute("SELECT actor, role FROM audit WHERE action = 'train' AND "
                              "json_extract(detail, '$.job_id') = ? ORDER BY id LIMIT 1", [job_id]).fetchone()
        return None if row is None else Actor(row[0], row[1])
