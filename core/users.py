"""Local accounts: names, roles (admin, reviewer, annotator) and argon2id password hashes; no password is stored."""
from __future__ import annotations

import hashlib
import re
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.access import NOBODY, OWNER, Actor, require
from core.store import ROLES, Store

MIN_PASSWORD = 8
SESSION_HOURS = 12.0  # a login lasts at most this long (the browser's cookie too), however active
_TOUCH_S = 60.0  # a session's last use is written at most this often
_NAME = re.compile(r"[\w.@+-]{1,64}")
_HASHER = PasswordHasher()  # argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)
_DUMMY = _HASHER.hash("no such user")  # checked against for an unknown name, so it takes as long as a known one


def _name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"invalid user name {name!r}: 1 to 64 letters, digits or . _ @ + -")
    return name


def _hash(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def _keeps_an_admin(store: Store, name: str) -> None:
    if [u["name"] for u in store.users() if u["role"] == "admin"] == [name]:
        raise ValueError(f"{name!r} is the last admin: add another admin first")


def add(store: Store, name: str, role: str, password: str, *, actor: Actor = OWNER) -> int:
    """Create an account (admins only; audited without the password); returns its id."""
    require(actor, "users")
    if role not in ROLES:
        raise ValueError(f"invalid role {role!r}: expected one of {', '.join(ROLES)}")
    if role != "admin" and not has_admin(store):
        raise ValueError(f"add an admin account before {name!r}: once an account exists, everybody logs in, and "
                         "only an admin can manage projects and accounts")
    user_id = store.add_user(_name(name), role, _hash(password))
    store.add_audit(actor, "users", op="add", name=name, role=role)
    return user_id


def listing(store: Store) -> list[dict]:
    """The accounts that are not removed: name, role, created, updated (no hash)."""
    return [{k: u[k] for k in ("name", "role", "created", "updated")} for u in store.users()]


def passwd(store: Store, name: str, password: str, *, actor: Actor = OWNER) -> None:
    """Set an account's password (admins only; audited without the password)."""
    require(actor, "users")
    store.update_user(name, password_hash=_hash(password))
    store.add_audit(actor, "users", op="passwd", name=name)


def set_role(store: Store, name: str, role: str, *, actor: Actor = OWNER) -> None:
    """Change an account's role (admins only; audited); the last admin stays one."""
    require(actor, "users")
    if role != "admin":
        _keeps_an_admin(store, name)
    store.update_user(name, role=role)
    store.add_audit(actor, "users", op="role", name=name, role=role)


def remove(store: Store, name: str, *, actor: Actor = OWNER) -> None:
    """Remove an account: it can no longer log in; its annotations stay, attributed to its name (admins only;
    audited)."""
    require(actor, "users")
    _keeps_an_admin(store, name)
    store.update_user(name, removed=True)
    store.add_audit(actor, "users", op="remove", name=name)


def has_admin(store: Store) -> bool:
    """True when an admin account exists (serving beyond this machine needs one)."""
    return any(u["role"] == "admin" for u in store.users())


def actor(store: Store, name: str) -> Actor:
    """The acting user of an existing account (KeyError naming it when there is none or it was removed)."""
    user = store.user(name)
    if user is None:
        raise KeyError(f"no user {name!r}")
    return Actor(user["name"], user["role"])


def audit_login(store: Store, name: str, op: str, *, address: str | None = None) -> None:
    """A "login" row of the audit trail (op: ok, resumed, logout, wrong password, throttled): the account's when
    `name` is one, else NOBODY's without the name typed (it may be a password typed as a name)."""
    account = store.user(name) if isinstance(name, str) else None
    who = Actor(account["name"], account["role"]) if account else NOBODY
    store.add_audit(who, "login", op=op, name=who.name if account else "an unknown name", address=address)


def authenticate(store: Store, name: str, password: str) -> dict | None:
    """The account (name, role) when the password is right, else None; an outdated hash is renewed on success."""
    user = store.user(name) if isinstance(name, str) else None
    try:
        _HASHER.verify(user["password_hash"] if user else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    if not user:
        return None
    if _HASHER.check_needs_rehash(user["password_hash"]):
        store.update_user(name, password_hash=_HASHER.hash(password))
    return {"name": user["name"], "role": user["role"]}


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(store: Store, name: str, *, hours: float = SESSION_HOURS) -> str:
    """Start a login session of the account `name`: the random token a browser keeps in its cookie (the database
    keeps only its hash); it ends after `hours` at most."""
    token = secrets.token_urlsafe(32)
    started = time.time()
    store.add_session(name, _token_hash(token), seen=started, expires=started + hours * 3600)
    return token


def resume(store: Store, token: str, *, idle_minutes: float) -> dict | None:
    """The account (name, role) of a live session named by `token`, its last use moved to now; None (and the session
    ended) when it is unknown, past its end, unused for more than `idle_minutes`, or its account was removed."""
    if not isinstance(token, str) or not token:
        return None
    key = _token_hash(token)
    session = store.session(key)
    if session is None:
        return None
    now = time.time()
    if now > session["expires"] or now - session["seen"] > idle_minutes * 60:
        store.end_session(key)
        return None
    if now - session["seen"] > _TOUCH_S:
        store.touch_session(key, now)
    return {"name": session["name"], "role": session["role"]}


def close_session(store: Store, token: str) -> None:
    """End a login session (log out): its cookie no longer logs anyone in."""
    store.end_session(_token_hash(token))
