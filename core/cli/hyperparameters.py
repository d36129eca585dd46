"""The hyperparameter options of `train` and `simulate`, one per TrainConfig field, generated from its declaration."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import Field, fields
from typing import Any

from core.cli.common import comma_list
from core.config import TrainConfig, check_freeze, out_of_range


def _freeze(text: str) -> str:
    """An argument type: none, embeddings or top-K (core.config.check_freeze)."""
    try:
        return check_freeze(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def overrides(args: argparse.Namespace) -> dict:
    """TrainConfig fields given on the command line (the rest keep the trainer's defaults)."""
    return {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}


def _hp_type(f: Field) -> Callable[[str], Any]:
    """The argparse type of a TrainConfig field: its declared kind, checked against its declared range."""
    kind = f.metadata["kind"]
    if kind is list:
        return comma_list
    if f.name == "freeze":
        return _freeze
    if kind is str:
        return str

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {'whole ' if kind is int else ''}number, not {text!r}") \
                from None
        problem = out_of_range(f, value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    return parse


def add_hyperparameters(group: argparse._ArgumentGroup) -> None:
    """One option per TrainConfig field, generated from its declaration (help, range, choices, default)."""
    for f in fields(TrainConfig):
        meta, flag = f.metadata, "--" + f.name.replace("_", "-")
        help = f"{meta['help']} (default: {f.default if f.default is not None else 'none'})".replace("%", "%%")
        if meta["kind"] is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help)
            continue
        choices = meta["choices"] if f.name != "freeze" else None
        kind = meta["kind"]
        metavar = ("none|embeddings|top-K" if f.name == "freeze" else "|".join(choices) if choices
                   else "A,B,..." if kind is list else "N" if kind is int else "X" if kind is float else "TEXT")
        group.add_argument(flag, type=_hp_type(f), choices=choices, default=None, metavar=metavar, help=help)
