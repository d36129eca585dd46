"""SQLite store (sqlite-utils): projects, sentences, append-only annotations, junk flags, drafts, models, jobs,
accounts, the audit trail, patterns and the label history.

Single source of truth of the app, and the only code that runs SQL. WAL mode, every write in a short BEGIN IMMEDIATE
transaction. One module per kind of row; `Store` joins them (core.store.base: the connection and StoreBase;
core.store.shared: the pieces the row modules share, internal to the store)."""
from core.store.annotations import AnnotationRows
from core.store.audit import AuditRows
from core.store.base import JOB_STATUSES, MIGRATIONS, MODEL_STATUSES, ROLES, SOURCES, SPLITS, StoreError
from core.store.jobs import JobRows
from core.store.labels import LabelRows
from core.store.live import LiveRows
from core.store.models import ModelRows
from core.store.patterns import PatternRows
from core.store.projects import ProjectRows
from core.store.records import Annotation, Job, JobEvent, LiveHead, ModelVersion, Project, SentenceRow
from core.store.shared import NEW_LABEL_HINT, now, sentence_hash
from core.store.team import TeamRows
from core.store.users import UserRows

__all__ = ["JOB_STATUSES", "MIGRATIONS", "MODEL_STATUSES", "NEW_LABEL_HINT", "ROLES", "SOURCES", "SPLITS",
           "Annotation", "Job", "JobEvent", "LiveHead", "ModelVersion", "Project", "SentenceRow", "Store", "StoreError", "now",
           "sentence_hash"]


class Store(ProjectRows, AnnotationRows, ModelRows, JobRows, LiveRows, UserRows, AuditRows, TeamRows, PatternRows,
            LabelRows):
    """The nerloop database. One instance per process; its methods serialise on a lock."""
