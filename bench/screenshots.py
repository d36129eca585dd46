"""Screenshots of the Agreement and Review pages (docs/agreement.png, docs/review.png), 1,280 px wide.

    python bench/screenshots.py               # writes docs/agreement.png and docs/review.png
    python bench/screenshots.py --out /tmp/s  # somewhere else

The bundled demo project (assets/) in a temporary data folder, two annotator accounts who labelled its train
sentences (ana: the demo's tags; ben: the same with some entity types swapped and some entities missed), and a
reviewer who logs in to `streamlit run app.py` in Debian chromium (Playwright) and opens both pages.
"""
from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._app import CHROMIUM, CHROMIUM_ARGS, log_in, open_page, server  # noqa: E402

SWAP = {"LOC": "ORG", "ORG": "LOC", "MISC": "ORG", "PER": "PER"}


def disagree(tags: list[str], k: int) -> list[str]:
    """ben's version of sentence k: every second sentence's second entity (or only one) gets another type, every
    third loses its last entity."""
    from core.formats import spans

    out, found = list(tags), spans(tags)
    if found and k % 2 == 0:
        start, end, label = found[min(1, len(found) - 1)]
        out[start:end] = [f"{'B' if i == start else 'I'}-{SWAP[label]}" for i in range(start, end)]
    if len(found) > 1 and k % 3 == 0:
        start, end, _ = found[-1]
        out[start:end] = ["O"] * (end - start)
    return out


def build(folder: Path) -> dict[str, str]:
    """The demo project with ana's and ben's labels; returns the reviewer's {name: password}."""
    from core import annotate, demo, users
    from core.store import Store

    store = Store(folder / "nerloop.db")
    password = secrets.token_urlsafe(12)
    for name, role in (("ada", "admin"), ("rita", "reviewer"), ("ana", "annotator"), ("ben", "annotator")):
        users.add(store, name, role, password if name == "rita" else secrets.token_urlsafe(12))
    pid = demo.create_demo(store, actor=users.actor(store, "ada"))
    rows = [r for r in store.sentences(pid, split="train") if r.tags is not None]
    for k, row in enumerate(rows):
        annotate.save(store, row.id, row.tags, annotator="ana", actor=users.actor(store, "ana"))
        annotate.save(store, row.id, disagree(row.tags, k), annotator="ben", actor=users.actor(store, "ben"))
    store.close()
    return {"rita": password}


def shoot(url: str, account: dict[str, str], out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    [(name, password)] = account.items()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        log_in(page, name, password)
        open_page(page, "Agreement")
        expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=60_000)
        page.wait_for_timeout(1500)  # the heatmaps' drawing
        page.screenshot(path=str(out / "agreement.png"), full_page=True)
        open_page(page, "Review")
        expect(page.get_by_role("button", name="Accept ana")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(out / "review.png"), full_page=True)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    folder = Path(tempfile.mkdtemp(prefix="nerloop-shots-"))
    try:
        account = build(folder)
        with server(folder) as (url, _, _):
            args.out.mkdir(parents=True, exist_ok=True)
            shoot(url, account, args.out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"wrote {args.out / 'agreement.png'} and {args.out / 'review.png'}")


if __name__ == "__main__":
    main()
