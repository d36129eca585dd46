"""Live heads: each refit of a project's live head (core.learner writes them, the Annotate page reads them), and the
learner process's claim on the database (meta key `learner`), and the standby job process it keeps ready (meta key
`standby`)."""
from __future__ import annotations

import json
from typing import Any

from core.store.base import StoreBase
from core.store.records import LiveHead
from core.store.shared import now

KEEP = 3  # live heads of a project whose predictions file is kept (older rows stay, their files go)


class LiveRows(StoreBase):
    """Live heads, the learner's claim and the standby job process."""

    def add_live_head(self, project_id: int, **fields: Any) -> tuple[int, list[str]]:
        """Record a refit; returns its id and the predictions files of older refits that may now be deleted."""
        with self._write():
            head_id = self._insert("live_heads", {"project_id": project_id, "created": now(), **fields})
            old = self._rows("SELECT file FROM live_heads WHERE project_id = ? AND id <= ? ORDER BY id DESC "
                             "LIMIT -1 OFFSET ?", [project_id, head_id, KEEP])
        return head_id, [r["file"] for r in old]

    def live_head(self, project_id: int) -> LiveHead | None:
        """The project's latest live head."""
        rows = self._rows("SELECT * FROM live_heads WHERE project_id = ? ORDER BY id DESC LIMIT 1", [project_id])
        return LiveHead.from_row({**rows[0], "held_out": bool(rows[0]["held_out"])}) if rows else None

    def live_curve(self, project_id: int, model_id: int | None, *, limit: int = 200) -> list[tuple[int, float]]:
        """(labelled sentences, dev F1) of the latest refits on version `model_id` (None: the base encoder), oldest
        first; of refits on the same labels (a refit resumed while idle), the last."""
        sql = ("SELECT train_sentences, annotation_id, dev_f1 FROM live_heads WHERE project_id = ? AND model_id IS ? "
               "AND dev_f1 IS NOT NULL ORDER BY id DESC LIMIT ?")
        last: dict = {}
        for r in self._rows(sql, [project_id, model_id, limit]):
            last.setdefault((r["train_sentences"], r["annotation_id"]), (r["train_sentences"], r["dev_f1"]))
        return list(last.values())[::-1]

    def learner_claim(self) -> dict | None:
        """The learner process that claimed this database ({"pid", "started"}), or None."""
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'learner'").fetchone()
        return json.loads(row[0]) if row else None

    def claim_learner(self, pid: int, started: float | None, *, free) -> bool:
        """Claim the database for learner `pid` unless `free(claim)` says the current claim's process still runs;
        one transaction, so two learners starting at once cannot both win."""
        with self._write():
            row = self.db.execute("SELECT value FROM meta WHERE key = 'learner'").fetchone()
            if row is not None and not free(json.loads(row[0])):
                return False
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('learner', ?)",
                            [json.dumps({"pid": pid, "started": started})])
        return True

    def release_learner(self, pid: int) -> None:
        """Drop learner `pid`'s claim (not another's)."""
        self._drop_process("learner", pid)

    def _drop_process(self, key: str, pid: int) -> None:
        """Delete meta `key` ({"pid", "started"}) when it names process `pid`."""
        with self._write():
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
            if row is not None and json.loads(row[0]).get("pid") == pid:
                self.db.execute("DELETE FROM meta WHERE key = ?", [key])

    def offer_standby(self, pid: int, started: float | None) -> None:
        """Process `pid` has loaded the trainer and waits for a job (`take_standby` hands it one)."""
        with self._write():
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('standby', ?)",
                            [json.dumps({"pid": pid, "started": started})])

    def standby(self) -> dict | None:
        """The waiting standby job process ({"pid", "started"}), or None."""
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'standby'").fetchone()
        return json.loads(row[0]) if row else None

    def take_standby(self, job_id: int, log_path: str, *, alive) -> dict | None:
        """Hand queued job `job_id` to the waiting standby process when `alive(offer)` says it still runs: the job
        records its PID and log, and the offer is withdrawn, in one transaction (two jobs never get one process)."""
        with self._write():
            row = self.db.execute("SELECT value FROM meta WHERE key = 'standby'").fetchone()
            if row is None:
                return None
            self.db.execute("DELETE FROM meta WHERE key = 'standby'")
            offer = json.loads(row[0])
            if not alive(offer):
                return None
            self.update_job(job_id, pid=offer["pid"], pid_started=offer["started"], log_path=log_path)
        return offer

    def withdraw_standby(self, pid: int) -> None:
        """Drop standby `pid`'s offer (not another's)."""
        self._drop_process("standby", pid)
