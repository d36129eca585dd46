"""Local accounts: a role and an argon2 hash each (core/users.py checks names and passwords and makes the hashes)."""
from __future__ import annotations

from core.store.base import ROLES, StoreBase
from core.store.shared import check_choice, now


class UserRows(StoreBase):
    """Accounts; a removed one keeps its row, so its name is not reused and its annotations stay attributed."""

    def add_user(self, name: str, role: str, password_hash: str) -> int:
        check_choice(role, ROLES, "role")
        created = now()
        with self._write():
            if self._rows("SELECT id FROM users WHERE name = ?", [name]):
                raise ValueError(f"user {name!r} already exists (a removed user's name is not reused)")
            return self._insert("users", {"name": name, "role": role, "password_hash": password_hash,
                                          "created": created, "updated": created, "removed": None})

    def users(self, *, removed: bool = False) -> list[dict]:
        """Accounts by name (the removed ones too when asked), with their hashes."""
        return self._rows("SELECT * FROM users" + ("" if removed else " WHERE removed IS NULL") + " ORDER BY name")

    def user(self, name: str) -> dict | None:
        """The account of this name that is not removed, or None."""
        rows = self._rows("SELECT * FROM users WHERE name = ? AND removed IS NULL", [name])
        return rows[0] if rows else None

    def update_user(self, name: str, *, password_hash: str | None = None, role: str | None = None,
                    removed: bool = False) -> None:
        """Change an account's hash or role, or mark it removed; KeyError when there is no such account."""
        if role is not None:
            check_choice(role, ROLES, "role")
        values = {k: v for k, v in (("password_hash", password_hash), ("role", role)) if v is not None}
        values |= {"updated": now()} | ({"removed": now()} if removed else {})
        with self._write():
            if not (user := self.user(name)):
                raise KeyError(f"no user {name!r}")
            self.db["users"].update(user["id"], values)
            if password_hash is not None or removed:  # a new password or a removal ends every login of the account
                self.db.execute("DELETE FROM sessions WHERE user_id = ?", [user["id"]])

    def add_session(self, name: str, token_hash: str, *, seen: float, expires: float) -> None:
        """Record a login session of the account `name` (KeyError when there is none)."""
        with self._write():
            if not (user := self.user(name)):
                raise KeyError(f"no user {name!r}")
            self.db.execute("DELETE FROM sessions WHERE expires < ?", [seen])  # ended ones go as new ones come
            self._insert("sessions", {"token_hash": token_hash, "user_id": user["id"], "created": now(),
                                      "seen": seen, "expires": expires})

    def session(self, token_hash: str) -> dict | None:
        """A login session (seen, expires) with its account's name and role, or None (unknown, or the account
        removed)."""
        rows = self._rows("""SELECT s.seen, s.expires, u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = ? AND u.removed IS NULL""", [token_hash])
        return rows[0] if rows else None

    def touch_session(self, token_hash: str, seen: float) -> None:
        with self._write():
            self.db.execute("UPDATE sessions SET seen = ? WHERE token_hash = ?", [seen, token_hash])

    def end_session(self, token_hash: str) -> None:
        with self._write():
            self.db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])
