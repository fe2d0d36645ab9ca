"""Field types: one registered class per type (text, number, decimal, ... link, rollup).

CONTRACT (shared by storage, records, definitions, API, expressions):

A field definition is a dict already validated by the app JSON Schema, e.g.
  {"id": "fld_x1", "key": "qty", "type": "number", "label": {...}, "min": 0, ...}
`field_type(field_def)` returns an instance of the registered class for
field_def["type"]; the instance keeps the definition in `self.field`.

Python value domain per type (what `coerce` returns and the record lifecycle
keeps in memory; expressions see the same values):
  text/textarea/email/phone/url/select -> str ; multiselect -> list[str]
  number/decimal/money/percent -> decimal.Decimal (<= 15 significant digits)
  boolean -> bool ; date -> datetime.date ; datetime -> datetime.datetime (naive,
  instance-local) ; time -> datetime.time
  user/department -> str id (list[str] when "multiple": true)
  attachment/image -> list[dict] ({"id","name","size","content_type"})
  address -> {"province","city","district","detail"} (str or None each)
  location -> {"lng": Decimal, "lat": Decimal}
  subform -> list[dict] rows keyed by child field *key*, each with "_id"
  link -> str record id, or list[str] when "multiple": true
  serial -> str (assigned by the engine) ; formula/lookup/rollup -> computed value
Empty is always None (never "" or [] for scalars; [] is normalised to None too).

Storage: records are stored as one JSON document keyed by field *id*; each type
converts its value with `to_storage` (JSON-compatible, exact) and back with
`from_storage`. `sql_type` says how an expression index / SQL filter reads the
stored scalar: "text", "number", "boolean", "date" (ISO text), "datetime" (ISO
text), or None (not indexable/filterable in SQL: lists, objects).
"""
from __future__ import annotations

from typing import Any, ClassVar

from .errors import FieldValueError
from .registry import Registry

registry: Registry[type["FieldType"]] = Registry("field type")


class FieldType:
    """Base class: validation, coercion, storage and schema of one field type."""

    name: ClassVar[str] = ""
    #: how SQL sees the stored scalar (see module docstring); None = not in SQL
    sql_type: ClassVar[str | None] = "text"
    #: value type seen by the expression language: number, text, boolean, date,
    #: datetime, list, record (one linked record / object), records (subform rows / multi links)
    expr_type: ClassVar[str] = "text"
    #: computed by the engine (formula, lookup, rollup, serial): clients never write it
    computed: ClassVar[bool] = False
    #: values are personal data, masked for callers without the unmask right
    sensitive: ClassVar[bool] = False
    #: JSON Schema (draft 2020-12) "properties" allowed in the *definition* of
    #: such a field beyond the common ones (key, label, required, ...)
    definition_properties: ClassVar[dict] = {}
    #: definition properties that must be present
    definition_required: ClassVar[tuple[str, ...]] = ()
    #: human description for docs/app-format.md
    description: ClassVar[str] = ""

    def __init__(self, field: dict):
        self.field = field

    @property
    def key(self) -> str:
        return self.field["key"]

    @property
    def is_sensitive(self) -> bool:
        """Sensitive by type, or marked "sensitive": true in the definition."""
        return bool(self.field.get("sensitive", self.sensitive))

    def coerce(self, value: Any) -> Any:
        """Validate and convert a JSON value to the Python domain; raise FieldValueError."""
        raise NotImplementedError

    def parse_cell(self, text: str) -> Any:
        """Convert a CSV/Excel cell (string) to the Python domain; raise FieldValueError."""
        return self.coerce(text if text != "" else None)

    def check(self, value: Any) -> None:
        """Check the definition's constraints (min/max, length, pattern, options) on a coerced value."""

    def to_storage(self, value: Any) -> Any:
        """Python value -> JSON-compatible stored value (exact; None stays None)."""
        return value

    def from_storage(self, stored: Any) -> Any:
        """Stored value -> Python value."""
        return stored

    def to_json(self, value: Any) -> Any:
        """Python value -> API JSON (Decimal as string, dates ISO 8601)."""
        return value

    def value_schema(self) -> dict:
        """JSON Schema of this field's value in the REST API (for OpenAPI)."""
        return {}


def field_type(field: dict) -> FieldType:
    """The FieldType instance for a field definition."""
    return registry.get(field["type"])(field)


__all__ = ["FieldType", "FieldValueError", "registry", "field_type"]
