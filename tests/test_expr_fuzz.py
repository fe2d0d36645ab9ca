"""Property: any source text evaluates to a value of the language or raises ExprError."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expr import ExprError, check, evaluate
from engine.expr.functions import FUNCTIONS

RECORD = {
    "n": D("12.5"), "z": D(0), "neg": D(-3), "s": "Straße", "e": "", "num_text": "42",
    "b": True, "none": None, "d": date(2024, 2, 29), "dt": datetime(2024, 3, 15, 10, 30),
    "tags": ["a", "B", None], "nums": [D(1), D(2), None], "cust": {"name": "ACME", "n": D(1)},
    "rows": [{"q": D(1), "t": "x"}, {"q": None, "t": "Y"}],
}
CONTEXT = {"now": datetime(2024, 3, 15, 10, 30), "user": {"name": "u"}, "record_id": "r"}
NAMES = list(RECORD) + ["cust.name", "rows.q", "rows.t", "cust.nope", "n.x", "unknown",
                        "$now", "$user.name", "$record_id", "$nope", "{n}", "{TRUE}"]
FUNCS = FUNCTIONS.names() + ["sum", "Nope", "IF"]

literals = st.one_of(
    st.sampled_from(["0", "1", "-1", "2.5", ".5", "1E3", "1E400", "99999999999999999999999999999",
                     "0.1", "3", "7", "-0", "100000", "1E-30"]),
    st.text(st.sampled_from('ab"A ß,*?~-:0123456789%年'), max_size=8).map(
        lambda s: '"' + s.replace('"', '""') + '"'),
    st.sampled_from(["TRUE", "FALSE", "[]", "[1, 2]", '["a", "b"]', '"yyyy-mm-dd"', '"0.00"',
                     '"2024-01-31"', '">1"', '"Y"', '"MD"']),
)
leaves = st.one_of(literals, st.sampled_from(NAMES))


def build(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/", "^", "&", "=", "<>", "<", ">=",
                                             "==", "!="]), children).map(
            lambda t: f"{t[0]} {t[1]} {t[2]}"),
        children.map(lambda x: f"-{x}"),
        children.map(lambda x: f"{x}%"),
        children.map(lambda x: f"({x})"),
        st.lists(children, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        st.tuples(st.sampled_from(FUNCS), st.lists(children, max_size=4)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"),
    )


expressions = st.recursive(leaves, build, max_leaves=8)
garbage = st.text(st.sampled_from('()[]{},."$+-*/^&=<>%!abSUM1 \n_'), max_size=30)


def in_domain(v) -> bool:
    if v is None or isinstance(v, (str, bool, date)):
        return True
    if isinstance(v, D):
        return v.is_finite()
    if isinstance(v, list):
        return all(in_domain(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and in_domain(x) for k, x in v.items())
    return False


def run_one(source):
    try:
        value = evaluate(source, RECORD, **CONTEXT)
    except ExprError as e:
        assert isinstance(e.code, str) and e.code.startswith("#")
        return
    assert in_domain(value), (source, value)


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(expressions, min_size=40, max_size=40))
def test_10000_generated_expressions_give_values_or_expr_errors(sources):
    # 250 examples x 40 expressions = 10,000 generated expressions
    for source in sources:
        run_one(source)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(garbage, min_size=10, max_size=10))
def test_random_text_gives_values_or_expr_errors(sources):
    for source in sources:
        run_one(source)
        assert isinstance(check(source, None), list)
