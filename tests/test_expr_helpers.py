"""Helpers shared by the expression tests."""
from __future__ import annotations

import json
import os
from datetime import date, datetime
from decimal import Decimal

from engine.expr import ExprError, evaluate

CASES = os.path.join(os.path.dirname(__file__), "data", "expr_cases.jsonl")
NOW = datetime(2024, 3, 15, 10, 30, 0)
D = Decimal

RECORD = {
    "amount": D(1200), "status": "open", "discount": D("0.9"), "x": None, "s": "", "t": "abc",
    "n_text": "150", "flag": True, "name": "Straße", "start": date(2024, 1, 31),
    "when": datetime(2024, 3, 14, 9, 15, 30),
    "lines": [{"product": "apple", "qty": 3, "price": D("2.50"), "tags": ["a", "b"]},
              {"product": "pear", "qty": 2, "price": D("4.10"), "tags": ["c"]},
              {"product": "milk", "qty": None, "price": D("5.99"), "tags": []}],
    "tags": ["vip", "north"], "customer": {"name": "ACME", "address": {"city": "Suzhou"}},
    "supplier": None, "empty_lines": [], "Unit Price": D("3.5"), "单价": D(2), "TRUE": 0,
}


def ev(source, record=None, **context):
    """evaluate() with the shared record and a fixed now."""
    context.setdefault("now", NOW)
    return evaluate(source, RECORD if record is None else record, **context)


def code_of(source, record=None, **context):
    """The error code evaluating `source` raises (fails the test when it returns)."""
    try:
        value = ev(source, record, **context)
    except ExprError as e:
        return e.code
    raise AssertionError(f"{source!r} returned {value!r}, expected an error")


def decode(v):
    if isinstance(v, dict):
        if len(v) == 1:
            (k, x), = v.items()
            if k == "$date":
                return date.fromisoformat(x)
            if k == "$datetime":
                return datetime.fromisoformat(x)
            if k == "$decimal":
                return Decimal(x)
        return {k: decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode(x) for x in v]
    return v


def load_cases():
    with open(CASES, encoding="utf-8") as f:
        return [json.loads(line, parse_float=Decimal, parse_int=Decimal)
                for line in f if line.strip()]
