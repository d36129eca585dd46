"""Single-sentence latency: the PyTorch Tagger against the same model exported to ONNX and run by onnxruntime.

    python bench/onnx_latency.py                       # default encoder, 200 CoNLL-2003 test sentences, 1 thread
    python bench/onnx_latency.py --threads 2 --n 500

Both taggers share the tokenizer, windows and constrained decoding (core.onnx_model runs the ONNX file in the model's
place), so the difference is the network. Sentences alternate between the two, one at a time, in the same process:
on a shared machine the ratio is the figure to read, not the milliseconds. Latency does not depend on the weights,
so the classifier head is left untrained (CoNLL-2003's nine tags). Writes JSON and markdown to bench/results/.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._results import write  # noqa: E402
DATA = ROOT.parent / "shared" / "data" / "conll2003" / "test.txt"
TAGS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def sentences(path: Path, n: int) -> tuple[list[list[str]], str]:
    """The first n sentences of CoNLL-2003 test (read in place, never copied), else of the test sample file."""
    from core import formats

    source = path if path.is_file() else ROOT / "tests" / "data" / "sample.conll"
    return [s.words for s in formats.read(source).sentences if s.words][:n], str(source.name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="encoder: `default`, a hub id or a folder")
    ap.add_argument("--data", default=str(DATA), help="CoNLL file of sentences to time")
    ap.add_argument("--n", type=int, default=200, help="sentences timed (after 10 warm-up ones)")
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from core import onnx_model
    from core.model import Tagger

    torch.set_num_threads(args.threads)
    words, source = sentences(Path(args.data), args.n + 10)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        Tagger.load(args.model, labels=TAGS, device="cpu").save(folder)
        started = time.perf_counter()
        path = onnx_model.export(folder, Path(tmp) / "model.onnx")
        export_s = time.perf_counter() - started
        size_mb = path.stat().st_size / 2**20
        ours = Tagger.load(str(folder), device="cpu")
        onnx = onnx_model.load(path, folder, threads=args.threads)
        times: dict[str, list[float]] = {"pytorch": [], "onnx": []}
        agree = 0
        for i, sentence in enumerate(words):
            order = [("pytorch", ours), ("onnx", onnx)][:: 1 if i % 2 == 0 else -1]  # alternate who goes first
            tags = {}
            for name, tagger in order:
                t = time.perf_counter()
                tags[name] = tagger.predict([sentence])[0].tags
                if i >= 10:
                    times[name].append((time.perf_counter() - t) * 1000)
            agree += i >= 10 and tags["pytorch"] == tags["onnx"]
    stats = {name: {"median_ms": float(np.median(v)), "p90_ms": float(np.percentile(v, 90)),
                    "mean_ms": float(np.mean(v))} for name, v in times.items()}
    result = {
        "date": dt.date.today().isoformat(), "model": args.model, "data": source, "sentences": len(times["onnx"]),
        "mean_words": float(np.mean([len(w) for w in words[10:]])), "threads": args.threads,
        "cpu_count": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2), "python": platform.python_version(), "torch": torch.__version__,
        "onnxruntime": __import__("onnxruntime").__version__, "export_seconds": round(export_s, 1),
        "onnx_mb": round(size_mb, 1), "same_tags": agree, **stats,
        "ratio_median": stats["onnx"]["median_ms"] / stats["pytorch"]["median_ms"],
        "command": " ".join(["python", "bench/onnx_latency.py", *sys.argv[1:]]),
    }
    write(result, markdown(result), args.out, f"onnx-{result['date']}-t{args.threads}")
    return 0


def markdown(r: dict) -> str:
    rows = [f"| {name} | {r[name]['median_ms']:.2f} | {r[name]['p90_ms']:.2f} | {r[name]['mean_ms']:.2f} |"
            for name in ("pytorch", "onnx")]
    return "\n".join([
        f"# Single-sentence latency: PyTorch against ONNX Runtime ({r['date']})", "",
        f"Model `{r['model']}`, {r['sentences']} sentences of {r['data']} (mean {r['mean_words']:.1f} words), one at "
        f"a time, {r['threads']} thread(s), alternating in one process; torch {r['torch']}, onnxruntime "
        f"{r['onnxruntime']}. Export took {r['export_seconds']} s, {r['onnx_mb']} MB.", "",
        "| runtime | median ms | p90 ms | mean ms |", "|---|---|---|---|", *rows, "",
        f"ONNX / PyTorch median latency: **{r['ratio_median']:.2f}x**; same tags on {r['same_tags']} of "
        f"{r['sentences']} sentences. The machine's {r['cpu_count']} cores were shared with other work (load "
        f"average {r['load_average_1min']} at the end): read the ratio, not the milliseconds.", "", f"`{r['command']}`", ""])


if __name__ == "__main__":
    sys.exit(main())
