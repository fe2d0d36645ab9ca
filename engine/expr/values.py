"""The value domain and the coercions N, T, L, D, equality and ordering (spec 4-6).

Values: Decimal, str, bool, date, datetime, list, dict (a linked record), None, and
`ErrorValue` during evaluation. Every helper returns an `ErrorValue` instead of
raising. Arithmetic uses the local context `CTX` (prec 28, ROUND_HALF_EVEN); the
global decimal context is never touched.
"""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, time, timedelta
from decimal import (ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation,
                     Overflow)

from .errors import DIV0, NUM, VALUE, E_DIV0, E_NUM, E_VALUE, ErrorValue

CTX = Context(prec=28, rounding=ROUND_HALF_EVEN, Emax=99999, Emin=-99999,
              traps=[InvalidOperation, DivisionByZero, Overflow])
DecimalError = (InvalidOperation, DivisionByZero, Overflow, ArithmeticError)

ZERO = Decimal(0)
ONE = Decimal(1)
MAX_TEXT = 65535          # longest text a value may have
MAX_LIST = 100_000        # longest list a value may have
MAX_EXPONENT = 65000      # |adjusted exponent| beyond which a number cannot be shown
DAY_US = Decimal(86_400_000_000)

NoneType = type(None)
#: classes that need no normalisation when read from a record
PLAIN = frozenset({Decimal, str, bool, NoneType, date, datetime})

_NUM_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_DT_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(:([0-9]{2}))?\Z")


def norm(v):
    """A record value in the language's domain (int -> Decimal, float -> Decimal(str))."""
    cls = v.__class__
    if cls in PLAIN:
        return v
    if cls is int:
        return Decimal(v)
    if cls is float:
        if v != v or v in (float("inf"), float("-inf")):
            return ErrorValue(VALUE, "a record number is not finite")
        return Decimal(str(v))
    if isinstance(v, (list, tuple)):
        if len(v) > MAX_LIST:
            return ErrorValue(VALUE, f"list longer than {MAX_LIST} items")
        if len(v) > 64:
            try:
                spend(len(v))
            except ListTooLong as e:
                return ErrorValue(VALUE, str(e))
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, Decimal):
        return Decimal(v) if v.is_finite() else ErrorValue(VALUE, "number is not finite")
    if isinstance(v, int):
        return Decimal(int(v))
    if isinstance(v, str):
        return str(v)
    if isinstance(v, datetime):
        return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)
    if isinstance(v, date):
        return date(v.year, v.month, v.day)
    if isinstance(v, time):
        return v.replace(tzinfo=None).isoformat()
    return ErrorValue(VALUE, f"unsupported value of type {type(v).__name__}")


def type_name(v) -> str:
    cls = v.__class__
    if cls is Decimal:
        return "number"
    if cls is str:
        return "text"
    if cls is bool:
        return "boolean"
    if cls is datetime:
        return "datetime"
    if cls is date:
        return "date"
    if cls is list:
        return "list"
    if cls is dict:
        return "record"
    if v is None:
        return "empty"
    return "error" if cls is ErrorValue else "value"


# ----------------------------------------------------------------- N ---------
def parse_number(s: str):
    """Decimal of a numeric literal text (rule N), or None."""
    s = s.strip()
    if _NUM_RE.match(s):
        return Decimal(s)
    return None


def to_number(v):
    """Rule N: a Decimal or an ErrorValue."""
    cls = v.__class__
    if cls is Decimal:
        return v
    if v is None:
        return ZERO
    if cls is bool:
        return ONE if v else ZERO
    if cls is str:
        if v == "":
            return ZERO
        d = parse_number(v)
        if d is not None:
            return d
        return ErrorValue(VALUE, f"text {short(v)} is not a number")
    if cls is ErrorValue:
        return v
    return ErrorValue(VALUE, f"a {type_name(v)} is not a number")


def to_int(d: Decimal) -> int:
    """Truncate toward zero, clamped to +-10**18 (no giant ints from 1E100000)."""
    if d.adjusted() > 17:
        return 10 ** 18 if d > 0 else -(10 ** 18)
    return int(d)


def int_arg(v):
    """N then truncation to an int, or an ErrorValue."""
    d = to_number(v)
    if d.__class__ is ErrorValue:
        return d
    return to_int(d)


# ----------------------------------------------------------------- T ---------
def format_number(d: Decimal):
    """General number format: positional, no exponent, no trailing zeros, -0 -> 0."""
    if not d:
        return "0"
    if abs(d.adjusted()) > MAX_EXPONENT:
        return ErrorValue(VALUE, "number too large to show as text")
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def to_text(v):
    """Rule T: a str or an ErrorValue."""
    cls = v.__class__
    if cls is str:
        return v
    if v is None:
        return ""
    if cls is Decimal:
        return format_number(v)
    if cls is bool:
        return "TRUE" if v else "FALSE"
    if cls is datetime:
        return v.strftime("%Y-%m-%d %H:%M:%S") if v.year >= 1000 else v.isoformat(" ")[:19]
    if cls is date:
        return v.isoformat()
    if cls is ErrorValue:
        return v
    return ErrorValue(VALUE, f"a {type_name(v)} cannot be used as text")


def check_text(s: str):
    if len(s) > MAX_TEXT:
        return ErrorValue(VALUE, f"text longer than {MAX_TEXT} characters")
    return s


# ----------------------------------------------------------------- L ---------
def to_bool(v):
    """Rule L: a bool or an ErrorValue."""
    cls = v.__class__
    if cls is bool:
        return v
    if cls is Decimal:
        return v != 0
    if v is None:
        return False
    if cls is str:
        if v == "":
            return False
        f = v.casefold()
        if f == "true":
            return True
        if f == "false":
            return False
        return ErrorValue(VALUE, f"text {short(v)} is not TRUE or FALSE")
    if cls is ErrorValue:
        return v
    return ErrorValue(VALUE, f"a {type_name(v)} is not TRUE or FALSE")


# ----------------------------------------------------------------- D ---------
def to_date(v):
    """Rule D: date, datetime, None (blank) or an ErrorValue."""
    cls = v.__class__
    if cls is date or cls is datetime or v is None:
        return v
    if cls is str:
        s = v.strip()
        m = _DATE_RE.match(s)
        try:
            if m:
                return date(int(m[1]), int(m[2]), int(m[3]))
            m = _DT_RE.match(s)
            if m:
                return datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]),
                                int(m[7] or 0))
        except ValueError:
            return ErrorValue(VALUE, f"text {short(v)} is not a valid date")
        return ErrorValue(VALUE, f"text {short(v)} is not a date (use YYYY-MM-DD)")
    if cls is ErrorValue:
        return v
    return ErrorValue(VALUE, f"a {type_name(v)} is not a date")


def as_datetime(d) -> datetime:
    return d if d.__class__ is datetime else datetime(d.year, d.month, d.day)


def add_days(d, n: Decimal):
    """date/datetime + n days (spec 6)."""
    try:
        if d.__class__ is date and n == n.to_integral_value():
            return d + timedelta(days=to_int(n))
        us = CTX.multiply(n, DAY_US).to_integral_value(rounding=ROUND_HALF_EVEN)
        if abs(us) > 10 ** 18:
            return E_NUM
        return as_datetime(d) + timedelta(microseconds=int(us))
    except (OverflowError, ValueError, ArithmeticError):
        return ErrorValue(NUM, "date out of range")


def days_between(a, b) -> Decimal:
    """a - b in days; exact for datetimes."""
    if a.__class__ is date and b.__class__ is date:
        return Decimal((a - b).days)
    delta = as_datetime(a) - as_datetime(b)
    us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return CTX.divide(Decimal(us), DAY_US)


# ------------------------------------------------------- equality / order ----
_BLANKISH = ("", False)


def is_blank_equal(v) -> bool:
    """Does `v` equal None under `=`?"""
    if v is None:
        return True
    cls = v.__class__
    if cls is Decimal:
        return not v
    if cls is bool:
        return v is False
    if cls is str:
        return v == ""
    if cls is list:
        return not v
    return False


def equal(a, b) -> bool:
    """The `=` operator on two non-error values (never raises)."""
    if a is None:
        return is_blank_equal(b)
    if b is None:
        return is_blank_equal(a)
    ca, cb = a.__class__, b.__class__
    if ca is cb:
        if ca is str:
            return a == b or a.casefold() == b.casefold()
        if ca is list:
            return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
        if ca is dict:
            return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
        return a == b
    if (ca is date or ca is datetime) and (cb is date or cb is datetime):
        return as_datetime(a) == as_datetime(b)
    return False


def _rank(v):
    """(kind, comparable) for ordering, or None when unorderable."""
    cls = v.__class__
    if cls is Decimal:
        return 1, v
    if cls is str:
        return 2, v.casefold()
    if cls is bool:
        return 3, v
    if cls is date or cls is datetime:
        return 4, as_datetime(v)
    return None


def compare(a, b):
    """-1/0/1 for the ordering operators, or an ErrorValue (spec 6)."""
    if a is None and b is None:
        return 0
    if a is None or b is None:
        other = b if a is None else a
        r = _rank(other)
        if r is None:
            return ErrorValue(VALUE, f"cannot order an empty value and a {type_name(other)}")
        kind = r[0]
        if kind == 4:
            return -1 if a is None else 1
        blank = (ZERO, "", False)[kind - 1]
        return compare(blank, b) if a is None else compare(a, blank)
    ra, rb = _rank(a), _rank(b)
    if ra is None or rb is None or ra[0] != rb[0]:
        return ErrorValue(VALUE, f"cannot order a {type_name(a)} and a {type_name(b)}")
    x, y = ra[1], rb[1]
    return -1 if x < y else (1 if x > y else 0)


def short(s: str, n: int = 40) -> str:
    return repr(s if len(s) <= n else s[:n] + "…")


def flatten(items, out=None):
    """Flatten nested lists into `out` (a list), capped at MAX_LIST items."""
    top = out is None
    if top:
        out = []
    for x in items:
        if x.__class__ is list:
            flatten(x, out)
        else:
            out.append(x)
    if len(out) > MAX_LIST:
        raise ListTooLong(f"list longer than {MAX_LIST} items")
    if top and len(out) > 64:
        spend(len(out))
    return out


class ListTooLong(Exception):
    """A list or the work of one evaluation exceeds its bound (becomes #VALUE!)."""


#: list items one evaluation may walk through (aggregates, paths, UNIQUE, ...)
MAX_WORK = 1_000_000
_BUDGET = threading.local()


def reset_budget() -> None:
    """Start the work budget of one evaluation."""
    _BUDGET.left = MAX_WORK


def spend(n: int) -> None:
    """Use n units of the evaluation's work budget; ListTooLong when exhausted."""
    left = getattr(_BUDGET, "left", MAX_WORK) - n
    _BUDGET.left = left
    if left < 0:
        raise ListTooLong(f"the formula does too much work (over {MAX_WORK} list items)")


ERR_LIST = ErrorValue(VALUE, f"list longer than {MAX_LIST} items")
__all__ = ["CTX", "to_number", "to_text", "to_bool", "to_date", "equal", "compare", "norm",
           "DIV0", "E_DIV0", "E_NUM", "E_VALUE"]
