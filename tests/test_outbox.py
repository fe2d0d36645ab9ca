"""The outbox relay: committed events become tasks exactly once, in the writer's order."""
from __future__ import annotations

import sqlalchemy as sa

from engine import events, tables
from workflows import outbox, queue, webhooks
from workflows import tables as wt
from workflows.transport import AllowList, SafeTransport


def _count(ff, table, *where):
    with ff.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()


def test_relay_marks_events_dispatched_and_fans_out_once(repair):
    repair.workflows_transport = SafeTransport(allow=AllowList(["127.0.0.1/32"]))
    webhooks.create(repair, url="http://127.0.0.1:9/a")
    webhooks.create(repair, url="http://127.0.0.1:9/b", event_types=["record.deleted"])
    rec = repair.records.create("repair", "ticket", {"title": "x"})
    repair.records.update("repair", "ticket", rec["_id"], {"qty": 2})
    with repair.db.read() as conn:
        assert len(events.pending(conn)) == 2
    assert outbox.relay(repair) == 2
    assert outbox.relay(repair) == 0                       # nothing relayed twice
    with repair.db.read() as conn:
        assert events.pending(conn) == []
    assert _count(repair, wt.deliveries) == 2              # only the first hook wants these types
    assert _count(repair, tables.events, tables.events.c.dispatched_at.is_(None)) == 0


def test_a_rolled_back_write_leaves_no_event(repair):
    try:
        with repair.db.write() as conn:
            repair.records.create("repair", "ticket", {"title": "x"}, conn=conn)
            raise RuntimeError
    except RuntimeError:
        pass
    assert outbox.relay(repair) == 0 and _count(repair, tables.events) == 0


def test_relay_is_batched_and_drains_everything(repair, monkeypatch):
    from workflows import defaults
    monkeypatch.setattr(defaults, "RELAY_BATCH", 7)
    repair.records.create_many("repair", "ticket", [{"title": str(i)} for i in range(30)])
    assert outbox.relay_all(repair) == 30
    assert queue.drain(repair) == 0


def test_events_written_by_a_run_carry_their_depth(repair):
    token = outbox.current_origin.set(("run_x", 3))
    try:
        repair.records.create("repair", "ticket", {"title": "from a run"})
        repair.records.create_many("repair", "ticket", [{"title": "a"}, {"title": "b"}])
    finally:
        outbox.current_origin.reset(token)
    repair.records.create("repair", "ticket", {"title": "by a person"})
    with repair.db.read() as conn:
        depths = dict(conn.execute(sa.select(wt.event_origins.c.event_id, wt.event_origins.c.depth)).all())
        ids = list(conn.execute(sa.select(tables.events.c.id).order_by(tables.events.c.id)).scalars())
    assert [depths.get(i) for i in ids] == [3, 3, 3, None]
