"""Field types: good values (coerce -> to_json -> storage round trip) and bad ones (clear errors)."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st
from jsonschema import Draft202012Validator

from engine import serials
from engine.errors import FieldValueError
from engine.field_types import (FieldType, error_path, field_type, pattern_problem, registry)

D = Decimal
BIG = "x" * 10_000_000  # a 10 MB string
INF = json.loads("1e309")
ROW_ID = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
SUB_FIELDS = [{"id": "f_price", "key": "price", "type": "money", "min": 0, "required": True},
              {"id": "f_name", "key": "name", "type": "text"},
              {"id": "f_total", "key": "total", "type": "formula", "formula": "price*2",
               "result_type": "money"}]

#: type name -> extra definition properties used by the tables below
DEFS: dict[str, dict] = {
    "select": {"options": ["Red", {"value": "Green", "label": {"en": "Green", "zh": "绿色"}}, "Blue"]},
    "multiselect": {"options": ["Red", "Green", "Blue"], "max_selected": 2},
    "link": {"target": "crm.customer"},
    "subform": {"fields": SUB_FIELDS, "max_rows": 3},
    "formula": {"formula": "1 + 1", "result_type": "number"},
    "lookup": {"link": "customer", "field": "name"},
    "serial": {"pattern": "SO-{YYYY}{MM}-{0000}"},
    "rollup": {"source": "items", "field": "price", "function": "SUM", "result_type": "money"},
}


def ft(type_name: str, **extra) -> FieldType:
    return field_type({"id": "fld_x", "key": "x", "type": type_name, **DEFS.get(type_name, {}), **extra})


ALL_TYPES = ["text", "textarea", "number", "decimal", "money", "percent", "boolean", "date",
             "datetime", "time", "select", "multiselect", "email", "phone", "url", "user",
             "department", "attachment", "image", "address", "location", "subform", "link",
             "lookup", "formula", "serial", "rollup"]
FILE = {"id": "file_1", "name": "a.pdf", "size": 10, "content_type": "application/pdf"}
PNG = {"id": "file_2", "name": "p.png", "size": 10, "content_type": "image/png"}

# (type, extra definition, JSON input, coerced Python value, API JSON)
GOOD = [
    ("text", {}, "  hello  ", "hello", "hello"),
    ("text", {}, "tab\tok", "tab\tok", "tab\tok"),
    ("text", {}, "", None, None),
    ("text", {}, "   ", None, None),
    ("text", {}, "中文", "中文", "中文"),
    ("textarea", {}, "a\r\nb\n", "a\nb\n", "a\nb\n"),
    ("textarea", {}, "x" * 65_535, "x" * 65_535, "x" * 65_535),
    ("number", {}, 12, D("12"), "12"),
    ("number", {}, "12.50", D("12.5"), "12.5"),
    ("number", {}, 0.1, D("0.1"), "0.1"),
    ("number", {}, -3.25, D("-3.25"), "-3.25"),
    ("number", {}, "999999999999999", D("999999999999999"), "999999999999999"),
    ("number", {}, "0.000000000000001", D("0.000000000000001"), "0.000000000000001"),
    ("number", {}, "-0", D("0"), "0"),
    ("number", {}, 1e3, D("1000"), "1000"),
    ("number", {"scale": 0}, "7", D("7"), "7"),
    ("number", {}, None, None, None),
    ("decimal", {}, "6.6", D("6.60"), "6.60"),
    ("decimal", {"scale": 4}, 1, D("1.0000"), "1.0000"),
    ("money", {}, "6.6", D("6.60"), "6.60"),
    ("money", {}, 6.6, D("6.60"), "6.60"),
    ("money", {}, "1234567890123.45", D("1234567890123.45"), "1234567890123.45"),
    ("money", {"scale": 0, "currency": "JPY"}, 100, D("100"), "100"),
    ("percent", {}, 0.125, D("0.125"), "0.125"),
    ("percent", {"scale": 2}, "0.125", D("0.1250"), "0.1250"),
    ("percent", {"scale": 1}, "0.125", D("0.125"), "0.125"),
    ("boolean", {}, True, True, True),
    ("boolean", {}, False, False, False),
    ("date", {}, "2026-12-05", dt.date(2026, 12, 5), "2026-12-05"),
    ("date", {}, "2024-02-29", dt.date(2024, 2, 29), "2024-02-29"),
    ("datetime", {}, "2026-12-05T09:30:00", dt.datetime(2026, 12, 5, 9, 30), "2026-12-05T09:30:00"),
    ("datetime", {}, "2026-12-05 09:30", dt.datetime(2026, 12, 5, 9, 30), "2026-12-05T09:30:00"),
    ("datetime", {}, "2026-12-05T01:30:00Z", dt.datetime(2026, 12, 5, 9, 30), "2026-12-05T09:30:00"),
    ("datetime", {}, "2026-12-05T01:30:00.250+00:00", dt.datetime(2026, 12, 5, 9, 30, 0, 250000),
     "2026-12-05T09:30:00.250000"),
    ("datetime", {"timezone": "UTC"}, "2026-12-05T09:30:00+08:00", dt.datetime(2026, 12, 5, 1, 30),
     "2026-12-05T01:30:00"),
    ("time", {}, "09:30", dt.time(9, 30), "09:30:00"),
    ("time", {}, "23:59:59", dt.time(23, 59, 59), "23:59:59"),
    ("select", {}, "Red", "Red", "Red"),
    ("select", {}, "Green", "Green", "Green"),
    ("select", {}, "", None, None),
    ("multiselect", {}, ["Blue", "Red"], ["Blue", "Red"], ["Blue", "Red"]),
    ("multiselect", {}, [], None, None),
    ("email", {}, "Alice.B@Example.COM", "Alice.B@example.com", "Alice.B@example.com"),
    ("phone", {}, "138 1234 5678", "+8613812345678", "+8613812345678"),
    ("phone", {}, "+86 138-1234-5678", "+8613812345678", "+8613812345678"),
    ("phone", {}, "+44 20 7946 0958", "+442079460958", "+442079460958"),
    ("url", {}, "https://example.com/a?b=1", "https://example.com/a?b=1", "https://example.com/a?b=1"),
    ("url", {}, "http://localhost:8080/", "http://localhost:8080/", "http://localhost:8080/"),
    ("user", {}, "u_01", "u_01", "u_01"),
    ("user", {"multiple": True}, ["u_01", "u_02"], ["u_01", "u_02"], ["u_01", "u_02"]),
    ("department", {}, "dept-sales", "dept-sales", "dept-sales"),
    ("link", {}, "01J00000000000000000000000", "01J00000000000000000000000", "01J00000000000000000000000"),
    ("link", {"multiple": True}, ["r1", "r2"], ["r1", "r2"], ["r1", "r2"]),
    ("attachment", {}, [FILE], [FILE], [FILE]),
    ("image", {}, [PNG], [PNG], [PNG]),
    ("address", {}, {"province": "广东省", "city": "深圳市", "detail": " 1 号 "},
     {"province": "广东省", "city": "深圳市", "district": None, "detail": "1 号"},
     {"province": "广东省", "city": "深圳市", "district": None, "detail": "1 号"}),
    ("address", {}, {"province": None}, None, None),
    ("location", {}, {"lng": 116.397, "lat": "39.908"}, {"lng": D("116.397"), "lat": D("39.908")},
     {"lng": "116.397", "lat": "39.908"}),
    ("location", {}, {"lng": -180, "lat": 90}, {"lng": D("-180"), "lat": D("90")},
     {"lng": "-180", "lat": "90"}),
    ("subform", {}, [{"_id": ROW_ID, "price": "2.5", "name": "pen"}],
     [{"_id": ROW_ID, "price": D("2.50"), "name": "pen"}],
     [{"_id": ROW_ID, "price": "2.50", "name": "pen"}]),
    ("subform", {}, [], None, None),
]


def _ids(rows):
    return [f"{r[0]}-{i}" for i, r in enumerate(rows)]


@pytest.mark.parametrize("type_name,extra,raw,value,api", GOOD, ids=_ids(GOOD))
def test_good_values(type_name, extra, raw, value, api):
    t = ft(type_name, **extra)
    got = t.validate(raw)
    assert got == value
    if isinstance(value, Decimal):
        assert str(got) == str(value)  # same scale, not only numerically equal
    assert t.to_json(got) == api
    stored = t.to_storage(got)
    assert json.loads(json.dumps(stored)) == stored  # JSON-compatible
    back = t.from_storage(json.loads(json.dumps(stored)))
    assert back == got
    if isinstance(value, Decimal):
        assert str(back) == str(value)
        assert isinstance(stored, (int, float)) and not isinstance(stored, bool)
    # idempotent: coercing the API output gives the same value
    if type_name not in ("subform",):
        assert t.coerce(api) == got
    # the value schema accepts both the input and the output
    schema = t.value_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert validator.is_valid(raw) or raw in ("  hello  ", "   ", "", []), raw
    assert validator.is_valid(api), api


# (type, extra definition, bad JSON input, code, words expected in the message)
BAD = [
    ("text", {}, 12, "type", "expected text, got a number"),
    ("text", {}, True, "type", "expected text, got a boolean"),
    ("text", {}, BIG, "length", "is too long: 10,000,000 characters, at most 1,000 allowed"),
    ("text", {}, "x" * 1001, "length", "at most 1,000"),
    ("text", {}, "a\nb", "format", "line breaks are not allowed"),
    ("text", {}, "a\x00b", "format", "control character U+0000"),
    ("text", {}, "bad\ud800", "format", "U+D800"),
    ("textarea", {}, BIG, "length", "at most 65,535"),
    ("textarea", {}, "a\x1bb", "format", "U+001B"),
    ("textarea", {}, ["a"], "type", "expected text, got an array"),
    ("number", {}, True, "type", "got a boolean"),
    ("number", {}, INF, "range", "infinity"),
    ("number", {}, float("-inf"), "range", "infinity"),
    ("number", {}, float("nan"), "range", "NaN"),
    ("number", {}, "NaN", "range", "expected a finite number"),
    ("number", {}, "Infinity", "range", "expected a finite number"),
    ("number", {}, D("NaN"), "range", "finite"),
    ("number", {}, "1e309", "digits", "too many digits"),
    ("number", {}, 10 ** 15, "digits", "at most 15 digits"),
    ("number", {}, 10 ** 400, "digits", "at most 15 digits"),
    ("number", {}, "1234567890123456", "digits", "16 before the decimal point"),
    ("number", {}, "1.0000000000000001", "digits", "too many digits: 17"),
    ("number", {}, 0.1 + 0.2, "digits", "too many digits"),
    ("number", {}, "12abc", "format", "'12abc' is not a number"),
    ("number", {}, "1,000", "format", "is not a number"),
    ("number", {}, BIG, "format", "10,000,000 characters"),
    ("number", {}, {"v": 1}, "type", "got an object"),
    ("decimal", {}, "1.234", "scale", "3 decimal places, at most 2"),
    ("money", {}, "6.666", "scale", "at most 2"),
    ("money", {}, 0.001, "scale", "at most 2"),
    ("money", {"scale": 0}, "1.5", "scale", "1 decimal places, at most 0"),
    ("percent", {"scale": 0}, "0.125", "scale", "at most 2"),
    ("boolean", {}, "true", "type", "expected true or false"),
    ("boolean", {}, 1, "type", "expected true or false"),
    ("boolean", {}, BIG, "type", "expected true or false"),
    ("date", {}, "2026-02-30", "format", "not a valid date"),
    ("date", {}, "2026-13-01", "format", "not a valid date"),
    ("date", {}, "2026/12/05", "format", "use YYYY-MM-DD"),
    ("date", {}, "20261205", "format", "use YYYY-MM-DD"),
    ("date", {}, "2026-12-05T00:00:00", "format", "use YYYY-MM-DD"),
    ("date", {}, 20261205, "type", "got a number"),
    ("date", {}, BIG, "format", "10,000,000 characters"),
    ("datetime", {}, "2026-12-05", "format", "not a date and time"),
    ("datetime", {}, "2026-12-05T25:00:00", "format", "not a valid date and time"),
    ("datetime", {}, "2026-02-30T10:00", "format", "not a valid date and time"),
    ("datetime", {}, 1700000000, "type", "got a number"),
    ("datetime", {}, BIG, "format", "is not a date and time"),
    ("time", {}, "24:00", "format", "not a valid time"),
    ("time", {}, "9:30", "format", "use HH:MM"),
    ("time", {}, "09:60", "format", "not a valid time"),
    ("time", {}, 930, "type", "got a number"),
    ("select", {}, "Bleu", "option", "'Bleu' is not one of the options (did you mean 'Blue'?); "
                                     "options: 'Red', 'Green', 'Blue'"),
    ("select", {}, "red", "option", "not one of the options"),
    ("select", {}, 1, "type", "got a number"),
    ("select", {}, ["Red"], "type", "got an array"),
    ("select", {}, BIG, "option", "10,000,000 characters"),
    ("multiselect", {}, "Red", "type", "expected a list of options"),
    ("multiselect", {}, ["Red", "Purple"], "option", "item 2: 'Purple' is not one of the options"),
    ("multiselect", {}, ["Red", "Red"], "duplicate", "'Red' is chosen twice"),
    ("multiselect", {}, ["Red"] * 1000, "range", "only 3 options"),
    ("email", {}, "not-an-email", "format", "is not a valid email address"),
    ("email", {}, "a@b", "format", "is not a valid email address"),
    ("email", {}, 5, "type", "got a number"),
    ("email", {}, BIG, "length", "at most 254"),
    ("phone", {}, "12345", "format", "not a valid phone number"),
    ("phone", {}, "call me", "format", "not a phone number"),
    ("phone", {}, 13812345678, "type", "got a number"),
    ("url", {}, "javascript:alert(1)", "format", "only http and https URLs are allowed, got javascript:"),
    ("url", {}, "ftp://example.com", "format", "got ftp:"),
    ("url", {}, "example.com", "format", "got no scheme"),
    ("url", {}, "http://", "format", "has no host"),
    ("url", {}, "http://exa mple.com", "format", "whitespace"),
    ("url", {}, "http://example.com:99999/", "format", "not a valid URL"),
    ("user", {}, 5, "type", "expected a user id"),
    ("user", {}, ["u1"], "type", "not multiple"),
    ("user", {}, "bad id!", "format", "is not a valid user id"),
    ("user", {"multiple": True}, ["u1", "u1"], "duplicate", "listed twice"),
    ("department", {}, BIG, "format", "is not a valid department id"),
    ("link", {"multiple": True}, ["r"] * 1001, "range", "at most 1,000"),
    ("link", {"multiple": True}, "r1", "type", "expected a list of record ids"),
    ("link", {"multiple": True}, ["r1", 2], "type", "item 2: expected a record id"),
    ("attachment", {}, FILE, "type", "expected a list of files"),
    ("attachment", {}, [{**FILE, "url": "x"}], "unknown", "file 1: unknown key 'url' in a file"),
    ("attachment", {}, [{**FILE, "size": "10"}], "type", "file 1: size: expected a whole number"),
    ("attachment", {}, [{**FILE, "size": True}], "type", "size: expected a whole number"),
    ("attachment", {}, [{**FILE, "size": -1}], "type", "size: expected a whole number"),
    ("attachment", {}, [{"id": "a", "name": "x"}], "required", "file 1: size: is required"),
    ("attachment", {}, [{**FILE, "name": "../etc/passwd"}], "format", "not a valid file name"),
    ("attachment", {}, [FILE, FILE], "duplicate", "listed twice"),
    ("attachment", {}, [FILE] * 101, "range", "at most 100"),
    ("image", {}, [FILE], "format", "is not an image type"),
    ("address", {}, "广东省深圳市", "type", "expected an address object"),
    ("address", {}, {"province": "x", "street": "y"}, "unknown", "unknown key 'street'"),
    ("address", {}, {"city": 5}, "type", "city: expected text"),
    ("address", {}, {"detail": BIG}, "length", "detail: is too long"),
    ("location", {}, {"lng": 181, "lat": 0}, "range", "lng: must be between -180 and 180"),
    ("location", {}, {"lng": 0, "lat": -90.5}, "range", "lat: must be between -90 and 90"),
    ("location", {}, {"lng": 0}, "required", "lat: is required"),
    ("location", {}, {"lng": 0, "lat": 0, "alt": 1}, "unknown", "unknown key 'alt'"),
    ("location", {}, {"lng": INF, "lat": 0}, "range", "lng: expected a finite number"),
    ("location", {}, {"lng": True, "lat": 0}, "type", "lng: expected a number, got a boolean"),
    ("location", {}, [116, 39], "type", "expected a location object"),
    ("subform", {}, {"price": 1}, "type", "expected a list of rows"),
    ("subform", {}, [{"price": 1}, 5], "type", "row 2: expected a row object"),
    ("subform", {}, [{"price": 1}, {"price": 1}, {"price": "1.555"}], "scale",
     "row 3: price: 1.555 has 3 decimal places, at most 2 allowed"),
    ("subform", {}, [{"price": 1, "prize": 2}], "unknown", "row 1: 'prize' is not a field of this "
                                                             "subform (did you mean 'price'?)"),
    ("subform", {}, [{"_id": "nope", "price": 1}], "format", "row 1: _id: 'nope' is not a valid row id"),
    ("subform", {}, [{"_id": ROW_ID}, {"_id": ROW_ID}], "duplicate", "row 2: _id: row id"),
    ("subform", {}, [{"price": 1}] * 1001, "range", "has 1,001 rows, at most 1,000 allowed"),
    ("subform", {}, [{"name": BIG}], "length", "row 1: name: is too long"),
]


@pytest.mark.parametrize("type_name,extra,raw,code,words", BAD, ids=_ids(BAD))
def test_bad_values(type_name, extra, raw, code, words):
    t = ft(type_name, **extra)
    with pytest.raises(FieldValueError) as info:
        t.validate(raw)
    assert words in info.value.message
    assert info.value.code == code
    assert len(info.value.message) < 400  # clear and short, never the whole value


# (type, extra definition, coerced-ok input, code, message) failing the definition's constraints
CONSTRAINTS = [
    ("text", {"min_length": 3}, "ab", "length", "is too short: 2 characters, at least 3 required"),
    ("text", {"max_length": 3}, "abcd", "length", "at most 3 allowed"),
    ("text", {"pattern": r"[A-Z]{2}\d{4}"}, "ab1234", "format", "does not match the pattern"),
    ("textarea", {"max_length": 5}, "abcdef", "length", "at most 5"),
    ("number", {"min": 0}, -1, "range", "must be at least 0, got -1"),
    ("number", {"max": "99.5"}, "99.6", "range", "must be at most 99.5, got 99.6"),
    ("money", {"min": 0.01}, "0", "range", "must be at least 0.01, got 0.00"),
    ("percent", {"max": 1}, "1.5", "range", "must be at most 1"),
    ("date", {"min": "2026-01-01"}, "2025-12-31", "range", "must be on or after 2026-01-01"),
    ("date", {"max": "2026-01-01"}, "2026-01-02", "range", "must be on or before 2026-01-01"),
    ("datetime", {"max": "2026-01-01T00:00:00"}, "2026-01-01T00:00:01", "range", "on or before"),
    ("time", {"min": "09:00"}, "08:59", "range", "must be on or after 09:00:00"),
    ("multiselect", {"max_selected": 1}, ["Red", "Blue"], "range", "choose at most 1 options, got 2"),
    ("multiselect", {"min_selected": 2}, ["Red"], "range", "choose at least 2 options"),
    ("attachment", {"max_files": 1}, [FILE, {**FILE, "id": "f2"}], "range", "has 2 files, at most 1"),
    ("attachment", {"max_size": 5}, [FILE], "range", "'a.pdf' is 10 bytes, at most 5 allowed"),
    ("attachment", {"accept": ["image/*"]}, [FILE], "format", "'application/pdf' is not accepted"),
    ("subform", {"min_rows": 2}, [{"price": 1}], "range", "needs at least 2 rows, got 1"),
    ("subform", {}, [{"price": 1}] * 4, "range", "has 4 rows, at most 3 allowed"),
    ("subform", {}, [{"price": 1}, {"price": -1}], "range", "row 2: price: must be at least 0"),
    ("subform", {}, [{"price": 1}, {"name": "x"}], "required", "row 2: price: is required"),
    ("text", {"required": True}, "   ", "required", "is required"),
]


@pytest.mark.parametrize("type_name,extra,raw,code,words", CONSTRAINTS, ids=_ids(CONSTRAINTS))
def test_constraints(type_name, extra, raw, code, words):
    t = ft(type_name, **extra)
    with pytest.raises(FieldValueError) as info:
        t.validate(raw)
    assert words in info.value.message
    assert info.value.code == code


def test_constraints_accept_bounds():
    assert ft("number", min=0, max=10).validate(10) == D(10)
    assert ft("text", pattern=r"[A-Z]{2}\d{4}").validate("AB1234") == "AB1234"
    assert ft("date", min="2026-01-01").validate("2026-01-01") == dt.date(2026, 1, 1)
    assert ft("multiselect", max_selected=2).validate(["Red", "Blue"]) == ["Red", "Blue"]


def test_nested_error_path():
    t = ft("subform")
    with pytest.raises(FieldValueError) as info:
        t.coerce([{"price": 1}, {"price": 1}, {"price": "x"}])
    assert info.value.message == "row 3: price: 'x' is not a number"
    assert error_path(info.value) == [2, "price"]
    with pytest.raises(FieldValueError) as info:
        t.validate([{"price": 1}, {"price": -2}])
    assert error_path(info.value) == [1, "price"]
    with pytest.raises(FieldValueError) as info:
        ft("attachment").coerce([FILE, {**FILE, "id": "f9", "size": "big"}])
    assert error_path(info.value) == [1, "size"]
    with pytest.raises(FieldValueError) as info:
        ft("location").coerce({"lng": 0, "lat": 99})
    assert error_path(info.value) == ["lat"]
    with pytest.raises(FieldValueError) as info:
        ft("text").coerce(5)
    assert error_path(info.value) == []


def test_subform_rows():
    t = ft("subform")
    rows = t.validate([{"price": "1", "total": "999"}, {"_id": ROW_ID.lower(), "price": 2}])
    assert len(rows[0]["_id"]) == 26 and rows[0]["_id"] != rows[1]["_id"]
    assert rows[1]["_id"] == ROW_ID  # a given id is kept (canonical upper case)
    assert "total" not in rows[0]  # computed children are ignored in the input
    assert rows[0] == {"_id": rows[0]["_id"], "price": D("1.00"), "name": None}
    stored = t.to_storage(rows)
    assert stored[0] == {"_id": rows[0]["_id"], "f_price": 1}  # keyed by child field id
    assert t.from_storage(stored) == rows
    assert t.from_storage([{"_id": ROW_ID, "f_price": 1, "f_gone": "x"}]) == [
        {"_id": ROW_ID, "price": D("1.00"), "name": None}]
    assert t.children["price"].name == "money"
    assert t.sql_type is None and t.expr_type == "records"


def test_subform_masks_sensitive_children():
    t = field_type({"key": "people", "type": "subform", "fields": [
        {"id": "a", "key": "name", "type": "text"}, {"id": "b", "key": "tel", "type": "phone"}]})
    rows = t.coerce([{"_id": ROW_ID, "name": "Bob", "tel": "13812345678"}])
    assert t.mask(rows) == [{"_id": ROW_ID, "name": "Bob", "tel": "138****5678"}]
    assert t.to_json(rows) == [{"_id": ROW_ID, "name": "Bob", "tel": "+8613812345678"}]


# --------------------------------------------------------------------------- parse_cell

CELLS = [
    ("text", {}, 13812345678, "13812345678"),
    ("text", {}, 12.5, "12.5"),
    ("text", {}, "", None),
    ("number", {}, "1,234.5", D("1234.5")),
    ("number", {}, 42, D("42")),
    ("number", {}, 4.25, D("4.25")),
    ("money", {}, "¥1,234.5", D("1234.50")),
    ("money", {}, 6.6, D("6.60")),
    ("money", {}, "  ", None),
    ("percent", {}, "12.5%", D("0.125")),
    ("percent", {}, 0.125, D("0.125")),
    ("boolean", {}, "yes", True),
    ("boolean", {}, "No", False),
    ("boolean", {}, "是", True),
    ("boolean", {}, "否", False),
    ("boolean", {}, "1", True),
    ("boolean", {}, "0", False),
    ("boolean", {}, "TRUE", True),
    ("boolean", {}, True, True),
    ("boolean", {}, 0, False),
    ("boolean", {}, "", None),
    ("date", {}, "2026/12/05", dt.date(2026, 12, 5)),
    ("date", {}, "2026/1/5", dt.date(2026, 1, 5)),
    ("date", {}, "2026年12月5日", dt.date(2026, 12, 5)),
    ("date", {}, dt.datetime(2026, 12, 5), dt.date(2026, 12, 5)),
    ("date", {}, dt.date(2026, 12, 5), dt.date(2026, 12, 5)),
    ("datetime", {}, "2026/12/05 9:30", dt.datetime(2026, 12, 5, 9, 30)),
    ("datetime", {}, "2026-12-05", dt.datetime(2026, 12, 5)),
    ("datetime", {}, dt.datetime(2026, 12, 5, 9, 30), dt.datetime(2026, 12, 5, 9, 30)),
    ("datetime", {}, "2026-12-05T01:30:00Z", dt.datetime(2026, 12, 5, 9, 30)),
    ("time", {}, "9:30", dt.time(9, 30)),
    ("time", {}, dt.time(9, 30), dt.time(9, 30)),
    ("select", {}, "绿色", "Green"),
    ("select", {}, " blue ", "Blue"),
    ("multiselect", {}, "Red, Blue", ["Red", "Blue"]),
    ("multiselect", {}, "Red；Green", ["Red", "Green"]),
    ("phone", {}, 13812345678, "+8613812345678"),
    ("phone", {}, 13812345678.0, "+8613812345678"),
    ("email", {}, " a@example.com ", "a@example.com"),
    ("user", {"multiple": True}, "u1, u2", ["u1", "u2"]),
    ("link", {}, " r1 ", "r1"),
    ("address", {}, "广东省/深圳市/南山区/科技园 1/2 号",
     {"province": "广东省", "city": "深圳市", "district": "南山区", "detail": "科技园 1/2 号"}),
    ("address", {}, '{"city": "北京"}', {"province": None, "city": "北京", "district": None, "detail": None}),
    ("location", {}, "116.397, 39.908", {"lng": D("116.397"), "lat": D("39.908")}),
    ("attachment", {}, json.dumps([FILE]), [FILE]),
    ("subform", {}, json.dumps([{"_id": ROW_ID, "price": 1}]), [{"_id": ROW_ID, "price": D("1.00"), "name": None}]),
]


@pytest.mark.parametrize("type_name,extra,cell,value", CELLS, ids=_ids(CELLS))
def test_parse_cell(type_name, extra, cell, value):
    got = ft(type_name, **extra).parse_cell(cell)
    assert got == value
    if isinstance(value, Decimal):
        assert str(got) == str(value)


BAD_CELLS = [
    ("number", {}, True, "got a boolean"),
    ("number", {}, "abc", "is not a number"),
    ("money", {}, 0.1 + 0.2, "too many digits"),
    ("money", {}, 6.666, "3 decimal places"),
    ("number", {}, float("nan"), "NaN"),
    ("boolean", {}, "maybe", "is not a yes/no value"),
    ("boolean", {}, 2, "is not a yes/no value"),
    ("date", {}, "05/12/2026", "is not a date"),
    ("date", {}, "2026/02/30", "not a valid date"),
    ("date", {}, dt.datetime(2026, 12, 5, 9, 30), "got a date and time"),
    ("date", {}, 46000, "got a number"),
    ("datetime", {}, "2026/12/05 25:00", "not a valid time of day"),
    ("time", {}, "25:00", "not a valid time"),
    ("select", {}, "Purple", "not one of the options"),
    ("multiselect", {}, "Red, Purple", "item 2"),
    ("attachment", {}, "a.pdf", "files cannot be imported from a cell"),
    ("attachment", {}, "[not json", "is not a JSON list of files"),
    ("subform", {}, "x", "cannot be imported from a cell"),
    ("location", {}, "116.397", "use \"lng,lat\""),
    ("location", {}, "200,10", "lng: must be between"),
    ("text", {}, BIG, "is too long"),
    ("multiselect", {}, BIG, "is too long"),
    ("formula", {}, "3", "is computed"),
]


@pytest.mark.parametrize("type_name,extra,cell,words", BAD_CELLS, ids=_ids(BAD_CELLS))
def test_parse_cell_bad(type_name, extra, cell, words):
    with pytest.raises(FieldValueError) as info:
        ft(type_name, **extra).parse_cell(cell)
    assert words in info.value.message


# --------------------------------------------------------------------------- registry and schemas

def test_registry_has_exactly_the_listed_types():
    assert sorted(registry.names()) == sorted(ALL_TYPES)
    with pytest.raises(KeyError, match="did you mean 'number'"):
        field_type({"key": "x", "type": "numbr"})


@pytest.mark.parametrize("name", ALL_TYPES)
def test_type_metadata_and_schemas(name):
    cls = registry.get(name)
    assert cls.name == name and issubclass(cls, FieldType)
    assert len(cls.description) > 20
    Draft202012Validator.check_schema({"type": "object", "properties": cls.definition_properties})
    for prop in cls.definition_required:
        assert prop in cls.definition_properties
    for schema in cls.definition_properties.values():
        assert schema.get("description"), name
    t = ft(name)
    assert t.sql_type in ("text", "number", "boolean", "date", "datetime", None)
    assert t.expr_type in ("number", "text", "boolean", "date", "datetime", "time", "list",
                           "record", "records")
    assert t.indexable == (t.sql_type is not None)
    schema = t.value_schema()
    Draft202012Validator.check_schema(schema)
    assert Draft202012Validator(schema).is_valid(None)
    assert t.definition_problems() == []
    # the app-schema builder instantiates types with required properties set to None
    cls({"key": "x", "type": name, **{p: None for p in cls.definition_required}}).value_schema()


def test_shared_base_classes():
    from engine import field_types as m
    for name in ("textarea", "email", "phone", "url"):
        assert issubclass(registry.get(name), m.TextType)
    for name in ("decimal", "money", "percent"):
        assert issubclass(registry.get(name), m.NumberType)
    for name in ("user", "department", "link"):
        assert issubclass(registry.get(name), m.ReferenceType)
    for name in ("formula", "lookup", "rollup", "serial"):
        assert issubclass(registry.get(name), m.ComputedType) and registry.get(name).computed
    assert issubclass(registry.get("image"), m.AttachmentType)
    assert issubclass(registry.get("multiselect"), m.SelectType)


@pytest.mark.parametrize("name,extra,sql,expr", [
    ("text", {}, "text", "text"), ("number", {}, "number", "number"), ("money", {}, "number", "number"),
    ("boolean", {}, "boolean", "boolean"), ("date", {}, "date", "date"),
    ("datetime", {}, "datetime", "datetime"), ("time", {}, "text", "time"),
    ("select", {}, "text", "text"), ("multiselect", {}, None, "list"),
    ("user", {}, "text", "text"), ("user", {"multiple": True}, None, "list"),
    ("department", {"multiple": True}, None, "list"),
    ("link", {}, "text", "record"), ("link", {"multiple": True}, None, "records"),
    ("subform", {}, None, "records"), ("attachment", {}, None, "list"),
    ("address", {}, None, "record"), ("location", {}, None, "record"),
    ("serial", {}, "text", "text"), ("formula", {"result_type": "date"}, "date", "date"),
    ("formula", {"result_type": "boolean"}, "boolean", "boolean"),
    ("rollup", {}, "number", "number"), ("lookup", {"result_type": "datetime"}, "datetime", "datetime"),
    ("lookup", {"result_type": "number", "multiple": True}, None, "list"),
])
def test_sql_and_expr_types(name, extra, sql, expr):
    t = ft(name, **extra)
    assert (t.sql_type, t.expr_type) == (sql, expr)


def test_definition_problems():
    assert ft("text", pattern="(a+)+$").definition_problems()[0][0] == "pattern"
    assert "nests unbounded" in ft("text", pattern="(a+)+$").definition_problems()[0][1]
    assert ft("text", pattern="[").definition_problems()[0][1].startswith("the pattern is not a valid")
    assert ft("text", min_length=5, max_length=2).definition_problems()
    assert ft("number", min=5, max=2).definition_problems() == [("min", "min 5 is greater than max 2")]
    assert ft("date", min="2026-13-01").definition_problems()
    assert ft("select", options=["a", "a"]).definition_problems() == [("options", "option 'a' is listed twice")]
    assert ft("serial", pattern="X-{MM}-{000}").definition_problems()[0][0] == "pattern"
    assert ft("formula", result_type="subform").definition_problems()[0][0] == "result_type"
    assert ft("rollup", function="AVG", field=None).definition_problems()[0][0] == "field"
    assert ft("rollup", result_type="date").definition_problems()[0][0] == "result_type"
    nested = field_type({"key": "s", "type": "subform", "fields": [
        {"key": "inner", "type": "subform", "fields": [{"key": "a", "type": "text"}]}]})
    assert "cannot contain another subform" in nested.definition_problems()[0][1]
    assert pattern_problem(r"^[a-z]+(-[a-z]+)*$") is None
    assert pattern_problem(r"(\w+\s?)*") is not None
    assert pattern_problem("x" * 1001) is not None


def test_dangerous_pattern_refused_at_check_time():
    t = ft("text", pattern="(a+)+$")
    with pytest.raises(FieldValueError, match="cannot be checked: the pattern nests"):
        t.check("a" * 40 + "!")


# --------------------------------------------------------------------------- computed types

@pytest.mark.parametrize("name", ["formula", "lookup", "rollup", "serial"])
def test_computed_types_cannot_be_written(name):
    t = ft(name)
    assert t.computed
    with pytest.raises(FieldValueError, match="x is computed .* and cannot be written") as info:
        t.coerce("1")
    assert info.value.code == "computed"
    assert t.default_value() is None


def test_coerce_computed():
    assert ft("formula", result_type="money").coerce_computed(D(1) / D(3)) == D("0.33")
    assert str(ft("formula", result_type="money").coerce_computed(D(1) / D(3))) == "0.33"
    assert ft("formula", result_type="number").coerce_computed(D(2) / D(3)) == D("0.666666666666667")
    assert ft("formula", result_type="number").coerce_computed(3) == D(3)
    assert ft("formula", result_type="text").coerce_computed(D("1.50")) == "1.50"
    assert ft("formula", result_type="text").coerce_computed(True) == "true"
    assert ft("formula", result_type="date").coerce_computed(dt.date(2026, 1, 2)) == dt.date(2026, 1, 2)
    assert ft("formula", result_type="boolean").coerce_computed(False) is False
    assert ft("formula").coerce_computed(None) is None
    assert ft("rollup").coerce_computed(D("12.345")) == D("12.35")  # money result, rounded
    assert ft("rollup", result_type="number", scale=0).coerce_computed(D("2.5")) == D("3")
    with pytest.raises(FieldValueError, match="too many digits"):
        ft("formula", result_type="number").coerce_computed(D("1e20"))
    with pytest.raises(FieldValueError, match="finite"):
        ft("formula", result_type="number").coerce_computed(D("Infinity"))
    with pytest.raises(FieldValueError, match="expected true or false"):
        ft("formula", result_type="boolean").coerce_computed("yes")
    lk = ft("lookup", result_type="money", multiple=True)
    assert lk.coerce_computed([1, None, "2.5"]) == [D("1.00"), None, D("2.50")]
    assert lk.to_json(lk.coerce_computed([1])) == ["1.00"]
    assert lk.from_storage(lk.to_storage([D("1.00")])) == [D("1.00")]
    assert ft("lookup", result_type="phone").is_sensitive
    assert ft("serial").coerce_computed("SO-202612-0001") == "SO-202612-0001"
    with pytest.raises(FieldValueError):
        ft("serial").coerce_computed(5)
    with pytest.raises(FieldValueError, match="not computed"):
        ft("text").coerce_computed("x")


def test_computed_storage_follows_result_type():
    t = ft("formula", result_type="money")
    v = t.coerce_computed("6.6")
    assert t.to_storage(v) == 6.6 and str(t.from_storage(6.6)) == "6.60" and t.to_json(v) == "6.60"
    d = ft("formula", result_type="datetime")
    v = d.coerce_computed(dt.datetime(2026, 1, 1, 8))
    assert d.to_storage(v) == "2026-01-01T08:00:00" and d.from_storage("2026-01-01T08:00:00") == v


# --------------------------------------------------------------------------- serials

@pytest.mark.parametrize("pattern,n,now,expected,period", [
    ("SO-{YYYY}{MM}-{0000}", 1, dt.date(2026, 12, 5), "SO-202612-0001", "2026-12"),
    ("SO-{YYYY}{MM}-{0000}", 12345, dt.datetime(2026, 1, 5, 10), "SO-202601-12345", "2026-01"),
    ("{YY}{MM}{DD}{000}", 7, dt.date(2026, 3, 9), "260309007", "2026-03-09"),
    ("INV{YYYY}-{00000}", 42, dt.date(2027, 1, 1), "INV2027-00042", "2027"),
    ("C{0}", 9, dt.date(2026, 1, 1), "C9", ""),
    ("客户-{000}", 1, dt.date(2026, 1, 1), "客户-001", ""),
])
def test_format_serial(pattern, n, now, expected, period):
    assert serials.format_serial(pattern, n, now) == expected
    assert serials.period_key(pattern, now) == period
    t = ft("serial", pattern=pattern)
    assert t.format_serial(n, now) == expected and t.period_key(now) == period
    assert t.definition_problems() == []


@pytest.mark.parametrize("pattern,words", [
    ("SO-{YYYY}", "exactly one counter"),
    ("{0000}-{000}", "exactly one counter"),
    ("SO-{MM}-{000}", "without a year"),
    ("SO-{YYYY}{DD}-{000}", "{DD} without {MM}"),
    ("SO-{Q}-{000}", "unknown token {Q}"),
    ("SO-{YYYY-{000}", "unbalanced brace"),
    ("SO}-{000}", "unbalanced brace"),
    ("", "non-empty"),
    ("x" * 101 + "{0}", "too long"),
    ("a\n{0}", "control characters"),
])
def test_bad_serial_patterns(pattern, words):
    assert words in serials.validate_pattern(pattern)
    with pytest.raises(ValueError):
        serials.format_serial(pattern, 1, dt.date(2026, 1, 1))


@pytest.mark.parametrize("n", [0, -1, True, 1.0, "1"])
def test_serial_counter_must_be_positive_int(n):
    with pytest.raises(ValueError, match="positive integer"):
        serials.format_serial("A{000}", n, dt.date(2026, 1, 1))


# --------------------------------------------------------------------------- masking and misc

@pytest.mark.parametrize("name,extra,raw,masked", [
    ("phone", {}, "13812345678", "138****5678"),
    ("phone", {}, "+44 20 7946 0958", "+44 207***0958"),
    ("email", {}, "alice@example.com", "a***@example.com"),
    ("text", {"sensitive": True}, "张三丰", "张*丰"),
    ("text", {}, "ab", "a*"),
    ("number", {"sensitive": True}, "12.5", "***"),
    ("multiselect", {"sensitive": True}, ["Red"], ["R*d"]),
    ("address", {"sensitive": True}, {"city": "深圳市"},
     {"province": None, "city": "深*市", "district": None, "detail": None}),
    ("location", {}, {"lng": 1, "lat": 2}, {"lng": "***", "lat": "***"}),
    ("date", {"sensitive": True}, "1990-01-02", "***"),
    ("boolean", {"sensitive": True}, True, "***"),
])
def test_mask(name, extra, raw, masked):
    t = ft(name, **extra)
    assert t.mask(t.coerce(raw)) == masked
    assert t.mask(None) is None


def test_sensitivity():
    assert ft("phone").is_sensitive and ft("email").is_sensitive
    assert not ft("phone", sensitive=False).is_sensitive
    assert not ft("text").is_sensitive and ft("text", sensitive=True).is_sensitive


def test_default_value_and_required():
    assert ft("money", default="5").default_value() == D("5.00")
    assert ft("text").default_value() is None
    with pytest.raises(FieldValueError, match="not one of the options"):
        ft("select", default="Purple").default_value()
    with pytest.raises(FieldValueError, match="is required") as info:
        ft("multiselect", required=True).validate([])
    assert info.value.code == "required"
    assert ft("boolean", required=True).validate(False) is False


def test_datetime_instance_timezone(monkeypatch):
    from engine.field_types import DateTimeType
    monkeypatch.setattr(DateTimeType, "timezone", "UTC")
    assert ft("datetime").coerce("2026-12-05T09:30:00+08:00") == dt.datetime(2026, 12, 5, 1, 30)
    with pytest.raises(FieldValueError, match="unknown time zone"):
        ft("datetime", timezone="Mars/Base").coerce("2026-12-05T09:30:00Z")


def test_money_storage_is_exact_and_restores_scale():
    t = ft("money")
    for text in ["0.10", "999999999999.99", "-0.01", "123456789012345", "0.07"]:
        v = t.coerce(text)
        stored = t.to_storage(v)
        assert json.loads(json.dumps(stored)) == stored
        assert str(t.from_storage(json.loads(json.dumps(stored)))) == str(v)
    assert str(t.from_storage(6.6)) == "6.60"
    assert str(t.from_storage(7)) == "7.00"
    assert str(ft("number").from_storage(2.50)) == "2.5"


@pytest.mark.parametrize("name", ["text", "textarea", "email", "phone", "url", "number", "date", "select", "user"])
def test_a_huge_string_is_refused_by_every_type_that_takes_text(name):
    with pytest.raises(FieldValueError):
        ft(name).coerce(BIG)


@pytest.mark.parametrize("name", ["number", "decimal", "money"])
@pytest.mark.parametrize("text", ["0E1000000000000000000", ".0E1100000000000000000", "-1e9999999999999999999"])
def test_an_exponent_too_large_for_decimal_is_refused_not_a_crash(name, text):
    """Decimal(text) raised decimal.InvalidOperation (a 500 through the API) past its exponent limit."""
    with pytest.raises(FieldValueError) as exc:
        ft(name).coerce(text)
    assert exc.value.code == "range"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10 ** 13 - 1), max_value=10 ** 13 - 1), st.sampled_from([0, 1, 2]))
def test_money_round_trip_property(cents, places):
    t = ft("money")
    d = Decimal(cents).scaleb(-places)
    v = t.coerce(format(d, "f"))
    assert v == d and v.as_tuple().exponent == -2
    stored = json.loads(json.dumps(t.to_storage(v)))
    assert str(t.from_storage(stored)) == str(v)
    assert t.coerce(t.to_json(v)) == v


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_number_from_any_float_is_exact_or_refused(f):
    t = ft("number")
    try:
        v = t.coerce(f)
    except FieldValueError as exc:
        assert exc.code in ("range", "digits")
        return
    assert float(v) == f
    assert t.from_storage(json.loads(json.dumps(t.to_storage(v)))) == v
