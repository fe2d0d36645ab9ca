"""The permissions editor of an app, and "view as user".

`/apps/<app>/permissions` (administrators and holders of `manage_permissions`) lists the
app's permission sets (docs/permissions.md) and edits them in the page
(static/permissions.js): who (everyone, owner, roles, departments, users), actions, each
field's right, unmasked sensitive fields, the row rule and the right of new fields. The row
rule gets the designer's formula editor (static/formula-editor.js: chips of the chosen form's
fields and of the variables a rule may use, the function list with help) and is checked as it
is typed with `POST /apps/<app>/forms/<form>/rules/check` (here: the static checker's
diagnostics with line/column, and the engine's {problem} as the API's rules/check gives it). Saving
sends the whole definition with `PUT /api/v1/apps/{app}` and `If-Match` (a change made
meanwhile answers 412 and the page says so; nothing is overwritten).

`/apps/<app>/forms/<form>/view-as?as=<user>` (administrators) shows the form as that
user gets it from the permission service (`permissions.view_as`): their actions, each
field's right and masking, their first page of records projected for them, and — with
`record=` or `field=` — the service's `explain` answer ("why can this user see this?").
"""
from __future__ import annotations

import re

import orjson
import sqlalchemy as sa
from flask import abort, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from engine import access, audit, directory, permission_model as pm, permissions, tables
from engine.errors import FormflowError, NotFound
from engine.queries import QueryError

from . import ui
from .display import value_text
from .guard import find_form, instance, require_page
from .i18n import label_of
from .pages_designer import function_help

VIEW_AS_ROWS = 50


def _users() -> list[dict]:
    with instance().db.read() as conn:
        rows = conn.execute(sa.select(tables.users.c.id, tables.users.c.username, tables.users.c.is_admin)
                            .where(tables.users.c.is_active.is_(True)).order_by(tables.users.c.username)).all()
    return [{"id": r[0], "username": r[1], "admin": bool(r[2])} for r in rows]


def _ref(key: str) -> str:
    """How a formula names a field key (braces around one that is not an identifier)."""
    return key if re.fullmatch(r"[^\W\d]\w*", key) else "{" + key + "}"


def _variable_chips() -> list[dict]:
    """Chips of the system fields and `$user` values a row rule may use (engine.permission_model)."""
    texts = {"_id": _("Id of the record"), "_owner": _("Owner of the record (user id)"),
             "_created_by": _("Who created the record (user id)"),
             "_updated_by": _("Who last changed the record (user id)"),
             "id": _("Id of the signed-in user"), "username": _("User name of the signed-in user"),
             "email": _("E-mail of the signed-in user"), "roles": _("Roles of the signed-in user (list)"),
             "departments": _("Departments of the signed-in user (list)"),
             "primary_department": _("Main department of the signed-in user"),
             "subdepartments": _("Departments of the signed-in user and below them (list)"),
             "managed_departments": _("Departments the signed-in user manages (list)")}
    chips = [{"ref": key, "title": texts.get(key, key)} for key in pm.RULE_SYSTEM_FIELDS]
    chips += [{"ref": f"$user.{key}", "title": texts.get(key, key)} for key in pm.SAMPLE_USER]
    return chips


def _field_chips(form) -> list[dict]:
    """Chips of the fields of `form` a row rule can name (subforms are lists: never in SQL)."""
    schema = pm.rule_schema(form)
    return [{"ref": _ref(f.key), "title": label_of(f)} for f in form.fields
            if f.key in schema and f.type_name != "subform"]


def rule_report(source: str, form) -> dict:
    """{"problem", "diagnostics"} of a row rule on `form`: the engine's verdict and located problems."""
    from engine import expr
    if not source.strip():
        return {"problem": None, "diagnostics": []}
    from engine.queries import field_shapes
    schema = pm.rule_schema(form)
    problem = pm.rule_problem(source, schema, field_shapes(form))
    diagnostics = [{"code": d.code, "message": d.message, "line": d.line, "column": d.column,
                    "end_column": d.end_column, "suggestion": d.suggestion} for d in expr.check(source, schema)]
    if problem and not diagnostics:
        # Statically fine but without a translation to SQL (e.g. LEN(name) > 3): the engine names
        # no range, so the whole rule is marked.
        diagnostics = [{"code": "#SQL!", "message": problem, "line": 1, "column": 1,
                        "end_column": len(source) + 1, "suggestion": None}]
    return {"problem": problem or (diagnostics[0]["message"] if diagnostics else None), "diagnostics": diagnostics}


def _right_texts() -> dict:
    return {"hidden": _("hidden"), "readonly": _("read-only"), "editable": _("editable")}


@ui.get("/apps/<app_key>/permissions")
@login_required
def permissions_page(app_key):
    """Edit the app's permission sets."""
    require_page("manage_permissions", app_key)
    app, _form = find_form(app_key)
    definition = orjson.loads(instance().apps.export(app_key))
    sets = [s for s in definition.get("permissions") or [] if isinstance(s, dict)]
    app_roles = [r["key"] for r in definition.get("roles") or [] if isinstance(r, dict) and r.get("key")]
    roles = sorted(set(app_roles) | {r["key"] for r in directory.list_roles(instance())})
    forms = [{"key": f.key, "label": label_of(f),
              "fields": [{"key": x.key, "label": label_of(x), "sensitive": x.type.is_sensitive,
                          "computed": x.computed} for x in f.fields]} for f in app.forms]
    action_texts = {"create": _("create"), "read": _("read"), "update": _("update"), "delete": _("delete"),
                    "restore": _("restore"), "export": _("export"), "import": _("import"),
                    "edit_definition": _("edit the app"), "manage_permissions": _("manage permissions"),
                    "manage_automations": _("manage automations")}
    messages = {"saved": _("Saved: version %(v)s.", v="{v}"), "saving": _("Saving…"),
                "stale": _("Someone else changed this app since you opened this page. Nothing was saved: "
                           "reload the page to see their changes, then make yours again."),
                "invalid": _("Not saved; please correct:"), "failed": _("Could not save: %(m)s", m="{m}"),
                "rule_ok": _("The rule can be used."), "checking": _("Checking…"),
                "no_key": _("Every permission set needs a key (letters, digits, _)."),
                "fields": _("Fields"), "functions": _("Functions"), "filter_functions": _("Find a function")}
    formula = {"functions": function_help(), "variables": _variable_chips(),
               "fields": {f.key: _field_chips(f) for f in app.forms}}
    return render_template(
        "permissions.html", app=app, sets=sets, forms=forms, roles=roles, app_roles=app_roles,
        departments=directory.list_departments(instance()), users=_users(), definition=definition,
        etag=f'"{app_key}-{definition["version"]}"', record_actions=pm.RECORD_ACTIONS,
        app_actions=pm.APP_ACTIONS, action_texts=action_texts, rights=_right_texts(), messages=messages,
        formula=formula)


@ui.post("/apps/<app_key>/forms/<form_key>/rules/check")
@login_required
def rule_check(app_key, form_key):
    """A row rule's problems with positions: {"source"} → {"problem", "diagnostics": [{message, line, column, …}]}."""
    require_page("manage_permissions", app_key)
    _app, form = find_form(app_key, form_key)
    data = request.get_json(silent=True)
    source = data.get("source") if isinstance(data, dict) else None
    if not isinstance(source, str):
        return jsonify({"errors": [{"location": "source", "message": "expected the rule as text"}]}), 400
    return jsonify(rule_report(source, form))


@ui.get("/apps/<app_key>/forms/<form_key>/view-as")
@login_required
def view_as(app_key, form_key):
    """The form as another user sees it, with the permission service's explanations."""
    who = require_page(access.ADMIN)
    app, form = find_form(app_key, form_key)
    ff = instance()
    users = _users()
    ref = request.args.get("as", "").strip()
    ctx = {"app": app, "form": form, "users": users, "as_user": None, "rights": _right_texts(),
           "value_text": value_text}
    if ref:
        user = next((u for u in users if ref in (u["id"], u["username"])), None)
        if user is None:
            abort(404)
        fa = permissions.view_as(ff, user["id"], app_key, form_key)
        ctx.update(as_user=user, fa=fa, actions=sorted(fa.actions), visible=fa.visible_fields,
                   fields=[(f, fa.rights[f.key], fa.rights[f.key] != "hidden" and fa.is_masked(f.key))
                           for f in form.fields])
        record_id, field_key = request.args.get("record"), request.args.get("field")
        record = None
        if record_id:
            try:
                record = ff.records.get(app_key, form_key, record_id, include_deleted=True)
            except NotFound:
                abort(404)
        if field_key and field_key not in form.fields_by_key:
            abort(404)
        if record is not None or field_key:
            ctx["explain"] = fa.explain(record=record, field=field_key or None)
            if record is not None and ctx["explain"]["record"]["visible"]:
                ctx["shown_record"] = fa.project(record)
        if fa.can("read"):
            try:
                with ff.db.read() as conn:
                    page = fa.list_records(conn, limit=VIEW_AS_ROWS)
                    ctx["count"] = fa.count_records(conn)
                ctx["records"] = page.records
            except (QueryError, FormflowError) as err:
                ctx["error"] = err.message
        audit.record(ff, "access.viewed_as", object_type="user", object_id=user["id"], app=app_key,
                     form=form_key, details={"record": record_id, "field": field_key, "via": "ui"},
                     actor=who.id, ip=request.remote_addr)
    return render_template("permissions_view_as.html", **ctx)
