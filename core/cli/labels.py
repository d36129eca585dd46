"""The `labels` command: a project's entity types edited with their history (add, rename, merge, split, undo), the
history, and the sentences partial for a type."""
from __future__ import annotations

import argparse

from core import labelhistory
from core.cli.common import Parents, actor_of, adder, comma_list, opened, table, when

_HELP = {"add": "add entity types: sentences labelled before are partial for them until saved again",
         "rename": "rename a type (every annotation, draft and pattern follows; the model keeps its head rows)",
         "merge": "merge types into one (a new name or one of them; the head rows are averaged)",
         "split": "split a type into two or more (its tags become the first; labelled sentences are partial for the "
                  "parts until saved again; each part's head rows start from the old ones)",
         "undo": "undo the latest label edit in force (kept in the history)",
         "history": "the label edits, oldest first, and how many labelled sentences are partial now"}


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add `labels ACTION PROJECT ...` to the parser."""
    p = adder(sub, parents)("labels", cmd_labels, "edit a project's entity types with their history: add, rename, "
                            "merge, split, undo, history")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, help in _HELP.items():
        a = actions.add_parser(action, help=help, description=help, parents=[parents.db])
        a.add_argument("project", metavar="PROJECT")
        if action == "add":
            a.add_argument("types", type=comma_list, metavar="TYPE[,TYPE...]")
        elif action == "rename":
            a.add_argument("source", metavar="OLD")
            a.add_argument("target", metavar="NEW")
        elif action == "merge":
            a.add_argument("sources", type=comma_list, metavar="A,B[,...]")
            a.add_argument("target", metavar="INTO")
        elif action == "split":
            a.add_argument("source", metavar="TYPE")
            a.add_argument("targets", type=comma_list, metavar="PART,PART[,...]")


def cmd_labels(args: argparse.Namespace) -> int:
    if args.action == "history":
        return _history(args)
    with opened(args, "project") as (store, project):
        actor = actor_of(args, store)
        if args.action == "undo":
            done = labelhistory.undo(store, project.id, actor=actor)
            print(f"undone: {done.describe()}")
        else:
            sources = {"add": [], "rename": [getattr(args, "source", "")], "merge": getattr(args, "sources", []),
                       "split": [getattr(args, "source", "")]}[args.action]
            targets = getattr(args, "types", None) or getattr(args, "targets", None) or [args.target]
            done = labelhistory.edit(store, project.id, args.action, sources, targets, actor=actor)
            print(done.describe())
        partial = labelhistory.partial(store, project.id)
        print(f"{project.name!r} labels: {', '.join(store.project(project.id).labels) or '(none)'}; "
              f"{len(partial)} labelled train/dev sentence(s) partial")
    return 0


def _history(args: argparse.Namespace) -> int:
    with opened(args, "annotate") as (store, project):
        events = store.label_events(project.id)
        rows = []
        for e in events:
            if e["op"] == "undo":
                what = f"undo of {e['detail']['event']}"
            else:
                what = labelhistory.Edit.of(e["detail"]).describe()
            rows.append([e["id"], when(e["created"]), e["actor"] or "-", what,
                         f"undone {when(e['undone'])}" if e["undone"] else "", ", ".join(e["labels"])])
        print(table(["id", "when", "by", "edit", "", "labels after"], rows) if events else
              f"project {project.name!r} has no label edits")
        partial = labelhistory.partial(store, project.id)
        counts: dict[str, int] = {}
        for types in partial.values():
            for t in types:
                counts[t] = counts.get(t, 0) + 1
        if partial:
            print(f"{len(partial)} labelled train/dev sentence(s) partial: "
                  + ", ".join(f"{t} {n}" for t, n in sorted(counts.items())))
    return 0
