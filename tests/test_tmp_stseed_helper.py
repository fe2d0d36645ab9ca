"""Schemathesis against both OpenAPI documents (static, and the repair app's generated one).

Every operation of the static document is exercised: the operations are listed from
`static_document()` only after a WSGI app has been built, because some blueprints
(spreadsheets, permissions/directory/audit, UI JSON, workflows) add their paths to
the document when they are imported or registered (`engine.openapi.register_paths`).

Each operation gets 50 generated requests (hypothesis max_examples=50, positive-only generation,
schemathesis' default), sent with an admin read-write API key through the Flask WSGI app on a
fresh SQLite database. The multipart upload operations (spreadsheet import, import preview)
and the public, rate-limited inbound hook `POST /hooks/{token}` get the same 50 positive
examples: they are cheap enough (a 429 from the hook's rate limit is documented).
Checks: no server error, every status code documented, every response valid
against its schema and content type.
"""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.generation import GenerationMode

from engine.openapi import _record_paths, static_document
from tests.conftest import REPAIR_APP

CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.response_schema_conformance,
          checks.content_type_conformance]
MAX_EXAMPLES = 50
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=False, database=None,
                    suppress_health_check=list(HealthCheck))
CALLS: dict = {}
METHODS = ("get", "put", "post", "patch", "delete")


def _static_operations() -> list[str]:
    """Every operation of the static document, once every blueprint has registered its paths."""
    from engine.config import Config
    from engine.formflow import Formflow
    from engine.web import create_app
    with tempfile.TemporaryDirectory() as tmp:
        inst = Formflow(Config(data_dir=Path(tmp) / "data", env="test"),
                        database_url=f"sqlite:///{Path(tmp) / 'ops.db'}")
        try:
            create_app(inst, start_runner=False, TESTING=True)
        finally:
            inst.close()
    return [f"{m.upper()} {p}" for p, ops in static_document()["paths"].items() for m in ops if m in METHODS]


STATIC_OPS = _static_operations()
RECORD_BASE = "/apps/{app_key}/forms/{form_key}/records"
#: the app document has the record operations of `_record_paths` only (not e.g. the workflows' buttons)
_RECORD_PATHS = _record_paths(RECORD_BASE, [], "Record", "RecordInput", "RecordPage", "records")
APP_OPS = [f"{m.upper()} {p}".replace(RECORD_BASE, f"/apps/repair/forms/{form['key']}/records")
           for form in REPAIR_APP["forms"] for p, ops in _RECORD_PATHS.items() for m in ops if m in METHODS]
#: failures that could not be fixed yet: label -> reason (run as strict xfail)
KNOWN_FAILURES: dict[str, str] = {}


def _param(label: str):
    if label in KNOWN_FAILURES:
        return pytest.param(label, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[label]))
    return label


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

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @SETTINGS
    def check(case):
        CALLS[label] = CALLS.get(label, 0) + 1
        case.call_and_validate(headers=auth, checks=CHECKS)
    check()


def test_every_static_operation_is_covered():
    """The list is built after the app: the blueprints' own paths are in it."""
    for label in ("GET /departments", "GET /audit", "POST /apps/{app}/forms/{form}/import",
                  "POST /expressions/check", "POST /apps/{app}/forms/{form}/import/preview",
                  "POST /hooks/{token}", "GET /webhooks"):
        assert label in STATIC_OPS, label


@pytest.mark.parametrize("label", [_param(op) for op in STATIC_OPS])
def test_static_document(served, label):
    app, auth = served
    run_operation(schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app), label, auth)


@pytest.mark.parametrize("label", APP_OPS)
def test_repair_app_document(served, label):
    app, auth = served
    run_operation(schemathesis.openapi.from_wsgi("/api/v1/apps/repair/openapi.json", app, headers=auth),
                  label, auth)


def test_zz_counts():
    small = {k: v for k, v in CALLS.items() if v < 50}
    print("CALLS", len(CALLS), "under50:", small)
