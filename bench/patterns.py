"""Keys saved by pattern pre-annotation before the first model: a term list built from CoNLL-2003 train (every entity
string seen at least `--min-count` times, with its most frequent label) pre-tags held-out sentences (dev).

Keys are counted as in `core.patterns.correction_keys` (2 per entity to add, relabel or remove) against a blank start.
Writes bench/results/patterns-<date>.{json,md}. CoNLL-2003 is read from ../shared/data/conll2003 and never copied.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import formats, metrics, patterns  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "conll2003"


def term_list(train: list, min_count: int) -> list[patterns.Pattern]:
    """Phrase patterns: each entity string of train seen `min_count` times or more, with its most frequent label."""
    seen: dict[tuple[str, ...], Counter] = defaultdict(Counter)
    for s in train:
        for start, end, label in formats.spans(s.tags):
            seen[tuple(s.words[start:end])][label] += 1
    return [patterns.Pattern(c.most_common(1)[0][0], phrase=words) for words, c in seen.items()
            if sum(c.values()) >= min_count]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--min-count", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    train = formats.read(args.data / "train.txt").sentences
    dev = [s for s in formats.read(args.data / "dev.txt").sentences if s.tags is not None]
    rules = term_list(train, args.min_count)
    matcher = patterns.Matcher(rules)
    t = time.perf_counter()
    pre = [matcher.tags(s.words) for s in dev]
    seconds = time.perf_counter() - t
    blank = sum(patterns.correction_keys(["O"] * len(s.words), s.tags) for s in dev)
    with_patterns = sum(patterns.correction_keys(p, s.tags) for p, s in zip(pre, dev))
    scores = metrics.score([s.tags for s in dev], pre)["micro"]
    result = {
        "date": dt.date.today().isoformat(), "held_out": "CoNLL-2003 dev", "sentences": len(dev),
        "entities": sum(len(formats.spans(s.tags)) for s in dev), "patterns": len(rules),
        "min_count": args.min_count, "keys_blank": blank, "keys_with_patterns": with_patterns,
        "keys_saved": blank - with_patterns, "keys_saved_share": round(1 - with_patterns / blank, 3),
        "match_ms_per_sentence": round(1000 * seconds / len(dev), 3), "pattern_scores": scores,
        "command": f"python bench/patterns.py --min-count {args.min_count}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"patterns-{result['date']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = ["# Pattern pre-annotation, " + result["date"], "",
          f"Term list from CoNLL-2003 train (entity strings seen >= {args.min_count} times: {len(rules)} patterns), "
          f"applied to {len(dev)} dev sentences ({result['entities']} entities).", "",
          "| start | keys | saved |", "|---|---|---|",
          f"| blank | {blank} | |",
          f"| patterns | {with_patterns} | {blank - with_patterns} ({100 * result['keys_saved_share']:.1f} %) |",
          "", f"Pattern tags alone: precision {scores['precision']:.3f}, recall {scores['recall']:.3f}, "
              f"F1 {scores['f1']:.3f} (entity level)."]
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
