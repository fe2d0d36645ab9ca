"""The JSON Schema (draft 2020-12) of an app definition, built from the field-type registry.

An app definition is one JSON document: the app's key and label, its forms, each
with its fields, and optional sections (roles, permissions, automations, approvals,
views, dashboards, settings) that later parts of the engine describe by calling
`register_section(name, schema)`.

`app_schema()` builds the schema; `python -m engine.app_schema` writes it to
engine/schema/app.schema.json (shipped in the package) and regenerates the
field-type reference in docs/app-format.md between the GENERATED markers.
Tests fail when either file is stale.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

from . import defaults
from . import field_types

#: Ids end up inside SQL JSON paths: this pattern is a security boundary.
ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"
#: Keys are what the API and formulas use: a letter (any script) then word characters.
KEY_PATTERN = r"^[^\W\d]\w{0,62}$"
#: Keys starting with "_" are reserved for system fields (_id, _created_at, ...).
RESERVED_KEY_PATTERN = r"^_"
#: A BCP 47-ish language tag: en, zh-CN, zh-Hans-CN, pt-BR ...
LANGUAGE_TAG_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
MAX_EXPRESSION_LENGTH = 10_000

SCHEMA_ID = "https://formflow.dev/schema/app.schema.json"
SCHEMA_PATH = Path(__file__).parent / "schema" / "app.schema.json"
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "app-format.md"
DOC_BEGIN = "<!-- BEGIN GENERATED FIELD TYPES: edit engine/field_types.py, then run `python -m engine.app_schema` -->"
DOC_END = "<!-- END GENERATED FIELD TYPES -->"

# --------------------------------------------------------------------------- sections
#: Optional top-level sections, in canonical order. Later issues replace the
#: placeholder schemas with their own through `register_section`.
_SECTIONS: dict[str, dict] = {
    "roles": {"type": ["array", "object"], "description": "Roles of the app's users (reserved)."},
    "permissions": {"type": ["array", "object"], "description": "Who may read/write what (reserved)."},
    "automations": {"type": ["array", "object"], "description": "Triggers and actions (reserved)."},
    "approvals": {"type": ["array", "object"], "description": "Approval flows (reserved)."},
    "views": {"type": ["array", "object"], "description": "Saved list/board/calendar views (reserved)."},
    "dashboards": {"type": ["array", "object"], "description": "Dashboards and charts (reserved)."},
    "settings": {"type": "object", "description": "App-wide settings (reserved)."},
}


def register_section(name: str, schema: dict) -> None:
    """Declare (or replace the placeholder of) an optional top-level section of an app.

    `schema` is a draft 2020-12 schema of the section's value; it may use
    "$ref": "#/$defs/label", "#/$defs/key", "#/$defs/id" or "#/$defs/expression".
    """
    if name in _APP_PROPERTIES_FIXED or name == "$schema":
        raise ValueError(f"{name!r} is a fixed property of an app, not a section")
    _SECTIONS[name] = schema


def sections() -> list[str]:
    """Names of the optional sections, in canonical order."""
    return list(_SECTIONS)


# --------------------------------------------------------------------------- properties
#: Common properties of every field, in canonical order, with their schema.
COMMON_FIELD_PROPERTIES: dict[str, dict] = {
    "id": {"$ref": "#/$defs/id",
           "description": "Immutable id (assigned on first install when absent). Never reuse one."},
    "key": {"$ref": "#/$defs/key",
            "description": "Name used by the API and in formulas; may be renamed."},
    "type": {"description": "The field type (see the field-type reference)."},  # enum filled in
    "label": {"$ref": "#/$defs/label", "description": "Display name per language."},
    "description": {"$ref": "#/$defs/text", "description": "Longer explanation shown to builders."},
    "help": {"$ref": "#/$defs/text", "description": "Hint shown under the input."},
    "required": {"type": "boolean", "description": "A value must be given."},
    "unique": {"type": "boolean", "description": "No two records may share a value."},
    "indexed": {"type": "boolean", "description": "Fast filter and sort on this field."},
    "default": {"description": "Literal initial value (checked against the field type)."},
    "default_formula": {"$ref": "#/$defs/expression",
                        "description": "Expression computing the initial value."},
    "hidden": {"type": "boolean", "description": "Not shown in forms (still in the API)."},
    "readonly": {"type": "boolean", "description": "Shown but not editable in forms."},
    "sensitive": {"type": "boolean", "description": "Personal data: masked without the unmask right."},
    "visible_if": {"$ref": "#/$defs/expression",
                   "description": "Show the field only when this expression is TRUE."},
}

FORM_PROPERTIES: dict[str, dict] = {
    "id": {"$ref": "#/$defs/id"},
    "key": {"$ref": "#/$defs/key"},
    "label": {"$ref": "#/$defs/label"},
    "description": {"$ref": "#/$defs/text"},
    "title_field": {"type": "string", "description": "Key of the field naming a record."},
    "fields": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/field"}},
    "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
    "layout": {"$ref": "#/$defs/layout"},
}

#: How a form's fields are arranged on screen: columns and titled sections (presentation only;
#: a layout change never touches stored data).
LAYOUT_SCHEMA: dict = {
    "type": "object", "additionalProperties": False,
    "description": "Columns and titled sections of the form's entry and record pages.",
    "properties": {
        "columns": {"type": "integer", "minimum": 1, "maximum": 4,
                    "description": "Columns of the fields outside any section (1 when absent)."},
        "sections": {"type": "array", "maxItems": 100, "items": {
            "type": "object", "required": ["label", "fields"], "additionalProperties": False,
            "properties": {
                "label": {"$ref": "#/$defs/label", "description": "The section's title."},
                "description": {"$ref": "#/$defs/text", "description": "Text shown under the title."},
                "columns": {"type": "integer", "minimum": 1, "maximum": 4,
                            "description": "Columns of this section's fields (the form's columns when absent)."},
                "collapsed": {"type": "boolean", "description": "Shown folded until opened."},
                "visible_if": {"$ref": "#/$defs/expression",
                               "description": "Show the section (and ask for its fields) only when TRUE."},
                "fields": {"type": "array", "items": {"$ref": "#/$defs/key"},
                           "description": "Keys of the top-level fields in this section, in display order."},
            }}},
    },
}

RULE_PROPERTIES: dict[str, dict] = {
    "id": {"$ref": "#/$defs/id"},
    "formula": {"$ref": "#/$defs/expression",
                "description": "Expression that must be TRUE for a record to be saved."},
    "message": {"$ref": "#/$defs/text", "description": "Shown when the rule fails."},
    "field": {"$ref": "#/$defs/key", "description": "Key of the field the message is shown on (optional)."},
}

_APP_PROPERTIES_FIXED = ("key", "id", "label", "description", "version", "forms")


def app_properties_order() -> list[str]:
    """Canonical order of an app's top-level properties."""
    return ["$schema", *_APP_PROPERTIES_FIXED, *_SECTIONS]


def _type_then(name: str, cls: type) -> dict:
    props = {p: True for p in COMMON_FIELD_PROPERTIES}
    for prop, schema in cls.definition_properties.items():
        props[prop] = copy.deepcopy(schema)
    if name == "subform":
        # child fields are full fields; the definition checks that no subform nests another
        sub = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/field"}}
        if isinstance(props.get("fields"), dict) and "description" in props["fields"]:
            sub["description"] = props["fields"]["description"]
        props["fields"] = sub
    then: dict = {"properties": props, "additionalProperties": False}
    if cls.definition_required:
        then["required"] = list(cls.definition_required)
    return then


#: Modules of the built-in sections (roles/permissions, automations). They register
#: through the same `register_section` an extension uses; importing one also adds its
#: semantic checks to engine.definition.SECTION_CHECKERS.
SECTION_MODULES = ("engine.permission_model", "workflows.definition")


def load_sections() -> None:
    """Import the built-in section modules and let each register its schema (idempotent)."""
    import importlib
    for name in SECTION_MODULES:
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if register is not None:
            register()


def app_schema() -> dict:
    """The JSON Schema (draft 2020-12) of an app definition, from the current registries."""
    load_sections()
    type_names = field_types.registry.names()
    field_props = copy.deepcopy(COMMON_FIELD_PROPERTIES)
    field_props["type"]["enum"] = type_names
    field = {
        "type": "object",
        "required": ["key", "type", "label"],
        "properties": field_props,
        # per type: its own properties; anything else is an unknown property
        "allOf": [{"if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                   "then": _type_then(name, cls)}
                  for name, cls in field_types.registry.items()],
    }
    app_props: dict = {
        "$schema": {"type": "string"},
        "key": {"$ref": "#/$defs/key"},
        "id": {"$ref": "#/$defs/id"},
        "label": {"$ref": "#/$defs/label"},
        "description": {"$ref": "#/$defs/text"},
        "version": {"type": "integer", "minimum": 0,
                    "description": "Managed by the engine; incremented on every change."},
        "forms": {"type": "array", "minItems": 1, "maxItems": defaults.MAX_FORMS_PER_APP,
                  "items": {"$ref": "#/$defs/form"}},
    }
    for name, schema in _SECTIONS.items():
        app_props[name] = copy.deepcopy(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "formflow app definition",
        "type": "object",
        "required": ["key", "label", "forms"],
        "properties": app_props,
        "additionalProperties": False,
        "$defs": {
            "id": {"type": "string", "pattern": ID_PATTERN},
            "key": {"type": "string", "pattern": KEY_PATTERN,
                    "not": {"pattern": RESERVED_KEY_PATTERN}},
            "label": {"type": "object", "minProperties": 1,
                      "propertyNames": {"pattern": LANGUAGE_TAG_PATTERN},
                      "additionalProperties": {"type": "string", "minLength": 1}},
            "text": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/label"}]},
            "expression": {"type": "string", "minLength": 1, "maxLength": MAX_EXPRESSION_LENGTH},
            "field": field,
            "form": {"type": "object", "required": ["key", "label", "fields"],
                     "properties": FORM_PROPERTIES, "additionalProperties": False},
            "layout": LAYOUT_SCHEMA,
            "rule": {"type": "object", "required": ["formula", "message"],
                     "properties": RULE_PROPERTIES, "additionalProperties": False},
        },
    }


def schema_json() -> str:
    """The schema as shipped: canonical JSON text."""
    return json.dumps(app_schema(), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- docs
_JSON_TYPE_WORDS = {"string": "text", "number": "number", "integer": "integer",
                    "boolean": "true/false", "object": "object", "array": "list", "null": "null"}


def _describe_schema(schema) -> str:
    if schema is True:
        return "any"
    if not isinstance(schema, dict):
        return "any"
    if "const" in schema:
        return f"`{json.dumps(schema['const'], ensure_ascii=False)}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in schema["enum"])
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kinds = schema.get("type")
    if kinds is None and ("anyOf" in schema or "oneOf" in schema):
        return " or ".join(_describe_schema(s) for s in schema.get("anyOf", schema.get("oneOf")))
    if kinds is None:
        return "any"
    kinds = kinds if isinstance(kinds, list) else [kinds]
    words = []
    for k in kinds:
        if k == "array" and isinstance(schema.get("items"), dict):
            words.append(f"list of {_describe_schema(schema['items'])}")
        else:
            words.append(_JSON_TYPE_WORDS.get(k, k))
    text = " or ".join(words)
    bounds = [f"{label} {schema[kw]}" for kw, label in
              (("minimum", "≥"), ("maximum", "≤"), ("minLength", "length ≥"),
               ("maxLength", "length ≤"), ("minItems", "items ≥"), ("maxItems", "items ≤"))
              if kw in schema]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


#: how values of the built-in types look in the REST API (empty is always null)
VALUE_FORMATS = {
    "text": "text (trimmed, one line)", "textarea": "text (several lines)",
    "email": 'text: `"li.lei@example.com"`', "phone": 'text in E.164: `"+8613812345678"`',
    "url": 'text: `"https://example.com/manual.pdf"`',
    "number": 'a number, or decimal text: `12.5` or `"12.5"` (returned as text, exact)',
    "decimal": 'decimal text with `scale` decimals: `"12.50"`',
    "money": 'decimal text with `scale` (default 2) decimals: `"1999.00"`',
    "percent": 'a fraction as decimal text: `"0.125"` is 12.5 %',
    "boolean": "`true` or `false`", "date": '`"2026-12-05"`',
    "datetime": '`"2026-12-05T09:30:00"` (instance time zone; an offset is converted)',
    "time": '`"09:30:00"`', "select": 'the option\'s value: `"open"`',
    "multiselect": 'a list of option values: `["electrical", "software"]`',
    "user": 'a user id (a list of ids with `multiple`)',
    "department": 'a department id (a list of ids with `multiple`)',
    "link": 'a record id (a list of ids with `multiple`)',
    "attachment": 'a list of files: `[{"id", "name", "size", "content_type"}]`',
    "image": 'a list of image files: `[{"id", "name", "size", "content_type"}]`',
    "address": '`{"province", "city", "district", "detail"}`',
    "location": '`{"lng": "116.397", "lat": "39.909"}`',
    "subform": 'a list of rows keyed by child field key, each with its row id: `[{"_id": "01J...", "part": "fan"}]`',
    "formula": "read-only; the value of its `result_type`",
    "lookup": "read-only; the looked-up field's value (a list through a multiple link)",
    "rollup": "read-only; a number (or date/time for MIN/MAX with such a `result_type`)",
    "serial": 'read-only text assigned on creation: `"RP-202612-0001"`',
}

#: stand-in values of required definition properties, to ask a type for its value schema
_EXAMPLE_VALUES = {"options": ["a", "b"], "target": "other", "fields": [], "formula": "1",
                   "link": "other", "field": "name", "source": "rows", "function": "SUM",
                   "pattern": "N-{0000}"}


def _value_schema(name: str, cls: type) -> dict | None:
    try:
        example = {"key": "x", "type": name, "label": {"en": "X"}}
        for prop in cls.definition_required:
            example[prop] = _EXAMPLE_VALUES.get(prop)
        schema = cls(example).value_schema()
        return schema or None
    except Exception:  # a type whose value schema needs a full definition
        return None


def field_type_reference() -> str:
    """Markdown reference of every registered field type (the generated part of the doc)."""
    out = [DOC_BEGIN, ""]
    for name, cls in field_types.registry.items():
        out.append(f"### `{name}`")
        out.append("")
        out.append(_cell(cls.description or "(no description)"))
        out.append("")
        flags = []
        if cls.computed:
            flags.append("computed by the engine (clients never write it)")
        if cls.sensitive:
            flags.append("sensitive by default")
        flags.append(f"expression type `{cls.expr_type}`")
        flags.append("filterable/sortable in queries" if cls.sql_type else
                     "not filterable/sortable in queries")
        out.append("- " + "; ".join(flags) + ".")
        out.append("")
        props = cls.definition_properties
        if props:
            out.append("| Property | Value | Required | Description |")
            out.append("|---|---|---|---|")
            for prop, schema in props.items():
                if name == "subform" and prop == "fields":
                    kind = "list of fields (at least one)"
                else:
                    kind = _describe_schema(schema)
                desc = schema.get("description", "") if isinstance(schema, dict) else ""
                req = "yes" if prop in cls.definition_required else "no"
                out.append(f"| `{prop}` | {_cell(kind)} | {req} | {_cell(desc)} |")
        else:
            out.append("No type-specific properties.")
        out.append("")
        if name in VALUE_FORMATS:
            out.append(f"Value: {VALUE_FORMATS[name]}.")
            out.append("")
        value = _value_schema(name, cls)
        if value is not None:
            out.append("Value schema: `" + json.dumps(value, ensure_ascii=False,
                                                       sort_keys=True) + "`")
            out.append("")
    out.append(DOC_END)
    return "\n".join(out)


def render_doc(text: str) -> str:
    """`text` (docs/app-format.md) with its generated part replaced by the current one."""
    begin = text.find(DOC_BEGIN)
    end = text.find(DOC_END)
    if begin < 0 or end < begin:
        raise ValueError("docs/app-format.md lacks the GENERATED FIELD TYPES markers")
    return text[:begin] + field_type_reference() + text[end + len(DOC_END):]


def main(argv: list[str] | None = None) -> int:
    """Write engine/schema/app.schema.json and refresh the reference in docs/app-format.md."""
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(schema_json(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    if DOC_PATH.exists():
        DOC_PATH.write_text(render_doc(DOC_PATH.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"updated {DOC_PATH}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    # run the imported module, not this __main__ copy: section modules register into
    # engine.app_schema, which `python -m` would otherwise load a second time
    from engine.app_schema import main as _main
    sys.exit(_main(sys.argv[1:]))
