"""App definitions over the REST API: list, install, read with ETag, change with If-Match, dry runs."""
from __future__ import annotations

import copy

from tests.conftest import REPAIR_APP
from tests.test_api_fixtures import api, bearer  # noqa: F401

NOTES = {"key": "notes", "label": {"en": "Notes"},
         "forms": [{"key": "note", "label": {"en": "Note"},
                    "fields": [{"key": "text", "type": "text", "label": {"en": "Text"}}]}]}


def with_extra_field(defn):
    new = copy.deepcopy(defn)
    new["forms"][0]["fields"].append({"key": "extra", "type": "text", "label": {"en": "Extra"}})
    return new


def test_list_the_installed_apps_and_their_forms(api):
    apps = api.client.get("/api/v1/apps", headers=api.auth).json["apps"]
    assert [(a["key"], [f["key"] for f in a["forms"]]) for a in apps] == [("repair", ["ticket", "machine"])]


def test_install_a_new_app(api):
    r = api.client.post("/api/v1/apps", json=NOTES, headers=api.auth)
    assert r.status_code == 201 and r.json["version"] == 1 and r.headers["Location"] == "/api/v1/apps/notes"
    assert api.client.post("/api/v1/apps/notes/forms/note/records", json={"text": "hi"}, headers=api.auth).status_code == 201


def test_installing_an_existing_key_is_409(api):
    assert api.client.post("/api/v1/apps", json=REPAIR_APP, headers=api.auth).status_code == 409


def test_an_invalid_definition_is_422_with_located_errors(api):
    bad = copy.deepcopy(NOTES)
    bad["forms"][0]["fields"][0]["type"] = "nubmer"
    r = api.client.post("/api/v1/apps", json=bad, headers=api.auth)
    assert r.status_code == 422 and r.json["errors"][0]["location"].startswith("forms[0]")


def test_get_the_definition_with_its_version_as_etag(api):
    r = api.client.get("/api/v1/apps/repair", headers=api.auth)
    assert r.status_code == 200 and r.json["key"] == "repair" and r.headers["ETag"] == '"repair-1"'
    again = api.client.get("/api/v1/apps/repair", headers=bearer(api.key, **{"If-None-Match": '"repair-1"'}))
    assert again.status_code == 304


def test_put_with_dry_run_returns_the_plan_and_changes_nothing(api):
    r = api.client.put("/api/v1/apps/repair?dry_run=1", json=with_extra_field(REPAIR_APP), headers=api.auth)
    assert r.status_code == 200 and r.json["dry_run"] is True and r.json["plan"]
    assert api.client.get("/api/v1/apps/repair", headers=api.auth).headers["ETag"] == '"repair-1"'


def test_put_applies_a_new_version(api):
    r = api.client.put("/api/v1/apps/repair", json=with_extra_field(REPAIR_APP),
                       headers=bearer(api.key, **{"If-Match": '"repair-1"'}))
    assert r.status_code == 200 and r.json["version"] == 2 and r.headers["ETag"] == '"repair-2"'


def test_put_with_a_stale_if_match_is_412(api):
    api.client.put("/api/v1/apps/repair", json=with_extra_field(REPAIR_APP), headers=api.auth)
    r = api.client.put("/api/v1/apps/repair", json=REPAIR_APP, headers=bearer(api.key, **{"If-Match": '"repair-1"'}))
    assert r.status_code == 412


def test_put_of_a_copy_edited_from_an_older_version_is_409_and_changes_nothing(api):
    copy_of_v1 = api.client.get("/api/v1/apps/repair", headers=api.auth).json
    api.client.put("/api/v1/apps/repair", json=with_extra_field(copy_of_v1), headers=api.auth)
    mine = copy.deepcopy(copy_of_v1)
    mine["forms"][0]["fields"].append({"key": "mine", "type": "text", "label": {"en": "Mine"}})
    r = api.client.put("/api/v1/apps/repair", json=mine, headers=api.auth)
    assert r.status_code == 409
    assert "based on version 1" in r.json["detail"] and "now at version 2" in r.json["detail"]
    keys = [f["key"] for f in api.client.get("/api/v1/apps/repair", headers=api.auth).json["forms"][0]["fields"]]
    assert "extra" in keys and "mine" not in keys


def test_put_of_a_copy_of_the_current_version_applies(api):
    current = api.client.get("/api/v1/apps/repair", headers=api.auth).json
    r = api.client.put("/api/v1/apps/repair", json=with_extra_field(current), headers=api.auth)
    assert r.status_code == 200 and r.json["version"] == 2


def test_put_refuses_a_definition_of_another_app(api):
    assert api.client.put("/api/v1/apps/repair", json=NOTES, headers=api.auth).status_code == 400


def test_export_downloads_the_definition(api):
    r = api.client.get("/api/v1/apps/repair/export", headers=api.auth)
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"] and r.json["key"] == "repair"


def test_import_installs_or_upgrades(api):
    assert api.client.post("/api/v1/apps/import", json=NOTES, headers=api.auth).status_code == 201
    r = api.client.post("/api/v1/apps/import", json=with_extra_field(NOTES), headers=api.auth)
    assert r.status_code == 200 and r.json["version"] == 2


def test_versions_lists_the_applied_plans(api):
    api.client.put("/api/v1/apps/repair", json=with_extra_field(REPAIR_APP), headers=api.auth)
    versions = api.client.get("/api/v1/apps/repair/versions", headers=api.auth).json["versions"]
    assert [v["version"] for v in versions] == [1, 2]


def test_an_unknown_app_is_404(api):
    assert api.client.get("/api/v1/apps/nope", headers=api.auth).status_code == 404


def test_delete_app_needs_force_while_it_holds_records(api):
    api.ff.records.create("repair", "ticket", {"title": "x"})
    r = api.client.delete("/api/v1/apps/repair", headers=api.auth)
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    assert api.client.delete("/api/v1/apps/repair?force=1", headers=api.auth).status_code == 204
    assert api.client.get("/api/v1/apps/repair", headers=api.auth).status_code in (403, 404)
