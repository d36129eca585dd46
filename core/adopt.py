"""Model folders trained elsewhere (a GPU machine, a cluster) registered as versions of a project: the tag set
checked, the parent found, the dev F1 recomputed here, the folder copied in atomically, promotion by policy."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core import card, versions
from core.access import OWNER, Actor
from core.store import ModelVersion, Store
from core.vocab import label_set


@dataclass(frozen=True)
class Added:
    """What `add` did: the new version, its recomputed dev F1 (None without a dev set), its parent, whether it now
    serves."""

    model: ModelVersion
    dev_f1: float | None
    parent: ModelVersion | None
    promoted: bool


def folder_labels(folder: Path) -> list[str]:
    """The IOB2 tags of a saved token classifier (its config.json's id2label); ValueError naming the folder when it is
    not one."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder")
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ValueError(f"{folder}: not a model folder (no readable config.json)") from None
    id2label = config.get("id2label") if isinstance(config, dict) else None
    archs = config.get("architectures") or [] if isinstance(config, dict) else []
    if not isinstance(id2label, dict) or not any(str(a).endswith("ForTokenClassification") for a in archs):
        raise ValueError(f"{folder}: not a token-classification model (config.json has no tagger head)")
    return [id2label[k] for k in sorted(id2label, key=int)]


def check_labels(folder: Path, labels: list[str], project: str, types: list[str]) -> None:
    """ValueError naming the folder and the difference when its tags are not the project's tag set."""
    want = set(label_set(types))
    missing, extra = sorted(want - set(labels)), sorted(set(labels) - want)
    if missing or extra:
        diff = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                           f"not in the project: {', '.join(extra)}" if extra else "") if part)
        raise ValueError(f"{folder}: its tags are not project {project!r}'s ({diff}); train it with the project's "
                         f"tag set (on an `export --format hf` folder it is taken from the data)")


def trained_metrics(folder: Path) -> dict:
    """The folder's own metrics.json (how it was trained), {} when it has none."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def find_parent(store: Store, project_id: int, trained: dict) -> ModelVersion | None:
    """The project's version that the folder's card names as its parent (the same metrics.json), if any."""
    sha1 = (trained.get("parent") or {}).get("metrics_sha1")
    if not sha1:
        return None
    return next((m for m in store.models(project_id) if m.folder and card.fingerprint(m.folder) == sha1), None)


def _copy_in(folder: Path, root: Path) -> Path:
    """A copy of `folder` as a new version folder under `root` (`added-N`): copied beside it, then renamed into
    place; a failure leaves nothing."""
    out = versions.reserve(root, f"added-{folder.name}")
    tmp = root / f".{out.name}.tmp-{os.getpid()}"
    try:
        shutil.copytree(folder, tmp)
        os.replace(tmp, out)
    except BaseException:
        versions.release(out)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def add(store: Store, project_id: int, folder: str | Path, *, policy: str = "better",
        actor: Actor = OWNER) -> Added:
    """Register a model folder trained elsewhere as a new version of the project, then promote it by `policy`
    (better, always, never). Checked before anything is written: a token classifier with the project's tag set."""
    from core import predict  # torch: loaded only here
    from core.train import evaluate

    folder = Path(folder).expanduser().resolve()
    actor = store.authorize(actor, "train", project_id)
    project = store.project(project_id)
    check_labels(folder, folder_labels(folder), project.name, project.labels)
    _, dev_rows = versions.training_data(store, project_id)
    tagger = predict.load(str(folder))
    dev = evaluate(tagger, [r.words for r in dev_rows], [r.tags for r in dev_rows]).scores if dev_rows else None
    trained = trained_metrics(folder)
    parent = find_parent(store, project_id, trained)
    metrics = {"dev": dev, "dev_digest": versions.dev_digest(dev_rows), "dev_sentences": len(dev_rows),
               "labels": tagger.labels, "added_from": str(folder), "trained_elsewhere": trained}
    out = _copy_in(folder, versions.model_root(store, project_id))
    try:
        model_id = store.add_model(project_id, folder=str(out), base_model=str(trained.get("base_model") or folder),
                                   parent_id=parent.id if parent else None, params=trained.get("config") or {},
                                   metrics=metrics, status="ready")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    store.add_audit(actor, "add_model", project_id=project_id, model_id=model_id, source=str(folder))
    promoted = versions.maybe_promote(store, project_id, model_id, policy, actor=actor)
    f1 = None if dev is None else dev["micro"]["f1"]
    return Added(store.model(model_id), f1, parent, promoted)
