"""OpenAPI 3.1 documents: the static API (every endpoint) and one per app (a schema per form).

`static_document()` describes every route of the `api` blueprint (a test checks
that none is missing). `app_document(app, who)` describes the record endpoints of
one app's forms with schemas generated from the field types' `value_schema()`:
computed and system fields are readOnly and absent from the input schemas.

The app document is what the *caller* may see (the permission service, through
`access.form_access`): forms without any right are left out, and so are the
operations of actions it lacks; hidden fields are absent, read-only ones are
readOnly and not input, masked ones say so in their description.
"""
from __future__ import annotations

import copy

from . import access, defaults
from .api import api, endpoint, instance, json_response, principal, require

VERSION = "1.0.0"
#: paths other modules add to the static document (e.g. spreadsheet import/export), by `register_paths`
EXTRA_PATHS: dict = {}


def register_paths(paths: dict) -> None:
    """Add OpenAPI path items (keys relative to /api/v1) to the static document."""
    EXTRA_PATHS.update(paths)

ID = {"type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[^/:]+$"}
PROBLEM = {
    "type": "object", "required": ["title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["message"],
            "properties": {"location": {"type": ["string", "null"]}, "message": {"type": "string"},
                           "code": {"type": ["string", "null"]}}}}},
}
ERROR_TITLES = {400: "Bad request", 401: "Not signed in, or the API key is not valid",
                403: "Not allowed", 404: "Not found", 409: "Conflict (a unique value, or the same "
                "Idempotency-Key is in progress)", 412: "If-Match does not match the current version",
                413: "Payload too large", 415: "The body is not application/json",
                422: "Invalid (each problem located in `errors`), or Idempotency-Key reused",
                429: "Too many sign-in attempts (see Retry-After)"}
SYSTEM_SCHEMAS = {
    "_id": {"type": "string"}, "_version": {"type": "integer", "minimum": 1},
    "_owner": {"type": ["string", "null"]}, "_created_at": {"type": "string"},
    "_created_by": {"type": ["string", "null"]}, "_updated_at": {"type": "string"},
    "_updated_by": {"type": ["string", "null"]}, "_deleted_at": {"type": ["string", "null"]},
    "_legacy": {"type": "object", "description": "values an old type change could not convert"},
}

Q = {
    "filter": {"name": "filter", "in": "query", "description": "An expression, e.g. `AND(qty > 2, status = \"open\")`",
               "schema": {"type": "string", "maxLength": 2000}},
    "sort": {"name": "sort", "in": "query", "description": "Comma-separated keys, `-` for descending, e.g. `-_created_at,title`",
             "schema": {"type": "string", "maxLength": 500}},
    "fields": {"name": "fields", "in": "query", "description": "Comma-separated field keys to return (plus `_id`, `_version`)",
               "schema": {"type": "string", "maxLength": 2000}},
    "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                          "maximum": defaults.MAX_PAGE_SIZE}},
    "cursor": {"name": "cursor", "in": "query", "description": "`next_cursor` of the previous page",
               "schema": {"type": "string", "maxLength": 2000}},
    "trash": {"name": "trash", "in": "query", "description": "List (or get) records in the trash",
              "schema": {"type": "boolean"}},
    "count": {"name": "count", "in": "query", "description": "Also return the number of matching records",
              "schema": {"type": "boolean"}},
    "purge": {"name": "purge", "in": "query", "description": "Erase a record that is in the trash",
              "schema": {"type": "boolean"}},
    "dry_run": {"name": "dry_run", "in": "query", "description": "Validate and plan only; change nothing",
                "schema": {"type": "boolean"}},
}
H = {
    "Idempotency-Key": {"name": "Idempotency-Key", "in": "header", "description":
                        "Makes the POST safe to retry: the first response is replayed for 24 hours",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
    "If-Match": {"name": "If-Match", "in": "header", "description": "The ETag you last read; 412 if it changed",
                 "schema": {"type": "string"}},
    "If-None-Match": {"name": "If-None-Match", "in": "header", "description": "304 when the ETag still matches",
                      "schema": {"type": "string"}},
}
ETAG_HEADER = {"ETag": {"description": "The version of the resource", "schema": {"type": "string"}}}


def _path_param(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or ID}


def _json(schema: dict | str) -> dict:
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    return {"application/json": {"schema": schema}}


def _op(summary: str, ok: dict, *, params=(), body=None, errors=(400, 401, 403, 404), public=False,
        tag: str = "") -> dict:
    op: dict = {"summary": summary, "tags": [tag] if tag else [], "parameters": list(params), "responses": {}}
    op["responses"].update(ok)
    if body is not None:
        op["requestBody"] = {"required": True, "content": _json(body)}
        errors = (*errors, 413, 415)
    for status in sorted(set(errors)):
        ref = {"$ref": f"#/components/responses/Problem{status}"}
        op["responses"][str(status)] = ref
    if public:
        op["security"] = []
    return op


def _resp(description: str, schema=None, status: int = 200, headers: dict | None = None) -> dict:
    out: dict = {"description": description}
    if schema is not None:
        out["content"] = _json(schema)
    if headers:
        out["headers"] = headers
    return {str(status): out}


def _post(summary, ok, *, params=(), body=None, errors=(400, 401, 403, 404), public=False, tag=""):
    """A POST: Idempotency-Key accepted; 409 (in flight) and 422 (key reused) possible."""
    return _op(summary, ok, params=[*params, H["Idempotency-Key"]], body=body,
               errors=(*errors, 409, 422), public=public, tag=tag)


def _components(extra_schemas: dict | None = None) -> dict:
    schemas = {
        "Problem": PROBLEM,
        "Record": {"type": "object", "required": ["_id", "_version"],
                   "properties": {k: v for k, v in SYSTEM_SCHEMAS.items()}, "additionalProperties": True},
        "RecordInput": {"type": "object", "description": "Field keys and values (system fields are refused)",
                        "additionalProperties": True},
        "RecordPage": {"type": "object", "required": ["records", "next_cursor"], "properties": {
            "records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
            "next_cursor": {"type": ["string", "null"]}, "count": {"type": "integer", "minimum": 0}}},
        "RecordBatch": {"type": "object", "required": ["records"], "properties": {
            "records": {"type": "array", "minItems": 1, "maxItems": defaults.MAX_BATCH,
                        "items": {"$ref": "#/components/schemas/RecordInput"}}}},
        "RecordList": {"type": "object", "required": ["records"], "properties": {
            "records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}}},
        "Revert": {"type": "object", "required": ["version"], "additionalProperties": False,
                   "properties": {"version": {"type": "integer", "minimum": 1}}},
        "History": {"type": "object", "required": ["history"], "properties": {"history": {
            "type": "array", "items": {"type": "object", "required": ["version", "action", "at", "changes"],
                                       "properties": {"version": {"type": "integer"},
                                                      "action": {"type": "string"},
                                                      "actor": {"type": ["string", "null"]},
                                                      "at": {"type": "string"},
                                                      "revision_id": {"type": "integer"},
                                                      "changes": {"type": "object"}}}}}},
        "Definition": {"type": "object", "description": "An app definition (see docs/app-format.md)",
                       "required": ["key"], "properties": {"key": {"type": "string"}}},
        "InstallResult": {"type": "object", "required": ["app", "version", "plan"], "properties": {
            "app": {"type": "string"}, "version": {"type": "integer"},
            "from_version": {"type": ["integer", "null"]}, "plan": {"type": "array"},
            "created": {"type": "boolean"}, "dry_run": {"type": "boolean"}}},
        "AppList": {"type": "object", "required": ["apps"], "properties": {"apps": {"type": "array", "items": {
            "type": "object", "required": ["key", "version", "forms"], "properties": {
                "key": {"type": "string"}, "version": {"type": "integer"}, "label": {},
                "forms": {"type": "array", "items": {"type": "object", "properties": {
                    "key": {"type": "string"}, "label": {}}}}}}}}},
        "Versions": {"type": "object", "required": ["versions"], "properties": {"versions": {"type": "array"}}},
        "User": {"type": "object", "required": ["id", "username"], "properties": {
            "id": {"type": "string"}, "username": {"type": "string"}, "display_name": {"type": "string"},
            "email": {"type": ["string", "null"]}, "is_admin": {"type": "boolean"},
            "is_active": {"type": "boolean"}, "created_at": {"type": "string"},
            "last_login_at": {"type": ["string", "null"]}, "password_changed_at": {"type": ["string", "null"]}}},
        "UserList": {"type": "object", "required": ["users"], "properties": {
            "users": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}}},
        "NewUser": {"type": "object", "required": ["username", "password"], "additionalProperties": False,
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"},
                                   "admin": {"type": "boolean"}, "display_name": {"type": "string"},
                                   "email": {"type": "string"}}},
        "UserChange": {"type": "object", "additionalProperties": False, "properties": {
            "is_active": {"type": "boolean"}, "is_admin": {"type": "boolean"},
            "display_name": {"type": "string"}, "email": {"type": "string"}}},
        "Password": {"type": "object", "required": ["password"], "additionalProperties": False,
                     "properties": {"password": {"type": "string"}}},
        "PasswordChange": {"type": "object", "required": ["current_password", "new_password"],
                           "additionalProperties": False, "properties": {
                               "current_password": {"type": "string"}, "new_password": {"type": "string"}}},
        "Login": {"type": "object", "required": ["username", "password"], "additionalProperties": False,
                  "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
        "Me": {"type": "object", "required": ["user", "auth"], "properties": {
            "user": {"$ref": "#/components/schemas/User"}, "auth": {"enum": ["session", "key"]},
            "csrf_token": {"type": "string"}, "key": {"type": "object"}}},
        "Key": {"type": "object", "required": ["id", "name", "prefix", "apps", "write"], "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "prefix": {"type": "string"},
            "user_id": {"type": "string"}, "apps": {"type": ["array", "null"], "items": {"type": "string"}},
            "write": {"type": "boolean"}, "created_at": {"type": "string"},
            "last_used_at": {"type": ["string", "null"]}, "revoked_at": {"type": ["string", "null"]},
            "key": {"type": "string", "description": "The key itself: only in the response that creates it"}}},
        "KeyList": {"type": "object", "required": ["keys"], "properties": {
            "keys": {"type": "array", "items": {"$ref": "#/components/schemas/Key"}}}},
        "NewKey": {"type": "object", "additionalProperties": False, "properties": {
            "name": {"type": "string", "maxLength": 200},
            "apps": {"type": ["array", "null"], "items": {"type": "string"},
                     "description": "App keys the key may use; null for every app"},
            "write": {"type": "boolean", "description": "May write (default: read only)"}}},
        "Health": {"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string"}, "database": {"type": "string"}}},
        "OpenAPI": {"type": "object", "required": ["openapi", "paths"]},
    }
    schemas.update(extra_schemas or {})
    responses = {f"Problem{s}": {"description": t, "content": {"application/problem+json": {
        "schema": {"$ref": "#/components/schemas/Problem"}}}} for s, t in ERROR_TITLES.items()}
    responses["Problem401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    responses["Problem429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return {"schemas": schemas, "responses": responses, "securitySchemes": {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API key (ffk_...)"},
        "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                       "description": "Browser session; writes need the X-CSRFToken header"}}}


def _record_paths(base: str, params: list, record: str, inp: str, page: str, tag: str) -> dict:
    rid = _path_param("record_id")
    one = lambda d, s=200: _resp(d, record, s, ETAG_HEADER)  # noqa: E731
    return {
        base: {
            "get": _op("List records (filter, sort, fields, cursor pagination)", _resp("A page", page),
                       params=[*params, Q["filter"], Q["sort"], Q["fields"], Q["limit"], Q["cursor"],
                               Q["trash"], Q["count"]], tag=tag),
            "post": _post("Create a record", one("Created", 201), params=params, body=inp, tag=tag),
        },
        base + ":batch": {
            "post": _post("Create up to 1,000 records, all or nothing",
                          _resp("Created", {"type": "object", "required": ["records"], "properties": {
                              "records": {"type": "array", "items": {"$ref": f"#/components/schemas/{record}"}}}},
                              201),
                          params=params, body={"type": "object", "required": ["records"], "properties": {
                              "records": {"type": "array", "minItems": 1, "maxItems": defaults.MAX_BATCH,
                                          "items": {"$ref": f"#/components/schemas/{inp}"}}}}, tag=tag),
        },
        base + "/{record_id}": {
            "get": _op("Get a record", {**one("The record"), "304": {"description": "Not modified"}},
                       params=[*params, rid, Q["trash"], H["If-None-Match"]], tag=tag),
            "patch": _op("Change some fields", one("The changed record"),
                         params=[*params, rid, H["If-Match"]], body=inp, errors=(400, 401, 403, 404, 409, 412, 422),
                         tag=tag),
            "delete": _op("Move to the trash (?purge=1 erases a trashed record)",
                          {**one("The trashed record"), "204": {"description": "Purged"}},
                          params=[*params, rid, Q["purge"], H["If-Match"]], errors=(400, 401, 403, 404, 409, 412),
                          tag=tag),
        },
        base + "/{record_id}:restore": {
            "post": _post("Restore a record from the trash", one("The restored record"), params=[*params, rid],
                          tag=tag)},
        base + "/{record_id}:revert": {
            "post": _post("Revert to the values of an earlier version", one("The reverted record"),
                          params=[*params, rid], body="Revert", tag=tag)},
        base + "/{record_id}/history": {
            "get": _op("Every revision of a record", _resp("The history", "History"), params=[*params, rid],
                       tag=tag)},
    }


def static_document() -> dict:
    """The OpenAPI document of every endpoint (records are generic objects here)."""
    app_p = _path_param("app_key")
    form_p = _path_param("form_key")
    user_p = _path_param("user_id")
    key_p = _path_param("key_id")
    paths = {
        "/health": {"get": _op("Liveness", _resp("OK", "Health"), errors=(), public=True, tag="meta")},
        "/openapi.json": {"get": _op("This document", _resp("OpenAPI 3.1", "OpenAPI"), errors=(), public=True,
                                     tag="meta")},
        "/login": {"post": _post("Sign in (opens a session cookie)", _resp("Signed in", "Me"), body="Login",
                                 errors=(400, 401, 429), public=True, tag="accounts")},
        "/logout": {"post": _post("Sign out", {"204": {"description": "Signed out"}}, errors=(400, 403),
                                  public=True, tag="accounts")},
        "/me": {"get": _op("The caller", _resp("The caller", "Me"), errors=(400, 401, 403), tag="accounts")},
        "/me/password": {"post": _post("Change one's password (ends other sessions)",
                                       {"204": {"description": "Changed"}}, body="PasswordChange", tag="accounts")},
        "/users": {"get": _op("Users (admins)", _resp("Users", "UserList"), tag="accounts"),
                   "post": _post("Create a user (admins)", _resp("Created", "User", 201), body="NewUser",
                                 tag="accounts")},
        "/users/{user_id}": {"patch": _op("Change a user (admins)", _resp("The user", "User"), params=[user_p],
                                          body="UserChange", tag="accounts")},
        "/users/{user_id}/password": {"post": _post("Set a user's password (admins)",
                                                    {"204": {"description": "Changed"}}, params=[user_p],
                                                    body="Password", tag="accounts")},
        "/keys": {"get": _op("The caller's API keys", _resp("Keys", "KeyList"), tag="keys"),
                  "post": _post("Create an API key (shown once)", _resp("Created", "Key", 201), body="NewKey",
                                tag="keys")},
        "/keys/{key_id}": {"delete": _op("Revoke an API key", {"204": {"description": "Revoked"}},
                                         params=[key_p], tag="keys")},
        "/apps": {"get": _op("Installed apps", _resp("Apps", "AppList"), tag="apps"),
                  "post": _post("Install a new app", {**_resp("Installed", "InstallResult", 201, ETAG_HEADER),
                                                      **_resp("Dry run", "InstallResult")},
                                params=[Q["dry_run"]], body="Definition", tag="apps")},
        "/apps/import": {"post": _post("Install or upgrade from a definition file",
                                       {**_resp("Upgraded", "InstallResult", 200, ETAG_HEADER),
                                        **_resp("Installed", "InstallResult", 201, ETAG_HEADER)},
                                       params=[Q["dry_run"]], body="Definition", tag="apps")},
        "/apps/{app_key}": {
            "get": _op("An app's definition", {**_resp("The definition", "Definition", 200, ETAG_HEADER),
                                               "304": {"description": "Not modified"}},
                       params=[app_p, H["If-None-Match"]], tag="apps"),
            "put": _op("Apply a new version of an app (?dry_run=1: the plan only)",
                       _resp("Applied (or planned)", "InstallResult", 200, ETAG_HEADER),
                       params=[app_p, Q["dry_run"], H["If-Match"]], body="Definition",
                       errors=(400, 401, 403, 404, 409, 412, 422), tag="apps"),
            "delete": _op("Uninstall an app with its records (409 while it holds records unless ?force=1, "
                          "or while another app links to it)", {"204": {"description": "Uninstalled"}},
                          params=[app_p, {"name": "force", "in": "query", "schema": {"type": "boolean"},
                                          "description": "Also delete the app's records (final)"}],
                          errors=(400, 401, 403, 404, 409), tag="apps")},
        "/apps/{app_key}/export": {"get": _op("Download the definition", _resp("The definition file", "Definition"),
                                              params=[app_p], tag="apps")},
        "/apps/{app_key}/versions": {"get": _op("Applied versions and their plans", _resp("Versions", "Versions"),
                                                params=[app_p], tag="apps")},
        "/apps/{app_key}/openapi.json": {"get": _op("The app's OpenAPI document (a schema per form)",
                                                    _resp("OpenAPI 3.1", "OpenAPI"), params=[app_p], tag="apps")},
    }
    paths.update(_record_paths("/apps/{app_key}/forms/{form_key}/records", [app_p, form_p], "Record",
                               "RecordInput", "RecordPage", "records"))
    paths.update(copy.deepcopy(EXTRA_PATHS))
    return {
        "openapi": "3.1.0",
        "info": {"title": "formflow REST API", "version": VERSION,
                 "description": "Records, apps, accounts and API keys. Errors are RFC 9457 problem documents. "
                                "See docs/api.md."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "paths": paths,
        "components": _components(),
    }


def _schema_name(form) -> str:
    return "".join(p.capitalize() for p in str(form.key).replace("-", "_").split("_")) or "Form"


def form_schemas(form, fa=None) -> tuple[dict, dict, list]:
    """(record schema, input schema) of a form: the API values of each field.

    With `fa` (a permissions.FormAccess): as that caller sees and writes them.
    """
    props: dict = {k: {**v, "readOnly": True} for k, v in SYSTEM_SCHEMAS.items()}
    inputs: dict = {}
    required = []
    for field in form.fields:
        right = "editable" if fa is None else fa.right(field.key)
        if right == "hidden":
            continue
        schema = copy.deepcopy(field.type.value_schema() or {})
        label = field.label.get("en") or next(iter(field.label.values()), None) if field.label else None
        if label:
            schema.setdefault("title", label)
        if fa is not None and fa.is_masked(field.key):
            schema = {k: v for k, v in schema.items() if k in ("title",)}
            schema["description"] = "Sensitive: shown masked to you (e.g. 138****5678)"
        if field.type.computed or right != "editable":
            schema["readOnly"] = True
        else:
            inputs[field.key] = copy.deepcopy(schema)
            if field.required and not field.definition.get("visible_if") and not field.definition.get("visible"):
                required.append(field.key)
        props[field.key] = schema
    record = {"type": "object", "required": ["_id", "_version"], "properties": props,
              "additionalProperties": False}
    inp = {"type": "object", "properties": inputs, "additionalProperties": False}
    return record, inp, required


def app_document(app, who=None) -> dict:
    """The OpenAPI document of one app: its forms' record endpoints with generated schemas."""
    doc = static_document()
    comps = doc["components"]
    paths = {}
    for form in app.forms:
        fa = access.form_access(who, app.key, form.key) if who is not None else None
        if fa is not None and not fa.actions:
            continue
        name = _schema_name(form)
        record, inp, required = form_schemas(form, fa)
        comps["schemas"][name] = record
        comps["schemas"][name + "Input"] = inp
        comps["schemas"][name + "New"] = {**copy.deepcopy(inp), **({"required": required} if required else {})}
        comps["schemas"][name + "Page"] = {"type": "object", "required": ["records", "next_cursor"], "properties": {
            "records": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}},
            "next_cursor": {"type": ["string", "null"]}, "count": {"type": "integer", "minimum": 0}}}
        base = f"/apps/{app.key}/forms/{form.key}/records"
        form_paths = _record_paths(base, [], name, name + "Input", name + "Page", form.key)
        # creating needs the required fields; changing does not
        form_paths[base]["post"]["requestBody"]["content"] = _json(name + "New")
        form_paths[base + ":batch"]["post"]["requestBody"]["content"]["application/json"]["schema"][
            "properties"]["records"]["items"] = {"$ref": f"#/components/schemas/{name}New"}
        if fa is not None:
            _drop_denied(form_paths, base, fa)
        paths.update(form_paths)
    title = app.label.get("en") or next(iter(app.label.values()), app.key) if app.label else app.key
    doc["info"] = {"title": f"{title} ({app.key}) — formflow API", "version": str(app.version),
                   "description": f"Records of the forms of app {app.key!r}, version {app.version}."}
    doc["paths"] = paths
    return doc


#: which action each operation of a form's record paths needs
_OP_ACTIONS = {("", "get"): "read", ("", "post"): "create", (":batch", "post"): "create",
               ("/{record_id}", "get"): "read", ("/{record_id}", "patch"): "update",
               ("/{record_id}", "delete"): "delete", ("/{record_id}:restore", "post"): "restore",
               ("/{record_id}:revert", "post"): "update", ("/{record_id}/history", "get"): "read"}


def _drop_denied(paths: dict, base: str, fa) -> None:
    """Remove the operations the caller's actions do not allow (and paths left empty)."""
    for (suffix, method), action in _OP_ACTIONS.items():
        item = paths.get(base + suffix)
        if item is not None and not fa.can(action):
            item.pop(method, None)
    for path in [p for p, item in paths.items() if not item]:
        del paths[path]


@api.get("/openapi.json")
@endpoint(public=True)
def openapi_static():
    """The OpenAPI document of the whole API."""
    return json_response(static_document())


@api.get("/apps/<app_key>/openapi.json")
@endpoint()
def openapi_app(app_key):
    """The OpenAPI document of one app (a schema per form)."""
    require(access.READ, app_key)
    doc = app_document(instance().app(app_key), principal())
    return json_response(doc)
