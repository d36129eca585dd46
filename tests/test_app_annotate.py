"""AppTest of the Annotate page: keyboard buttons, saves, undo, orders, table view, escaping, no model."""
from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import annotate as ann
from core import formats, jobs, queue
from core.store import Store

from apptest import UNLABELED, open_app, raw as _raw

DATA = Path(__file__).parent / "data"
LABELS = ["PER", "LOC", "ORG", "MISC"]
SCRIPT = "<script>alert(1)</script>"
IMG = "<img/src=x/onerror=alert(1)>"  # a word holds no space


@pytest.fixture(scope="module")
def base(tmp_path_factory, tiny_model) -> tuple[Path, int, int]:
    """A database with a trained, serving tiny model (project "news") and a project without one ("plain")."""
    path = tmp_path_factory.mktemp("annotate") / "base.db"
    store = Store(path)
    pid = store.create_project("news", LABELS)
    store.import_sentences(pid, formats.read(DATA / "sample.conll").sentences, split="train")
    store.import_sentences(pid, formats.read(DATA / "sample_dev.conll").sentences, split="dev")
    store.import_sentences(pid, formats.loads(UNLABELED, name="u.txt").sentences, split="unlabeled")
    store.import_sentences(pid, [_raw(["Hello", SCRIPT, "and", IMG, "Paris"])], split="unlabeled")
    jobs.execute(store, jobs.create(store, pid, {"model": tiny_model, "min_steps": 30, "epochs": 2,
                                                 "promote": "always"}))
    assert store.serving(pid) is not None
    plain = store.create_project("plain", ["PER", "LOC"])
    store.import_sentences(plain, [_raw(["Ann", "lives", "in", "Rome"]), _raw(["Bob", "too"])], split="unlabeled")
    store.close()
    return path, pid, plain


@pytest.fixture
def env(base, tmp_path, monkeypatch):
    """A fresh copy of the base database as $NERLOOP_DB, and a Store on it."""
    path, pid, plain = base
    db = tmp_path / "t.db"
    shutil.copy(path, db)
    monkeypatch.setenv("NERLOOP_DB", str(db))
    store = Store(db)
    yield store, pid, plain
    store.close()


def open_page(project_id: int, **state) -> AppTest:
    return open_app(project_id, "pages/annotate.py", **state)


def current(at: AppTest) -> int:
    return at.session_state["annotate_sentence_id"]


def draft(at: AppTest) -> ann.Draft:
    return at.session_state["annotate_drafts"][current(at)]


def press(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, at.exception


def relabel(at: AppTest, *, skip: str = "") -> str:
    """Press the key of a label (not `skip`) that the cursor word does not have: an edit, whatever the model
    predicted. Returns the label."""
    d = draft(at)
    n, label = next((n, lab) for n, lab in enumerate(LABELS, 1) if lab not in (d.tags[d.cursor][2:], skip))
    press(at, f"annotate_label_{n}")
    return label


def sentence_markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "nl-sentence" in m.value]


def editor(at: AppTest) -> dict:
    """The data the span editor was mounted with (the sentence it shows)."""
    found = [e.proto for e in at.main if type(e).__name__ == "UnknownElement" and e.type == "bidi_component"]
    assert len(found) == 1
    return json.loads(found[0].json)


def send(at: AppTest, *actions: dict) -> None:
    """What the span editor sends: every action not acknowledged yet, each with its sentence id and sequence number."""
    state = at.session_state["annotate_editor"] if "annotate_editor" in at.session_state else {}
    at.session_state["annotate_editor"] = {"actions": list(state.get("actions") or []) + list(actions)}
    at.run()
    assert not at.exception, at.exception


def test_label_move_save_writes_a_human_annotation(env):
    store, pid, _ = env
    at = open_page(pid)
    assert at.segmented_control(key="annotate_filter").value == "unlabeled"
    sid = current(at)
    unlabeled = [s for s in store.sentences(pid, split="unlabeled")]
    assert sid == unlabeled[0].id  # "in order": the first sentence without labels
    words = unlabeled[0].words
    assert words[:3] == ["Maria", "Okonkwo", "visited"]
    assert (editor(at)["sid"], editor(at)["words"], editor(at)["tags"]) == (sid, words, draft(at).tags)
    for _ in range(len(words)):  # clear every word, walking right with 0
        press(at, "annotate_clear")
    press(at, "annotate_right")
    assert draft(at).tags == ["O"] * len(words)
    for _ in range(len(words)):
        press(at, "annotate_left")
    assert draft(at).cursor == 0
    press(at, "annotate_label_1")  # PER on Maria (cursor moves on)
    press(at, "annotate_label_1")  # PER again on Okonkwo: continues the entity
    press(at, "annotate_right")  # skip "visited"
    press(at, "annotate_label_2")  # LOC on Westmoor
    expected = ["B-PER", "I-PER", "O", "B-LOC"] + ["O"] * (len(words) - 4)
    assert draft(at).tags == expected
    assert any("unsaved changes" in m.value for m in at.markdown)
    history = len(store.history(sid))
    at.text_input(key="annotate_annotator").set_value("ada").run()
    press(at, "annotate_save")
    saved = store.history(sid)
    assert len(saved) == history + 1
    assert (saved[-1].tags, saved[-1].source, saved[-1].annotator) == (expected, "human", "ada")
    assert current(at) == unlabeled[1].id  # went on to the next sentence
    assert sid not in at.session_state["annotate_queue"]  # done: it left the "unlabeled" view
    assert any("1</b> done" in m.value for m in at.markdown)


def test_accept_saves_the_model_prediction(env):
    store, pid, _ = env
    at = open_page(pid)
    sid = current(at)
    row = store.sentences(pid, ids=[sid])[0]
    predicted = jobs_tagger(store, pid).predict([row.words])[0].tags
    assert draft(at).tags == predicted  # an unlabelled sentence opens with the model's tags
    assert len(editor(at)["scores"]) == len(row.words)  # scores shown, low ones marked
    assert not any("predicted:" in c.value for c in at.caption) and not sentence_markdown(at)
    relabel(at)  # an edit that accepting the model discards
    assert any(c.value == "Model v1 predicted:" for c in at.caption)
    assert editor(at)["tags"] != predicted
    assert len(sentence_markdown(at)) == 1 and 'title="confidence' in sentence_markdown(at)[0]  # the model's
    press(at, "annotate_accept")
    assert store.history(sid)[-1].tags == predicted
    assert store.history(sid)[-1].source == "human"
    assert current(at) != sid


def jobs_tagger(store: Store, pid: int):
    from core.model import Tagger

    return Tagger.load(store.serving(pid).folder, device="cpu")


def test_undo_restores_the_previous_tags(env):
    _, pid, _ = env
    at = open_page(pid)
    start = list(draft(at).tags)
    relabel(at)
    relabel(at)
    assert draft(at).tags != start and draft(at).cursor == 2
    press(at, "annotate_undo")
    press(at, "annotate_undo")
    assert draft(at).tags == start and draft(at).cursor == 0
    assert at.button(key="annotate_undo").disabled


def test_least_confident_order(env):
    store, pid, _ = env
    at = open_page(pid)
    at.segmented_control(key="annotate_filter").set_value("all").run()
    in_order = list(at.session_state["annotate_queue"])
    assert in_order == sorted(in_order) and len(in_order) == len(store.sentences(pid))
    at.segmented_control(key="annotate_order").set_value("least confident").run()
    assert not at.exception
    ranked = list(at.session_state["annotate_queue"])
    assert sorted(ranked) == in_order and ranked != in_order
    rows = store.sentences(pid, ids=ranked)
    preds = jobs_tagger(store, pid).predict([r.words for r in rows])
    conf = {r.id: queue.sentence_confidence(p.scores) for r, p in zip(rows, preds)}
    assert [round(conf[i], 4) for i in ranked] == sorted(round(conf[i], 4) for i in ranked)
    assert current(at) == ranked[0]  # the least confident sentence is shown first
    assert any("Least confident ranks" in c.value for c in at.caption)
    press(at, "annotate_next")
    assert current(at) == ranked[1]
    press(at, "annotate_prev")
    assert current(at) == ranked[0]
    at.switch_page("pages/export.py").run()  # the view survives a trip to another page
    at.switch_page("pages/annotate.py").run()
    assert at.segmented_control(key="annotate_order").value == "least confident"
    assert current(at) == ranked[0]


def test_table_view_edit_saves_through_the_same_path(env):
    store, pid, _ = env
    at = open_page(pid)
    at.toggle(key="annotate_table_view").set_value(True).run()
    sid, d = current(at), draft(at)
    key = f"annotate_table_{sid}_{d.version}"
    assert at.data_editor(key=key).value["word"].tolist() == store.sentences(pid, ids=[sid])[0].words
    n = len(d.tags)
    at.session_state[key] = {"edited_rows": {0: {"tag": "I-ORG"}, 1: {"tag": "I-ORG"}, 2: {"tag": "O"}},
                             "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception
    expected = ["B-ORG", "I-ORG", "O"] + d.tags[3:]  # the orphan I-ORG is repaired to B-ORG
    assert draft(at).tags == expected and n == len(expected)
    press(at, "annotate_save")
    assert store.history(sid)[-1].tags == expected


def test_html_in_a_sentence_is_escaped(env):
    store, pid, _ = env
    sid = next(s.id for s in store.sentences(pid) if SCRIPT in s.words)
    at = open_page(pid, annotate_sentence_id=sid)
    assert current(at) == sid
    relabel(at)  # the model's prediction (markdown) appears under the edited sentence
    shown = "".join(m.value for m in at.markdown)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    assert "&lt;img/src=x/onerror=alert(1)&gt;" in shown
    assert "<script>" not in shown and "<img" not in shown
    assert SCRIPT in editor(at)["words"]  # as data: the editor sets it as text (checked in the browser test)


def test_sid_query_parameter_opens_that_sentence(env):
    store, pid, _ = env
    sid = store.sentences(pid, split="dev")[2].id
    at = open_app(pid, "pages/annotate.py", query={"sid": str(sid)})
    assert current(at) == sid
    assert any("not in this view" in m.value for m in at.markdown)  # dev sentences have gold labels
    assert at.query_params["sid"] == str(sid) and at.query_params["project"] == str(pid)  # a reload opens it again
    press(at, "annotate_next")  # from outside the view: the first sentence of the view after it
    assert current(at) == store.sentences(pid, split="unlabeled")[0].id
    assert at.query_params["sid"] == str(current(at))  # the URL follows the sentence shown
    at.query_params["sid"] = "999999"
    at.run()
    assert any("no such sentence" in w.value for w in at.warning)


def test_two_sessions_saving_the_same_sentence_lose_nothing(env):
    store, pid, _ = env
    first, second = open_page(pid), open_page(pid)
    sid = current(first)
    assert current(second) == sid
    one = relabel(first)
    other = relabel(second, skip=one)
    press(first, "annotate_save")
    second.run()
    assert any("saved elsewhere" in m.value for m in second.info)
    assert any(f"History of #{sid}: 1 annotation(s), 1 by humans" in c.value for c in second.caption)
    press(second, "annotate_save")
    history = [h for h in store.history(sid) if h.source == "human"]
    assert [h.tags[0] for h in history] == [f"B-{one}", f"B-{other}"]


def test_a_save_elsewhere_with_the_opened_tags_is_still_announced(env):
    store, pid, _ = env
    first, second = open_page(pid), open_page(pid)
    sid = current(first)
    relabel(second)
    press(first, "annotate_accept")  # saves exactly the tags the second session opened with
    second.run()
    assert store.history(sid)[-1].tags == draft(second).start
    assert any("saved elsewhere" in m.value for m in second.info)


def test_without_a_serving_model_the_page_works(env):
    store, _, plain = env
    at = open_page(plain)
    sid = current(at)
    assert draft(at).tags == ["O"] * 4
    assert at.button(key="annotate_accept").label == "Accept as opened & next"
    press(at, "annotate_label_1")
    press(at, "annotate_right")
    press(at, "annotate_right")
    press(at, "annotate_label_2")
    press(at, "annotate_save")
    assert store.history(sid)[-1].tags == ["B-PER", "O", "O", "B-LOC"]
    at.segmented_control(key="annotate_order").set_value("least confident").run()
    assert not at.exception
    assert any("No serving model yet" in c.value for c in at.caption)


# ---------------------------------------------------------------- the span editor's actions (as the browser sends them)

def test_editor_actions_apply_in_order_once(env):
    store, pid, plain = env
    at = open_page(plain)
    sid = current(at)
    assert editor(at)["acked"] == 0 and editor(at)["labels"] == ["PER", "LOC"]
    send(at, {"kind": "label", "label": "PER", "at": 0, "sid": sid, "seq": 1},
         {"kind": "move", "step": 1, "sid": sid, "seq": 3}, {"kind": "end", "sid": sid, "seq": 2})
    assert (draft(at).tags, draft(at).cursor) == (["B-PER", "O", "O", "O"], 3)  # seq order: label, end, move
    send(at)  # the same batch again (a rerun before the browser pruned it): nothing applied twice
    send(at, {"kind": "label", "label": "LOC", "start": 1, "end": 3, "sid": sid, "seq": 4},
         {"kind": "undo", "sid": sid, "seq": 5}, {"kind": "label", "label": "LOC", "start": 2, "end": 4, "sid": sid,
                                                   "seq": 6})
    assert draft(at).tags == ["B-PER", "O", "B-LOC", "I-LOC"]
    assert (editor(at)["tags"], editor(at)["acked"], editor(at)["cursor"]) == (draft(at).tags, 6, 3)
    send(at, {"kind": "label", "label": "ORG", "at": 0, "sid": sid, "seq": 7})  # not a label of this project
    assert draft(at).tags == ["B-PER", "O", "B-LOC", "I-LOC"] and editor(at)["acked"] == 7
    assert any("not one of this project's labels" in t.value for t in at.toast)
    send(at, {"kind": "save", "sid": sid, "seq": 8})
    assert store.history(sid)[-1].tags == ["B-PER", "O", "B-LOC", "I-LOC"] and current(at) != sid


def test_editor_actions_on_a_sentence_not_shown_are_refused(env):
    store, pid, plain = env
    at = open_page(plain)
    first = current(at)
    humans = lambda: store.db.execute("SELECT COUNT(*) FROM annotations WHERE source = 'human'").fetchone()[0]
    # Ctrl+Enter, then a label key and A pressed before the next sentence was shown: all made on `first`
    send(at, {"kind": "label", "label": "PER", "at": 0, "sid": first, "seq": 1},
         {"kind": "save", "sid": first, "seq": 2}, {"kind": "label", "label": "LOC", "at": 0, "sid": first, "seq": 3},
         {"kind": "accept", "sid": first, "seq": 4})
    second = current(at)
    assert second != first and humans() == 1
    assert store.history(first)[-1].tags == ["B-PER", "O", "O", "O"]
    assert draft(at).tags == ["O", "O"] and not store.history(second)
    assert any("2 key(s) ignored" in t.value for t in at.toast)
    assert "2 key(s) ignored" in editor(at)["notice"]  # said in the editor too, where the keys were pressed
    send(at, {"kind": "accept", "sid": first + 1000, "seq": 5})  # a sentence id that is not the current one
    assert humans() == 1 and current(at) == second and "1 key(s) ignored" in editor(at)["notice"]
    send(at, {"kind": "move", "step": 1, "sid": second, "seq": 6})
    assert editor(at)["notice"] is None  # once: the next reply has none
    at.segmented_control(key="annotate_filter").set_value("all").run()
    send(at, {"kind": "prev", "sid": second, "seq": 7}, {"kind": "accept", "sid": second, "seq": 8})
    assert humans() == 1 and current(at) == first  # "prev" left `second`: the accept made on it is refused


def test_a_batch_sent_before_the_browser_had_the_new_url_stays_on_the_sentence_shown(env):
    """The browser sends the page's URL with every batch: one sent while the reply to a save was on its way (a resend)
    still names the saved sentence. The page must not go back to it; the keys made on the next one then apply."""
    store, pid, plain = env
    at = open_page(plain)
    first = current(at)
    send(at, {"kind": "label", "label": "PER", "at": 0, "sid": first, "seq": 1},
         {"kind": "save", "sid": first, "seq": 2})
    second = current(at)
    assert second != first and at.query_params["sid"] == str(second)
    at.query_params["sid"] = str(first)  # the URL the browser had when it sent the batch again
    send(at)
    assert current(at) == second and editor(at)["sid"] == second and at.query_params["sid"] == str(second)
    send(at, {"kind": "label", "label": "LOC", "at": 0, "sid": second, "seq": 3},
         {"kind": "save", "sid": second, "seq": 4})
    assert store.history(second)[-1].tags[0] == "B-LOC" and len(store.history(first)) == 1
    assert editor(at)["notice"] is None


def test_a_reload_keeps_the_project_the_sentence_and_the_draft(env):
    store, pid, plain = env
    at = open_page(plain)
    at.segmented_control(key="annotate_filter").set_value("all").run()
    press(at, "annotate_next")
    sid = current(at)
    send(at, {"kind": "label", "label": "LOC", "at": 1, "sid": sid, "seq": 1})
    assert draft(at).tags == ["O", "B-LOC"] and store.draft(sid, "anonymous")["tags"] == ["O", "B-LOC"]
    reloaded = open_app(None, "pages/annotate.py", query=dict(at.query_params))  # a new session on the same URL
    assert reloaded.session_state["project_id"] == plain and current(reloaded) == sid
    assert draft(reloaded).tags == ["O", "B-LOC"] and draft(reloaded).dirty  # the draft, still unsaved
    assert editor(reloaded)["tags"] == ["O", "B-LOC"] and not store.history(sid)
    send(reloaded, {"kind": "save", "sid": sid, "seq": 1})
    assert store.history(sid)[-1].tags == ["O", "B-LOC"] and store.draft(sid, "anonymous") is None


def test_flag_key_takes_a_sentence_out_of_the_queue_and_restores_it(env):
    store, pid, plain = env
    at = open_page(plain)
    first = current(at)
    send(at, {"kind": "flag", "sid": first, "seq": 1})
    assert store.flagged(plain) == {first} and current(at) != first
    assert first not in at.session_state["annotate_queue"]
    assert any("as junk" in t.value for t in at.toast)
    at.segmented_control(key="annotate_filter").set_value("flagged").run()
    assert current(at) == first and at.button(key="annotate_flag").label == "Restore"
    press(at, "annotate_flag")
    assert store.flagged(plain) == set() and [r["flagged"] for r in store.flag_history(first)] == [1, 0]


def test_neighbouring_sentences_of_the_document_are_shown_greyed(env):
    store, pid, plain = env
    rows = store.sentences(pid, split="dev")
    middle = rows[2]
    at = open_page(pid, annotate_sentence_id=middle.id)
    context = "".join(m.value for m in at.markdown if "nl-context" in m.value)
    before, after = store.neighbours(middle.id, 2, 2)
    assert before and after
    for row in before + after:
        assert html.escape(row.text) in context
    assert middle.text not in context
