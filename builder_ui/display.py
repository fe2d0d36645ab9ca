"""Field values (API JSON) as short text for tables, record pages and history (escaped by Jinja)."""
from __future__ import annotations

from urllib.parse import quote

from flask import has_request_context, request
from flask_babel import gettext as _
from markupsafe import Markup

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


def file_size(n) -> str:
    """A byte count as short text: 512 B, 1.5 KB, 2.3 MB (units are the same in every language)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        return ""
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024:
            break
    return f"{size:.1f} {unit}"


class FileList(str):
    """An attachment/image value: plain text ("a.pdf (1.2 KB), b.png (3.0 KB)") wherever text is
    wanted (CSV export, joins), HTML in templates (`__html__`).

    The HTML is a span per file carrying its id, name and size in data attributes, which
    table.js turns into download links and thumbnails (it knows the row's record id; this
    function does not). `files` lists {"id", "name", "size", "size_text", "content_type"}
    for templates that build the links themselves (_files.html).
    """

    def __new__(cls, kind: str, key: str, value: list):
        items = [{"id": str(f.get("id") or ""), "name": str(f.get("name") or ""), "size": f.get("size"),
                  "size_text": file_size(f.get("size")), "content_type": str(f.get("content_type") or "")}
                 for f in value if isinstance(f, dict)]
        self = super().__new__(cls, ", ".join(f"{f['name']} ({f['size_text']})" for f in items))
        self.kind, self.key, self.files = kind, key, items
        return self

    def __html__(self) -> Markup:
        base = _records_api_base()
        attrs = Markup(' data-kind="{}" data-field="{}"').format(self.kind, self.key)
        if base:
            attrs += Markup(' data-api="{}"').format(base)
        parts = [Markup('<span class="ff-file" data-id="{}" data-name="{}" data-size="{}">{} ({})</span>')
                 .format(f["id"], f["name"], f["size_text"], f["name"], f["size_text"]) for f in self.files]
        return Markup('<span class="ff-files"{}>{}</span>').format(attrs, Markup(", ").join(parts))


def _records_api_base() -> str | None:
    """The records API URL of the page's form (its view arguments), for table.js' file links."""
    if not has_request_context():
        return None
    args = request.view_args or {}
    app_key, form_key = args.get("app_key"), args.get("form_key")
    if not app_key or not form_key:
        return None
    return f"/api/v1/apps/{quote(app_key, safe='')}/forms/{quote(form_key, safe='')}/records/"


def value_text(definition: dict, value) -> str:
    """One field's value as text."""
    if value is None or value == "" or value == []:
        return ""
    kind = _result_type(definition)
    if kind in ("attachment", "image") and isinstance(value, list):
        if definition.get("sensitive"):
            # masked names are not worth links, and the download refuses masked fields
            return ", ".join(str(f.get("name")) for f in value if isinstance(f, dict))
        return FileList(kind, str(definition.get("key") or ""), value)
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
