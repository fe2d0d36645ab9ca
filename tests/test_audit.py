"""The audit log: one entry per record write linked to its revision, append-only in the database, search."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine import audit, directory, tables, users
from engine.records import RecordContext
from tests.test_permissions import PASSWORD, client_for, login


def entries(ff, **kw):
    return audit.search(ff, limit=500, **kw)["entries"]


def test_every_record_write_leaves_one_entry_linked_to_its_revision(repair):
    ctx = RecordContext(actor="u1")
    rec = repair.records.create("repair", "ticket", {"title": "Pump"}, ctx=ctx)
    rid = rec["_id"]
    repair.records.update("repair", "ticket", rid, {"qty": 2}, ctx=ctx)
    repair.records.update("repair", "ticket", rid, {"qty": 2}, ctx=ctx)          # no change: no write
    repair.records.delete("repair", "ticket", rid, ctx=ctx)
    repair.records.restore("repair", "ticket", rid, ctx=ctx)
    many = repair.records.create_many("repair", "ticket", [{"title": "a"}, {"title": "b"}], ctx=ctx)
    got = entries(repair, object=f"record:{rid}")
    assert [e["action"] for e in got] == ["record.restored", "record.deleted", "record.updated", "record.created"]
    history = {h["version"]: h["revision_id"] for h in repair.records.history("repair", "ticket", rid)}
    assert {e["version"]: e["revision_id"] for e in got} == history
    assert got[2]["details"] == {"fields": ["qty"]} and got[0]["actor"] == "u1"
    assert got[0]["app"] == "repair" and got[0]["form"] == "ticket"
    for r in many:   # batch inserts: linked through (form, record, version)
        (e,) = entries(repair, object=f"record:{r['_id']}")
        assert e["revision_id"] == repair.records.history("repair", "ticket", r["_id"])[0]["revision_id"]
    assert len(entries(repair, action="record.")) == 6


def test_the_database_refuses_update_and_delete(repair):
    audit.record(repair, "login.succeeded", actor="u1", ip="10.0.0.1")
    for statement in (audit.audit_log.update().values(actor="someone else"), audit.audit_log.delete()):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with repair.db.write() as conn:
                conn.execute(statement)
    (e,) = entries(repair, action="login.succeeded")
    assert e["actor"] == "u1" and e["ip"] == "10.0.0.1"


def test_a_rolled_back_write_leaves_no_entry(repair):
    with pytest.raises(RuntimeError):
        with repair.db.write() as conn:
            repair.records.create("repair", "ticket", {"title": "x"}, conn=conn)
            raise RuntimeError("abort")
    assert entries(repair) == []


def test_search_by_actor_object_action_time_and_pages(repair):
    for i in range(5):
        audit.record(repair, "export.csv" if i % 2 else "login.failed", actor=f"u{i % 2}",
                     object_type="form", object_id="repair.ticket", details={"i": i})
    assert [e["details"]["i"] for e in entries(repair, actor="u1")] == [3, 1]
    assert len(entries(repair, action="login.failed")) == 3 and len(entries(repair, action="login.")) == 3
    assert len(entries(repair, object="form:repair.ticket")) == 5 and entries(repair, object="role") == []
    first = audit.search(repair, limit=2)
    second = audit.search(repair, limit=2, cursor=first["next_cursor"])
    third = audit.search(repair, limit=2, cursor=second["next_cursor"])
    assert [e["details"]["i"] for e in first["entries"] + second["entries"] + third["entries"]] == [4, 3, 2, 1, 0]
    assert third["next_cursor"] is None
    stamp = entries(repair)[2]["at"]
    assert [e["details"]["i"] for e in entries(repair, since=stamp)] == [4, 3, 2]
    assert [e["details"]["i"] for e in entries(repair, until=stamp)] == [1, 0]
    assert entries(repair, since="2999-01-01") == []
    with pytest.raises(audit.AuditQueryError):
        audit.search(repair, since="yesterday")
    with pytest.raises(audit.AuditQueryError):
        audit.search(repair, cursor="garbage")


def test_directory_changes_are_audited(ff):
    uid = users.add_user(ff, "ann", None)["id"]
    directory.add_role(ff, "sales", actor="admin1", ip="127.0.0.1")
    directory.grant_role(ff, "sales", uid, actor="admin1")
    directory.add_department(ff, "Sales", id="sales", actor="admin1")
    directory.add_member(ff, "sales", uid, actor="admin1")
    got = [(e["action"], e["object_id"]) for e in entries(ff, actor="admin1")]
    assert got == [("department.member_added", "sales"), ("department.created", "sales"),
                   ("role.granted", "sales"), ("role.created", "sales")]


def test_audit_endpoint_searches_and_cannot_alter(repair):
    users.add_user(repair, "boss", PASSWORD, admin=True)
    repair.records.create("repair", "ticket", {"title": "Pump"}, ctx=RecordContext(actor="u1"))
    client = client_for(repair)
    h = login(client, "boss")
    r = client.get("/api/v1/audit?action=record.created&limit=10")
    assert r.status_code == 200 and [e["actor"] for e in r.json["entries"]] == ["u1"]
    assert client.get("/api/v1/audit?limit=0").status_code == 400
    assert client.get("/api/v1/audit?since=never").status_code == 400
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)("/api/v1/audit", headers=h).status_code == 405
    # nothing was altered: the record write and the sign-in (audited since the API wiring)
    assert [e["action"] for e in client.get("/api/v1/audit").json["entries"]] == ["login.succeeded",
                                                                                  "record.created"]


def test_access_review_report(shop_ff):
    from engine import access_review
    ff, u = shop_ff
    with ff.db.write() as conn:
        conn.execute(tables.users.update().where(tables.users.c.username == "bob")
                     .values(last_login_at="2000-01-01T00:00:00.000000Z", created_at="2000-01-01T00:00:00.000000Z"))
    rep = access_review.report(ff, days=30)
    assert [x["username"] for x in rep["inactive"]] == ["bob"]
    assert {x["username"] for x in access_review.inactive_accounts(ff, 0)} >= {"alice", "fiona", "walt"}
    phone = next(f for f in rep["sensitive_fields"] if (f["form"], f["field"]) == ("order", "contact_phone"))
    assert {(r["username"], r["masked"]) for r in phone["readers"]} == {
        ("admin", False), ("alice", False), ("bob", False), ("fiona", True)}
    assert next(r for r in phone["readers"] if r["username"] == "fiona")["via"] == ["finance_orders"]
    if getattr(tables, "api_keys", None) is not None:
        from engine import api_keys
        api_keys.create_key(ff, u["walt"], name="old laptop")
        users.update_user(ff, u["walt"], is_active=False)
        (walt,) = access_review.disabled_with_api_keys(ff)
        assert walt["username"] == "walt" and walt["keys"][0]["name"] == "old laptop"
    client = client_for(ff)
    login(client, "admin")
    body = client.get("/api/v1/access-review?days=30").json
    assert body["days"] == 30 and "walt" not in {x["username"] for x in body["inactive"]}
    assert client.get("/api/v1/access-review?days=x").status_code == 400


def test_access_review_with_more_days_than_the_calendar_has(shop_ff):
    """days is only bounded below: a cutoff before year 1 used to raise OverflowError (500)."""
    from engine import access_review
    ff, _ = shop_ff
    assert access_review.inactive_accounts(ff, 10**6) == []
    client = client_for(ff)
    login(client, "admin")
    r = client.get("/api/v1/access-review?days=739955")
    assert r.status_code == 200 and r.json["days"] == 739955 and r.json["inactive"] == []


@pytest.fixture
def shop_ff(ff):
    from tests.test_permissions import make_shop
    shop = make_shop(ff)
    return ff, shop.u
