"""Users (admins): the accounts, and forms to add one, change a role or a password, or remove one."""
from __future__ import annotations

import streamlit as st

from core import users
from core.store import Store
from core.vocab import ROLES, clip
from pages import ui

ui.ensure_navigation()  # a first request for this page on a fresh server: run app.py first


def _done(action, *args, message: str) -> None:
    """Run a core.users action as this session's user; a refusal or bad input shows as an error."""
    try:
        action(ui.store(), *args, actor=ui.actor())
    except (ValueError, KeyError, PermissionError) as e:
        st.session_state["users_flash"] = ("error", clip(str(e).strip("'\"")))
        return
    st.session_state["users_flash"] = ("success", message)


def render_accounts(*, store: Store) -> None:
    rows = users.listing(store)
    if rows:
        st.dataframe(rows, hide_index=True, key="users_table")
    else:
        st.info("No accounts: the app is single-user and serves this machine only. The first account must be an "
                "admin; from then on everybody logs in.")


def render_add() -> None:
    """Name, role and the password twice; the form forgets the password once submitted."""
    with st.form("users_add_form", clear_on_submit=True):
        st.subheader("Add an account")
        name = st.text_input("Name", key="users_add_name")
        role = st.selectbox("Role", ROLES, index=len(ROLES) - 1, key="users_add_role")
        password = st.text_input("Password", type="password", key="users_add_password", autocomplete="new-password")
        again = st.text_input("Password again", type="password", key="users_add_again", autocomplete="new-password")
        submitted = st.form_submit_button("Add", type="primary", key="users_add")
    if submitted:
        if password != again:
            st.session_state["users_flash"] = ("error", "The two passwords differ.")
        else:
            _done(users.add, name.strip(), role, password, message=f"Added {role} {name.strip()}.")
        st.rerun()


def render_change(*, store: Store) -> None:
    """Pick an account: change its role, set a password, or remove it."""
    names = [u["name"] for u in users.listing(store)]
    if not names:
        return
    with st.form("users_change_form", clear_on_submit=True):
        st.subheader("Change an account")
        name = st.selectbox("Account", names, key="users_change_name")
        role = st.selectbox("New role", ROLES, key="users_change_role")
        password = st.text_input("New password", type="password", key="users_change_password",
                                 autocomplete="new-password")
        cols = st.columns(3)
        set_role = cols[0].form_submit_button("Change role", key="users_set_role")
        set_password = cols[1].form_submit_button("Set password", key="users_set_password")
        drop = cols[2].form_submit_button("Remove", key="users_remove")
    if set_role:
        _done(users.set_role, name, role, message=f"{name} is now {role}.")
    elif set_password:
        _done(users.passwd, name, password, message=f"Changed the password of {name}.")
    elif drop:
        _done(users.remove, name, message=f"Removed {name}; their annotations stay, attributed to them.")
    if set_role or set_password or drop:
        st.rerun()


st.title("Users")
if (flash := st.session_state.pop("users_flash", None)) is not None:
    getattr(st, flash[0])(ui.md_escape(flash[1]))
_store = ui.store()
render_accounts(store=_store)
left, right = st.columns(2, gap="large")
with left:
    render_add()
with right:
    render_change(store=_store)
