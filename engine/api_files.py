"""File upload and download for attachment/image fields (blueprint `files_api`, at /api/v1).

  POST /files   multipart: file; optional app, form, field (applies the field's max_size,
                accept and image rules)  → 201 {"id", "name", "size", "content_type"}
                Needs a signed-in user or a write API key; with app/form/field, the
                `create` or `update` action on the form and a field that is not hidden.
  GET  /apps/<app>/forms/<form>/records/<id>/files/<field>/<file_id>
                the content, when the caller may read the record (row rules), the field is
                neither hidden nor masked for it and the record's value of the field lists
                the file id. Anything else is the same 404 (no bytes, nothing revealed).
                Content-Disposition: attachment (inline only for verified images),
                X-Content-Type-Options: nosniff, Content-Security-Policy: sandbox.
  GET  /apps/<app>/forms/<form>/records/<id>/files/<field>/<file_id>/thumbnail?size=64|160|320
                a JPEG/PNG thumbnail of a verified image (at most size×size, default 160),
                under exactly the download's checks; 422 for other files or images that
                cannot (or must not) be decoded. Cached by content and size; ETag and
                `Cache-Control: private, no-cache` (the browser revalidates: a 304 after the
                same checks, so a revoked right takes effect at once).

Runs the REST API's request pipeline (sign-in or Bearer key, CSRF for cookie writes).
"""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, request

from . import access, files
from .api import (
    BadRequest,
    _authenticate,
    _release,
    _remember,
    endpoint,
    instance,
    json_response,
    require,
)
from .auth import Forbidden, csrf
from .errors import NotFound

files_api = Blueprint("files_api", __name__)
csrf.exempt(files_api)
files_api.before_request(_authenticate)
files_api.after_request(_remember)
files_api.teardown_request(_release)


def _field_for_upload(who):
    app_key, form_key, field_key = (request.form.get(k) for k in ("app", "form", "field"))
    if not (app_key or form_key or field_key):
        return None
    if not (app_key and form_key and field_key):
        raise BadRequest("give app, form and field together (or none of them)",
                         [{"location": k, "message": "required with the others", "code": "required"}
                          for k in ("app", "form", "field") if not request.form.get(k)])
    if not (access.can(who, "create", app_key, form_key) or access.can(who, "update", app_key, form_key)):
        raise Forbidden(f"you may not create or update records of {app_key}.{form_key}")
    _app, form = instance().form(app_key, form_key)
    fa = access.form_access(who, app_key, form_key)
    field = form.fields_by_key.get(field_key)
    if field is None or fa.right(field_key) == "hidden" or field.type_name not in files.FILE_FIELD_TYPES:
        raise BadRequest(f"field: {field_key!r} is not a file field of {app_key}.{form_key}",
                         [{"location": "field", "message": "not an attachment or image field", "code": "unknown"}])
    return field


@files_api.post("/files")
@endpoint()
def upload_file():
    """Store one uploaded file; returns the value to put in an attachment/image field."""
    from .api import principal
    from .auth import Unauthorized
    who = principal()
    if who is None:
        raise Unauthorized("sign in, or send an API key as 'Authorization: Bearer <key>'")
    if who.via == "key" and not who.key_write:
        raise Forbidden("a read-only API key may not upload files")
    if request.mimetype != "multipart/form-data":
        from .api import UnsupportedMediaType
        raise UnsupportedMediaType("send the file as multipart/form-data (part `file`)")
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("the request needs a `file` part",
                         [{"location": "file", "message": "no file", "code": "required"}])
    field = _field_for_upload(who)
    out = files.save(instance(), upload.stream, name=upload.filename, declared_type=upload.mimetype,
                     actor=who.id, field=field)
    return json_response(out, 201)


@files_api.get("/apps/<app_key>/forms/<form_key>/records/<rid:record_id>/files/<field>/<file_id>")
@endpoint()
def download_file(app_key, form_key, record_id, field, file_id):
    """A file of a record's attachment/image field (read access to the record and the field)."""
    ff = instance()
    row = _readable_file(app_key, form_key, record_id, field, file_id)
    gone = NotFound(f"no file {file_id!r} in field {field!r} of record {record_id!r}")
    try:
        handle = files.open_blob(ff, row)
    except FileNotFoundError:
        raise gone from None
    inline = files.is_verified_image(row["content_type"])
    name = row["name"]
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    disposition = f"{'inline' if inline else 'attachment'}; filename=\"{fallback}\"; " \
                  f"filename*=UTF-8''{quote(name, safe='')}"
    headers = {"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox", "Cache-Control": "private, no-store",
               "Content-Length": str(row["size"])}
    ctype = row["content_type"]
    if not inline and any(s in ctype for s in ("html", "xml", "svg", "javascript", "ecmascript")):
        ctype = "application/octet-stream"  # never let a browser render active content
    return Response(_chunks(handle), headers=headers, mimetype=ctype)


def _readable_file(app_key, form_key, record_id, field, file_id) -> dict:
    """The ff_files row of a file the caller may read through this record and field.

    401/403 without read on the form; one same 404 for a record outside the caller's
    rows, a hidden, masked or non-file field, and a file the field does not list.
    """
    ff = instance()
    who = require(access.READ, app_key, form_key)
    ff.form(app_key, form_key)  # 404 for unknown ones
    fa = access.form_access(who, app_key, form_key)
    record = ff.records.get(app_key, form_key, record_id)
    fa.check_record(record, "read")
    gone = NotFound(f"no file {file_id!r} in field {field!r} of record {record_id!r}")
    f = fa.form.fields_by_key.get(field)
    if f is None or f.type_name not in files.FILE_FIELD_TYPES or fa.right(field) == "hidden" \
            or fa.is_masked(field):
        raise gone
    if not any(isinstance(x, dict) and x.get("id") == file_id for x in record.get(field) or []):
        raise gone
    row = files.get(ff, file_id)
    if row is None:
        raise gone
    return row


@files_api.get("/apps/<app_key>/forms/<form_key>/records/<rid:record_id>/files/<field>/<file_id>/thumbnail")
@endpoint("size")
def file_thumbnail(app_key, form_key, record_id, field, file_id):
    """A small JPEG/PNG of an image file of a record (the download's access checks)."""
    row = _readable_file(app_key, form_key, record_id, field, file_id)
    raw = request.args.get("size", str(files.DEFAULT_THUMBNAIL_SIZE))
    if not (raw.isascii() and raw.isdigit()) or int(raw) not in files.THUMBNAIL_SIZES:
        allowed = ", ".join(map(str, files.THUMBNAIL_SIZES))
        raise BadRequest(f"size: {raw!r} is not a thumbnail size (one of {allowed})",
                         [{"location": "size", "message": f"one of {allowed}", "code": "enum"}])
    size = int(raw)
    files.check_thumbnail_source(row)
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
               # revalidated on every use: the 304 passes the checks above again
               "Cache-Control": "private, no-cache"}
    # the content of a file id never changes: its hash and the size name the thumbnail
    etag = f"{row['sha256']}-{size}"
    if request.if_none_match.contains(etag):
        response = Response(status=304, headers=headers)
        response.set_etag(etag)
        return response
    data, ctype = files.thumbnail(instance(), row, size)
    response = Response(data, headers=headers, mimetype=ctype)
    response.set_etag(etag)
    return response


def _chunks(handle):
    with handle:
        yield from iter(lambda: handle.read(65536), b"")


def _document_paths() -> None:
    """Advertise these routes in the static OpenAPI document (engine.openapi)."""
    from . import openapi as oa
    value = {"type": "object", "required": ["id", "name", "size", "content_type"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "size": {"type": "integer", "minimum": 0},
        "content_type": {"type": "string"}}}
    upload = oa._post("Upload a file for an attachment/image field (the value to put in the field)",
                      oa._resp("The stored file", value, 201), tag="files")
    upload["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, "app": {"type": "string"},
            "form": {"type": "string"}, "field": {"type": "string"}}}}}}
    upload["responses"]["413"] = {"$ref": "#/components/responses/Problem413"}
    upload["responses"]["415"] = {"$ref": "#/components/responses/Problem415"}
    download = oa._op("Download a file of a record's attachment/image field",
                      {"200": {"description": "The file's content", "content": {
                          "*/*": {"schema": {"type": "string", "format": "binary"}}}}},
                      params=[oa._path_param("app_key", {"type": "string"}),
                              oa._path_param("form_key", {"type": "string"}), oa._path_param("record_id"),
                              oa._path_param("field", {"type": "string"}),
                              oa._path_param("file_id", {"type": "string"})], tag="files")
    binary = {"schema": {"type": "string", "format": "binary"}}
    thumb = oa._op("A thumbnail (at most size×size pixels) of an image file of a record's attachment/image field",
                   {"200": {"description": "The thumbnail (JPEG for JPEG images, PNG otherwise)",
                            "headers": oa.ETAG_HEADER,
                            "content": {"image/jpeg": binary, "image/png": binary}},
                    "304": {"description": "Not modified"}},
                   params=[oa._path_param("app_key", {"type": "string"}),
                           oa._path_param("form_key", {"type": "string"}), oa._path_param("record_id"),
                           oa._path_param("field", {"type": "string"}),
                           oa._path_param("file_id", {"type": "string"}),
                           {"name": "size", "in": "query", "description": "Longest edge in pixels (default "
                            f"{files.DEFAULT_THUMBNAIL_SIZE})",
                            "schema": {"type": "integer", "enum": list(files.THUMBNAIL_SIZES)}},
                           oa.H["If-None-Match"]],
                   errors=(400, 401, 403, 404, 422), tag="files")
    oa.register_paths({"/files": {"post": upload},
                       "/apps/{app_key}/forms/{form_key}/records/{record_id}/files/{field}/{file_id}":
                           {"get": download},
                       "/apps/{app_key}/forms/{form_key}/records/{record_id}/files/{field}/{file_id}/thumbnail":
                           {"get": thumb}})


_document_paths()
