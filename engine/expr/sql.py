"""SQL backend: translate the filterable subset of an expression into a SQLAlchemy condition.

    to_sql(source, schema, resolve, dialect, now=None) -> ColumnElement[bool]

`resolve(key, folded)` gives the stored scalar of a top-level field (see
engine.columns.stored_value). The translated condition selects exactly the records for
which the Python evaluation is TRUE (rule L), with the same blank, casefold and Decimal
rules. Every user value is a bound parameter. Anything outside the subset raises
`NotInSQL(reason)`:

* conditions: comparisons of two terms of the same type, AND / OR / NOT, ISEMPTY(field),
  CONTAINS(text_field, text), CONTAINS([literals], field), LEFT/RIGHT(text_field, n) =/<>
  text (prefix/suffix, exact under casefold), boolean fields, TRUE/FALSE, numbers
  (non-zero is TRUE);
* terms: fields of type number/text/boolean/date/datetime, literals, `+ - *`, unary minus,
  `%`, YEAR/MONTH/DAY of date fields, and any constant sub-expression (DATE(...), TODAY(),
  arithmetic on literals), folded in Python at translation time.

Numbers: PostgreSQL numeric is exact. On SQLite stored numbers (<= 15 significant digits)
compare natively; arithmetic runs in Python Decimal through functions installed by
`register_sqlite_functions` (ff_add, ff_sub, ff_mul, ff_cmp), so it is exact too.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Callable, Mapping

import sqlalchemy as sa

from . import compile_expression
from .analysis import FieldSig, lookup_function
from .compiler import compile_node
from .errors import ErrorValue
from .parser import Node, parse
from .values import CTX, equal, is_blank_equal

SQL_TYPES = ("number", "text", "boolean", "date", "datetime")


class NotInSQL(Exception):
    """The expression (or part of it) has no exact SQL translation; `.reason` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------ SQLite helpers --
def _dec(v) -> Decimal:
    if v is None:
        return Decimal(0)
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)


def _ff(op):
    def fn(a, b):
        try:
            return str(op(_dec(a), _dec(b)))
        except (InvalidOperation, ArithmeticError, ValueError):
            return None
    return fn


def _ff_cmp(a, b):
    try:
        x, y = _dec(a), _dec(b)
    except (InvalidOperation, ValueError):
        return None
    return (x > y) - (x < y)


def _ff_fold(v):
    return None if v is None else str(v).casefold()


def _expanding_chars() -> dict[int, str]:
    """Code points whose casefold is longer than one character, by extra length."""
    import sys
    out: dict[int, list[str]] = {}
    for i in range(sys.maxunicode + 1):
        if 0xD800 <= i <= 0xDFFF:
            continue
        extra = len(chr(i).casefold()) - 1
        if extra:
            out.setdefault(extra, []).append(chr(i))
    return {k: "".join(v) for k, v in out.items()}


_EXPANDING: dict[int, str] | None = None


def register_sqlite_functions(dbapi_connection) -> None:
    """Install the helpers the SQLite translation uses (exact decimals, casefold)."""
    kw = {"deterministic": True}
    dbapi_connection.create_function("ff_fold", 1, _ff_fold, **kw)
    dbapi_connection.create_function("ff_add", 2, _ff(CTX.add), **kw)
    dbapi_connection.create_function("ff_sub", 2, _ff(CTX.subtract), **kw)
    dbapi_connection.create_function("ff_mul", 2, _ff(CTX.multiply), **kw)
    dbapi_connection.create_function("ff_cmp", 2, _ff_cmp, **kw)


# ----------------------------------------------------------------- terms -----
class Lit:
    """A constant (folded in Python)."""

    def __init__(self, value):
        self.value = value
        cls = value.__class__
        self.type = {Decimal: "number", str: "text", bool: "boolean", date: "date",
                     datetime: "datetime"}.get(cls)


class Col:
    """A field of the current record."""

    def __init__(self, key, type_):
        self.key, self.type = key, type_


class Expr:
    """A computed number: SQL expression; `dec` = SQLite decimal text from ff_* functions."""

    type = "number"

    def __init__(self, sql, dec=False):
        self.sql, self.dec = sql, dec


class Translator:
    def __init__(self, schema, resolve, dialect, now, constants=None):
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported dialect {dialect!r}")
        self.schema = schema
        self.resolve = resolve
        self.pg = dialect == "postgresql"
        self.context = {"now": now} if now is not None else {}
        # $ built-ins given as constants (e.g. $user of a permission rule) fold like literals
        self.constants = frozenset(constants or ())
        self.context.update(constants or {})

    # -- helpers ---------------------------------------------------------------
    def _constant(self, node: Node):
        if _has_refs(node, self.constants):
            return None
        v = compile_node(node)({}, self.context)
        if v.__class__ is ErrorValue:
            raise NotInSQL(f"{_describe(node)} is the error {v.code}")
        return Lit(v)

    def _bind(self, v, type_):
        if type_ == "number":
            if len(v.normalize().as_tuple().digits) > 15:
                raise NotInSQL(f"the number {v} has more than 15 significant digits")
            if self.pg:
                return sa.literal(v, sa.Numeric())
            return sa.literal(int(v), sa.Integer()) if v == v.to_integral_value() and \
                abs(v) < 2 ** 53 else sa.literal(float(v), sa.Float())
        if type_ == "text":
            lit = sa.literal(v.casefold(), sa.String())
            return lit.collate("C") if self.pg else lit
        if type_ == "boolean":
            return sa.literal(bool(v), sa.Boolean())
        if type_ == "date":
            return self._c(sa.literal(v.isoformat(), sa.String()))
        if type_ == "datetime":
            if v.microsecond:
                raise NotInSQL("datetimes with fractions of a second are not in SQL")
            return self._c(sa.literal(v.isoformat(timespec="seconds"), sa.String()))
        raise NotInSQL(f"a {type_} value is not in SQL")  # pragma: no cover

    def _c(self, expr):
        return expr.collate("C") if self.pg else expr

    def _blank(self, type_):
        return {"number": sa.literal(0, sa.Integer()), "text": sa.literal("", sa.String()),
                "boolean": sa.false(), "date": sa.literal("", sa.String()),
                "datetime": sa.literal("", sa.String())}[type_]

    def _value(self, t):
        """SQL of a term with blanks replaced by the type's neutral value (0, '', FALSE)."""
        if isinstance(t, Lit):
            return self._bind(t.value, t.type)
        if isinstance(t, Expr):
            return t.sql
        col = self.resolve(t.key, t.type == "text")
        if t.type in ("text", "date", "datetime"):
            col = sa.type_coerce(col, sa.String())
        out = sa.func.coalesce(col, self._blank(t.type))
        return self._c(out) if self.pg and t.type in ("text", "date", "datetime") else out

    def _is_null(self, t):
        return self.resolve(t.key, False).is_(None)

    # -- terms -----------------------------------------------------------------
    def term(self, node: Node):
        const = self._constant(node)
        if const is not None:
            if const.type is None:
                raise NotInSQL(f"{_describe(node)} is not a single value")
            return const
        k = node.kind
        if k == "field":
            if len(node.value) > 1:
                raise NotInSQL(f"the path {'.'.join(node.value)} cannot run in SQL")
            key = node.value[0]
            sig = self.schema.get(key)
            if sig is None or sig.type not in SQL_TYPES:
                raise NotInSQL(f"field {key!r} ({sig.type if sig else 'unknown'}) is not in SQL")
            return Col(key, sig.type)
        if k == "arith":
            if "/" in node.value:
                raise NotInSQL("division can be #DIV/0! and is not in SQL")
            terms = [self._number(x) for x in node.args]
            acc = terms[0]
            for op, t in zip(node.value, terms[1:]):
                acc = self._arith(op, acc, t)
            return acc
        if k == "sign":
            t = self._number(node.args[0])
            return self._arith("-", Lit(Decimal(0)), t) if node.value else t
        if k == "percent":
            t = self._number(node.args[0])
            return self._arith("*", t, Lit(Decimal(1).scaleb(-2 * node.value)))
        if k == "call":
            fdef = lookup_function(node.value)
            if fdef is not None and fdef.name in ("YEAR", "MONTH", "DAY"):
                t = self.term(node.args[0])
                if not isinstance(t, Col) or t.type not in ("date", "datetime"):
                    raise NotInSQL(f"{fdef.name} needs a date field in SQL")
                start, length = {"YEAR": (1, 4), "MONTH": (6, 2), "DAY": (9, 2)}[fdef.name]
                col = self.resolve(t.key, False)
                return Expr(sa.cast(sa.func.substr(col, start, length), sa.Integer()))
        raise NotInSQL(f"{_describe(node)} cannot run in SQL")

    def _number(self, node):
        t = self.term(node)
        if t.type != "number":
            raise NotInSQL(f"{_describe(node)} is not a number in SQL")
        return t

    def _num_sql(self, t):
        """(sql, dec) of a number term, blanks as 0."""
        if isinstance(t, Expr):
            return (t.sql if t.dec else sa.func.coalesce(t.sql, 0)), t.dec
        if isinstance(t, Lit) and not self.pg:
            self._bind(t.value, "number")  # digit check
            return sa.literal(str(t.value), sa.String()), True
        return self._value(t), False

    def _num_native(self, t):
        if isinstance(t, Expr):
            return sa.func.coalesce(t.sql, 0)
        return self._value(t)

    def _arith(self, op, a, b):
        if isinstance(a, Lit) and isinstance(b, Lit):
            v = {"+": CTX.add, "-": CTX.subtract, "*": CTX.multiply}[op](a.value, b.value)
            return Lit(v)
        (x, _), (y, _) = self._num_sql(a), self._num_sql(b)
        if self.pg:
            return Expr({"+": x + y, "-": x - y, "*": x * y}[op])
        fn = {"+": sa.func.ff_add, "-": sa.func.ff_sub, "*": sa.func.ff_mul}[op]
        return Expr(fn(x, y, type_=sa.String()), dec=True)

    # -- conditions --------------------------------------------------------------
    def condition(self, node: Node):
        const = self._constant(node)
        if const is not None:
            b = _truthy(const.value)
            return sa.true() if b else sa.false()
        k = node.kind
        if k == "compare":
            if len(node.value) > 1:
                raise NotInSQL("chained comparisons are not in SQL")
            sliced = self._slice_compare(node)
            if sliced is not None:
                return sliced
            return self.compare(node.value[0], self.term(node.args[0]), self.term(node.args[1]))
        if k == "call":
            fdef = lookup_function(node.value)
            name = fdef.name if fdef else node.value
            if name in ("AND", "OR"):
                parts = [self.condition(x) for x in node.args]
                return sa.and_(*parts) if name == "AND" else sa.or_(*parts)
            if name == "NOT":
                return sa.not_(self.condition(node.args[0]))
            if name == "ISEMPTY":
                t = self.term(node.args[0])
                if not isinstance(t, Col):
                    raise NotInSQL("ISEMPTY needs a field in SQL")
                if t.type == "text":
                    return sa.func.coalesce(self.resolve(t.key, True), "") == ""
                return self._is_null(t)
            if name == "CONTAINS":
                return self.contains(node)
        t = self.term(node)
        if t.type == "boolean":
            return self._value(t) == sa.true()
        if t.type == "number":
            return self.compare("<>", t, Lit(Decimal(0)))
        raise NotInSQL(f"{_describe(node)} is not a condition SQL can evaluate")

    def _slice_compare(self, node):
        """LEFT/RIGHT(text_field, n) = / <> "text": exact text prefix/suffix filters.

        casefold works per character, so casefold(LEFT(x, n)) is the prefix of the stored
        casefolded copy whose length is n plus the extra characters of the few code points
        that fold to several (ß -> ss). SQLite computes the fold with ff_fold; PostgreSQL
        counts those code points with regexp_replace.
        """
        op = node.value[0]
        a, b = node.args
        if a.kind != "call" and b.kind == "call":
            a, b = b, a
        fdef = lookup_function(a.value) if a.kind == "call" else None
        if fdef is None or fdef.name not in ("LEFT", "RIGHT") or op not in ("=", "<>"):
            return None
        lit = self._constant(b)
        field = self.term(a.args[0]) if not _has_refs(b, self.constants) else None
        n = self._constant(a.args[1]) if len(a.args) == 2 else Lit(Decimal(1))
        if not (isinstance(field, Col) and field.type == "text" and lit is not None
                and lit.type == "text" and n is not None and n.type == "number"):
            raise NotInSQL(f"{fdef.name} in SQL needs a text field, a constant count and a text")
        count = int(n.value) if n.value.adjusted() < 6 else 10 ** 6
        if count < 0:
            raise NotInSQL(f"{fdef.name} with a negative count is #VALUE!")
        want = lit.value.casefold()
        raw = sa.type_coerce(self.resolve(field.key, False), sa.String())
        raw = sa.func.coalesce(raw, "")
        if count == 0:
            cond = sa.true() if want == "" else sa.false()
        elif not self.pg:
            part = sa.func.substr(raw, 1, count) if fdef.name == "LEFT" else \
                sa.func.substr(raw, -count)
            cond = sa.func.ff_fold(part) == sa.literal(want, sa.String())
        else:
            part = sa.func.left(raw, count) if fdef.name == "LEFT" else sa.func.right(raw, count)
            folded = sa.func.coalesce(sa.type_coerce(self.resolve(field.key, True), sa.String()),
                                      "")
            edge = sa.func.left(folded, len(want)) if fdef.name == "LEFT" else \
                sa.func.right(folded, len(want))
            cond = sa.and_(self._c(edge) == self._c(sa.literal(want, sa.String())),
                           self._fold_length(part) == len(want))
        if op == "=" and fdef.name == "LEFT" and want and count > 0:
            # casefold works per character, so casefold(x) starts with casefold(LEFT(x, n)):
            # a range on the folded copy is a necessary condition an index can serve
            upper = want[:-1] + chr(ord(want[-1]) + 1) if ord(want[-1]) < 0x10FFFF else None
            folded_col = self.resolve(field.key, True)
            prefix = folded_col >= self._c(sa.literal(want, sa.String()))
            if upper is not None:
                prefix = sa.and_(prefix, folded_col < self._c(sa.literal(upper, sa.String())))
            cond = sa.and_(prefix, cond)
        return cond if op == "=" else sa.not_(cond)

    def _fold_length(self, part):
        """PostgreSQL: the length of casefold(part)."""
        global _EXPANDING
        if _EXPANDING is None:
            _EXPANDING = _expanding_chars()
        total = sa.func.length(part)
        for extra, chars in sorted(_EXPANDING.items()):
            cls = "[" + "".join("\\" + c if c in "\\]^-[" else c for c in chars) + "]"
            stripped = sa.func.regexp_replace(part, sa.literal(cls, sa.String()), "", "g")
            total = total + extra * (sa.func.length(part) - sa.func.length(stripped))
        return total

    def contains(self, node):
        hay, needle = node.args
        folded = self._constant(hay) if hay.kind != "list" else None
        if folded is not None and isinstance(folded.value, list):
            # a constant list such as $user.departments: membership as in a list literal
            items = [Lit(v) for v in folded.value]
            if any(i.type is None for i in items):
                raise NotInSQL("CONTAINS needs a list of single values in SQL")
            t = self.term(needle)
            return sa.or_(*[self.compare("=", t, i) for i in items]) if items else sa.false()
        if hay.kind == "list":
            items = [self._constant(x) for x in hay.args]
            if any(i is None for i in items):
                raise NotInSQL("CONTAINS needs a list of constants in SQL")
            t = self.term(needle)
            if not items:
                return sa.false()
            return sa.or_(*[self.compare("=", t, i) for i in items])
        h, n = self.term(hay), self.term(needle)
        if not (isinstance(h, Col) and h.type == "text" and isinstance(n, Lit)
                and n.type == "text"):
            raise NotInSQL("CONTAINS in SQL needs a text field and a text")
        hay_sql = sa.func.coalesce(self.resolve(h.key, True), "")
        lit = sa.literal(n.value.casefold(), sa.String())
        fn = sa.func.strpos if self.pg else sa.func.instr
        return fn(hay_sql, lit) > 0

    def compare(self, op, a, b):
        if isinstance(a, Lit) and isinstance(b, Lit):
            v = compile_node(parse(f"x {op} y"))({"x": a.value, "y": b.value}, {})
            if v.__class__ is ErrorValue:
                raise NotInSQL(f"the comparison is the error {v.code}")
            return sa.true() if v else sa.false()
        if a.type != b.type:
            if op not in ("=", "<>"):
                raise NotInSQL(f"'{op}' between a {a.type} and a {b.type} is #VALUE!")
            if {a.type, b.type} == {"date", "datetime"}:
                raise NotInSQL("comparing dates with datetimes is not in SQL")
            if isinstance(a, Lit):
                a, b = b, a
            if isinstance(a, Col) and isinstance(b, Lit):
                cond = self._is_null(a) if is_blank_equal(b.value) else sa.false()
                return cond if op == "=" else sa.not_(cond)
            raise NotInSQL(f"comparing a {a.type} with a {b.type} is not in SQL")
        if isinstance(b, Col) and isinstance(a, Lit):
            a, b, op = b, a, _FLIP.get(op, op)
        if isinstance(a, Col) and isinstance(b, Lit) and b.value is not None:
            return self._indexable_compare(op, a, b)
        if a.type == "number":
            if not self.pg and any(isinstance(t, Expr) and t.dec for t in (a, b)):
                (x, _), (y, _) = self._num_sql(a), self._num_sql(b)
                return _op(op, sa.func.ff_cmp(x, y), sa.literal(0, sa.Integer()))
            return _op(op, self._num_native(a), self._num_native(b))
        return _op(op, self._value(a), self._value(b))


    def _indexable_compare(self, op, col, lit):
        """field op constant without COALESCE, so an expression index on the field applies.

        A blank field behaves as 0 / "" / FALSE; whether that blank satisfies the
        comparison is known in Python, so blanks are added back with IS NULL only
        when they match (e.g. `qty < 5` includes blanks, `qty > 5` does not).
        """
        raw = self.resolve(col.key, col.type == "text")
        if col.type in ("date", "datetime"):
            raw = self._c(sa.type_coerce(raw, sa.String()))
        blank = {"number": Decimal(0), "text": "", "boolean": False}.get(col.type)
        if blank is None:  # dates: a blank is smaller than any date
            blank_matches = op in ("<", "<=", "<>", "!=")
        else:
            v = compile_node(parse(f"x {op} y"))({"x": blank, "y": lit.value}, {})
            if v.__class__ is ErrorValue:
                raise NotInSQL(f"the comparison is the error {v.code}")
            blank_matches = v is True
        cond = _op(op, raw, self._bind(lit.value, lit.type))
        # never leave SQL's NULL in the result: NOT(NULL) would drop rows Python keeps
        return sa.or_(cond, raw.is_(None)) if blank_matches else sa.and_(raw.is_not(None), cond)


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}


def _op(op, x, y):
    return {"=": x == y, "<>": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _truthy(v) -> bool:
    from .values import to_bool
    b = to_bool(v)
    return b is True


def _has_refs(node: Node, constants=frozenset()) -> bool:
    if node.kind == "builtin" and node.value[0] in constants:
        return False
    if node.kind in ("field", "builtin"):
        return True
    return any(_has_refs(x, constants) for x in node.args)


def _describe(node: Node) -> str:
    if node.kind == "call":
        return f"{node.value.upper()}(…) at column {node.column}"
    if node.kind == "field":
        return f"field {'.'.join(node.value)}"
    return f"the {node.kind} at column {node.column}"


def to_sql(source: str, schema: Mapping[str, FieldSig], resolve: Callable, dialect: str,
           now: datetime | None = None, constants: Mapping | None = None):
    """The SQL condition selecting exactly the records for which `source` is TRUE.

    Raises the static ExprError subclasses for invalid sources and NotInSQL when part of
    the expression has no exact SQL form. `now` fixes TODAY()/NOW() (default: the clock).
    `constants` gives $ built-ins whose values are known at translation time
    (`{"user": {...}}` for permission rules): they are folded in Python like literals,
    and `CONTAINS($user.departments, field)` becomes a membership test.
    """
    compile_expression(source, schema)          # static checks first
    if now is None:
        now = datetime.now().replace(microsecond=0)
    return Translator(dict(schema), resolve, dialect, now, constants).condition(parse(source))


_ = (equal,)
