"""The schema's numbered migrations, oldest first: the store (core.store.base) runs those a database lacks."""
from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlite_utils

from core.store.shared import now
from core.vocab import JOB_STATUSES, MODEL_STATUSES, ROLES, SOURCES, SPLITS


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


def _m14(db: sqlite_utils.Database) -> None:
    """Label history (core/store/labels.py): each type added, renamed, merged or split and each undo, with the types
    after it; the tags an edit rewrote, with their old value (so an undo restores them). Annotations stay append-only
    but for their tags, and only under an edit that records the old ones."""
    db.execute("""CREATE TABLE label_events (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id),
        op TEXT NOT NULL CHECK (op IN ('add', 'rename', 'merge', 'split', 'undo')), detail TEXT NOT NULL,
        labels TEXT NOT NULL, actor TEXT NOT NULL DEFAULT '', created TEXT NOT NULL, undone TEXT)""")
    db.execute("CREATE INDEX label_events_project ON label_events (project_id, id)")
    db.execute("""CREATE TABLE label_rewrites (event_id INTEGER NOT NULL REFERENCES label_events(id),
        tbl TEXT NOT NULL, key TEXT NOT NULL, before TEXT NOT NULL, PRIMARY KEY (event_id, tbl, key))""")
    db.execute("DROP TRIGGER annotations_no_update")
    db.execute("""CREATE TRIGGER annotations_no_update BEFORE UPDATE ON annotations WHEN NEW.id IS NOT OLD.id
        OR NEW.sentence_id IS NOT OLD.sentence_id OR NEW.source IS NOT OLD.source OR NEW.annotator IS NOT OLD.annotator
        OR NEW.model_id IS NOT OLD.model_id OR NEW.created IS NOT OLD.created OR NOT EXISTS (SELECT 1 FROM
        label_rewrites r WHERE r.tbl = 'annotations' AND r.key = CAST(OLD.id AS TEXT)
        AND r.event_id = (SELECT MAX(id) FROM label_events))
        BEGIN SELECT RAISE(ABORT, 'annotations are append-only (a label edit rewrites tags, keeping the old ones)');
        END""")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1, _m2, _m3, _m4, _m5, _m6, _m7, _m8, _m9, _m10,
                                                              _m11, _m12, _m13, _m14]
