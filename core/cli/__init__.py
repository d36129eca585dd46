"""The `nerloop` command line: projects, import/export, training, evaluation, prediction, models, jobs, a team's
work and the simulated annotator; one module per group of commands, each adding its own to the parser."""
from __future__ import annotations

import argparse
import logging
import sys

from core import paths
from core.vocab import clip
from core.cli import active, exports, labels, models, project, serve, team, training
from core.cli.common import CliError, Parents, Parser, first_line
from core.cli.hyperparameters import add_hyperparameters
from core.formats import FormatError
from core.store import StoreError

GROUPS = (project, labels, team, training, models, exports, active, serve)  # the order of the commands in --help


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command: the global options, then each group's commands."""
    db_help = (f"database file (default: $NERLOOP_DB, else ./{paths.DB_NAME} if there is one, else "
               f"$NERLOOP_HOME/{paths.DB_NAME}; NERLOOP_HOME defaults to ~/.nerloop)")
    parser = Parser(prog="nerloop", description="Human-in-the-loop NER: import, train, evaluate, predict and manage "
                    "model versions.")
    as_help = ("act as this account: its role decides what the command may do, and the audit trail names it "
               "(default: the local owner, an admin)")
    verbose_help = "log what happens (training plan, evaluations, saves, promotion); -vv: debug details"
    parser.add_argument("--db", metavar="PATH", help=db_help)
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose_help)
    parser.add_argument("--as", dest="as_user", metavar="NAME", help=as_help)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=db_help)
    db.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=verbose_help)
    db.add_argument("--as", dest="as_user", metavar="NAME", default=argparse.SUPPRESS, help=as_help)
    hp = argparse.ArgumentParser(add_help=False)
    add_hyperparameters(hp.add_argument_group("hyperparameters (default: the trainer's)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.register(sub, Parents(db=db, hp=hp))
    return parser


def _log_to_stderr(level: int) -> None:
    """Log at `level` and above, on stderr unless a handler is set up already."""
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)



def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 runtime failure, 2 usage or bad input, 3 refused: the acting
    user's role or project membership does not allow it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.verbose:  # else warnings only, on stderr (logging's last resort)
        _log_to_stderr(logging.INFO if args.verbose == 1 else logging.DEBUG)
    try:
        return args.func(args)
    except CliError as e:
        message, code = str(e), e.code
    except FormatError as e:
        message, code = str(e), 2
    except PermissionError as e:
        message, code = str(e), 3
    except StoreError as e:
        message, code = str(e), 1
    except (KeyError, ValueError) as e:
        message, code = first_line(e), 2
    except KeyboardInterrupt:
        message, code = "interrupted", 130
    except Exception as e:
        message, code = f"{type(e).__name__}: {first_line(e)}", 1
    print(f"nerloop: error: {clip(message)}", file=sys.stderr)
    return code

