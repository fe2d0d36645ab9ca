"""SQL expressions that read one stored field out of a record table's JSON documents.

Records live in one table per form (see storage.py) with two JSON columns:
`data` (every stored value, keyed by field id) and `folded` (the casefolded copy of
every text value, keyed by field id, computed in Python so that SQL text matching
follows exactly the expression language's `casefold` rule on SQLite and PostgreSQL).
Expression indexes, the SQL backend of the expression language and the record
queries all build their expressions here, so that an index and the filter that
should use it are the same SQL text.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# On SQLite a value extracted from JSON already has its SQL type (REAL/INTEGER for
# numbers, TEXT, 0/1 for booleans). On PostgreSQL `->>` yields text, cast per type.
_PG_CASTS = {
    "number": sa.Numeric(),
    "boolean": sa.Boolean(),
}


def json_path(field_id: str) -> str:
    """The SQLite JSON path of a top-level key (ids are [A-Za-z0-9_] only)."""
    return f'$."{field_id}"'


def stored_value(table: sa.Table, field_id: str, sql_type: str | None, dialect: str,
                 folded: bool = False) -> sa.ColumnElement:
    """The stored scalar of field `field_id` as a typed SQL expression.

    sql_type is the field type's `sql_type` ("text", "number", "boolean", "date",
    "datetime"); dates and datetimes are ISO 8601 text, which sorts correctly.
    With folded=True the casefolded copy of a text value is read instead.
    """
    column = table.c.folded if folded else table.c.data
    if dialect == "postgresql":
        expr = column.op("->>", return_type=sa.Text())(sa.literal_column(f"'{field_id}'"))
        cast = _PG_CASTS.get(sql_type or "")
        if cast is not None:
            return sa.cast(expr, cast)
        # code-point order, as the expression language compares casefolded text
        return expr.collate("C") if sql_type == "text" else expr
    fn = sa.func.json_extract(column, sa.literal_column(f"'{json_path(field_id)}'"))
    if sql_type == "number":
        return fn  # REAL/INTEGER as stored
    return fn


def json_column_type(dialect: str) -> sa.types.TypeEngine:
    """The column type of `data`/`folded`: JSONB on PostgreSQL, TEXT on SQLite."""
    return postgresql.JSONB() if dialect == "postgresql" else sa.Text()
