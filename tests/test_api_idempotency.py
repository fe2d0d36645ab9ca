"""Idempotency-Key (replays, reuse, concurrency) and optimistic locking with ETags, on a live server."""
from __future__ import annotations

import threading

import sqlalchemy as sa

import httpx

from tests.test_api_fixtures import TICKETS, api, bearer, live  # noqa: F401


def count(api):
    return len(api.client.get(TICKETS, headers=api.auth).json["records"])


def test_a_retried_post_replays_the_first_response(api):
    h = bearer(api.key, **{"Idempotency-Key": "k1"})
    first = api.client.post(TICKETS, json={"title": "once"}, headers=h)
    again = api.client.post(TICKETS, json={"title": "once"}, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(api) == 1


def test_errors_are_replayed_too(api):
    h = bearer(api.key, **{"Idempotency-Key": "k2"})
    assert api.client.post(TICKETS, json={"qty": 1}, headers=h).status_code == 422
    assert api.client.post(TICKETS, json={"qty": 1}, headers=h).status_code == 422


def test_the_same_key_with_another_body_is_422(api):
    h = bearer(api.key, **{"Idempotency-Key": "k3"})
    api.client.post(TICKETS, json={"title": "a"}, headers=h)
    r = api.client.post(TICKETS, json={"title": "b"}, headers=h)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert count(api) == 1


def test_keys_belong_to_their_caller(api):
    from engine import api_keys
    other = api_keys.create_key(api.ff, api.admin["id"], write=True)["key"]
    api.client.post(TICKETS, json={"title": "a"}, headers=bearer(api.key, **{"Idempotency-Key": "shared"}))
    api.client.post(TICKETS, json={"title": "a"}, headers=bearer(other, **{"Idempotency-Key": "shared"}))
    assert count(api) == 2


def test_a_duplicate_while_the_first_is_in_flight_is_409(api):
    from engine import idempotency
    # the first request claimed the key and is still running
    name, digest = idempotency.fingerprint("POST", TICKETS, b"", b'{"title":"x"}')
    import sqlalchemy as sa
    from engine import tables
    with api.ff.db.read() as conn:
        key_id = conn.execute(sa.select(tables.api_keys.c.id)).scalar()
    caller = f"key:{key_id}"
    assert idempotency.begin(api.ff, caller, "busy", name, digest) is None
    r = api.client.post(TICKETS, data=b'{"title":"x"}', content_type="application/json",
                        headers=bearer(api.key, **{"Idempotency-Key": "busy"}))
    assert r.status_code == 409


def test_ten_parallel_posts_with_one_key_create_exactly_one_record(api, live):
    results = []
    barrier = threading.Barrier(10)

    def post():
        with httpx.Client(base_url=live, timeout=60) as client:
            barrier.wait()
            r = client.post(TICKETS, json={"title": "parallel"},
                            headers=bearer(api.key, **{"Idempotency-Key": "par-1"}))
            results.append((r.status_code, r.json().get("_id")))
    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 10
    assert {s for s, _ in results} <= {201, 409}
    assert len({rid for s, rid in results if s == 201}) == 1
    assert count(api) == 1


def test_two_clients_with_the_same_etag_one_wins_one_gets_412_no_lost_update(api, live):
    r = api.client.post(TICKETS, json={"title": "shared", "qty": 0}, headers=api.auth)
    rid, tag = r.json["_id"], r.headers["ETag"]
    results = {}
    barrier = threading.Barrier(2)

    def edit(qty):
        with httpx.Client(base_url=live, timeout=60) as client:
            barrier.wait()
            resp = client.patch(f"{TICKETS}/{rid}", json={"qty": qty}, headers=bearer(api.key, **{"If-Match": tag}))
            results[qty] = resp.status_code
    threads = [threading.Thread(target=edit, args=(q,)) for q in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 412]
    winner = next(q for q, s in results.items() if s == 200)
    final = api.client.get(f"{TICKETS}/{rid}", headers=api.auth).json
    assert str(final["qty"]) == str(winner) and final["_version"] == 2


def test_multipart_parts_without_a_name_do_not_break_the_idempotency_fingerprint(api):
    """Nameless multipart parts have the key None: fingerprinting them for an Idempotency-Key
    (engine.api._multipart_material) used to sort None against str and answer 500."""
    b = "XXboundary"
    body = (f'--{b}\r\nContent-Disposition: form-data\r\n\r\nx\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="mode"\r\n\r\ngood_rows\r\n'
            f'--{b}\r\nContent-Disposition: form-data; filename="a.csv"\r\n\r\ntitle\r\n'
            f'--{b}\r\nContent-Disposition: form-data; filename="b.csv"\r\n\r\ntitle\r\n--{b}--\r\n').encode()
    h = bearer(api.key, **{"Idempotency-Key": "nameless-parts"})
    first = api.client.post("/api/v1/apps/repair/forms/ticket/import", data=body,
                            content_type=f"multipart/form-data; boundary={b}", headers=h)
    assert first.status_code == 400 and first.mimetype == "application/problem+json"  # no part named "file"
    again = api.client.post("/api/v1/apps/repair/forms/ticket/import", data=body.replace(b.encode(), b"YY"),
                            content_type="multipart/form-data; boundary=YY", headers=h)
    assert again.status_code == 400 and again.headers["Idempotent-Replayed"] == "true"


def test_housekeeping_purges_keys_past_the_replay_window(api):
    import datetime as dt

    from engine import idempotency, tables
    from workflows import scheduler
    old = idempotency._iso(dt.datetime.now(dt.timezone.utc) - idempotency.TTL - dt.timedelta(minutes=1))
    assert api.client.post(TICKETS, json={"title": "a"}, headers={**api.auth, "Idempotency-Key": "k-old"}).status_code == 201
    assert api.client.post(TICKETS, json={"title": "b"}, headers={**api.auth, "Idempotency-Key": "k-new"}).status_code == 201
    with api.ff.db.write() as conn:
        conn.execute(tables.idempotency_keys.update().where(tables.idempotency_keys.c.key == "k-old")
                     .values(created_at=old))
    scheduler.housekeeping(api.ff, force=True)
    with api.ff.db.read() as conn:
        keys = conn.execute(sa.select(tables.idempotency_keys.c.key)).scalars().all()
    assert keys == ["k-new"]
