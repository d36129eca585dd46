"""The store's foundation: the schema's version (its migrations: core.store.migrations), the connection, its lock
and short write transactions, and the row helpers of StoreBase (the row modules' other shared pieces:
core.store.shared)."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from core.access import SERVER_ACTIONS, Actor, narrower, require
from core.store.migrations import MIGRATIONS
from core.store.shared import check_choice

from core.vocab import JOB_STATUSES, MODEL_STATUSES, ROLES, SOURCES, SPLITS  # noqa: F401 (re-exported)

JSON_COLUMNS = ("labels", "words", "offsets", "tags", "params", "metrics", "data", "detail", "columns", "meta", "carry",
                "before")
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
