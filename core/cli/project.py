"""Commands on projects and their sentences: init, import, projects, flag, patterns."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import formats, vocab
from core.cli.common import CliError, Parents, actor_of, adder, available, comma_list, open_store, opened, table
from core.formats import FormatError
from core.store import NEW_LABEL_HINT


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add init, import, projects, flag and patterns to the parser."""
    add, db = adder(sub, parents), parents.db
    p = add("init", cmd_init, "create a project")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--labels", type=comma_list, default=[], metavar="PER,LOC,...", help="entity types, comma-separated")

    p = add("import", cmd_import, "import corpus files into a project (all files parse, or nothing is imported)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--split", choices=vocab.SPLITS, help="default: train for labelled files, else unlabeled")
    p.add_argument("--format", choices=formats.FORMATS,
                   help="default: from the extension and content; hf: a Hugging Face datasets folder or a zip of one")
    p.add_argument("--language", choices=formats.LANGUAGES, default="en", metavar="CODE",
                   help="plain text: the language whose sentence rules split it (ISO 639-1, default: en)")
    p.add_argument("--layer", metavar="LAYER[|FEATURE]", help="webanno: the span layer (and feature) to edit, e.g. "
                   "NamedEntity (the default, |value), webanno.custom.Span; the other layers are kept as they are")
    demo_or_person = p.add_mutually_exclusive_group()
    demo_or_person.add_argument("--hidden-gold", action="store_true", help="demo mode: labelled files become an "
                                "unlabeled pool whose gold tags stay hidden until `nerloop reveal` picks them")
    p.add_argument("--new-labels", action="store_true", help="add entity types the project does not have yet "
                   "(without it, an unknown type stops the import; a project without labels takes the files')")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--lines", dest="lines", action="store_const", const=True, help="plain text: each non-empty line "
                   "is one sentence (default for files that look so)")
    g.add_argument("--split-sentences", dest="lines", action="store_const", const=False,
                   help="plain text: split lines into sentences (default otherwise)")
    demo_or_person.add_argument("--annotator", metavar="NAME", help="record the files' labels as this person's "
                                "human labels (sentences already in the project get them too), for agreement")

    add("projects", cmd_projects, "list projects with sentence counts")

    p = add("flag", cmd_flag, "flag sentences as junk: they leave the labelling queue, training and active learning "
            "(--restore brings them back); with no ID, list the flagged ones")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("ids", nargs="*", type=int, metavar="ID", help="sentence ids (as `suggest` and exports show them)")
    p.add_argument("--restore", action="store_true", help="unflag: the sentences come back")
    p.add_argument("--annotator", default="", metavar="NAME", help="who flags (kept in the history; default: the "
                   "acting user, --as; another name only for an admin)")

    p = add("patterns", cmd_patterns, "entity patterns (spaCy EntityRuler JSONL) that pre-tag a project's sentences "
            "before its first model: add a file, list, clear, export")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("add", help="add a file's patterns (all of them, or none when a line is bad)", parents=[db])
    a.add_argument("project", metavar="PROJECT")
    a.add_argument("file", metavar="FILE", help='JSONL: {"label": LABEL, "pattern": TEXT or [token objects]}')
    for action, help in (("list", "list the patterns"), ("clear", "remove every pattern"),
                         ("export", "print the patterns as EntityRuler JSONL")):
        actions.add_parser(action, help=help, parents=[db]).add_argument("project", metavar="PROJECT")


def cmd_init(args: argparse.Namespace) -> int:
    store = open_store(args, create=True)
    try:
        project_id = store.create_project(args.name, args.labels, actor=actor_of(args, store))
    finally:
        store.close()
    print(f"created project {args.name!r} (id {project_id}) with labels: {', '.join(args.labels) or '(none yet)'}")
    return 0


def _stream(path: str, fmt: str | None, lines: bool | None, language: str = "en",
            layer: str | None = None) -> formats.Stream:
    try:
        return formats.iter_read(path, fmt=fmt, lines=lines, language=language, layer=layer)
    except OSError as e:
        raise CliError(f"{path}: {e.strerror or e}") from None


def cmd_import(args: argparse.Namespace) -> int:
    if args.hidden_gold and args.split not in (None, "unlabeled"):
        raise CliError("import: --hidden-gold imports into the unlabeled split, not --split " + args.split)
    split = "unlabeled" if args.hidden_gold else args.split  # None: train for a labelled file, else unlabeled
    if args.annotator is not None and not args.annotator.strip():
        raise CliError("import: --annotator needs a name")
    human = {"source": "human", "annotator": args.annotator.strip()} if args.annotator is not None else {}
    available(args.format)
    with opened(args, "import") as (store, project):
        batches = [(_stream(path, args.format, args.lines, args.language, args.layer), split, path)
                   for path in args.files]
        try:  # one transaction for every file, each read a chunk at a time: all of them are imported, or none
            results = store.import_many(project.id, batches, new_labels=args.new_labels,
                                        hidden_gold=args.hidden_gold, actor=actor_of(args, store), **human)
        except OSError as e:
            raise CliError(f"{e.filename}: {e.strerror or e}") from None
        except FormatError as e:
            if e.problem.endswith(NEW_LABEL_HINT):
                raise FormatError(e.file, e.line, e.problem.removesuffix(NEW_LABEL_HINT)
                                  + "; --new-labels adds it") from None
            raise
        for (s, split, path), r in zip(batches, results):
            if notes := formats.notes_text(s.notes):
                print(f"{path}: {notes}")
            if args.hidden_gold:
                print(f"{path}: {r['added']} added, {r['duplicates']} duplicates, {r['hidden']} with hidden gold "
                      "-> unlabeled")
            else:
                into = [f"{k} {n}" for k, n in r.get("splits", {}).items()]  # the file's own splits (hf)
                into += [r.get("split", split)] if not into or "split" in r else []
                suggested = f", {r['suggested']} with model suggestions" if r.get("suggested") else ""
                carrying = (f" ({r['duplicates_carrying']} of them with data kept but not editable, not imported "
                            "again)" if r.get("duplicates_carrying") else "")
                print(f"{path}: {r['added']} added, {r['duplicates']} duplicates{carrying}, {r['annotated']} "
                      f"annotated{suggested} -> {', '.join(into)}")
        new = [label for label in store.project(project.id).labels if label not in project.labels]
        if new:
            print(f"new labels added to {project.name!r}: {', '.join(new)}")
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        rows = []
        for p in store.projects(actor_of(args, store)):  # those the acting user may open
            c = store.counts(p.id)
            serving = store.serving(p.id)
            rows.append([p.id, p.name, ",".join(p.labels) or "-", *(c["by_split"][s] for s in vocab.SPLITS),
                         c["labelled"], c["human"], serving.name if serving else "-"])
    finally:
        store.close()
    print(table(["id", "name", "labels", *vocab.SPLITS, "labelled", "human", "serving"], rows) if rows
          else "no projects")
    return 0


def cmd_flag(args: argparse.Namespace) -> int:
    with opened(args, "flag") as (store, project):
        if not args.ids:
            rows = store.sentences(project.id, flagged=True)
            print(table(["id", "split", "tokens", "text"], [[r.id, r.split, len(r.words), r.text[:100]]
                                                            for r in rows]) if rows else "no flagged sentences")
            return 0
        found = {r.id for r in store.sentences(project.id, ids=args.ids)}
        missing = sorted(set(args.ids) - found)
        if missing:
            raise CliError(f"project {project.name!r} has no sentence with id {', '.join(map(str, missing))}")
        changed = store.flag(args.ids, not args.restore, annotator=args.annotator, actor=actor_of(args, store))
    what = "restored" if args.restore else "flagged as junk"
    unchanged = len(set(args.ids)) - len(changed)
    print(f"{len(changed)} sentence(s) {what}" + (f", {unchanged} already were" if unchanged else ""))
    return 0


def cmd_patterns(args: argparse.Namespace) -> int:
    from core import patterns

    with opened(args, "annotate") as (store, project):
        if args.action == "add":
            try:
                text = Path(args.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise CliError(f"{args.file}: {getattr(e, 'strerror', None) or e}") from None
            r = patterns.add_to_project(store, project.id, text, name=args.file, actor=actor_of(args, store))
            print(f"{args.file}: {r['added']} added, {r['duplicates']} duplicates skipped; {project.name!r} has "
                  f"{store.patterns_stamp(project.id)[0]} patterns")
        elif args.action == "list":
            rules = store.patterns(project.id)
            rows = [[r.label, json.dumps(r.to_json()["pattern"], ensure_ascii=False)] for r in rules]
            print(table(["label", "pattern"], rows) if rows else "no patterns")
        elif args.action == "clear":
            removed = store.clear_patterns(project.id, actor=actor_of(args, store))
            print(f"removed {removed} patterns from {project.name!r}")
        else:
            sys.stdout.write(patterns.dumps(store.patterns(project.id)))
    return 0
