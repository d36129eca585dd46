"""A project's entity patterns (spaCy EntityRuler rules, core/patterns.py): one row per rule, duplicates skipped."""
from __future__ import annotations

import json
from collections.abc import Sequence

from core.access import OWNER, Actor
from core.patterns import Pattern
from core.store.base import StoreBase
from core.store.shared import now


def _key(rule: Pattern) -> str:
    """The rule's EntityRuler pattern as canonical JSON (a phrase string or token objects with sorted keys)."""
    return json.dumps(rule.to_json()["pattern"], ensure_ascii=False, sort_keys=True)


class PatternRows(StoreBase):
    """Entity patterns per project, which pre-tag its sentences before the first model."""

    def add_patterns(self, project_id: int, rules: Sequence[Pattern], *, actor: Actor = OWNER) -> dict:
        """Store the rules in one transaction (those the project holds already, or repeated, are skipped); returns
        {"added", "duplicates"}. Admins only (`actor`, as imports); audited."""
        self.authorize(actor, "import", project_id)
        created, added = now(), 0
        with self._write():
            self.project(project_id)
            for rule in rules:
                added += self.db.execute(
                    "INSERT OR IGNORE INTO patterns (project_id, label, pattern, created) VALUES (?, ?, ?, ?)",
                    [project_id, rule.label, _key(rule), created]).rowcount
            self.add_audit(actor, "import", project_id=project_id, op="patterns", added=added)
        return {"added": added, "duplicates": len(rules) - added}

    def patterns(self, project_id: int) -> list[Pattern]:
        """The project's rules in the order they were added."""
        rows = self._rows("SELECT label, pattern FROM patterns WHERE project_id = ? ORDER BY id", [project_id])
        return [Pattern.of(r["label"], json.loads(r["pattern"])) for r in rows]

    def patterns_stamp(self, project_id: int) -> tuple[int, int]:
        """(count, max id) of the project's rules: changes whenever one is added or removed (ids are never reused)."""
        with self._lock:
            return tuple(self.db.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM patterns WHERE project_id = ?",
                                         [project_id]).fetchone())

    def remove_patterns(self, project_id: int, rules: Sequence[Pattern], *, actor: Actor = OWNER) -> int:
        """Remove these rules from the project; returns how many it held. Admins only; audited."""
        self.authorize(actor, "project", project_id)
        with self._write():
            removed = sum(self.db.execute("DELETE FROM patterns WHERE project_id = ? AND label = ? AND pattern = ?",
                                          [project_id, rule.label, _key(rule)]).rowcount for rule in rules)
            self.add_audit(actor, "project", project_id=project_id, op="patterns removed", removed=removed)
        return removed

    def clear_patterns(self, project_id: int, *, actor: Actor = OWNER) -> int:
        """Remove every rule of the project; returns how many there were. Admins only; audited."""
        self.authorize(actor, "project", project_id)
        with self._write():
            removed = self.db.execute("DELETE FROM patterns WHERE project_id = ?", [project_id]).rowcount
            self.add_audit(actor, "project", project_id=project_id, op="patterns removed", removed=removed)
        return removed
