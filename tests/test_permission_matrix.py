"""The generated permission matrix of the REST API (issue 5, "Done when"), on SQLite and PostgreSQL.

For every /api/v1 route that takes an id and every role of examples/shop.json
(sales, finance, warehouse and a member without a role):

- BOLA: a caller without the right on the record / form / app gets 403 or 404 and
  none of its data, and nothing changes;
- function level: members get 403 on administrator routes;
- mass assignment: writes of hidden, read-only or system fields are refused (422)
  and change nothing; new values outside the caller's rows are refused (403).

A route added later without a case here fails `test_every_route_with_an_id_is_in_the_matrix`.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from engine import api_keys, permissions, users
from engine.records import RecordContext
from tests.test_permissions import PASSWORD, make_shop

ROLES = {"sales": "alice", "finance": "fiona", "warehouse": "walt", "member": "nobody"}
ORDERS = "/api/v1/apps/shop/forms/order/records"
CUSTOMERS = "/api/v1/apps/shop/forms/customer/records"
#: values of o2 (bob's draft turbine order) that no role may see
O2_SECRETS = ("Turbine", "200000", "9000")
C1_SECRETS = ("Li Lei", "13812345678", "lilei@example.com", "Hangzhou")


@pytest.fixture
def web(ff):
    """The shop behind the Flask test client: users with passwords and read-write API keys,
    one customer, an admin job; `hdr(name)` are the Bearer headers of a user."""
    from engine.web import create_app
    from workflows import jobs
    shop = make_shop(ff)
    u = shop.u
    for name in ("alice", "bob", "fiona", "walt", "nobody"):
        users.set_password(ff, u[name], PASSWORD)
    c1 = ff.records.create("shop", "customer", {"name": "Li Lei", "phone": "+8613812345678",
                                                "email": "lilei@example.com", "city": "Hangzhou"},
                           ctx=RecordContext(actor=u["alice"]))["_id"]
    keys = {name: api_keys.create_key(ff, uid, name=name, write=True) for name, uid in u.items()}
    app = create_app(ff, TESTING=True)  # (registers the spreadsheet job kind)
    job = jobs.submit(ff, "spreadsheet.import", {"app": "shop", "form": "customer", "path": "/nonexistent"},
                      actor=u["admin"], run=False)
    return SimpleNamespace(ff=ff, u=u, o=shop.o, c1=c1, keys=keys, job=job, app=app, client=app.test_client(),
                           hdr=lambda name: {"Authorization": f"Bearer {keys[name]['key']}"})


def record_as_admin(web, form: str, rid: str) -> dict:
    return web.ff.records.get("shop", form, rid, include_deleted=True)


def assert_denied(r, secrets=(), statuses=(403, 404)):
    assert r.status_code in statuses, (r.status_code, r.get_data(as_text=True)[:300])
    text = r.get_data(as_text=True)
    for s in secrets:
        assert s not in text, f"{s!r} leaked in a {r.status_code}"


# -- which route is tested how ---------------------------------------------------

def _norm(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule[len("/api/v1"):])


#: normalised path -> kind of case (see the tests below)
MATRIX = {
    # records: BOLA per record and per form
    "/apps/{app_key}/forms/{form_key}/records/{record_id}": "record",
    "/apps/{app_key}/forms/{form_key}/records/{record_id}:restore": "record",
    "/apps/{app_key}/forms/{form_key}/records/{record_id}:revert": "record",
    "/apps/{app_key}/forms/{form_key}/records/{record_id}/history": "record",
    "/apps/{app_key}/forms/{form_key}/records": "form",
    "/apps/{app_key}/forms/{form_key}/records:batch": "form",
    "/apps/{app}/forms/{form}/export": "form",
    "/apps/{app}/forms/{form}/import": "form",
    "/apps/{app}/forms/{form}/import/template": "form",
    # app definitions: app-level rights
    "/apps/{app_key}": "app",
    "/apps/{app_key}/export": "app",
    "/apps/{app_key}/versions": "app",
    "/apps/{app_key}/openapi.json": "openapi",
    # administrators only
    "/users/{user_id}": "admin",
    "/users/{user_id}/password": "admin",
    "/users/{user}/directory": "admin",
    "/departments/{dept_id}": "admin",
    "/departments/{dept_id}/members/{user}": "admin",
    "/roles/{key}": "admin",
    "/roles/{key}/members/{user}": "admin",
    "/apps/{app}/forms/{form}/access": "admin",
    # the caller's own things
    "/keys/{key_id}": "own",
    "/jobs/{job}": "own",
    "/webhooks/{hook_id}": "own",
    "/webhooks/{hook_id}:rotate-secret": "own",
    "/webhooks/{hook_id}:replay": "own",
    "/webhooks/{hook_id}/deliveries": "own",
    "/deliveries/{delivery_id}": "own",
    "/deliveries/{delivery_id}:resend": "own",
    # automations (workflows/api.py): app-level rights
    "/apps/{app_key}/automations/runs": "automation",
    "/apps/{app_key}/automations/{key}:dry-run": "automation",
    "/apps/{app_key}/automations/{key}:hook-token": "automation",
    "/automation-runs/{run_id}": "automation",
    "/automation-runs/{run_id}:replay": "automation",
    "/apps/{app_key}/forms/{form_key}/records/{record_id}:run/{key}": "automation",
    "/hooks/{token}": "automation",  # public: the token is the credential
    # the builder UI's preview (engine/api_ui.py): see test_preview_of_a_record_outside_the_rows
    "/apps/{app}/forms/{form}/preview": "preview",
    # the builder UI's import wizard and rule checker (engine/api_ui_wizard.py)
    "/apps/{app}/forms/{form}/import/preview": "builder",
    "/apps/{app}/forms/{form}/rules/check": "builder",
}


def id_routes(app) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.arguments:
            out.setdefault(_norm(rule.rule), set()).update(rule.methods - {"HEAD", "OPTIONS"})
    return out


def test_every_route_with_an_id_is_in_the_matrix(web):
    missing = sorted(set(id_routes(web.app)) - set(MATRIX))
    assert missing == [], f"add these routes to MATRIX (and a case): {missing}"


# -- BOLA on records ----------------------------------------------------------------

RECORD_CASES = [  # (method, url suffix, body, action)
    ("GET", "", None, "read"),
    ("GET", "?trash=1", None, "read"),
    ("PATCH", "", {"title": "hacked", "name": "hacked"}, "update"),
    ("DELETE", "", None, "delete"),
    ("DELETE", "?purge=1", None, "delete"),
    ("POST", ":restore", None, "restore"),
    ("POST", ":revert", {"version": 1}, "update"),
    ("GET", "/history", None, "read"),
]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_bola_on_records(web, role):
    name = ROLES[role]
    targets = [("order", ORDERS, web.o["o2"], O2_SECRETS), ("customer", CUSTOMERS, web.c1, C1_SECRETS)]
    tried = 0
    for form, base, rid, secrets in targets:
        fa = permissions.form_access(web.ff, web.u[name], "shop", form)
        before = record_as_admin(web, form, rid)
        for method, suffix, body, action in RECORD_CASES:
            if fa.can(action) and fa.allows(before, action):
                continue  # the caller has the right: not a BOLA case
            r = web.client.open(f"{base}/{rid}{suffix}", method=method, json=body, headers=web.hdr(name))
            # without the action: 403; with it but outside the rows: 404 (the id does not leak)
            assert_denied(r, secrets, (403,) if not fa.can(action) else (404,))
            tried += 1
        assert record_as_admin(web, form, rid) == before  # nothing changed
    assert tried >= 8


def test_record_ids_of_other_forms_and_unknown_ids_look_the_same(web):
    """alice may read orders: o2 (not hers), a customer id used as an order id and a made-up id
    all answer the same 404."""
    bodies = []
    for rid in (web.o["o2"], web.c1, "01J0000000000000000000NOPE"):
        r = web.client.get(f"{ORDERS}/{rid}", headers=web.hdr("alice"))
        assert r.status_code == 404
        bodies.append(r.json["title"])
    assert len(set(bodies)) == 1


# -- BOLA on forms (lists, creates, exports, imports) ---------------------------------

FORM_CASES = [  # (method, path suffix, kwargs, action)
    ("GET", "/records", {}, "read"),
    ("GET", "/records?count=1", {}, "read"),
    ("POST", "/records", {"json": {"name": "x", "title": "x"}}, "create"),
    ("POST", "/records:batch", {"json": {"records": [{"name": "x", "title": "x"}]}}, "create"),
    ("GET", "/export?format=csv", {}, "export"),
    ("GET", "/export?format=xlsx", {}, "export"),
    ("POST", "/import?async=0", {"data": {"file": (b"name,title\nx,x\n", "in.csv")}}, "import"),
    ("GET", "/import/template?format=csv", {}, "read"),
]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_bola_on_forms(web, role):
    import io
    name = ROLES[role]
    tried = 0
    for form, secrets in (("order", O2_SECRETS), ("customer", C1_SECRETS)):
        fa = permissions.form_access(web.ff, web.u[name], "shop", form)
        with web.ff.db.read() as conn:
            count = permissions.form_access(web.ff, web.u["admin"], "shop", form).count_records(conn)
        for method, suffix, kwargs, action in FORM_CASES:
            if fa.can(action):
                continue
            kw = dict(kwargs)
            if "data" in kw:
                content, filename = kw["data"]["file"]
                kw["data"] = {"file": (io.BytesIO(content), filename)}
            r = web.client.open(f"/api/v1/apps/shop/forms/{form}{suffix}", method=method,
                                headers=web.hdr(name), **kw)
            assert_denied(r, secrets, (403,))
            tried += 1
        with web.ff.db.read() as conn:
            assert permissions.form_access(web.ff, web.u["admin"], "shop", form).count_records(conn) == count
    assert tried >= 1


# -- app-level and administrator routes (function level) ------------------------------

def admin_cases(web) -> list[tuple[str, str, dict | None]]:
    bob = web.u["bob"]
    return [
        ("PATCH", f"/api/v1/users/{bob}", {"is_admin": True}),
        ("POST", f"/api/v1/users/{bob}/password", {"password": "a new long password"}),
        ("GET", f"/api/v1/users/{bob}/directory", None),
        ("GET", "/api/v1/departments/east", None),
        ("PATCH", "/api/v1/departments/east", {"name": "Mine"}),
        ("DELETE", "/api/v1/departments/west", None),
        ("PUT", f"/api/v1/departments/sales/members/{bob}", {}),
        ("DELETE", "/api/v1/departments/west/members/bob", None),
        ("DELETE", "/api/v1/roles/finance", None),
        ("PUT", "/api/v1/roles/shop_admin/members/bob", None),
        ("DELETE", "/api/v1/roles/sales/members/bob", None),
        ("GET", "/api/v1/apps/shop/forms/order/access?as=bob", None),
        # the same routes without ids
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"username": "mallory", "password": "a long enough password", "admin": True}),
        ("GET", "/api/v1/departments", None),
        ("POST", "/api/v1/departments", {"name": "Shadow", "id": "shadow"}),
        ("GET", "/api/v1/roles", None),
        ("POST", "/api/v1/roles", {"key": "root"}),
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/access-review", None),
        ("POST", "/api/v1/apps", {"key": "evil", "forms": [{"key": "f", "fields": []}]}),
    ]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_members_get_403_on_admin_routes(web, role):
    from engine import directory
    name = ROLES[role]
    with web.ff.db.read() as conn:
        bob_before = directory.profile(conn, web.u["bob"])
    for method, url, body in admin_cases(web):
        r = web.client.open(url, method=method, json=body, headers=web.hdr(name))
        assert_denied(r, ("Sales East", "bob@", "root"), (403,))
    with web.ff.db.read() as conn:
        assert directory.profile(conn, web.u["bob"]) == bob_before
    assert {d["id"] for d in directory.list_departments(web.ff)} == {"sales", "east", "west"}
    assert not users.user_by_id(web.ff, web.u["bob"])["is_admin"]
    assert "evil" not in web.ff.installed() and not any(
        x["username"] == "mallory" for x in users.list_users(web.ff))


@pytest.mark.parametrize("role", sorted(ROLES))
def test_members_without_app_rights_cannot_read_or_change_the_definition(web, role):
    name = ROLES[role]
    definition = web.client.get("/api/v1/apps/shop", headers=web.hdr("admin")).json
    for method, url, body in [("GET", "/api/v1/apps/shop", None), ("GET", "/api/v1/apps/shop/export", None),
                              ("GET", "/api/v1/apps/shop/versions", None),
                              ("PUT", "/api/v1/apps/shop", {**definition, "label": {"en": "Mine"}}),
                              ("POST", "/api/v1/apps/import", {**definition, "label": {"en": "Mine"}})]:
        assert_denied(web.client.open(url, method=method, json=body, headers=web.hdr(name)),
                      ("margin", "permissions"), (403,))
    assert web.ff.app("shop").version == definition["version"]
    r = web.client.get("/api/v1/apps/shop/openapi.json", headers=web.hdr(name))
    assert r.status_code == (403 if role == "member" else 200)


def test_an_app_admin_role_may_change_the_definition_but_needs_manage_permissions_for_rules(web):
    from engine import directory
    directory.grant_role(web.ff, "shop_admin", web.u["bob"])
    definition = web.client.get("/api/v1/apps/shop", headers=web.hdr("bob")).json
    r = web.client.put("/api/v1/apps/shop", json={**definition, "label": {"en": "Shop 2"}}, headers=web.hdr("bob"))
    assert r.status_code == 200, r.json
    # shop_admins has manage_permissions too; without it a change of the rules is refused
    changed = web.client.get("/api/v1/apps/shop", headers=web.hdr("admin")).json
    changed["permissions"] = [p for p in changed["permissions"] if p["key"] != "finance_orders"]
    shop_admins = next(p for p in changed["permissions"] if p["key"] == "shop_admins")
    shop_admins["actions"] = ["edit_definition"]
    r = web.client.put("/api/v1/apps/shop", json=changed, headers=web.hdr("bob"))
    assert r.status_code == 200  # allowed: bob has manage_permissions *now*; the change removes it
    again = web.client.get("/api/v1/apps/shop", headers=web.hdr("bob")).json
    again["permissions"] = [p for p in again["permissions"] if p["key"] != "warehouse_orders"]
    r = web.client.put("/api/v1/apps/shop", json=again, headers=web.hdr("bob"))
    assert r.status_code == 403 and "manage_permissions" in r.json["detail"]
    assert any(p["key"] == "warehouse_orders" for p in web.ff.app("shop").definition["permissions"])


def test_own_things_of_others_are_not_found(web):
    from workflows import webhooks
    admin_key = web.keys["admin"]["id"]
    hook = webhooks.create(web.ff, url="https://93.184.216.34/hook", owner=web.u["admin"], app="shop",
                           description="admin's hook")
    cases = [("DELETE", f"/api/v1/keys/{admin_key}", None), ("GET", f"/api/v1/jobs/{web.job}", None),
             ("GET", f"/api/v1/webhooks/{hook['id']}", None),
             ("PATCH", f"/api/v1/webhooks/{hook['id']}", {"url": "https://93.184.216.35/mine"}),
             ("DELETE", f"/api/v1/webhooks/{hook['id']}", None),
             ("POST", f"/api/v1/webhooks/{hook['id']}:rotate-secret", None),
             ("POST", f"/api/v1/webhooks/{hook['id']}:replay", {"since": "2020-01-01T00:00:00.000000Z"}),
             ("GET", f"/api/v1/webhooks/{hook['id']}/deliveries", None),
             ("GET", "/api/v1/deliveries/dl_unknown", None), ("POST", "/api/v1/deliveries/dl_unknown:resend", None)]
    for role, name in ROLES.items():
        for method, url, body in cases:
            assert_denied(web.client.open(url, method=method, json=body, headers=web.hdr(name)),
                          ("/nonexistent", "admin's hook", hook["secret"]), (404,))
    assert web.client.get("/api/v1/me", headers=web.hdr("admin")).status_code == 200  # still valid
    assert webhooks.get(web.ff, hook["id"], with_secret=True)["secret"] == hook["secret"]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_members_cannot_run_or_read_automations(web, role):
    name = ROLES[role]
    o2 = web.o["o2"]
    for method, url, body, statuses in [
            ("GET", "/api/v1/apps/shop/automations/runs", None, (403,)),
            ("POST", "/api/v1/apps/shop/automations/notify:dry-run", {}, (403,)),
            ("POST", "/api/v1/apps/shop/automations/notify:hook-token", {}, (403,)),
            ("GET", "/api/v1/automation-runs/run_unknown", None, (403, 404)),
            ("POST", "/api/v1/automation-runs/run_unknown:replay", {}, (403, 404)),
            ("POST", f"{ORDERS}/{o2}:run/approve", {}, (403, 404)),
            ("POST", "/api/v1/hooks/not-a-token", {}, (404,))]:
        assert_denied(web.client.open(url, method=method, json=body, headers=web.hdr(name)), O2_SECRETS, statuses)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_members_cannot_use_the_import_wizard_or_the_rule_checker(web, role):
    """Nobody in the shop has `import`, and only shop_admin has `manage_permissions`."""
    import io
    name = ROLES[role]
    r = web.client.post("/api/v1/apps/shop/forms/customer/import/preview", headers=web.hdr(name),
                        data={"file": (io.BytesIO(b"name\nx\n"), "in.csv")})
    assert_denied(r, C1_SECRETS, (403,))
    r = web.client.post("/api/v1/apps/shop/forms/order/rules/check", json={"rows": "amount > 1"},
                        headers=web.hdr(name))
    assert_denied(r, O2_SECRETS, (403,))


def test_preview_of_a_record_outside_the_rows(web):
    r = web.client.post("/api/v1/apps/shop/forms/order/preview", json={"record": web.o["o2"], "values": {}},
                        headers=web.hdr("alice"))
    assert_denied(r, O2_SECRETS)


# -- mass assignment ------------------------------------------------------------------

def test_mass_assignment_is_refused_and_changes_nothing(web):
    o1 = web.o["o1"]
    before = record_as_admin(web, "order", o1)
    cases = [
        ("walt", {"amount": "1"}, "unknown"),             # hidden
        ("walt", {"status": "shipped", "margin": 1}, "unknown"),
        ("walt", {"title": "x"}, "readonly"),             # read-only
        ("walt", {"_owner": web.u["walt"]}, "readonly"),  # system
        ("fiona", {"title": "x"}, "readonly"),
        ("fiona", {"contact_phone": "+8613900000000"}, "readonly"),
        ("fiona", {"amount": "1", "_version": 9}, "readonly"),
        ("alice", {"margin": 1}, "unknown"),
        ("alice", {"_created_by": web.u["bob"], "title": "x"}, "readonly"),
    ]
    for name, values, code in cases:
        r = web.client.patch(f"{ORDERS}/{o1}", json=values, headers=web.hdr(name))
        assert r.status_code == 422, (name, values, r.json)
        assert code in {e["code"] for e in r.json["errors"]}
        assert "margin" not in r.get_data(as_text=True) or name != "walt" or "margin" in values
    assert record_as_admin(web, "order", o1) == before
    with web.ff.db.read() as conn:
        n = permissions.form_access(web.ff, web.u["admin"], "shop", "order").count_records(conn)
    for body in ({"title": "t", "margin": 5}, {"title": "t", "_owner": web.u["bob"]}, {"title": "t", "_id": "mine"}):
        assert web.client.post(ORDERS, json=body, headers=web.hdr("alice")).status_code == 422
    r = web.client.post(f"{ORDERS}:batch", json={"records": [{"title": "ok"}, {"title": "t", "margin": 1}]},
                        headers=web.hdr("alice"))
    assert r.status_code == 422 and r.json["errors"][0]["location"] == "rows[1].margin"
    with web.ff.db.read() as conn:
        assert permissions.form_access(web.ff, web.u["admin"], "shop", "order").count_records(conn) == n


def test_new_values_outside_the_rows_are_refused(web):
    o1 = web.o["o1"]
    before = record_as_admin(web, "order", o1)
    r = web.client.patch(f"{ORDERS}/{o1}", json={"status": "draft"}, headers=web.hdr("walt"))
    assert r.status_code == 403  # warehouse may only update non-drafts
    r = web.client.patch(f"{ORDERS}/{o1}", json={"amount": "250000"}, headers=web.hdr("fiona"))
    assert r.status_code == 403  # finance: amount < 100000
    assert record_as_admin(web, "order", o1) == before
    r = web.client.patch(f"{ORDERS}/{o1}", json={"amount": "600"}, headers=web.hdr("fiona"))
    assert r.status_code == 200 and r.json["amount"] == "600.00"
    # a revert that would change a field the caller may not edit is refused
    r = web.client.post(f"{ORDERS}/{o1}:revert", json={"version": 1}, headers=web.hdr("walt"))
    assert r.status_code == 422 and r.json["errors"][0]["code"] == "unknown"
    assert record_as_admin(web, "order", o1)["_version"] == 2


def test_a_key_never_exceeds_its_user(web):
    ro = api_keys.create_key(web.ff, web.u["alice"], write=False)["key"]
    other_app = api_keys.create_key(web.ff, web.u["admin"], apps=["shop"], write=True)["key"]
    o1 = web.o["o1"]
    hdr = {"Authorization": f"Bearer {ro}"}
    assert web.client.get(f"{ORDERS}/{o1}", headers=hdr).status_code == 200
    assert web.client.patch(f"{ORDERS}/{o1}", json={"title": "x"}, headers=hdr).status_code == 403
    assert web.client.get(f"{ORDERS}/{web.o['o2']}", headers=hdr).status_code == 404
    # an administrator's key limited to an app is no administrator key
    hdr = {"Authorization": f"Bearer {other_app}"}
    assert web.client.get("/api/v1/audit", headers=hdr).status_code == 403
    assert web.client.get(f"{ORDERS}/{web.o['o2']}", headers=hdr).status_code == 200


# -- files of records (engine/api_files.py; the full cases are in tests/test_files.py) --------

MATRIX["/apps/{app_key}/forms/{form_key}/records/{record_id}/files/{field}/{file_id}"] = "files"
MATRIX["/apps/{app_key}/forms/{form_key}/records/{record_id}/files/{field}/{file_id}/thumbnail"] = "files"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_bola_on_record_files(web, role):
    """A file download is a read of its record: 403 without read, 404 outside the rows (and
    for a field or file the record does not have), never any of the record's data."""
    import io
    name = ROLES[role]
    fid = web.client.post("/api/v1/files", data={"file": (io.BytesIO(b"o2 invoice"), "inv.txt", "text/plain")},
                          content_type="multipart/form-data", headers=web.hdr("admin")).json["id"]
    for form, base, rid, secrets in (("order", ORDERS, web.o["o2"], O2_SECRETS),
                                     ("customer", CUSTOMERS, web.c1, C1_SECRETS)):
        fa = permissions.form_access(web.ff, web.u[name], "shop", form)
        for field in ("title", "name", "nope"):
            for suffix in ("", "/thumbnail"):  # a thumbnail is a download too
                r = web.client.get(f"{base}/{rid}/files/{field}/{fid}{suffix}", headers=web.hdr(name))
                expected = (404,) if fa.can("read") else (403,)
                assert_denied(r, (*secrets, "o2 invoice"), expected)
