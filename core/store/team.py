"""Shared work: a project's overlap setting and its stored per-annotator queues (core/team.py decides them)."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from core.access import OWNER, Actor
from core.store.base import StoreBase
from core.store.records import Annotation
from core.store.shared import FLAGGED, now
from core.vocab import MEMBER_ROLES


class TeamRows(StoreBase):
    """The overlap share and copies of a project, and the queues, stored once made so they stay stable."""

    def set_overlap(self, project_id: int, overlap: float, copies: int, *, actor: Actor = OWNER) -> None:
        """Store the share of sentences that go to several annotators, and to how many (an admin's setting;
        audited when it changes)."""
        self.authorize(actor, "project", project_id)
        if not 0 <= overlap <= 1:
            raise ValueError(f"overlap share must be between 0 and 1, not {overlap}")
        if not isinstance(copies, int) or copies < 2:
            raise ValueError(f"an overlapped sentence goes to at least 2 annotators, not {copies}")
        with self._write():
            before = self._one("projects", project_id)
            if (before["overlap"], before["copies"]) == (float(overlap), copies):
                return
            self.db["projects"].update(project_id, {"overlap": float(overlap), "copies": copies})
            self.add_audit(actor, "project", project_id=project_id, op="overlap", overlap=float(overlap),
                           copies=copies, before={"overlap": before["overlap"], "copies": before["copies"]})

    def members(self, project_id: int) -> list[dict]:
        """The project's members by name: {"name", "account_role", "role"} (role: in the project); admins are not
        listed (they open every project)."""
        return self._rows("""SELECT u.name, u.role AS account_role, m.role FROM members m JOIN users u ON u.id = m.user_id
            WHERE m.project_id = ? AND u.removed IS NULL ORDER BY u.name""", [project_id])

    def member_projects(self, name: str) -> list[int]:
        """Ids of the projects the account `name` is a member of."""
        return [r["project_id"] for r in self._rows("SELECT m.project_id FROM members m JOIN users u ON "
                                                    "u.id = m.user_id WHERE u.name = ? ORDER BY 1", [name])]

    def set_member(self, project_id: int, name: str, role: str = "annotator", *, actor: Actor = OWNER) -> bool:
        """Make the account `name` a member of the project with `role` there (annotator or reviewer; an admin's
        action, audited). Returns False when it already was, with that role."""
        self.authorize(actor, "project", project_id)
        if role not in MEMBER_ROLES:
            raise ValueError(f"invalid project role {role!r}: expected one of {', '.join(MEMBER_ROLES)}")
        with self._write():
            if self._set_member(project_id, name, role):
                self.add_audit(actor, "team", project_id=project_id, op="member", name=name, role=role)
                return True
        return False

    def _set_member(self, project_id: int, name: str, role: str) -> bool:
        user = self._rows("SELECT id, role FROM users WHERE name = ? AND removed IS NULL", [name])
        if not user:
            raise KeyError(f"no user {name!r} (see `nerloop users list`)")
        if user[0]["role"] == "admin":
            raise ValueError(f"{name!r} is an admin: admins open every project")
        old = self._rows("SELECT role FROM members WHERE project_id = ? AND user_id = ?", [project_id, user[0]["id"]])
        if old and old[0]["role"] == role:
            return False
        self.db.execute("INSERT OR REPLACE INTO members (project_id, user_id, role, created) VALUES (?, ?, ?, ?)",
                        [project_id, user[0]["id"], role, now()])
        return True

    def remove_member(self, project_id: int, name: str, *, actor: Actor = OWNER) -> bool:
        """The account `name` no longer opens the project (its annotations and queue stay; an admin's action,
        audited). Returns False when it was no member."""
        self.authorize(actor, "project", project_id)
        with self._write():
            gone = self.db.execute("DELETE FROM members WHERE project_id = ? AND user_id IN "
                                   "(SELECT id FROM users WHERE name = ?)", [project_id, name]).rowcount
            if gone:
                self.add_audit(actor, "team", project_id=project_id, op="member removed", name=name)
        return bool(gone)

    def add_assignments(self, project_id: int, queues: Mapping[str, Sequence[int]], *, actor: Actor = OWNER) -> int:
        """Append queues (annotator -> sentence ids, in order) after what each annotator holds; a sentence already
        assigned to that annotator is skipped (an admin's action, audited); an account given work becomes a member
        of the project (as an annotator) if it was none. Returns how many rows were added."""
        self.authorize(actor, "project", project_id)
        created, added = now(), 0
        with self._write():
            joined = []
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
                if self._rows("SELECT 1 FROM users WHERE name = ? AND removed IS NULL AND role != 'admin' AND id NOT IN "
                              "(SELECT user_id FROM members WHERE project_id = ?)", [annotator, project_id]):
                    joined.append(annotator)
                    self._set_member(project_id, annotator, "annotator")
            if added:
                self.add_audit(actor, "team", project_id=project_id, op="assign", added=added,
                               queues={a: len(ids) for a, ids in queues.items() if ids}, members_added=joined)
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

    def human_versions(self, sentence_id: int) -> dict[str, Annotation]:
        """The latest human annotation of each annotator of a sentence: annotator -> row."""
        rows = self._rows("""SELECT * FROM annotations a WHERE a.sentence_id = ? AND a.source = 'human'
            AND a.id = (SELECT MAX(b.id) FROM annotations b WHERE b.sentence_id = a.sentence_id
                        AND b.source = 'human' AND b.annotator = a.annotator) ORDER BY a.annotator""", [sentence_id])
        return {r["annotator"]: Annotation.from_row(r) for r in rows}

    def human_labels(self, project_id: int) -> dict[str, dict[int, list[str]]]:
        """The latest human annotation of each (sentence, named annotator) of the project: annotator -> id -> tags
        (annotations without an annotator name cannot be paired and are left out)."""
        rows = self._rows(
            """SELECT a.annotator, a.sentence_id, a.tags FROM annotations a JOIN sentences s ON s.id = a.sentence_id
            WHERE s.project_id = ? AND a.source = 'human' AND a.annotator != '' AND a.id = (SELECT MAX(b.id)
                FROM annotations b WHERE b.sentence_id = a.sentence_id AND b.source = 'human'
                AND b.annotator = a.annotator) ORDER BY a.annotator, a.sentence_id""", [project_id])
        labels: dict[str, dict[int, list[str]]] = {}
        for r in rows:
            labels.setdefault(r["annotator"], {})[r["sentence_id"]] = r["tags"]
        return labels

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
            WHERE s.project_id = ? AND a.source = 'human' AND a.annotator != '' AND {FLAGGED.format(sid='s.id')} = 0
            GROUP BY a.sentence_id HAVING COUNT(DISTINCT a.annotator) > 1 ORDER BY a.sentence_id""", [project_id])]
