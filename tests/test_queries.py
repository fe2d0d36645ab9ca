"""Record queries: filters in the expression language, sorting, keyset pagination."""
from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from engine.queries import QueryError, count_records, list_records

ITEMS = {"key": "stock", "label": {"en": "Stock"}, "forms": [{"key": "item", "label": {"en": "Item"}, "fields": [
    {"key": "name", "type": "text", "label": {"en": "Name"}, "indexed": True},
    {"key": "qty", "type": "number", "label": {"en": "Qty"}, "indexed": True},
    {"key": "price", "type": "money", "label": {"en": "Price"}},
    {"key": "tags", "type": "multiselect", "label": {"en": "Tags"}, "options": ["a", "b"]},
    {"key": "due", "type": "date", "label": {"en": "Due"}}]}]}

NAMES = ["apple", "Banana", "cherry", "Apricot", "date", None, "banana split", "Äpfel"]


@pytest.fixture
def stock(ff):
    ff.apps.install(copy.deepcopy(ITEMS))
    for i, name in enumerate(NAMES):
        values = {"qty": i, "price": f"{i}.50", "due": f"2026-01-{i + 1:02d}"}
        if name is not None:
            values["name"] = name
        ff.records.create("stock", "item", values)
    return ff


def page(ff, **kw):
    _, form = ff.form("stock", "item")
    with ff.db.read() as conn:
        return list_records(conn, ff, form, **kw)


def names(p):
    return [r["name"] for r in p.records]


def test_equality_filter_ignores_case(stock):
    assert names(page(stock, filter='name = "BANANA"')) == ["Banana"]


def test_range_filter_on_numbers(stock):
    assert sorted(r["qty"] for r in page(stock, filter="AND(qty >= 3, qty < 5)").records) == [3, 4]


def test_decimal_filter_is_exact(stock):
    assert [r["qty"] for r in page(stock, filter="price = 2.5").records] == [Decimal(2)]


def test_date_filter(stock):
    assert len(page(stock, filter='due > DATE(2026, 1, 6)').records) == 2


def test_sort_by_text_is_case_insensitive_with_blanks_first(stock):
    assert names(page(stock, sort="name")) == [None, "apple", "Apricot", "Banana", "banana split",
                                               "cherry", "date", "Äpfel"]


def test_descending_sort_puts_blanks_last(stock):
    assert names(page(stock, sort="-name"))[-1] is None


def test_cursor_pages_cover_every_record_once(stock):
    seen, cursor = [], None
    while True:
        p = page(stock, sort="-qty", limit=3, cursor=cursor)
        seen += [r["qty"] for r in p.records]
        cursor = p.next_cursor
        if cursor is None:
            break
    assert seen == [Decimal(i) for i in reversed(range(8))]


def test_cursor_is_stable_under_inserts(stock):
    first = page(stock, sort="name", limit=4)
    stock.records.create("stock", "item", {"name": "aardvark", "qty": 100})
    second = page(stock, sort="name", limit=10, cursor=first.next_cursor)
    assert names(first) + names(second) == [None, "apple", "Apricot", "Banana", "banana split",
                                            "cherry", "date", "Äpfel"]


def test_cursor_of_another_sort_is_refused(stock):
    cursor = page(stock, sort="name", limit=2).next_cursor
    with pytest.raises(QueryError):
        page(stock, sort="name,-qty", limit=2, cursor=cursor)


def test_garbage_cursor_is_refused(stock):
    with pytest.raises(QueryError):
        page(stock, cursor="!!not-a-cursor")


def test_unknown_sort_field_suggests(stock):
    with pytest.raises(QueryError) as err:
        page(stock, sort="nmae")
    assert "did you mean 'name'" in str(err.value)


def test_list_fields_cannot_be_sorted(stock):
    with pytest.raises(QueryError):
        page(stock, sort="tags")


def test_filter_with_an_unknown_field_is_located(stock):
    with pytest.raises(QueryError) as err:
        page(stock, filter="qyt > 1")
    assert err.value.errors[0]["location"] == "filter"


def test_limit_is_bounded(stock):
    with pytest.raises(QueryError):
        page(stock, limit=501)


def test_deleted_records_are_only_in_the_trash(stock):
    rec = page(stock, filter="qty = 1").records[0]
    stock.records.delete("stock", "item", rec["_id"])
    _, form = stock.form("stock", "item")
    with stock.db.read() as conn:
        assert count_records(conn, stock, form) == 7
        assert count_records(conn, stock, form, trash=True) == 1
