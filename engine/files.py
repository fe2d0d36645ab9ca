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

Files are bound to their uploader: a newly referenced file (not in the field's previous
value) is accepted only when (a) the writing user uploaded it (`created_by`), (b) a live
record of any installed app already holds it in an attachment/image field the writer
may read (row rules, field neither hidden nor masked: the download's rules, evaluated
for the user, without an API key's app scope), or (c) the write acts for the system: no
actor (engine imports, CLI), an automation run (workflows' `current_origin` is set), or
a revert to one of the record's own earlier versions. Otherwise a 422 located at the
field: knowing a file id must not let anyone attach, and then download, the file.

Thumbnails (`thumbnail`): verified images only, at THUMBNAIL_SIZES, refused past
MAX_THUMBNAIL_SOURCE_PIXELS before decoding (decompression bombs), cached under
`data_dir/files/thumbs/` by (sha256, size).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import secrets
import sys
import tempfile
import unicodedata
import weakref
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa

from . import events, storage, tables
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


# -- thumbnails ----------------------------------------------------------------------

#: the edge lengths a thumbnail may have (a fixed set, so the cache stays bounded)
THUMBNAIL_SIZES = (64, 160, 320)
DEFAULT_THUMBNAIL_SIZE = 160
#: images with more pixels are not decoded (a small PNG can claim 100k×100k: a decompression bomb)
MAX_THUMBNAIL_SOURCE_PIXELS = 50_000_000
_PIL_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")


class NoThumbnail(FormflowError):
    """The file has no thumbnail: not a verified image, too large, or not decodable."""

    status = 422
    title = "No thumbnail"


def thumbnail_type(row: dict) -> str:
    """The content type of a verified image's thumbnails: JPEG for JPEG photos, else PNG (keeps transparency)."""
    return "image/jpeg" if row["content_type"] == "image/jpeg" else "image/png"


def thumbnail_path(ff, sha256: str, size: int, content_type: str) -> Path:
    """Where the thumbnail of a content at one size is cached (derived from the hash only)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256) or size not in THUMBNAIL_SIZES:
        raise ValueError("not a sha256 or not a thumbnail size")
    ext = "jpg" if content_type == "image/jpeg" else "png"
    return root(ff) / "thumbs" / sha256[:2] / f"{sha256}-{size}.{ext}"


def check_thumbnail_source(row: dict) -> None:
    """NoThumbnail (422) unless the file is a verified image (the only kind that gets thumbnails)."""
    if not is_verified_image(row["content_type"]):
        raise NoThumbnail(f"file {row['id']!r} is {row['content_type']}, not a PNG, JPEG, GIF or WebP "
                          "image: it has no thumbnail",
                          [{"location": "file_id", "message": "not an image", "code": "format"}])


def thumbnail(ff, row: dict, size: int) -> tuple[bytes, str]:
    """(content, content type) of a thumbnail of at most size×size pixels of a stored verified image.

    Made once per (sha256, size) and cached in the blob store; NoThumbnail (422) for
    files that are not verified images, images past MAX_THUMBNAIL_SOURCE_PIXELS and
    content that does not decode.
    """
    check_thumbnail_source(row)
    ctype = thumbnail_type(row)
    path = thumbnail_path(ff, row["sha256"], size, ctype)
    try:
        return path.read_bytes(), ctype
    except FileNotFoundError:
        pass
    source = blob_path(ff, row["sha256"])
    if not source.is_file():
        raise NotFound(f"the content of file {row['id']!r} is missing")
    data = render_thumbnail(source, size, ctype)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".thumb-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the whole thumbnail or none
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return data, ctype


def render_thumbnail(source: Path, size: int, content_type: str) -> bytes:
    """Decode an image file and encode its thumbnail (the one expensive step; NoThumbnail on failure)."""
    from PIL import Image, ImageOps

    def refused(why: str) -> NoThumbnail:
        return NoThumbnail(f"no thumbnail: {why}", [{"location": "file_id", "message": why, "code": "format"}])

    try:
        # open() reads the header only: the size is known before any pixel is decoded
        with Image.open(source, formats=_PIL_FORMATS) as im:
            width, height = im.size
            if width * height > MAX_THUMBNAIL_SOURCE_PIXELS:
                raise refused(f"the image is {width}×{height} pixels, more than "
                              f"{MAX_THUMBNAIL_SOURCE_PIXELS:,} are not decoded")
            if im.format == "JPEG":
                im.draft("RGB", (size, size))  # let the JPEG decoder downscale (less memory, faster)
            if im.mode in ("1", "P", "PA", "I", "I;16", "F", "CMYK", "YCbCr", "LAB", "HSV"):
                # palette and odd modes resample badly or cannot be written: RGB(A) first
                im = im.convert("RGBA" if content_type == "image/png" else "RGB")
            im.thumbnail((size, size))
            im = ImageOps.exif_transpose(im)  # phone photos: upright, as the viewer expects
            if content_type == "image/jpeg" and im.mode not in ("RGB", "L"):
                im = im.convert("RGB")
            out = io.BytesIO()
            if content_type == "image/jpeg":
                im.save(out, "JPEG", quality=85, optimize=True)
            else:
                im.save(out, "PNG", optimize=True)
            return out.getvalue()
    except NoThumbnail:
        raise
    except Image.DecompressionBombError:
        raise refused("the image claims too many pixels (a decompression bomb)") from None
    except Exception as err:  # any decoder failure is a property of the file, not a server error
        raise refused(f"the image cannot be decoded ({type(err).__name__})") from None


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
    owner = _OwnerCheck(ff, conn, batch)
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
            elif not owner.may_attach(batch[i], row):
                message, code = (f"file {fid!r} was uploaded by someone else; upload it again "
                                 "(POST /api/v1/files)"), "forbidden"
            else:
                continue
            errors.append({"location": location, "message": message, "code": code})
    if errors:
        raise RecordValidationError(f"{errors[0]['location']}: {errors[0]['message']}", errors)


class _OwnerCheck:
    """Whether the writer of an event may newly reference a file (rules (a)-(c) of the module
    docstring), with the answers cached for one batch."""

    def __init__(self, ff, conn, batch):
        self.ff, self.conn = ff, conn
        self._revert: dict[int, bool] = {}
        self._readable: dict[tuple, bool] = {}
        # the records being written hold the file already (the write happened before the
        # events): they must not count as "another record the writer can read"
        self.writing: dict[str, set] = {}
        for e in batch:
            self.writing.setdefault(e.form_id, set()).add(e.record_id)

    def may_attach(self, event, row) -> bool:
        actor = event.actor
        if actor is None or _automation_running():
            return True
        if row["created_by"] is not None and row["created_by"] == actor:
            return True
        if self._is_revert(event):
            return True
        key = (actor, row["id"])
        if key not in self._readable:
            self._readable[key] = _held_in_readable_record(self.ff, self.conn, actor, row["id"], self.writing)
        return self._readable[key]

    def _is_revert(self, event) -> bool:
        # a revert puts back values of the record's own snapshot, never values from the caller
        rev = event.revision_id
        if rev is None:
            return False
        if rev not in self._revert:
            self._revert[rev] = self.conn.execute(sa.select(tables.revisions.c.action).where(
                tables.revisions.c.id == rev)).scalar() == "revert"
        return self._revert[rev]


def _automation_running() -> bool:
    # engine does not import workflows: an automation run is known by the context variable
    # its executor sets around the run's writes (workflows.outbox.current_origin)
    outbox = sys.modules.get("workflows.outbox")
    origin = getattr(outbox, "current_origin", None)
    return origin is not None and origin.get() is not None


def _held_in_readable_record(ff, conn, actor: str, file_id: str, writing: dict[str, set]) -> bool:
    """True when a live record the user `actor` may read holds the file in a visible, unmasked field."""
    from . import permissions
    try:
        subject = permissions.subject(ff, actor, conn)
    except NotFound:
        return False
    if not subject.is_active:
        return False
    for app in ff.installed(conn).values():
        for form in app.forms:
            file_fields = [f for f in form.fields if f.type_name in FILE_FIELD_TYPES]
            if not file_fields:
                continue
            fa = permissions.form_access(ff, subject, app.key, form.key, conn)
            keys = [f.key for f in file_fields if fa.right(f.key) != "hidden" and not fa.is_masked(f.key)]
            if not fa.can("read") or not keys:
                continue
            ft = ff.form_table(form)
            # ids are f_ + hex digits: no LIKE wildcards; the text match only preselects rows
            conds = [ft.c.deleted_at.is_(None), sa.cast(ft.c.data, sa.Text).contains(file_id)]
            if writing.get(form.id):
                conds.append(ft.c.id.notin_(sorted(writing[form.id])))
            rows_where = fa.where("read")
            if rows_where is not None:
                conds.append(rows_where)
            for (data,) in conn.execute(sa.select(ft.c.data).where(*conds).limit(50)):
                doc = storage.loads(data)
                for f in file_fields:
                    if f.key in keys and any(isinstance(x, dict) and x.get("id") == file_id
                                             for x in doc.get(f.id) or []):
                        return True
    return False


def enable() -> None:
    if _check_references not in events._batch_listeners:
        events.subscribe_batch(_check_references)


enable()
