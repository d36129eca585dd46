"""App responsiveness: AppTest rerun times per page on a 20,000-sentence project, and the labelling loop.

    python bench/app.py            # writes bench/results/app-<date>.json and .md

The project holds CoNLL-2003 sentences read from ../shared/data/conll2003 into a temporary database
(never copied into the repository): 500 human-labelled train sentences, 300 gold dev sentences, the
rest unlabelled. A first version is trained beforehand; then
- rerun: each page is opened once (model cached, predictions warm), then re-run N times; p50/p95 in ms;
- loop: on the Train page, click Start (warm start, default settings) and time until the new version
  serves predictions in Annotate (the job promoted it and the page shows its tags).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"
PAGES = ["home", "pages/upload.py", "pages/annotate.py", "pages/train.py", "pages/evaluate.py", "pages/export.py"]


def build(db: Path, args) -> int:
    """The benchmark project; returns its id."""
    from core import formats, jobs
    from core.store import Store

    store = Store(db)
    pid = store.create_project("bench", ["PER", "LOC", "ORG", "MISC"])
    train = formats.read(DATA / "train.txt").sentences
    dev = formats.read(DATA / "dev.txt").sentences
    test = formats.read(DATA / "test.txt").sentences
    human, rest = train[: args.human], train[args.human :]
    store.import_sentences(pid, human, split="train", source="human", annotator="bench", source_name="train.txt")
    store.import_sentences(pid, dev[: args.dev], split="dev", source_name="dev.txt")
    pool = [replace(s, tags=None) for s in rest + dev[args.dev :] + test]
    store.import_sentences(pid, pool[: args.sentences - args.human - args.dev], split="unlabeled", source_name="pool")
    job = jobs.create(store, pid, {"min_steps": args.first_steps, "promote": "always"})
    jobs.execute(store, job)
    return pid


def app_test(pid: int, page: str):
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    if not getattr(PagesManager, "_nerloop_patched", False):  # as on a server once st.navigation ran (tests/conftest.py)
        init = PagesManager.__init__

        def patched(self, *a, **kw):
            init(self, *a, **kw)
            PagesManager.uses_pages_directory = False

        PagesManager.__init__, PagesManager._nerloop_patched = patched, True

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state["project_id"] = pid
    at.run()
    if page != "home":
        at.switch_page(page).run()
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception}")
    return at


def rerun_times(pid: int, n: int) -> dict:
    out = {}
    for page in PAGES:
        t = time.perf_counter()
        at = app_test(pid, page)
        first = (time.perf_counter() - t) * 1000
        times = []
        for _ in range(n):
            t = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - t) * 1000)
        out[page] = {"first_ms": first, "p50_ms": float(np.percentile(times, 50)),
                     "p95_ms": float(np.percentile(times, 95)), "reruns": n}
        print(f"  {page}: first {first:.0f} ms, rerun p50 {out[page]['p50_ms']:.0f} ms", flush=True)
    return out


def loop_time(db: Path, pid: int) -> dict:
    """Click Start on the Train page; time until Annotate shows the new serving version's predictions."""
    from core.store import Store

    store = Store(db)
    before = store.serving(pid).id
    at = app_test(pid, "pages/train.py")
    t0 = time.perf_counter()
    at.button(key="train_start").click().run()
    job = store.jobs(pid)[0]
    while True:
        serving = store.serving(pid)
        job = store.job(job.id)
        if serving.id != before:
            break
        if job.status in ("failed", "cancelled") or (job.status == "done" and serving.id == before):
            raise RuntimeError(f"job {job.id} ended {job.status} without a new serving version: {job.error}")
        time.sleep(0.2)
    promoted = time.perf_counter() - t0
    ann = app_test(pid, "pages/annotate.py")
    total = time.perf_counter() - t0
    text = " ".join(m.value for m in ann.markdown)
    return {"seconds_to_promoted": promoted, "seconds_to_annotate": total, "job_id": job.id,
            "new_version": serving.name, "shown_in_annotate": serving.name in text,
            "job_params": job.params, "train_sentences": (serving.metrics or {}).get("train_sentences")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=20000)
    ap.add_argument("--human", type=int, default=500)
    ap.add_argument("--dev", type=int, default=300)
    ap.add_argument("--first-steps", type=int, default=300, help="steps of the first (cold) version")
    ap.add_argument("--reruns", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        os.environ["NERLOOP_DB"] = str(db)
        t = time.perf_counter()
        pid = build(db, args)
        print(f"built project in {time.perf_counter() - t:.0f} s", flush=True)
        reruns = rerun_times(pid, args.reruns)
        loop = loop_time(db, pid)
        print(f"  loop: {loop['seconds_to_annotate']:.1f} s from Start to Annotate", flush=True)
    import torch

    res = {"date": dt.date.today().isoformat(), "sentences": args.sentences, "human_labelled": args.human,
           "dev": args.dev, "device": f"cpu, {torch.get_num_threads()} threads", "rerun": reruns, "loop": loop}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"app-{res['date']}"
    Path(f"{stem}.json").write_text(json.dumps(res, indent=2))
    lines = [f"App on a {args.sentences}-sentence project ({args.human} human-labelled, {args.dev} dev), "
             f"{res['device']}, {res['date']}", "", "| page | first load (ms) | rerun p50 (ms) | rerun p95 (ms) |",
             "|---|---|---|---|"]
    lines += [f"| {p} | {r['first_ms']:.0f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} |" for p, r in reruns.items()]
    lines += ["", f"Loop: Start (warm start, default settings) -> new version promoted in "
              f"{loop['seconds_to_promoted']:.1f} s -> serving in Annotate after {loop['seconds_to_annotate']:.1f} s."]
    Path(f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
