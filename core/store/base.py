"""The store's foundation: schema and migrations, the connection, its lock and short write transactions, and the
row helpers of StoreBase (the row modules' other shared pieces: core.store.shared)."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from core.access import SERVER_ACTIONS, Actor, narrower, require
from core.store.shared import check_choice, now

from core.vocab import JOB_STATUSES, MODEL_STATUSES, ROLES, SOURCES, SPLITS  # noqa: F401 (re-exported)
JSON_COLUMNS = ("labels", "words", "offsets", "tags", "params", "metrics", "data", "detail", "columns", "meta", "carry")
_RESTORE = "stop nerloop and restore it from a backup (with its -wal file, if any), or move it away to start a new one"


class StoreError(Exception):
    """The database cannot be used as asked: damaged, read-only, or deleted or replaced while open (one clear line)."""


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


def _m5(db: sqlite_utils.Database) -> None:
    """Local accounts (core/users.py): a role and an argon2 hash each; a removed account keeps its row and name."""
    db.execute(f"""CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ({", ".join(f"'{r}'" for r in ROLES)})), password_hash TEXT NOT NULL,
        created TEXT NOT NULL, updated TEXT NOT NULL, removed TEXT)""")


def _m6(db: sqlite_utils.Database) -> None:
    """The audit trail (core/store/audit.py): who did what, when, in which project; append-only, no secrets."""
    db.execute("""CREATE TABLE audit (id INTEGER PRIMARY KEY, created TEXT NOT NULL, actor TEXT NOT NULL,
        role TEXT NOT NULL, action TEXT NOT NULL, project_id INTEGER REFERENCES projects(id), detail TEXT NOT NULL)""")
    db.execute("CREATE INDEX idx_audit_project ON audit(project_id, id)")
    for op in ("UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER audit_no_{op.lower()} BEFORE {op} ON audit "
                   "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")


def _m7(db: sqlite_utils.Database) -> None:
    """Shared work: a project's overlap share and copies, stored per-annotator queues; drafts per (sentence,
    annotator); annotation source `review` (the annotations table is rebuilt for its CHECK, history kept)."""
    sources = ", ".join(f"'{v}'" for v in SOURCES)
    for sql in (
            "ALTER TABLE projects ADD COLUMN overlap REAL NOT NULL DEFAULT 0",
            "ALTER TABLE projects ADD COLUMN copies INTEGER NOT NULL DEFAULT 2",
            """CREATE TABLE assignments (project_id INTEGER NOT NULL REFERENCES projects(id),
                sentence_id INTEGER NOT NULL REFERENCES sentences(id), annotator TEXT NOT NULL,
                position INTEGER NOT NULL, created TEXT NOT NULL, PRIMARY KEY (sentence_id, annotator))""",
            "CREATE INDEX idx_assignments_queue ON assignments(project_id, annotator, position)",
            """CREATE TABLE drafts7 (sentence_id INTEGER NOT NULL REFERENCES sentences(id), tags TEXT NOT NULL,
                cursor INTEGER NOT NULL, annotator TEXT NOT NULL DEFAULT '', updated TEXT NOT NULL,
                PRIMARY KEY (sentence_id, annotator))""",
            "INSERT INTO drafts7 SELECT sentence_id, tags, cursor, annotator, updated FROM drafts",
            "DROP TABLE drafts",
            "ALTER TABLE drafts7 RENAME TO drafts",
            f"""CREATE TABLE annotations7 (id INTEGER PRIMARY KEY,
                sentence_id INTEGER NOT NULL REFERENCES sentences(id), tags TEXT NOT NULL,
                source TEXT NOT NULL CHECK (source IN ({sources})), annotator TEXT NOT NULL DEFAULT '',
                model_id INTEGER REFERENCES models(id), created TEXT NOT NULL)""",
            "INSERT INTO annotations7 SELECT id, sentence_id, tags, source, annotator, model_id, created FROM annotations",
            "DROP TRIGGER annotations_no_update",
            "DROP TRIGGER annotations_no_delete",
            "DROP TABLE annotations",
            "ALTER TABLE annotations7 RENAME TO annotations",
            """CREATE TRIGGER annotations_no_update BEFORE UPDATE ON annotations
                BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END""",
            """CREATE TRIGGER annotations_no_delete BEFORE DELETE ON annotations
                BEGIN SELECT RAISE(ABORT, 'annotations are append-only'); END""",
            "CREATE INDEX idx_annotations_sentence ON annotations(sentence_id, id)",
            "CREATE INDEX idx_annotations_model ON annotations(model_id)"):
        db.execute(sql)  # no executescript: it would commit the open transaction


def _m8(db: sqlite_utils.Database) -> None:
    """What an import brings beyond words and tags, written back by export: each word's middle CoNLL columns (POS,
    chunk) and a JSON record's `meta` object, NULL where the file had none (and in older rows)."""
    db.execute("ALTER TABLE sentences ADD COLUMN columns TEXT")  # JSON: a list of strings per word
    db.execute("ALTER TABLE sentences ADD COLUMN meta TEXT")  # JSON object


def _m9(db: sqlite_utils.Database) -> None:
    """Entity patterns of a project (core/store/patterns.py); ids never reused, so (count, max id) stamps them."""
    db.execute("""CREATE TABLE patterns (id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id INTEGER NOT NULL REFERENCES projects(id), label TEXT NOT NULL, pattern TEXT NOT NULL,
        created TEXT NOT NULL, UNIQUE (project_id, label, pattern))""")  # no executescript: it would commit


def _m10(db: sqlite_utils.Database) -> None:
    """Live heads (core/store/live.py): each refit of a project's live head, on the version it sits on, with its
    dev F1, the version's on the same sentences, and the file of its predictions."""
    db.execute("""CREATE TABLE live_heads (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id),
        model_id INTEGER REFERENCES models(id), encoder TEXT NOT NULL, annotation_id INTEGER NOT NULL,
        train_sentences INTEGER NOT NULL, dev_sentences INTEGER NOT NULL, held_out INTEGER NOT NULL,
        dev_f1 REAL, base_f1 REAL, fit_seconds REAL NOT NULL, predicted INTEGER NOT NULL, file TEXT NOT NULL,
        created TEXT NOT NULL)""")
    db.execute("CREATE INDEX live_heads_project ON live_heads (project_id, id)")


def _m11(db: sqlite_utils.Database) -> None:
    """Login sessions (core/users.py): a browser's cookie names one by a random token, kept here only as its
    SHA-256, with its account, the time of its last use and its end (epoch seconds)."""
    db.execute("""CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
        created TEXT NOT NULL, seen REAL NOT NULL, expires REAL NOT NULL)""")


def _m12(db: sqlite_utils.Database) -> None:
    """Project membership (core/store/team.py): an account other than an admin opens only the projects it is a
    member of, with a role there that may narrow its account's. Until now every account opened every project, so
    every such account becomes a member of every project, with its account's role; an admin narrows from there."""
    db.execute("""CREATE TABLE members (project_id INTEGER NOT NULL REFERENCES projects(id),
        user_id INTEGER NOT NULL REFERENCES users(id), role TEXT NOT NULL CHECK (role IN ('reviewer', 'annotator')),
        created TEXT NOT NULL, PRIMARY KEY (project_id, user_id))""")
    db.execute("""INSERT INTO members (project_id, user_id, role, created) SELECT p.id, u.id, u.role, ? FROM projects p,
        users u WHERE u.removed IS NULL AND u.role != 'admin'""", [now()])


def _m13(db: sqlite_utils.Database) -> None:
    """What an import carries through without editing it (relations, notes, other layers, ids, the document's own
    text and layout), for the writer of the same format: a JSON object per sentence (core.formats.base.Sentence)."""
    db.execute("ALTER TABLE sentences ADD COLUMN carry TEXT")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1, _m2, _m3, _m4, _m5, _m6, _m7, _m8, _m9, _m10,
                                                              _m11, _m12, _m13]


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


class StoreBase:
    """The connection to a nerloop database; the row modules' classes add the methods of each kind of row."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the database; raises StoreError when it is damaged (PRAGMA quick_check), cannot be
        opened, or is read-only (a folder or file this process cannot write) and needs an upgrade."""
        self.path = Path(path)
        self.read_only = _read_only(self.path)  # why it is read-only, or None
        self._lock = threading.RLock()
        self._in_write = False  # whether this Store's open transaction is running (see _write)
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
        """One short write transaction, taking the database write lock up front; a write inside another one joins
        it (one commit for both). Refused (StoreError, nothing
        written) when the database is read-only, or when its file was deleted or replaced since it was opened."""
        if self.read_only:
            raise StoreError(f"{self.path} is read-only ({self.read_only}): nothing was saved")
        with self._lock:
            if self._in_write:  # inside a transaction this thread opened (others wait on the lock): part of it
                yield
                return
            try:
                self.db.conn.execute("BEGIN IMMEDIATE")
                self._in_write = True
                try:
                    yield
                    self._check_file()
                    self.db.conn.execute("COMMIT")
                except BaseException:
                    self.db.rollback()
                    raise
                finally:
                    self._in_write = False
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

    def scoped(self, actor: Actor, project_id: int) -> Actor:
        """The actor as it acts in a project: an admin everywhere, any other account with its role there (narrowed
        by its membership); PermissionError naming why when it is not a member (KeyError: no such project)."""
        if not isinstance(actor, Actor) or actor.role not in ROLES:
            raise PermissionError(f"refused: {actor!r} is not a known user")
        rows = self._rows("SELECT name FROM projects WHERE id = ?", [project_id])
        if not rows:
            raise KeyError(f"project {project_id!r} not found")
        if actor.role == "admin":
            return actor
        member = self._rows("SELECT m.role FROM members m JOIN users u ON u.id = m.user_id WHERE m.project_id = ? "
                            "AND u.name = ? AND u.removed IS NULL", [project_id, actor.name])
        if not member:
            raise PermissionError(f"user {actor.name!r} ({actor.role}) is not a member of project {rows[0]['name']!r}: "
                                  "an admin adds members (`nerloop team PROJECT --add-member NAME`)")
        return Actor(actor.name, narrower(actor.role, member[0]["role"]))

    def authorize(self, actor: Actor, action: str, project_id: int) -> Actor:
        """The actor as scoped to the project, once its role there allows `action` (PermissionError naming user,
        role and action, or the missing membership); the account's role is checked before any lookup."""
        if action in SERVER_ACTIONS:
            raise ValueError(f"{action} is not about one project")
        require(actor, action)
        scoped = self.scoped(actor, project_id)
        require(scoped, action)
        return scoped

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

    def _max_id(self, table: str) -> int:
        return self.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]

    def _update(self, table: str, row_id: int, fields: dict[str, Any], allowed: set[str],
                statuses: Sequence[str]) -> None:
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {table} field(s) {sorted(unknown)}; "
                             f"allowed: {sorted(allowed)}")
        if "status" in fields:
            check_choice(fields["status"], statuses, f"{table[:-1]} status")
        values = {k: json.dumps(v) if k in JSON_COLUMNS else v for k, v in fields.items()}
        with self._write():
            self._one(table, row_id)
            if values:
                self.db[table].update(row_id, values)

    def close(self) -> None:
        self.db.close()
