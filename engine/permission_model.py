"""The `roles` and `permissions` sections of an app definition (see docs/permissions.md).

    "roles": [{"key": "sales", "label": {"en": "Sales"}}, ...],
    "permissions": [
      {"key": "sales_orders", "form": "order",
       "who": {"roles": ["sales"], "departments": [...], "users": [...], "everyone": false, "owner": false},
       "actions": ["create", "read", "update", "export"],
       "rows": "_owner = $user.id",
       "fields": {"amount": "readonly", "margin": "hidden"},
       "new_fields": "hidden",
       "unmask": ["phone"]},
      {"key": "app_admins", "who": {"roles": ["lead"]},
       "actions": ["edit_definition", "manage_permissions", "manage_automations"]}]

A set with a `form` grants record actions on that form; a set without one grants
app-level rights. Fields not named in `fields` get `new_fields` ("hidden" unless
stated), so a field added later is never shown by accident.

Row rules (`rows`) are expressions of the formula language over the form's fields
plus the system fields `_id`, `_owner`, `_created_by` and `_updated_by` (user ids),
with `$user` = {id, username, email, roles, departments, primary_department,
subdepartments, managed_departments}. They must translate to SQL (so lists, counts
and exports filter in the database exactly as a single record is checked in Python);
the definition is refused otherwise.

Importing this module registers the sections' JSON Schemas (app_schema.register_section)
and their semantic checks (definition.SECTION_CHECKERS).
"""
from __future__ import annotations

from typing import Any, Callable

RECORD_ACTIONS = ("create", "read", "update", "delete", "restore", "export", "import")
APP_ACTIONS = ("edit_definition", "manage_permissions", "manage_automations")
FIELD_RIGHTS = ("hidden", "readonly", "editable")
DEFAULT_NEW_FIELDS = "hidden"
#: system fields row rules may use, with their expression type
RULE_SYSTEM_FIELDS = {"_id": "text", "_owner": "text", "_created_by": "text", "_updated_by": "text"}
#: what `$user` holds in a rule (a sample is used to check rules at definition time)
SAMPLE_USER = {"id": "u", "username": "u", "email": "u@example.com", "roles": ["r"], "departments": ["d"],
               "primary_department": "d", "subdepartments": ["d"], "managed_departments": ["d"]}

_KEY_LIST = {"type": "array", "items": {"$ref": "#/$defs/key"}, "uniqueItems": True}
_ID_LIST = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 128},
            "uniqueItems": True}

ROLES_SCHEMA = {
    "type": "array",
    "description": "Roles this app's permission sets name; users get them in the directory.",
    "items": {"type": "object", "required": ["key"], "additionalProperties": False, "properties": {
        "key": {"$ref": "#/$defs/key"},
        "label": {"$ref": "#/$defs/label"},
        "description": {"$ref": "#/$defs/text"}}},
}

PERMISSIONS_SCHEMA = {
    "type": "array",
    "description": "Permission sets: who may do what on which form, fields and rows (docs/permissions.md).",
    "items": {"type": "object", "required": ["key", "who", "actions"], "additionalProperties": False,
              "properties": {
                  "key": {"$ref": "#/$defs/key"},
                  "label": {"$ref": "#/$defs/label"},
                  "description": {"$ref": "#/$defs/text"},
                  "form": {"$ref": "#/$defs/key",
                           "description": "The form this set is about; absent for app-level rights."},
                  "who": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
                      "everyone": {"type": "boolean", "description": "Every signed-in user."},
                      "owner": {"type": "boolean",
                                "description": "Every user, for the records they own (_owner)."},
                      "roles": _KEY_LIST,
                      "departments": {**_ID_LIST, "description": "Members of these departments or below."},
                      "users": {**_ID_LIST, "description": "User ids."}}},
                  "actions": {"type": "array", "uniqueItems": True,
                              "items": {"enum": list(RECORD_ACTIONS + APP_ACTIONS)}},
                  "rows": {"$ref": "#/$defs/expression",
                           "description": "Row rule: the records this set reaches (formula, must run in SQL)."},
                  "fields": {"type": "object", "propertyNames": {"$ref": "#/$defs/key"},
                             "additionalProperties": {"enum": list(FIELD_RIGHTS)}},
                  "new_fields": {"enum": list(FIELD_RIGHTS),
                                 "description": "Right of fields not named in `fields` (default hidden)."},
                  "unmask": {"anyOf": [{"type": "boolean"}, _KEY_LIST],
                             "description": "Sensitive fields shown unmasked (true: all)."}}},
}


def rule_schema(form) -> dict:
    """The expression schema of row rules on `form` (a model Form): its fields plus system fields."""
    from .expr import FieldSig
    schema = dict(form.expr_schema())
    for key, type_ in RULE_SYSTEM_FIELDS.items():
        schema[key] = FieldSig(type_)
    return schema


def _rule_schema_of_definition(form_def: dict, forms_by_key: dict, app_key) -> dict:
    from .expr import FieldSig
    from .model import form_expr_schema
    schema = form_expr_schema(form_def, forms_by_key, app_key)
    for key, type_ in RULE_SYSTEM_FIELDS.items():
        schema[key] = FieldSig(type_)
    return schema


def rule_problem(source: str, schema: dict, fields=()) -> str | None:
    """Why a row rule cannot be used (None when it compiles and runs in SQL).

    `fields` are the form's (key, type name, sql_type, id) (queries.field_shapes): with them,
    list, time and link conditions are translated as the filters translate them.
    """
    import sqlalchemy as sa

    from . import expr
    from .expr import sql as expr_sql
    from .queries import sql_shapes
    text_keys, lists = sql_shapes(fields, schema, sa.column("data"))
    try:
        expr.compile_expression(source, schema)
        expr_sql.to_sql(source, schema, lambda key, folded: sa.column(key), "sqlite",
                        constants={"user": SAMPLE_USER}, text_keys=text_keys, lists=lists)
    except expr.NotInSQL as err:
        return f"the rule cannot run in the database: {err.reason}"
    except expr.ExprError as err:
        diags = getattr(err, "diagnostics", None) or []
        return diags[0].message if diags else str(err)
    return None


def check(doc: dict, add: Callable[[tuple, str], None], installed: Any = None) -> None:
    """Semantic checks of `roles` and `permissions` (definition.SECTION_CHECKERS protocol)."""
    from .model import field_list, forms_index
    roles = doc.get("roles")
    role_keys: set[str] = set()
    if isinstance(roles, list):
        for i, role in enumerate(roles):
            key = role.get("key") if isinstance(role, dict) else None
            if isinstance(key, str):
                if key in role_keys:
                    add(("roles", i, "key"), f"role {key!r} is declared twice")
                role_keys.add(key)
    sets = doc.get("permissions")
    if not isinstance(sets, list):
        return
    forms_by_key = forms_index(doc)
    seen: set[str] = set()
    for i, pset in enumerate(sets):
        if not isinstance(pset, dict):
            continue
        path = ("permissions", i)
        key = pset.get("key")
        if isinstance(key, str):
            if key in seen:
                add(path + ("key",), f"permission set {key!r} is declared twice")
            seen.add(key)
        who = pset.get("who") if isinstance(pset.get("who"), dict) else {}
        for j, role in enumerate(who.get("roles") if isinstance(who.get("roles"), list) else []):
            if isinstance(role, str) and role not in role_keys:
                add(path + ("who", "roles", j), f"unknown role {role!r}: declare it in the app's `roles`"
                    + _hint(role, role_keys))
        actions = pset.get("actions") if isinstance(pset.get("actions"), list) else []
        actions = [a if isinstance(a, str) else None for a in actions]
        form_key = pset.get("form")
        if form_key is None:
            for j, action in enumerate(actions):
                if action in RECORD_ACTIONS:
                    add(path + ("actions", j), f"{action!r} is a record action: name the `form` it applies to")
            for prop in ("rows", "fields", "new_fields", "unmask"):
                if prop in pset:
                    add(path + (prop,), f"`{prop}` needs a `form`")
            continue
        for j, action in enumerate(actions):
            if action in APP_ACTIONS:
                add(path + ("actions", j), f"{action!r} is an app-level right: put it in a set without `form`")
        form_def = forms_by_key.get(form_key) if isinstance(form_key, str) else None
        if not isinstance(form_def, dict):
            add(path + ("form",), f"unknown form {form_key!r}" + _hint(form_key, forms_by_key))
            continue
        fields = {f.get("key"): f for f in field_list(form_def) if isinstance(f, dict)}
        rights = pset.get("fields") if isinstance(pset.get("fields"), dict) else {}
        for fkey in rights:
            if fkey not in fields:
                add(path + ("fields", fkey), f"form {form_key!r} has no field {fkey!r}" + _hint(fkey, fields))
        unmask = pset.get("unmask")
        for j, fkey in enumerate(unmask if isinstance(unmask, list) else []):
            if fkey not in fields:
                add(path + ("unmask", j), f"form {form_key!r} has no field {fkey!r}" + _hint(fkey, fields))
        rows = pset.get("rows")
        if isinstance(rows, str):
            try:
                schema = _rule_schema_of_definition(form_def, forms_by_key, doc.get("key"))
            except Exception:  # the form itself is broken; its own checks report it
                continue
            problem = rule_problem(rows, schema, _definition_shapes(form_def))
            if problem:
                add(path + ("rows",), problem)


def _definition_shapes(form_def: dict) -> list[tuple]:
    """queries.field_shapes of a form definition (fields whose type cannot be read are left out)."""
    from . import field_types
    out = []
    for fdef in form_def.get("fields") or ():
        try:
            sql_type = field_types.field_type(fdef).sql_type
        except Exception:  # an invalid field: its own checks report it
            continue
        # ids are assigned on install; the check only needs a well-formed one
        fid = fdef.get("id") if isinstance(fdef.get("id"), str) else "fld_unsaved"
        out.append((fdef.get("key"), fdef.get("type"), sql_type, fid))
    return out


def _hint(name: Any, choices) -> str:
    import difflib
    if not isinstance(name, str):
        return ""
    found = difflib.get_close_matches(name, [c for c in choices if isinstance(c, str)], n=1)
    return f" (did you mean {found[0]!r}?)" if found else ""


def register() -> None:
    """Register the schemas and checks (idempotent; done on import)."""
    from . import app_schema, definition
    app_schema.register_section("roles", ROLES_SCHEMA)
    app_schema.register_section("permissions", PERMISSIONS_SCHEMA)
    if check not in definition.SECTION_CHECKERS:
        definition.SECTION_CHECKERS.append(check)


register()
