"""The record lifecycle: create, update, delete, restore, purge, history — on SQLite and PostgreSQL."""
from __future__ import annotations

import copy
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine import events, tables
from engine.errors import Conflict, NotFound, RecordValidationError, StaleVersion
from engine.records import RecordContext
from tests.conftest import REPAIR_APP


def count(ff, table) -> int:
    with ff.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def ticket(repair, **values):
    values.setdefault("title", "Pump leaks")
    return repair.records.create("repair", "ticket", values, ctx=RecordContext(actor="u1"))


def test_create_returns_values_and_system_fields(repair):
    rec = ticket(repair, qty=2, status="open")
    assert rec["title"] == "Pump leaks" and rec["qty"] == Decimal(2) and rec["status"] == "open"
    assert rec["_version"] == 1 and rec["_owner"] == "u1" and rec["_created_by"] == "u1"
    assert rec["_deleted_at"] is None and rec["_created_at"].endswith("Z")


def test_get_returns_what_create_returned(repair):
    rec = ticket(repair, qty=3)
    assert repair.records.get("repair", "ticket", rec["_id"]) == rec


def test_unknown_field_is_rejected_with_a_suggestion(repair):
    with pytest.raises(RecordValidationError) as err:
        ticket(repair, titel="x")
    assert err.value.errors[0]["location"] == "titel"
    assert "did you mean 'title'" in err.value.errors[0]["message"]


def test_system_fields_cannot_be_written(repair):
    with pytest.raises(RecordValidationError) as err:
        ticket(repair, _id="abc", _version=7)
    assert {e["location"] for e in err.value.errors} == {"_id", "_version"}


def test_computed_fields_cannot_be_written(repair):
    with pytest.raises(RecordValidationError) as err:
        ticket(repair, total=5)
    assert err.value.errors[0]["location"] == "total"


def test_required_field_missing(repair):
    with pytest.raises(RecordValidationError) as err:
        repair.records.create("repair", "ticket", {"qty": 1})
    assert err.value.errors == [{"location": "title", "message": "title is required", "code": "required"}]


def test_every_error_is_reported_at_once(repair):
    with pytest.raises(RecordValidationError) as err:
        repair.records.create("repair", "ticket", {"qty": -1, "status": "opne", "nope": 1})
    locations = {e["location"] for e in err.value.errors}
    assert {"qty", "status", "nope", "title"} <= locations


def test_an_invalid_record_writes_nothing(repair):
    before = (count(repair, tables.revisions), count(repair, tables.events))
    with pytest.raises(RecordValidationError):
        ticket(repair, qty="many")
    assert (count(repair, tables.revisions), count(repair, tables.events)) == before


def test_formula_is_computed_from_subform_rows(repair):
    rec = ticket(repair, qty=2, parts=[{"part": "seal", "price": "1.10"}, {"part": "bolt", "price": "2.20"}])
    assert rec["total"] == Decimal("6.60")
    assert all(row["_id"] for row in rec["parts"])


def test_formula_is_recomputed_on_update(repair):
    rec = ticket(repair, qty=2, parts=[{"part": "seal", "price": "1.10"}])
    rec = repair.records.update("repair", "ticket", rec["_id"], {"qty": 5})
    assert rec["total"] == Decimal("5.50") and rec["_version"] == 2


def test_update_keeps_unchanged_values(repair):
    rec = ticket(repair, qty=2, status="open")
    rec = repair.records.update("repair", "ticket", rec["_id"], {"status": "closed"})
    assert rec["qty"] == Decimal(2) and rec["status"] == "closed"


def test_update_with_a_stale_version_is_refused(repair):
    rec = ticket(repair, qty=1)
    repair.records.update("repair", "ticket", rec["_id"], {"qty": 2}, expected_version=1)
    with pytest.raises(StaleVersion):
        repair.records.update("repair", "ticket", rec["_id"], {"qty": 3}, expected_version=1)


def test_an_update_without_changes_makes_no_version(repair):
    rec = ticket(repair, qty=1)
    again = repair.records.update("repair", "ticket", rec["_id"], {"qty": 1})
    assert again["_version"] == 1


def test_delete_moves_to_trash_and_restore_brings_back(repair):
    rec = ticket(repair, qty=1)
    repair.records.delete("repair", "ticket", rec["_id"])
    with pytest.raises(NotFound):
        repair.records.get("repair", "ticket", rec["_id"])
    assert repair.records.get("repair", "ticket", rec["_id"], include_deleted=True)["_deleted_at"]
    restored = repair.records.restore("repair", "ticket", rec["_id"])
    assert restored["_deleted_at"] is None and restored["qty"] == Decimal(1)


def test_purge_only_from_the_trash(repair):
    rec = ticket(repair)
    with pytest.raises(Conflict):
        repair.records.purge("repair", "ticket", rec["_id"])
    repair.records.delete("repair", "ticket", rec["_id"])
    repair.records.purge("repair", "ticket", rec["_id"])
    with pytest.raises(NotFound):
        repair.records.get("repair", "ticket", rec["_id"], include_deleted=True)


def test_history_lists_who_changed_what(repair):
    rec = ticket(repair, qty=1)
    repair.records.update("repair", "ticket", rec["_id"], {"qty": 4}, ctx=RecordContext(actor="u2"))
    history = repair.records.history("repair", "ticket", rec["_id"])
    assert [h["action"] for h in history] == ["create", "update"]
    assert history[1]["actor"] == "u2"
    assert history[1]["changes"]["qty"] == ["1", "4"]


def test_revert_restores_an_earlier_version(repair):
    rec = ticket(repair, qty=1, status="open")
    repair.records.update("repair", "ticket", rec["_id"], {"qty": 9, "status": "closed"})
    back = repair.records.revert("repair", "ticket", rec["_id"], 1)
    assert back["qty"] == Decimal(1) and back["status"] == "open" and back["_version"] == 3


def test_link_to_a_missing_record_is_refused(repair):
    with pytest.raises(RecordValidationError) as err:
        ticket(repair, machine="01nosuchrecord")
    assert err.value.errors[0]["location"] == "machine"


def test_unique_values_conflict_and_free_up_on_delete(repair):
    m = repair.records.create("repair", "machine", {"name": "Press 1"})
    with pytest.raises(Conflict) as err:
        repair.records.create("repair", "machine", {"name": "press 1"})
    assert "name" in str(err.value)
    repair.records.delete("repair", "machine", m["_id"])
    repair.records.create("repair", "machine", {"name": "Press 1"})
    with pytest.raises(Conflict):
        repair.records.restore("repair", "machine", m["_id"])


def test_batch_is_all_or_nothing_with_row_locations(repair):
    with pytest.raises(RecordValidationError) as err:
        repair.records.create_many("repair", "ticket", [{"title": "a"}, {"qty": 1}, {"title": "c", "qty": -5}])
    assert {e["location"] for e in err.value.errors} == {"rows[1].title", "rows[2].qty"}
    with repair.db.read() as conn:
        ft = repair.form_table(repair.form("repair", "ticket")[1])
        assert conn.execute(sa.select(sa.func.count()).select_from(ft.table)).scalar() == 0


def test_one_event_per_change_in_the_outbox(repair):
    rec = ticket(repair, qty=1)
    repair.records.update("repair", "ticket", rec["_id"], {"qty": 2})
    repair.records.delete("repair", "ticket", rec["_id"])
    repair.records.restore("repair", "ticket", rec["_id"])
    with repair.db.read() as conn:
        pending = events.pending(conn)
    assert [e["type"] for e in pending] == ["record.created", "record.updated", "record.deleted", "record.restored"]
    assert pending[1]["payload"]["changes"] == {"qty": ["1", "2"], "total": ["0", "0"]} or \
        pending[1]["payload"]["changes"]["qty"] == ["1", "2"]


def test_a_rolled_back_write_emits_nothing(repair):
    before = count(repair, tables.events)
    with pytest.raises(RuntimeError):
        with repair.db.write() as conn:
            repair.records.create("repair", "ticket", {"title": "x"}, conn=conn)
            raise RuntimeError("boom")
    assert count(repair, tables.events) == before


def test_listeners_run_inside_the_transaction(repair):
    seen = []
    listener = events.subscribe(lambda conn, event: seen.append(event.type))
    try:
        ticket(repair)
    finally:
        events.unsubscribe(listener)
    assert seen == ["record.created"]


def test_an_empty_batch_writes_nothing(repair):
    before = (count(repair, tables.revisions), count(repair, tables.events))
    assert repair.records.create_many("repair", "ticket", []) == []
    assert (count(repair, tables.revisions), count(repair, tables.events)) == before
