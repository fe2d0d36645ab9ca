"""Thumbnails of image files (GET …/files/{field}/{file_id}/thumbnail): the download's access rules,
bounded sizes, a cache by content and size, and a 422 (never a 500) for anything that is not a
decodable, reasonably sized image. SQLite and PostgreSQL."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from engine import files
from tests.test_files import CLAIMS, uploaded, web  # noqa: F401  (web: the fixture)


def png(width: int, height: int, color=(200, 30, 30, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims width×height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def attach(web, who, content: bytes, name: str, field="photo", ctype="image/png") -> tuple[str, dict]:
    f = uploaded(web, who, content, name, ctype)
    r = web.client.post(CLAIMS, json={field: [f]}, headers=web.hdr(who))
    assert r.status_code == 201, r.json
    return r.json["_id"], f


def thumb(web, who, rid, fid, field="photo", size=None, headers=None):
    query = "" if size is None else f"?size={size}"
    return web.client.get(f"{CLAIMS}/{rid}/files/{field}/{fid}/thumbnail{query}",
                          headers={**web.hdr(who), **(headers or {})})


def test_a_png_gets_a_png_thumbnail_no_larger_than_the_size(web):
    rid, f = attach(web, "alice", png(800, 400), "wide.png")
    r = thumb(web, "alice", rid, f["id"], size=64)
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert Image.open(io.BytesIO(r.data)).size == (64, 32)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "private, no-cache" and r.headers["ETag"]


def test_the_default_size_is_160(web):
    rid, f = attach(web, "alice", png(400, 800), "tall.png")
    r = thumb(web, "alice", rid, f["id"])
    assert r.status_code == 200 and Image.open(io.BytesIO(r.data)).size == (80, 160)


def test_a_small_image_is_not_enlarged(web):
    rid, f = attach(web, "alice", png(20, 10), "small.png")
    assert Image.open(io.BytesIO(thumb(web, "alice", rid, f["id"], size=320).data)).size == (20, 10)


def test_a_jpeg_gets_a_jpeg_thumbnail(web):
    rid, f = attach(web, "alice", jpeg(640, 480), "photo.jpg", ctype="image/jpeg")
    r = thumb(web, "alice", rid, f["id"], size=160)
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(r.data)).size == (160, 120)


def test_a_repeated_request_is_served_from_the_cache_without_decoding(web, monkeypatch):
    rid, f = attach(web, "alice", png(300, 300), "p.png")
    decoded = []
    real = files.render_thumbnail
    monkeypatch.setattr(files, "render_thumbnail", lambda *a: decoded.append(a) or real(*a))
    first = thumb(web, "alice", rid, f["id"], size=64)
    second = thumb(web, "alice", rid, f["id"], size=64)
    assert first.status_code == second.status_code == 200 and first.data == second.data
    assert len(decoded) == 1
    row = files.get(web.ff, f["id"])
    assert files.thumbnail_path(web.ff, row["sha256"], 64, "image/png").read_bytes() == first.data


def test_each_size_is_cached_separately(web, monkeypatch):
    rid, f = attach(web, "alice", png(300, 300), "p.png")
    decoded = []
    real = files.render_thumbnail
    monkeypatch.setattr(files, "render_thumbnail", lambda *a: decoded.append(a[1]) or real(*a))
    for size in (64, 160, 64, 160):
        assert thumb(web, "alice", rid, f["id"], size=size).status_code == 200
    assert decoded == [64, 160]


def test_a_matching_etag_is_a_304_without_a_body(web):
    rid, f = attach(web, "alice", png(100, 100), "p.png")
    etag = thumb(web, "alice", rid, f["id"]).headers["ETag"]
    r = thumb(web, "alice", rid, f["id"], headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.data == b""


def test_a_size_outside_the_fixed_set_is_a_400_problem(web):
    rid, f = attach(web, "alice", png(100, 100), "p.png")
    for size in ("100", "0", "-64", "big", "6400", "²", "１６０"):
        r = thumb(web, "alice", rid, f["id"], size=size)
        assert r.status_code == 400 and r.mimetype == "application/problem+json", size
        assert r.json["errors"][0]["location"] == "size" and "64, 160, 320" in r.json["detail"]


def test_a_file_that_is_not_an_image_has_no_thumbnail(web):
    rid, f = attach(web, "alice", b"just text", "note.txt", field="receipt", ctype="text/plain")
    r = thumb(web, "alice", rid, f["id"], field="receipt")
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert "not a PNG, JPEG, GIF or WebP image" in r.json["detail"]


def test_a_decompression_bomb_is_a_422_not_a_500(web):
    rid, f = attach(web, "alice", png_claiming(100_000, 100_000), "bomb.png")
    assert f["content_type"] == "image/png" and f["size"] < 200
    r = thumb(web, "alice", rid, f["id"])
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert "pixels" in r.json["detail"]


def test_an_image_past_the_pixel_limit_is_refused_before_decoding(web):
    rid, f = attach(web, "alice", png_claiming(8000, 8000), "huge.png")
    r = thumb(web, "alice", rid, f["id"])
    assert r.status_code == 422 and "8000×8000" in r.json["detail"]


def test_an_undecodable_image_is_a_422(web):
    rid, f = attach(web, "alice", b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, "broken.png")
    r = thumb(web, "alice", rid, f["id"])
    assert r.status_code == 422 and "cannot be decoded" in r.json["detail"]
    assert not [p for p in files.root(web.ff).glob("thumbs/**/*") if p.is_file()]  # nothing cached


@pytest.mark.parametrize("who, status", [("bob", 404), ("nobody", 403), (None, 401)])
def test_a_caller_who_cannot_download_the_image_gets_no_thumbnail(web, who, status):
    rid, f = attach(web, "alice", png(100, 100), "private.png")
    url = f"{CLAIMS}/{rid}/files/photo/{f['id']}/thumbnail"
    r = web.client.get(url, headers=web.hdr(who) if who else {})
    assert r.status_code == status and r.mimetype == "application/problem+json"
    assert r.status_code == web.client.get(url[:-len("/thumbnail")], headers=web.hdr(who) if who else {}).status_code


def test_a_file_of_another_record_or_field_has_no_thumbnail_here(web):
    rid, f = attach(web, "alice", png(100, 100), "p.png")
    other = web.client.post(CLAIMS, json={"title": "other"}, headers=web.hdr("alice")).json["_id"]
    assert thumb(web, "alice", other, f["id"]).status_code == 404
    assert thumb(web, "alice", rid, f["id"], field="receipt").status_code == 404
    assert thumb(web, "alice", rid, f["id"], field="secret").status_code == 404
