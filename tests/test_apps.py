"""Installing definitions as versions and evolving a populated form without losing a value."""
from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.errors import DefinitionError, NotFound, StaleVersion
from tests.conftest import REPAIR_APP

NOTES_APP = {
    "key": "notes", "label": {"en": "Notes"},
    "forms": [{"key": "note", "label": {"en": "Note"}, "fields": [
        {"key": "title", "type": "text", "label": {"en": "Title"}},
        {"key": "amount", "type": "text", "label": {"en": "Amount"}},
        {"key": "score", "type": "number", "label": {"en": "Score"}, "indexed": True}]}]}

AMOUNTS = ["12", "7.50", "abc", "", None, "1e3", "-3"]


@pytest.fixture
def notes(ff):
    """The notes app with one record per sample amount."""
    ff.apps.install(copy.deepcopy(NOTES_APP))
    ids = []
    for i, amount in enumerate(AMOUNTS):
        values = {"title": f"note {i}", "score": i}
        if amount is not None:
            values["amount"] = amount if amount != "" else None
        ids.append(ff.records.create("notes", "note", values)["_id"])
    return ff, ids


def installed(ff, key="notes") -> dict:
    return json.loads(ff.apps.export(key))


def all_values(ff, ids, form="note", app="notes"):
    return [ff.records.get(app, form, i) for i in ids]


def test_first_install_is_version_1_with_ids_assigned(ff):
    result = ff.apps.install(copy.deepcopy(REPAIR_APP))
    assert result["version"] == 1 and result["created"]
    defn = installed(ff, "repair")
    assert all(f["id"] for form in defn["forms"] for f in form["fields"])


def test_export_round_trips_byte_identically(ff):
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    first = ff.apps.export("repair")
    ff.apps.install(first)
    assert ff.apps.export("repair") == first
    assert json.loads(first)["version"] == 1


def test_reinstalling_the_same_file_changes_nothing(ff):
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    result = ff.apps.install(copy.deepcopy(REPAIR_APP))
    assert result["plan"] == [] and result["version"] == 1


def test_a_file_without_ids_updates_the_installed_fields(notes):
    ff, ids = notes
    defn = copy.deepcopy(NOTES_APP)
    defn["forms"][0]["fields"][0]["label"] = {"en": "Heading"}
    result = ff.apps.install(defn)
    assert [s["op"] for s in result["plan"]] == ["change_field"]
    assert all_values(ff, ids)[0]["title"] == "note 0"


@pytest.mark.parametrize("prop, value", [
    ("label", {"en": "Memo"}),
    ("rules", [{"formula": "score >= 0", "message": "score must not be negative"}]),
    ("title_field", "title"),
])
def test_a_change_of_form_properties_alone_is_a_new_version(notes, prop, value):
    ff, ids = notes
    defn = installed(ff)
    defn["forms"][0][prop] = value
    result = ff.apps.install(defn)
    assert result["version"] == 2 and [(s["op"], s["property"]) for s in result["plan"]] == [("change_form", prop)]
    stored = installed(ff)["forms"][0][prop]
    assert stored == value if prop != "rules" else stored[0]["formula"] == "score >= 0"
    assert all_values(ff, ids)[0]["title"] == "note 0"


def _parts(defn) -> list:
    return next(f for f in defn["forms"][0]["fields"] if f["key"] == "parts")["fields"]


def test_adding_a_subform_column_alone_is_a_new_version(ff):
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    defn = installed(ff, "repair")
    _parts(defn).append({"key": "note", "type": "text", "label": {"en": "Note"}})
    result = ff.apps.install(defn)
    assert result["version"] == 2 and [s["op"] for s in result["plan"]] == ["change_field"]
    assert [c["key"] for c in _parts(installed(ff, "repair"))] == ["part", "price", "note"]


def test_a_subform_column_type_change_converts_every_row_and_keeps_what_does_not(ff):
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    rec = ff.records.create("repair", "ticket", {"title": "t", "parts": [
        {"part": "12", "price": "2.5"}, {"part": "seal", "price": "3"}]})
    defn = installed(ff, "repair")
    _parts(defn)[0]["type"] = "number"
    result = ff.apps.install(defn)
    (step,) = [s for s in result["plan"] if s["op"] == "change_type"]
    assert step["field"] == "parts.part" and (step["report"]["converted"], step["report"]["failed"]) == (1, 1)
    got = ff.records.get("repair", "ticket", rec["_id"])
    assert [r["part"] for r in got["parts"]] == [Decimal("12"), None]
    seal_row = got["parts"][1]["_id"]
    (kept,) = got["_legacy"].values()
    assert kept == {"type": "text", "rows": {seal_row: "seal"}}
    # the kept value survives later writes of the record
    ff.records.update("repair", "ticket", rec["_id"], {"title": "t2"})
    assert ff.records.get("repair", "ticket", rec["_id"])["_legacy"] == got["_legacy"]


def test_a_subform_column_type_change_dry_run_reports_and_changes_nothing(ff):
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    rec = ff.records.create("repair", "ticket", {"title": "t", "parts": [{"part": "seal"}]})
    defn = installed(ff, "repair")
    _parts(defn)[0]["type"] = "number"
    result = ff.apps.install(defn, dry_run=True)
    assert [s["report"]["failed"] for s in result["plan"] if s["op"] == "change_type"] == [1]
    assert ff.records.get("repair", "ticket", rec["_id"])["parts"][0]["part"] == "seal"


def test_add_a_field_keeps_every_value(notes):
    ff, ids = notes
    before = all_values(ff, ids)
    defn = installed(ff)
    defn["forms"][0]["fields"].append({"key": "extra", "type": "text", "label": {"en": "Extra"}})
    result = ff.apps.install(defn)
    assert result["version"] == 2 and result["plan"][0]["op"] == "add_field"
    after = all_values(ff, ids)
    for old, new in zip(before, after):
        assert new["extra"] is None
        assert {k: v for k, v in new.items() if k != "extra"} == old


def test_rename_a_field_keeps_every_value(notes):
    ff, ids = notes
    before = all_values(ff, ids)
    defn = installed(ff)
    defn["forms"][0]["fields"][0]["key"] = "heading"
    result = ff.apps.install(defn)
    assert result["plan"][0]["op"] == "rename_field"
    for old, new in zip(before, all_values(ff, ids)):
        assert new["heading"] == old["title"] and "title" not in new


def test_delete_then_restore_a_field_brings_every_value_back(notes):
    ff, ids = notes
    before = all_values(ff, ids)
    defn = installed(ff)
    removed = defn["forms"][0]["fields"].pop(1)
    result = ff.apps.install(defn)
    assert result["plan"][0]["op"] == "remove_field"
    assert all("amount" not in r for r in all_values(ff, ids))
    ff.records.update("notes", "note", ids[0], {"title": "edited while deleted"})
    assert removed["id"] in ff.apps.removed_fields("notes")
    ff.apps.restore_field("notes", removed["id"])
    after = all_values(ff, ids)
    assert [r["amount"] for r in after] == [r["amount"] for r in before]


def test_purge_erases_a_deleted_field(notes):
    ff, ids = notes
    defn = installed(ff)
    removed = defn["forms"][0]["fields"].pop(1)
    ff.apps.install(defn)
    assert ff.apps.purge_field("notes", removed["id"]) == 5
    with pytest.raises(NotFound):
        ff.apps.restore_field("notes", removed["id"])


def test_change_type_converts_and_keeps_what_does_not_convert(notes):
    ff, ids = notes
    defn = installed(ff)
    defn["forms"][0]["fields"][1]["type"] = "number"
    result = ff.apps.install(defn)
    step = result["plan"][0]
    assert step["op"] == "change_type"
    assert step["report"]["converted"] == 4 and step["report"]["failed"] == 1
    assert step["report"]["samples"][0]["value"] == "abc"
    after = all_values(ff, ids)
    assert [r["amount"] for r in after] == [Decimal("12"), Decimal("7.5"), None, None, None, Decimal("1000"), Decimal("-3")]
    assert after[2]["_legacy"] == {defn["forms"][0]["fields"][1]["id"]: {"value": "abc", "type": "text"}}


def test_dry_run_reports_without_changing_anything(notes):
    ff, ids = notes
    before = all_values(ff, ids)
    defn = installed(ff)
    defn["forms"][0]["fields"][1]["type"] = "number"
    result = ff.apps.install(defn, dry_run=True)
    assert result["plan"][0]["report"]["failed"] == 1
    assert all_values(ff, ids) == before
    assert installed(ff)["version"] == 1


def test_versions_are_numbered_and_kept(notes):
    ff, _ = notes
    defn = installed(ff)
    defn["forms"][0]["fields"][0]["label"] = {"en": "Heading"}
    ff.apps.install(defn)
    assert [v["version"] for v in ff.apps.versions("notes")] == [1, 2]


def test_concurrent_definition_edits_are_detected(notes):
    ff, _ = notes
    defn = installed(ff)
    defn["forms"][0]["fields"][0]["label"] = {"en": "A"}
    ff.apps.install(defn, expected_version=1)
    defn["forms"][0]["fields"][0]["label"] = {"en": "B"}
    with pytest.raises(StaleVersion):
        ff.apps.install(defn, expected_version=1)


def test_an_invalid_definition_installs_nothing(ff):
    bad = copy.deepcopy(NOTES_APP)
    bad["forms"][0]["fields"][0]["type"] = "nubmer"
    with pytest.raises(DefinitionError):
        ff.apps.install(bad)
    with pytest.raises(NotFound):
        ff.apps.export("notes")


def test_indexed_fields_get_an_expression_index(notes):
    ff, _ = notes
    form = ff.form("notes", "note")[1]
    with ff.db.read() as conn:
        if ff.db.dialect == "sqlite":
            names = conn.exec_driver_sql("select name from sqlite_master where type='index'").scalars().all()
        else:
            names = conn.exec_driver_sql("select indexname from pg_indexes").scalars().all()
    assert any(form.field("score").id in n for n in names)


def test_adding_an_index_later_needs_no_rewrite(notes):
    ff, ids = notes
    defn = installed(ff)
    defn["forms"][0]["fields"][0]["indexed"] = True
    ff.apps.install(defn)
    with ff.db.read() as conn:
        ft = ff.form_table(ff.form("notes", "note")[1])
        versions = conn.execute(sa.select(ft.c.version)).scalars().all()
    assert set(versions) == {1}


def test_uninstall_refuses_an_app_with_records_unless_forced(notes):
    from engine.errors import Conflict
    ff, ids = notes
    with pytest.raises(Conflict):
        ff.apps.uninstall("notes")
    assert ff.apps.uninstall("notes", force=True) == {"app": "notes", "forms": 1, "records": len(ids)}
    with pytest.raises(NotFound):
        ff.apps.export("notes")
    ff.apps.install(copy.deepcopy(NOTES_APP))  # the key can be used again, from nothing
    _, form = ff.form("notes", "note")
    from engine.queries import count_records
    with ff.db.read() as conn:
        assert count_records(conn, ff, form) == 0


def test_uninstall_refuses_while_another_app_links_to_it(ff):
    from engine.errors import Conflict
    ff.apps.install(copy.deepcopy(NOTES_APP))
    ff.apps.install({"key": "other", "label": {"en": "Other"}, "forms": [{"key": "ref", "label": {"en": "Ref"},
                     "fields": [{"key": "note", "type": "link", "label": {"en": "Note"}, "target": "notes.note"}]}]})
    with pytest.raises(Conflict) as err:
        ff.apps.uninstall("notes")
    assert "other" in str(err.value)
