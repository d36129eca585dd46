"""Home's team section: the overlap setting, assigning the unlabelled pool to the annotators' stored queues, and
progress per annotator (core.team)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core import team
from pages import ui

NAMES = "team_names"


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
        st.session_state["team_flash"] = f"Not assigned: {e}"
        return
    st.session_state["team_flash"] = ("Assigned: " + ", ".join(f"{a} +{n}" for a, n in added.items())
                                      if any(added.values()) else "Nothing new to assign.")


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
    conf = team.settings(store, project_id)
    with st.expander("Share the work", expanded=not progress):
        cols = st.columns([2, 1, 3], vertical_alignment="bottom")
        cols[0].slider("Overlap (%)", 0, 100, round(conf["overlap"] * 100), key="team_overlap",
                       help="The share of sentences labelled by several annotators (for agreement and review)")
        cols[1].number_input("Copies", 2, 10, conf["copies"], key="team_copies",
                             help="How many annotators label an overlapped sentence")
        cols[2].text_input("Annotators", value=", ".join(team.annotators(store, project_id)), key=NAMES,
                           help="Comma-separated names; by default the accounts with role annotator")
        st.toggle("Active-learning order", key="team_active",
                  help="Queue the pool by the serving version's uncertainty (entropy) instead of in order")
        st.button("Assign the unassigned pool", key="team_assign", on_click=_assign, args=(project_id,),
                  help="Queues are stored: what is assigned stays assigned; new sentences are added at the end")
        if (msg := st.session_state.pop("team_flash", None)) is not None:
            st.info(ui.md_escape(msg))
