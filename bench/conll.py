"""CoNLL-2003: nerloop's trainer against the plain transformers Trainer recipe, same model, same run.

    python bench/conll.py                                  # full training set, 3 epochs
    python bench/conll.py --train-fraction 0.05 --seed 1   # small-data run (5% of training tokens)
    python bench/conll.py --small-data 50,200,500 --max-eval 1000 --threads 1   # first-model schedules compared
    python bench/conll.py --only ours --max-train 500 --max-eval 500 --onnx    # and its version through ONNX Runtime
    python bench/conll.py --model bert-base-cased          # on a GPU: both in bf16 (fp16 on an older GPU), GPU memory

Each system runs in its own subprocess (so peak RSS is its own); results go to bench/results/ as JSON
and a markdown table. CoNLL-2003 is read from ../shared/data/conll2003 and never copied.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._results import write  # noqa: E402
DATA = ROOT.parent / "shared" / "data" / "conll2003"


def load(args) -> tuple[list, list, list]:
    from core import formats

    train = formats.read(Path(args.data) / "train.txt").sentences
    dev = formats.read(Path(args.data) / "dev.txt").sentences
    test = formats.read(Path(args.data) / "test.txt").sentences
    rng = random.Random(args.seed)
    if args.train_fraction < 1.0:
        order = list(range(len(train)))
        rng.shuffle(order)
        budget = args.train_fraction * sum(len(s.words) for s in train)
        keep, tokens = [], 0
        for i in order:
            if tokens >= budget:
                break
            keep.append(i)
            tokens += len(train[i].words)
        train = [train[i] for i in sorted(keep)]
    if args.max_train:
        train = train[: args.max_train]
    if args.max_eval:
        dev, test = dev[: args.max_eval], test[: args.max_eval]
    return train, dev, test


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_facts(args) -> dict:
    """Where this system ran: the GPU's name and its peak memory (this process's own), or the CPU threads."""
    import torch

    if not torch.cuda.is_available():
        return {"device": f"cpu, {torch.get_num_threads()} threads"}
    return {"device": torch.cuda.get_device_name(0), "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20,
            "mixed_precision": precision(args)}


def precision(args) -> str:
    """The mixed precision both systems train in: --mixed-precision, else nerloop's choice for this device."""
    import torch

    from core.distributed import precision as choose

    return choose(args.mixed_precision, torch.cuda.is_available())


def latency(fn, items, n: int = 200) -> tuple[float, float]:
    for it in items[:5]:
        fn(it)  # warm-up
    times = []
    for it in items[:n]:
        t = time.perf_counter()
        fn(it)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def run_ours(args, train, dev, test, workdir: Path) -> dict:
    from core.model import Tagger
    from core.train import TrainConfig, evaluate
    from core.train import train as train_stream

    cfg = TrainConfig(model=args.model, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                      mixed_precision=precision(args))
    if args.min_steps is not None:
        cfg.min_steps = args.min_steps
    out = workdir / "ours"
    last, evals = None, []
    for ev in train_stream(cfg, train, dev, out):
        last = ev
        if ev.kind == "eval":
            evals.append({"step": ev.step, "dev_f1": ev.scores["micro"]["f1"]})
            print(f"  ours step {ev.step}/{ev.total_steps} dev F1 {ev.scores['micro']['f1']:.4f}", flush=True)
    info = last.info
    tagger = Tagger.load(str(out))  # reload from the saved folder: what users get
    dev_scores = evaluate(tagger, [s.words for s in dev], [s.tags for s in dev]).scores
    words = [s.words for s in test]
    preds, secs = timed(lambda: tagger.predict(words))
    from core import metrics

    test_scores = metrics.score([s.tags for s in test], [p.tags for p in preds])
    p50, p95 = latency(lambda w: tagger.predict([w]), words)
    onnx = onnx_latency(out, tagger, words, workdir) if args.onnx else {}
    return {**onnx, **device_facts(args),
        "dev_f1": dev_scores["micro"]["f1"], "test_f1": test_scores["micro"]["f1"],
        "per_class": test_scores["per_class"], "dev_per_class": dev_scores["per_class"],
        "train_sent_per_s": info["train_windows_seen"] / info["train_seconds"],
        "train_seconds": info["train_seconds"], "steps": info["steps"], "best_step": info["best_step"],
        "epochs_run": info["steps"] / info["steps_per_epoch"], "evals": evals,
        "predict_sent_per_s": len(words) / secs, "latency_ms_p50": p50, "latency_ms_p95": p95,
        "peak_rss_mb": peak_rss_mb(),
    }


def onnx_latency(folder: Path, tagger, words: list[list[str]], workdir: Path) -> dict:
    """The trained version exported with `nerloop export-model --onnx`'s code and run by onnxruntime: its single-sentence
    latency on the same sentences, measured the same way, and whether it predicts the same tags."""
    import torch

    from core import onnx_model

    onnx = onnx_model.load(onnx_model.export(folder, workdir / "ours.onnx"), folder, threads=torch.get_num_threads())
    p50, p95 = latency(lambda w: onnx.predict([w]), words)
    sample = words[:200]
    same = sum(a.tags == b.tags for a, b in zip(tagger.predict(sample), onnx.predict(sample)))
    return {"onnx_latency_ms_p50": p50, "onnx_latency_ms_p95": p95, "onnx_same_tags": f"{same}/{len(sample)}"}


def run_baseline(args, train, dev, test, workdir: Path) -> dict:
    """The run_ner.py recipe: Trainer, first-subword labels, DataCollatorForTokenClassification, argmax."""
    import torch
    from transformers import (AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification,
                              Trainer, TrainingArguments, pipeline, set_seed)

    from core import metrics
    from core.model import resolve
    from core.vocab import label_set, seen_types

    set_seed(args.seed)
    labels = label_set(seen_types([s.tags for s in train + dev]))
    label2id = {lab: i for i, lab in enumerate(labels)}
    path = resolve(args.model)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForTokenClassification.from_pretrained(
        path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)

    def encode(sents):
        enc = tok([s.words for s in sents], is_split_into_words=True, truncation=True)
        rows = []
        for i, s in enumerate(sents):
            prev, lab = None, []
            for w in enc.word_ids(i):
                lab.append(-100 if w is None or w == prev else label2id[s.tags[w]])
                prev = w
            rows.append({**{k: enc[k][i] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc},
                         "labels": lab})
        return rows

    train_rows, dev_rows, test_rows = encode(train), encode(dev), encode(test)
    targs = TrainingArguments(
        output_dir=str(workdir / "baseline-run"), learning_rate=args.lr, per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size, num_train_epochs=args.epochs, seed=args.seed,
        save_strategy="no", eval_strategy="no", report_to=[], logging_steps=200, disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(), bf16=precision(args) == "bf16", fp16=precision(args) == "fp16")
    trainer = Trainer(model=model, args=targs, train_dataset=train_rows,
                      data_collator=DataCollatorForTokenClassification(tok))
    result = trainer.train()

    def tags_of(rows):
        out = trainer.predict(rows)
        pred = out.predictions.argmax(-1)
        return [[labels[p] for p, g in zip(pr, gl) if g != -100] for pr, gl in zip(pred, out.label_ids)]

    dev_scores = metrics.score([s.tags for s in dev], tags_of(dev_rows))
    test_pred, secs = timed(lambda: tags_of(test_rows))
    test_scores = metrics.score([s.tags for s in test], test_pred)
    folder = workdir / "baseline"
    trainer.save_model(str(folder))
    tok.save_pretrained(str(folder))
    nlp = pipeline("token-classification", model=str(folder), device=0 if torch.cuda.is_available() else -1)
    texts = [" ".join(s.words) for s in test]
    n = min(len(texts), args.pipeline_sentences)
    _, psecs = timed(lambda: nlp(texts[:n]))
    p50, p95 = latency(nlp, texts)
    return {
        "dev_f1": dev_scores["micro"]["f1"], "test_f1": test_scores["micro"]["f1"],
        "per_class": test_scores["per_class"], "dev_per_class": dev_scores["per_class"],
        "train_sent_per_s": result.metrics["train_samples_per_second"], "train_seconds": result.metrics["train_runtime"],
        "predict_sent_per_s": len(test) / secs, "pipeline_predict_sent_per_s": n / psecs,
        "latency_ms_p50": p50, "latency_ms_p95": p95, "latency_via": "pipeline, one sentence",
        "peak_rss_mb": peak_rss_mb(), **device_facts(args),
    }


def table(res: dict) -> str:
    o, b = res["ours"], res.get("baseline")
    rows = [
        ("dev entity F1 (micro)", "dev_f1", "{:.2%}"), ("test entity F1 (micro)", "test_f1", "{:.2%}"),
        ("training sentences/s", "train_sent_per_s", "{:.1f}"), ("batched prediction sentences/s", "predict_sent_per_s", "{:.1f}"),
        ("single-sentence latency p50 (ms)", "latency_ms_p50", "{:.1f}"), ("single-sentence latency p95 (ms)", "latency_ms_p95", "{:.1f}"),
        ("peak RSS (MB)", "peak_rss_mb", "{:.0f}"), ("peak GPU memory (MB)", "gpu_peak_mb", "{:.0f}"),
    ]
    lines = [f"CoNLL-2003, {res['train_sentences']} training sentences, {res['epochs']} epochs, "
             f"lr {res['lr']}, batch {res['batch_size']}, seed {res['seed']}, {res.get('model', 'default')} "
             f"({res['date']}, {o.get('device', res['device'])}"
             f"{', ' + o['mixed_precision'] if o.get('mixed_precision') else ''})", "",
             "| measure | nerloop | plain Trainer | ratio |", "|---|---|---|---|"]
    for name, key, fmt in rows:
        ov = o.get(key)
        bv = b.get(key) if b else None
        if ov is None:
            continue
        ratio = f"{ov / bv:.2f}x" if b and bv else ""
        if key.endswith("f1") and b:
            ratio = f"{(ov - bv) * 100:+.2f} pt"
        lines.append(f"| {name} | {fmt.format(ov)} | {fmt.format(bv) if bv is not None else '-'} | {ratio} |")
    if "onnx_latency_ms_p50" in o:
        lines.append(f"| single-sentence latency p50 (ms), nerloop's version through ONNX Runtime | "
                     f"{o['onnx_latency_ms_p50']:.1f} | - | {o['onnx_latency_ms_p50'] / o['latency_ms_p50']:.2f}x "
                     f"PyTorch's; same tags on {o['onnx_same_tags']} |")
    if b:
        pp = b["pipeline_predict_sent_per_s"]
        lines.append(f"| prediction via `pipeline(\"token-classification\")` sentences/s | - | {pp:.1f} | "
                     f"nerloop {o['predict_sent_per_s'] / pp:.2f}x |")
    labels = sorted(o["per_class"])
    lines += ["", "| test F1 per class | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    lines.append("| nerloop | " + " | ".join(f"{o['per_class'][k]['f1']:.2%}" for k in labels) + " |")
    if b:
        lines.append("| plain Trainer | " + " | ".join(f"{b['per_class'].get(k, {}).get('f1', 0):.2%}" for k in labels) + " |")
    return "\n".join(lines) + "\n"


SCHEDULES = {  # the cold-start schedule before issue 10 (a flat 1,200-step floor, dev every 250 steps), and today's
    "before": {"floor_epochs": 0, "small_evals": 0, "time_budget": 0, "min_steps": 1200, "min_eval_interval": 250},
    "now": {"time_budget": 0},  # TrainConfig's defaults; the budget only cuts on a slow machine: measured apart
}


def variants(args) -> dict[str, dict]:
    """The schedules to run: `--schedules` among SCHEDULES, then each `--variant name:key=value,...` (TrainConfig
    fields over today's defaults, no time budget unless given)."""
    from dataclasses import fields

    from core.config import TrainConfig

    kinds = {f.name: f.metadata["kind"] for f in fields(TrainConfig)}
    out = {k: v for k, v in SCHEDULES.items() if k in args.schedules.split(",")}
    for text in args.variant or []:
        name, _, body = text.partition(":")
        over = {"time_budget": 0}
        for item in filter(None, body.split(",")):
            key, _, value = item.partition("=")
            over[key] = kinds[key](value)
        out[name] = over
    return out


def run_small(args) -> dict:
    """The first-model schedules on the same random N labelled sentences (nested samples), for each N."""
    import torch

    from core.train import TrainConfig
    from core.train import train as train_stream

    if args.threads:
        torch.set_num_threads(args.threads)
    full, dev, _ = load(args)
    order = list(range(len(full)))
    random.Random(args.seed).shuffle(order)
    runs = []
    for n in sorted(int(x) for x in args.small_data.split(",")):
        sample = [full[i] for i in sorted(order[:n])]
        for name, over in variants(args).items():
            if args.budget is not None and name == "now":
                over = {**over, "time_budget": args.budget}
            cfg = TrainConfig(**{"lr": args.lr, "batch_size": args.batch_size, "seed": args.seed, **over})
            started, evals, load_before = time.perf_counter(), [], os.getloadavg()[0]
            for ev in train_stream(cfg, sample, dev):
                if ev.kind == "eval":
                    evals.append({"step": ev.step, "dev_f1": ev.scores["micro"]["f1"]})
                    print(f"  n={n} {name} step {ev.step}/{ev.total_steps} dev F1 {evals[-1]['dev_f1']:.4f}", flush=True)
                last = ev
            info = last.info
            effective = {k: getattr(cfg, k) for k in ("lr", "batch_size", "floor_low", "floor_epochs", "min_steps",
                                                      "small_evals", "time_budget", "budget_min_steps")}
            runs.append({"sentences": n, "schedule": name, "config": over, "effective": effective,
                         "dev_f1": info["dev"]["micro"]["f1"],
                         "steps": info["steps"], "planned_steps": last.total_steps, "best_step": info["best_step"],
                         "train_seconds": info["train_seconds"], "eval_seconds": info["eval_seconds"],
                         "seconds_per_step": info["train_seconds"] / max(1, info["steps"]),
                         "seconds_per_eval": info["eval_seconds"] / max(1, len(evals)),
                         "wall_seconds": time.perf_counter() - started, "evals": evals,
                         "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)})
            print(f"n={n} {name}: dev F1 {runs[-1]['dev_f1']:.4f}, {info['steps']} steps, "
                  f"{info['train_seconds']:.0f} s training", flush=True)
    return {"runs": runs}


def small_table(res: dict) -> str:
    ref = "before" if any(r["schedule"] == "before" for r in res["runs"]) else res["runs"][0]["schedule"]
    lines = [f"CoNLL-2003 first model from the base encoder: first-model schedules against `{ref}` (`before`: the "
             f"flat 1,200-step floor and dev every 250 steps before issue 10; `now`: TrainConfig's defaults of the day: "
             f"each run's `effective` settings are in the JSON), on the "
             f"same random N train sentences (seed {res['seed']}), dev = first {res['max_eval'] or 'all'} dev sentences "
             f"({res['date']}, {res['device']}{', ' + res['load'] if res.get('load') else ''})", "",
             "| sentences | schedule | settings | dev F1 | steps run (planned) | best step | training s | s/step | "
             "dev eval s (each) | F1 change | time |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {r["sentences"]: r for r in res["runs"] if r["schedule"] == ref}
    for r in res["runs"]:
        b = base.get(r["sentences"], r)
        change = f"{(r['dev_f1'] - b['dev_f1']) * 100:+.2f} pt" if r is not b else ""
        speed = f"{r['train_seconds'] / b['train_seconds']:.2f}x" if r is not b else ""
        settings = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["config"].items()
                             if k != "time_budget" or v)
        per_step = r.get("seconds_per_step", r["train_seconds"] / max(1, r["steps"]))
        per_eval = r.get("seconds_per_eval", r["eval_seconds"] / max(1, len(r["evals"])))
        lines.append(f"| {r['sentences']} | {r['schedule']} | {settings} | {r['dev_f1']:.2%} | {r['steps']} "
                     f"({r['planned_steps']}) | {r['best_step']} | {r['train_seconds']:.0f} | {per_step:.3f} | "
                     f"{r['eval_seconds']:.0f} ({per_eval:.1f}) | {change} | {speed} |")
    return "\n".join(lines) + "\n"


def child(args) -> None:
    train, dev, test = load(args)
    with tempfile.TemporaryDirectory() as tmp:
        fn = run_ours if args.system == "ours" else run_baseline
        res = fn(args, train, dev, test, Path(tmp))
    Path(args.result).write_text(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="folder with train.txt, dev.txt, test.txt")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--model", default="default", help="the encoder of both systems: default (the packaged MiniLM), a "
                    "Hugging Face id such as bert-base-cased, or a folder")
    ap.add_argument("--mixed-precision", default="auto", choices=("auto", "no", "bf16", "fp16"),
                    help="both systems' (auto: bf16 on a GPU that has it, fp16 on an older one, none on a CPU)")
    ap.add_argument("--max-train", type=int, default=0, help="first N training sentences only")
    ap.add_argument("--train-fraction", type=float, default=1.0, help="random share of training tokens")
    ap.add_argument("--max-eval", type=int, default=0, help="first N dev/test sentences only")
    ap.add_argument("--min-steps", type=int, help="override the trainer's minimum number of steps (quick checks)")
    ap.add_argument("--small-data", help="comma-separated N: first-model schedules (before/now) on N sentences")
    ap.add_argument("--schedules", default="before,now", help="--small-data: which of before,now to run")
    ap.add_argument("--budget", type=float, help="--small-data: today's schedule with this time budget (s)")
    ap.add_argument("--variant", action="append", help="--small-data: also this schedule, `name:key=value,...` "
                    "(TrainConfig fields over the defaults, no time budget unless given), e.g. "
                    "`b8:batch_size=8`; repeatable")
    ap.add_argument("--tag", default="", help="--small-data: a suffix for the result files")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--pipeline-sentences", type=int, default=1000)
    ap.add_argument("--only", choices=["ours", "baseline"], help="run one system only")
    ap.add_argument("--onnx", action="store_true", help="also export nerloop's version to ONNX and time it the same "
                    "way (needs nerloop[onnx])")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--system", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.system:
        return child(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    train, _, _ = load(args)
    import torch

    res = {"date": dt.date.today().isoformat(), "train_sentences": len(train), "epochs": args.epochs,
           "lr": args.lr, "batch_size": args.batch_size, "seed": args.seed, "train_fraction": args.train_fraction,
           "model": args.model, "command": "python bench/conll.py " + " ".join(sys.argv[1:]),
           "max_train": args.max_train, "max_eval": args.max_eval,
           "device": "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} threads"}
    if args.small_data:
        res["load"] = "load average %.2f at the start" % os.getloadavg()[0]
        res["command"] = "python bench/conll.py " + " ".join(sys.argv[1:])
        res.update(run_small(args))
        res["device"] = f"cpu, {args.threads or torch.get_num_threads()} threads" if not torch.cuda.is_available() \
            else "cuda"
        stem = f"conll-small-{res['date']}-seed{args.seed}" + (f"-budget{args.budget:g}" if args.budget is not None else "")
        stem += "" if args.schedules == "before,now" else f"-{args.schedules.replace(',', '-')}" if args.schedules else ""
        stem += f"-{args.tag}" if args.tag else ""
        write(res, small_table(res), args.out, stem)
        return
    for system in [s for s in ("baseline", "ours") if args.only in (None, s)]:
        print(f"== {system}", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            cmd = [sys.executable, __file__, "--system", system, "--result", f.name] + sys.argv[1:]
            subprocess.run(cmd, check=True)
            res[system] = json.loads(Path(f.name).read_text())
    suffix = ""
    if args.train_fraction < 1.0:
        suffix += f"-frac{args.train_fraction:g}-seed{args.seed}"
    if args.max_train or args.max_eval:
        suffix += f"-n{args.max_train}-e{args.max_eval}"
    if args.only:
        suffix += f"-{args.only}"
    if args.onnx:
        suffix += "-onnx"
    write(res, table(res), args.out, f"conll-{res['date']}{suffix}")


if __name__ == "__main__":
    main()
