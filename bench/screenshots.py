"""Screenshots of the Agreement and Review pages (docs/agreement.png, docs/review.png), and of Annotate pre-tagged
by the live head (docs/live-head.png), 1,280 px wide.

    python bench/screenshots.py               # writes docs/agreement.png and docs/review.png
    python bench/screenshots.py --live        # writes docs/live-head.png
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
from bench._app import CHROMIUM, CHROMIUM_ARGS, env_for, log_in, open_page, server  # noqa: E402

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
    from core import demo, users
    from core.store import Store

    store = Store(folder / "nerloop.db")
    password = secrets.token_urlsafe(12)
    for name, role in (("ada", "admin"), ("rita", "reviewer"), ("ana", "annotator"), ("ben", "annotator")):
        users.add(store, name, role, password if name == "rita" else secrets.token_urlsafe(12))
    pid = demo.create_demo(store, actor=users.actor(store, "ada"))
    rows = [r for r in store.sentences(pid, split="train") if r.tags is not None]
    for k, row in enumerate(rows):
        store.save_human(row.id, row.tags, annotator="ana", actor=users.actor(store, "ana"))
        store.save_human(row.id, disagree(row.tags, k), annotator="ben", actor=users.actor(store, "ben"))
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


def build_live(folder: Path, saves: int = 30, every: int = 3) -> None:
    """The demo's texts as a fresh project: its labelled train sentences as the unlabelled pool (their gold kept
    hidden), its dev split as dev; `saves` of them labelled one by one, the live head refitted (in this process, by
    the learner's own code) after every `every` saves, so that its curve has points."""
    from core import demo, formats, learner
    from core.store import Store

    store = Store(folder / "nerloop.db")
    pid = store.create_project(demo.DEMO_NAME, list(demo.DEMO_LABELS))
    store.import_sentences(pid, formats.read(demo.ASSETS / "demo_dev.conll").sentences, split="dev")
    store.import_hidden_gold(pid, formats.read(demo.ASSETS / "demo_train.conll").sentences)
    gold = store.hidden_gold(pid)
    pl = learner.ProjectLearner(store, pid)
    for k, sid in enumerate(store.sentence_ids(pid, ("unlabeled",))[:saves], start=1):
        store.save_human(sid, gold[sid], annotator="ana")
        if k % every == 0:
            while pl.step() != "idle":
                pass
    store.close()


def shoot_live(url: str, out: Path) -> None:
    """Annotate, once the live head pre-tags the next sentence and its curve is drawn."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 960})
        page.goto(url)
        open_page(page, "Annotate")
        expect(page.get_by_text("pre-tagged by the live head").first).to_be_visible(timeout=180_000)
        expect(page.locator('.js-plotly-plot').first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1500)  # the chart's drawing
        page.screenshot(path=str(out / "live-head.png"), full_page=True)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--live", action="store_true", help="docs/live-head.png instead")
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    folder = Path(tempfile.mkdtemp(prefix="nerloop-shots-"))
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        if args.live:
            build_live(folder)
            with server(folder, env={**env_for(folder), "NERLOOP_LIVE": "1"}) as (url, _, _):
                shoot_live(url, args.out)
        else:
            account = build(folder)
            with server(folder) as (url, _, _):
                shoot(url, account, args.out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"wrote {args.out / 'live-head.png'}" if args.live else
          f"wrote {args.out / 'agreement.png'} and {args.out / 'review.png'}")


if __name__ == "__main__":
    main()
