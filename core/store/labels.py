"""Label history: each edit of a project's types (add, rename, merge, split, undo) and the tags it rewrote, with their
old values; the time of each sentence's label, for the rule of partial sentences (core.labelhistory)."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from core.access import OWNER, Actor
from core.store.base import SPLITS, StoreBase
from core.store.shared import EFFECTIVE_ID, check_choice, now

_USING = """SELECT 'annotations' AS tbl, CAST(a.id AS TEXT) AS key, a.tags AS value FROM annotations a
    JOIN sentences s ON s.id = a.sentence_id WHERE s.project_id = :p AND {uses}
    UNION ALL SELECT 'drafts', json_array(d.sentence_id, d.annotator), d.tags FROM drafts d
    JOIN sentences s ON s.id = d.sentence_id WHERE s.project_id = :p AND {uses_d}
    UNION ALL SELECT 'hidden_gold', CAST(h.sentence_id AS TEXT), h.tags FROM hidden_gold h
    JOIN sentences s ON s.id = h.sentence_id WHERE s.project_id = :p AND {uses_h}"""
_USES = ("EXISTS (SELECT 1 FROM json_each({t}.tags) j WHERE j.value != 'O' AND substr(j.value, 3) IN "
         "(SELECT value FROM json_each(:types)))")
_WHERE = {"annotations": "id = ?", "hidden_gold": "sentence_id = ?", "patterns": "id = ?",
          "drafts": "sentence_id = ? AND annotator = ?"}


class LabelRows(StoreBase):
    """Label-set edits with their history, applied to every annotation, draft, hidden gold tag and pattern."""

    def label_events(self, project_id: int) -> list[dict]:
        """The project's label events, oldest first: id, op, detail, labels (after it), actor, created, undone."""
        return self._rows("SELECT id, op, detail, labels, actor, created, undone FROM label_events "
                          "WHERE project_id = ? ORDER BY id", [project_id])

    def _label_added(self, project_id: int, before: Sequence[str], added: Sequence[str], actor: str = "",
                     created: str | None = None) -> None:
        """Inside a write: record types that an import or an annotation added to a project that had types (at
        `created`: an import's time, so its own sentences are not partial for them)."""
        if before and added:
            self._label_event(project_id, "add", {"op": "add", "from": [], "to": list(added)},
                              [*before, *added], actor, created)

    def _label_event(self, project_id: int, op: str, detail: dict, labels: Sequence[str], actor: str,
                     created: str | None = None) -> int:
        return self.db.execute("INSERT INTO label_events (project_id, op, detail, labels, actor, created) "
                               "VALUES (?, ?, ?, ?, ?, ?)", [project_id, op, json.dumps(detail),
                                                             json.dumps(list(labels)), actor,
                                                             created or now()]).lastrowid

    def edit_labels(self, project_id: int, detail: dict, labels: Sequence[str], retag: Callable[[list[str]], list[str]],
                    types: Sequence[str], *, undo_of: int | None = None, restore: bool = False,
                    actor: Actor = OWNER) -> int:
        """One label-set edit in one transaction (admins only; audited): the event recorded (an undo marks
        `undo_of` undone and, with `restore`, puts back the values that edit rewrote), every annotation, draft and
        hidden gold tag of a type in `types` rewritten by `retag` and every pattern of one relabelled (old values
        kept), and the project's types set to `labels`. Returns the event id."""
        self.authorize(actor, "project", project_id)
        with self._write():
            self.project(project_id)
            event = self._label_event(project_id, "undo" if undo_of else detail["op"], detail, labels, actor.name)
            if undo_of is not None:
                self.db.execute("UPDATE label_events SET undone = ? WHERE id = ? AND project_id = ?",
                                [now(), undo_of, project_id])
                if restore:
                    for tbl, key, before in self.db.execute("SELECT tbl, key, before FROM label_rewrites WHERE "
                                                            "event_id = ?", [undo_of]).fetchall():
                        self._rewrite(event, tbl, key, json.loads(before))
            if types:
                params = {"p": project_id, "types": json.dumps(list(types))}
                sql = _USING.format(uses=_USES.format(t="a"), uses_d=_USES.format(t="d"), uses_h=_USES.format(t="h"))
                for tbl, key, value in self.db.execute(sql, params).fetchall():
                    new = retag(json.loads(value))
                    if new != json.loads(value):
                        self._rewrite(event, tbl, key, new)
                for pid, label in self.db.execute("SELECT id, label FROM patterns WHERE project_id = :p AND label IN "
                                                  "(SELECT value FROM json_each(:types))", params).fetchall():
                    self._rewrite(event, "patterns", str(pid), retag([f"B-{label}"])[0][2:])
            self.db.execute("UPDATE projects SET labels = ? WHERE id = ?", [json.dumps(list(labels)), project_id])
            self.add_audit(actor, "project", project_id=project_id, op="labels", edit=detail, labels=list(labels))
        return event

    def _rewrite(self, event: int, tbl: str, key: str, value: list[str] | str) -> None:
        """Set one row's tags (a pattern's label) to `value`, keeping its old value under `event` (the first kept
        wins: an undo that restores, then retags, keeps the value before both)."""
        where = _WHERE[tbl]
        keys = json.loads(key) if tbl == "drafts" else [int(key)]
        column = "label" if tbl == "patterns" else "tags"
        row = self.db.execute(f"SELECT {column} FROM {tbl} WHERE {where}", keys).fetchone()
        if row is None:
            return
        before = row[0] if tbl == "patterns" else json.loads(row[0])
        self.db.execute("INSERT OR IGNORE INTO label_rewrites (event_id, tbl, key, before) VALUES (?, ?, ?, ?)",
                        [event, tbl, key, json.dumps(before)])
        stored = value if tbl == "patterns" else json.dumps(list(value))
        self.db.execute(f"UPDATE OR IGNORE {tbl} SET {column} = ? WHERE {where}", [stored, *keys])

    def label_uses(self, project_id: int, types: Sequence[str], *, since: str | None = None) -> int:
        """Annotations of the project holding a tag of one of `types` (made after `since`, when given)."""
        with self._lock:
            return self.db.execute(
                "SELECT COUNT(*) FROM annotations a JOIN sentences s ON s.id = a.sentence_id WHERE s.project_id = :p "
                f"AND {_USES.format(t='a')} AND a.created > :since",
                {"p": project_id, "types": json.dumps(list(types)), "since": since or ""}).fetchone()[0]

    def label_times(self, project_id: int, split: str | None = None) -> dict[int, str]:
        """Sentence id -> when its label (the effective annotation) was made, for the labelled sentences."""
        sql = ("SELECT s.id, a.created FROM sentences s JOIN annotations a ON a.id = "
               f"{EFFECTIVE_ID.format(sid='s.id')} WHERE s.project_id = ?")
        params: list = [project_id]
        if split is not None:
            sql += " AND s.split = ?"
            params.append(check_choice(split, SPLITS, "split"))
        with self._lock:
            return dict(self.db.execute(sql, params).fetchall())
