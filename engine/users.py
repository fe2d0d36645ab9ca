"""Accounts: argon2id password hashes and the password rules of OWASP ASVS 5 (V6)."""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import tables
from .errors import Conflict, FormflowError, NotFound

# OWASP's minimum argon2id configuration (19 MiB, 2 iterations, 1 lane)
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
# A fixed hash to verify against for unknown users, so that "no such user" and
# "wrong password" take the same time.
_DUMMY_HASH = _hasher.hash("formflow-timing-equaliser")

MIN_PASSWORD = 8
MAX_PASSWORD = 128
_COMMON = {"password", "password1", "12345678", "123456789", "1234567890", "qwertyuiop", "iloveyou",
           "11111111", "00000000", "abc12345", "admin123", "password123", "qwerty123", "88888888",
           "a1234567", "1qaz2wsx", "passw0rd", "welcome1", "letmein1", "zaq12wsx", "formflow"}


class PasswordError(FormflowError):
    """A password breaks the password rules."""

    status = 422
    title = "Password refused"


def check_password_rules(password: str, username: str | None = None) -> None:
    """At least 8 characters, at most 128, not common, not the username; no composition rules."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise PasswordError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PasswordError(f"the password may have at most {MAX_PASSWORD} characters")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) == 1 or (username and lowered == username.lower()):
        raise PasswordError("this password is too common or too easy to guess: choose another one")


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; constant work for a missing hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """A random password for generated accounts (shown once)."""
    return secrets.token_urlsafe(12)


def add_user(ff, username: str, password: str | None, *, admin: bool = False,
             display_name: str | None = None, email: str | None = None) -> dict:
    """Create a user; Conflict when the name is taken."""
    from .records import new_id, now_iso
    username = (username or "").strip()
    if not username or len(username) > 150 or any(c.isspace() for c in username):
        raise FormflowError("the user name must be 1-150 characters without spaces")
    if password is not None:
        check_password_rules(password, username)
    with ff.db.write() as conn:
        taken = conn.execute(sa.select(tables.users.c.id).where(
            sa.func.lower(tables.users.c.username) == username.lower())).first()
        if taken:
            raise Conflict(f"a user named {username!r} already exists")
        user = {"id": new_id(), "username": username, "display_name": display_name or username,
                "email": email, "password_hash": hash_password(password) if password else None,
                "is_admin": admin, "is_active": True, "created_at": now_iso(),
                "password_changed_at": now_iso() if password else None}
        conn.execute(tables.users.insert().values(**user))
    return public_user(user)


def get_user(ff, username: str) -> dict:
    """A user by name (case-insensitive); NotFound otherwise."""
    with ff.db.read() as conn:
        row = conn.execute(sa.select(tables.users).where(
            sa.func.lower(tables.users.c.username) == str(username).lower())).mappings().first()
    if row is None:
        raise NotFound(f"no user {username!r}")
    return dict(row)


def public_user(user: dict) -> dict:
    """A user without secrets."""
    return {str(k): v for k, v in user.items() if k != "password_hash"}


def user_by_id(ff, user_id: str) -> dict:
    """A user by id; NotFound otherwise."""
    with ff.db.read() as conn:
        row = conn.execute(sa.select(tables.users).where(tables.users.c.id == str(user_id))).mappings().first()
    if row is None:
        raise NotFound(f"no user {user_id!r}")
    return dict(row)


def list_users(ff) -> list[dict]:
    """Every user without secrets, by name."""
    with ff.db.read() as conn:
        rows = conn.execute(sa.select(tables.users).order_by(tables.users.c.username)).mappings().all()
    return [public_user(dict(r)) for r in rows]


def set_password(ff, user_id: str, password: str) -> str:
    """Replace a user's password (rules checked); returns the new password_changed_at.

    Sessions remember the password_changed_at they were opened with, so changing
    it signs every other browser session of the user out.
    """
    from .records import now_iso
    user = user_by_id(ff, user_id)
    check_password_rules(password, user["username"])
    at = now_iso()
    with ff.db.write() as conn:
        conn.execute(tables.users.update().where(tables.users.c.id == user["id"]).values(
            password_hash=hash_password(password), password_changed_at=at))
    return at


def update_user(ff, user_id: str, *, is_active: bool | None = None, is_admin: bool | None = None,
                display_name: str | None = None, email: str | None = None) -> dict:
    """Change a user's flags or names; returns the user without secrets."""
    user = user_by_id(ff, user_id)
    values = {k: v for k, v in {"is_active": is_active, "is_admin": is_admin,
                                "display_name": display_name, "email": email}.items() if v is not None}
    if values:
        with ff.db.write() as conn:
            conn.execute(tables.users.update().where(tables.users.c.id == user["id"]).values(**values))
        user.update(values)
    return public_user(user)


def authenticate(ff, username: str, password: str) -> dict | None:
    """The user row when name and password match an active user; None otherwise (same work either way)."""
    if not isinstance(username, str) or not isinstance(password, str) or len(username) > 150:
        verify_password(None, "x")
        return None
    with ff.db.read() as conn:
        row = conn.execute(sa.select(tables.users).where(
            sa.func.lower(tables.users.c.username) == username.strip().lower())).mappings().first()
    ok = verify_password(row["password_hash"] if row else None, password[:MAX_PASSWORD * 4])
    if row is None or not ok or not row["is_active"]:
        return None
    from .records import now_iso
    with ff.db.write() as conn:
        conn.execute(tables.users.update().where(tables.users.c.id == row["id"]).values(last_login_at=now_iso()))
    return dict(row)
