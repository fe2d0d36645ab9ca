"""The outbox relay: committed ff_events → tasks (webhook deliveries, automation runs).

Events are written by the record lifecycle in the writer's transaction
(engine/events.py), so a rolled-back change leaves no event and sends nothing.
`relay` takes undispatched events in id order, fans each out — in ONE
transaction with marking it `dispatched_at` — into delivery rows (one per
matching webhook subscription) and automation-run rows (one per matching
automation), which the runner then executes (workflows/queue.py). A crash
before the commit leaves the events undispatched, so they are relayed again;
after it, the tasks exist and nothing depends on Redis any more.

Events written by an automation's actions carry their chain depth in
ff_event_origins (a listener of engine.events writes it in the same transaction).
"""
from __future__ import annotations

import contextvars

import orjson
import sqlalchemy as sa

from engine import events, tables
from . import clock, defaults
from . import tables as wt

#: (run id, depth) of the automation run whose actions are writing right now
current_origin: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "formflow_automation_origin", default=None)


@events.subscribe
def _remember_origin(conn, event) -> None:
    origin = current_origin.get()
    if origin is None:
        return
    event_id = event.id
    if event_id is None:  # written by events.emit_many (no RETURNING): find it
        event_id = conn.execute(sa.select(sa.func.max(tables.events.c.id)).where(
            tables.events.c.record_id == event.record_id, tables.events.c.type == event.type)).scalar()
    if event_id is not None:
        conn.execute(wt.event_origins.insert().values(event_id=event_id, run_id=origin[0], depth=origin[1]))


def relay(ff, limit: int = defaults.RELAY_BATCH) -> int:
    """Fan out up to `limit` undispatched events; returns how many were relayed."""
    from . import automations, webhooks
    now = clock.now_iso(ff)
    ev = tables.events
    with ff.db.write() as conn:
        query = sa.select(ev).where(ev.c.dispatched_at.is_(None)).order_by(ev.c.id).limit(limit)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = conn.execute(query).mappings().all()
        if not rows:
            return 0
        ids = [r["id"] for r in rows]
        depths = dict(conn.execute(sa.select(wt.event_origins.c.event_id, wt.event_origins.c.depth)
                                   .where(wt.event_origins.c.event_id.in_(ids))).all())
        hooks = webhooks.active_subscriptions(conn)
        for row in rows:
            event = dict(row, payload=orjson.loads(row["payload"]), depth=depths.get(row["id"], 0))
            if hooks:
                webhooks.fan_out(ff, conn, event, hooks, now)
            automations.fan_out(ff, conn, event, now)
        conn.execute(ev.update().where(ev.c.id.in_(ids)).values(dispatched_at=now))
    return len(rows)


def relay_all(ff) -> int:
    """Relay until the outbox is empty; returns how many events were relayed."""
    total = 0
    while True:
        n = relay(ff)
        total += n
        if n < defaults.RELAY_BATCH:
            return total
