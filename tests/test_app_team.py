"""AppTest of shared work: the Agreement and Review pages, Home's team progress, and an annotator who does not see
another's labels first on the Annotate page."""
from __future__ import annotations

import time

import pytest

from core import team, users, versions
from core.store import Store

from apptest import open_app, raw

LABELS = ["PER", "LOC"]
SCRIPT = "<script>x</script>"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A project of six unlabelled sentences (one holds a script tag as a word) as $NERLOOP_DB."""
    db = tmp_path / "team.db"
    monkeypatch.setenv("NERLOOP_DB", str(db))
    store = Store(db)
    pid = store.create_project("crew", LABELS)
    store.import_sentences(pid, [raw(["Ann", "in", "Rome"]), raw(["Bob", SCRIPT, "Oslo"])]
                           + [raw([f"w{i}", "x"]) for i in range(4)], split="unlabeled")
    yield store, pid, [r.id for r in store.sentences(pid)]
    store.close()


def test_agreement_page_shows_pairs_heatmaps_and_classes(env):
    store, pid, (a, b, *_) = env
    store.save_human(a, ["B-PER", "O", "B-LOC"], annotator="ann")
    store.save_human(a, ["B-PER", "O", "O"], annotator="bob")
    at = open_app(pid, "pages/agreement.py")
    pairs = at.dataframe[0].value
    assert list(pairs["a"]) == ["ann"] and list(pairs["b"]) == ["bob"] and list(pairs["sentences"]) == [1]
    assert pairs["f1"][0] == pytest.approx(2 / 3)  # 2·1 / (2 + 1)
    classes = at.dataframe[1].value
    assert dict(zip(classes["class"], classes["f1"])) == {"LOC": 0.0, "PER": 1.0}
    assert len(at.get("plotly_chart")) == 2


def test_agreement_page_without_shared_sentences(env):
    store, pid, _ = env
    at = open_app(pid, "pages/agreement.py")
    assert "No sentence has human labels by two annotators" in at.info[0].value


def test_review_page_accepts_a_version_as_the_training_label(env):
    store, pid, (a, b, *_) = env
    store.save_human(b, ["B-PER", "O", "B-LOC"], annotator="ann")
    store.save_human(b, ["B-PER", "B-PER", "B-LOC"], annotator="bob")
    at = open_app(pid, "pages/review.py", review_reviewer="rita")
    assert at.selectbox(key="review_sentence_id").value == b
    page = "".join(m.value for m in at.markdown)
    assert SCRIPT not in page and "&lt;script&gt;" in page  # the word, escaped
    assert page.count("box-shadow:0 0 0 2px #d62728") == 2  # the differing word, marked in both versions
    at.button(key=f"review_accept_{b}_bob").click().run()
    assert not at.exception
    assert [(h.source, h.annotator) for h in store.history(b)] == [("human", "ann"), ("human", "bob"),
                                                                         ("review", "rita")]
    train = {r.id: r.tags for r in versions.training_data(store, pid)[0]}
    assert train[b] == ["B-PER", "B-PER", "B-LOC"]
    assert "Nothing to review" in at.success[0].value


def test_review_page_edit_with_the_span_editor_keys(env):
    store, pid, (a, *_) = env
    store.save_human(a, ["B-PER", "O", "B-LOC"], annotator="ann")
    store.save_human(a, ["O", "O", "B-LOC"], annotator="bob")
    at = open_app(pid, "pages/review.py", review_reviewer="rita")
    at.session_state["review_editor"] = {"actions": [{"kind": "label", "label": "LOC", "at": 0, "sid": a, "seq": 1}]}
    at.run()
    assert at.session_state["review_draft"][1].tags == ["B-LOC", "O", "B-LOC"]
    at.button(key="review_save").click().run()
    assert store.effective(a).source == "review" and store.effective(a).tags == ["B-LOC", "O", "B-LOC"]


def test_annotate_opens_a_shared_sentence_without_the_other_annotators_labels(env):
    store, pid, ids = env
    store.set_overlap(pid, 1.0, 2)
    team.extend(store, pid, ids, ["ann", "bob"])
    first = ids[0]
    assert store.assigned_to(first) == ["ann", "bob"]
    store.save_human(first, ["B-PER", "O", "B-LOC"], annotator="ann")
    at = open_app(pid, "pages/annotate.py", annotate_annotator="bob")
    assert at.segmented_control(key="annotate_filter").value == "assigned to me"
    assert at.session_state["annotate_sentence_id"] == first
    assert at.session_state["annotate_drafts"][first].tags == ["O", "O", "O"]  # blank: no model, not ann's labels
    mine = open_app(pid, "pages/annotate.py", annotate_annotator="ann")
    assert mine.session_state["annotate_sentence_id"] == ids[1]  # ann's queue goes on after what she saved
    home = open_app(pid)
    progress = home.dataframe[0].value
    assert dict(zip(progress["annotator"], progress["done"])) == {"ann": 1, "bob": 0}
    assert dict(zip(progress["annotator"], progress["assigned"])) == {"ann": 6, "bob": 6}


def test_logged_in_reviewer_and_annotator_are_their_accounts(env):
    """With a login, Review and Annotate show no name box: decisions and saves are the account's."""
    store, pid, (a, b, *_) = env
    users.add(store, "ada", "admin", "correct horse")
    users.add(store, "rita", "reviewer", "battery staple")
    store.set_member(pid, "rita", "reviewer")  # the project is open to rita
    store.save_human(b, ["B-PER", "O", "B-LOC"], annotator="ann")
    store.save_human(b, ["B-PER", "B-PER", "B-LOC"], annotator="bob")
    logged_in = {"auth_user": {"name": "rita", "role": "reviewer"}, "auth_seen": time.time()}
    at = open_app(pid, "pages/review.py", review_reviewer="someone else", **logged_in)
    assert not at.exception and not [t for t in at.text_input if t.key == "review_reviewer"]
    at.button(key=f"review_accept_{b}_bob").click().run()
    assert [(h.source, h.annotator) for h in store.history(b)][-1] == ("review", "rita")
    at = open_app(pid, "pages/annotate.py", annotate_annotator="someone else", **logged_in)
    assert not at.exception and not [t for t in at.text_input if t.key == "annotate_annotator"]


def test_home_members_section_adds_narrows_and_removes(env):
    """An admin manages who opens the project on Home; an annotator sees progress only, no team controls."""
    store, pid, _ = env
    users.add(store, "ada", "admin", "correct horse")
    users.add(store, "rita", "reviewer", "battery staple")
    users.add(store, "ann", "annotator", "battery staple")
    admin = {"auth_user": {"name": "ada", "role": "admin"}, "auth_seen": time.time()}
    at = open_app(pid, **admin)
    assert at.selectbox(key="team_member_name").options == ["ann", "rita"]  # admins open every project anyway
    at.selectbox(key="team_member_name").set_value("rita")
    at.selectbox(key="team_member_role").set_value("annotator")
    at.button(key="team_member_add").click().run()
    assert store.members(pid) == [{"name": "rita", "account_role": "reviewer", "role": "annotator"}]
    assert any("rita is a member, as annotator" in i.value for i in at.info)
    at.selectbox(key="team_member_name").set_value("rita")
    at.button(key="team_member_remove").click().run()
    assert store.members(pid) == [] and [r["detail"]["op"] for r in store.audit(pid, action="team")] == [
        "member", "member removed"]
    store.set_member(pid, "ann")
    at = open_app(pid, auth_user={"name": "ann", "role": "annotator"}, auth_seen=time.time())
    assert not [b for b in at.button if b.key in ("team_member_add", "team_assign")]
