"""File storage of attachment/image fields: upload, attach, download, access, refusals (SQLite and PostgreSQL)."""
from __future__ import annotations

import copy
import io
from types import SimpleNamespace

import pytest

from engine import api_keys, directory, files, users

PASSWORD = "correct horse battery"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
CLAIMS = "/api/v1/apps/docs/forms/claim/records"

DOCS = {
    "key": "docs", "label": {"en": "Docs"}, "roles": [{"key": "staff", "label": {"en": "Staff"}}],
    "forms": [{"key": "claim", "label": {"en": "Claim"}, "fields": [
        {"key": "title", "type": "text", "label": {"en": "Title"}},
        {"key": "receipt", "type": "attachment", "label": {"en": "Receipt"}},
        {"key": "photo", "type": "image", "label": {"en": "Photo"}},
        {"key": "small", "type": "attachment", "label": {"en": "Small"}, "max_size": 100},
        {"key": "secret", "type": "attachment", "label": {"en": "Secret"}}]}],
    "permissions": [{"key": "staff_claims", "form": "claim", "who": {"roles": ["staff"]},
                     "actions": ["create", "read", "update"], "rows": "_owner = $user.id",
                     "fields": {"secret": "hidden"}, "new_fields": "editable"}],
}


@pytest.fixture
def web(ff):
    from engine.web import create_app
    ff.apps.install(copy.deepcopy(DOCS))
    directory.add_role(ff, "staff")
    u = {}
    for name in ("alice", "bob", "nobody", "admin"):
        u[name] = users.add_user(ff, name, PASSWORD, admin=name == "admin")["id"]
    for name in ("alice", "bob"):
        directory.grant_role(ff, "staff", u[name])
    keys = {name: api_keys.create_key(ff, uid, name=name, write=True)["key"] for name, uid in u.items()}
    app = create_app(ff, TESTING=True)
    return SimpleNamespace(ff=ff, u=u, app=app, client=app.test_client(),
                           hdr=lambda name: {"Authorization": f"Bearer {keys[name]}"})


def upload(web, who, content: bytes, name: str, ctype: str = "application/octet-stream", field: str | None = None):
    data = {"file": (io.BytesIO(content), name, ctype)}
    if field:
        data.update(app="docs", form="claim", field=field)
    return web.client.post("/api/v1/files", data=data, content_type="multipart/form-data", headers=web.hdr(who))


def uploaded(web, who, content, name, ctype="application/octet-stream", field=None) -> dict:
    r = upload(web, who, content, name, ctype, field)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.json


def create(web, who, values) -> str:
    r = web.client.post(CLAIMS, json=values, headers=web.hdr(who))
    assert r.status_code == 201, r.json
    return r.json["_id"]


def download(web, who, rid, field, fid):
    return web.client.get(f"{CLAIMS}/{rid}/files/{field}/{fid}", headers=web.hdr(who))


def test_upload_attach_download_round_trip(web):
    photo = uploaded(web, "alice", PNG, "me.png", "image/png", field="photo")
    assert photo["content_type"] == "image/png" and photo["size"] == len(PNG) and photo["id"].startswith("f_")
    doc = uploaded(web, "alice", b"hello, world\n", "note.txt", "text/plain")
    assert doc == {"id": doc["id"], "name": "note.txt", "size": 13, "content_type": "text/plain"}
    rid = create(web, "alice", {"title": "taxi", "photo": [photo], "receipt": [doc]})
    assert web.client.get(f"{CLAIMS}/{rid}", headers=web.hdr("alice")).json["photo"] == [photo]

    r = download(web, "alice", rid, "photo", photo["id"])
    assert r.status_code == 200 and r.data == PNG
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["Content-Disposition"].startswith("inline;")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "sandbox"
    r = download(web, "alice", rid, "receipt", doc["id"])
    assert r.status_code == 200 and r.data == b"hello, world\n"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="note.txt"')
    assert r.headers["Content-Security-Policy"] == "sandbox"
    # the same content is stored once, by its hash, under data_dir/files
    again = uploaded(web, "bob", PNG, "copy.png", "image/png")
    assert again["id"] != photo["id"]
    stored = [p for p in files.root(web.ff).rglob("*") if p.is_file()]
    assert len(stored) == 2 and all(len(p.name) == 64 for p in stored)
    assert download(web, "admin", rid, "photo", photo["id"]).data == PNG


def test_a_caller_who_cannot_read_the_record_gets_404_and_no_bytes(web):
    doc = uploaded(web, "alice", b"alice's private receipt", "r.txt", "text/plain")
    rid = create(web, "alice", {"title": "mine", "receipt": [doc]})
    r = download(web, "bob", rid, "receipt", doc["id"])  # staff, but outside his rows
    assert r.status_code == 404 and b"private" not in r.data
    r = download(web, "nobody", rid, "receipt", doc["id"])  # no right on the form
    assert r.status_code == 403 and b"private" not in r.data
    r = web.client.get(f"{CLAIMS}/{rid}/files/receipt/{doc['id']}")  # not signed in
    assert r.status_code == 401 and b"private" not in r.data
    assert download(web, "alice", rid, "receipt", doc["id"]).status_code == 200


def test_files_of_a_hidden_field_are_not_downloadable(web):
    rid = create(web, "alice", {"title": "mine"})
    secret = uploaded(web, "admin", b"top secret", "s.txt", "text/plain")
    r = web.client.patch(f"{CLAIMS}/{rid}", json={"secret": [secret]}, headers=web.hdr("admin"))
    assert r.status_code == 200, r.json
    r = download(web, "alice", rid, "secret", secret["id"])
    assert r.status_code == 404 and b"top secret" not in r.data
    # nor through a visible field of the same record
    r = download(web, "alice", rid, "receipt", secret["id"])
    assert r.status_code == 404 and b"top secret" not in r.data
    assert download(web, "admin", rid, "secret", secret["id"]).data == b"top secret"
    # and a hidden field cannot be uploaded for
    r = upload(web, "alice", b"x", "x.txt", field="secret")
    assert r.status_code == 400 and r.json["errors"][0]["location"] == "field"


def test_a_file_of_another_record_is_not_reachable_through_this_one(web):
    doc = uploaded(web, "alice", b"only in record a", "a.txt", "text/plain")
    a = create(web, "alice", {"title": "a", "receipt": [doc]})
    b = create(web, "alice", {"title": "b"})
    bobs = create(web, "bob", {"title": "bob's"})
    for rid in (b, bobs):
        for who in ("alice", "bob", "admin"):
            r = download(web, who, rid, "receipt", doc["id"])
            assert r.status_code == 404 and b"only in record a" not in r.data
    assert download(web, "alice", a, "receipt", doc["id"]).status_code == 200
    assert download(web, "alice", a, "title", doc["id"]).status_code == 404  # not a file field
    assert download(web, "alice", a, "receipt", "f_" + "0" * 32).status_code == 404


def test_path_traversal_names_are_neutralised(web, tmp_path):
    # (the test client cannot send these: backslashes are dropped, CR/LF break the part header)
    assert files.safe_name("..\\..\\windows\\win.ini") == "win.ini"
    assert files.safe_name("a\r\nSet-Cookie: x=1.txt") == "aSet-Cookie: x=1.txt"
    cases = {"../../etc/passwd": "passwd", "..": "file",
             "a\tb\x07c.txt": "abc.txt", "/abs/.hidden": "hidden",
             "报告\x00.pdf": "报告.pdf"}
    for given, expected in cases.items():
        out = uploaded(web, "alice", given.encode(), given, "text/plain")
        assert out["name"] == expected, given
    assert files.safe_name("x" * 300 + ".pdf").endswith(".pdf") and len(files.safe_name("x" * 300 + ".pdf")) == 255
    root = files.root(web.ff).resolve()
    for p in root.rglob("*"):
        assert p.resolve().is_relative_to(root)
    assert not (root.parent.parent / "etc").exists()
    odd = uploaded(web, "alice", b"odd", "we'ird\x1b[31m名.txt", "text/plain")
    assert odd["name"] == "we'ird[31m名.txt"
    rid = create(web, "alice", {"receipt": [odd]})
    r = download(web, "alice", rid, "receipt", odd["id"])
    assert r.status_code == 200 and r.headers["Content-Disposition"] == (
        "attachment; filename=\"we'ird[31m_.txt\"; filename*=UTF-8''we%27ird%5B31m%E5%90%8D.txt")


def test_an_oversize_upload_is_a_413_problem(web, monkeypatch):
    r = upload(web, "alice", b"x" * 101, "big.bin", field="small")
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert "100" in r.json["detail"]
    assert upload(web, "alice", b"x" * 100, "ok.bin", field="small").status_code == 201
    monkeypatch.setattr(files, "DEFAULT_MAX_SIZE", 1000)
    r = upload(web, "alice", b"x" * 1001, "big.bin")
    assert r.status_code == 413 and r.json["status"] == 413
    assert not [p for p in files.root(web.ff).rglob("*") if p.is_file() and p.stat().st_size > 100]


def test_svg_and_fake_png_are_refused_for_image_fields(web):
    r = upload(web, "alice", SVG, "x.svg", "image/svg+xml", field="photo")
    assert r.status_code == 422 and "PNG, JPEG, GIF" in r.json["detail"] and "SVG" in r.json["detail"]
    r = upload(web, "alice", b"GIF? no, text", "fake.png", "image/png", field="photo")
    assert r.status_code == 422 and "not one of them" in r.json["detail"]
    # uploaded without a field, a fake PNG is stored as octet-stream and an SVG as SVG ...
    fake = uploaded(web, "alice", b"not an image", "fake.png", "image/png")
    assert fake["content_type"] == "application/octet-stream"
    svg = uploaded(web, "alice", SVG, "x.svg", "image/svg+xml")
    assert svg["content_type"] == "image/svg+xml"
    # ... and neither can go into an image field, whatever the value claims
    for value in (svg, {**fake, "content_type": "image/png"}):
        r = web.client.post(CLAIMS, json={"photo": [value]}, headers=web.hdr("alice"))
        assert r.status_code == 422, r.json
        assert r.json["errors"][0]["location"].startswith("photo")
    # an SVG attachment downloads as an attachment, never rendered
    rid = create(web, "alice", {"receipt": [svg]})
    r = download(web, "alice", rid, "receipt", svg["id"])
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
    assert r.headers["Content-Type"] == "application/octet-stream"


def test_references_to_unknown_or_misdescribed_files_are_refused(web):
    doc = uploaded(web, "alice", b"abc", "a.txt", "text/plain")
    for value, code in ((dict(doc, id="f_" + "1" * 32), "unknown"), (dict(doc, size=1), "mismatch")):
        r = web.client.post(CLAIMS, json={"receipt": [value]}, headers=web.hdr("alice"))
        assert r.status_code == 422 and r.json["errors"][0]["code"] == code, r.json
    rid = create(web, "alice", {"receipt": [doc]})
    r = web.client.patch(f"{CLAIMS}/{rid}", json={"receipt": [doc, dict(doc, id="f_" + "2" * 32)]},
                         headers=web.hdr("alice"))
    assert r.status_code == 422
    assert web.ff.records.get("docs", "claim", rid)["_version"] == 1


def test_uploads_need_a_caller_that_may_write(web):
    r = web.client.post("/api/v1/files", data={"file": (io.BytesIO(b"x"), "x.txt")}, content_type="multipart/form-data")
    assert r.status_code == 401
    ro = api_keys.create_key(web.ff, web.u["alice"], name="ro", write=False)["key"]
    r = web.client.post("/api/v1/files", data={"file": (io.BytesIO(b"x"), "x.txt")},
                        content_type="multipart/form-data", headers={"Authorization": f"Bearer {ro}"})
    assert r.status_code == 403
    assert upload(web, "nobody", b"x", "x.txt", field="receipt").status_code == 403
    r = web.client.post("/api/v1/files", json={"file": "x"}, headers=web.hdr("alice"))
    assert r.status_code == 415


def test_the_entry_page_has_a_working_file_input(web):
    """The attachment/image widgets are file inputs (entry.js uploads to /api/v1/files and keeps the values)."""
    from tests.ui_conftest import sign_in
    client = web.app.test_client()
    assert sign_in(client, "alice", PASSWORD).status_code == 302
    html = client.get("/apps/docs/forms/claim/new").get_data(as_text=True)
    assert 'type="file" data-file-input multiple accept="image/png,image/jpeg,image/gif,image/webp"' in html
    assert 'data-kind="files"' in html and "Coming with file storage" not in html
    # a cookie session uploads with the page's CSRF token, like entry.js
    import re
    token = re.search(r'data-csrf="([^"]+)"', html).group(1)
    r = client.post("/api/v1/files", data={"file": (io.BytesIO(PNG), "p.png", "image/png"), "app": "docs",
                                          "form": "claim", "field": "photo"},
                    content_type="multipart/form-data", headers={"X-CSRFToken": token})
    assert r.status_code == 201 and r.json["content_type"] == "image/png"
    r = client.post("/api/v1/files", data={"file": (io.BytesIO(PNG), "p.png")}, content_type="multipart/form-data")
    assert r.status_code == 403  # no CSRF token
