"""engine.model: read-only App/Form/Field objects over a normalized definition."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.definition import load_definition
from engine.errors import NotFound
from engine.expr import FieldSig
from engine.field_types import FieldType
from engine.model import App, UnknownName, dependency_order

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "repair.json"


def fld(key: str, type_: str = "text", **props) -> dict:
    return {"key": key, "type": type_, "label": {"en": key}, **props}


@pytest.fixture(scope="module")
def repair() -> App:
    defn = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    defn["version"] = 3
    defn["forms"][0]["fields"] += [
        fld("machine_name", "lookup", link="machine", field="name"),
        fld("grand", "formula", formula="total + part_count"),
        fld("part_count", "rollup", source="parts", function="COUNT"),
        fld("number", "serial", pattern="T-{0000}"),
    ]
    return App.from_definition(load_definition(defn))


def test_app(repair):
    assert repair.key == "repair" and repair.version == 3 and repair.id is None
    assert [f.key for f in repair.forms] == ["ticket", "machine"]
    assert repair.form("machine") is repair.forms[1]
    assert repair.form_by_id(repair.forms[0].id) is repair.forms[0]
    assert repair.label == {"zh-CN": "设备报修", "en": "Equipment repair"}


def test_unknown_names_are_key_errors_and_404s_with_suggestions(repair):
    with pytest.raises(KeyError) as info:
        repair.form("tiket")
    assert str(info.value) == "'tiket' is not a form of app 'repair' (did you mean 'ticket'?)"
    assert isinstance(info.value, NotFound) and info.value.status == 404
    with pytest.raises(UnknownName, match="did you mean 'qty'"):
        repair.form("ticket").field("qyt")
    with pytest.raises(UnknownName):
        repair.form_by_id("frm_nope")
    with pytest.raises(UnknownName):
        repair.form("ticket").field_by_id("fld_nope")


def test_form_and_fields(repair):
    ticket = repair.form("ticket")
    assert ticket.id.startswith("frm_") and ticket.label["en"] == "Ticket"
    title = ticket.field("title")
    assert title.required and not title.unique and not title.indexed
    assert ticket.field("qty").indexed and repair.form("machine").field("name").unique
    assert title.type_name == "text" and isinstance(title.type, FieldType)
    assert title.definition is ticket.definition["fields"][0]
    assert ticket.field_by_id(title.id) is title
    parts = ticket.field("parts")
    assert [c.key for c in parts.children] == ["part", "price"]
    assert parts.child("price").parent is parts
    assert ticket.field_by_id(parts.children[1].id) is parts.children[1]
    assert ticket.field("machine").get("target") == "machine"


def test_stored_and_computed_fields(repair):
    ticket = repair.form("ticket")
    assert [f.key for f in ticket.stored_fields] == ["title", "qty", "status", "parts", "machine"]
    order = [f.key for f in ticket.computed_fields]
    assert sorted(order) == ["grand", "machine_name", "number", "part_count", "total"]
    # dependencies first: grand reads total and part_count
    assert order.index("total") < order.index("grand")
    assert order.index("part_count") < order.index("grand")


def test_expression_schema(repair):
    schema = repair.form("ticket").expr_schema()
    assert schema is repair.form("ticket").expr_schema()  # cached
    assert schema["qty"] == FieldSig("number")
    assert schema["title"] == FieldSig("text")
    assert schema["total"] == FieldSig("number")  # inferred result_type
    assert schema["parts"].type == "records" and schema["parts"].fields["price"] == FieldSig("number")
    assert schema["machine"].type == "record" and schema["machine"].fields["name"] == FieldSig("text")
    assert schema["machine_name"] == FieldSig("text")
    row = repair.form("ticket").row_expr_schema("parts")
    assert row == {"part": FieldSig("text"), "price": FieldSig("number")}
    assert repair.form("ticket").field("parts").row_schema == row
    assert repair.form("ticket").field("machine").row_schema == repair.form("machine").expr_schema()


def test_lookup_tables_used_by_the_record_lifecycle(repair):
    ticket = repair.form("ticket")
    assert ticket.fields_by_key["qty"] is ticket.field("qty")
    assert set(ticket.fields_by_id) == {f.id for f in ticket.fields} | {c.id for c in ticket.field("parts").children}
    assert ticket.suggest_field("titel") == "title" and ticket.suggest_field("zzz") is None
    assert [f.key for f in ticket.link_fields] == ["machine"]
    assert "title" in [f.key for f in ticket.text_fields] and "qty" not in [f.key for f in ticket.text_fields]
    assert repair.forms_by_key["machine"] is repair.form("machine")
    assert repair.forms_by_id[ticket.id] is ticket
    assert ticket.link_keys_read == ["machine"]  # read by the machine_name lookup
    assert ticket.conditional_fields == []
    assert ticket.subforms_with_formulas == []


def test_link_keys_read_and_conditional_fields():
    defn = load_definition({"key": "a", "label": {"en": "A"}, "forms": [
        {"key": "f", "label": {"en": "F"}, "fields": [
            fld("m", "link", target="g"), fld("other", "link", target="g"),
            fld("note", visible_if='m.name = "x"'),
            fld("lines", "subform", fields=[fld("q", "number"), fld("d", "formula", formula="q * 2")])]},
        {"key": "g", "label": {"en": "G"}, "fields": [fld("name")]}]})
    form = App.from_definition(defn).form("f")
    assert form.link_keys_read == ["m"]
    assert [f.key for f in form.conditional_fields] == ["note"]
    assert [f.key for f in form.subforms_with_formulas] == ["lines"]


def test_multiple_links_and_their_lookups_are_lists():
    defn = load_definition({"key": "a", "label": {"en": "A"}, "forms": [
        {"key": "f", "label": {"en": "F"}, "fields": [
            fld("others", "link", target="g", multiple=True),
            fld("names", "lookup", link="others", field="name")]},
        {"key": "g", "label": {"en": "G"}, "fields": [fld("name"), fld("back", "link", target="f")]}]})
    schema = App.from_definition(defn).form("f").expr_schema()
    assert schema["others"].type == "records" and schema["names"].type == "list"
    # links nest a bounded number of levels (g -> f -> g ...)
    assert schema["others"].fields["back"].fields["others"].fields is None


def test_subform_computed_children_in_order():
    defn = load_definition({"key": "a", "label": {"en": "A"}, "forms": [
        {"key": "f", "label": {"en": "F"}, "fields": [fld("lines", "subform", fields=[
            fld("gross", "formula", formula="net * 2"), fld("net", "formula", formula="qty + 1"),
            fld("qty", "number")])]}]})
    lines = App.from_definition(defn).form("f").field("lines")
    assert [c.key for c in lines.computed_children] == ["net", "gross"]


def test_dependency_order_is_stable_and_tolerates_cycles():
    assert dependency_order(["a", "b", "c"], {"a": {"c"}, "b": set(), "c": set()}) == ["c", "a", "b"]
    assert dependency_order(["a", "b", "c"], {"a": {"b"}, "b": {"a"}, "c": set()}) == ["c", "a", "b"]
