"""Row rules on lists, times and links ("records I watch"), on SQLite and PostgreSQL.

A row rule runs twice — in SQL for lists and counts, in Python for one record — and both
must select the same records; these conditions are the ones filters accept.
"""
from __future__ import annotations

import copy

import pytest

from engine import permissions
from engine.errors import DefinitionError, NotFound
from tests.test_filters_more_types import TASKS, work  # noqa: F401


def with_rule(rows: str) -> dict:
    defn = copy.deepcopy(TASKS)
    defn["permissions"] = [{"key": "mine", "form": "task", "who": {"everyone": True}, "actions": ["read"],
                            "rows": rows, "new_fields": "readonly"}]
    return defn


def seen(ff, user_key: str) -> tuple[list, list, int]:
    """(titles listed, titles readable one by one, count) for a user under the installed rules."""
    fa = permissions.form_access(ff, ff.ids[user_key], "work", "task")
    with ff.db.read() as conn:
        listed = sorted(r["title"] for r in fa.list_records(conn, limit=100).records)
        count = fa.count_records(conn)
    _, form = ff.form("work", "task")
    readable = []
    from engine.queries import list_records
    with ff.db.read() as conn:
        for r in list_records(conn, ff, form, limit=100).records:
            try:
                readable.append(fa.get(r["_id"])["title"])
            except NotFound:
                pass
    return listed, sorted(readable), count


@pytest.mark.parametrize("rule, alice, bob", [
    ("CONTAINS(whos, $user.id)", ["one", "three"], ["one", "two"]),
    ("who = $user.id", ["one"], ["two"]),
    ('CONTAINS(tags, "bug")', ["one", "three"], ["one", "three"]),
    ("NOT(ISEMPTY(machines))", ["one", "three", "two"], ["one", "three", "two"]),
    ('at >= "10:00:00"', ["three", "two"], ["three", "two"]),
])
def test_a_list_time_or_link_row_rule_selects_the_same_records_in_sql_and_in_python(work, rule, alice, bob):
    work.apps.install(with_rule(rule))
    for user, expected in (("alice", alice), ("bob", bob)):
        listed, readable, count = seen(work, user)
        assert listed == readable == expected and count == len(expected), (user, listed, readable)


def test_a_single_link_rule_compares_the_linked_records_id(work):
    work.apps.install(with_rule(f'machine = "{work.ids["m1"]}"'))
    assert seen(work, "alice")[0] == ["one"]


def test_a_row_rule_that_still_cannot_run_in_sql_is_refused_when_installed(work):
    with pytest.raises(DefinitionError) as info:
        work.apps.install(with_rule("LEN(title) > 3"))
    assert any(e["location"] == "permissions[0].rows" and "cannot run in the database" in e["message"]
               for e in info.value.errors)


def test_the_rule_check_endpoint_accepts_a_list_rule(work):
    from engine.permission_model import rule_problem, rule_schema
    from engine.queries import field_shapes
    _, form = work.form("work", "task")
    assert rule_problem("CONTAINS(whos, $user.id)", rule_schema(form), field_shapes(form)) is None
