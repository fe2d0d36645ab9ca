"""Form layout: titled sections and columns (`forms[].layout`), checked, exported and rendered."""
from __future__ import annotations

import copy
import re

import pytest

from engine.definition import diff_definitions, dump_definition, load_definition
from engine.errors import DefinitionError
from engine.model import App
from tests.conftest import REPAIR_APP
from tests.test_definition import app, fld, problems_at
from tests.ui_conftest import *  # noqa: F401,F403

LAYOUT = {"columns": 2, "sections": [
    {"label": {"zh-CN": "处理", "en": "Handling"}, "description": {"en": "Filled in by the repair team"},
     "columns": 1, "collapsed": True, "fields": ["parts", "total"]},
    {"label": {"en": "Report"}, "columns": 3, "fields": ["machine", "title"]}]}


def with_layout(layout=LAYOUT) -> dict:
    defn = copy.deepcopy(REPAIR_APP)
    defn["forms"][0]["layout"] = copy.deepcopy(layout)
    return defn


def sections_of(defn: dict) -> list[tuple]:
    form = App(load_definition(defn)).forms_by_key["ticket"]
    return [(s.label and s.label.get("en"), s.columns, s.collapsed, [f.key for f in s.fields]) for s in form.sections]


# -- the definition -------------------------------------------------------------------

def test_a_layout_is_accepted_and_exported_unchanged():
    text = dump_definition(load_definition(with_layout()))
    assert '"layout": {' in text
    assert load_definition(text)["forms"][0]["layout"] == LAYOUT


def test_fields_no_section_names_come_first_then_each_section_in_its_order():
    assert sections_of(with_layout()) == [
        (None, 2, False, ["qty", "status"]),
        ("Handling", 1, True, ["parts", "total"]),
        ("Report", 3, False, ["machine", "title"])]


def test_a_form_without_layout_is_one_untitled_single_column_group():
    assert sections_of(copy.deepcopy(REPAIR_APP)) == [
        (None, 1, False, ["title", "qty", "status", "parts", "total", "machine"])]


def test_a_section_takes_the_forms_columns_when_it_names_none():
    layout = {"columns": 3, "sections": [{"label": {"en": "All"}, "fields": ["title"]}]}
    assert sections_of(with_layout(layout))[1] == ("All", 3, False, ["title"])


def test_an_empty_section_is_kept_for_the_builder():
    layout = {"sections": [{"label": {"en": "Later"}, "fields": []}]}
    assert sections_of(with_layout(layout))[-1] == ("Later", 1, False, [])


def test_an_unknown_field_in_a_section_is_located_with_a_suggestion():
    layout = {"sections": [{"label": {"en": "S"}, "fields": ["titel"]}]}
    msgs = problems_at(with_layout(layout), "forms[0].layout.sections[0].fields[0]")
    assert msgs == ['"titel" is not a field of this form (did you mean "title"?)']


def test_a_subform_column_cannot_be_placed_in_a_section():
    layout = {"sections": [{"label": {"en": "S"}, "fields": ["price"]}]}
    msgs = problems_at(with_layout(layout), "forms[0].layout.sections[0].fields[0]")
    assert len(msgs) == 1 and 'column of subform "parts"' in msgs[0]


def test_a_field_placed_in_two_sections_is_refused():
    layout = {"sections": [{"label": {"en": "A"}, "fields": ["title"]}, {"label": {"en": "B"}, "fields": ["title"]}]}
    msgs = problems_at(with_layout(layout), "forms[0].layout.sections[1].fields[0]")
    assert msgs == ['field "title" is already placed in forms[0].layout.sections[0].fields[0]; '
                    'a field belongs to one section']


@pytest.mark.parametrize("layout, location", [
    ({"columns": 5}, "forms[0].layout.columns"),
    ({"sections": [{"label": {"en": "S"}, "fields": [], "columns": 0}]}, "forms[0].layout.sections[0].columns"),
    ({"sections": [{"fields": []}]}, "forms[0].layout.sections[0]"),
    ({"sections": [{"label": {"en": "S"}, "fields": [], "colour": "red"}]}, "forms[0].layout.sections[0].colour"),
    ({"rows": 2}, "forms[0].layout.rows"),
])
def test_a_malformed_layout_is_a_located_error(layout, location):
    with pytest.raises(DefinitionError) as info:
        load_definition(with_layout(layout))
    assert location in [e["location"] for e in info.value.errors], info.value.lines()


def test_a_layout_change_is_a_form_change_with_nothing_to_convert():
    old = load_definition(copy.deepcopy(REPAIR_APP))
    new = copy.deepcopy(old)
    new["forms"][0]["layout"] = LAYOUT
    changes = diff_definitions(old, load_definition(new))
    assert [(c["op"], c.get("property")) for c in changes] == [("change_form", "layout")]


def test_installing_a_new_layout_keeps_every_record(repair):
    rec = repair.records.create("repair", "ticket", {"title": "Pump", "qty": 2})
    result = repair.apps.install(with_layout())
    assert result["version"] == 2
    assert [step["op"] for step in result["plan"]] == ["change_form"]
    assert repair.records.get("repair", "ticket", rec["_id"])["title"] == "Pump"
    assert repair.form("repair", "ticket")[1].sections[1].label == {"zh-CN": "处理", "en": "Handling"}


def test_the_generated_json_schema_describes_the_layout():
    from engine.app_schema import app_schema
    layout = app_schema()["$defs"]["layout"]
    assert set(layout["properties"]) == {"columns", "sections"}
    assert layout["properties"]["sections"]["items"]["required"] == ["label", "fields"]


def test_a_validation_error_in_one_field_is_still_reported_beside_a_layout_error():
    defn = app(fld("a"), fld("b", "number", min=5, max=1), layout={"sections": [{"label": {"en": "S"}, "fields": ["c"]}]})
    with pytest.raises(DefinitionError) as info:
        load_definition(defn)
    locations = [e["location"] for e in info.value.errors]
    assert "forms[0].layout.sections[0].fields[0]" in locations and any(l.startswith("forms[0].fields[1]") for l in locations)


# -- a section's visibility rule ------------------------------------------------------

def _closing_section() -> dict:
    defn = copy.deepcopy(REPAIR_APP)
    defn["forms"][0]["fields"].append({"key": "cause", "type": "text", "label": {"en": "Cause"}, "required": True})
    defn["forms"][0]["layout"] = {"sections": [{"label": {"en": "Closing"}, "visible_if": 'status = "closed"',
                                                "fields": ["cause"]}]}
    return defn


def test_a_section_rule_is_checked_like_a_field_rule():
    defn = _closing_section()
    defn["forms"][0]["layout"]["sections"][0]["visible_if"] = 'stauts = "closed"'
    msgs = problems_at(defn, "forms[0].layout.sections[0].visible_if")
    assert len(msgs) == 1 and "stauts" in msgs[0] and "status" in msgs[0]
    defn["forms"][0]["layout"]["sections"][0]["visible_if"] = "qty + 1"
    assert problems_at(defn, "forms[0].layout.sections[0].visible_if")  # must give TRUE or FALSE


def test_a_required_field_in_a_hidden_section_is_not_asked_for(ff):
    ff.apps.install(_closing_section())
    rec = ff.records.create("repair", "ticket", {"title": "Pump", "status": "open"})
    assert rec["cause"] is None


def test_a_required_field_in_a_shown_section_is_asked_for(ff):
    from engine.errors import RecordValidationError
    ff.apps.install(_closing_section())
    with pytest.raises(RecordValidationError) as info:
        ff.records.create("repair", "ticket", {"title": "Pump", "status": "closed"})
    assert [e["location"] for e in info.value.errors] == ["cause"]


def test_the_entry_preview_hides_the_fields_of_a_hidden_section(site):
    site.ff.apps.install(_closing_section())
    client = _admin(site)
    token = csrf_of(client.get("/apps/repair/forms/ticket/new").get_data(as_text=True))
    for status, shown in (("open", False), ("closed", True)):
        r = client.post("/api/v1/apps/repair/forms/ticket/preview", json={"values": {"title": "t", "status": status}},
                        headers={"X-CSRFToken": token})
        assert r.status_code == 200 and r.get_json()["visible"]["cause"] is shown, r.get_json()


# -- the pages ------------------------------------------------------------------------

@pytest.fixture
def laid_out(site):
    site.ff.apps.install(with_layout())
    return site


def _admin(site):
    return client_of(site)


def test_the_entry_page_groups_fields_into_titled_sections_with_their_columns(laid_out):
    html = _admin(laid_out).get("/apps/repair/forms/ticket/new").get_data(as_text=True)
    grids = re.findall(r'<div class="section-grid cols-(\d)">(.*?)</div>\s*(?:</details>|</div>)', html, re.S)
    assert [cols for cols, _ in grids] == ["2", "1", "3"]
    keys = [re.findall(r'class="field [^"]*" data-key="(\w+)"', body) for _, body in grids]
    assert keys[0][:2] == ["qty", "status"] and keys[1][0] == "parts" and keys[2][:2] == ["machine", "title"]
    assert '<h2 class="section-title">Handling</h2>' in html or '<h2 class="section-title">处理</h2>' in html


def test_a_folded_section_starts_closed_and_an_open_one_open(laid_out):
    html = _admin(laid_out).get("/apps/repair/forms/ticket/new").get_data(as_text=True)
    details = re.findall(r'<details class="form-section titled" data-section( open)?>', html)
    assert details == ["", " open"]


def test_wide_fields_take_a_whole_row(laid_out):
    html = _admin(laid_out).get("/apps/repair/forms/ticket/new").get_data(as_text=True)
    assert re.search(r'class="field field-subform wide" data-key="parts"', html)
    assert re.search(r'class="field field-input" data-key="qty"', html)


def test_the_record_page_shows_the_same_sections(laid_out):
    rec = laid_out.ff.records.create("repair", "ticket", {"title": "Pump", "qty": 2})
    html = _admin(laid_out).get(f"/apps/repair/forms/ticket/records/{rec['_id']}").get_data(as_text=True)
    grids = re.findall(r'<dl class="section-grid cols-(\d)">', html)
    assert grids == ["2", "1", "3"]
    assert html.index('data-key="qty"') < html.index('data-key="parts"') < html.index('data-key="title"')


def test_section_titles_are_escaped(site):
    layout = {"sections": [{"label": {"zh-CN": "<img src=x onerror=alert(1)>", "en": "<img src=x onerror=alert(1)>"},
                            "description": "<script>alert(2)</script>", "fields": ["title"]}]}
    site.ff.apps.install(with_layout(layout))
    html = _admin(site).get("/apps/repair/forms/ticket/new").get_data(as_text=True)
    assert "<img src=x" not in html and "<script>alert(2)" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
