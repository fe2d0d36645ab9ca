"""Names instead of ids for user, department and link values on the table and record pages
(subform rows' user/department/link children included) and in the table view's group labels.

One query per kind (users, departments, each link target form) for the ids on the page; a
linked record is named by its target form's first text field as the caller may read it
(row rules, hidden fields, masking): an id the caller may not see stays an id.
"""
from __future__ import annotations

import sqlalchemy as sa

from engine import access, directory, tables
from engine.errors import FormflowError

from .display import value_text
from .guard import instance, me

REFERENCE_TYPES = ("user", "department", "link")
MAX_IDS = 500


def _ids(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def resolve(wanted: dict[tuple, set[str]], app_key: str) -> dict[tuple, dict[str, str]]:
    """{kind: {id: name}} for what `collect` found."""
    ff = instance()
    out: dict[tuple, dict[str, str]] = {}
    with ff.db.read() as conn:
        for kind, ids in wanted.items():
            ids = sorted(i for i in ids if i)[:MAX_IDS]
            if not ids:
                continue
            if kind[0] == "user":
                t = tables.users
                rows = conn.execute(sa.select(t.c.id, t.c.display_name, t.c.username).where(t.c.id.in_(ids))).all()
                out[kind] = {r[0]: r[1] or r[2] for r in rows}
            elif kind[0] == "department":
                t = directory.departments
                out[kind] = {r[0]: r[1] for r in conn.execute(sa.select(t.c.id, t.c.name).where(t.c.id.in_(ids)))}
            else:
                out[kind] = _link_names(conn, ff, kind[1] or app_key, kind[2], ids)
    return out


def _link_names(conn, ff, app_key, form_key, ids) -> dict[str, str]:
    from engine import storage
    from engine.records import to_record
    try:
        _app, target = ff.form(app_key, form_key or "")
        fa = access.form_access(me(), app_key, target.key, ff)
    except FormflowError:
        return {}
    if not fa.can("read"):
        return {}
    display = next((f.key for f in fa.visible_fields if f.type_name in ("text", "serial", "email", "phone")
                    and not fa.is_masked(f.key)), None)
    if display is None:
        return {}
    ft = ff.form_table(target)
    cols = [ft.c[c] for c in storage.ROW_COLUMNS]
    names = {}
    for row in conn.execute(sa.select(*cols).where(ft.c.id.in_(ids), ft.c.deleted_at.is_(None))):
        record = to_record(target, dict(zip(storage.ROW_COLUMNS, row)))
        if fa.allows(record, "read"):
            name = fa.project(record).get(display)
            if name not in (None, ""):
                names[record["_id"]] = str(name)
    return names


def _kind(app, field) -> tuple | None:
    """The kind of ids a field holds (("user"|"department", None, None) or ("link", app, form)), else None."""
    from engine.model import link_target
    if field.type_name == "link":
        a, fk = link_target(field.definition, app.key)
        return ("link", a, fk)
    if field.type_name in ("user", "department"):
        return (field.type_name, None, None)
    return None


def _rows(value) -> list[dict]:
    """The rows of a subform value (anything else: none)."""
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def collect(app, fields, records) -> tuple[dict[int, tuple], dict[tuple, set[str]]]:
    """({id(definition): kind}, {kind: ids}) of the reference fields among `fields` and their
    values in `records`; a subform's user/department/link children are looked up in its rows."""
    kinds: dict[int, tuple] = {}
    wanted: dict[tuple, set[str]] = {}
    for f in fields:
        kind = _kind(app, f)
        if kind:
            kinds[id(f.definition)] = kind
            for r in records:
                wanted.setdefault(kind, set()).update(_ids(r.get(f.key)))
        for c in f.children:
            kind = _kind(app, c)
            if kind:
                kinds[id(c.definition)] = kind
                for r in records:
                    for row in _rows(r.get(f.key)):
                        wanted.setdefault(kind, set()).update(_ids(row.get(c.key)))
    return kinds, wanted


def text_function(app, fields, records):
    """A `value_text(definition, value)` for the templates that names user/department/link ids,
    of `fields` and of their subform children (`value_text(child.definition, row.get(child.key))`)."""
    kinds, wanted = collect(app, fields, records)
    if not kinds:
        return value_text
    names = resolve(wanted, app.key)

    def text(definition, value):
        kind = kinds.get(id(definition))
        if kind is None or value in (None, "", []):
            return value_text(definition, value)
        known = names.get(kind, {})
        return ", ".join(known.get(i, i) for i in _ids(value))
    return text
