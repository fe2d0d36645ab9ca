"""Source -> AST: limits pre-scan, the lark LALR parser (grammar.lark), positions.

Chains of one precedence level (`a+b-c`, `a&b&c`, `x<y<z`, `2^3^2`) become one n-ary
node and runs of unary signs / postfix `%` collapse into one node, so the AST depth
only grows with bracket nesting, which the pre-scan limits to MAX_NESTING before lark
runs. Parsing is cached per source text.
"""
from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import SYNTAX, Diagnostic, ExprSyntaxError, excerpt

MAX_SOURCE = 4096
MAX_NESTING = 64

_GRAMMAR = os.path.join(os.path.dirname(__file__), "grammar.lark")
with open(_GRAMMAR, encoding="utf-8") as _f:
    GRAMMAR = _f.read()

_LARK = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


class Node:
    """An AST node. kind: num str bool list call field builtin arith pow concat compare
    sign percent. `args` are child nodes; `ops` the operators of a chain."""

    __slots__ = ("kind", "value", "args", "ops", "line", "column", "end_line", "end_column")

    def __init__(self, kind, value=None, args=(), ops=(), pos=(1, 1, 1, 2)):
        self.kind = kind
        self.value = value
        self.args = tuple(args)
        self.ops = tuple(ops)
        self.line, self.column, self.end_line, self.end_column = pos

    def __repr__(self):
        inner = ", ".join(repr(a) for a in self.args)
        return f"{self.kind}({self.value!r}{', ' if inner else ''}{inner})"


def _syntax(source: str, message: str, line: int, column: int, end_column: int | None = None):
    diag = Diagnostic(SYNTAX, message, line, column, end_column or column + 1,
                      excerpt(source, line, column, end_column), None)
    return ExprSyntaxError(f"{line}:{column}: {message}", SYNTAX, [diag])


def prescan(source: str) -> None:
    """Reject oversized or too deeply nested sources before the parser sees them."""
    if not isinstance(source, str):
        raise ExprSyntaxError("the formula must be text", SYNTAX, [
            Diagnostic(SYNTAX, "the formula must be text", 1, 1, 2, "\n^", None)])
    if len(source) > MAX_SOURCE:
        raise _syntax(source[:200], f"formula longer than {MAX_SOURCE} characters", 1, 1)
    depth = 0
    line, col = 1, 0
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        elif ch == '"':                      # skip a string ("" is an escaped quote)
            j = i + 1
            while j < n:
                if source[j] == '"':
                    if j + 1 < n and source[j + 1] == '"':
                        j += 2
                        continue
                    break
                j += 1
            col += j - i
            i = j
        elif ch == "{":                      # skip a quoted key
            j = source.find("}", i)
            if j < 0:
                break
            col += j - i
            i = j
        elif ch in "([":
            depth += 1
            if depth > MAX_NESTING:
                raise _syntax(source, f"formula nested deeper than {MAX_NESTING} levels",
                              line, col)
        elif ch in ")]":
            depth -= 1
        i += 1


def _pos(meta_or_tok):
    m = meta_or_tok
    return (m.line, m.column, m.end_line, m.end_column)


def _tok_pos(tok: Token):
    return (tok.line, tok.column, tok.end_line, tok.end_column)


_CHAIN_OPS = {"concat": "&", "pow": "^"}


def _convert(t) -> Node:
    data = t.data
    if data in ("arith", "concat", "pow", "compare"):
        return _chain(t)
    ch = t.children
    pos = _pos(t.meta)
    if data == "number":
        return Node("num", Decimal(str(ch[0])), pos=pos)
    if data == "string":
        s = str(ch[0])
        return Node("str", s[1:-1].replace('""', '"'), pos=pos)
    if data == "true":
        return Node("bool", True, pos=pos)
    if data == "false":
        return Node("bool", False, pos=pos)
    if data == "list":
        return Node("list", None, [_convert(c) for c in ch if c is not None], pos=pos)
    if data == "call":
        name = ch[0]
        return Node("call", str(name), [_convert(c) for c in ch[1:] if c is not None],
                    ops=(_tok_pos(name),), pos=pos)
    if data == "field":
        return Node("field", tuple(_seg(c) for c in ch), ops=tuple(_pos(c.meta) for c in ch),
                    pos=pos)
    if data == "builtin":
        name = str(ch[0])[1:]
        return Node("builtin", (name,) + tuple(_seg(c) for c in ch[1:]),
                    ops=(_tok_pos(ch[0]),) + tuple(_pos(c.meta) for c in ch[1:]), pos=pos)
    if data == "sign":
        negate = False
        node = t
        while isinstance(node, Tree) and node.data == "sign":
            negate ^= str(node.children[0]) == "-"
            node = node.children[1]
        return Node("sign", negate, [_convert(node)], pos=pos)
    if data == "percent":
        count = 0
        node = t
        while isinstance(node, Tree) and node.data == "percent":
            count += 1
            node = node.children[0]
        return Node("percent", count, [_convert(node)], pos=pos)
    raise AssertionError(f"unexpected tree {data}")  # pragma: no cover


def _seg(t) -> str:
    tok = t.children[0]
    s = str(tok)
    return s[1:-1] if tok.type == "QUOTED" else s


def _chain(t) -> Node:
    data = t.data
    optype = t.children[1].type if data == "arith" else None
    operands, ops = [], []
    node = t
    while isinstance(node, Tree) and node.data == data and (
            optype is None or node.children[1].type == optype):
        ch = node.children
        operands.append(ch[-1])
        if data in _CHAIN_OPS:
            ops.append((_CHAIN_OPS[data], _pos(node.meta)))
        else:
            op = str(ch[1])
            op = {"==": "=", "!=": "<>"}.get(op, op)
            ops.append((op, _tok_pos(ch[1])))
        node = ch[0]
    operands.append(node)
    operands.reverse()
    ops.reverse()
    kind = data
    return Node(kind, tuple(o for o, _ in ops), [_convert(o) if isinstance(o, Tree) else _leaf(o)
                                                  for o in operands],
                ops=tuple(p for _, p in ops), pos=_pos(t.meta))


def _leaf(tok):  # pragma: no cover - every operand is a tree with this grammar
    raise AssertionError(tok)


@lru_cache(maxsize=4096)
def parse(source: str) -> Node:
    """The AST of `source`; raises ExprSyntaxError (code #SYNTAX!) with a located diagnostic."""
    prescan(source)
    try:
        tree = _LARK.parse(source)
    except UnexpectedEOF:
        lines = source.split("\n")
        return_err = _syntax(source, "unexpected end of formula", len(lines), len(lines[-1]) + 1)
        raise return_err from None
    except UnexpectedCharacters as e:
        ch = source[e.pos_in_stream] if e.pos_in_stream < len(source) else ""
        msg = "unterminated text (missing '\"')" if ch == '"' else f"unexpected character {ch!r}"
        if ch == "'":
            msg += " (text uses double quotes)"
        raise _syntax(source, msg, e.line, e.column) from None
    except UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            lines = source.split("\n")
            raise _syntax(source, "unexpected end of formula", len(lines),
                          len(lines[-1]) + 1) from None
        raise _syntax(source, f"unexpected {str(tok)!r}", tok.line, tok.column,
                      tok.end_column) from None
    except UnexpectedInput as e:  # pragma: no cover - other lark variants
        raise _syntax(source, "not a valid formula", getattr(e, "line", 1) or 1,
                      getattr(e, "column", 1) or 1) from None
    if isinstance(tree, Token):  # pragma: no cover
        raise _syntax(source, "not a valid formula", 1, 1)
    return _convert(tree)
