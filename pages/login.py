"""Logging in: the form (local accounts, or an identity provider through st.login), failed-login slow-down per client,
logins in the audit trail, expiry after inactivity, the account line with Log out, and the refusal to serve beyond this
machine without an admin."""
from __future__ import annotations

import json
import logging
import math
import os
import sys
import time

import streamlit as st

from core import access, serve, users
from core.access import OWNER, PERMISSIONS, Actor, LoginThrottle
from core.store import Store
from core.vocab import ROLES
from pages import ui

SEEN = "auth_seen"  # time of the session's last run (session state)
EXPIRED = "auth_expired"
TOKEN = "auth_token"  # the login session's token (session state), also kept by the browser in the cookie COOKIE
COOKIE = "nerloop_session"
DEFAULT_MINUTES = 30.0
TRUST_PROXY = "NERLOOP_TRUST_PROXY"  # "1": served through a reverse proxy on this machine that sets X-Forwarded-For
LOG = logging.getLogger("nerloop.auth")


def session_minutes() -> float:
    """Minutes without activity after which a session must log in again: $NERLOOP_SESSION_MINUTES, default 30."""
    try:
        minutes = float(os.environ.get("NERLOOP_SESSION_MINUTES", DEFAULT_MINUTES))
    except ValueError:
        return DEFAULT_MINUTES
    return minutes if minutes > 0 else DEFAULT_MINUTES


@st.cache_resource
def throttle() -> LoginThrottle:
    """Failed logins per client and name, shared by the sessions of this server process (in memory, not in the
    database)."""
    return LoginThrottle()


@st.cache_resource
def _announce(message: str) -> None:
    """Say once per server process, on its output and in the log, why it serves nothing."""
    print(f"nerloop: {message}", file=sys.stderr, flush=True)
    LOG.error(message)


def address_refusal(store: Store) -> str | None:
    """Why this server must not serve (an address beyond this machine and no admin account), or None; for a server
    started as `streamlit run app.py`, which `nerloop serve`'s check before start did not guard."""
    message = serve.refusal(st.get_option("server.address"), store)
    if message:
        _announce(message)
    return message


def render_refusal() -> None:
    st.title("nerloop")
    st.error(ui.md_escape(address_refusal(ui.store()) or "Reload the page."))


def role_refusal(page: st.Page, action: str, *, actor: Actor) -> st.Page:
    """A page the actor's role may not open, kept at its address but not in the menu: a link to it says why."""
    def render() -> None:
        st.title(page.title)
        allowed = " and ".join(f"{role}s" for role in ROLES if action in PERMISSIONS[role])
        st.error(f"{actor.role.capitalize()}s cannot open {page.title}: only {allowed} may {action}. Ask an admin "
                 "if you need it.")
    return st.Page(render, title=page.title, icon=page.icon, url_path=page.url_path, visibility="hidden")


def client_address() -> str | None:
    """This session's client address, or None when unknown (a browser on this machine, or a proxy not trusted)."""
    address, forwarded = st.context.ip_address, st.context.headers.get("X-Forwarded-For")
    text = [v if isinstance(v, str) else None for v in (address, forwarded)]  # not text under AppTest (mock objects)
    return access.client(*text, trust_proxy=os.environ.get(TRUST_PROXY) == "1")


def _log_out() -> None:
    """Log out (the sidebar's button), recorded in the audit trail."""
    if user := st.session_state.get(ui.USER):
        users.audit_login(ui.store(), user["name"], "logout", address=client_address())
        LOG.info("%s logged out", user["name"])
    logout()


def logout(*, expired: bool = False) -> None:
    """End this session's login (and the identity provider's, where it was used): the cookie no longer logs in."""
    st.session_state.pop(ui.USER, None)
    st.session_state.pop(SEEN, None)
    if token := st.session_state.pop(TOKEN, None):
        users.close_session(ui.store(), token)
    if expired:
        st.session_state[EXPIRED] = True
    if _sso_configured() and st.user.is_logged_in:
        st.logout()


def _cookie() -> str | None:
    """The login cookie the browser sent when this session connected, or None."""
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # no browser connection (a script run under AppTest)
        return None


def _resume(store: Store) -> None:
    """A reload is a new Streamlit session: log it in from the browser's cookie while that login session lives."""
    token = _cookie()
    if token and (account := users.resume(store, token, idle_minutes=session_minutes())):
        _log_in(store, account["name"], account["role"], token=token)


def current(store: Store) -> Actor | None:
    """The session's acting user: the local owner while no account exists, the logged-in account (its role read
    anew, so a change or removal counts at once), or None when the login form must show (also after inactivity, or
    when its login session ended: logged out elsewhere, a new password, past its end)."""
    if not store.users():
        st.session_state.pop(ui.USER, None)
        return OWNER
    if ui.USER not in st.session_state:
        _resume(store)
    user = st.session_state.get(ui.USER)
    if user is None:
        return None
    now = time.time()
    account = store.user(user["name"])
    idle = now - st.session_state.get(SEEN, now) > session_minutes() * 60
    token = st.session_state.get(TOKEN)
    if account is None or idle or (token and not users.resume(store, token, idle_minutes=session_minutes())):
        logout(expired=account is not None)
        return None
    st.session_state[ui.USER] = {"name": account["name"], "role": account["role"]}
    st.session_state[SEEN] = now
    return Actor(account["name"], account["role"])


def _sso_configured() -> bool:
    """True when .streamlit/secrets.toml has an [auth] section (OpenID Connect through st.login)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file, or one that does not parse: Streamlit's own errors, no SSO either way
        return False


def _log_in(store: Store, name: str, role: str, *, token: str | None = None) -> None:
    """Log this session in, audited; a new login opens a login session (`token`: one resumed from the cookie)."""
    st.session_state[ui.USER] = {"name": name, "role": role}
    st.session_state[SEEN] = time.time()
    st.session_state[TOKEN] = token or users.open_session(store, name)
    users.audit_login(store, name, "resumed" if token else "ok", address=client_address())
    LOG.info("%s %s (%s) from %s", name, "resumed a login" if token else "logged in", role,
             client_address() or "an unknown address")


def _set_cookie(token: str | None) -> None:
    """Give the browser the login cookie (None: delete it): this path, same site only, HTTPS only where the page
    is; it ends with the login session (users.SESSION_HOURS)."""
    value, age = (token, round(users.SESSION_HOURS * 3600)) if token else ("", 0)
    cookie = json.dumps(f"{COOKIE}={value}; Max-Age={age}; Path=/; SameSite=Strict")  # the token is URL-safe base64
    st.html(f"<script>document.cookie = {cookie} + (location.protocol === 'https:' ? '; Secure' : '');</script>",
            unsafe_allow_javascript=True)


def _attempt(store: Store, name: str, password: str) -> None:
    """Check a name and password from this client, unless its own failures make it wait (then no check at all);
    each refusal is logged and audited, naming the account only when there is one (never a password typed as a
    name)."""
    address = client_address()
    who = repr(name) if store.user(name) else "an unknown name"
    where = address or "an unknown address"
    if (wait := math.ceil(throttle().wait(address, name))) > 0:
        LOG.warning("login refused for %s from %s: too many failed logins, %d s to wait", who, where, wait)
        users.audit_login(store, name, "throttled", address=client_address())
        st.error(f"Too many failed logins from here: try again in {wait} s.")
        return
    account = users.authenticate(store, name, password)
    if account is None:
        throttle().failed(address, name)
        LOG.warning("failed login for %s from %s", who, where)
        users.audit_login(store, name, "wrong password", address=client_address())
        st.error("Wrong name or password.")
        return
    throttle().succeeded(address, name)
    _log_in(store, account["name"], account["role"])
    st.rerun()


def _sso(store: Store) -> None:
    """After the identity provider's login: the account named by its e-mail address, or a refusal."""
    email = st.user.get("email")
    account = store.user(email) if isinstance(email, str) else None
    if account is None:
        st.error(f"No nerloop account for {ui.md_escape(str(email))}: ask an admin to add it "
                 "(`nerloop users add EMAIL --role ...`).")
        st.button("Log out of the identity provider", key="login_sso_out", on_click=st.logout)
        return
    _log_in(store, account["name"], account["role"])
    st.rerun()


def render_login() -> None:
    """The only page a visitor sees before logging in (at every page's address: app.py): no project, no sidebar
    pages."""
    store = ui.store()
    st.title("nerloop")
    if _cookie():  # a login that ended (logged out, expired): the browser forgets it
        _set_cookie(None)
    if st.session_state.pop(EXPIRED, False):
        st.info(f"Your session ended after {session_minutes():g} minutes without activity: log in again.")
    sso = _sso_configured()
    if sso and st.user.is_logged_in:
        _sso(store)
        return
    with st.form("login_form", clear_on_submit=True):
        name = st.text_input("Name", key="login_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="login_password", autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary", key="login_submit")
    if submitted:
        _attempt(store, name.strip(), password)
    if sso:
        st.button("Log in with your organisation's account", key="login_sso", on_click=st.login)


def render_account(*, actor: Actor) -> None:
    """Sidebar: who is logged in, and Log out (nothing in a single-user app)."""
    if actor == OWNER and ui.USER not in st.session_state:
        return
    st.sidebar.caption(f"Logged in as **{ui.md_escape(actor.name)}** ({actor.role})")
    st.sidebar.button("Log out", key="login_logout", icon=":material/logout:", on_click=_log_out)
    if (token := st.session_state.get(TOKEN)) and _cookie() != token:
        with st.sidebar:
            _set_cookie(token)


if __name__ == "__main__":  # run alone by Streamlit's older pages/ routing (a first request for /login)
    ui.ensure_navigation()
