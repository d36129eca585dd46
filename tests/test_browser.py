"""The whole loop in a real browser: Debian chromium driven by Playwright against the app as `make run` starts it.

Upload a CoNLL file, correct one sentence with the keyboard, train with the tiny model, wait for the
Evaluate chart; a screenshot of each page goes to $NERLOOP_SHOTS (default: a temporary folder).
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from bench._app import CHROMIUM_ARGS as ARGS, env_for, server as app_server
from core.store import Store

ROOT = Path(__file__).resolve().parents[1]

DATA = Path(__file__).parent / "data"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("chromium is missing: .ci/run installs it with apt-get")
    pytest.skip("chromium is not installed here (CI installs it)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture
def server(tmp_path):
    """The app as `make run` starts it, on a free port with an empty database (the demo project appears)."""
    db = tmp_path / "nerloop.db"
    with app_server(tmp_path, env={**env_for(tmp_path), "OMP_NUM_THREADS": "1"}) as (url, _, _):
        yield url, db
    store = Store(db)
    for job in store.jobs(status=["queued", "running"]):
        try:
            os.killpg(job.pid, 15)
        except (OSError, TypeError):
            pass


def go(page, name: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=name).first.click()
    expect(page.locator("h1", has_text=name)).to_be_visible(timeout=30_000)


def test_upload_correct_train_evaluate_in_a_browser(server, tiny_model, tmp_path):
    url, db = server
    shots = Path(os.environ.get("NERLOOP_SHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    model = os.environ.get("NERLOOP_BROWSER_MODEL", tiny_model)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url)
        expect(page.get_by_text("demo").first).to_be_visible(timeout=60_000)  # first run: the demo project
        expect(page.locator('[data-testid="stMetric"]').first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shots / "home.png"), full_page=True)
        store = Store(db)
        pid = store.project("demo").id
        before = sum(store.counts(pid)["by_split"].values())

        go(page, "Upload")
        page.locator('input[type="file"]').first.set_input_files(str(DATA / "sample_dev.conll"))  # Patterns has its own
        button = page.get_by_role("button", name=re.compile(r"^Import \d+ new sentences"))
        expect(button).to_be_disabled(timeout=30_000)  # a labelled file waits for its split
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Split").first.click()
        page.get_by_role("option", name="Train (the model learns from it)").click()
        expect(button).to_be_enabled(timeout=30_000)
        page.screenshot(path=str(shots / "upload.png"), full_page=True)
        button.click()
        expect(page.get_by_text(re.compile(r"\d+ added")).first).to_be_visible(timeout=30_000)
        assert sum(store.counts(pid)["by_split"].values()) == before + 15

        go(page, "Annotate")
        sentence = page.locator(".nl-sentence").first
        expect(sentence).to_be_visible(timeout=60_000)
        sentence.click()  # focus the page, not a text field, so the shortcuts reach it
        for key in ["1", "1", "ArrowRight", "0"]:
            page.keyboard.press(key)
            page.wait_for_timeout(400)
        expect(page.locator(".nl-ent").first).to_be_visible(timeout=10_000)
        page.screenshot(path=str(shots / "annotate.png"), full_page=True)
        humans_before = store.db.execute("SELECT COUNT(*) FROM annotations WHERE source = 'human'").fetchone()[0]
        page.keyboard.press("Control+Enter")
        deadline = time.time() + 20
        while time.time() < deadline:
            humans = store.db.execute("SELECT COUNT(*) FROM annotations WHERE source = 'human'").fetchone()[0]
            if humans > humans_before:
                break
            page.wait_for_timeout(250)
        tags = store.db.execute(
            "SELECT tags FROM annotations WHERE source = 'human' ORDER BY id DESC LIMIT 1").fetchone()
        assert humans == humans_before + 1 and tags is not None
        assert '"B-' in tags[0]  # the keyboard set an entity

        go(page, "Train")
        field = page.locator('input[aria-label="Base model (folder or Hugging Face id)"]')
        field.fill(model)
        field.press("Enter")
        steps = page.locator('input[aria-label="Step floor (at most)"]')
        steps.fill(os.environ.get("NERLOOP_BROWSER_STEPS", "40"))
        steps.press("Enter")
        page.wait_for_timeout(500)
        page.get_by_role("button", name=re.compile("Start training")).click()
        expect(page.get_by_text(re.compile(r"Job \d+ trained")).first).to_be_visible(timeout=600_000)
        page.screenshot(path=str(shots / "train.png"), full_page=True)
        assert store.serving(pid) is not None

        go(page, "Evaluate")
        expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible(timeout=120_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "evaluate.png"), full_page=True)

        go(page, "Annotate")  # now with the new version's predictions
        expect(page.locator(".nl-sentence").first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "annotate-model.png"), full_page=True)

        go(page, "Export")
        page.screenshot(path=str(shots / "export.png"), full_page=True)
        browser.close()
    for name in ("home", "upload", "annotate", "train", "evaluate", "annotate-model", "export"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
