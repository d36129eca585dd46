"""The serve command: the app as `make run` starts it, refused before it starts where it must not serve."""
from __future__ import annotations

import argparse
import os
import sys

from core import serve
from core.cli.common import CliError, Parents, adder, open_store


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add serve to the parser."""
    add = adder(sub, parents)
    p = add("serve", cmd_serve, "start the app (`streamlit run app.py` with the app's settings); on an address "
            "beyond this machine only when an admin account exists")
    p.add_argument("streamlit", nargs=argparse.REMAINDER, metavar="-- STREAMLIT_OPTION",
                   help="options for Streamlit after --, e.g. `-- --server.port 8502` or `-- --server.address 0.0.0.0`")


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
