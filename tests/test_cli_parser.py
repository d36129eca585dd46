"""The command line's parser: `jobs` subcommands (list by default), argparse's mutual exclusion, the package's entry
points."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core import cli
from core.cli import main
from core.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def two_jobs(tmp_path):
    """A database with projects news and bio, one queued job each (ids 1 and 2)."""
    db = str(tmp_path / "jobs.db")
    store = Store(db)
    news, bio = store.create_project("news", ["PER"]), store.create_project("bio", ["GENE"])
    assert (store.create_job(news, "train", {"epochs": 1}), store.create_job(bio, "train", {})) == (1, 2)
    store.close()
    return db


def _listed(out: str) -> list[tuple[str, str, str]]:
    return [tuple(line.split()[:3]) for line in out.splitlines()[1:]]


def test_jobs_lists_every_project_or_one(two_jobs, capsys):
    assert main(["--db", two_jobs, "jobs"]) == 0
    assert _listed(capsys.readouterr().out) == [("2", "bio", "queued"), ("1", "news", "queued")]
    assert main(["--db", two_jobs, "jobs", "news"]) == 0  # read as `jobs list news`
    assert _listed(capsys.readouterr().out) == [("1", "news", "queued")]
    assert main(["jobs", "list", "bio", "--db", two_jobs]) == 0
    assert _listed(capsys.readouterr().out) == [("2", "bio", "queued")]


def test_jobs_status_and_cancel(two_jobs, capsys):
    assert main(["--db", two_jobs, "jobs", "status", "2"]) == 0
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert (lines["job"], lines["project"], lines["status"]) == ("2", "bio", "queued")
    assert main(["--db", two_jobs, "jobs", "cancel", "1"]) == 0
    assert capsys.readouterr().out.strip() == "job 1: cancelled"
    assert Store(two_jobs).job(1).status == "cancelled" and Store(two_jobs).job(2).status == "queued"


@pytest.mark.parametrize("argv", [["status", "x"], ["cancel", "3x"], ["status", "-1"]])
def test_a_job_id_that_is_not_a_number_is_an_argparse_error(two_jobs, capsys, argv):
    assert main(["--db", two_jobs, "jobs", *argv]) == 2
    err = capsys.readouterr().err
    assert f"nerloop jobs {argv[0]}: error: argument ID: expected a whole number >= 0" in err
    assert Store(two_jobs).job(1).status == "queued"


def test_jobs_usage_errors(two_jobs, capsys):
    assert main(["--db", two_jobs, "jobs", "status"]) == 2
    assert "the following arguments are required: ID" in capsys.readouterr().err
    assert main(["--db", two_jobs, "jobs", "news", "3"]) == 2
    assert "unrecognized arguments: 3" in capsys.readouterr().err
    assert main(["--db", two_jobs, "jobs", "nope"]) == 2
    assert capsys.readouterr().err.strip() == "nerloop: error: project 'nope' not found"


@pytest.mark.parametrize("argv", [
    ["predict", "--model", "m", "--project", "p", "Some text."],
    ["predict", "--model", "m", "--json", "--format", "conll", "Some text."],
    ["evaluate", "--project", "p", "--model", "m", "--data", "d"],
    ["import", "p", "f.conll", "--hidden-gold", "--annotator", "ann"],
])
def test_options_that_exclude_each_other(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: argument" in err and "not allowed with argument" in err


def test_predict_and_evaluate_still_need_a_model_or_a_project(capsys):
    assert main(["predict", "Some text."]) == 2
    assert capsys.readouterr().err.strip() == "nerloop: error: predict: give either --model DIR or --project NAME"
    assert main(["evaluate", "--data", "d"]) == 2
    assert "evaluate: give either --model DIR --data FILE, or --project NAME" in capsys.readouterr().err


def test_each_command_group_registers_its_commands():
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    owners = {name: p.get_default("func").__module__ for name, p in sub.choices.items()}
    assert owners["jobs"] == owners["train"] == "core.cli.training"
    assert owners["init"] == owners["patterns"] == "core.cli.project"
    assert owners["users"] == owners["review"] == "core.cli.team"
    assert {m for m in owners.values()} == {f"core.cli.{g.__name__.rpartition('.')[2]}" for g in cli.GROUPS}


def test_python_dash_m_core_cli():
    r = subprocess.run([sys.executable, "-m", "core.cli", "jobs", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: nerloop jobs") and "status" in r.stdout and "cancel" in r.stdout
