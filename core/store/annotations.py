"""Annotations (append-only), junk flags, drafts, active-learning pool scores and hidden gold."""
from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import Any

from core.access import OWNER, Actor
from core.store.base import SOURCES, StoreBase
from core.store.records import Annotation
from core.store.shared import EFFECTIVE_ID, FLAGGED, LABEL_SOURCES, check_choice, located, now, tag_labels


class AnnotationRows(StoreBase):
    """Annotations (append-only), junk flags, drafts, active-learning pool scores and hidden gold.."""

    def annotate(self, sentence_id: int, tags: Sequence[str], *, source: str = "human",
                 annotator: str = "", model_id: int | None = None) -> int:
        """Append an annotation; labels new to the project are added to it; a human or review one drops the
        annotator's draft of the sentence."""
        return self.annotate_many([(sentence_id, tags)], source=source, annotator=annotator, model_id=model_id)[0]

    def annotate_many(self, items: Sequence[tuple[int, Sequence[str]]], *, source: str = "human",
                      annotator: str = "", model_id: int | None = None) -> list[int]:
        """Append (sentence id, tags) annotations in one transaction: all of them, or none on a bad one. Human ones
        (and review ones) drop the annotator's drafts of the sentences in the same transaction."""
        check_choice(source, SOURCES, "annotation source")
        ids = []
        with self._write():
            for sentence_id, tags in items:
                sentence = self._one("sentences", sentence_id)
                if len(tags) != len(sentence["words"]):
                    raise ValueError(f"sentence {sentence_id}: {len(tags)} tags for "
                                     f"{len(sentence['words'])} words")
                fail = partial(located, f"sentence {sentence_id}")
                self._add_labels(sentence["project_id"], tag_labels(tags, fail), fail)
                ids.append(self._insert("annotations", {
                    "sentence_id": sentence_id, "tags": json.dumps(list(tags)), "source": source,
                    "annotator": annotator, "model_id": model_id, "created": now()}))
                if source in ("human", "review"):
                    self.db.execute("DELETE FROM drafts WHERE sentence_id = ? AND annotator = ?",
                                    [sentence_id, annotator])
        return ids

    def save_human(self, sentence_id: int, tags: Sequence[str], *, annotator: str, source: str = "human",
                   actor: Actor = OWNER) -> int:
        """A human (or review) annotation of a sentence, in one transaction with its move from the unlabeled split to
        train (so the next training learns from it); every member of the project may annotate, its reviewers and
        admins review (`actor`). Recorded under the actor's own name: only an admin records work under another
        (audited with both names, as every review is). Returns the annotation id."""
        if source not in ("human", "review"):
            raise ValueError(f"a saved label has source human or review, not {source!r}")
        project_id = self._project_of([sentence_id])[0]
        action = "review" if source == "review" else "annotate"
        name = self._acting_name(actor, annotator, self.authorize(actor, action, project_id), action)
        with self._write():
            annotation_id = self.annotate(sentence_id, tags, source=source, annotator=name)
            self.db.execute("UPDATE sentences SET split = 'train' WHERE id = ? AND split = 'unlabeled'", [sentence_id])
            if source == "review" or (name != actor.name and actor != OWNER):
                self.add_audit(actor, action, project_id=project_id, sentence_id=sentence_id, annotation_id=annotation_id,
                               annotator=name)
        return annotation_id

    def _project_of(self, sentence_ids: Sequence[int]) -> list[int]:
        """The distinct projects of these sentences (KeyError naming the ids that do not exist)."""
        ids = sorted({int(i) for i in sentence_ids})
        rows = self._rows("SELECT id, project_id FROM sentences WHERE id IN (SELECT value FROM json_each(?))",
                          [json.dumps(ids)])
        if len(rows) != len(ids):
            missing = sorted(set(ids) - {r["id"] for r in rows})
            raise KeyError(f"no sentence with id {', '.join(map(str, missing))}")
        return sorted({r["project_id"] for r in rows})

    @staticmethod
    def _acting_name(actor: Actor, name: str, scoped: Actor, action: str) -> str:
        """The name to record an action under: `name`, or the actor's own when none is given (the local owner may
        leave it blank); a name other than the actor's needs an admin (PermissionError)."""
        name = (name or "").strip() or ("" if actor == OWNER else actor.name)
        if name and name != actor.name and scoped.role != "admin":
            raise PermissionError(f"{action} refused: user {actor.name!r} ({scoped.role}) cannot record it under "
                                  f"the name {name[:64]!r}; only an admin records work for someone else")
        return name

    def human_entity_counts(self, project_id: int) -> dict[str, int]:
        """Entities per type in the latest human annotation of each sentence of a project."""
        with self._lock:
            rows = self.db.execute(
                """SELECT substr(j.value, 3), COUNT(*) FROM annotations a, json_each(a.tags) j
                WHERE a.id IN (SELECT MAX(h.id) FROM annotations h JOIN sentences s ON s.id = h.sentence_id
                               WHERE s.project_id = ? AND h.source = 'human' GROUP BY h.sentence_id)
                  AND j.value LIKE 'B-%' GROUP BY 1 ORDER BY 1""", [project_id]).fetchall()
        return dict(rows)

    def human_since_last_job(self, project_id: int) -> int:
        """Sentences given a human annotation in the project since its latest training job was created (all when none
        was); saving one sentence twice counts once."""
        with self._lock:
            return self.db.execute(
                """SELECT COUNT(DISTINCT a.sentence_id) FROM annotations a JOIN sentences s ON s.id = a.sentence_id
                WHERE s.project_id = ? AND a.source = 'human'
                  AND a.created > COALESCE((SELECT MAX(created) FROM jobs WHERE project_id = ?), '')""",
                [project_id, project_id]).fetchone()[0]

    def tagged_by(self, model_id: int, sentence_ids: Sequence[int]) -> set[int]:
        """Which of these sentences already hold a source=model annotation of this model version."""
        rows = self._rows("SELECT DISTINCT sentence_id FROM annotations WHERE source = 'model' AND model_id = ? "
                          "AND sentence_id IN (SELECT value FROM json_each(?))",
                          [model_id, json.dumps([int(i) for i in sentence_ids])])
        return {r["sentence_id"] for r in rows}

    def history(self, sentence_id: int) -> list[Annotation]:
        """Every annotation of a sentence, oldest first."""
        rows = self._rows("SELECT * FROM annotations WHERE sentence_id = ? ORDER BY id", [sentence_id])
        return [Annotation.from_row(r) for r in rows]

    def effective(self, sentence_id: int) -> Annotation | None:
        """The latest review annotation, else the latest human one, else the latest gold one, else None."""
        rows = self._rows(f"SELECT * FROM annotations WHERE id = {EFFECTIVE_ID.format(sid='?')}",
                          [sentence_id])
        return Annotation.from_row(rows[0]) if rows else None

    def suggestion(self, sentence_id: int) -> Annotation | None:
        """The latest model annotation of a sentence (an import's predictions, `nerloop predict`'s), else None."""
        rows = self._rows("SELECT * FROM annotations WHERE sentence_id = ? AND source = 'model' ORDER BY id DESC "
                          "LIMIT 1", [sentence_id])
        return Annotation.from_row(rows[0]) if rows else None

    def flag(self, sentence_ids: Sequence[int], flagged: bool = True, *, annotator: str = "",
             actor: Actor = OWNER) -> list[int]:
        """Flag sentences as junk (False: restore them), keeping the history; every member of their project may
        (`actor`), under its own name (see save_human); audited. Returns the ids whose state changed."""
        ids = sorted({int(i) for i in sentence_ids})
        projects = self._project_of(ids)
        names = {self._acting_name(actor, annotator, self.authorize(actor, "flag", pid), "flag") for pid in projects}
        name = names.pop() if names else ""
        created = now()
        with self._write():
            rows = self._rows(f"SELECT s.id, s.project_id, {FLAGGED.format(sid='s.id')} AS flagged FROM sentences s "
                              "WHERE s.id IN (SELECT value FROM json_each(?)) ORDER BY s.id", [json.dumps(ids)])
            changed = [r for r in rows if bool(r["flagged"]) != flagged]
            self.db["flags"].insert_all(({"sentence_id": r["id"], "flagged": int(flagged), "annotator": name,
                                          "created": created} for r in changed), batch_size=500)
            for pid in sorted({r["project_id"] for r in changed}):
                self.add_audit(actor, "flag", project_id=pid, flagged=flagged, annotator=name,
                               sentence_ids=[r["id"] for r in changed if r["project_id"] == pid])
        return [r["id"] for r in changed]

    def flagged(self, project_id: int) -> set[int]:
        """Ids of the project's sentences flagged as junk now."""
        rows = self._rows("SELECT f.sentence_id FROM flags f JOIN sentences s ON s.id = f.sentence_id "
                          "WHERE s.project_id = ? AND f.flagged = 1 AND f.id = "
                          "(SELECT MAX(g.id) FROM flags g WHERE g.sentence_id = f.sentence_id)", [project_id])
        return {r["sentence_id"] for r in rows}

    def flag_history(self, sentence_id: int) -> list[dict]:
        """Every flag and restore of a sentence, oldest first."""
        return self._rows("SELECT * FROM flags WHERE sentence_id = ? ORDER BY id", [sentence_id])

    def save_draft(self, sentence_id: int, tags: Sequence[str], cursor: int = 0, *, annotator: str = "") -> None:
        """Keep the unsaved tags and cursor of a sentence (one draft per sentence and annotator, the newest wins)."""
        with self._write():
            words = self._one("sentences", sentence_id)["words"]
            if len(tags) != len(words):
                raise ValueError(f"sentence {sentence_id}: {len(tags)} tags for {len(words)} words")
            tag_labels(tags, partial(located, f"sentence {sentence_id}"))
            if not 0 <= cursor < len(words):
                raise ValueError(f"sentence {sentence_id}: cursor {cursor} outside its {len(words)} words")
            self.db["drafts"].upsert({"sentence_id": sentence_id, "tags": json.dumps(list(tags)), "cursor": cursor,
                                      "annotator": annotator, "updated": now()}, pk=("sentence_id", "annotator"))

    def draft(self, sentence_id: int, annotator: str = "") -> dict | None:
        """The annotator's draft of the sentence ({sentence_id, tags, cursor, annotator, updated}) or None."""
        rows = self._rows("SELECT * FROM drafts WHERE sentence_id = ? AND annotator = ?", [sentence_id, annotator])
        return rows[0] if rows else None

    def drop_draft(self, sentence_id: int, annotator: str = "") -> bool:
        """Forget the annotator's draft of the sentence; False when there was none."""
        with self._write():
            return self.db.execute("DELETE FROM drafts WHERE sentence_id = ? AND annotator = ?",
                                   [sentence_id, annotator]).rowcount > 0

    def save_pool_scores(self, model_id: int, rows: Sequence[tuple[int, dict, bytes | None]]) -> None:
        """Store (sentence id, numbers, embedding bytes) rows scored by `model_id`, replacing earlier ones."""
        created = now()
        with self._write():
            self._one("models", model_id)
            self.db["pool_scores"].upsert_all(
                ({"model_id": model_id, "sentence_id": sid, "data": json.dumps(data), "embedding": emb,
                  "created": created} for sid, data, emb in rows), pk=("model_id", "sentence_id"), batch_size=500)

    def pool_scores(self, model_id: int, sentence_ids: Sequence[int] | None = None) -> dict[int, dict]:
        """Stored scores of `model_id`: sentence id -> {"data": numbers, "embedding": bytes or None}."""
        sql, params = "SELECT sentence_id, data, embedding FROM pool_scores WHERE model_id = ?", [model_id]
        if sentence_ids is not None:
            sql += " AND sentence_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps([int(i) for i in sentence_ids]))
        return {r["sentence_id"]: {"data": r["data"], "embedding": r["embedding"]} for r in self._rows(sql, params)}

    def hidden_gold(self, project_id: int, sentence_ids: Sequence[int] | None = None) -> dict[int, list[str]]:
        """Hidden gold tags of the project's sentences: sentence id -> tags."""
        sql = ("SELECT h.sentence_id, h.tags FROM hidden_gold h JOIN sentences s ON s.id = h.sentence_id "
               "WHERE s.project_id = ?")
        params: list[Any] = [project_id]
        if sentence_ids is not None:
            sql += " AND h.sentence_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps([int(i) for i in sentence_ids]))
        return {r["sentence_id"]: r["tags"] for r in self._rows(sql, params)}

    def hidden_gold_left(self, project_id: int) -> tuple[int, int]:
        """Demo mode: (sentences whose hidden gold is still hidden: unlabeled, no human or gold label yet; sentences
        with hidden gold in all)."""
        with self._lock:
            row = self.db.execute(
                f"""SELECT COUNT(*), COALESCE(SUM(s.split = 'unlabeled' AND NOT EXISTS (SELECT 1 FROM annotations a
                    WHERE a.sentence_id = s.id AND a.source IN ({LABEL_SOURCES}))), 0)
                FROM hidden_gold h JOIN sentences s ON s.id = h.sentence_id WHERE s.project_id = ?""",
                [project_id]).fetchone()
        return int(row[1]), int(row[0])

