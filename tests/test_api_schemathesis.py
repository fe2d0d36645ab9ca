"""Schemathesis against both OpenAPI documents (static, and the repair app's generated one).

Each operation gets 50 generated requests (hypothesis max_examples=50), sent with an
admin read-write API key through the Flask WSGI app on a fresh SQLite database.
Checks: no server error, every status code documented, every response valid
against its schema and content type.
"""
from __future__ import annotations

import copy

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from engine.openapi import static_document
from tests.conftest import REPAIR_APP

CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.response_schema_conformance,
          checks.content_type_conformance]
SETTINGS = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
METHODS = ("get", "put", "post", "patch", "delete")
STATIC_OPS = [f"{m.upper()} {p}" for p, ops in static_document()["paths"].items() for m in ops if m in METHODS]
RECORD_BASE = "/apps/{app_key}/forms/{form_key}/records"
APP_OPS = [op.replace(RECORD_BASE, f"/apps/repair/forms/{form['key']}/records")
           for form in REPAIR_APP["forms"] for op in STATIC_OPS if RECORD_BASE in op]


@pytest.fixture
def served(make_ff, sqlite_url):
    """A fresh instance with the repair app, an admin and their read-write key."""
    from engine import api_keys, users
    from engine.web import create_app
    ff = make_ff(sqlite_url)
    ff.apps.install(copy.deepcopy(REPAIR_APP))
    admin = users.add_user(ff, "admin", "correct horse battery", admin=True)
    key = api_keys.create_key(ff, admin["id"], write=True)["key"]
    return create_app(ff, TESTING=True), {"Authorization": f"Bearer {key}"}


def run_operation(schema, label: str, auth: dict) -> None:
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    @given(case=operation.as_strategy())
    @SETTINGS
    def check(case):
        case.call_and_validate(headers=auth, checks=CHECKS)
    check()


@pytest.mark.parametrize("label", STATIC_OPS)
def test_static_document(served, label):
    app, auth = served
    run_operation(schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), label, auth)


@pytest.mark.parametrize("label", APP_OPS)
def test_repair_app_document(served, label):
    app, auth = served
    run_operation(schemathesis.openapi.from_wsgi("/api/v1/apps/repair/openapi.json", app, headers=auth),
                  label, auth)
