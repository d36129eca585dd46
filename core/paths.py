"""Where nerloop keeps user data: one folder ($NERLOOP_HOME, else ~/.nerloop) for the database, model versions
and job logs, so nothing is written into the source tree that `streamlit run` serves."""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

DB_NAME = "nerloop.db"


def _app_dir() -> Path:
    """The folder holding app.py, pages/, .streamlit/ and assets/: core/_app/ in an installed wheel, else the
    checkout (see pyproject.toml's package-dir)."""
    installed = Path(__file__).resolve().parent / "_app"
    return installed if (installed / "app.py").is_file() else Path(__file__).resolve().parents[1]


APP_DIR = _app_dir()


def home() -> Path:
    """The data folder: $NERLOOP_HOME, else ~/.nerloop; created on first use."""
    folder = Path(os.environ.get("NERLOOP_HOME") or Path.home() / ".nerloop").expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def db_path(explicit: str | os.PathLike | None = None) -> Path:
    """The database, absolute: `explicit` (--db), else $NERLOOP_DB, else a ./nerloop.db left in the current folder
    by an older nerloop (used where it is, with a note on stderr), else <home>/nerloop.db."""
    chosen = explicit or os.environ.get("NERLOOP_DB")
    if chosen:
        return Path(chosen).expanduser().resolve()
    legacy = Path(DB_NAME).resolve()
    if legacy.is_file():
        _note_legacy(legacy)
        return legacy
    return home() / DB_NAME


@functools.cache
def _note_legacy(path: Path) -> None:
    print(f"nerloop: using {path}, the database an older version kept in the current folder (its models and logs stay "
          f"beside it). To move it into the data folder, stop nerloop, then `mv {path} {home()}/` and leave models/ "
          f"where it is (versions are recorded by absolute path); set NERLOOP_DB to keep it here without this note.",
          file=sys.stderr)


def earlier_use(db: Path) -> str | None:
    """When the database `db` is missing but its folder holds model versions or job logs (signs of earlier use, as
    after the database was deleted or moved), a note saying so before a new, empty one is made; else None."""
    if db.exists():
        return None
    folder = db.parent
    signs = [what for what, pattern in (("model versions (models/)", "models/*"), ("job logs (logs/)", "logs/job-*"))
             if any(folder.glob(pattern))]
    if not signs:
        return None
    return (f"no database {db.name} in {folder}, though that folder holds {' and '.join(signs)} of earlier use; "
            f"a new one is made. If the old one was deleted or moved, stop nerloop and put it back "
            f"(from a backup) as {db}")
