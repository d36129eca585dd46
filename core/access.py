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


class LoginThrottle:
    """Failed logins per name, in this process's memory: after n failures in a row the next attempt for that name
    waits base * 2**(n-1) seconds (capped); a success clears the name. Restarting the server forgets them."""

    def __init__(self, base: float = 1.0, cap: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.base, self.cap, self.clock = base, cap, clock
        self._failures: dict[str, tuple[int, float]] = {}  # name -> (failures in a row, time of the last one)
        self._lock = threading.Lock()

    def wait(self, name: str) -> float:
        """Seconds left before `name` may try again (0: now)."""
        with self._lock:
            failures, last = self._failures.get(name, (0, 0.0))
        if not failures:
            return 0.0
        return max(0.0, last + min(self.cap, self.base * 2 ** (failures - 1)) - self.clock())

    def failed(self, name: str) -> None:
        with self._lock:
            failures, _ = self._failures.get(name, (0, 0.0))
            self._failures[name] = (failures + 1, self.clock())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)
