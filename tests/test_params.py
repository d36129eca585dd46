"""Hyperparameters declared once: every TrainConfig field is a CLI option and a Train page widget, with its
declared default, range and choices."""
from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pytest

from core import cli, formats
from core.cli.hyperparameters import overrides
from core.config import TrainConfig
from core.job_params import JobParams
from core.store import Store

from apptest import open_app

FIELDS = fields(TrainConfig)
DATA = Path(__file__).parent / "data"


def _options(parser: argparse.ArgumentParser, command: str) -> dict[str, argparse.Action]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {flag: action for action in sub._actions for flag in action.option_strings}


@pytest.mark.parametrize("command", ["train", "simulate"])
def test_every_field_is_an_option_with_its_declaration(command):
    options = _options(cli.build_parser(), command)
    for f in FIELDS:
        action = options["--" + f.name.replace("_", "-")]
        assert action.dest == f.name and action.default is None, f.name  # unset: the trainer's default
        assert f.metadata["help"] in action.help, f.name
        assert action.choices == (f.metadata["choices"] if f.name != "freeze" else None), f.name
    assert options["--no-shape"].dest == "shape"


def test_options_reach_the_config_and_ranges_are_enforced(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--train", "x", "--out", "y", "--head-lr", "0.002", "--warm-min-steps", "7",
                              "--patience", "0", "--no-shape", "--dropout", "0.2", "--labels", "O,B-PER,I-PER",
                              "--device", "cpu", "--freeze", "top-30"])
    cfg = TrainConfig(**overrides(args))
    assert (cfg.head_lr, cfg.warm_min_steps, cfg.patience, cfg.shape, cfg.dropout, cfg.labels, cfg.device,
            cfg.freeze) == (0.002, 7, 0, False, 0.2, ["O", "B-PER", "I-PER"], "cpu", "top-30")
    assert cfg.epochs == TrainConfig().epochs  # not given: the declared default
    for bad, problem in ((["--warmup", "1.5"], "must be at most 1"), (["--patience", "-1"], "must not be negative"),
                         (["--epochs", "0"], "must be positive"), (["--device", "tpu"], "invalid choice"),
                         (["--max-batch-tokens", "2.5"], "expected a whole number")):
        assert cli.main(["train", "--train", "x", "--out", "y", *bad]) == 2
        assert problem in capsys.readouterr().err, bad


def test_config_enforces_the_declared_ranges():
    for f in FIELDS:
        low, high = f.metadata["low"], f.metadata["high"]
        if low is not None:
            with pytest.raises(ValueError, match=f.name):
                TrainConfig(**{f.name: f.metadata["kind"](low - 1)})
        if high is not None:
            with pytest.raises(ValueError, match=f.name):
                TrainConfig(**{f.name: f.metadata["kind"](high + 1)})


def test_every_field_is_a_widget_of_the_train_page_with_its_declaration(monkeypatch, tmp_path):
    store = Store(tmp_path / "nerloop.db")
    pid = store.create_project("news", ["PER", "LOC", "ORG", "MISC"])
    store.import_sentences(pid, formats.read(DATA / "sample.conll").sentences, split="train")
    store.close()
    at = open_app(pid, "pages/train.py", monkeypatch=monkeypatch, db=tmp_path / "nerloop.db")
    widgets = {w.key: w for kind in ("number_input", "text_input", "selectbox", "checkbox")
               for w in getattr(at, kind) if w.key}
    for f in FIELDS:
        w, meta = widgets[f"train_{f.name}"], f.metadata
        if meta["kind"] in (int, float):
            scale = meta["scale"]
            assert w.value == (None if f.default is None else f.default / scale), f.name
            assert w.min == (None if meta["low"] is None else meta["low"] / scale), f.name
            assert w.max == (None if meta["high"] is None else meta["high"] / scale), f.name
        elif meta["choices"]:
            assert w.options == list(meta["choices"]) and w.value == f.default, f.name
        elif meta["kind"] is list:
            assert w.value == "", f.name
        else:
            assert w.value == f.default, f.name
        assert meta["help"][1:] in w.help, f.name

    at.number_input(key="train_head_lr").set_value(0.002)
    at.number_input(key="train_warm_min_steps").set_value(7)
    at.number_input(key="train_patience").set_value(1)
    at.number_input(key="train_time_budget").set_value(2.0)
    at.checkbox(key="train_shape").uncheck()
    at.selectbox(key="train_device").set_value("cpu")
    at.text_input(key="train_labels").set_value("O, B-PER,I-PER").run()
    assert not at.exception, at.exception
    from core import jobs, retrain

    params = {}
    monkeypatch.setattr(jobs, "start", lambda store, project_id, p, actor: params.update(p) or 1)
    monkeypatch.setattr(retrain, "why_not_train", lambda store, project_id: None)
    at.button(key="train_start").click().run()
    cfg = JobParams.parse(params).config
    assert (cfg.head_lr, cfg.warm_min_steps, cfg.patience, cfg.time_budget, cfg.shape, cfg.device, cfg.labels) \
        == (0.002, 7, 1, 120.0, False, "cpu", ["O", "B-PER", "I-PER"])
