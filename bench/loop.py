"""The labelling loop in a real browser: `streamlit run app.py` driven by Debian chromium through Playwright.

    python bench/loop.py                                # full run: bench/results/loop-<date>.json and .md
    python bench/loop.py --quick --model /tmp/tiny      # development: a tiny model folder, few keys, small sets
    python bench/loop.py --skip-training --keys 100     # key-to-render latency alone
    python bench/loop.py --live                         # the live head: a simulated annotator, 0 -> 200 labels
    python bench/loop.py --live --quick                 # development: 12 labels, 3 s pace, small sets

Each project lives in a fresh temporary data folder (NERLOOP_HOME, NERLOOP_DB inside it) and holds CoNLL-2003
sentences read from ../shared/data/conll2003 (never copied into the repository): N human-labelled train
sentences, a gold dev subset and an unlabelled pool whose gold stays hidden. Measured:
- key-to-render on Annotate: from the keydown event to the painted frame in which the sentence's DOM changed,
  the app idle before each key; and how many of a burst of arrow keys 100 ms apart moved the cursor;
- Start -> serving: click Start on the Train page (base model, promote always), time until Annotate shows
  "pre-tagged by" the new version; first model at `--labelled` sizes, then a warm start after `--more` labels;
- the server's CPU (own user+system time, children excluded) with the Train page open, idle and during the job;
- the same first training through `nerloop train --project` on a copy of the database: the ratio of training
  steps per second (steps / train_seconds of the model's metrics: the trainer's own clock, dev evaluation
  excluded), in-app over CLI;
- actions (keys + clicks) per corrected dev sentence, from explicit models of the keyboard-only editor and the
  span editor (see `keyboard_actions`, `span_actions`).

--live (bench/results/loop-<date>-live.json and .md): a simulated annotator labels `--target` pool sentences from their
hidden gold in the Annotate page, in the order the queue serves them (`--order`), one save every `--pace` seconds,
while the app's resident learner refits the live head after every save (the server runs without NERLOOP_LIVE=0); a
Start click on the Train page (a second tab) at `--start-at` labels and a warm start at `--warm-at`. Measured: save ->
the status line names a head that has seen that save (live_update_s), what pre-tagged the sentence shown after the
N-th save and its dev F1 (served_dev_f1_N), actions with those pre-tags against none (sentences 11-100), Start ->
serving, the first job's ETA error at 10 % of its steps, the server's and the learner's CPU.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core.queue import ACTIVE_LEARNING, ORDERS  # noqa: E402
from bench._app import (CHROMIUM, CHROMIUM_ARGS, DEEP_JS, VIEWPORT, env_for, open_page, server,  # noqa: E402
                        wait_idle)

DATA = ROOT.parent / "shared" / "data" / "conll2003"
LABELS = ["PER", "LOC", "ORG", "MISC"]


# ---------------------------------------------------------------- the pages: every selector and interaction

SENTENCE = ".nl-editor"  # the span editor of Annotate (inside the component's shadow root)
KEY_CYCLE = ("1", "ArrowLeft", "0", "ArrowLeft")  # from a word: label it, back, clear it, back; each changes the DOM


def focus_sentence(page) -> None:
    """Show the sentence editor and give it the keyboard focus (not a text field)."""
    from playwright.sync_api import expect

    sentence = page.locator(SENTENCE).first
    expect(sentence).to_be_visible(timeout=120_000)
    sentence.click()


def wait_serving(page, version: str, timeout_ms: int) -> None:
    """Wait until Annotate says the sentence is pre-tagged by `version` (e.g. "v1")."""
    from playwright.sync_api import expect

    expect(page.get_by_text(f"pre-tagged by {version}").first).to_be_visible(timeout=timeout_ms)


def set_train_settings(page, *, model: str | None, min_steps: int | None) -> None:
    """On the Train page: the base model (None when warm-starting), min steps (None: the page's default) and
    promote "Always" (so that every version serves, better or not)."""
    for label, value in (("Base model (folder or Hugging Face id)", model), ("Step floor (at most)", min_steps)):
        if value is not None:
            field = page.locator(f'input[aria-label="{label}"]')
            field.fill(str(value))
            field.press("Enter")
            wait_idle(page)
    page.get_by_text("Always", exact=True).first.click()
    wait_idle(page)


def cursor_word(page) -> tuple[int, int]:
    """(index of the word under the cursor, words) in the sentence being edited (the editor's data-cursor)."""
    return tuple(page.evaluate("(sel) => {" + DEEP_JS + """
      const box = deep(sel);
      return [Number(box.dataset.cursor), box.querySelectorAll('.nl-w').length];
    }""", SENTENCE))


def click_start(page) -> None:
    """Start a training job from the Train page."""
    page.get_by_role("button", name="Start training").click()


def start_job(page, store, project_id: int, *, model: str | None, min_steps: int | None) -> tuple:
    """On the Train page: the settings (see set_train_settings), Start, and wait for the job to be recorded; returns
    (the job, the perf_counter time of the click)."""
    last_job = max((j.id for j in store.jobs(project_id)), default=0)
    open_page(page, "Train")
    set_train_settings(page, model=model, min_steps=min_steps)
    t0 = time.perf_counter()
    click_start(page)
    while not (job := next((j for j in store.jobs(project_id) if j.id > last_job), None)):
        if time.perf_counter() - t0 > 60:
            raise RuntimeError("no job started 60 s after clicking Start")
        time.sleep(0.1)
    return job, t0


# in-page timer, armed before a key press: ms from the keydown event to the paint of the frame in which the sentence
# being edited has changed
ARM_JS = "(sel) => {" + DEEP_JS + """
  const box = deep(sel), before = box?.outerHTML;
  window.__nlTimer = new Promise((resolve) => {
    let t0 = null, over = false;
    const done = (v) => { if (!over) { over = true; obs.disconnect(); clearTimeout(timer); resolve(v); } };
    window.addEventListener('keydown', (e) => { t0 = e.timeStamp; }, {capture: true, once: true});
    const obs = new MutationObserver(() => {
      const el = deep(sel);
      if (t0 !== null && el && el.outerHTML !== before)
        requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));  // after that frame's paint
    });
    for (const root of new Set([document.body, box?.getRootNode()].filter((r) => r && r !== document)))
      obs.observe(root, {subtree: true, childList: true, characterData: true, attributes: true});
    const timer = setTimeout(() => done(-1), 15000);
  });
}"""


def press_timed(page, key: str) -> float:
    """Press one key; ms until the sentence shows the change (-1 when it did not within 15 s)."""
    page.evaluate(ARM_JS, SENTENCE)
    page.keyboard.press(key)
    return float(page.evaluate("window.__nlTimer"))


# ---------------------------------------------------------------- actions per corrected sentence (pure)

def _keyboard_press(tags: list[str], cursor: int, key: str | None) -> tuple[list[str], int]:
    """Today's keys on (tags, cursor): a label (None: 0 clears) sets the word and moves right; "left" moves left."""
    from core.annotate import set_label

    if key == "left":
        return tags, max(0, cursor - 1)
    return set_label(tags, cursor, key), min(len(tags) - 1, cursor + 1)


def keyboard_actions(pred: Sequence[str], gold: Sequence[str]) -> int:
    """Keys to turn `pred` into `gold` with today's keyboard-only editor: from the cursor on word 1, arrows word by
    word to the next wrong word, the shortest key sequence that fixes it (a label key, `0`, or with a step back when
    B/I needs a second press), and Ctrl+Enter. Greedy, left to right."""
    tags, cursor, n = list(pred), 0, 0
    for i, want in enumerate(gold):
        if tags[i] == want:
            continue
        n += abs(i - cursor)
        label = None if want == "O" else want[2:]
        for keys in ([label], [label, label], [None, label], [label, "left", label], [None, "left", label]):
            t, c = tags, i
            for key in keys:
                t, c = _keyboard_press(t, c, key)
            if t[i] == want:
                tags, cursor, n = t, c, n + len(keys)
                break
        else:
            raise ValueError(f"no key sequence gives {want} on word {i + 1}")
    if tags != list(gold):
        raise ValueError(f"keyboard model ended with {tags}, not {list(gold)}")
    return n + 1


def span_actions(pred: Sequence[str], gold: Sequence[str]) -> int:
    """Actions with the span editor: each missing or mislabelled gold entity is a selection (a click on a word or
    an entity, or one drag over words) and a number key, which replaces the entities it overlaps; each other wrong
    entity is a click and Backspace; or the clear-all key and every gold entity anew; then Ctrl+Enter. (A click
    reaches any word in one action, so Home/End and next-entity jumps never shorten this count.)"""
    from core.formats import spans

    have, want = set(spans(pred)), set(spans(gold))
    create = want - have
    overlapped = {s for s in have - want if any(s[0] < e and b < s[1] for b, e, _ in create)}
    edit = 2 * len(create) + 2 * len(have - want - overlapped)
    return min(edit, 1 + 2 * len(want)) + 1


def actions_per_sentence(pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> dict:
    """Mean actions before (keyboard only) and after (span editor, or the keyboard where shorter) over the
    (prediction, gold) pairs that differ."""
    diff = [(p, g) for p, g in pairs if list(p) != list(g)]
    if not diff:
        return {"sentences": 0, "before": None, "after": None, "reduction": None}
    before = [keyboard_actions(p, g) for p, g in diff]
    after = [min(b, span_actions(p, g)) for b, (p, g) in zip(before, diff)]
    mb, ma = statistics.mean(before), statistics.mean(after)
    return {"sentences": len(diff), "before": mb, "after": ma, "reduction": 1 - ma / mb}


# ---------------------------------------------------------------- the simulated annotator (pure)

EDITOR_KEYS = {"ArrowLeft": {"kind": "move", "step": -1}, "ArrowRight": {"kind": "move", "step": 1},
               "Home": {"kind": "home"}, "End": {"kind": "end"}, "x": {"kind": "clear_all"}}


def plan_keys(gold: Sequence[str], labels: Sequence[str]) -> list[str]:
    """The span editor's keys that turn any draft of len(gold) words into `gold` (IOB2): X (clear all), Home, then
    word by word from the left: an arrow to the next entity word, its label's number key (I- by itself when it
    continues an entity of the same type); a B- right after an entity of the same type comes out I-, so the same key
    again on that word (after a step back unless the cursor stayed on the last word). No Ctrl+Enter."""
    keys, tags, cursor, n = ["x", "Home"], ["O"] * len(gold), 0, len(gold)
    for i, want in enumerate(gold):
        if want == "O":
            continue
        keys += ["ArrowRight"] * (i - cursor)
        key = str(list(labels).index(want[2:]) + 1)
        keys.append(key)
        tags, cursor = simulate_keys(tags, [key], labels, cursor=i)
        if tags[i] != want:
            if cursor != i:
                keys.append("ArrowLeft")
            keys.append(key)
            tags, cursor = simulate_keys(tags, [key], labels, cursor=i)
        if tags[i] != want:
            raise ValueError(f"no key sequence gives {want} on word {i + 1} of {list(gold)}")
    return keys


def simulate_keys(tags: Sequence[str], keys: Sequence[str], labels: Sequence[str], *,
                  cursor: int = 0) -> tuple[list[str], int]:
    """(tags, cursor) after the span editor's `keys` on a draft, applied by core.annotate (the page's authority):
    number keys label the word under the cursor (0 clears) and move right; arrows, Home, End, X (clear all)."""
    from core import annotate as ann

    draft = ann.Draft.open(list(tags))
    draft.cursor = cursor
    for key in keys:
        action = EDITOR_KEYS.get(key)
        if action is None:
            n = int(key)
            action = {"kind": "label", "label": labels[n - 1] if n else None, "at": draft.cursor}
        ann.apply(draft, action, labels=labels)
    return list(draft.tags), draft.cursor


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """The q-th percentile of `values`, a None (a measurement that did not come within its window) counting as
    larger than any; None when the percentile falls on one, or there is no value."""
    if not values:
        return None
    ranked = sorted(values, key=lambda v: (v is None, v or 0.0))
    k = (len(ranked) - 1) * q / 100
    lo, hi = int(np.floor(k)), int(np.ceil(k))
    if ranked[hi] is None:
        return None
    return float(ranked[lo] + (ranked[hi] - ranked[lo]) * (k - lo))


def eta_error(steps: Sequence[tuple[float, dict]], end: float, *, at: float = 0.1) -> dict | None:
    """The ETA of the first step event at >= `at` of the run's steps (core.jobs.eta_seconds of its data) against
    the time really left: `end` (the training's end) - the event's time; steps as (epoch seconds, data)."""
    from core.jobs import eta_seconds

    for t, data in steps:
        total = data.get("total_steps") or 0
        if not total or data.get("step", 0) < at * total:
            continue
        eta, actual = eta_seconds(data), end - t
        if eta is None or actual <= 0:
            return None
        return {"step": data["step"], "total_steps": total, "eta_s": eta, "actual_s": actual,
                "error": abs(eta - actual) / actual}
    return None


HEAD_RE = re.compile(r"pre-tagged by the live head on (?P<on>.+?) \((?P<seen>\d+) labels seen"
                     r"(?:, (?:dev|held-out) F1 (?P<f1>[0-9.]+))?\)")
VERSION_RE = re.compile(r"pre-tagged by (?P<version>\S+?)(?: \(dev F1 (?P<f1>[0-9.]+)\))?(?:\s|$)")


def parse_status(text: str) -> dict:
    """What the Annotate status line says pre-tagged the sentence: {"kind": "head", "on", "seen", "f1"},
    {"kind": "version", "version", "f1"} or {"kind": "none"}."""
    if m := HEAD_RE.search(text):
        return {"kind": "head", "on": m["on"], "seen": int(m["seen"]), "f1": float(m["f1"]) if m["f1"] else None}
    if m := VERSION_RE.search(text):
        return {"kind": "version", "version": m["version"], "f1": float(m["f1"]) if m["f1"] else None}
    return {"kind": "none"}

# ---------------------------------------------------------------- projects, server, CPU

def read_conll(args) -> tuple[list, list]:
    from core import formats

    return (formats.read(Path(args.data) / "train.txt").sentences,
            formats.read(Path(args.data) / "dev.txt").sentences)


def build_project(folder: Path, train: list, dev: list, *, labelled: int, args) -> Path:
    """A data folder with one project: `labelled` human train sentences, `args.dev` gold dev sentences and an
    unlabelled pool of `args.pool` sentences with hidden gold; returns the database path."""
    from core.store import Store

    folder.mkdir(parents=True)
    db = folder / "nerloop.db"
    store = Store(db)
    pid = store.create_project("conll", LABELS)
    store.import_sentences(pid, train[:labelled], split="train", source="human", annotator="bench",
                           source_name="train.txt")
    store.import_sentences(pid, dev[: args.dev], split="dev", source_name="dev.txt")
    store.import_hidden_gold(pid, train[labelled: labelled + args.pool], source_name="train.txt")
    store.close()
    return db


def label_more(db: Path, n: int) -> int:
    """The annotator's next `n` pool sentences saved with their (hidden) gold as human labels; returns how many."""
    from core.store import Store

    store = Store(db)
    pid = store.project("conll").id
    gold = store.hidden_gold(pid)
    ids = [r.id for r in store.sentences(pid, split="unlabeled") if r.tags is None and r.id in gold][:n]
    for sid in ids:
        store.save_human(sid, gold[sid], annotator="bench")
    store.close()
    return len(ids)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process, children excluded."""
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def cpu_pct(pid: int, seconds: float, *, until=lambda: False) -> dict:
    """Percent of one core a process used over `seconds` (or until `until()` says stop)."""
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    while time.perf_counter() - t0 < seconds and not until():
        time.sleep(0.25)
    wall = time.perf_counter() - t0
    return {"pct": 100 * (cpu_seconds(pid) - c0) / wall, "seconds": wall}


class Trainer:
    """CPU share of the job's process from now on (None when it ended before the end of the sample)."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.t0 = pid, time.perf_counter()
        self.c0 = self._cpu()

    def _cpu(self) -> float | None:
        import psutil

        try:
            return cpu_seconds(self.pid) if self.pid else None
        except psutil.Error:
            return None

    def pct(self) -> float | None:
        c1 = self._cpu()
        if self.c0 is None or c1 is None:
            return None
        return 100 * (c1 - self.c0) / (time.perf_counter() - self.t0)


@contextmanager
def browser_page(url: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=120_000)
        wait_idle(page)
        try:
            yield page
        finally:
            browser.close()


# ---------------------------------------------------------------- the measurements

def key_latency(page, n: int, *, pause_s: float) -> dict:
    """p50/p95 of key-to-render over `n` presses of KEY_CYCLE on Annotate, the app idle before each press."""
    open_page(page, "Annotate")
    focus_sentence(page)
    wait_idle(page)
    times = []
    for k in range(n):
        times.append(press_timed(page, KEY_CYCLE[k % len(KEY_CYCLE)]))
        wait_idle(page)
        time.sleep(pause_s)
        if (k + 1) % 25 == 0:
            print(f"    {k + 1} keys: p50 so far {np.percentile([t for t in times if t >= 0] or [0], 50):.0f} ms",
                  flush=True)
    ok = [t for t in times if t >= 0]
    if not ok:
        raise RuntimeError("no key press changed the sentence on Annotate")
    return {"keys": n, "missed": n - len(ok), "p50_ms": float(np.percentile(ok, 50)),
            "p95_ms": float(np.percentile(ok, 95)), "max_ms": max(ok)}


def burst(page, n: int, interval_ms: int) -> dict:
    """Arrow keys `interval_ms` apart: right as far as the sentence allows (at most n), then as many left; how many
    moved the cursor once the app is idle again."""
    open_page(page, "Annotate")
    focus_sentence(page)
    page.keyboard.press("ArrowLeft")  # the cursor on word 1 (it starts there; this sets the focus too)
    wait_idle(page)
    c0, words = cursor_word(page)
    n = min(n, words - 1 - c0)
    moved = []
    for key, sign in (("ArrowRight", 1), ("ArrowLeft", -1)):
        start = cursor_word(page)[0]
        for _ in range(n):
            page.keyboard.press(key)
            page.wait_for_timeout(interval_ms)
        wait_idle(page)
        page.wait_for_timeout(1000)
        wait_idle(page)
        moved.append(sign * (cursor_word(page)[0] - start))
    synced = page.evaluate("(sel) => {" + DEEP_JS + "const b = deep(sel); return b.dataset.acked === b.dataset.seq; }",
                           SENTENCE)  # Python has applied every action the browser made
    return {"keys": 2 * n, "interval_ms": interval_ms, "applied": sum(moved), "lost": 2 * n - sum(moved),
            "server_synced": bool(synced)}


def train_in_app(page, db: Path, server_pid: int, *, model: str | None, min_steps: int | None, args) -> dict:
    """On the Train page: Start, the server's CPU during the job, then Annotate until the new version serves."""
    from core.store import Store

    store = Store(db)
    pid = store.project("conll").id
    before = first.id if (first := store.serving(pid)) else None
    job, t0 = start_job(page, store, pid, model=model, min_steps=min_steps)

    def serving_changed() -> bool:
        current = store.serving(pid)
        j = store.job(job.id)
        if j.status in ("failed", "cancelled") or (j.status == "done" and (current.id if current else None) == before):
            raise RuntimeError(f"job {j.id} ended {j.status} without a new serving version: {j.error}")
        return current is not None and current.id != before

    while not store.events(job.id, kind="step") and not serving_changed():
        time.sleep(0.2)
    trainer = Trainer(store.job(job.id).pid)
    cpu = cpu_pct(server_pid, args.cpu_window, until=serving_changed)
    trainer_pct = trainer.pct()
    print(f"    server CPU {cpu['pct']:.1f} % of a core over {cpu['seconds']:.1f} s with Train open during the job "
          f"(trainer {trainer_pct if trainer_pct is None else round(trainer_pct)} %)", flush=True)
    while not serving_changed():
        time.sleep(0.2)
    promoted = time.perf_counter() - t0
    model_row = store.serving(pid)
    open_page(page, "Annotate")
    wait_serving(page, model_row.name, timeout_ms=600_000)
    serving = time.perf_counter() - t0
    metrics = model_row.metrics
    store.close()
    print(f"    {model_row.name}: promoted {promoted:.1f} s, serving in Annotate {serving:.1f} s after Start; "
          f"{metrics.get('steps')} steps, dev F1 {((metrics.get('dev') or {}).get('micro') or {}).get('f1')}",
          flush=True)
    return {"job_id": job.id, "params": job.params, "version": model_row.name, "seconds_to_promoted": promoted,
            "seconds_to_serving": serving, "server_cpu": cpu, "trainer_cpu_pct": trainer_pct,
            "steps": metrics.get("steps"), "train_seconds": metrics.get("train_seconds"),
            "steps_per_s": _steps_per_s(metrics), "dev_f1": ((metrics.get("dev") or {}).get("micro") or {}).get("f1")}


def _steps_per_s(metrics: dict) -> float | None:
    if not metrics.get("steps") or not metrics.get("train_seconds"):
        return None
    return metrics["steps"] / metrics["train_seconds"]


def copy_db(db: Path, folder: Path) -> Path:
    """A consistent copy of a database in a new data folder (sqlite backup: WAL included)."""
    folder.mkdir(parents=True)
    out = folder / "nerloop.db"
    src, dst = sqlite3.connect(db), sqlite3.connect(out)
    src.backup(dst)
    src.close()
    dst.close()
    return out


def train_cli(folder: Path, params: dict) -> dict:
    """`nerloop train --project` on the copy in `folder` with the app job's hyperparameters, timed."""
    flags = {"model": "--model", "epochs": "--epochs", "lr": "--lr", "batch_size": "--batch-size",
             "freeze": "--freeze", "min_steps": "--min-steps", "seed": "--seed"}
    cmd = [sys.executable, "-m", "core", "--db", str(folder / "nerloop.db"), "train", "--project", "conll",
           "--promote", "always"]
    for key, flag in flags.items():
        if key in params:
            cmd += [flag, str(params[key])]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env_for(folder), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    from core.store import Store

    store = Store(folder / "nerloop.db")
    metrics = store.serving(store.project("conll").id).metrics
    store.close()
    return {"command": "nerloop " + " ".join(cmd[3:]), "wall_s": wall, "steps": metrics.get("steps"),
            "train_seconds": metrics.get("train_seconds"), "steps_per_s": _steps_per_s(metrics)}


def dev_actions(db: Path) -> dict:
    """Actions per corrected sentence on the project's dev sentences, against the serving version's predictions
    (all O when there is none)."""
    from core.model import Tagger
    from core.store import Store

    store = Store(db)
    pid = store.project("conll").id
    rows = store.sentences(pid, split="dev")
    model = store.serving(pid)
    store.close()
    if model is None:
        preds = [["O"] * len(r.words) for r in rows]
    else:
        preds = [p.tags for p in Tagger.load(model.folder, device="cpu").predict([r.words for r in rows])]
    out = actions_per_sentence([(p, r.tags) for p, r in zip(preds, rows)])
    return {**out, "prediction": model.name if model else "none (labelling from blank)", "dev": len(rows)}


# ---------------------------------------------------------------- the run

TARGETS = {  # key: (target text, check)
    "key_to_render_ms_p50": ("<= 100 ms", lambda v: v <= 100),
    "key_to_render_ms_p95": ("<= 250 ms", lambda v: v <= 250),
    "first_model_serving_s_50": ("<= 120 s (quiet machine)", lambda v: v <= 120),
    "first_model_serving_s_200": ("-", None),
    "warm_serving_s": ("<= 30 s", lambda v: v <= 30),
    "server_cpu_pct_training": ("<= 5 % of a core", lambda v: v <= 5),
    "server_cpu_pct_idle": ("<= 1 % of a core", lambda v: v <= 1),
    "app_vs_cli_train_ratio": (">= 0.9", lambda v: v >= 0.9),
    "first_model_dev_f1_50": ("within 1 point of today's schedule (bench/conll.py)", None),
    "first_model_dev_f1_200": ("within 1 point of today's schedule (bench/conll.py)", None),
    "actions_per_sentence_before": ("-", None),
    "actions_per_sentence_after": (">= 30 % fewer than before", None),
}


def timed_keys(page, args, what: str) -> dict:
    print(f"  key-to-render on Annotate, {args.keys} keys ({what})", flush=True)
    out = key_latency(page, args.keys, pause_s=args.pause)
    print(f"    p50 {out['p50_ms']:.0f} ms, p95 {out['p95_ms']:.0f} ms", flush=True)
    return out


def first_model(page, db: Path, spid: int, args) -> dict:
    """Idle CPU with the Train page open, then the first model from the base encoder."""
    open_page(page, "Train")
    idle = cpu_pct(spid, args.cpu_window)
    print(f"  server CPU idle, Train page open: {idle['pct']:.1f} % over {idle['seconds']:.0f} s", flush=True)
    print(f"  first model from {args.model}", flush=True)
    return {**train_in_app(page, db, spid, model=args.model, min_steps=args.min_steps, args=args),
            "server_cpu_idle": idle}


def run(args, work: Path) -> dict:
    train, dev = read_conll(args)
    res: dict = {k: None for k in TARGETS}
    sizes = args.labelled
    first = {}
    for n, labelled in enumerate(sizes[:1] if args.skip_training else sizes):
        folder = work / f"home-{labelled}"
        print(f"[{labelled} labelled] building the project in {folder}", flush=True)
        db = build_project(folder, train, dev, labelled=labelled, args=args)
        cli_copy = copy_db(db, work / f"cli-{labelled}") if n == 0 and not args.skip_training else None
        with server(folder) as (url, spid, _), browser_page(url) as page:
            print(f"  server {url} (pid {spid}) is up", flush=True)
            if n == 0:
                res["key_latency_no_model"] = timed_keys(page, args, "no model yet")
                res["burst"] = burst(page, args.burst, 100)
                print(f"    {res['burst']['keys']} arrow keys 100 ms apart: {res['burst']['lost']} lost", flush=True)
            if not args.skip_training:
                first[labelled] = first_model(page, db, spid, args)
            if n == 0 and not args.skip_training:
                print(f"  {label_more(db, args.more)} more sentences labelled; warm start", flush=True)
                res["warm"] = train_in_app(page, db, spid, model=None, min_steps=None, args=args)
                res["key_latency_pre_tagged"] = timed_keys(page, args, f"pre-tagged by {res['warm']['version']}")
        if n == 0:  # with --skip-training against no model: labelling from blank
            print("  actions per corrected dev sentence", flush=True)
            res["actions"] = dev_actions(db)
        if cli_copy is not None:
            print("  the same first training through `nerloop train`", flush=True)
            res["cli"] = train_cli(cli_copy.parent, first[labelled]["params"])
            print(f"    {res['cli']['wall_s']:.1f} s, {res['cli']['steps_per_s']:.2f} steps/s (app "
                  f"{first[labelled]['steps_per_s']:.2f})", flush=True)
    latency = res.get("key_latency_pre_tagged") or res["key_latency_no_model"]
    res.update(key_to_render_ms_p50=latency["p50_ms"], key_to_render_ms_p95=latency["p95_ms"])
    res["first_models"] = {str(k): v for k, v in first.items()}
    for key, labelled in (("50", sizes[0]), ("200", sizes[-1] if len(sizes) > 1 else None)):
        if labelled in first:
            res[f"first_model_serving_s_{key}"] = first[labelled]["seconds_to_serving"]
            res[f"first_model_dev_f1_{key}"] = first[labelled]["dev_f1"]
    if first:
        one = first[sizes[0]]
        res["server_cpu_pct_training"] = one["server_cpu"]["pct"]
        res["server_cpu_pct_idle"] = one["server_cpu_idle"]["pct"]
        res["warm_serving_s"] = res["warm"]["seconds_to_serving"]
        if one["steps_per_s"] and res["cli"]["steps_per_s"]:
            res["app_vs_cli_train_ratio"] = one["steps_per_s"] / res["cli"]["steps_per_s"]
    if "actions" in res:
        res["actions_per_sentence_before"] = res["actions"]["before"]
        res["actions_per_sentence_after"] = res["actions"]["after"]
    return res


def markdown(res: dict) -> str:
    s = res["settings"]
    lines = [f"Loop benchmark, {res['date']}: `{res['command']}`", "",
             f"{res['cpu_count']} cores, load {res['load_start'][0]:.2f} at start and {res['load_end'][0]:.2f} at "
             f"the end (1-min average); base model {s['model']}; labelled {s['labelled']}, dev {s['dev']}, pool "
             f"{s['pool']}, {s['keys']} keys.", "", "| figure | value | target | met |", "|---|---|---|---|"]
    for key, (target, check) in TARGETS.items():
        v = res.get(key)
        met = "" if v is None or check is None else ("yes" if check(v) else "no")
        if key == "actions_per_sentence_after" and v is not None and res.get("actions_per_sentence_before"):
            met = "yes" if v <= 0.7 * res["actions_per_sentence_before"] else "no"
        lines.append(f"| {key} | {'-' if v is None else f'{v:.3g}'} | {target} | {met} |")
    notes = []
    if res.get("actions"):
        a = res["actions"]
        notes.append(f"Actions: {a['sentences']} of {a['dev']} dev sentences differ from the prediction of "
                     f"{a['prediction']}; reduction {a['reduction']:.0%}." if a["sentences"] else
                     "Actions: no dev sentence differs from the prediction.")
    if res.get("cli"):
        notes.append(f"Ratio: training steps/s in the app over `{res['cli']['command']}` (steps / "
                     "train_seconds of each version's metrics, dev evaluation excluded).")
    if res.get("burst"):
        b = res["burst"]
        notes.append(f"Keys at 10 per second: {b['lost']} of {b['keys']} arrow keys sent {b['interval_ms']} ms apart "
                     "did not move the cursor.")
    if res.get("key_latency_pre_tagged"):
        k = res["key_latency_no_model"]
        notes.append(f"Key-to-render with the model's predictions; with no model: p50 {k['p50_ms']:.0f} ms, "
                     f"p95 {k['p95_ms']:.0f} ms.")
    return "\n".join(lines + [""] + notes) + "\n"


# ---------------------------------------------------------------- --live: a simulated annotator and the live head

# the editor's state and the sentence's status line ("Sentence #12 · ... · pre-tagged by ...")
STATE_JS = "(sel) => {" + DEEP_JS + """
  const b = deep(sel);
  const status = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
    .map((e) => e.innerText.trim()).find((t) => t.startsWith('Sentence #')) || '';
  if (!b) return {status};
  return {status, sid: Number(b.dataset.sid), tags: (b.dataset.tags || '').split(' '), cursor: Number(b.dataset.cursor),
          seq: b.dataset.seq, acked: b.dataset.acked, leaving: b.classList.contains('nl-leaving')};
}"""


def editor_state(page) -> dict:
    return page.evaluate(STATE_JS, SENTENCE)


def live_env(folder: Path) -> dict:
    """The server's environment, with the learner on (tests set NERLOOP_LIVE=0; the bench must not inherit it)."""
    env = env_for(folder)
    env.pop("NERLOOP_LIVE", None)
    return env


def _epoch(created: str) -> float:
    return dt.datetime.fromisoformat(created).timestamp()


class CpuSampler(threading.Thread):
    """Every second: the CPU seconds of each learner process that claimed the database (a restarted learner is a new
    PID: their sum is the learner's CPU over the run)."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db, self.stop, self.learner, self.wall = db, threading.Event(), {}, 0.0

    def run(self) -> None:
        import psutil
        from core.store import Store

        store = Store(self.db)
        t0 = time.perf_counter()
        while not self.stop.is_set():
            self.wall = time.perf_counter() - t0
            claim = store.learner_claim()
            if claim and claim.get("pid"):
                try:
                    self.learner[claim["pid"]] = cpu_seconds(claim["pid"])
                except psutil.Error:
                    pass
            self.stop.wait(1.0)
        store.close()


class JobWatch(threading.Thread):
    """One training job started by a click at perf_counter `t0`: when the database serves its version (polled every
    0.2 s), the server's and the trainer's CPU until then, and once the job ends, its step events' ETA error."""

    def __init__(self, db: Path, project_id: int, job_id: int, before: int | None, t0: float, server_pid: int, *,
                 labels: int, timeout_s: float) -> None:
        super().__init__(daemon=True)
        self.db, self.project_id, self.job_id, self.before, self.t0 = db, project_id, job_id, before, t0
        self.server_pid, self.labels, self.timeout_s = server_pid, labels, timeout_s
        self.result: dict = {"job_id": job_id, "labels": labels, "serving_s": None}
        self.served = threading.Event()

    def run(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # noqa: BLE001  reported in the results
            self.result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            self.served.set()

    def _watch(self) -> None:
        from core.store import Store

        store = Store(self.db)
        c0, w0 = cpu_seconds(self.server_pid), time.perf_counter()
        trainer = None
        try:
            while time.perf_counter() - self.t0 < self.timeout_s:
                job, now = store.job(self.job_id), store.serving(self.project_id)
                if trainer is None and job.pid:
                    trainer = Trainer(job.pid)
                if now is not None and now.id != self.before:
                    self.result.update(serving_s=time.perf_counter() - self.t0, version=now.name,
                                       dev_f1=now.dev_f1, steps=now.metrics.get("steps"),
                                       train_seconds=now.metrics.get("train_seconds"))
                    break
                if job.status in ("failed", "cancelled", "done"):
                    self.result["error"] = f"job {job.id} ended {job.status} without a new serving version: {job.error}"
                    return
                time.sleep(0.2)
            else:
                self.result["error"] = f"no new serving version {self.timeout_s:.0f} s after Start"
                return
            wall = time.perf_counter() - w0
            self.result["server_cpu_pct"] = 100 * (cpu_seconds(self.server_pid) - c0) / wall
            self.result["trainer_cpu_pct"] = trainer.pct() if trainer else None
            self.served.set()
            while store.job(self.job_id).status not in ("done", "failed", "cancelled") and \
                    time.perf_counter() - self.t0 < self.timeout_s:
                time.sleep(0.5)
            job = store.job(self.job_id)
            self.result.update(status=job.status, params=job.params)
            events = store.events(self.job_id)
            steps = [(_epoch(e.created), e.data) for e in events if e.kind == "step"]
            end = next((_epoch(e.created) for e in events if e.kind == "registered"), None)
            end = end if end is not None else (_epoch(events[-1].created) if events else None)
            self.result["eta"] = eta_error(steps, end) if steps and end is not None else None
            if steps:
                self.result["total_steps"] = steps[-1][1].get("total_steps")
        finally:
            store.close()


def start_training(context, url: str, db: Path, project_id: int, server_pid: int, *, model: str | None,
                   min_steps: int | None, labels: int, timeout_s: float) -> tuple:
    """In a new tab of the annotator's browser: the Train page, base model `model` (None: warm start, as the page
    ticks it when a version serves), promote Always, Start; returns (the tab, a started JobWatch)."""
    from core.store import Store

    store = Store(db)
    before = first.id if (first := store.serving(project_id)) else None
    tab = context.new_page()
    tab.goto(url)
    tab.locator('[data-testid="stSidebarNav"]').wait_for(timeout=120_000)
    wait_idle(tab)
    job, t0 = start_job(tab, store, project_id, model=model, min_steps=min_steps)
    store.close()
    watch = JobWatch(db, project_id, job.id, before, t0, server_pid, labels=labels, timeout_s=timeout_s)
    watch.start()
    print(f"    [{labels} labels] Start clicked: job {job.id} ({'warm start' if model is None else model})",
          flush=True)
    return tab, watch


def served_f1(store, project_id: int, said: dict) -> float | None:
    """Dev F1 of what the status line says pre-tagged the sentence: the live head's (its row with that many labels,
    the latest such), else the serving version's on the same dev sentences (the head's base_f1, else its metrics)."""
    if said["kind"] == "head":
        row = store.db.execute("SELECT dev_f1 FROM live_heads WHERE project_id = ? AND train_sentences = ? "
                               "ORDER BY id DESC LIMIT 1", [project_id, said["seen"]]).fetchone()
        return row[0] if row and row[0] is not None else said["f1"]
    if said["kind"] == "version":
        model = store.serving(project_id)
        if model is None or model.name != said["version"]:
            return said["f1"]
        head = store.live_head(project_id)
        if head is not None and head.model_id == model.id and head.base_f1 is not None:
            return head.base_f1
        return model.dev_f1
    return None


def observe(page, *, previous: int | None, saves: int, t_save: float | None, window_s: float) -> dict:
    """After `saves` saves (the last one's key pressed at `t_save`): wait for the editor to show a new sentence, then
    up to `window_s` after the save for its status line to name a live head that has seen `saves` labels. Returns
    the state then (once the script run is over), with live_update_s (None: not within the window)."""
    t_start = time.perf_counter()
    deadline = (t_save or t_start) + window_s
    shown_at = live_at = None
    while True:
        st = editor_state(page)
        now = time.perf_counter()
        new = st.get("sid") is not None and st["sid"] != previous and not st.get("leaving") and \
            st["status"].startswith(f"Sentence #{st['sid']} ")
        if new:
            shown_at = shown_at or now
            said = parse_status(st["status"])
            if saves == 0 or (said["kind"] == "head" and said["seen"] >= saves):
                live_at = now
                break
            if now > deadline:
                break
        elif now - t_start > 120:
            raise RuntimeError(f"the editor showed no new sentence 120 s after save {saves}: {st}")
        time.sleep(0.05)
    wait_idle(page)
    st = editor_state(page)
    if st.get("sid") is None or st["sid"] == previous:
        raise RuntimeError(f"the sentence went away after save {saves}: {st}")
    st["said"] = parse_status(st["status"])
    st["shown_s"] = None if t_save is None else shown_at - t_save
    st["live_update_s"] = None if t_save is None or live_at is None or saves == 0 else live_at - t_save
    return st


def choose_order(page, order: str) -> None:
    """The "Show next" order of Annotate (a segmented control: its options are radio buttons)."""
    if order == "in order":
        return
    page.get_by_role("radio", name=order, exact=True).first.click()
    wait_idle(page)


def run_live(args, work: Path) -> dict:
    """The simulated annotator, 0 -> args.target labels, and what served along the way."""
    from playwright.sync_api import sync_playwright

    from core.store import Store

    train, dev = read_conll(args)
    folder = work / "home-live"
    print(f"[live] project in {folder}: pool {args.pool} train sentences (gold hidden), dev {args.dev}", flush=True)
    db = build_project(folder, train, dev, labelled=0, args=args)
    store = Store(db)
    pid = store.project("conll").id
    hidden = store.hidden_gold(pid)
    records: list[dict] = []
    jobs_: list[JobWatch] = []
    tabs: dict[int, object] = {}
    window = max(0.75 * args.pace, args.pace - 2.0)
    res: dict = {}
    with server(folder, env=live_env(folder)) as (url, spid, log), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(url)
        page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=120_000)
        wait_idle(page)
        open_page(page, "Annotate")
        choose_order(page, args.order)
        page.locator("h1", has_text="Annotate").click()  # the focus on the page, not in a field
        sampler = CpuSampler(db)
        sampler.start()
        res["learner_ready_s"] = wait_learner(store, folder, 600)
        print(f"  learner ready (encoder loaded) {res['learner_ready_s']:.1f} s after Annotate opened", flush=True)
        if args.settle:
            res["learner_settle_s"] = wait_settled(store, 1800)
            print(f"  learner idle (every sentence's states cached) {res['learner_settle_s']:.1f} s later",
                  flush=True)
        print(f"  server {url} (pid {spid}); order {args.order!r}, one save every {args.pace:g} s, head window "
              f"{window:.1f} s", flush=True)
        c0, w0 = cpu_seconds(spid), time.perf_counter()
        previous = t_save = None
        saves, warm_done, first_watch = 0, False, None
        try:
            while True:
                st = observe(page, previous=previous, saves=saves, t_save=t_save, window_s=window)
                sid, said = st["sid"], st["said"]
                gold = hidden.get(sid)
                if gold is None:
                    raise RuntimeError(f"sentence #{sid} served by the queue has no hidden gold")
                if previous is not None:  # the last save, as stored
                    human = [a for a in store.history(previous) if a.source == "human"]
                    records[-1]["saved_ok"] = bool(human) and list(human[-1].tags) == list(hidden[previous])
                pre = st["tags"] if len(st["tags"]) == len(gold) else ["O"] * len(gold)
                rec = {"labels": saves, "sid": sid, "pre_tagged_by": said, "live_update_s": st["live_update_s"],
                       "shown_s": st["shown_s"], "served_dev_f1": served_f1(store, pid, said),
                       "pre_tags_right": pre == list(gold), "actions_live": span_actions(pre, gold),
                       "actions_cold": span_actions(["O"] * len(gold), gold)}
                records.append(rec)
                lu = rec["live_update_s"]
                print(f"    [{saves:3d}] #{sid}: {said['kind']} {said.get('seen', said.get('version', ''))} "
                      f"F1 {rec['served_dev_f1'] if rec['served_dev_f1'] is None else round(rec['served_dev_f1'], 3)}"
                      f", live update {'-' if lu is None else f'{lu:.2f} s'}, actions {rec['actions_live']} "
                      f"(cold {rec['actions_cold']})", flush=True)
                if args.start_at and saves >= args.start_at and first_watch is None:
                    tab, first_watch = start_training(context, url, db, pid, spid, model=args.model,
                                                      min_steps=args.min_steps, labels=saves,
                                                      timeout_s=args.job_timeout)
                    jobs_.append(first_watch)
                    tabs[first_watch.job_id] = tab
                elif args.warm_at and saves >= args.warm_at and not warm_done and first_watch is not None \
                        and first_watch.result.get("serving_s") is not None:
                    tab, watch = start_training(context, url, db, pid, spid, model=None, min_steps=args.min_steps,
                                                labels=saves, timeout_s=args.job_timeout)
                    jobs_.append(watch)
                    tabs[watch.job_id] = tab
                    warm_done = True
                for watch in jobs_:  # a served job's Train tab closes
                    if watch.served.is_set() and watch.job_id in tabs:
                        tabs.pop(watch.job_id).close()
                        r = watch.result
                        print(f"    job {watch.job_id}: serving {r.get('version')} {r.get('serving_s')} s after "
                              f"Start, dev F1 {r.get('dev_f1')}{'; ' + r['error'] if r.get('error') else ''}",
                              flush=True)
                if saves >= args.target:
                    break
                keys = plan_keys(gold, LABELS)
                for key in keys:
                    page.keyboard.press(key)
                if t_save is not None:
                    time.sleep(max(0.0, t_save + args.pace - time.perf_counter()))
                now = time.perf_counter()
                rec["interval_s"] = None if t_save is None else now - t_save
                rec["keys"] = len(keys) + 1
                t_save, previous = now, sid
                page.keyboard.press("Control+Enter")
                saves += 1
            labelling_s = time.perf_counter() - w0
            res["server_cpu_pct_labelling"] = 100 * (cpu_seconds(spid) - c0) / labelling_s
            if args.warm_at and not warm_done and first_watch is not None:  # the first job outlasted the labelling
                first_watch.served.wait(args.job_timeout)
                if first_watch.result.get("serving_s") is not None:
                    if first_watch.job_id in tabs:
                        tabs.pop(first_watch.job_id).close()
                    tab, watch = start_training(context, url, db, pid, spid, model=None, min_steps=args.min_steps,
                                                labels=saves, timeout_s=args.job_timeout)
                    jobs_.append(watch)
                    tabs[watch.job_id] = tab
            for watch in jobs_:
                print(f"  waiting for job {watch.job_id} to end", flush=True)
                watch.join(args.job_timeout)
                if watch.job_id in tabs:
                    tabs.pop(watch.job_id).close()
        finally:
            sampler.stop.set()
            sampler.join(5)
            claim = store.learner_claim()
            res["learner_pid"] = claim and claim.get("pid")
            learner_log = folder / "logs" / store.uuid / "learner.log"
            res["learner_log"] = _tail(learner_log, 30)
            res["learner_starts_refused"] = (learner_log.read_text(errors="replace").count("another learner serves")
                                             if learner_log.is_file() else None)
            browser.close()
    _stop_learner(res.get("learner_pid"))
    store.close()
    res.update(_live_figures(records, jobs_, args))
    res["learner_cpu_s"] = sum(sampler.learner.values())
    res["learner_processes"] = len(sampler.learner)
    res["learner_cpu_pct"] = 100 * res["learner_cpu_s"] / sampler.wall
    res["labelling_s"] = labelling_s
    res["head_window_s"] = window
    res["saves"] = records
    return res


def wait_learner(store, folder: Path, timeout_s: float) -> float:
    """Seconds until the learner that the Annotate page started has claimed the database and loaded its encoder (its
    log says so): the annotator starts then, as the first head needs it."""
    log = folder / "logs" / store.uuid / "learner.log"
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if store.learner_claim() and log.is_file() and ": live head on " in log.read_text(errors="replace"):
            return time.perf_counter() - t0
        time.sleep(0.25)
    raise RuntimeError(f"the learner was not ready {timeout_s:.0f} s after Annotate opened: {_tail(log, 20)}")


def wait_settled(store, timeout_s: float) -> float:
    """Seconds until the learner is idle (under 5 % of a core for 2 s: the states of every sentence cached)."""
    pid = store.learner_claim()["pid"]
    t0, quiet, last = time.perf_counter(), 0, cpu_seconds(pid)
    while time.perf_counter() - t0 < timeout_s:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        quiet, last = (quiet + 1 if now - last < 0.05 else 0), now
        if quiet >= 2:
            return time.perf_counter() - t0
    raise RuntimeError(f"the learner was still busy {timeout_s:.0f} s after it loaded its encoder")


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _stop_learner(pid: int | None) -> None:
    """The learner ends by itself once the server is gone (it polls its parent); ended here if it has not."""
    import psutil

    if not pid:
        return
    try:
        proc = psutil.Process(pid)
        proc.wait(timeout=10)
    except psutil.TimeoutExpired:
        proc.terminate()
    except psutil.Error:
        pass


def _live_figures(records: list[dict], jobs_: list[JobWatch], args) -> dict:
    """The benchmark's keys from the per-sentence records and the jobs."""
    updates = [r["live_update_s"] for r in records[1:]]
    out = {"live_update_s_p50": percentile(updates, 50), "live_update_s_p95": percentile(updates, 95),
           "live_update_s": updates, "live_update_missed": sum(u is None for u in updates)}
    for n in (25, 50, 100, 200):
        out[f"served_dev_f1_{n}"] = records[n]["served_dev_f1"] if n < len(records) else None
    window = [r for r in records[10:100] if "keys" in r]  # sentences 11-100 that were labelled
    out["actions_sentences"] = [11, 10 + len(window)] if window else None
    out["actions_per_sentence_live"] = statistics.mean(r["actions_live"] for r in window) if window else None
    out["actions_per_sentence_cold"] = statistics.mean(r["actions_cold"] for r in window) if window else None
    saved = [r for r in records if "saved_ok" in r]
    out["saved_equal_gold"] = [sum(r["saved_ok"] for r in saved), len(saved)]
    intervals = [r["interval_s"] for r in records if r.get("interval_s") is not None]
    out["pace_s_actual_median"] = statistics.median(intervals) if intervals else None
    first = jobs_[0].result if jobs_ else {}
    warm = jobs_[1].result if len(jobs_) > 1 else {}
    out["first_model_serving_s_50"] = first.get("serving_s")
    out["first_model_dev_f1_50"] = first.get("dev_f1")
    out["warm_serving_s"] = warm.get("serving_s")
    out["eta_error_at_10pct"] = (first.get("eta") or {}).get("error")
    out["server_cpu_pct_training"] = first.get("server_cpu_pct")
    out["jobs"] = [w.result for w in jobs_]
    return out


LIVE_TARGETS = {  # key: (target text, check)
    "live_update_s_p50": ("-", None),
    "live_update_s_p95": ("<= 2 s", lambda v: v <= 2),
    "served_dev_f1_25": (">= 0.45", lambda v: v >= 0.45),
    "served_dev_f1_50": (">= 0.55", lambda v: v >= 0.55),
    "served_dev_f1_100": (">= 0.65", lambda v: v >= 0.65),
    "served_dev_f1_200": (">= 0.78", lambda v: v >= 0.78),
    "actions_per_sentence_live": ("<= 0.7 x cold", None),
    "actions_per_sentence_cold": ("-", None),
    "first_model_serving_s_50": ("<= 120 s", lambda v: v <= 120),
    "first_model_dev_f1_50": (">= the live head's at that point", None),
    "warm_serving_s": ("<= 30 s", lambda v: v <= 30),
    "eta_error_at_10pct": ("<= 0.25", lambda v: v <= 0.25),
    "server_cpu_pct_training": ("<= 5 % of a core", lambda v: v <= 5),
    "server_cpu_pct_labelling": ("-", None),
    "learner_cpu_s": ("-", None),
}


def markdown_live(res: dict) -> str:
    s = res["settings"]
    lines = [f"Loop benchmark with the live head, {res['date']}: `{res['command']}`", "",
             f"{res['cpu_count']} cores, load {res['load_start'][0]:.2f} at start and {res['load_end'][0]:.2f} at "
             f"the end (1-min average). A simulated annotator in Chromium labels {s['target']} pool sentences from "
             f"their hidden gold, order {s['order']!r}, one save every {s['pace']:g} s (median interval "
             f"{_fmt(res.get('pace_s_actual_median'))} s); dev {s['dev']}, pool {s['pool']}; Start at "
             f"{s['start_at']} labels (base {s['model']}), warm start at {s['warm_at']}.", "",
             "| figure | value | target | met |", "|---|---|---|---|"]
    for key, (target, check) in LIVE_TARGETS.items():
        v = res.get(key)
        met = "" if v is None or check is None else ("yes" if check(v) else "no")
        if key == "actions_per_sentence_live" and v is not None and res.get("actions_per_sentence_cold"):
            met = "yes" if v <= 0.7 * res["actions_per_sentence_cold"] else "no"
        if key == "first_model_dev_f1_50" and v is not None:
            head = next((r["served_dev_f1"] for r in res.get("saves", []) if r["labels"] == s["start_at"]), None)
            met = "" if head is None else ("yes" if v >= head else "no")
        lines.append(f"| {key} | {_fmt(v)} | {target} | {met} |")
    ok, n = res.get("saved_equal_gold") or (0, 0)
    notes = [f"Live update: save key -> the status line names a head that has seen that save; "
             f"{res.get('live_update_missed')} of {len(res.get('live_update_s') or [])} not within "
             f"{res.get('head_window_s', 0):.1f} s (counted as slower than any). Saved annotations equal to gold: "
             f"{ok} of {n}.",
             f"Server CPU during the first job with Annotate in use in the other tab; the learner used "
             f"{_fmt(res.get('learner_cpu_s'))} CPU s over the run "
             f"({_fmt(res.get('learner_cpu_pct'))} % of a core, {res.get('learner_processes')} process(es)); it was "
             f"ready (encoder loaded) {_fmt(res.get('learner_ready_s'))} s after Annotate opened"
             + (f" and idle (every sentence encoded) {_fmt(res['learner_settle_s'])} s later, before the first save"
                if res.get("learner_settle_s") is not None else "") + ", and the page "
             f"started {_fmt(res.get('learner_starts_refused'))} more learner(s) that found it running and exited."]
    if res.get("actions_sentences"):
        notes.append(f"Actions: span-editor model (`span_actions`) over sentences {res['actions_sentences'][0]}-"
                     f"{res['actions_sentences'][1]}, with the pre-tags shown against none.")
    return "\n".join(lines + [""] + notes) + "\n"


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))

def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="base model: default (packaged MiniLM), a folder or hub id")
    ap.add_argument("--labelled", type=int, nargs="+", default=None, help="first-model sizes (default 50 200)")
    ap.add_argument("--dev", type=int, default=None, help="gold dev sentences (default 300)")
    ap.add_argument("--pool", type=int, default=None, help="unlabelled sentences (default 2000)")
    ap.add_argument("--more", type=int, default=None, help="labels added before the warm start (default 20)")
    ap.add_argument("--keys", type=int, default=None, help="key presses timed (default 100)")
    ap.add_argument("--burst", type=int, default=10, help="arrow keys sent 100 ms apart each way (lost keys)")
    ap.add_argument("--pause", type=float, default=0.1, help="seconds between key presses, after the app is idle")
    ap.add_argument("--cpu-window", type=float, default=None, help="seconds of each CPU sample (default 40)")
    ap.add_argument("--min-steps", type=int, default=None, help="Step floor on the Train page (default: the page's)")
    ap.add_argument("--quick", action="store_true", help="development: small sets, few keys, 30 min steps")
    ap.add_argument("--skip-training", action="store_true", help="key-to-render latency only")
    ap.add_argument("--live", action="store_true", help="the live head: a simulated annotator labels from gold")
    ap.add_argument("--target", type=int, default=None, help="--live: labels to reach (default 200)")
    ap.add_argument("--pace", type=float, default=None, help="--live: seconds between two saves (default 8)")
    ap.add_argument("--order", default="active learning", choices=[*ORDERS, ACTIVE_LEARNING],
                    help="--live: Annotate's 'Show next' order")
    ap.add_argument("--start-at", type=int, default=None,
                    help="--live: labels at which Start is clicked on the Train page (default 50; 0: never)")
    ap.add_argument("--warm-at", type=int, default=None,
                    help="--live: labels at which a warm start is clicked (default 150; 0: never)")
    ap.add_argument("--no-settle", dest="settle", action="store_false",
                    help="--live: the first save as soon as the learner has loaded its encoder, not once it has "
                         "encoded every sentence")
    ap.add_argument("--job-timeout", type=float, default=None, help="--live: seconds a job may take (default 900)")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(argv)
    if args.live:
        full = {"target": 200, "pace": 8.0, "dev": 1000, "pool": 5000, "start_at": 50, "warm_at": 150,
                "min_steps": None, "job_timeout": 900.0}
        quick = {"target": 12, "pace": 3.0, "dev": 100, "pool": 300, "start_at": 6, "warm_at": 0, "min_steps": 30,
                 "job_timeout": 400.0}
        for key, value in (quick if args.quick else full).items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        return args
    full = {"labelled": [50, 200], "dev": 300, "pool": 2000, "more": 20, "keys": 100, "cpu_window": 40.0,
            "min_steps": None}
    quick = {"labelled": [20, 40], "dev": 30, "pool": 100, "more": 5, "keys": 12, "cpu_window": 3.0,
             "min_steps": 30}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick and args.model == "default" and not args.skip_training:
        ap.error("--quick trains a tiny model: give its folder with --model")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    load_start = os.getloadavg()
    started = dt.datetime.now()
    work = Path(tempfile.mkdtemp(prefix="nerloop-loop-"))
    try:
        res = (run_live if args.live else run)(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    targets = LIVE_TARGETS if args.live else TARGETS
    res = {**{k: res.pop(k, None) for k in targets}, **res, "date": started.date().isoformat(),
           "load_start": load_start, "load_end": os.getloadavg(), "cpu_count": os.cpu_count(),
           "seconds": (dt.datetime.now() - started).total_seconds(),
           "command": "python bench/loop.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data")}}
    if args.live:
        res = {**res, "pace_s": args.pace, "order": args.order}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"loop-{res['date']}{'-live' if args.live else ''}"
    table = (markdown_live if args.live else markdown)(res)
    Path(f"{stem}.json").write_text(json.dumps(res, indent=2))
    Path(f"{stem}.md").write_text(table)
    print(table)
    print(f"wrote {stem}.json and {stem}.md", flush=True)


if __name__ == "__main__":
    main()
