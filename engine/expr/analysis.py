"""Static analysis: names, arity and types against a schema, with located diagnostics.

`analyse(source, schema)` parses and walks the AST once, inferring the result type of
every node and collecting Diagnostics. Codes #SYNTAX!/#NAME?/#ARGS! are fatal (the
compiler refuses the expression); #VALUE! diagnostics are type warnings: the
expression would certainly produce #VALUE! for non-blank inputs, which a runtime
IFERROR could still catch, so only `check` reports them.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Mapping

from .errors import ARGS, NAME, VALUE, Diagnostic, ExprError, excerpt
from .functions import FUNCTIONS
from .parser import Node, parse
from .values import parse_number, to_bool, to_date

#: $ names the engine provides (any name is accepted when no schema is given)
BUILTINS = {
    "now": "datetime", "today": "date", "user": "record", "record_id": "text", "parent": "record",
}

TYPES = ("number", "text", "boolean", "date", "datetime", "time", "list", "record", "records",
         "any")


@dataclass(frozen=True)
class FieldSig:
    """The static type of a field: one of TYPES; `fields` for record/records."""

    type: str
    fields: Mapping[str, "FieldSig"] | None = None

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"unknown field type {self.type!r} (one of {', '.join(TYPES)})")

    def __hash__(self):
        return hash((self.type, None if self.fields is None
                     else tuple(sorted(self.fields.items(), key=lambda kv: kv[0]))))

    def __eq__(self, other):
        if not isinstance(other, FieldSig):
            return NotImplemented
        return self.type == other.type and (
            (self.fields is None and other.fields is None)
            or (self.fields is not None and other.fields is not None
                and dict(self.fields) == dict(other.fields)))


_SCALAR_OF = {"time": "text", "record": "record", "records": "list"}


@dataclass
class Info:
    """What analysis learns about a node: its type, where the value comes from."""

    type: str                      # number text boolean date datetime list record any
    origin: str = "computed"       # literal | field | computed
    literal: object = None


@dataclass
class Analysis:
    source: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    fields: set = field(default_factory=set)
    paths: set = field(default_factory=set)
    builtins: set = field(default_factory=set)
    field_refs: list = field(default_factory=list)      # (key, line, col, end_col)
    builtin_refs: list = field(default_factory=list)
    result_type: str = "any"

    def add(self, code, message, node_or_pos, suggestion=None):
        if isinstance(node_or_pos, Node):
            line, col, end = node_or_pos.line, node_or_pos.column, node_or_pos.end_column
            if node_or_pos.end_line != line:
                end = col + 1
        else:
            line, col, _el, end = node_or_pos
        self.diagnostics.append(Diagnostic(code, message, line, col, end,
                                           excerpt(self.source, line, col, end), suggestion))

    @property
    def fatal(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.code != VALUE]


def suggest(name: str, candidates) -> str | None:
    cands = list(candidates)
    for c in cands:
        if c.casefold() == name.casefold():
            return c
    m = difflib.get_close_matches(name, cands, n=1, cutoff=0.6)
    return m[0] if m else None


def lookup_function(name: str):
    """The FunctionDef for a call name (case-insensitive, ASCII only) or None."""
    if not name.isascii():
        return None
    up = name.upper()
    return FUNCTIONS.get(up) if up in FUNCTIONS else None


def analyse(source: str, schema: Mapping[str, FieldSig] | None) -> Analysis:
    """Parse (may raise ExprSyntaxError) and analyse `source`."""
    tree = parse(source)
    a = Analysis(source)
    info = _walk(tree, a, schema)
    a.result_type = _public_type(info.type)
    a.diagnostics.sort(key=lambda d: (d.line, d.column))
    return a


def _public_type(t: str) -> str:
    if t in ("number", "text", "boolean", "date", "datetime", "list"):
        return t
    return "any"


def _sig_info(sig: FieldSig | None, path, a, node, offset) -> Info:
    """Type of a path through schema signatures; reports unknown sub-keys."""
    t = "any" if sig is None else sig.type
    projected = False
    for i, seg in enumerate(path):
        if sig is None or sig.type == "any":
            return Info("list" if projected else "any", "field")
        if sig.type in ("record", "records") and sig.fields is not None:
            if seg not in sig.fields:
                hint = suggest(seg, sig.fields)
                msg = f"unknown field {seg!r} in {'.'.join(node.value[:offset + i])}"
                a.add(NAME, msg + (f" (did you mean {hint!r}?)" if hint else ""),
                      node.ops[offset + i] if offset + i < len(node.ops) else node, hint)
                return Info("any", "field")
            projected = projected or sig.type == "records"
            sig = sig.fields[seg]
            t = sig.type
        elif sig.type in ("record", "records"):
            return Info("list" if projected or sig.type == "records" else "any", "field")
        else:
            a.add(VALUE, f"a {sig.type} field has no field {seg!r}", node)
            return Info("any", "field")
    if projected:
        return Info("list", "field")
    return Info(_SCALAR_OF.get(t, t), "field")


def _walk(node: Node, a: Analysis, schema) -> Info:
    k = node.kind
    if k == "num":
        return Info("number", "literal", node.value)
    if k == "str":
        return Info("text", "literal", node.value)
    if k == "bool":
        return Info("boolean", "literal", node.value)
    if k == "list":
        for x in node.args:
            _walk(x, a, schema)
        return Info("list", "literal")
    if k == "field":
        path = node.value
        key = path[0]
        a.fields.add(key)
        a.paths.add(path)
        a.field_refs.append((key, node.ops[0]))
        if schema is None:
            return Info("any", "field")
        if key not in schema:
            hint = suggest(key, schema)
            a.add(NAME, f"unknown field {key!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
                  node.ops[0], hint)
            return Info("any", "field")
        sig = schema[key]
        if len(path) == 1:
            return Info(_SCALAR_OF.get(sig.type, sig.type), "field")
        return _sig_info(sig, path[1:], a, node, 1)
    if k == "builtin":
        name = node.value[0]
        a.builtins.add(name)
        a.builtin_refs.append((name, node.ops[0]))
        if schema is not None and name not in BUILTINS:
            hint = suggest(name, BUILTINS)
            a.add(NAME, f"unknown built-in ${name}" + (f" (did you mean ${hint}?)" if hint else ""),
                  node.ops[0], f"${hint}" if hint else None)
            return Info("any")
        t = BUILTINS.get(name, "any")
        if len(node.value) > 1:
            return Info("list" if t == "list" else "any")
        return Info(_SCALAR_OF.get(t, t) if t != "record" else "record")
    if k == "call":
        return _call(node, a, schema)
    infos = [_walk(x, a, schema) for x in node.args]
    if k == "arith":
        for i, op in enumerate(node.value):
            sides = [(infos[i + 1], node.args[i + 1])]
            if i == 0:
                sides.insert(0, (infos[0], node.args[0]))
            for x, n in sides:
                _need_number(x, n, a, f"'{op}'", dates_ok=op in "+-")
        kinds = {x.type for x in infos}
        if kinds & {"date", "datetime", "any"} and set(node.value) & {"+", "-"}:
            return Info("any")
        return Info("number")
    if k == "pow":
        for x, n in zip(infos, node.args):
            _need_number(x, n, a, "'^'")
        return Info("number")
    if k in ("sign", "percent"):
        _need_number(infos[0], node.args[0], a, "'-'" if k == "sign" else "'%'")
        return Info("number")
    if k == "concat":
        for x, n in zip(infos, node.args):
            if x.type in ("list", "record"):
                a.add(VALUE, f"'&' joins texts, but this is a {x.type}", n,
                      "use JOIN(list, separator)")
        return Info("text")
    if k == "compare":
        for i, op in enumerate(node.value):
            left = infos[0] if i == 0 else Info("boolean")
            right = infos[i + 1]
            if op not in ("=", "<>"):
                _check_order(left, right, node.args[i] if i == 0 else node, node.args[i + 1],
                             a, op)
        return Info("boolean")
    return Info("any")  # pragma: no cover


_FAMILY = {"date": "date", "datetime": "date", "number": "number", "text": "text",
           "boolean": "boolean"}


def _check_order(left: Info, right: Info, ln, rn, a, op):
    for x, n in ((left, ln), (right, rn)):
        if x.type in ("list", "record"):
            a.add(VALUE, f"'{op}' cannot order a {x.type}", n)
            return
    fl, fr = _FAMILY.get(left.type), _FAMILY.get(right.type)
    if fl and fr and fl != fr:
        a.add(VALUE, f"'{op}' compares a {left.type} with a {right.type} (always #VALUE!"
              " unless blank)", rn, "convert one side, e.g. VALUE(text) or TEXT(number, \"0\")")


def _need_number(x: Info, node, a, what, dates_ok=False, list_ok=False):
    if x.type == "text":
        if x.origin == "literal":
            if x.literal != "" and parse_number(x.literal) is None:
                a.add(VALUE, f"{what} needs a number, but {x.literal!r} is not one", node)
        elif x.origin == "field":
            a.add(VALUE, f"{what} needs a number, but this is a text field", node,
                  "use VALUE(field) if the text holds numbers")
    elif x.type in ("date", "datetime") and not dates_ok:
        a.add(VALUE, f"{what} needs a number, but this is a {x.type}", node)
    elif x.type in ("list", "record") and not list_ok:
        a.add(VALUE, f"{what} needs a single number, but this is a {x.type}", node,
              "aggregate it first, e.g. SUM(list)" if x.type == "list" else None)


def _check_arg(fdef, kind, x: Info, node, a):
    what = fdef.name
    if kind == "number":
        _need_number(x, node, a, what)
    elif kind == "numbers":
        _need_number(x, node, a, what, list_ok=True,
                     dates_ok=fdef.name in ("MIN", "MAX"))
    elif kind == "text":
        if x.type in ("list", "record"):
            a.add(VALUE, f"{what} needs a text, but this is a {x.type}", node,
                  "use JOIN(list, separator)" if x.type == "list" else None)
    elif kind == "date":
        if x.type in ("number", "boolean", "list", "record"):
            a.add(VALUE, f"{what} needs a date, but this is a {x.type}", node,
                  "build one with DATE(year, month, day)" if x.type == "number" else None)
        elif x.type == "text" and x.origin == "literal" and \
                to_date(x.literal).__class__.__name__ == "ErrorValue":
            a.add(VALUE, f"{what} needs a date, but {x.literal!r} is not YYYY-MM-DD", node)
    elif kind == "boolean":
        if x.type in ("date", "datetime", "list", "record"):
            if not (x.type == "list" and fdef.name in ("AND", "OR", "XOR")):
                a.add(VALUE, f"{what} needs TRUE/FALSE, but this is a {x.type}", node)
        elif x.type == "text" and x.origin == "literal" and \
                to_bool(x.literal).__class__.__name__ == "ErrorValue":
            a.add(VALUE, f"{what} needs TRUE/FALSE, but {x.literal!r} is not one", node)


def _call(node: Node, a: Analysis, schema) -> Info:
    name = node.value
    infos = [_walk(x, a, schema) for x in node.args]
    fdef = lookup_function(name)
    if fdef is None:
        hint = FUNCTIONS.suggest(name.upper()) if name.isascii() else None
        a.add(NAME, f"unknown function {name}" + (f" (did you mean {hint}?)" if hint else ""),
              node.ops[0], hint)
        return Info("any")
    n = len(node.args)
    if not fdef.arity_ok(n):
        a.add(ARGS, f"{fdef.name} takes {fdef.arity_text()}, got {n}", node,
              f"{fdef.signature}")
        return Info(_result(fdef, infos))
    for i, (x, arg) in enumerate(zip(infos, node.args)):
        _check_arg(fdef, fdef.kind_of(i), x, arg, a)
    return Info(_result(fdef, infos))


def _result(fdef, infos) -> str:
    r = fdef.result
    if r == "branches":
        if fdef.name == "IF":
            cands = [x.type for x in infos[1:]] + ([] if len(infos) == 3 else ["boolean"])
        elif fdef.name == "IFS":
            cands = [x.type for x in infos[1::2]]
        elif fdef.name == "SWITCH":
            rest = infos[1:]
            cands = [x.type for x in rest[1::2]] + ([rest[-1].type] if len(rest) % 2 else [])
        else:  # IFERROR
            cands = [x.type for x in infos]
        return cands[0] if cands and all(c == cands[0] for c in cands) else "any"
    if r == "date_or_datetime":
        return "datetime" if len(infos) == 6 else ("date" if fdef.name == "DATE" else "any")
    if r in ("same_items", "item"):
        return "any"
    return r


_ = ExprError
