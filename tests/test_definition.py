"""The app definition format: schema, located errors, semantic checks, normal form, diff.

Read top to bottom as the specification of engine/definition.py and
engine/app_schema.py (docs/app-format.md explains the same to admins).
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest

from engine import app_schema, defaults, field_types
from engine.definition import (check_definition, diff_definitions, dump_definition,
                               format_location, load_definition)
from engine.errors import DefinitionError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "repair.json"
DOC = ROOT / "docs" / "app-format.md"


def example() -> dict:
    """The issue's repair app, as a fresh dict."""
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def problems(source, **kw) -> list[str]:
    """The DefinitionError lines of an invalid definition."""
    with pytest.raises(DefinitionError) as info:
        load_definition(source, **kw)
    assert info.value.errors, "a DefinitionError always lists its problems"
    for e in info.value.errors:
        assert set(e) == {"location", "message"}
    return info.value.lines()


def problems_at(source, location: str, **kw) -> list[str]:
    """Messages reported at exactly `location`."""
    with pytest.raises(DefinitionError) as info:
        load_definition(source, **kw)
    return [e["message"] for e in info.value.errors if e["location"] == location]


def app(*fields: dict, forms: list | None = None, **form_props) -> dict:
    """An app with one form "f" holding `fields` (plus `forms`)."""
    return {"key": "a", "label": {"en": "A"},
            "forms": [{"key": "f", "label": {"en": "F"}, "fields": list(fields), **form_props},
                      *(forms or [])]}


def fld(key: str, type_: str = "text", **props) -> dict:
    return {"key": key, "type": type_, "label": {"en": key}, **props}


# --------------------------------------------------------------------------- schema
class TestSchema:
    def test_is_a_valid_draft_2020_12_schema(self):
        jsonschema.Draft202012Validator.check_schema(app_schema.app_schema())

    def test_shipped_schema_file_is_current(self):
        shipped = app_schema.SCHEMA_PATH.read_text(encoding="utf-8")
        assert shipped == app_schema.schema_json(), \
            "engine/schema/app.schema.json is stale: run `python -m engine.app_schema`"

    def test_every_registered_field_type_is_in_the_schema(self):
        schema = app_schema.app_schema()
        assert schema["$defs"]["field"]["properties"]["type"]["enum"] == field_types.registry.names()

    def test_reserved_sections_are_accepted_and_extensible(self):
        defn = example()
        defn.update({"roles": [], "permissions": [], "automations": [], "approvals": [],
                     "views": [{"anything": 1}], "dashboards": [], "settings": {"x": 1}})
        out = load_definition(defn)
        assert out["views"] == [{"anything": 1}]
        assert list(out)[-7:] == app_schema.sections()[:7]
        assert problems_at({**example(), "settings": []}, "settings") == ["expected an object, got a list"]

    def test_register_section_adds_a_validated_section(self, monkeypatch):
        monkeypatch.setattr(app_schema, "_SECTIONS", dict(app_schema._SECTIONS))
        app_schema.register_section("reports", {"type": "array", "items": {"$ref": "#/$defs/key"}})
        assert load_definition({**example(), "reports": ["weekly"]})["reports"] == ["weekly"]
        assert problems_at({**example(), "reports": ["9x"]}, "reports[0]")[0].startswith('"9x" is not a valid key')
        with pytest.raises(ValueError):
            app_schema.register_section("forms", {})


# --------------------------------------------------------------------------- the example
class TestExample:
    def test_issue_example_is_valid(self):
        defn = load_definition(EXAMPLE.read_text(encoding="utf-8"))
        ticket, machine = defn["forms"]
        assert [f["key"] for f in ticket["fields"]] == ["title", "qty", "status", "parts", "total", "machine"]
        assert machine["fields"][0]["unique"] is True

    def test_accepts_dict_text_and_bytes_alike(self):
        text = EXAMPLE.read_text(encoding="utf-8")
        strip = lambda d: re.sub(r'"id": "\w+"', "", dump_definition(d))  # noqa: E731
        assert strip(load_definition(text)) == strip(load_definition(text.encode())) \
            == strip(load_definition(json.loads(text)))

    def test_formula_result_type_is_inferred(self):
        total = load_definition(example())["forms"][0]["fields"][4]
        assert total["result_type"] == "number"

    def test_does_not_modify_its_input(self):
        defn = example()
        before = copy.deepcopy(defn)
        load_definition(defn)
        assert defn == before


# --------------------------------------------------------------------------- errors
def many_mistakes() -> dict:
    defn = example()
    ticket = defn["forms"][0]["fields"]
    ticket[0]["requird"] = True                        # typo of a common property
    ticket[1]["min"] = True                            # wrong JSON type
    del ticket[2]["label"]                             # missing label
    ticket[4]["formula"] = "SUM(parts.price) * qtty"   # unknown field in a formula
    ticket[5]["target"] = "machin"                     # link to an unknown form
    defn["forms"][1]["fields"].append(fld("name"))     # duplicate key
    defn["forms"].append({"key": "visit", "label": {"en": "Visit"}, "fields": [
        fld("a"), fld("b"), fld("c"), fld("d"), fld("e"),
        fld("f", "nubmer")]})                          # unknown type
    return defn


class TestErrors:
    def test_every_mistake_is_reported_at_once_and_located(self):
        lines = problems(many_mistakes())
        assert 'forms[2].fields[5].type: "nubmer" is not a field type (did you mean "number"?)' in lines
        assert ('forms[0].fields[0].requird: unknown property "requird" of a text field '
                '(did you mean "required"?)') in lines
        assert "forms[0].fields[1].min: expected a number or text, got true" in lines
        assert 'forms[0].fields[2]: "label" is required (e.g. "label": {"en": "Title"})' in lines
        assert ('forms[0].fields[5].target: "machin" is not a form of this app '
                '(did you mean "machine"?)') in lines
        assert ('forms[1].fields[1].key: duplicate field key "name" '
                '(already used by forms[1].fields[0])') in lines
        formula = [line for line in lines if line.startswith("forms[0].fields[4].formula: ")]
        assert formula and re.match(r"forms\[0\]\.fields\[4\]\.formula: 1:\d+: .*qtty", formula[0])
        assert len(lines) == 7

    def test_errors_come_in_document_order(self):
        locations = [line.split(":")[0] for line in problems(many_mistakes())]
        assert locations == ["forms[0].fields[0].requird", "forms[0].fields[1].min",
                             "forms[0].fields[2]", "forms[0].fields[4].formula",
                             "forms[0].fields[5].target", "forms[1].fields[1].key",
                             "forms[2].fields[5].type"]

    def test_check_definition_lists_problems_without_raising(self):
        assert check_definition(example()) == []
        errors = check_definition(many_mistakes())
        assert {"location": "forms[2].fields[5].type",
                "message": '"nubmer" is not a field type (did you mean "number"?)'} in errors

    def test_unknown_type_without_close_match_lists_the_types(self):
        [msg] = problems_at(app(fld("x", "hologram")), "forms[0].fields[0].type")
        assert msg.startswith('"hologram" is not a field type (use one of: text, ')

    def test_unknown_top_level_and_form_properties_suggest_the_right_one(self):
        defn = example()
        defn["froms"] = defn.pop("forms")
        lines = problems(defn)
        assert 'froms: unknown property "froms" (did you mean "forms"?)' in lines
        assert '"forms" is required (a list of forms)' in lines
        defn = example()
        defn["forms"][0]["feilds"] = []
        assert problems_at(defn, "forms[0].feilds") == ['unknown property "feilds" (did you mean "fields"?)']

    def test_common_synonyms_are_suggested(self):
        defn = app(fld("x"), rules=[{"expr": "TRUE", "message": "m"}])
        assert problems_at(defn, "forms[0].rules[0].expr") == ['unknown property "expr" (did you mean "formula"?)']

    def test_type_specific_properties_belong_to_their_type(self):
        # "options" is a select property, not a text one; "min" is fine on a number
        [msg] = problems_at(app(fld("t", options=["a"]), fld("n", "number", min=1)),
                            "forms[0].fields[0].options")
        assert msg == 'unknown property "options" of a text field'

    def test_wrong_json_types_say_what_was_expected(self):
        defn = {**example(), "version": "3"}
        assert problems_at(defn, "version") == ['expected a whole number, got text "3"']
        defn = example()
        defn["forms"][0]["fields"][0]["required"] = "yes"
        assert problems_at(defn, "forms[0].fields[0].required") == ['expected true or false, got text "yes"']
        defn = example()
        defn["forms"][0]["label"] = "Ticket"
        assert problems_at(defn, "forms[0].label") == [
            'expected a label object like {"en": "Title", "zh-CN": "标题"}, got text "Ticket"']

    def test_labels_need_a_language_and_text(self):
        defn = app(fld("x", label={}), fld("y", label={"english": "Y"}), fld("z", label={"en": ""}))
        lines = problems(defn)
        assert 'forms[0].fields[0].label: give the text in at least one language, e.g. {"en": "Title"}' in lines
        assert 'forms[0].fields[1].label.english: "english" is not a language tag (use e.g. "en" or "zh-CN")' in lines
        assert "forms[0].fields[2].label.en: must not be empty" in lines

    def test_a_form_needs_fields_and_an_app_forms(self):
        assert problems_at(app(), "forms[0].fields") == ["needs at least one field"]
        assert problems_at({"key": "a", "label": {"en": "A"}, "forms": []}, "forms") == \
            ["an app needs at least one form"]

    def test_keys_are_identifiers_and_underscore_is_reserved(self):
        defn = app(fld("单价", "number"), fld("2nd"), fld("_id"), fld("a b"))
        lines = problems(defn)
        assert not any(line.startswith("forms[0].fields[0]") for line in lines)  # unicode keys are fine
        assert any(line.startswith('forms[0].fields[1].key: "2nd" is not a valid key') for line in lines)
        assert ('forms[0].fields[2].key: "_id": keys starting with "_" are reserved for system '
                'fields; choose another key') in lines
        assert any(line.startswith('forms[0].fields[3].key: "a b" is not a valid key') for line in lines)

    @pytest.mark.parametrize("hostile", ["x'; drop table", 'a"b', "a.b", "1abc", "", "a" * 64,
                                         "abc\n", "ａｂｃ", "fld_é"])
    def test_hostile_ids_are_rejected(self, hostile):
        for defn, where in ((app(fld("x", id=hostile)), "forms[0].fields[0].id"),
                            (app(fld("x"), id=hostile), "forms[0].id")):
            msgs = problems_at(defn, where)
            assert len(msgs) == 1 and "is not a valid id" in msgs[0]

    def test_ids_are_kept_when_valid(self):
        defn = load_definition(app(fld("x", id="fld_custom_1"), id="Form1"))
        assert defn["forms"][0]["id"] == "Form1"
        assert defn["forms"][0]["fields"][0]["id"] == "fld_custom_1"

    def test_location_format(self):
        assert format_location(("forms", 2, "fields", 5, "type")) == "forms[2].fields[5].type"
        assert format_location(("forms", 0, "label", "zh-CN")) == "forms[0].label.zh-CN"
        assert format_location(("x", "a b")) == 'x["a b"]'
        assert format_location(()) == ""


# --------------------------------------------------------------------------- JSON text
class TestSource:
    def test_malformed_json_is_located_by_line_and_column(self):
        text = '{"key": "a",\n "label": {"en": "A"},\n}'
        with pytest.raises(DefinitionError) as info:
            load_definition(text)
        [error] = info.value.errors
        assert error["location"] == "line 3, column 1"
        assert error["message"].startswith("invalid JSON: Expecting property name enclosed in double quotes")

    def test_the_top_level_must_be_an_object(self):
        for source in ("[]", "42", b'"app"', [1]):
            [line] = problems(source)
            assert line.startswith("an app definition must be a JSON object")

    def test_size_limit(self):
        big = '{"key": "a", "label": {"en": "' + "x" * defaults.MAX_DEFINITION_BYTES + '"}}'
        for source in (big, big.encode(), json.loads(big)):
            [line] = problems(source)
            assert line.startswith("the definition is ") and "the limit is 5,000,000 bytes" in line

    def test_size_counts_utf8_bytes(self, monkeypatch):
        monkeypatch.setattr(defaults, "MAX_DEFINITION_BYTES", 200)
        text = json.dumps(app(fld("x", label={"zh-CN": "中" * 40})), ensure_ascii=False)
        assert len(text) < 200 < len(text.encode())
        assert problems(text)[0].startswith("the definition is ")

    def test_nan_infinity_and_bad_utf8_are_refused(self):
        assert "NaN is not valid JSON" in problems('{"key": NaN}')[0]
        assert problems(b'{"key": "\xff"}')[0].startswith("the definition is not UTF-8 text")
        assert problems({"key": float("inf")})[0].startswith("the definition contains a value that is not JSON")

    def test_deep_nesting_is_refused_not_crashing(self):
        assert "nested too deeply" in problems("[" * 100_000 + "]" * 100_000)[0]

    def test_utf8_bom_is_accepted(self):
        load_definition(b"\xef\xbb\xbf" + EXAMPLE.read_bytes())


# --------------------------------------------------------------------------- semantics
class TestUniqueness:
    def test_duplicate_form_keys_and_ids(self):
        defn = app(fld("x"), id="frm_a", forms=[{"key": "f", "id": "frm_a", "label": {"en": "G"},
                                                 "fields": [fld("y")]}])
        lines = problems(defn)
        assert 'forms[1].key: duplicate form key "f" (already used by forms[0])' in lines
        assert 'forms[1].id: duplicate form id "frm_a" (already used by forms[0])' in lines

    def test_duplicate_field_ids_within_a_form_including_subforms(self):
        defn = app(fld("x", id="fld_1"), fld("s", "subform", fields=[fld("y", id="fld_1")]))
        assert problems(defn) == ['forms[0].fields[1].fields[0].id: duplicate field id "fld_1" '
                                  '(already used by forms[0].fields[0])']

    def test_same_field_id_in_two_forms_is_fine(self):
        load_definition(app(fld("x", id="fld_1"), forms=[{"key": "g", "label": {"en": "G"},
                                                           "fields": [fld("x", id="fld_1")]}]))

    def test_subform_child_keys_are_unique_within_the_subform(self):
        defn = app(fld("part"), fld("s", "subform", fields=[fld("part"), fld("part")]))
        assert problems(defn) == ['forms[0].fields[1].fields[1].key: duplicate field key "part" '
                                  '(already used by forms[0].fields[1].fields[0])']

    def test_subforms_do_not_nest(self):
        defn = app(fld("s", "subform", fields=[fld("t", "subform", fields=[fld("x")])]))
        assert problems_at(defn, "forms[0].fields[0].fields[0].type") == [
            "a subform cannot contain another subform; use a link to another form instead"]

    def test_field_limit(self, monkeypatch):
        monkeypatch.setattr(defaults, "MAX_FIELDS_PER_FORM", 3)
        load_definition(app(fld("a"), fld("b"), fld("c")))
        defn = app(fld("a"), fld("s", "subform", fields=[fld("b"), fld("c")]))
        assert problems(defn) == ["forms[0].fields: has 4 fields (subform fields included); the limit is 3"]

    def test_title_field_must_exist(self):
        assert problems(app(fld("name"), title_field="nmae")) == [
            'forms[0].title_field: "nmae" is not a field of this form (did you mean "name"?)']


class TestReferences:
    def test_link_target_in_the_same_app(self):
        defn = example()
        defn["forms"][0]["fields"][5]["target"] = "repair.machine"  # own app, qualified
        load_definition(defn)

    def test_cross_app_targets_are_checked_by_the_installed_callable(self):
        defn = example()
        defn["forms"][0]["fields"][5]["target"] = "crm.customer"
        load_definition(defn)  # no callable: accepted
        seen = []
        load_definition(defn, installed=lambda a, f: seen.append((a, f)) or True)
        assert seen == [("crm", "customer")]
        assert problems(defn, installed=lambda a, f: False) == [
            'forms[0].fields[5].target: "crm.customer" is not an installed form (no form "customer" '
            'in app "crm"); install that app first or fix the target']

    def test_link_display_field_exists_in_the_target(self):
        defn = example()
        defn["forms"][0]["fields"][5]["display_field"] = "nmae"
        assert problems(defn) == ['forms[0].fields[5].display_field: "nmae" is not a field of form '
                                  '"machine" (did you mean "name"?)']

    def test_lookup_reads_an_existing_field_through_a_link(self):
        lookup = fld("machine_name", "lookup", link="machine", field="name")
        defn = example()
        defn["forms"][0]["fields"].append(lookup)
        out = load_definition(defn)
        assert out["forms"][0]["fields"][6]["result_type"] == "text"  # normalised from the target

        bad = example()
        bad["forms"][0]["fields"].append(fld("l1", "lookup", link="machin", field="name"))
        bad["forms"][0]["fields"].append(fld("l2", "lookup", link="qty", field="name"))
        bad["forms"][0]["fields"].append(fld("l3", "lookup", link="machine", field="nmae"))
        assert problems(bad) == [
            'forms[0].fields[6].link: "machin" is not a field of this form (did you mean "machine"?)',
            'forms[0].fields[7].link: "qty" is a number field; a lookup reads through a link field',
            'forms[0].fields[8].field: "nmae" is not a field of form "machine" (did you mean "name"?)']

    def test_lookup_through_a_multiple_link_is_marked_multiple(self):
        defn = example()
        defn["forms"][0]["fields"][5]["multiple"] = True
        defn["forms"][0]["fields"].append(fld("names", "lookup", link="machine", field="name"))
        assert load_definition(defn)["forms"][0]["fields"][6]["multiple"] is True

    def test_rollup_aggregates_a_field_of_a_subform_or_link(self):
        defn = example()
        defn["forms"][0]["fields"].append(fld("sum", "rollup", source="parts", field="price", function="SUM"))
        defn["forms"][0]["fields"].append(fld("n", "rollup", source="machine", function="COUNT"))
        load_definition(defn)

        bad = example()
        bad["forms"][0]["fields"].append(fld("r1", "rollup", source="prts", field="price", function="SUM"))
        bad["forms"][0]["fields"].append(fld("r2", "rollup", source="parts", field="prise", function="SUM"))
        bad["forms"][0]["fields"].append(fld("r3", "rollup", source="title", field="x", function="SUM"))
        assert problems(bad) == [
            'forms[0].fields[6].source: "prts" is not a field of this form (did you mean "parts"?)',
            'forms[0].fields[7].field: "prise" is not a field of subform "parts" (did you mean "price"?)',
            'forms[0].fields[8].source: "title" is a text field; a rollup aggregates a subform or a link field']

    def test_rollup_where_sees_the_rows_fields(self):
        defn = example()
        defn["forms"][0]["fields"].append(fld("r", "rollup", source="parts", field="price",
                                              function="SUM", where="pricee > 0"))
        [msg] = problems_at(defn, "forms[0].fields[6].where")
        assert re.match(r"1:\d+: .*pricee", msg)


class TestExpressions:
    def test_formula_diagnostics_are_located_with_line_and_column(self):
        defn = example()
        defn["forms"][0]["fields"][4]["formula"] = "SUM(parts.price) * qtty"
        [msg] = problems_at(defn, "forms[0].fields[4].formula")
        assert re.match(r"1:\d+: ", msg) and "qtty" in msg

    def test_visible_if_default_formula_and_rules_are_checked(self):
        defn = app(fld("qty", "number"),
                   fld("note", visible_if="qtyy > 1"),
                   fld("when", "date", default_formula="TODAYY()"),
                   rules=[{"formula": "qtty > 0", "message": "Quantity must be positive"}])
        lines = problems(defn)
        assert [line.split(": ")[0] for line in lines] == [
            "forms[0].fields[1].visible_if", "forms[0].fields[2].default_formula",
            "forms[0].rules[0].formula"]

    def test_conditions_must_give_true_or_false(self):
        defn = app(fld("qty", "number"), fld("note", visible_if="qty + 1"),
                   rules=[{"formula": "qty * 2", "message": {"en": "x"}}])
        lines = problems(defn)
        assert "forms[0].fields[1].visible_if: must be TRUE or FALSE, but this expression gives a number" in lines
        assert "forms[0].rules[0].formula: must be TRUE or FALSE, but this expression gives a number" in lines

    def test_valid_rules_get_ids(self):
        defn = load_definition(app(fld("qty", "number"),
                                   rules=[{"formula": "qty > 0", "message": {"en": "positive"}}]))
        assert re.fullmatch(r"rul_[a-z2-7]{10}", defn["forms"][0]["rules"][0]["id"])

    def test_subform_child_formulas_see_the_row_and_the_record_as_parent(self):
        defn = app(fld("rate", "number"),
                   fld("lines", "subform", fields=[
                       fld("qty", "number"), fld("price", "number"),
                       fld("amount", "formula", formula="qty * price * $parent.rate")]))
        out = load_definition(defn)
        assert out["forms"][0]["fields"][1]["fields"][2]["result_type"] == "number"
        defn["forms"][0]["fields"][1]["fields"][2]["formula"] = "qty * rate"
        [msg] = problems_at(defn, "forms[0].fields[1].fields[2].formula")
        assert "rate" in msg

    def test_formula_cycles_are_named(self):
        defn = app(fld("qty", "number"), fld("a", "formula", formula="b + 1"),
                   fld("b", "formula", formula="a + qty"), fld("c", "formula", formula="c * 2"))
        lines = problems(defn)
        assert ("forms[0].fields[1].formula: formula fields depend on each other in a cycle: "
                "a → b → a; break the cycle") in lines
        assert ("forms[0].fields[3].formula: formula fields depend on each other in a cycle: "
                "c → c; break the cycle") in lines
        assert len(lines) == 2

    def test_formulas_may_use_formulas_in_any_order(self):
        defn = app(fld("qty", "number"), fld("gross", "formula", formula="net * 2"),
                   fld("net", "formula", formula="qty + 1"))
        out = load_definition(defn)
        assert [f.get("result_type") for f in out["forms"][0]["fields"]] == [None, "number", "number"]

    def test_declared_result_type_must_fit(self):
        defn = app(fld("qty", "number"), fld("t", "formula", formula="qty * 2", result_type="date"))
        assert problems(defn) == ['forms[0].fields[1].result_type: the formula gives a number, but '
                                  'result_type "date" holds a date']
        load_definition(app(fld("qty", "number"),
                            fld("t", "formula", formula="qty * 2", result_type="money")))


class TestValues:
    def test_defaults_are_checked_by_the_field_type(self):
        defn = app(fld("n", "number", default="abc"), fld("s", "select", options=["open"], default="opne"),
                   fld("ok", "number", default=3), fld("flag", "boolean", default=True))
        lines = problems(defn)
        assert len(lines) == 2
        assert lines[0].startswith('forms[0].fields[0].default: text "abc" is not a valid default: ')
        assert lines[1].startswith('forms[0].fields[1].default: text "opne" is not a valid default: ')

    def test_default_respects_constraints(self):
        [msg] = problems_at(app(fld("n", "number", min=0, default=-1)), "forms[0].fields[0].default")
        assert msg.startswith("the number -1 is not a valid default")

    def test_computed_fields_have_no_default(self):
        defn = app(fld("qty", "number"), fld("t", "formula", formula="qty", default=1))
        assert problems(defn) == [
            "forms[0].fields[1].default: a formula field is computed by the engine and cannot have a default"]

    def test_default_or_default_formula(self):
        defn = app(fld("d", "date", default="2026-01-01", default_formula="TODAY()"))
        assert problems(defn) == ['forms[0].fields[0].default_formula: give either "default" or '
                                  '"default_formula", not both']

    def test_select_options_are_unique(self):
        defn = app(fld("s", "select", options=["open", "closed", "open"]),
                   fld("m", "multiselect", options=[{"value": "a"}, {"value": "a", "label": "A"}]))
        lines = problems(defn)
        assert 'forms[0].fields[0].options[2]: duplicate option "open" (also options[0])' in lines
        assert 'forms[0].fields[1].options[1]: duplicate option "a" (also options[0])' in lines
        assert len(lines) == 2

    def test_min_is_not_above_max(self):
        defn = app(fld("n", "number", min=10, max=5), fld("t", min_length=9, max_length=2),
                   fld("d", "date", min="2026-02-01", max="2026-01-01"), fld("ok", "number", min=1, max=1))
        lines = problems(defn)
        assert [line.split(":")[0] for line in lines] == [
            "forms[0].fields[0].min", "forms[0].fields[1].min_length", "forms[0].fields[2].min"]

    def test_regular_expressions_must_compile(self):
        [msg] = problems_at(app(fld("code", pattern="[A-Z")), "forms[0].fields[0].pattern")
        assert "[A-Z" in msg or "regular expression" in msg or "pattern" in msg

    def test_serial_patterns_are_checked(self):
        load_definition(app(fld("no", "serial", pattern="SO-{YYYY}{MM}-{0000}")))
        assert problems_at(app(fld("no", "serial", pattern="SO-{YYYY")), "forms[0].fields[0].pattern")


# --------------------------------------------------------------------------- normal form
class TestNormalForm:
    def test_ids_are_assigned_when_missing_and_kept_when_given(self):
        defn = example()
        defn["forms"][1]["id"] = "frm_machines"
        defn["forms"][1]["fields"][0]["id"] = "fld_name"
        out = load_definition(defn)
        ticket, machine = out["forms"]
        assert machine["id"] == "frm_machines" and machine["fields"][0]["id"] == "fld_name"
        assert re.fullmatch(r"frm_[a-z2-7]{10}", ticket["id"])
        ids = [f["id"] for f in ticket["fields"]] + [c["id"] for c in ticket["fields"][3]["fields"]]
        assert all(re.fullmatch(r"fld_[a-z2-7]{10}", i) for i in ids)
        assert len(set(ids)) == len(ids) == 8

    def test_export_round_trips_byte_identically(self):
        first = dump_definition(load_definition(EXAMPLE.read_text(encoding="utf-8")))
        second = dump_definition(load_definition(first))
        assert first == second
        assert dump_definition(load_definition(second.encode())) == first

    def test_documented_complete_example_round_trips(self):
        first = dump_definition(load_definition(doc_example()))
        assert dump_definition(load_definition(first)) == first

    def test_canonical_key_order_does_not_depend_on_input_order(self):
        once = load_definition(example())
        shuffled = json.loads(json.dumps(once), object_pairs_hook=lambda kv: dict(reversed(kv)))
        shuffled["label"] = once["label"]
        for f_old, f_new in zip(once["forms"], shuffled["forms"]):
            f_new["label"] = f_old["label"]
            for a, b in zip(f_old["fields"], f_new["fields"]):
                b["label"] = a["label"]
                for ca, cb in zip(a.get("fields", ()), b.get("fields", ())):
                    cb["label"] = ca["label"]
        assert dump_definition(shuffled) == dump_definition(once)

    def test_canonical_text(self):
        text = dump_definition(load_definition(example()))
        assert text.endswith("}\n") and '"设备报修"' in text and '\n  "label": {' in text
        field = json.loads(text)["forms"][0]["fields"][1]
        assert list(field) == ["id", "key", "type", "label", "indexed", "min"]
        assert list(json.loads(text)["forms"][0]) == ["id", "key", "label", "fields"]


# --------------------------------------------------------------------------- diff
def ops(changes: list[dict]) -> list[tuple]:
    return [(c["op"], c.get("from"), c.get("to")) if "from" in c else (c["op"], c.get("key"))
            for c in changes]


class TestDiff:
    def base(self) -> dict:
        return load_definition(example())

    def test_no_change(self):
        old = self.base()
        assert diff_definitions(old, load_definition(dump_definition(old))) == []

    def test_key_change_with_the_same_id_is_a_rename(self):
        old = self.base()
        new = copy.deepcopy(old)
        new["forms"][0]["fields"][1]["key"] = "quantity"
        new["forms"][0]["fields"][4]["formula"] = "SUM(parts.price) * quantity"
        new = load_definition(new)
        changes = diff_definitions(old, new)
        field_id = old["forms"][0]["fields"][1]["id"]
        assert {"op": "rename_field", "form": old["forms"][0]["id"], "field": field_id,
                "from": "qty", "to": "quantity"} in changes
        assert [c["op"] for c in changes] == ["rename_field", "change_property"]

    def test_new_id_is_add_and_missing_id_is_remove(self):
        old = self.base()
        new = copy.deepcopy(old)
        removed = new["forms"][0]["fields"].pop(0)
        new["forms"][0]["fields"].append(fld("title"))  # same key, no id: a new field
        new = load_definition(new)
        changes = diff_definitions(old, new)
        added_id = new["forms"][0]["fields"][-1]["id"]
        assert {"op": "add_field", "form": old["forms"][0]["id"], "field": added_id,
                "key": "title", "type": "text"} in changes
        assert {"op": "remove_field", "form": old["forms"][0]["id"], "field": removed["id"],
                "key": "title"} in changes
        assert len(changes) == 2

    def test_type_option_and_constraint_changes(self):
        old = self.base()
        new = copy.deepcopy(old)
        fields = new["forms"][0]["fields"]
        fields[0]["type"] = "textarea"
        fields[1]["min"] = 1
        fields[1]["indexed"] = False
        fields[2]["options"] = ["open", "waiting"]
        fields[0]["label"] = {"en": "Subject"}
        changes = diff_definitions(old, load_definition(new))
        assert ("change_type", "text", "textarea") in ops(changes)
        assert ("change_constraint", 0, 1) in ops(changes)
        assert ("change_constraint", True, False) in ops(changes)
        opt = next(c for c in changes if c["op"] == "change_options")
        assert opt["added"] == ["waiting"] and opt["removed"] == ["closed"]
        label = next(c for c in changes if c["op"] == "change_property")
        assert label["property"] == "label"

    def test_subform_children_and_forms(self):
        old = self.base()
        new = copy.deepcopy(old)
        new["forms"][0]["fields"][3]["fields"].append(fld("qty", "number"))
        new["forms"][1]["key"] = "equipment"
        new["forms"][0]["fields"][5]["target"] = "equipment"
        new["forms"].append({"key": "visit", "label": {"en": "Visit"}, "fields": [fld("when", "date")]})
        new = load_definition(new)
        changes = diff_definitions(old, new)
        parts_id = old["forms"][0]["fields"][3]["id"]
        child = next(c for c in changes if c["op"] == "add_field" and c["key"] == "qty")
        assert child["parent"] == parts_id
        assert {"op": "rename_form", "form": old["forms"][1]["id"], "from": "machine",
                "to": "equipment"} in changes
        assert ("change_constraint", "machine", "equipment") in ops(changes)  # link target
        assert [c["op"] for c in changes if c.get("form") == new["forms"][2]["id"]] == ["add_form", "add_field"]
        back = diff_definitions(new, old)
        assert {"op": "remove_form", "form": new["forms"][2]["id"], "key": "visit"} in back


# --------------------------------------------------------------------------- documentation
def doc_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split("## Complete example", 1)[1].split("```json", 1)[1].split("```", 1)[0]


class TestDocumentation:
    def test_every_registered_field_type_is_documented(self):
        text = DOC.read_text(encoding="utf-8")
        missing = [name for name in field_types.registry.names() if f"### `{name}`" not in text]
        assert not missing, f"undocumented field types {missing}: run `python -m engine.app_schema`"

    def test_generated_reference_is_current(self):
        text = DOC.read_text(encoding="utf-8")
        assert app_schema.render_doc(text) == text, \
            "docs/app-format.md is stale: run `python -m engine.app_schema`"

    def test_complete_example_is_valid_and_shows_every_field_type(self):
        defn = load_definition(doc_example())
        used = {f["type"] for form in defn["forms"] for f in form["fields"]}
        used |= {c["type"] for form in defn["forms"] for f in form["fields"] for c in f.get("fields", ())}
        assert set(field_types.registry.names()) <= used

    def test_documented_error_example_is_real(self):
        line = 'forms[2].fields[5].type: "nubmer" is not a field type (did you mean "number"?)'
        assert line in problems(many_mistakes()) and line in DOC.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- robustness
_JUNK = [None, True, 0, -1, 1.5, "", "x", "nubmer", "_x", [], {}, [1], {"a": 1}, "machine",
         "qty", "a.b", "SUM(", "{0000}", {"en": "x"}, ["a", "a"], "x'; drop table"]


def test_any_mangled_definition_is_either_rejected_cleanly_or_round_trips():
    """Random damage to the complete example never crashes the loader."""
    import random
    rng = random.Random(20261205)
    base = json.loads(doc_example())

    def paths(obj, path=()):
        yield path
        items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
        for k, v in items:
            yield from paths(v, path + (k,))

    every = list(paths(base))[1:]
    for _ in range(120):
        defn = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            *parents, last = rng.choice(every)
            node = defn
            try:
                for part in parents:
                    node = node[part]
                if isinstance(node, dict) and rng.random() < 0.2:
                    node.pop(last, None)
                else:
                    node[last] = copy.deepcopy(rng.choice(_JUNK))
            except (KeyError, IndexError, TypeError):
                pass
        try:
            out = load_definition(defn)
        except DefinitionError as exc:
            assert exc.errors and all(isinstance(e["message"], str) for e in exc.errors)
            continue
        text = dump_definition(out)
        assert dump_definition(load_definition(text)) == text
