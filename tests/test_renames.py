"""Renaming a field or form (same id, new key) is followed into every reference to it:
in the renamed app's own definition and in the other installed apps that read it."""
from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from engine import references
from engine.errors import DefinitionError

CRM = {"key": "crm", "label": {"en": "CRM"}, "forms": [
    {"key": "customer", "label": {"en": "Customer"}, "fields": [
        {"key": "name", "type": "text", "label": {"en": "Name"}},
        {"key": "city", "type": "text", "label": {"en": "City"}}]},
    {"key": "invoice", "label": {"en": "Invoice"}, "fields": [
        {"key": "customer", "type": "link", "target": "customer", "label": {"en": "Customer"}},
        {"key": "amount", "type": "number", "label": {"en": "Amount"}},
        {"key": "paid", "type": "boolean", "label": {"en": "Paid"}}]}]}

ERP = {"key": "erp", "label": {"en": "ERP"}, "forms": [
    {"key": "order", "label": {"en": "Order"}, "fields": [
        {"key": "cust", "type": "link", "target": "crm.customer", "label": {"en": "Customer"}},
        {"key": "cname", "type": "lookup", "link": "cust", "field": "name", "label": {"en": "Name"}},
        {"key": "f", "type": "formula", "formula": 'cust.name & "!"', "label": {"en": "F"}}]}]}


def export(ff, key) -> dict:
    return json.loads(ff.apps.export(key))


def versions(ff, key) -> int:
    return export(ff, key)["version"]


def form_of(defn, key):
    return next(f for f in defn["forms"] if f["key"] == key)


def field_of(form, key):
    return next(f for f in form["fields"] if f["key"] == key)


def rename_field(ff, app, form, old, new) -> dict:
    defn = export(ff, app)
    field_of(form_of(defn, form), old)["key"] = new
    return defn


@pytest.fixture
def crm_erp(ff):
    ff.apps.install(copy.deepcopy(CRM))
    ff.apps.install(copy.deepcopy(ERP))
    return ff


# -- other apps follow ---------------------------------------------------------------------
def test_a_renamed_field_is_followed_into_lookups_and_formulas_of_another_app(crm_erp):
    ff = crm_erp
    c = ff.records.create("crm", "customer", {"name": "ACME"})
    o = ff.records.create("erp", "order", {"cust": c["_id"]})
    assert (o["cname"], o["f"]) == ("ACME", "ACME!")
    erp_before = versions(ff, "erp")

    result = ff.apps.install(rename_field(ff, "crm", "customer", "name", "title"))

    follow = [s for s in result["plan"] if s["op"] == "follow_rename"]
    assert follow == [{"op": "follow_rename", "app": "erp", "version": erp_before + 1,
                       "summary": "erp: 2 references to crm.customer.name now read crm.customer.title"}]
    order = form_of(export(ff, "erp"), "order")
    assert field_of(order, "cname")["field"] == "title"
    assert field_of(order, "f")["formula"] == 'cust.title & "!"'
    assert versions(ff, "erp") == erp_before + 1
    assert ff.apps.versions("erp")[-1]["plan"]  # versioned like any install
    ff.records.update("crm", "customer", c["_id"], {"title": "ACME Ltd"})
    updated = ff.records.update("erp", "order", o["_id"], {"cust": c["_id"]})
    assert (updated["cname"], updated["f"]) == ("ACME Ltd", "ACME Ltd!")


def test_a_renamed_form_is_followed_into_link_targets_of_another_app(crm_erp):
    ff = crm_erp
    defn = export(ff, "crm")
    form_of(defn, "customer")["key"] = "client"
    result = ff.apps.install(defn)
    assert [s["app"] for s in result["plan"] if s["op"] == "follow_rename"] == ["erp"]
    order = form_of(export(ff, "erp"), "order")
    assert field_of(order, "cust")["target"] == "crm.client"
    assert field_of(order, "cname")["field"] == "name"
    # crm's own link to the renamed form follows too
    assert field_of(form_of(export(ff, "crm"), "invoice"), "customer")["target"] == "client"
    c = ff.records.create("crm", "client", {"name": "ACME"})
    assert ff.records.create("erp", "order", {"cust": c["_id"]})["cname"] == "ACME"


def test_a_form_and_its_field_renamed_together_are_both_followed(crm_erp):
    ff = crm_erp
    defn = rename_field(ff, "crm", "customer", "name", "title")
    form_of(defn, "customer")["key"] = "client"
    result = ff.apps.install(defn)
    (step,) = [s for s in result["plan"] if s["op"] == "follow_rename"]
    assert step["summary"] == ("erp: 1 reference to crm.customer now reads crm.client; "
                               "2 references to crm.customer.name now read crm.client.title")
    order = form_of(export(ff, "erp"), "order")
    assert (field_of(order, "cust")["target"], field_of(order, "cname")["field"],
            field_of(order, "f")["formula"]) == ("crm.client", "title", 'cust.title & "!"')


def test_a_rename_is_followed_into_the_where_of_a_rollup_over_a_link(ff):
    ff.apps.install(copy.deepcopy(CRM))
    ff.apps.install({"key": "stats", "label": {"en": "Stats"}, "forms": [
        {"key": "summary", "label": {"en": "Summary"}, "fields": [
            {"key": "inv", "type": "link", "target": "crm.invoice", "multiple": True, "label": {"en": "I"}},
            {"key": "open_total", "type": "rollup", "source": "inv", "field": "amount", "function": "SUM",
             "where": "AND(NOT(paid),  amount > 0)", "label": {"en": "Open"}}]}]})
    defn = export(ff, "crm")
    field_of(form_of(defn, "invoice"), "paid")["key"] = "settled"
    field_of(form_of(defn, "invoice"), "amount")["key"] = "total"
    ff.apps.install(defn)
    rollup = field_of(form_of(export(ff, "stats"), "summary"), "open_total")
    assert rollup["where"] == "AND(NOT(settled),  total > 0)"
    assert rollup["field"] == "total"


def test_a_rename_is_followed_into_an_automation_acting_on_the_form(ff):
    from workflows import clock, queue
    clock.use(ff, clock.FakeClock(dt.datetime.now(dt.timezone.utc)))
    ff.apps.install(copy.deepcopy(CRM))
    ff.apps.install({"key": "sales", "label": {"en": "Sales"}, "forms": [
        {"key": "lead", "label": {"en": "Lead"}, "fields": [
            {"key": "company", "type": "text", "label": {"en": "Company"}}]}],
        "automations": [{"key": "to_crm", "trigger": {"type": "record.created", "form": "lead"},
                         "actions": [{"type": "create_record", "app": "crm", "form": "customer",
                                      "values": {"name": 'company & " (lead)"', "city": '"name"'}}]}]})
    result = ff.apps.install(rename_field(ff, "crm", "customer", "name", "title"))
    assert [s["app"] for s in result["plan"] if s["op"] == "follow_rename"] == ["sales"]
    action = export(ff, "sales")["automations"][0]["actions"][0]
    assert action["values"] == {"title": 'company & " (lead)"', "city": '"name"'}
    ff.records.create("sales", "lead", {"company": "ACME"})
    queue.drain(ff)
    from engine.queries import list_records
    _app, form = ff.form("crm", "customer")
    with ff.db.read() as conn:
        made = list_records(conn, ff, form, limit=10).records
    assert [(r["title"], r["city"]) for r in made] == [("ACME (lead)", "name")]


def test_a_dry_run_reports_the_follow_and_changes_neither_app(crm_erp):
    ff = crm_erp
    crm_text, erp_text = ff.apps.export("crm"), ff.apps.export("erp")
    result = ff.apps.install(rename_field(ff, "crm", "customer", "name", "title"), dry_run=True)
    assert result["dry_run"] and any(s["op"] == "follow_rename" and s["app"] == "erp" for s in result["plan"])
    assert ff.apps.export("crm") == crm_text and ff.apps.export("erp") == erp_text
    assert len(ff.apps.versions("erp")) == 1


def test_a_follow_that_fails_rolls_back_the_renaming_install(crm_erp, monkeypatch):
    ff = crm_erp
    crm_text, erp_text = ff.apps.export("crm"), ff.apps.export("erp")
    real = references.follow_renames

    def breaking(defn, renames, installed):
        items = real(defn, renames, installed)
        defn["forms"][0]["fields"][0]["type"] = "no_such_type"  # the follow yields an invalid definition
        return items

    monkeypatch.setattr(references, "follow_renames", breaking)
    with pytest.raises(DefinitionError) as err:
        ff.apps.install(rename_field(ff, "crm", "customer", "name", "title"))
    assert "'erp'" in err.value.message and err.value.errors[0]["location"].startswith("erp: ")
    assert ff.apps.export("crm") == crm_text and ff.apps.export("erp") == erp_text
    assert len(ff.apps.versions("crm")) == 1 and len(ff.apps.versions("erp")) == 1


def test_an_app_not_referring_to_the_renamed_field_gets_no_new_version(crm_erp):
    ff = crm_erp
    result = ff.apps.install(rename_field(ff, "crm", "customer", "city", "town"))
    assert [s for s in result["plan"] if s["op"] == "follow_rename"] == []
    assert versions(ff, "erp") == 1


# -- within one definition ------------------------------------------------------------------
SHOP = {"key": "shop", "label": {"en": "Shop"}, "forms": [
    {"key": "item", "label": {"en": "Item"}, "fields": [
        {"key": "qty", "type": "number", "label": {"en": "Qty"}},
        {"key": "unit", "type": "number", "label": {"en": "Unit"}},
        {"key": "total", "type": "formula", "formula": "qty  *unit", "label": {"en": "Total"}},
        {"key": "note", "type": "formula", "formula": 'IF(qty > 1, "qty", {qty} & "")',
         "label": {"en": "Note"}}],
     "rules": [{"formula": "qty >= 0", "message": {"en": "no negative quantity"}}]}]}


def test_renaming_a_field_whose_formulas_still_say_the_old_key_installs(ff):
    ff.apps.install(copy.deepcopy(SHOP))
    defn = rename_field(ff, "shop", "item", "qty", "quantity")  # formulas still say qty
    result = ff.apps.install(defn)
    assert any(s["op"] == "rename_field" for s in result["plan"])
    item = form_of(export(ff, "shop"), "item")
    # spacing, the string literal "qty" and the braces are kept
    assert field_of(item, "total")["formula"] == "quantity  *unit"
    assert field_of(item, "note")["formula"] == 'IF(quantity > 1, "qty", {quantity} & "")'
    assert item["rules"][0]["formula"] == "quantity >= 0"
    rec = ff.records.create("shop", "item", {"quantity": 3, "unit": 2})
    assert str(rec["total"]) == "6"


def test_a_renamed_key_reused_by_a_new_field_is_not_rewritten(ff):
    ff.apps.install(copy.deepcopy(SHOP))
    defn = rename_field(ff, "shop", "item", "qty", "quantity")
    item = form_of(defn, "item")
    item["fields"].append({"key": "qty", "type": "number", "label": {"en": "New qty"}})
    ff.apps.install(defn)
    item = form_of(export(ff, "shop"), "item")
    assert field_of(item, "total")["formula"] == "qty  *unit"


def test_a_renamed_key_that_needs_braces_is_written_in_braces():
    source = 'cust.name & " name" + {name}'
    def keys_of(node):
        return [(i, "full name") for i, seg in enumerate(node.value) if seg == "name"]

    rewritten, count = references.rewrite_expression(source, keys_of)
    assert rewritten == 'cust.{full name} & " name" + {full name}' and count == 2
    assert references.rewrite_expression("qty + (", keys_of) == ("qty + (", 0)  # unparsable: unchanged
    assert references.rewrite_expression(None, keys_of) == (None, 0)


def test_a_rename_inside_a_subform_follows_row_formulas_and_parent_paths(ff):
    ff.apps.install({"key": "po", "label": {"en": "PO"}, "forms": [
        {"key": "order", "label": {"en": "Order"}, "fields": [
            {"key": "rate", "type": "number", "label": {"en": "Rate"}},
            {"key": "lines", "type": "subform", "label": {"en": "Lines"}, "fields": [
                {"key": "price", "type": "number", "label": {"en": "Price"}},
                {"key": "net", "type": "formula", "formula": "price * $parent.rate", "label": {"en": "Net"}}]},
            {"key": "sum", "type": "formula", "formula": "SUM(lines.price)", "label": {"en": "Sum"}}]}]})
    defn = export(ff, "po")
    order = form_of(defn, "order")
    field_of(order, "rate")["key"] = "factor"
    field_of(field_of(order, "lines"), "price")["key"] = "amount"
    ff.apps.install(defn)
    order = form_of(export(ff, "po"), "order")
    assert field_of(field_of(order, "lines"), "net")["formula"] == "amount * $parent.factor"
    assert field_of(order, "sum")["formula"] == "SUM(lines.amount)"


def test_a_definition_that_cannot_be_parsed_is_still_reported_by_validation(ff):
    ff.apps.install(copy.deepcopy(SHOP))
    defn = rename_field(ff, "shop", "item", "qty", "quantity")
    field_of(form_of(defn, "item"), "total")["formula"] = "qty *"
    with pytest.raises(DefinitionError) as err:
        ff.apps.install(defn)
    assert any("total" in e["location"] or "fields[2]" in e["location"] for e in err.value.errors)


def test_a_followed_app_gets_its_own_audit_entry_over_the_api(crm_erp):
    from engine import api_keys, users
    from engine.web import create_app
    admin = users.add_user(crm_erp, "root", "correct horse battery", admin=True)
    auth = {"Authorization": "Bearer " + api_keys.create_key(crm_erp, admin["id"], write=True)["key"]}
    client = create_app(crm_erp, TESTING=True).test_client()
    r = client.put("/api/v1/apps/crm", json=rename_field(crm_erp, "crm", "customer", "name", "title"), headers=auth)
    assert r.status_code == 200, r.get_json()
    entries = client.get("/api/v1/audit?action=app.updated&limit=10", headers=auth).get_json()["entries"]
    followed = [e for e in entries if e["object_id"] == "erp"]
    assert len(followed) == 1 and followed[0]["details"]["follows"] == "crm"
