"""The formflow expression language (docs/expressions.md).

    evaluate(source, record, **context)           -> value (raises ExprError)
    compile_expression(source, schema=None)        -> Compiled (cached)
    check(source, schema)                          -> list[Diagnostic]
    engine.expr.sql.to_sql(source, schema, resolve, dialect) -> SQL condition
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping

from .analysis import BUILTINS, FieldSig, analyse, suggest
from .compiler import compile_node
from .errors import (NAME, SYNTAX, Diagnostic, ErrorValue, ExprArityError, ExprError,
                     ExprNameError, ExprSyntaxError, ExprValueError, excerpt, static_error)
from .functions import FUNCTIONS
from .parser import parse
from .values import _BUDGET, MAX_WORK

__all__ = ["evaluate", "compile_expression", "check", "Compiled", "FieldSig", "Diagnostic",
           "ExprError", "ExprSyntaxError", "ExprNameError", "ExprArityError", "ExprValueError",
           "NotInSQL", "FUNCTIONS"]


class Compiled:
    """A compiled expression: call `evaluate(record, **context)` as often as needed."""

    __slots__ = ("source", "fields", "paths", "builtins", "result_type", "_fn", "_field_refs",
                 "_builtin_refs", "__weakref__")

    def __init__(self, source, fn, analysis):
        self.source = source
        self._fn = fn
        self.fields = frozenset(analysis.fields)
        self.paths = frozenset(analysis.paths)
        self.builtins = frozenset(analysis.builtins)
        self.result_type = analysis.result_type
        self._field_refs = tuple(analysis.field_refs)
        self._builtin_refs = tuple(analysis.builtin_refs)

    def evaluate(self, record, **context):
        """The value for `record`; raises ExprValueError (with .code) for an error result."""
        _BUDGET.left = MAX_WORK
        try:
            v = self._fn(record, context)
        except (RecursionError, MemoryError):  # pathological record data (nesting, size)
            raise ExprValueError("the record data is too large or too deeply nested",
                                 "#VALUE!") from None
        if v.__class__ is ErrorValue:
            raise ExprValueError(v.message, v.code)
        return v

    def evaluate_raw(self, record, context=None):
        """The value, or an ErrorValue for an error result (no exception)."""
        _BUDGET.left = MAX_WORK
        return self._fn(record, context or {})

    def __repr__(self):
        return f"Compiled({self.source!r}, result_type={self.result_type!r})"


def _schema_key(schema):
    if schema is None:
        return None
    return tuple(sorted(((k, v if isinstance(v, FieldSig) else FieldSig(v))
                         for k, v in schema.items()), key=lambda kv: kv[0]))


@lru_cache(maxsize=2048)
def _compile(source: str, skey) -> Compiled:
    schema = None if skey is None else dict(skey)
    a = analyse(source, schema)
    fatal = a.fatal
    if fatal:
        raise static_error(fatal)
    return Compiled(source, compile_node(parse(source)), a)


def compile_expression(source: str, schema: Mapping[str, FieldSig] | None = None) -> Compiled:
    """Parse, check and compile `source` (cached by source and schema).

    Raises ExprSyntaxError / ExprNameError / ArityError with `.diagnostics`. With
    schema=None any field and $ name is accepted.
    """
    if not isinstance(source, str):
        raise ExprSyntaxError("the formula must be text", SYNTAX)
    return _compile(source, _schema_key(schema))


def check(source: str, schema: Mapping[str, FieldSig] | None) -> list[Diagnostic]:
    """Every static problem of `source` against `schema` ([] when fine); never raises."""
    try:
        if not isinstance(source, str):
            return [Diagnostic(SYNTAX, "the formula must be text", 1, 1, 2, "\n^", None)]
        skey = _schema_key(schema)
        return analyse(source, None if skey is None else dict(skey)).diagnostics
    except ExprError as e:
        return list(e.diagnostics) or [Diagnostic(e.code, e.message, 1, 1, 2,
                                                  excerpt(str(source), 1, 1), None)]
    except Exception as e:  # noqa: BLE001 - check() must never raise
        return [Diagnostic(SYNTAX, f"cannot analyse the formula: {type(e).__name__}", 1, 1, 2,
                           excerpt(str(source)[:200], 1, 1), None)]


def evaluate(source: str, record: Mapping, **context):
    """Evaluate `source` for `record` (spec 1). Unknown fields/built-ins are #NAME?."""
    comp = compile_expression(source)
    if record is None:
        record = {}
    diags = []
    for key, pos in comp._field_refs:
        if key not in record:
            hint = suggest(key, record)
            diags.append(_name_diag(source, f"unknown field {key!r}", pos, hint))
    for name, pos in comp._builtin_refs:
        if name not in context and name not in ("now", "today"):
            hint = suggest(name, list(context) + list(BUILTINS))
            diags.append(_name_diag(source, f"unknown built-in ${name}", pos,
                                    f"${hint}" if hint else None))
    if diags:
        diags.sort(key=lambda d: (d.line, d.column))
        raise static_error(diags)
    return comp.evaluate(record, **context)


def _name_diag(source, msg, pos, hint):
    line, col, _el, end = pos
    if hint:
        msg += f" (did you mean {hint!r}?)" if not hint.startswith("$") else \
            f" (did you mean {hint}?)"
    return Diagnostic(NAME, msg, line, col, end, excerpt(source, line, col, end), hint)


def __getattr__(name):
    if name == "NotInSQL":
        from .sql import NotInSQL
        return NotInSQL
    raise AttributeError(name)
