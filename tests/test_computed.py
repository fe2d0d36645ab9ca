"""Computed values during writes: defaults, formulas, lookups, rollups, serials, visibility, rules."""
from __future__ import annotations

import re
import threading
from decimal import Decimal

import pytest

from engine.errors import RecordValidationError

SHOP = {
    "key": "shop", "label": {"en": "Shop"},
    "forms": [
        {"key": "customer", "label": {"en": "Customer"}, "fields": [
            {"key": "name", "type": "text", "label": {"en": "Name"}, "required": True},
            {"key": "level", "type": "select", "label": {"en": "Level"}, "options": ["gold", "silver"]},
            {"key": "discount", "type": "percent", "label": {"en": "Discount"}}]},
        {"key": "order", "label": {"en": "Order"},
         "rules": [{"id": "positive", "formula": "amount > 0", "field": "amount",
                    "message": {"en": "the amount must be positive", "zh-CN": "金额必须大于零"}}],
         "fields": [
            {"key": "no", "type": "serial", "label": {"en": "No."}, "pattern": "SO-{YYYY}{MM}-{0000}"},
            {"key": "customer", "type": "link", "label": {"en": "Customer"}, "target": "customer"},
            {"key": "level", "type": "lookup", "label": {"en": "Level"}, "link": "customer", "field": "level"},
            {"key": "channel", "type": "select", "label": {"en": "Channel"}, "options": ["web", "shop"],
             "default": "web"},
            {"key": "note", "type": "text", "label": {"en": "Note"}, "default_formula": "\"for \" & channel"},
            {"key": "reason", "type": "text", "label": {"en": "Reason"}, "required": True,
             "visible_if": "channel = \"shop\""},
            {"key": "lines", "type": "subform", "label": {"en": "Lines"}, "fields": [
                {"key": "qty", "type": "number", "label": {"en": "Qty"}},
                {"key": "price", "type": "money", "label": {"en": "Price"}},
                {"key": "subtotal", "type": "formula", "label": {"en": "Subtotal"}, "formula": "qty * price"}]},
            {"key": "amount", "type": "rollup", "label": {"en": "Amount"}, "source": "lines",
             "field": "subtotal", "function": "SUM"},
            {"key": "big_lines", "type": "rollup", "label": {"en": "Big lines"}, "source": "lines",
             "field": "qty", "function": "COUNT", "where": "qty >= 10"}]},
        {"key": "visit", "label": {"en": "Visit"}, "fields": [
            {"key": "orders", "type": "link", "label": {"en": "Orders"}, "target": "order", "multiple": True},
            {"key": "order_total", "type": "rollup", "label": {"en": "Total"}, "source": "orders",
             "field": "amount", "function": "SUM"}]}]}


@pytest.fixture
def shop(ff):
    import copy
    ff.apps.install(copy.deepcopy(SHOP))
    return ff


def order(shop, **values):
    values.setdefault("lines", [{"qty": 1, "price": "10.00"}])
    return shop.records.create("shop", "order", values)


def test_literal_default_applies_when_the_field_is_not_given(shop):
    assert order(shop)["channel"] == "web"


def test_default_formula_reads_other_values(shop):
    assert order(shop)["note"] == "for web"


def test_a_given_value_wins_over_the_default(shop):
    assert order(shop, channel="shop", reason="walk-in")["note"] == "for shop"


def test_subform_row_formulas_and_rollup(shop):
    rec = order(shop, lines=[{"qty": 2, "price": "3.50"}, {"qty": 10, "price": "1.25"}])
    assert [r["subtotal"] for r in rec["lines"]] == [Decimal("7.00"), Decimal("12.50")] or \
        [r["subtotal"] for r in rec["lines"]] == [Decimal("7"), Decimal("12.5")]
    assert rec["amount"] == Decimal("19.50")
    assert rec["big_lines"] == Decimal(1)


def test_hidden_field_is_not_required(shop):
    order(shop, channel="web")
    with pytest.raises(RecordValidationError) as err:
        order(shop, channel="shop")
    assert err.value.errors[0]["location"] == "reason"


def test_rule_message_is_the_definitions_message(shop):
    with pytest.raises(RecordValidationError) as err:
        order(shop, lines=[])
    assert err.value.errors[0]["message"] == "金额必须大于零"
    assert err.value.errors[0]["location"] == "amount"


def test_lookup_reads_the_linked_record(shop):
    c = shop.records.create("shop", "customer", {"name": "ACME", "level": "gold"})
    assert order(shop, customer=c["_id"])["level"] == "gold"


def test_lookup_follows_a_change_of_the_linked_record(shop):
    c = shop.records.create("shop", "customer", {"name": "ACME", "level": "gold"})
    o = order(shop, customer=c["_id"])
    shop.records.update("shop", "customer", c["_id"], {"level": "silver"})
    assert shop.records.get("shop", "order", o["_id"])["level"] == "silver"


def test_rollup_over_linked_records_follows_their_changes(shop):
    a = order(shop, lines=[{"qty": 1, "price": "5.00"}])
    b = order(shop, lines=[{"qty": 2, "price": "5.00"}])
    v = shop.records.create("shop", "visit", {"orders": [a["_id"], b["_id"]]})
    assert v["order_total"] == Decimal("15.00")
    shop.records.update("shop", "order", a["_id"], {"lines": [{"qty": 3, "price": "5.00"}]})
    assert shop.records.get("shop", "visit", v["_id"])["order_total"] == Decimal("25.00")


def test_serial_numbers_follow_the_pattern(shop):
    first, second = order(shop)["no"], order(shop)["no"]
    assert re.fullmatch(r"SO-\d{6}-0001", first) and second.endswith("-0002")


def test_serial_numbers_are_unique_under_concurrent_writers(shop):
    numbers, errors = [], []

    def work():
        try:
            for _ in range(5):
                numbers.append(order(shop)["no"])
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)
    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(numbers) == 30 and len(set(numbers)) == 30


def test_concurrent_updates_lose_nothing(shop):
    c = shop.records.create("shop", "customer", {"name": "n", "discount": "0"})
    errors = []

    def bump(i):
        try:
            shop.records.update("shop", "customer", c["_id"], {"name": f"n{i}"})
        except Exception as exc:  # pragma: no cover
            errors.append(exc)
    threads = [threading.Thread(target=bump, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    history = shop.records.history("shop", "customer", c["_id"])
    assert len(history) == 9 and [h["version"] for h in history] == list(range(1, 10))
