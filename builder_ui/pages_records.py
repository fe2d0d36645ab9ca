"""Data pages of a form: the table view, data entry (create/edit), the record page with history."""
from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from flask import Response, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine import access, queries, tables
from engine.errors import FormflowError, NotFound
from engine.queries import QueryError
from engine.records import RecordContext

from . import ui
from .aggregates import GROUPABLE, group_counts, group_labels
from .display import value_text
from .guard import allowed, find_form, instance, me, require_page
from .i18n import label_of
from .names import text_function
from .widgets import input_id, options_of, widget_for

PAGE_SIZES = (20, 50, 100)
#: field types edited in place in the table view (one plain input or list; others open the record)
INLINE_TYPES = {"text": "text", "email": "email", "phone": "tel", "url": "url", "number": "number",
                "decimal": "number", "money": "number", "percent": "number", "date": "date",
                "datetime": "datetime-local", "time": "time", "select": "select", "boolean": "select"}
DEFAULT_COLUMNS = 6
BULK_MAX = 500


def _ctx(who) -> RecordContext:
    return RecordContext(actor=who.id, user={"id": who.id, "username": who.user.get("username")})


#: field types the filter builder offers although SQL reads them as lists (engine.queries)
_LIST_FILTER_TYPES = ("multiselect", "user", "department", "link")


def _field_meta(form) -> list[dict]:
    """What the filter builder and data entry script need to know of each field (no values)."""
    out = []
    for f in form.fields:
        meta = {"key": f.key, "label": label_of(f), "type": f.type_name,
                "kind": str(getattr(f.type, "expr_type", "text")),
                "filterable": f.type.sql_type is not None or f.type_name in _LIST_FILTER_TYPES,
                "multiple": f.type_name == "multiselect" or f.definition.get("multiple") is True,
                "options": [{"value": v, "label": label_of({"label": lab, "key": v})}
                            for v, lab in options_of(f.definition)]}
        if f.type_name == "user":
            meta["me"] = _("is me")  # the filter builder's "records assigned to me" operator
        out.append(meta)
    return out


def _usernames(ids) -> dict[str, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    with instance().db.read() as conn:
        rows = conn.execute(sa.select(tables.users.c.id, tables.users.c.username)
                            .where(tables.users.c.id.in_(ids))).all()
    return {r[0]: r[1] for r in rows}


# -- table view ---------------------------------------------------------------------

@ui.get("/apps/<app_key>/forms/<form_key>")
@login_required
def table_view(app_key, form_key):
    """Records of a form: columns, filter, sort, cursor pages, group counts, bulk actions."""
    require_page(access.READ, app_key, form_key)
    app, form = find_form(app_key, form_key)
    ff = instance()
    # every read asks the permission service: rows by the rule, hidden columns gone, masking
    fa = access.form_access(me(), app_key, form_key, ff)
    listable = [f for f in form.fields if fa.right(f.key) != "hidden"]
    cols = [c for c in request.args.getlist("cols") if c in form.fields_by_key and fa.right(c) != "hidden"]
    if not cols:
        cols = [f.key for f in listable if f.type_name != "subform"][:DEFAULT_COLUMNS]
    filter_ = request.args.get("filter", "").strip()
    sort = request.args.get("sort", "").strip()
    cursor = request.args.get("cursor") or None
    trash = request.args.get("trash") == "1"
    group = request.args.get("group", "").strip()
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        limit = 50
    limit = limit if limit in PAGE_SIZES else 50
    error, records, next_cursor = None, [], None
    try:
        with ff.db.read() as conn:
            page = fa.list_records(conn, filter=filter_ or None, sort=sort or None, limit=limit,
                                   cursor=cursor, trash=trash)
            records, next_cursor = page.records, page.next_cursor
    except QueryError as err:
        error = err.message
    # Group counts scan every matching record (a second on a million): the rows are shown first
    # and table.js fetches the counts from group_counts_json.
    counts_url = url_for("ui.group_counts_json", app_key=app_key, form_key=form_key, group=group,
                         filter=filter_ or None, trash=1 if trash else None) if group and not error else None
    sortable = [f for f in listable if f.type.sql_type is not None and not fa.is_masked(f.key)]
    inline = {} if trash else _inline_fields(app_key, form_key, [form.fields_by_key[c] for c in cols])
    return render_template(
        "table.html", app=app, form=form, cols=[form.fields_by_key[c] for c in cols], records=records,
        next_cursor=next_cursor, filter=filter_, sort=sort, trash=trash, limit=limit, page_sizes=PAGE_SIZES,
        group=group, counts_url=counts_url,
        groupable=[f for f in listable if f.type_name in GROUPABLE and not fa.is_masked(f.key)],
        sortable=sortable, error=error, fields_meta=_field_meta(form),
        value_text=text_function(app, [form.fields_by_key[c] for c in cols], records),
        can_write=allowed(access.WRITE, app_key, form_key), first_page=cursor is None,
        group_field=form.fields_by_key.get(group), page_url=_page_url, inline=inline,
        inline_messages=_inline_messages())


@ui.get("/apps/<app_key>/forms/<form_key>/group-counts")
@login_required
def group_counts_json(app_key, form_key):
    """{"groups": [{"label", "count"}]} of the matching records grouped by a field, as the caller may see them."""
    require_page(access.READ, app_key, form_key)
    app, form = find_form(app_key, form_key)
    ff = instance()
    fa = access.form_access(me(), app_key, form_key, ff)
    group, filter_ = request.args.get("group", "").strip(), request.args.get("filter", "").strip()
    trash = request.args.get("trash") == "1"
    field = form.fields_by_key.get(group)
    try:
        if field is None or fa.right(group) == "hidden" or fa.is_masked(group):
            raise QueryError(f"group: {group!r} is not a field you can group by")
        fa.check_query(None, group)  # grouping reveals values like sorting does
        with ff.db.read() as conn, queries.caller(fa.subject.expr_user()):  # `$user` in the filter
            groups = group_counts(conn, ff, form, group, filter_ or None, trash=trash,
                                  extra_where=fa.where("restore" if trash else "read"))
    except QueryError as err:
        return jsonify({"error": err.message}), 400
    return jsonify({"groups": [{"label": text, "count": n} for _v, text, n in group_labels(app, field, groups)]})


def _inline_fields(app_key, form_key, cols) -> dict[str, str]:
    """{field key: input type} of the shown columns the caller may edit in place: the permission
    service's field right is `editable` (not masked) and the caller may update records."""
    fa = access.form_access(me(), app_key, form_key)
    if not fa.can("update"):
        return {}
    return {f.key: INLINE_TYPES[f.type_name] for f in cols
            if f.type_name in INLINE_TYPES and not f.computed and not f.definition.get("readonly")
            and fa.right(f.key) == "editable" and not fa.is_masked(f.key)}


def _inline_messages() -> dict:
    return {"edit": _("Double-click or press Enter to edit"), "saving": _("Saving…"), "saved": _("Saved."),
            "stale": _("Someone else changed this record meanwhile; the cell shows its previous value. "
                       "Reload the page and try again."),
            "failed": _("Could not save: %(m)s", m="{m}"), "yes": _("Yes"), "no": _("No")}


def _page_url(cursor: str | None) -> str:
    """This view's URL (same columns, filter, sort...) at another page."""
    args = request.args.to_dict(flat=False)
    args.pop("cursor", None)
    if cursor:
        args["cursor"] = [cursor]
    return url_for(request.endpoint, **request.view_args, **args)


@ui.post("/apps/<app_key>/forms/<form_key>/bulk")
@login_required
def bulk_action(app_key, form_key):
    """Delete, restore or export the selected records."""
    action = request.form.get("action")
    ids = request.form.getlist("ids")[:BULK_MAX]
    back = request.form.get("next") or url_for("ui.table_view", app_key=app_key, form_key=form_key)
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("ui.table_view", app_key=app_key, form_key=form_key)
    app, form = find_form(app_key, form_key)
    ff = instance()
    if action == "export":
        require_page(access.READ, app_key, form_key)
        return _export(app_key, form, ids)
    if action not in ("delete", "restore"):
        abort(400)
    who = require_page(access.WRITE, app_key, form_key)
    for rid in ids:
        try:
            if action == "delete":
                ff.records.delete(app_key, form_key, rid, ctx=_ctx(who))
            else:
                ff.records.restore(app_key, form_key, rid, ctx=_ctx(who))
        except FormflowError:
            continue  # already deleted/restored or gone: nothing to do for that one
    return redirect(back)


def _export(app_key, form, ids) -> Response:
    """The selected records as CSV (UTF-8 with BOM so spreadsheet programs read Chinese)."""
    ff = instance()
    fields = [f for f in form.fields]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["_id", *[label_of(f) for f in fields]])
    fa = access.form_access(me(), app_key, form.key, ff)
    fa.require("export")
    fields = [f for f in fields if fa.right(f.key) != "hidden"]
    for rid in ids:
        try:
            record = fa.get(rid)
        except NotFound:
            continue
        row = [rid]
        for f in fields:
            text = value_text(f.definition, record.get(f.key))
            row.append("'" + text if text[:1] in ("=", "+", "-", "@") else text)  # no formula injection
        writer.writerow(row)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{form.key}-selected.csv"'})


# -- data entry ---------------------------------------------------------------------

def _link_info(app):
    """For a link field: the target app/form and the text field shown and searched in the picker."""
    from engine.model import link_target

    def info(field) -> dict:
        app_key, form_key = link_target(field.definition, app.key)
        app_key = app_key or app.key
        try:
            _app, target = instance().form(app_key, form_key or "")
        except NotFound:
            return {"app": app_key, "form": form_key or "", "display": ""}
        display = next((f.key for f in target.fields if f.type_name in ("text", "serial", "email", "phone")), "")
        return {"app": app_key, "form": target.key, "display": display}
    return info


def _entry(app, form, record=None):
    return render_template("entry.html", app=app, form=form, record=record, widget_for=widget_for,
                           input_id=input_id, options_of=options_of, messages=_messages(),
                           link_info=_link_info(app))


def _messages() -> dict:
    """Error messages by code in the UI language (the engine's English message is the fallback)."""
    return {
        "required": _("This field is required."),
        "type": _("This value has the wrong type."),
        "format": _("This value is not in the right format."),
        "option": _("Choose one of the options."),
        "min": _("The value is too small."), "max": _("The value is too large."),
        "min_length": _("The text is too short."), "max_length": _("The text is too long."),
        "range": _("The value is out of range."),
        "unique": _("This value is already used by another record."),
        "not_found": _("The linked record does not exist."),
        "invalid": _("This value is not valid."),
        "saved": _("Saved."), "saving": _("Saving…"), "failed": _("Could not save: %(m)s", m="{m}"),
        "check": _("Please correct the highlighted fields."),
        "no_results": _("No matching records."), "remove": _("Remove"),
    }


@ui.get("/apps/<app_key>/forms/<form_key>/new")
@login_required
def new_record(app_key, form_key):
    """The generated form for a new record."""
    require_page(access.WRITE, app_key, form_key)
    app, form = find_form(app_key, form_key)
    return _entry(app, form)


@ui.get("/apps/<app_key>/forms/<form_key>/records/<rid:record_id>/edit")
@login_required
def edit_record(app_key, form_key, record_id):
    """The generated form filled with a record's values."""
    require_page(access.WRITE, app_key, form_key)
    app, form = find_form(app_key, form_key)
    try:
        record = access.form_access(me(), app_key, form_key).get(record_id)
    except NotFound:
        abort(404)
    return _entry(app, form, record)


# -- record page --------------------------------------------------------------------

@ui.get("/apps/<app_key>/forms/<form_key>/records/<rid:record_id>")
@login_required
def record_page(app_key, form_key, record_id):
    """A record's values and its history (who changed what), with restore and revert."""
    require_page(access.READ, app_key, form_key)
    app, form = find_form(app_key, form_key)
    ff = instance()
    fa = access.form_access(me(), app_key, form_key, ff)
    try:
        record = fa.get(record_id, include_deleted=True)
        history = fa.history(record_id)
    except NotFound:
        abort(404)
    names = _usernames([h["actor"] for h in history] + [record.get("_created_by"), record.get("_updated_by")])
    for h in history:
        h["who"] = names.get(h["actor"], h["actor"] or "—")
        h["rows"] = [(form.fields_by_key.get(k), k, old, new) for k, (old, new) in h["changes"].items()]
    shown = [record] + [{k: v} for h in history for k, pair in h["changes"].items() for v in pair]
    return render_template("record.html", app=app, form=form, record=record, history=list(reversed(history)),
                           value_text=text_function(app, form.fields, shown), names=names,
                           can_write=allowed(access.WRITE, app_key, form_key))


@ui.post("/apps/<app_key>/forms/<form_key>/records/<rid:record_id>/revert")
@login_required
def revert_record(app_key, form_key, record_id):
    """Make an earlier version's values current again (as a new version)."""
    who = require_page(access.WRITE, app_key, form_key)
    find_form(app_key, form_key)
    version = request.form.get("version", "")
    if not version.isdigit():
        abort(400)
    try:
        instance().records.revert(app_key, form_key, record_id, int(version), ctx=_ctx(who))
    except NotFound:
        abort(404)
    return redirect(url_for("ui.record_page", app_key=app_key, form_key=form_key, record_id=record_id))


@ui.post("/apps/<app_key>/forms/<form_key>/records/<rid:record_id>/restore")
@login_required
def restore_record(app_key, form_key, record_id):
    """Bring a record back from the trash."""
    who = require_page(access.WRITE, app_key, form_key)
    find_form(app_key, form_key)
    try:
        instance().records.restore(app_key, form_key, record_id, ctx=_ctx(who))
    except NotFound:
        abort(404)
    return redirect(url_for("ui.record_page", app_key=app_key, form_key=form_key, record_id=record_id))
