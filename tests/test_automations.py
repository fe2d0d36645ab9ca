"""Automations: triggers, conditions before/after, actions through the record lifecycle, run log,
replay, dry run, loop limit, schedules, date fields, inbound webhooks, buttons."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from engine.errors import DefinitionError
from engine.records import RecordContext
from examples.webhook_receiver import Receiver
from tests.conftest import REPAIR_APP
from workflows import automations, clock, defaults, deliveries, notifications, queue, scheduler, webhooks
from workflows.transport import AllowList, SafeTransport

ERP_APP = {"key": "erp", "label": {"en": "ERP"}, "forms": [
    {"key": "order", "label": {"en": "Order"}, "fields": [
        {"key": "title", "type": "text", "label": {"en": "Title"}},
        {"key": "source", "type": "text", "label": {"en": "Source"}},
        {"key": "lines", "type": "subform", "label": {"en": "Lines"}, "fields": [
            {"key": "item", "type": "text", "label": {"en": "Item"}},
            {"key": "amount", "type": "decimal", "label": {"en": "Amount"}}]}]},
    {"key": "log", "label": {"en": "Log"}, "fields": [
        {"key": "note", "type": "text", "label": {"en": "Note"}},
        {"key": "due", "type": "date", "label": {"en": "Due"}}]}]}


def install(ff, *autos, extra_fields=()):
    defn = copy.deepcopy(REPAIR_APP)
    defn["forms"][0]["fields"].extend(copy.deepcopy(list(extra_fields)))
    defn["automations"] = copy.deepcopy(list(autos))
    if "erp" not in ff.installed():
        ff.apps.install(copy.deepcopy(ERP_APP))
    ff.apps.install(defn)
    return ff


@pytest.fixture
def wff(ff):
    clock.use(ff, clock.FakeClock(dt.datetime.now(dt.timezone.utc)))
    return ff


def orders(ff):
    _app, form = ff.form("erp", "order")
    from engine.queries import list_records
    with ff.db.read() as conn:
        return list_records(conn, ff, form, limit=500).records


def runs(ff, key=None):
    return automations.list_runs(ff, "repair", key, limit=500)


TO_ERP = {"key": "to_erp", "trigger": {"type": "record.created", "form": "ticket"},
          "condition": "qty > 1",
          "actions": [
              {"type": "create_record", "app": "erp", "form": "order", "values": {
                  "title": 'title & " ×" & TEXT(qty, "0")', "source": '"repair"',
                  "lines": {"from": "parts", "values": {"item": "part", "amount": "price * $parent.qty"}}}},
              {"type": "notify", "owner": True, "title": '"Order for " & title'}]}


def test_notify_reaches_every_member_of_a_role(wff):
    from engine import directory, users
    alice = users.add_user(wff, "alice", None)["id"]
    bob = users.add_user(wff, "bob", None)["id"]
    directory.add_role(wff, "dispatch", "Dispatch")
    directory.grant_role(wff, "dispatch", alice)
    install(wff, {"key": "tell_dispatch", "trigger": {"type": "record.created", "form": "ticket"},
                  "actions": [{"type": "notify", "roles": ["dispatch"], "title": '"New: " & title'}]})
    wff.records.create("repair", "ticket", {"title": "Pump"})
    queue.drain(wff)
    assert [n["title"] for n in notifications.list_for(wff, alice)] == ["New: Pump"]
    assert notifications.list_for(wff, bob) == []


def test_a_created_record_creates_a_record_in_another_app_with_mapped_lines(wff):
    install(wff, TO_ERP)
    rec = wff.records.create("repair", "ticket", {"title": "Pump", "qty": 3, "parts": [
        {"part": "seal", "price": "2.5"}, {"part": "bolt", "price": "1"}]}, ctx=RecordContext(actor="u1"))
    wff.records.create("repair", "ticket", {"title": "Small", "qty": 1}, ctx=RecordContext(actor="u1"))
    queue.drain(wff)
    (order,) = orders(wff)
    assert order["title"] == "Pump ×3" and order["source"] == "repair"
    assert [(line["item"], line["amount"]) for line in order["lines"]] == [("seal", Decimal("7.5")), ("bolt", Decimal("3"))]
    assert [n["title"] for n in notifications.list_for(wff, "u1")] == ["Order for Pump"]
    done = [r for r in runs(wff) if r["status"] == "done"]
    skipped = [r for r in runs(wff) if r["status"] == "skipped"]
    assert len(done) == 1 and len(skipped) == 1
    log = done[0]["log"]
    assert log["trigger"]["record"]["title"] == "Pump" and log["trigger"]["id"] == rec["_id"]
    assert log["conditions"] == [{"name": "condition", "source": "qty > 1", "value": True}]
    assert log["actions"][0]["type"] == "create_record" and log["actions"][0]["created"] == order["_id"]
    assert log["actions"][0]["input"]["title"] == "Pump ×3"
    assert skipped[0]["log"]["conditions"][0]["value"] is False
    assert done[0]["duration_ms"] is not None


CLOSED = {"key": "closed", "trigger": {"type": "record.updated", "form": "ticket", "fields": ["status"]},
          "condition_before": 'status != "closed"', "condition": 'status = "closed"',
          "actions": [{"type": "create_record", "app": "erp", "form": "log", "values": {"note": '"closed " & title'}}]}


def _notes(ff):
    _app, form = ff.form("erp", "log")
    from engine.queries import list_records
    with ff.db.read() as conn:
        return sorted(r["note"] for r in list_records(conn, ff, form, limit=500).records)


def test_updated_with_watched_fields_and_conditions_before_and_after(wff):
    install(wff, CLOSED)
    rec = wff.records.create("repair", "ticket", {"title": "A", "status": "open"})
    wff.records.update("repair", "ticket", rec["_id"], {"title": "A2"})           # status not changed
    wff.records.update("repair", "ticket", rec["_id"], {"status": "closed"})      # open → closed: fires
    wff.records.update("repair", "ticket", rec["_id"], {"status": "open"})        # after is false
    queue.drain(wff)
    assert _notes(wff) == ["closed A2"]
    statuses = sorted(r["status"] for r in runs(wff))
    assert statuses == ["done", "skipped"]


def test_deleted_and_restored_triggers(wff):
    install(wff, {"key": "gone", "trigger": {"type": "record.deleted", "form": "ticket"},
                  "actions": [{"type": "create_record", "app": "erp", "form": "log", "values": {"note": '"deleted " & title'}}]},
            {"key": "back", "trigger": {"type": "record.restored", "form": "ticket"},
             "actions": [{"type": "create_record", "app": "erp", "form": "log", "values": {"note": '"restored " & title'}}]})
    rec = wff.records.create("repair", "ticket", {"title": "T"})
    wff.records.delete("repair", "ticket", rec["_id"])
    wff.records.restore("repair", "ticket", rec["_id"])
    queue.drain(wff)
    assert _notes(wff) == ["deleted T", "restored T"]


def test_for_each_row_of_a_subform(wff):
    install(wff, {"key": "rows", "trigger": {"type": "record.created", "form": "ticket"},
                  "actions": [{"type": "for_each", "subform": "parts", "actions": [
                      {"type": "create_record", "app": "erp", "form": "log",
                       "values": {"note": '$parent.title & ": " & part'}}]}]})
    wff.records.create("repair", "ticket", {"title": "T", "parts": [{"part": "a"}, {"part": "b"}, {"part": "c"}]})
    queue.drain(wff)
    assert _notes(wff) == ["T: a", "T: b", "T: c"]
    (run,) = runs(wff)
    assert len(run["log"]["actions"]) == 3


def test_batch_imports_trigger_automations_per_record(wff):
    install(wff, {"key": "each", "trigger": {"type": "record.created", "form": "ticket"},
                  "actions": [{"type": "create_record", "app": "erp", "form": "log", "values": {"note": "title"}}]})
    wff.records.create_many("repair", "ticket", [{"title": f"t{i}"} for i in range(30)])
    queue.drain(wff)
    assert _notes(wff) == sorted(f"t{i}" for i in range(30))


def test_a_loop_of_automations_stops_at_the_depth_limit(wff):
    install(wff, {"key": "bump", "trigger": {"type": "record.updated", "form": "ticket", "fields": ["qty"]},
                  "actions": [{"type": "update_record", "form": "ticket", "values": {"qty": "qty + 1"}}]})
    rec = wff.records.create("repair", "ticket", {"title": "loop", "qty": 0})
    wff.records.update("repair", "ticket", rec["_id"], {"qty": 1})
    queue.drain(wff)
    final = wff.records.get("repair", "ticket", rec["_id"])
    assert final["qty"] == 1 + defaults.MAX_AUTOMATION_DEPTH
    failed = [r for r in runs(wff) if r["status"] == "failed"]
    assert len(failed) == 1 and "loop" in failed[0]["error"] and failed[0]["depth"] == defaults.MAX_AUTOMATION_DEPTH
    assert len([r for r in runs(wff) if r["status"] == "done"]) == defaults.MAX_AUTOMATION_DEPTH


def test_a_failing_action_rolls_back_the_whole_run_and_is_logged(wff):
    install(wff, {"key": "half", "trigger": {"type": "record.created", "form": "ticket"},
                  "actions": [{"type": "create_record", "app": "erp", "form": "log", "values": {"note": '"first"'}},
                              {"type": "create_record", "form": "machine", "values": {"name": '"dup"'}}]})
    wff.records.create("repair", "machine", {"name": "dup"})
    wff.records.create("repair", "ticket", {"title": "x"})
    queue.drain(wff)
    assert _notes(wff) == []
    (run,) = runs(wff)
    assert run["status"] == "failed" and "already has this value" in run["error"]
    assert run["log"]["actions"][0]["created"] and "error" in run["log"]["actions"][1]


def test_dry_run_against_a_chosen_record_writes_nothing(wff):
    install(wff, TO_ERP)
    rec = wff.records.create("repair", "ticket", {"title": "Dry", "qty": 2}, ctx=RecordContext(actor="u1"))
    result = automations.dry_run(wff, "repair", "to_erp", record_id=rec["_id"], actor="u1")
    assert result["dry_run"] is True and result["status"] == "done"
    assert result["log"]["actions"][0]["input"]["title"] == "Dry ×2"
    queue.drain(wff)     # the real run of the create event
    assert len(orders(wff)) == 1
    assert len(notifications.list_for(wff, "u1")) == 1


def test_replay_runs_again_on_the_same_snapshot(wff):
    install(wff, CLOSED)
    rec = wff.records.create("repair", "ticket", {"title": "R", "status": "open"})
    wff.records.update("repair", "ticket", rec["_id"], {"status": "closed"})
    queue.drain(wff)
    wff.records.update("repair", "ticket", rec["_id"], {"title": "renamed"})
    (run,) = runs(wff, "closed")
    again = automations.replay(wff, run["id"])
    queue.drain(wff)
    replayed = automations.get_run(wff, again["id"])
    assert replayed["status"] == "done" and replayed["replay_of"] == run["id"]
    assert _notes(wff) == ["closed R", "closed R"]     # the snapshot, not today's title


def test_a_button_runs_on_a_record(wff):
    install(wff, {"key": "escalate", "trigger": {"type": "button", "form": "ticket"},
                  "actions": [{"type": "update_record", "form": "ticket", "values": {"status": '"closed"'}}]})
    rec = wff.records.create("repair", "ticket", {"title": "B", "status": "open"})
    run = automations.press_button(wff, "repair", "ticket", rec["_id"], "escalate", actor="u1")
    assert run["status"] == "done"
    assert wff.records.get("repair", "ticket", rec["_id"])["status"] == "closed"


def test_an_inbound_webhook_creates_a_record_from_its_payload(wff):
    install(wff, {"key": "inbound", "trigger": {"type": "webhook"},
                  "actions": [{"type": "create_record", "form": "ticket",
                               "values": {"title": '$payload.subject & " (" & $payload.from & ")"',
                                          "qty": "$payload.count * 2"}}]})
    token = automations.create_hook_token(wff, "repair", "inbound")
    run_id = automations.receive_webhook(wff, token, {"subject": "Broken", "from": "erp", "count": 2})
    queue.drain(wff)
    assert automations.get_run(wff, run_id)["status"] == "done"
    _app, form = wff.form("repair", "ticket")
    from engine.queries import list_records
    with wff.db.read() as conn:
        (ticket,) = list_records(conn, wff, form).records
    assert ticket["title"] == "Broken (erp)" and ticket["qty"] == 4
    with pytest.raises(Exception):
        automations.receive_webhook(wff, "hk_wrong", {})


def test_a_cron_schedule_fires_in_its_time_zone(wff):
    install(wff, {"key": "daily", "trigger": {"type": "schedule", "cron": "0 9 * * *", "timezone": "Asia/Shanghai"},
                  "actions": [{"type": "create_record", "app": "erp", "form": "log", "values": {"note": '"tick"'}}]})
    fake = clock.get(wff)
    fake.set(dt.datetime(2026, 3, 1, 0, 30, tzinfo=dt.timezone.utc))       # 08:30 in Shanghai
    assert scheduler.tick(wff) == 0                                          # starts the clock
    fake.advance(minutes=29)
    assert scheduler.tick(wff) == 0                                          # 08:59
    fake.advance(minutes=2)
    assert scheduler.tick(wff) == 1                                          # 09:01 → fired once
    assert scheduler.tick(wff) == 0
    fake.advance(days=2)
    assert scheduler.tick(wff) == 2                                          # missed days are caught up
    queue.drain(wff)
    assert _notes(wff) == ["tick", "tick", "tick"]
    assert runs(wff)[0]["log"]["trigger"]["payload"]["scheduled_at"].endswith("01:00:00.000000Z")


def test_a_date_field_reached_fires_days_before(wff):
    install(wff, {"key": "remind", "trigger": {"type": "date", "form": "ticket", "field": "due",
                                               "offset": -2, "unit": "days", "timezone": "UTC"},
                  "actions": [{"type": "create_record", "app": "erp", "form": "log",
                               "values": {"note": '"due soon: " & title'}}]},
            extra_fields=[{"key": "due", "type": "date", "label": {"en": "Due"}}])
    fake = clock.get(wff)
    fake.set(dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc))
    scheduler.tick(wff)
    wff.records.create("repair", "ticket", {"title": "soon", "due": "2026-05-04"})
    wff.records.create("repair", "ticket", {"title": "later", "due": "2026-06-30"})
    fake.set(dt.datetime(2026, 5, 2, 1, tzinfo=dt.timezone.utc))          # 05-04 minus 2 days has passed
    assert scheduler.tick(wff) == 1
    assert scheduler.tick(wff) == 0
    queue.drain(wff)
    assert _notes(wff) == ["due soon: soon"]


def test_a_date_trigger_reads_only_the_records_near_its_window(wff, monkeypatch):
    install(wff, {"key": "remind", "trigger": {"type": "date", "form": "ticket", "field": "due",
                                               "offset": -2, "unit": "days", "timezone": "Asia/Shanghai"},
                  "actions": [{"type": "create_record", "app": "erp", "form": "log",
                               "values": {"note": '"due soon: " & title'}}]},
            extra_fields=[{"key": "due", "type": "datetime", "label": {"en": "Due"}, "indexed": True}])
    fake = clock.get(wff)
    fake.set(dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc))
    scheduler.tick(wff)
    wff.records.create("repair", "ticket", {"title": "soon", "due": "2026-05-04T08:00:00"})
    wff.records.create_many("repair", "ticket", [{"title": f"far {i}", "due": f"2027-01-{i + 1:02d}T08:00:00"}
                                                 for i in range(20)] + [{"title": "no date"}])
    read = []
    real = scheduler.from_document
    monkeypatch.setattr(scheduler, "from_document", lambda form, doc: read.append(1) or real(form, doc))
    fake.set(dt.datetime(2026, 5, 2, 1, tzinfo=dt.timezone.utc))          # 05-04 08:00 +08 minus 2 days passed
    assert scheduler.tick(wff) == 1
    assert len(read) == 1                                                   # not the 21 others
    queue.drain(wff)
    assert _notes(wff) == ["due soon: soon"]


def test_a_webhook_action_is_delivered_signed_after_the_run_commits(wff):
    rcv = Receiver().start()
    try:
        wff.workflows_transport = SafeTransport(allow=AllowList(["127.0.0.1/32"]))
        install(wff, {"key": "call", "trigger": {"type": "record.created", "form": "ticket"},
                      "actions": [{"type": "webhook", "url": rcv.url, "values": {"title": "title", "qty": "qty * 10"}}]})
        wff.records.create("repair", "ticket", {"title": "W", "qty": 2})
        queue.drain(wff)
        (payload,) = rcv.seen.values()
        assert payload["type"] == "automation.call" and payload["data"]["values"] == {"title": "W", "qty": "20"}
        (run,) = runs(wff)
        hook = webhooks.get(wff, run["log"]["actions"][0]["webhook"], with_secret=True)
        assert deliveries.get(wff, run["log"]["actions"][0]["delivery"])["status"] == "delivered"
        assert hook["secret"].startswith("whsec_")
    finally:
        rcv.stop()


@pytest.mark.parametrize("auto,location", [
    ({"key": "a", "trigger": {"type": "record.created", "form": "tikcet"}, "actions": [
        {"type": "notify", "owner": True, "title": '"x"'}]}, "automations[0].trigger.form"),
    ({"key": "a", "trigger": {"type": "record.updated", "form": "ticket", "fields": ["nope"]}, "actions": [
        {"type": "notify", "owner": True, "title": '"x"'}]}, "automations[0].trigger.fields[0]"),
    ({"key": "a", "trigger": {"type": "record.created", "form": "ticket"}, "condition": "qtty > 1", "actions": [
        {"type": "notify", "owner": True, "title": '"x"'}]}, "automations[0].condition"),
    ({"key": "a", "trigger": {"type": "schedule", "cron": "every day"}, "actions": [
        {"type": "notify", "users": ["u"], "title": '"x"'}]}, "automations[0].trigger.cron"),
    ({"key": "a", "trigger": {"type": "record.created", "form": "ticket"}, "actions": [
        {"type": "create_record", "form": "machine", "values": {"nmae": "title"}}]},
     "automations[0].actions[0].values.nmae"),
    ({"key": "a", "trigger": {"type": "record.created", "form": "ticket"}, "actions": [
        {"type": "explode"}]}, "automations[0].actions[0].type"),
    ({"key": "a", "trigger": {"type": "record.created", "form": "ticket"}, "actions": [
        {"type": "create_record", "app": "nowhere", "form": "x", "values": {}}]}, "automations[0].actions[0].form"),
])
def test_automation_definitions_are_checked(ff, auto, location):
    with pytest.raises(DefinitionError) as info:
        install(ff, auto)
    assert location in [e["location"] for e in info.value.errors], info.value.errors
