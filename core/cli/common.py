"""What the nerloop commands share: the error type, argument types, the store they open, tables and figures,
and how a command is added to the parser."""
from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import formats, paths
from core.access import OWNER, Actor, require
from core.formats import FormatError, Sentence
from core.store import ModelVersion, Project, SentenceRow, Store


class CliError(Exception):
    """A failure reported as one line on stderr, with its exit code (2 bad input, 1 runtime failure)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def positive(kind: type) -> Callable[[str], Any]:
    """An argument type: a number of `kind` above zero."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    return parse


def whole(text: str) -> int:
    """An argument type: a whole number >= 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, not {text!r}")
    return int(text)


def comma_list(text: str) -> list[str]:
    """An argument type: comma-separated names, blanks dropped."""
    return [label.strip() for label in text.split(",") if label.strip()]


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an error's message (a KeyError's without its quotes)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as left-aligned columns under their headers."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def figure(x: float | None) -> str:
    """A score with four decimals, or - when there is none."""
    return "-" if x is None else f"{x:.4f}"


def when(iso: str | None) -> str:
    """An ISO time to the second, as `YYYY-MM-DD HH:MM:SS` (- when there is none)."""
    return (iso or "-")[:19].replace("T", " ")


def read_corpus(path: str, fmt: str | None = None, lines: bool | None = None) -> formats.Corpus:
    """A corpus file, read whole; an unreadable file is a CliError."""
    try:
        return formats.read(path, fmt=fmt, lines=lines)
    except OSError as e:
        raise CliError(f"{path}: {e.strerror or e}") from None


def model_dir(path: str) -> str:
    """`path`, when it is a model folder (it holds config.json); else a CliError saying what it is."""
    if not (Path(path) / "config.json").is_file():
        what = "no such folder" if not Path(path).exists() else "not a model folder (no config.json)"
        raise CliError(f"{path}: {what}")
    return path


def command_line(args: argparse.Namespace) -> str:
    """The nerloop command line being run (for the model card)."""
    return shlex.join(["nerloop", *args.argv])


def quiet_transformers() -> None:
    """Silence the transformers load reports and progress bars (the CLI draws its own)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_tagger(folder: str):
    """The tagger saved in `folder` (core.predict.load), loaded without transformers' reports."""
    from core import predict

    quiet_transformers()
    return predict.load(folder)


def _db_path(args: argparse.Namespace) -> Path:
    """--db, else $NERLOOP_DB, else a legacy ./nerloop.db, else the data folder's; absolute (see core.paths)."""
    return paths.db_path(args.db)


def open_store(args: argparse.Namespace, *, create: bool = False) -> Store:
    """The store of --db (see _db_path); it must exist unless `create`."""
    path = _db_path(args)
    if not create and not path.exists():
        raise CliError(f"no database at {path} (create a project with `nerloop init`, or pass --db)")
    if create and (note := paths.earlier_use(path)):
        print(f"nerloop: note: {note}", file=sys.stderr)
    return Store(path)  # StoreError (damaged, read-only, unopenable): exit code 1, see main


def actor_of(args: argparse.Namespace, store: Store) -> Actor:
    """Who the command acts as: the account named by --as (its role is checked by core), else the local owner."""
    name = getattr(args, "as_user", None)
    if name is None:
        return OWNER
    from core import users

    try:
        return users.actor(store, name)
    except KeyError:
        raise CliError(f"--as {name}: no such account (see `nerloop users list`)") from None


@contextlib.contextmanager
def opened(args: argparse.Namespace, action: str) -> Iterator[tuple[Store, Project]]:
    """The store and the project named by args.project, once the acting user (--as) may do `action` there: its role
    first, then its membership (KeyError when there is no such project, PermissionError naming why not); closed on
    the way out."""
    store = open_store(args)
    try:
        actor = actor_of(args, store)
        require(actor, action)
        project = store.project(args.project)
        store.authorize(actor, action, project.id)
        yield store, project
    finally:
        store.close()


def as_sentence(row: SentenceRow) -> Sentence:
    """A stored sentence row as a formats.Sentence."""
    doc = row.document_id
    return Sentence(list(row.words), row.tags, row.text, list(row.offsets),
                    None if doc is None else str(doc))


def labelled(path: str) -> list[Sentence]:
    """The sentences of a file that must be labelled (training, evaluation): a FormatError at the first that is not."""
    sentences = read_corpus(path).sentences
    for s in sentences:
        if s.tags is None:
            raise FormatError(path, s.line, "sentence has no labels (training and evaluation data must be labelled)")
    return sentences


def project_model(store: Store, project: Project, model_id: int | None) -> ModelVersion:
    """The version `model_id` of the project, or its serving version."""
    if model_id is None:
        model = store.serving(project.id)
        if model is None:
            raise CliError(f"project {project.name!r} has no serving model "
                           f"(train one, or `nerloop models {project.name} promote ID`)")
        return model
    model = store.model(model_id)
    if model.project_id != project.id:
        raise CliError(f"model {model_id} belongs to another project")
    return model


def strategies(text: str) -> list[str]:
    """An argument type: comma-separated active-learning strategies, each checked."""
    from core.active import parse_strategy

    try:
        return [str(parse_strategy(part)) for part in text.split(",") if part.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def available(fmt: str | None) -> None:
    """A CliError (exit 2) naming what to install when format `fmt` needs a module that is missing."""
    if fmt is not None and (missing := formats.get(fmt).missing_dependency):
        raise CliError(missing)


def writable(path: str) -> None:
    """A CliError when the folder that would hold `path` does not exist."""
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise CliError(f"{path}: no such folder {folder}")


@dataclass(frozen=True)
class Parents:
    """The parent parsers commands take options from: the global ones (--db, -v, --as) and the hyperparameters."""

    db: argparse.ArgumentParser
    hp: argparse.ArgumentParser


def adder(sub: argparse._SubParsersAction, parents: Parents) -> Callable[..., argparse.ArgumentParser]:
    """add(name, func, help, parents=(db,)): a command run by `func`, whose help is also its description."""

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str,
            with_options: Sequence[argparse.ArgumentParser] = (parents.db,)) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=list(with_options))
        p.set_defaults(func=func)
        return p
    return add


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose subcommands may have a default one: arguments that start with neither one of
    `subcommands` nor an option go to `default_subcommand` (`jobs news` reads as `jobs list news`)."""

    default_subcommand: str | None = None
    subcommands: Collection[str] = ()

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        if self.default_subcommand and args and args[0] not in self.subcommands and not args[0].startswith("-"):
            args = [self.default_subcommand, *args]
        return super().parse_known_args(args, namespace)
