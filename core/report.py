"""Data behind the Train and Evaluate pages for display: labelled splits, version comparison, learning curve, errors,
job history and progress (the rules of when a job starts are core.retrain's)."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from core.store import Job, ModelVersion, Store
from core.train import Plan, TrainConfig, plan

METRICS = ("precision", "recall", "f1")


@dataclass
class Labelled:
    """The labelled sentences of one split (effective human/gold tags) and a hash of their content."""

    ids: list[int]
    words: list[list[str]]
    tags: list[list[str]]
    sources: list[str]
    digest: str


def labelled(store: Store, project_id: int, split: str, *, limit: int | None = None) -> Labelled:
    """Labelled sentences of `split`, ordered by id; with `limit`, only the newest `limit` of them."""
    rows = [r for r in store.sentences(project_id, split=split) if r.tags is not None]
    if limit is not None:
        rows = rows[-limit:] if limit > 0 else []
    ids, words, tags = [r.id for r in rows], [r.words for r in rows], [r.tags for r in rows]
    digest = hashlib.sha1(json.dumps([ids, words, tags]).encode("utf-8")).hexdigest()
    return Labelled(ids, words, tags, [r.source for r in rows], digest)


def _time(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else ""


def _settings(params: dict) -> str:
    start = "warm start" if params.get("warm_start") else str(params.get("model", "default"))
    names = (("epochs", "epochs"), ("lr", "lr"), ("batch_size", "batch"), ("min_steps", "step floor"),
             ("time_budget", "budget s"), ("freeze", "freeze"), ("promote", "promote"))
    return ", ".join([start, *(f"{label} {params[key]}" for key, label in names if key in params)])


def job_history(store: Store, project_id: int, *, limit: int = 50) -> pd.DataFrame:
    """One row per job, newest first: id, status, started, ended, error, resulting version, promoted, settings."""
    names = {m.id: m.name for m in store.models(project_id)}
    rows = []
    for job in store.jobs(project_id)[:limit]:
        registered = store.last_event(job.id, "registered")
        selftrained = store.last_event(job.id, "self_training")
        rows.append({"id": job.id, "status": job.status, "started (UTC)": _time(job.started),
                     "ended (UTC)": _time(job.ended), "error": job.error or "",
                     "version": names.get(job.model_id, ""),
                     "promoted": registered.data.get("promoted") if registered else None,
                     "self-training": _self_training(selftrained.data) if selftrained else "",
                     "settings": _settings(job.params or {})})
    columns = ["id", "status", "started (UTC)", "ended (UTC)", "error", "version", "promoted", "self-training",
               "settings"]
    return pd.DataFrame(rows, columns=columns)


def _self_training(result: dict) -> str:
    """A self-training outcome (core.selftrain.SelfTrainResult as a dict) in a few words."""
    if not result["n_pseudo"]:
        return "nothing confident enough"
    change = (result["new_f1"] - result["base_f1"]) * 100
    return f"{'kept' if result['accepted'] else 'rejected'}: dev F1 {change:+.1f} pt, {result['n_pseudo']} pseudo-labels"


def log_tail(job: Job, chars: int = 3000) -> str:
    """The end of a job's log file ("" when there is none)."""
    path = Path(job.log_path)
    if not job.log_path or not path.is_file():
        return ""
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - chars))
        return f.read().decode("utf-8", "replace")


MAX_POINTS = 400  # a live loss series keeps at most this many points (every other one dropped when full)


@dataclass
class Live:
    """A job's progress folded from its events, read incrementally: each `feed` reads only the events not seen."""

    job_id: int
    after: int = 0  # id of the last event read
    loss: list = field(default_factory=list)  # [step, smoothed loss]
    f1: list = field(default_factory=list)  # [step, dev micro F1]
    step: dict | None = None  # the last step event's data
    start: dict | None = None  # the start event's data (the plan, and the last run's pace for the time left)
    dev_f1: float | None = None
    registered: bool = False  # training over: self-training / scoring the pool
    version: int = 0  # bumped whenever a series changed

    def feed(self, store: Store) -> int:
        """Fold the events after `after` in; the number read."""
        rows = store.events(self.job_id, after_id=self.after)
        for row in rows:
            data = row.data
            if row.kind == "start":
                self.start = data
            elif row.kind == "step":
                self.step = data
                self.loss.append([data["step"], data["loss"]])
                if len(self.loss) > MAX_POINTS:
                    self.loss = self.loss[:-1:2] + self.loss[-1:]
            elif row.kind == "eval" and data.get("scores"):
                self.dev_f1 = data["scores"]["micro"]["f1"]
                self.f1.append([data["step"], self.dev_f1])
            elif row.kind == "registered":
                self.registered = True
        if rows:
            self.after = rows[-1].id
            self.version += 1
        return len(rows)


def run_plan(cfg: TrainConfig, sentences: int, *, warm: bool) -> Plan:
    """The schedule a job will follow (core.train.plan), with one window per sentence (long ones make more)."""
    return plan(cfg, sentences, math.ceil(sentences / cfg.batch_size), warm)


def duration(seconds: float) -> str:
    """A duration for people: "45 s", "3 min", "1 h 05 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def progress_text(progress: dict) -> str:
    """Step, epoch, loss, dev F1 and time left of a job's progress (core.jobs.status) in one line."""
    text = f"step {progress['step']}/{progress['total_steps']} · epoch {progress['epoch']:.1f}"
    if progress.get("loss") is not None:
        text += f" · loss {progress['loss']:.3f}"
    if progress.get("dev_f1") is not None:
        text += f" · dev F1 {progress['dev_f1']:.3f}"
    if progress.get("eta_s") is not None and progress["step"] < progress["total_steps"]:
        text += f" · about {duration(progress['eta_s'])} left"
    return text


def ready_models(store: Store, project_id: int) -> list[ModelVersion]:
    """The project's usable versions (status ready), oldest first."""
    return [m for m in store.models(project_id) if m.status == "ready"]


def previous_version(models: Sequence[ModelVersion], model_id: int) -> ModelVersion | None:
    """The ready version trained just before `model_id`, or None."""
    earlier = [m for m in models if m.id < model_id and m.status == "ready"]
    return max(earlier, key=lambda m: m.id) if earlier else None


def compare_frame(current: dict, previous: dict | None = None) -> pd.DataFrame:
    """Long frame of per-class scores of score() results: label, version ("current"/"previous"), metric,
    value, support; labels sorted, current rows first."""
    labels = sorted(set(current["per_class"]) | set((previous or {"per_class": {}})["per_class"]))
    rows = []
    for version, result in (("current", current), ("previous", previous)):
        if result is None:
            continue
        for metric in METRICS:
            for label in labels:
                cls = result["per_class"].get(label, {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0})
                rows.append({"label": label, "version": version, "metric": metric, "value": cls[metric],
                             "support": cls["support"]})
    return pd.DataFrame(rows, columns=["label", "version", "metric", "value", "support"])


def learning_curve(models: Sequence[ModelVersion]) -> pd.DataFrame:
    """Dev F1 micro and per class (recorded at training time) of each ready version with a dev score, one row per
    (version, series): its position among them ("number", from 1), the labelled train sentences it was trained on
    and their words ("sentences", "tokens": None where the version did not record them). Sorted by sentences when
    every version recorded them, else by version."""
    rows = []
    scored = [m for m in models if m.status == "ready" and m.dev_f1 is not None]
    for number, m in enumerate(scored, 1):
        met = m.metrics or {}
        sentences, tokens = met.get("train_sentences"), met.get("train_tokens")
        base = {"model_id": m.id, "version": m.name, "number": number,
                "sentences": None if sentences is None else int(sentences),
                "tokens": None if tokens is None else int(tokens)}
        rows.append({**base, "series": "micro", "f1": m.dev_f1})
        rows += [{**base, "series": label, "f1": cls["f1"]}
                 for label, cls in sorted((met["dev"].get("per_class") or {}).items())]
    frame = pd.DataFrame(rows, columns=["model_id", "version", "number", "sentences", "series", "f1", "tokens"])
    order = ["model_id"] if frame["sentences"].isna().any() else ["sentences", "model_id"]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def errors(data: Labelled, pred: Sequence[Sequence[str]]) -> list[dict]:
    """Sentences whose predicted tags differ from their labels: id, source, words, gold, pred."""
    if len(pred) != len(data.ids):
        raise ValueError(f"{len(pred)} predictions for {len(data.ids)} sentences")
    return [{"id": i, "source": s, "words": w, "gold": g, "pred": list(p)}
            for i, s, w, g, p in zip(data.ids, data.sources, data.words, data.tags, pred) if list(p) != list(g)]


def curve_x(curve: pd.DataFrame, axis: str) -> tuple[str, bool]:
    """The learning curve column for x-axis `axis` ("sentences" or "tokens"): tokens only when every version
    recorded them, else sentences; sentences only when every version recorded them, else "number" (the version's
    position); and whether it fell back."""
    if axis not in ("sentences", "tokens"):
        raise ValueError(f"axis must be sentences or tokens, not {axis!r}")
    for column in (axis, "sentences"):
        if not curve[column].isna().any():
            return column, column != axis
    return "number", True
