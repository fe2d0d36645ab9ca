"""Record queries: filter (expression language → SQL), sort, and keyset cursors.

Pages are fetched by keyset ("seek") pagination: the cursor holds the sort values
and id of the last record returned, so page N costs the same as page 1 and stays
stable when records are inserted meanwhile (an OFFSET would skip or repeat rows).
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
from dataclasses import dataclass
from decimal import Decimal

import orjson
import sqlalchemy as sa

from . import defaults, storage
from .errors import FormflowError

SORTABLE_SYSTEM = {"_id": "id", "_created_at": "created_at", "_updated_at": "updated_at",
                   "_version": "version", "_owner": "owner", "_deleted_at": "deleted_at"}


class QueryError(FormflowError):
    """A filter, sort or cursor cannot be used (the message says why and what to do)."""


@dataclass
class Page:
    """One page of records and the cursor of the next page (None at the end)."""

    records: list[dict]
    next_cursor: str | None


@dataclass
class SortKey:
    expr: sa.ColumnElement
    desc: bool
    key: str
    sql_type: str | None


def parse_sort(form, ft, sort: str | list | None) -> list[SortKey]:
    """`-_created_at,title` → sort keys; unknown or unsortable fields are a QueryError."""
    if not sort:
        return []
    parts = sort.split(",") if isinstance(sort, str) else list(sort)
    keys = []
    for part in parts:
        part = part.strip()
        desc = part.startswith("-")
        name = part.lstrip("+-").strip()
        if not name:
            raise QueryError(f"sort: empty sort key in {sort!r}")
        if name in SORTABLE_SYSTEM:
            col = ft.c[SORTABLE_SYSTEM[name]]
            keys.append(SortKey(col, desc, name, "number" if name == "_version" else "text"))
            continue
        field = form.fields_by_key.get(name)
        if field is None:
            hint = form.suggest_field(name)
            raise QueryError(f"sort: unknown field {name!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
        sql_type = field.type.sql_type
        if sql_type is None:
            raise QueryError(f"sort: {name} is a {field.type_name} field, which cannot be sorted")
        keys.append(SortKey(ft.value(field.id, sql_type, folded=sql_type == "text"), desc, name, sql_type))
    return keys


#: field types whose multiple values are stored as a JSON array of text ids / options
_LIST_FIELD_TYPES = ("multiselect", "user", "department", "link")


def sql_shapes(fields, schema, data_column) -> tuple[list[str], dict]:
    """(text_keys, lists) for expr.sql.to_sql: the fields stored as the very text the evaluator
    compares (times, single links) and those stored as JSON arrays of text (multiselects, several
    users/departments/links), reached through `data_column`. `fields` yields (key, type name,
    sql_type, field id) — `field_shapes(form)` for a model Form. Filters and row rules share it,
    so both accept the same conditions.
    """
    from .expr import sql as expr_sql
    text_keys, lists = [], {}
    for key, type_name, sql_type, fid in fields:
        sig = schema.get(key)
        if sig is None:
            continue
        if sql_type == "text" and (sig.type == "time" or (type_name == "link" and sig.type == "record")):
            text_keys.append(key)
        elif type_name in _LIST_FIELD_TYPES and sql_type is None and sig.type in expr_sql.LIST_TYPES:
            lists[key] = (data_column, fid)
    return text_keys, lists


def field_shapes(form) -> list[tuple]:
    """(key, type name, sql_type, id) of a model Form's top-level fields, for sql_shapes."""
    return [(f.key, f.type_name, f.type.sql_type, f.id) for f in form.fields]


def _uses_user(source: str) -> bool:
    """Whether an expression reads `$user` (False when it does not parse: to_sql says why)."""
    from .expr import ExprError
    from .expr.parser import parse
    try:
        stack = [parse(source)]
    except ExprError:
        return False
    while stack:
        node = stack.pop()
        if node.kind == "builtin" and node.value[0] == "user":
            return True
        stack.extend(node.args)
    return False


def filter_clause(form, ft, source: str | None, dialect: str, user: dict | None = None):
    """The SQL WHERE of a filter expression, or None; QueryError when it cannot run in SQL.

    `user` is the caller's `$user` (permissions.Subject.expr_user(), as row rules get it;
    default: the one `caller` set); without one a filter reading `$user` is refused.
    """
    if source is None or not str(source).strip():
        return None
    from . import expr
    from .expr import sql as expr_sql

    def resolve(key: str, folded: bool):
        field = form.fields_by_key[key]
        return ft.value(field.id, field.type.sql_type, folded)

    user = _caller_user(user)
    if user is None and "$" in str(source) and _uses_user(str(source)):
        raise QueryError("filter: $user is the signed-in caller, and this query has none; "
                         "use the user's id instead",
                         [{"location": "filter", "message": "$user needs a signed-in caller",
                           "code": "no_caller"}])
    schema = form.expr_schema()
    text_keys, lists = sql_shapes(field_shapes(form), schema, ft.c.data)
    try:
        return expr_sql.to_sql(source, schema, resolve, dialect,
                               constants={"user": user} if user is not None else None,
                               text_keys=text_keys, lists=lists)
    except expr.NotInSQL as err:
        raise QueryError(f"filter: {err.reason}; use only comparisons, AND/OR/NOT, CONTAINS, ISEMPTY, "
                         "text prefixes, date functions and arithmetic on fields that can be filtered",
                         [{"location": "filter", "message": err.reason, "code": "not_in_sql"}]) from None
    except expr.ExprError as err:
        diags = getattr(err, "diagnostics", None) or []
        errors = [{"location": "filter", "message": f"{d.line}:{d.column}: {d.message}", "code": d.code}
                  for d in diags] or [{"location": "filter", "message": str(err), "code": err.code}]
        raise QueryError(f"filter: {errors[0]['message']}", errors) from None


def encode_cursor(values: list) -> str:
    """An opaque cursor from the last row's sort values and id."""
    raw = orjson.dumps(values, default=_cursor_default)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list:
    """The values inside a cursor; QueryError if it was not made by this query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise QueryError("cursor: not a cursor returned by this endpoint; start again without it") from None
    if not isinstance(values, list) or len(values) != n + 1 or not isinstance(values[-1], str):
        raise QueryError("cursor: it belongs to another sort order; start again without it")
    return values


def _cursor_default(value):
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _after(keys: list[SortKey], id_col, nulls: tuple[bool, ...]):
    """WHERE clause selecting rows strictly after the cursor (bound as :cur0.. :cur_id).

    `nulls` says which cursor values are blank: blanks sort first ascending and last
    descending, which changes the shape of the condition (so it is part of the cache key).
    """
    clauses = []
    equal_prefix = []
    for i, (key, is_null) in enumerate(zip(keys, nulls)):
        if is_null:
            after = key.expr.is_not(None) if not key.desc else sa.false()
            same = key.expr.is_(None)
        else:
            bound = sa.bindparam(f"cur{i}", type_=sa.Numeric() if key.sql_type == "number" else sa.String())
            after = key.expr > bound if not key.desc else sa.or_(key.expr < bound, key.expr.is_(None))
            same = key.expr == bound
        clauses.append(sa.and_(*equal_prefix, after))
        equal_prefix.append(same)
    desc = keys[-1].desc if keys else False
    last = sa.bindparam("cur_id", type_=sa.String())
    clauses.append(sa.and_(*equal_prefix, id_col < last if desc else id_col > last))
    return sa.or_(*clauses)


# Compiled page statements by (form version, filter, sort, limit, trash, cursor shape):
# translating a filter and compiling the statement costs several times the query
# itself, and the same list view is asked for again and again.
_PAGE_SQL: dict[tuple, tuple] = {}
_PAGE_SQL_MAX = 4_096


def _sort_count(sort) -> int:
    if not sort:
        return 0
    parts = sort.split(",") if isinstance(sort, str) else list(sort)
    return len(parts)


def list_records(conn, ff, form, *, filter: str | None = None, sort=None, limit: int | None = None,
                 cursor: str | None = None, trash: bool = False, extra_where=None,
                 extra_key: str | None = None, user: dict | None = None) -> Page:
    """A page of records of `form` (live ones, or the trash).

    `extra_where` (e.g. row-level permission rules) is ANDed to the filter; give a
    stable `extra_key` describing it to let the compiled statement be cached.
    `user` is the caller's `$user` for the filter (default: the one `caller` set, if any).
    """
    user = _caller_user(user)
    from .records import to_record
    limit = defaults.PAGE_SIZE if limit is None else limit
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or limit > defaults.MAX_PAGE_SIZE:
        raise QueryError(f"limit: must be between 1 and {defaults.MAX_PAGE_SIZE}")
    values: list = []
    if cursor:
        values = decode_cursor(cursor, _sort_count(sort))
    nulls = tuple(v is None for v in values[:-1])
    # $user values are folded into the statement's parameters, so they are part of its key
    user_key = _user_key(user) if filter and "$" in filter else None
    cache_key = (form.id, id(form), filter, sort if not isinstance(sort, list) else tuple(sort), limit,
                 trash, bool(cursor), nulls, extra_key, ff.db.dialect, user_key)
    entry = _PAGE_SQL.get(cache_key) if (extra_where is None or extra_key is not None) else None
    if entry is None:
        entry = _compile_page(conn, ff, form, filter, sort, limit, trash, bool(cursor), nulls, extra_where, user)
        if extra_where is None or extra_key is not None:
            if len(_PAGE_SQL) >= _PAGE_SQL_MAX:
                _PAGE_SQL.clear()
            _PAGE_SQL[cache_key] = entry
    sql, order, base, keys = entry
    params = dict(base)
    if cursor:
        for i, v in enumerate(values[:-1]):
            if v is not None:
                params[f"cur{i}"] = v
        params["cur_id"] = values[-1]
    bound = tuple(params[name] for name in order) if order is not None else params
    rows = conn.exec_driver_sql(sql, bound).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    width = len(storage.ROW_COLUMNS)
    records = [to_record(form, dict(zip(storage.ROW_COLUMNS, r))) for r in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor([*(_plain(v) for v in last[width:width + len(keys)]), last[0]])
    return Page(records, next_cursor)


def _compile_page(conn, ff, form, filter, sort, limit, trash, has_cursor, nulls, extra_where, user):
    ft = ff.form_table(form)
    keys = parse_sort(form, ft, sort)
    where = [ft.c.deleted_at.is_not(None) if trash else ft.c.deleted_at.is_(None)]
    clause = filter_clause(form, ft, filter, ff.db.dialect, user)
    if clause is not None:
        where.append(clause)
    if extra_where is not None:
        where.append(extra_where)
    if has_cursor:
        where.append(_after(keys, ft.c.id, nulls))
    order = []
    for key in keys:
        order.append(key.expr.desc().nulls_last() if key.desc else key.expr.asc().nulls_first())
    last_desc = keys[-1].desc if keys else False
    order.append(ft.c.id.desc() if last_desc else ft.c.id.asc())
    # the sort values ride along in the page query, so the next cursor costs nothing extra
    sort_cols = [k.expr.label(f"_sort{i}") for i, k in enumerate(keys)]
    columns = [ft.c[name] for name in storage.ROW_COLUMNS]
    if ff.db.dialect == "postgresql":
        # jsonb as text, parsed by orjson in to_record: psycopg's json.loads of every
        # document dominated a page's cost on PostgreSQL
        columns[-1] = sa.cast(ft.c.data, sa.Text()).label("data")
    query = sa.select(*columns, *sort_cols).where(*where).order_by(*order).limit(limit + 1)
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    order_names = list(compiled.positiontup) if compiled.positiontup is not None else None
    base = {k: v for k, v in compiled.params.items() if not k.startswith("cur")}
    return str(compiled), order_names, base, keys


def count_records(conn, ff, form, *, filter: str | None = None, trash: bool = False, extra_where=None,
                  user: dict | None = None) -> int:
    """How many records match a filter (`user`: as in list_records)."""
    ft = ff.form_table(form)
    where = [ft.c.deleted_at.is_not(None) if trash else ft.c.deleted_at.is_(None)]
    clause = filter_clause(form, ft, filter, ff.db.dialect, _caller_user(user))
    if clause is not None:
        where.append(clause)
    if extra_where is not None:
        where.append(extra_where)
    return conn.execute(sa.select(sa.func.count()).select_from(ft.table).where(*where)).scalar()


# The caller's $user for filters run inside `with caller(...)`: the permission service's
# FormAccess.list_records / count_records call list_records without it, and engine.access
# wraps them so a request's filters know who is asking. Outside such a block there is none.
_CALLER: contextvars.ContextVar[dict | None] = contextvars.ContextVar("formflow_filter_caller", default=None)


@contextlib.contextmanager
def caller(user: dict | None):
    """Within the block, filters without an explicit `user` read `$user` as this one."""
    token = _CALLER.set(user)
    try:
        yield
    finally:
        _CALLER.reset(token)


def _caller_user(user):
    return user if user is not None else _CALLER.get()


def _user_key(user) -> str | None:
    return None if user is None else orjson.dumps(user, option=orjson.OPT_SORT_KEYS, default=str).decode()


def _plain(value):
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    return value
