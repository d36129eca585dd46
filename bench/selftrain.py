"""Self-training at small label budgets on CoNLL-2003: dev F1 with and without pseudo-labels.

    python bench/selftrain.py                      # budgets 200 and 500, pool 2000, dev 500, a control and three variants

For each budget: train on that many random labelled sentences (the "without" figure), then for each variant
pseudo-label an unlabelled pool with that model and warm-start on labelled + confident pseudo-labels (the "with"
figure); a self-trained version is kept only when dev F1 does not drop. A variant is THRESHOLD:WEIGHT[:balance]
(balance: entity-free pseudo-labels capped at the labelled share, see core.selftrain.balanced). Results go to
bench/results/selftrain-<date>[-<tag>].*
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from types import SimpleNamespace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"


def variant(spec: str) -> dict:
    """`0.95:0.3` or `0.99:0.3:balance` -> threshold, weight, balance; `control`: the same warm start on the
    labelled sentences alone (are the extra steps, not the pseudo-labels, what changes dev F1?)."""
    if spec.strip() == "control":
        return {"control": True}
    parts = spec.strip().split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "balance"):
        raise argparse.ArgumentTypeError(f"variant {spec!r}: expected THRESHOLD:WEIGHT[:balance]")
    return {"threshold": float(parts[0]), "weight": float(parts[1]), "balance": len(parts) == 3}


def name(v: dict) -> str:
    if v.get("control"):
        return "control: the same warm start, no pseudo-labels"
    return f"threshold {v['threshold']}, weight {v['weight']}{', balanced' if v['balance'] else ''}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="200,500")
    ap.add_argument("--pool", type=int, default=2000, help="unlabelled sentences offered for pseudo-labels")
    ap.add_argument("--dev", type=int, default=500)
    ap.add_argument("--variants", default="control,0.95:0.3,0.95:0.3:balance,0.99:0.3:balance",
                    help="comma-separated THRESHOLD:WEIGHT[:balance] or control")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-steps", type=int, help="minimum training steps from the base encoder (TrainConfig's default)")
    ap.add_argument("--threads", type=int, help="torch threads")
    ap.add_argument("--tag", help="suffix of the result files")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    variants = [variant(v) for v in args.variants.split(",") if v.strip()]
    import torch

    from core import formats
    from core.model import Tagger
    from core.selftrain import self_train
    from core.train import TrainConfig, evaluate, labelled_pairs, run

    if args.threads:
        torch.set_num_threads(args.threads)
    train = formats.read(DATA / "train.txt").sentences
    dev = formats.read(DATA / "dev.txt").sentences[: args.dev]
    order = list(range(len(train)))
    random.Random(args.seed).shuffle(order)
    budgets = [int(b) for b in args.budgets.split(",")]
    pool = [replace(train[i], tags=None) for i in order[max(budgets) : max(budgets) + args.pool]]
    rows = []
    started = time.perf_counter()
    for n in budgets:
        labelled = [train[i] for i in order[:n]]
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp) / "base"
            cfg = TrainConfig(seed=args.seed) if args.min_steps is None else TrainConfig(seed=args.seed,
                                                                                       min_steps=args.min_steps)
            run(cfg, labelled, dev, base)
            for v in variants:
                t = time.perf_counter()
                if v.get("control"):
                    labels = Tagger.load(str(base)).labels
                    run(replace(cfg, model=str(base), labels=labels), labelled, dev, Path(tmp) / "control")
                    words, tags = labelled_pairs(dev)
                    f1 = [evaluate(Tagger.load(str(m)), words, tags).f1
                          for m in (base, Path(tmp) / "control")]
                    r = SimpleNamespace(base_f1=f1[0], new_f1=f1[1], n_pseudo=0, accepted=f1[1] >= f1[0])
                else:
                    r = self_train(cfg, labelled, pool, dev, Path(tmp) / "self", base=base, **v)
                rows.append({"labelled": n, **v, "without": r.base_f1, "with": r.new_f1,
                             "pseudo_sentences": r.n_pseudo, "accepted": r.accepted,
                             "seconds": time.perf_counter() - t})
                print(f"{n} labelled, {name(v)}: dev F1 {r.base_f1:.4f} without, {r.new_f1:.4f} with {r.n_pseudo} "
                      f"pseudo-labelled sentences ({'kept' if r.accepted else 'rejected'})", flush=True)
    res = {"date": dt.date.today().isoformat(), "pool": args.pool, "dev": args.dev, "seed": args.seed,
           "device": f"cpu, {torch.get_num_threads()} threads", "seconds": round(time.perf_counter() - started, 1),
           "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "-".join(["selftrain", res["date"]] + ([args.tag] if args.tag else []))
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2))
    lines = [f"Self-training on CoNLL-2003 ({res['date']}, {res['device']}): pool {args.pool} unlabelled sentences, "
             f"dev {args.dev}, seed {args.seed}, {res['seconds'] / 60:.1f} min", "",
             "| labelled sentences | variant | dev F1 without | dev F1 with | change | pseudo-labelled sentences | kept |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['labelled']} | {name(r)} | {r['without']:.2%} | {r['with']:.2%} | "
              f"{(r['with'] - r['without']) * 100:+.2f} pt | {r['pseudo_sentences']} | "
              f"{'yes' if r['accepted'] else 'no'} |" for r in rows]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
