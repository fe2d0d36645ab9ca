"""The UI's JSON endpoints: draft preview and formula diagnostics."""
from __future__ import annotations

import re

from tests.test_api_fixtures import api, bearer  # noqa: F401

PREVIEW = "/api/v1/apps/repair/forms/ticket/preview"


def test_preview_computes_formulas_of_a_draft_without_saving(api):
    body = {"values": {"title": "pump", "qty": 2, "parts": [{"part": "seal", "price": "2.5"}]}}
    data = api.client.post(PREVIEW, json=body, headers=api.auth).json
    assert float(data["values"]["total"]) == 5 and data["errors"] == []
    assert api.client.get("/api/v1/apps/repair/forms/ticket/records", headers=api.auth).json["records"] == []


def test_preview_locates_errors_by_field_key(api):
    data = api.client.post(PREVIEW, json={"values": {"qty": -1, "parts": [{"price": "x"}]}}, headers=api.auth).json
    locations = {e["location"] for e in data["errors"]}
    assert {"qty", "parts[0].price", "title"} <= locations


def test_preview_reports_hidden_fields(api):
    definition = api.client.get("/api/v1/apps/repair", headers=api.auth).json
    definition["forms"][0]["fields"][1]["visible_if"] = 'status = "open"'
    api.client.put("/api/v1/apps/repair", json=definition, headers=api.auth)
    data = api.client.post(PREVIEW, json={"values": {"status": "closed"}}, headers=api.auth).json
    assert data["visible"]["qty"] is False and data["visible"]["title"] is True


def test_preview_applies_defaults_when_asked(api):
    definition = api.client.get("/api/v1/apps/repair", headers=api.auth).json
    definition["forms"][0]["fields"][2]["default"] = "open"
    api.client.put("/api/v1/apps/repair", json=definition, headers=api.auth)
    data = api.client.post(PREVIEW, json={"values": {}, "defaults": True}, headers=api.auth).json
    assert data["values"]["status"] == "open"


def test_preview_refuses_unknown_properties(api):
    response = api.client.post(PREVIEW, json={"valuez": {}}, headers=api.auth)
    assert response.status_code == 400 and response.json["errors"][0]["location"] == "valuez"


def test_preview_needs_a_signed_in_caller(api):
    assert api.client.post(PREVIEW, json={"values": {}}).status_code == 401


def test_expression_check_returns_located_diagnostics(api):
    data = api.client.post("/api/v1/expressions/check", json={"source": "SUM(parts.price) * qtty",
                                                              "app": "repair", "form": "ticket"},
                           headers=api.auth).json
    (diag,) = data["diagnostics"]
    assert diag["column"] == 20 and "qty" in (diag["suggestion"] or diag["message"])


def test_expression_check_of_a_good_formula_is_empty(api):
    data = api.client.post("/api/v1/expressions/check", json={"source": "price * 2", "app": "repair",
                                                              "form": "ticket", "subform": "parts"},
                           headers=api.auth).json
    assert data["diagnostics"] == []


def test_the_ui_endpoints_are_in_the_static_openapi_document(api):
    paths = api.client.get("/api/v1/openapi.json").json["paths"]
    rules = [r.rule for r in api.app.url_map.iter_rules() if r.endpoint.startswith("api_ui.")]
    assert rules
    for rule in rules:
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule[len("/api/v1"):])
        assert path in paths
