"""Requirement 5: hostile input ends in a clear ExprError, fast and without memory growth."""
from __future__ import annotations

import tracemalloc
from decimal import Decimal as D

import pytest

from engine.expr import ExprError, ExprNameError, ExprSyntaxError, evaluate

from .test_expr_helpers import RECORD


def outcome(source, record=None, **context):
    """The error code of evaluating source, or None for a value."""
    try:
        evaluate(source, RECORD if record is None else record, **context)
    except ExprError as e:
        return e.code
    return None


def peak_memory(source, record=None) -> int:
    """Peak bytes allocated while evaluating source.

    Work bounds are checked by memory, which is deterministic, rather than by wall
    time, which depends on the machine's load (bench_expr.py measures speed).
    """
    tracemalloc.start()
    try:
        outcome(source, record)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


HOSTILE = [
    ("x" * 4097, "#SYNTAX!"),
    ("(" * 10000 + "1" + ")" * 10000, "#SYNTAX!"),
    ("[" * 10000 + "]" * 10000, "#SYNTAX!"),
    ("SUM(" * 65 + "1" + ")" * 65, "#SYNTAX!"),
    ('REPT("a", 10^9)', "#VALUE!"),
    ('REPT(REPT("a", 30000), 30000)', "#VALUE!"),
    ('REPT("a", 30000) & REPT("a", 30000) & REPT("a", 30000)', "#VALUE!"),
    ('SUBSTITUTE(REPT("a", 30000), "a", REPT("b", 30000))', "#VALUE!"),
    ("10^1000000", "#NUM!"),
    ("1E99999 * 1E99999", "#NUM!"),
    ('1E99999 & ""', "#VALUE!"),
    ("POWER(1.0000001, 10^20)", "#NUM!"),
    ("MOD(1E99999, 7)", "#NUM!"),
    ('LEFT("abc", 1E99999) & ROUND(1.5, 1E99999)', None),
    ("DATE(1E99999, 1, 1)", "#NUM!"),
    ("DATE(2024, 1E20, 1)", "#NUM!"),
    ("EDATE(DATE(2024,1,1), 1E20)", "#NUM!"),
    ('SPLIT(REPT(",", 32767), ",") = 0', None),
    ('COUNTIF(REPT("a", 32000), REPT("*a", 1000) & "b")', None),
    ('COUNTIF(REPT("ab", 16000), REPT("?", 2000) & "*" & REPT("?", 2000))', None),
    ("NETWORKDAYS(DATE(1900,1,1), DATE(9999,12,31))", None),
    ("-" * 4000 + "1", None),
    ("1" + "+1" * 2000, None),
    ("1" + "&1" * 2000, None),
    ("1" + "<1" * 2000, "#VALUE!"),
    ("2" + "^1" * 2000, None),
    ("1" + "%" * 4000, None),
]


@pytest.mark.parametrize("source,code", HOSTILE, ids=[s[:40] for s, _ in HOSTILE])
def test_hostile_input_ends_in_a_clear_error(source, code):
    assert outcome(source) == code


@pytest.mark.parametrize("source", [s for s, _ in HOSTILE], ids=[s[:40] for s, _ in HOSTILE])
def test_hostile_input_needs_bounded_memory(source):
    assert peak_memory(source) < 16 * 1024 * 1024


def test_nesting_up_to_the_limit_is_fine():
    assert evaluate("(" * 64 + "1" + ")" * 64, {}) == 1
    assert evaluate("ABS(" * 63 + "-1" + ")" * 63, {}) == 1


def test_nesting_error_names_the_limit_and_position():
    with pytest.raises(ExprSyntaxError) as e:
        evaluate("(" * 65 + "1" + ")" * 65, {})
    assert "64" in e.value.message
    assert e.value.diagnostics[0].column == 65


def test_huge_record_list_is_an_error_not_a_hang():
    assert outcome("SUM(big)", {"big": list(range(200_001))}) == "#VALUE!"


def test_large_record_lists_within_the_cap_work():
    assert evaluate("SUM(big)", {"big": [1] * 50_000}) == D(50_000)


def test_deeply_nested_record_data_is_an_expr_error():
    data = []
    for _ in range(5000):
        data = [data]
    with pytest.raises(ExprError):
        evaluate("SUM(d)", {"d": data})


def test_hostile_expressions_do_not_grow_memory():
    sources = ['REPT("a", 10^9)', "(" * 10000, "10^1000000", 'REPT("ab", 20000) & REPT("c", 50000)']
    for s in sources:  # warm caches
        outcome(s)
    tracemalloc.start()
    for _ in range(20):
        for s in sources:
            outcome(s)
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000


ESCAPES = [
    "__class__", "x.__class__", "customer.__class__", "lines.__len__", '"".__class__',
    '"".format', '"{}".format(1)', '__import__("os")', '__import__("os").system("id")',
    'getattr(x, "y")', "eval(\"1\")", 'exec("1")', 'open("/etc/passwd")', "__builtins__",
    "{__class__}", "{__globals__}", "$__class__", "$user.__class__", "ｅｖａｌ(1)",
    "еval(1)", "ſum(1)", "globals()", "locals()", "lambda: 1", "x if 1 else 2",
    "[c for c in 1]", "1; 2", "a = 1", "`id`", "type(1)", "().__class__.__bases__",
    "SUM.__globals__", "IF.__code__", 'INDEX(SPLIT("a", ","), 1).upper()', "\\x41",
    "{a}{b}", "A1:B2", "!1", "@x", "#1",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_sandbox_escape_attempts_end_in_expr_error(source):
    with pytest.raises(ExprError):
        evaluate(source, {"x": 1, "customer": {"name": "a"}, "lines": [{"q": 1}]},
                 user={"name": "u"})


def test_dunder_record_keys_are_just_keys():
    assert evaluate("{__class__}", {"__class__": 5}) == 5


def test_unknown_function_is_a_name_error_even_for_python_builtins():
    with pytest.raises(ExprNameError):
        evaluate("print(1)", {})


def test_work_budget_stops_huge_aggregations_quickly():
    assert outcome("SUMPRODUCT(" + ", ".join(["b"] * 100) + ")", {"b": list(range(100_000))}) == "#VALUE!"


def test_work_budget_stops_quadratic_unique_over_records():
    assert outcome("UNIQUE(r)", {"r": [{"a": i} for i in range(20_000)]}) == "#VALUE!"


def test_work_budget_is_per_evaluation():
    record = {"b": list(range(100_000))}
    for _ in range(15):  # 15 x 300k items would exhaust a shared budget
        assert evaluate("SUM(b) + SUM(b) + SUM(b)", record) == 3 * sum(range(100_000))
