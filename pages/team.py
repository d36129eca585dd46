"""Home's team section: progress per annotator, and for admins the project's members, the overlap setting and
assigning the unlabelled pool to the annotators' stored queues (core.team)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import team
from core.vocab import MEMBER_ROLES, clip
from pages import ui

NAMES = "team_names"
MEMBER_FLASH = "team_member_flash"


def _assign(project_id: int) -> None:
    """Button callback: store the overlap setting, then extend the queues over the unassigned pool."""
    store = ui.store()
    names = [n.strip() for n in st.session_state.get(NAMES, "").split(",") if n.strip()]
    try:
        store.set_overlap(project_id, st.session_state["team_overlap"] / 100, int(st.session_state["team_copies"]),
                          actor=ui.actor())
        order = team.pool_order(store, project_id, "entropy" if st.session_state.get("team_active") else None)
        added = team.extend(store, project_id, order, names or None, actor=ui.actor())
    except (ValueError, KeyError, PermissionError) as e:
        st.session_state["team_flash"] = clip(f"Not assigned: {e}")
        return
    st.session_state["team_flash"] = ("Assigned: " + ", ".join(f"{a} +{n}" for a, n in added.items())
                                      if any(added.values()) else "Nothing new to assign.")


def _member(project_id: int, *, remove: bool) -> None:
    """Button callback: add the chosen account to the project with the chosen role (or change it), or remove it."""
    name = st.session_state.get("team_member_name")
    if not name:
        st.session_state[MEMBER_FLASH] = "Choose an account first."
        return
    try:
        if remove:
            done = ui.store().remove_member(project_id, name, actor=ui.actor())
            message = f"{name} no longer opens this project." if done else f"{name} was no member."
        else:
            role = st.session_state["team_member_role"]
            done = ui.store().set_member(project_id, name, role, actor=ui.actor())
            message = f"{name} is a member, as {role}." if done else f"{name} was a member already, as {role}."
    except (ValueError, KeyError, PermissionError) as e:
        message = clip(f"Not changed: {e}")
    st.session_state[MEMBER_FLASH] = message


def render_members(*, project_id: int) -> None:
    """Who opens the project besides the admins, with their role in it, and the controls that change that."""
    store = ui.store()
    members = store.members(project_id)
    with st.expander(f"Members ({len(members)})", expanded=False):
        if members:
            st.dataframe(pd.DataFrame(members).rename(columns={"account_role": "account role", "role": "role here"}),
                         hide_index=True)
        else:
            st.caption("No member yet: only admins open this project.")
        cols = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
        cols[0].selectbox("Account", [u["name"] for u in store.users() if u["role"] != "admin"], index=None,
                          key="team_member_name", placeholder="an account (admins open every project)")
        cols[1].selectbox("Role here", MEMBER_ROLES, key="team_member_role",
                          help="A project role narrows the account's role, never widens it")
        cols[2].button("Add or change", key="team_member_add", on_click=_member, args=(project_id,),
                       kwargs={"remove": False})
        cols[3].button("Remove", key="team_member_remove", on_click=_member, args=(project_id,),
                       kwargs={"remove": True})
        if (msg := st.session_state.pop(MEMBER_FLASH, None)) is not None:
            st.info(ui.md_escape(msg))


def render_team(*, project_id: int) -> None:
    """Progress per annotator (done / assigned), and the form that sets the overlap and extends the queues."""
    store = ui.store()
    progress = team.progress(store, project_id)
    st.subheader("Team")
    if progress:
        frame = pd.DataFrame(progress)
        frame["progress"] = frame["done"] / frame["assigned"].clip(lower=1)
        st.dataframe(frame, hide_index=True, column_config={
            "progress": st.column_config.ProgressColumn("done / assigned", min_value=0, max_value=1, format="percent"),
            "overlapped": st.column_config.NumberColumn(help="assigned sentences shared with another annotator")})
    else:
        st.caption("No shared work yet: assign the unlabelled pool to the annotators below.")
    if not ui.actor().may("project"):
        return
    if store.users():
        render_members(project_id=project_id)
    conf = team.settings(store, project_id)
    with st.expander("Share the work", expanded=not progress):
        cols = st.columns([2, 1, 3], vertical_alignment="bottom")
        cols[0].slider("Overlap (%)", 0, 100, round(conf["overlap"] * 100), key="team_overlap",
                       help="The share of sentences labelled by several annotators (for agreement and review)")
        cols[1].number_input("Copies", 2, 10, conf["copies"], key="team_copies",
                             help="How many annotators label an overlapped sentence")
        cols[2].text_input("Annotators", value=", ".join(team.annotators(store, project_id)), key=NAMES,
                           help="Comma-separated names; by default the project's members who annotate. An account given "
                             "work becomes a member")
        st.toggle("Active-learning order", key="team_active",
                  help="Queue the pool by the serving version's uncertainty (entropy) instead of in order")
        st.button("Assign the unassigned pool", key="team_assign", on_click=_assign, args=(project_id,),
                  help="Queues are stored: what is assigned stays assigned; new sentences are added at the end")
        if (msg := st.session_state.pop("team_flash", None)) is not None:
            st.info(ui.md_escape(msg))
