"""Access review: the periodic report that catches accounts of people who left.

    report(ff, days=90) -> {"generated_at", "days", "inactive", "disabled_with_keys", "sensitive_fields"}

* inactive: active accounts not signed in for `days` days (or never, if created
  before that);
* disabled_with_keys: disabled accounts that still hold API keys that are not
  revoked (only when the API keys table exists);
* sensitive_fields: for every sensitive field of every installed form, who can
  see it, masked or in clear, and through which permission sets.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from . import tables


def _cutoff(days: int, now: dt.datetime | None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        return (now - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except OverflowError:  # more days than the calendar has: before every stored time
        return "0001-01-01T00:00:00.000000Z"


def inactive_accounts(ff, days: int = 90, now: dt.datetime | None = None) -> list[dict]:
    """Active users whose last sign-in (or creation, if never) is older than `days` days."""
    if not isinstance(days, int) or days < 0:
        raise ValueError("days must be a whole number >= 0")
    cutoff = _cutoff(days, now)
    u = tables.users.c
    last = sa.func.coalesce(u.last_login_at, u.created_at)
    with ff.db.read() as conn:
        rows = conn.execute(sa.select(u.id, u.username, u.is_admin, u.last_login_at, u.created_at)
                            .where(u.is_active.is_(True), last < cutoff).order_by(u.username)).mappings().all()
    return [dict(r) for r in rows]


def disabled_with_api_keys(ff) -> list[dict]:
    """Disabled users holding unrevoked API keys: [{id, username, keys: [{id, name, prefix}]}]."""
    keys = getattr(tables, "api_keys", None)
    if keys is None:
        return []
    with ff.db.read() as conn:
        if not sa.inspect(conn).has_table(keys.name):
            return []
        rows = conn.execute(sa.select(tables.users.c.id, tables.users.c.username, keys.c.id.label("key_id"),
                                      keys.c.name, keys.c.prefix)
                            .join(keys, keys.c.user_id == tables.users.c.id)
                            .where(tables.users.c.is_active.is_(False), keys.c.revoked_at.is_(None))
                            .order_by(tables.users.c.username, keys.c.id)).mappings().all()
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(r["id"], {"id": r["id"], "username": r["username"], "keys": []})
        entry["keys"].append({"id": r["key_id"], "name": r["name"], "prefix": r["prefix"]})
    return list(out.values())


def sensitive_field_access(ff) -> list[dict]:
    """[{app, form, field, type, readers: [{user_id, username, right, masked, via}]}] for sensitive fields."""
    from . import permissions
    out = []
    with ff.db.read() as conn:
        ids = conn.execute(sa.select(tables.users.c.id).where(tables.users.c.is_active.is_(True))
                           .order_by(tables.users.c.username)).scalars().all()
        subjects = [permissions.subject(ff, uid, conn) for uid in ids]
        apps = ff.installed(conn)
    for app_key in sorted(apps):
        app = apps[app_key]
        for form in app.forms:
            sensitive = [f for f in form.fields if f.type.is_sensitive]
            if not sensitive:
                continue
            accesses = [permissions.FormAccess(ff, s, app, form) for s in subjects]
            for f in sensitive:
                readers = [{"user_id": fa.subject.id, "username": fa.subject.username, "right": fa.right(f.key),
                            "masked": fa.is_masked(f.key),
                            "via": ["admin"] if fa.admin else [g.key for g in fa.grants if "read" in g.actions]}
                           for fa in accesses if fa.can("read") and fa.right(f.key) != "hidden"]
                out.append({"app": app_key, "form": form.key, "field": f.key, "type": f.type_name,
                            "readers": readers})
    return out


def report(ff, days: int = 90, now: dt.datetime | None = None) -> dict:
    """The whole review (see the module docstring)."""
    from .records import now_iso
    return {"generated_at": now_iso(), "days": days, "inactive": inactive_accounts(ff, days, now),
            "disabled_with_keys": disabled_with_api_keys(ff), "sensitive_fields": sensitive_field_access(ff)}
