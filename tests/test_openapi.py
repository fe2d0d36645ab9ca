"""OpenAPI 3.1 documents: valid, complete, generated per app, served with a browsable reference."""
from __future__ import annotations

import re

from openapi_spec_validator import validate

from tests.test_api_fixtures import api  # noqa: F401


def test_the_static_document_is_valid_openapi_3_1(api):
    doc = api.client.get("/api/v1/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_every_api_route_is_in_the_static_document(api):
    doc = api.client.get("/api/v1/openapi.json").json
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    missing = []
    for rule in api.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (path, method) not in documented:
                missing.append(f"{method} {path}")
    assert missing == []


def test_the_app_document_is_valid_and_has_a_schema_per_form(api):
    doc = api.client.get("/api/v1/apps/repair/openapi.json", headers=api.auth).json
    validate(doc)
    schemas = doc["components"]["schemas"]
    assert {"Ticket", "TicketInput", "TicketNew", "Machine"} <= set(schemas)
    assert "/apps/repair/forms/ticket/records/{record_id}" in doc["paths"]


def test_computed_and_system_fields_are_read_only_and_not_input(api):
    schemas = api.client.get("/api/v1/apps/repair/openapi.json", headers=api.auth).json["components"]["schemas"]
    ticket = schemas["Ticket"]["properties"]
    assert ticket["total"]["readOnly"] is True and ticket["_id"]["readOnly"] is True
    assert "total" not in schemas["TicketInput"]["properties"]
    assert "_id" not in schemas["TicketInput"]["properties"]
    assert schemas["TicketNew"]["required"] == ["title"]


def test_records_returned_by_the_api_match_their_form_schema(api):
    import jsonschema
    doc = api.client.get("/api/v1/apps/repair/openapi.json", headers=api.auth).json
    rec = api.client.post("/api/v1/apps/repair/forms/ticket/records",
                          json={"title": "t", "qty": 2, "parts": [{"part": "p", "price": "1.5"}]},
                          headers=api.auth).json
    schema = {**doc["components"]["schemas"]["Ticket"], "$defs": {}}
    jsonschema.validate(rec, schema)


def test_the_app_document_needs_read_access(api):
    assert api.client.get("/api/v1/apps/repair/openapi.json").status_code == 401


def test_the_api_reference_page_uses_vendored_files_and_no_inline_script(api):
    page = api.client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing loaded from another host
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for path in ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/vendor/swagger-ui/swagger-ui.css",
                 "/static/api-docs.js"):
        assert api.client.get(path).status_code == 200, path
