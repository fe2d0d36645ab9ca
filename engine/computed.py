"""Computed values of a record: formulas, lookups, rollups, serial numbers, visibility and rules.

All expression evaluation during a write happens here, with one "expression
record" per write: the record's values with link fields replaced by the linked
records (only those links some expression reads through), exactly the shape the
expression language's spec describes.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any


from . import model, tables
from .errors import FieldValueError

ROLLUP_FUNCTIONS = ("SUM", "COUNT", "MIN", "MAX", "AVG")


def _expr():
    # imported lazily: the expression package is large and storage-only tools don't need it
    from . import expr
    return expr


class Computer:
    """Evaluates a form's computed fields and rules against one record's values."""

    def __init__(self, instance):
        self.ff = instance

    def evaluate(self, form, source: str, record: dict, ctx, parent: dict | None = None,
                 schema=None) -> Any:
        """Evaluate `source` on a record; a runtime error value gives None (blank)."""
        expr = _expr()
        compiled = expr.compile_expression(source, schema if schema is not None else form.expr_schema())
        context = ctx.expr_context() if ctx is not None else {}
        if parent is not None:
            context["parent"] = parent
        try:
            return compiled.evaluate(record, **context)
        except expr.ExprError:
            return None

    def test(self, form, source: str, record: dict, ctx) -> tuple[bool, str | None]:
        """Evaluate a condition: (truth, error code or None)."""
        expr = _expr()
        compiled = expr.compile_expression(source, form.expr_schema())
        try:
            value = compiled.evaluate(record, **(ctx.expr_context() if ctx else {}))
        except expr.ExprError as err:
            return False, err.code
        return value is True, None

    def expression_record(self, conn, form, values: dict) -> dict:
        """The record as expressions see it: links replaced by the linked records."""
        keys = form.link_keys_read
        if not keys:
            return values
        record = dict(values)
        for key in keys:
            field = form.fields_by_key[key]
            ids = values.get(key)
            if ids is None:
                continue
            target = self.ff.link_target(form, field)
            loaded = self.ff.links.load(conn, target, ids if isinstance(ids, list) else [ids])
            if isinstance(ids, list):
                record[key] = [loaded[i] for i in ids if i in loaded]
            else:
                record[key] = loaded.get(ids)
        return record

    def compute(self, conn, form, values: dict, ctx) -> None:
        """Recompute every computed field of `values` in dependency order (in place)."""
        if not form.computed_fields and not form.subforms_with_formulas:
            return
        record = self.expression_record(conn, form, values)
        for field in form.subforms_with_formulas:
            rows = values.get(field.key) or []
            schema = field.row_schema
            for row in rows:
                for child in field.children:
                    if child.type_name == "formula":
                        row[child.key] = self._normalise(
                            child, self.evaluate(form, child.definition["formula"], row, ctx, parent=record,
                                                 schema=schema))
        for field in form.computed_fields:
            kind = field.type_name
            if kind == "formula":
                value = self.evaluate(form, field.definition["formula"], record, ctx)
            elif kind == "lookup":
                value = self._lookup(record, field)
            elif kind == "rollup":
                value = self._rollup(conn, form, record, field, ctx)
            else:  # serial numbers are assigned at insert
                continue
            value = self._normalise(field, value)
            values[field.key] = value
            if record is not values:
                record[field.key] = value

    def visibility(self, form, values: dict, ctx) -> dict[str, bool]:
        """{key: visible} for fields with a visible_if rule or in a section with one (an erroring
        rule shows the field)."""
        out = {}
        for field in form.conditional_fields:
            ok, error = self.test(form, field.definition["visible_if"], values, ctx)
            out[field.key] = ok or error is not None
        for section in form.conditional_sections:  # a hidden section hides every field in it
            ok, error = self.test(form, section.visible_if, values, ctx)
            if not (ok or error is not None):
                out.update({f.key: False for f in section.fields})
        return out

    def check_rules(self, conn, form, values: dict, ctx) -> list[dict]:
        """Errors for every form rule that is not TRUE for the record."""
        if not form.rules:
            return []
        record = self.expression_record(conn, form, values)
        errors = []
        for i, rule in enumerate(form.rules):
            ok, error = self.test(form, rule["formula"], record, ctx)
            if not ok:
                message = _message(rule.get("message")) or f"rule {rule.get('id') or i} is not met"
                if error:
                    message += f" (the rule could not be evaluated: {error})"
                errors.append({"location": rule.get("field") or "", "message": message,
                               "code": "rule", "rule": rule.get("id") or str(i)})
        return errors

    def next_serial(self, conn, field, now: dt.datetime | None = None) -> str:
        """The next serial number of a field; the counter row is locked by the write transaction."""
        from . import serials
        pattern = field.definition["pattern"]
        now = now or dt.datetime.now()
        period = serials.period_key(pattern, now)
        table = tables.serials
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        # one atomic upsert: concurrent first numbers of a period cannot collide
        stmt = insert(table).values(field_id=field.id, period=period, value=1)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.field_id, table.c.period],
                                          set_={"value": table.c.value + 1}).returning(table.c.value)
        return serials.format_serial(pattern, conn.execute(stmt).scalar_one(), now)

    # -- lookups and rollups ------------------------------------------------

    def _lookup(self, record: dict, field) -> Any:
        link_key = model.lookup_source(field.definition)[1]
        target_key = model.source_field(field.definition)[1]
        linked = record.get(link_key)
        if linked is None:
            return None
        if isinstance(linked, list):
            out = [r.get(target_key) for r in linked if r is not None]
            return [v for v in out if v is not None] or None
        return linked.get(target_key)

    def _rollup(self, conn, form, record: dict, field, ctx) -> Any:
        spec = field.definition
        source_key = model.rollup_source(spec)[1]
        source = form.fields_by_key[source_key]
        rows = record.get(source_key)
        if rows is None:
            rows = []
        elif isinstance(rows, dict):
            rows = [rows]
        where = spec.get("where")
        if where:
            schema = source.row_schema
            expr = _expr()
            compiled = expr.compile_expression(where, schema)
            kept = []
            for row in rows:
                try:
                    if compiled.evaluate(row, **(ctx.expr_context() if ctx else {}), parent=record) is True:
                        kept.append(row)
                except expr.ExprError:
                    pass
            rows = kept
        target_key = model.source_field(spec)[1]
        items = [row.get(target_key) for row in rows if row is not None]
        return aggregate(spec.get("function", "SUM").upper(), items)

    def _normalise(self, field, value: Any) -> Any:
        normalise = getattr(field.type, "coerce_computed", None)
        if normalise is None:
            return value
        try:
            return normalise(value)
        except FieldValueError:
            return None


def aggregate(function: str, items: list) -> Any:
    """SUM/COUNT/MIN/MAX/AVG of a list of values (blanks skipped), exact for Decimals."""
    present = [v for v in items if v is not None and v != ""]
    if function == "COUNT":
        return Decimal(len(present))
    numbers = [v if isinstance(v, Decimal) else Decimal(str(v)) for v in present
               if isinstance(v, (int, Decimal)) and not isinstance(v, bool)]
    if function == "SUM":
        return sum(numbers, Decimal(0))
    if function == "AVG":
        return (sum(numbers, Decimal(0)) / len(numbers)) if numbers else None
    comparable = numbers or [v for v in present if isinstance(v, (dt.date, str))]
    if not comparable:
        return None
    return min(comparable) if function == "MIN" else max(comparable)


def _message(message) -> str | None:
    if isinstance(message, dict):
        return message.get("zh-CN") or message.get("en") or next(iter(message.values()), None)
    return message
