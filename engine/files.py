"""File storage of the attachment and image fields (table `ff_files`, migration 0007).

Content lives under `data_dir/files/<sha256[:2]>/<sha256>`: the path is made of the
content's hash only, never of anything the client sends (names are metadata). Equal
contents are stored once. An upload gets an unguessable id (`f_` + 32 hex digits)
and a row in `ff_files`; a record refers to it with {"id", "name", "size",
"content_type"} in an attachment/image field.

Content types: the PNG, JPEG, GIF and WebP types (IMAGE_TYPES) are only ever stored
when the magic bytes say so; a declared image type the bytes do not confirm becomes
application/octet-stream. SVG is not an image here (it can carry script). So a stored
type in IMAGE_TYPES means "verified image" (the only files served inline).

Record lifecycle hook (`_check_references`, a batch listener on record events, in the
writer's transaction): every file a create/update/revert newly puts in an
attachment/image field must exist in `ff_files` with the same size and content type,
and in an image field be a verified image; otherwise the write is a 422 and rolls
back. It knows the instances whose web app registered the files blueprint (`register`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
import weakref
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa

from . import events, tables
from .errors import FormflowError, NotFound, RecordValidationError

#: the largest upload when its field sets no max_size (also the app's MAX_CONTENT_LENGTH)
DEFAULT_MAX_SIZE = 20 * 1024 * 1024
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
OCTET = "application/octet-stream"
FILE_FIELD_TYPES = ("attachment", "image")
MAX_NAME = 255
_CONTENT_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_ID_RE = re.compile(r"f_[0-9a-f]{32}")

files = sa.Table(
    "ff_files", tables.metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("name", sa.String(MAX_NAME), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("created_by", sa.String(40)),
    sa.Column("created_at", tables.Timestamp, nullable=False),
)


class FileRefused(FormflowError):
    """The upload is not acceptable (type, name, field)."""

    status = 422
    title = "File refused"


class FileTooLarge(FormflowError):
    status = 413
    title = "Payload too large"


# -- names and types ---------------------------------------------------------------

def safe_name(name: str | None) -> str:
    """A display name without directories, control characters or leading dots (never empty)."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]                      # the last path part only
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # controls, format chars
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        name = (stem if dot else name)[:MAX_NAME - len(ext) - 1].rstrip() + ("." + ext if ext else "")
    return name or "file"


def sniff_image(head: bytes) -> str | None:
    """The image type the magic bytes prove (PNG, JPEG, GIF, WebP), else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def content_type_of(declared: str | None, head: bytes) -> str:
    """The type to store: the sniffed image type, else the declared one unless it claims a
    verified image type (then application/octet-stream)."""
    sniffed = sniff_image(head)
    if sniffed:
        return sniffed
    ctype = (declared or "").split(";")[0].strip().lower()
    if not _CONTENT_TYPE_RE.fullmatch(ctype) or ctype in IMAGE_TYPES or len(ctype) > 255:
        return OCTET
    return ctype


def is_verified_image(content_type: str) -> bool:
    return content_type in IMAGE_TYPES


def _matches(ctype: str, accepted: str) -> bool:
    accepted = accepted.lower()
    return ctype.startswith(accepted[:-1]) if accepted.endswith("/*") else ctype == accepted


# -- storage -----------------------------------------------------------------------

def root(ff) -> Path:
    return Path(ff.config.data_dir) / "files"


def blob_path(ff, sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a sha256")
    return root(ff) / sha256[:2] / sha256


def save(ff, stream: BinaryIO, *, name: str | None, declared_type: str | None, actor: str | None,
         field=None) -> dict:
    """Store an upload; {"id", "name", "size", "content_type"}.

    `field` (a model Field of type attachment/image) applies its max_size, accept and,
    for images, the verified-image rule. FileTooLarge (413) past the cap; FileRefused (422).
    """
    definition = field.definition if field is not None else {}
    cap = min(definition.get("max_size") or DEFAULT_MAX_SIZE, DEFAULT_MAX_SIZE)
    base = root(ff)
    base.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    fd, tmp = tempfile.mkstemp(dir=base, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: stream.read(65536), b""):
                size += len(chunk)
                if size > cap:
                    raise FileTooLarge(f"the file is larger than {cap:,} bytes",
                                       [{"location": "file", "message": f"at most {cap:,} bytes", "code": "range"}])
                if len(head) < 16:
                    head += chunk[:16 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        ctype = content_type_of(declared_type, head)
        if field is not None:
            _check_for_field(field, ctype)
        sha = digest.hexdigest()
        final = blob_path(ff, sha)
        final.parent.mkdir(exist_ok=True)
        if final.exists():
            os.unlink(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    row = {"id": "f_" + secrets.token_hex(16), "sha256": sha, "name": safe_name(name), "size": size,
           "content_type": ctype, "created_by": actor,
           "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    with ff.db.write() as conn:
        conn.execute(files.insert(), row)
    return public(row)


def _check_for_field(field, ctype: str) -> None:
    if field.type_name == "image" and not is_verified_image(ctype):
        raise FileRefused(
            f"{field.key}: only PNG, JPEG, GIF and WebP images are accepted, and the file's content "
            f"is not one of them (got {ctype}; SVG is not accepted)",
            [{"location": "file", "message": "not a PNG, JPEG, GIF or WebP image", "code": "format"}])
    accept = field.definition.get("accept") or []
    if accept and not any(_matches(ctype, a) for a in accept):
        raise FileRefused(f"{field.key}: content type {ctype} is not accepted (accepted: {', '.join(accept)})",
                          [{"location": "file", "message": f"{ctype} is not accepted", "code": "format"}])


def public(row) -> dict:
    return {"id": row["id"], "name": row["name"], "size": row["size"], "content_type": row["content_type"]}


def get(ff, file_id: str, conn=None) -> dict | None:
    """The ff_files row of an id (None when unknown)."""
    if not isinstance(file_id, str) or not _ID_RE.fullmatch(file_id):
        return None
    if conn is None:
        with ff.db.read() as c:
            return get(ff, file_id, c)
    row = conn.execute(sa.select(files).where(files.c.id == file_id)).mappings().first()
    return dict(row) if row else None


def open_blob(ff, row: dict) -> BinaryIO:
    return open(blob_path(ff, row["sha256"]), "rb")


# -- record lifecycle hook -----------------------------------------------------------

_instances: weakref.WeakValueDictionary[int, object] = weakref.WeakValueDictionary()


def register(ff) -> None:
    """Check file references of records written through `ff` (every Formflow instance registers)."""
    _instances[id(ff.db.engine)] = ff


def _check_references(conn, batch) -> None:
    ff = _instances.get(id(conn.engine))
    if ff is None:
        return
    wanted: dict[str, list[tuple[int, str, str, dict]]] = {}
    forms = {}
    for i, event in enumerate(batch):
        if event.type not in ("record.created", "record.updated"):
            continue
        p = event.payload or {}
        key = (p.get("app"), p.get("form"))
        if key not in forms:
            try:
                forms[key] = ff.form(*key, conn=conn)[1]
            except NotFound:  # the app or form is gone
                forms[key] = None
        form = forms[key]
        if form is None:
            continue
        for fkey, pair in (p.get("changes") or {}).items():
            f = form.fields_by_key.get(fkey)
            if f is None or f.type_name not in FILE_FIELD_TYPES or not isinstance(pair, list):
                continue
            old, new = pair if len(pair) == 2 else (None, None)
            before = {x.get("id") for x in old or [] if isinstance(x, dict)}
            for item in new or []:
                if isinstance(item, dict) and item.get("id") not in before:
                    wanted.setdefault(item.get("id"), []).append((i, fkey, f.type_name, item))
    if not wanted:
        return
    ids = [k for k in wanted if isinstance(k, str)]
    rows = {r["id"]: r for r in conn.execute(sa.select(files).where(files.c.id.in_(ids))).mappings()} \
        if ids else {}
    errors = []
    for fid, uses in wanted.items():
        row = rows.get(fid)
        for i, fkey, type_name, item in uses:
            location = fkey if len(batch) == 1 else f"rows[{i}].{fkey}"
            if row is None:
                message, code = f"file {fid!r} does not exist (upload it with POST /api/v1/files)", "unknown"
            elif row["size"] != item.get("size") or row["content_type"] != item.get("content_type"):
                message, code = (f"file {fid!r} is {row['size']} bytes of {row['content_type']}, "
                                 "not what the value says"), "mismatch"
            elif type_name == "image" and not is_verified_image(row["content_type"]):
                message, code = f"file {fid!r} is not a PNG, JPEG, GIF or WebP image", "format"
            else:
                continue
            errors.append({"location": location, "message": message, "code": code})
    if errors:
        raise RecordValidationError(f"{errors[0]['location']}: {errors[0]['message']}", errors)


def enable() -> None:
    if _check_references not in events._batch_listeners:
        events.subscribe_batch(_check_references)


enable()
