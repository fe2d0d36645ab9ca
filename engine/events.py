"""Record events: one per change, written to the outbox in the writer's transaction.

Later subsystems (automations, webhooks, audit) subscribe here. A listener runs
inside the same database transaction as the change, so what it writes commits or
rolls back with the change (the transactional-outbox guarantee); listeners that
talk to the outside world must do so from the outbox, never from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import orjson
import sqlalchemy as sa

from . import tables

RECORD_EVENT_TYPES = ("record.created", "record.updated", "record.deleted",
                      "record.restored", "record.purged")


@dataclass
class Event:
    """One change: type, where, who, and the JSON payload."""

    type: str
    app_id: str
    form_id: str | None
    record_id: str | None
    actor: str | None
    at: str
    payload: dict = field(default_factory=dict)
    revision_id: int | None = None
    id: int | None = None


Listener = Callable[[sa.Connection, Event], None]
BatchListener = Callable[[sa.Connection, list], None]
_listeners: list[Listener] = []
_batch_listeners: list[BatchListener] = []


def subscribe(listener: Listener) -> Listener:
    """Call `listener(conn, event)` for every event, inside the change's transaction."""
    _listeners.append(listener)
    return listener


def subscribe_batch(listener: BatchListener) -> BatchListener:
    """Call `listener(conn, events)` once per write with all its events (bulk writes: one call).

    For listeners that write a row per event (the audit log): one executemany instead
    of a statement per record keeps batch imports fast.
    """
    _batch_listeners.append(listener)
    return listener


def unsubscribe(listener) -> None:
    """Stop calling a listener (single or batch)."""
    if listener in _listeners:
        _listeners.remove(listener)
    if listener in _batch_listeners:
        _batch_listeners.remove(listener)


def emit(conn: sa.Connection, event: Event) -> Event:
    """Write the event to the outbox and notify listeners (same transaction)."""
    result = conn.execute(tables.events.insert(), {
        "type": event.type, "app_id": event.app_id, "form_id": event.form_id, "record_id": event.record_id,
        "revision_id": event.revision_id, "actor": event.actor, "at": event.at,
        "payload": orjson.dumps(event.payload, default=_default).decode()})
    event.id = result.inserted_primary_key[0]
    for listener in list(_listeners):
        listener(conn, event)
    for batch_listener in list(_batch_listeners):
        batch_listener(conn, [event])
    return event


def emit_many(conn: sa.Connection, batch: list[Event]) -> list[Event]:
    """Write many events in one executemany (bulk writes), then notify listeners in order.

    Events of a batch get no `id` here (RETURNING would cost one statement per row);
    they are identified by (record_id, payload version) and relayed in id order.
    """
    if len(batch) == 1:
        return [emit(conn, batch[0])]
    rows = [{"type": e.type, "app_id": e.app_id, "form_id": e.form_id, "record_id": e.record_id,
             "revision_id": e.revision_id, "actor": e.actor, "at": e.at,
             "payload": orjson.dumps(e.payload, default=_default).decode()} for e in batch]
    conn.execute(tables.events.insert(), rows)
    for event in batch:
        for listener in list(_listeners):
            listener(conn, event)
    for batch_listener in list(_batch_listeners):
        batch_listener(conn, batch)
    return batch


def pending(conn: sa.Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Events not yet dispatched, oldest first."""
    rows = conn.execute(sa.select(tables.events).where(tables.events.c.dispatched_at.is_(None))
                        .order_by(tables.events.c.id).limit(limit)).mappings().all()
    return [dict(r, payload=orjson.loads(r["payload"])) for r in rows]


def _default(value):
    return str(value)
