"""Every public conformance case (tests/data/expr_cases.jsonl), compared like check_cases.py."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from engine.expr import ExprError, evaluate

from .test_expr_helpers import decode, load_cases

CASES = load_cases()


def same(typ, expect, actual, tol=None):
    if typ == "number":
        if isinstance(actual, bool) or not isinstance(actual, (Decimal, int)):
            return False
        if tol is not None:
            return abs(Decimal(actual) - Decimal(str(expect))) <= Decimal(str(tol))
        return Decimal(actual) == Decimal(str(expect))
    if typ == "text":
        return isinstance(actual, str) and actual == expect
    if typ == "boolean":
        return isinstance(actual, bool) and actual == expect
    if typ == "date":
        return isinstance(actual, date) and not isinstance(actual, datetime) \
            and actual.isoformat() == expect
    if typ == "datetime":
        return isinstance(actual, datetime) and actual == datetime.fromisoformat(expect)
    if typ == "null":
        return actual is None
    raise ValueError(typ)


def test_there_are_98_public_cases():
    assert len(CASES) == 98


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_public_case(case):
    record = decode(case.get("record") or {})
    context = decode(case.get("context") or {})
    if case["kind"] == "error":
        with pytest.raises(ExprError) as e:
            evaluate(case["expr"], record, **context)
        assert e.value.code == case["expect"]
        return
    actual = evaluate(case["expr"], record, **context)
    if case["type"] == "list":
        assert isinstance(actual, (list, tuple)) and len(actual) == len(case["expect"])
        for e, a in zip(case["expect"], actual):
            assert same("null" if e is None else case["item_type"], e, a), (e, a)
    else:
        assert same(case["type"], case["expect"], actual, case.get("tol")), actual
