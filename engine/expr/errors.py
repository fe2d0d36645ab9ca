"""Errors of the expression language.

Two worlds: during evaluation an error is a *value* (`ErrorValue`, so IFERROR and
ISERROR can catch it); at the edge (`evaluate`, `Compiled.evaluate`,
`compile_expression`) it becomes an `ExprError` exception carrying `.code`.
"""
from __future__ import annotations

from dataclasses import dataclass

SYNTAX = "#SYNTAX!"
NAME = "#NAME?"
ARGS = "#ARGS!"
VALUE = "#VALUE!"
DIV0 = "#DIV/0!"
NUM = "#NUM!"
NA = "#N/A"
REF = "#REF!"

#: codes detected before evaluation (they cannot be caught by IFERROR)
STATIC_CODES = (SYNTAX, NAME, ARGS)
RUNTIME_CODES = (VALUE, DIV0, NUM, NA, REF)


@dataclass
class Diagnostic:
    """One static problem, located in the source (line/column are 1-based)."""

    code: str
    message: str
    line: int
    column: int
    end_column: int
    excerpt: str
    suggestion: str | None = None

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.code} {self.message}\n{self.excerpt}"


class ExprError(Exception):
    """Any error of an expression; `.code` is one of the spec's error codes."""

    code = VALUE

    def __init__(self, message: str, code: str | None = None,
                 diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.diagnostics = list(diagnostics or [])

    def __str__(self) -> str:
        return f"{self.code} {self.message}"


class ExprSyntaxError(ExprError):
    """The source is not parseable (or exceeds a size/nesting limit)."""

    code = SYNTAX


class ExprNameError(ExprError):
    """Unknown function, field or $ built-in (static)."""

    code = NAME


class ExprArityError(ExprError):
    """Wrong number of arguments (static)."""

    code = ARGS


class ExprValueError(ExprError):
    """The evaluation produced an error value (any runtime code)."""


_STATIC_CLASSES = {SYNTAX: ExprSyntaxError, NAME: ExprNameError, ARGS: ExprArityError}


def static_error(diagnostics: list[Diagnostic]) -> ExprError:
    """The exception for a list of static diagnostics (the first one decides the class)."""
    first = diagnostics[0]
    cls = _STATIC_CLASSES.get(first.code, ExprError)
    msg = "; ".join(f"{d.line}:{d.column}: {d.message}" for d in diagnostics)
    return cls(msg, first.code, diagnostics)


class ErrorValue:
    """A runtime error as a value: `code` plus a human message."""

    __slots__ = ("code", "message")

    def __init__(self, code: str, message: str = ""):
        self.code = code
        self.message = message or code

    def __repr__(self) -> str:
        return f"ErrorValue({self.code!r}, {self.message!r})"

    def __eq__(self, other):
        return isinstance(other, ErrorValue) and other.code == self.code

    def __hash__(self):
        return hash(self.code)


def err(code: str, message: str = "") -> ErrorValue:
    return ErrorValue(code, message)


E_VALUE = ErrorValue(VALUE, "wrong type of value")
E_DIV0 = ErrorValue(DIV0, "division by zero")
E_NUM = ErrorValue(NUM, "number out of range")
E_NA = ErrorValue(NA, "no match")
E_REF = ErrorValue(REF, "missing reference")


def excerpt(source: str, line: int, column: int, end_column: int | None = None) -> str:
    """The source line and a caret line under columns [column, end_column)."""
    lines = source.split("\n")
    text = lines[line - 1] if 1 <= line <= len(lines) else ""
    end = end_column if end_column and end_column > column else column + 1
    return text + "\n" + " " * max(column - 1, 0) + "^" * (end - column)
