"""The audit log: who did what, when, from where — append-only, down to the database.

    record(ff, action, actor=, object_type=, object_id=, app=, form=, revision_id=,
           ip=, details=, conn=)                       -> entry id
    search(ff, actor=, object=, action=, since=, until=, limit=, cursor=) -> {"entries", "next_cursor"}

Every record write is logged automatically: importing this module subscribes to the
record events (engine.events), so each create/update/delete/restore/purge leaves
exactly one entry in the same transaction, linked to its revision (`revision_id`,
or `form_id` + `record_id` + `version`, which search resolves). Everything else
(logins and failures, definition changes, exports, API keys, unmasked views,
permission and role changes) is logged by its caller with `record(...)`;
engine.directory already does so for departments and roles.

Action names are "<object>.<verb>": record.created, login.succeeded, login.failed,
app.installed, records.exported, api_key.created, api_key.revoked,
sensitive.unmasked_view, role.granted, department.member_added, ...

The table refuses UPDATE and DELETE by trigger on both databases (migration 0005),
and no endpoint alters entries.
"""
from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import orjson
import sqlalchemy as sa

from . import events, tables
from .errors import FormflowError

audit_log = sa.Table(
    "ff_audit", tables.metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", tables.Timestamp, nullable=False),
    sa.Column("actor", sa.String(40)),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(40)),
    sa.Column("object_id", sa.String(200)),
    sa.Column("app", sa.String(64)),
    sa.Column("form", sa.String(64)),
    sa.Column("form_id", sa.String(40)),
    sa.Column("version", sa.Integer),
    sa.Column("revision_id", sa.BigInteger),
    sa.Column("ip", sa.String(64)),
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_ff_audit_at", "at"),
    sa.Index("ix_ff_audit_actor", "actor", "id"),
    sa.Index("ix_ff_audit_object", "object_type", "object_id", "id"),
    sa.Index("ix_ff_audit_action", "action", "id"),
)

MAX_LIMIT = 500


class AuditQueryError(FormflowError):
    """A search parameter cannot be used."""


def _now() -> str:
    from .records import now_iso
    return now_iso()


def record(ff, action: str, *, actor: str | None = None, object_type: str | None = None,
           object_id: str | None = None, app: str | None = None, form: str | None = None,
           revision_id: int | None = None, ip: str | None = None, details: dict | None = None,
           conn: sa.Connection | None = None, form_id: str | None = None, version: int | None = None) -> int | None:
    """Append one entry; pass `conn` to write it in the caller's transaction (then ff may be None)."""
    if conn is None:
        with ff.db.write() as conn:
            return record(ff, action, actor=actor, object_type=object_type, object_id=object_id, app=app,
                          form=form, revision_id=revision_id, ip=ip, details=details, conn=conn,
                          form_id=form_id, version=version)
    row = {"at": _now(), "actor": actor, "action": str(action)[:64], "object_type": object_type,
           "object_id": None if object_id is None else str(object_id)[:200], "app": app, "form": form,
           "form_id": form_id, "version": version, "revision_id": revision_id,
           "ip": None if ip is None else str(ip)[:64],
           "details": orjson.dumps(details or {}, default=str).decode()}
    result = conn.execute(audit_log.insert(), row)
    pk = result.inserted_primary_key
    return pk[0] if pk else None


def _on_events(conn: sa.Connection, batch: list) -> None:
    """One entry per record event, in the writer's transaction (one executemany per write)."""
    at = _now()
    rows = []
    for event in batch:
        if not event.type.startswith("record."):
            continue
        payload = event.payload or {}
        rows.append({"at": at, "actor": event.actor, "action": event.type[:64], "object_type": "record",
                     "object_id": event.record_id, "app": payload.get("app"), "form": payload.get("form"),
                     "form_id": event.form_id, "version": payload.get("version"),
                     "revision_id": event.revision_id, "ip": None,
                     "details": orjson.dumps({"fields": sorted(payload.get("changes") or {})}).decode()})
    if rows:
        conn.execute(audit_log.insert(), rows)


def enable() -> None:
    """Subscribe to record events (done on import; idempotent)."""
    if _on_events not in events._batch_listeners:
        events.subscribe_batch(_on_events)


def disable() -> None:
    """Stop logging record events (tests of other subsystems may want silence)."""
    events.unsubscribe(_on_events)


enable()


# ------------------------------------------------------------------------ search

def _cursor(entry_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(["a", entry_id])).decode().rstrip("=")


def _uncursor(cursor: str) -> int:
    try:
        kind, entry_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if kind != "a" or not isinstance(entry_id, int):
            raise ValueError
        return entry_id
    except Exception:
        raise AuditQueryError("cursor: not a cursor returned by the audit search; start again without it") from None


def _time(value, name) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.timezone.utc) if value.tzinfo else value
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AuditQueryError(f"{name}: expected an ISO 8601 date or time, got {text!r}") from None
    if parsed.tzinfo:
        parsed = parsed.astimezone(dt.timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def search(ff, *, actor: str | None = None, object: str | None = None, action: str | None = None,
           since: Any = None, until: Any = None, app: str | None = None, limit: int = 100,
           cursor: str | None = None) -> dict:
    """Entries newest first: {"entries": [...], "next_cursor": str | None}.

    object: "type" or "type:id" (e.g. "record:01h...", "role:sales"); action: an exact
    action or a prefix ending in "." ("record."); since/until: ISO times (since
    inclusive, until exclusive).
    """
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise AuditQueryError(f"limit: must be between 1 and {MAX_LIMIT}")
    t = audit_log.c
    where = []
    if actor:
        where.append(t.actor == actor)
    if object:
        kind, _, oid = str(object).partition(":")
        where.append(t.object_type == kind)
        if oid:
            where.append(t.object_id == oid)
    if action:
        where.append(t.action.startswith(action, autoescape=True) if action.endswith(".") else t.action == action)
    if app:
        where.append(t.app == app)
    lo, hi = _time(since, "since"), _time(until, "until")
    if lo:
        where.append(t.at >= lo)
    if hi:
        where.append(t.at < hi)
    if cursor:
        where.append(t.id < _uncursor(cursor))
    rev = tables.revisions.c
    linked = sa.select(rev.id).where(rev.form_id == t.form_id, rev.record_id == t.object_id,
                                     rev.version == t.version).limit(1).scalar_subquery()
    query = (sa.select(audit_log, sa.func.coalesce(t.revision_id, linked).label("linked_revision"))
             .where(*where).order_by(t.id.desc()).limit(limit + 1))
    with ff.db.read() as conn:
        rows = conn.execute(query).mappings().all()
    more = len(rows) > limit
    entries = []
    for r in rows[:limit]:
        e = {k: r[k] for k in ("id", "at", "actor", "action", "object_type", "object_id", "app", "form",
                               "version", "ip")}
        e["revision_id"] = r["linked_revision"]
        e["details"] = orjson.loads(r["details"]) if r["details"] else {}
        entries.append(e)
    return {"entries": entries, "next_cursor": _cursor(entries[-1]["id"]) if more and entries else None}
