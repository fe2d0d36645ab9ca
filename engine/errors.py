"""Exceptions raised by the engine.

Every user-facing error carries a location (where in the definition or record
the problem is) and a message that says what to do. The API turns them into
RFC 9457 problem documents; the CLI prints them as one line each.
"""
from __future__ import annotations


class FormflowError(Exception):
    """Base class of every error the engine raises on purpose."""

    status = 400
    title = "Bad request"

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []

    def lines(self) -> list[str]:
        """The error as human-readable lines, one per located problem."""
        if not self.errors:
            return [self.message]
        return [f"{e['location']}: {e['message']}" if e.get("location") else e["message"]
                for e in self.errors]


class DefinitionError(FormflowError):
    """An app definition is invalid; `errors` lists every located problem."""

    status = 422
    title = "Invalid app definition"


class RecordValidationError(FormflowError):
    """A record failed validation; `errors` has one entry per field/rule."""

    status = 422
    title = "Invalid record"


class FieldValueError(ValueError):
    """A single value does not fit its field type (raised by field types)."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


class NotFound(FormflowError):
    """The app, form or record does not exist (or is not visible)."""

    status = 404
    title = "Not found"


class Conflict(FormflowError):
    """The request conflicts with the current state (duplicate key, unique value)."""

    status = 409
    title = "Conflict"


class StaleVersion(Conflict):
    """Optimistic locking failed: the record or definition changed meanwhile."""

    status = 412
    title = "Precondition failed"


class MigrationError(FormflowError):
    """A definition change cannot be applied as requested."""

    status = 422
    title = "Migration refused"


class ConfigError(FormflowError):
    """The configuration is unsafe or invalid."""

    title = "Configuration error"
