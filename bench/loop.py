"""The labelling loop in a real browser: `streamlit run app.py` driven by Debian chromium through Playwright.

    python bench/loop.py                                # full run: bench/results/loop-<date>.json and .md
    python bench/loop.py --quick --model /tmp/tiny      # development: a tiny model folder, few keys, small sets
    python bench/loop.py --skip-training --keys 100     # key-to-render latency alone

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
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
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
    from core import annotate
    from core.store import Store

    store = Store(db)
    pid = store.project("conll").id
    gold = store.hidden_gold(pid)
    ids = [r.id for r in store.sentences(pid, split="unlabeled") if r.tags is None and r.id in gold][:n]
    for sid in ids:
        annotate.save(store, sid, gold[sid], annotator="bench")
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
    last_job = max((j.id for j in store.jobs(pid)), default=0)
    open_page(page, "Train")
    set_train_settings(page, model=model, min_steps=min_steps)
    t0 = time.perf_counter()
    click_start(page)
    while not (job := next((j for j in store.jobs(pid) if j.id > last_job), None)):
        if time.perf_counter() - t0 > 60:
            raise RuntimeError("no job started 60 s after clicking Start")
        time.sleep(0.1)

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
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(argv)
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
        res = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = {**{k: res.pop(k) for k in TARGETS}, **res, "date": started.date().isoformat(),
           "load_start": load_start, "load_end": os.getloadavg(), "cpu_count": os.cpu_count(),
           "seconds": (dt.datetime.now() - started).total_seconds(),
           "command": "python bench/loop.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data")}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"loop-{res['date']}"
    Path(f"{stem}.json").write_text(json.dumps(res, indent=2))
    Path(f"{stem}.md").write_text(markdown(res))
    print(markdown(res))
    print(f"wrote {stem}.json and {stem}.md", flush=True)


if __name__ == "__main__":
    main()
