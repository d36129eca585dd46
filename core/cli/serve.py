"""The serve command: the app as `make run` starts it, refused before it starts where it must not serve; the learn
command: the live learner the app starts, in the foreground."""
from __future__ import annotations

import argparse
import os
import sys

from core import serve
from core.cli.common import CliError, Parents, adder, open_store, opened


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add serve to the parser."""
    add = adder(sub, parents)
    p = add("serve", cmd_serve, "start the app (`streamlit run app.py` with the app's settings); on an address "
            "beyond this machine only when an admin account exists")
    p.add_argument("streamlit", nargs=argparse.REMAINDER, metavar="-- STREAMLIT_OPTION",
                   help="options for Streamlit after --, e.g. `-- --server.port 8502` or `-- --server.address 0.0.0.0`")


    p = add("learn", cmd_learn, "run the live learner in the foreground (the app starts one itself): after every "
            "saved label, refit the project's live head on cached encoder states and publish its predictions")
    p.add_argument("project", nargs="?", help="only this project (default: every project)")
    p.add_argument("--once", action="store_true",
                   help="stop once every sentence is encoded and the head has seen every label")


def cmd_learn(args: argparse.Namespace) -> int:
    from core import learner, procs

    project = None
    if args.project is not None:
        with opened(args, "train") as (_, proj):
            project = proj.id
    store = open_store(args)
    try:
        path, claim = store.path, store.learner_claim()
    finally:
        store.close()
    if claim and procs.alive(claim.get("pid"), claim.get("started")):
        raise CliError(f"learn: a learner already serves {path} (process {claim['pid']}); stop it first")
    if learner.serve(str(path), project=project, once=args.once) != 0:
        raise CliError(f"learn: another learner started on {path} meanwhile")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    options = args.streamlit[1:] if args.streamlit[:1] == ["--"] else args.streamlit
    if options and not options[0].startswith("--"):
        raise CliError(f"serve: {options[0]!r} is not a Streamlit option (they start with --, after a lone --)")
    try:
        address = serve.address(options)
    except ValueError as e:
        raise CliError(str(e)) from None
    store = open_store(args, create=True)
    try:
        path, refusal, note = store.path, serve.refusal(address, store), serve.start_note(address, store)
    finally:
        store.close()
    if refusal:
        raise CliError(refusal)
    print(f"nerloop: {note}; data in {path}", file=sys.stderr, flush=True)
    os.environ["NERLOOP_DB"] = str(path)  # the app opens the database checked here, wherever it starts
    serve.run(options)
    return 0  # not reached: run replaces this process
