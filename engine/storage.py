"""Record storage: one table per form, every value in a JSON document keyed by field id.

Why this shape (see docs/storage.md for the measurements): a column per field
(Baserow) hits PostgreSQL's 1,600-column limit, locks the table on every field
edit and rewrites it on type changes. Here a form's table never changes shape:
adding, renaming or deleting a field is a definition change only; fast filters
and sorts come from per-field *expression indexes* over the JSON document
(`json_extract(...)` on SQLite, `(data->>'id')::numeric` on PostgreSQL), built
and dropped while the form stays readable.

`data` holds the stored values; `folded` holds the casefolded copy of every text
value so that text equality, ordering and prefix search in SQL follow the
expression language's casefold rule exactly, on both databases, and can use an
index.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

import orjson
import sqlalchemy as sa

from . import columns, tables

SYSTEM_COLUMNS = ("id", "owner", "created_at", "created_by", "updated_at", "updated_by",
                  "version", "deleted_at")
# what reads select: the folded copy only serves SQL (decoding it would double the JSON work)
ROW_COLUMNS = SYSTEM_COLUMNS + ("data",)


def table_name(form_id: str) -> str:
    """The record table of a form (named by its immutable id, so renames never touch it)."""
    return f"ff_r_{form_id}"


def dumps(doc: dict) -> str:
    """Serialize a stored document (JSON-compatible values only)."""
    return orjson.dumps(doc).decode()


def loads(text: Any) -> dict:
    """Parse a stored document; PostgreSQL's JSONB arrives already parsed."""
    if text is None:
        return {}
    if isinstance(text, (dict, list)):
        return text
    return orjson.loads(text)


class FormTable:
    """The SQLAlchemy table of one form plus its expression helpers."""

    def __init__(self, form_id: str, dialect: str):
        self.form_id = form_id
        self.dialect = dialect
        doc_type = columns.json_column_type(dialect)
        self.table = sa.Table(
            table_name(form_id), sa.MetaData(),
            sa.Column("id", sa.String(40), primary_key=True),
            sa.Column("owner", sa.String(40)),
            sa.Column("created_at", tables.Timestamp, nullable=False),
            sa.Column("created_by", sa.String(40)),
            sa.Column("updated_at", tables.Timestamp, nullable=False),
            sa.Column("updated_by", sa.String(40)),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("deleted_at", tables.Timestamp),
            sa.Column("data", doc_type, nullable=False),
            sa.Column("folded", doc_type, nullable=False),
        )

    @property
    def c(self):
        return self.table.c

    def by_id_sql(self, for_update: bool = False) -> str:
        """Driver-level SQL selecting one row by id (ROW_COLUMNS order); the hottest read."""
        cols = ", ".join(ROW_COLUMNS)
        if self.dialect == "postgresql":
            # jsonb as text: orjson (in loads) parses it faster than psycopg's json.loads
            cols = ", ".join(SYSTEM_COLUMNS + ("data::text AS data",))
            return f'SELECT {cols} FROM "{self.table.name}" WHERE id = %(id)s' + (" FOR UPDATE" if for_update else "")
        return f'SELECT {cols} FROM "{self.table.name}" WHERE id = ?'

    def value(self, field_id: str, sql_type: str | None, folded: bool = False) -> sa.ColumnElement:
        """The stored scalar of a field as SQL (see columns.stored_value)."""
        return columns.stored_value(self.table, field_id, sql_type, self.dialect, folded)

    def encode(self, doc: dict) -> Any:
        """A document as the driver expects it for the JSON columns."""
        return doc if self.dialect == "postgresql" else dumps(doc)

    def create(self, conn: sa.Connection) -> None:
        """Create the table (and its created-order index) if missing."""
        self.table.create(conn, checkfirst=True)

    def drop(self, conn: sa.Connection) -> None:
        """Drop the table and its indexes."""
        self.table.drop(conn, checkfirst=True)

    # -- expression indexes -------------------------------------------------

    def index_sql(self, name: str, field_id: str, sql_type: str | None, unique: bool) -> str:
        """DDL of the expression index on one field (partial: live records only)."""
        folded = sql_type == "text"
        # unqualified column names: SQLite refuses "table.column" inside index expressions
        expr = columns.stored_value(_Unqualified(), field_id, sql_type, self.dialect, folded)
        compiled = expr.compile(dialect=self._dialect_obj(), compile_kwargs={"literal_binds": True})
        # NULLS FIRST on PostgreSQL matches SQLite's ascending order, so one index
        # serves both directions of a sort on both databases.
        nulls = " NULLS FIRST" if self.dialect == "postgresql" else ""
        kind = "UNIQUE INDEX" if unique else "INDEX"
        columns_sql = f"({compiled}){nulls}" + ("" if unique else ", id")
        # Partial (live rows only) where it matters: unique values are freed by the trash.
        # PostgreSQL's planner ignores the statistics of partial expression indexes, and
        # without them it misjudges selective filters (e.g. equality on a customer name
        # sorted by amount: 260 ms instead of 1 ms on 200k rows), so plain indexes stay whole there.
        partial = unique or self.dialect != "postgresql"
        return (f'CREATE {kind} IF NOT EXISTS "{name}" ON "{self.table.name}" '
                f"({columns_sql})" + (" WHERE deleted_at IS NULL" if partial else ""))

    def create_index(self, conn, name: str, field_id: str, sql_type: str | None, unique: bool) -> None:
        """Create one expression index (no table rewrite; reads continue meanwhile on PostgreSQL WAL/SQLite WAL)."""
        conn.exec_driver_sql(self.index_sql(name, field_id, sql_type, unique))

    def drop_index(self, conn, name: str) -> None:
        """Drop one expression index."""
        conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{name}"')

    def _dialect_obj(self):
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql
            return postgresql.dialect()
        from sqlalchemy.dialects import sqlite
        return sqlite.dialect()


class _Unqualified:
    """Stands in for a table whose `data`/`folded` columns render without a table name."""

    class c:  # noqa: N801 - mimics Table.c
        data = sa.literal_column("data")
        folded = sa.literal_column("folded")


def index_name(form_id: str, field_id: str, unique: bool) -> str:
    """Name of a field's expression index."""
    return f"{'ux' if unique else 'ix'}_{form_id}_{field_id}"[:63]


def wanted_indexes(form) -> dict[str, tuple[str, str | None, bool]]:
    """Indexes a form should have: {name: (field_id, sql_type, unique)}.

    Indexed and unique fields ask for one; single links get one because reverse
    look-ups and joins filter on them.
    """
    wanted = {}
    for field in form.fields:
        ftype = field.type
        sql_type = ftype.sql_type
        if sql_type is None or ftype.computed and not field.indexed:
            continue
        is_link = field.type_name == "link"
        if field.unique:
            wanted[index_name(form.id, field.id, True)] = (field.id, sql_type, True)
        if field.indexed or is_link:
            wanted[index_name(form.id, field.id, False)] = (field.id, sql_type, False)
    return wanted


def sync_indexes(conn: sa.Connection, form, dialect: str) -> dict[str, str]:
    """Create missing and drop obsolete expression indexes of a form; returns {name: field_id}."""
    ft = FormTable(form.id, dialect)
    row = conn.execute(sa.select(tables.forms.c.indexes).where(tables.forms.c.id == form.id)).first()
    existing = json.loads(row[0]) if row else {}
    wanted = wanted_indexes(form)
    for name in existing:
        if name not in wanted:
            ft.drop_index(conn, name)
    for name, (field_id, sql_type, unique) in wanted.items():
        if name not in existing:
            ft.create_index(conn, name, field_id, sql_type, unique)
    result = {name: spec[0] for name, spec in wanted.items()}
    conn.execute(tables.forms.update().where(tables.forms.c.id == form.id)
                 .values(indexes=json.dumps(result, sort_keys=True)))
    return result


def fold_document(form, doc: dict) -> dict:
    """The casefolded copy of every text value of a stored document."""
    folded = {}
    for field in form.text_fields:
        value = doc.get(field.id)
        if isinstance(value, str):
            folded[field.id] = value.casefold()
    return folded


def insert_rows(conn: sa.Connection, ft: FormTable, rows: Iterable[dict]) -> None:
    """Insert prepared rows (system columns + data/folded documents) in one executemany."""
    rows = list(rows)
    if rows:
        conn.execute(ft.table.insert(), rows)
