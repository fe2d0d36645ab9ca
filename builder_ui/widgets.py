"""Field type → input widget: ONE registry the data-entry page renders from.

A widget names the Jinja macro that draws it (`kind`, in templates/_widgets.html)
and how the browser reads its value back (`data-kind` for static/entry.js).
Adding a field type means adding one line here.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field


@dataclass(frozen=True)
class Widget:
    kind: str                       # macro in _widgets.html
    input_type: str = "text"        # <input type=...>
    value: str = "text"             # how entry.js reads it: text, number, decimal, bool, list, ...
    attrs: dict = dc_field(default_factory=dict)


WIDGETS: dict[str, Widget] = {
    "text": Widget("input"),
    "textarea": Widget("textarea"),
    "email": Widget("input", "email", attrs={"autocomplete": "email"}),
    "phone": Widget("input", "tel", attrs={"autocomplete": "tel"}),
    "url": Widget("input", "url"),
    "number": Widget("input", "text", "number", {"inputmode": "decimal"}),
    "decimal": Widget("input", "text", "decimal", {"inputmode": "decimal"}),
    "money": Widget("input", "text", "decimal", {"inputmode": "decimal"}),
    "percent": Widget("input", "text", "decimal", {"inputmode": "decimal"}),
    "boolean": Widget("checkbox", "checkbox", "bool"),
    "date": Widget("input", "date"),
    "datetime": Widget("input", "datetime-local", "datetime"),
    "time": Widget("input", "time", attrs={"step": "1"}),
    "select": Widget("select"),
    "multiselect": Widget("multiselect", "checkbox", "list"),
    "user": Widget("reference"),
    "department": Widget("reference"),
    "link": Widget("link"),
    "attachment": Widget("files", "file", "files"),
    "image": Widget("files", "file", "files", {"accept": "image/png,image/jpeg,image/gif,image/webp"}),
    "address": Widget("address", value="address"),
    "location": Widget("location", value="location"),
    "subform": Widget("subform", value="rows"),
    "formula": Widget("computed", value="none"),
    "lookup": Widget("computed", value="none"),
    "rollup": Widget("computed", value="none"),
    "serial": Widget("computed", value="none"),
}

FALLBACK = Widget("input")


def widget_for(field) -> Widget:
    """The widget of a field (a model Field or a definition dict); multiple references read a list."""
    definition = field if isinstance(field, dict) else field.definition
    widget = WIDGETS.get(definition.get("type"), FALLBACK)
    if widget.kind in ("reference", "link") and definition.get("multiple"):
        return Widget(widget.kind, widget.input_type, "ids", widget.attrs)
    return widget


def options_of(definition: dict) -> list[tuple[str, object]]:
    """[(value, label)] of a select/multiselect; a label may be a language dict."""
    out = []
    for option in definition.get("options") or []:
        if isinstance(option, dict):
            out.append((option.get("value"), option.get("label") or option.get("value")))
        else:
            out.append((option, option))
    return out


def input_id(*parts) -> str:
    """A DOM id for an input (field keys are identifiers, so this stays valid)."""
    return "f-" + "-".join(str(p) for p in parts)
