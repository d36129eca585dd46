"""Projects and their sentences: create, import (one transaction per import), read, split, count."""
from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any

from core.access import OWNER, Actor, require
from core.formats import FormatError
from core.labels import LabelSet, check_labels
from core.store.base import SOURCES, SPLITS, StoreBase
from core.store.records import Project, SentenceRow
from core.store.shared import (EFFECTIVE_ID, FLAGGED, LABEL_SOURCES, NEW_LABEL_HINT, check_choice, check_sentence,
                               now, sentence_hash, tag_labels)

_CONTEXT_COLUMNS = "id, text, words, offsets, split, document_id, position"

_CHUNK = 2000  # sentences checked and written at a time by an import


class ProjectRows(StoreBase):
    """Projects and their sentences."""

    def create_project(self, name: str, labels: Sequence[str], *, actor: Actor = OWNER) -> int:
        """A new project (admins only; audited); returns its id."""
        require(actor, "project")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"invalid project name {name!r}")
        labels = check_labels(labels)
        with self._write():
            if self._rows("SELECT id FROM projects WHERE name = ?", [name]):
                raise ValueError(f"project {name!r} already exists")
            project_id = self._insert("projects", {"name": name, "labels": json.dumps(labels),
                                                   "created": now(), "serving_model_id": None})
            self.add_audit(actor, "project", project_id=project_id, op="create", name=name, labels=labels)
            return project_id

    def project(self, name_or_id: str | int) -> Project:
        column = "name" if isinstance(name_or_id, str) else "id"
        rows = self._rows(f"SELECT * FROM projects WHERE {column} = ?", [name_or_id])
        if not rows:
            raise KeyError(f"project {name_or_id!r} not found")
        return Project.from_row(rows[0])

    def projects(self, actor: Actor | None = None) -> list[Project]:
        """Every project, or those `actor` may open (an admin: all; another account: those it is a member of)."""
        if actor is None or actor.role == "admin":
            return [Project.from_row(r) for r in self._rows("SELECT * FROM projects ORDER BY id")]
        return [Project.from_row(r) for r in self._rows(
            "SELECT p.* FROM projects p JOIN members m ON m.project_id = p.id JOIN users u ON u.id = m.user_id "
            "WHERE u.name = ? AND u.removed IS NULL ORDER BY p.id", [actor.name])]

    def open_project(self, name_or_id: str | int, actor: Actor) -> Project:
        """The project, once `actor` may open it (KeyError: none such; PermissionError naming why)."""
        project = self.project(name_or_id)
        self.scoped(actor, project.id)
        return project

    def set_labels(self, project_id: int, labels: Sequence[str], *, actor: Actor = OWNER) -> None:
        """Replace a project's entity types (admins only; audited)."""
        self.authorize(actor, "project", project_id)
        labels = check_labels(labels)
        with self._write():
            before = self.project(project_id).labels
            self.db["projects"].update(project_id, {"labels": json.dumps(labels)})
            self._label_added(project_id, before, [label for label in labels if label not in before], actor.name)
            self.add_audit(actor, "project", project_id=project_id, op="labels", labels=labels)

    def _add_labels(self, project_id: int, found: Sequence[str], fail: Callable[[str], Exception]) -> None:
        """Add the labels of `found` the project lacks (a case twin of a label it has raises fail(problem))."""
        labels = self.project(project_id).labels
        known = LabelSet(labels)
        for label in found:
            if problem := known.check(label):
                raise fail(problem)
        if known.new:
            self.db["projects"].update(project_id, {"labels": json.dumps(labels + sorted(known.new))})
            self._label_added(project_id, labels, sorted(known.new))

    def import_sentences(self, project_id: int, sentences: Sequence, *, split: str,
                         source_name: str = "", source: str = "gold", annotator: str = "import",
                         new_labels: bool = False, actor: Actor = OWNER) -> dict:
        """Import Sentence-like objects in one transaction (see `import_many`); returns the counts."""
        return self.import_many(project_id, [(sentences, split, source_name)], source=source, annotator=annotator,
                                new_labels=new_labels, actor=actor)[0]

    def import_many(self, project_id: int, batches: Sequence[tuple[Iterable, str | None, str]], *,
                    source: str = "gold", annotator: str = "import", new_labels: bool = False,
                    hidden_gold: bool = False, actor: Actor = OWNER) -> list[dict]:
        """Import (sentences, split, source name) batches, e.g. every file of one import, in ONE transaction: all of
        them, or nothing when one is refused (a FormatError naming source and line, for sentences, words and labels
        as core.labels checks them). Sentences may be a list or a formats.Stream: each batch is read once, checked
        and written a chunk at a time, so memory holds a chunk, not the file. Split None: a sentence's own `split`
        (one the file gives it, as hf does), else train when a sentence of the batch is labelled, else unlabeled.
        A sentence's `suggestion` (a model's tags, e.g. Label Studio predictions) is stored as a source=model
        annotation by `suggested_by`: shown to annotators, never a label. Returns per batch {"added", "duplicates",
        "annotated"} (+ "suggested" when some were; + "hidden"; + "split" when it was None, "splits" {split: n} for
        own splits; + "duplicates_carrying": skipped sentences whose file carried data along, not imported again).

        Labels: into a project without labels an import brings its own; a project with labels takes a new entity
        type only when `new_labels` allows it, and never one differing from another only by case. Sentences already
        in the project are skipped (with source "human", an annotator's file, they still get its labels as that
        annotator's, unless their latest by that annotator are the same); a sentence repeated inside one batch is
        kept as often as it is repeated (its k-th copy has its own identity), so re-importing the same file adds
        nothing and loses nothing. `hidden_gold` (demo mode): labelled sentences join the unlabeled split with their
        tags kept hidden until revealed, and without what their file carries (it would hold the tags). Admins only
        (`actor`); audited with the counts."""
        self.authorize(actor, "import", project_id)
        check_choice(source, SOURCES, "annotation source")
        for _, split, _ in batches:
            if split is not None:
                check_choice(split, SPLITS, "split")
            if hidden_gold and split not in (None, "unlabeled"):
                raise ValueError(f"a pool with hidden gold goes to the unlabeled split, not {split}")
        created = now()
        with self._write():
            labels = self.project(project_id).labels
            known = LabelSet(labels, fixed=bool(labels) and not new_labels, hint=NEW_LABEL_HINT)
            results = [self._import_batch(project_id, sentences, split, source_name, known=known, created=created,
                                          source=source, annotator=annotator, hidden_gold=hidden_gold)
                       for sentences, split, source_name in batches]
            if known.new:
                self.db["projects"].update(project_id, {"labels": json.dumps(labels + sorted(known.new))})
                self._label_added(project_id, labels, sorted(known.new), actor.name, created)
            self.add_audit(actor, "import", project_id=project_id, source=source, annotator=annotator,
                           files=[name for _, _, name in batches], added=sum(r["added"] for r in results),
                           new_labels=sorted(known.new))
        return results

    def _import_batch(self, project_id: int, sentences: Iterable, split: str | None, source_name: str, *,
                      known: LabelSet, created: str, source: str, annotator: str, hidden_gold: bool) -> dict:
        """Check and insert one batch inside import_many's transaction, _CHUNK sentences at a time; duplicates are
        looked up in the table (earlier chunks included), copies inside the batch counted by 20-byte digest."""
        where = source_name or "import"
        source_name = source_name.encode("utf-8", "backslashreplace").decode("utf-8")
        next_sid = self._max_id("sentences") + 1
        next_did = self._max_id("documents") + 1
        documents: dict[str, int] = {}
        counts = {"added": 0, "duplicates": 0, "annotated": 0} | ({"hidden": 0} if hidden_gold else {})
        labelled = False
        defaulted: list[int] = []  # sentences whose split is the batch's default (train or unlabeled, decided last)
        own_splits: Counter[str] = Counter()  # sentences the file itself puts in a split (hf), by split

        def check(s: Any, index: int) -> None:
            nonlocal labelled
            fail = partial(FormatError, where, getattr(s, "line", 0) or index)
            if hidden_gold and s.tags is None:
                raise fail("sentence has no tags (a pool with hidden gold must be labelled)")
            own = getattr(s, "split", None)
            if own is not None and own not in SPLITS:
                raise fail(f"invalid split {own!r}: expected one of {', '.join(SPLITS)}")
            suggestion = getattr(s, "suggestion", None)
            if suggestion is not None and len(suggestion) != len(s.words):
                raise fail(f"{len(s.words)} words but {len(suggestion)} suggested tags")
            for label in check_sentence(s, fail) + (tag_labels(suggestion, fail) if suggestion else []):
                if problem := known.check(label):
                    raise fail(problem)
            labelled = labelled or (s.tags is not None and (split or own) is None)

        for pending, held in self._chunks(project_id, sentences, check):
            docs, rows, annotations, relabel = [], [], [], {}
            for s, position, digest in pending:
                if digest in held:
                    counts["duplicates"] += 1
                    if getattr(s, "carry", None) and s.carry.get("kept"):  # its relations, fields... are not kept
                        counts["duplicates_carrying"] = counts.get("duplicates_carrying", 0) + 1
                    if source == "human" and s.tags is not None:
                        relabel[held[digest]] = list(s.tags)
                    continue
                if s.doc_id is not None and s.doc_id not in documents:
                    documents[s.doc_id] = next_did + len(documents)
                    docs.append((documents[s.doc_id], project_id, s.doc_id, source_name, created))
                columns, meta = getattr(s, "columns", None), getattr(s, "meta", None)
                own = None if hidden_gold else getattr(s, "split", None)
                if split is None and own is not None:
                    own_splits[own] += 1
                elif split is None:
                    defaulted.append(next_sid)
                rows.append((next_sid, project_id, documents.get(s.doc_id), position, s.text,
                             json.dumps(list(s.words)), json.dumps([list(o) for o in s.offsets]),
                             split or own or "unlabeled", digest, created,
                             json.dumps([list(c) for c in columns]) if columns else None,
                             None if meta is None else json.dumps(meta),
                             None if hidden_gold or getattr(s, "carry", None) is None else json.dumps(s.carry)))
                if getattr(s, "suggestion", None) is not None:  # a model's tags: shown to annotators, never a label
                    annotations.append((next_sid, json.dumps(list(s.suggestion)), "model",
                                        getattr(s, "suggested_by", None) or annotator, created))
                    counts["suggested"] = counts.get("suggested", 0) + 1
                if s.tags is not None and not hidden_gold:
                    annotations.append((next_sid, json.dumps(list(s.tags)), source,
                                        getattr(s, "annotator", None) or annotator, created))
                next_sid += 1
            if relabel:
                annotations += self._human_relabels(relabel, annotator, created, split or "train")
            self._insert_chunk(docs, rows, annotations)
            counts["added"] += len(rows)
            counts["annotated"] += sum(a[2] != "model" for a in annotations)
            if hidden_gold:
                counts["hidden"] += self._hide_gold(project_id, {d: s.tags for s, _, d in pending}, created)
        if own_splits:
            counts["splits"] = dict(own_splits)
        if split is None and not hidden_gold and (defaulted or not own_splits):
            counts["split"] = split = "train" if labelled else "unlabeled"
            if split == "train":
                self.db.execute("UPDATE sentences SET split = 'train' WHERE id IN (SELECT value FROM json_each(?))",
                                [json.dumps(defaulted)])
        return counts

    def _insert_chunk(self, docs: list[tuple], rows: list[tuple], annotations: list[tuple]) -> None:
        """Insert a chunk of an import: its new documents, sentences and annotations (rows as _import_batch builds
        them)."""
        self.db.conn.executemany("INSERT INTO documents (id, project_id, name, source, created) "
                                 "VALUES (?, ?, ?, ?, ?)", docs)
        self.db.conn.executemany("INSERT INTO sentences (id, project_id, document_id, position, text, words, "
                                 "offsets, split, hash, created, columns, meta, carry) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.db.conn.executemany("INSERT INTO annotations (sentence_id, tags, source, annotator, model_id, "
                                 "created) VALUES (?, ?, ?, ?, NULL, ?)", annotations)

    # an import with source "human" (an annotator's file): held sentences get that annotator's labels too
    def _human_relabels(self, tags: dict[int, list[str]], annotator: str, created: str, split: str) -> list[tuple]:
        """Annotation rows giving held sentences (id -> tags) the annotator's tags, except where their latest human
        annotation by the annotator has these tags already; the unlabeled ones among them move to `split`."""
        latest = dict(self.db.execute(
            "SELECT a.sentence_id, a.tags FROM annotations a WHERE a.sentence_id IN (SELECT value FROM json_each(?)) "
            "AND a.id = (SELECT MAX(b.id) FROM annotations b WHERE b.sentence_id = a.sentence_id "
            "AND b.source = 'human' AND b.annotator = ?)", [json.dumps(list(tags)), annotator]))
        rows = [(sid, json.dumps(t), "human", annotator, created) for sid, t in tags.items()
                if latest.get(sid) != json.dumps(t)]
        if split != "unlabeled":
            self.db.execute("UPDATE sentences SET split = ? WHERE split = 'unlabeled' AND id IN "
                            "(SELECT value FROM json_each(?))", [split, json.dumps([r[0] for r in rows])])
        return rows

    def _chunks(self, project_id: int, sentences: Iterable, check: Callable[[Any, int], None] | None = None
                ) -> Iterator[tuple[list[tuple[Any, int, str]], dict[str, int]]]:
        """Sentences _CHUNK at a time, each checked, as (sentence, position in its document, identity) with the
        identities the project holds already (-> sentence id): a sentence's hash, its k-th copy in the batch
        hash#k."""
        positions: dict[str | None, int] = {}
        copies: dict[bytes, int] = {}
        numbered = enumerate(sentences, 1)
        while chunk := list(itertools.islice(numbered, _CHUNK)):
            pending = []
            for index, s in chunk:
                if check:
                    check(s, index)
                position = positions.get(s.doc_id, 0)
                positions[s.doc_id] = position + 1
                digest = sentence_hash(s.words)
                key = bytes.fromhex(digest)
                copies[key] = copies.get(key, 0) + 1
                pending.append((s, position, digest if copies[key] == 1 else f"{digest}#{copies[key]}"))
            with self._lock:
                held = dict(self.db.execute(
                    "SELECT hash, id FROM sentences WHERE project_id = ? AND hash IN (SELECT value FROM json_each(?))",
                    [project_id, json.dumps([digest for _, _, digest in pending])]))
            yield pending, held

    def duplicates(self, project_id: int, sentences: Iterable) -> int:
        """How many of these sentences an import into the project would skip as already held (read a chunk at a
        time, nothing written; the lock is held per chunk, not while the file is read)."""
        return sum(len(held) for _, held in self._chunks(project_id, sentences))

    def _hide_gold(self, project_id: int, tags: dict[str, list[str]], created: str) -> int:
        """Record the gold tags of these sentence hashes for the project's unlabeled sentences that hold them and
        have no gold, human or hidden tags yet; returns how many."""
        ids = self._rows("SELECT s.id, s.hash FROM sentences s WHERE s.project_id = ? AND s.split = 'unlabeled' "
                         "AND s.hash IN (SELECT value FROM json_each(?)) AND s.id NOT IN "
                         "(SELECT sentence_id FROM hidden_gold) AND NOT EXISTS (SELECT 1 FROM annotations a "
                         "WHERE a.sentence_id = s.id AND a.source IN (" + LABEL_SOURCES + "))",
                         [project_id, json.dumps(list(tags))])
        self.db.conn.executemany("INSERT INTO hidden_gold (sentence_id, tags, created) VALUES (?, ?, ?)",
                                 [(r["id"], json.dumps(list(tags[r["hash"]])), created) for r in ids])
        return len(ids)

    def sentences(self, project_id: int, *, split: str | None = None, ids: Sequence[int] | None = None,
                  flagged: bool | None = None, carry: bool = False) -> list[SentenceRow]:
        """Sentences ordered by id, each with its effective tags, their source and annotation id (or None), its
        document's name (or None) and what its import kept (columns, meta, or None; with `carry`, what it carries
        through for its format's writer: a whole document or task, for exports only); `flagged` False leaves out
        the sentences flagged as junk, True keeps only them."""
        sql = f"""SELECT s.id, s.text, s.words, s.offsets, s.split, s.document_id, s.position, s.columns, s.meta,
            {'s.carry' if carry else 'NULL'} AS carry, (SELECT d.name FROM documents d WHERE d.id = s.document_id) AS document,
            a.tags, a.source, a.id AS annotation_id, {FLAGGED.format(sid='s.id')} AS flagged FROM sentences s
            LEFT JOIN annotations a ON a.id = {EFFECTIVE_ID.format(sid='s.id')}
            WHERE s.project_id = ?"""
        params: list[Any] = [project_id]
        if split is not None:
            sql += " AND s.split = ?"
            params.append(check_choice(split, SPLITS, "split"))
        if ids is not None:
            sql += " AND s.id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps([int(i) for i in ids]))
        if flagged is not None:
            sql += f" AND {FLAGGED.format(sid='s.id')} = ?"
            params.append(int(flagged))
        return [SentenceRow.from_row(r) for r in self._rows(sql + " ORDER BY s.id", params)]

    def labelled_ids(self, project_id: int, splits: Sequence[str]) -> list[tuple[int, str, int]]:
        """(id, split, effective annotation id) of the labelled sentences of `splits` not flagged as junk, by id: what
        `sentences(flagged=False)` would label, without loading a word, so that a reader holding rows sees which
        changed."""
        sql = (f"SELECT * FROM (SELECT s.id, s.split, {EFFECTIVE_ID.format(sid='s.id')} AS aid FROM sentences s "
               f"WHERE s.project_id = ? AND s.split IN (SELECT value FROM json_each(?)) AND "
               f"{FLAGGED.format(sid='s.id')} = 0) WHERE aid IS NOT NULL ORDER BY id")
        with self._lock:
            return [tuple(r) for r in self.db.execute(
                sql, [project_id, json.dumps([check_choice(x, SPLITS, "split") for x in splits])])]

    def kept(self, project_id: int, splits: Sequence[str]) -> list[tuple[str, str, int]]:
        """What the imports of these splits' sentences carry through without letting it be edited, counted in the
        database: (format, kind, count) by format and kind (formats.Sentence.carry's `kept`)."""
        return [(r["format"], r["kind"], r["n"]) for r in self._rows(
            "SELECT json_extract(s.carry, '$.format') AS format, k.key AS kind, SUM(k.value) AS n FROM sentences s, "
            "json_each(s.carry, '$.kept') k WHERE s.project_id = ? AND s.carry IS NOT NULL AND s.split IN "
            "(SELECT value FROM json_each(?)) GROUP BY 1, 2 ORDER BY 1, MIN(s.id), 2",
            [project_id, json.dumps([check_choice(s, SPLITS, "split") for s in splits])])]

    def neighbours(self, sentence_id: int, before: int = 2, after: int = 2
                   ) -> tuple[list[SentenceRow], list[SentenceRow]]:
        """The sentences just before and just after one, in reading order: of its document by position, or, for a
        sentence imported without a document, of the same import by id."""
        if before < 0 or after < 0:
            raise ValueError("before and after must not be negative")
        s = self._one("sentences", sentence_id)
        if s["document_id"] is not None:
            where, params = "document_id = ?", [s["document_id"]]
            key, earlier = "position {d}, id {d}", "(position < ? OR (position = ? AND id < ?))"
            at = [s["position"], s["position"], sentence_id]
            later = earlier.replace("<", ">")
        else:
            where, params = "project_id = ? AND document_id IS NULL AND created = ?", [s["project_id"], s["created"]]
            key, earlier, later, at = "id {d}", "id < ?", "id > ?", [sentence_id]
        sql = f"SELECT {_CONTEXT_COLUMNS} FROM sentences WHERE {where} AND {{}} ORDER BY {{}} LIMIT ?"
        head = self._rows(sql.format(earlier, key.format(d="DESC")), [*params, *at, before])
        tail = self._rows(sql.format(later, key.format(d="ASC")), [*params, *at, after])
        return [SentenceRow.from_row(r) for r in head[::-1]], [SentenceRow.from_row(r) for r in tail]

    def set_split(self, sentence_ids: Sequence[int], split: str) -> None:
        check_choice(split, SPLITS, "split")
        ids = sorted({int(i) for i in sentence_ids})
        with self._write():
            cursor = self.db.execute(
                "UPDATE sentences SET split = ? WHERE id IN (SELECT value FROM json_each(?))",
                [split, json.dumps(ids)])
            if cursor.rowcount != len(ids):
                raise KeyError(f"{len(ids) - cursor.rowcount} of the sentence ids do not exist")

    def counts(self, project_id: int) -> dict:
        by_split = dict.fromkeys(SPLITS, 0)
        for r in self._rows("SELECT split, COUNT(*) AS n FROM sentences WHERE project_id = ? "
                            "GROUP BY split", [project_id]):
            by_split[r["split"]] = r["n"]
        sql = """SELECT COUNT(DISTINCT a.sentence_id) AS n FROM annotations a
            JOIN sentences s ON s.id = a.sentence_id WHERE s.project_id = ? AND a.source IN ({})"""
        human = self._rows(sql.format("'human'"), [project_id])[0]["n"]
        labelled = self._rows(sql.format(LABEL_SOURCES), [project_id])[0]["n"]
        return {"by_split": by_split, "human": human, "labelled": labelled, "flagged": len(self.flagged(project_id))}

    def labelled_by_split(self, project_id: int) -> dict[str, int]:
        """Sentences with a label (a gold, human or review annotation) in each split."""
        by_split = dict.fromkeys(SPLITS, 0)
        sql = f"""SELECT s.split, COUNT(*) AS n FROM sentences s WHERE s.project_id = ? AND EXISTS (SELECT 1 FROM
            annotations a WHERE a.sentence_id = s.id AND a.source IN ({LABEL_SOURCES})) GROUP BY s.split"""
        for r in self._rows(sql, [project_id]):
            by_split[r["split"]] = r["n"]
        return by_split

    def import_hidden_gold(self, project_id: int, sentences: Sequence, *, source_name: str = "",
                           new_labels: bool = False, actor: Actor = OWNER) -> dict:
        """Import labelled sentences as unlabeled ones whose tags are kept hidden (demo mode's pool with gold).

        Returns import_sentences' counts plus "hidden": sentences whose gold was recorded now."""
        return self.import_many(project_id, [(sentences, "unlabeled", source_name)], new_labels=new_labels,
                                hidden_gold=True, actor=actor)[0]

    def stamp(self, project_id: int) -> tuple[int, int, int, int]:
        """Cheap fingerprint that changes when sentences, annotations or flags are added: (count, max sentence id,
        max annotation id, max flag id)."""
        with self._lock:
            n, top = self.db.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM sentences WHERE project_id = ?",
                                     [project_id]).fetchone()
            return n, top, self._max_id("annotations"), self._max_id("flags")

    def sentence_ids(self, project_id: int, splits: Sequence[str]) -> list[int]:
        """Ids of the project's sentences in `splits`, in that order of splits, each by id; no words loaded."""
        for split in splits:
            check_choice(split, SPLITS, "split")
        with self._lock:
            return [i for split in splits for (i,) in self.db.execute(
                "SELECT id FROM sentences WHERE project_id = ? AND split = ? ORDER BY id", [project_id, split])]

    def repeats(self, project_id: int) -> set[int]:
        """Ids of sentences whose words another sentence of the project repeats (other documents keep copies) and
        that add nothing to label: every copy of a labelled sentence, and all but the first copy of an unlabelled
        one."""
        with self._lock:
            rows = self.db.execute("SELECT id, hash FROM sentences WHERE project_id = ? ORDER BY id",
                                   [project_id]).fetchall()
        groups: dict[str, list[int]] = {}
        for sid, digest in rows:
            groups.setdefault(digest.split("#")[0], []).append(sid)
        copies = [ids for ids in groups.values() if len(ids) > 1]
        if not copies:
            return set()
        labelled = {i for i, _, any_ in self.label_index(project_id) if any_}
        out: set[int] = set()
        for ids in copies:
            keep = None if any(i in labelled for i in ids) else ids[0]
            out.update(i for i in ids if i != keep and i not in labelled)
        return out

    def label_index(self, project_id: int) -> list[tuple[int, bool, bool]]:
        """(id, has a human annotation, has a human or gold one) of each of the project's sentences by id, without
        loading words or tags."""
        with self._lock:
            rows = self.db.execute(
                f"""SELECT s.id,
                    EXISTS(SELECT 1 FROM annotations a WHERE a.sentence_id = s.id AND a.source = 'human'),
                    EXISTS(SELECT 1 FROM annotations a WHERE a.sentence_id = s.id AND a.source IN ({LABEL_SOURCES}))
                FROM sentences s WHERE s.project_id = ? ORDER BY s.id""", [project_id]).fetchall()
        return [(i, bool(human), bool(labelled)) for i, human, labelled in rows]

