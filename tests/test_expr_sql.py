"""SQL backend: translation rules, injection safety, and SQL == Python on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from engine.columns import json_column_type, stored_value
from engine.expr import ExprNameError, FieldSig, NotInSQL, compile_expression
from engine.expr.sql import register_sqlite_functions, to_sql
from engine.expr.values import to_bool

NOW = datetime(2024, 3, 15, 10, 30)
SCHEMA = {
    "n1": FieldSig("number"), "n2": FieldSig("number"), "t1": FieldSig("text"),
    "t2": FieldSig("text"), "b": FieldSig("boolean"), "d": FieldSig("date"),
    "dt": FieldSig("datetime"), "tags": FieldSig("list"), "tm": FieldSig("time"),
    "lnk": FieldSig("record"),
}
SQL_TYPES = {k: v.type for k, v in SCHEMA.items()}
SQL_TYPES.update(tm="text", lnk="text", tags=None)
#: fields stored as the text the evaluator sees (times, single links), and as JSON arrays
TEXT_KEYS = ("tm", "lnk")


def list_fields(table):
    return {"tags": (table.c.data, "tags")}


def make_table(dialect):
    md = sa.MetaData()
    table = sa.Table("records", md, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("data", json_column_type(dialect)),
                     sa.Column("folded", json_column_type(dialect)))
    return md, table


def resolver(table, dialect):
    return lambda key, folded: stored_value(table, key, SQL_TYPES[key], dialect, folded)


def compiled_sql(source, dialect="sqlite", lists=False):
    md, table = make_table(dialect)
    d = sqlite.dialect() if dialect == "sqlite" else postgresql.dialect()
    cond = to_sql(source, SCHEMA, resolver(table, dialect), dialect, now=NOW, text_keys=TEXT_KEYS,
                  lists=list_fields(table) if lists else None)
    return cond.compile(dialect=d)


# --------------------------------------------------------------- translation ---
def test_literals_are_bound_parameters_never_inlined():
    evil = "x' OR 1=1 --"
    for dialect in ("sqlite", "postgresql"):
        c = compiled_sql(f't1 = "{evil}"', dialect)
        assert "OR 1=1" not in str(c)
        assert evil.casefold() in c.params.values()


def test_text_literal_is_casefolded_before_binding():
    c = compiled_sql('t1 = "STRASSE"')
    assert "strasse" in c.params.values()
    assert "folded" in str(c)


def test_division_is_not_in_sql():
    with pytest.raises(NotInSQL) as e:
        compiled_sql("n1 / 2 > 1")
    assert "division" in e.value.reason


def test_list_fields_not_named_in_lists_and_paths_are_not_in_sql():
    with pytest.raises(NotInSQL) as e:
        compiled_sql('CONTAINS(tags, "x")')
    assert e.value.reason
    with pytest.raises(NotInSQL):
        compiled_sql("LEN(t1) > 2")
    with pytest.raises(NotInSQL):
        compiled_sql('MID(t1, 2, 1) = "a"')


def test_list_items_are_bound_parameters_never_inlined():
    evil = "a') OR 1=1 --"
    for dialect in ("sqlite", "postgresql"):
        c = compiled_sql(f'CONTAINS(tags, "{evil}")', dialect, lists=True)
        assert "OR 1=1" not in str(c)


def test_list_fields_are_neither_ordered_nor_compared_with_fields():
    for source in ('tags > "a"', "tags = t1", "tags = tags", "tags + 1 > 0", "CONTAINS(tags, t1)",
                   "CONTAINS(tags, 1)"):
        with pytest.raises(NotInSQL):
            compiled_sql(source, lists=True)


def test_a_date_field_compared_with_a_datetime_after_midnight_is_that_day_or_later():
    c = compiled_sql("d < DATE(2024, 3, 15, 10, 30, 0)")
    assert "2024-03-15" in c.params.values()


def test_ordering_different_types_is_not_in_sql():
    with pytest.raises(NotInSQL) as e:
        compiled_sql("t1 > 5")
    assert "#VALUE!" in e.value.reason


def test_unknown_field_is_a_static_error_not_notinsql():
    with pytest.raises(ExprNameError):
        compiled_sql("nope > 1")


def test_text_prefix_is_translated_with_bound_parameters():
    for dialect in ("sqlite", "postgresql"):
        c = compiled_sql('LEFT(t1, 5) = "STRASS"', dialect)
        assert "strass" in c.params.values()


def test_text_prefix_with_a_field_count_is_not_in_sql():
    with pytest.raises(NotInSQL):
        compiled_sql('LEFT(t1, n1) = "a"')


def test_constant_subexpressions_fold_in_python():
    c = compiled_sql("d >= DATE(2024, 1, 31) + 1")
    assert "2024-02-01" in c.params.values()


def test_today_uses_the_given_now():
    c = compiled_sql("d = TODAY()")
    assert "2024-03-15" in c.params.values()


# ----------------------------------------------------------- agreement -----
def to_json_value(v):
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, datetime):
        return v.isoformat(timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return v


def store(rec):
    data = {k: to_json_value(v) for k, v in rec.items() if v is not None}
    if isinstance(rec.get("tm"), time):
        data["tm"] = rec["tm"].isoformat(timespec="seconds")
    folded = {k: v.casefold() for k, v in data.items() if isinstance(v, str)}
    return data, folded


numbers = st.one_of(st.none(), st.integers(-50, 50).map(Decimal),
                    st.decimals(min_value=-100, max_value=100, places=2, allow_nan=False))
WORDS = ["", "a", "A", "ab", "AB", "Straße", "STRASSE", "strasse", "ÄB", "äb", "b", "zz", "ß",
         "STRASS", "Straß", "ss", "ﬁx", "FIX", "ΐa"]
texts = st.one_of(st.none(), st.sampled_from(WORDS))
dates = st.one_of(st.none(), st.dates(date(2023, 12, 25), date(2024, 4, 5)))
datetimes = st.one_of(st.none(), st.datetimes(datetime(2024, 3, 14), datetime(2024, 3, 16)).map(
    lambda d: d.replace(microsecond=0)))
times = st.one_of(st.none(), st.sampled_from([time(0, 0), time(9, 5), time(10, 0), time(10, 0, 30),
                                                time(23, 59, 59)]))
tag_lists = st.one_of(st.none(), st.lists(st.sampled_from(WORDS[1:]), max_size=3, unique=True))
records = st.fixed_dictionaries({
    "n1": numbers, "n2": numbers, "t1": texts, "t2": texts,
    "b": st.one_of(st.none(), st.booleans()), "d": dates, "dt": datetimes,
    "tm": times, "lnk": texts, "tags": tag_lists})

num_lit = st.sampled_from(["0", "1", "-1", "2.5", "0.1", "10", "-3.25", "100"])
text_lit = st.sampled_from([f'"{w}"' for w in WORDS])
date_lit = st.sampled_from(["DATE(2024,1,1)", "TODAY()", "DATE(2024,3,15)", "DATE(2024,2,29)"])
dt_lit = st.sampled_from(["DATE(2024,3,15,10,30,0)", "NOW()", "DATE(2024,3,15,0,0,0)"])
cmp_op = st.sampled_from(["=", "<>", "<", "<=", ">", ">=", "==", "!="])


def num_terms():
    leaf = st.one_of(st.sampled_from(["n1", "n2", "YEAR(d)", "MONTH(d)", "DAY(dt)"]), num_lit)
    return st.recursive(leaf, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda x: f"-{x}"),
        inner.map(lambda x: f"{x}%")), max_leaves=3)


def conditions():
    base = st.one_of(
        st.tuples(num_terms(), cmp_op, num_terms()).map(lambda t: " ".join(t)),
        st.tuples(st.sampled_from(["t1", "t2"]), cmp_op,
                  st.one_of(text_lit, st.sampled_from(["t1", "t2"]))).map(lambda t: " ".join(t)),
        st.tuples(st.just("d"), cmp_op, date_lit).map(lambda t: " ".join(t)),
        st.tuples(st.just("dt"), cmp_op, dt_lit).map(lambda t: " ".join(t)),
        st.tuples(st.just("dt"), cmp_op, date_lit).map(lambda t: " ".join(t)),
        st.tuples(st.just("d"), cmp_op, dt_lit).map(lambda t: " ".join(t)),
        st.tuples(st.just("tm"), cmp_op, st.sampled_from(['"10:00"', '"10:00:00"', '"09:05:00"', '""',
                                                          '"23"', "tm"])).map(lambda t: " ".join(t)),
        st.tuples(st.just("lnk"), st.sampled_from(["=", "<>"]), text_lit).map(lambda t: " ".join(t)),
        st.tuples(st.sampled_from(["tags", "lnk"]), text_lit).map(lambda t: f"CONTAINS({t[0]}, {t[1]})"),
        st.sampled_from(["ISEMPTY(tags)", "ISEMPTY(lnk)", "ISEMPTY(tm)", 'tags = ""', 'tags <> ""',
                         "tags = 0", 'tags <> "a"', 'CONTAINS(["a", "b"], tags)']),
        st.tuples(st.just("b"), st.sampled_from(["=", "<>", "<", ">"]),
                  st.sampled_from(["TRUE", "FALSE", "b"])).map(lambda t: " ".join(t)),
        st.sampled_from(["b", "n1", "ISEMPTY(t1)", "ISEMPTY(n1)", "ISEMPTY(d)", "ISEMPTY(b)",
                         't1 = 0', 'n1 = ""', 'n1 <> FALSE', 'b = ""', 'd = 0', 't2 = FALSE',
                         "TRUE", "FALSE()"]),
        st.tuples(st.sampled_from(["t1", "t2"]), text_lit).map(
            lambda t: f"CONTAINS({t[0]}, {t[1]})"),
        st.tuples(st.sampled_from(["LEFT", "RIGHT"]), st.sampled_from(["t1", "t2"]),
                  st.sampled_from(["", ", 0", ", 1", ", 2", ", 5", ", 6", ", 3 - 1"]),
                  st.sampled_from(["=", "<>", "=="]), text_lit).map(
            lambda t: f"{t[0]}({t[1]}{t[2]}) {t[3]} {t[4]}"),
        st.tuples(text_lit, st.sampled_from(["LEFT", "RIGHT"]), st.sampled_from(["t1", "t2"])).map(
            lambda t: f"{t[0]} = {t[1]}({t[2]}, 5)"),
        st.tuples(st.lists(text_lit, max_size=3), st.sampled_from(["t1", "t2"])).map(
            lambda t: f"CONTAINS([{', '.join(t[0])}], {t[1]})"),
        st.tuples(st.lists(num_lit, max_size=3), st.sampled_from(["n1", "n2"])).map(
            lambda t: f"CONTAINS([{', '.join(t[0])}], {t[1]})"),
    )
    return st.recursive(base, lambda inner: st.one_of(
        inner.map(lambda x: f"NOT({x})"),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: f"AND({', '.join(xs)})"),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: f"OR({', '.join(xs)})"),
    ), max_leaves=4)


def python_ids(source, rows):
    comp = compile_expression(source, SCHEMA)
    out = set()
    for i, rec in rows:
        v = comp.evaluate_raw(rec, {"now": NOW})
        if to_bool(v) is True:
            out.add(i)
    return out


def open_table(url, dialect):
    engine = sa.create_engine(url)
    if dialect == "sqlite":
        sa.event.listen(engine, "connect", lambda conn, _rec: register_sqlite_functions(conn))
    md, table = make_table(dialect)
    md.create_all(engine)
    return engine, table


def insert(conn, table, dialect, rows):
    conn.execute(table.delete())
    payload = []
    for i, rec in rows:
        data, folded = store(rec)
        if dialect == "sqlite":
            data, folded = json.dumps(data), json.dumps(folded)
        payload.append({"id": i, "data": data, "folded": folded})
    conn.execute(table.insert(), payload)


EDGE_ROWS = list(enumerate([
    {"t1": "Straße", "n1": D("0.1"), "n2": D("0.2"), "tags": ["Straße"]},
    {"t1": "STRASSE", "n1": D("0.3"), "tags": ["STRASSE", "b"]},
    {"t1": "strass", "n1": None, "tags": []}, {"t1": "", "n1": D(0)},
    {"t1": None, "n1": D("-0.3"), "tags": [""]}, {"t1": "ﬁx", "n1": D("1E+2"), "tags": ["ﬁx"]},
    {"t1": "ΐab", "n1": D("99999.99"), "tags": ["ΐab", "a"]},
], 1))
EDGE_FILTERS = [
    ('LEFT(t1, 5) = "STRASS"', {1}), ('LEFT(t1, 5) = "STRAS"', {2, 3}),
    ('LEFT(t1, 6) = "strasse"', {1}), ('RIGHT(t1, 2) = "SSE"', {1}),
    ('RIGHT(t1, 3) = "asse"', {1}), ('LEFT(t1) = "f"', set()), ('LEFT(t1) = "fi"', {6}),
    ('LEFT(t1, 2) = "ΐa"', {7}), ('LEFT(t1, 0) = ""', {1, 2, 3, 4, 5, 6, 7}),
    ('LEFT(t1, 3) = ""', {4, 5}), ('t1 = "strasse"', {1, 2}), ('t1 = ""', {4, 5}),
    ('ISEMPTY(t1)', {4, 5}), ('CONTAINS(t1, "SS")', {1, 2, 3}), ('n1 + n2 = 0.3', {1, 2}),
    ('n1 = 0', {3, 4}), ('n1 * 3 > 299.99', {6, 7}), ('-n1 = 0.3', {5}),
    ('n1 < 0', {5}), ('n1 = ""', {3}), ('CONTAINS([0.3, 0], n1)', {2, 3, 4}),
    ('CONTAINS(tags, "strasse")', {1, 2}), ('CONTAINS(tags, "FIX")', {6}), ('CONTAINS(tags, "fi")', set()),
    ('CONTAINS(tags, "ΐAB")', {7}), ('ISEMPTY(tags)', {3, 4}), ('CONTAINS(tags, "")', {4, 5}),
    ('tags = ""', {4}), ('NOT(CONTAINS(tags, "A"))', {1, 2, 3, 4, 5, 6}),
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_casefold_and_decimal_edge_cases_agree(dialect, request):
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "pg_url")
    engine, table = open_table(url, dialect)
    resolve = resolver(table, dialect)
    with engine.begin() as conn:
        insert(conn, table, dialect, EDGE_ROWS)
        for source, expected in EDGE_FILTERS:
            assert python_ids(source, EDGE_ROWS) == expected, source
            cond = to_sql(source, SCHEMA, resolve, dialect, now=NOW, text_keys=TEXT_KEYS,
                          lists=list_fields(table))
            got = {r[0] for r in conn.execute(sa.select(table.c.id).where(cond))}
            assert got == expected, source
    engine.dispose()


def check_agreement(url, dialect, data):
    engine, table = open_table(url, dialect)
    resolve = resolver(table, dialect)

    @settings(max_examples=30, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(records, min_size=1, max_size=12), st.lists(conditions(), min_size=5,
                                                                  max_size=12))
    def run(recs, filters):
        rows = list(enumerate(recs, 1))
        with engine.begin() as conn:
            insert(conn, table, dialect, rows)
            for source in filters:
                cond = to_sql(source, SCHEMA, resolve, dialect, now=NOW, text_keys=TEXT_KEYS,
                              lists=list_fields(table))
                got = {r[0] for r in conn.execute(sa.select(table.c.id).where(cond))}
                want = python_ids(source, rows)
                assert got == want, (source, rows)
    run()
    engine.dispose()


def test_sql_and_python_select_the_same_records_on_sqlite(sqlite_url):
    check_agreement(sqlite_url, "sqlite", None)


def test_sql_and_python_select_the_same_records_on_postgresql(pg_url):
    check_agreement(pg_url, "postgresql", None)


def test_no_code_point_past_the_cased_limit_changes_under_casefold():
    """The fold tables of the PostgreSQL translation scan only up to CASED_LIMIT."""
    import sys
    from engine.expr.sql import CASED_LIMIT
    changed = [hex(i) for i in range(CASED_LIMIT, sys.maxunicode + 1)
               if not 0xD800 <= i <= 0xDFFF and chr(i).casefold() != chr(i)]
    assert changed == []


@pytest.mark.parametrize("folded", ["strasse", "ss", "ffi", "σ", "k", "a"])
def test_the_fold_pattern_of_a_text_matches_exactly_the_texts_folding_to_it(folded):
    import re
    from engine.expr.sql import fold_regex
    pattern = re.compile(fold_regex(folded))
    for text in ["Straße", "STRASSE", "ſtraſſe", "ﬆraße", "SS", "ß", "ẞ", "FFI", "ﬃ", "Σ", "ς", "K", "K", "A", "B", "st"]:
        assert bool(pattern.match(text)) == (text.casefold() == folded), text
