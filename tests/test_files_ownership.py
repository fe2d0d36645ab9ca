"""Uploaded files are bound to their uploader: a record may newly reference a file only when the
writer uploaded it, can already read it in another record, or writes for the system (automation
runs, reverts to the record's own history). SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import datetime as dt
import io
from types import SimpleNamespace

import pytest

from engine import api_keys, directory, users
from engine.errors import RecordValidationError
from engine.records import RecordContext

PASSWORD = "correct horse battery"
CLAIMS = "/api/v1/apps/docs/forms/claim/records"
ARCHIVE = "/api/v1/apps/docs/forms/archive/records"

DOCS = {
    "key": "docs", "label": {"en": "Docs"},
    "roles": [{"key": "staff", "label": {"en": "Staff"}}, {"key": "auditor", "label": {"en": "Auditor"}}],
    "forms": [
        {"key": "claim", "label": {"en": "Claim"}, "fields": [
            {"key": "title", "type": "text", "label": {"en": "Title"}},
            {"key": "receipt", "type": "attachment", "label": {"en": "Receipt"}},
            {"key": "secret", "type": "attachment", "label": {"en": "Secret"}}]},
        {"key": "archive", "label": {"en": "Archive"}, "fields": [
            {"key": "note", "type": "text", "label": {"en": "Note"}},
            {"key": "doc", "type": "attachment", "label": {"en": "Document"}}]}],
    "permissions": [
        {"key": "staff_claims", "form": "claim", "who": {"roles": ["staff"]},
         "actions": ["create", "read", "update"], "rows": "_owner = $user.id", "new_fields": "editable"},
        {"key": "staff_archive", "form": "archive", "who": {"roles": ["staff"]},
         "actions": ["create", "read", "update"], "rows": "_owner = $user.id", "new_fields": "editable"},
        {"key": "audit_claims", "form": "claim", "who": {"roles": ["auditor"]},
         "actions": ["read"], "fields": {"secret": "hidden"}, "new_fields": "readonly"},
        {"key": "audit_archive", "form": "archive", "who": {"roles": ["auditor"]},
         "actions": ["create", "read", "update"], "new_fields": "editable"}],
}


@pytest.fixture
def web(ff):
    from engine.web import create_app
    ff.apps.install(copy.deepcopy(DOCS))
    for role in ("staff", "auditor"):
        directory.add_role(ff, role)
    u = {name: users.add_user(ff, name, PASSWORD, admin=name == "admin")["id"]
         for name in ("alice", "bob", "carol", "admin")}
    for name in ("alice", "bob"):
        directory.grant_role(ff, "staff", u[name])
    directory.grant_role(ff, "auditor", u["carol"])
    keys = {name: api_keys.create_key(ff, uid, name=name, write=True)["key"] for name, uid in u.items()}
    app = create_app(ff, TESTING=True)
    return SimpleNamespace(ff=ff, u=u, app=app, client=app.test_client(),
                           hdr=lambda name: {"Authorization": f"Bearer {keys[name]}"})


def uploaded(web, who, content: bytes, name: str) -> dict:
    r = web.client.post("/api/v1/files", data={"file": (io.BytesIO(content), name, "text/plain")},
                        content_type="multipart/form-data", headers=web.hdr(who))
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.json


def create(web, who, values, base=CLAIMS) -> str:
    r = web.client.post(base, json=values, headers=web.hdr(who))
    assert r.status_code == 201, r.json
    return r.json["_id"]


def count(web, form) -> int:
    _app, f = web.ff.form("docs", form)
    with web.ff.db.read() as conn:
        from engine.queries import count_records
        return count_records(conn, web.ff, f)


def assert_refused_as_foreign(r, location):
    assert r.status_code == 422, r.json
    assert r.mimetype == "application/problem+json"
    (err,) = r.json["errors"]
    assert err["location"] == location and err["code"] == "forbidden"
    assert "uploaded by someone else; upload it again" in err["message"]


def test_another_users_file_id_is_refused_at_the_field_and_nothing_is_written(web):
    alices = uploaded(web, "alice", b"alice's receipt", "r.txt")
    r = web.client.post(CLAIMS, json={"title": "stolen", "receipt": [alices]}, headers=web.hdr("bob"))
    assert_refused_as_foreign(r, "receipt")
    assert count(web, "claim") == 0


def test_another_users_file_id_cannot_be_added_to_an_existing_record(web):
    alices = uploaded(web, "alice", b"alice's receipt", "r.txt")
    create(web, "alice", {"title": "mine", "receipt": [alices]})
    rid = create(web, "bob", {"title": "bob's"})
    r = web.client.patch(f"{CLAIMS}/{rid}", json={"receipt": [alices]}, headers=web.hdr("bob"))
    assert_refused_as_foreign(r, "receipt")
    assert web.ff.records.get("docs", "claim", rid)["_version"] == 1
    assert web.client.get(f"{CLAIMS}/{rid}/files/receipt/{alices['id']}", headers=web.hdr("bob")).status_code == 404


def test_a_batch_locates_the_refused_id_at_its_row(web):
    bobs, alices = uploaded(web, "bob", b"b", "b.txt"), uploaded(web, "alice", b"a", "a.txt")
    r = web.client.post(f"{CLAIMS}:batch", json={"records": [{"receipt": [bobs]}, {"receipt": [alices]}]},
                        headers=web.hdr("bob"))
    assert r.status_code == 422, r.json
    assert [e["location"] for e in r.json["errors"]] == ["rows[1].receipt"]
    assert count(web, "claim") == 0


def test_ones_own_upload_is_accepted(web):
    bobs = uploaded(web, "bob", b"bob's receipt", "r.txt")
    rid = create(web, "bob", {"title": "mine", "receipt": [bobs]})
    r = web.client.get(f"{CLAIMS}/{rid}/files/receipt/{bobs['id']}", headers=web.hdr("bob"))
    assert r.status_code == 200 and r.data == b"bob's receipt"


def test_a_file_the_writer_can_read_in_another_record_may_be_referenced(web):
    alices = uploaded(web, "alice", b"alice's receipt", "r.txt")
    create(web, "alice", {"title": "mine", "receipt": [alices]})
    # carol (auditor) reads every claim, so she may file alice's receipt in the archive
    rid = create(web, "carol", {"note": "filed", "doc": [alices]}, base=ARCHIVE)
    assert web.client.get(f"{ARCHIVE}/{rid}/files/doc/{alices['id']}", headers=web.hdr("carol")).data \
        == b"alice's receipt"


def test_a_file_held_only_in_a_field_hidden_from_the_writer_is_refused(web):
    hidden = uploaded(web, "alice", b"secret", "s.txt")
    create(web, "alice", {"title": "mine", "secret": [hidden]})
    r = web.client.post(ARCHIVE, json={"doc": [hidden]}, headers=web.hdr("carol"))
    assert_refused_as_foreign(r, "doc")


def test_a_file_held_only_in_a_trashed_record_is_refused(web):
    alices = uploaded(web, "alice", b"alice's receipt", "r.txt")
    rid = create(web, "alice", {"receipt": [alices]})
    web.ff.records.delete("docs", "claim", rid)
    r = web.client.post(ARCHIVE, json={"doc": [alices]}, headers=web.hdr("carol"))
    assert_refused_as_foreign(r, "doc")


def test_a_file_already_in_the_record_stays_when_other_fields_change(web):
    alices = uploaded(web, "alice", b"alice's receipt", "r.txt")
    rid = create(web, "alice", {"title": "mine", "receipt": [alices]})
    r = web.client.patch(f"{CLAIMS}/{rid}", json={"title": "renamed"}, headers=web.hdr("admin"))
    assert r.status_code == 200 and r.json["receipt"] == [alices]
    # sending the whole list again, plus a file of one's own, keeps the existing one too
    admins = uploaded(web, "admin", b"admin's note", "n.txt")
    r = web.client.patch(f"{CLAIMS}/{rid}", json={"receipt": [alices, admins]}, headers=web.hdr("admin"))
    assert r.status_code == 200 and [f["id"] for f in r.json["receipt"]] == [alices["id"], admins["id"]]


def test_reverting_to_a_version_that_referenced_the_file_is_accepted(web):
    alices = uploaded(web, "alice", b"alice's receipt", "r.txt")
    rid = create(web, "alice", {"title": "mine", "receipt": [alices]})
    r = web.client.patch(f"{CLAIMS}/{rid}", json={"receipt": None}, headers=web.hdr("admin"))
    assert r.status_code == 200 and r.json.get("receipt") is None
    # putting it back by hand is a new reference by someone who did not upload it ...
    r = web.client.patch(f"{CLAIMS}/{rid}", json={"receipt": [alices]}, headers=web.hdr("admin"))
    assert_refused_as_foreign(r, "receipt")
    # ... but reverting the record to its own earlier version is not
    r = web.client.post(f"{CLAIMS}/{rid}:revert", json={"version": 1}, headers=web.hdr("admin"))
    assert r.status_code == 200, r.json
    assert r.json["receipt"] == [alices] and r.json["_version"] == 3


def test_writes_without_an_actor_act_for_the_system(web):
    alices = uploaded(web, "alice", b"alice's receipt", "r.txt")
    record = web.ff.records.create("docs", "archive", {"doc": [alices]})
    assert record["doc"] == [alices]
    with pytest.raises(RecordValidationError) as err:
        web.ff.records.create("docs", "archive", {"doc": [alices]}, ctx=RecordContext(actor="someone"))
    assert err.value.errors[0]["location"] == "doc" and err.value.errors[0]["code"] == "forbidden"


def _file_it(values: dict) -> dict:
    return {"key": "file_it", "trigger": {"type": "record.updated", "form": "claim", "fields": ["title"]},
            "actions": [{"type": "create_record", "app": "docs", "form": "archive", "values": values}]}


def _run_file_it(web, values_of) -> list[dict]:
    """Install the automation, let alice file a receipt, trigger a run as a user who neither uploaded
    nor can read the file, and return the archive's records."""
    from engine.queries import list_records
    from workflows import clock, queue
    clock.use(web.ff, clock.FakeClock(dt.datetime.now(dt.timezone.utc)))
    alices = uploaded(web, "alice", b"alice's receipt", "r.txt")
    web.ff.apps.install(dict(copy.deepcopy(DOCS), automations=[_file_it(values_of(alices))]))
    rid = create(web, "alice", {"title": "taxi", "receipt": [alices]})
    web.ff.records.update("docs", "claim", rid, {"title": "taxi home"}, ctx=RecordContext(actor="ghost"))
    queue.drain(web.ff)
    _app, form = web.ff.form("docs", "archive")
    with web.ff.db.read() as conn:
        return list_records(conn, web.ff, form).records, alices


def test_an_automation_may_reference_a_file_its_triggering_user_did_not_upload(web):
    archived, alices = _run_file_it(web, lambda f: {"note": "title", "doc": [f]})
    (filed,) = archived
    assert filed["note"] == "taxi home" and filed["doc"] == [alices]


def test_an_automation_may_copy_an_attachment_with_an_expression(web):
    archived, alices = _run_file_it(web, lambda f: {"note": "title", "doc": "receipt"})
    (filed,) = archived
    assert filed["doc"] == [alices]
