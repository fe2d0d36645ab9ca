"""More views of a form: kanban over a select field, calendar over a date field, and saved views.

Kanban and calendar read records through the permission service (`access.form_access`:
row rules, hidden fields, masking) like the API. A kanban card dragged to another
column (static/views.js, SortableJS) is saved with `PATCH /api/v1/.../records/{id}`
and `If-Match`, so a record changed meanwhile is refused (412) and the card goes back.

Saved views (table `ff_saved_views`, declared in engine/api_ui_wizard.py): a name, the
view type and the view's query parameters (columns, filter, sort, group, field, month);
each belongs to a user and may be shared with the members of a role.
"""
from __future__ import annotations

import calendar as cal
import datetime as dt
import json
from urllib.parse import parse_qs, urlencode

import sqlalchemy as sa
from flask import abort, redirect, render_template, render_template_string, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from markupsafe import Markup
from ulid import ULID

from engine import access, directory
from engine.api_ui_wizard import saved_views
from engine.errors import FormflowError
from engine.queries import QueryError
from engine.records import now_iso

from . import ui
from .display import value_text
from .guard import allowed, find_form, instance, me, require_page
from .names import text_function
from .widgets import options_of

VIEW_TYPES = ("table", "kanban", "calendar")
VIEW_ENDPOINTS = {"table": "ui.table_view", "kanban": "ui.kanban_view", "calendar": "ui.calendar_view"}
VIEW_PARAMS = ("cols", "filter", "sort", "group", "limit", "trash", "field", "month")
KANBAN_MAX = 500
CALENDAR_MAX = 1000
TITLE_TYPES = ("text", "serial", "email", "phone", "textarea")


def _title_field(fa):
    visible = fa.visible_fields
    return next((f for f in visible if f.type_name in TITLE_TYPES), None)


def _list(fa, filter_, sort, limit):
    """(records, error) of the caller's rows (projected JSON), at most `limit`."""
    records, cursor = [], None
    try:
        with instance().db.read() as conn:
            while len(records) < limit:
                page = fa.list_records(conn, filter=filter_ or None, sort=sort or None,
                                       limit=min(500, limit - len(records)), cursor=cursor)
                records += page.records
                cursor = page.next_cursor
                if not cursor:
                    break
        return records, None
    except (QueryError, FormflowError) as err:
        return [], err.message


# -- kanban ---------------------------------------------------------------------------

@ui.get("/apps/<app_key>/forms/<form_key>/kanban")
@login_required
def kanban_view(app_key, form_key):
    """Records as cards in one column per option of a select field; drag a card to change it."""
    who = require_page(access.READ, app_key, form_key)
    app, form = find_form(app_key, form_key)
    fa = access.form_access(who, app_key, form_key)
    choices = [f for f in fa.visible_fields if f.type_name == "select"]
    field = next((f for f in choices if f.key == request.args.get("field")), choices[0] if choices else None)
    filter_ = request.args.get("filter", "").strip()
    sort = request.args.get("sort", "").strip()
    columns, error, more = [], None, False
    if field is not None:
        records, error = _list(fa, filter_, sort, KANBAN_MAX + 1)
        more = len(records) > KANBAN_MAX
        records = records[:KANBAN_MAX]
        by_value: dict = {}
        for r in records:
            by_value.setdefault(r.get(field.key), []).append(r)
        known = [v for v, _label in options_of(field.definition)]
        columns = [(v, value_text(field.definition, v), by_value.get(v, [])) for v in known]
        # blanks, and values no longer among the options (or masked), in columns of their own
        columns.append((None, _("(blank)"), by_value.get(None, [])))
        columns += [(v, str(v), rs) for v, rs in by_value.items() if v is not None and v not in known]
    can_move = field is not None and fa.can("update") and fa.right(field.key) == "editable" \
        and not fa.is_masked(field.key)
    title = _title_field(fa)
    extra = [f for f in fa.visible_fields if f is not title and f is not field and f.type_name != "subform"][:2]
    # a card's user/department/link values by name, as on the table and record pages
    card_text = text_function(app, extra, [r for _v, _t, rs in columns for r in rs]) if columns else value_text
    return render_template(
        "kanban.html", app=app, form=form, field=field, choices=choices, columns=columns, filter=filter_,
        sort=sort, error=error, more=more, limit=KANBAN_MAX, can_move=can_move, title_field=title,
        extra_fields=extra, value_text=card_text,
        messages={"moved": _("Moved."), "failed": _("Could not move the card: %(m)s", m="{m}"),
                  "stale": _("Someone else changed this record meanwhile; reload the page and try again.")})


# -- calendar -------------------------------------------------------------------------

def _month(text: str | None) -> tuple[int, int]:
    try:
        year, month = (int(p) for p in (text or "").split("-"))
        dt.date(year, month, 1)
        return year, month
    except (ValueError, TypeError):
        today = dt.date.today()
        return today.year, today.month


@ui.get("/apps/<app_key>/forms/<form_key>/calendar")
@login_required
def calendar_view(app_key, form_key):
    """A month grid of the records by a date or date-and-time field (entries at a time show it)."""
    who = require_page(access.READ, app_key, form_key)
    app, form = find_form(app_key, form_key)
    fa = access.form_access(who, app_key, form_key)
    choices = [f for f in fa.visible_fields if f.type_name in ("date", "datetime") and not fa.is_masked(f.key)]
    field = next((f for f in choices if f.key == request.args.get("field")), choices[0] if choices else None)
    year, month = _month(request.args.get("month"))
    filter_ = request.args.get("filter", "").strip()
    first = dt.date(year, month, 1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    prev = (first - dt.timedelta(days=1)).replace(day=1)
    weeks, error, more, by_day = cal.Calendar(firstweekday=0).monthdatescalendar(year, month), None, False, {}
    if field is not None:
        midnight = ", 0, 0, 0" if field.type_name == "datetime" else ""  # datetimes compare with datetimes
        span = (f"AND({field.key} >= DATE({first.year}, {first.month}, 1{midnight}), "
                f"{field.key} < DATE({nxt.year}, {nxt.month}, 1{midnight}))")
        records, error = _list(fa, f"AND({span}, {filter_})" if filter_ else span, field.key, CALENDAR_MAX + 1)
        more = len(records) > CALENDAR_MAX
        for r in records[:CALENDAR_MAX]:
            by_day.setdefault(str(r.get(field.key))[:10], []).append(r)
    return render_template(
        "calendar.html", app=app, form=form, field=field, choices=choices, weeks=weeks, month=month, year=year,
        by_day=by_day, filter=filter_, error=error, more=more, limit=CALENDAR_MAX, title_field=_title_field(fa),
        prev_month=prev.strftime("%Y-%m"), next_month=nxt.strftime("%Y-%m"), today=dt.date.today(),
        value_text=value_text,
        weekdays=[_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")])


# -- saved views ----------------------------------------------------------------------

def _my_roles(user_id: str) -> list[str]:
    with instance().db.read() as conn:
        return directory.profile(conn, user_id)["roles"]


def _all_roles() -> list[str]:
    return [r["key"] for r in directory.list_roles(instance())]


def saved_views_for(app_key: str, form_key: str) -> list[dict]:
    """The saved views of a form the caller may use: their own, and those shared with one of their roles."""
    who = me()
    if who is None:
        return []
    c = saved_views.c
    roles = _my_roles(who.id)
    cond = c.owner == who.id
    if roles:
        cond = sa.or_(cond, c.shared_role.in_(roles))
    with instance().db.read() as conn:
        rows = conn.execute(sa.select(saved_views).where(c.app_key == app_key, c.form_key == form_key, cond)
                            .order_by(c.name, c.id)).mappings().all()
    return [{**dict(r), "mine": r["owner"] == who.id} for r in rows]


def _view_url(row) -> str:
    params = json.loads(row["params"])
    return url_for(VIEW_ENDPOINTS[row["view_type"]], app_key=row["app_key"], form_key=row["form_key"],
                   **{k: v for k, v in params.items() if k in VIEW_PARAMS})


def _params_of(query: str) -> dict[str, list[str]]:
    parsed = parse_qs(query or "", keep_blank_values=False)
    return {k: v[:200] for k, v in parsed.items() if k in VIEW_PARAMS}


@ui.post("/apps/<app_key>/forms/<form_key>/views")
@login_required
def save_view(app_key, form_key):
    """Save the current view (type and query parameters) under a name, for oneself or a role."""
    who = require_page(access.READ, app_key, form_key)
    find_form(app_key, form_key)
    name = request.form.get("name", "").strip()[:200]
    view_type = request.form.get("view_type", "table")
    role = request.form.get("share_role", "").strip() or None
    if not name or view_type not in VIEW_TYPES:
        abort(400)
    if role is not None and role not in (_all_roles() if who.is_admin else _my_roles(who.id)):
        abort(400)
    row = {"id": str(ULID()), "app_key": app_key, "form_key": form_key, "name": name, "view_type": view_type,
           "params": json.dumps(_params_of(request.form.get("params", "")), ensure_ascii=False),
           "owner": who.id, "shared_role": role, "created_at": now_iso()}
    with instance().db.write() as conn:
        conn.execute(saved_views.insert().values(**row))
    return redirect(_view_url(row))


def _find_view(app_key, form_key, view_id) -> dict:
    view = next((v for v in saved_views_for(app_key, form_key) if v["id"] == view_id), None)
    if view is None:
        abort(404)
    return view


@ui.get("/apps/<app_key>/forms/<form_key>/views/<view_id>")
@login_required
def open_view(app_key, form_key, view_id):
    """Open a saved view."""
    require_page(access.READ, app_key, form_key)
    return redirect(_view_url(_find_view(app_key, form_key, view_id)))


@ui.post("/apps/<app_key>/forms/<form_key>/views/<view_id>/delete")
@login_required
def delete_view(app_key, form_key, view_id):
    """Delete a saved view (its owner, or an administrator)."""
    who = require_page(access.READ, app_key, form_key)
    view = _find_view(app_key, form_key, view_id)
    if not view["mine"] and not who.is_admin:
        abort(403)
    with instance().db.write() as conn:
        conn.execute(saved_views.delete().where(saved_views.c.id == view_id))
    return redirect(url_for(VIEW_ENDPOINTS[view["view_type"]], app_key=app_key, form_key=form_key))


# -- the bar above every view: view switch, import/export, saved views ------------------

_BAR = """
<nav class="view-links" aria-label="{{ t.views }}" id="view-links">
  {% for kind, text in [('table', t.table), ('kanban', t.kanban), ('calendar', t.calendar)] %}
  <a href="{{ url_for(endpoints[kind], app_key=app.key, form_key=form.key) }}" id="link-{{ kind }}"{% if kind == current %} aria-current="page"{% endif %}>{{ text }}</a>
  {% endfor %}
  {% if can_import %}<a href="{{ url_for('ui.import_wizard', app_key=app.key, form_key=form.key) }}" id="link-import">{{ t.import_ }}</a>{% endif %}
  {% if can_export %}<a href="{{ export_url }}" id="link-export">{{ t.export }}</a>{% endif %}
  {% if can_permissions %}<a href="{{ url_for('ui.permissions_page', app_key=app.key) }}" id="link-permissions">{{ t.permissions }}</a>{% endif %}
  {% if can_view_as %}<a href="{{ url_for('ui.view_as', app_key=app.key, form_key=form.key) }}" id="link-view-as">{{ t.view_as }}</a>{% endif %}
</nav>
<div class="saved-views" id="saved-views">
  <span>{{ t.saved }}:</span>
  <ul>{% for v in views %}<li><a href="{{ url_for('ui.open_view', app_key=app.key, form_key=form.key, view_id=v.id) }}" class="saved-view">{{ v.name }}</a>
    {% if v.shared_role %}<small class="muted">({{ t.shared_with }} {{ v.shared_role }})</small>{% endif %}
    {% if v.mine or is_admin %}<form method="post" action="{{ url_for('ui.delete_view', app_key=app.key, form_key=form.key, view_id=v.id) }}">
      <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
      <button type="submit" class="link small" aria-label="{{ t.delete }} {{ v.name }}">×</button></form>{% endif %}</li>
  {% else %}<li class="muted">{{ t.none }}</li>{% endfor %}</ul>
  <details><summary>{{ t.save }}</summary>
  <form method="post" action="{{ url_for('ui.save_view', app_key=app.key, form_key=form.key) }}" class="save-view" id="save-view">
    <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
    <input type="hidden" name="view_type" value="{{ current }}">
    <input type="hidden" name="params" value="{{ query }}">
    <span><label for="view-name">{{ t.name }}</label> <input id="view-name" name="name" required maxlength="200"></span>
    <span><label for="view-share">{{ t.share }}</label>
    <select id="view-share" name="share_role"><option value="">{{ t.only_me }}</option>
      {% for r in roles %}<option value="{{ r }}">{{ t.role }} {{ r }}</option>{% endfor %}</select></span>
    <button type="submit" id="save-view-button">{{ t.save_button }}</button>
  </form></details>
</div>
"""


def views_bar(app, form, current: str = "table") -> Markup:
    """The links between the views of a form, import/export, and the saved views (escaped HTML)."""
    who = me()
    args = {k: v for k, v in (("filter", request.args.get("filter", "").strip()),
                              ("sort", request.args.get("sort", "").strip())) if v}
    export_url = f"/api/v1/apps/{app.key}/forms/{form.key}/export?" + urlencode({"format": "xlsx", **args})
    t = {"views": _("Views"), "table": _("Table"), "kanban": _("Kanban"), "calendar": _("Calendar"),
         "import_": _("Import from Excel"), "export": _("Export to Excel (current filter)"),
         "permissions": _("Permissions"), "view_as": _("View as user"), "saved": _("Saved views"),
         "shared_with": _("shared with"), "delete": _("Delete"), "none": _("none yet"),
         "save": _("Save this view"), "name": _("Name"), "share": _("Share with"), "only_me": _("Only me"),
         "role": _("role"), "save_button": _("Save view")}
    html = render_template_string(
        _BAR, t=t, app=app, form=form, current=current, endpoints=VIEW_ENDPOINTS, export_url=export_url,
        can_import=allowed("import", app.key, form.key), can_export=allowed("export", app.key, form.key),
        can_permissions=allowed("manage_permissions", app.key), can_view_as=allowed(access.ADMIN),
        views=saved_views_for(app.key, form.key), is_admin=bool(who and who.is_admin),
        query=request.query_string.decode("utf-8", "replace"),
        roles=(_all_roles() if who and who.is_admin else _my_roles(who.id)) if who else [])
    return Markup(html)


@ui.app_context_processor
def _views_globals():
    return {"views_bar": views_bar}
