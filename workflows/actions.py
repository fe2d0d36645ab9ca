"""Action types: one registration per type. An action runs inside the run's transaction.

Each handler is `handler(run: RunContext, scope: Scope, spec: dict) -> dict` and
returns what the run log shows as the action's result. Writes go through the
record lifecycle (engine/records.py) with the run's connection, so they emit the
same events as any other write, and commit or roll back together.
"""
from __future__ import annotations

import sqlalchemy as sa

import datetime as dt
from decimal import Decimal
from typing import Callable

import orjson
from ulid import ULID

from engine.errors import FormflowError
from engine.registry import Registry
from . import clock, notifications, webhooks
from . import tables as wt

action_types: Registry[Callable] = Registry("action type")


class ActionError(FormflowError):
    """An action that cannot run (bad target, expression error)."""


def to_json(value, _in_object: bool = False):
    """An expression value as JSON data the record lifecycle accepts."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal):
        # Inside an object (a file's size, a subform row's count) a whole number must stay a JSON
        # integer: the attachment type refuses "15". Elsewhere text keeps decimals exact.
        if _in_object and value == value.to_integral_value() and abs(value) < 2 ** 53:
            return int(value)
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_json(v, True) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [to_json(v, _in_object) for v in value]
    return value


def eval_values(run, scope, values: dict) -> dict:
    """Field values from formulas: strings are expressions, other JSON is literal.

    {"from": "<subform>", "values": {...}} maps the rows of a subform of the
    trigger record, each formula evaluated on a row ($parent is the record).
    """
    out = {}
    for key, source in (values or {}).items():
        if isinstance(source, str):
            out[key] = to_json(scope.eval(source))
        elif isinstance(source, dict) and "from" in source:
            rows = []
            for child in scope.rows(source["from"]):
                rows.append(eval_values(run, child, source.get("values") or {}))
            out[key] = rows
        else:
            out[key] = source
    return out


def _target(run, spec):
    return spec.get("app") or run.app_key, spec["form"]


def _record_ids(run, scope, spec) -> list[str]:
    if "record" not in spec:
        return [run.record_id] if run.record_id else []
    value = scope.eval(spec["record"])
    items = value if isinstance(value, list) else [value]
    ids = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("_id")
        if isinstance(item, str) and item:
            ids.append(item)
    return ids


@action_types.register("create_record")
def create_record(run, scope, spec) -> dict:
    app, form = _target(run, spec)
    values = eval_values(run, scope, spec.get("values"))
    record = run.ff.records.create(app, form, values, ctx=run.record_ctx(), conn=run.conn)
    return {"input": values, "created": record["_id"], "form": f"{app}.{form}"}


@action_types.register("update_record")
def update_record(run, scope, spec) -> dict:
    app, form = _target(run, spec)
    values = eval_values(run, scope, spec.get("values"))
    ids = _record_ids(run, scope, spec)
    for rid in ids:
        run.ff.records.update(app, form, rid, values, ctx=run.record_ctx(), conn=run.conn)
    return {"input": values, "updated": ids, "form": f"{app}.{form}"}


@action_types.register("delete_record")
def delete_record(run, scope, spec) -> dict:
    app, form = _target(run, spec)
    ids = _record_ids(run, scope, spec)
    for rid in ids:
        run.ff.records.delete(app, form, rid, ctx=run.record_ctx(), conn=run.conn)
    return {"deleted": ids, "form": f"{app}.{form}"}


@action_types.register("for_each")
def for_each(run, scope, spec) -> dict:
    results = []
    for child in scope.rows(spec["subform"]):
        for inner in spec.get("actions") or []:
            results.append(run.action(child, inner))
    return {"rows": len(scope.rows(spec["subform"])), "results": results}


@action_types.register("notify")
def notify(run, scope, spec) -> dict:
    users = list(spec.get("users") or [])
    if spec.get("owner") and run.owner():
        users.append(run.owner())
    if spec.get("roles"):
        # members of directory roles (engine.directory), read in the run's transaction
        from engine.directory import role_members
        users += run.conn.execute(sa.select(role_members.c.user_id).where(
            role_members.c.role_key.in_(list(spec["roles"])))).scalars().all()
    title = scope.eval(spec["title"])
    body = scope.eval(spec["body"]) if isinstance(spec.get("body"), str) else None
    link = ({"app": run.app_key, "form": run.form_key, "id": run.record_id} if run.record_id else None)
    ids = notifications.notify(run.ff, run.conn, users, "" if title is None else str(to_json(title)),
                               None if body is None else str(to_json(body)), link,
                               source=f"automation:{run.app_key}.{run.key}")
    return {"users": list(dict.fromkeys(u for u in users if u)), "title": to_json(title), "notifications": ids}


@action_types.register("webhook")
def call_webhook(run, scope, spec) -> dict:
    """Queue a signed delivery (outbox: it is sent after the run commits, with retries and a log)."""
    data = eval_values(run, scope, spec.get("values"))
    hook_id = webhooks.automation_endpoint(run.ff, run.conn, run.app_key, run.key, spec["url"])
    now = clock.now_iso(run.ff)
    body = orjson.dumps({"type": f"automation.{run.key}", "timestamp": now,
                         "data": {"app": run.app_key, "automation": run.key, "run": run.id,
                                  "record": run.record_id, "values": data}}, default=str).decode()
    delivery_id = "msg_" + str(ULID()).lower()
    run.conn.execute(wt.deliveries.insert().values(
        id=delivery_id, webhook_id=hook_id, event_id=None, event_type=webhooks.AUTOMATION_EVENT, body=body,
        status="pending", attempts=0, next_attempt_at=now, created_at=now))
    return {"input": data, "delivery": delivery_id, "webhook": hook_id}

