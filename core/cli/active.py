"""Active-learning commands: suggest (what to label next) and reveal (the demo's simulated annotator)."""
from __future__ import annotations

import argparse
import json
import sys

from core import vocab
from core.cli.common import CliError, Parents, adder, opened, positive, strategies, table, whole


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add suggest and reveal to the parser."""
    add = adder(sub, parents)
    p = add("suggest", cmd_suggest, "active learning: the unlabelled sentences to label next, by the serving "
            "version's stored uncertainty scores")
    _selection(p, "-k", "how many sentences (default 10)", seed=0)
    p.add_argument("--json", action="store_true", help="JSONL: id, tokens, text")
    _selection(add("reveal", cmd_reveal, "demo mode: the simulated annotator reveals the hidden gold of the next "
                   "batch (chosen by strategy) and moves it to train"),
               "--batch", "sentences to reveal (default 50)", seed=None)


def cmd_suggest(args: argparse.Namespace) -> int:
    from core import active, learner, queue

    with opened(args, "annotate") as (store, project):
        serving = store.serving(project.id)
        head = learner.serving_head(store, project.id)  # the live head ranks while it pre-tags, as on the Annotate page
        ids = queue.suggest(store, project.id, None if args.tokens and not args.k else args.k or 10,
                            strategy=args.strategy, seed=args.seed, token_budget=args.tokens, head=head)
        rows = {r.id: r for r in store.sentences(project.id, ids=ids)}
    picked = [rows[i] for i in ids]
    if args.json:
        for r in picked:
            print(json.dumps({"id": r.id, "tokens": len(r.words), "text": r.text}, ensure_ascii=False))
        return 0
    by = f"by {serving.name}" if serving else "cold start: no serving version, random order"
    if head is not None and active.parse_strategy(args.strategy).uncertain:
        on = serving.name if serving else "the base encoder"
        by = f"by the live head on {on}, {head.train_sentences} labels seen"
    print(f"next {len(picked)} to label ({args.strategy}, {by}; {sum(len(r.words) for r in picked)} tokens):",
          file=sys.stderr)
    print(table(["id", "tokens", "text"], [[r.id, len(r.words), r.text[:100]] for r in picked])
          if picked else "nothing left to label in the unlabeled split")
    return 0


def cmd_reveal(args: argparse.Namespace) -> int:
    from core import simulate

    with opened(args, "import") as (store, project):
        left, total = store.hidden_gold_left(project.id)
        if not total:
            raise CliError(f"project {project.name!r} has no hidden gold "
                           "(import a labelled pool with `nerloop import PROJECT FILE --hidden-gold`)")
        ids = simulate.demo_round(store, project.id, None if args.tokens and not args.batch else args.batch or 50,
                                  strategy=args.strategy, seed=args.seed if args.seed is not None else total - left,
                                  token_budget=args.tokens)
        left, _ = store.hidden_gold_left(project.id)
    print(f"revealed the gold tags of {len(ids)} sentences ({args.strategy}), now in train; {left} of {total} still "
          f"hidden. Next: `nerloop train --project {project.name} --warm-start`")
    return 0


def _selection(p: argparse.ArgumentParser, size: str, size_help: str, *, seed: int | None) -> None:
    """PROJECT and how to pick its sentences: --strategy (checked), how many (`size`), --tokens, --seed."""
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--strategy", type=lambda t: strategies(t)[0], default="entropy", metavar="S",
                   help=vocab.STRATEGY_HELP + " (default: entropy)")
    p.add_argument(size, type=positive(int), metavar="N", help=size_help)
    p.add_argument("--tokens", type=positive(int), metavar="N", help="at most N words in all")
    p.add_argument("--seed", type=whole, default=seed, metavar="N")
