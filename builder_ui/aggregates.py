"""Aggregates for data views: record counts grouped by a field (group-by in the table view)."""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from engine.queries import QueryError, filter_clause

from .widgets import options_of

#: field types a view can group by (one stored scalar per record)
GROUPABLE = ("select", "boolean", "text", "user", "department")
MAX_GROUPS = 200


def group_counts(conn, ff, form, field_key: str, filter: str | None = None, *,
                 trash: bool = False, extra_where=None) -> list[tuple[object, int]]:
    """[(value, count)] of live records matching `filter`, grouped by a field, most frequent first.

    Blank values form one group (value None). At most MAX_GROUPS groups are returned.
    """
    field = form.fields_by_key.get(field_key)
    if field is None or field.type_name not in GROUPABLE:
        raise QueryError(f"group: {field_key!r} is not a field that records can be grouped by")
    ft = ff.form_table(form)
    where = [ft.c.deleted_at.is_not(None) if trash else ft.c.deleted_at.is_(None)]
    clause = filter_clause(form, ft, filter, ff.db.dialect)
    if clause is not None:
        where.append(clause)
    if extra_where is not None:  # the caller's row rule (engine.permissions)
        where.append(extra_where)
    # Text values are grouped by their casefolded copy, as filters compare them ("Pump" and "pump"
    # are one group): that is also the expression an indexed field's index holds, so the count is
    # an index-only scan instead of reading every record.
    folded = field.type.sql_type == "text"
    indexed = bool(field.definition.get("indexed") or field.definition.get("unique"))
    value = ft.value(field.id, field.type.sql_type, folded).label("v")
    count = sa.func.count().label("n")
    # Without an index the scan reads every record anyway: take a stored spelling along. With
    # one, reading `data` would defeat the index-only scan; the few groups are looked up after.
    spelling = [sa.func.min(ft.value(field.id, field.type.sql_type)).label("s")] if folded and not indexed else []
    query = (sa.select(value, count, *spelling).select_from(ft.table).where(*where).group_by(value)
             .order_by(count.desc(), value).limit(MAX_GROUPS))
    rows = conn.execute(query).all()
    if folded and not indexed:
        shown = {row[0]: row[2] for row in rows}
    elif folded:
        shown = _stored_values(conn, ft, field, [row[0] for row in rows], where)
    else:
        shown = {}
    out = []
    for v, n, *_rest in rows:
        if field.type_name == "boolean" and v is not None:
            v = bool(v)
        out.append((shown.get(v, v), n))
    return out


def _stored_values(conn, ft, field, folded_values: list, where: list) -> dict:
    """{casefolded value: a stored value as typed} for the groups of an indexed field: options
    from the definition, other values from one matching record each (an index lookup)."""
    out = {}
    for value, _label in options_of(field.definition):
        out.setdefault(str(value).casefold(), value)
    key = ft.value(field.id, field.type.sql_type, True)
    stored = ft.value(field.id, field.type.sql_type)
    for v in folded_values:
        if v is None or v in out:
            continue
        out[v] = conn.execute(sa.select(stored).where(*where, key == v).limit(1)).scalar()
    return out


def group_labels(app, field, groups) -> list[tuple[object, str, int]]:
    """[(value, label, count)] of `group_counts`' groups as the table view shows them: users and
    departments by name (builder_ui.names), options by their label, booleans Yes/No, blank "(blank)"."""
    from .names import text_function
    text = text_function(app, [field], [{field.key: v} for v, _n in groups])
    return [(v, text(field.definition, v) if v not in (None, "") else _("(blank)"), n) for v, n in groups]
