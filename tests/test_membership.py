"""Team access that holds: project membership checked in core for every project command and role, one identity per
action, every audited kind recorded, and docs/teams.md's table of roles × actions × scope equal to the code."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core import access, export, jobs, review, team, users
from core.access import ADMIN_ACTIONS, AUDIT_KINDS, PERMISSIONS, SERVER_ACTIONS
from core.formats import Sentence
from core.store import MIGRATIONS, Store
from tests.test_cli import run

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse"


def sent(text: str, tags: str | None = None) -> Sentence:
    words = text.split()
    return Sentence(words, tags.split() if tags else None, text, [(0, 0)] * len(words))


@pytest.fixture
def lab(tmp_path) -> tuple[Path, dict]:
    """A database with an admin, an annotator and a reviewer of project `lab`, an annotator of no project, and a
    second project `other` nobody but the admin opens."""
    db = tmp_path / "db.sqlite"
    store = Store(db)
    for name, role in (("ada", "admin"), ("ann", "annotator"), ("rev", "reviewer"), ("out", "annotator")):
        users.add(store, name, role, PASSWORD)
    ada = users.actor(store, "ada")
    ids = {}
    for name in ("lab", "other"):
        pid = store.create_project(name, ["PER"], actor=ada)
        store.import_sentences(pid, [sent("Ann met Bo"), sent("Cy ran")], split="unlabeled", actor=ada)
        store.import_sentences(pid, [sent("Di sat", "B-PER O")], split="dev", actor=ada)
        ids[name] = (pid, store.sentences(pid, split="unlabeled")[0].id)
    store.set_member(ids["lab"][0], "ann", actor=ada)
    store.set_member(ids["lab"][0], "rev", "reviewer", actor=ada)
    store.close()
    return db, ids


def test_members_open_their_projects_only(lab):
    db, ids = lab
    store = Store(db)
    (lab_id, lab_sid), (other_id, other_sid) = ids["lab"], ids["other"]
    ann, rev, out, ada = (users.actor(store, n) for n in ("ann", "rev", "out", "ada"))
    assert [p.name for p in store.projects(ann)] == ["lab"] and store.projects(out) == []
    assert [p.name for p in store.projects(ada)] == ["lab", "other"]
    with pytest.raises(PermissionError, match="'ann' .annotator. is not a member of project 'other'"):
        store.open_project("other", ann)
    with pytest.raises(PermissionError, match="not a member"):
        store.save_human(other_sid, ["B-PER", "O", "O"], annotator="ann", actor=ann)
    with pytest.raises(PermissionError, match="not a member"):
        store.flag([other_sid], actor=ann)
    with pytest.raises(PermissionError, match="not a member"):
        review.adjudicate(store, other_sid, ["O", "O", "O"], reviewer="rev", actor=rev)
    assert store.history(other_sid) == [] and store.flagged(other_id) == set()
    store.save_human(lab_sid, ["B-PER", "O", "O"], annotator="ann", actor=ann)
    review.adjudicate(store, lab_sid, ["B-PER", "O", "B-PER"], reviewer="rev", actor=rev)
    # a project role narrows the account's: rev annotates in `other`, never reviews there
    store.set_member(other_id, "rev", "annotator", actor=ada)
    assert store.scoped(rev, other_id).role == "annotator" and store.scoped(rev, lab_id).role == "reviewer"
    with pytest.raises(PermissionError, match="'rev' is annotator"):
        review.adjudicate(store, other_sid, ["O", "O", "O"], reviewer="rev", actor=rev)
    with pytest.raises(ValueError, match="admins open every project"):
        store.set_member(lab_id, "ada", "reviewer", actor=ada)
    with pytest.raises(PermissionError, match="'ann' is annotator"):
        store.set_member(lab_id, "out", actor=ann)
    # giving work makes a member; removing a member closes the project, the work stays
    team.extend(store, other_id, [other_sid], ["out"], actor=ada)
    assert [p.name for p in store.projects(out)] == ["other"]
    assert store.members(other_id) == [{"name": "out", "account_role": "annotator", "role": "annotator"},
                                       {"name": "rev", "account_role": "reviewer", "role": "annotator"}]
    assert store.remove_member(lab_id, "ann", actor=ada) and not store.remove_member(lab_id, "ann", actor=ada)
    assert store.projects(ann) == [] and store.history(lab_sid)[0].annotator == "ann"
    kinds = [(r["action"], r["detail"].get("op")) for r in store.audit(lab_id) if r["action"] == "team"]
    assert kinds == [("team", "member"), ("team", "member"), ("team", "member removed")]
    store.close()


def test_work_is_recorded_under_the_actors_own_name(lab):
    db, ids = lab
    store = Store(db)
    (lab_id, sid), ann, rev, ada = ids["lab"], *(users.actor(store, n) for n in ("ann", "rev", "ada"))
    with pytest.raises(PermissionError, match="'ann' .annotator. cannot record it under the name 'rev'"):
        store.save_human(sid, ["B-PER", "O", "O"], annotator="rev", actor=ann)
    with pytest.raises(PermissionError, match="cannot record it under the name 'ada'"):
        review.adjudicate(store, sid, ["O", "O", "O"], reviewer="ada", actor=rev)
    with pytest.raises(PermissionError, match="under the name 'rev'"):
        store.flag([sid], annotator="rev", actor=ann)
    assert store.history(sid) == [] and store.flag_history(sid) == []
    store.flag([sid], actor=ann)  # no name given: the actor's own
    store.save_human(sid, ["B-PER", "O", "O"], annotator="", actor=ann)
    assert store.flag_history(sid)[-1]["annotator"] == "ann" and store.history(sid)[-1].annotator == "ann"
    store.save_human(sid, ["O", "O", "B-PER"], annotator="rev", actor=ada)  # an admin, on purpose: both recorded
    row = store.audit(lab_id, action="annotate")[-1]
    assert (row["actor"], row["detail"]["annotator"]) == ("ada", "rev") and store.history(sid)[-1].annotator == "rev"
    store.close()


def test_every_audited_kind_leaves_a_row(lab, tiny_model, tmp_path):
    db, ids = lab
    store = Store(db)
    (lab_id, sid), ada, rev = ids["lab"], users.actor(store, "ada"), users.actor(store, "rev")
    store.set_labels(lab_id, ["PER", "LOC"], actor=ada)
    store.set_overlap(lab_id, 0.5, 2, actor=ada)
    store.import_sentences(lab_id, [sent("Ed hid")], split="unlabeled", actor=ada)
    store.save_human(sid, ["B-PER", "O", "O"], annotator="ann", actor=ada)
    review.adjudicate(store, sid, ["B-PER", "O", "B-PER"], reviewer="rev", actor=rev)
    store.flag([sid], actor=rev)
    job_id = jobs.create(store, lab_id, {"model": tiny_model}, actor=ada)
    jobs.cancel(store, job_id, actor=ada)
    for folder in ("v1", "v2"):
        store.promote(store.add_model(lab_id, folder=str(tmp_path / folder), base_model=tiny_model), actor=ada)
    store.rollback(lab_id, actor=ada)
    export.export_annotations(store, lab_id, fmt="conll", actor=ada)
    users.passwd(store, "out", "another password", actor=ada)
    seen = {r["action"] for r in store.audit()}
    missing = set(AUDIT_KINDS) - seen - {"login"}  # logins: pages/login.py, tested in test_app_login.py
    assert not missing, missing
    assert {r["action"] for r in store.audit(lab_id, actor="rev")} == {"review", "flag"}
    store.close()
    code, out, _ = run("--db", str(db), "audit", "lab", "--kind", "flag", "--json")
    assert code == 0 and [r["action"] for r in json.loads(out)] == ["flag"]


# (argv after --db and --as, the action it needs); PROJECT is replaced by the project's name
COMMANDS = [
    (["flag", "PROJECT"], "flag"),
    (["flag", "PROJECT", "SID"], "flag"),
    (["suggest", "PROJECT"], "annotate"),
    (["predict", "--project", "PROJECT"], "annotate"),
    (["patterns", "list", "PROJECT"], "annotate"),
    (["team", "PROJECT"], "review"),
    (["review", "PROJECT"], "review"),
    (["agreement", "PROJECT"], "review"),
    (["models", "PROJECT"], "review"),
    (["evaluate", "--project", "PROJECT"], "review"),
    (["team", "PROJECT", "--add-member", "out"], "project"),
    (["import", "PROJECT", "FILE", "--split", "train"], "import"),
    (["reveal", "PROJECT"], "import"),
    (["jobs", "list", "PROJECT"], "train"),
    (["jobs", "status", "JOB"], "train"),
    (["export", "PROJECT", "--out", "OUT"], "export"),
    (["audit", "PROJECT"], "audit"),
]


@pytest.mark.parametrize("who", ["ann", "rev", "out", "ada"])
def test_every_project_command_checks_role_and_membership(lab, tmp_path, who):
    db, ids = lab
    (tmp_path / "in.conll").write_text("Fay\tB-PER\nran\tO\n")
    store = Store(db)
    role = users.actor(store, who).role
    member = {name for name, (pid, _) in ids.items() if pid in {p.id for p in store.projects(users.actor(store, who))}}
    jobs_of = {name: store.create_job(pid, "train", {}) for name, (pid, _) in ids.items()}
    store.close()
    for name, (_, sid) in ids.items():
        for argv, action in COMMANDS:
            args = [{"PROJECT": name, "SID": str(sid), "FILE": str(tmp_path / "in.conll"), "JOB": str(jobs_of[name]),
                     "OUT": str(tmp_path / f"{name}.conll")}.get(a, a) for a in argv]
            code, _, err = run("--db", str(db), "--as", who, *args)
            allowed = action in PERMISSIONS[role] and (role == "admin" or name in member)
            if allowed:
                assert code != 3, (who, args, err)
            else:
                assert code == 3 and ("refused" in err or "not a member" in err), (who, args, code, err)
                assert "Traceback" not in err
    code, out, _ = run("--db", str(db), "--as", who, "projects")
    listed = {line.split()[1] for line in out.splitlines()[1:]} if out.startswith("id") else set()
    assert code == 0 and listed == (set(ids) if role == "admin" else member) and (listed or "no projects" in out)


def test_migration_keeps_todays_access(tmp_path, monkeypatch):
    """A database from before membership: every account other than an admin opens every project, as it did."""
    path = tmp_path / "old.sqlite"
    monkeypatch.setattr("core.store.base.MIGRATIONS", MIGRATIONS[:11])
    old = Store(path)
    for name, role in (("ada", "admin"), ("ann", "annotator"), ("rev", "reviewer")):
        old.add_user(name, role, "not a real hash")
    old.create_project("a", ["PER"])
    old.create_project("b", ["PER"])
    old.close()
    monkeypatch.undo()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert [p.name for p in store.projects(access.Actor("ann", "annotator"))] == ["a", "b"]
    assert [m["role"] for m in store.members(store.project("a").id)] == ["annotator", "reviewer"]
    store.close()


def test_the_docs_table_of_roles_actions_and_scope_is_the_code():
    text = (ROOT / "docs" / "teams.md").read_text()
    rows = [line.split("|")[1:-1] for line in text.splitlines() if re.match(r"\| [a-z]+ \| ", line)]
    table = {cells[0].strip(): [c.strip() for c in cells[2:]] for cells in rows if cells[0].strip() in ADMIN_ACTIONS}
    assert set(table) == set(ADMIN_ACTIONS)
    for action, (admin, reviewer, annotator, scope) in table.items():
        for role, mark in (("admin", admin), ("reviewer", reviewer), ("annotator", annotator)):
            assert (mark == "✓") == (action in PERMISSIONS[role]), (action, role)
        assert scope == ("server" if action in SERVER_ACTIONS else "member"), action


SECRET = "Zanzibar"  # a word of the project nobody but the admin opens


def _rendered(node) -> str:
    """Everything an AppTest tree holds, as text (the protobufs of every element)."""
    proto = getattr(node, "proto", None)
    return (str(proto) if proto is not None else "") + "".join(
        _rendered(child) for child in getattr(node, "children", {}).values())


@pytest.mark.parametrize("who, pages", [
    ("ann", ["pages/annotate.py"]),
    ("rev", ["pages/annotate.py", "pages/evaluate.py", "pages/agreement.py", "pages/review.py"]),
])
def test_every_page_opens_only_the_members_project(lab, monkeypatch, who, pages):
    from streamlit.testing.v1 import AppTest

    from tests.apptest import APP

    db, ids = lab
    store = Store(db)
    other_id = ids["other"][0]
    store.import_sentences(other_id, [sent(f"{SECRET} signed")], split="unlabeled", actor=users.actor(store, "ada"))
    role = users.actor(store, who).role
    store.close()
    logged_in = {"auth_user": {"name": who, "role": role}, "auth_seen": __import__("time").time()}
    monkeypatch.setenv("NERLOOP_DB", str(db))
    for page in [None, *pages]:  # Home, then every page the role sees, each opened by a link with ?project= of `other`
        at = AppTest.from_file(APP, default_timeout=120)
        for key, value in logged_in.items():
            at.session_state[key] = value
        at.query_params["project"] = str(other_id)
        if page:
            at.switch_page(page)
        at.run()
        assert not at.exception, at.exception
        assert page is None or Path(page).stem.capitalize() in [t.value for t in at.title], page  # that page ran
        shown = _rendered(at._tree)
        assert SECRET not in shown and "other" not in at.sidebar.selectbox[0].options, page
        assert any("not open to you: you are not a member" in e.value for e in at.error), page
        assert at.session_state["project_id"] == ids["lab"][0]  # the project it may open instead


def test_the_cli_records_work_under_the_acting_account(lab):
    """`--reviewer` and `--annotator` name the --as account only, unless an admin acts on purpose (both recorded)."""
    db, ids = lab
    sid = str(ids["lab"][1])
    code, _, err = run("--db", str(db), "--as", "rev", "review", "lab", sid, "--tags", "B-PER O O", "--reviewer", "ada")
    assert code == 3 and "cannot record it under the name 'ada'" in err
    code, _, err = run("--db", str(db), "--as", "ann", "flag", "lab", sid, "--annotator", "rev")
    assert code == 3 and "cannot record it under the name 'rev'" in err
    store = Store(db)
    assert store.history(int(sid)) == [] and store.flag_history(int(sid)) == []
    store.close()
    assert run("--db", str(db), "--as", "ann", "flag", "lab", sid)[0] == 0  # no name: the account's own
    assert run("--db", str(db), "--as", "rev", "review", "lab", sid, "--tags", "B-PER O O")[0] == 0
    assert run("--db", str(db), "--as", "ada", "review", "lab", sid, "--tags", "O O O", "--reviewer", "rev")[0] == 0
    store = Store(db)
    assert store.flag_history(int(sid))[-1]["annotator"] == "ann"
    assert [(h.source, h.annotator) for h in store.history(int(sid))] == [("review", "rev"), ("review", "rev")]
    assert [(r["actor"], r["detail"]["annotator"]) for r in store.audit(ids["lab"][0], action="review")] == [
        ("rev", "rev"), ("ada", "rev")]
    store.close()
