"""The package as users install it: a wheel built from the repository, installed into a fresh virtual environment
without the checkout on its path, `nerloop serve` started from an empty folder, a project created and every page
opened in Chromium, with no warning in the server's log."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from bench._app import CHROMIUM_ARGS, VIEWPORT, server, wait_idle

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What the app needs beside the core package, as the wheel must carry it (core.paths.APP_DIR finds core/_app/).
APP_FILES = ["core/cli/__init__.py", "core/cli/__main__.py", "core/_app/app.py", "core/_app/.streamlit/config.toml",
             "core/_app/pages/ui.py", "core/_app/pages/annotate.py", "core/_app/pages/static/span_editor.js",
             "core/_app/pages/static/span_editor.css", "core/_app/assets/demo_train.conll",
             "core/_app/assets/demo_dev.conll", "core/_app/assets/demo_unlabeled.txt"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip wheel .` builds from this checkout (the build backend from this environment: no download)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(out)], check=True, cwd=out)
    return next(out.glob("nerloop-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel; its dependencies come from this environment's site-packages
    (a path entry, not the checkout: this environment's editable install of nerloop is not activated there)."""
    env = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True)
    return env


def test_the_wheel_carries_the_app_and_nothing_generic_at_the_top(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    missing = [name for name in APP_FILES if name not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert len([n for n in names if n.startswith("core/_app/pages/") and n.endswith(".py")]) == \
        len(list((ROOT / "pages").glob("*.py")))
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"core"}
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "nerloop = core.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_without_the_checkout(installed, tmp_path):
    probe = ("import core, importlib.util as u; from core import paths; "
             "print(core.__file__, paths.APP_DIR, u.find_spec('app'), u.find_spec('pages'), sep='|')")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(installed / "bin" / "python"), "-c", probe], cwd=tmp_path, env=clean, check=True,
                         capture_output=True, text=True).stdout.strip().split("|")
    core_file, app_dir, app, pages = out
    assert Path(core_file).is_relative_to(installed) and not Path(core_file).is_relative_to(ROOT)
    assert Path(app_dir) == Path(core_file).parent / "_app"
    assert (app, pages) == ("None", "None")  # no module named app or pages at the top of site-packages
    help_text = subprocess.run([str(installed / "bin" / "nerloop"), "--help"], cwd=tmp_path, env=clean,
                               check=True, capture_output=True, text=True).stdout
    assert "serve" in help_text


def test_nerloop_serve_from_an_empty_folder_opens_every_page(installed, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed here (CI installs it)")
    from playwright.sync_api import expect, sync_playwright

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NERLOOP_DB")}
    env.update(NERLOOP_HOME="data", HF_HUB_OFFLINE="1")  # relative: the data folder is ./data where it was started
    shots = Path(os.environ.get("NERLOOP_SHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with server(tmp_path, env=env, nerloop=[str(installed / "bin" / "nerloop")], cwd=empty) as (url, _, output):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            expect(page.get_by_text("demo").first).to_be_visible(timeout=60_000)  # the demo project, from the wheel
            wait_idle(page)
            name = page.get_by_role("textbox", name="Name")  # a new project: Home's fields, a preset, Create
            name.fill("trials")
            name.press("Tab")
            page.get_by_role("button", name="Biomedical").click()
            expect(page.get_by_role("textbox", name="Entity labels (comma-separated)")).to_have_value(
                "Chemical, Disease", timeout=30_000)
            page.get_by_role("button", name="Create project").click()
            expect(page.get_by_text("Created project “trials” and made it current.").first).to_be_visible(
                timeout=60_000)
            wait_idle(page)
            links = page.locator('[data-testid="stSidebarNav"] a')
            names = [links.nth(i).inner_text().strip().splitlines()[-1] for i in range(links.count())]  # after the icon
            assert len(names) >= 8, names
            for i, name in enumerate(names):
                links.nth(i).click()
                page.wait_for_url(re.compile(r"/" if i == 0 else name.lower()), timeout=60_000)
                expect(page.locator("h1").first).to_be_visible(timeout=60_000)  # Home's title is the project's
                wait_idle(page)
                page.wait_for_timeout(500)
                page.screenshot(path=str(shots / f"wheel-{name.lower()}.png"), full_page=True)
                assert page.locator('[data-testid="stException"]').count() == 0, name
                assert page.get_by_text("Something went wrong").count() == 0, name
            browser.close()
        log = output.read_text()
    assert (empty / "data" / "nerloop.db").is_file() and not (ROOT / "data").exists()
    assert f"data in {empty / 'data' / 'nerloop.db'}" in log
    problems = [line for line in log.splitlines() if re.search(r"Traceback|Warning|WARNING|Error", line)]
    assert not problems, "\n".join(problems)
