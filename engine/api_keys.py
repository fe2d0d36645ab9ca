"""API keys for integrators: random, shown once, stored hashed, scoped, revocable.

A key is `ffk_` followed by 32 random bytes (URL-safe base64). Only its SHA-256
is stored. A fast hash is right here, unlike for passwords: a key carries 256
bits of entropy, so a stolen hash table cannot be brute-forced whatever the hash
speed, and a fast hash keeps per-request verification cheap (argon2 would cost
tens of milliseconds on every API call). The hash is looked up by equality in a
unique index, so comparison timing reveals nothing about a key.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets

import sqlalchemy as sa

from . import tables
from .errors import FormflowError, NotFound

PREFIX = "ffk_"
# last_used_at is written at most this often per key (a write on every request would
# turn every read into a write transaction)
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


def hash_key(key: str) -> str:
    """SHA-256 hex of a key (see the module docstring)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(ff, user_id: str, *, name: str | None = None, apps: list[str] | None = None,
               write: bool = False) -> dict:
    """Make a key for a user; the returned dict holds the key itself under "key" (shown once)."""
    from .records import new_id, now_iso
    if apps is not None:
        if not isinstance(apps, list) or not all(isinstance(a, str) and a for a in apps):
            raise FormflowError("apps must be a list of app keys, or null for every app",
                                [{"location": "apps", "message": "expected a list of app keys", "code": "type"}])
        installed = ff.installed()
        unknown = [a for a in apps if a not in installed]
        if unknown:
            raise FormflowError(f"no app {unknown[0]!r} is installed",
                                [{"location": "apps", "message": f"no app {a!r} is installed", "code": "unknown"}
                                 for a in unknown])
        apps = sorted(set(apps))
    name = (name or "").strip() or "API key"
    if len(name) > 200:
        raise FormflowError("name: at most 200 characters",
                            [{"location": "name", "message": "at most 200 characters", "code": "max_length"}])
    key = PREFIX + secrets.token_urlsafe(32)
    row = {"id": "key_" + new_id(), "user_id": user_id, "name": name, "prefix": key[:12],
           "key_hash": hash_key(key), "apps": None if apps is None else json.dumps(apps),
           "can_write": bool(write), "created_at": now_iso(), "last_used_at": None, "revoked_at": None}
    with ff.db.write() as conn:
        conn.execute(tables.api_keys.insert().values(**row))
    return {**public_key(row), "key": key}


def public_key(row) -> dict:
    """A key's metadata as the API shows it (never the hash)."""
    return {"id": row["id"], "name": row["name"], "prefix": row["prefix"], "user_id": row["user_id"],
            "apps": None if row["apps"] is None else json.loads(row["apps"]),
            "write": bool(row["can_write"]), "created_at": row["created_at"],
            "last_used_at": row["last_used_at"], "revoked_at": row["revoked_at"]}


def list_keys(ff, user_id: str | None = None) -> list[dict]:
    """Keys of a user (every key when user_id is None), newest first."""
    query = sa.select(tables.api_keys).order_by(tables.api_keys.c.created_at.desc())
    if user_id is not None:
        query = query.where(tables.api_keys.c.user_id == user_id)
    with ff.db.read() as conn:
        return [public_key(r) for r in conn.execute(query).mappings()]


def revoke_key(ff, key_id: str, *, user_id: str | None = None) -> dict:
    """Revoke a key (of `user_id` when given); NotFound otherwise. Revoking twice is harmless."""
    from .records import now_iso
    t = tables.api_keys
    with ff.db.write() as conn:
        query = sa.select(t).where(t.c.id == key_id)
        if user_id is not None:
            query = query.where(t.c.user_id == user_id)
        row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"no API key {key_id!r}")
        row = dict(row)
        if row["revoked_at"] is None:
            row["revoked_at"] = now_iso()
            conn.execute(t.update().where(t.c.id == key_id).values(revoked_at=row["revoked_at"]))
    return public_key(row)


_VERIFY_SQL: dict[str, tuple[str, list[str]]] = {}


def _verify_sql(dialect) -> tuple[str, list[str]]:
    """The key look-up compiled once per dialect: it runs on every API request."""
    if dialect.name not in _VERIFY_SQL:
        k, u = tables.api_keys, tables.users
        stmt = sa.select(k, u.c.username, u.c.display_name, u.c.is_admin, u.c.is_active, u.c.email) \
            .join(u, u.c.id == k.c.user_id).where(k.c.key_hash == sa.bindparam("h"))
        _VERIFY_SQL[dialect.name] = (str(stmt.compile(dialect=dialect)), [c.key for c in stmt.selected_columns])
    return _VERIFY_SQL[dialect.name]


def verify_key(ff, key: str) -> tuple[dict, dict] | None:
    """(key row, user row) for a valid, unrevoked key of an active user; None otherwise."""
    from .records import now_iso
    if not isinstance(key, str) or not key.startswith(PREFIX) or len(key) > 100:
        return None
    k = tables.api_keys
    with ff.db.read() as conn:
        sql, names = _verify_sql(conn.dialect)
        params = (hash_key(key),) if conn.dialect.name == "sqlite" else {"h": hash_key(key)}
        found = conn.exec_driver_sql(sql, params).first()
        row = None if found is None else dict(zip(names, found))
    if row is None or row["revoked_at"] is not None or not row["is_active"]:
        return None
    now = now_iso()
    cutoff = (dt.datetime.now(dt.timezone.utc) - LAST_USED_RESOLUTION).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if row["last_used_at"] is None or row["last_used_at"] < cutoff:
        with ff.db.write() as conn:
            conn.execute(k.update().where(k.c.id == row["id"]).values(last_used_at=now))
    key_row = {c: row[c] for c in k.c.keys()}
    user = {"id": row["user_id"], "username": row["username"], "display_name": row["display_name"],
            "is_admin": bool(row["is_admin"]), "is_active": bool(row["is_active"]), "email": row["email"]}
    return key_row, user
