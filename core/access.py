"""Who may do what: the acting user (`Actor`), role permissions checked in core (`require`), failed-login slow-down
and the rules of serving beyond this machine."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.vocab import ROLES

# What each role may do; an admin may do everything. Actions are also the audit table's words.
ANNOTATOR_ACTIONS = frozenset({"annotate", "flag"})
REVIEWER_ACTIONS = ANNOTATOR_ACTIONS | {"review"}
ADMIN_ACTIONS = REVIEWER_ACTIONS | {"project", "import", "train", "cancel", "promote", "rollback", "export", "users",
                                    "audit"}
PERMISSIONS = {"annotator": ANNOTATOR_ACTIONS, "reviewer": REVIEWER_ACTIONS, "admin": ADMIN_ACTIONS}
LOCAL_ADDRESSES = ("127.0.0.1", "localhost", "::1")
SERVER_ACTIONS = frozenset({"users", "audit"})  # not about one project: the others are checked per project too
# The kinds of audit rows: the actions above that change something, and "team" (members, queues) and "login".
AUDIT_KINDS = ("project", "team", "import", "annotate", "review", "flag", "train", "cancel", "promote", "rollback",
               "export", "users", "login")


@dataclass(frozen=True)
class Actor:
    """The user a core call acts for: an account's name and role (or the local owner, when nobody logs in)."""

    name: str
    role: str

    def may(self, action: str) -> bool:
        return action in PERMISSIONS.get(self.role, ())


OWNER = Actor("owner", "admin")  # the single user of an app without accounts, and the CLI without --as
NOBODY = Actor("(unknown)", "none")  # a refused login for a name that is no account's: no account can be so named


def require(actor: Actor, action: str) -> None:
    """Raise PermissionError naming user, role and action unless the actor's role allows the action."""
    if action not in ADMIN_ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not isinstance(actor, Actor) or actor.role not in ROLES:
        raise PermissionError(f"{action} refused: {actor!r} is not a known user")
    if not actor.may(action):
        raise PermissionError(f"{action} refused: user {actor.name!r} is {actor.role}, and only "
                              f"{' or '.join(r for r in ROLES if action in PERMISSIONS[r])} may {action}")


def narrower(role: str, other: str) -> str:
    """The role with fewer rights of two (a project role narrows an account's role, never widens it)."""
    return max(role, other, key=ROLES.index)


def local_address(address: str | None) -> bool:
    """True when a server.address listens on this machine only (unset or empty means every interface)."""
    return bool(address) and address.strip("[]") in LOCAL_ADDRESSES


def client(address: str | None, forwarded: str | None, *, trust_proxy: bool) -> str | None:
    """The client's address: the connection's (None: unknown, e.g. this machine); with `trust_proxy`, a connection from
    this machine (a reverse proxy) counts as the last address of its X-Forwarded-For header, the one the proxy wrote."""
    if address is None and trust_proxy and forwarded:
        return forwarded.rsplit(",", 1)[-1].strip() or None
    return address


class LoginThrottle:
    """Failed logins in this process's memory, per client address (None: one unknown client) and per (address, name),
    so that a client's failures slow that client down and never another; a restart forgets them."""

    # After n failures in a row for a name, the client's next try for it waits base * 2**(n-1) s; after m > budget
    # failures for any names, its next try for any name waits base * 2**(m-budget-1) s; both at most `cap`. A success
    # clears the client's failures for that name (from its total too); a count with no failure for `forget` s (more
    # than `cap`) starts again.
    def __init__(self, base: float = 1.0, cap: float = 300.0, budget: int = 5, forget: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base, self.cap, self.budget, self.forget, self.clock = base, cap, budget, forget, clock
        self._clients: dict[str | None, tuple[int, float]] = {}  # address -> (failures, time of the last one)
        self._pairs: dict[tuple[str | None, str], tuple[int, float]] = {}  # (address, name) -> (failures in a row, last)
        self._swept = clock()
        self._lock = threading.Lock()

    def _count(self, table: dict, key: object, now: float) -> tuple[int, float]:
        failures, last = table.get(key, (0, 0.0))
        return (failures, last) if failures and now - last <= self.forget else (0, 0.0)

    def _left(self, failures: int, last: float, now: float) -> float:
        if failures <= 0:
            return 0.0
        return max(0.0, last + min(self.cap, self.base * 2 ** min(failures - 1, 64)) - now)

    def wait(self, address: str | None, name: str) -> float:
        """Seconds before this client may try `name` again (0: now): the longer of its wait for the name and its own."""
        with self._lock:
            now = self.clock()
            pair = self._count(self._pairs, (address, name), now)
            failures, last = self._count(self._clients, address, now)
        return max(self._left(*pair, now), self._left(failures - self.budget, last, now))

    def failed(self, address: str | None, name: str) -> None:
        with self._lock:
            now = self.clock()
            if now - self._swept > self.forget:  # drop what is forgotten anyway, so that memory stays bounded
                for table in (self._clients, self._pairs):
                    for key in [k for k, (_, last) in table.items() if now - last > self.forget]:
                        del table[key]
                self._swept = now
            for table, key in ((self._clients, address), (self._pairs, (address, name))):
                table[key] = (self._count(table, key, now)[0] + 1, now)

    def succeeded(self, address: str | None, name: str) -> None:
        with self._lock:
            now = self.clock()
            failures, _ = self._count(self._pairs, (address, name), now)
            self._pairs.pop((address, name), None)
            total, last = self._count(self._clients, address, now)
            if total - failures > 0:
                self._clients[address] = (total - failures, last)
            else:
                self._clients.pop(address, None)
