"""Server-rendered pages, read as a spec: they render, escape user text, need CSRF and permission."""
from __future__ import annotations

import re

import io
import json

import pytest

from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import csrf_of

XSS = '<img src=x onerror=alert(1)>'
TICKET_TABLE = "/apps/repair/forms/ticket"


def _ticket(site, **values):
    from engine.records import RecordContext
    return site.ff.records.create("repair", "ticket", {"title": "pump", **values},
                                  ctx=RecordContext(actor=site.admin["id"]))


def test_signed_out_users_are_sent_to_the_sign_in_page(site):
    response = site.app.test_client().get("/apps")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_sign_in_page_is_chinese_by_default(site):
    html = site.app.test_client().get("/login").get_data(as_text=True)
    assert "登录" in html and 'lang="zh-CN"' in html


def test_the_language_switch_shows_english_and_user_labels_in_english(admin_client):
    page = admin_client.get("/apps").get_data(as_text=True)
    admin_client.post("/lang", data={"lang": "en", "next": "/apps", "csrf_token": csrf_of(page)})
    html = admin_client.get("/apps").get_data(as_text=True)
    assert "Equipment repair" in html and "Sign out" in html and "设备报修" not in html


def test_a_label_missing_in_the_ui_language_falls_back_to_the_other_language(admin_client):
    html = admin_client.get(TICKET_TABLE).get_data(as_text=True)  # Chinese UI, "qty" has only English
    assert "报修单" in html and "Quantity" in html


def test_the_apps_page_lists_the_installed_apps(admin_client):
    html = admin_client.get("/apps").get_data(as_text=True)
    assert "设备报修" in html and "/apps/repair" in html


def test_pages_use_no_inline_scripts_or_handlers(admin_client, site):
    _ticket(site)
    for url in ["/apps", "/apps/repair", TICKET_TABLE, TICKET_TABLE + "/new"]:
        html = admin_client.get(url).get_data(as_text=True)
        scripts = html.split("<script")[1:]
        assert all(' src="' in s.split(">")[0] or 'type="application/json"' in s.split(">")[0] for s in scripts), url
        assert " onclick=" not in html and " onerror=" not in html and "javascript:" not in html, url


def test_user_text_is_escaped_in_every_page(admin_client, site):
    record = _ticket(site, title=XSS)
    for url in [TICKET_TABLE, f"{TICKET_TABLE}/records/{record['_id']}", f"{TICKET_TABLE}/records/{record['_id']}/edit"]:
        html = admin_client.get(url).get_data(as_text=True)
        assert XSS not in html, url


def test_an_admin_creates_an_app_from_a_key_and_labels(admin_client, site):
    token = csrf_of(admin_client.get("/apps").get_data(as_text=True))
    response = admin_client.post("/apps/new", data={"key": "visits", "label_zh": "拜访", "label_en": "Visits",
                                                   "csrf_token": token})
    assert response.status_code == 302 and "visits" in site.ff.installed()
    assert response.headers["Location"].endswith("/apps/visits/design?form=main")  # straight into the designer


def test_a_form_post_without_the_csrf_token_is_refused(admin_client, site):
    response = admin_client.post("/apps/new", data={"key": "visits", "label_en": "Visits"})
    assert response.status_code == 400 and "visits" not in site.ff.installed()


def test_importing_a_bundle_installs_the_app(admin_client, site):
    bundle = json.dumps({"key": "shop", "label": {"en": "Shop"}, "forms": [
        {"key": "order", "label": {"en": "Order"}, "fields": [{"key": "item", "type": "text", "label": {"en": "Item"}}]}]}).encode()
    token = csrf_of(admin_client.get("/apps").get_data(as_text=True))
    response = admin_client.post("/apps/import", data={"csrf_token": token, "bundle": (io.BytesIO(bundle), "shop.json")},
                                 content_type="multipart/form-data")
    assert response.status_code == 302 and "shop" in site.ff.installed()


def test_an_invalid_bundle_shows_located_errors(admin_client, site):
    bundle = json.dumps({"key": "shop", "forms": [{"key": "order", "fields": [{"key": "item", "type": "nope"}]}]}).encode()
    token = csrf_of(admin_client.get("/apps").get_data(as_text=True))
    response = admin_client.post("/apps/import", data={"csrf_token": token, "bundle": (io.BytesIO(bundle), "shop.json")},
                                 content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "forms[0].fields[0]" in html and "shop" not in site.ff.installed()


def test_a_template_file_can_be_installed(admin_client, site):
    token = csrf_of(admin_client.get("/apps").get_data(as_text=True))
    response = admin_client.post("/apps/templates", data={"csrf_token": token, "template": "examples/shop.json"})
    assert response.status_code == 302 and len(site.ff.installed()) == 2


def test_export_downloads_the_definition(admin_client):
    response = admin_client.get("/apps/repair/export")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert json.loads(response.data)["key"] == "repair"


def test_a_non_admin_cannot_create_or_import_apps(clerk_client, site):
    html = clerk_client.get("/apps").get_data(as_text=True)
    assert 'id="create-app"' not in html
    response = clerk_client.post("/apps/new", data={"key": "visits", "csrf_token": csrf_of(html)})
    assert response.status_code == 403 and "visits" not in site.ff.installed()


def test_the_table_view_filters_with_an_expression(admin_client, site):
    _ticket(site, title="pump", qty=1)
    _ticket(site, title="valve", qty=5)
    html = admin_client.get(TICKET_TABLE, query_string={"filter": "qty > 2"}).get_data(as_text=True)
    assert "valve" in html and "pump" not in html


def test_a_bad_filter_is_reported_not_a_crash(admin_client):
    response = admin_client.get(TICKET_TABLE, query_string={"filter": "qty >"})
    assert response.status_code == 200 and 'id="view-error"' in response.get_data(as_text=True)


def test_the_table_view_pages_with_a_cursor(admin_client, site):
    for i in range(25):
        _ticket(site, title=f"t{i:02d}", qty=i)
    first = admin_client.get(TICKET_TABLE, query_string={"limit": 20, "sort": "qty"}).get_data(as_text=True)
    # titles as cell text (">t20<"): a bare "t20" can also occur inside a random record id
    assert ">t19<" in first and ">t20<" not in first and 'id="next-page"' in first
    next_url = first.split('id="next-page"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = admin_client.get(next_url).get_data(as_text=True)
    assert "t20" in second and "t24" in second and "t19<" not in second


def test_group_by_shows_counts_per_option(admin_client, site):
    _ticket(site, status="open")
    _ticket(site, status="open")
    _ticket(site, status="closed")
    html = admin_client.get(TICKET_TABLE, query_string={"group": "status"}).get_data(as_text=True)
    url = re.search(r'id="group-counts" data-url="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert admin_client.get(url).json == {"groups": [{"label": "open", "count": 2}, {"label": "closed", "count": 1}]}


def test_group_counts_follow_the_filter(admin_client, site):
    _ticket(site, status="open", qty=1)
    _ticket(site, status="open", qty=5)
    _ticket(site, status="closed", qty=5)
    r = admin_client.get(TICKET_TABLE + "/group-counts", query_string={"group": "status", "filter": "qty = 5"})
    assert r.json == {"groups": [{"label": "closed", "count": 1}, {"label": "open", "count": 1}]}


def test_group_counts_refuse_a_field_that_cannot_be_grouped_with_a_message(admin_client):
    for group in ("nope", "parts"):
        r = admin_client.get(TICKET_TABLE + "/group-counts", query_string={"group": group})
        assert r.status_code == 400 and group in r.json["error"]


def test_the_rows_are_shown_without_waiting_for_the_group_counts(admin_client, site):
    _ticket(site, title="t-one", status="open")
    html = admin_client.get(TICKET_TABLE, query_string={"group": "status"}).get_data(as_text=True)
    assert 'id="group-status"' in html and ">t-one<" in html
    assert '<span class="count">' not in html


def test_bulk_delete_moves_the_selected_records_to_the_trash(admin_client, site):
    a, b = _ticket(site, title="a"), _ticket(site, title="b")
    token = csrf_of(admin_client.get(TICKET_TABLE).get_data(as_text=True))
    admin_client.post(TICKET_TABLE + "/bulk", data={"csrf_token": token, "action": "delete", "ids": [a["_id"]]})
    assert site.ff.records.get("repair", "ticket", a["_id"], include_deleted=True)["_deleted_at"]
    assert site.ff.records.get("repair", "ticket", b["_id"])["_deleted_at"] is None


def test_bulk_restore_brings_records_back(admin_client, site):
    a = _ticket(site, title="a")
    site.ff.records.delete("repair", "ticket", a["_id"])
    token = csrf_of(admin_client.get(TICKET_TABLE).get_data(as_text=True))
    admin_client.post(TICKET_TABLE + "/bulk", data={"csrf_token": token, "action": "restore", "ids": [a["_id"]]})
    assert site.ff.records.get("repair", "ticket", a["_id"])["_deleted_at"] is None


def test_bulk_export_gives_a_csv_of_the_selected_records(admin_client, site):
    a = _ticket(site, title="=cmd()")
    token = csrf_of(admin_client.get(TICKET_TABLE).get_data(as_text=True))
    response = admin_client.post(TICKET_TABLE + "/bulk", data={"csrf_token": token, "action": "export", "ids": [a["_id"]]})
    text = response.get_data(as_text=True)
    assert response.mimetype == "text/csv" and "'=cmd()" in text


def test_the_record_page_shows_who_changed_what(admin_client, site):
    record = _ticket(site, title="old title")
    from engine.records import RecordContext
    site.ff.records.update("repair", "ticket", record["_id"], {"title": "new title"},
                           ctx=RecordContext(actor=site.admin["id"]))
    html = admin_client.get(f"{TICKET_TABLE}/records/{record['_id']}").get_data(as_text=True)
    history = html.split('id="history"')[1]
    assert "old title" in history and "new title" in history and '<span class="who">admin</span>' in history


def test_revert_restores_an_earlier_version(admin_client, site):
    record = _ticket(site, title="first")
    site.ff.records.update("repair", "ticket", record["_id"], {"title": "second"})
    url = f"{TICKET_TABLE}/records/{record['_id']}"
    token = csrf_of(admin_client.get(url).get_data(as_text=True))
    admin_client.post(url + "/revert", data={"csrf_token": token, "version": "1"})
    assert site.ff.records.get("repair", "ticket", record["_id"])["title"] == "first"


def test_a_missing_record_is_a_404_page(admin_client):
    assert admin_client.get(f"{TICKET_TABLE}/records/nope").status_code == 404


def test_the_entry_page_has_a_labelled_widget_per_field(admin_client):
    html = admin_client.get(TICKET_TABLE + "/new").get_data(as_text=True)
    for key in ("title", "qty", "status", "machine"):
        assert f'<label for="f-{key}"' in html and f'id="f-{key}"' in html
    assert "data-add-row" in html and 'id="f-total"' in html


def test_every_field_type_has_a_widget():
    from engine.field_types import registry
    from builder_ui.widgets import WIDGETS
    assert set(registry.names()) <= set(WIDGETS)


def test_every_ui_text_has_a_chinese_translation():
    from pathlib import Path
    from babel.messages.extract import extract_from_dir
    from babel.messages.mofile import read_mo
    root = Path(__file__).resolve().parent.parent / "builder_ui"
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    ids = {m[2] if isinstance(m[2], str) else m[2][0] for m in extract_from_dir(str(root), method_map)}
    with open(root / "translations/zh_Hans_CN/LC_MESSAGES/messages.mo", "rb") as fh:
        catalog = read_mo(fh)
    missing = sorted(i for i in ids if not (catalog.get(i) and catalog.get(i).string))
    assert missing == []
