"""The form designer: /apps/<app>/design (admins, or the app-level `edit_definition` right).

The page embeds everything the browser needs as JSON (never executed): the installed
definition with its version, every registered field type with its `definition_properties`,
the expression functions with their help, the forms other apps offer as link targets, and
the UI texts. static/designer.js builds the canvas, palette, property panel and formula
editor from that, checks formulas with POST /api/v1/expressions/check (against the draft),
shows an interactive preview of the draft (pages_designer_preview.py: the data-entry widgets
of _widgets.html, evaluated against the draft as the builder types), and saves with PUT
/api/v1/apps/<app> (dry run → plan; the draft's `version` makes a concurrent save a 409).
"""
from __future__ import annotations

import orjson
from flask import render_template, request
from flask_babel import gettext as _
from flask_login import login_required

from engine import access

from . import ui
from .guard import find_form, instance, me, require_page
from .i18n import label_of


def type_labels() -> dict:
    """The UI name of each field type (a type missing here is shown by its registry name)."""
    return {
        "text": _("Single-line text"), "textarea": _("Multi-line text"), "email": _("E-mail"),
        "phone": _("Phone"), "url": _("Web address"), "number": _("Number"), "decimal": _("Decimal"),
        "money": _("Money"), "percent": _("Percent"), "boolean": _("Yes / no"), "date": _("Date"),
        "datetime": _("Date and time"), "time": _("Time"), "select": _("Single choice"),
        "multiselect": _("Multiple choice"), "user": _("Member"), "department": _("Department"),
        "link": _("Link to a form"), "attachment": _("Attachment"), "image": _("Image"),
        "address": _("Address"), "location": _("Location"), "subform": _("Subform"),
        "formula": _("Formula"), "lookup": _("Lookup"), "rollup": _("Rollup"), "serial": _("Serial number"),
    }


def property_labels() -> dict:
    """The UI name of definition properties (common and type-specific; others show their name)."""
    return {
        "key": _("Key"), "type": _("Type"), "label_zh": _("Label (Chinese)"), "label_en": _("Label (English)"),
        "required": _("Required"), "unique": _("Unique"), "indexed": _("Indexed (fast filter and sort)"),
        "hidden": _("Hidden in forms"), "readonly": _("Read-only in forms"),
        "sensitive": _("Sensitive (masked)"), "default": _("Default value"),
        "default_formula": _("Default formula"), "visible_if": _("Visible when"),
        "min_length": _("Fewest characters"), "max_length": _("Most characters"), "pattern": _("Pattern"),
        "min": _("Minimum"), "max": _("Maximum"), "scale": _("Decimal places"), "currency": _("Currency"),
        "region": _("Region"), "timezone": _("Time zone"), "options": _("Options"),
        "min_selected": _("Fewest choices"), "max_selected": _("Most choices"), "multiple": _("Allow several"),
        "target": _("Linked form"), "display_field": _("Shown field"), "max_files": _("Most files"),
        "max_size": _("Largest file (bytes)"), "accept": _("Accepted types"), "min_rows": _("Fewest rows"),
        "max_rows": _("Most rows"), "formula": _("Formula"), "result_type": _("Result type"),
        "link": _("Through link"), "field": _("Field"), "function": _("Aggregate"), "where": _("Only where"),
    }


def _messages() -> dict:
    """UI texts designer.js shows (in the UI language)."""
    return {
        "add_field": _("Add to the form"), "move_up": _("Move up"), "move_down": _("Move down"),
        "delete": _("Delete"), "select": _("Edit"), "no_field": _("Select a field on the canvas to edit it."),
        "form_props": _("Form"), "form_key": _("Form key"), "title_field": _("Title field"),
        "rules": _("Validation rules"), "add_rule": _("Add a rule"), "rule_formula": _("Condition (must be TRUE)"),
        "rule_message_zh": _("Message (Chinese)"), "rule_message_en": _("Message (English)"),
        "add_option": _("Add an option"), "option_value": _("Value"), "option_label_zh": _("Label (Chinese)"),
        "option_label_en": _("Label (English)"), "remove": _("Remove"),
        "fields": _("Fields"), "functions": _("Functions"), "filter_functions": _("Find a function"),
        "formula_ok": _("No problems found."), "checking": _("Checking…"),
        "plan_title": _("What happens to existing data"), "plan_empty": _("Nothing changes."),
        "converted": _("%(n)s value(s) convert", n="{n}"), "failed": _("%(n)s value(s) cannot convert (kept aside)", n="{n}"),
        "samples": _("Examples that cannot convert"), "confirm": _("Apply the changes"), "cancel": _("Cancel"),
        "saving": _("Saving…"), "saved": _("Saved: version %(v)s.", v="{v}"),
        "stale": _("This app was changed by someone else since you opened it — reload the designer and make "
                   "your changes again."),
        "reload": _("Reload"), "invalid": _("The definition has problems; see the marked fields."),
        "failed_save": _("Could not save: %(m)s", m="{m}"), "preview_error": _("The preview shows the last valid "
                                                                            "state; fix the problems listed."),
        "none": _("(none)"), "children": _("Fields of each row"),
        "drop_here": _("Drop fields here"), "yes": _("Yes"), "no": _("No"),
        "move_into": _("Move into"), "record": _("Record"), "value": _("Value"), "error": _("Problem"),
        "section": _("Section"), "section_n": _("Section %(n)s", n="{n}"), "no_section": _("Not in a section"),
        "delete_section": _("Remove the section (its fields stay in the form)"),
        "n_columns": _("%(n)s column(s)", n="{n}"), "columns": _("Columns"), "collapsed": _("Folded at first"),
        "description_zh": _("Description (Chinese)"), "description_en": _("Description (English)"),
    }


def _types() -> list[dict]:
    """Every registered field type with what the property panel needs."""
    from engine.field_types import registry
    labels = type_labels()
    out = []
    for name in registry.names():
        cls = registry.get(name)
        label = labels.get(name)
        out.append({"name": name, "label": str(label) if label else name, "computed": bool(cls.computed),
                    "sensitive": bool(cls.sensitive), "properties": list(cls.definition_properties.items()),
                    "required": list(cls.definition_required), "description": cls.description})
    return out


def function_help() -> list[dict]:
    """The expression functions with their help (as docs/expressions.md shows them)."""
    from engine.expr.functions import FUNCTIONS
    out = []
    for name in sorted(FUNCTIONS.names()):
        f = FUNCTIONS.get(name)
        out.append({"name": f.name, "category": f.category, "signature": f.signature, "doc": f.doc,
                    "example": f"{f.example} → {f.returns}"})
    return out


def _other_forms(app_key: str) -> list[dict]:
    """`app.form` link targets in the other installed apps the caller may read."""
    who = me()
    out = []
    for key, other in sorted(instance().installed().items()):
        if key == app_key or not access.can(who, access.READ, key):
            continue
        for form in other.forms:
            out.append({"target": f"{key}.{form.key}", "label": f"{label_of(other)} › {label_of(form)}",
                        "fields": [{"key": f.key, "type": f.type_name} for f in form.fields]})
    return out


@ui.get("/apps/<app_key>/design")
@login_required
def designer(app_key):
    """The form designer of an app."""
    require_page(access.DEFINE, app_key)
    app, _form = find_form(app_key)
    definition = orjson.loads(instance().apps.export(app_key))
    config = {"app": app_key, "version": definition.get("version"), "definition": definition,
              "types": _types(), "functions": function_help(), "other_forms": _other_forms(app_key),
              "messages": _messages(), "props": property_labels(),
              "form": request.args.get("form")}
    return render_template("designer.html", app=app, config=config)

