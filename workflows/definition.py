"""The `automations` section of an app definition: its JSON Schema and the checks a schema cannot do.

    "automations": [{
      "key": "close_alert", "label": {"en": "Tell the owner"}, "enabled": true,
      "trigger": {"type": "record.updated", "form": "ticket", "fields": ["status"]},
      "condition_before": "status != \\"closed\\"",       # on the record before the change
      "condition": "status = \\"closed\\"",                # on the record after the change
      "actions": [{"type": "notify", "owner": true, "title": "\\"Closed: \\" & title"}]
    }]

See docs/automations.md. `SECTION_SCHEMA` is registered with
engine.app_schema.register_section("automations", ...) by `register()`;
`check_section` runs as an engine.definition section checker.
"""
from __future__ import annotations

import copy
import difflib

import jsonschema

from . import defaults

TRIGGER_TYPES = ("record.created", "record.updated", "record.deleted", "record.restored",
                 "schedule", "date", "webhook", "button")
RECORD_TRIGGERS = TRIGGER_TYPES[:4]
FORM_TRIGGERS = RECORD_TRIGGERS + ("date", "button")
ACTION_TYPES = ("create_record", "update_record", "delete_record", "for_each", "notify", "webhook")

_EXPR = {"type": "string", "minLength": 1, "maxLength": 10_000}
_KEY = {"type": "string", "pattern": r"^[^\W\d]\w{0,62}$"}

_ACTION_PROPS = {
    "type": {"enum": list(ACTION_TYPES)},
    "app": _KEY, "form": _KEY,
    "record": _EXPR,
    "values": {"type": "object", "maxProperties": 1_000},
    "subform": _KEY,
    "users": {"type": "array", "items": {"type": "string"}, "maxItems": 1_000},
    "roles": {"type": "array", "items": _KEY, "maxItems": 100},
    "owner": {"type": "boolean"},
    "title": _EXPR, "body": {"type": ["string", "object"]},
    "url": {"type": "string", "pattern": "^https?://", "maxLength": 2_000},
    "label": {"type": ["string", "object"]},
}
_INNER_ACTION = {"type": "object", "required": ["type"], "additionalProperties": False,
                 "properties": {k: v for k, v in _ACTION_PROPS.items()}}
_INNER_ACTION["properties"]["type"] = {"enum": [t for t in ACTION_TYPES if t != "for_each"]}
_ACTION = {"type": "object", "required": ["type"], "additionalProperties": False,
           "properties": {**_ACTION_PROPS,
                          "actions": {"type": "array", "maxItems": 50, "items": _INNER_ACTION}}}

AUTOMATION_SCHEMA = {
    "type": "object", "required": ["key", "trigger", "actions"], "additionalProperties": False,
    "properties": {
        "key": _KEY, "label": {"type": ["string", "object"]}, "description": {"type": "string"},
        "enabled": {"type": "boolean"},
        "trigger": {"type": "object", "required": ["type"], "additionalProperties": False, "properties": {
            "type": {"enum": list(TRIGGER_TYPES)}, "form": _KEY,
            "fields": {"type": "array", "items": _KEY, "maxItems": 1_000},
            "cron": {"type": "string", "maxLength": 200}, "timezone": {"type": "string", "maxLength": 64},
            "field": _KEY, "offset": {"type": "integer"}, "unit": {"enum": ["minutes", "hours", "days"]}}},
        "condition_before": _EXPR,
        "condition": _EXPR,
        "actions": {"type": "array", "minItems": 1, "maxItems": 50, "items": _ACTION},
    },
}
SECTION_SCHEMA = {"type": "array", "maxItems": defaults.MAX_AUTOMATIONS_PER_APP, "items": AUTOMATION_SCHEMA,
                  "description": "Automations: a trigger, optional conditions and ordered actions "
                                 "(docs/automations.md)."}
_validator = jsonschema.Draft202012Validator(SECTION_SCHEMA)


def register() -> None:
    """Put the section schema into the app schema (engine.app_schema) — the lead wires this call."""
    from engine import app_schema
    app_schema.register_section("automations", copy.deepcopy(SECTION_SCHEMA))


def check_section(defn: dict, add, installed=None) -> None:
    """Report every problem of the automations section through add(path, message)."""
    section = defn.get("automations")
    if section is None:
        return
    base = ("automations",)
    errors = list(_validator.iter_errors(section))
    for err in errors:
        add(base + tuple(err.absolute_path), err.message)
    if errors or not isinstance(section, list):
        return
    from engine.model import forms_index
    forms = forms_index(defn)
    seen = set()
    for i, auto in enumerate(section):
        path = base + (i,)
        if auto["key"] in seen:
            add(path + ("key",), f'another automation is already called "{auto["key"]}"')
        seen.add(auto["key"])
        _check_automation(defn, forms, auto, path, add, installed)


def _diag(d) -> str:
    from engine.definition import _diagnostic_message
    return _diagnostic_message(d)


def _check_expr(source, schema, path, add) -> None:
    from engine import expr
    try:
        for d in expr.check(source, schema):
            add(path, _diag(d))
    except Exception as exc:
        add(path, f"could not be checked: {exc}")


def _fields_of(form: dict) -> dict:
    return {f.get("key"): f for f in form.get("fields", []) if isinstance(f, dict)}


def _schema(defn, forms, form):
    from engine.model import form_expr_schema
    return form_expr_schema(form, forms, defn.get("key"))


def _check_automation(defn, forms, auto, path, add, installed) -> None:
    trig = auto["trigger"]
    ttype = trig["type"]
    form = None
    schema = None
    if ttype in FORM_TRIGGERS:
        fkey = trig.get("form")
        if fkey is None:
            add(path + ("trigger", "form"), f"a {ttype} trigger needs the form it watches")
            return
        form = forms.get(fkey)
        if form is None:
            hint = difflib.get_close_matches(fkey, list(forms), n=1)
            add(path + ("trigger", "form"), f'"{fkey}" is not a form of this app'
                + (f' (did you mean "{hint[0]}"?)' if hint else ""))
            return
        schema = _schema(defn, forms, form)
        fields = _fields_of(form)
        for j, key in enumerate(trig.get("fields") or []):
            if key not in fields:
                add(path + ("trigger", "fields", j), f'"{key}" is not a field of {fkey}')
        if ttype == "date":
            fdef = fields.get(trig.get("field"))
            if fdef is None or fdef.get("type") not in ("date", "datetime"):
                add(path + ("trigger", "field"), "a date trigger needs a date or datetime field of the form")
    if ttype == "schedule":
        from croniter import croniter
        if not trig.get("cron") or not croniter.is_valid(trig["cron"]):
            add(path + ("trigger", "cron"), 'a schedule needs a valid cron expression (e.g. "0 9 * * 1-5")')
    if trig.get("timezone"):
        import zoneinfo
        try:
            zoneinfo.ZoneInfo(trig["timezone"])
        except Exception:
            add(path + ("trigger", "timezone"), f'"{trig["timezone"]}" is not a time zone (e.g. "Asia/Shanghai")')
    for cond in ("condition_before", "condition"):
        if cond in auto:
            if cond == "condition_before" and ttype not in RECORD_TRIGGERS:
                add(path + (cond,), "only record triggers have a record before the change")
            _check_expr(auto[cond], schema, path + (cond,), add)
    for j, action in enumerate(auto["actions"]):
        _check_action(defn, forms, form, schema, action, path + ("actions", j), add, installed, trig)


def _check_action(defn, forms, form, schema, action, path, add, installed, trig) -> None:
    atype = action["type"]
    if atype == "for_each":
        sub = _fields_of(form).get(action.get("subform")) if form else None
        if sub is None or sub.get("type") != "subform":
            add(path + ("subform",), "for_each needs a subform field of the trigger's form")
            return
        from engine.model import row_expr_schema
        row_schema = row_expr_schema(form, sub, forms, defn.get("key"))
        for k, inner in enumerate(action.get("actions") or []):
            _check_action(defn, forms, form, row_schema, inner, path + ("actions", k), add, installed, trig)
        return
    if atype in ("create_record", "update_record", "delete_record"):
        app_key = action.get("app") or defn.get("key")
        fkey = action.get("form")
        if not fkey:
            add(path + ("form",), f"{atype} needs the form to write")
            return
        target = None
        if app_key == defn.get("key"):
            target = forms.get(fkey)
            if target is None:
                add(path + ("form",), f'"{fkey}" is not a form of this app')
                return
        elif installed is not None and not installed(app_key, fkey):
            add(path + ("form",), f'"{app_key}.{fkey}" is not an installed form')
            return
        if atype != "create_record" and "record" not in action and (
                trig.get("form") != fkey or app_key != defn.get("key")):
            add(path + ("record",), "say which record to change: an expression giving its id")
        if "record" in action:
            _check_expr(action["record"], schema, path + ("record",), add)
        if target is not None:
            tfields = _fields_of(target)
            for key in (action.get("values") or {}):
                if key not in tfields:
                    add(path + ("values", key), f'"{key}" is not a field of {fkey}')
                elif tfields[key].get("type") in ("formula", "lookup", "rollup", "serial"):
                    add(path + ("values", key), f'"{key}" is computed and cannot be written')
        for key, source in (action.get("values") or {}).items():
            if isinstance(source, str):
                _check_expr(source, schema, path + ("values", key), add)
        return
    if atype == "notify":
        if not action.get("users") and not action.get("owner") and not action.get("roles"):
            add(path, "notify needs users, roles or owner: true")
        if not action.get("title"):
            add(path + ("title",), "notify needs a title (an expression)")
        for key in ("title", "body"):
            if isinstance(action.get(key), str):
                _check_expr(action[key], schema, path + (key,), add)
        return
    if atype == "webhook":
        if not action.get("url"):
            add(path + ("url",), "webhook needs the URL to call")
        for key, source in (action.get("values") or {}).items():
            if isinstance(source, str):
                _check_expr(source, schema, path + ("values", key), add)


def install_checker() -> None:
    """Add check_section to the definition checks (idempotent)."""
    from engine import definition
    if check_section not in definition.SECTION_CHECKERS:
        definition.SECTION_CHECKERS.append(check_section)


install_checker()
