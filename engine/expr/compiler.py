"""AST -> nested Python closures `f(record, context) -> value`.

No eval/exec of user text, no attribute access on values: every node becomes a closure
over other closures, literals and functions from the registry. Errors are ErrorValue
values inside; the leftmost error operand wins. Hot paths (Decimal/Decimal arithmetic,
comparisons with a literal, IF/AND/OR) are specialised so that the common case costs one
class check; everything else falls back to the generic operator functions.
"""
from __future__ import annotations

import operator
from datetime import date, datetime
from decimal import Decimal

from .errors import DIV0, NUM, REF, VALUE, ErrorValue
from .functions import FUNCTIONS, Fail, power
from .functions_date import now_of, today_of
from .parser import Node
from .values import (CTX, MAX_LIST, MAX_TEXT, PLAIN, DecimalError, ListTooLong, add_days,
                     compare, days_between, equal, format_number, norm, spend, to_bool, to_number,
                     to_text)

_DATES = (date, datetime)
HUNDRED = Decimal(100)


# ------------------------------------------------------ generic operators ----
def _arith_slow(op: str, a, b):
    if a.__class__ is ErrorValue:
        return a
    if b.__class__ is ErrorValue:
        return b
    ad, bd = a.__class__ in _DATES, b.__class__ in _DATES
    if ad or bd:
        if op == "-" and ad and bd:
            return days_between(a, b)
        if op in "+-" and ad and not bd:
            n = to_number(b)
            if n.__class__ is ErrorValue:
                return n
            return add_days(a, n if op == "+" else n.copy_negate())
        if op == "+" and bd and not ad:
            n = to_number(a)
            if n.__class__ is ErrorValue:
                return n
            return add_days(b, n)
        return ErrorValue(VALUE, f"'{op}' cannot be applied to dates this way")
    x = to_number(a)
    if x.__class__ is ErrorValue:
        return x
    y = to_number(b)
    if y.__class__ is ErrorValue:
        return y
    try:
        if op == "+":
            return CTX.add(x, y)
        if op == "-":
            return CTX.subtract(x, y)
        if op == "*":
            return CTX.multiply(x, y)
        if not y:
            return ErrorValue(DIV0, "division by zero")
        return CTX.divide(x, y)
    except DecimalError:
        return ErrorValue(NUM, "number out of range")


def _pow_slow(a, b):
    if a.__class__ is ErrorValue:
        return a
    if b.__class__ is ErrorValue:
        return b
    x = to_number(a)
    if x.__class__ is ErrorValue:
        return x
    y = to_number(b)
    if y.__class__ is ErrorValue:
        return y
    return power(x, y)


def _concat(a, b):
    if a.__class__ is ErrorValue:
        return a
    if b.__class__ is ErrorValue:
        return b
    x = to_text(a)
    if x.__class__ is ErrorValue:
        return x
    y = to_text(b)
    if y.__class__ is ErrorValue:
        return y
    if len(x) + len(y) > MAX_TEXT:
        return ErrorValue(VALUE, f"text longer than {MAX_TEXT} characters")
    return x + y


def _cmp_slow(op: str, a, b):
    if a.__class__ is ErrorValue:
        return a
    if b.__class__ is ErrorValue:
        return b
    if op == "=":
        return equal(a, b)
    if op == "<>":
        return not equal(a, b)
    c = compare(a, b)
    if c.__class__ is ErrorValue:
        return c
    if op == "<":
        return c < 0
    if op == "<=":
        return c <= 0
    if op == ">":
        return c > 0
    return c >= 0


_FAST_ARITH = {"+": CTX.add, "-": CTX.subtract, "*": CTX.multiply, "/": CTX.divide}


def _op_fn(kind, op):
    if kind == "arith":
        fast = _FAST_ARITH[op]

        def fn(a, b):
            if a.__class__ is Decimal and b.__class__ is Decimal:
                try:
                    return fast(a, b)
                except DecimalError:
                    pass
            return _arith_slow(op, a, b)
        return fn
    if kind == "pow":
        return _pow_slow
    if kind == "concat":
        return _concat
    return lambda a, b: _cmp_slow(op, a, b)


# ------------------------------------------------------------- paths ---------
def project(v, seg):
    """One path step (spec 3): dict key, per-row over lists (flattened once), None stays."""
    if v is None:
        return None
    cls = v.__class__
    if cls is dict:
        if seg in v:
            return v[seg]
        return ErrorValue(REF, f"no field {seg!r}")
    if cls is list:
        out = []
        for row in v:
            if row is None:
                out.append(None)
                continue
            if row.__class__ is not dict:
                return ErrorValue(REF, f"cannot read {seg!r} of a {type(row).__name__}")
            if seg not in row:
                return ErrorValue(REF, f"no field {seg!r}")
            x = row[seg]
            if x.__class__ is list:
                out.extend(x)
            else:
                out.append(x)
        if len(out) > MAX_LIST:
            return ErrorValue(VALUE, f"list longer than {MAX_LIST} items")
        if len(out) > 64:
            try:
                spend(len(out))
            except ListTooLong as e:
                return ErrorValue(VALUE, str(e))
        return out
    if cls is ErrorValue:
        return v
    return ErrorValue(REF, f"cannot read {seg!r} of a value that is not a record")


def _field(path):
    key = path[0]
    rest = path[1:]
    if not rest:
        def f(r, c):
            try:
                v = r[key]
            except KeyError:
                return None
            if v.__class__ in PLAIN:
                return v
            return norm(v)
        f.field_key = key
        return f

    def fp(r, c):
        try:
            v = r[key]
        except KeyError:
            return None
        v = norm(v)
        for seg in rest:
            v = project(v, seg)
        return v
    return fp


def _builtin(path):
    name, rest = path[0], path[1:]
    if name == "now":
        def get(c):
            return now_of(c)
    elif name == "today":
        def get(c):
            return today_of(c)
    else:
        def get(c):
            return norm(c.get(name)) if c else None

    def f(r, c):
        v = get(c)
        for seg in rest:
            v = project(v, seg)
        return v
    return f


# ---------------------------------------------------------- compilation -----
def compile_node(node: Node):
    k = node.kind
    if k in ("num", "str", "bool"):
        value = node.value

        def const(r, c):
            return value
        const.literal = value
        return const
    if k == "field":
        return _field(node.value)
    if k == "builtin":
        return _builtin(node.value)
    if k == "list":
        fns = tuple(compile_node(x) for x in node.args)

        def lst(r, c):
            out = [f(r, c) for f in fns]
            for v in out:
                if v.__class__ is ErrorValue:
                    return v
            return out
        return lst
    if k == "sign":
        inner = compile_node(node.args[0])
        negate = node.value

        def sign(r, c):
            v = inner(r, c)
            if v.__class__ is not Decimal:
                v = to_number(v)
                if v.__class__ is ErrorValue:
                    return v
            return v.copy_negate() if negate else v
        return sign
    if k == "percent":
        inner = compile_node(node.args[0])
        divisor = HUNDRED ** node.value

        def pct(r, c):
            v = inner(r, c)
            if v.__class__ is not Decimal:
                v = to_number(v)
                if v.__class__ is ErrorValue:
                    return v
            try:
                return CTX.divide(v, divisor)
            except DecimalError:
                return ErrorValue(NUM, "number out of range")
        return pct
    if k in ("arith", "pow", "concat", "compare"):
        return _chain(node)
    if k == "call":
        return _call(node)
    raise AssertionError(k)  # pragma: no cover


def _chain(node: Node):
    fns = [compile_node(x) for x in node.args]
    if len(fns) == 2:
        return _binary(node.kind, node.value[0] if node.kind in ("arith", "compare") else None,
                       fns[0], fns[1])
    ops = [_op_fn(node.kind, op) for op in node.value]
    first, rest = fns[0], tuple(zip(ops, fns[1:]))

    def chain(r, c):
        acc = first(r, c)
        for op, fn in rest:
            if acc.__class__ is ErrorValue:
                return acc
            acc = op(acc, fn(r, c))
        return acc
    return chain


def _binary(kind, op, fa, fb):
    lit_b = getattr(fb, "literal", _NO)
    if kind == "arith":
        fast = _FAST_ARITH[op]
        key = getattr(fa, "field_key", None)
        if lit_b.__class__ is Decimal and (op != "/" or lit_b) and key is not None:
            def arith_field_lit(r, c):
                try:
                    a = r[key]
                except KeyError:
                    a = None
                ca = a.__class__
                if ca is Decimal or ca is int:
                    try:
                        return fast(a, lit_b)
                    except DecimalError:
                        pass
                return _arith_slow(op, _read_field(key, r), lit_b)
            return arith_field_lit
        if lit_b.__class__ is Decimal and (op != "/" or lit_b):
            def arith_lit(r, c):
                a = fa(r, c)
                if a.__class__ is Decimal:
                    try:
                        return fast(a, lit_b)
                    except DecimalError:
                        pass
                return _arith_slow(op, a, lit_b)
            return arith_lit

        def arith(r, c):
            a = fa(r, c)
            b = fb(r, c)
            if a.__class__ is Decimal and b.__class__ is Decimal:
                try:
                    return fast(a, b)
                except DecimalError:
                    pass
            return _arith_slow(op, a, b)
        return arith
    if kind == "compare":
        return _compare(op, fa, fb, lit_b)
    fn = _op_fn(kind, op)

    def binary(r, c):
        return fn(fa(r, c), fb(r, c))
    return binary


_NO = object()


_PYOPS = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt,
          ">=": operator.ge, "<>": operator.ne}


def _read_field(key, r):
    try:
        v = r[key]
    except KeyError:
        return None
    return v if v.__class__ in PLAIN else norm(v)


def _compare(op, fa, fb, lit_b):
    key = getattr(fa, "field_key", None)
    if lit_b.__class__ is Decimal:
        pyop = _PYOPS[op]
        if key is not None:
            # field <op> number literal: read the record directly; ints compare exactly
            def cmp_field_num(r, c):
                try:
                    a = r[key]
                except KeyError:
                    a = None
                ca = a.__class__
                if ca is Decimal or ca is int:
                    return pyop(a, lit_b)
                return _cmp_slow(op, _read_field(key, r), lit_b)
            return cmp_field_num

        def cmp_num(r, c):
            a = fa(r, c)
            if a.__class__ is Decimal:
                return pyop(a, lit_b)
            return _cmp_slow(op, a, lit_b)
        return cmp_num
    if lit_b.__class__ is str and op in ("=", "<>"):
        folded = lit_b.casefold()
        want = op == "="
        if key is not None:
            def eq_field_text(r, c):
                try:
                    a = r[key]
                except KeyError:
                    a = None
                if a.__class__ is str:
                    return (a == lit_b or a.casefold() == folded) is want
                return _cmp_slow(op, _read_field(key, r), lit_b)
            return eq_field_text

        def eq_text(r, c):
            a = fa(r, c)
            if a.__class__ is str:
                return (a == lit_b or a.casefold() == folded) is want
            return _cmp_slow(op, a, lit_b)
        return eq_text

    def cmp(r, c):
        a = fa(r, c)
        b = fb(r, c)
        ca = a.__class__
        if ca is Decimal and b.__class__ is Decimal:
            if op == "=":
                return a == b
            if op == "<>":
                return a != b
            if op == "<":
                return a < b
            if op == "<=":
                return a <= b
            if op == ">":
                return a > b
            return a >= b
        return _cmp_slow(op, a, b)
    return cmp


# --------------------------------------------------------------- calls ------
def _guard(impl):
    """Run an eager implementation, turning Fail and stray exceptions into error values."""
    def run(*args):
        try:
            return impl(*args)
        except Fail as e:
            return e.error
        except ListTooLong as e:
            return ErrorValue(VALUE, str(e))
        except (ArithmeticError, ValueError, OverflowError, TypeError, MemoryError,
                RecursionError) as e:
            return ErrorValue(VALUE, f"cannot compute: {type(e).__name__}")
    return run


def _call(node: Node):
    fdef = FUNCTIONS.get(node.value.upper())
    fns = tuple(compile_node(x) for x in node.args)
    name = fdef.name
    if name in ("TODAY", "NOW"):
        getter = today_of if name == "TODAY" else now_of
        return lambda r, c: getter(c)
    if name == "IF":
        return _if(*fns)
    if name in ("AND", "OR") and len(fns) == 2:
        return _and_or2(name == "AND", *fns)
    if fdef.lazy:
        impl = _guard(fdef.impl)

        def lazy(r, c):
            return impl(r, c, *fns)
        return lazy
    impl = _guard(fdef.impl)
    if fdef.catches_errors:
        def catching(r, c):
            return impl(*[f(r, c) for f in fns])
        return catching
    if len(fns) == 1:
        f0 = fns[0]

        def call1(r, c):
            v = f0(r, c)
            if v.__class__ is ErrorValue:
                return v
            return impl(v)
        return call1
    if len(fns) == 2:
        f0, f1 = fns

        def call2(r, c):
            a = f0(r, c)
            if a.__class__ is ErrorValue:
                return a
            b = f1(r, c)
            if b.__class__ is ErrorValue:
                return b
            return impl(a, b)
        return call2

    def call(r, c):
        args = [f(r, c) for f in fns]
        for v in args:
            if v.__class__ is ErrorValue:
                return v
        return impl(*args)
    return call


def _if(fc, ft, fe=None):
    def if_(r, c):
        v = fc(r, c)
        if v is True:
            return ft(r, c)
        if v is False:
            return fe(r, c) if fe is not None else False
        b = to_bool(v)
        if b.__class__ is ErrorValue:
            return b
        if b:
            return ft(r, c)
        return fe(r, c) if fe is not None else False
    return if_


def _logical(v, is_and):
    """AND/OR on one non-bool argument value: True/False/ErrorValue (continue = is_and)."""
    if v.__class__ is ErrorValue:
        return v
    items = v if v.__class__ is list else (v,)
    if v.__class__ is list:
        from .values import flatten
        try:
            items = flatten(v)
        except ListTooLong:
            return ErrorValue(VALUE, "list too long")
    for x in items:
        b = to_bool(x)
        if b.__class__ is ErrorValue:
            return b
        if b is not is_and:
            return b
    return is_and


def _and_or2(is_and, f0, f1):
    stop = not is_and

    def and_or(r, c):
        v = f0(r, c)
        if v is not is_and:
            if v is stop:
                return stop
            v = _logical(v, is_and)
            if v is not is_and:
                return v
        v = f1(r, c)
        if v is True or v is False:
            return v
        return _logical(v, is_and)
    return and_or


_ = (format_number, Decimal)
