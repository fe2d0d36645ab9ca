"""SQL backend: translate the filterable subset of an expression into a SQLAlchemy condition.

    to_sql(source, schema, resolve, dialect, now=None, constants=None, text_keys=(),
           lists=None) -> ColumnElement[bool]

`resolve(key, folded)` gives the stored scalar of a top-level field (see
engine.columns.stored_value). The translated condition selects exactly the records for
which the Python evaluation is TRUE (rule L), with the same blank, casefold and Decimal
rules. Every user value is a bound parameter. Anything outside the subset raises
`NotInSQL(reason)`:

* conditions: comparisons of two terms of the same type (a date with a datetime
  constant too), AND / OR / NOT, ISEMPTY(field), CONTAINS(text_field, text),
  CONTAINS(list_field, text), CONTAINS([literals], field), LEFT/RIGHT(text_field, n) =/<>
  text (prefix/suffix, exact under casefold), boolean fields, TRUE/FALSE, numbers
  (non-zero is TRUE);
* terms: fields of type number/text/boolean/date/datetime, fields named in `text_keys`
  (stored as the very text the evaluator sees: times "HH:MM:SS", single links' record
  ids), literals, `+ - *`, unary minus, `%`, YEAR/MONTH/DAY of date fields, and any
  constant sub-expression (DATE(...), TODAY(), arithmetic on literals), folded in Python
  at translation time;
* list fields named in `lists` ({key: (JSON document column, field id)}, stored as a JSON
  array of scalars: multiselect, multiple users/departments/links) in CONTAINS(list, text),
  ISEMPTY(list) and `list = blank`. CONTAINS compares items like `=` (casefolded): SQLite
  folds each item with ff_fold; PostgreSQL has no casefold, so the text is turned into a
  regular expression matching exactly the strings whose casefold equals it.

Numbers: PostgreSQL numeric is exact. On SQLite stored numbers (<= 15 significant digits)
compare natively; arithmetic runs in Python Decimal through functions installed by
`register_sqlite_functions` (ff_add, ff_sub, ff_mul, ff_cmp), so it is exact too.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
import re
from typing import Callable, Collection, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from . import compile_expression
from .analysis import FieldSig, lookup_function
from .compiler import compile_node
from .errors import ErrorValue
from .parser import Node, parse
from .values import CTX, equal, is_blank_equal

_ID = re.compile(r"[A-Za-z0-9_]{1,128}")

SQL_TYPES = ("number", "text", "boolean", "date", "datetime")
#: expression types of the fields `lists` may name
LIST_TYPES = ("list", "records")
#: longest regular expression a casefolded text may become (PostgreSQL list items)
MAX_FOLD_REGEX = 20_000


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


#: No code point from here on changes under casefold (tests/test_expr_sql.py checks the whole
#: range against this Python's Unicode tables): scans stop here, 9× fewer characters.
CASED_LIMIT = 0x1E922


def _expanding_chars() -> dict[int, str]:
    """Code points whose casefold is longer than one character, by extra length."""
    out: dict[int, list[str]] = {}
    for i in range(CASED_LIMIT):
        if 0xD800 <= i <= 0xDFFF:
            continue
        extra = len(chr(i).casefold()) - 1
        if extra:
            out.setdefault(extra, []).append(chr(i))
    return {k: "".join(v) for k, v in out.items()}


_EXPANDING: dict[int, str] | None = None
_UNFOLD: dict[str, str] | None = None


def _chars_folding_to(piece: str) -> str:
    """Every character whose casefold is `piece` (1-3 characters); "" when none.

    Only the ~1,500 characters that casefold changes are kept in a table: mapping every code
    point to its fold held 230 MB per process and took seconds to build.
    """
    global _UNFOLD
    if _UNFOLD is None:
        out: dict[str, list[str]] = {}
        for i in range(CASED_LIMIT):
            if 0xD800 <= i <= 0xDFFF:
                continue
            c = chr(i)
            folded = c.casefold()
            if folded != c:
                out.setdefault(folded, []).append(c)
        _UNFOLD = {k: "".join(v) for k, v in out.items()}
    itself = piece if len(piece) == 1 and piece.casefold() == piece else ""
    return itself + _UNFOLD.get(piece, "")


def _char_class(chars: str) -> str:
    return "[" + "".join("\\" + c if c in "\\]^-[" else c for c in chars) + "]"


def fold_regex(folded: str) -> str | None:
    """A PostgreSQL regular expression matching exactly the texts whose casefold is `folded`.

    casefold works character by character (one character folds to 1-3), so those texts
    are the ways of cutting `folded` into pieces, each replaced by the characters folding
    to it. None when the expression would exceed MAX_FOLD_REGEX characters.
    """
    n = len(folded)
    memo: dict[int, str | None] = {n: ""}

    def rest(i: int) -> str | None:
        if i in memo:
            return memo[i]
        alts = []
        for k in (1, 2, 3):
            chars = _chars_folding_to(folded[i:i + k]) if i + k <= n else None
            tail = rest(i + k) if chars else None
            if tail is not None:
                alts.append(_char_class(chars) + tail)
        out = None if not alts else alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if out is not None and len(out) > MAX_FOLD_REGEX:
            out = None
        memo[i] = out
        return out

    for i in range(n, -1, -1):  # from the end: no deep recursion on long texts
        rest(i)
    body = memo[0]
    return None if body is None else "^" + body + "$"


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
    def __init__(self, schema, resolve, dialect, now, constants=None, text_keys=(), lists=None):
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported dialect {dialect!r}")
        self.schema = schema
        self.resolve = resolve
        self.text_keys = frozenset(text_keys)
        self.lists = dict(lists or {})
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
        if t.type == "list":
            raise NotInSQL(f"field {t.key!r} is a list: use CONTAINS or ISEMPTY on it in SQL")
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
            if sig is not None and key in self.text_keys:
                return Col(key, "text")
            if sig is not None and sig.type in LIST_TYPES and key in self.lists:
                return Col(key, "list")
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
                if t.type == "list":
                    return self._list_empty(t)
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
        if isinstance(h, Col) and h.type == "list":
            if not (isinstance(n, Lit) and n.type == "text"):
                raise NotInSQL("CONTAINS on a list field in SQL needs a text to look for")
            return self._list_contains(h, n.value)
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
        if "list" in (a.type, b.type):
            return self._list_compare(op, a, b)
        if {a.type, b.type} == {"date", "datetime"}:
            folded = self._date_datetime(op, a, b)
            if not isinstance(folded, tuple):
                return folded
            op, a, b = folded
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


    def _date_datetime(self, op, a, b):
        """A date compared with a datetime constant, as the evaluator does (a date is its
        midnight): (op, col, lit) of the same type, or the whole condition when the
        answer does not depend on the field. Two fields stay outside SQL."""
        if isinstance(a, Lit):
            a, b, op = b, a, _FLIP.get(op, op)
        if not (isinstance(a, Col) and isinstance(b, Lit)):
            raise NotInSQL("comparing dates with datetimes is not in SQL")
        v = b.value
        if b.type == "date":  # datetime field, date constant: its midnight
            return op, a, Lit(datetime(v.year, v.month, v.day))
        if v == datetime(v.year, v.month, v.day):  # date field, midnight: that day
            return op, a, Lit(v.date())
        # a date field never equals a datetime after midnight; it is before it up to that day
        if op == "=":
            return sa.false()
        if op == "<>":
            return sa.true()
        return {"<": "<=", ">=": ">"}.get(op, op), a, Lit(v.date())

    # -- lists -----------------------------------------------------------------------
    def _list_json(self, t):
        """(document column, field id) of a list field."""
        doc, field_id = self.lists[t.key]
        _check_id(field_id)
        return doc, field_id

    def _list_empty(self, t):
        """ISEMPTY(list): blank, an empty array (or "", as for any value)."""
        doc, field_id = self._list_json(t)
        if self.pg:
            j = doc.op("->", return_type=postgresql.JSONB())(sa.literal_column(f"'{field_id}'"))
            empties = [sa.literal_column(f"'{x}'::jsonb") for x in ("null", "[]", '""')]
            return sa.func.coalesce(j, empties[0]).in_(empties)
        path = sa.literal_column(f"'{json_path(field_id)}'")
        return sa.or_(sa.func.coalesce(sa.func.json_extract(doc, path), "") == "",
                      sa.and_(_sqlite_is_array(doc, path), sa.func.json_array_length(doc, path) == 0))

    def _list_contains(self, t, needle: str):
        """CONTAINS(list, text): some item `=` the text (casefolded; a blank text also
        matches null items, and a blank field, which the evaluator reads as "")."""
        doc, field_id = self._list_json(t)
        want = needle.casefold()
        if self.pg:
            j = doc.op("->", return_type=postgresql.JSONB())(sa.literal_column(f"'{field_id}'"))
            items = sa.func.jsonb_array_elements(j).table_valued("value").render_derived(name="item")
            item = items.c.value
            pattern = fold_regex(want)
            if pattern is None:
                raise NotInSQL("the text is too long to look for in a list in SQL")
            text = item.op("#>>", return_type=sa.Text())(sa.literal_column("'{}'"))
            match = sa.and_(sa.func.jsonb_typeof(item) == "string",
                            text.op("~")(sa.literal(pattern, sa.String())))
            if not want:
                match = sa.or_(match, sa.func.jsonb_typeof(item) == "null")
            found = sa.case((sa.func.jsonb_typeof(j) == "array",
                             sa.exists(sa.select(sa.literal(1)).select_from(items).where(match))),
                            else_=sa.false())
        else:
            path = sa.literal_column(f"'{json_path(field_id)}'")
            # SQLite names json_each's columns itself (no column list after the alias)
            items = sa.func.json_each(doc, path).table_valued("value", "type", name="item")
            match = sa.and_(items.c.type == "text",
                            sa.func.ff_fold(items.c.value) == sa.literal(want, sa.String()))
            if not want:
                match = sa.or_(match, items.c.type == "null")
            found = sa.and_(_sqlite_is_array(doc, path),
                            sa.exists(sa.select(sa.literal(1)).select_from(items).where(match)))
        return sa.or_(found, self._is_null(t)) if not want else found

    def _list_compare(self, op, a, b):
        """list = value: only a blank list equals a blank value; lists are not ordered."""
        if b.type == "list":
            a, b = b, a
        if not isinstance(b, Lit) or b.type is None or b.type == "list":
            raise NotInSQL("comparing a list field with a list or a field is not in SQL")
        if op not in ("=", "<>"):
            raise NotInSQL(f"'{op}' on a list is #VALUE!")
        cond = self._is_null(a) if is_blank_equal(b.value) else sa.false()
        return cond if op == "=" else sa.not_(cond)

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


def json_path(field_id: str) -> str:
    """The SQLite JSON path of a top-level key (as engine.columns.json_path)."""
    return f'$."{field_id}"'


def _sqlite_is_array(doc, path):
    # never NULL (a missing key): NOT(...) of a NULL condition would drop the record
    return sa.func.coalesce(sa.func.json_type(doc, path), "") == "array"


def _check_id(field_id: str) -> None:
    # ids go into JSON paths as SQL text, so they must be plain identifiers
    if not isinstance(field_id, str) or not _ID.fullmatch(field_id):
        raise NotInSQL(f"field id {field_id!r} cannot be used in SQL")


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
           now: datetime | None = None, constants: Mapping | None = None,
           text_keys: Collection[str] = (), lists: Mapping[str, tuple] | None = None):
    """The SQL condition selecting exactly the records for which `source` is TRUE.

    Raises the static ExprError subclasses for invalid sources and NotInSQL when part of
    the expression has no exact SQL form. `now` fixes TODAY()/NOW() (default: the clock).
    `constants` gives $ built-ins whose values are known at translation time
    (`{"user": {...}}` for permission rules): they are folded in Python like literals,
    and `CONTAINS($user.departments, field)` becomes a membership test.
    `text_keys` and `lists` name fields SQL reads as text and as JSON arrays (see above).
    """
    compile_expression(source, schema)          # static checks first
    if now is None:
        now = datetime.now().replace(microsecond=0)
    return Translator(dict(schema), resolve, dialect, now, constants, text_keys,
                      lists).condition(parse(source))


_ = (equal,)
