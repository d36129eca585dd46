"""Shared work: a project's overlap setting and its stored per-annotator queues (core/team.py decides them)."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from core.access import OWNER, Actor, require
from core.store.base import _FLAGGED, StoreBase, now


class TeamRows(StoreBase):
    """The overlap share and copies of a project, and the queues, stored once made so they stay stable."""

    def set_overlap(self, project_id: int, overlap: float, copies: int, *, actor: Actor = OWNER) -> None:
        """Store the share of sentences that go to several annotators, and to how many (an admin's setting)."""
        require(actor, "project")
        if not 0 <= overlap <= 1:
            raise ValueError(f"overlap share must be between 0 and 1, not {overlap}")
        if not isinstance(copies, int) or copies < 2:
            raise ValueError(f"an overlapped sentence goes to at least 2 annotators, not {copies}")
        with self._write():
            self._one("projects", project_id)
            self.db["projects"].update(project_id, {"overlap": float(overlap), "copies": copies})

    def add_assignments(self, project_id: int, queues: Mapping[str, Sequence[int]], *, actor: Actor = OWNER) -> int:
        """Append queues (annotator -> sentence ids, in order) after what each annotator holds; a sentence already
        assigned to that annotator is skipped (an admin's action). Returns how many rows were added."""
        require(actor, "project")
        created, added = now(), 0
        with self._write():
            for annotator, ids in queues.items():
                if not ids:
                    continue
                owned = self.db.execute(
                    "SELECT COUNT(*) FROM sentences WHERE project_id = ? AND id IN (SELECT value FROM json_each(?))",
                    [project_id, json.dumps([int(i) for i in ids])]).fetchone()[0]
                if owned != len(set(ids)):
                    raise KeyError(f"{len(set(ids)) - owned} sentence id(s) are not in project {project_id}")
                top = self.db.execute("SELECT COALESCE(MAX(position), -1) FROM assignments WHERE project_id = ? "
                                      "AND annotator = ?", [project_id, annotator]).fetchone()[0]
                rows = [(project_id, int(sid), annotator, top + 1 + n, created) for n, sid in enumerate(ids)]
                added += self.db.conn.executemany(
                    "INSERT OR IGNORE INTO assignments (project_id, sentence_id, annotator, position, created) "
                    "VALUES (?, ?, ?, ?, ?)", rows).rowcount
        return added

    def assignments(self, project_id: int, annotator: str | None = None) -> list[dict]:
        """The stored queues of a project (of one annotator when named), by annotator and position."""
        sql, params = "SELECT * FROM assignments WHERE project_id = ?", [project_id]
        if annotator is not None:
            sql += " AND annotator = ?"
            params.append(annotator)
        return self._rows(sql + " ORDER BY annotator, position", params)

    def assigned_to(self, sentence_id: int) -> list[str]:
        """The annotators a sentence is assigned to, by name."""
        return [r["annotator"] for r in self._rows(
            "SELECT annotator FROM assignments WHERE sentence_id = ? ORDER BY annotator", [sentence_id])]

    def human_versions(self, sentence_id: int) -> dict[str, dict]:
        """The latest human annotation of each annotator of a sentence: annotator -> row."""
        rows = self._rows("""SELECT * FROM annotations a WHERE a.sentence_id = ? AND a.source = 'human'
            AND a.id = (SELECT MAX(b.id) FROM annotations b WHERE b.sentence_id = a.sentence_id
                        AND b.source = 'human' AND b.annotator = a.annotator) ORDER BY a.annotator""", [sentence_id])
        return {r["annotator"]: r for r in rows}

    def human_annotators(self, project_id: int) -> list[str]:
        """The names that saved human labels in the project, sorted."""
        return [r["annotator"] for r in self._rows(
            "SELECT DISTINCT a.annotator FROM annotations a JOIN sentences s ON s.id = a.sentence_id WHERE "
            "s.project_id = ? AND a.source = 'human' AND a.annotator != '' ORDER BY 1", [project_id])]

    def saved_ids(self, project_id: int, annotator: str) -> set[int]:
        """Ids of the project's sentences the annotator gave a human label."""
        return {r["sentence_id"] for r in self._rows(
            "SELECT DISTINCT a.sentence_id FROM annotations a JOIN sentences s ON s.id = a.sentence_id "
            "WHERE s.project_id = ? AND a.source = 'human' AND a.annotator = ?", [project_id, annotator])}

    def multi_annotated(self, project_id: int) -> list[int]:
        """Ids of the project's unflagged sentences with human labels by two or more named annotators."""
        return [r["sentence_id"] for r in self._rows(
            f"""SELECT a.sentence_id FROM annotations a JOIN sentences s ON s.id = a.sentence_id
            WHERE s.project_id = ? AND a.source = 'human' AND a.annotator != '' AND {_FLAGGED.format(sid='s.id')} = 0
            GROUP BY a.sentence_id HAVING COUNT(DISTINCT a.annotator) > 1 ORDER BY a.sentence_id""", [project_id])]
