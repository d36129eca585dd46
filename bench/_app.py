"""What the browser benchmarks and tests share: the app on a free port (as `make run` starts it), Debian
chromium's launch flags, and the page steps every run needs (wait for a script run, open a page, log in)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
# the first element matching a selector, looking into open shadow roots too (the span editor lives in one)
DEEP_JS = """const deep = (sel) => {
  const todo = [document];
  while (todo.length) {
    const root = todo.shift(), hit = root.querySelector(sel);
    if (hit) return hit;
    for (const n of root.querySelectorAll('*')) if (n.shadowRoot) todo.push(n.shadowRoot);
  }
  return null;
};"""
IDLE_JS = "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(folder: Path) -> dict:
    """The server's environment: its data folder and database in `folder`, no model hub."""
    return {**os.environ, "NERLOOP_HOME": str(folder), "NERLOOP_DB": str(folder / "nerloop.db"),
            "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@contextmanager
def server(folder: Path, args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
           direct: bool = False, nerloop: Sequence[str] | None = None,
           cwd: Path = ROOT) -> Iterator[tuple[str, int, Path]]:
    """The app as `make run` starts it (`nerloop serve`: its check of the address, then `streamlit run app.py` with the
    app's .streamlit/config.toml) on a free port, headless, data in `folder` unless `env` (the whole environment) says
    otherwise; `direct`: `streamlit run app.py` itself, without the check; `nerloop`: the command that runs the CLI
    (an installed `nerloop` script), started in `cwd`. Output in folder/streamlit-PORT.log.
    Yields (url, server pid, output file); RuntimeError with the output's tail when it does not start."""
    port = free_port()
    options = ["--server.port", str(port), "--server.headless", "true", *args]
    cli = list(nerloop or [sys.executable, "-m", "core.cli"])
    cmd = ([sys.executable, "-m", "streamlit", "run", "app.py", *options] if direct
           else [*cli, "serve", "--", *options])
    output = folder / f"streamlit-{port}.log"
    with open(output, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=dict(env_for(folder) if env is None else env), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"streamlit did not start: {output.read_text()[-2000:]}") from None
                time.sleep(0.3)
        yield url, proc.pid, output
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_idle(page, timeout_ms: int = 120_000) -> None:
    """Wait until the script run of the page has finished (no rerun in flight)."""
    page.wait_for_function(IDLE_JS, timeout=timeout_ms)


def open_page(page, name: str) -> None:
    """Click a page in the sidebar and wait for its title."""
    from playwright.sync_api import expect

    page.locator('[data-testid="stSidebarNav"] a', has_text=name).first.click()
    expect(page.locator("h1", has_text=name)).to_be_visible(timeout=60_000)
    wait_idle(page)


def log_in(page, name: str, password: str) -> None:
    """Fill in the login form and wait for the sidebar's "Logged in as"."""
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=120_000)
    page.get_by_role("textbox", name="Name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Logged in as")).to_be_visible(timeout=120_000)
    wait_idle(page)


async def log_in_async(page, name: str, password: str) -> None:
    """log_in for Playwright's async API (several browser contexts driven from one event loop)."""
    from playwright.async_api import expect

    await expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=120_000)
    await page.get_by_role("textbox", name="Name").fill(name)
    await page.get_by_role("textbox", name="Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text("Logged in as")).to_be_visible(timeout=120_000)
    await page.wait_for_function(IDLE_JS, timeout=120_000)


async def open_page_async(page, name: str) -> None:
    """open_page for Playwright's async API."""
    from playwright.async_api import expect

    await page.locator('[data-testid="stSidebarNav"] a', has_text=name).first.click()
    await expect(page.locator("h1", has_text=name)).to_be_visible(timeout=120_000)
    await page.wait_for_function(IDLE_JS, timeout=120_000)
