"""End-to-end tests of the `nerloop` command line, in-process through main() with a tiny random BERT."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import formats
from core.cli import main
from core.store import Store

DATA = Path(__file__).parent / "data"
TRAIN, DEV = str(DATA / "sample.conll"), str(DATA / "sample_dev.conll")
COMMANDS = ("init", "import", "train", "evaluate", "predict", "export", "export-model", "models", "jobs", "projects",
            "simulate", "suggest", "reveal", "flag", "agreement", "users")
FAST = ["--epochs", "2", "--min-steps", "30", "--batch-size", "16"]


def run(*argv: str) -> tuple[int, str, str]:
    """main(argv) with stdout and stderr captured (usable in module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def ok(*argv: str) -> str:
    code, out, err = run(*argv)
    assert code == 0, err
    assert "Traceback" not in err
    return out


def unmark(line: str) -> str:
    return re.sub(r"\[([^\]]*)\]\((\w+)\)", r"\1", line)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model) -> tuple[Path, str]:
    """A model trained on the sample files, and the command's stdout."""
    out = tmp_path_factory.mktemp("files") / "model"
    printed = ok("train", "--train", TRAIN, "--dev", DEV, "--out", str(out), "--model", tiny_model, *FAST)
    return out, printed


def new_project(folder: Path) -> str:
    """A database with project `news`: the sample train and dev files imported."""
    db = str(folder / "nerloop.db")
    ok("--db", db, "init", "news", "--labels", "PER,LOC,ORG,MISC")
    ok("--db", db, "import", "news", TRAIN)
    ok("--db", db, "import", "news", DEV, "--split", "dev")
    return db


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model) -> str:
    """Project `news` with one version trained in-process."""
    db = new_project(tmp_path_factory.mktemp("project"))
    ok("--db", db, "train", "--project", "news", "--model", tiny_model, *FAST)
    return db


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "t.db")


def test_tiny_model_is_a_cased_bert(tiny_model):
    from core.model import Tagger

    tagger = Tagger.load(tiny_model, labels=["O", "B-PER", "I-PER"])
    assert tagger.tokenizer.tokenize("Maria Okonkwo") == ["Maria", "Okonkwo"]
    assert len(tagger.predict([["Maria", "Okonkwo", "spoke"]])[0].tags) == 3


def test_help_for_every_command(capsys):
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert all(re.search(rf"\n    {c}\s", top) for c in COMMANDS)  # a long name's help starts on the next line
    for command in COMMANDS:
        assert main([command, "--help"]) == 0
        assert f"usage: nerloop {command}" in capsys.readouterr().out


def test_module_entry_point():
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "core", "--help"], cwd=root, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: nerloop")


def test_usage_errors(db, capsys):
    assert main([]) == 2
    assert main(["--db", db, "projects"]) == 2
    assert "no database at" in capsys.readouterr().err
    assert main(["--db", db, "init", "p", "--labels", "PER"]) == 0
    assert main(["--db", db, "init", "p"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["--db", db, "import", "nope", TRAIN]) == 2
    assert main(["train", "--train", TRAIN, "--out", "x", "--epochs", "0"]) == 2
    assert main(["train", "--train", TRAIN]) == 2
    assert main(["models", "p", "promote"]) == 2
    err = capsys.readouterr().err
    assert "must be positive" in err and "--out" in err and "Traceback" not in err


def test_init_import_reimport_and_projects(db, capsys):
    assert main(["--db", db, "init", "news", "--labels", "PER,LOC"]) == 0
    assert main(["--db", db, "import", "news", TRAIN]) == 2  # the project has labels: new types need --new-labels
    assert capsys.readouterr().err.strip() == (f"nerloop: error: {TRAIN}:16: unknown label 'ORG' (known: LOC, PER); "
                                               "--new-labels adds it")
    assert main(["--db", db, "import", "news", TRAIN, "--new-labels"]) == 0
    out = capsys.readouterr().out
    assert "50 added, 0 duplicates" in out and "MISC, ORG" in out  # labels new to the project are reported
    assert main(["--db", db, "import", "news", TRAIN, "--split", "dev"]) == 0
    assert "0 added, 50 duplicates" in capsys.readouterr().out
    assert main(["--db", db, "projects"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert row.split()[:7] == ["1", "news", "PER,LOC,MISC,ORG", "50", "0", "0", "0"]
    store = Store(db)
    assert store.counts(1)["by_split"]["train"] == 50


def test_bad_file_imports_nothing(db, tmp_path, capsys):
    bad = tmp_path / "bad.conll"
    bad.write_text("Anna B-PER\nwent O\n\nHome O\nnow X-LOC\n")
    assert main(["--db", db, "init", "news"]) == 0
    assert main(["--db", db, "import", "news", DEV, str(bad)]) == 2  # the good file first: still nothing stored
    err = capsys.readouterr().err
    assert err.strip() == f"nerloop: error: {bad}:5: illegal tag 'X-LOC'"
    assert Store(db).counts(1)["by_split"]["train"] == 0


LINES = "Patients received 3 . 5 mg daily .\nAs shown in Fig. 2 , doses rose .\nNo adverse events were seen .\n"


def test_import_text_one_sentence_per_line_or_split(db, tmp_path, capsys):
    path = tmp_path / "bio.txt"
    path.write_text(LINES)
    assert main(["--db", db, "init", "bio"]) == 0
    assert main(["--db", db, "import", "bio", str(path), "--split-sentences"]) == 0
    assert "4 added" in capsys.readouterr().out  # cut at "3 ." (not at "Fig. 2")
    for flag in ("--lines", None):  # the sniffer picks one sentence per line for this file
        db2 = str(tmp_path / f"{flag}.db")
        assert main(["--db", db2, "init", "bio"]) == 0
        assert main(["--db", db2, "import", "bio", str(path), *([flag] if flag else [])]) == 0
        assert "3 added, 0 duplicates, 0 annotated -> unlabeled" in capsys.readouterr().out
        assert [r.text for r in Store(db2).sentences(1)] == LINES.splitlines()
    assert main(["--db", db, "import", "bio", str(path), "--lines", "--split-sentences"]) == 2
    assert "not allowed with" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    fresh = tmp_path / "fresh.txt"
    fresh.write_text("A new sentence here .\n")
    assert main(["--db", db, "import", "bio", str(fresh), str(empty), "--lines"]) == 2
    assert capsys.readouterr().err.strip() == f"nerloop: error: {empty}:1: empty file"
    assert Store(db).counts(1)["by_split"]["unlabeled"] == 4  # the good file was not imported either


def test_flag_command_lists_flags_and_restores(db, tmp_path, capsys):
    path = tmp_path / "bio.txt"
    path.write_text(LINES)
    assert main(["--db", db, "init", "bio"]) == 0
    assert main(["--db", db, "init", "other"]) == 0
    assert main(["--db", db, "import", "bio", str(path)]) == 0
    assert main(["--db", db, "import", "other", str(DATA / "sample_dev.conll")]) == 0
    capsys.readouterr()
    assert main(["--db", db, "flag", "bio"]) == 0
    assert capsys.readouterr().out.strip() == "no flagged sentences"
    assert main(["--db", db, "flag", "bio", "1", "3", "--annotator", "ann"]) == 0
    assert capsys.readouterr().out.strip() == "2 sentence(s) flagged as junk"
    assert main(["--db", db, "flag", "bio", "1"]) == 0
    assert capsys.readouterr().out.strip() == "0 sentence(s) flagged as junk, 1 already were"
    assert main(["--db", db, "flag", "bio"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed[1:]] == ["1", "3"] and "Patients received" in listed[1]
    assert main(["--db", db, "suggest", "bio", "--strategy", "random"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["2"]
    assert main(["--db", db, "flag", "bio", "3", "--restore"]) == 0
    assert capsys.readouterr().out.strip() == "1 sentence(s) restored"
    store = Store(db)
    assert store.flagged(1) == {1}
    assert [(h["flagged"], h["annotator"]) for h in store.flag_history(3)] == [(1, "ann"), (0, "")]
    assert main(["--db", db, "flag", "bio", "2", "4"]) == 2  # sentence 4 belongs to project "other"
    assert capsys.readouterr().err.strip() == "nerloop: error: project 'bio' has no sentence with id 4"
    assert store.flagged(1) == {1}
    assert main(["--db", db, "flag", "bio", "x"]) == 2


def test_env_db_is_the_default(db, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NERLOOP_DB", db)
    monkeypatch.chdir(tmp_path)
    assert main(["init", "envproj"]) == 0
    assert main(["projects"]) == 0
    assert "envproj" in capsys.readouterr().out
    assert Path(db).exists() and not (tmp_path / "nerloop.db").exists()


def test_train_on_files(trained):
    out, printed = trained
    assert {"config.json", "model.safetensors", "metrics.json"} <= {p.name for p in out.iterdir()}
    f1 = json.loads((out / "metrics.json").read_text())["dev"]["micro"]["f1"]
    assert f"dev micro F1 {f1:.4f}" in printed and str(out) in printed


def test_train_rejects_bad_data_before_training(tmp_path):
    text = tmp_path / "plain.txt"
    text.write_text("No labels here.\n")
    code, _, err = run("train", "--train", str(text), "--out", str(tmp_path / "m"))
    assert code == 2 and err.strip() == f"nerloop: error: {text}:1: sentence has no labels " \
                                        "(training and evaluation data must be labelled)"
    assert not (tmp_path / "m").exists()


def test_evaluate_json_shape(trained):
    labels = {t[2:] for s in formats.read(DEV).sentences for t in s.tags if t != "O"}
    result = json.loads(ok("evaluate", "--model", str(trained[0]), "--data", DEV, "--json"))
    assert set(result) <= {"micro", "per_class", "macro", "accuracy"}
    assert set(result["micro"]) == {"precision", "recall", "f1"}
    assert set(result["per_class"]) <= labels and result["per_class"]
    for row in result["per_class"].values():
        assert set(row) == {"precision", "recall", "f1", "support"} and row["support"] > 0
        assert all(isinstance(row[k], float) and 0.0 <= row[k] <= 1.0 for k in ("precision", "recall", "f1"))
    assert all(0.0 <= v <= 1.0 for v in result["micro"].values())
    assert sum(r["support"] for r in result["per_class"].values()) == 25


def test_evaluate_table(trained):
    lines = ok("evaluate", "--model", str(trained[0]), "--data", DEV).splitlines()
    assert lines[0].split() == ["label", "precision", "recall", "f1", "support"]
    assert [line.split()[0] for line in lines[1:]] == ["LOC", "MISC", "ORG", "PER", "micro", "macro", "token"]


def test_predict_text(trained):
    model = str(trained[0])
    lines = ok("predict", "--model", model, "Anna Duval visited Halvik. She met Omar Haddad.",
               "Greenleaf Bank opened a branch.").splitlines()
    assert [unmark(line) for line in lines] == ["Anna Duval visited Halvik.", "She met Omar Haddad.",
                                                "Greenleaf Bank opened a branch."]
    records = [json.loads(line) for line in ok("predict", "--model", model, "--json", "Anna Duval visited Halvik.")
               .splitlines()]
    assert [r["text"] for r in records] == ["Anna Duval visited Halvik."]
    for span in records[0]["spans"]:
        assert records[0]["text"][span["start"]:span["end"]] == span["text"] and 0 <= span["score"] <= 1
    conll = formats.loads(ok("predict", "--model", model, "--file", DEV, "--format", "conll"), name="out",
                          fmt="conll")
    assert [s.words for s in conll.sentences] == [s.words for s in formats.read(DEV).sentences]


def test_predict_missing_model(tmp_path):
    code, out, err = run("predict", "--model", str(tmp_path / "nope"), "Some text.")
    assert code in (1, 2) and out == ""
    assert err.startswith("nerloop: error: ") and "nope" in err and "Traceback" not in err


def test_train_on_project_records_job_and_version(project):
    store = Store(project)
    [job] = store.jobs()
    [model] = store.models(1)
    assert job.status == "done" and job.model_id == model.id
    assert store.serving(1).id == model.id  # the first version is promoted
    assert {"config.json", "model.safetensors"} <= {p.name for p in Path(model.folder).iterdir()}
    listing = ok("--db", project, "jobs", "news")
    assert re.search(rf"^{job.id}\s+news\s+done\s", listing, re.M)
    assert "status    done" in ok("--db", project, "jobs", "status", str(job.id))


@pytest.fixture
def root_level():
    """Put the root logger's level back after a test that changes it."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def test_verbose_logs_the_training(tmp_path, tiny_model, caplog, root_level):
    db = new_project(tmp_path)
    ok("--db", db, "train", "--project", "news", "--model", tiny_model, "--epochs", "1", "--min-steps", "2")
    assert not caplog.records  # no -v: warnings only
    ok("-v", "--db", db, "train", "--project", "news", "--model", tiny_model, "--epochs", "1", "--min-steps", "2",
       "--promote", "never")
    lines = [f"{r.name}: {r.getMessage()}" for r in caplog.records]
    assert any(line.startswith(f"core.train: training {tiny_model} (new head)") for line in lines), lines
    assert any(line.startswith("core.train: saved the model of step") for line in lines), lines
    assert any("not promoted by policy 'never'; serving before: v1" in line for line in lines), lines
    assert logging.getLogger().level == logging.INFO


def test_models_list_promote_rollback(project, tiny_model):
    ok("--db", project, "train", "--project", "news", "--model", tiny_model, "--epochs", "1", "--min-steps", "2",
       "--promote", "never")
    store = Store(project)
    first, second = (m.id for m in store.models(1))
    rows = ok("--db", project, "models", "news").splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["*", str(second)]  # marker on the serving (first) version only
    ok("--db", project, "models", "news", "promote", str(second))
    assert store.serving(1).id == second
    assert re.search(rf"^\*\s+{second}\s", ok("--db", project, "models", "news"), re.M)
    ok("--db", project, "models", "news", "rollback")
    assert store.serving(1).id == first
    code, _, err = run("--db", project, "models", "news", "promote", "999")
    assert code == 2 and "not found" in err


def test_evaluate_project_model(project):
    result = json.loads(ok("--db", project, "evaluate", "--project", "news", "--split", "dev", "--json"))
    assert 0.0 <= result["micro"]["f1"] <= 1.0
    code, _, err = run("--db", project, "evaluate", "--project", "news")
    assert code == 2 and "no labelled test sentences" in err


def test_export_round_trip(tmp_path):
    project = new_project(tmp_path)
    store = Store(project)
    expected = [(s.words, s.tags) for s in store.sentences(1) if s.tags is not None]
    for scheme in ("iob2", "bioes"):
        out = tmp_path / f"export-{scheme}.conll"
        assert f"wrote {len(expected)} sentences" in ok("--db", project, "export", "news", "--out", str(out),
                                                        "--scheme", scheme)
        corpus = formats.read(out)
        assert corpus.scheme == scheme
        assert [(s.words, s.tags) for s in corpus.sentences] == expected
    jsonl = tmp_path / "dev.jsonl"
    ok("--db", project, "export", "news", "--out", str(jsonl), "--split", "dev")
    assert [s.tags for s in formats.read(jsonl).sentences] == [s.tags for s in formats.read(DEV).sentences]


def test_export_defaults_to_the_splits_with_annotations_in_a_file_named_after_them(db, tmp_path, monkeypatch):
    ok("--db", db, "init", "news", "--labels", "PER,LOC,ORG,MISC")
    ok("--db", db, "import", "news", DEV, "--split", "dev")
    raw = tmp_path / "raw.txt"
    raw.write_text("Ada went home.\nBo stayed.\n")
    ok("--db", db, "import", "news", str(raw), "--split", "test")
    monkeypatch.chdir(tmp_path)
    assert ok("--db", db, "export", "news").startswith("wrote 15 sentences of dev to news-dev.conll ")
    assert formats.read(tmp_path / "news-dev.conll").sentences == formats.read(DEV).sentences
    printed = ok("--db", db, "export", "news", "--unlabeled", "--format", "jsonl")
    assert printed.startswith("wrote 17 sentences of dev, test to news-dev-test.jsonl ")
    printed = ok("--db", db, "export", "news", "--split", "test", "--split", "dev", "--out", str(tmp_path / "x.conll"))
    assert printed.startswith(f"wrote 15 sentences of dev to {tmp_path / 'x.conll'} ")
    code, _, err = run("--db", db, "export", "news", "--split", "test")
    assert code == 2 and "nothing to export: project 'news' has no annotated sentences in test" in err


def test_export_predictions_for_label_studio(project, tmp_path):
    db = str(tmp_path / "copy.db")
    with sqlite3.connect(project) as src, sqlite3.connect(db) as dst:  # the shared project stays as it is
        src.backup(dst)
    raw = tmp_path / "raw.txt"
    raw.write_text("Anna Duval met Tomas Brenner in Halvik.\n\nSnow fell in Norrby.\n")
    ok("--db", db, "import", "news", str(raw), "--split", "unlabeled")
    out = tmp_path / "tasks.json"
    assert "wrote 2 sentences" in ok("--db", db, "export", "news", "--out", str(out), "--split", "unlabeled",
                                     "--predictions")
    serving = Store(db).serving(1)
    tasks = json.loads(out.read_text())
    assert [t["data"]["text"] for t in tasks] == ["Anna Duval met Tomas Brenner in Halvik.", "Snow fell in Norrby."]
    for task in tasks:
        assert "annotations" not in task and task["predictions"][0]["model_version"] == serving.name
        assert all(0 <= r["score"] <= 1 for r in task["predictions"][0]["result"])
    code, _, err = run("--db", db, "export", "news", "--out", str(tmp_path / "x.conll"), "--format", "doccano",
                       "--predictions")
    assert code == 2 and "--predictions needs one of conll, jsonl, labelstudio" in err


def test_predict_project_store(project, tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("Anna Duval met Tomas Brenner in Halvik. The Verdant Party lost.\n\nSnow fell in Norrby.\n")
    assert "3 added" in ok("--db", project, "import", "news", str(raw))
    assert len(ok("--db", project, "predict", "--project", "news").splitlines()) == 3
    assert "stored 3 model annotations" in ok("--db", project, "predict", "--project", "news", "--store")
    assert "stored 0 model annotations" in ok("--db", project, "predict", "--project", "news", "--store")
    store = Store(project)
    serving = store.serving(1).id
    for s in store.sentences(1, split="unlabeled"):
        [ann] = store.history(s.id)
        assert ann.source == "model" and ann.model_id == serving and len(ann.tags) == len(s.words)
        assert s.tags is None  # model annotations are suggestions, not effective labels


def test_train_on_project_follows_the_train_page_rules(tmp_path):
    """`train --project` refuses what the Train page refuses (core.retrain.check): nothing labelled in train, or a job
    already in progress; nothing is recorded."""
    db = str(tmp_path / "n.db")
    ok("--db", db, "init", "news", "--labels", "PER,LOC,ORG,MISC")
    ok("--db", db, "import", "news", DEV, "--split", "dev")
    code, _, err = run("--db", db, "train", "--project", "news", "--background")
    assert code == 2 and "No labelled sentences in the train split" in err
    ok("--db", db, "import", "news", TRAIN)
    store = Store(db)
    job = store.create_job(1, "train", {})  # queued, as `train --project` leaves it while it runs inline
    code, _, err = run("--db", db, "train", "--project", "news")
    assert code == 2 and f"Job {job} is in progress" in err and [j.id for j in store.jobs(1)] == [job]
    store.close()


def test_background_job_and_cancel(tmp_path, monkeypatch, tiny_model):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    db = Path(new_project(tmp_path)).name  # relative: the job subprocess runs in another folder
    out = ok("--db", db, "train", "--project", "news", "--background", "--model", tiny_model, "--epochs", "1",
             "--min-steps", "2")
    job_id = int(re.search(r"started job (\d+)", out).group(1))
    deadline = time.monotonic() + 120
    while (status := re.search(r"^status\s+(\w+)", ok("--db", db, "jobs", "status", str(job_id)), re.M)[1]) \
            in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == "done", ok("--db", db, "jobs", "status", str(job_id))
    assert [m.name for m in Store(db).models(1)] == ["v1"]
    slow = ok("--db", db, "train", "--project", "news", "--background", "--model", tiny_model, "--min-steps", "100000")
    job_id = re.search(r"started job (\d+)", slow).group(1)
    assert ok("--db", db, "jobs", "cancel", job_id).strip() == f"job {job_id}: cancelled"
    assert Store(db).job(int(job_id)).status == "cancelled"


def test_demo_mode_suggest_and_self_training_from_the_shell(tmp_path, tiny_model):
    db = str(tmp_path / "demo.db")
    ok("--db", db, "init", "news", "--labels", "PER,LOC,ORG,MISC")
    plain = tmp_path / "plain.txt"
    plain.write_text("No tags here.\n")
    code, _, err = run("--db", db, "import", "news", TRAIN, str(plain), "--hidden-gold")
    assert code == 2 and f"{plain}:1: sentence has no tags" in err  # nothing imported
    assert Store(db).sentences(1) == []
    out = ok("--db", db, "import", "news", TRAIN, "--hidden-gold")
    assert re.search(r"50 added, 0 duplicates, 50 with hidden gold -> unlabeled", out)
    ok("--db", db, "import", "news", DEV, "--split", "dev")
    code, _, err = run("--db", db, "reveal", "news", "--strategy", "nonsense")
    assert code == 2 and "unknown strategy 'nonsense'" in err

    cold = ok("--db", db, "suggest", "news", "-k", "3", "--json")
    assert len(cold.splitlines()) == 3 and all(json.loads(line)["tokens"] > 0 for line in cold.splitlines())
    out = ok("--db", db, "reveal", "news", "--batch", "12", "--strategy", "random")
    assert "revealed the gold tags of 12 sentences (random), now in train; 38 of 50 still hidden" in out
    store = Store(db)
    train = store.sentences(1, split="train")
    assert len(train) == 12 and all(r.tags is not None for r in train)  # the hidden gold, now gold
    store.close()

    out = ok("--db", db, "train", "--project", "news", "--model", tiny_model, *FAST, "--promote", "always",
             "--self-training", "--pseudo-threshold", "0", "--max-pseudo", "5", "--pseudo-balance")
    assert "promoted to serving" in out
    store = Store(db)
    job = store.jobs(1)[0]
    assert job.params["self_training"] and job.params["max_pseudo"] == 5 and job.params["pseudo_balance"]
    assert any(e.kind == "self_training" for e in store.events(job.id))
    serving = store.serving(1)
    store.close()
    warm = [json.loads(line)["id"] for line in ok("--db", db, "suggest", "news", "-k", "4", "--json").splitlines()]
    assert len(warm) == 4 and warm[0] in [r.id for r in Store(db).sentences(1, split="unlabeled")]
    assert len(Store(db).pool_scores(serving.id)) >= 38 - 5  # scored once, by the job, for this version
    out = ok("--db", db, "reveal", "news", "--tokens", "40")
    assert re.search(r"revealed the gold tags of \d+ sentences \(entropy\)", out)
    code, _, err = run("--db", db, "train", "--train", TRAIN, "--out", str(tmp_path / "m"), "--self-training")
    assert code == 2 and "--self-training needs --project" in err
