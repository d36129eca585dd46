"""Round trips of CoNLL-2003 sentences through real Label Studio and doccano servers, and what differs.

Sentences exported by nerloop are imported into each server through its HTTP API, exported back by the server,
imported into nerloop and exported as CoNLL again.

    python bench/interop_servers.py                    # both servers: bench/results/interop-servers-<date>.{json,md}
    python bench/interop_servers.py --nerloop ../main  # the nerloop of another checkout (after merging fixes)
    python bench/interop_servers.py --only doccano --label after

Each tool runs from a virtual environment of its own under ~/.cache/nerloop-bench/ (made and pip-installed on the
first run: label-studio 1.23.2 with sentry-sdk<3; doccano 1.8.4 with marshmallow<3.20 and numpy<2), on 127.0.0.1 on
a free port, with its data in a temporary folder, and is stopped by process id (with its children) at the end, even
on failure. Not part of `make test`.

The sample: the first N sentences of ../shared/data/conll2003/train.txt (never copied into the repository) with
their `-DOCSTART-` lines, word and NER columns only (neither server holds POS or chunk columns). nerloop imports it
(the `nerloop` CLI of --nerloop, NERLOOP_HOME in a temporary folder) with the last 2 sentences that have entities
left without them; those get their entities in the server, through its API, as an annotator would draw them. The
CoNLL export after the trip (IOB1, CoNLL-2003's scheme) is compared with nerloop's CoNLL export of the whole sample:
sentences with other words, entities kept (type and characters), the server-annotated sentences, documents, bytes.
The same files imported straight back into nerloop, without a server, are the "no server" rows. The results hold
counts and the changed words, not the corpus's lines; `--keep DIR` keeps every file of the trips (outside the repo).
"""
from __future__ import annotations

import argparse
import datetime as dt
import difflib
import glob
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._app import free_port  # noqa: E402

CONLL2003 = ROOT.parent / "shared" / "data" / "conll2003" / "train.txt"
CACHE = Path.home() / ".cache" / "nerloop-bench"
TOOLS = {
    "labelstudio": ("3.11", ["label-studio==1.23.2", "sentry-sdk<3"]),  # sentry-sdk 3 stops label-studio starting
    "doccano": ("3.10", ["doccano==1.8.4", "marshmallow<3.20", "numpy<2"]),
}
EXT = {"labelstudio": ".json", "doccano": ".jsonl"}
PACKAGE = {"labelstudio": "label-studio", "doccano": "doccano"}
SERVER_ANNOTATED = 2
USER, PASSWORD = "bench@nerloop.local", "bench-" + secrets.token_hex(8)
Sentence = list[tuple[str, str]]


# ---------------------------------------------------------------- processes

def stop(pid: int) -> None:
    """Terminate process `pid` and its children (killed after 20 s)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    for p in psutil.wait_procs(procs, timeout=20)[1]:
        p.kill()


@contextmanager
def running(commands: list[tuple[list[str], Path]], env: dict, ready: Callable[[], object],
            timeout: float = 600) -> Iterator[object]:
    """Start each (command, log file) niced, wait until `ready()` returns something true, yield it; stop them all by
    process id at the end. RuntimeError with the logs' tails when one exits or the wait times out."""
    procs = []
    try:
        for cmd, log in commands:
            with open(log, "wb") as out:
                procs.append(subprocess.Popen(["nice", "-n", "10", *cmd], stdout=out, stderr=subprocess.STDOUT,
                                              env=env, start_new_session=True))
        deadline = time.time() + timeout
        while not (answer := ready()):
            if time.time() > deadline or any(p.poll() is not None for p in procs):
                tails = "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-1500:]}" for _, log in commands)
                raise RuntimeError(f"server did not start:\n{tails}")
            time.sleep(1)
        yield answer
    finally:
        for p in procs:
            stop(p.pid)


def probe(fn: Callable[[], object]) -> Callable[[], object]:
    """`fn` with connection errors read as "not yet"."""
    def call() -> object:
        try:
            return fn()
        except requests.RequestException:
            return None
    return call


# ---------------------------------------------------------------- virtual environments

def interpreter(version: str) -> str:
    """A working `pythonX.Y` (PATH first, then pyenv's versions)."""
    home = Path.home() / ".pyenv" / "versions"
    for cand in [shutil.which(f"python{version}"), *sorted(glob.glob(f"{home}/{version}.*/bin/python{version}"))]:
        if cand and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
            return cand
    raise SystemExit(f"no working python{version} (needed for its virtual environment)")


def venv(tool: str, cache: Path) -> Path:
    """The tool's virtual environment (its bin folder), made and pip-installed when missing or out of date."""
    version, packages = TOOLS[tool]
    folder, marker = cache / tool, cache / tool / "nerloop-bench-requirements.txt"
    wanted = "\n".join(packages) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return folder / "bin"
    print(f"{tool}: installing {' '.join(packages)} into {folder} (a few minutes)", flush=True)
    subprocess.run(["nice", "-n", "10", interpreter(version), "-m", "venv", "--clear", str(folder)], check=True)
    subprocess.run(["nice", "-n", "10", str(folder / "bin" / "pip"), "install", "-q", *packages], check=True)
    marker.write_text(wanted)
    return folder / "bin"


def run_python(bin_dir: Path, code: str) -> str:
    """What `code` prints, run by the environment's interpreter."""
    return subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


# ---------------------------------------------------------------- Label Studio

@contextmanager
def label_studio(bin_dir: Path, work: Path) -> Iterator[tuple[str, dict]]:
    """A Label Studio server: (base url, auth headers) of its first user, a legacy API token."""
    port, token, data = free_port(), secrets.token_hex(20), work / "label-studio"
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data)}
    cmd = [str(bin_dir / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port),
           "--data-dir", str(data), "--username", USER, "--password", PASSWORD, "--user-token", token,
           "--enable-legacy-api-token"]
    url = f"http://127.0.0.1:{port}"
    ready = probe(lambda: requests.get(f"{url}/health", timeout=5).ok)
    with running([(cmd, work / "label-studio.log")], env, ready):
        yield url, {"Authorization": f"Token {token}"}


def label_config(labels: list[str]) -> str:
    items = "".join(f'<Label value="{label}"/>' for label in labels)
    return f'<View><Labels name="label" toName="text">{items}</Labels><Text name="text" value="$text"/></View>'


def label_studio_trip(server: tuple[str, dict], upload: bytes, labels: list[str],
                      annotate: dict[int, list[tuple[int, int, str]]]) -> bytes:
    """Upload nerloop's tasks into a new project, add one annotation to each task of `annotate` (position -> spans
    on its text), return the JSON export of every task."""
    url, auth = server
    r = requests.post(f"{url}/api/projects", headers=auth, timeout=60,
                      json={"title": "nerloop round trip", "label_config": label_config(labels)})
    r.raise_for_status()
    pid = r.json()["id"]
    r = requests.post(f"{url}/api/projects/{pid}/import", headers=auth, timeout=300,
                      files={"file": ("nerloop.json", upload, "application/json")})
    r.raise_for_status()
    r = requests.get(f"{url}/api/tasks", headers=auth, params={"project": pid, "page_size": 10_000}, timeout=60)
    r.raise_for_status()
    tasks = sorted(r.json()["tasks"], key=lambda t: t["id"])
    for k, found in annotate.items():
        text = tasks[k]["data"]["text"]
        result = [{"id": f"bench-{k}-{n}", "from_name": "label", "to_name": "text", "type": "labels",
                   "value": {"start": a, "end": b, "text": text[a:b], "labels": [label]}}
                  for n, (a, b, label) in enumerate(found)]
        requests.post(f"{url}/api/tasks/{tasks[k]['id']}/annotations", headers=auth, json={"result": result},
                      timeout=60).raise_for_status()
    r = requests.get(f"{url}/api/projects/{pid}/export", headers=auth, timeout=300,
                     params={"exportType": "JSON", "download_all_tasks": "true"})
    r.raise_for_status()
    return r.content


# ---------------------------------------------------------------- doccano

@contextmanager
def doccano(bin_dir: Path, work: Path) -> Iterator[tuple[str, dict]]:
    """A doccano server (gunicorn bound to 127.0.0.1, its Celery worker for imports and exports): (base url, auth
    headers of its admin)."""
    home, port = work / "doccano", free_port()
    backend = run_python(bin_dir, "import backend, os; print(os.path.dirname(backend.__file__))")
    env = {**os.environ, "DOCCANO_HOME": str(home), "STANDALONE": "True", "DEBUG": "False",
           "DJANGO_SETTINGS_MODULE": "config.settings.production", "DATABASE_URL": f"sqlite:///{home}/db.sqlite3",
           "MEDIA_ROOT": str(home / "media")}
    for args in (["init"], ["createuser", "--username", "admin", "--password", PASSWORD]):
        subprocess.run(["nice", "-n", "10", str(bin_dir / "doccano"), *args], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"  # `doccano webserver` binds 0.0.0.0: its gunicorn app, bound here instead
    web = [str(bin_dir / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--chdir", backend,
           "config.wsgi"]
    worker = [str(bin_dir / "doccano"), "task", "--concurrency", "1"]

    def login() -> str | None:
        r = requests.post(f"{url}/v1/auth/login/", json={"username": "admin", "password": PASSWORD}, timeout=5)
        return r.json()["key"] if r.ok else None

    with running([(web, work / "doccano-web.log"), (worker, work / "doccano-worker.log")], env, probe(login)) as key:
        yield url, {"Authorization": f"Token {key}"}


def doccano_wait(server: tuple[str, dict], task_id: str) -> dict:
    """A Celery task's final status; RuntimeError with its error when it failed."""
    url, auth = server
    for _ in range(600):
        status = requests.get(f"{url}/v1/tasks/status/{task_id}", headers=auth, timeout=60).json()
        if status.get("ready"):
            result = status.get("result")  # an import's: {"error": [records refused]}; an export's: its file
            if status.get("error") or isinstance(result, dict) and result.get("error"):
                raise RuntimeError(f"doccano task failed: {status}")
            return status
        time.sleep(1)
    raise RuntimeError(f"doccano task {task_id} did not finish")


def doccano_trip(server: tuple[str, dict], upload: bytes, labels: list[str],
                 annotate: dict[int, list[tuple[int, int, str]]]) -> bytes:
    """Upload nerloop's records into a new sequence-labelling project, add the spans of `annotate` (position ->
    spans on its text) through the API, return the JSONL export (the admin's file of the zip)."""
    url, auth = server
    r = requests.post(f"{url}/v1/projects", headers=auth, timeout=60, json={
        "name": "nerloop round trip", "description": "bench/interop_servers.py", "project_type": "SequenceLabeling",
        "resourcetype": "SequenceLabelingProject"})
    r.raise_for_status()
    pid = r.json()["id"]
    for label in labels:
        requests.post(f"{url}/v1/projects/{pid}/span-types", headers=auth, timeout=60, json={
            "text": label, "background_color": "#209cee", "text_color": "#ffffff"}).raise_for_status()
    types = {t["text"]: t["id"] for t in requests.get(f"{url}/v1/projects/{pid}/span-types", headers=auth,
                                                      timeout=60).json()}
    r = requests.post(f"{url}/v1/fp/process/", headers=auth, timeout=300, files={"filepond": ("nerloop.jsonl", upload)})
    r.raise_for_status()
    r = requests.post(f"{url}/v1/projects/{pid}/upload", headers=auth, timeout=60, json={
        "uploadIds": [r.text], "format": "JSONL", "task": "SequenceLabeling", "column_data": "text",
        "column_label": "label", "delimiter": ",", "encoding": "utf_8"})
    r.raise_for_status()
    doccano_wait(server, r.json()["task_id"])
    examples = requests.get(f"{url}/v1/projects/{pid}/examples", headers=auth, params={"limit": 10_000},
                            timeout=60).json()["results"]
    examples.sort(key=lambda e: e["id"])
    for k, found in annotate.items():
        for a, b, label in found:
            requests.post(f"{url}/v1/projects/{pid}/examples/{examples[k]['id']}/spans", headers=auth, timeout=60,
                          json={"start_offset": a, "end_offset": b, "label": types[label]}).raise_for_status()
    r = requests.post(f"{url}/v1/projects/{pid}/download", headers=auth, timeout=60,
                      json={"format": "JSONL", "exportApproved": False})
    r.raise_for_status()
    task_id = r.json()["task_id"]
    doccano_wait(server, task_id)
    r = requests.get(f"{url}/v1/projects/{pid}/download", headers=auth, params={"taskId": task_id}, timeout=300)
    r.raise_for_status()
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        return zf.read("admin.jsonl")


SERVERS = {"labelstudio": (label_studio, label_studio_trip), "doccano": (doccano, doccano_trip)}


# ---------------------------------------------------------------- nerloop

class Nerloop:
    """The `nerloop` CLI of a checkout, on a database in a temporary folder."""

    def __init__(self, checkout: Path, python: str, home: Path) -> None:
        self.checkout, self.python, self.home = checkout, python, home
        home.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "NERLOOP_HOME": str(home), "NERLOOP_DB": str(home / "nerloop.db"),
                    "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(checkout)}

    def __call__(self, *args: str) -> str:
        r = subprocess.run([self.python, "-m", "core", *args], cwd=self.checkout, env=self.env, capture_output=True,
                           text=True, timeout=600)
        if r.returncode:
            raise RuntimeError(f"nerloop {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return (r.stdout + r.stderr).strip()

    def through(self, project: str, source: Path, out: Path, fmt: str, *import_args: str) -> str:
        """Import `source` into a new project and export it as `fmt` to `out` (CoNLL in IOB1); the import's report."""
        self("init", project)
        said = self("import", project, str(source), *import_args)
        self("export", project, "--format", fmt, "--out", str(out), "--unlabeled",
             *(["--scheme", "iob1"] if fmt == "conll" else []))
        return said

    def commit(self) -> str:
        """The checkout's commit, noting uncommitted changes to core/."""
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(self.checkout), *args], capture_output=True, text=True).stdout
        dirty = git("status", "--porcelain", "--", "core")
        return git("rev-parse", "--short", "HEAD").strip() + (" (uncommitted changes in core/)" if dirty else "")


# ---------------------------------------------------------------- CoNLL sample and comparison

def sample(n: int, source: Path = CONLL2003) -> list[list[list[str]]]:
    """The first n sentences of `source` with the `-DOCSTART-` lines among them: blocks of [word, tag] rows."""
    blocks, count = [], 0
    for block in source.read_text().split("\n\n"):
        rows = [[line.split()[0], line.split()[-1]] for line in block.strip("\n").split("\n") if line.strip()]
        if not rows:
            continue
        blocks.append(rows)
        count += rows[0][0] != "-DOCSTART-"
        if count == n:
            return blocks
    raise SystemExit(f"{source} has fewer than {n} sentences")


def conll(blocks: list[list[list[str]]]) -> str:
    return "".join("\n".join(" ".join(row) for row in rows) + "\n\n" for rows in blocks)


def parse(data: str) -> tuple[list[Sentence], int]:
    """(sentences as (word, tag) lists, number of -DOCSTART- lines) of a CoNLL export (word first, tag last)."""
    out, docs = [], 0
    for block in data.split("\n\n"):
        rows = [line.split() for line in block.split("\n") if line.strip()]
        if rows and rows[0][0] == "-DOCSTART-":
            docs += 1
        elif rows:
            out.append([(r[0], r[-1]) for r in rows])
    return out, docs


def entities(s: Sentence) -> list[tuple[int, int, str]]:
    """(first word, end word, type) of IOB1 or IOB2 tags."""
    out: list[list] = []
    for i, (_, tag) in enumerate(s):
        kind = None if tag == "O" else tag[2:]
        if kind is None:
            continue
        if tag.startswith("B-") or not out or out[-1][1] != i or out[-1][2] != kind:
            out.append([i, i + 1, kind])
        else:
            out[-1][1] = i + 1
    return [tuple(e) for e in out]


def keys(sentences: list[Sentence]) -> Counter:
    """Each entity as (sentence, type, its characters without spaces): the same entity on other words too."""
    return Counter((k, kind, "".join(w for w, _ in s[a:b])) for k, s in enumerate(sentences)
                   for a, b, kind in entities(s))


def char_spans(text: str, s: Sentence) -> list[tuple[int, int, str]]:
    """The entities of `s` as character spans on `text`, which holds its words in order."""
    starts, pos = [], 0
    for word, _ in s:
        pos = text.index(word, pos)
        starts.append(pos)
        pos += len(word)
    return [(starts[a], starts[b - 1] + len(s[b - 1][0]), kind) for a, b, kind in entities(s)]


def word_changes(before: Sentence, after: Sentence) -> list[str]:
    """The word runs that differ: "'s -> ' s"."""
    a, b = [w for w, _ in before], [w for w, _ in after]
    return [f"{' '.join(a[i:j]) or '(none)'} -> {' '.join(b[k:m]) or '(none)'}"
            for op, i, j, k, m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op != "equal"]


def compare(expected: str, after: str, annotated: list[int]) -> dict:
    """Sentences with other words, entities kept, the server-annotated sentences, documents and bytes, with every
    difference listed."""
    (want, want_docs), (got, got_docs) = parse(expected), parse(after)
    changed = [{"sentence": k, "words": word_changes(x, y)} for k, (x, y) in enumerate(zip(want, got))
               if [w for w, _ in x] != [w for w, _ in y]]
    tagged = [{"sentence": k, "tags": [f"{w} {t} -> {u}" for (w, t), (_, u) in zip(x, y) if t != u]}
              for k, (x, y) in enumerate(zip(want, got)) if [w for w, _ in x] == [w for w, _ in y] and x != y]
    a, b = keys(want), keys(got)
    return {"sentences": len(want), "sentences_back": len(got), "other_words": len(changed),
            "entities": sum(a.values()), "entities_kept": sum((a & b).values()),
            "entities_added": sum((b - a).values()),
            "annotated_in_server": len(annotated),
            "annotated_right": sum(k < len(got) and got[k] == want[k] for k in annotated),
            "documents": want_docs, "documents_back": got_docs, "bytes_equal": expected == after,
            "words_changed": changed, "tags_changed": tagged, "entities_lost": sorted(map(list, (a - b).elements())),
            "entities_new": sorted(map(list, (b - a).elements())),
            "diff_lines": sum(1 for _ in difflib.unified_diff(expected.splitlines(), after.splitlines(), n=0))}


def export_keys(fmt: str, data: bytes) -> dict:
    """The keys of the server's first exported record: top level, and a task's `data` and annotations."""
    if fmt == "doccano":
        return {"record": list(json.loads(data.decode().split("\n")[0]))}
    task = json.loads(data)[0]
    return {"task": list(task), "data": list(task.get("data", {})),
            "annotation": list((task.get("annotations") or [{}])[0])}


# ---------------------------------------------------------------- the trips

def trips(fmt: str, nerloop: Nerloop, work: Path, blocks: list[list[list[str]]], server_bin: Path | None) -> list[dict]:
    """The `fmt` trips, without a server and (with `server_bin`) through one."""
    folder = work / fmt
    folder.mkdir()
    gold = folder / "sample.conll"
    gold.write_text(conll(blocks))
    nerloop.through(f"{fmt}-gold", gold, folder / "expected.conll", "conll")
    expected = (folder / "expected.conll").read_text()
    sentences = parse(expected)[0]
    annotated = [k for k, s in enumerate(sentences) if entities(s)][-SERVER_ANNOTATED:]
    sent = folder / "sent.conll"
    sent.write_text(conll(untagged(blocks, annotated)))
    upload = folder / f"nerloop{EXT[fmt]}"
    nerloop.through(f"{fmt}-out", sent, folder / "sent-export.conll", "conll")
    nerloop("export", f"{fmt}-out", "--format", fmt, "--out", str(upload), "--unlabeled")
    rows = [row(f"{fmt} (no server)", fmt, nerloop, upload, (folder / "sent-export.conll").read_text(), [],
                folder / "direct")]
    if server_bin is None:
        return rows
    labels = sorted({kind for s in sentences for _, _, kind in entities(s)})
    start, trip = SERVERS[fmt]
    texts = texts_of(fmt, upload.read_bytes())
    annotate = {k: char_spans(texts[k], sentences[k]) for k in annotated}
    t = time.time()
    with start(server_bin, folder) as server:
        print(f"{fmt}: server up in {time.time() - t:.0f} s", flush=True)
        back = trip(server, upload.read_bytes(), labels, annotate)
    (folder / f"server-export{EXT[fmt]}").write_bytes(back)
    rows.append(row(f"{fmt} server", fmt, nerloop, folder / f"server-export{EXT[fmt]}", expected, annotated,
                    folder / "server") | {"export_keys": export_keys(fmt, back)})
    return rows


def untagged(blocks: list[list[list[str]]], which: list[int]) -> list[list[list[str]]]:
    """The blocks with the sentences numbered in `which` (not counting -DOCSTART-) tagged O throughout."""
    out, k = [], 0
    for rows in blocks:
        if rows[0][0] != "-DOCSTART-":
            rows = [[w, "O"] for w, _ in rows] if k in which else rows
            k += 1
        out.append(rows)
    return out


def texts_of(fmt: str, data: bytes) -> list[str]:
    """The text of each record of nerloop's export, in order."""
    if fmt == "doccano":
        return [json.loads(line)["text"] for line in data.decode().splitlines() if line.strip()]
    return [t["data"]["text"] for t in json.loads(data)]


def row(name: str, fmt: str, nerloop: Nerloop, source: Path, expected: str, annotated: list[int], out: Path) -> dict:
    """`source` imported into a new nerloop project and exported as CoNLL, compared with `expected`."""
    project = out.name + "-" + fmt
    said = nerloop.through(project, source, out.with_suffix(".conll"), "conll", "--format", fmt)
    result = {"trip": name, "import_report": said} | compare(expected, out.with_suffix(".conll").read_text(), annotated)
    print(f"{name}: {summary(result)}", flush=True)
    return result


def summary(r: dict) -> str:
    server = (f", {r['annotated_right']} of {r['annotated_in_server']} annotated in the server right"
              if r["annotated_in_server"] else "")
    return (f"{r['sentences_back']} of {r['sentences']} sentences back, {r['other_words']} with other words, "
            f"{r['entities_kept']} of {r['entities']} entities kept ({r['entities_added']} new){server}, "
            f"{r['documents_back']} of {r['documents']} documents, bytes {'equal' if r['bytes_equal'] else 'differ'}")


# ---------------------------------------------------------------- report

def markdown(result: dict) -> str:
    lines = [f"# Round trips through real servers, {result['date']}", "",
             f"nerloop {result['nerloop']['commit']} ({result['nerloop']['checkout']})"
             + "".join(f"; {v}" for v in result["servers"].values())
             + f"; {result['sentences']} CoNLL-2003 sentences (word and NER columns), {SERVER_ANNOTATED} of them "
               "annotated in the server.", "",
             "| trip | sentences back | with other words | entities kept | new entities | annotated in the server, "
             "right | documents | CoNLL bytes equal |", "|---|---|---|---|---|---|---|---|"]
    for r in result["trips"]:
        server = f"{r['annotated_right']} of {r['annotated_in_server']}" if r["annotated_in_server"] else "-"
        lines.append(f"| {r['trip']} | {r['sentences_back']} of {r['sentences']} | {r['other_words']} | "
                     f"{r['entities_kept']} of {r['entities']} | {r['entities_added']} | {server} | "
                     f"{r['documents_back']} of {r['documents']} | {'yes' if r['bytes_equal'] else 'no'} |")
    for r in result["trips"]:
        lines += ["", f"## {r['trip']}: what differs", ""]
        lines += [f"- sentence {c['sentence']}: {'; '.join(f'`{w}`' for w in c['words'])}" for c in r["words_changed"]]
        lines += [f"- sentence {c['sentence']}, tags: {'; '.join(f'`{t}`' for t in c['tags'])}"
                  for c in r["tags_changed"]]
        lines += [f"- entity lost: sentence {k} {kind} `{chars}`" for k, kind, chars in r["entities_lost"]]
        lines += [f"- entity new: sentence {k} {kind} `{chars}`" for k, kind, chars in r["entities_new"]]
        if r["documents_back"] != r["documents"]:
            lines.append(f"- documents: {r['documents']} -> {r['documents_back']}")
        if not r["bytes_equal"]:
            lines.append(f"- the CoNLL bytes differ: {r['diff_lines']} lines of unified diff (files kept with --keep)")
        if r.get("export_keys"):
            lines.append("- the server's export: " + "; ".join(f"{k} keys {', '.join(v)}"
                                                                for k, v in r["export_keys"].items()))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nerloop", type=Path, default=ROOT, help="the nerloop checkout to run (default: this one)")
    ap.add_argument("--python", help="the interpreter that runs nerloop (default: CHECKOUT/.venv/bin/python if "
                    "there is one, else this one)")
    ap.add_argument("--only", choices=sorted(SERVERS), help="one server")
    ap.add_argument("--no-servers", action="store_true", help="only the trips without a server (no installs)")
    ap.add_argument("--sentences", type=int, default=30)
    ap.add_argument("--cache", type=Path, default=CACHE, help="where the servers' virtual environments live")
    ap.add_argument("--label", help="added to the result's name (e.g. before, after)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--keep", type=Path, help="copy every file of the trips (uploads, server exports, CoNLL) here")
    args = ap.parse_args()
    checkout = args.nerloop.resolve()
    python = args.python or next((str(p) for p in [checkout / ".venv" / "bin" / "python"] if p.exists()),
                                 sys.executable)
    fmts = [args.only] if args.only else list(SERVERS)
    bins = {} if args.no_servers else {f: venv(f, args.cache) for f in fmts}
    servers = {f: f"{PACKAGE[f]} {run_python(b, f'import importlib.metadata as m; print(m.version({PACKAGE[f]!r}))')}"
               for f, b in bins.items()}
    blocks = sample(args.sentences)
    date = dt.date.today().isoformat()
    with tempfile.TemporaryDirectory(prefix="nerloop-servers-") as tmp:
        work = Path(tmp)
        nerloop = Nerloop(checkout, python, work / "home")
        try:
            result = {"date": date, "sentences": args.sentences, "servers": servers,
                      "nerloop": {"checkout": str(checkout), "commit": nerloop.commit(), "python": python},
                      "trips": [r for f in fmts for r in trips(f, nerloop, work, blocks, bins.get(f))]}
        finally:
            if args.keep:
                shutil.copytree(work, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("home", "media"))
    stem = args.out / f"interop-servers-{date}{'-' + args.label if args.label else ''}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
