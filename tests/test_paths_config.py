"""The data folder (core.paths) and the shipped .streamlit/config.toml, as `make run` and the CLI meet them."""
from __future__ import annotations

import os
import re
import socket
import time
import tomllib
from pathlib import Path

import psutil
import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from core import paths
from core.cli import main
from core.formats import Sentence
from core.store import Store
from apptest import open_app
from bench._app import server as app_server

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".streamlit" / "config.toml"
SAMPLE, SAMPLE_DEV = (str(Path(__file__).parent / "data" / name) for name in ("sample.conll", "sample_dev.conll"))


def cli(*argv: str, capsys) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def defaults(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """No $NERLOOP_DB, $NERLOOP_HOME a folder not made yet, the current folder an empty one: (home, cwd)."""
    monkeypatch.delenv("NERLOOP_DB", raising=False)
    home, cwd = tmp_path / "home" / "nerloop", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("NERLOOP_HOME", str(home))
    monkeypatch.chdir(cwd)
    return home, cwd


def test_shipped_config_names_real_options():
    """Every key of the shipped file is a Streamlit option (a misspelt one would be ignored), with the local values."""
    from streamlit import config

    flat = {f"{section}.{key}": value for section, options in tomllib.loads(CONFIG.read_text()).items()
            for key, value in options.items()}
    assert set(flat) <= set(config.get_config_options())
    assert flat["server.fileWatcherType"] == "none" and flat["server.runOnSave"] is False
    assert flat["server.address"] == "127.0.0.1" and flat["browser.gatherUsageStats"] is False
    assert flat["client.toolbarMode"] == "minimal" and 10 <= flat["server.maxUploadSize"] < 200
    assert flat["client.showErrorDetails"] == "none"
    assert flat["server.allowedHosts"] == ["localhost", "127.0.0.1", "::1"]


def test_make_run_serves_on_loopback_only_without_file_watcher(tmp_path):
    """The app as `make run` starts it (`nerloop serve`, then `streamlit run app.py` from the repository root; plus a
    port and headless): it says where it serves, listens on 127.0.0.1 only and, with a session open, holds no inotify watch; its WebSocket refuses a foreign Host
    even with a matching Origin (DNS rebinding, defect 11 of issue 14)."""
    assert "-m core.cli serve -- $(ARGS)" in (ROOT / "Makefile").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_") and k != "NERLOOP_DB"}
    env["NERLOOP_HOME"] = str(tmp_path / "home")
    with app_server(tmp_path, env=env) as (url, pid, output):
        port = int(url.rsplit(":", 1)[1])
        assert "serving on 127.0.0.1 (this machine only); single-user, no login" in output.read_text()
        listening = [c.laddr for c in psutil.Process(pid).net_connections("inet") if c.status == "LISTEN"]
        assert listening and {a.ip for a in listening} == {"127.0.0.1"} and {a.port for a in listening} == {port}
        # A session (where Streamlit starts its watchers) answers a request once it exists; the app itself is not run.
        with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"]) as ws:
            probe = BackMsg()
            probe.file_urls_request.request_id = "probe"
            ws.send(probe.SerializeToString())
            while True:
                msg = ForwardMsg()
                msg.ParseFromString(ws.recv(timeout=60))
                if msg.WhichOneof("type") == "file_urls_response":
                    break
            fds = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert fds and "anon_inode:inotify" not in fds
        for host, allowed in ((f"evil.example:{port}", False), (f"localhost:{port}", True)):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                try:  # the name in the URL is the Host header; the socket goes to this server
                    with connect(f"ws://{host}/_stcore/stream", sock=sock, origin=f"http://{host}",
                                 subprotocols=["streamlit"], open_timeout=30) as ws:
                        ws.send(probe.SerializeToString())
                        ws.recv(timeout=30)
                    accepted = True
                except (InvalidStatus, ConnectionClosed):
                    accepted = False
            assert accepted == allowed, host


def test_fresh_home_is_created_and_holds_the_database(defaults, capsys):
    home, cwd = defaults
    assert not home.exists()
    assert cli("init", "news", capsys=capsys)[0] == 0
    assert (home / "nerloop.db").is_file() and not any(cwd.iterdir())
    code, out, err = cli("projects", capsys=capsys)
    assert code == 0 and "news" in out and err == ""
    code, out, _ = cli("--help", capsys=capsys)
    assert code == 0 and f"$NERLOOP_HOME/{paths.DB_NAME}" in " ".join(out.split())


def test_db_and_env_still_win(defaults, tmp_path, monkeypatch, capsys):
    home, _ = defaults
    assert cli("--db", str(tmp_path / "flag.db"), "init", "a", capsys=capsys)[0] == 0
    monkeypatch.setenv("NERLOOP_DB", str(tmp_path / "env.db"))
    assert cli("init", "b", capsys=capsys)[0] == 0
    assert (tmp_path / "flag.db").is_file() and (tmp_path / "env.db").is_file()
    assert not home.exists()  # not used, so not made
    assert paths.db_path() == tmp_path / "env.db" and paths.db_path("x.db") == Path("x.db").resolve()


def test_legacy_database_in_current_folder_is_used_and_kept(defaults, capsys):
    home, cwd = defaults
    legacy = cwd / "nerloop.db"
    store = Store(legacy)
    pid = store.create_project("old", ["PER", "LOC"])
    words = ["Anna", "lives", "in", "Rome"]
    store.import_sentences(pid, [Sentence(words, ["B-PER", "O", "O", "B-LOC"], " ".join(words),
                                          [(0, 4), (5, 10), (11, 13), (14, 18)])], split="train")
    store.close()
    before = legacy.read_bytes()

    code, out, err = cli("projects", capsys=capsys)
    assert code == 0 and re.search(r"^1 +old +PER,LOC +1 ", out, re.M), out
    assert err.count("\n") == 1 and str(legacy) in err and "mv " in err and "NERLOOP_DB" in err
    from pages import ui

    assert Path(ui.db_path()) == legacy
    assert legacy.read_bytes() == before and not (home / "nerloop.db").exists()
    again = Store(legacy)
    [row] = again.sentences(pid)
    assert row.words == ["Anna", "lives", "in", "Rome"] and row.tags == ["B-PER", "O", "O", "B-LOC"]


def test_app_and_background_job_write_only_into_the_data_folder(defaults, tiny_model, capsys):
    """With defaults, the app's database, a job's log and its model version land in NERLOOP_HOME: nothing in the
    current folder, nothing new in the source tree."""
    home, cwd = defaults
    tree = {p.name for p in ROOT.iterdir()}
    open_app()  # the first run creates the demo project
    assert (home / "nerloop.db").is_file()
    for argv in (["init", "news", "--labels", "PER,LOC,ORG,MISC"], ["import", "news", SAMPLE],
                 ["import", "news", SAMPLE_DEV, "--split", "dev"]):
        assert cli(*argv, capsys=capsys)[0] == 0
    out = cli("train", "--project", "news", "--background", "--model", tiny_model, "--epochs", "1", "--min-steps",
              "2", capsys=capsys)[1]
    job_id = int(re.search(r"started job (\d+)", out).group(1))
    store = Store(home / "nerloop.db")
    deadline = time.monotonic() + 300
    while (job := store.job(job_id)).status in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert job.status == "done", job
    assert Path(job.log_path) == home / "logs" / store.uuid / f"job-{job_id}.log" and Path(job.log_path).is_file()
    [model] = store.models(pid := store.project("news").id)
    assert Path(model.folder).parent == home / "models" / store.uuid / str(pid)
    assert (Path(model.folder) / "config.json").is_file()
    store.close()
    assert not any(cwd.iterdir()) and {p.name for p in ROOT.iterdir()} == tree
