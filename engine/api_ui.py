"""JSON endpoints the builder UI needs (blueprint `api_ui`, mounted at /api/v1).

  POST /apps/<app>/forms/<form>/preview   evaluate a draft record without saving it
  POST /expressions/check                 static diagnostics of a formula (for the formula editor)
  GET  /directory/search?q=&kind=&ids=    users or departments by name (id + display name only),
                                          for the member and department pickers of data entry

The preview runs the record lifecycle's own steps — coerce, defaults (when asked),
formulas/lookups/rollups, visibility, required and constraint checks, links and
form rules — on a read connection, and returns the computed values, which fields
are visible, and every error located by field key. Nothing is written.

Registered by builder_ui (ui.record_once); it runs the API's request pipeline
(`engine.api._authenticate`: sign-in or Bearer key, CSRF for cookie writes,
unknown query parameters, Idempotency-Key) and asks `access.can` via `require`.
"""
from __future__ import annotations

from flask import Blueprint

from . import access, storage
from .api import (BadRequest, _authenticate, _release, _remember, body_object, endpoint, instance,
                  json_response, require)
from .auth import csrf
from .errors import FieldValueError, NotFound

api_ui = Blueprint("api_ui", __name__)
csrf.exempt(api_ui)
api_ui.before_request(_authenticate)
api_ui.after_request(_remember)
api_ui.teardown_request(_release)


def _bad(location: str, message: str, code: str = "type") -> BadRequest:
    return BadRequest(f"{location}: {message}", [{"location": location, "message": message, "code": code}])


@api_ui.post("/apps/<app>/forms/<form>/preview")
@endpoint()
def preview_record(app, form):
    """Evaluate a draft: {"values": {...}, "record": id?, "defaults": bool?} → values, visible, errors."""
    from .records import RecordContext, from_document, to_record
    app_key, form_key = app, form
    who = require(access.WRITE, app_key, form_key)
    ff = instance()
    app, form = ff.form(app_key, form_key)
    # the same permission service as the record endpoints: rows, field rights, masking
    fa = access.form_access(who, app_key, form_key, ff)
    data = body_object()
    unknown = sorted(set(data) - {"values", "record", "defaults"})
    if unknown:
        raise _bad(unknown[0], "unknown property", "unknown")
    given = data.get("values", {})
    if not isinstance(given, dict):
        raise _bad("values", "expected an object of field keys")
    record_id = data.get("record")
    if record_id is not None and not isinstance(record_id, str):
        raise _bad("record", "expected a record id")
    with_defaults = data.get("defaults", False)
    if not isinstance(with_defaults, bool):
        raise _bad("defaults", "expected true or false")
    ctx = RecordContext(actor=who.id, user={"id": who.id, "username": who.user.get("username")})
    with ff.db.read() as conn:
        stored = None
        if record_id is not None:
            row = ff.records._row(conn, form, record_id)
            if row is None or row["deleted_at"] is not None:
                raise NotFound(f"record {record_id!r} not found in {app.key}.{form.key}")
            fa.check_record(to_record(form, row), "update")
            stored = from_document(form, storage.loads(row["data"]))
        values, visible, errors = evaluate_record(
            ff, conn, form, given, ctx, values=stored, editable=lambda key: fa.right(key) == "editable",
            defaults=with_defaults and record_id is None)
    out_values = fa.project_json({f.key: (f.type.to_json(values[f.key]) if values.get(f.key) is not None
                                          else None) for f in form.fields})
    shown = [f.key for f in form.fields if f.key in out_values]
    errors = [e for e in errors if (e.get("location") or "").split(".")[0].split("[")[0] in out_values
              or not e.get("location")]
    return json_response({"values": out_values,
                          "visible": {k: visible.get(k, True) for k in shown},
                          "errors": errors})


def evaluate_record(ff, conn, form, given: dict, ctx, *, values: dict | None = None, editable=None,
                    defaults: bool = False) -> tuple[dict, dict, list]:
    """Run a save's steps on a draft record without writing: (values, visible, errors).

    `form` is any model Form — installed, or of a draft definition the designer previews.
    `values` are the stored values being edited (all blank when None); `editable(key)` says
    which given keys the caller may set; `defaults` applies default values (new records).
    """
    from .records import SYSTEM_FIELDS, _detail, _err, _located
    errors: list[dict] = []
    values = dict(values) if values is not None else {f.key: None for f in form.fields}
    for key, raw in given.items():
        field = form.fields_by_key.get(key)
        if field is None or field.type.computed or key in SYSTEM_FIELDS \
                or (editable is not None and not editable(key)):
            continue  # a draft may carry stale or not-writable keys; the save reports them
        try:
            values[key] = field.type.coerce(raw)
        except FieldValueError as fe:
            errors.append(_err(_located(key, fe), _detail(fe), fe.code))
    visible = ff.records.check_values(conn, form, values, given, ctx, errors, defaults=defaults, check_all=True)
    return values, visible, errors


@api_ui.post("/expressions/check")
@endpoint()
def check_expression():
    """Static diagnostics of a formula: {"source", "app"?, "form"?, "subform"?, "definition"?} → {"diagnostics"}.

    With `definition` (a draft app definition, as the form designer holds it) the fields are
    those of the draft's form `form` (not yet installed); nothing is validated or stored.
    """
    from . import expr
    data = body_object()
    unknown = sorted(set(data) - {"source", "app", "form", "subform", "definition"})
    if unknown:
        raise _bad(unknown[0], "unknown property", "unknown")
    source = data.get("source")
    if not isinstance(source, str):
        raise _bad("source", "expected the formula as text")
    for name in ("app", "form", "subform"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise _bad(name, "expected a key")
    schema = None
    draft = data.get("definition")
    if draft is not None:
        schema = _draft_schema(data, draft)
    elif data.get("form") is not None:
        if data.get("app") is None:
            raise _bad("app", "give the app of the form", "required")
        require(access.READ, data["app"], data["form"])
        _app, form = instance().form(data["app"], data["form"])
        if data.get("subform") is not None:
            sub = form.fields_by_key.get(data["subform"])
            if sub is None or sub.type_name != "subform":
                raise _bad("subform", f"{data['subform']!r} is not a subform of {form.key}", "unknown")
            schema = form.row_expr_schema(sub.key)
        else:
            schema = form.expr_schema()
    diagnostics = expr.check(source, schema)
    return json_response({"diagnostics": [
        {"code": d.code, "message": d.message, "line": d.line, "column": d.column,
         "end_column": d.end_column, "suggestion": d.suggestion} for d in diagnostics]})


DIRECTORY_KINDS = ("user", "department")
DIRECTORY_LIMIT = 20
DIRECTORY_MAX_LIMIT = 50


@api_ui.get("/directory/search")
@endpoint("q", "kind", "ids", "limit")
def directory_search():
    """Users (active) or departments whose name contains `q` → {"items": [{"id", "name"}]}.

    Any signed-in caller may ask (pickers of member/department fields); nothing but the id
    and the display name is returned. `ids` (comma-separated) names given ids instead."""
    import sqlalchemy as sa
    from . import directory, tables
    from .auth import Unauthorized
    from .api import principal
    if principal() is None:
        raise Unauthorized("sign in, or send an API key as 'Authorization: Bearer <key>'")
    from flask import request
    kind = request.args.get("kind", "user")
    if kind not in DIRECTORY_KINDS:
        raise _bad("kind", "expected user or department", "enum")
    q = request.args.get("q", "").strip()
    if len(q) > 100:
        raise _bad("q", "at most 100 characters", "max_length")
    try:
        limit = int(request.args.get("limit", DIRECTORY_LIMIT))
    except ValueError:
        raise _bad("limit", "expected a whole number") from None
    if not 1 <= limit <= DIRECTORY_MAX_LIMIT:
        raise _bad("limit", f"expected 1 to {DIRECTORY_MAX_LIMIT}", "range")
    ids = [i for i in request.args.get("ids", "").split(",") if i][:DIRECTORY_MAX_LIMIT]
    if kind == "user":
        t = tables.users
        name = sa.func.coalesce(sa.func.nullif(t.c.display_name, ""), t.c.username)
        stmt = sa.select(t.c.id, name).where(t.c.is_active.is_(True))
        texts = (t.c.username, t.c.display_name)
    else:
        t = directory.departments
        name = t.c.name
        stmt = sa.select(t.c.id, name)
        texts = (t.c.name,)
    if ids:
        stmt = stmt.where(t.c.id.in_(ids))
    elif q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(sa.or_(*[sa.func.lower(c).like(pattern, escape="\\") for c in texts]))
    stmt = stmt.order_by(name, t.c.id).limit(limit)
    with instance().db.read() as conn:
        rows = conn.execute(stmt).all()
    return json_response({"items": [{"id": r[0], "name": r[1]} for r in rows]})


def _draft_schema(data: dict, draft) -> dict:
    """The expression schema of form `form` (or its subform `subform`) of a draft definition."""
    from .model import field_list, form_expr_schema, forms_index, row_expr_schema
    if not isinstance(draft, dict):
        raise _bad("definition", "expected an app definition (an object)")
    if data.get("app") is not None:
        require(access.DEFINE, data["app"])
    forms = forms_index(draft)
    form = forms.get(data.get("form"))
    if form is None:
        raise _bad("form", f"{data.get('form')!r} is not a form of the definition", "unknown")
    app_key = data.get("app") or draft.get("key")
    if data.get("subform") is not None:
        sub = next((f for f in field_list(form) if f["key"] == data["subform"]), None)
        if sub is None or sub.get("type") != "subform":
            raise _bad("subform", f"{data['subform']!r} is not a subform of {form['key']}", "unknown")
        return row_expr_schema(form, sub, forms, app_key)
    return form_expr_schema(form, forms, app_key)


def _document_paths() -> None:
    """Advertise these routes in the static OpenAPI document (engine.openapi)."""
    from . import openapi as oa
    app_form = [oa._path_param("app", {"type": "string"}), oa._path_param("form", {"type": "string"})]
    error = {"type": "object", "properties": {"location": {"type": "string"}, "message": {"type": "string"},
                                              "code": {"type": "string"}}, "additionalProperties": True}
    preview_in = {"type": "object", "additionalProperties": False, "properties": {
        "values": {"type": "object", "description": "The draft's field values (API JSON)"},
        "record": {"type": "string", "description": "The id of the record being edited"},
        "defaults": {"type": "boolean", "description": "Apply default values (new records)"}}}
    preview_out = {"type": "object", "required": ["values", "visible", "errors"], "properties": {
        "values": {"type": "object", "description": "Every field's value, computed fields included"},
        "visible": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "errors": {"type": "array", "items": error}}}
    check_in = {"type": "object", "required": ["source"], "additionalProperties": False, "properties": {
        "source": {"type": "string"}, "app": {"type": "string"}, "form": {"type": "string"},
        "subform": {"type": "string"},
        "definition": {"type": "object", "description": "A draft app definition: check against its form `form`"}}}
    diag = {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "line": {"type": "integer"},
        "column": {"type": "integer"}, "end_column": {"type": "integer"},
        "suggestion": {"type": ["string", "null"]}}}
    check_out = {"type": "object", "required": ["diagnostics"],
                 "properties": {"diagnostics": {"type": "array", "items": diag}}}
    q = lambda name, schema, desc: {"name": name, "in": "query", "schema": schema,  # noqa: E731
                                    "description": desc}
    found = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["id", "name"], "additionalProperties": False,
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}}}}
    oa.register_paths({
        "/directory/search": {"get": oa._op(
            "Users or departments by name, for pickers (id and display name only; any signed-in caller)",
            oa._resp("Matches, by name", found), errors=(400, 401), tag="ui", params=[
                q("q", {"type": "string", "maxLength": 100}, "Part of the name (or username), any case"),
                q("kind", {"type": "string", "enum": list(DIRECTORY_KINDS), "default": "user"}, "What to find"),
                q("ids", {"type": "string", "maxLength": 4000}, "Comma-separated ids to name instead of a search"),
                q("limit", {"type": "integer", "minimum": 1, "maximum": DIRECTORY_MAX_LIMIT,
                            "default": DIRECTORY_LIMIT}, "Most matches")])},
        "/apps/{app}/forms/{form}/preview": {"post": oa._post(
            "Evaluate a draft record (formulas, defaults, visibility, validation) without saving it",
            oa._resp("Computed values, visibility and located errors", preview_out),
            params=app_form, body=preview_in, tag="ui")},
        "/expressions/check": {"post": oa._post(
            "Static diagnostics of a formula against a form's fields (empty when fine)",
            oa._resp("Diagnostics", check_out), body=check_in, tag="ui")},
    })


_document_paths()
