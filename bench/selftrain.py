"""Self-training at small label budgets on CoNLL-2003: dev F1 with and without pseudo-labels.

    python bench/selftrain.py                      # budgets 200 and 500, pool 2000, dev 500

For each budget: train on that many random labelled sentences (the "without" figure), then pseudo-label an
unlabelled pool with it and warm-start on labelled + confident pseudo-labels (the "with" figure); the
self-trained version is kept only when dev F1 does not drop. Results go to bench/results/selftrain-<date>.*
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "conll2003"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="200,500")
    ap.add_argument("--pool", type=int, default=2000, help="unlabelled sentences offered for pseudo-labels")
    ap.add_argument("--dev", type=int, default=500)
    ap.add_argument("--threshold", type=float, default=0.95)
    ap.add_argument("--weight", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    import torch

    from core import formats
    from core.selftrain import self_train
    from core.train import TrainConfig

    train = formats.read(DATA / "train.txt").sentences
    dev = formats.read(DATA / "dev.txt").sentences[: args.dev]
    order = list(range(len(train)))
    random.Random(args.seed).shuffle(order)
    budgets = [int(b) for b in args.budgets.split(",")]
    pool = [replace(train[i], tags=None) for i in order[max(budgets) : max(budgets) + args.pool]]
    rows = []
    for n in budgets:
        labelled = [train[i] for i in order[:n]]
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            r = self_train(TrainConfig(seed=args.seed), labelled, pool, dev, Path(tmp) / "self",
                           threshold=args.threshold, weight=args.weight)
        row = {"labelled": n, "without": r.base_f1, "with": r.new_f1, "pseudo_sentences": r.n_pseudo,
               "accepted": r.accepted, "seconds": time.perf_counter() - t}
        rows.append(row)
        print(f"{n} labelled: dev F1 {r.base_f1:.4f} without, {r.new_f1:.4f} with {r.n_pseudo} pseudo-labelled "
              f"sentences ({'kept' if r.accepted else 'rejected'})", flush=True)
    res = {"date": dt.date.today().isoformat(), "pool": args.pool, "dev": args.dev, "threshold": args.threshold,
           "weight": args.weight, "seed": args.seed, "device": f"cpu, {torch.get_num_threads()} threads", "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"selftrain-{res['date']}"
    (out / f"{stem}.json").write_text(json.dumps(res, indent=2))
    lines = [f"Self-training on CoNLL-2003 ({res['date']}, {res['device']}): pool {args.pool} unlabelled sentences, "
             f"dev {args.dev}, threshold {args.threshold}, weight {args.weight}, seed {args.seed}", "",
             "| labelled sentences | dev F1 without | dev F1 with | change | pseudo-labelled sentences | kept |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['labelled']} | {r['without']:.2%} | {r['with']:.2%} | {(r['with'] - r['without']) * 100:+.2f} pt "
              f"| {r['pseudo_sentences']} | {'yes' if r['accepted'] else 'no'} |" for r in rows]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
