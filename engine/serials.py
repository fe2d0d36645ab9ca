"""Serial-number patterns such as ``SO-{YYYY}{MM}-{0000}``.

The engine keeps the counter (one row per field and *period*, incremented in the
writing transaction so that numbers stay unique under concurrency); this module
only validates patterns and formats numbers.

Tokens:
  {YYYY} four-digit year   {YY} two-digit year   {MM} month 01-12   {DD} day 01-31
  {0000} the counter, zero-padded to the number of zeros (at least one zero);
         a counter that outgrows its width simply gets more digits.
Everything else is literal text (braces are only allowed around tokens).

The counter resets per period: the period key is built from the finest date
token (``{DD}`` -> "2026-12-05", ``{MM}`` -> "2026-12", a year token -> "2026",
no date token -> "" = never resets). A pattern whose period would not identify
the date part of the number (e.g. ``{MM}`` without a year: December 2026 and
December 2027 would both produce ``X-12-001``) is refused, so formatted numbers
are unique for a given (pattern, period, counter).
"""
from __future__ import annotations

import datetime as dt
import re

MAX_PATTERN_LENGTH = 100
_TOKEN = re.compile(r"\{([^{}]*)\}")
_DATE_TOKENS = ("YYYY", "YY", "MM", "DD")


def parse_pattern(pattern: str) -> list[tuple[str, str]]:
    """The pattern as [(kind, text)], kind "literal", "date" or "counter"; ValueError if invalid."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("the serial pattern must be a non-empty string")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"the serial pattern is too long (at most {MAX_PATTERN_LENGTH} characters)")
    if any(ord(c) < 32 or ord(c) == 127 for c in pattern):
        raise ValueError("the serial pattern contains control characters")
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _TOKEN.finditer(pattern):
        literal = pattern[pos:m.start()]
        if "{" in literal or "}" in literal:
            raise ValueError(f"unbalanced brace in serial pattern {pattern!r}")
        if literal:
            parts.append(("literal", literal))
        token = m.group(1)
        if token in _DATE_TOKENS:
            parts.append(("date", token))
        elif token and set(token) == {"0"}:
            parts.append(("counter", token))
        else:
            raise ValueError(f"unknown token {{{token}}} in serial pattern {pattern!r}: use "
                             "{YYYY}, {YY}, {MM}, {DD} or a counter such as {0000}")
        pos = m.end()
    rest = pattern[pos:]
    if "{" in rest or "}" in rest:
        raise ValueError(f"unbalanced brace in serial pattern {pattern!r}")
    if rest:
        parts.append(("literal", rest))
    counters = [p for p in parts if p[0] == "counter"]
    if len(counters) != 1:
        raise ValueError(f"serial pattern {pattern!r} must contain exactly one counter such as {{0000}}")
    dates = {t for k, t in parts if k == "date"}
    has_year = bool(dates & {"YYYY", "YY"})
    if "MM" in dates and not has_year:
        raise ValueError(f"serial pattern {pattern!r} uses {{MM}} without a year: numbers would "
                         "repeat every year; add {YYYY} or {YY}")
    if "DD" in dates and not ("MM" in dates and has_year):
        raise ValueError(f"serial pattern {pattern!r} uses {{DD}} without {{MM}} and a year: "
                         "numbers would repeat; add them")
    return parts


def validate_pattern(pattern: str) -> str | None:
    """None when the pattern is valid, else the problem as a message."""
    try:
        parse_pattern(pattern)
    except ValueError as exc:
        return str(exc)
    return None


def period_key(pattern: str, now: dt.date) -> str:
    """The counter's period: "2026-12-05" ({DD}), "2026-12" ({MM}), "2026" (year), or ""."""
    dates = {t for k, t in parse_pattern(pattern) if k == "date"}
    if "DD" in dates:
        return f"{now.year:04d}-{now.month:02d}-{now.day:02d}"
    if "MM" in dates:
        return f"{now.year:04d}-{now.month:02d}"
    if dates:
        return f"{now.year:04d}"
    return ""


def format_serial(pattern: str, n: int, now: dt.date) -> str:
    """The serial number for counter value n (>= 1) at date/datetime `now`."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the serial counter must be a positive integer, got {n!r}")
    out = []
    for kind, text in parse_pattern(pattern):
        if kind == "literal":
            out.append(text)
        elif kind == "counter":
            out.append(str(n).zfill(len(text)))
        elif text == "YYYY":
            out.append(f"{now.year:04d}")
        elif text == "YY":
            out.append(f"{now.year % 100:02d}")
        elif text == "MM":
            out.append(f"{now.month:02d}")
        else:
            out.append(f"{now.day:02d}")
    return "".join(out)
