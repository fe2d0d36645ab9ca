"""Date functions (spec 8, "Date"): rule D on arguments, blank in -> blank out."""
from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from decimal import Decimal

from .errors import NUM, VALUE, ErrorValue
from .functions import D, Fail, I, N, T, fail, function, items
from .values import add_days, as_datetime, compare


def now_of(c) -> datetime:
    """`context["now"]` as a datetime (the clock when absent)."""
    now = c.get("now") if c else None
    if now is None:
        return datetime.now().replace(tzinfo=None)
    if isinstance(now, datetime):
        return now.replace(tzinfo=None)
    if isinstance(now, date):
        return datetime(now.year, now.month, now.day)
    return datetime.now()


def today_of(c) -> date:
    today = c.get("today") if c else None
    if isinstance(today, date) and not isinstance(today, datetime):
        return today
    return now_of(c).date()


# TODAY/NOW are compiled specially (they read the context); these are their entries.
@function("TODAY", "TODAY()", "Today's date (`context[\"now\"]`'s date when given).",
          "TODAY() >= DATE(2024, 1, 1)", "TRUE", category="Date", args=(0, 0), result="date",
          sql=True)
def TODAY(r, c):
    return today_of(c)


@function("NOW", "NOW()", "The current datetime (`context[\"now\"]` when given).",
          "NOW() > DATE(2024, 1, 1)", "TRUE", category="Date", args=(0, 0), result="datetime")
def NOW(r, c):
    return now_of(c)


def _check_year(y: int):
    if not 1900 <= y <= 9999:
        fail(NUM, f"year {y} is outside 1900..9999")


def make_date(y: int, m: int, d: int) -> date:
    y += (m - 1) // 12
    m = (m - 1) % 12 + 1
    if not 1 <= y <= 9999 or abs(d) > 4_000_000:
        fail(NUM, "date out of range")
    try:
        return date(y, m, 1) + timedelta(days=d - 1)
    except (OverflowError, ValueError):
        fail(NUM, "date out of range")


@function("DATE", "DATE(year, month, day, [hour, minute, second])",
          "A date (3 arguments) or datetime (6 arguments); arguments are truncated and "
          "overflow normalises (month 14 is February of the next year, day 0 the last day of "
          "the previous month); a year outside 1900..9999 is `#NUM!`.",
          "DATE(2024, 14, 1)", "2025-02-01", category="Date", args=(3, 6),
          kinds=("number",), result="date_or_datetime", rule="3or6", sql=True)
def DATE(y, m, d, h=None, mi=None, s=None):
    y, m, d = I(y), I(m), I(d)
    _check_year(y)
    if abs(m) > 200_000:
        fail(NUM, "month out of range")
    base = make_date(y, m, d)
    if h is None:
        return base
    h, mi, s = I(h), I(mi), I(s)
    if max(abs(h), abs(mi), abs(s)) > 10 ** 12:
        fail(NUM, "time out of range")
    try:
        return datetime(base.year, base.month, base.day) + timedelta(hours=h, minutes=mi,
                                                                     seconds=s)
    except (OverflowError, ValueError):
        fail(NUM, "date out of range")


def _part(name, getter, doc, example, returns):
    def impl(v):
        d = D(v)
        if d is None:
            return None
        return Decimal(getter(d))
    impl.__name__ = name
    function(name, f"{name}(date)", doc, example, returns, category="Date", kinds=("date",),
             result="number", sql=name in ("YEAR", "MONTH", "DAY"))(impl)


_part("YEAR", lambda d: d.year, "The year of a date.", 'YEAR("2024-03-15")', "2024")
_part("MONTH", lambda d: d.month, "The month (1–12).", "MONTH(DATE(2024, 3, 15))", "3")
_part("DAY", lambda d: d.day, "The day of the month.", "DAY(DATE(2024, 3, 15))", "15")
_part("HOUR", lambda d: d.hour if isinstance(d, datetime) else 0,
      "The hour (0 for a date).", "HOUR(DATE(2024, 3, 5, 14, 5, 9))", "14")
_part("MINUTE", lambda d: d.minute if isinstance(d, datetime) else 0,
      "The minute (0 for a date).", "MINUTE(DATE(2024, 3, 5, 14, 5, 9))", "5")
_part("SECOND", lambda d: d.second if isinstance(d, datetime) else 0,
      "The second (0 for a date).", "SECOND(DATE(2024, 3, 5, 14, 5, 9))", "9")


@function("WEEKDAY", "WEEKDAY(date, [type=1])",
          "Day of the week: type 1 Sun=1…Sat=7, 2 Mon=1…Sun=7, 3 Mon=0…Sun=6; other types "
          "are `#NUM!`.", "WEEKDAY(DATE(2024, 3, 15))", "6", category="Date", args=(1, 2),
          kinds=("date", "number"), result="number")
def WEEKDAY(v, kind=Decimal(1)):
    d = D(v)
    kind = I(kind)
    if kind not in (1, 2, 3):
        fail(NUM, "WEEKDAY type must be 1, 2 or 3")
    if d is None:
        return None
    iso = d.isoweekday()
    return Decimal({1: iso % 7 + 1, 2: iso, 3: iso - 1}[kind])


def add_months(d: date, n: int) -> date:
    total = d.year * 12 + d.month - 1 + n
    y, m = divmod(total, 12)
    if not 1 <= y <= 9999:
        fail(NUM, "date out of range")
    day = min(d.day, calendar.monthrange(y, m + 1)[1])
    return date(y, m + 1, day)


def _months_between(s: date, e: date) -> int:
    return 12 * (e.year - s.year) + (e.month - s.month) - (e.day < s.day)


@function("DATEDIF", "DATEDIF(start, end, unit)",
          'Difference in whole units: "Y", "M", "D", "YM", "MD", "H", "MI", "S" (any case); '
          "start after end or another unit is `#NUM!`.",
          'DATEDIF(DATE(2001, 2, 28), DATE(2004, 3, 20), "Y")', "3", category="Date",
          args=(3, 3), kinds=("date", "date", "text"), result="number")
def DATEDIF(start, end, unit):
    s, e, unit = D(start), D(end), T(unit).upper()
    if unit not in ("Y", "M", "D", "YM", "MD", "H", "MI", "S"):
        fail(NUM, f"unknown DATEDIF unit {unit!r}")
    if s is None or e is None:
        return None
    if compare(s, e) > 0:
        fail(NUM, "DATEDIF: start is after end")
    sd = s.date() if isinstance(s, datetime) else s
    ed = e.date() if isinstance(e, datetime) else e
    if unit == "Y":
        return Decimal(ed.year - sd.year - ((ed.month, ed.day) < (sd.month, sd.day)))
    if unit == "M":
        return Decimal(_months_between(sd, ed))
    if unit == "D":
        return Decimal((ed - sd).days)
    if unit == "YM":
        return Decimal(_months_between(sd, ed) % 12)
    if unit == "MD":
        return Decimal((ed - add_months(sd, _months_between(sd, ed))).days)
    delta = as_datetime(e) - as_datetime(s)
    secs = delta.days * 86400 + delta.seconds
    return Decimal(secs // {"H": 3600, "MI": 60, "S": 1}[unit])


@function("DATEDELTA", "DATEDELTA(date, days)", "`date + days` (Jiandaoyun).",
          "DATEDELTA(DATE(2024, 1, 31), 30)", "2024-03-01", category="Date", args=(2, 2),
          kinds=("date", "number"), result="date_or_datetime")
def DATEDELTA(v, n):
    d = D(v)
    n = N(n)
    if d is None:
        return None
    r = add_days(d, n)
    if r.__class__ is ErrorValue:
        raise Fail(r)
    return r


@function("EDATE", "EDATE(date, months)",
          "The same day n months later (n truncated), clamped to the month's end; a date.",
          "EDATE(DATE(2024, 1, 31), 1)", "2024-02-29", category="Date", args=(2, 2),
          kinds=("date", "number"), result="date")
def EDATE(v, n):
    d, n = D(v), I(n)
    if d is None:
        return None
    if abs(n) > 200_000:
        fail(NUM, "date out of range")
    return add_months(d.date() if isinstance(d, datetime) else d, n)


@function("EOMONTH", "EOMONTH(date, months)", "The last day of the month n months later.",
          "EOMONTH(DATE(2024, 2, 10), 12)", "2025-02-28", category="Date", args=(2, 2),
          kinds=("date", "number"), result="date")
def EOMONTH(v, n):
    d, n = D(v), I(n)
    if d is None:
        return None
    if abs(n) > 200_000:
        fail(NUM, "date out of range")
    first = add_months(date(d.year, d.month, 1), n)
    return date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])


def _day(v):
    d = D(v)
    return d.date() if isinstance(d, datetime) else d


@function("DAYS", "DAYS(end, start)", "Whole days from `start` to `end` (Excel argument order).",
          "DAYS(DATE(2024, 3, 1), DATE(2024, 2, 1))", "29", category="Date", args=(2, 2),
          kinds=("date", "date"), result="number")
def DAYS(end, start):
    e, s = _day(end), _day(start)
    if e is None or s is None:
        return None
    return Decimal((e - s).days)


def _workdays(s: date, e: date) -> int:
    """Mon-Fri days in [s, e] (s <= e)."""
    total = (e - s).days + 1
    weeks, extra = divmod(total, 7)
    count = weeks * 5
    wd = s.weekday()
    for i in range(extra):
        if (wd + i) % 7 < 5:
            count += 1
    return count


@function("NETWORKDAYS", "NETWORKDAYS(start, end, [holidays])",
          "Working days (Mon–Fri) from start to end inclusive, minus the holiday dates; "
          "negative when start is after end.",
          "NETWORKDAYS(DATE(2024, 3, 11), DATE(2024, 3, 22), [DATE(2024, 3, 15)])", "9",
          category="Date", args=(2, 3), kinds=("date", "date", "list"), result="number")
def NETWORKDAYS(start, end, holidays=None):
    s, e = _day(start), _day(end)
    hols = set()
    if holidays is not None:
        for h in items([holidays]):
            h = _day(h)
            if h is not None:
                hols.add(h)
    if s is None or e is None:
        return None
    sign = 1
    if s > e:
        s, e, sign = e, s, -1
    n = _workdays(s, e) - sum(1 for h in hols if s <= h <= e and h.weekday() < 5)
    return Decimal(sign * n)


_ = (VALUE,)
