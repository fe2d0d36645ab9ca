"""The permission service: actions, row rules (SQL = Python), field rights, masking, explain, view-as."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine import directory, permissions, users
from engine.errors import DefinitionError, NotFound, RecordValidationError
from engine.queries import QueryError
from engine.records import RecordContext

SHOP = json.loads((Path(__file__).resolve().parent.parent / "examples" / "shop.json").read_text())
PASSWORD = "correct horse battery"


def make_shop(ff):
    """The shop example with sales (east, west), finance and warehouse users and three orders."""
    ff.apps.install(copy.deepcopy(SHOP))
    u = {name: users.add_user(ff, name, None)["id"] for name in ("alice", "bob", "fiona", "walt", "nobody")}
    u["admin"] = users.add_user(ff, "admin", PASSWORD, admin=True)["id"]
    for role in ("sales", "finance", "warehouse", "shop_admin"):
        directory.add_role(ff, role)
    directory.grant_role(ff, "sales", u["alice"])
    directory.grant_role(ff, "sales", u["bob"])
    directory.grant_role(ff, "finance", u["fiona"])
    directory.grant_role(ff, "warehouse", u["walt"])
    directory.add_department(ff, "Sales", id="sales")
    directory.add_department(ff, "Sales East", id="east", parent="sales")
    directory.add_department(ff, "Sales West", id="west", parent="sales")
    directory.add_member(ff, "east", u["alice"])
    directory.add_member(ff, "west", u["bob"])

    def order(actor, **values):
        return ff.records.create("shop", "order", values, ctx=RecordContext(actor=u[actor]))["_id"]
    o = {
        "o1": order("alice", title="Pumps", department="east", amount="500", margin=100,
                    contact_phone="+8613812345678", status="confirmed"),
        "o2": order("bob", title="Turbine", department="west", amount="200000", margin=9000, status="draft"),
        "o3": order("bob", title="Valves", department="east", amount="50", margin=5, status="shipped"),
    }
    return SimpleNamespace(ff=ff, u=u, o=o)


@pytest.fixture
def shop(ff):
    return make_shop(ff)


EXPECTED = {"alice": {"o1", "o3"}, "bob": {"o2", "o3"}, "fiona": {"o1", "o3"}, "walt": {"o1", "o3"},
            "nobody": set(), "admin": {"o1", "o2", "o3"}}


def names(shop, ids):
    back = {v: k for k, v in shop.o.items()}
    return {back[i] for i in ids}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_get_list_and_count_agree_on_the_rows_of_each_user(shop, who):
    fa = permissions.form_access(shop.ff, shop.u[who], "shop", "order")
    got = set()
    for key, rid in shop.o.items():
        record = shop.ff.records.get("shop", "order", rid)
        assert fa.allows(record) == (key in EXPECTED[who])
        if fa.can("read"):
            try:
                fa.get(rid)
                got.add(key)
            except NotFound:
                pass
    with shop.ff.db.read() as conn:
        if fa.can("read"):
            listed = names(shop, [r["_id"] for r in fa.list_records(conn, limit=100).records])
            count = fa.count_records(conn)
        else:
            listed, count = set(), 0
            with pytest.raises(permissions.Forbidden):
                fa.list_records(conn)
    assert got == listed == EXPECTED[who] and count == len(EXPECTED[who])


def test_count_with_a_filter_never_reveals_hidden_rows(shop):
    fa = permissions.form_access(shop.ff, shop.u["fiona"], "shop", "order")
    with shop.ff.db.read() as conn:
        assert fa.count_records(conn, filter='title = "Turbine"') == 0
        assert fa.count_records(conn, filter="amount > 100") == 1   # not the 200000 one


def test_hidden_fields_are_absent_and_sensitive_fields_masked(shop):
    ff, o1 = shop.ff, shop.o["o1"]
    walt = permissions.form_access(ff, shop.u["walt"], "shop", "order").get(o1)
    assert {"amount", "margin", "contact_phone"}.isdisjoint(walt) and walt["status"] == "confirmed"
    assert walt["_id"] == o1 and walt["_owner"] == shop.u["alice"]
    fiona = permissions.form_access(ff, shop.u["fiona"], "shop", "order").get(o1)
    assert fiona["contact_phone"] == "138****5678" and fiona["amount"] == "500.00" and fiona["margin"] == "100"
    alice = permissions.form_access(ff, shop.u["alice"], "shop", "order").get(o1)
    assert alice["contact_phone"] == "+8613812345678" and "margin" not in alice
    admin = permissions.form_access(ff, shop.u["admin"], "shop", "order").get(o1)
    assert admin["contact_phone"] == "+8613812345678" and admin["margin"] == "100"


def test_history_is_projected_like_records(shop):
    ff, o1 = shop.ff, shop.o["o1"]
    ff.records.update("shop", "order", o1, {"contact_phone": "+8613900001111", "margin": 120},
                      ctx=RecordContext(actor=shop.u["alice"]))
    fiona = permissions.form_access(ff, shop.u["fiona"], "shop", "order").history(o1)
    assert [e["changes"]["contact_phone"] for e in fiona] == [[None, "138****5678"], ["138****5678", "139****1111"]]
    assert fiona[1]["changes"]["margin"] == ["100", "120"]
    walt = permissions.form_access(ff, shop.u["walt"], "shop", "order").history(o1)
    assert all({"amount", "margin", "contact_phone"}.isdisjoint(e["changes"]) for e in walt)
    assert walt[1]["changes"] == {}
    with pytest.raises(NotFound):
        permissions.form_access(ff, shop.u["alice"], "shop", "order").history(shop.o["o2"])


def test_project_json_and_changes_for_webhooks_and_exports(shop):
    fa = permissions.form_access(shop.ff, shop.u["fiona"], "shop", "customer")
    row = {"_id": "x", "name": "Li Lei", "phone": "+8613812345678", "email": "lilei@example.com", "city": "Xi'an"}
    assert fa.project_json(row) == {"_id": "x", "name": "Li Lei", "phone": "138****5678",
                                    "email": "l***@example.com", "city": "Xi'an"}
    assert fa.project_changes({"email": [None, "lilei@example.com"]}) == {"email": [None, "l***@example.com"]}
    walt = permissions.form_access(shop.ff, shop.u["walt"], "shop", "customer")
    assert not walt.can("read") and walt.project_json(row) == {"_id": "x"}


def test_filter_or_sort_on_a_hidden_or_masked_field_is_refused(shop):
    walt = permissions.form_access(shop.ff, shop.u["walt"], "shop", "order")
    fiona = permissions.form_access(shop.ff, shop.u["fiona"], "shop", "order")
    with shop.ff.db.read() as conn:
        with pytest.raises(QueryError, match="unknown field 'amount'"):
            walt.list_records(conn, filter="amount > 100")
        with pytest.raises(QueryError, match="unknown field 'margin'"):
            walt.count_records(conn, filter="margin > 1")
        with pytest.raises(QueryError, match="unknown field 'margin'"):
            walt.list_records(conn, sort="-margin")
        with pytest.raises(QueryError, match="masked"):
            fiona.list_records(conn, sort="contact_phone")
        with pytest.raises(QueryError, match="unknown field 'contact_phone'"):
            fiona.list_records(conn, filter='contact_phone = "+8613812345678"')
        assert len(walt.list_records(conn, filter='status = "shipped"', sort="-_created_at").records) == 1


def test_writes_of_hidden_readonly_and_system_fields_are_refused(shop):
    ff = shop.ff
    walt = permissions.form_access(ff, shop.u["walt"], "shop", "order")
    record = ff.records.get("shop", "order", shop.o["o1"])
    with pytest.raises(RecordValidationError) as err:
        walt.check_write({"amount": "1", "title": "x", "_owner": walt.subject.id, "status": "shipped"},
                         "update", record)
    assert {(e["location"], e["code"]) for e in err.value.errors} == {
        ("amount", "unknown"), ("title", "readonly"), ("_owner", "readonly")}
    walt.check_write({"status": "shipped"}, "update", record)          # allowed
    with pytest.raises(permissions.Forbidden):
        walt.check_write({"status": "draft"}, "create")
    draft = ff.records.get("shop", "order", shop.o["o2"])
    with pytest.raises(NotFound):                                       # outside walt's rows
        walt.check_write({"status": "shipped"}, "update", draft)
    alice = permissions.form_access(ff, shop.u["alice"], "shop", "order")
    alice.check_write({"title": "New", "amount": "5"}, "create")
    with pytest.raises(RecordValidationError):
        alice.check_write({"title": "New", "margin": 3}, "create")
    # o3 is readable by alice (department rule) but only her own orders are updatable
    o3 = ff.records.get("shop", "order", shop.o["o3"])
    assert alice.allows(o3, "read") and not alice.allows(o3, "update")
    with pytest.raises(NotFound):
        alice.check_write({"title": "mine now"}, "update", o3)


def test_department_rules_follow_the_directory(shop):
    ff = shop.ff
    # bob moves to east as well: he now reads every east order through the department set
    directory.add_member(ff, "east", shop.u["bob"])
    fa = permissions.form_access(ff, shop.u["bob"], "shop", "order")
    with ff.db.read() as conn:
        assert names(shop, [r["_id"] for r in fa.list_records(conn).records]) == {"o1", "o2", "o3"}
    assert fa.subject.primary_department == "west" and fa.subject.expr_user()["subdepartments"] == ["east", "west"]
    # a member of the parent department reaches every sub-department's orders
    directory.add_member(ff, "sales", shop.u["nobody"])
    nobody = permissions.form_access(ff, shop.u["nobody"], "shop", "order")
    assert nobody.actions == {"read"} and nobody.grants[0].via == ["department sales"]
    with ff.db.read() as conn:
        assert nobody.count_records(conn) == 3


def test_rules_with_user_values_on_both_paths(shop):
    ff = shop.ff
    defn = copy.deepcopy(ff.app("shop").definition)
    defn["permissions"].append({"key": "mine_by_name", "form": "order", "who": {"users": [shop.u["nobody"]]},
                                "actions": ["read"], "new_fields": "readonly",
                                "rows": 'OR(title = $user.username, AND(margin >= 100, status <> "draft"))'})
    ff.apps.install(defn)
    ff.records.create("shop", "order", {"title": "NOBODY", "status": "draft"}, ctx=RecordContext(actor="x"))
    fa = permissions.form_access(ff, shop.u["nobody"], "shop", "order")
    with ff.db.read() as conn:
        listed = [r["title"] for r in fa.list_records(conn, sort="title").records]
    assert listed == ["NOBODY", "Pumps"]     # text compares case-insensitively, as in formulas
    everything = permissions.form_access(ff, shop.u["admin"], "shop", "order")
    with ff.db.read() as conn:
        all_ids = [r["_id"] for r in everything.list_records(conn).records]
        listed = sorted(r["_id"] for r in fa.list_records(conn).records)
    assert sorted(r for r in all_ids if fa.allows(ff.records.get("shop", "order", r))) == listed


def test_new_fields_get_the_default_each_set_states(shop):
    ff = shop.ff
    defn = copy.deepcopy(ff.app("shop").definition)
    order = next(f for f in defn["forms"] if f["key"] == "order")
    order["fields"].append({"key": "discount", "type": "number", "label": {"en": "Discount"}})
    wh = next(p for p in defn["permissions"] if p["key"] == "warehouse_orders")
    del wh["new_fields"]                       # unstated: hidden
    ff.apps.install(defn)
    right = {who: permissions.form_access(ff, shop.u[who], "shop", "order").right("discount")
             for who in ("alice", "fiona", "walt", "nobody", "admin")}
    assert right == {"alice": "editable", "fiona": "readonly", "walt": "hidden", "nobody": "hidden",
                     "admin": "editable"}


def test_view_as_equals_the_users_own_view(shop):
    ff = shop.ff
    for who in ("alice", "fiona", "walt"):
        own = permissions.form_access(ff, users.user_by_id(ff, shop.u[who]), "shop", "order")
        seen = permissions.view_as(ff, shop.u[who], "shop", "order")
        with ff.db.read() as conn:
            assert own.list_records(conn).records == seen.list_records(conn).records
        assert own.rights == seen.rights and own.actions == seen.actions


def test_explain_names_the_granting_set_and_rule(shop):
    ff = shop.ff
    alice = permissions.form_access(ff, shop.u["alice"], "shop", "order")
    o3 = ff.records.get("shop", "order", shop.o["o3"])
    why = alice.explain(record=o3, field="margin")
    assert why["record"]["visible"] and why["record"]["granted_by"] == [
        {"set": "sales_department_orders", "via": ["department sales"],
         "rule": "CONTAINS($user.subdepartments, department)"}]
    assert "sales_department_orders" in why["record"]["reason"]
    assert why["field"]["right"] == "hidden" and "hides it" in why["field"]["reason"]
    assert why["actions"]["update"] == ["sales_own_orders"]
    o2 = ff.records.get("shop", "order", shop.o["o2"])
    no = alice.explain(record=o2)["record"]
    assert not no["visible"] and "do not match" in no["reason"]
    fiona = permissions.form_access(ff, shop.u["fiona"], "shop", "order").explain(field="contact_phone")
    assert fiona["field"]["right"] == "readonly" and fiona["field"]["masked"]
    assert "finance_orders" in fiona["field"]["reason"] and "masked" in fiona["field"]["reason"]
    amount = permissions.form_access(ff, shop.u["fiona"], "shop", "order").explain(field="amount")["field"]
    assert amount["granted_by"] == [{"set": "finance_orders", "right": "editable", "explicit": True}]


def test_owner_sets_reach_only_own_records(shop):
    ff = shop.ff
    defn = copy.deepcopy(ff.app("shop").definition)
    defn["permissions"].append({"key": "own", "form": "customer", "who": {"owner": True},
                                "actions": ["read"], "new_fields": "readonly"})
    ff.apps.install(defn)
    mine = ff.records.create("shop", "customer", {"name": "Mine"}, ctx=RecordContext(actor=shop.u["walt"]))
    ff.records.create("shop", "customer", {"name": "Other"}, ctx=RecordContext(actor=shop.u["alice"]))
    fa = permissions.form_access(ff, shop.u["walt"], "shop", "customer")
    with ff.db.read() as conn:
        assert [r["name"] for r in fa.list_records(conn).records] == ["Mine"]
    assert fa.explain(record=mine)["record"]["granted_by"][0]["rule"] == "_owner = $user.id"
    assert fa.get(mine["_id"])["phone"] is None


def test_app_level_rights_and_inactive_users(shop):
    ff = shop.ff
    assert not permissions.app_access(ff, shop.u["alice"], "shop").can("edit_definition")
    directory.grant_role(ff, "shop_admin", shop.u["alice"])
    access = permissions.app_access(ff, shop.u["alice"], "shop")
    assert access.can("manage_permissions") and access.granted_by["edit_definition"] == ["shop_admins"]
    with pytest.raises(permissions.Forbidden):
        permissions.app_access(ff, shop.u["walt"], "shop").require("manage_automations")
    users.update_user(ff, shop.u["alice"], is_active=False)
    assert not permissions.form_access(ff, shop.u["alice"], "shop", "order").actions
    assert not permissions.app_access(ff, shop.u["alice"], "shop").rights


def test_an_app_without_permissions_is_open_but_masks(repair):
    uid = users.add_user(repair, "plain", None)["id"]
    fa = permissions.form_access(repair, uid, "repair", "ticket")
    assert fa.actions == set(permissions.pm.RECORD_ACTIONS) and fa.right("title") == "editable"
    assert fa.right("total") == "readonly"   # computed
    assert not permissions.app_access(repair, uid, "repair").rights


def test_definition_checks_of_the_permissions_section():
    from engine.definition import load_definition
    bad = copy.deepcopy(SHOP)
    bad["permissions"][0]["who"]["roles"] = ["salse"]
    bad["permissions"][1]["fields"] = {"nam": "hidden"}
    bad["permissions"][2]["rows"] = "LEN(title) > 3"
    bad["permissions"][3]["actions"] = ["read", "edit_definition"]
    bad["permissions"][4]["rows"] = "amount <"
    bad["permissions"][6]["actions"] = ["read"]
    bad["permissions"][5]["new_fields"] = "visible"
    with pytest.raises(DefinitionError) as err:
        load_definition(bad)
    got = {e["location"]: e["message"] for e in err.value.errors}
    assert "did you mean 'sales'" in got["permissions[0].who.roles[0]"]
    assert "no field 'nam'" in got["permissions[1].fields.nam"]
    assert "cannot run in the database" in got["permissions[2].rows"]
    assert "app-level right" in got["permissions[3].actions[1]"]
    assert "permissions[4].rows" in got
    assert "permissions[5].new_fields" in got
    assert "record action" in got["permissions[6].actions[0]"]
    assert load_definition(copy.deepcopy(SHOP))["permissions"][2]["rows"] == "_owner = $user.id"


# ------------------------------------------------------------------- endpoints

def client_for(ff):
    from engine.api_permissions import permissions_api
    from engine.web import create_app
    app = create_app(ff, TESTING=True)
    if "permissions" not in app.blueprints:
        app.register_blueprint(permissions_api, url_prefix="/api/v1")
    return app.test_client()


def login(client, username, password=PASSWORD):
    r = client.post("/api/v1/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.json
    return {"X-CSRFToken": r.json["csrf_token"]}


def test_access_endpoint_views_as_a_user_and_explains(shop):
    client = client_for(shop.ff)
    login(client, "admin")
    base = "/api/v1/apps/shop/forms/order/access"
    r = client.get(f"{base}?as=walt")
    assert r.status_code == 200, r.json
    body = r.json
    assert body["user"]["username"] == "walt" and set(body["actions"]) == {"read", "update"}
    assert body["fields"]["amount"] == {"right": "hidden", "masked": False}
    assert {rec["title"] for rec in body["records"]} == {"Pumps", "Valves"} and body["count"] == 2
    assert all("amount" not in rec for rec in body["records"])
    r = client.get(f"{base}?as={shop.u['alice']}&record={shop.o['o3']}&field=margin")
    assert r.status_code == 200
    assert r.json["explain"]["record"]["granted_by"][0]["set"] == "sales_department_orders"
    assert r.json["explain"]["field"]["right"] == "hidden"
    assert client.get(f"{base}?as=ghost").status_code == 404
    assert client.get(f"{base}?as=walt&record=nope").status_code == 404


def test_access_endpoints_need_an_admin(shop):
    users.set_password(shop.ff, shop.u["alice"], "another fine secret")
    client = client_for(shop.ff)
    assert client.get("/api/v1/apps/shop/forms/order/access?as=walt").status_code == 401
    login(client, "alice", "another fine secret")
    for url in ("/api/v1/apps/shop/forms/order/access?as=walt", "/api/v1/audit", "/api/v1/departments",
                "/api/v1/roles", "/api/v1/access-review"):
        assert client.get(url).status_code == 403, url
