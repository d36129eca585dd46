"""SQLite store (sqlite-utils): projects, sentences, append-only annotations, junk flags, drafts, models, jobs.

Single source of truth of the app. WAL mode, every write in a short BEGIN IMMEDIATE transaction.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import sqlite_utils

from core.formats import FormatError
from core.labels import LabelSet, check_labels, label_problem, text_problem, words_problem

SPLITS = ("train", "dev", "test", "unlabeled")
SOURCES = ("gold", "human", "model")
MODEL_STATUSES = ("training", "ready", "failed")
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
JSON_COLUMNS = ("labels", "words", "offsets", "tags", "params", "metrics", "data")
_MODEL_FIELDS = {"folder", "base_model", "parent_id", "params", "metrics", "status"}
_JOB_FIELDS = {"status", "pid", "pid_started", "params", "log_path", "model_id", "started", "ended", "error"}
_EFFECTIVE_ID = """(SELECT e.id FROM annotations e WHERE e.sentence_id = {sid}
    AND e.source IN ('human', 'gold') ORDER BY e.source = 'human' DESC, e.id DESC LIMIT 1)"""
_FLAGGED = "COALESCE((SELECT f.flagged FROM flags f WHERE f.sentence_id = {sid} ORDER BY f.id DESC LIMIT 1), 0)"
_CONTEXT_COLUMNS = "id, text, words, offsets, split, document_id, position"
NEW_LABEL_HINT = "; new entity types are added only when allowed"
_CHUNK = 2000  # sentences checked and written at a time by an import
_RESTORE = "stop nerloop and restore it from a backup (with its -wal file, if any), or move it away to start a new one"


class StoreError(Exception):
    """The database cannot be used as asked: damaged, read-only, or deleted or replaced while open (one clear line)."""


def now() -> str:
    """Current time as an ISO-8601 UTC string with microseconds (the store's only time format)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def dev_f1(model: dict | None) -> float | None:
    """Micro F1 on dev recorded in a model version's metrics when it was trained, or None."""
    dev = ((model or {}).get("metrics") or {}).get("dev") or {}
    f1 = (dev.get("micro") or {}).get("f1")
    return None if f1 is None else float(f1)


def sentence_hash(words: Sequence[str]) -> str:
    """sha1 of the words joined by \\x1f: the per-project identity of a sentence."""
    return hashlib.sha1("\x1f".join(words).encode("utf-8")).hexdigest()


def _check(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"invalid {what} {value!r}: expected one of {', '.join(allowed)}")
    return value


def _tag_labels(tags: Sequence[str], fail: Callable[[str], Exception]) -> list[str]:
    """Entity types used in IOB2 `tags`, in order of first use; raises fail(problem) on a malformed tag or label."""
    found: dict[str, None] = {}
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        if not isinstance(tag, str) or tag[:2] not in ("B-", "I-") or len(tag) < 3:
            raise fail(f"token {i + 1} has invalid IOB2 tag {tag!r}")
        if tag[2:] not in found:
            if problem := label_problem(tag[2:]):
                raise fail(f"token {i + 1} tag {tag!r}: {problem}")
            found[tag[2:]] = None
    return list(found)


def _check_sentence(s: Any, fail: Callable[[str], Exception]) -> list[str]:
    """Check one Sentence-like object before it is stored (the words and labels rules of core.labels); returns the
    entity types its tags use."""
    if not s.words:
        raise fail("sentence has no words")
    if not isinstance(s.text, str):
        raise fail("the sentence text is not a string")
    if problem := words_problem(s.words) or text_problem(s.text):
        raise fail(problem)
    if s.doc_id is not None and (not isinstance(s.doc_id, str) or text_problem(s.doc_id)):
        raise fail(f"invalid document id {s.doc_id!r}")
    if len(s.offsets) != len(s.words):
        raise fail(f"{len(s.offsets)} offsets for {len(s.words)} words")
    if s.tags is None:
        return []
    if len(s.tags) != len(s.words):
        raise fail(f"{len(s.tags)} tags for {len(s.words)} words")
    return _tag_labels(s.tags, fail)


def _located(where: str, problem: str) -> ValueError:
    return ValueError(f"{where}: {problem}")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_COLUMNS:
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    if row.get("offsets") is not None:
        row["offsets"] = [tuple(o) for o in row["offsets"]]
    return row


def _m1(db: sqlite_utils.Database) -> None:
    """Initial schema."""
    splits, sources = (", ".join(f"'{v}'" for v in vs) for vs in (SPLITS, SOURCES))
    mstat, jstat = (", ".join(f"'{v}'" for v in vs) for vs in (MODEL_STATUSES, JOB_STATUSES))
    db.executescript(f"""
    CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
        labels TEXT NOT NULL, created TEXT NOT NULL,
        serving_model_id INTEGER REFERENCES models(id));
    CREATE TABLE documents (id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        name TEXT NOT NULL, source TEXT NOT NULL DEFAULT '', created TEXT NOT NULL);
    CREATE TABLE sentences (id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        document_id INTEGER REFERENCES documents(id), position INTEGER NOT NULL,
        text TEXT NOT NULL, words TEXT NOT NULL, offsets TEXT NOT NULL,
        split TEXT NOT NULL CHECK (split IN ({splits})), hash TEXT NOT NULL,
        created TEXT NOT NULL, UNIQUE (project_id, hash));
    CREATE TABLE models (id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id), name TEXT NOT NULL,
        folder TEXT NOT NULL, base_model TEXT NOT NULL,
        parent_id INTEGER REFERENCES models(id), params TEXT NOT NULL, metrics TEXT NOT NULL,
        created TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ({mstat})),
        UNIQUE (project_id, name));
    CREATE TABLE annotations (id INTEGER PRIMARY KEY,
        sentence_id INTEGER NOT NULL REFERENCES sentences(id), tags TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ({sources})), annotator TEXT NOT NULL DEFAULT '',
        model_id INTEGER REFERENCES models(id), created TEXT NOT NULL);
    CREATE TRIGGER annotations_no_update BEFORE UPDATE ON annotations
        BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
    CREATE TRIGGER annotations_no_delete BEFORE DELETE ON annotations
        BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END;
    CREATE TABLE promotions (id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        model_id INTEGER NOT NULL REFERENCES models(id),
        action TEXT NOT NULL CHECK (action IN ('promote', 'rollback')), created TEXT NOT NULL);
    CREATE TABLE jobs (id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id), kind TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ({jstat})), pid INTEGER, params TEXT NOT NULL,
        log_path TEXT NOT NULL DEFAULT '', model_id INTEGER REFERENCES models(id),
        started TEXT, ended TEXT, error TEXT, created TEXT NOT NULL);
    CREATE TABLE job_events (id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES jobs(id), created TEXT NOT NULL,
        kind TEXT NOT NULL, data TEXT NOT NULL);
    CREATE INDEX idx_projects_serving ON projects(serving_model_id);
    CREATE INDEX idx_documents_project ON documents(project_id);
    CREATE INDEX idx_sentences_project_split ON sentences(project_id, split);
    CREATE INDEX idx_sentences_document ON sentences(document_id);
    CREATE INDEX idx_annotations_sentence ON annotations(sentence_id, id);
    CREATE INDEX idx_annotations_model ON annotations(model_id);
    CREATE INDEX idx_models_project ON models(project_id);
    CREATE INDEX idx_models_parent ON models(parent_id);
    CREATE INDEX idx_promotions_project ON promotions(project_id, id);
    CREATE INDEX idx_promotions_model ON promotions(model_id);
    CREATE INDEX idx_jobs_project ON jobs(project_id);
    CREATE INDEX idx_jobs_model ON jobs(model_id);
    CREATE INDEX idx_job_events_job ON job_events(job_id, id);
    """)


def _m2(db: sqlite_utils.Database) -> None:
    """Active learning: per model version, stored pool scores; demo mode: gold tags hidden until revealed."""
    db.executescript("""
    CREATE TABLE pool_scores (model_id INTEGER NOT NULL REFERENCES models(id),
        sentence_id INTEGER NOT NULL REFERENCES sentences(id), data TEXT NOT NULL, embedding BLOB,
        created TEXT NOT NULL, PRIMARY KEY (model_id, sentence_id));
    CREATE TABLE hidden_gold (sentence_id INTEGER PRIMARY KEY REFERENCES sentences(id),
        tags TEXT NOT NULL, created TEXT NOT NULL);
    CREATE INDEX idx_pool_scores_sentence ON pool_scores(sentence_id);
    """)


def _m3(db: sqlite_utils.Database) -> None:
    """Junk flags with their history (the latest row of a sentence counts), drafts of unsaved tags."""
    db.executescript("""
    CREATE TABLE flags (id INTEGER PRIMARY KEY, sentence_id INTEGER NOT NULL REFERENCES sentences(id),
        flagged INTEGER NOT NULL CHECK (flagged IN (0, 1)), annotator TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL);
    CREATE TRIGGER flags_no_update BEFORE UPDATE ON flags
        BEGIN SELECT RAISE(ABORT, 'flags are append-only'); END;
    CREATE TRIGGER flags_no_delete BEFORE DELETE ON flags
        BEGIN SELECT RAISE(ABORT, 'flags are append-only'); END;
    CREATE INDEX idx_flags_sentence ON flags(sentence_id, id);
    CREATE TABLE drafts (sentence_id INTEGER PRIMARY KEY REFERENCES sentences(id), tags TEXT NOT NULL,
        cursor INTEGER NOT NULL, annotator TEXT NOT NULL DEFAULT '', updated TEXT NOT NULL);
    """)


def _m4(db: sqlite_utils.Database) -> None:
    """A UUID of the database, made once (its model folders are keyed by it); the start time of a job's process (a
    reused PID is not the job)."""
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")  # no executescript: it would commit
    db.execute("ALTER TABLE jobs ADD COLUMN pid_started REAL")  # the open transaction of an existing database
    db.execute("INSERT INTO meta (key, value) VALUES ('uuid', ?)", [uuid.uuid4().hex])


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1, _m2, _m3, _m4]


def _read_only(path: Path) -> str | None:
    """Why this process cannot write the database at `path` (its folder or file is not writable), or None."""
    folder = path.resolve().parent
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"the file {path} is not writable"
    return None


def _connect(path: Path, read_only: str | None) -> sqlite3.Connection:
    """A connection to `path`; read-only (`mode=ro`) when `read_only` says why. In a folder that is not writable
    SQLite cannot make the -shm file WAL reads need, so there it reads the file as `immutable` (nothing can change
    it), unless a -wal file holds changes not yet merged into it."""
    if read_only and not path.exists():
        raise StoreError(f"cannot create the database {path}: {read_only}")
    if not read_only:
        try:
            return sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        except sqlite3.DatabaseError as e:
            raise _failure(path, e) from None
    folder_ro = not os.access(path.resolve().parent, os.W_OK)
    wal, shm = (Path(f"{path}-{suffix}") for suffix in ("wal", "shm"))
    immutable = folder_ro and not (wal.exists() and wal.stat().st_size)
    if folder_ro and not immutable and not shm.exists():
        raise StoreError(f"{path} is read-only ({read_only}) and {wal.name} holds changes not yet merged into it: "
                         "make the folder writable and open the database once")
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    try:
        return sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
    except sqlite3.DatabaseError as e:
        raise _failure(path, e) from None


def _identity(file: str) -> tuple[int, int] | None:
    """(device, inode) of the file at this path now, or None when there is none."""
    try:
        st = os.stat(file)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _failure(path: Path, e: sqlite3.DatabaseError) -> Exception:
    """A StoreError for a damaged or unopenable database; other SQLite errors (a constraint, a full disk) as they are."""
    code = (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreError(f"{path}: the database is damaged ({e}); {_RESTORE}")
    if code == sqlite3.SQLITE_CANTOPEN:
        where = "its folder does not exist" if not path.resolve().parent.is_dir() else str(e)
        return StoreError(f"cannot open the database {path}: {where}")
    if code == sqlite3.SQLITE_READONLY:
        return StoreError(f"{path} is read-only ({e}): nothing was saved")
    return e


class Store:
    """The nerloop database. One instance per process; its methods serialise on a lock."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the database; raises StoreError when it is damaged (PRAGMA quick_check), cannot be
        opened, or is read-only (a folder or file this process cannot write) and needs an upgrade."""
        self.path = Path(path)
        self.read_only = _read_only(self.path)  # why it is read-only, or None
        self._lock = threading.RLock()
        conn = _connect(self.path, self.read_only)
        try:
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA busy_timeout=30000")
            if not self.read_only:
                self.db.enable_wal()
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if (problem := self.db.execute("PRAGMA quick_check(1)").fetchone()[0]) != "ok":
                problem = " ".join(line for line in problem.splitlines() if not line.startswith("***"))  # one line
                raise StoreError(f"{self.path}: the database is damaged (integrity check: {problem}); {_RESTORE}")
            self._file = self.db.execute("PRAGMA database_list").fetchone()[2]  # the file SQLite opened, absolute
            self._identity = _identity(self._file)
            if not self.read_only:
                self._migrate()
            elif (version := self.schema_version) != len(MIGRATIONS):
                raise StoreError(f"{self.path} is read-only ({self.read_only}) and has schema version {version}, "
                                 f"this nerloop reads version {len(MIGRATIONS)}")
        except BaseException as e:
            conn.close()
            if isinstance(e, sqlite3.DatabaseError):
                raise _failure(self.path, e) from None
            raise

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    @property
    def uuid(self) -> str:
        """The database's UUID (32 hex digits), made once by the migration to version 4."""
        with self._lock:
            return self.db.execute("SELECT value FROM meta WHERE key = 'uuid'").fetchone()[0]

    def _migrate(self) -> None:
        with self._write():  # version read inside the write lock: two openers cannot both migrate
            version = self.schema_version
            if version > len(MIGRATIONS):
                raise RuntimeError(f"{self.path}: schema version {version} is newer than this code")
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                migration(self.db)
                self.db.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One short write transaction, taking the database write lock up front. Refused (StoreError, nothing
        written) when the database is read-only, or when its file was deleted or replaced since it was opened."""
        if self.read_only:
            raise StoreError(f"{self.path} is read-only ({self.read_only}): nothing was saved")
        with self._lock:
            try:
                self.db.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._check_file()
                    self.db.conn.execute("COMMIT")
                except BaseException:
                    self.db.rollback()
                    raise
            except sqlite3.DatabaseError as e:
                raise _failure(self.path, e) from None

    def file_problem(self) -> str | None:
        """Why writes are refused since this Store was opened (its file was deleted or replaced), or None."""
        if _identity(self._file) == self._identity:
            return None
        return (f"{self.path} was deleted or replaced while nerloop had it open, so nothing more is saved: stop "
                "nerloop, put the database back (from a backup if it was deleted), then start again")

    def _check_file(self) -> None:
        if problem := self.file_problem():
            raise StoreError(problem)

    def _rows(self, sql: str, params: Sequence | dict = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [_decode(r) for r in self.db.query(sql, params)]

    def _one(self, table: str, row_id: int) -> dict[str, Any]:
        rows = self._rows(f"SELECT * FROM {table} WHERE id = ?", [row_id])
        if not rows:
            raise KeyError(f"{table[:-1]} {row_id} not found")
        return rows[0]

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        return self.db[table].insert(row).last_pk

    # projects
    def create_project(self, name: str, labels: Sequence[str]) -> int:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"invalid project name {name!r}")
        labels = check_labels(labels)
        with self._write():
            if self._rows("SELECT id FROM projects WHERE name = ?", [name]):
                raise ValueError(f"project {name!r} already exists")
            return self._insert("projects", {"name": name, "labels": json.dumps(labels),
                                             "created": now(), "serving_model_id": None})

    def project(self, name_or_id: str | int) -> dict:
        column = "name" if isinstance(name_or_id, str) else "id"
        rows = self._rows(f"SELECT * FROM projects WHERE {column} = ?", [name_or_id])
        if not rows:
            raise KeyError(f"project {name_or_id!r} not found")
        return rows[0]

    def projects(self) -> list[dict]:
        return self._rows("SELECT * FROM projects ORDER BY id")

    def set_labels(self, project_id: int, labels: Sequence[str]) -> None:
        labels = check_labels(labels)
        with self._write():
            self.project(project_id)
            self.db["projects"].update(project_id, {"labels": json.dumps(labels)})

    def _add_labels(self, project_id: int, found: Sequence[str], fail: Callable[[str], Exception]) -> None:
        """Add the labels of `found` the project lacks (a case twin of a label it has raises fail(problem))."""
        labels = self.project(project_id)["labels"]
        known = LabelSet(labels)
        for label in found:
            if problem := known.check(label):
                raise fail(problem)
        if known.new:
            self.db["projects"].update(project_id, {"labels": json.dumps(labels + sorted(known.new))})

    # sentences and annotations
    def import_sentences(self, project_id: int, sentences: Sequence, *, split: str,
                         source_name: str = "", source: str = "gold", annotator: str = "import",
                         new_labels: bool = False) -> dict:
        """Import Sentence-like objects in one transaction (see `import_many`); returns the counts."""
        return self.import_many(project_id, [(sentences, split, source_name)], source=source, annotator=annotator,
                                new_labels=new_labels)[0]

    def import_many(self, project_id: int, batches: Sequence[tuple[Iterable, str | None, str]], *,
                    source: str = "gold", annotator: str = "import", new_labels: bool = False,
                    hidden_gold: bool = False) -> list[dict]:
        """Import (sentences, split, source name) batches, e.g. every file of one import, in ONE transaction: all of
        them, or nothing when one is refused (a FormatError naming source and line, for sentences, words and labels
        as core.labels checks them). Sentences may be a list or a formats.Stream: each batch is read once, checked
        and written a chunk at a time, so memory holds a chunk, not the file. Split None: train when a sentence of
        the batch is labelled, else unlabeled. Returns per batch {"added", "duplicates", "annotated"} (+ "hidden",
        + "split" when it was None).

        Labels: into a project without labels an import brings its own; a project with labels takes a new entity
        type only when `new_labels` allows it, and never one differing from another only by case. Sentences already
        in the project are skipped; a sentence repeated inside one batch is kept as often as it is repeated (its
        k-th copy has its own identity), so re-importing the same file adds nothing and loses nothing. `hidden_gold`
        (demo mode): labelled sentences join the unlabeled split with their tags kept hidden until revealed."""
        _check(source, SOURCES, "annotation source")
        for _, split, _ in batches:
            if split is not None:
                _check(split, SPLITS, "split")
            if hidden_gold and split not in (None, "unlabeled"):
                raise ValueError(f"a pool with hidden gold goes to the unlabeled split, not {split}")
        created = now()
        with self._write():
            labels = self.project(project_id)["labels"]
            known = LabelSet(labels, fixed=bool(labels) and not new_labels, hint=NEW_LABEL_HINT)
            results = [self._import_batch(project_id, sentences, split, source_name, known=known, created=created,
                                          source=source, annotator=annotator, hidden_gold=hidden_gold)
                       for sentences, split, source_name in batches]
            if known.new:
                self.db["projects"].update(project_id, {"labels": json.dumps(labels + sorted(known.new))})
        return results

    def _import_batch(self, project_id: int, sentences: Iterable, split: str | None, source_name: str, *,
                      known: LabelSet, created: str, source: str, annotator: str, hidden_gold: bool) -> dict:
        """Check and insert one batch inside import_many's transaction, _CHUNK sentences at a time; duplicates are
        looked up in the table (earlier chunks included), copies inside the batch counted by 20-byte digest."""
        where = source_name or "import"
        source_name = source_name.encode("utf-8", "backslashreplace").decode("utf-8")
        first_sid = next_sid = self._max_id("sentences") + 1
        next_did = self._max_id("documents") + 1
        documents: dict[str, int] = {}
        counts = {"added": 0, "duplicates": 0, "annotated": 0} | ({"hidden": 0} if hidden_gold else {})
        labelled = False

        def check(s: Any, index: int) -> None:
            nonlocal labelled
            fail = partial(FormatError, where, getattr(s, "line", 0) or index)
            if hidden_gold and s.tags is None:
                raise fail("sentence has no tags (a pool with hidden gold must be labelled)")
            for label in _check_sentence(s, fail):
                if problem := known.check(label):
                    raise fail(problem)
            labelled = labelled or s.tags is not None

        for pending, held in self._chunks(project_id, sentences, check):
            docs, rows, annotations = [], [], []
            for s, position, digest in pending:
                if digest in held:
                    counts["duplicates"] += 1
                    continue
                if s.doc_id is not None and s.doc_id not in documents:
                    documents[s.doc_id] = next_did + len(documents)
                    docs.append((documents[s.doc_id], project_id, s.doc_id, source_name, created))
                rows.append((next_sid, project_id, documents.get(s.doc_id), position, s.text,
                             json.dumps(list(s.words)), json.dumps([list(o) for o in s.offsets]),
                             split or "unlabeled", digest, created))
                if s.tags is not None and not hidden_gold:
                    annotations.append((next_sid, json.dumps(list(s.tags)), source,
                                        getattr(s, "annotator", None) or annotator, created))
                next_sid += 1
            self.db.conn.executemany("INSERT INTO documents (id, project_id, name, source, created) "
                                     "VALUES (?, ?, ?, ?, ?)", docs)
            self.db.conn.executemany("INSERT INTO sentences (id, project_id, document_id, position, text, words, "
                                     "offsets, split, hash, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self.db.conn.executemany("INSERT INTO annotations (sentence_id, tags, source, annotator, model_id, "
                                     "created) VALUES (?, ?, ?, ?, NULL, ?)", annotations)
            counts["added"] += len(rows)
            counts["annotated"] += len(annotations)
            if hidden_gold:
                counts["hidden"] += self._hide_gold(project_id, {d: s.tags for s, _, d in pending}, created)
        if split is None and not hidden_gold:
            counts["split"] = split = "train" if labelled else "unlabeled"
            if split == "train":
                self.db.execute("UPDATE sentences SET split = 'train' WHERE id >= ? AND id < ?", [first_sid, next_sid])
        return counts

    def _chunks(self, project_id: int, sentences: Iterable, check: Callable[[Any, int], None] | None = None
                ) -> Iterator[tuple[list[tuple[Any, int, str]], set[str]]]:
        """Sentences _CHUNK at a time, each checked, as (sentence, position in its document, identity) with the
        identities the project holds already: a sentence's hash, its k-th copy in the batch hash#k."""
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
                held = {r[0] for r in self.db.execute(
                    "SELECT hash FROM sentences WHERE project_id = ? AND hash IN (SELECT value FROM json_each(?))",
                    [project_id, json.dumps([digest for _, _, digest in pending])])}
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
                         "WHERE a.sentence_id = s.id AND a.source IN ('human', 'gold'))",
                         [project_id, json.dumps(list(tags))])
        self.db.conn.executemany("INSERT INTO hidden_gold (sentence_id, tags, created) VALUES (?, ?, ?)",
                                 [(r["id"], json.dumps(list(tags[r["hash"]])), created) for r in ids])
        return len(ids)

    def _max_id(self, table: str) -> int:
        return self.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]

    def sentences(self, project_id: int, *, split: str | None = None, ids: Sequence[int] | None = None,
                  flagged: bool | None = None) -> list[dict]:
        """Sentences ordered by id, each with its effective "tags", their "source" and "annotation_id" (or None);
        `flagged` False leaves out the sentences flagged as junk, True keeps only them."""
        sql = f"""SELECT s.id, s.text, s.words, s.offsets, s.split, s.document_id, s.position,
            a.tags, a.source, a.id AS annotation_id, {_FLAGGED.format(sid='s.id')} AS flagged FROM sentences s
            LEFT JOIN annotations a ON a.id = {_EFFECTIVE_ID.format(sid='s.id')}
            WHERE s.project_id = ?"""
        params: list[Any] = [project_id]
        if split is not None:
            sql += " AND s.split = ?"
            params.append(_check(split, SPLITS, "split"))
        if ids is not None:
            sql += " AND s.id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps([int(i) for i in ids]))
        if flagged is not None:
            sql += f" AND {_FLAGGED.format(sid='s.id')} = ?"
            params.append(int(flagged))
        return self._rows(sql + " ORDER BY s.id", params)

    def annotate(self, sentence_id: int, tags: Sequence[str], *, source: str = "human",
                 annotator: str = "", model_id: int | None = None) -> int:
        """Append an annotation; labels new to the project are added to it; a human one drops the sentence's draft."""
        return self.annotate_many([(sentence_id, tags)], source=source, annotator=annotator, model_id=model_id)[0]

    def annotate_many(self, items: Sequence[tuple[int, Sequence[str]]], *, source: str = "human",
                      annotator: str = "", model_id: int | None = None) -> list[int]:
        """Append (sentence id, tags) annotations in one transaction: all of them, or none on a bad one. Human ones
        drop the sentences' drafts in the same transaction."""
        _check(source, SOURCES, "annotation source")
        ids = []
        with self._write():
            for sentence_id, tags in items:
                sentence = self._one("sentences", sentence_id)
                if len(tags) != len(sentence["words"]):
                    raise ValueError(f"sentence {sentence_id}: {len(tags)} tags for "
                                     f"{len(sentence['words'])} words")
                fail = partial(_located, f"sentence {sentence_id}")
                self._add_labels(sentence["project_id"], _tag_labels(tags, fail), fail)
                ids.append(self._insert("annotations", {
                    "sentence_id": sentence_id, "tags": json.dumps(list(tags)), "source": source,
                    "annotator": annotator, "model_id": model_id, "created": now()}))
                if source == "human":
                    self.db.execute("DELETE FROM drafts WHERE sentence_id = ?", [sentence_id])
        return ids

    def tagged_by(self, model_id: int, sentence_ids: Sequence[int]) -> set[int]:
        """Which of these sentences already hold a source=model annotation of this model version."""
        rows = self._rows("SELECT DISTINCT sentence_id FROM annotations WHERE source = 'model' AND model_id = ? "
                          "AND sentence_id IN (SELECT value FROM json_each(?))",
                          [model_id, json.dumps([int(i) for i in sentence_ids])])
        return {r["sentence_id"] for r in rows}

    def history(self, sentence_id: int) -> list[dict]:
        return self._rows("SELECT * FROM annotations WHERE sentence_id = ? ORDER BY id",
                          [sentence_id])

    def effective(self, sentence_id: int) -> dict | None:
        """The latest human annotation, else the latest gold one, else None."""
        rows = self._rows(f"SELECT * FROM annotations WHERE id = {_EFFECTIVE_ID.format(sid='?')}",
                          [sentence_id])
        return rows[0] if rows else None

    def neighbours(self, sentence_id: int, before: int = 2, after: int = 2) -> tuple[list[dict], list[dict]]:
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
        return head[::-1], tail

    # junk flags and drafts
    def flag(self, sentence_ids: Sequence[int], flagged: bool = True, *, annotator: str = "") -> list[int]:
        """Flag sentences as junk (False: restore them), keeping the history; returns the ids whose state changed."""
        ids = sorted({int(i) for i in sentence_ids})
        created = now()
        with self._write():
            rows = self._rows(f"SELECT s.id, {_FLAGGED.format(sid='s.id')} AS flagged FROM sentences s "
                              "WHERE s.id IN (SELECT value FROM json_each(?))", [json.dumps(ids)])
            if len(rows) != len(ids):
                missing = sorted(set(ids) - {r["id"] for r in rows})
                raise KeyError(f"no sentence with id {', '.join(map(str, missing))}")
            changed = [r["id"] for r in rows if bool(r["flagged"]) != flagged]
            self.db["flags"].insert_all(({"sentence_id": i, "flagged": int(flagged), "annotator": annotator,
                                          "created": created} for i in changed), batch_size=500)
        return changed

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
        """Keep the unsaved tags and cursor of a sentence (one draft per sentence, the newest wins)."""
        with self._write():
            words = self._one("sentences", sentence_id)["words"]
            if len(tags) != len(words):
                raise ValueError(f"sentence {sentence_id}: {len(tags)} tags for {len(words)} words")
            _tag_labels(tags, partial(_located, f"sentence {sentence_id}"))
            if not 0 <= cursor < len(words):
                raise ValueError(f"sentence {sentence_id}: cursor {cursor} outside its {len(words)} words")
            self.db["drafts"].upsert({"sentence_id": sentence_id, "tags": json.dumps(list(tags)), "cursor": cursor,
                                      "annotator": annotator, "updated": now()}, pk="sentence_id")

    def draft(self, sentence_id: int) -> dict | None:
        """The sentence's draft ({sentence_id, tags, cursor, annotator, updated}) or None."""
        rows = self._rows("SELECT * FROM drafts WHERE sentence_id = ?", [sentence_id])
        return rows[0] if rows else None

    def drop_draft(self, sentence_id: int) -> bool:
        """Forget the sentence's draft; False when it had none."""
        with self._write():
            return self.db.execute("DELETE FROM drafts WHERE sentence_id = ?", [sentence_id]).rowcount > 0

    def set_split(self, sentence_ids: Sequence[int], split: str) -> None:
        _check(split, SPLITS, "split")
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
        labelled = self._rows(sql.format("'human', 'gold'"), [project_id])[0]["n"]
        return {"by_split": by_split, "human": human, "labelled": labelled, "flagged": len(self.flagged(project_id))}

    # models
    def add_model(self, project_id: int, *, folder: str, base_model: str,
                  parent_id: int | None = None, params: dict | None = None,
                  metrics: dict | None = None, status: str = "ready") -> int:
        _check(status, MODEL_STATUSES, "model status")
        with self._write():
            self.project(project_id)
            n = self.db.execute("SELECT COUNT(*) FROM models WHERE project_id = ?",
                                [project_id]).fetchone()[0]
            return self._insert("models", {
                "project_id": project_id, "name": f"v{n + 1}", "folder": str(folder),
                "base_model": base_model, "parent_id": parent_id,
                "params": json.dumps(params or {}), "metrics": json.dumps(metrics or {}),
                "created": now(), "status": status})

    def update_model(self, model_id: int, **fields: Any) -> None:
        self._update("models", model_id, fields, _MODEL_FIELDS, MODEL_STATUSES)

    def _update(self, table: str, row_id: int, fields: dict[str, Any], allowed: set[str],
                statuses: Sequence[str]) -> None:
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {table} field(s) {sorted(unknown)}; "
                             f"allowed: {sorted(allowed)}")
        if "status" in fields:
            _check(fields["status"], statuses, f"{table[:-1]} status")
        values = {k: json.dumps(v) if k in JSON_COLUMNS else v for k, v in fields.items()}
        with self._write():
            self._one(table, row_id)
            if values:
                self.db[table].update(row_id, values)

    def model(self, model_id: int) -> dict:
        return self._one("models", model_id)

    def models(self, project_id: int) -> list[dict]:
        return self._rows("SELECT * FROM models WHERE project_id = ? ORDER BY id", [project_id])

    def promote(self, model_id: int) -> None:
        """Serve `model_id` for its project (it must be ready) and record it in promotions."""
        with self._write():
            model = self.model(model_id)
            if model["status"] != "ready":
                raise ValueError(f"model {model_id} is {model['status']}, only ready models "
                                 "can be promoted")
            self._serve(model["project_id"], model_id, "promote")

    def _serve(self, project_id: int, model_id: int, action: str) -> None:
        self.db["projects"].update(project_id, {"serving_model_id": model_id})
        self._insert("promotions", {"project_id": project_id, "model_id": model_id,
                                    "action": action, "created": now()})

    def _serving_stack(self, project_id: int) -> list[int]:
        """Replay promotions: a promote pushes a version, a rollback pops the current one."""
        stack: list[int] = []
        for r in self._rows("SELECT model_id, action FROM promotions WHERE project_id = ? "
                            "ORDER BY id", [project_id]):
            if r["action"] == "rollback":
                stack.pop()
            elif not stack or stack[-1] != r["model_id"]:
                stack.append(r["model_id"])
        return stack

    def rollback(self, project_id: int) -> int:
        """Serve the version served before the current one again; returns its model id."""
        with self._write():
            stack = self._serving_stack(project_id)
            if len(stack) < 2:
                raise ValueError(f"project {project_id} has no earlier served model to roll "
                                 "back to")
            self._serve(project_id, stack[-2], "rollback")
            return stack[-2]

    def serving(self, project_id: int) -> dict | None:
        model_id = self.project(project_id)["serving_model_id"]
        return None if model_id is None else self.model(model_id)

    def promotions(self, project_id: int) -> list[dict]:
        return self._rows("SELECT * FROM promotions WHERE project_id = ? ORDER BY id",
                          [project_id])

    # active learning: pool scores per model version, hidden gold (demo mode)
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

    def import_hidden_gold(self, project_id: int, sentences: Sequence, *, source_name: str = "",
                           new_labels: bool = False) -> dict:
        """Import labelled sentences as unlabeled ones whose tags are kept hidden (demo mode's pool with gold).

        Returns import_sentences' counts plus "hidden": sentences whose gold was recorded now."""
        return self.import_many(project_id, [(sentences, "unlabeled", source_name)], new_labels=new_labels,
                                hidden_gold=True)[0]

    def hidden_gold(self, project_id: int, sentence_ids: Sequence[int] | None = None) -> dict[int, list[str]]:
        """Hidden gold tags of the project's sentences: sentence id -> tags."""
        sql = ("SELECT h.sentence_id, h.tags FROM hidden_gold h JOIN sentences s ON s.id = h.sentence_id "
               "WHERE s.project_id = ?")
        params: list[Any] = [project_id]
        if sentence_ids is not None:
            sql += " AND h.sentence_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps([int(i) for i in sentence_ids]))
        return {r["sentence_id"]: r["tags"] for r in self._rows(sql, params)}

    # jobs
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

    def job(self, job_id: int) -> dict:
        return self._one("jobs", job_id)

    def jobs(self, project_id: int | None = None, *,
             status: str | Sequence[str] | None = None) -> list[dict]:
        """Jobs newest first, optionally of one project and with one of the given statuses."""
        sql, params = "SELECT * FROM jobs WHERE 1", []
        if project_id is not None:
            sql += " AND project_id = ?"
            params.append(project_id)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            for s in wanted:
                _check(s, JOB_STATUSES, "job status")
            sql += " AND status IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(wanted))
        return self._rows(sql + " ORDER BY id DESC", params)

    def add_event(self, job_id: int, kind: str, data: dict) -> int:
        with self._write():
            self._one("jobs", job_id)
            return self._insert("job_events", {"job_id": job_id, "created": now(), "kind": kind,
                                               "data": json.dumps(data)})

    def events(self, job_id: int, *, after_id: int = 0, kind: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM job_events WHERE job_id = ? AND id > ?", [job_id, after_id]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        return self._rows(sql + " ORDER BY id", params)

    def last_event(self, job_id: int, kind: str) -> dict | None:
        """The newest event of this kind (a backward walk of the job's index, however long the job ran)."""
        rows = self._rows("SELECT * FROM job_events WHERE job_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
                          [job_id, kind])
        return rows[0] if rows else None

    def close(self) -> None:
        self.db.close()
