"""One process against two on the same CPU cores: `nerloop train` alone (on every core, then on one thread) and under
`accelerate launch --cpu --num_processes 2` (a thread each), on the first sentences of CoNLL-2003 (wall time,
training time, steps, dev F1), in one run.

    python bench/distributed.py                                   # 300 train, 200 dev sentences, the default encoder
    python bench/distributed.py --train-sentences 500 --model default --epochs 2

The sentences are written to a temporary folder for the runs (CoNLL-2003 stays out of the repository); results go
to bench/results/distributed-DATE.json and .md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "conll2003"


def write_subset(args, folder: Path) -> tuple[Path, Path]:
    """The first --train-sentences of train.txt and --dev-sentences of dev.txt as CoNLL files in `folder`."""
    sys.path.insert(0, str(ROOT))
    from core import formats

    out = []
    for name, n in (("train", args.train_sentences), ("dev", args.dev_sentences)):
        sentences = formats.read(Path(args.data) / f"{name}.txt").sentences[:n]
        path = folder / f"{name}.conll"
        formats.write(sentences, path, "conll")
        out.append(path)
    return out[0], out[1]


def run(launcher: list[str], threads: int, args, train: Path, dev: Path, out: Path) -> dict:
    """Train once with `launcher` in front of `-m core.cli train`: wall seconds and the saved metrics."""
    cmd = [*launcher, "-m", "core.cli", "train", "--train", str(train), "--dev", str(dev), "--out", str(out),
           "--model", args.model, "--epochs", str(args.epochs), "--min-steps", "0", "--time-budget", "0",
           "--patience", "0", "--batch-size", str(args.batch_size), "--seed", str(args.seed)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(ROOT)}
    load, started = os.getloadavg()[0], time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    m = json.loads((out / "metrics.json").read_text())
    return {"command": " ".join(cmd), "load_before": load, "load_after": os.getloadavg()[0], "wall_s": wall, "train_s": m["train_seconds"], "eval_s": m["eval_seconds"],
            "processes": m["processes"], "steps": m["steps"], "steps_per_epoch": m["steps_per_epoch"],
            "sentences_seen": m["train_windows_seen"], "best_step": m["best_step"],
            "dev_f1": m["dev"]["micro"]["f1"]}


def table(res: dict) -> str:
    one, two, single = res["one"], res["two"], res["one_thread"]
    lines = [f"CoNLL-2003, first {res['train_sentences']} train / {res['dev_sentences']} dev sentences, "
             f"{res['model']}, {res['epochs']} epochs, batch {res['batch_size']}, seed {res['seed']}, "
             f"{res['cores']} CPU cores shared with other work ({res['date']}); load average over each run: "
             + ", ".join(f"{r['load_before']:.1f} -> {r['load_after']:.1f}" for r in (one, two, single)), "",
             f"| measure | 1 process, {res['cores']} threads | 2 processes (accelerate launch --cpu), a thread each | "
             "ratio | 1 process, 1 thread |", "|---|---|---|---|---|"]
    for name, key, fmt in (("wall time, launch to exit (s)", "wall_s", "{:.1f}"),
                           ("training time (s)", "train_s", "{:.1f}"), ("dev evaluation time (s)", "eval_s", "{:.1f}"),
                           ("steps", "steps", "{}"), ("sentences seen", "sentences_seen", "{}"),
                           ("dev entity F1 (micro)", "dev_f1", "{:.2%}")):
        ratio = f"{(two[key] - one[key]) * 100:+.2f} pt" if key == "dev_f1" else \
            f"{two[key] / one[key]:.2f}x" if one[key] else ""
        lines.append(f"| {name} | {fmt.format(one[key])} | {fmt.format(two[key])} | {ratio} | "
                     f"{fmt.format(single[key])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--train-sentences", type=int, default=300)
    p.add_argument("--dev-sentences", type=int, default=200)
    p.add_argument("--model", default="default")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="nerloop-bench-ddp-") as tmp:
        train, dev = write_subset(args, Path(tmp))
        one = run([sys.executable], cores, args, train, dev, Path(tmp) / "one")
        two = run([sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
                   "--num_cpu_threads_per_process", str(max(1, cores // 2))], max(1, cores // 2), args, train, dev,
                  Path(tmp) / "two")
        one_thread = run([sys.executable], 1, args, train, dev, Path(tmp) / "one-thread")
    date = dt.date.today().isoformat()
    res = {"date": date, "cores": cores, "train_sentences": args.train_sentences,
           "dev_sentences": args.dev_sentences, "model": args.model, "epochs": args.epochs,
           "batch_size": args.batch_size, "seed": args.seed, "one": one, "two": two,
           "one_thread": one_thread}
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"distributed-{date}.json").write_text(json.dumps(res, indent=2))
    (results / f"distributed-{date}.md").write_text(table(res))
    print(table(res))


if __name__ == "__main__":
    main()
