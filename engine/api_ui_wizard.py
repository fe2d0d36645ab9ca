"""JSON endpoints of the import wizard and the permissions editor (blueprint `api_ui_wizard`, at /api/v1).

  POST /apps/<app>/forms/<form>/import/preview   (multipart: file; mapping, lang)
       read the header and the rows of an .xlsx/.csv upload, propose a column mapping and
       validate the rows through the record lifecycle in rolled-back transactions —
       nothing is written. Needs the `import` action.
  POST /apps/<app>/forms/<form>/rules/check      {"source"} → {"problem": text or null}
       whether a row rule of a permission set can be used (fields, system fields, $user,
       runs in SQL) — the same check the definition gets when it is installed.

Runs the REST API's request pipeline (sign-in or Bearer key, CSRF for cookie writes).

Also declares the table of saved views (`ff_saved_views`, migration 0006) used by
builder_ui/pages_views.py: a named view of a form (type table/kanban/calendar and its
query parameters), owned by a user and optionally shared with the members of a role.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, request
from ulid import ULID

from . import access, spreadsheets as ss, tables
from .api import BadRequest, _authenticate, _release, _remember, body_object, endpoint, instance, json_response, require
from .auth import csrf
from .records import RecordContext

saved_views = sa.Table(
    "ff_saved_views", tables.metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("app_key", sa.String(64), nullable=False),
    sa.Column("form_key", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("view_type", sa.String(16), nullable=False),     # table, kanban, calendar
    sa.Column("params", sa.Text, nullable=False),              # JSON {name: [values]} of the view's URL
    sa.Column("owner", sa.String(40), sa.ForeignKey("ff_users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("shared_role", sa.String(64)),                   # members of this role see it too
    sa.Column("created_at", tables.Timestamp, nullable=False),
    sa.Index("ix_ff_saved_views_form", "app_key", "form_key"),
)

api_ui_wizard = Blueprint("api_ui_wizard", __name__)
csrf.exempt(api_ui_wizard)
api_ui_wizard.before_request(_authenticate)
api_ui_wizard.after_request(_remember)
api_ui_wizard.teardown_request(_release)

#: rows validated by a preview (the rest are counted only)
PREVIEW_ROWS = 5_000
#: errors a preview returns
PREVIEW_ERRORS = 500
SAMPLE_ROWS = 5


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _propose(form, headers: list, writable) -> list[dict]:
    """Each column's proposed field (by key or label, as an import matches them), or None."""
    out = []
    for i, raw in enumerate(headers):
        header = "" if raw is None else ss.unescape_text(str(raw).strip())
        field, reason = None, "has no header" if not header else None
        if header:
            try:
                columns, _warnings = ss.map_columns(form, [header], None)
                field = columns[0].field
            except ss.FileRefused as err:
                reason = None if err.code == "no_columns" else err.code  # ambiguous: the user chooses
            if field is not None and not writable(field.key):
                field, reason = None, "not writable"
            if field is None and reason is None:
                reason = "matches no field"
        out.append({"index": i, "header": header, "field": field.key if field is not None else None,
                    "reason": reason})
    return out


def preview_import(ff, app_key: str, form_key: str, path: str, *, filename: str | None, mapping: dict | None,
                   actor: str | None, lang: str = ss.DEFAULT_LANG, writable=lambda key: True,
                   max_rows: int = PREVIEW_ROWS) -> dict:
    """What an import of `path` would do, without writing: proposed columns, sample rows, row errors."""
    _app, form = ff.form(app_key, form_key)
    fmt = ss.check_file(path, filename)
    headers, total, sample = None, 0, []
    for n, cells in ss.read_rows(path, fmt):
        if n == 1:
            headers = cells
        elif cells:
            total += 1
            if len(sample) < SAMPLE_ROWS:
                sample.append({"row": n, "cells": [_cell_text(c) for c in cells]})
    if not headers:
        raise ss.FileRefused("row 1 is empty: it must hold the column headers (download the template)",
                             "no_header")
    proposed = _propose(form, headers, writable)
    if mapping is None:
        mapping = {c["header"]: c["field"] for c in proposed if c["header"]}
    out = {"format": fmt, "rows": total, "sample": sample, "proposed": proposed,
           "mapping": mapping, "fields": [
               {"key": f.key, "label": ss.label_of(f, lang), "type": f.type_name,
                "required": bool(f.definition.get("required"))}
               for f in form.fields if not f.computed and writable(f.key)],
           "checked": 0, "failed": 0, "errors": [], "more_errors": 0, "warnings": [], "refused": None}
    try:
        columns, warnings = ss.map_columns(form, headers, mapping)
        locked = [c.header for c in columns if c.field is not None and not writable(c.field.key)]
        if locked:
            raise ss.FileRefused(f"column {locked[0]!r} feeds a field you may not write", "readonly", "mapping")
    except ss.FileRefused as err:
        out["refused"] = {"message": err.message, "code": err.code}
        return out
    report = ss.ImportReport(form, "all_or_nothing", columns, warnings, lang)
    unique_seen = {f.key: {} for f in form.fields if f.definition.get("unique") and not f.computed}
    ctx = RecordContext(actor=actor)
    dry = ss._dry_run(ff)
    chunk: list = []

    def flush():
        if chunk:
            with dry() as conn:
                ss._write_chunk(ff, app_key, form_key, chunk, ctx, lambda: ss._savepoint(conn), report)
            chunk.clear()

    for n, cells in ss.read_rows(path, fmt):
        if n == 1 or not cells:
            continue
        if report.rows >= max_rows:
            break
        report.rows += 1
        values = ss._parse_row(form, columns, cells, n, report, unique_seen)
        if values is not None:
            chunk.append((n, values))
        if len(chunk) >= ss.CHUNK_SIZE:
            flush()
    flush()
    result = report.as_dict()
    out.update(checked=report.rows, failed=result["failed"], errors=result["errors"][:PREVIEW_ERRORS],
               more_errors=max(0, len(result["errors"]) - PREVIEW_ERRORS) + result["more_errors"],
               warnings=warnings, columns=result["columns"])
    return out


def _mapping_arg() -> dict | None:
    raw = request.values.get("mapping")
    if raw is None or not raw.strip():
        return None
    try:
        mapping = json.loads(raw)
    except ValueError:
        raise BadRequest("mapping: not valid JSON",
                         [{"location": "mapping", "message": "not valid JSON", "code": "json"}]) from None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                                for k, v in mapping.items()):
        raise BadRequest("mapping: a JSON object of {column header: field key or null}",
                         [{"location": "mapping", "message": "expected an object of strings", "code": "type"}])
    return {k: (v or None) for k, v in mapping.items()}


@api_ui_wizard.post("/apps/<app>/forms/<form>/import/preview")
@endpoint("mapping", "lang")
def import_preview(app, form):
    """Propose a column mapping and validate the rows of an upload without writing anything."""
    app_key, form_key = app, form
    who = require("import", app_key, form_key)
    ff = instance()
    ff.form(app_key, form_key)
    fa = access.form_access(who, app_key, form_key)
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("send the file as multipart/form-data in a part named 'file'",
                         [{"location": "file", "message": "missing", "code": "required"}])
    mapping = _mapping_arg()
    lang = (request.values.get("lang") or ss.DEFAULT_LANG).strip()
    filename = Path(upload.filename or "upload").name
    path = ss.imports_dir(ff) / f"preview-{ULID()!s}{Path(filename).suffix.lower()[:8]}"
    upload.save(path)
    try:
        result = preview_import(ff, app_key, form_key, str(path), filename=filename, mapping=mapping,
                                actor=who.id, lang=lang,
                                writable=lambda key: fa.admin or fa.right(key) == "editable")
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return json_response(result)


@api_ui_wizard.post("/apps/<app>/forms/<form>/rules/check")
@endpoint()
def rule_check(app, form):
    """Whether a row rule can be used on the form: {"source"} → {"problem": message or null}."""
    from . import permission_model as pm
    require("manage_permissions", app)
    _app, form_ = instance().form(app, form)
    data = body_object()
    source = data.get("source")
    if not isinstance(source, str):
        raise BadRequest("source: expected the rule as text",
                         [{"location": "source", "message": "expected text", "code": "type"}])
    from .queries import field_shapes
    problem = pm.rule_problem(source, pm.rule_schema(form_), field_shapes(form_)) if source.strip() else None
    return json_response({"problem": problem})


def _document_paths() -> None:
    """Advertise these routes in the static OpenAPI document (engine.openapi)."""
    from . import openapi as oa
    app_form = [oa._path_param("app", {"type": "string"}), oa._path_param("form", {"type": "string"})]
    obj = {"type": "object", "additionalProperties": True}
    preview = oa._post("Preview an import: proposed column mapping, sample rows and row errors (nothing is written)",
                       oa._resp("The preview", {"type": "object", "required": ["rows", "errors"], "properties": {
                           "rows": {"type": "integer"}, "checked": {"type": "integer"},
                           "failed": {"type": "integer"}, "errors": {"type": "array", "items": obj},
                           "proposed": {"type": "array", "items": obj}, "refused": {}},
                           "additionalProperties": True}),
                       params=app_form, tag="import/export")
    preview["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, "mapping": {"type": "string"},
            "lang": {"type": "string"}}}}}}
    oa.register_paths({
        "/apps/{app}/forms/{form}/import/preview": {"post": preview},
        "/apps/{app}/forms/{form}/rules/check": {"post": oa._post(
            "Check a permission set's row rule against a form (manage_permissions)",
            oa._resp("null when the rule can be used", {"type": "object", "properties": {
                "problem": {"type": ["string", "null"]}}}),
            params=app_form, body={"type": "object", "required": ["source"],
                                   "properties": {"source": {"type": "string"}}}, tag="ui")},
    })


_document_paths()
