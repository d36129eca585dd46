"""Robustness: malformed files, kill -9 mid-train and mid-save, concurrent writers, corrupted databases, and the
memory of a 50 MB import through the CLI and the app.

    python bench/robustness.py            # writes bench/results/robustness-<date>.json and .md
    python bench/robustness.py --quick    # a few cases per category and a 5 MB file (development)

Everything runs in a temporary folder: databases, a tiny random BERT (as tests/conftest.py builds it), and the large
CoNLL file, generated from ../shared/data/conll2003/train.txt with varied words (never copied into the repository).
Every command is the real `nerloop` CLI (`python -m core`) or `streamlit run app.py` in a subprocess.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from bench._app import CHROMIUM_ARGS, server  # noqa: E402

CONLL2003 = ROOT.parent / "shared" / "data" / "conll2003" / "train.txt"
SAMPLE = ROOT / "tests" / "data" / "sample.conll"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CLEAR = re.compile(r"^nerloop: error: .+:\d+: \S", re.M)
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def nerloop(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`nerloop ARGS` as a subprocess of this checkout."""
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def content(db: Path) -> list[str]:
    """The database's content as SQL (to tell whether a refused import changed it)."""
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def integrity(db: Path) -> str:
    """PRAGMA integrity_check's first line ("ok" when sound), or the error opening the file."""
    try:
        conn = sqlite3.connect(db)
        conn.text_factory = lambda b: b.decode("utf-8", "replace")
        try:
            return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeDecodeError) as e:  # SQLite's message itself may quote corrupted bytes
        return f"error: {e}"


def generate_conll(path: Path, n_bytes: int, source: Path = CONLL2003) -> int:
    """A CoNLL file of about n_bytes at `path`: `source` (CoNLL-2003 train) repeated, each copy's first words varied
    so its sentences are new; returns the number of sentences."""
    lines = source.read_text().split("\n")
    size, copy, sentences = 0, 0, 0
    with open(path, "w") as f:
        while size < n_bytes:
            start = True
            for line in lines:
                if line.strip() and not line.startswith("-DOCSTART-"):
                    if start:
                        sentences += 1
                        if copy:
                            word, rest = line.split(" ", 1)
                            line = f"{word}{copy} {rest}"
                    start = False
                elif size >= n_bytes:
                    break
                else:
                    start = True
                f.write(line + "\n")
                size += len(line) + 1
            copy += 1
    return sentences


def new_db(folder: Path, name: str, labels: str = "PER,LOC,ORG,MISC") -> Path:
    """A database with project `p` holding the sample file's sentences."""
    db = folder / f"{name}.db"
    for args in (["init", "--db", str(db), "--labels", labels, "p"], ["import", "--db", str(db), "p", str(SAMPLE)]):
        r = nerloop(*args)
        if r.returncode:
            raise RuntimeError(f"nerloop {' '.join(args)}: {r.stderr}")
    return db


# ---------------------------------------------------------------- malformed files

def mutations(n: int, seed: int) -> list[tuple[str, bytes]]:
    """n files: valid CoNLL, JSONL and text (tests/test_fuzz.py's) after 1-4 seeded character or line mutations
    with its nasty pieces, every fifth one random bytes; as (name, bytes)."""
    from test_fuzz import CONLL, JSONL, NAMES, NASTY, TEXT

    rng = random.Random(seed)
    files = []
    for k in range(n):
        name = f"case{k}{rng.choice(NAMES)[1:]}"
        if k % 5 == 4:
            files.append((name, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))))
            continue
        text = rng.choice([CONLL, JSONL, TEXT])
        for _ in range(rng.randint(1, 4)):
            i, piece = rng.randrange(len(text) + 1), rng.choice(NASTY)
            kind = rng.choice(["insert", "delete", "replace", "line"])
            if kind == "insert":
                text = text[:i] + piece + text[i:]
            elif kind == "delete":
                text = text[:i] + text[i + rng.randint(1, 30):]
            elif kind == "replace":
                text = text[:i] + piece + text[i + 1:]
            else:
                lines = text.split("\n")
                j = rng.randrange(len(lines))
                lines[j:j + 1] = rng.choice([[], [lines[j], lines[j]], [piece], [lines[j] + piece]])
                text = "\n".join(lines)
        files.append((name, text.encode("utf-8", "surrogatepass")))
    return files


def malformed(work: Path, n: int, seed: int) -> dict:
    """Each file through `nerloop import` into a labelled project: clear refusals (exit 2, `file:line: problem`),
    other errors, tracebacks, partial imports (refused but the database changed), accepted imports, and databases
    left unreadable (`nerloop export` fails after an accepted import)."""
    db = new_db(work, "fuzz")
    out = {"cases": n, "accepted": 0, "clear_errors": 0, "unclear_errors": 0, "tracebacks": 0, "partial_imports": 0,
           "unreadable_after": 0, "examples": []}
    folder = work / "fuzz"
    folder.mkdir()
    for name, data in mutations(n, seed):
        path = folder / name
        path.write_bytes(data)
        before = content(db)
        r = nerloop("import", "--db", str(db), "p", str(path))
        if "Traceback" in r.stderr:
            out["tracebacks"] += 1
            out["examples"].append(r.stderr[-300:])
        elif r.returncode == 0:
            out["accepted"] += 1
            check = nerloop("export", "--db", str(db), "--out", str(work / "export.jsonl"), "p")
            out["unreadable_after"] += check.returncode != 0
        elif r.returncode == 2 and CLEAR.search(r.stderr):
            out["clear_errors"] += 1
        else:
            out["unclear_errors"] += 1
            out["examples"].append(r.stderr.strip()[-300:])
        if r.returncode != 0 and content(db) != before:
            out["partial_imports"] += 1
    return out


# ---------------------------------------------------------------- kill -9 mid-train and mid-save

def tiny_model(folder: Path) -> str:
    """A 2-layer, 32-wide random BertModel with a cased WordPiece tokenizer (as tests/conftest.py builds it)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = [line.split()[0] for line in SAMPLE.read_text().splitlines()
             if line.strip() and not line.startswith("-DOCSTART-")]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator([" ".join(words)] * 3, trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials))
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    tokenizer = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]", do_lower_case=False, model_max_length=128)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def model_folders(db: Path) -> tuple[list[Path], list[Path]]:
    """(complete model folders, hidden temporary or old folders) under the database folder's models/."""
    root = db.parent / "models"
    dirs = [p for p in root.rglob("*") if p.is_dir()] if root.exists() else []
    hidden = [p for p in dirs if p.name.startswith(".")]
    complete = [p for p in dirs if (p / "config.json").is_file() and not any(q.name.startswith(".") for q in
                                                                              [p, *p.parents])]
    return complete, hidden


def job_pid(db: Path, job_id: int, timeout: float = 60) -> int | None:
    """The job's process id once its row has one."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        conn = sqlite3.connect(db)
        row = conn.execute("SELECT pid, status FROM jobs WHERE id = ?", [job_id]).fetchone()
        conn.close()
        if row and row[0]:
            return row[0]
        time.sleep(0.05)
    return None


def wait_job(db: Path, job_id: int, timeout: float = 300) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        conn = sqlite3.connect(db)
        status = conn.execute("SELECT status FROM jobs WHERE id = ?", [job_id]).fetchone()[0]
        conn.close()
        if status in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.2)
    return "timeout"


def crashes(work: Path, n: int, seed: int) -> dict:
    """Background trainings of a tiny model killed with kill -9 at random moments (the first one runs to the end to
    time it); after each, the next `nerloop models` and `nerloop jobs` (a start) and a look at the folders:
    registered versions whose folder is missing or incomplete, complete folders nobody registered, leftover
    temporary folders, and PRAGMA integrity_check."""
    rng = random.Random(seed)
    model = tiny_model(work / "tiny")
    out = {"cases": n, "killed": 0, "finished": 0, "registered_missing_or_half_written": 0,
           "unregistered_complete_folders": 0, "leftover_temp_folders": 0, "integrity_failures": 0,
           "tracebacks_after": 0, "kill_after_s": []}
    (work / "crash").mkdir()
    db = new_db(work / "crash", "crash")
    train = ["train", "--db", str(db), "--project", "p", "--model", model, "--epochs", "2", "--background",
             "--promote", "always"]
    duration = 20.0
    for case in range(n):
        r = nerloop(*train)
        job_id = int(re.search(r"\d+", r.stdout).group())
        pid = job_pid(db, job_id)
        if case == 0:
            start = time.time()
            wait_job(db, job_id)
            duration = max(time.time() - start, 2.0)
            out["finished"] += 1
        else:
            delay = rng.uniform(0.2, duration)
            time.sleep(delay)
            try:
                os.kill(pid, signal.SIGKILL)
                out["killed"] += 1
                out["kill_after_s"].append(round(delay, 2))
            except (ProcessLookupError, TypeError):
                out["finished"] += 1
            time.sleep(0.3)
        after = [nerloop("models", "--db", str(db), "p"), nerloop("jobs", "--db", str(db))]
        out["tracebacks_after"] += sum("Traceback" in a.stderr for a in after)
    conn = sqlite3.connect(db)
    folders = [Path(f) for (f,) in conn.execute("SELECT folder FROM models")]
    conn.close()
    registered = {f.resolve() for f in folders}
    out["registered_missing_or_half_written"] = sum(
        not (f / "config.json").is_file() or not any(f.glob("*.safetensors")) for f in folders)
    complete, hidden = model_folders(db)
    out["unregistered_complete_folders"] = sum(p.resolve() not in registered for p in complete)
    out["leftover_temp_folders"] = len(hidden)
    out["integrity_failures"] = int(integrity(db) != "ok")
    return out


# ---------------------------------------------------------------- concurrent writers

WRITER = """
import sys
from core.store import Store
store = Store(sys.argv[1])
ids = [int(i) for i in sys.argv[3].split(",")]
words = {r.id: r.words for r in store.sentences(1)}
for k in range(int(sys.argv[2])):
    sid = ids[k % len(ids)]
    aid = store.save_human(sid, ["O"] * len(words[sid]), annotator=sys.argv[4])
    print(aid, flush=True)
"""


def writers(work: Path, n: int, m: int, seed: int) -> dict:
    """n processes each saving m human annotations (Store.save_human) on one project at once, a third of them
    killed with kill -9 at random moments while they write; every annotation id a writer printed (after its commit)
    must be stored."""
    rng = random.Random(seed)
    (work / "writers").mkdir()
    db = new_db(work / "writers", "writers")
    conn = sqlite3.connect(db)
    ids = ",".join(str(i) for (i,) in conn.execute("SELECT id FROM sentences"))
    conn.close()
    logs = [work / "writers" / f"w{k}.out" for k in range(n)]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(m), ids, f"w{k}"], cwd=ROOT, env=ENV,
                              stdout=open(logs[k], "w"), stderr=subprocess.DEVNULL) for k in range(n)]
    killed = 0
    for k in rng.sample(range(n), n // 3):  # once it acknowledged a first save, at a random moment of its run
        while procs[k].poll() is None and not logs[k].stat().st_size:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
        killed += procs[k].poll() is None
        procs[k].kill()
    errors = sum(p.wait(timeout=900) not in (0, -signal.SIGKILL) for p in procs)
    acknowledged = {int(i) for log in logs for i in log.read_text().split()}
    conn = sqlite3.connect(db)
    stored = {i for (i,) in conn.execute("SELECT id FROM annotations WHERE source = 'human'")}
    conn.close()
    return {"writers": n, "saves_each": m, "killed": killed, "acknowledged": len(acknowledged),
            "stored": len(stored), "lost": len(acknowledged - stored), "writer_errors": errors,
            "integrity": integrity(db)}


# ---------------------------------------------------------------- corrupted databases

def corrupted(work: Path, n: int, seed: int) -> dict:
    """A valid database with bytes overwritten at random offsets, then `nerloop projects` and `nerloop import`:
    one-line errors (`*_clear_error`: exit code not 0, no traceback, whatever the wording), tracebacks, imports
    accepted into a corrupted file (integrity_check failing before or after), and corruptions SQLite cannot see
    (integrity_check ok)."""
    rng = random.Random(seed)
    (work / "corrupt").mkdir()
    good = new_db(work / "corrupt", "good")
    conn = sqlite3.connect(good)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = good.stat().st_size
    out = {"cases": n, "undetectable": 0, "projects_ok": 0, "projects_clear_error": 0, "import_accepted": 0,
           "import_accepted_into_corrupted": 0, "import_clear_error": 0, "tracebacks": 0, "examples": []}
    extra = work / "corrupt" / "extra.conll"
    extra.write_text("Zed B-PER\nsailed O\n")
    for k in range(n):
        db = work / "corrupt" / f"c{k}.db"
        shutil.copy(good, db)
        data = bytearray(db.read_bytes())
        for _ in range(rng.randint(1, 3)):
            at, length = rng.randrange(size), rng.choice([1, 4, 16, 100, 1000])
            data[at:at + length] = bytes(rng.randrange(256) for _ in range(min(length, size - at)))
        db.write_bytes(bytes(data))
        sound = integrity(db) == "ok"
        out["undetectable"] += sound
        projects = nerloop("projects", "--db", str(db))
        imported = nerloop("import", "--db", str(db), "p", str(extra))
        for r in (projects, imported):
            if "Traceback" in r.stderr:
                out["tracebacks"] += 1
                out["examples"].append(r.stderr[-300:])
        out["projects_ok"] += projects.returncode == 0
        out["projects_clear_error"] += projects.returncode != 0 and "Traceback" not in projects.stderr
        if imported.returncode == 0:
            out["import_accepted"] += 1
            out["import_accepted_into_corrupted"] += not sound or integrity(db) != "ok"
        elif "Traceback" not in imported.stderr:
            out["import_clear_error"] += 1
            if len(out["examples"]) < 6:
                out["examples"].append(imported.stderr.strip()[-200:])
    return out


# ---------------------------------------------------------------- memory of a large import

def peak_rss(proc: subprocess.Popen, every: float = 0.05) -> tuple[int, int]:
    """(peak RSS in bytes of the process and its children, exit code), polling until it ends."""
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(every)
    return peak, proc.returncode


def cli_memory(work: Path, big: Path) -> dict:
    """Peak RSS of `nerloop import` of the large file (psutil polling every 50 ms)."""
    db = work / "memory.db"
    nerloop("init", "--db", str(db), "p")
    start = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "core", "import", "--db", str(db), "p", str(big)], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, code = peak_rss(proc)
    return {"exit": code, "seconds": round(time.time() - start, 1), "peak_rss_mb": round(peak / 2**20),
            "output": proc.stdout.read().strip()[-200:] + proc.stderr.read().strip()[-300:]}


def app_memory(work: Path, big: Path, timeout_s: float) -> dict:
    """The server's RSS through an upload of the large file on the Upload page (Playwright, Debian chromium):
    at start (bare, and once the first page loaded the app's modules), its peak while the file is previewed and
    imported, 30 s and 150 s after the browser closed; "back" compares the last with the loaded start."""
    from playwright.sync_api import expect, sync_playwright

    home = work / "app-home"
    home.mkdir()
    out: dict = {}
    with server(work, ["--server.maxUploadSize", "1000"], env={**ENV, "NERLOOP_HOME": str(home)}) as (url, pid, _):
        ps = psutil.Process(pid)
        out["start_rss_mb"] = round(ps.memory_info().rss / 2**20)
        peak = {"rss": ps.memory_info().rss}

        def sample(page, ms: int) -> None:
            for _ in range(max(1, ms // 200)):
                peak["rss"] = max(peak["rss"], ps.memory_info().rss)
                page.wait_for_timeout(200)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            expect(page.locator('[data-testid="stMetric"]').first).to_be_visible(timeout=120_000)
            out["after_first_page_rss_mb"] = round(ps.memory_info().rss / 2**20)
            page.locator('[data-testid="stSidebarNav"] a', has_text="Upload").first.click()
            expect(page.locator("h1", has_text="Upload")).to_be_visible(timeout=60_000)
            started = time.time()
            page.locator('input[type="file"]').first.set_input_files(str(big))  # the corpus uploader
            split = page.locator('[data-testid="stSelectbox"]').filter(has_text="Split")  # a labelled file's: chosen
            while time.time() - started < timeout_s and not split.count():
                sample(page, 1000)
            split.first.click()
            page.get_by_role("option", name=re.compile(r"^Train")).click()
            button = page.get_by_role("button", name=re.compile(r"^Import \d+ new sentences"))
            while time.time() - started < timeout_s and not (button.count() and button.is_enabled()):
                sample(page, 1000)
            out["preview_seconds"] = round(time.time() - started, 1)
            button.click()
            done = page.get_by_text(re.compile(r"\d+ added"))
            while time.time() - started < timeout_s and not done.count():
                sample(page, 1000)
            out["imported"] = done.first.inner_text() if done.count() else "timed out"
            out["total_seconds"] = round(time.time() - started, 1)
            sample(page, 5000)
            browser.close()
        out["peak_rss_mb"] = round(peak["rss"] / 2**20)
        after = []
        for _ in range(150):  # past server.disconnectedSessionTTL (120 s), when the closed session and its files go
            time.sleep(1)
            after.append(ps.memory_info().rss)
        out["after_close_30s_rss_mb"] = round(after[29] / 2**20)
        out["after_close_rss_mb"] = round(after[-1] / 2**20)
        out["back_within_100_mb_of_start"] = after[-1] / 2**20 - out["after_first_page_rss_mb"] <= 100
    return out


# ---------------------------------------------------------------- report

def markdown(result: dict) -> str:
    m, c, w, d = (result[k] for k in ("malformed", "crashes", "writers", "corrupted"))
    rows = [
        ("malformed files (`nerloop import`)", m["cases"],
         f"{m['clear_errors']} clear `file:line:` refusals, {m['accepted']} accepted, {m['unclear_errors']} other "
         f"errors, {m['tracebacks']} tracebacks, {m['partial_imports']} partial imports, {m['unreadable_after']} "
         "databases unreadable after"),
        ("kill -9 mid-train / mid-save", c["cases"],
         f"{c['killed']} killed, {c['registered_missing_or_half_written']} registered versions missing or "
         f"half-written, {c['unregistered_complete_folders']} complete unregistered folders, "
         f"{c['leftover_temp_folders']} leftover temporary folders, {c['integrity_failures']} integrity failures, "
         f"{c['tracebacks_after']} tracebacks"),
        ("concurrent writers", f"{w['writers']} x {w['saves_each']}",
         f"{w['killed']} killed, {w['acknowledged']} saves acknowledged, {w['lost']} lost, integrity {w['integrity']}"),
        ("corrupted databases", d["cases"],
         f"{d['undetectable']} invisible to integrity_check, `projects`: {d['projects_ok']} ran, "
         f"{d['projects_clear_error']} one-line errors; `import`: {d['import_accepted']} accepted "
         f"({d['import_accepted_into_corrupted']} into a corrupted file), {d['import_clear_error']} one-line errors; "
         f"{d['tracebacks']} tracebacks"),
    ]
    cli, app = result["memory"]["cli"], result["memory"].get("app") or {}
    rows.append((f"{result['memory']['file_mb']} MB CoNLL import, CLI", result["memory"]["sentences"],
                 f"peak RSS {cli['peak_rss_mb']} MB, {cli['seconds']} s, exit {cli['exit']}"))
    if app:
        rows.append((f"{result['memory']['file_mb']} MB CoNLL import, app", result["memory"]["sentences"],
                     f"server RSS at start {app.get('start_rss_mb')} MB bare, {app.get('after_first_page_rss_mb')} MB "
                     f"with the app loaded; peak {app.get('peak_rss_mb')} MB; {app.get('after_close_30s_rss_mb')} MB 30 s "
                     f"and {app.get('after_close_rss_mb')} MB 150 s after the browser closed; {app.get('imported')}"))
    lines = [f"# Robustness, {result['date']}{' (quick)' if result['quick'] else ''}", "",
             "| category | cases | outcome |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few cases per category and a 5 MB file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-app", action="store_true", help="skip the browser upload")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--only", help="comma-separated categories to run again into the day's result "
                    "(malformed,crashes,writers,corrupted,memory)")
    args = ap.parse_args()
    q = args.quick
    date = dt.date.today().isoformat()
    stem = args.out / f"robustness-{date}{'-quick' if q else ''}"
    only = set(args.only.split(",")) if args.only else None
    result: dict = json.loads(stem.with_suffix(".json").read_text()) if only else {}
    result.update({"date": date, "quick": q, "seed": args.seed})
    with tempfile.TemporaryDirectory(prefix="nerloop-robust-") as tmp:
        work = Path(tmp)
        steps = [("malformed", lambda: malformed(work, 40 if q else 300, args.seed)),
                 ("crashes", lambda: crashes(work, 3 if q else 10, args.seed)),
                 ("writers", lambda: writers(work, 4 if q else 8, 40 if q else 300, args.seed)),
                 ("corrupted", lambda: corrupted(work, 10 if q else 80, args.seed))]
        for key, step in steps:
            if only is not None and key not in only:
                continue
            t = time.time()
            result[key] = step()
            print(f"{key}: {time.time() - t:.0f} s {json.dumps(result[key])[:400]}", flush=True)
        mb = 0 if only is not None and "memory" not in only else 5 if q else 50
        if mb:
            big = work / "big.conll"
            result["memory"] = {"file_mb": mb, "sentences": generate_conll(big, mb * 1_000_000)}
            result["memory"]["cli"] = cli_memory(work, big)
            print(f"cli memory: {result['memory']['cli']}", flush=True)
            if not args.no_app and Path(CHROMIUM).exists():
                result["memory"]["app"] = app_memory(work, big, 300 if q else 1200)
                print(f"app memory: {result['memory']['app']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
