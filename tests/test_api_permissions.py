"""The permission service wired into the REST API (issue 5), on SQLite and PostgreSQL:
one record read as three roles through every read path, counts and pages under row
rules, refused filters, projected OpenAPI, imports, and exactly one audit entry per
sensitive action (with an audit API that cannot change entries)."""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from engine import audit, directory
from tests.test_permission_matrix import CUSTOMERS, ORDERS, web  # noqa: F401
from tests.test_permissions import EXPECTED, PASSWORD

PHONE, MASKED = "+8613812345678", "138****5678"


# -- one record, three roles, every read path ----------------------------------------

def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _xlsx_rows(data: bytes) -> list[list]:
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [["" if c is None else str(c) for c in row] for row in ws.iter_rows(values_only=True)]


def read_everywhere(web, name: str, rid: str) -> dict:
    """The record o1 as `name` gets it from get, list, filter, export (csv, xlsx) and history."""
    h = web.hdr(name)
    got = {"get": web.client.get(f"{ORDERS}/{rid}", headers=h).json}
    listed = web.client.get(f"{ORDERS}?limit=100", headers=h).json["records"]
    got["list"] = next(r for r in listed if r["_id"] == rid)
    filtered = web.client.get(f'{ORDERS}?filter=title = "Pumps"', headers=h).json["records"]
    assert [r["_id"] for r in filtered] == [rid]
    got["filter"] = filtered[0]
    exports = {}
    for fmt, parse in (("csv", _csv_rows), ("xlsx", _xlsx_rows)):
        r = web.client.get(f"/api/v1/apps/shop/forms/order/export?format={fmt}&header=key&fields=",
                           headers=h)
        if r.status_code == 403:  # no export right: the same data cannot leak here
            exports[fmt] = None
            continue
        assert r.status_code == 200, r.get_data(as_text=True)
        header, *rows = parse(r.data)
        exports[fmt] = [dict(zip(header, row)) for row in rows]
    got["exports"] = exports
    got["history"] = web.client.get(f"{ORDERS}/{rid}/history", headers=h).json["history"]
    return got


def all_text(got: dict) -> str:
    import json
    return json.dumps(got, default=str)


def test_one_record_three_roles_every_read_path(web):
    o1 = web.o["o1"]
    web.ff.records.update("shop", "order", o1, {"contact_phone": "+8613900001111"},
                          ctx=__import__("engine.records", fromlist=["RecordContext"]).RecordContext(
                              actor=web.u["alice"]))
    # warehouse: amount, margin and contact phone hidden everywhere
    walt = read_everywhere(web, "walt", o1)
    for view in ("get", "list", "filter"):
        assert {"amount", "margin", "contact_phone"}.isdisjoint(walt[view]) and walt[view]["status"] == "confirmed"
    assert walt["exports"] == {"csv": None, "xlsx": None}  # warehouse has no export right
    assert all({"amount", "margin", "contact_phone"}.isdisjoint(e["changes"]) for e in walt["history"])
    assert not any(s in all_text(walt) for s in ("13812345678", "13900001111", MASKED, "139****1111"))
    # finance: contact phone masked everywhere, margin and amount shown
    fiona = read_everywhere(web, "fiona", o1)
    for view in ("get", "list", "filter"):
        assert fiona[view]["contact_phone"] == "139****1111" and fiona[view]["margin"] == "100"
    for fmt in ("csv", "xlsx"):
        row = next(r for r in fiona["exports"][fmt] if r["_id"] == o1) if "_id" in fiona["exports"][fmt][0] \
            else next(r for r in fiona["exports"][fmt] if r["title"] == "Pumps")
        assert row["contact_phone"] == "139****1111" and row["margin"] == "100"
    assert [e["changes"]["contact_phone"] for e in fiona["history"]] == [[None, MASKED], [MASKED, "139****1111"]]
    assert "13812345678" not in all_text(fiona) and "13900001111" not in all_text(fiona)
    # sales (alice owns o1): contact phone in clear, margin hidden everywhere
    alice = read_everywhere(web, "alice", o1)
    for view in ("get", "list", "filter"):
        assert alice[view]["contact_phone"] == "+8613900001111" and "margin" not in alice[view]
    assert alice["exports"] == {"csv": None, "xlsx": None}  # sales may not export orders
    assert all("margin" not in e["changes"] for e in alice["history"])


def test_exports_of_customers_mask_for_finance_and_not_for_sales(web):
    r = web.client.get("/api/v1/apps/shop/forms/customer/export?format=csv&header=key", headers=web.hdr("alice"))
    assert r.status_code == 200
    assert _csv_rows(r.data)[1][:3] == ["Li Lei", "'" + PHONE, "lilei@example.com"]  # (formula escaping)
    # finance may read customers but not export them; what it reads is masked
    assert web.client.get("/api/v1/apps/shop/forms/customer/export", headers=web.hdr("fiona")).status_code == 403
    c = web.client.get(f"{CUSTOMERS}/{web.c1}", headers=web.hdr("fiona")).json
    assert c["phone"] == MASKED and c["email"] == "l***@example.com"


def test_exported_rows_follow_the_export_row_rules(web):
    r = web.client.get("/api/v1/apps/shop/forms/order/export?format=xlsx&header=key", headers=web.hdr("fiona"))
    rows = _xlsx_rows(r.data)
    assert sorted(row[rows[0].index("title")] for row in rows[1:]) == ["Pumps", "Valves"]  # not the turbine
    assert "contact_phone" in rows[0] and PHONE not in str(rows)


# -- counts, pages, filters -------------------------------------------------------------

@pytest.mark.parametrize("name", ["alice", "bob", "fiona", "walt", "admin"])
def test_counts_and_pages_respect_row_rules(web, name):
    seen, cursor, counts = [], None, set()
    for _ in range(10):
        url = f"{ORDERS}?limit=1&count=1" + (f"&cursor={cursor}" if cursor else "")
        page = web.client.get(url, headers=web.hdr(name)).json
        seen += [r["title"] for r in page["records"]]
        counts.add(page["count"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    titles = {"o1": "Pumps", "o2": "Turbine", "o3": "Valves"}
    assert sorted(seen) == sorted(titles[k] for k in EXPECTED[name])
    assert counts == {len(EXPECTED[name])}


def test_no_count_reveals_hidden_rows(web):
    r = web.client.get(f'{ORDERS}?count=1&filter=title = "Turbine"', headers=web.hdr("fiona")).json
    assert r == {"records": [], "next_cursor": None, "count": 0}
    assert web.client.get(f"{ORDERS}?count=1&filter=amount > 100", headers=web.hdr("fiona")).json["count"] == 1


@pytest.mark.parametrize("name,url", [
    ("walt", f"{ORDERS}?filter=amount > 1"),
    ("walt", f"{ORDERS}?sort=-margin"),
    ("walt", f"{ORDERS}?fields=title,contact_phone"),
    ("walt", f"{ORDERS}?count=1&filter=margin > 1"),
    ("fiona", f'{ORDERS}?filter=contact_phone = "{PHONE}"'),
    ("fiona", f"{ORDERS}?sort=contact_phone"),
    ("alice", f"{ORDERS}?filter=margin > 50"),
    ("fiona", "/api/v1/apps/shop/forms/order/export?filter=contact_phone <> \"\""),
    ("fiona", "/api/v1/apps/shop/forms/order/export?sort=contact_phone&fields=title,margin"),
])
def test_a_filter_sort_or_column_on_a_hidden_or_masked_field_is_refused(web, name, url):
    r = web.client.get(url, headers=web.hdr(name))
    assert r.status_code == 400 and r.mimetype == "application/problem+json", r.get_data(as_text=True)
    assert PHONE not in r.get_data(as_text=True)


def test_refusals_name_hidden_fields_like_unknown_ones(web):
    hidden = web.client.get(f"{ORDERS}?filter=margin > 1", headers=web.hdr("walt")).json
    unknown = web.client.get(f"{ORDERS}?filter=nosuch > 1", headers=web.hdr("walt")).json
    assert hidden["errors"][0]["code"] == unknown["errors"][0]["code"]
    export = web.client.get("/api/v1/apps/shop/forms/order/export?fields=margin", headers=web.hdr("alice"))
    assert export.status_code == 403  # alice may not export orders at all
    r = web.client.get("/api/v1/apps/shop/forms/customer/export?fields=name,nosuch", headers=web.hdr("alice"))
    assert r.status_code == 400


# -- the per-app OpenAPI document and the app list ------------------------------------

def test_the_app_document_shows_only_what_the_caller_may_see(web):
    from openapi_spec_validator import validate
    walt = web.client.get("/api/v1/apps/shop/openapi.json", headers=web.hdr("walt")).json
    validate(walt)
    order = walt["components"]["schemas"]["Order"]["properties"]
    assert {"amount", "margin", "contact_phone"}.isdisjoint(order) and "status" in order
    assert order["title"]["readOnly"] is True
    assert set(walt["components"]["schemas"]["OrderInput"]["properties"]) == {"status"}
    assert "Customer" not in walt["components"]["schemas"]
    paths = walt["paths"]
    assert not any("/forms/customer/" in p for p in paths)
    assert set(paths["/apps/shop/forms/order/records/{record_id}"]) == {"get", "patch"}
    assert "/apps/shop/forms/order/records/{record_id}:restore" not in paths
    fiona = web.client.get("/api/v1/apps/shop/openapi.json", headers=web.hdr("fiona")).json
    assert "masked" in fiona["components"]["schemas"]["Order"]["properties"]["contact_phone"]["description"]
    admin = web.client.get("/api/v1/apps/shop/openapi.json", headers=web.hdr("admin")).json
    assert {"amount", "margin"} <= set(admin["components"]["schemas"]["Order"]["properties"])


def test_the_app_list_shows_the_forms_each_caller_has_rights_on(web):
    def forms(name):
        return {a["key"]: [f["key"] for f in a["forms"]]
                for a in web.client.get("/api/v1/apps", headers=web.hdr(name)).json["apps"]}
    assert forms("alice") == {"shop": ["customer", "order"]}
    assert forms("walt") == {"shop": ["order"]}
    assert forms("nobody") == {}
    assert forms("admin") == {"shop": ["customer", "order"]}


# -- imports -------------------------------------------------------------------------------

def _grant_import(web, rows: str | None = None):
    definition = web.client.get("/api/v1/apps/shop", headers=web.hdr("admin")).json
    definition["permissions"].append({
        "key": "warehouse_import", "form": "customer", "who": {"roles": ["warehouse"]},
        "actions": ["import"], "fields": {"name": "editable", "city": "editable", "phone": "hidden"},
        "new_fields": "readonly", **({"rows": rows} if rows else {})})
    r = web.client.put("/api/v1/apps/shop", json=definition, headers=web.hdr("admin"))
    assert r.status_code == 200, r.json


def _upload(web, name, text: str):
    return web.client.post("/api/v1/apps/shop/forms/customer/import?async=0", headers=web.hdr(name),
                           data={"file": (io.BytesIO(text.encode()), "in.csv")})


def test_imports_refuse_columns_of_hidden_or_read_only_fields(web):
    _grant_import(web)
    before = len(web.ff.records.history("shop", "customer", web.c1))
    for text, code in (("name,phone\nA,+8613812345670\n", "unknown"), ("name,email\nA,a@example.com\n", "readonly")):
        r = _upload(web, "walt", text)
        assert r.status_code == 422 and r.json["errors"][0]["code"] == code, r.json
    with web.ff.db.read() as conn:
        from engine import permissions
        assert permissions.form_access(web.ff, web.u["admin"], "shop", "customer").count_records(conn) == 1
    r = _upload(web, "walt", "name,city\nWang Wu,Xi'an\n")
    assert r.status_code == 200 and r.json["created"] == 1
    assert len(web.ff.records.history("shop", "customer", web.c1)) == before
    template = web.client.get("/api/v1/apps/shop/forms/customer/import/template?format=csv&lang=en",
                              headers=web.hdr("walt"))
    assert template.status_code == 403  # the template needs read, which warehouse lacks on customers
    template = web.client.get("/api/v1/apps/shop/forms/customer/import/template?format=csv&lang=en",
                              headers=web.hdr("alice"))
    assert _csv_rows(template.data)[0] == ["Name", "Phone", "Email", "City"]
    template = web.client.get("/api/v1/apps/shop/forms/customer/import/template?format=csv&lang=en",
                              headers=web.hdr("fiona"))
    assert _csv_rows(template.data)[0] == [""] or _csv_rows(template.data) in ([], [[]])


ROWS_IN_AND_OUT = "name,city\nWang Wu,Xi'an\nLi Si,Beijing\nZhao Liu,Xi'an\n"


def _customers(web) -> list[str]:
    from engine import permissions
    with web.ff.db.read() as conn:
        page = permissions.form_access(web.ff, web.u["admin"], "shop", "customer").list_records(conn, limit=50)
    return sorted(r["name"] for r in page.records)


def test_an_import_under_a_row_rule_reports_each_row_outside_it_and_writes_nothing(web):
    _grant_import(web, rows='city = "Xi\'an"')
    before = _customers(web)
    r = _upload(web, "walt", ROWS_IN_AND_OUT)
    assert r.status_code == 422, r.json
    assert [(e["row"], e["code"]) for e in r.json["errors"]] == [(3, "forbidden")]
    assert "outside the rows you may import" in r.json["errors"][0]["message"]
    assert _customers(web) == before


def test_a_good_rows_import_under_a_row_rule_writes_the_rows_inside_it(web):
    _grant_import(web, rows='city = "Xi\'an"')
    before = _customers(web)
    r = web.client.post("/api/v1/apps/shop/forms/customer/import?async=0&mode=good_rows", headers=web.hdr("walt"),
                        data={"file": (io.BytesIO(ROWS_IN_AND_OUT.encode()), "in.csv")})
    assert r.status_code == 200, r.json
    assert r.json["created"] == 2 and [e["row"] for e in r.json["errors"]] == [3]
    assert _customers(web) == sorted(before + ["Wang Wu", "Zhao Liu"])


def test_an_import_job_under_a_row_rule_checks_the_rows_too(web):
    from workflows import jobs
    _grant_import(web, rows='city = "Xi\'an"')
    r = web.client.post("/api/v1/apps/shop/forms/customer/import?async=1&mode=good_rows", headers=web.hdr("walt"),
                        data={"file": (io.BytesIO(ROWS_IN_AND_OUT.encode()), "in.csv")})
    assert r.status_code == 202, r.json
    done = jobs.wait(web.ff, r.json["job"], timeout=60)
    assert done["status"] == "done" and done["result"]["created"] == 2
    assert [e["row"] for e in done["result"]["errors"]] == [3]


# -- audit: exactly one entry per sensitive action --------------------------------------

def entries(web, action: str) -> list[dict]:
    return audit.search(web.ff, action=action, limit=500)["entries"]


def one(web, action: str, **match) -> dict:
    found = entries(web, action)
    assert len(found) == 1, (action, found)
    for k, v in match.items():
        assert found[0][k] == v, (k, found[0])
    return found[0]


def test_logins_logout_and_password_changes_leave_one_entry_each(web):
    c = web.client
    assert c.post("/api/v1/login", json={"username": "alice", "password": "wrong password!"}).status_code == 401
    one(web, "login.failed", actor=None)
    r = c.post("/api/v1/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    one(web, "login.succeeded", actor=web.u["alice"])
    token = c.get("/api/v1/me").json["csrf_token"]
    r = c.post("/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "another long one"},
               headers={"X-CSRFToken": token})
    assert r.status_code == 204
    one(web, "password.changed", actor=web.u["alice"], object_id=web.u["alice"])
    assert c.post("/api/v1/logout", headers={"X-CSRFToken": token}).status_code == 204
    one(web, "logout", actor=web.u["alice"])
    assert len(entries(web, "login.")) == 2


def test_api_keys_leave_one_entry_each(web):
    r = web.client.post("/api/v1/keys", json={"name": "sync", "write": False}, headers=web.hdr("alice"))
    key_id = r.json["id"]
    one(web, "api_key.created", actor=web.u["alice"], object_id=key_id)
    assert web.client.delete(f"/api/v1/keys/{key_id}", headers=web.hdr("alice")).status_code == 204
    one(web, "api_key.revoked", actor=web.u["alice"], object_id=key_id)
    assert r.json["key"] not in str(entries(web, "api_key."))


def test_definition_changes_leave_one_entry_each(web):
    definition = web.client.get("/api/v1/apps/shop", headers=web.hdr("admin")).json
    changed = {**definition, "label": {"en": "Shop 2"}}
    assert web.client.put("/api/v1/apps/shop?dry_run=1", json=changed, headers=web.hdr("admin")).status_code == 200
    assert entries(web, "app.") == []
    assert web.client.put("/api/v1/apps/shop", json=changed, headers=web.hdr("admin")).status_code == 200
    e = one(web, "app.updated", actor=web.u["admin"], object_id="shop")
    assert e["details"]["changed_sections"] == ["label"]
    import copy
    from tests.conftest import REPAIR_APP
    r = web.client.post("/api/v1/apps", json=copy.deepcopy(REPAIR_APP), headers=web.hdr("admin"))
    assert r.status_code == 201, r.json
    one(web, "app.installed", object_id="repair")
    again = web.client.get("/api/v1/apps/repair", headers=web.hdr("admin")).json
    again["label"] = {"en": "Repairs"}
    assert web.client.post("/api/v1/apps/import", json=again, headers=web.hdr("admin")).status_code == 200
    assert len(entries(web, "app.updated")) == 2


def test_permission_and_role_changes_through_the_api_leave_one_entry_each(web):
    h = web.hdr("admin")  # an administrator's API key may use the directory endpoints
    n = len(audit.search(web.ff, limit=500)["entries"])
    assert web.client.post("/api/v1/roles", json={"key": "auditor"}, headers=h).status_code == 201
    assert web.client.put(f"/api/v1/roles/finance/members/{web.u['walt']}", headers=h).status_code == 204
    assert web.client.delete(f"/api/v1/roles/finance/members/{web.u['walt']}", headers=h).status_code == 204
    assert web.client.put("/api/v1/departments/east/members/walt", json={}, headers=h).status_code == 200
    assert web.client.patch(f"/api/v1/users/{web.u['bob']}", json={"is_admin": True}, headers=h).status_code == 200
    all_new = audit.search(web.ff, limit=500)["entries"][: len(audit.search(web.ff, limit=500)["entries"]) - n]
    assert sorted(e["action"] for e in all_new) == sorted(
        ["role.created", "role.granted", "role.revoked", "department.member_added", "user.updated"])
    assert {e["actor"] for e in all_new} == {web.u["admin"]}
    with web.ff.db.read() as conn:
        assert "east" in directory.profile(conn, web.u["walt"])["departments"]


def test_exports_and_unmasked_views_leave_one_entry_each(web):
    h = web.hdr("alice")
    r = web.client.get('/api/v1/apps/shop/forms/customer/export?format=csv&filter=city = "Hangzhou"', headers=h)
    assert r.status_code == 200
    e = one(web, "records.exported", actor=web.u["alice"], app="shop", form="customer")
    assert e["details"]["rows"] == 1 and e["details"]["format"] == "csv"
    assert e["details"]["filter"] == 'city = "Hangzhou"'
    u = one(web, "sensitive.unmasked_view", actor=web.u["alice"])
    assert u["details"]["fields"] == ["phone", "email"] and u["details"]["via"] == "export"
    # a get and a list that show phone and email in clear: one entry per request
    web.client.get(f"{CUSTOMERS}/{web.c1}", headers=h)
    web.client.get(CUSTOMERS, headers=h)
    views = entries(web, "sensitive.unmasked_view")
    assert [v["details"]["via"] for v in views] == ["list", "get", "export"]
    assert views[1]["object_id"] == web.c1
    # masked reads, and reads without sensitive fields, are no unmasked views
    web.client.get(f"{CUSTOMERS}/{web.c1}", headers=web.hdr("fiona"))
    web.client.get(f"{CUSTOMERS}?fields=name,city", headers=h)
    web.client.get(f"{ORDERS}/{web.o['o1']}", headers=web.hdr("walt"))
    assert len(entries(web, "sensitive.unmasked_view")) == 3
    # finance exports orders with the phone masked: an export entry, no unmasked view
    web.client.get("/api/v1/apps/shop/forms/order/export?format=xlsx", headers=web.hdr("fiona"))
    assert len(entries(web, "records.exported")) == 2 and len(entries(web, "sensitive.unmasked_view")) == 3


def test_record_writes_leave_one_entry_linked_to_their_revision(web):
    r = web.client.patch(f"{CUSTOMERS}/{web.c1}", json={"city": "Suzhou"}, headers=web.hdr("alice"))
    assert r.status_code == 200
    e = one(web, "record.updated", actor=web.u["alice"], object_id=web.c1)
    assert e["revision_id"] is not None and e["details"]["fields"] == ["city"]
    # a refused write (new values outside the rows) leaves none
    web.client.patch(f"{ORDERS}/{web.o['o1']}", json={"amount": "250000"}, headers=web.hdr("fiona"))
    assert len(entries(web, "record.updated")) == 1


def test_the_audit_api_cannot_alter_entries(web):
    h = web.hdr("admin")
    listed = web.client.get("/api/v1/audit?limit=5", headers=h)
    assert listed.status_code == 200 and listed.json["entries"]
    first = listed.json["entries"][0]["id"]
    for method in ("PUT", "PATCH", "DELETE"):
        assert web.client.open("/api/v1/audit", method=method, json={}, headers=h).status_code == 405
        assert web.client.open(f"/api/v1/audit/{first}", method=method, json={}, headers=h).status_code == 404
    assert web.client.post("/api/v1/audit", json={}, headers=h).status_code == 405
    assert web.client.get("/api/v1/audit?limit=5", headers=h).json["entries"][0]["id"] == first


def test_members_cannot_search_the_audit_log(web):
    for name in ("alice", "fiona", "walt", "nobody"):
        assert web.client.get("/api/v1/audit", headers=web.hdr(name)).status_code == 403


def test_view_as_with_an_admin_key(web):
    r = web.client.get("/api/v1/apps/shop/forms/order/access?as=walt", headers=web.hdr("admin"))
    assert r.status_code == 200 and r.json["count"] == 2
    assert {"amount", "margin", "contact_phone"}.isdisjoint(r.json["records"][0])
    one(web, "access.viewed_as", actor=web.u["admin"], object_id=web.u["walt"])


def test_cached_list_statements_never_mix_users(web):
    """Row rules fold $user values into the SQL; the statement cache keys on them (extra_key)."""
    def titles(name):
        return sorted(r["title"] for r in web.client.get(f"{ORDERS}?sort=title", headers=web.hdr(name)).json["records"])
    for _ in range(2):
        assert titles("alice") == ["Pumps", "Valves"]
        assert titles("bob") == ["Turbine", "Valves"]
        assert titles("walt") == ["Pumps", "Valves"]
