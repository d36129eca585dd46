"""The `nerloop team` and `nerloop review` commands: shared work (overlap, stored queues, progress) and review
(list disagreements, accept a version or give the tags), as on Home and the Review page."""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from core import review, team, vocab
from core.cli import CliError, _opened, _table


def cmd_team(args: argparse.Namespace) -> int:
    with _opened(args) as (store, project):
        pid = project["id"]
        if args.overlap is not None or args.copies is not None:
            conf = team.settings(store, pid)
            store.set_overlap(pid, conf["overlap"] if args.overlap is None else args.overlap,
                              conf["copies"] if args.copies is None else args.copies)
        if args.assign:
            names = [n.strip() for n in (args.annotators or "").split(",") if n.strip()] or None
            added = team.extend(store, pid, team.pool_order(store, pid, args.strategy), names)
            print("assigned: " + ", ".join(f"{a} +{n}" for a, n in added.items()))
        conf, progress = team.settings(store, pid), team.progress(store, pid)
    if args.json:
        print(json.dumps({"settings": conf, "progress": progress}, indent=2))
        return 0
    print(f"overlap {conf['overlap']:.0%}, copies {conf['copies']}")
    print(_table(["annotator", "done", "assigned", "overlapped"],
                 [[p["annotator"], p["done"], p["assigned"], p["overlapped"]] for p in progress])
          if progress else "no queues yet (assign them with --assign)")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    with _opened(args) as (store, project):
        if args.sentence is None:
            items = review.disagreements(store, project["id"], reviewed=args.all)
            if args.json:
                print(json.dumps(items, indent=2))
            else:
                print(_table(["id", "annotators", "differ", "reviewed"],
                             [[d["sentence_id"], ",".join(d["annotators"]), len(d["tokens"]), d["reviewed"]]
                              for d in items]) if items else "nothing to review: no disagreement")
            return 0
        if not store.sentences(project["id"], ids=[args.sentence]):
            raise CliError(f"project {project['name']!r} has no sentence with id {args.sentence}")
        if args.accept is None and args.tags is None:
            for name, tags in review.versions(store, args.sentence).items():
                print(f"{name}\t{' '.join(tags)}")
            return 0
        try:
            if args.accept is not None:
                review.accept(store, args.sentence, args.accept, reviewer=args.reviewer)
            else:
                review.adjudicate(store, args.sentence, args.tags.split(), reviewer=args.reviewer)
        except KeyError as e:
            raise CliError(str(e.args[0])) from None
    print(f"sentence {args.sentence}: reviewed label stored (source review) by {args.reviewer}")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the team and review commands through cli.build's `add`."""
    p = add("team", cmd_team, "shared work: the overlap setting, per-annotator queues over the unlabelled pool "
            "(stored, so they stay stable), progress per annotator")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--overlap", type=float, metavar="SHARE", help="share of sentences labelled by several (0-1)")
    p.add_argument("--copies", type=int, metavar="N", help="annotators per overlapped sentence (default 2)")
    p.add_argument("--assign", action="store_true", help="assign the unassigned pool to the annotators' queues")
    p.add_argument("--annotators", metavar="A,B,...", help="default: the accounts with role annotator, else the "
                   "names that saved labels")
    p.add_argument("--strategy", metavar="S", help="queue order by active learning (" + vocab.STRATEGY_HELP +
                   "); default: in order")
    p.add_argument("--json", action="store_true")

    p = add("review", cmd_review, "review: list the sentences where annotators disagree, show one's versions, or "
            "store the reviewed label (source review, ahead of every human label)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("sentence", nargs="?", type=int, metavar="SENTENCE_ID")
    p.add_argument("--list", action="store_true", help="list the disagreements (the default without SENTENCE_ID)")
    p.add_argument("--all", action="store_true", help="with --list: the reviewed ones too")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--accept", metavar="ANNOTATOR", help="adopt this annotator's version")
    g.add_argument("--tags", metavar="'B-PER O ...'", help="the reviewed tags, space-separated (IOB2)")
    p.add_argument("--reviewer", default="owner", metavar="NAME", help="who reviews (default: owner)")
    p.add_argument("--json", action="store_true")
