"""Field values (API JSON) as short text for tables, record pages and history (escaped by Jinja)."""
from __future__ import annotations

from flask_babel import gettext as _

from .i18n import text_of
from .widgets import options_of


def option_text(definition: dict, value) -> str:
    """The label of an option value in the UI language (the value itself when unlabelled)."""
    for v, label in options_of(definition):
        if v == value:
            return text_of(label, str(value))
    return "" if value is None else str(value)


def _result_type(definition: dict) -> str:
    return definition.get("type", "text")


def value_text(definition: dict, value) -> str:
    """One field's value as text."""
    if value is None or value == "" or value == []:
        return ""
    kind = _result_type(definition)
    if kind == "select":
        return option_text(definition, value)
    if kind == "multiselect" and isinstance(value, list):
        return ", ".join(option_text(definition, v) for v in value)
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if kind == "subform" and isinstance(value, list):
        return _("%(n)s row(s)", n=len(value))
    if kind == "address" and isinstance(value, dict):
        return " / ".join(str(value[p]) for p in ("province", "city", "district", "detail") if value.get(p))
    if kind == "location" and isinstance(value, dict):
        return f"{value.get('lng')}, {value.get('lat')}"
    if kind == "datetime" and isinstance(value, str):
        return value.replace("T", " ")[:19]
    if isinstance(value, list):
        return ", ".join(value_text({}, v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {value_text({}, v)}" for k, v in value.items())
    return str(value)
