"""Text and list functions (spec 8, "Text and list"), including TEXT's formats."""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal

from .errors import VALUE, ErrorValue
from .functions import (D, Fail, I, N, T, fail, function, items, round_to, text_result)
from .values import MAX_LIST, MAX_TEXT, ZERO, CTX, as_datetime, equal, spend, flatten, is_blank_equal, to_text

REPT_MAX = 32767


@function("CONCATENATE", "CONCATENATE(text, …)",
          "Joins the texts (rule T); a list argument is `#VALUE!` (use JOIN).",
          'CONCATENATE("a", 1, TRUE)', '"a1TRUE"', category="Text", args=(1, None),
          kinds=("text",), result="text")
def CONCATENATE(*args):
    for a in args:
        if a.__class__ is list:
            fail(VALUE, "CONCATENATE of a list (use JOIN)")
    return text_result("".join(T(a) for a in args))


def _count(n, name):
    n = I(n)
    if n < 0:
        fail(VALUE, f"{name}: the count must not be negative")
    return n


@function("LEFT", "LEFT(text, [n=1])", "The first n characters (all of them when n > length).",
          'LEFT("abc", 2)', '"ab"', category="Text", args=(1, 2), kinds=("text", "number"),
          result="text", sql=True)
def LEFT(t, n=Decimal(1)):
    return T(t)[:_count(n, "LEFT")]


@function("RIGHT", "RIGHT(text, [n=1])", "The last n characters (all of them when n > length).",
          'RIGHT("abc")', '"c"', category="Text", args=(1, 2), kinds=("text", "number"),
          result="text", sql=True)
def RIGHT(t, n=Decimal(1)):
    t, n = T(t), _count(n, "RIGHT")
    return t[len(t) - n:] if n < len(t) else t


@function("MID", "MID(text, start, n)",
          "n characters from position `start` (1-based); start < 1 or n < 0 is `#VALUE!`.",
          'MID("abcdef", 2, 3)', '"bcd"', category="Text", args=(3, 3),
          kinds=("text", "number", "number"), result="text")
def MID(t, start, n):
    t, start, n = T(t), I(start), _count(n, "MID")
    if start < 1:
        fail(VALUE, "MID: start must be at least 1")
    return t[start - 1:start - 1 + n]


@function("LEN", "LEN(text)", "Number of characters (Unicode code points).",
          'LEN("中文ab")', "4", category="Text", kinds=("text",), result="number")
def LEN(t):
    return Decimal(len(T(t)))


@function("UPPER", "UPPER(text)", "Upper case (Unicode).", 'UPPER("straße")', '"STRASSE"',
          category="Text", kinds=("text",), result="text")
def UPPER(t):
    return text_result(T(t).upper())


@function("LOWER", "LOWER(text)", "Lower case (Unicode).", 'LOWER("ABC")', '"abc"',
          category="Text", kinds=("text",), result="text")
def LOWER(t):
    return T(t).lower()


_SPACES = re.compile(" +")


@function("TRIM", "TRIM(text)",
          "Removes leading and trailing spaces and collapses inner runs of spaces to one.",
          'TRIM("  a   b ")', '"a b"', category="Text", kinds=("text",), result="text")
def TRIM(t):
    return _SPACES.sub(" ", T(t).strip(" "))


def _find(needle, t, start, fold):
    needle, t, start = T(needle), T(t), I(start)
    if not 1 <= start <= len(t) + 1:
        fail(VALUE, f"start must be between 1 and {len(t) + 1}")
    if fold:
        m = re.compile(re.escape(needle), re.IGNORECASE).search(t, start - 1)
        pos = m.start() if m else -1
    else:
        pos = t.find(needle, start - 1)
    if pos < 0:
        fail(VALUE, f"{needle!r} not found")
    return Decimal(pos + 1)


@function("FIND", "FIND(needle, text, [start=1])",
          "Position of `needle` in `text` (case-sensitive); not found is `#VALUE!`.",
          'FIND("b", "abcb", 3)', "4", category="Text", args=(2, 3),
          kinds=("text", "text", "number"), result="number")
def FIND(needle, t, start=Decimal(1)):
    return _find(needle, t, start, False)


@function("SEARCH", "SEARCH(needle, text, [start=1])",
          "Case-insensitive FIND (no wildcards, ≠Excel).", 'SEARCH("B", "abc")', "2",
          category="Text", args=(2, 3), kinds=("text", "text", "number"), result="number")
def SEARCH(needle, t, start=Decimal(1)):
    return _find(needle, t, start, True)


@function("SUBSTITUTE", "SUBSTITUTE(text, old, new, [k])",
          "Replaces every `old` by `new`, or only the k-th occurrence (k ≥ 1).",
          'SUBSTITUTE("2024-03-05", "-", "")', '"20240305"', category="Text", args=(3, 4),
          kinds=("text", "text", "text", "number"), result="text")
def SUBSTITUTE(t, old, new, k=None):
    t, old, new = T(t), T(old), T(new)
    if old == "":
        return t
    if k is None:
        if new and t.count(old) * max(len(new) - len(old), 0) + len(t) > MAX_TEXT:
            fail(VALUE, f"text longer than {MAX_TEXT} characters")
        return text_result(t.replace(old, new))
    k = I(k)
    if k < 1:
        fail(VALUE, "SUBSTITUTE: k must be at least 1")
    pos, start = -1, 0
    for _ in range(k):
        pos = t.find(old, start)
        if pos < 0:
            return t
        start = pos + len(old)
    return text_result(t[:pos] + new + t[pos + len(old):])


@function("REPLACE", "REPLACE(text, start, n, new)",
          "Replaces n characters at position `start` by `new`.",
          'REPLACE("abcdef", 2, 3, "X")', '"aXef"', category="Text", args=(4, 4),
          kinds=("text", "number", "number", "text"), result="text")
def REPLACE(t, start, n, new):
    t, start, n, new = T(t), I(start), _count(n, "REPLACE"), T(new)
    if start < 1:
        fail(VALUE, "REPLACE: start must be at least 1")
    return text_result(t[:start - 1] + new + t[start - 1 + n:])


@function("REPT", "REPT(text, n)",
          f"`text` repeated n times; n < 0 or a result over {REPT_MAX} characters is `#VALUE!`.",
          'REPT("ab", 3)', '"ababab"', category="Text", args=(2, 2), kinds=("text", "number"),
          result="text")
def REPT(t, n):
    t, n = T(t), _count(n, "REPT")
    if t and n > REPT_MAX // len(t):
        fail(VALUE, f"REPT result longer than {REPT_MAX} characters")
    return t * n if t else ""


@function("EXACT", "EXACT(a, b)", "Case-sensitive equality of the two texts.",
          'EXACT("a", "A")', "FALSE", category="Text", args=(2, 2), kinds=("text", "text"),
          result="boolean")
def EXACT(a, b):
    return T(a) == T(b)


_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?\Z")


@function("VALUE", "VALUE(text)",
          "The number in `text` (rule N plus thousands commas and a trailing %); blank or "
          '`""` is 0; booleans and dates are `#VALUE!`.', 'VALUE("1,234.5")', "1234.5",
          category="Text", kinds=("text",), result="number")
def VALUE_(t):
    if t is None or t == "":
        return ZERO
    if t.__class__ is Decimal:
        return t
    if t.__class__ is not str:
        fail(VALUE, "VALUE needs text")
    s = t.strip()
    pct = s.endswith("%")
    if pct:
        s = s[:-1].rstrip()
    if _GROUPED.match(s):
        s = s.replace(",", "")
    if s == "" or "," in s:
        fail(VALUE, f"{t!r} is not a number")
    d = N(s)
    return CTX.divide(d, Decimal(100)) if pct else d


@function("SPLIT", "SPLIT(text, separator)",
          'List of the parts of `text`; blank or `""` gives `[]`; an empty separator is '
          "`#VALUE!`.", 'SPLIT("a,b,c", ",")', '["a", "b", "c"]', category="Text", args=(2, 2),
          kinds=("text", "text"), result="list")
def SPLIT(t, sep):
    t, sep = T(t), T(sep)
    if sep == "":
        fail(VALUE, "SPLIT: the separator is empty")
    if t == "":
        return []
    if t.count(sep) >= MAX_LIST:
        fail(VALUE, f"list longer than {MAX_LIST} items")
    return t.split(sep)


@function("JOIN", "JOIN(list, [separator=\"\"])",
          "Joins the items (rule T, blanks skipped) with the separator.",
          'JOIN([1, 2.50, "x"], "/")', '"1/2.5/x"', category="Text", args=(1, 2),
          kinds=("list", "text"), result="text")
def JOIN(lst, sep=""):
    sep = T(sep)
    return text_result(sep.join(T(x) for x in items([lst]) if x is not None))


@function("CONTAINS", "CONTAINS(haystack, needle)",
          "Text: whether `needle` occurs in `haystack`, case-insensitively. List: whether any "
          "item is `=` to `needle`.", 'CONTAINS(["vip", "north"], "VIP")', "TRUE",
          category="Text", args=(2, 2), kinds=("any", "any"), result="boolean", sql=True)
def CONTAINS(hay, needle):
    if hay.__class__ is list:
        return any(equal(x, needle) for x in flatten(hay))
    return T(needle).casefold() in T(hay).casefold()


def _key(v):
    cls = v.__class__
    if cls is str:
        return ("t", v.casefold())
    if cls is Decimal:
        return ("n", v)
    if cls is bool:
        return ("b", v)
    if isinstance(v, date):
        return ("d", as_datetime(v))
    return None


@function("UNIQUE", "UNIQUE(list)",
          "The items without `=`-duplicates (case-insensitive), keeping first occurrences.",
          'UNIQUE(["a", "A", "b"])', '["a", "b"]', category="Text", kinds=("list",),
          result="list")
def UNIQUE(lst):
    out, seen, blanks, others = [], set(), [], []
    for x in items([lst]):
        if is_blank_equal(x):
            # None equals 0, FALSE, "" and []; those only equal None and themselves
            if any(equal(x, y) for y in blanks):
                continue
            blanks.append(x)
            k = _key(x)
            if k is not None:
                seen.add(k)
        else:
            k = _key(x)
            if k is not None:
                if k in seen:
                    continue
                seen.add(k)
            elif spend(2 * len(others)) or any(equal(x, y) for y in others):
                continue
            else:
                others.append(x)
        out.append(x)
    return out


# ------------------------------------------------------------------ TEXT ------
_DATE_LETTERS = set("ymdhs")


def _tokens(fmt: str):
    """Split a format into ("lit", text) and ("tok", letter, count) pieces."""
    out, i, n = [], 0, len(fmt)
    while i < n:
        ch = fmt[i]
        if ch == '"':
            j = fmt.find('"', i + 1)
            j = n if j < 0 else j
            out.append(("lit", fmt[i + 1:j]))
            i = j + 1
            continue
        if ch == "\\" and i + 1 < n:
            out.append(("lit", fmt[i + 1]))
            i += 2
            continue
        low = ch.lower()
        if low in _DATE_LETTERS:
            j = i
            while j < n and fmt[j].lower() == low:
                j += 1
            out.append(("tok", low, j - i))
            i = j
            continue
        out.append(("lit", ch))
        i += 1
    return out


def _is_date_format(fmt: str) -> bool:
    return any(t[0] == "tok" for t in _tokens(fmt))


def _format_date(value, fmt: str) -> str:
    if value.__class__ in (Decimal, bool):
        fail(VALUE, "a date format needs a date")
    d = D(value)
    if d is None:
        return ""
    dt = d if isinstance(d, datetime) else datetime(d.year, d.month, d.day)
    toks = _tokens(fmt)
    letters = [i for i, t in enumerate(toks) if t[0] == "tok"]
    out = []
    for pos, t in enumerate(toks):
        if t[0] == "lit":
            out.append(t[1])
            continue
        _, letter, count = t
        if letter == "m":
            idx = letters.index(pos)
            prev = toks[letters[idx - 1]] if idx > 0 else None
            nxt = toks[letters[idx + 1]] if idx + 1 < len(letters) else None
            minutes = (prev is not None and prev[1] == "h") or (nxt is not None and nxt[1] == "s")
            if count > 2:
                fail(VALUE, "month names (mmm) are not supported")
            v = dt.minute if minutes else dt.month
            out.append(f"{v:02d}" if count == 2 else str(v))
        elif letter == "y":
            if count > 4:
                fail(VALUE, "bad year token")
            out.append(f"{dt.year:04d}" if count > 2 else f"{dt.year % 100:02d}")
        elif letter == "d":
            if count > 2:
                fail(VALUE, "day names (ddd) are not supported")
            out.append(f"{dt.day:02d}" if count == 2 else str(dt.day))
        else:
            if count > 2:
                fail(VALUE, f"bad token {letter * count}")
            v = dt.hour if letter == "h" else dt.second
            out.append(f"{v:02d}" if count == 2 else str(v))
    return "".join(out)


def _split_number_format(fmt: str):
    """(prefix, int pattern, frac pattern or None, percent, suffix)."""
    toks = []  # (is_literal, char)
    i, n = 0, len(fmt)
    while i < n:
        ch = fmt[i]
        if ch == '"':
            j = fmt.find('"', i + 1)
            j = n if j < 0 else j
            toks.extend((True, c) for c in fmt[i + 1:j])
            i = j + 1
            continue
        if ch == "\\" and i + 1 < n:
            toks.append((True, fmt[i + 1]))
            i += 2
            continue
        toks.append((False, ch))
        i += 1
    k = 0
    prefix = []
    while k < len(toks) and (toks[k][0] or toks[k][1] not in "0#,."):
        prefix.append(toks[k][1])
        k += 1
    int_pat = []
    while k < len(toks) and not toks[k][0] and toks[k][1] in "0#,":
        int_pat.append(toks[k][1])
        k += 1
    frac = None
    if k < len(toks) and not toks[k][0] and toks[k][1] == ".":
        k += 1
        frac = []
        while k < len(toks) and not toks[k][0] and toks[k][1] in "0#":
            frac.append(toks[k][1])
            k += 1
    pct = False
    if k < len(toks) and not toks[k][0] and toks[k][1] == "%":
        pct = True
        k += 1
    suffix = [c for _, c in toks[k:]]
    return "".join(prefix), "".join(int_pat), None if frac is None else "".join(frac), pct, \
        "".join(suffix)


def _format_number(value, fmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        fail(VALUE, "a number format needs a number")
    x = N(value)
    prefix, int_pat, frac, pct, suffix = _split_number_format(fmt)
    if "0" not in int_pat and "#" not in int_pat and not frac:
        fail(VALUE, f"{fmt!r} is not a number format")
    if pct:
        x = CTX.multiply(x, Decimal(100))
    places = len(frac or "")
    r = round_to(x, places, ROUND_HALF_UP)
    neg = r < 0
    r = r.copy_abs()
    if abs(r.adjusted()) > 1000 or places > 1000:
        fail(VALUE, "number too large to format")
    wide = Context(prec=r.adjusted() + places + 30, Emax=200_000, Emin=-200_000)
    s = format(r.quantize(Decimal(1).scaleb(-places), context=wide) if places
               else r.to_integral_value(), "f")
    ipart, _, fpart = s.partition(".")
    min_frac = (frac.rfind("0") + 1) if frac else 0
    fpart = fpart.rstrip("0")
    if len(fpart) < min_frac:
        fpart = fpart + "0" * (min_frac - len(fpart))
    min_int = int_pat.count("0")
    ipart = ipart.lstrip("0")
    if len(ipart) < min_int:
        ipart = "0" * (min_int - len(ipart)) + ipart
    if "," in int_pat and ipart:
        head = len(ipart) % 3 or 3
        ipart = ipart[:head] + "".join("," + ipart[i:i + 3] for i in range(head, len(ipart), 3))
    body = ipart + ("." + fpart if fpart else "")  # "#" on 0 shows nothing (Excel)
    sign = "-" if neg and r != 0 else ""
    return sign + prefix + body + ("%" if pct else "") + suffix


@function("TEXT", "TEXT(value, format)",
          "Formats a number (`0`, `#`, `,`, `.`, `%`, literal prefix/suffix) or a date "
          "(`yyyy yy mm m dd d hh h ss s`, `m` after `h` or before `s` means minutes).",
          'TEXT(1234.5, "#,##0.00 元")', '"1,234.50 元"', category="Text", args=(2, 2),
          kinds=("any", "text"), result="text")
def TEXT(value, fmt):
    fmt = T(fmt)
    if value is None:
        return ""
    if fmt == "":
        return ""
    if _is_date_format(fmt):
        return text_result(_format_date(value, fmt))
    return text_result(_format_number(value, fmt))


_ = (ErrorValue, Fail, to_text)
