"""Records over the API: list/filter/sort/paginate, create (one or a batch), read, change,
delete, restore, revert, history. Every write goes through the record lifecycle.

Every endpoint asks the permission service through `access.form_access` (docs/permissions.md):
the action, the row rules (SQL for lists and counts, Python for one record: a record
outside the caller's rows is a 404, so ids do not leak), the field rights (hidden fields
are absent, sensitive ones masked; writes of hidden, read-only or system fields are a
422 and change nothing) and the row rules on the new values of creates and updates.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Response, request

from . import access, audit, defaults, tables
from .api import (BadRequest, PayloadTooLarge, api, body_object, endpoint, etag, flag,
                  if_match_version, instance, json_response, principal, require)
from .errors import NotFound, RecordValidationError
from .records import SYSTEM_FIELDS, RecordContext

BASE = "/apps/<app_key>/forms/<form_key>/records"


def _ctx() -> RecordContext:
    who = principal()
    return RecordContext(actor=who.id, user={"id": who.id, "username": who.user.get("username")})


def _access(action: str, app_key: str, form_key: str):
    """The caller's FormAccess after `require` (401/403; 404 for an unknown app or form)."""
    who = require(action, app_key, form_key)
    instance().form(app_key, form_key)  # 404 for unknown ones (admins reach here)
    return access.form_access(who, app_key, form_key)


# -- audit helpers (also used by the spreadsheet endpoints) ------------------------

def audit_event(action: str, **kwargs) -> None:
    """One audit entry for the current request (actor, client address, API key)."""
    who = principal()
    details = dict(kwargs.pop("details", None) or {})
    if who is not None and who.via == "key":
        details.setdefault("key", who.key_id)
    audit.record(instance(), action, actor=kwargs.pop("actor", who.id if who else None),
                 ip=request.remote_addr, details=details, **kwargs)


def audit_unmasked(fa, records: list[dict], via: str, record_id: str | None = None) -> None:
    """One `sensitive.unmasked_view` entry when `records` (API JSON) show sensitive fields in clear."""
    clear = fa.unmasked_sensitive_fields()
    if not clear or not records:
        return
    shown = [k for k in clear if any(r.get(k) is not None for r in records)]
    if shown:
        audit_event("sensitive.unmasked_view", object_type="record" if record_id else "form",
                    object_id=record_id or fa.form.key, app=fa.app.key, form=fa.form.key,
                    details={"fields": shown, "via": via, "records": len(records)})


def _history_values(entries: list[dict]) -> list[dict]:
    """History changes as {key: value} rows (for `audit_unmasked`)."""
    return [{k: next((v for v in pair if v is not None), None) for k, pair in e["changes"].items()}
            for e in entries]


# -- helpers -----------------------------------------------------------------------

def _one(fa, record: dict, status: int = 200, headers: dict | None = None, audit_view: bool = False) -> Response:
    tag = etag(record["_id"], record["_version"])
    out = fa.project(record)
    if audit_view:
        audit_unmasked(fa, [out], "get", record["_id"])
    return json_response(out, status, {"ETag": tag, **(headers or {})})


def _limit() -> int | None:
    raw = request.args.get("limit")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= defaults.MAX_PAGE_SIZE:
        raise BadRequest(f"limit: a whole number from 1 to {defaults.MAX_PAGE_SIZE}",
                         [{"location": "limit", "message": f"must be 1-{defaults.MAX_PAGE_SIZE}", "code": "range"}])
    return int(raw)


def _fields(fa):
    """The `fields` parameter: keys the caller can see (hidden ones are unknown)."""
    raw = request.args.get("fields")
    if raw is None:
        return None
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SYSTEM_FIELDS and (k not in fa.form.fields_by_key
                                                               or fa.right(k) == "hidden")]
    if unknown:
        raise BadRequest(f"fields: unknown field {unknown[0]!r}",
                         [{"location": "fields", "message": f"unknown field {k!r}", "code": "unknown"}
                          for k in unknown])
    return {"_id", "_version", *keys}


def _record(fa, record_id: str, action: str, *, include_deleted: bool = False, conn=None) -> dict:
    """The record when the caller may do `action` on it; 403 without the action, 404 outside its rows."""
    fa.require(action)
    record = instance().records.get(fa.app.key, fa.form.key, record_id, include_deleted=include_deleted,
                                    conn=conn)
    fa.check_record(record, action)
    return record


# -- endpoints -------------------------------------------------------------------

@api.get(BASE)
@endpoint("filter", "sort", "fields", "limit", "cursor", "trash", "count")
def list_form_records(app_key, form_key):
    """A page of records: filter (expression), sort, fields, limit, cursor; trash=1 for the trash."""
    ff = instance()
    trash = flag("trash")
    fa = _access("restore" if trash else access.READ, app_key, form_key)
    keep = _fields(fa)
    filter_ = request.args.get("filter")
    with ff.db.read() as conn:
        page = fa.list_records(conn, filter=filter_, sort=request.args.get("sort"), limit=_limit(),
                               cursor=request.args.get("cursor") or None, trash=trash)
        total = fa.count_records(conn, filter=filter_, trash=trash) if flag("count") else None
    records = page.records
    if keep is not None:
        records = [{k: v for k, v in r.items() if k in keep} for r in records]
    audit_unmasked(fa, records, "list")
    out = {"records": records, "next_cursor": page.next_cursor}
    if total is not None:
        out["count"] = total
    return json_response(out)


@api.post(BASE)
@endpoint()
def create_record(app_key, form_key):
    """Create one record (201, Location and ETag)."""
    ff = instance()
    fa = _access("create", app_key, form_key)
    values = body_object()
    fa.check_write(values, "create")
    with ff.db.write() as conn:
        record = ff.records.create(app_key, form_key, values, ctx=_ctx(), conn=conn)
        fa.check_result(record, "create")  # raising rolls the write (and its audit entry) back
    return _one(fa, record, 201, {"Location": f"{request.path}/{record['_id']}"})


@api.post(BASE + ":batch")
@endpoint()
def create_records(app_key, form_key):
    """Create up to 1,000 records, all or nothing; errors are located as rows[i].field."""
    ff = instance()
    fa = _access("create", app_key, form_key)
    data = body_object()
    rows = data.get("records")
    if set(data) != {"records"} or not isinstance(rows, list) or not rows:
        raise BadRequest('the body must be {"records": [ ... ]} with at least one record',
                         [{"location": "records", "message": "expected a non-empty list", "code": "type"}])
    if len(rows) > defaults.MAX_BATCH:
        raise PayloadTooLarge(f"at most {defaults.MAX_BATCH} records per batch (got {len(rows)})",
                              [{"location": "records", "message": f"at most {defaults.MAX_BATCH}", "code": "max_items"}])
    errors = []
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            try:
                fa.check_write(row, "create")
            except RecordValidationError as err:
                errors += [{**e, "location": f"rows[{i}].{e['location']}", "row": i} for e in err.errors]
    if errors:
        raise RecordValidationError(f"{errors[0]['location']}: {errors[0]['message']}", errors)
    with ff.db.write() as conn:
        created = ff.records.create_many(app_key, form_key, rows, ctx=_ctx(), conn=conn)
        for record in created:
            fa.check_result(record, "create")
    return json_response({"records": [fa.project(r) for r in created]}, 201)


@api.get(BASE + "/<rid:record_id>")
@endpoint("trash")
def get_record(app_key, form_key, record_id):
    """One record; If-None-Match with its ETag gives 304."""
    trash = flag("trash")
    fa = _access(access.READ, app_key, form_key)
    record = _record(fa, record_id, "read", include_deleted=trash)
    if trash and record.get("_deleted_at") is not None:
        fa.check_record(record, "restore")  # the trash is for those who may restore
    tag = etag(record["_id"], record["_version"])
    if request.if_none_match.contains(tag.strip('"')):
        return Response(status=304, headers={"ETag": tag})
    return _one(fa, record, audit_view=True)


@api.patch(BASE + "/<rid:record_id>")
@endpoint()
def patch_record(app_key, form_key, record_id):
    """Change some fields; If-Match makes it conditional (412 when the record changed)."""
    ff = instance()
    fa = _access("update", app_key, form_key)
    changes = body_object()
    expected = if_match_version(record_id)
    with ff.db.write() as conn:
        current = _record(fa, record_id, "update", conn=conn)
        fa.check_write(changes, "update", current)
        record = ff.records.update(app_key, form_key, record_id, changes, ctx=_ctx(),
                                   expected_version=expected, conn=conn)
        fa.check_result(record, "update")
    return _one(fa, record)


@api.delete(BASE + "/<rid:record_id>")
@endpoint("purge")
def delete_record(app_key, form_key, record_id):
    """Move a record to the trash (If-Match honoured); ?purge=1 erases a trashed record."""
    ff = instance()
    fa = _access("delete", app_key, form_key)
    if flag("purge"):
        if_match_version(record_id)  # a malformed or foreign tag is still refused
        with ff.db.write() as conn:
            _record(fa, record_id, "delete", include_deleted=True, conn=conn)
            ff.records.purge(app_key, form_key, record_id, ctx=_ctx(), conn=conn)
        return Response(status=204)
    expected = if_match_version(record_id)
    with ff.db.write() as conn:
        _record(fa, record_id, "delete", conn=conn)
        record = ff.records.delete(app_key, form_key, record_id, ctx=_ctx(), expected_version=expected, conn=conn)
    return _one(fa, record)


@api.post(BASE + "/<rid:record_id>:restore")
@endpoint()
def restore_record(app_key, form_key, record_id):
    """Bring a record back from the trash."""
    ff = instance()
    fa = _access("restore", app_key, form_key)
    with ff.db.write() as conn:
        _record(fa, record_id, "restore", include_deleted=True, conn=conn)
        record = ff.records.restore(app_key, form_key, record_id, ctx=_ctx(), conn=conn)
    return _one(fa, record)


@api.post(BASE + "/<rid:record_id>:revert")
@endpoint()
def revert_record(app_key, form_key, record_id):
    """Restore the values of an earlier version, as a new version: {"version": n}."""
    ff = instance()
    fa = _access("update", app_key, form_key)
    data = body_object()
    version = data.get("version")
    if set(data) != {"version"} or not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadRequest('the body must be {"version": n} with n ≥ 1',
                         [{"location": "version", "message": "expected a version number", "code": "type"}])
    current = _record(fa, record_id, "update")
    if not fa.admin:
        _check_revert(fa, current, version)
    return _one(fa, ff.records.revert(app_key, form_key, record_id, version, ctx=_ctx()))


def _check_revert(fa, current: dict, version: int) -> None:
    """A revert is an update of the fields that differ: they must be editable, and the
    reverted record must stay inside the caller's update rows."""
    from . import storage
    from .records import from_document
    ff, form = fa.ff, fa.form
    rev = tables.revisions.c
    with ff.db.read() as conn:
        snap = conn.execute(sa.select(rev.snapshot).where(rev.form_id == form.id, rev.record_id == current["_id"],
                                                          rev.version == version)).scalar()
    if snap is None:
        raise NotFound(f"record {current['_id']!r} has no version {version}")
    old = from_document(form, storage.loads(snap))
    changed = [f.key for f in form.fields if not f.type.computed and old.get(f.key) != current.get(f.key)]
    fa.check_fields(changed)
    fa.check_result({**current, **{k: old.get(k) for k in changed}}, "update")


@api.get(BASE + "/<rid:record_id>/history")
@endpoint()
def record_history(app_key, form_key, record_id):
    """Every revision of a record, oldest first (hidden fields absent, sensitive ones masked)."""
    fa = _access(access.READ, app_key, form_key)
    entries = fa.history(record_id)
    audit_unmasked(fa, _history_values(entries), "history", record_id)
    return json_response({"history": entries})
