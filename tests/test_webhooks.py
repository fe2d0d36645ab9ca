"""Outbound webhooks: signed deliveries from the outbox, retries on a fake clock, log, replay."""
from __future__ import annotations

import datetime as dt

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from engine.errors import FormflowError
from engine.records import RecordContext
from examples.webhook_receiver import Receiver
from workflows import automations, clock, defaults, deliveries, notifications, queue, webhooks
from workflows import tables as wt
from workflows.transport import AllowList, SafeTransport

LOOPBACK = AllowList(["127.0.0.1/32"])


@pytest.fixture
def wf(repair):
    """The repair app, a fake clock starting now, and an outbound guard allowing 127.0.0.1 only."""
    clock.use(repair, clock.FakeClock(dt.datetime.now(dt.timezone.utc)))
    repair.workflows_transport = SafeTransport(allow=LOOPBACK)
    return repair


@pytest.fixture
def receiver():
    made = []

    def make(secret=None, respond=None):
        r = Receiver(secret, respond=respond).start()
        made.append(r)
        return r
    yield make
    for r in made:
        r.stop()


def member(ff, name: str) -> str:
    """A signed-up, non-admin user; webhooks deliver only what their owner may read."""
    from engine import users
    return users.add_user(ff, name, None)["id"]


def subscribe(ff, url, **kw):
    return webhooks.create(ff, url=url, **kw)


def test_a_committed_change_is_delivered_signed(wf, receiver):
    rcv = receiver()
    hook = subscribe(wf, rcv.url, app="repair", form="ticket")
    rcv.secret = hook["secret"]
    rec = wf.records.create("repair", "ticket", {"title": "Pump leaks", "qty": 2}, ctx=RecordContext(actor="u1"))
    queue.drain(wf)
    assert len(rcv.requests) == 1 and rcv.requests[0][1] is True
    msg_id, payload = next(iter(rcv.seen.items()))
    assert payload["type"] == "record.created"
    data = payload["data"]
    assert data["app"] == "repair" and data["form"] == "ticket" and data["id"] == rec["_id"]
    assert data["record"]["title"] == "Pump leaks" and data["record"]["qty"] == "2"
    assert data["changes"]["title"] == [None, "Pump leaks"]
    log = deliveries.list_for(wf, hook["id"])
    assert log[0]["id"] == msg_id and log[0]["status"] == "delivered"
    one = deliveries.get(wf, msg_id)
    assert one["attempt_log"][0]["status_code"] == 204
    # the reference implementation verifies what we sent (body bytes as stored)
    ts = int(clock.get(wf).now().timestamp())
    from workflows import signing
    headers = signing.headers([hook["secret"]], msg_id, ts, one["body"].encode())
    assert Webhook(hook["secret"]).verify(one["body"].encode(), headers)["data"]["id"] == rec["_id"]


def test_a_rolled_back_change_sends_nothing(wf, receiver):
    rcv = receiver()
    subscribe(wf, rcv.url)
    with pytest.raises(RuntimeError):
        with wf.db.write() as conn:
            wf.records.create("repair", "ticket", {"title": "never"}, conn=conn)
            raise RuntimeError("abort")
    assert queue.drain(wf) == 0
    with wf.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(wt.deliveries)).scalar() == 0
    assert rcv.requests == []


def test_filters_by_app_form_and_event_type(wf, receiver):
    rcv = receiver()
    subscribe(wf, rcv.url, app="repair", form="machine", event_types=["record.deleted"])
    t = wf.records.create("repair", "ticket", {"title": "x"})
    m = wf.records.create("repair", "machine", {"name": "M1"})
    wf.records.delete("repair", "ticket", t["_id"])
    wf.records.delete("repair", "machine", m["_id"])
    queue.drain(wf)
    assert [p["type"] for p in rcv.seen.values()] == ["record.deleted"]
    assert next(iter(rcv.seen.values()))["data"]["form"] == "machine"


def test_batch_imports_send_one_webhook_per_record(wf, receiver):
    rcv = receiver()
    subscribe(wf, rcv.url, app="repair", form="ticket")
    wf.records.create_many("repair", "ticket", [{"title": f"t{i}"} for i in range(25)])
    queue.drain(wf)
    assert sorted(p["data"]["record"]["title"] for p in rcv.seen.values()) == sorted(f"t{i}" for i in range(25))


def test_urls_are_checked_on_save(repair):
    for url in ("http://127.0.0.1:9/", "http://169.254.169.254/", "ftp://example.com/", "not a url"):
        with pytest.raises(FormflowError, match="url"):
            webhooks.create(repair, url=url)
    with pytest.raises(FormflowError, match="event_types"):
        webhooks.create(repair, url="http://93.184.216.34/", event_types=["record.exploded"])


def test_the_retry_schedule_on_a_fake_clock(wf, receiver, monkeypatch):
    monkeypatch.setattr(defaults, "WEBHOOK_RETRY_JITTER", 0)
    rcv = receiver(respond=lambda *a: 500)
    hook = subscribe(wf, rcv.url)
    wf.records.create("repair", "ticket", {"title": "x"})
    fake = clock.get(wf)
    queue.drain(wf)
    (delivery,) = deliveries.list_for(wf, hook["id"])
    gaps = []
    for expected in defaults.WEBHOOK_RETRY_SCHEDULE:
        before = fake.now()
        row = deliveries.get(wf, delivery["id"])
        assert row["status"] == "pending"
        due = clock.parse(row["next_attempt_at"])
        gaps.append((due - before).total_seconds())
        fake.advance(expected - 1)
        assert queue.drain(wf) == 0                     # not due yet
        fake.set(due)
        queue.drain(wf)
    assert gaps == list(defaults.WEBHOOK_RETRY_SCHEDULE)
    final = deliveries.get(wf, delivery["id"])
    assert final["status"] == "failed" and len(final["attempt_log"]) == 8
    assert {m for m, _ in rcv.requests} == {delivery["id"]}      # one webhook-id throughout
    assert len(rcv.requests) == 8


def test_jitter_stays_within_bounds():
    for attempt, base in enumerate(defaults.WEBHOOK_RETRY_SCHEDULE, start=1):
        for r in (0.0, 0.5, 0.999):
            delay = deliveries.retry_delay(attempt, rand=lambda: r)
            assert base * 0.9 <= delay <= base * 1.1
    assert deliveries.retry_delay(len(defaults.WEBHOOK_RETRY_SCHEDULE) + 1) is None


def test_retry_after_is_honoured(wf, receiver, monkeypatch):
    monkeypatch.setattr(defaults, "WEBHOOK_RETRY_JITTER", 0)
    hook = subscribe(wf, "http://93.184.216.34/hook")
    wf.workflows_transport = SafeTransport(
        allow=AllowList(), resolver=lambda h, p: ["93.184.216.34"],
        inner=httpx.MockTransport(lambda r: httpx.Response(503, headers={"retry-after": "120"})))
    wf.records.create("repair", "ticket", {"title": "x"})
    start = clock.get(wf).now()
    queue.drain(wf)
    (d,) = deliveries.list_for(wf, hook["id"])
    assert (clock.parse(d["next_attempt_at"]) - start).total_seconds() == 120
    assert d["last_status"] == 503


def test_redirects_are_failures(wf):
    hook = subscribe(wf, "http://93.184.216.34/hook")
    wf.workflows_transport = SafeTransport(
        allow=AllowList(), resolver=lambda h, p: ["93.184.216.34"],
        inner=httpx.MockTransport(lambda r: httpx.Response(301, headers={"location": "http://127.0.0.1/"})))
    wf.records.create("repair", "ticket", {"title": "x"})
    queue.drain(wf)
    (d,) = deliveries.list_for(wf, hook["id"])
    assert d["status"] == "pending" and "redirect" in d["last_error"]


def test_410_disables_the_endpoint_and_tells_its_owner(wf, receiver):
    rcv = receiver(respond=lambda *a: 410)
    owner = member(wf, "u-owner")
    hook = subscribe(wf, rcv.url, owner=owner)
    wf.records.create("repair", "ticket", {"title": "a"})
    queue.drain(wf)
    assert webhooks.get(wf, hook["id"])["enabled"] is False
    (d,) = deliveries.list_for(wf, hook["id"])
    assert d["status"] == "failed"
    (note,) = notifications.list_for(wf, owner)
    assert "disabled" in note["title"] and note["read_at"] is None
    wf.records.create("repair", "ticket", {"title": "b"})
    queue.drain(wf)
    assert len(rcv.requests) == 1            # a disabled endpoint gets nothing more


def test_an_endpoint_failing_for_five_days_is_disabled(wf, receiver):
    rcv = receiver(respond=lambda *a: 500)
    owner = member(wf, "u-owner")
    hook = subscribe(wf, rcv.url, owner=owner)
    fake = clock.get(wf)
    for _ in range(12):
        wf.records.create("repair", "ticket", {"title": "x"})
        queue.drain(wf)
        fake.advance(hours=12)
        queue.drain(wf)
    state = webhooks.get(wf, hook["id"])
    assert state["enabled"] is False and "failing since" in state["disabled_reason"]
    assert notifications.list_for(wf, owner)
    pending = [d for d in deliveries.list_for(wf, hook["id"], limit=100) if d["status"] == "pending"]
    assert pending == []


def test_resend_and_replay_keep_the_webhook_id(wf, receiver):
    answers = {"status": 500}
    rcv = receiver(respond=lambda *a: answers["status"])
    hook = subscribe(wf, rcv.url)
    since = clock.now_iso(wf)
    wf.records.create_many("repair", "ticket", [{"title": "a"}, {"title": "b"}])
    fake = clock.get(wf)
    queue.drain(wf)
    for _ in defaults.WEBHOOK_RETRY_SCHEDULE:      # exhaust every retry
        fake.advance(hours=11)
        queue.drain(wf)
    failed = deliveries.list_for(wf, hook["id"], status="failed")
    assert len(failed) == 2
    answers["status"] = None
    deliveries.resend(wf, failed[0]["id"])
    queue.drain(wf)
    assert rcv.requests[-1][0] == failed[0]["id"]
    assert deliveries.get(wf, failed[0]["id"])["status"] == "delivered"
    assert deliveries.replay_failed(wf, hook["id"], since) == 1
    queue.drain(wf)
    assert rcv.requests[-1][0] == failed[1]["id"]
    assert {d["status"] for d in deliveries.list_for(wf, hook["id"])} == {"delivered"}


def test_secret_rotation_signs_with_both_secrets(wf, receiver):
    rcv = receiver()
    hook = subscribe(wf, rcv.url)
    old = hook["secret"]
    new = webhooks.rotate_secret(wf, hook["id"])["secret"]
    rcv.secret = old                      # a receiver not yet updated still verifies
    wf.records.create("repair", "ticket", {"title": "x"})
    queue.drain(wf)
    assert rcv.requests[-1][1] is True
    rcv.secret = new
    wf.records.create("repair", "ticket", {"title": "y"})
    queue.drain(wf)
    assert rcv.requests[-1][1] is True and len(rcv.seen) == 2


def test_sensitive_fields_are_masked_for_a_non_admin_owner(make_ff, sqlite_url, receiver):
    ff = make_ff(sqlite_url)
    ff.workflows_transport = SafeTransport(allow=LOOPBACK)
    ff.apps.install({"key": "crm", "label": {"en": "CRM"}, "forms": [{"key": "lead", "label": {"en": "Lead"}, "fields": [
        {"key": "name", "type": "text", "label": {"en": "Name"}, "sensitive": True},
        {"key": "city", "type": "text", "label": {"en": "City"}}]}]})
    rcv = receiver()
    webhooks.create(ff, url=rcv.url, owner=member(ff, "not-an-admin"))
    ff.records.create("crm", "lead", {"name": "张三丰", "city": "Hangzhou"})
    queue.drain(ff)
    (payload,) = rcv.seen.values()
    assert payload["data"]["record"]["name"] == "张*丰" and payload["data"]["record"]["city"] == "Hangzhou"
    assert payload["data"]["changes"]["name"] == [None, "张*丰"]


def test_a_record_the_owner_may_not_read_is_not_sent(make_ff, sqlite_url, receiver):
    ff = make_ff(sqlite_url)
    ff.workflows_transport = SafeTransport(allow=LOOPBACK)
    ff.apps.install({"key": "crm", "label": {"en": "CRM"},
                     "permissions": [{"key": "own", "form": "lead", "who": {"everyone": True},
                                      "actions": ["read"], "rows": "_owner = $user.id",
                                      "fields": {"name": "editable"}}],
                     "forms": [{"key": "lead", "label": {"en": "Lead"}, "fields": [
                         {"key": "name", "type": "text", "label": {"en": "Name"}},
                         {"key": "secret", "type": "text", "label": {"en": "Secret"}}]}]})
    rcv = receiver()
    webhooks.create(ff, url=rcv.url, owner=member(ff, "bob"))
    ff.records.create("crm", "lead", {"name": "not bob's", "secret": "x"})
    queue.drain(ff)
    assert rcv.seen == {}


def test_a_thousand_events_with_ten_percent_errors_all_arrive(wf, receiver):
    failed_once: set = set()

    def flaky(msg_id, payload, number):
        # every tenth message fails on its first attempt
        if payload and int(payload["data"]["record"]["title"]) % 10 == 0 and msg_id not in failed_once:
            failed_once.add(msg_id)
            return 500
        return None
    rcv = receiver(respond=flaky)
    hook = subscribe(wf, rcv.url, app="repair", form="ticket")
    rcv.secret = hook["secret"]
    for start in range(0, 1000, 250):
        wf.records.create_many("repair", "ticket", [{"title": str(i)} for i in range(start, start + 250)])
    queue.drain(wf)
    assert len(failed_once) == 100
    clock.get(wf).advance(10)
    queue.drain(wf)
    titles = {p["data"]["record"]["title"] for p in rcv.seen.values()}
    assert titles == {str(i) for i in range(1000)}
    assert all(verified for _, verified in rcv.requests)
    assert {d["status"] for d in deliveries.list_for(wf, hook["id"], limit=1000)} == {"delivered"}


# -- the HTTP API (workflows/api.py) ---------------------------------------------------------

@pytest.fixture
def client(repair):
    """A test client with the workflows blueprint, an admin key and a plain user's key."""
    from engine import api_keys, users
    from engine.web import create_app
    from workflows.api import workflows as bp
    clock.use(repair, clock.FakeClock(dt.datetime.now(dt.timezone.utc)))
    repair.workflows_transport = SafeTransport(allow=LOOPBACK)
    app = create_app(repair, TESTING=True)
    if "workflows" not in app.blueprints:
        app.register_blueprint(bp, url_prefix="/api/v1")
    admin = users.add_user(repair, "boss", "correct horse battery", admin=True)
    bob = users.add_user(repair, "bob", "correct horse battery")
    c = app.test_client()
    c.ff = repair
    c.admin = {"Authorization": "Bearer " + api_keys.create_key(repair, admin["id"], write=True)["key"]}
    c.bob = {"Authorization": "Bearer " + api_keys.create_key(repair, bob["id"], write=True)["key"]}
    c.bob_id = bob["id"]
    return c


def test_api_webhook_crud_deliveries_and_resend(client, receiver):
    rcv = receiver()
    assert client.get("/api/v1/webhooks").status_code == 401
    # subscribing to an app's events is the app-level "manage automations and webhooks" right
    r = client.post("/api/v1/webhooks", json={"url": rcv.url, "app": "repair"}, headers=client.bob)
    assert r.status_code == 403
    import sqlalchemy as sa
    from engine import tables
    with client.ff.db.write() as conn:
        conn.execute(tables.users.update().where(tables.users.c.id == client.bob_id).values(is_admin=True))
    r = client.post("/api/v1/webhooks", json={"url": "http://10.0.0.1/x", "app": "repair"}, headers=client.bob)
    assert r.status_code == 400 and "url" in r.json["detail"]
    r = client.post("/api/v1/webhooks", json={"url": rcv.url, "app": "repair", "form": "ticket"}, headers=client.bob)
    assert r.status_code == 201 and r.json["secret"].startswith("whsec_") and r.json["owner"] == client.bob_id
    hook_id = r.json["id"]
    assert [h["id"] for h in client.get("/api/v1/webhooks", headers=client.bob).json["webhooks"]] == [hook_id]
    client.ff.records.create("repair", "ticket", {"title": "api"})
    queue.drain(client.ff)
    log = client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=client.bob).json["deliveries"]
    assert len(log) == 1 and log[0]["status"] == "delivered"
    one = client.get(f"/api/v1/deliveries/{log[0]['id']}", headers=client.bob).json
    assert one["attempt_log"][0]["status_code"] == 204
    assert client.post(f"/api/v1/deliveries/{log[0]['id']}:resend", headers=client.bob).status_code == 202
    queue.drain(client.ff)
    assert [m for m, _ in rcv.requests] == [log[0]["id"], log[0]["id"]]
    r = client.post(f"/api/v1/webhooks/{hook_id}:replay", json={"since": "2000-01-01T00:00:00.000000Z"},
                    headers=client.bob)
    assert r.status_code == 202 and r.json == {"resent": 0}
    r = client.patch(f"/api/v1/webhooks/{hook_id}", json={"enabled": False}, headers=client.bob)
    assert r.json["enabled"] is False
    rotated = client.post(f"/api/v1/webhooks/{hook_id}:rotate-secret", headers=client.bob).json
    assert rotated["secret"] != one.get("secret")
    assert client.delete(f"/api/v1/webhooks/{hook_id}", headers=client.bob).status_code == 204
    assert client.get(f"/api/v1/webhooks/{hook_id}", headers=client.bob).status_code == 404


def test_api_automations_hooks_buttons_runs_and_notifications(client):
    ff = client.ff
    import copy as _copy
    from tests.conftest import REPAIR_APP
    defn = _copy.deepcopy(REPAIR_APP)
    defn["automations"] = [
        {"key": "inbound", "trigger": {"type": "webhook"},
         "actions": [{"type": "create_record", "form": "ticket", "values": {"title": "$payload.subject"}}]},
        {"key": "close", "trigger": {"type": "button", "form": "ticket"},
         "actions": [{"type": "update_record", "form": "ticket", "values": {"status": '"closed"'}},
                     {"type": "notify", "users": [client.bob_id], "title": '"closed " & title'}]}]
    ff.apps.install(defn)
    r = client.post("/api/v1/apps/repair/automations/inbound:hook-token", headers=client.bob)
    assert r.status_code == 403
    token = client.post("/api/v1/apps/repair/automations/inbound:hook-token", headers=client.admin).json["token"]
    assert client.post(f"/api/v1/hooks/{token}", data="x", content_type="text/plain").status_code == 415
    assert client.post(f"/api/v1/hooks/{token}", data="{bad", content_type="application/json").status_code == 400
    assert client.post("/api/v1/hooks/hk_nope", json={}).status_code == 404
    big = {"subject": "x" * (defaults.INBOUND_MAX_BYTES + 10)}
    assert client.post(f"/api/v1/hooks/{token}", json=big).status_code == 413
    r = client.post(f"/api/v1/hooks/{token}", json={"subject": "from outside"})
    assert r.status_code == 202
    queue.drain(ff)
    run = client.get(f"/api/v1/automation-runs/{r.json['run']}", headers=client.admin).json
    assert run["status"] == "done" and run["log"]["trigger"]["payload"] == {"subject": "from outside"}
    rid = run["log"]["actions"][0]["created"]
    r = client.post(f"/api/v1/apps/repair/automations/close:dry-run", json={"record": rid}, headers=client.admin)
    assert r.status_code == 200 and r.json["dry_run"] is True
    assert ff.records.get("repair", "ticket", rid)["status"] is None
    r = client.post(f"/api/v1/apps/repair/forms/ticket/records/{rid}:run/close", headers=client.bob)
    assert r.status_code == 200 and r.json["status"] == "done"
    assert ff.records.get("repair", "ticket", rid)["status"] == "closed"
    runs = client.get("/api/v1/apps/repair/automations/runs?automation=close", headers=client.admin).json["runs"]
    assert {x["dry_run"] for x in runs} == {True, False}
    again = client.post(f"/api/v1/automation-runs/{r.json['id']}:replay", headers=client.admin)
    assert again.status_code == 202 and again.json["replay_of"] == r.json["id"]
    notes = client.get("/api/v1/notifications?unread=1", headers=client.bob).json["notifications"]
    assert [n["title"] for n in notes] == ["closed from outside"]
    assert client.post("/api/v1/notifications:mark-read", json={"ids": [notes[0]["id"]]},
                       headers=client.bob).json == {"marked": 1}
    assert client.get("/api/v1/notifications?unread=1", headers=client.bob).json["notifications"] == []


def _limited_hook(client, monkeypatch, per_minute: int = 3) -> str:
    """The token of an inbound-hook automation, with the rate limit lowered to `per_minute`."""
    import copy as _copy
    from tests.conftest import REPAIR_APP
    defn = _copy.deepcopy(REPAIR_APP)
    defn["automations"] = [{"key": "inbound", "trigger": {"type": "webhook"},
                            "actions": [{"type": "notify", "users": ["u"], "title": '"hi"'}]}]
    client.ff.apps.install(defn)
    monkeypatch.setattr(defaults, "INBOUND_RATE_PER_MINUTE", per_minute)
    return automations.create_hook_token(client.ff, "repair", "inbound")


def test_inbound_hooks_are_rate_limited(client, monkeypatch):
    token = _limited_hook(client, monkeypatch)
    codes = [client.post(f"/api/v1/hooks/{token}", json={}).status_code for _ in range(5)]
    assert codes == [202, 202, 202, 429, 429]


def test_the_inbound_limit_is_shared_by_every_process(client, monkeypatch, make_ff):
    """Two web apps on two formflow instances over one database stand for two gunicorn processes."""
    from engine.web import create_app
    token = _limited_hook(client, monkeypatch)
    other = create_app(make_ff(str(client.ff.db.engine.url.render_as_string(hide_password=False))),
                       TESTING=True).test_client()
    codes = [(client if i % 2 else other).post(f"/api/v1/hooks/{token}", json={}).status_code for i in range(6)]
    assert codes == [202, 202, 202, 429, 429, 429]


def test_the_static_document_has_the_statuses_these_routes_answer(client):
    """workflows.api.document_paths: 201/202 where the views answer them, 413/415 where a body is
    read, 429 on the rate-limited inbound hook (they were documented as 200 only)."""
    paths = client.get("/api/v1/openapi.json").json["paths"]
    codes = lambda path, method="post": set(paths[path][method]["responses"])  # noqa: E731
    assert {"202", "400", "404", "413", "415", "429"} <= codes("/hooks/{token}") and "200" not in codes("/hooks/{token}")
    assert {"201", "413", "415"} <= codes("/webhooks") and "200" not in codes("/webhooks")
    assert "201" in codes("/apps/{app_key}/automations/{key}:hook-token")
    for path in ("/deliveries/{delivery_id}:resend", "/webhooks/{hook_id}:replay", "/automation-runs/{run_id}:replay"):
        assert "202" in codes(path) and "200" not in codes(path), path
    assert {"200", "413", "415"} <= codes("/webhooks/{hook_id}", "patch")
    assert {"200", "415"} <= codes("/apps/{app_key}/automations/{key}:dry-run")
    # and the server does answer them
    assert client.post("/api/v1/webhooks", headers=client.admin).status_code == 415
    assert client.post("/api/v1/hooks/hk_nope", data="x", content_type="text/plain").status_code == 415
