"""The function registry and the logical, math and list functions (spec 8).

Every function is registered once in `FUNCTIONS` (an `engine.registry.Registry`) with
its arity, argument kinds, laziness, result type and the text the reference
(docs/expressions.md) is generated from. Eager implementations receive evaluated,
error-free arguments (except `catches_errors` ones) and may raise `Fail(error)`;
lazy ones receive `(record, context, *thunks)`. Text and date functions live in
functions_text.py and functions_date.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import (ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, ROUND_UP, Context,
                     Decimal)
from typing import Callable

from engine.registry import Registry

from .errors import DIV0, NA, NUM, REF, VALUE, ErrorValue
from .values import (CTX, MAX_LIST, ONE, ZERO, DecimalError, check_text, compare,
                     equal, flatten, parse_number, to_bool, to_date, to_int, to_number, to_text,
                     type_name)


@dataclass(frozen=True)
class FunctionDef:
    """One registered function."""

    name: str
    impl: Callable
    category: str
    signature: str
    doc: str
    example: str
    returns: str                       # the example's result as shown in the docs
    min_args: int
    max_args: int | None               # None = unbounded
    arg_kinds: tuple[str, ...]         # per position; the last one repeats
    result: str                        # number|text|boolean|date|datetime|list|any|branches
    lazy: bool = False
    catches_errors: bool = False
    arity_rule: str | None = None      # "even" (IFS), "3or6" (DATE)
    sql: bool = field(default=False)   # translatable by engine.expr.sql

    def arity_ok(self, n: int) -> bool:
        if n < self.min_args or (self.max_args is not None and n > self.max_args):
            return False
        if self.arity_rule == "even":
            return n % 2 == 0
        if self.arity_rule == "3or6":
            return n in (3, 6)
        return True

    def arity_text(self) -> str:
        if self.arity_rule == "3or6":
            return "3 or 6 arguments"
        if self.arity_rule == "even":
            return f"an even number of arguments (at least {self.min_args})"
        if self.max_args is None:
            return f"at least {self.min_args} argument{'s' if self.min_args != 1 else ''}"
        if self.min_args == self.max_args:
            return f"{self.min_args} argument{'s' if self.min_args != 1 else ''}"
        return f"{self.min_args} to {self.max_args} arguments"

    def kind_of(self, i: int) -> str:
        if not self.arg_kinds:
            return "any"
        return self.arg_kinds[i] if i < len(self.arg_kinds) else self.arg_kinds[-1]


FUNCTIONS: Registry[FunctionDef] = Registry("function")


def function(name, signature, doc, example, returns, *, category, args=(1, 1), kinds=(),
             result="any", lazy=False, catches_errors=False, rule=None, sql=False):
    """Register the decorated implementation as function `name`."""
    lo, hi = args

    def decorator(impl):
        FUNCTIONS.add(name, FunctionDef(name, impl, category, signature, doc, example, returns,
                                        lo, hi, tuple(kinds), result, lazy, catches_errors,
                                        rule, sql))
        return impl
    return decorator


# ------------------------------------------------------------- helpers -------
class Fail(Exception):
    """Raised inside an implementation to return an error value."""

    def __init__(self, error: ErrorValue):
        super().__init__(error.code)
        self.error = error


def fail(code: str, message: str):
    raise Fail(ErrorValue(code, message))


def N(v) -> Decimal:
    d = to_number(v)
    if d.__class__ is ErrorValue:
        raise Fail(d)
    return d


def T(v) -> str:
    s = to_text(v)
    if s.__class__ is ErrorValue:
        raise Fail(s)
    return s


def L(v) -> bool:
    b = to_bool(v)
    if b.__class__ is ErrorValue:
        raise Fail(b)
    return b


def D(v):
    d = to_date(v)
    if d.__class__ is ErrorValue:
        raise Fail(d)
    return d


def I(v) -> int:  # noqa: E743 - N truncated to an integer
    return to_int(N(v))


def text_result(s: str) -> str:
    r = check_text(s)
    if r.__class__ is ErrorValue:
        raise Fail(r)
    return r


def items(args) -> list:
    """Flatten the arguments (lists and scalars) into one list of items."""
    return flatten(args)


def aggregate_numbers(args) -> list[Decimal]:
    """Aggregate rule: flatten, skip None, N on the rest."""
    return [N(x) for x in flatten(args) if x is not None]


def arith(op, a: Decimal, b: Decimal) -> Decimal:
    try:
        return op(a, b)
    except DecimalError:
        fail(NUM, "number out of range")


def power(a: Decimal, b: Decimal):
    """`a ^ b` (spec 6); returns a Decimal or an ErrorValue."""
    if not a:
        if not b:
            return ErrorValue(NUM, "0^0 is undefined")
        if b < 0:
            return ErrorValue(DIV0, "0 to a negative power")
        return ZERO
    integral = b == b.to_integral_value()
    if a < 0 and not integral:
        return ErrorValue(NUM, "negative number to a fractional power")
    try:
        return CTX.power(a, b)
    except DecimalError:
        return ErrorValue(NUM, "power out of range")


def round_to(x: Decimal, d: int, rounding) -> Decimal:
    """Round x to d decimal places (d may be negative) with the given rounding."""
    d = max(min(d, 100_000), -100_000)
    if x.as_tuple().exponent >= -d:
        return x
    if x.adjusted() < -d - 1:
        if rounding in (ROUND_UP,) and x:
            return Decimal(1 if x > 0 else -1).scaleb(-d)
        return ZERO
    ctx = Context(prec=max(x.adjusted() + d + 3, 1), Emax=200_000, Emin=-200_000)
    return x.quantize(Decimal(1).scaleb(-d), rounding=rounding, context=ctx)


def _lazy_value(thunk, r, c):
    return thunk(r, c)


# ============================================================ logical =========
@function("IF", "IF(condition, then, [else])",
          "Evaluates `condition` (rule L) and returns `then` when it is TRUE, otherwise `else` "
          "(FALSE when omitted). Only the chosen branch is evaluated.",
          'IF(2 > 1, "yes", "no")', '"yes"', category="Logical", args=(2, 3),
          kinds=("boolean", "any", "any"), result="branches", lazy=True)
def IF(r, c, cond, then, other=None):
    v = cond(r, c)
    if v is True:
        return then(r, c)
    if v is False:
        return other(r, c) if other is not None else False
    b = to_bool(v)
    if b.__class__ is ErrorValue:
        return b
    if b:
        return then(r, c)
    return other(r, c) if other is not None else False


@function("IFS", "IFS(condition1, value1, condition2, value2, …)",
          "Returns the value of the first pair whose condition is TRUE; `#N/A` when none is. "
          "Needs an even number of arguments.",
          'IFS(1 > 2, "a", 2 > 1, "b")', '"b"', category="Logical", args=(2, None),
          kinds=("boolean", "any"), result="branches", lazy=True, rule="even")
def IFS(r, c, *thunks):
    for i in range(0, len(thunks), 2):
        b = to_bool(thunks[i](r, c))
        if b.__class__ is ErrorValue:
            return b
        if b:
            return thunks[i + 1](r, c)
    return ErrorValue(NA, "IFS: no condition is TRUE")


@function("SWITCH", "SWITCH(value, match1, result1, …, [default])",
          "Compares `value` with each match using `=` (case-insensitive) and returns the result "
          "of the first equal one, else `default`, else `#N/A`.",
          'SWITCH("B", "a", 1, "b", 2)', "2", category="Logical", args=(3, None),
          kinds=("any",), result="branches", lazy=True)
def SWITCH(r, c, x, *rest):
    v = x(r, c)
    if v.__class__ is ErrorValue:
        return v
    pairs = len(rest) // 2
    for i in range(pairs):
        m = rest[2 * i](r, c)
        if m.__class__ is ErrorValue:
            return m
        if equal(v, m):
            return rest[2 * i + 1](r, c)
    if len(rest) % 2:
        return rest[-1](r, c)
    return ErrorValue(NA, "SWITCH: no match and no default")


def _logical_items(v):
    if v.__class__ is list:
        for x in flatten(v):
            yield x
    else:
        yield v


@function("AND", "AND(logical, …)",
          "TRUE when every item is TRUE (rule L, lists flattened). Stops at the first FALSE "
          "(≠Excel: later arguments are not evaluated).",
          "AND(TRUE, 1 > 0)", "TRUE", category="Logical", args=(1, None), kinds=("boolean",),
          result="boolean", lazy=True, sql=True)
def AND(r, c, *thunks):
    for t in thunks:
        v = t(r, c)
        if v is True:
            continue
        if v is False:
            return False
        if v.__class__ is ErrorValue:
            return v
        for x in _logical_items(v):
            b = to_bool(x)
            if b.__class__ is ErrorValue:
                return b
            if not b:
                return False
    return True


@function("OR", "OR(logical, …)",
          "TRUE when any item is TRUE (rule L, lists flattened). Stops at the first TRUE.",
          "OR(FALSE, 2 > 1)", "TRUE", category="Logical", args=(1, None), kinds=("boolean",),
          result="boolean", lazy=True, sql=True)
def OR(r, c, *thunks):
    for t in thunks:
        v = t(r, c)
        if v is True:
            return True
        if v is False:
            continue
        if v.__class__ is ErrorValue:
            return v
        for x in _logical_items(v):
            b = to_bool(x)
            if b.__class__ is ErrorValue:
                return b
            if b:
                return True
    return False


@function("NOT", "NOT(logical)", "The negation of `logical` (rule L).",
          "NOT(1 > 2)", "TRUE", category="Logical", kinds=("boolean",), result="boolean",
          sql=True)
def NOT(x):
    return not L(x)


@function("XOR", "XOR(logical, …)",
          "TRUE when an odd number of the items are TRUE (rule L, lists flattened).",
          "XOR(TRUE, FALSE, TRUE)", "FALSE", category="Logical", args=(1, None),
          kinds=("boolean",), result="boolean")
def XOR(*args):
    return sum(1 for x in items(args) if L(x)) % 2 == 1


@function("IFERROR", "IFERROR(value, fallback)",
          "`value`, or `fallback` when `value` is a runtime error (#VALUE!, #DIV/0!, …).",
          "IFERROR(1/0, 0)", "0", category="Logical", args=(2, 2), kinds=("any",),
          result="branches", lazy=True, catches_errors=True)
def IFERROR(r, c, value, fallback):
    v = value(r, c)
    if v.__class__ is ErrorValue:
        return fallback(r, c)
    return v


@function("ISERROR", "ISERROR(value)", "TRUE when `value` is a runtime error.",
          "ISERROR(1/0)", "TRUE", category="Logical", kinds=("any",), result="boolean",
          catches_errors=True)
def ISERROR(v):
    return v.__class__ is ErrorValue


@function("ISEMPTY", "ISEMPTY(value)", 'TRUE for an empty value: blank (None), `""` or `[]`.',
          'ISEMPTY("")', "TRUE", category="Logical", kinds=("any",), result="boolean", sql=True)
def ISEMPTY(v):
    return v is None or v == "" or v == []


@function("TRUE", "TRUE()", "The logical value TRUE (same as the literal `TRUE`).",
          "TRUE()", "TRUE", category="Logical", args=(0, 0), result="boolean", sql=True)
def TRUE_():
    return True


@function("FALSE", "FALSE()", "The logical value FALSE (same as the literal `FALSE`).",
          "FALSE()", "FALSE", category="Logical", args=(0, 0), result="boolean", sql=True)
def FALSE_():
    return False


# =============================================================== math =========
@function("SUM", "SUM(number, …)",
          "Sum of all items (lists flattened, blanks skipped, rule N on the rest); 0 when empty.",
          "SUM(0.1, 0.2, [1, 2])", "3.3", category="Math", args=(1, None), kinds=("numbers",),
          result="number")
def SUM(*args):
    total = ZERO
    for x in aggregate_numbers(args):
        total = arith(CTX.add, total, x)
    return total


@function("PRODUCT", "PRODUCT(number, …)",
          "Product of all items (aggregate rule); 0 when there are none (Excel).",
          "PRODUCT(1.5, 2)", "3", category="Math", args=(1, None), kinds=("numbers",),
          result="number")
def PRODUCT(*args):
    nums = aggregate_numbers(args)
    if not nums:
        return ZERO
    total = ONE
    for x in nums:
        total = arith(CTX.multiply, total, x)
    return total


@function("AVERAGE", "AVERAGE(number, …)",
          "Mean of the non-blank items (aggregate rule); `#DIV/0!` when there are none.",
          "AVERAGE(1, 2, [3, 4])", "2.5", category="Math", args=(1, None), kinds=("numbers",),
          result="number")
def AVERAGE(*args):
    nums = aggregate_numbers(args)
    if not nums:
        fail(DIV0, "AVERAGE of no values")
    total = ZERO
    for x in nums:
        total = arith(CTX.add, total, x)
    return arith(CTX.divide, total, Decimal(len(nums)))


def _extreme(args, pick_max: bool):
    vals = [x for x in flatten(args) if x is not None]
    if not vals:
        return ZERO
    kinds = {type_name(x) for x in vals}
    if kinds <= {"date", "datetime"}:
        best = vals[0]
        for x in vals[1:]:
            cmp = compare(x, best)
            if (cmp > 0) if pick_max else (cmp < 0):
                best = x
        return best
    if kinds & {"date", "datetime"}:
        fail(VALUE, "cannot mix dates and numbers")
    nums = [N(x) for x in vals]
    return max(nums) if pick_max else min(nums)


@function("MIN", "MIN(value, …)",
          "Smallest item (aggregate rule); 0 when there are none. All-date inputs give the "
          "earliest date.", "MIN(3, [1, 2])", "1", category="Math", args=(1, None),
          kinds=("numbers",), result="same_items")
def MIN(*args):
    return _extreme(args, False)


@function("MAX", "MAX(value, …)",
          "Largest item (aggregate rule); 0 when there are none. All-date inputs give the "
          "latest date.", "MAX(3, [1, 2])", "3", category="Math", args=(1, None),
          kinds=("numbers",), result="same_items")
def MAX(*args):
    return _extreme(args, True)


@function("COUNT", "COUNT(value, …)",
          'Number of items that are neither blank nor `""` (lists flattened; = Excel COUNTA, '
          "Jiandaoyun semantics).", 'COUNT([1, "", 3], "x")', "3", category="Math",
          args=(1, None), kinds=("any",), result="number")
def COUNT(*args):
    return Decimal(sum(1 for x in items(args) if x is not None and x != ""))


# -- criteria ------------------------------------------------------------------
_CRIT_OPS = (">=", "<=", "<>", "!=", ">", "<", "=")


def _wild_segments(pattern: str):
    """Split a wildcard pattern at `*` into (regex, length) segments of literals and `?`."""
    import re
    segs, cur, i = [], [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "~" and i + 1 < len(pattern):
            cur.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            segs.append(cur)
            cur = []
        elif ch == "?":
            cur.append(".")
        else:
            cur.append(re.escape(ch))
        i += 1
    segs.append(cur)
    return [(re.compile("".join(s), re.S), len(s)) for s in segs]


def wildcard_match(pattern: str, text: str) -> bool:
    """Excel wildcard match (`*`, `?`, `~` escape), linear in segments: no backtracking.

    Segments between stars have a fixed length, so the first must match at the start,
    the last at the end, and the middle ones greedily leftmost in between.
    """
    segs = _wild_segments(pattern)
    if len(segs) == 1:
        return segs[0][0].fullmatch(text) is not None
    (first, _), (last, last_len) = segs[0], segs[-1]
    m = first.match(text)
    if m is None:
        return False
    pos = m.end()
    end = len(text) - last_len
    for seg, _n in segs[1:-1]:
        m = seg.search(text, pos, max(end, pos))
        if m is None:
            return False
        pos = m.end()
    return end >= pos and last.fullmatch(text, end) is not None


def make_criteria(crit) -> Callable[[object], bool]:
    """A predicate for COUNTIF/SUMIF criteria (spec 8)."""
    if crit.__class__ is Decimal:
        crit = "=" + to_text(crit)
    if crit.__class__ is not str:
        return lambda item: equal(item, crit)
    op = "="
    rest = crit
    for cand in _CRIT_OPS:
        if crit.startswith(cand):
            op, rest = cand, crit[len(cand):]
            break
    if op == "!=":
        op = "<>"
    if rest == "" and op in ("=", "<>"):
        if op == "=":
            return lambda item: item is None or item == ""
        return lambda item: not (item is None or item == "")
    num = parse_number(rest)
    if num is not None:
        def numeric(item):
            if item is None:
                return op == "<>"
            n = to_number(item)
            if n.__class__ is ErrorValue:
                return op == "<>"
            return _apply(op, (n > num) - (n < num))
        return numeric
    operand = rest.casefold()
    if op in ("=", "<>"):
        has_wild = any(ch in rest for ch in "*?~")

        def texty(item):
            t = to_text(item)
            if t.__class__ is ErrorValue:
                return op == "<>"
            t = t.casefold()
            hit = wildcard_match(operand, t) if has_wild else t == operand
            return hit if op == "=" else not hit
        return texty

    def ordered(item):
        if item.__class__ is not str:
            return False
        t = item.casefold()
        return _apply(op, (t > operand) - (t < operand))
    return ordered


def _apply(op: str, cmp: int) -> bool:
    if op == "=":
        return cmp == 0
    if op == "<>":
        return cmp != 0
    if op == ">":
        return cmp > 0
    if op == "<":
        return cmp < 0
    if op == ">=":
        return cmp >= 0
    return cmp <= 0


@function("COUNTIF", "COUNTIF(list, criteria)",
          'Number of items of `list` matching `criteria`: a value, or text such as `">2"`, '
          '`"<>x"`, `"ap*"` (wildcards `*` `?`, `~` escapes).',
          'COUNTIF(["apple", "apricot", "banana"], "ap*")', "2", category="Math", args=(2, 2),
          kinds=("list", "criteria"), result="number")
def COUNTIF(lst, crit):
    match = make_criteria(crit)
    return Decimal(sum(1 for x in items([lst]) if match(x)))


@function("SUMIF", "SUMIF(list, criteria, [sum_list])",
          "Sum of the items of `sum_list` (default: `list`) whose item in `list` matches "
          "`criteria`; lists of different lengths are `#VALUE!`.",
          'SUMIF(["x", "y", "x"], "x", [10, 20, 30])', "40", category="Math", args=(2, 3),
          kinds=("list", "criteria", "list"), result="number")
def SUMIF(lst, crit, sum_list=None):
    keys = items([lst])
    vals = keys if sum_list is None else items([sum_list])
    if len(vals) != len(keys):
        fail(VALUE, "SUMIF: the lists have different lengths")
    match = make_criteria(crit)
    total = ZERO
    for k, v in zip(keys, vals):
        if v is not None and match(k):
            total = arith(CTX.add, total, N(v))
    return total


@function("SUMPRODUCT", "SUMPRODUCT(list1, list2, …)",
          "Sum of the products of corresponding items (rule N, blanks are 0); the lists must "
          "have equal lengths.", "SUMPRODUCT([1, 2], [3, 4])", "11", category="Math",
          args=(1, None), kinds=("list",), result="number")
def SUMPRODUCT(*lists):
    cols = [items([x]) for x in lists]
    n = len(cols[0])
    if any(len(col) != n for col in cols):
        fail(VALUE, "SUMPRODUCT: the lists have different lengths")
    total = ZERO
    for row in zip(*cols):
        p = ONE
        for x in row:
            p = arith(CTX.multiply, p, N(x))
        total = arith(CTX.add, total, p)
    return total


def _kth(lst, k, largest):
    nums = aggregate_numbers([lst])
    k = I(k)
    if not 1 <= k <= len(nums):
        fail(NUM, f"k must be between 1 and {len(nums)}")
    nums.sort(reverse=largest)
    return nums[k - 1]


@function("LARGE", "LARGE(list, k)", "The k-th largest number (1 ≤ k ≤ count, else `#NUM!`).",
          "LARGE([3, 1, 2], 2)", "2", category="Math", args=(2, 2), kinds=("numbers", "number"),
          result="number")
def LARGE(lst, k):
    return _kth(lst, k, True)


@function("SMALL", "SMALL(list, k)", "The k-th smallest number (1 ≤ k ≤ count, else `#NUM!`).",
          "SMALL([3, 1, 2], 1)", "1", category="Math", args=(2, 2), kinds=("numbers", "number"),
          result="number")
def SMALL(lst, k):
    return _kth(lst, k, False)


@function("ROUND", "ROUND(number, [digits=0])",
          "Rounds half away from zero on the exact decimal; negative digits round left of the "
          "point; digits are truncated to an integer.", "ROUND(2.675, 2)", "2.68",
          category="Math", args=(1, 2), kinds=("number", "number"), result="number")
def ROUND(x, d=ZERO):
    return round_to(N(x), I(d), ROUND_HALF_UP)


@function("ROUNDUP", "ROUNDUP(number, digits)", "Rounds away from zero to `digits` places.",
          "ROUNDUP(3.141, 2)", "3.15", category="Math", args=(2, 2), kinds=("number", "number"),
          result="number")
def ROUNDUP(x, d):
    return round_to(N(x), I(d), ROUND_UP)


@function("ROUNDDOWN", "ROUNDDOWN(number, digits)", "Rounds toward zero to `digits` places.",
          "ROUNDDOWN(-3.149, 2)", "-3.14", category="Math", args=(2, 2),
          kinds=("number", "number"), result="number")
def ROUNDDOWN(x, d):
    return round_to(N(x), I(d), ROUND_DOWN)


@function("INT", "INT(number)", "Rounds down to an integer (floor: `INT(-8.9)` is -9).",
          "INT(-8.9)", "-9", category="Math", kinds=("number",), result="number")
def INT(x):
    return N(x).to_integral_value(rounding=ROUND_FLOOR)


@function("ABS", "ABS(number)", "The absolute value.", "ABS(-2.5)", "2.5", category="Math",
          kinds=("number",), result="number")
def ABS(x):
    return N(x).copy_abs()


@function("MOD", "MOD(number, divisor)",
          "Remainder with the sign of the divisor: `a - b*INT(a/b)`; divisor 0 is `#DIV/0!`.",
          "MOD(-3, 2)", "1", category="Math", args=(2, 2), kinds=("number", "number"),
          result="number")
def MOD(a, b):
    a, b = N(a), N(b)
    if not b:
        fail(DIV0, "MOD by zero")
    rem = arith(CTX.remainder, a, b)
    if rem and (rem < 0) != (b < 0):
        rem = arith(CTX.add, rem, b)
    return rem


@function("POWER", "POWER(base, exponent)", "`base ^ exponent` (see the `^` operator).",
          "POWER(2, -2)", "0.25", category="Math", args=(2, 2), kinds=("number", "number"),
          result="number")
def POWER(a, b):
    r = power(N(a), N(b))
    if r.__class__ is ErrorValue:
        raise Fail(r)
    return r


@function("SQRT", "SQRT(number)", "Square root (28 digits); negative numbers are `#NUM!`.",
          "SQRT(16)", "4", category="Math", kinds=("number",), result="number")
def SQRT(x):
    x = N(x)
    if x < 0:
        fail(NUM, "SQRT of a negative number")
    return arith(lambda a, _b: CTX.sqrt(a), x, x)


def _multiple(x, s, rounding, name):
    x, s = N(x), N(s)
    if not s:
        if name == "CEILING":
            return ZERO
        fail(DIV0, "FLOOR with significance 0")
    if x > 0 and s < 0:
        fail(NUM, f"{name}: a positive number needs a positive significance")
    q = arith(CTX.divide, x, s).to_integral_value(rounding=rounding)
    return arith(CTX.multiply, q, s)


@function("CEILING", "CEILING(number, [significance=1])",
          "`s*⌈x/s⌉`: rounds up to a multiple of the significance; s = 0 gives 0; x > 0 with "
          "s < 0 is `#NUM!`.", "CEILING(-10, -3)", "-12", category="Math", args=(1, 2),
          kinds=("number", "number"), result="number")
def CEILING(x, s=ONE):
    return _multiple(x, s, ROUND_CEILING, "CEILING")


@function("FLOOR", "FLOOR(number, [significance=1])",
          "`s*⌊x/s⌋`: rounds down to a multiple of the significance; s = 0 is `#DIV/0!`; x > 0 "
          "with s < 0 is `#NUM!`.", "FLOOR(-10, 3)", "-12", category="Math", args=(1, 2),
          kinds=("number", "number"), result="number")
def FLOOR(x, s=ONE):
    return _multiple(x, s, ROUND_FLOOR, "FLOOR")


# =============================================================== list =========
@function("INDEX", "INDEX(list, n)",
          "The n-th item (1-based; negative counts from the end); 0 or beyond the end is "
          "`#REF!`.", 'INDEX(["a", "b", "c"], -1)', '"c"', category="List", args=(2, 2),
          kinds=("list", "number"), result="item")
def INDEX(lst, n):
    seq = lst if lst.__class__ is list else [lst]
    n = I(n)
    if n == 0 or abs(n) > len(seq):
        fail(REF, f"INDEX {n} is outside 1..{len(seq)}")
    return seq[n - 1] if n > 0 else seq[n]


_ = (MAX_LIST, to_date, check_text)
# the text and date functions register themselves on import
from . import functions_text, functions_date  # noqa: E402,F401
