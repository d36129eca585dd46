"""The first-run demo project and the dashboard's next-step hint."""
from __future__ import annotations

from pathlib import Path

from core import formats, paths, vocab
from core.access import OWNER, Actor
from core.store import Job, ModelVersion, Store

ASSETS = paths.APP_DIR / "assets"
DEMO_NAME = "demo"
DEMO_LABELS = ("PER", "LOC", "ORG", "MISC")
DEMO_FILES = (("demo_train.conll", "train"), ("demo_dev.conll", "dev"), ("demo_unlabeled.txt", "unlabeled"))


def create_demo(store: Store, assets: Path = ASSETS, *, actor: Actor = OWNER) -> int | None:
    """If the database has no project, create the demo project from `assets`; returns its id, else None."""
    if store.projects():
        return None
    corpora = [(formats.read(Path(assets) / name), split, name) for name, split in DEMO_FILES]
    try:
        project_id = store.create_project(DEMO_NAME, list(DEMO_LABELS), actor=actor)
    except ValueError:  # another session created it a moment ago
        return None
    for corpus, split, name in corpora:
        store.import_sentences(project_id, corpus.sentences, split=split, source_name=name, actor=actor)
    return project_id


def next_step(counts: dict, serving: ModelVersion | None, job: Job | None) -> str:
    """One line telling the user what to do next, from store.counts(), the serving model and the latest job."""
    by_split = counts["by_split"]
    if job is not None and job.status in vocab.JOB_UNFINISHED:
        return "A training job is running: follow it on **Train**."
    if counts["labelled"] == 0:
        return "Bring labelled sentences in on **Upload**, or label a few on **Annotate**."
    if serving is None:
        return "Go to **Train** to fine-tune a first model on the labelled sentences."
    if by_split["unlabeled"]:
        return (f"{by_split['unlabeled']} sentences wait in the unlabelled pool: correct the model's "
                "predictions on **Annotate**, then retrain on **Train**.")
    return "Every sentence is labelled: upload more text on **Upload**, or compare versions on **Evaluate**."

