"""Outbound webhook subscriptions and the payloads they receive.

A subscription (ff_webhooks) names a URL, which app/form and event types it
wants, an owner and a signing secret. For each matching committed event the relay
writes one delivery row whose body is fixed then — so retries and replays send
the same bytes with the same `webhook-id`:

    {"type": "record.updated", "timestamp": "2026-...Z",
     "data": {"app": "repair", "form": "ticket", "id": "...", "version": 3,
              "record": {... the record at that version ...}, "changes": {"status": ["open", "closed"]}}}

The record and the changes show the fields the owner may see, masked as for the
owner: fields marked `sensitive` are masked unless the owner is an administrator.
"""
from __future__ import annotations

import hashlib
import json

import orjson
import sqlalchemy as sa
from ulid import ULID

from engine import events as engine_events
from engine import masking, storage, tables
from engine.errors import FormflowError, NotFound
from engine.records import from_document, record_json
from . import clock, defaults, signing, transport
from . import tables as wt

AUTOMATION_EVENT = "automation.call"   # endpoints created by "webhook" actions (never match record events)


def _json_list(text) -> list:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def out(row, *, with_secret: bool = False) -> dict:
    """A subscription as the API shows it (the secret only when asked for)."""
    item = {"id": row["id"], "url": row["url"], "description": row["description"], "app": row["app_key"],
            "form": row["form_key"], "event_types": _json_list(row["event_types"]), "owner": row["owner"],
            "enabled": bool(row["enabled"]), "disabled_reason": row["disabled_reason"],
            "failing_since": row["failing_since"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}
    if with_secret:
        item["secret"] = row["secret"]
    return item


def _check_types(types) -> list[str]:
    if types is None:
        return []
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise FormflowError("event_types: must be a list of event type names")
    for t in types:
        if t not in engine_events.RECORD_EVENT_TYPES:
            raise FormflowError(f"event_types: {t!r} is not an event type "
                                f"(use {', '.join(engine_events.RECORD_EVENT_TYPES)})")
    return types


def check_url(ff, url) -> None:
    """Refuse URLs the SSRF guard would refuse (checked on save and again at delivery)."""
    if not isinstance(url, str) or len(url) > 2000:
        raise FormflowError("url: must be an http(s) URL of at most 2000 characters")
    guard = transport.transport_for(ff)
    allow = getattr(guard, "allow", None)
    resolver = getattr(guard, "resolver", None)
    try:
        transport.check_target(url, allow=allow, resolver=resolver)
    except transport.OutboundRefused as exc:
        raise FormflowError(f"url: {exc}") from None
    except Exception as exc:  # an unparsable URL
        raise FormflowError(f"url: not a valid URL ({exc})") from None


def create(ff, *, url: str, owner: str | None = None, app: str | None = None, form: str | None = None,
           event_types: list[str] | None = None, description: str | None = None,
           secret: str | None = None) -> dict:
    """A new subscription (URL checked by the guard); returns it with its secret."""
    check_url(ff, url)
    types = _check_types(event_types)
    if form is not None and app is None:
        raise FormflowError("form: give the app too")
    if app is not None:
        if form is not None:
            ff.form(app, form)
        else:
            ff.app(app)
    now = clock.now_iso(ff)
    hook_id = "wh_" + str(ULID()).lower()
    if secret is not None:
        signing.secret_bytes(secret)
    with ff.db.write() as conn:
        conn.execute(wt.webhooks.insert().values(
            id=hook_id, url=url, description=description, app_key=app, form_key=form,
            event_types=json.dumps(types), secret=secret or signing.new_secret(), owner=owner,
            enabled=True, created_at=now, updated_at=now))
    return get(ff, hook_id, with_secret=True)


def get(ff, hook_id: str, *, with_secret: bool = False) -> dict:
    with ff.db.read() as conn:
        row = conn.execute(sa.select(wt.webhooks).where(wt.webhooks.c.id == hook_id)).mappings().first()
    if row is None:
        raise NotFound(f"no webhook {hook_id!r}")
    return out(row, with_secret=with_secret)


def list_all(ff, owner: str | None = None) -> list[dict]:
    q = sa.select(wt.webhooks).order_by(wt.webhooks.c.created_at)
    if owner is not None:
        q = q.where(wt.webhooks.c.owner == owner)
    with ff.db.read() as conn:
        return [out(r) for r in conn.execute(q).mappings()]


def update(ff, hook_id: str, changes: dict) -> dict:
    """Change url/description/event_types/enabled (re-enabling clears the failure state)."""
    values = {}
    for key, value in changes.items():
        if key == "url":
            check_url(ff, value)
            values["url"] = value
        elif key == "description":
            values["description"] = value
        elif key == "event_types":
            values["event_types"] = json.dumps(_check_types(value))
        elif key == "enabled":
            if not isinstance(value, bool):
                raise FormflowError("enabled: must be true or false")
            values["enabled"] = value
            if value:
                values.update(disabled_reason=None, failing_since=None)
        else:
            raise FormflowError(f"{key}: cannot be changed (url, description, event_types, enabled)")
    get(ff, hook_id)
    values["updated_at"] = clock.now_iso(ff)
    with ff.db.write() as conn:
        conn.execute(wt.webhooks.update().where(wt.webhooks.c.id == hook_id).values(**values))
    return get(ff, hook_id)


def delete(ff, hook_id: str) -> None:
    get(ff, hook_id)
    with ff.db.write() as conn:
        conn.execute(wt.webhooks.delete().where(wt.webhooks.c.id == hook_id))
        conn.execute(wt.deliveries.update().where(wt.deliveries.c.webhook_id == hook_id,
                                                  wt.deliveries.c.status == "pending")
                     .values(status="failed", last_error="the webhook was deleted"))


def rotate_secret(ff, hook_id: str) -> dict:
    """A new secret; the previous one keeps signing (a second signature) for a day."""
    current = get(ff, hook_id, with_secret=True)
    until = clock.later(ff, defaults.WEBHOOK_SECRET_ROTATION_SECONDS)
    with ff.db.write() as conn:
        conn.execute(wt.webhooks.update().where(wt.webhooks.c.id == hook_id).values(
            previous_secret=current["secret"], previous_secret_until=until, secret=signing.new_secret(),
            updated_at=clock.now_iso(ff)))
    return get(ff, hook_id, with_secret=True)


def signing_secrets(ff, row) -> list[str]:
    """The secrets that sign a message now: the current one, and the previous during rotation."""
    out_ = [row["secret"]]
    if row["previous_secret"] and row["previous_secret_until"] and row["previous_secret_until"] > clock.now_iso(ff):
        out_.append(row["previous_secret"])
    return out_


def automation_endpoint(ff, conn, app_key: str, automation: str, url: str) -> str:
    """The subscription row behind a "webhook" action's URL (created on first use)."""
    hook_id = "wha_" + hashlib.sha256(f"{app_key}\0{automation}\0{url}".encode()).hexdigest()[:32]
    found = conn.execute(sa.select(wt.webhooks.c.id).where(wt.webhooks.c.id == hook_id)).first()
    if found is None:
        now = clock.now_iso(ff)
        conn.execute(wt.webhooks.insert().values(
            id=hook_id, url=url, description=f"automation {app_key}.{automation}", app_key=app_key,
            event_types=json.dumps([AUTOMATION_EVENT]), secret=signing.new_secret(), enabled=True,
            created_at=now, updated_at=now))
    return hook_id


# -- fan-out (called by the relay, inside its transaction) ---------------------------------

def active_subscriptions(conn) -> list[dict]:
    rows = conn.execute(sa.select(wt.webhooks).where(wt.webhooks.c.enabled.is_(True))).mappings().all()
    out_ = []
    for r in rows:
        types = _json_list(r["event_types"])
        if AUTOMATION_EVENT in types:
            continue
        out_.append({**r, "types": set(types)})
    return out_


def _matches(hook: dict, event: dict) -> bool:
    payload = event["payload"]
    if hook["types"] and event["type"] not in hook["types"]:
        return False
    if hook["app_key"] and payload.get("app") != hook["app_key"]:
        return False
    if hook["form_key"] and payload.get("form") != hook["form_key"]:
        return False
    return True


def fan_out(ff, conn, event: dict, hooks: list[dict], now: str) -> int:
    """One delivery per matching subscription whose owner may read the record; returns how many.

    The payload is projected through the owner's permissions (engine.permissions): hidden
    fields are left out and sensitive ones masked, exactly as the API shows them to the
    owner; a record outside the owner's row rule is not sent at all.
    """
    matching = [h for h in hooks if _matches(h, event)]
    if not matching:
        return 0
    snapshot = record_at(ff, conn, event)
    rows = []
    for hook in matching:
        data = _as_seen_by(ff, conn, hook, snapshot)
        if data is None:
            continue
        body = orjson.dumps({"type": event["type"], "timestamp": event["at"], "data": data},
                            default=str).decode()
        rows.append({"id": "msg_" + str(ULID()).lower(), "webhook_id": hook["id"], "event_id": event["id"],
                     "event_type": event["type"], "body": body, "status": "pending", "attempts": 0,
                     "next_attempt_at": now, "created_at": now})
    if rows:
        conn.execute(wt.deliveries.insert(), rows)
    return len(rows)


def _as_seen_by(ff, conn, hook: dict, snapshot: dict) -> dict | None:
    """The event data as the hook's owner may see it; None when the owner may not see the record."""
    data = dict(snapshot["data"])
    form = snapshot["form"]
    if form is None:
        return data
    if not hook["owner"]:
        return _masked(form, data)  # an ownerless subscription sees what an anonymous reader would
    from engine import permissions
    try:
        fa = permissions.form_access(ff, hook["owner"], data["app"], data["form"], conn)
    except NotFound:
        return None
    if not fa.can("read"):
        return None
    values = snapshot.get("values")
    if values is not None and not fa.allows(values, "read"):
        return None
    if "record" in data:
        data["record"] = fa.project_json(data["record"])
    data["changes"] = fa.project_changes(data.get("changes") or {})
    return data


def record_at(ff, conn, event: dict) -> dict:
    """{"form", "data", "values"}: the event's payload plus the record at that version."""
    payload = event["payload"]
    data = {k: payload[k] for k in ("app", "form", "id", "version") if k in payload}
    data["changes"] = payload.get("changes", {})
    form = None
    try:
        _app, form = ff.form(payload["app"], payload["form"], conn)
    except (NotFound, KeyError):
        return {"form": None, "data": data, "values": None}
    values = None
    if "version" in payload:
        snap = conn.execute(sa.select(tables.revisions.c.snapshot).where(
            tables.revisions.c.form_id == form.id, tables.revisions.c.record_id == payload["id"],
            tables.revisions.c.version == payload["version"])).scalar()
        if snap is not None:
            values = from_document(form, storage.loads(snap))
            data["record"] = {"_id": payload["id"], "_version": payload["version"],
                              **record_json(form, values)}
            ft = ff.form_table(form)
            owner = conn.execute(sa.select(ft.c.owner, ft.c.created_by, ft.c.updated_by)
                                 .where(ft.c.id == payload["id"])).first()
            values = {**values, "_id": payload["id"], "_version": payload["version"],
                      "_owner": owner[0] if owner else None, "_created_by": owner[1] if owner else None,
                      "_updated_by": owner[2] if owner else None}
    return {"form": form, "data": data, "values": values}


def _admins(conn, owners: set) -> set:
    if not owners:
        return set()
    return set(conn.execute(sa.select(tables.users.c.id).where(
        tables.users.c.id.in_(owners), tables.users.c.is_admin.is_(True))).scalars())


def mask_value(field, value):
    if value is None:
        return None
    if field.type_name == "phone":
        return masking.mask_phone(str(value))
    if field.type_name == "email":
        return masking.mask_email(str(value))
    return masking.mask_text(value if isinstance(value, str) else json.dumps(value, default=str))


def _masked(form, data: dict) -> dict:
    sensitive = [f for f in form.fields if f.definition.get("sensitive")]
    if not sensitive:
        return data
    data = dict(data)
    if "record" in data:
        record = dict(data["record"])
        for f in sensitive:
            if f.key in record:
                record[f.key] = mask_value(f, record[f.key])
        data["record"] = record
    changes = dict(data.get("changes") or {})
    for f in sensitive:
        if f.key in changes:
            changes[f.key] = [mask_value(f, v) for v in changes[f.key]]
    data["changes"] = changes
    return data
