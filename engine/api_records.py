"""Records over the API: list/filter/sort/paginate, create (one or a batch), read, change,
delete, restore, revert, history. Every write goes through the record lifecycle."""
from __future__ import annotations

from flask import Response, request

from . import access, defaults
from .api import (BadRequest, PayloadTooLarge, api, body_object, endpoint, etag, flag,
                  if_match_version, instance, json_response, principal, require)
from .queries import count_records, list_records
from .records import SYSTEM_FIELDS, RecordContext, record_json

BASE = "/apps/<app_key>/forms/<form_key>/records"


def _ctx() -> RecordContext:
    who = principal()
    return RecordContext(actor=who.id, user={"id": who.id, "username": who.user.get("username")})


def _form(action: str, app_key: str, form_key: str):
    require(action, app_key, form_key)
    return instance().form(app_key, form_key)[1]


def _one(form, record: dict, status: int = 200, headers: dict | None = None) -> Response:
    tag = etag(record["_id"], record["_version"])
    return json_response(record_json(form, record), status, {"ETag": tag, **(headers or {})})


def _limit() -> int | None:
    raw = request.args.get("limit")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= defaults.MAX_PAGE_SIZE:
        raise BadRequest(f"limit: a whole number from 1 to {defaults.MAX_PAGE_SIZE}",
                         [{"location": "limit", "message": f"must be 1-{defaults.MAX_PAGE_SIZE}", "code": "range"}])
    return int(raw)


def _fields(form):
    raw = request.args.get("fields")
    if raw is None:
        return None
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    unknown = [k for k in keys if k not in form.fields_by_key and k not in SYSTEM_FIELDS]
    if unknown:
        raise BadRequest(f"fields: unknown field {unknown[0]!r}",
                         [{"location": "fields", "message": f"unknown field {k!r}", "code": "unknown"}
                          for k in unknown])
    return {"_id", "_version", *keys}


@api.get(BASE)
@endpoint("filter", "sort", "fields", "limit", "cursor", "trash", "count")
def list_form_records(app_key, form_key):
    """A page of records: filter (expression), sort, fields, limit, cursor; trash=1 for the trash."""
    ff = instance()
    form = _form(access.READ, app_key, form_key)
    keep = _fields(form)
    trash = flag("trash")
    filter_ = request.args.get("filter")
    with ff.db.read() as conn:
        page = list_records(conn, ff, form, filter=filter_, sort=request.args.get("sort"), limit=_limit(),
                            cursor=request.args.get("cursor") or None, trash=trash)
        total = count_records(conn, ff, form, filter=filter_, trash=trash) if flag("count") else None
    records = [record_json(form, r) for r in page.records]
    if keep is not None:
        records = [{k: v for k, v in r.items() if k in keep} for r in records]
    out = {"records": records, "next_cursor": page.next_cursor}
    if total is not None:
        out["count"] = total
    return json_response(out)


@api.post(BASE)
@endpoint()
def create_record(app_key, form_key):
    """Create one record (201, Location and ETag)."""
    form = _form(access.WRITE, app_key, form_key)
    record = instance().records.create(app_key, form_key, body_object(), ctx=_ctx())
    return _one(form, record, 201, {"Location": f"{request.path}/{record['_id']}"})


@api.post(BASE + ":batch")
@endpoint()
def create_records(app_key, form_key):
    """Create up to 1,000 records, all or nothing; errors are located as rows[i].field."""
    form = _form(access.WRITE, app_key, form_key)
    data = body_object()
    rows = data.get("records")
    if set(data) != {"records"} or not isinstance(rows, list) or not rows:
        raise BadRequest('the body must be {"records": [ ... ]} with at least one record',
                         [{"location": "records", "message": "expected a non-empty list", "code": "type"}])
    if len(rows) > defaults.MAX_BATCH:
        raise PayloadTooLarge(f"at most {defaults.MAX_BATCH} records per batch (got {len(rows)})",
                              [{"location": "records", "message": f"at most {defaults.MAX_BATCH}", "code": "max_items"}])
    created = instance().records.create_many(app_key, form_key, rows, ctx=_ctx())
    return json_response({"records": [record_json(form, r) for r in created]}, 201)


@api.get(BASE + "/<rid:record_id>")
@endpoint("trash")
def get_record(app_key, form_key, record_id):
    """One record; If-None-Match with its ETag gives 304."""
    form = _form(access.READ, app_key, form_key)
    record = instance().records.get(app_key, form_key, record_id, include_deleted=flag("trash"))
    tag = etag(record["_id"], record["_version"])
    if request.if_none_match.contains(tag.strip('"')):
        return Response(status=304, headers={"ETag": tag})
    return _one(form, record)


@api.patch(BASE + "/<rid:record_id>")
@endpoint()
def patch_record(app_key, form_key, record_id):
    """Change some fields; If-Match makes it conditional (412 when the record changed)."""
    form = _form(access.WRITE, app_key, form_key)
    changes = body_object()
    record = instance().records.update(app_key, form_key, record_id, changes, ctx=_ctx(),
                                       expected_version=if_match_version(record_id))
    return _one(form, record)


@api.delete(BASE + "/<rid:record_id>")
@endpoint("purge")
def delete_record(app_key, form_key, record_id):
    """Move a record to the trash (If-Match honoured); ?purge=1 erases a trashed record."""
    form = _form(access.WRITE, app_key, form_key)
    ff = instance()
    if flag("purge"):
        if_match_version(record_id)  # a malformed or foreign tag is still refused
        ff.records.purge(app_key, form_key, record_id, ctx=_ctx())
        return Response(status=204)
    record = ff.records.delete(app_key, form_key, record_id, ctx=_ctx(),
                               expected_version=if_match_version(record_id))
    return _one(form, record)


@api.post(BASE + "/<rid:record_id>:restore")
@endpoint()
def restore_record(app_key, form_key, record_id):
    """Bring a record back from the trash."""
    form = _form(access.WRITE, app_key, form_key)
    return _one(form, instance().records.restore(app_key, form_key, record_id, ctx=_ctx()))


@api.post(BASE + "/<rid:record_id>:revert")
@endpoint()
def revert_record(app_key, form_key, record_id):
    """Restore the values of an earlier version, as a new version: {"version": n}."""
    form = _form(access.WRITE, app_key, form_key)
    data = body_object()
    version = data.get("version")
    if set(data) != {"version"} or not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadRequest('the body must be {"version": n} with n ≥ 1',
                         [{"location": "version", "message": "expected a version number", "code": "type"}])
    return _one(form, instance().records.revert(app_key, form_key, record_id, version, ctx=_ctx()))


@api.get(BASE + "/<rid:record_id>/history")
@endpoint()
def record_history(app_key, form_key, record_id):
    """Every revision of a record, oldest first."""
    _form(access.READ, app_key, form_key)
    return json_response({"history": instance().records.history(app_key, form_key, record_id)})


