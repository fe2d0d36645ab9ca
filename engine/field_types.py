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

DETAILS (decisions every caller can rely on):

* Errors: every FieldValueError raised here has `.message`, `.code` (one of
  "type", "empty", "length", "format", "range", "digits", "scale", "option",
  "duplicate", "unknown", "required", "computed", "invalid") and `.path`: a list
  locating the problem *inside* the value ([] for the value itself, [2, "price"]
  for child "price" of the third subform row, [0, "size"] for a file's size).
  Nested messages are prefixed for standalone readers: "row 3: price: must be at
  least 0" (rows counted from 1 in messages, from 0 in `.path`).
* Numbers: Decimal, never float. A JSON number or a decimal string ("12.5") is
  accepted; booleans, NaN, Infinity (json.loads('1e309') is inf) are refused; at
  most 15 digits in total (integer part + decimals), so that the stored JSON
  number is exact. `scale` = decimal places: more decimals than the scale is an
  error (never rounded), fewer are padded ("6.6" -> Decimal("6.60")). money
  defaults to scale 2, decimal to 2, number has no scale (trailing zeros are
  dropped). percent values are fractions (0.125 = 12.5 %); its `scale` counts
  the decimals of the *percentage*, so the fraction keeps scale + 2 decimals.
  Stored as a JSON number (int when integral, else float) and read back with
  the scale restored.
* Text: single-line types trim surrounding whitespace (documented, the only
  silent change) and refuse line breaks; textarea keeps whitespace and turns
  CRLF into LF. Control characters other than TAB (and LF in textarea) and lone
  surrogates are refused. Length is checked before anything else (a 10 MB
  string is refused at once). text defaults to at most MAX_SHORT_TEXT_LENGTH
  characters, textarea to MAX_TEXT_LENGTH; `max_length` may not exceed
  MAX_TEXT_LENGTH. `pattern` must match the whole value (re.fullmatch); patterns
  with nested unbounded repetition ("(a+)+") are refused by
  `definition_problems()` (stdlib `re` has no timeout; values are length-capped).
* Dates: "YYYY-MM-DD" only in JSON; cells also accept 2026/12/05, 2026.12.05,
  2026年12月5日 and Excel date/datetime objects (a datetime with a time of day
  is refused). Datetimes: ISO 8601 "YYYY-MM-DDTHH:MM[:SS[.ffffff]]" with an
  optional "Z"/"+08:00" offset; naive values are instance-local, aware values
  are converted to the instance time zone (the field's "timezone", else
  `DateTimeType.timezone`, default Asia/Shanghai; the app sets it from the
  configuration at startup) and stored naive, as ISO text (sorts correctly).
  Times: "HH:MM" or "HH:MM:SS", stored "HH:MM:SS".
* Phone numbers are stored in E.164 ("+8613812345678"), default region CN (or
  the field's "region"); emails are normalised by email-validator (domain
  lowercased); URLs must be http(s) with a host.
* Subform rows: coerce checks each child value with the child's type; a row
  keeps a valid given "_id" (ULID) or gets a new one; computed children in the
  input are ignored (the engine computes them); check() applies min_rows/
  max_rows and each child's required flag and constraints. Rows are stored
  keyed by child field *id* (so renaming a child key needs no data migration).
* Computed types (formula, lookup, rollup, serial): `coerce` refuses any value;
  the engine normalises what it computed with `coerce_computed(value)`, which
  delegates to the field type named by "result_type" (`self.result`). Their
  `sql_type`/`expr_type` are then instance attributes following the result.
  Reference types (user, department, link) also set them per instance
  ("multiple": true -> a list). Read them on instances; the class attribute is
  the single-value default (used by the documentation).

Base-class extensions used by other modules: `validate(value)`,
`check_required(value)`, `coerce_result(value)`, `coerce_computed(value)`,
`mask(value)`, `default_value()`, `definition_problems()`, `is_empty(value)`,
`indexable`.
"""
from __future__ import annotations

import abc

from functools import cached_property

import datetime as dt
import difflib
import json
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import defaults, masking, serials
from .errors import FieldValueError
from .registry import Registry

registry: Registry[type["FieldType"]] = Registry("field type")

# --------------------------------------------------------------------------- helpers

#: longest accepted textual form of a number ("-123456789012345.67" is 19)
MAX_NUMBER_TEXT = 100
#: longest regular expression accepted in a `pattern` property
MAX_PATTERN_LENGTH = 1_000
MAX_ID_LENGTH = 128
MAX_FILES = 100
MAX_FILE_NAME = 255
MAX_EMAIL_LENGTH = 254
MAX_PHONE_LENGTH = 40
MAX_URL_LENGTH = 2_048
MAX_ADDRESS_PART = 100
MAX_ADDRESS_DETAIL = 500
MAX_SERIAL_LENGTH = 200
MAX_OPTIONS_SHOWN = 20

_DEC_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_DEC_RE = re.compile(_DEC_PATTERN)
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]*")
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$"
_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9*][A-Za-z0-9!#$&^_.+*-]*")
_CONTENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9*][A-Za-z0-9!#$&^_.+*-]*$"
# C0 controls except TAB/LF, DEL, C1 controls, lone surrogates
_BAD_CHARS_MULTI = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_CHARS_SINGLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
_NON_FINITE = {"nan", "+nan", "-nan", "snan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def fail(message: str, code: str = "invalid", path: list | None = None) -> FieldValueError:
    """A FieldValueError with a `.path` (see the module docstring); raise the result."""
    err = FieldValueError(message, code)
    err.path = list(path or [])  # type: ignore[attr-defined]
    return err


def error_path(err: FieldValueError) -> list:
    """The location of `err` inside the value ([] when it is about the value itself)."""
    return list(getattr(err, "path", []) or [])


def _json_cell(coerce, text: str, what: str) -> Any:
    """Coerce a spreadsheet cell written as JSON (an address object, a list of rows...)."""
    try:
        return coerce(json.loads(text))
    except ValueError as exc:
        if isinstance(exc, FieldValueError):
            raise
        raise fail(f"is not {what}: {exc}", "format") from None


def _json_list_cell(coerce, text: Any, items: str, what: str, give: str) -> Any:
    """A spreadsheet cell holding a JSON list (files, subform rows), or blank."""
    if isinstance(text, str) and text.strip().startswith("["):
        return _json_cell(coerce, text, f"a JSON list of {items}")
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    raise fail(f"{what} cannot be imported from a cell (give {give})", "format")


def _nested(err: FieldValueError, step: int | str, label: str) -> FieldValueError:
    out = fail(f"{label}: {err.message}", err.code, [step, *error_path(err)])
    # the innermost message, for callers that show the path as a location instead
    out.detail = getattr(err, "detail", err.message)  # type: ignore[attr-defined]
    return out


def _jtype(value: Any) -> str:
    """How a value looks in JSON, for messages ("a boolean", "an array")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _show(value: Any, limit: int = 40) -> str:
    """repr() of a value, shortened for messages."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "..."


def _nullable(schema: dict) -> dict:
    """The schema also allowing null (empty values are null)."""
    out = dict(schema)
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
        if "type" in out:
            del out["type"]
        return out
    t = out.get("type")
    if isinstance(t, str):
        out["type"] = [t, "null"]
        return out
    if isinstance(t, list):
        out["type"] = [*t, "null"] if "null" not in t else t
        return out
    return {"anyOf": [out, {"type": "null"}]}


def _did_you_mean(value: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _decimal_from_definition(value: Any) -> Decimal | None:
    """A bound (min/max) from a definition: number or decimal string."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


_QUANTA = [Decimal(1).scaleb(-n) for n in range(40)]


def _quantum(places: int) -> Decimal:
    """Decimal('1E-places'), precomputed for the usual scales."""
    return _QUANTA[places] if 0 <= places < 40 else Decimal(1).scaleb(-places)


def _digit_counts(d: Decimal) -> tuple[int, int]:
    """(integer digits, decimal places) of d ignoring trailing fractional zeros."""
    _sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    if not any(digits):
        return 0, 0
    n = len(digits)
    if exp < 0:
        strip = 0
        while strip < -exp and digits[n - 1 - strip] == 0:
            strip += 1
        n -= strip
        exp += strip
    return max(n + exp, 0), max(-exp, 0)


@lru_cache(maxsize=512)
def _compile_pattern(pattern: str) -> re.Pattern:
    problem = pattern_problem(pattern)
    if problem:
        raise ValueError(problem)
    return re.compile(pattern)


def pattern_problem(pattern: Any) -> str | None:
    """Why a `pattern` property is unusable (bad regex, too long, nested repetition), or None."""
    if not isinstance(pattern, str):
        return "the pattern must be a string"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"the pattern is too long (at most {MAX_PATTERN_LENGTH} characters)"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"the pattern is not a valid regular expression: {exc}"
    try:  # private but stable parser: refuse catastrophic backtracking shapes
        from re import _parser as sre_parse  # type: ignore[attr-defined]
        from re._constants import LITERAL, MAX_REPEAT, MAXREPEAT, MIN_REPEAT, SUBPATTERN  # type: ignore
        tree = sre_parse.parse(pattern)
    except Exception:  # pragma: no cover - other Python versions
        return None

    def _has_literal(items) -> bool:
        for op, av in items:
            if op == LITERAL:
                return True
            if op == SUBPATTERN and _has_literal(av[-1]):
                return True
        return False

    def walk(items, inside_unbounded: bool) -> bool:
        for op, av in items:
            if op in (MAX_REPEAT, MIN_REPEAT):
                lo, hi, sub = av
                unbounded = hi == MAXREPEAT or hi > 100
                if unbounded and inside_unbounded:
                    return True
                # a body with a mandatory literal ("(-[a-z]+)*") is taken as unambiguous
                if walk(sub, (inside_unbounded or unbounded) and not _has_literal(sub)):
                    return True
            elif isinstance(av, (list, tuple)):
                for part in av:
                    if isinstance(part, sre_parse.SubPattern) and walk(part, inside_unbounded):
                        return True
                    if isinstance(part, (list, tuple)):
                        for sub in part:
                            if isinstance(sub, sre_parse.SubPattern) and walk(sub, inside_unbounded):
                                return True
            elif isinstance(av, sre_parse.SubPattern) and walk(av, inside_unbounded):
                return True
        return False

    if walk(tree, False):
        return ("the pattern nests unbounded repetitions (like (a+)+), which can take "
                "exponential time: simplify it")
    return None


# --------------------------------------------------------------------------- base


class FieldType(abc.ABC):
    """Base class: validation, coercion, storage and schema of one field type."""

    name: ClassVar[str] = ""
    #: how SQL sees the stored scalar (see module docstring); None = not in SQL
    sql_type: ClassVar[str | None] = "text"
    #: value type seen by the expression language: number, text, boolean, date,
    #: datetime, time, list, record (one linked record / object), records (subform rows / multi links)
    expr_type: ClassVar[str] = "text"
    #: computed by the engine (formula, lookup, rollup, serial): clients never write it
    computed: ClassVar[bool] = False
    #: values are personal data, masked for callers without the unmask right
    sensitive: ClassVar[bool] = False
    #: takes a whole row of a multi-column layout (a table or a text box needs the width)
    wide: ClassVar[bool] = False
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

    @property
    def indexable(self) -> bool:
        """True when SQL can filter/sort/index the stored value (sql_type is not None)."""
        return self.sql_type is not None

    @staticmethod
    def is_empty(value: Any) -> bool:
        """None, "" and [] are empty (coerce already turns the latter two into None)."""
        return value is None or value == "" or value == []

    @abc.abstractmethod
    def coerce(self, value: Any) -> Any:
        """Validate and convert a JSON value to the Python domain; raise FieldValueError."""

    def parse_cell(self, text: Any) -> Any:
        """Convert a CSV/Excel cell to the Python domain; raise FieldValueError.

        CSV gives strings; openpyxl also gives int, float, bool, date, datetime, time.
        A blank cell (None, "" or only whitespace) is None.
        """
        if text is None or (isinstance(text, str) and text.strip() == ""):
            return None
        return self.coerce(text)

    def check(self, value: Any) -> None:
        """Check the definition's constraints (min/max, length, pattern, options) on a coerced value."""

    def check_required(self, value: Any) -> None:
        """Raise FieldValueError(code "required") when the field is required and `value` is empty."""
        if self.field.get("required") and self.is_empty(value):
            raise fail("is required", "required")

    def validate(self, value: Any) -> Any:
        """coerce + check_required + check: the coerced value, or FieldValueError."""
        value = self.coerce(value)
        self.check_required(value)
        if value is not None:
            self.check(value)
        return value

    def coerce_result(self, value: Any) -> Any:
        """Normalise a value *computed* by the engine into this type's domain.

        Like `coerce` but accepting Python values (Decimal, date, ...) and lenient
        where computation is inexact: numbers are rounded to the scale (or to 15
        digits) instead of refused. Used by computed types through `result_type`.
        """
        return self.coerce(value)

    def coerce_computed(self, value: Any) -> Any:
        """For computed types: the engine's computed value in the result domain."""
        raise fail(f"{self.name} fields are not computed", "invalid")

    def default_value(self) -> Any:
        """The definition's literal "default", coerced (None when absent)."""
        if self.computed or self.field.get("default") is None:
            return None
        return self.coerce(self.field["default"])

    def definition_problems(self) -> list[tuple[str, str]]:
        """Problems the JSON Schema cannot see, as [(property, message)] (e.g. min > max, bad regex)."""
        return []

    def to_storage(self, value: Any) -> Any:
        """Python value -> JSON-compatible stored value (exact; None stays None)."""
        return value

    def from_storage(self, stored: Any) -> Any:
        """Stored value -> Python value."""
        return stored

    def to_json(self, value: Any) -> Any:
        """Python value -> API JSON (Decimal as string, dates ISO 8601)."""
        return value

    def mask(self, value: Any) -> Any:
        """The API JSON of `value` with personal data hidden (first and last character kept).

        The result is not meant to satisfy `value_schema()` (a masked number is "***").
        """
        return _mask_json(self.to_json(value))

    def value_schema(self) -> dict:
        """JSON Schema of this field's value in the REST API (for OpenAPI)."""
        return {}


def _mask_json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return masking.mask_text(value)
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    if isinstance(value, dict):
        return {k: (v if k in ("_id", "id") else _mask_json(v)) for k, v in value.items()}
    return "***"


def field_type(field: dict) -> FieldType:
    """The FieldType instance for a field definition."""
    return registry.get(field["type"])(field)


# --------------------------------------------------------------------------- text

_LENGTH_PROPS = {
    "min_length": {"type": "integer", "minimum": 0, "maximum": defaults.MAX_TEXT_LENGTH,
                   "description": "Fewest characters."},
    "max_length": {"type": "integer", "minimum": 1, "maximum": defaults.MAX_TEXT_LENGTH,
                   "description": "Most characters."},
    "pattern": {"type": "string", "minLength": 1, "maxLength": MAX_PATTERN_LENGTH,
                "description": "Regular expression (Python syntax) the whole value must match."},
}


@registry.register("text")
class TextType(FieldType):
    """Single-line text; the base of textarea, email, phone and url."""

    name = "text"
    sql_type = "text"
    expr_type = "text"
    multiline: ClassVar[bool] = False
    #: max length when the definition sets none
    default_max_length: ClassVar[int] = defaults.MAX_SHORT_TEXT_LENGTH
    definition_properties = dict(_LENGTH_PROPS)
    description = ("Single-line text. Surrounding whitespace is trimmed; line breaks and control "
                   f"characters are refused; at most {defaults.MAX_SHORT_TEXT_LENGTH} characters "
                   "unless max_length says otherwise.")

    @property
    def max_length(self) -> int:
        return min(self.field.get("max_length") or self.default_max_length, defaults.MAX_TEXT_LENGTH)

    def _text(self, value: Any) -> str | None:
        """Common text pipeline: type, hard length cap, trimming, control characters."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise fail(f"expected text, got {_jtype(value)}", "type")
        cap = self.max_length
        if len(value) > defaults.MAX_TEXT_LENGTH:  # refused before any other work
            raise fail(f"is too long: {len(value):,} characters, at most {cap:,} allowed", "length")
        if self.multiline:
            value = value.replace("\r\n", "\n")
            bad = _BAD_CHARS_MULTI.search(value)
        else:
            value = value.strip()
            bad = _BAD_CHARS_SINGLE.search(value)
        if bad:
            ch = bad.group()
            if ch in "\n\r" and not self.multiline:
                raise fail("line breaks are not allowed in single-line text (use a textarea field)", "format")
            raise fail(f"contains the control character U+{ord(ch):04X} at position {bad.start() + 1}", "format")
        if value == "":
            return None
        if len(value) > cap:
            raise fail(f"is too long: {len(value):,} characters, at most {cap:,} allowed", "length")
        return value

    def coerce(self, value: Any) -> Any:
        return self._text(value)

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, bool) or text is None:
            return super().parse_cell(text)
        if isinstance(text, int):  # Excel numbers in a text column: keep their digits
            return self.coerce(str(text))
        if isinstance(text, float) and math.isfinite(text):
            return self.coerce(str(int(text)) if text.is_integer() else repr(text))
        return super().parse_cell(text)

    def coerce_result(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            value = format(value, "f")
        elif isinstance(value, (dt.date, dt.time)):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        return self.coerce(value)

    def check(self, value: Any) -> None:
        if value is None:
            return
        n = len(value)
        lo, hi = self.field.get("min_length"), self.field.get("max_length")
        if lo is not None and n < lo:
            raise fail(f"is too short: {n} characters, at least {lo} required", "length")
        if hi is not None and n > hi:
            raise fail(f"is too long: {n:,} characters, at most {hi:,} allowed", "length")
        pattern = self.field.get("pattern")
        if pattern:
            try:
                rx = _compile_pattern(pattern)
            except ValueError as exc:
                raise fail(f"cannot be checked: {exc}", "invalid") from None
            if not rx.fullmatch(value):
                raise fail(f"{_show(value)} does not match the pattern {pattern!r}", "format")

    def definition_problems(self) -> list[tuple[str, str]]:
        out = []
        lo, hi = self.field.get("min_length"), self.field.get("max_length")
        if lo is not None and hi is not None and lo > hi:
            out.append(("min_length", f"min_length {lo} is greater than max_length {hi}"))
        if self.field.get("pattern") is not None:
            problem = pattern_problem(self.field["pattern"])
            if problem:
                out.append(("pattern", problem))
        return out

    def mask(self, value: Any) -> Any:
        return None if value is None else masking.mask_text(value)

    def value_schema(self) -> dict:
        schema: dict = {"type": "string", "maxLength": self.max_length}
        if self.field.get("min_length"):
            schema["minLength"] = self.field["min_length"]
        return _nullable(schema)


@registry.register("textarea")
class TextareaType(TextType):
    name = "textarea"
    multiline = True
    wide = True
    default_max_length = defaults.MAX_TEXT_LENGTH
    description = ("Multi-line text. Kept as typed (CRLF becomes LF); control characters other "
                   f"than tab and line feed are refused; at most {defaults.MAX_TEXT_LENGTH} characters.")


@registry.register("email")
class EmailType(TextType):
    name = "email"
    sensitive = True
    default_max_length = MAX_EMAIL_LENGTH
    definition_properties = {}
    description = "An email address, normalised by email-validator (domain lowercased). Sensitive."

    def coerce(self, value: Any) -> Any:
        value = self._text(value)
        if value is None:
            return None
        from email_validator import EmailNotValidError, validate_email
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise fail(f"{_show(value)} is not a valid email address: {exc}", "format") from None

    def mask(self, value: Any) -> Any:
        return None if value is None else masking.mask_email(value)

    def value_schema(self) -> dict:
        return _nullable({"type": "string", "format": "email", "maxLength": MAX_EMAIL_LENGTH})


@registry.register("phone")
class PhoneType(TextType):
    name = "phone"
    sensitive = True
    default_max_length = MAX_PHONE_LENGTH
    definition_properties = {
        "region": {"type": "string", "pattern": "^[A-Z]{2}$",
                   "description": "Region of numbers written without +country code (default CN)."},
    }
    description = ('A phone number, stored in E.164 ("+8613812345678"); numbers without a country '
                   'code are read in the field\'s region (default CN). Sensitive.')

    def coerce(self, value: Any) -> Any:
        value = self._text(value)
        if value is None:
            return None
        import phonenumbers
        region = self.field.get("region") or "CN"
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException as exc:
            raise fail(f"{_show(value)} is not a phone number: {exc}", "format") from None
        if not phonenumbers.is_valid_number(number):
            raise fail(f"{_show(value)} is not a valid phone number (region {region})", "format")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, float) and math.isfinite(text) and text.is_integer():
            text = int(text)
        if isinstance(text, int) and not isinstance(text, bool):
            return self.coerce(str(text))
        return super().parse_cell(text)

    def mask(self, value: Any) -> Any:
        return None if value is None else masking.mask_phone(value)

    def value_schema(self) -> dict:
        return _nullable({"type": "string", "maxLength": MAX_PHONE_LENGTH})


@registry.register("url")
class UrlType(TextType):
    name = "url"
    default_max_length = MAX_URL_LENGTH
    definition_properties = {}
    description = "A web address: http or https only, with a host."

    def coerce(self, value: Any) -> Any:
        value = self._text(value)
        if value is None:
            return None
        if any(c.isspace() for c in value):
            raise fail(f"{_show(value)} is not a URL: it contains whitespace", "format")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise fail(f"{_show(value)} is not a valid URL: {exc}", "format") from None
        if parts.scheme.lower() not in ("http", "https"):
            got = f"{parts.scheme}:" if parts.scheme else "no scheme"
            raise fail(f"only http and https URLs are allowed, got {got}", "format")
        if not parts.hostname:
            raise fail(f"{_show(value)} is not a valid URL: it has no host", "format")
        return value

    def value_schema(self) -> dict:
        return _nullable({"type": "string", "format": "uri", "maxLength": MAX_URL_LENGTH,
                          "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"})


# --------------------------------------------------------------------------- numbers

_NUMBER_BOUNDS = {
    "min": {"type": ["number", "string"], "pattern": _DEC_PATTERN, "description": "Smallest value."},
    "max": {"type": ["number", "string"], "pattern": _DEC_PATTERN, "description": "Largest value."},
}
_SCALE = {"type": "integer", "minimum": 0, "maximum": 10, "description": "Decimal places."}


@registry.register("number")
class NumberType(FieldType):
    """Exact decimal numbers; the base of decimal, money and percent."""

    name = "number"
    sql_type = "number"
    expr_type = "number"
    #: decimal places when the definition sets no "scale" (None: any, trailing zeros dropped)
    default_scale: ClassVar[int | None] = None
    definition_properties = {**_NUMBER_BOUNDS, "scale": _SCALE}
    description = ("A number (exact decimal, at most 15 digits). JSON numbers or decimal strings "
                   "(\"12.5\") are accepted; returned as a string. With `scale`, more decimals "
                   "are refused and fewer are padded.")

    @cached_property
    def scale(self) -> int | None:
        """Decimal places of the stored value (None = as given)."""
        scale = self.field.get("scale", self.default_scale)
        return None if scale is None else int(scale)

    # -- parsing
    def _decimal(self, value: Any, cell: bool = False) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, bool):
            raise fail(f"expected a number, got a boolean ({str(value).lower()})", "type")
        if isinstance(value, int):
            if abs(value) >= 10 ** defaults.MAX_NUMBER_DIGITS:
                raise fail(f"has too many digits: at most {defaults.MAX_NUMBER_DIGITS} digits are "
                           "allowed (integer part and decimals together)", "digits")
            return Decimal(value)
        if isinstance(value, float):
            if math.isnan(value):
                raise fail("NaN is not a number", "range")
            if math.isinf(value):
                raise fail("expected a finite number, got infinity (a literal such as 1e309 "
                           "overflows)", "range")
            return Decimal(repr(value))
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise fail(f"expected a finite number, got {value}", "range")
            return value
        if isinstance(value, str):
            text = value.strip()
            if cell:
                text = self._clean_cell_text(text)
            if text == "":
                return None
            if len(text) > MAX_NUMBER_TEXT:
                raise fail(f"is not a number: {len(text):,} characters of text", "format")
            if text.lower() in _NON_FINITE:
                raise fail(f"{text!r} is not allowed: expected a finite number", "range")
            if not _DEC_RE.match(text):
                raise fail(f"{_show(text)} is not a number", "format")
            try:
                return Decimal(text)
            except InvalidOperation:  # an exponent beyond what Decimal can hold, e.g. 0E1000000000000000000
                raise fail(f"{_show(text)} is out of range: its exponent is too large", "range") from None
        raise fail(f"expected a number, got {_jtype(value)}", "type")

    def _clean_cell_text(self, text: str) -> str:
        """Cell text without thousands separators and currency signs."""
        return re.sub(r"^[¥￥$€£]|^(CNY|RMB|USD|EUR)\s*|,", "", text).strip()

    def _fit(self, d: Decimal, rounding: bool = False) -> Decimal:
        """Digit and scale checks (or rounding for computed values); the value at its scale."""
        int_digits, places = _digit_counts(d)
        limit = defaults.MAX_NUMBER_DIGITS
        if int_digits > limit:
            raise fail(f"{_show_num(d)} has too many digits: {int_digits} before the decimal point, "
                       f"at most {limit} digits are allowed", "digits")
        scale = self.scale
        if rounding:
            allowed = limit - int_digits if scale is None else min(scale, limit)
            if places > allowed:
                d = d.quantize(Decimal(1).scaleb(-allowed), rounding=ROUND_HALF_UP)
                int_digits, places = _digit_counts(d)
                if int_digits > limit:
                    raise fail(f"{_show_num(d)} has too many digits", "digits")
        if int_digits + places > limit:
            raise fail(f"{_show_num(d)} has too many digits: {int_digits + places}, at most {limit} "
                       "are allowed (integer part and decimals together)", "digits")
        if scale is not None and places > scale:
            raise fail(f"{_show_num(d)} has {places} decimal places, at most {scale} allowed", "scale")
        if scale is None:
            d = d.quantize(Decimal(1).scaleb(-places))
        else:
            d = d.quantize(Decimal(1).scaleb(-scale))
        return d.copy_abs() if d.is_zero() else d

    def coerce(self, value: Any) -> Any:
        d = self._decimal(value)
        return None if d is None else self._fit(d)

    def coerce_result(self, value: Any) -> Any:
        d = self._decimal(value)
        return None if d is None else self._fit(d, rounding=True)

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, bool):
            raise fail(f"expected a number, got a boolean ({str(text).lower()})", "type")
        if isinstance(text, str):
            d = self._decimal(text, cell=True)
            return None if d is None else self._fit(d)
        return super().parse_cell(text)

    def check(self, value: Any) -> None:
        if value is None:
            return
        lo = _decimal_from_definition(self.field.get("min"))
        hi = _decimal_from_definition(self.field.get("max"))
        if lo is not None and value < lo:
            raise fail(f"must be at least {self._show_bound(lo)}, got {self._show_bound(value)}", "range")
        if hi is not None and value > hi:
            raise fail(f"must be at most {self._show_bound(hi)}, got {self._show_bound(value)}", "range")

    def _show_bound(self, d: Decimal) -> str:
        return format(d, "f")

    def definition_problems(self) -> list[tuple[str, str]]:
        lo = _decimal_from_definition(self.field.get("min"))
        hi = _decimal_from_definition(self.field.get("max"))
        if lo is not None and hi is not None and lo > hi:
            return [("min", f"min {lo} is greater than max {hi}")]
        return []

    # -- storage and API
    def to_storage(self, value: Any) -> Any:
        if value is None:
            return None
        if value == value.to_integral_value():
            return int(value)
        f = float(value)
        if Decimal(repr(f)) != value:  # cannot happen for <= 15 digits; never store inexactly
            raise fail(f"{value} cannot be stored exactly", "digits")
        return f

    def from_storage(self, stored: Any) -> Any:
        # hot path of every read: stored numbers are JSON ints/floats of <= 15 digits
        cls = stored.__class__
        if cls is int:
            d = Decimal(stored)
        elif cls is float:
            # repr is the shortest exact spelling: no trailing fractional zeros to strip
            d = Decimal(int(stored)) if stored.is_integer() else Decimal(repr(stored))
        elif stored is None:
            return None
        elif isinstance(stored, (str, Decimal)) or (isinstance(stored, int) and cls is not bool):
            d = Decimal(stored)
            if self.scale is None:
                _i, places = _digit_counts(d)
                return d.quantize(_quantum(places))
        else:
            raise fail(f"stored value {_show(stored)} is not a number", "type")
        scale = self.scale
        if scale is None:
            return d
        # a later, smaller scale rounds on read (the migration decides; never raise here)
        return d.quantize(_quantum(scale), rounding=ROUND_HALF_UP)

    def to_json(self, value: Any) -> Any:
        return None if value is None else format(value, "f")

    def mask(self, value: Any) -> Any:
        return None if value is None else "***"

    def value_schema(self) -> dict:
        return {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _DEC_PATTERN},
                          {"type": "null"}],
                "description": "a decimal; returned as a string such as \"12.50\""}


def _show_num(d: Decimal) -> str:
    text = format(d, "f") if abs(d.as_tuple().exponent) < 40 else str(d)  # type: ignore[arg-type]
    return text if len(text) <= 40 else str(d)


@registry.register("decimal")
class DecimalType(NumberType):
    name = "decimal"
    default_scale = 2
    description = ("An exact decimal with a fixed number of decimal places (`scale`, default 2); "
                   "more decimals are refused, fewer are padded.")


@registry.register("money")
class MoneyType(NumberType):
    name = "money"
    default_scale = 2
    definition_properties = {
        **NumberType.definition_properties,
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                     "description": "ISO 4217 currency code (default CNY)."},
    }
    description = ("An amount of money: exact decimal with `scale` decimal places (default 2) in "
                   "`currency` (default CNY). Never a float; more decimals are refused.")

    @property
    def currency(self) -> str:
        return self.field.get("currency") or "CNY"


@registry.register("percent")
class PercentType(NumberType):
    name = "percent"
    definition_properties = {
        **_NUMBER_BOUNDS,
        "scale": {**_SCALE, "description": "Decimal places of the percentage (2 -> 12.34 %)."},
    }
    description = ("A percentage stored as a fraction (0.125 = 12.5 %); cells may say \"12.5%\". "
                   "`scale` counts the decimals of the percentage; min/max are fractions.")

    @cached_property
    def scale(self) -> int | None:
        scale = self.field.get("scale")
        return None if scale is None else int(scale) + 2

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, str) and text.strip().endswith(("%", "％")):
            d = self._decimal(text.strip()[:-1])
            return None if d is None else self._fit(d.scaleb(-2))
        return super().parse_cell(text)


# --------------------------------------------------------------------------- boolean

_TRUE_WORDS = {"true", "yes", "1", "是", "y", "t"}
_FALSE_WORDS = {"false", "no", "0", "否", "n", "f"}


@registry.register("boolean")
class BooleanType(FieldType):
    name = "boolean"
    sql_type = "boolean"
    expr_type = "boolean"
    description = "true or false (cells also accept yes/no, 1/0, 是/否)."

    def coerce(self, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        raise fail(f"expected true or false, got {_jtype(value)} {_show(value)}", "type")

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, bool) or text is None:
            return text
        if isinstance(text, (int, float)) and text in (0, 1):
            return bool(text)
        if isinstance(text, str):
            word = text.strip().casefold()
            if word == "":
                return None
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
        raise fail(f"{_show(text)} is not a yes/no value: use true/false, yes/no, 1/0 or 是/否", "format")

    def mask(self, value: Any) -> Any:
        return None if value is None else "***"

    def value_schema(self) -> dict:
        return {"type": ["boolean", "null"]}


# --------------------------------------------------------------------------- dates and times

_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_CELL_DATE_RE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DATETIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(Z|[+-]\d{2}:?\d{2})?")
_CELL_DATETIME_RE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?")
_CELL_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def _date_of(y: str, m: str, d: str, original: str) -> dt.date:
    try:
        return dt.date(int(y), int(m), int(d))
    except ValueError as exc:
        raise fail(f"{_show(original)} is not a valid date: {exc}", "format") from None


class _TemporalType(FieldType):
    """Shared min/max handling of date, datetime and time."""

    kind: ClassVar[str] = "date"

    def _bound(self, prop: str):
        raw = self.field.get(prop)
        if raw is None:
            return None
        try:
            return self.coerce(raw)
        except FieldValueError:
            return None

    def check(self, value: Any) -> None:
        if value is None:
            return
        lo, hi = self._bound("min"), self._bound("max")
        if lo is not None and value < lo:
            raise fail(f"must be on or after {lo.isoformat()}, got {value.isoformat()}", "range")
        if hi is not None and value > hi:
            raise fail(f"must be on or before {hi.isoformat()}, got {value.isoformat()}", "range")

    def definition_problems(self) -> list[tuple[str, str]]:
        out = []
        for prop in ("min", "max"):
            if self.field.get(prop) is not None:
                try:
                    self.coerce(self.field[prop])
                except FieldValueError as exc:
                    out.append((prop, f"{prop}: {exc.message}"))
        lo, hi = self._bound("min"), self._bound("max")
        if lo is not None and hi is not None and lo > hi:
            out.append(("min", f"min {lo.isoformat()} is after max {hi.isoformat()}"))
        return out

    def to_storage(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def to_json(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def mask(self, value: Any) -> Any:
        return None if value is None else "***"


@registry.register("date")
class DateType(_TemporalType):
    name = "date"
    sql_type = "date"
    expr_type = "date"
    definition_properties = {
        "min": {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$",
                "description": "Earliest date (YYYY-MM-DD)."},
        "max": {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$",
                "description": "Latest date (YYYY-MM-DD)."},
    }
    description = ("A calendar date, \"YYYY-MM-DD\" in JSON; cells also accept 2026/12/05, "
                   "2026年12月5日 and Excel dates.")

    def coerce(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            raise fail(f"expected a date, got a date and time {value.isoformat()}", "type")
        if isinstance(value, dt.date):
            return value
        if not isinstance(value, str):
            raise fail(f"expected a date (YYYY-MM-DD), got {_jtype(value)}", "type")
        if value == "":
            return None
        m = _DATE_RE.fullmatch(value) if len(value) == 10 else None
        if not m:
            raise fail(f"{_show(value)} is not a date: use YYYY-MM-DD", "format")
        return _date_of(*m.groups(), value)

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, dt.datetime):
            if text.time() != dt.time(0):
                raise fail(f"expected a date, got a date and time {text.isoformat()}", "type")
            return text.date()
        if isinstance(text, str):
            value = text.strip()
            if value == "":
                return None
            m = _CELL_DATE_RE.fullmatch(value) if len(value) <= 20 else None
            if not m:
                raise fail(f"{_show(value)} is not a date: use YYYY-MM-DD", "format")
            return _date_of(*m.groups(), value)
        return super().parse_cell(text)

    def from_storage(self, stored: Any) -> Any:
        return None if stored is None else dt.date.fromisoformat(stored)

    def value_schema(self) -> dict:
        return {"type": ["string", "null"], "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}


@registry.register("datetime")
class DateTimeType(_TemporalType):
    name = "datetime"
    sql_type = "datetime"
    expr_type = "datetime"
    #: the instance time zone (set from the configuration at startup)
    timezone: ClassVar[str] = defaults.TIMEZONE
    definition_properties = {
        "min": {"type": "string", "description": "Earliest date and time (ISO 8601)."},
        "max": {"type": "string", "description": "Latest date and time (ISO 8601)."},
        "timezone": {"type": "string", "minLength": 1,
                     "description": "IANA zone aware inputs are converted to (default: the instance's)."},
    }
    description = ("A date and time, ISO 8601 (\"2026-12-05T09:30:00\", optional Z/+08:00 offset). "
                   "Stored naive in the instance time zone; offsets are converted to it.")

    @property
    def zone(self) -> ZoneInfo:
        name = self.field.get("timezone") or type(self).timezone
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise fail(f"unknown time zone {name!r}", "invalid") from None

    def _localize(self, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is not None and value.utcoffset() is not None:
            value = value.astimezone(self.zone).replace(tzinfo=None)
        return value.replace(tzinfo=None)

    def coerce(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return self._localize(value)
        if not isinstance(value, str):
            raise fail(f"expected a date and time (ISO 8601), got {_jtype(value)}", "type")
        if value == "":
            return None
        m = _DATETIME_RE.fullmatch(value) if len(value) <= 40 else None
        if not m:
            raise fail(f"{_show(value)} is not a date and time: use YYYY-MM-DDTHH:MM:SS "
                       "(optionally with Z or +08:00)", "format")
        date_part, time_part, offset = m.groups()
        text = f"{date_part}T{time_part}"
        if offset:
            text += "+00:00" if offset == "Z" else (offset if ":" in offset else offset[:3] + ":" + offset[3:])
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise fail(f"{_show(value)} is not a valid date and time: {exc}", "format") from None
        return self._localize(parsed)

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, dt.datetime):
            return self._localize(text)
        if isinstance(text, dt.date):
            return dt.datetime.combine(text, dt.time(0))
        if isinstance(text, str):
            value = text.strip()
            if value == "":
                return None
            if _DATETIME_RE.fullmatch(value):
                return self.coerce(value)
            m = _CELL_DATETIME_RE.fullmatch(value) if len(value) <= 40 else None
            if not m:
                raise fail(f"{_show(value)} is not a date and time: use YYYY-MM-DD HH:MM[:SS]", "format")
            y, mo, d, h, mi, s = m.groups()
            day = _date_of(y, mo, d, value)
            try:
                return dt.datetime.combine(day, dt.time(int(h or 0), int(mi or 0), int(s or 0)))
            except ValueError as exc:
                raise fail(f"{_show(value)} is not a valid time of day: {exc}", "format") from None
        return super().parse_cell(text)

    def from_storage(self, stored: Any) -> Any:
        return None if stored is None else dt.datetime.fromisoformat(stored)

    def value_schema(self) -> dict:
        return {"type": ["string", "null"],
                "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$"}


@registry.register("time")
class TimeType(_TemporalType):
    name = "time"
    sql_type = "text"
    expr_type = "time"
    definition_properties = {
        "min": {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$", "description": "Earliest time."},
        "max": {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$", "description": "Latest time."},
    }
    description = "A time of day, \"HH:MM\" or \"HH:MM:SS\" (24 hours); stored as \"HH:MM:SS\"."

    def _time(self, m: re.Match, original: str) -> dt.time:
        h, mi, s = m.groups()
        try:
            return dt.time(int(h), int(mi), int(s or 0))
        except ValueError as exc:
            raise fail(f"{_show(original)} is not a valid time: {exc}", "format") from None

    def coerce(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dt.time):
            if value.tzinfo is not None or value.microsecond:
                raise fail(f"expected a time without fractions of a second or zone, got {value}", "format")
            return value
        if not isinstance(value, str):
            raise fail(f"expected a time (HH:MM[:SS]), got {_jtype(value)}", "type")
        if value == "":
            return None
        m = _TIME_RE.fullmatch(value) if len(value) <= 8 else None
        if not m:
            raise fail(f"{_show(value)} is not a time: use HH:MM or HH:MM:SS", "format")
        return self._time(m, value)

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, str):
            value = text.strip()
            m = _CELL_TIME_RE.fullmatch(value) if len(value) <= 8 else None
            if m:
                return self._time(m, value)
        return super().parse_cell(text)

    def to_storage(self, value: Any) -> Any:
        return None if value is None else value.isoformat(timespec="seconds")

    to_json = to_storage

    def from_storage(self, stored: Any) -> Any:
        return None if stored is None else dt.time.fromisoformat(stored)

    def value_schema(self) -> dict:
        return {"type": ["string", "null"], "pattern": r"^\d{2}:\d{2}(:\d{2})?$"}


# --------------------------------------------------------------------------- options

_OPTIONS = {
    "type": "array", "minItems": 1, "maxItems": 1_000,
    "items": {"anyOf": [
        {"type": "string", "minLength": 1, "maxLength": defaults.MAX_SHORT_TEXT_LENGTH},
        {"type": "object", "required": ["value"], "additionalProperties": False,
         "properties": {"value": {"type": "string", "minLength": 1,
                                  "maxLength": defaults.MAX_SHORT_TEXT_LENGTH},
                        "label": {"$ref": "#/$defs/text"},
                        "color": {"type": "string"}}},
    ]},
    "description": "The choices: strings, or {\"value\", \"label\"} objects.",
}


@registry.register("select")
class SelectType(FieldType):
    """One of the options; the base of multiselect."""

    name = "select"
    sql_type = "text"
    expr_type = "text"
    definition_properties = {"options": _OPTIONS}
    definition_required = ("options",)
    description = ("One of the `options` (the stored value is the option's value). Cells may "
                   "also give an option's label.")

    @property
    def options(self) -> list[str]:
        """The option values, in order."""
        return [o["value"] if isinstance(o, dict) else o for o in (self.field.get("options") or [])]

    def _labels(self) -> dict[str, str]:
        """label text -> value, every language of every labelled option."""
        out: dict[str, str] = {}
        for o in self.field.get("options") or []:
            if isinstance(o, dict) and o.get("label") is not None:
                label = o["label"]
                for text in (label.values() if isinstance(label, dict) else [label]):
                    out.setdefault(str(text), o["value"])
        return out

    def _option(self, value: Any, cell: bool = False) -> str:
        if not isinstance(value, str):
            raise fail(f"expected an option (text), got {_jtype(value)}", "type")
        options = self.options
        if value in options:
            return value
        if cell:
            text = value.strip()
            if text in options:
                return text
            labels = self._labels()
            if text in labels:
                return labels[text]
            folded = [o for o in [*options, *labels] if o.casefold() == text.casefold()]
            if len({labels.get(f, f) for f in folded}) == 1:
                return labels.get(folded[0], folded[0])
        shown = ", ".join(repr(o) for o in options[:MAX_OPTIONS_SHOWN])
        if len(options) > MAX_OPTIONS_SHOWN:
            shown += f", ... ({len(options)} options)"
        raise fail(f"{_show(value)} is not one of the options{_did_you_mean(value, options)}; "
                   f"options: {shown}", "option")

    def coerce(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        return self._option(value)

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(int(text)) if float(text).is_integer() else repr(text)
        if text is None or (isinstance(text, str) and text.strip() == ""):
            return None
        return self._option(text, cell=True)

    def check(self, value: Any) -> None:
        if value is not None and value not in self.options:  # the options changed meanwhile
            self._option(value)

    def definition_problems(self) -> list[tuple[str, str]]:
        seen, out = set(), []
        for v in self.options:
            if v in seen:
                out.append(("options", f"option {v!r} is listed twice"))
            seen.add(v)
        return out

    def value_schema(self) -> dict:
        return {"enum": [*self.options, None]}


_MULTI_SPLIT = re.compile(r"[,，;；\n]")


@registry.register("multiselect")
class MultiSelectType(SelectType):
    name = "multiselect"
    sql_type = None
    expr_type = "list"
    definition_properties = {
        "options": _OPTIONS,
        "min_selected": {"type": "integer", "minimum": 0, "description": "Fewest options to choose."},
        "max_selected": {"type": "integer", "minimum": 1, "description": "Most options to choose."},
    }
    description = ("Several of the `options`, as a list without duplicates (in the given order). "
                   "Cells separate them with commas or semicolons.")

    def _list(self, items: list, cell: bool) -> list[str] | None:
        out: list[str] = []
        for i, item in enumerate(items):
            try:
                v = self._option(item, cell)
            except FieldValueError as exc:
                raise _nested(exc, i, f"item {i + 1}") from None
            if v in out:
                raise fail(f"option {v!r} is chosen twice", "duplicate", [i])
            out.append(v)
        return out or None

    def coerce(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise fail(f"expected a list of options, got {_jtype(value)}", "type")
        if len(value) > len(self.options):
            raise fail(f"has {len(value)} items but there are only {len(self.options)} options", "range")
        return self._list(value, cell=False)

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, str):
            if len(text) > defaults.MAX_TEXT_LENGTH:
                raise fail(f"is too long: {len(text):,} characters", "length")
            parts = [p.strip() for p in _MULTI_SPLIT.split(text)]
            return self._list([p for p in parts if p], cell=True)
        if text is None:
            return None
        return self._list([super().parse_cell(text)], cell=False)

    def check(self, value: Any) -> None:
        if value is None:
            return
        for item in value:
            SelectType.check(self, item)
        lo, hi = self.field.get("min_selected"), self.field.get("max_selected")
        if lo is not None and len(value) < lo:
            raise fail(f"choose at least {lo} options, got {len(value)}", "range")
        if hi is not None and len(value) > hi:
            raise fail(f"choose at most {hi} options, got {len(value)}", "range")

    def to_storage(self, value: Any) -> Any:
        return None if value is None else list(value)

    def mask(self, value: Any) -> Any:
        return None if value is None else [masking.mask_text(v) for v in value]

    def value_schema(self) -> dict:
        return {"type": ["array", "null"], "items": {"enum": self.options}, "uniqueItems": True}


# --------------------------------------------------------------------------- references

class ReferenceType(FieldType):
    """Id(s) of users, departments or records: a string, or a list with "multiple": true."""

    noun: ClassVar[str] = "id"
    single_expr_type: ClassVar[str] = "text"
    multi_expr_type: ClassVar[str] = "list"
    definition_properties = {"multiple": {"type": "boolean", "description": "Allow several."}}

    def __init__(self, field: dict):
        super().__init__(field)
        # per-instance: a list is not a SQL scalar
        self.sql_type = None if self.multiple else "text"  # type: ignore[misc]
        self.expr_type = self.multi_expr_type if self.multiple else self.single_expr_type  # type: ignore[misc]

    @property
    def multiple(self) -> bool:
        return bool(self.field.get("multiple"))

    def _id(self, value: Any) -> str:
        if not isinstance(value, str):
            raise fail(f"expected a {self.noun} (text), got {_jtype(value)}", "type")
        if len(value) > MAX_ID_LENGTH or not _ID_RE.fullmatch(value):
            raise fail(f"{_show(value)} is not a valid {self.noun}", "format")
        return value

    def coerce(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not self.multiple:
            if isinstance(value, list):
                raise fail(f"expected one {self.noun}, got a list (the field is not multiple)", "type")
            return self._id(value)
        if not isinstance(value, list):
            raise fail(f"expected a list of {self.noun}s, got {_jtype(value)}", "type")
        if len(value) > defaults.MAX_LINKS:
            raise fail(f"has {len(value):,} items, at most {defaults.MAX_LINKS:,} allowed", "range")
        out: list[str] = []
        for i, item in enumerate(value):
            try:
                v = self._id(item)
            except FieldValueError as exc:
                raise _nested(exc, i, f"item {i + 1}") from None
            if v in out:
                raise fail(f"{v!r} is listed twice", "duplicate", [i])
            out.append(v)
        return out or None

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, str) and self.multiple:
            if len(text) > defaults.MAX_TEXT_LENGTH:
                raise fail(f"is too long: {len(text):,} characters", "length")
            return self.coerce([p.strip() for p in _MULTI_SPLIT.split(text) if p.strip()])
        if isinstance(text, str):
            text = text.strip()
        return super().parse_cell(text)

    def to_storage(self, value: Any) -> Any:
        return list(value) if isinstance(value, list) else value

    def value_schema(self) -> dict:
        one = {"type": "string", "pattern": _ID_PATTERN}
        if self.multiple:
            return {"type": ["array", "null"], "items": one, "uniqueItems": True,
                    "maxItems": defaults.MAX_LINKS}
        return _nullable(one)


@registry.register("user")
class UserType(ReferenceType):
    name = "user"
    noun = "user id"
    description = "A user's id (a list of ids with `multiple`). The engine checks the users exist."


@registry.register("department")
class DepartmentType(ReferenceType):
    name = "department"
    noun = "department id"
    description = "A department's id (a list with `multiple`). The engine checks they exist."


@registry.register("link")
class LinkType(ReferenceType):
    name = "link"
    noun = "record id"
    expr_type = "record"
    single_expr_type = "record"
    multi_expr_type = "records"
    definition_properties = {
        "target": {"type": "string", "pattern": r"^[^\W\d]\w{0,62}(\.[^\W\d]\w{0,62})?$",
                   "description": "The linked form: \"form\" in this app or \"app.form\"."},
        "multiple": {"type": "boolean", "description": "Link several records."},
        "display_field": {"$ref": "#/$defs/key",
                          "description": "Key of the target field shown for a linked record."},
    }
    definition_required = ("target",)
    description = (f"One record of another form (possibly in another app), or up to "
                   f"{defaults.MAX_LINKS} with `multiple`; stored as record ids.")


# --------------------------------------------------------------------------- objects

def _check_keys(value: dict, allowed: tuple[str, ...], what: str) -> None:
    for k in value:
        if k not in allowed:
            hint = _did_you_mean(str(k), list(allowed))
            raise fail(f"unknown key {_show(k)} in {what}{hint}; allowed: {', '.join(allowed)}",
                       "unknown", [k])


@registry.register("attachment")
class AttachmentType(FieldType):
    """Files; the base of image."""

    name = "attachment"
    sql_type = None
    expr_type = "list"
    file_keys: ClassVar[tuple[str, ...]] = ("id", "name", "size", "content_type")
    definition_properties = {
        "max_files": {"type": "integer", "minimum": 1, "maximum": MAX_FILES,
                      "description": "Most files."},
        "max_size": {"type": "integer", "minimum": 1, "description": "Largest file, in bytes."},
        "accept": {"type": "array", "items": {"type": "string", "pattern": _CONTENT_TYPE_PATTERN},
                   "description": "Accepted content types; \"image/*\" style wildcards allowed."},
    }
    description = (f"Uploaded files (at most {MAX_FILES}): a list of {{\"id\", \"name\", \"size\", "
                   "\"content_type\"}} objects referring to stored files.")

    def _file(self, item: Any) -> dict:
        if not isinstance(item, dict):
            raise fail(f"expected a file object, got {_jtype(item)}", "type")
        _check_keys(item, self.file_keys, "a file")
        for k in self.file_keys:
            if item.get(k) is None:
                raise fail(f"{k}: is required", "required", [k])
        fid, name, size, ctype = item["id"], item["name"], item["size"], item["content_type"]
        if not isinstance(fid, str) or len(fid) > MAX_ID_LENGTH or not _ID_RE.fullmatch(fid):
            raise fail(f"id: {_show(fid)} is not a valid file id", "format", ["id"])
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_FILE_NAME \
                or _BAD_CHARS_SINGLE.search(name) or "/" in name or "\\" in name:
            raise fail(f"name: {_show(name)} is not a valid file name (1-{MAX_FILE_NAME} characters, "
                       "no slashes or control characters)", "format", ["name"])
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise fail(f"size: expected a whole number of bytes, got {_show(size)}", "type", ["size"])
        if not isinstance(ctype, str) or len(ctype) > 255 or not _CONTENT_TYPE_RE.fullmatch(ctype) \
                or "*" in ctype:
            raise fail(f"content_type: {_show(ctype)} is not a content type", "format", ["content_type"])
        self._check_content_type(ctype)
        return {"id": fid, "name": name, "size": size, "content_type": ctype.lower()}

    def _check_content_type(self, ctype: str) -> None:
        pass

    def coerce(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise fail(f"expected a list of files, got {_jtype(value)}", "type")
        if len(value) > MAX_FILES:
            raise fail(f"has {len(value)} files, at most {MAX_FILES} allowed", "range")
        out, ids = [], set()
        for i, item in enumerate(value):
            try:
                f = self._file(item)
            except FieldValueError as exc:
                raise _nested(exc, i, f"file {i + 1}") from None
            if f["id"] in ids:
                raise fail(f"file {i + 1}: file {f['id']!r} is listed twice", "duplicate", [i])
            ids.add(f["id"])
            out.append(f)
        return out or None

    def parse_cell(self, text: Any) -> Any:
        return _json_list_cell(self.coerce, text, "files", "files", "a JSON list of uploaded files")

    def check(self, value: Any) -> None:
        if value is None:
            return
        most = self.field.get("max_files")
        if most is not None and len(value) > most:
            raise fail(f"has {len(value)} files, at most {most} allowed", "range")
        max_size = self.field.get("max_size")
        accept = [a.lower() for a in self.field.get("accept") or []]
        for i, f in enumerate(value):
            if max_size is not None and f["size"] > max_size:
                raise fail(f"file {i + 1}: {f['name']!r} is {f['size']:,} bytes, at most "
                           f"{max_size:,} allowed", "range", [i, "size"])
            if accept and not any(_type_matches(f["content_type"], a) for a in accept):
                raise fail(f"file {i + 1}: content type {f['content_type']!r} is not accepted "
                           f"(accepted: {', '.join(accept)})", "format", [i, "content_type"])

    def to_storage(self, value: Any) -> Any:
        return None if value is None else [dict(f) for f in value]

    def mask(self, value: Any) -> Any:
        if value is None:
            return None
        return [{**f, "name": masking.mask_text(f["name"])} for f in value]

    def value_schema(self) -> dict:
        return {"type": ["array", "null"], "maxItems": MAX_FILES, "items": {
            "type": "object", "additionalProperties": False,
            "required": list(self.file_keys),
            "properties": {"id": {"type": "string", "pattern": _ID_PATTERN},
                           "name": {"type": "string", "minLength": 1, "maxLength": MAX_FILE_NAME},
                           "size": {"type": "integer", "minimum": 0},
                           "content_type": {"type": "string", "pattern": self._ctype_pattern()}}}}

    def _ctype_pattern(self) -> str:
        return _CONTENT_TYPE_PATTERN


def _type_matches(ctype: str, accepted: str) -> bool:
    if accepted.endswith("/*"):
        return ctype.startswith(accepted[:-1])
    return ctype == accepted


@registry.register("image")
class ImageType(AttachmentType):
    name = "image"
    description = (f"Uploaded images (at most {MAX_FILES}): like attachment, but every content "
                   "type must be image/*.")

    def _check_content_type(self, ctype: str) -> None:
        if not ctype.lower().startswith("image/"):
            raise fail(f"content_type: {ctype!r} is not an image type (image/*)", "format",
                       ["content_type"])

    def _ctype_pattern(self) -> str:
        return r"^[Ii][Mm][Aa][Gg][Ee]/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$"


@registry.register("address")
class AddressType(FieldType):
    name = "address"
    wide = True
    sql_type = None
    expr_type = "record"
    parts: ClassVar[tuple[str, ...]] = ("province", "city", "district", "detail")
    description = ("A postal address: {\"province\", \"city\", \"district\", \"detail\"} (text or "
                   "null each). Cells: JSON, or the parts separated by \"/\".")

    def coerce(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise fail(f"expected an address object, got {_jtype(value)}", "type")
        _check_keys(value, self.parts, "an address")
        out: dict = {}
        for part in self.parts:
            cap = MAX_ADDRESS_DETAIL if part == "detail" else MAX_ADDRESS_PART
            v = value.get(part)
            if v is not None:
                if not isinstance(v, str):
                    raise fail(f"{part}: expected text, got {_jtype(v)}", "type", [part])
                if len(v) > cap:
                    raise fail(f"{part}: is too long: {len(v):,} characters, at most {cap} allowed",
                               "length", [part])
                v = v.strip()
                bad = _BAD_CHARS_SINGLE.search(v)
                if bad:
                    raise fail(f"{part}: contains the control character U+{ord(bad.group()):04X}",
                               "format", [part])
            out[part] = v or None
        return out if any(out.values()) else None

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, str):
            text = text.strip()
            if text.startswith("{"):
                return _json_cell(self.coerce, text, "a JSON address object")
            if not text:
                return None
            if len(text) > MAX_ADDRESS_DETAIL + 3 * MAX_ADDRESS_PART + 3:
                raise fail(f"is too long: {len(text):,} characters", "length")
            pieces = text.split("/", 3)
            return self.coerce(dict(zip(self.parts, [*pieces, None, None, None][:4])))
        return super().parse_cell(text)

    def to_storage(self, value: Any) -> Any:
        return None if value is None else dict(value)

    def value_schema(self) -> dict:
        props = {p: {"type": ["string", "null"],
                     "maxLength": MAX_ADDRESS_DETAIL if p == "detail" else MAX_ADDRESS_PART}
                 for p in self.parts}
        return {"type": ["object", "null"], "properties": props, "additionalProperties": False}


_COORD = NumberType({"key": "_coordinate", "type": "number"})


@registry.register("location")
class LocationType(FieldType):
    name = "location"
    sql_type = None
    expr_type = "record"
    description = ("A point on the map: {\"lng\", \"lat\"} (numbers or decimal strings; "
                   "lng in [-180, 180], lat in [-90, 90]). Cells: \"lng,lat\".")
    ranges: ClassVar[dict[str, int]] = {"lng": 180, "lat": 90}

    def coerce(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise fail(f"expected a location object {{\"lng\", \"lat\"}}, got {_jtype(value)}", "type")
        _check_keys(value, ("lng", "lat"), "a location")
        if value.get("lng") is None and value.get("lat") is None:
            return None
        out = {}
        for part, limit in self.ranges.items():
            if value.get(part) is None:
                raise fail(f"{part}: is required", "required", [part])
            try:
                d = _COORD.coerce(value[part])
            except FieldValueError as exc:
                raise _nested(exc, part, part) from None
            if abs(d) > limit:
                raise fail(f"{part}: must be between -{limit} and {limit}, got {format(d, 'f')}",
                           "range", [part])
            out[part] = d
        return out

    def parse_cell(self, text: Any) -> Any:
        if isinstance(text, str):
            text = text.strip()
            if text.startswith("{"):
                return _json_cell(self.coerce, text, "a JSON location object")
            if not text:
                return None
            pieces = [p.strip() for p in re.split(r"[,，]", text[:MAX_NUMBER_TEXT * 2 + 1])]
            if len(pieces) != 2 or len(text) > MAX_NUMBER_TEXT * 2:
                raise fail(f"{_show(text)} is not a location: use \"lng,lat\"", "format")
            return self.coerce({"lng": pieces[0], "lat": pieces[1]})
        return super().parse_cell(text)

    def to_storage(self, value: Any) -> Any:
        return None if value is None else {k: _COORD.to_storage(v) for k, v in value.items()}

    def from_storage(self, stored: Any) -> Any:
        return None if stored is None else {k: _COORD.from_storage(v) for k, v in stored.items()}

    def to_json(self, value: Any) -> Any:
        return None if value is None else {k: format(v, "f") for k, v in value.items()}

    def mask(self, value: Any) -> Any:
        return None if value is None else {"lng": "***", "lat": "***"}

    def value_schema(self) -> dict:
        num = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _DEC_PATTERN}]}
        return {"type": ["object", "null"], "required": ["lng", "lat"], "additionalProperties": False,
                "properties": {"lng": num, "lat": num}}


# --------------------------------------------------------------------------- subform

_ROW_ID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$"
_ROW_ID_RE = re.compile(_ROW_ID_PATTERN[1:-1])


def new_row_id() -> str:
    """A new subform row id (ULID text)."""
    from ulid import ULID
    return str(ULID())


@registry.register("subform")
class SubformType(FieldType):
    name = "subform"
    wide = True
    sql_type = None
    expr_type = "records"
    definition_properties = {
        "fields": {"type": "array", "description": "The child fields of each row (no nested subforms)."},
        "min_rows": {"type": "integer", "minimum": 0, "maximum": defaults.MAX_SUBFORM_ROWS,
                     "description": "Fewest rows."},
        "max_rows": {"type": "integer", "minimum": 1, "maximum": defaults.MAX_SUBFORM_ROWS,
                     "description": "Most rows."},
    }
    definition_required = ("fields",)
    description = (f"Child rows (at most {defaults.MAX_SUBFORM_ROWS}): a list of objects keyed by "
                   "child field key, each with a row id \"_id\" (kept when given, else assigned).")

    def __init__(self, field: dict):
        super().__init__(field)
        #: child field key -> FieldType
        self.children: dict[str, FieldType] = {
            c["key"]: field_type(c) for c in (field.get("fields") or [])}

    def _row(self, row: Any, ids: set) -> dict:
        if not isinstance(row, dict):
            raise fail(f"expected a row object, got {_jtype(row)}", "type")
        out: dict = {}
        rid = row.get("_id")
        if rid is None:
            rid = new_row_id()
        elif not isinstance(rid, str) or not _ROW_ID_RE.fullmatch(rid):
            raise fail(f"_id: {_show(rid)} is not a valid row id (a ULID)", "format", ["_id"])
        rid = rid.upper()
        if rid in ids:
            raise fail(f"_id: row id {rid!r} is used twice", "duplicate", ["_id"])
        ids.add(rid)
        out["_id"] = rid
        for k in row:
            if k != "_id" and k not in self.children:
                hint = _did_you_mean(str(k), list(self.children))
                raise fail(f"{_show(k)} is not a field of this subform{hint}", "unknown", [k])
        for k, child in self.children.items():
            if child.computed:
                continue  # the engine computes child values; given ones are ignored
            try:
                out[k] = child.coerce(row.get(k))
            except FieldValueError as exc:
                raise _nested(exc, k, k) from None
        return out

    def coerce(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise fail(f"expected a list of rows, got {_jtype(value)}", "type")
        if len(value) > defaults.MAX_SUBFORM_ROWS:
            raise fail(f"has {len(value):,} rows, at most {defaults.MAX_SUBFORM_ROWS:,} allowed", "range")
        rows, ids = [], set()
        for i, row in enumerate(value):
            try:
                rows.append(self._row(row, ids))
            except FieldValueError as exc:
                raise _nested(exc, i, f"row {i + 1}") from None
        return rows or None

    def parse_cell(self, text: Any) -> Any:
        return _json_list_cell(self.coerce, text, "rows", "subform rows", "a JSON list of rows")

    def check(self, value: Any) -> None:
        n = len(value or [])
        lo, hi = self.field.get("min_rows"), self.field.get("max_rows")
        if lo is not None and n < lo:
            raise fail(f"needs at least {lo} rows, got {n}", "range")
        if hi is not None and n > hi:
            raise fail(f"has {n} rows, at most {hi} allowed", "range")
        for i, row in enumerate(value or []):
            for k, child in self.children.items():
                if child.computed:
                    continue
                try:
                    child.check_required(row.get(k))
                    if row.get(k) is not None:
                        child.check(row[k])
                except FieldValueError as exc:
                    raise _nested(_nested(exc, k, k), i, f"row {i + 1}") from None

    def definition_problems(self) -> list[tuple[str, str]]:
        out = []
        for k, child in self.children.items():
            if isinstance(child, SubformType):
                out.append(("fields", f"{k}: a subform cannot contain another subform"))
            out.extend(("fields", f"{k}: {msg}") for _p, msg in child.definition_problems())
        lo, hi = self.field.get("min_rows"), self.field.get("max_rows")
        if lo is not None and hi is not None and lo > hi:
            out.append(("min_rows", f"min_rows {lo} is greater than max_rows {hi}"))
        return out

    def _child_ids(self) -> dict[str, str]:
        return {c["key"]: c.get("id") or c["key"] for c in (self.field.get("fields") or [])}

    def to_storage(self, value: Any) -> Any:
        if value is None:
            return None
        ids = self._child_ids()
        rows = []
        for row in value:
            stored = {"_id": row["_id"]}
            for k, v in row.items():
                if k != "_id" and k in self.children and v is not None:
                    stored[ids[k]] = self.children[k].to_storage(v)
            rows.append(stored)
        return rows

    def from_storage(self, stored: Any) -> Any:
        if stored is None:
            return None
        keys = {fid: k for k, fid in self._child_ids().items()}
        rows = []
        for srow in stored:
            row: dict = {"_id": srow["_id"]}
            for k, child in self.children.items():
                if not child.computed:
                    row[k] = None
            for fid, v in srow.items():
                k = keys.get(fid)
                if k is not None:  # ids of deleted child fields are dropped
                    row[k] = None if v is None else self.children[k].from_storage(v)
            rows.append(row)
        return rows

    def _rows_out(self, value: Any, masked: bool) -> Any:
        if value is None:
            return None
        out = []
        for row in value:
            r = {"_id": row["_id"]}
            for k, v in row.items():
                if k == "_id" or k not in self.children:
                    continue
                child = self.children[k]
                if v is None:
                    r[k] = None
                elif masked and child.is_sensitive:
                    r[k] = child.mask(v)
                else:
                    r[k] = child.to_json(v)
            out.append(r)
        return out

    def to_json(self, value: Any) -> Any:
        return self._rows_out(value, masked=False)

    def mask(self, value: Any) -> Any:
        """Rows with the sensitive children masked (a sensitive subform masks every child)."""
        if self.field.get("sensitive"):
            return _mask_json(self.to_json(value))
        return self._rows_out(value, masked=True)

    def value_schema(self) -> dict:
        props: dict = {"_id": {"type": "string", "pattern": _ROW_ID_PATTERN}}
        for k, child in self.children.items():
            props[k] = child.value_schema() or {}
        return {"type": ["array", "null"], "maxItems": defaults.MAX_SUBFORM_ROWS,
                "items": {"type": "object", "properties": props, "additionalProperties": False}}


# --------------------------------------------------------------------------- computed

_RESULT_TYPES = ("text", "number", "decimal", "money", "percent", "boolean", "date", "datetime", "time")


#: definition properties a computed field passes on to its result type
_RESULT_PROPERTIES = ("id", "key", "scale", "currency", "timezone", "region", "sensitive")


class ComputedType(FieldType):
    """A value the engine computes; `self.result` is the FieldType of its result."""

    computed = True
    default_result: ClassVar[str] = "text"
    result_types: ClassVar[tuple[str, ...]] = _RESULT_TYPES

    def __init__(self, field: dict):
        super().__init__(field)
        rt = field.get("result_type") or self.default_result
        if rt not in self.result_types or rt not in registry:
            rt = self.default_result  # reported by definition_problems()
        result_def = {k: v for k, v in field.items() if k in _RESULT_PROPERTIES}
        result_def.update({"type": rt, "key": field.get("key", "_result")})
        #: the FieldType that normalises, stores and serialises the computed value
        self.result: FieldType = registry.get(rt)(result_def)
        self.sql_type = self.result.sql_type  # type: ignore[misc]
        self.expr_type = self.result.expr_type  # type: ignore[misc]

    @property
    def is_sensitive(self) -> bool:
        return bool(self.field.get("sensitive", self.result.is_sensitive))

    def coerce(self, value: Any) -> Any:
        raise fail(f"{self.field.get('key', 'this field')} is computed ({self.name}) and cannot be "
                   "written", "computed")

    def parse_cell(self, text: Any) -> Any:
        return self.coerce(text)

    def coerce_computed(self, value: Any) -> Any:
        """The engine's computed value normalised per result_type (FieldValueError if impossible)."""
        if value is None or value == "" or value == []:
            return None
        return self.result.coerce_result(value)

    def definition_problems(self) -> list[tuple[str, str]]:
        rt = self.field.get("result_type")
        if rt is not None and rt not in self.result_types:
            return [("result_type", f"result_type {rt!r} is not one of {', '.join(self.result_types)}")]
        return []

    def to_storage(self, value: Any) -> Any:
        return self.result.to_storage(value)

    def from_storage(self, stored: Any) -> Any:
        return self.result.from_storage(stored)

    def to_json(self, value: Any) -> Any:
        return self.result.to_json(value)

    def mask(self, value: Any) -> Any:
        return self.result.mask(value)

    def value_schema(self) -> dict:
        return {**self.result.value_schema(), "readOnly": True}


def _result_type_property(types: tuple[str, ...], default: str) -> dict:
    return {"enum": list(types), "description": f"Type of the computed value (default {default})."}


@registry.register("formula")
class FormulaType(ComputedType):
    name = "formula"
    definition_properties = {
        "formula": {"$ref": "#/$defs/expression", "description": "The expression computing the value."},
        "result_type": _result_type_property(_RESULT_TYPES, "text"),
        "scale": {**_SCALE, "description": "Decimal places of a numeric result (rounded)."},
        "currency": MoneyType.definition_properties["currency"],
    }
    definition_required = ("formula",)
    description = ("Computed by an expression over the record's fields; `result_type` gives the "
                   "value type (numeric results are rounded to `scale`).")


@registry.register("lookup")
class LookupType(ComputedType):
    name = "lookup"
    #: the engine passes "text" for select and serial targets
    result_types = ("text", "textarea", "number", "decimal", "money", "percent", "boolean", "date",
                    "datetime", "time", "email", "phone", "url", "user", "department", "attachment",
                    "image", "address", "location", "link")
    definition_properties = {
        "link": {"$ref": "#/$defs/key", "description": "Key of a link field of this form."},
        "field": {"$ref": "#/$defs/key", "description": "Key of the field read in the linked form."},
        "result_type": {"enum": list(result_types),
                        "description": "Type of the looked-up field (set by the engine from the target)."},
        "scale": {**_SCALE, "description": "Decimal places of a numeric result."},
        "currency": MoneyType.definition_properties["currency"],
        "multiple": {"type": "boolean",
                     "description": "The link is multiple: the value is a list (set by the engine)."},
    }
    definition_required = ("link", "field")
    description = ("A value read through a link field from the linked record; through a multiple "
                   "link, the list of the linked records' values.")

    def __init__(self, field: dict):
        super().__init__(field)
        if self.multiple:
            self.sql_type = None  # type: ignore[misc]
            self.expr_type = "list"  # type: ignore[misc]

    @property
    def multiple(self) -> bool:
        """Set by the engine when the link is multiple: the value is a list."""
        return bool(self.field.get("multiple"))

    def coerce_computed(self, value: Any) -> Any:
        if not self.multiple:
            return super().coerce_computed(value)
        if value is None or value == []:
            return None
        if not isinstance(value, list):
            raise fail(f"expected a list of looked-up values, got {_jtype(value)}", "type")
        return [None if v is None else self.result.coerce_result(v) for v in value]

    def _each(self, fn, value):
        if value is None:
            return None
        if self.multiple:
            return [None if v is None else fn(v) for v in value]
        return fn(value)

    def to_storage(self, value: Any) -> Any:
        return self._each(self.result.to_storage, value)

    def from_storage(self, stored: Any) -> Any:
        return self._each(self.result.from_storage, stored)

    def to_json(self, value: Any) -> Any:
        return self._each(self.result.to_json, value)

    def mask(self, value: Any) -> Any:
        return self._each(self.result.mask, value)

    def value_schema(self) -> dict:
        one = self.result.value_schema()
        if self.multiple:
            return {"type": ["array", "null"], "items": one, "readOnly": True}
        return {**one, "readOnly": True}


@registry.register("serial")
class SerialType(ComputedType):
    name = "serial"
    result_types = ("text",)
    definition_properties = {
        "pattern": {"type": "string", "minLength": 1, "maxLength": serials.MAX_PATTERN_LENGTH,
                    "description": "Number pattern, e.g. \"SO-{YYYY}{MM}-{0000}\" ({YYYY} {YY} "
                                   "{MM} {DD} and one zero-padded counter)."},
    }
    definition_required = ("pattern",)
    description = ("A serial number assigned by the engine when a record is created, unique under "
                   "concurrency; the counter resets with the finest date token of the pattern.")

    def coerce_computed(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or len(value) > MAX_SERIAL_LENGTH:
            raise fail(f"expected a serial number (text), got {_show(value)}", "type")
        return value

    def format_serial(self, n: int, now: dt.date) -> str:
        """The serial number for counter value n at `now` (instance-local date/datetime)."""
        return serials.format_serial(self.field["pattern"], n, now)

    def period_key(self, now: dt.date) -> str:
        """The counter's period ("2026-12" for {YYYY}{MM}; "" never resets)."""
        return serials.period_key(self.field["pattern"], now)

    def definition_problems(self) -> list[tuple[str, str]]:
        problem = serials.validate_pattern(self.field.get("pattern"))  # type: ignore[arg-type]
        return [("pattern", problem)] if problem else []

    def value_schema(self) -> dict:
        return {"type": ["string", "null"], "readOnly": True}


_ROLLUP_FUNCTIONS = ("SUM", "COUNT", "MIN", "MAX", "AVG")


@registry.register("rollup")
class RollupType(ComputedType):
    name = "rollup"
    default_result = "number"
    result_types = ("number", "decimal", "money", "percent", "date", "datetime", "time")
    definition_properties = {
        "source": {"$ref": "#/$defs/key", "description": "Key of a subform or link field of this form."},
        "field": {"$ref": "#/$defs/key",
                  "description": "Key of the aggregated field in the rows/linked records (not for COUNT)."},
        "function": {"enum": list(_ROLLUP_FUNCTIONS), "description": "The aggregate."},
        "where": {"$ref": "#/$defs/expression",
                  "description": "Only rows/records for which this expression is TRUE."},
        "result_type": _result_type_property(("number", "decimal", "money", "percent", "date",
                                              "datetime", "time"), "number"),
        "scale": {**_SCALE, "description": "Decimal places of the result (rounded)."},
        "currency": MoneyType.definition_properties["currency"],
    }
    definition_required = ("source", "function")
    description = ("SUM, COUNT, MIN, MAX or AVG of a field over subform rows or linked records, "
                   "optionally only those matching `where`.")

    def definition_problems(self) -> list[tuple[str, str]]:
        out = super().definition_problems()
        fn = self.field.get("function")
        if fn != "COUNT" and not self.field.get("field"):
            out.append(("field", f"{fn} needs the `field` to aggregate"))
        if fn in ("SUM", "AVG", "COUNT") and self.result.expr_type != "number":
            out.append(("result_type", f"{fn} gives a number, not a {self.result.name}"))
        return out


__all__ = ["FieldType", "FieldValueError", "registry", "field_type", "fail", "error_path",
           "pattern_problem", "new_row_id"]
