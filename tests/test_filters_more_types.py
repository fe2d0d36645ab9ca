"""Record filters on lists, links, times, datetimes and `$user`, on SQLite and PostgreSQL.

Every filter runs in SQL (engine.queries.list_records) and selects exactly the records the
expression language's evaluator says are TRUE.
"""
from __future__ import annotations

import pytest

from engine import api_keys, directory, users
from engine.queries import QueryError, count_records, list_records

TASKS = {"key": "work", "label": {"en": "Work"}, "forms": [
    {"key": "task", "label": {"en": "Task"}, "fields": [
        {"key": "title", "type": "text", "label": {"en": "Title"}},
        {"key": "tags", "type": "multiselect", "label": {"en": "Tags"}, "options": ["urgent", "Bug", "docs"]},
        {"key": "who", "type": "user", "label": {"en": "Assignee"}},
        {"key": "whos", "type": "user", "multiple": True, "label": {"en": "Watchers"}},
        {"key": "depts", "type": "department", "multiple": True, "label": {"en": "Departments"}},
        {"key": "machine", "type": "link", "target": "machine", "label": {"en": "Machine"}},
        {"key": "machines", "type": "link", "target": "machine", "multiple": True, "label": {"en": "Machines"}},
        {"key": "at", "type": "time", "label": {"en": "At"}},
        {"key": "due", "type": "datetime", "label": {"en": "Due"}}]},
    {"key": "machine", "label": {"en": "Machine"}, "fields": [
        {"key": "name", "type": "text", "label": {"en": "Name"}}]}]}

INJECTION = "a') OR 1=1 --"


@pytest.fixture
def work(ff):
    """The app, two users, two departments, two machines and five tasks (one with nothing set)."""
    import copy
    ff.apps.install(copy.deepcopy(TASKS))
    alice = users.add_user(ff, "alice", "correct horse battery")
    bob = users.add_user(ff, "bob", "correct horse battery")
    sales = directory.add_department(ff, "Sales")["id"]
    ops = directory.add_department(ff, "Ops")["id"]
    m1 = ff.records.create("work", "machine", {"name": "Lathe"})["_id"]
    m2 = ff.records.create("work", "machine", {"name": "Mill"})["_id"]
    ff.records.create("work", "task", {
        "title": "one", "tags": ["urgent", "Bug"], "who": alice["id"], "whos": [alice["id"], bob["id"]],
        "depts": [sales], "machine": m1, "machines": [m1, m2], "at": "09:30", "due": "2026-03-01T08:00"})
    ff.records.create("work", "task", {
        "title": "two", "tags": ["docs"], "who": bob["id"], "whos": [bob["id"]], "depts": [ops],
        "machine": m2, "machines": [m2], "at": "10:00", "due": "2026-03-02T00:00"})
    ff.records.create("work", "task", {
        "title": "three", "tags": ["Bug"], "whos": [alice["id"]], "depts": [sales, ops],
        "machines": [m1], "at": "17:45:30", "due": "2026-03-02T18:00"})
    ff.records.create("work", "task", {"title": "empty lists", "tags": [], "whos": [], "machines": []})
    ff.records.create("work", "task", {"title": "nothing"})
    ff.ids = {"alice": alice["id"], "bob": bob["id"], "sales": sales, "ops": ops, "m1": m1, "m2": m2}
    return ff


def titles(ff, source, user=None):
    _, form = ff.form("work", "task")
    with ff.db.read() as conn:
        page = list_records(conn, ff, form, filter=source, sort="title", user=user)
    return sorted(r["title"] for r in page.records)


# -- lists ------------------------------------------------------------------------

def test_contains_on_a_multiselect_selects_the_records_holding_that_option(work):
    assert titles(work, 'CONTAINS(tags, "urgent")') == ["one"]


def test_contains_on_a_multiselect_compares_options_like_equals_ignoring_case(work):
    assert titles(work, 'CONTAINS(tags, "BUG")') == ["one", "three"]


def test_contains_on_a_multiselect_matches_whole_options_not_parts(work):
    assert titles(work, 'CONTAINS(tags, "urg")') == []


def test_isempty_on_a_multiselect_selects_missing_and_empty_lists(work):
    assert titles(work, "ISEMPTY(tags)") == ["empty lists", "nothing"]


def test_not_isempty_on_a_multiselect_selects_the_records_with_options(work):
    assert titles(work, "NOT(ISEMPTY(tags))") == ["one", "three", "two"]


def test_contains_on_multiple_users_selects_the_records_listing_that_user(work):
    assert titles(work, f'CONTAINS(whos, "{work.ids["bob"]}")') == ["one", "two"]


def test_contains_on_multiple_departments_selects_the_records_listing_that_department(work):
    assert titles(work, f'CONTAINS(depts, "{work.ids["ops"]}")') == ["three", "two"]


def test_not_contains_on_a_list_includes_records_without_the_list(work):
    assert titles(work, f'NOT(CONTAINS(depts, "{work.ids["ops"]}"))') == ["empty lists", "nothing", "one"]


def test_a_list_equals_a_blank_only_when_it_is_empty(work):
    assert titles(work, 'whos = ""') == ["empty lists", "nothing"]


def test_ordering_a_list_is_refused_with_the_reason(work):
    with pytest.raises(QueryError) as err:
        titles(work, 'tags > "a"')
    assert "list" in err.value.message


# -- links --------------------------------------------------------------------------

def test_a_single_link_equals_the_id_of_its_record(work):
    assert titles(work, f'machine = "{work.ids["m1"]}"') == ["one"]


def test_a_single_link_differs_from_other_ids_and_from_blank(work):
    assert titles(work, f'machine <> "{work.ids["m1"]}"') == ["empty lists", "nothing", "three", "two"]


def test_isempty_on_a_single_link_selects_the_records_without_a_link(work):
    assert titles(work, "ISEMPTY(machine)") == ["empty lists", "nothing", "three"]


def test_contains_on_multiple_links_selects_the_records_linking_that_record(work):
    assert titles(work, f'CONTAINS(machines, "{work.ids["m1"]}")') == ["one", "three"]


def test_isempty_on_multiple_links_selects_missing_and_empty_lists(work):
    assert titles(work, "ISEMPTY(machines)") == ["empty lists", "nothing"]


# -- times and datetimes -------------------------------------------------------------------

def test_a_time_compares_with_a_time_text(work):
    assert titles(work, 'at >= "10:00"') == ["three", "two"]


def test_a_time_equals_its_stored_text_with_seconds(work):
    assert titles(work, 'at = "10:00:00"') == ["two"]


def test_a_blank_time_is_before_every_time(work):
    assert titles(work, 'at < "09:45"') == ["empty lists", "nothing", "one"]


def test_a_datetime_compares_with_a_date_as_its_midnight(work):
    assert titles(work, "due >= DATE(2026, 3, 2)") == ["three", "two"]


def test_a_datetime_equals_a_date_only_at_midnight(work):
    assert titles(work, "due = DATE(2026, 3, 2)") == ["two"]


def test_a_datetime_compares_with_a_datetime(work):
    assert titles(work, "due > DATE(2026, 3, 2, 0, 0, 0)") == ["three"]


# -- $user ---------------------------------------------------------------------------

def test_user_id_in_a_filter_is_the_caller_given(work):
    me = {"id": work.ids["bob"]}
    assert titles(work, "who = $user.id", user=me) == ["two"]


def test_user_id_in_a_list_is_the_caller_given(work):
    me = {"id": work.ids["alice"]}
    assert titles(work, "CONTAINS(whos, $user.id)", user=me) == ["one", "three"]


def test_user_departments_in_a_filter_are_the_callers(work):
    me = {"id": work.ids["alice"], "departments": [work.ids["sales"]]}
    assert titles(work, "CONTAINS(depts, INDEX($user.departments, 1))", user=me) == ["one", "three"]


def test_the_same_filter_for_another_caller_selects_their_records(work):
    titles(work, "who = $user.id", user={"id": work.ids["bob"]})
    assert titles(work, "who = $user.id", user={"id": work.ids["alice"]}) == ["one"]


def test_user_in_a_filter_without_a_caller_is_a_clear_error(work):
    with pytest.raises(QueryError) as err:
        titles(work, "who = $user.id")
    assert "$user" in err.value.message
    assert err.value.errors[0]["code"] == "no_caller"


def test_user_in_a_count_without_a_caller_is_a_clear_error(work):
    _, form = work.form("work", "task")
    with work.db.read() as conn, pytest.raises(QueryError):
        count_records(conn, work, form, filter="who = $user.id")


@pytest.fixture
def client(work):
    """The API with bob's read-only API key."""
    from engine.web import create_app
    key = api_keys.create_key(work, work.ids["bob"], name="bob's")["key"]
    app = create_app(work, TESTING=True)
    return app.test_client(), {"Authorization": f"Bearer {key}"}


def test_user_id_over_the_api_is_the_owner_of_the_api_key(client):
    http, auth = client
    r = http.get("/api/v1/apps/work/forms/task/records", query_string={"filter": "who = $user.id"},
                 headers=auth)
    assert r.status_code == 200, r.get_json()
    assert [rec["title"] for rec in r.get_json()["records"]] == ["two"]


def test_user_id_over_the_api_counts_the_callers_records(client):
    http, auth = client
    r = http.get("/api/v1/apps/work/forms/task/records",
                 query_string={"filter": "CONTAINS(whos, $user.id)", "count": "1"}, headers=auth)
    assert r.get_json()["count"] == 2


def test_a_list_filter_over_the_api(client):
    http, auth = client
    r = http.get("/api/v1/apps/work/forms/task/records", query_string={"filter": 'CONTAINS(tags, "docs")'},
                 headers=auth)
    assert [rec["title"] for rec in r.get_json()["records"]] == ["two"]


def test_user_id_in_an_export_filter_is_the_owner_of_the_api_key(client):
    http, auth = client
    r = http.get("/api/v1/apps/work/forms/task/export", query_string={"filter": "who = $user.id", "format": "csv",
                                                                      "fields": "title", "header": "key"},
                 headers=auth)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_data(as_text=True).lstrip("\ufeff").split() == ["title", "two"]


# -- injection ----------------------------------------------------------------------------

def test_an_injection_looking_list_item_is_just_a_value(work):
    assert titles(work, f'CONTAINS(tags, "{INJECTION}")') == []


def test_an_injection_looking_link_id_is_just_a_value(work):
    assert titles(work, f'machine = "{INJECTION}"') == []


def test_an_injection_looking_time_is_just_a_value(work):
    assert titles(work, f'at = "{INJECTION}"') == []
