"""Commands of a team: team (overlap and queues), review, agreement, users, audit."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import vocab
from core.access import AUDIT_KINDS, require
from core.cli.common import CliError, Parents, actor_of, adder, figure, open_store, opened, table, when
from core.store import ROLES


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add team, review, agreement, users and audit to the parser."""
    add, db = adder(sub, parents), parents.db
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
    p.add_argument("--add-member", action="append", default=[], metavar="NAME[:ROLE]",
                   help="let an account open the project, as annotator (the default) or reviewer there; repeatable")
    p.add_argument("--remove-member", action="append", default=[], metavar="NAME",
                   help="the account no longer opens the project (its work stays); repeatable")
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
    p.add_argument("--reviewer", metavar="NAME", help="who reviews (default: the acting user, --as; another name only "
                   "for an admin, and then both are recorded)")
    p.add_argument("--json", action="store_true")

    p = add("agreement", cmd_agreement, "inter-annotator agreement: pairwise entity F1 and token kappa on the "
            "sentences two annotators both labelled")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")

    p = add("users", cmd_users, "local accounts: add, list, change a password or role, remove")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    pw = argparse.ArgumentParser(add_help=False)
    pw.add_argument("--password-file", metavar="FILE", help="read the password from the file's first line "
                    "(default: a prompt)")
    role = {"choices": ROLES, "metavar": "|".join(ROLES)}
    a = actions.add_parser("add", help="add an account", parents=[db, pw])
    a.add_argument("name", metavar="NAME")
    a.add_argument("--role", required=True, **role)
    actions.add_parser("list", help="list the accounts", parents=[db])
    a = actions.add_parser("passwd", help="set a new password", parents=[db, pw])
    a.add_argument("name", metavar="NAME")
    a = actions.add_parser("role", help="change an account's role", parents=[db])
    a.add_argument("name", metavar="NAME")
    a.add_argument("role", **role)
    a = actions.add_parser("remove", help="remove an account (its annotations stay)", parents=[db])
    a.add_argument("name", metavar="NAME")

    p = add("audit", cmd_audit, "who did what and when: imports, training, promotions, exports, project, team, "
            "review and flag changes, accounts and logins (admins only)")
    p.add_argument("project", nargs="?", metavar="PROJECT")
    p.add_argument("--all", action="store_true", help="every project's rows, and those of no project (users, logins)")
    p.add_argument("--actor", metavar="NAME", help="only the rows of this user")
    p.add_argument("--kind", metavar="ACTION", help="only rows of this kind (" + ", ".join(AUDIT_KINDS) + ")")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")


def cmd_team(args: argparse.Namespace) -> int:
    from core import team

    with opened(args, "review") as (store, project):
        pid, actor = project.id, actor_of(args, store)
        if args.add_member or args.remove_member:
            require(actor, "project")  # the role before any lookup
        for spec in args.add_member:
            name, _, role = spec.partition(":")
            store.set_member(pid, name.strip(), role.strip() or "annotator", actor=actor)
        for name in args.remove_member:
            if not store.remove_member(pid, name.strip(), actor=actor):
                raise CliError(f"team: {name.strip()[:64]!r} is no member of {project.name!r}")
        members = store.members(pid)
        if args.overlap is not None or args.copies is not None:
            conf = team.settings(store, pid)
            store.set_overlap(pid, conf["overlap"] if args.overlap is None else args.overlap,
                              conf["copies"] if args.copies is None else args.copies, actor=actor_of(args, store))
        if args.assign:
            names = [n.strip() for n in (args.annotators or "").split(",") if n.strip()] or None
            added = team.extend(store, pid, team.pool_order(store, pid, args.strategy), names,
                                actor=actor_of(args, store))
            print("assigned: " + ", ".join(f"{a} +{n}" for a, n in added.items()))
        conf, progress, members = team.settings(store, pid), team.progress(store, pid), store.members(pid)
    if args.json:
        print(json.dumps({"settings": conf, "members": members, "progress": progress}, indent=2))
        return 0
    print("members (admins open every project): " + (", ".join(f"{m['name']} ({m['role']})" for m in members)
                                                     or "none"))
    print(f"overlap {conf['overlap']:.0%}, copies {conf['copies']}")
    print(table(["annotator", "done", "assigned", "overlapped"],
                [[p["annotator"], p["done"], p["assigned"], p["overlapped"]] for p in progress])
          if progress else "no queues yet (assign them with --assign)")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from core import review

    with opened(args, "review") as (store, project):
        if args.sentence is None:
            items = review.disagreements(store, project.id, reviewed=args.all)
            if args.json:
                print(json.dumps(items, indent=2))
            else:
                print(table(["id", "annotators", "differ", "reviewed"],
                            [[d["sentence_id"], ",".join(d["annotators"]), len(d["tokens"]), d["reviewed"]]
                             for d in items]) if items else "nothing to review: no disagreement")
            return 0
        if not store.sentences(project.id, ids=[args.sentence]):
            raise CliError(f"project {project.name!r} has no sentence with id {args.sentence}")
        if args.accept is None and args.tags is None:
            for name, tags in review.versions(store, args.sentence).items():
                print(f"{name}\t{' '.join(tags)}")
            return 0
        actor = actor_of(args, store)
        reviewer = args.reviewer or actor.name
        try:
            if args.accept is not None:
                review.accept(store, args.sentence, args.accept, reviewer=reviewer, actor=actor)
            else:
                review.adjudicate(store, args.sentence, args.tags.split(), reviewer=reviewer, actor=actor)
        except KeyError as e:
            raise CliError(str(e.args[0])) from None
    print(f"sentence {args.sentence}: reviewed label stored (source review) by {reviewer}")
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    from core import agreement

    with opened(args, "review") as (store, project):
        result = agreement.project_agreement(store, project.id)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if not result["pairs"]:
        print(f"no two annotators labelled the same sentence in {project.name!r} (name them with "
              "`nerloop import PROJECT FILE --annotator NAME` or the Annotate page's annotator box)")
        return 0
    print(table(["a", "b", "sentences", "f1", "kappa"],
                [[p["a"], p["b"], p["sentences"], figure(p["f1"]), figure(p["kappa"])] for p in result["pairs"]]))
    print()
    print(table(["a", "b", "label", "f1", "support"],
                [[p["a"], p["b"], label, figure(c["f1"]), c["support"]]
                 for p in result["pairs"] for label, c in p["per_class"].items()]))
    overall = result["overall"]
    print(f"\noverall (micro over every pair's shared sentences): f1 {figure(overall['f1'])}, "
          f"kappa {figure(overall['kappa'])}")
    return 0


def _password(args: argparse.Namespace) -> str:
    """The new password: the first line of --password-file, else typed twice at a prompt (never an argument)."""
    if args.password_file:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").split("\n", 1)[0].rstrip("\r")
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"{args.password_file}: {getattr(e, 'strerror', None) or e}") from None
    if not sys.stdin.isatty():
        raise CliError("no terminal to type the password in: pass --password-file FILE")
    import getpass

    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from core import users

    store = open_store(args, create=args.action == "add")
    try:
        if args.action == "list":
            rows = users.listing(store)
            print(table(["name", "role", "created"], [[u["name"], u["role"], when(u["created"])] for u in rows])
                  if rows else "no accounts: the app is single-user and listens on 127.0.0.1 only")
        elif args.action == "add":
            require(actor_of(args, store), "users")  # the role before the password prompt
            users.add(store, args.name, args.role, _password(args), actor=actor_of(args, store))
            print(f"added {args.role} {args.name!r}")
        elif args.action == "passwd":
            require(actor_of(args, store), "users")  # the role before any lookup or prompt
            if store.user(args.name) is None:
                raise KeyError(f"no user {args.name!r}")
            users.passwd(store, args.name, _password(args), actor=actor_of(args, store))
            print(f"changed the password of {args.name!r}")
        elif args.action == "role":
            users.set_role(store, args.name, args.role, actor=actor_of(args, store))
            print(f"{args.name!r} is now {args.role}")
        else:
            users.remove(store, args.name, actor=actor_of(args, store))
            print(f"removed {args.name!r} (their annotations stay, attributed to them)")
    finally:
        store.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    if (args.project is None) == (not args.all):
        raise CliError("audit: name a PROJECT or pass --all")
    store = open_store(args)
    try:
        actor = actor_of(args, store)
        require(actor, "audit")
        project_id = None if args.all else store.open_project(args.project, actor).id
        names = {p.id: p.name for p in store.projects()}
        rows = store.audit(project_id, actor=args.actor, action=args.kind)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(table(["id", "when", "user", "role", "action", "project", "detail"],
                [[r["id"], when(r["created"]), r["actor"], r["role"], r["action"],
                  names.get(r["project_id"], "-"), json.dumps(r["detail"], ensure_ascii=False)] for r in rows])
          if rows else "nothing recorded yet")
    return 0
