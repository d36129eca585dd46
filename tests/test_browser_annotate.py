"""The Annotate page's span editor in a real browser (Debian chromium, Playwright, `streamlit run app.py`): mouse
selection, bursts of keys, keys pressed while the next sentence loads, escaping; a 1,280 px screenshot of the page
goes to $NERLOOP_SHOTS (default: a temporary folder)."""
from __future__ import annotations

import os
from pathlib import Path

from core import annotate as ann
from core import demo
from core.store import Store

from apptest import raw
from test_browser import ARGS, CHROMIUM, go, server  # noqa: F401  (skips this module where chromium is absent)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

SCRIPT = "<script>window.pwned=1</script>"
IMG = "<img/src=x/onerror=window.pwned=2>"  # a word holds no space
LABELS = list(demo.DEMO_LABELS)
BURST = ["1", "1", "ArrowRight", "2", "ArrowRight", "ArrowRight", "3", "3", "3", "ArrowLeft", "ArrowLeft", "0",
         "End", "4", "ArrowLeft", "Home", "2", "ArrowRight", "ArrowRight", "1"]


def human_count(store: Store) -> int:
    return store.db.execute("SELECT COUNT(*) FROM annotations WHERE source = 'human'").fetchone()[0]


def expected(n_words: int, keys: list[str]) -> list[str]:
    """The tags `keys` give on a sentence of O tags, by the core rules (core.annotate.apply)."""
    draft = ann.Draft.open(["O"] * n_words)
    for key in keys:
        action = {"ArrowRight": {"kind": "move", "step": 1}, "ArrowLeft": {"kind": "move", "step": -1},
                  "Home": {"kind": "home"}, "End": {"kind": "end"}}.get(key)
        if action is None:
            action = {"kind": "label", "label": LABELS[int(key) - 1] if key != "0" else None, "at": draft.cursor}
        ann.apply(draft, action, labels=LABELS)
    return draft.tags


def synced(page, box) -> None:
    """Wait until Python has acknowledged every action the editor made."""
    page.wait_for_function("b => b.dataset.acked === b.dataset.seq", arg=box.element_handle(), timeout=30_000)


def wait_saved(page, store: Store, count: int) -> None:
    for _ in range(120):
        if human_count(store) >= count:
            return
        page.wait_for_timeout(250)


def test_span_editor_mouse_keys_and_sentence_guard(server, tmp_path):  # noqa: F811
    url, db = server
    shots = Path(os.environ.get("NERLOOP_SHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    store = Store(db)
    pid = demo.create_demo(store)
    store.import_sentences(pid, [raw(["Hello", SCRIPT, "and", IMG, "Paris"])], split="dev")
    hostile = store.sentences(pid, split="dev")[-1].id
    rows = store.sentences(pid, split="unlabeled")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        expect(page.get_by_text("demo").first).to_be_visible(timeout=60_000)
        go(page, "Annotate")
        box = page.locator(".nl-editor")
        expect(box).to_have_attribute("data-sid", str(rows[0].id), timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "annotate-1280.png"), full_page=True)

        # a click on a word moves the cursor; a drag over two words and a label key make one entity
        box.locator('.nl-w[data-i="3"]').click()
        expect(box).to_have_attribute("data-cursor", "3")
        box.locator('.nl-w[data-i="1"]').hover()
        page.mouse.down()
        box.locator('.nl-w[data-i="2"]').hover()
        page.mouse.up()
        page.keyboard.press("2")
        expect(box.locator(".nl-ent")).to_have_count(1)
        synced(page, box)
        assert box.get_attribute("data-cursor") == "3"  # the cursor goes to the word after the span
        n = human_count(store)
        page.keyboard.press("Control+Enter")
        wait_saved(page, store, n + 1)
        tags = store.history(rows[0].id)[-1].tags
        assert tags[:4] == ["O", "B-LOC", "I-LOC", "O"] and set(tags[4:]) == {"O"}
        expect(box).to_have_attribute("data-sid", str(rows[1].id), timeout=30_000)

        # 20 keys sent slowly, then the same keys 50 ms apart after clearing: the same tags, those of core's rules
        words = len(rows[1].words)
        for key in BURST:
            page.keyboard.press(key)
            page.wait_for_timeout(400)
        synced(page, box)
        slow = box.get_attribute("data-tags").split(" ")
        assert slow == expected(words, BURST)
        page.keyboard.press("x")
        page.keyboard.press("Home")
        synced(page, box)
        assert set(box.get_attribute("data-tags").split(" ")) == {"O"}
        for key in BURST:
            page.keyboard.press(key)
            page.wait_for_timeout(50)
        assert box.get_attribute("data-tags").split(" ") == slow  # shown at once
        synced(page, box)
        assert box.get_attribute("data-tags").split(" ") == slow  # and what Python applied
        n = human_count(store)
        page.keyboard.press("Control+Enter")
        wait_saved(page, store, n + 1)
        assert store.history(rows[1].id)[-1].tags == slow

        # save, then a label key and A while the next sentence loads: one sentence saved, the one shown
        expect(box).to_have_attribute("data-sid", str(rows[2].id), timeout=30_000)
        synced(page, box)
        n = human_count(store)
        page.keyboard.press("1")
        page.keyboard.press("Control+Enter")
        page.keyboard.press("2")
        page.keyboard.press("a")
        expect(box).to_have_attribute("data-sid", str(rows[3].id), timeout=30_000)
        synced(page, box)
        page.wait_for_timeout(1000)
        assert human_count(store) == n + 1
        assert store.history(rows[2].id)[-1].tags[0] == "B-PER"
        assert not store.history(rows[3].id)
        assert set(box.get_attribute("data-tags").split(" ")) == {"O"}  # the refused keys left it alone
        expect(box.locator(".nl-note")).to_contain_text("key(s) ignored")  # said in the editor, not only a toast

        # user text is text: no element made from a word
        page.goto(f"{url}/annotate?sid={hostile}")
        expect(box).to_have_attribute("data-sid", str(hostile), timeout=60_000)
        expect(box.locator('.nl-w[data-i="1"]')).to_have_text(SCRIPT)
        expect(box.locator('.nl-w[data-i="3"]')).to_have_text(IMG)
        assert box.locator("script, img").count() == 0
        assert page.evaluate("window.pwned") is None
        browser.close()
    assert (shots / "annotate-1280.png").stat().st_size > 10_000


def test_a_deep_link_and_a_reload_keep_project_sentence_and_draft(server):  # noqa: F811
    url, db = server
    store = Store(db)
    demo.create_demo(store)
    bio = store.create_project("bio", ["Chemical", "Disease"])
    store.import_sentences(bio, [raw(["Aspirin", "eases", "headache", "."]), raw(["Fever", "returned", "."])],
                           split="unlabeled")
    sid = store.sentences(bio)[1].id
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{url}/annotate?project={bio}&sid={sid}")  # the server's first request: straight to a sentence
        box = page.locator(".nl-editor")
        expect(box).to_have_attribute("data-sid", str(sid), timeout=60_000)
        expect(page.get_by_role("combobox", name="Project")).to_have_value("bio")
        page.keyboard.press("2")  # Disease on "Fever", not saved
        synced(page, box)
        assert store.draft(sid, "anonymous")["tags"] == ["B-Disease", "O", "O"]
        page.reload()
        box = page.locator(".nl-editor")
        expect(box).to_have_attribute("data-sid", str(sid), timeout=60_000)
        expect(box).to_have_attribute("data-tags", "B-Disease O O", timeout=10_000)
        other = browser.new_page(viewport={"width": 1280, "height": 1000})  # the same link in a new tab
        other.goto(page.url)
        expect(other.locator(".nl-editor")).to_have_attribute("data-sid", str(sid), timeout=60_000)
        assert not store.history(sid)  # nothing saved along the way
        browser.close()
