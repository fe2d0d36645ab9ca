"""Group counts of the table view (builder_ui.aggregates): text grouped as filters compare it,
and an indexed field counted from its index."""
from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from builder_ui.aggregates import group_counts
from tests.conftest import REPAIR_APP


def _app(indexed_status: bool = False) -> dict:
    defn = copy.deepcopy(REPAIR_APP)
    if indexed_status:
        defn["forms"][0]["fields"][2]["indexed"] = True
    return defn


def _counts(ff, key, filter=None):
    _, form = ff.form("repair", "ticket")
    with ff.db.read() as conn:
        return group_counts(conn, ff, form, key, filter)


def test_texts_differing_only_in_case_are_one_group_shown_as_stored(ff):
    ff.apps.install(_app())
    for title in ("Pump", "pump", "PUMP", "Valve"):
        ff.records.create("repair", "ticket", {"title": title})
    groups = _counts(ff, "title")
    assert [n for _v, n in groups] == [3, 1]
    assert groups[0][0] in ("Pump", "pump", "PUMP") and groups[1][0] == "Valve"


def test_an_indexed_texts_groups_are_shown_as_stored_too(ff):
    defn = _app()
    defn["forms"][0]["fields"][0]["indexed"] = True
    ff.apps.install(defn)
    for title in ("Pump", "pump", "Valve"):
        ff.records.create("repair", "ticket", {"title": title})
    groups = _counts(ff, "title")
    assert [n for _v, n in groups] == [2, 1]
    assert groups[0][0] in ("Pump", "pump") and groups[1][0] == "Valve"


def test_options_are_shown_as_defined(ff):
    ff.apps.install(_app(indexed_status=True))
    for status in ("open", "open", "closed", None):
        ff.records.create("repair", "ticket", {"title": "t", "status": status})
    groups = _counts(ff, "status")
    assert groups[0] == ("open", 2) and dict(groups) == {"open": 2, "closed": 1, None: 1}


def test_counts_follow_the_filter_and_leave_out_the_trash(ff):
    ff.apps.install(_app(indexed_status=True))
    a = ff.records.create("repair", "ticket", {"title": "a", "status": "open", "qty": 1})
    ff.records.create("repair", "ticket", {"title": "b", "status": "open", "qty": 5})
    ff.records.create("repair", "ticket", {"title": "c", "status": "closed", "qty": 5})
    ff.records.delete("repair", "ticket", a["_id"])
    assert _counts(ff, "status") == [("closed", 1), ("open", 1)]
    assert _counts(ff, "status", "qty = 5") == [("closed", 1), ("open", 1)]


def test_an_indexed_field_is_counted_from_its_index_on_sqlite(make_ff, sqlite_url):
    ff = make_ff(sqlite_url)
    ff.apps.install(_app(indexed_status=True))
    ff.records.create("repair", "ticket", {"title": "t", "status": "open"})
    _, form = ff.form("repair", "ticket")
    ft = ff.form_table(form)
    field = form.fields_by_key["status"]
    value = ft.value(field.id, field.type.sql_type, True)
    query = (sa.select(value, sa.func.count()).select_from(ft.table).where(ft.c.deleted_at.is_(None))
             .group_by(value))
    with ff.db.read() as conn:
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        plan = " | ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all())
    assert "INDEX ix_" in plan and "TEMP B-TREE" not in plan, plan
