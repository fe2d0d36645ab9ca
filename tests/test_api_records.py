"""Records over the REST API: flat JSON, filters, cursors, ETags, the trash, errors as problems."""
from __future__ import annotations

from tests.test_api_fixtures import TICKETS, api, bearer  # noqa: F401


def create(api, **values):
    r = api.client.post(TICKETS, json={"title": "pump", **values}, headers=api.auth)
    assert r.status_code == 201, r.json
    return r


def test_create_returns_the_flat_record_with_location_and_etag(api):
    r = create(api, qty=2, parts=[{"part": "seal", "price": 3.3}])
    rec = r.json
    assert rec["title"] == "pump" and rec["_version"] == 1 and rec["_id"]
    assert rec["parts"][0]["price"] == "3.30" or rec["parts"][0]["price"] == "3.3"
    assert isinstance(rec["total"], str)
    assert r.headers["Location"] == f"{TICKETS}/{rec['_id']}"
    assert r.headers["ETag"] == f'"{rec["_id"]}-1"'


def test_decimals_are_sent_as_strings_and_accepted_as_strings(api):
    rec = create(api, qty="2", parts=[{"part": "seal", "price": "6.60"}]).json
    assert rec["parts"][0]["price"] == "6.60"
    assert rec["total"] == "13.2" or rec["total"] == "13.20"


def test_system_fields_cannot_be_written(api):
    r = api.client.post(TICKETS, json={"title": "x", "_id": "mine", "_version": 9}, headers=api.auth)
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert {e["location"] for e in r.json["errors"]} == {"_id", "_version"}


def test_computed_fields_cannot_be_written(api):
    r = api.client.post(TICKETS, json={"title": "x", "total": "1"}, headers=api.auth)
    assert r.status_code == 422 and r.json["errors"][0]["location"] == "total"


def test_validation_errors_name_each_field(api):
    r = api.client.post(TICKETS, json={"qty": -1}, headers=api.auth)
    assert r.status_code == 422
    assert {e["location"] for e in r.json["errors"]} >= {"title"}
    assert all({"location", "message", "code"} <= set(e) for e in r.json["errors"])


def test_get_a_record_by_id(api):
    rid = create(api).json["_id"]
    r = api.client.get(f"{TICKETS}/{rid}", headers=api.auth)
    assert r.status_code == 200 and r.json["_id"] == rid and r.headers["ETag"] == f'"{rid}-1"'


def test_if_none_match_with_the_current_etag_gives_304(api):
    r = create(api)
    again = api.client.get(f"{TICKETS}/{r.json['_id']}", headers=bearer(api.key, **{"If-None-Match": r.headers["ETag"]}))
    assert again.status_code == 304 and not again.data


def test_a_missing_record_is_a_404_problem(api):
    r = api.client.get(f"{TICKETS}/nope", headers=api.auth)
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def test_patch_changes_only_the_given_fields(api):
    rid = create(api, qty=1).json["_id"]
    r = api.client.patch(f"{TICKETS}/{rid}", json={"qty": 5}, headers=api.auth)
    assert r.status_code == 200 and r.json["qty"] in ("5", 5) and r.json["title"] == "pump"
    assert r.headers["ETag"] == f'"{rid}-2"'


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(api):
    r = create(api, qty=1)
    rid, tag = r.json["_id"], r.headers["ETag"]
    assert api.client.patch(f"{TICKETS}/{rid}", json={"qty": 2}, headers=bearer(api.key, **{"If-Match": tag})).status_code == 200
    stale = api.client.patch(f"{TICKETS}/{rid}", json={"qty": 3}, headers=bearer(api.key, **{"If-Match": tag}))
    assert stale.status_code == 412 and stale.mimetype == "application/problem+json"
    assert api.client.get(f"{TICKETS}/{rid}", headers=api.auth).json["qty"] in ("2", 2)


def test_an_etag_of_another_record_never_matches(api):
    a, b = create(api), create(api)
    r = api.client.patch(f"{TICKETS}/{a.json['_id']}", json={"qty": 2},
                         headers=bearer(api.key, **{"If-Match": b.headers["ETag"]}))
    assert r.status_code == 412


def test_delete_moves_to_the_trash_and_restore_brings_it_back(api):
    rid = create(api).json["_id"]
    d = api.client.delete(f"{TICKETS}/{rid}", headers=api.auth)
    assert d.status_code == 200 and d.json["_deleted_at"]
    assert api.client.get(f"{TICKETS}/{rid}", headers=api.auth).status_code == 404
    trash = api.client.get(f"{TICKETS}?trash=1", headers=api.auth).json["records"]
    assert [t["_id"] for t in trash] == [rid]
    r = api.client.post(f"{TICKETS}/{rid}:restore", headers=api.auth)
    assert r.status_code == 200 and r.json["_deleted_at"] is None


def test_delete_with_a_stale_if_match_is_412(api):
    r = create(api)
    rid = r.json["_id"]
    api.client.patch(f"{TICKETS}/{rid}", json={"qty": 2}, headers=api.auth)
    d = api.client.delete(f"{TICKETS}/{rid}", headers=bearer(api.key, **{"If-Match": r.headers["ETag"]}))
    assert d.status_code == 412


def test_purge_erases_a_trashed_record(api):
    rid = create(api).json["_id"]
    assert api.client.delete(f"{TICKETS}/{rid}?purge=1", headers=api.auth).status_code == 409
    api.client.delete(f"{TICKETS}/{rid}", headers=api.auth)
    assert api.client.delete(f"{TICKETS}/{rid}?purge=1", headers=api.auth).status_code == 204
    assert api.client.get(f"{TICKETS}/{rid}?trash=1", headers=api.auth).status_code == 404


def test_history_and_revert(api):
    rid = create(api, qty=1).json["_id"]
    api.client.patch(f"{TICKETS}/{rid}", json={"qty": 7}, headers=api.auth)
    history = api.client.get(f"{TICKETS}/{rid}/history", headers=api.auth).json["history"]
    assert [h["action"] for h in history] == ["create", "update"]
    r = api.client.post(f"{TICKETS}/{rid}:revert", json={"version": 1}, headers=api.auth)
    assert r.status_code == 200 and r.json["qty"] in ("1", 1) and r.json["_version"] == 3


def test_list_filters_sorts_and_selects_fields(api):
    for q in (1, 5, 3):
        create(api, qty=q)
    r = api.client.get(TICKETS, query_string={"filter": "qty >= 3", "sort": "-qty", "fields": "qty", "count": "1"},
                       headers=api.auth)
    assert r.status_code == 200
    assert [x["qty"] for x in r.json["records"]] in (["5", "3"], [5, 3])
    assert set(r.json["records"][0]) == {"_id", "_version", "qty"}
    assert r.json["count"] == 2


def test_cursor_pagination_visits_every_record_once_despite_inserts(api):
    ids = [create(api, qty=i).json["_id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        r = api.client.get(TICKETS, query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
                           headers=api.auth).json
        seen += [x["_id"] for x in r["records"]]
        if not seen or len(seen) == 2:
            create(api, title="inserted meanwhile")
        cursor = r["next_cursor"]
        if cursor is None:
            break
    assert seen[:5] == ids and len(seen) == len(set(seen))


def test_a_bad_filter_is_a_400_problem(api):
    r = api.client.get(TICKETS, query_string={"filter": "qty >"}, headers=api.auth)
    assert r.status_code == 400 and r.json["errors"][0]["location"] == "filter"


def test_limit_over_500_is_refused(api):
    assert api.client.get(TICKETS, query_string={"limit": 501}, headers=api.auth).status_code == 400


def test_unknown_query_parameters_are_refused(api):
    r = api.client.get(TICKETS, query_string={"filtr": "x"}, headers=api.auth)
    assert r.status_code == 400 and r.json["errors"][0]["location"] == "filtr"


def test_malformed_json_is_a_400_problem_not_a_traceback(api):
    r = api.client.post(TICKETS, data=b'{"title": ', content_type="application/json", headers=api.auth)
    assert r.status_code == 400 and r.mimetype == "application/problem+json"


def test_a_body_that_is_not_json_is_415(api):
    r = api.client.post(TICKETS, data="title=x", content_type="application/x-www-form-urlencoded", headers=api.auth)
    assert r.status_code == 415 and r.mimetype == "application/problem+json"


def test_an_oversize_body_is_413(api):
    api.app.config["MAX_CONTENT_LENGTH"] = 1000
    r = api.client.post(TICKETS, data=b'{"title": "' + b"x" * 2000 + b'"}', content_type="application/json",
                        headers=api.auth)
    assert r.status_code == 413 and r.mimetype == "application/problem+json"


def test_batch_creates_all_or_nothing_with_per_row_errors(api):
    ok = api.client.post(TICKETS + ":batch", json={"records": [{"title": "a"}, {"title": "b"}]}, headers=api.auth)
    assert ok.status_code == 201 and len(ok.json["records"]) == 2
    bad = api.client.post(TICKETS + ":batch", json={"records": [{"title": "c"}, {"qty": 1}]}, headers=api.auth)
    assert bad.status_code == 422 and bad.json["errors"][0]["location"].startswith("rows[1]")
    assert len(api.client.get(TICKETS, headers=api.auth).json["records"]) == 2


def test_batch_over_1000_records_is_413(api):
    r = api.client.post(TICKETS + ":batch", json={"records": [{"title": "x"}] * 1001}, headers=api.auth)
    assert r.status_code == 413


def test_unknown_routes_under_the_api_are_404_problems(api):
    r = api.client.get("/api/v1/nowhere", headers=api.auth)
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def test_an_empty_if_match_tag_is_412_not_a_server_error(api):
    rid = create(api).json["_id"]
    r = api.client.patch(f"{TICKETS}/{rid}", json={}, headers=bearer(api.key, **{"If-Match": '""'}))
    assert r.status_code == 412
