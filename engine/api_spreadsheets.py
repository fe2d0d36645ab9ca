"""Excel/CSV export, import templates and import over HTTP (blueprint `spreadsheets`, mounted at /api/v1).

  GET  /apps/<app>/forms/<form>/export?format=xlsx|csv&filter=&sort=&fields=a,b&lang=&header=label|key
  GET  /apps/<app>/forms/<form>/import/template?format=xlsx|csv&lang=
  POST /apps/<app>/forms/<form>/import   (multipart: file; mode, mapping, async, lang, sheet)
  GET  /jobs/<id>                        (progress and result of an import job)

FOR THE LEAD: register with `app.register_blueprint(spreadsheets, url_prefix="/api/v1")`.
The blueprint runs the API's own request pipeline (`engine.api._authenticate`,
`_remember`, `_release`: sign-in or Bearer key, CSRF for cookie-authenticated
writes, unknown query parameters, Idempotency-Key on POST) and asks `access.can`
through `engine.api.require`; it exempts itself from Flask-WTF's global CSRF
check the way web.py exempts `api` (the pipeline does that check itself).

Permissions (docs/permissions.md): an export needs the `export` action and holds the
rows its row rules reach, the fields the caller sees (hidden ones are unknown) and
sensitive values masked as the API shows them; it leaves one `records.exported`
audit entry (plus one `sensitive.unmasked_view` when it held sensitive fields in
clear). An import needs `import`; a file with a column for a hidden or read-only
field is refused (422) before anything is written (system and computed columns are
ignored, as always); under a row rule on `import`, every row is checked as it would be
written and a row outside the rule is a row error (code `forbidden`), like any invalid row.
The template (for anyone who may read the form) lists only the fields the caller may write.
"""
from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

from flask import Blueprint, request, send_file, url_for
from ulid import ULID

from . import access, spreadsheets as ss
from .api import (BadRequest, _authenticate, _release, _remember, endpoint, instance, json_response,
                  require)
from .api_records import audit_event
from .auth import csrf
from .errors import NotFound, RecordValidationError

spreadsheets = Blueprint("spreadsheets", __name__)
csrf.exempt(spreadsheets)
spreadsheets.before_request(_authenticate)
spreadsheets.after_request(_remember)
spreadsheets.teardown_request(_release)

#: uploads larger than this run as a background job unless the caller says async=0
ASYNC_BYTES = 1024 * 1024


def _choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (request.values.get(name) or default).strip()
    if value not in allowed:
        raise BadRequest(f"{name}: use {' or '.join(allowed)}, not {value!r}",
                         [{"location": name, "message": f"use {' or '.join(allowed)}", "code": "invalid"}])
    return value


def _lang() -> str:
    return (request.values.get("lang") or ss.DEFAULT_LANG).strip() or ss.DEFAULT_LANG


def _download(tmp, name: str, fmt: str):
    tmp.seek(0)
    return send_file(tmp, mimetype=ss.XLSX_MIME if fmt == "xlsx" else ss.CSV_MIME,
                     as_attachment=True, download_name=f"{name}.{fmt}", max_age=0)


@spreadsheets.get("/apps/<app>/forms/<form>/export")
@endpoint("format", "filter", "sort", "fields", "lang", "header")
def export(app, form):
    """The form's records (filtered, sorted, chosen columns) as an .xlsx or UTF-8 (BOM) .csv file."""
    app_key, form_key = app, form
    who = require("export", app_key, form_key)
    ff = instance()
    _app, form = ff.form(app_key, form_key)
    fa = access.form_access(who, app_key, form_key)
    fmt = _choice("format", ss.FORMATS, "xlsx")
    header = _choice("header", ("label", "key"), "label")
    lang = _lang()
    filter_, sort = request.args.get("filter"), request.args.get("sort")
    fa.check_query(filter_, sort)
    fields = _export_fields(fa)
    tmp = tempfile.TemporaryFile()
    try:
        rows = ss.export_records(ff, app_key, form_key, tmp, format=fmt, filter=filter_, sort=sort,
                                 fields=fields, lang=lang, header=header, caller=fa)
    except Exception:
        tmp.close()
        raise
    audit_event("records.exported", object_type="form", object_id=form_key, app=app_key, form=form_key,
                details={"format": fmt, "filter": filter_ or None, "sort": sort or None, "rows": rows,
                         "fields": fields})
    clear = [k for k in fa.unmasked_sensitive_fields() if k in fields]
    if rows and clear:
        audit_event("sensitive.unmasked_view", object_type="form", object_id=form_key, app=app_key,
                    form=form_key, details={"fields": clear, "via": "export", "records": rows})
    return _download(tmp, ss.label_of(form, lang), fmt)


def _export_fields(fa) -> list[str]:
    """The columns of an export: the `fields` asked for, or every field the caller sees;
    a hidden field is reported exactly like an unknown one."""
    raw = request.args.get("fields")
    if raw is None or not raw.strip():
        keys = [f.key for f in fa.visible_fields]
        if not keys:
            keys = ["_id"]
        return keys
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    hidden = [k for k in keys if k in fa.form.fields_by_key and fa.right(k) == "hidden"]
    if hidden:
        raise BadRequest(f"unknown field {hidden[0]!r}",
                         [{"location": "fields", "message": f"unknown field {k!r}", "code": "unknown"}
                          for k in hidden])
    return keys


@spreadsheets.get("/apps/<app>/forms/<form>/import/template")
@endpoint("format", "lang")
def template(app, form):
    """An empty file with the headers an import expects (xlsx: plus a 说明/Notes sheet)."""
    app_key, form_key = app, form
    who = require(access.READ, app_key, form_key)  # readers may fetch it (it lists what they may write)
    ff = instance()
    _app, form = ff.form(app_key, form_key)
    fa = access.form_access(who, app_key, form_key)
    fmt = _choice("format", ss.FORMATS, "xlsx")
    lang = _lang()
    tmp = tempfile.TemporaryFile()
    ss.write_template(ff, app_key, form_key, tmp, format=fmt, lang=lang, caller=fa)
    suffix = "导入模板" if lang == "zh-CN" else " import template"
    return _download(tmp, f"{ss.label_of(form, lang)}{suffix}", fmt)


def _mapping() -> dict | None:
    raw = request.values.get("mapping")
    if raw is None or raw.strip() == "":
        return None
    try:
        mapping = json.loads(raw)
    except ValueError as err:
        raise BadRequest(f"mapping: not valid JSON: {err}",
                         [{"location": "mapping", "message": "not valid JSON", "code": "json"}]) from None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                                for k, v in mapping.items()):
        raise BadRequest("mapping: a JSON object of {column header: field key or null}",
                         [{"location": "mapping", "message": "expected an object of strings", "code": "type"}])
    return mapping


def _async(size: int) -> bool:
    value = request.values.get("async")
    if value is None or value == "":
        return size > ASYNC_BYTES
    low = value.lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise BadRequest("async: use 1 or 0", [{"location": "async", "message": "expected 1 or 0", "code": "type"}])


@spreadsheets.post("/apps/<app>/forms/<form>/import")
@endpoint("mode", "mapping", "async", "lang", "sheet", "format")
def import_(app, form):
    """Import an uploaded .xlsx/.csv: 200 with the report, 422 when all_or_nothing found bad rows,
    202 with a job URL when it runs in the background."""
    app_key, form_key = app, form
    who = require("import", app_key, form_key)
    ff = instance()
    ff.form(app_key, form_key)  # 404 before reading the upload
    fa = access.form_access(who, app_key, form_key)
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("send the file as multipart/form-data in a part named 'file'",
                         [{"location": "file", "message": "missing", "code": "required"}])
    mode = _choice("mode", ss.MODES, "all_or_nothing")
    mapping = _mapping()
    lang = _lang()
    sheet = request.values.get("sheet") or None
    fmt = request.values.get("format") or None
    filename = Path(upload.filename or "upload").name
    path = ss.imports_dir(ff) / f"{ULID()!s}{Path(filename).suffix.lower()[:8]}"
    upload.save(path)
    try:
        size = path.stat().st_size
        # refuse what can be refused at once (empty, wrong type, too large) before queueing
        detected = ss.check_file(str(path), filename, fmt)
        _check_columns(fa, str(path), detected, mapping, sheet)
        if _async(size):
            job_id = ss.submit_import(ff, app_key, form_key, path, actor=who.id, filename=filename,
                                      format=fmt, mode=mode, mapping=mapping, lang=lang, sheet=sheet,
                                      row_rules_of=who.id)
            path = None  # the job owns the file now (and deletes it)
            url = url_for("spreadsheets.job", job=job_id)
            return json_response({"job": job_id, "status": "queued", "url": url}, 202,
                                 {"Location": url})
        report = ss.import_file(ff, app_key, form_key, str(path), filename=filename, format=fmt,
                                mode=mode, mapping=mapping, actor=who.id, lang=lang, sheet=sheet,
                                row_rules_of=who.id)
    finally:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    if not report["ok"] and mode == "all_or_nothing":
        errors = [{"location": e["location"], "message": e["message"], "code": e["code"],
                   "row": e["row"], "column": e["column"], "field": e["field"]} for e in report["errors"]]
        detail = (f"{report['failed']} of {report['rows']} rows are invalid; nothing was imported "
                  f"(first: {report['lines'][0]})")
        body = {"type": "about:blank", "title": "Import refused", "status": 422, "detail": detail,
                "errors": errors, **{k: v for k, v in report.items() if k not in ("errors",)}}
        response = json_response(body, 422)
        response.mimetype = "application/problem+json"
        return response
    return json_response(report, 200)


def _check_columns(fa, path: str, fmt: str, mapping, sheet) -> None:
    """422 when a column feeds a field the caller may not write (hidden or read-only)."""
    if fa.admin:
        return
    headers = next((cells for n, cells in ss.read_rows(path, fmt, ss.DEFAULT_LIMITS, sheet) if n == 1), None)
    if not headers:
        return  # the import reports it
    columns, _warnings = ss.map_columns(fa.form, headers, mapping)
    keys = [c.field.key for c in columns if c.field is not None]  # system/computed columns are ignored
    try:
        fa.check_fields(keys)
    except RecordValidationError as err:
        raise RecordValidationError(f"the file has a column you may not import: {err.message}; "
                                    "nothing was imported", err.errors) from None


@spreadsheets.get("/jobs/<job>")
@endpoint()
def job(job):
    """A background job's status, progress (rows done of total) and, when done, its result."""
    job_id = job
    from workflows import jobs
    who = require(access.READ)
    ff = instance()
    try:
        state = jobs.state(ff, job_id)
    except NotFound:
        raise NotFound(f"no job {job_id!r}") from None
    if not who.is_admin and state["created_by"] != who.id:
        raise NotFound(f"no job {job_id!r}")  # others' jobs are not revealed
    return json_response(state, 200)


def _document_paths() -> None:
    """Advertise these routes in the static OpenAPI document (engine.openapi)."""
    from . import openapi as oa
    app_form = [oa._path_param("app", {"type": "string"}), oa._path_param("form", {"type": "string"})]
    q = lambda name, schema, desc="": {"name": name, "in": "query", "schema": schema,  # noqa: E731
                                       **({"description": desc} if desc else {})}
    fmt = q("format", {"type": "string", "enum": ["xlsx", "csv"]}, "File format (default xlsx)")
    lang = q("lang", {"type": "string", "enum": ["zh-CN", "en"]}, "Language of the header labels")
    binary = {"description": "The file", "content": {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}},
        "text/csv": {"schema": {"type": "string"}}}}
    job = {"type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "string"}, "kind": {"type": "string"}, "status": {"type": "string"},
        "progress": {"type": "integer"}, "total": {"type": ["integer", "null"]},
        "phase": {"type": ["string", "null"], "description": "checking or writing (imports)"},
        "result": {}, "error": {}}, "additionalProperties": True}
    report = {"type": "object", "additionalProperties": True}
    import_op = oa._post("Import rows from an Excel or CSV file through the record lifecycle",
                         {**oa._resp("Import report", report), **oa._resp("Accepted: runs as a job", job, 202)},
                         params=[*app_form, q("mode", {"type": "string", "enum": ["all_or_nothing", "good_rows"]}),
                                 q("async", {"type": "boolean"}), lang],
                         tag="import/export")
    import_op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, "mapping": {"type": "string"},
            "mode": {"type": "string"}}}}}}
    import_op["responses"]["413"] = {"$ref": "#/components/responses/Problem413"}
    oa.register_paths({
        "/apps/{app}/forms/{form}/export": {"get": oa._op(
            "Export records (filter, sort and column choice) as xlsx or csv", {"200": binary},
            params=[*app_form, fmt, oa.Q["filter"], oa.Q["sort"], oa.Q["fields"], lang,
                    q("header", {"type": "string", "enum": ["label", "key"]})], tag="import/export")},
        "/apps/{app}/forms/{form}/import/template": {"get": oa._op(
            "Download an empty import template with the form's headers", {"200": binary},
            params=[*app_form, fmt, lang], tag="import/export")},
        "/apps/{app}/forms/{form}/import": {"post": import_op},
        "/jobs/{job}": {"get": oa._op("A background job's progress and result", oa._resp("The job", job),
                                      params=[oa._path_param("job")], tag="import/export")},
    })


_document_paths()
