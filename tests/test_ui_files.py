"""Files in the UI: the record page shows attachments as download links (name and size) and images as
thumbnails linking to the full image; table cells carry the same files for table.js; file names are
user text and are always escaped. SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import html
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from engine import files
from engine.records import RecordContext
from tests.test_files import DOCS
from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import ADMIN, ADMIN_PW, csrf_of

XSS_NAME = '<img src=x onerror="alert(1)">.png'


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (0, 128, 0)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def docs(site):
    """The docs app on the UI site: a claim with an image (named like an XSS payload) and a text file."""
    site.ff.apps.install(copy.deepcopy(DOCS))
    who = site.admin["id"]
    photo = files.save(site.ff, io.BytesIO(_png()), name=XSS_NAME, declared_type="image/png", actor=who)
    note = files.save(site.ff, io.BytesIO(b"x" * 1536), name="note & co.txt", declared_type="text/plain", actor=who)
    record = site.ff.records.create("docs", "claim", {"title": "taxi", "photo": [photo], "receipt": [note]},
                                    ctx=RecordContext(actor=who))
    client = client_of(site)
    base = f"/api/v1/apps/docs/forms/claim/records/{record['_id']}/files"
    return site, client, record["_id"], photo, note, base


def test_the_record_page_links_an_attachment_by_name_and_size(docs):
    _site, client, rid, _photo, note, base = docs
    page = client.get(f"/apps/docs/forms/claim/records/{rid}").get_data(as_text=True)
    assert f'<a href="{base}/receipt/{note["id"]}" download="note &amp; co.txt">note &amp; co.txt</a>' in page
    assert "(1.5 KB)" in page


def test_the_record_page_shows_an_image_as_a_thumbnail_linking_to_the_full_image(docs):
    _site, client, rid, photo, _note, base = docs
    page = client.get(f"/apps/docs/forms/claim/records/{rid}").get_data(as_text=True)
    full = f"{base}/photo/{photo['id']}"
    img = re.search(r'<a href="([^"]+)"[^>]*><img class="thumb" src="([^"]+)" alt="([^"]*)" width="160" height="160"',
                    page)
    assert img, "no thumbnail on the record page"
    assert img.group(1) == full and html.unescape(img.group(2)) == f"{full}/thumbnail?size=160"
    assert html.unescape(img.group(3)) == XSS_NAME


def test_the_record_pages_links_and_thumbnail_work_for_the_signed_in_user(docs):
    _site, client, rid, photo, note, base = docs
    assert client.get(f"{base}/receipt/{note['id']}").data == b"x" * 1536
    r = client.get(f"{base}/photo/{photo['id']}/thumbnail?size=160")
    assert r.status_code == 200 and r.mimetype == "image/png"


def test_file_names_are_escaped_everywhere(docs):
    _site, client, rid, _photo, _note, _base = docs
    for url in (f"/apps/docs/forms/claim/records/{rid}", "/apps/docs/forms/claim"):
        page = client.get(url).get_data(as_text=True)
        assert '<img src=x onerror' not in page, url
        assert "&lt;img src=x onerror=" in page, url


def test_table_cells_carry_the_files_for_table_js(docs):
    _site, client, rid, photo, note, _base = docs
    page = client.get("/apps/docs/forms/claim?cols=title&cols=photo&cols=receipt").get_data(as_text=True)
    api = 'data-api="/api/v1/apps/docs/forms/claim/records/"'
    assert f'<span class="ff-files" data-kind="image" data-field="photo" {api}>' in page
    assert f'<span class="ff-files" data-kind="attachment" data-field="receipt" {api}>' in page
    assert f'data-id="{note["id"]}" data-name="note &amp; co.txt" data-size="1.5 KB"' in page
    assert f'data-id="{photo["id"]}"' in page and f'<tr data-id="{rid}"' in page


def test_the_table_script_builds_links_and_thumbnails_with_dom_methods_only():
    script = (Path(__file__).resolve().parent.parent / "builder_ui" / "static" / "table.js").read_text("utf-8")
    part = script[script.index("// Files in cells"):]
    assert "/thumbnail?size=" in part and "setAttribute(\"alt\", name)" in part
    assert "innerHTML" not in part and "insertAdjacentHTML" not in part


def test_a_csv_export_shows_files_as_plain_text(docs):
    _site, client, rid, _photo, _note, _base = docs
    token = csrf_of(client.get("/apps/docs/forms/claim").get_data(as_text=True))
    r = client.post("/apps/docs/forms/claim/bulk", data={"action": "export", "ids": [rid], "csrf_token": token})
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and "note & co.txt (1.5 KB)" in text and "<span" not in text


def test_the_content_security_policy_allows_same_origin_images(docs):
    _site, client, rid, *_ = docs
    csp = client.get(f"/apps/docs/forms/claim/records/{rid}").headers["Content-Security-Policy"]
    assert "img-src 'self'" in csp


def test_in_the_browser_thumbnails_load_and_names_stay_text(live_site, page):
    from playwright.sync_api import expect

    from tests.ui_conftest import browser_sign_in
    site = live_site
    site.ff.apps.install(copy.deepcopy(DOCS))
    who = site.admin["id"]
    photo = files.save(site.ff, io.BytesIO(_png()), name=XSS_NAME, declared_type="image/png", actor=who)
    note = files.save(site.ff, io.BytesIO(b"hello"), name="<marquee>note.txt", declared_type="text/plain", actor=who)
    rid = site.ff.records.create("docs", "claim", {"title": "taxi", "photo": [photo], "receipt": [note]},
                                 ctx=RecordContext(actor=who))["_id"]
    page.on("dialog", lambda d: d.dismiss())
    browser_sign_in(page, site.url)
    page.goto(site.url + "/apps/docs/forms/claim?cols=title&cols=photo&cols=receipt")
    thumb = page.locator("#records img.thumb")
    expect(thumb).to_have_js_property("complete", True)  # (the page's CSP forbids wait_for_function's eval)
    assert thumb.evaluate("img => img.naturalWidth") > 0
    assert thumb.get_attribute("alt") == XSS_NAME and thumb.get_attribute("src").endswith("/thumbnail?size=64")
    assert page.locator("#records a[download]").text_content() == "<marquee>note.txt"
    assert page.locator("#records marquee").count() == 0
    page.goto(f"{site.url}/apps/docs/forms/claim/records/{rid}")
    full = page.locator("#values img.thumb")
    expect(full).to_have_js_property("complete", True)
    assert full.evaluate("img => img.naturalWidth") > 0
    assert page.evaluate("window.__xss") is None and page.locator("#values marquee").count() == 0
