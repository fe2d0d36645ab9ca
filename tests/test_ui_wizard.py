"""The import wizard: the preview endpoint (mapping, row errors, nothing written), the page, and in the
browser: import 1,000 rows from Excel with ~3% bad rows, see the row errors, import the good rows."""
from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.test_spreadsheets import CRM_APP, count, xlsx_bytes
from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import CLERK, CLERK_PW, _site, browser_sign_in, csrf_of, serve

from tests.ui_conftest import SCREENSHOTS as SHOTS  # noqa: E402
PREVIEW = "/api/v1/apps/crm/forms/contact/import/preview"
WIZARD = "/apps/crm/forms/contact/import"


@pytest.fixture
def crm_site(make_ff, sqlite_url):
    ff = make_ff(sqlite_url)
    ff.apps.install(copy.deepcopy(CRM_APP))
    return _site(ff)


@pytest.fixture
def admin(crm_site):
    client = client_of(crm_site)
    client.token = csrf_of(client.get("/apps").get_data(as_text=True))
    return client


def _rows(n: int, bad_every: int = 33) -> list[list]:
    """n data rows; every `bad_every`-th has an invalid phone number."""
    rows = [["编号", "姓名", "手机号", "金额", "传真"]]
    for i in range(1, n + 1):
        phone = "12345" if i % bad_every == 0 else f"138{i:08d}"
        rows.append([f"C{i:04d}", f"客户{i}", phone, i, "x"])
    return rows


def _preview(client, data: bytes, mapping=None, name="contacts.xlsx"):
    form = {"file": (io.BytesIO(data), name), "lang": "zh-CN"}
    if mapping is not None:
        form["mapping"] = json.dumps(mapping)
    return client.post(PREVIEW, data=form, content_type="multipart/form-data",
                       headers={"X-CSRFToken": client.token})


def test_the_preview_proposes_a_mapping_and_lists_row_errors_without_writing(admin, crm_site):
    r = _preview(admin, xlsx_bytes(_rows(100)))
    assert r.status_code == 200, r.get_data(as_text=True)
    p = r.get_json()
    assert [(c["header"], c["field"]) for c in p["proposed"]] == [
        ("编号", "code"), ("姓名", "name"), ("手机号", "phone"), ("金额", "amount"), ("传真", None)]
    assert p["rows"] == p["checked"] == 100 and p["failed"] == 3
    assert p["errors"][0]["location"] == "row 34, 手机号" and "phone" in p["errors"][0]["message"]
    assert p["sample"][0]["cells"][:2] == ["C0001", "客户1"]
    assert p["proposed"][4]["reason"].startswith("matches no field")
    assert "double" not in [f["key"] for f in p["fields"]]  # computed fields cannot be imported
    assert count(crm_site.ff) == 0


def test_the_preview_follows_the_mapping_the_user_chose(admin, crm_site):
    data = xlsx_bytes([["Kode", "Who", "Tel"], ["A1", "x", "12345"], ["A2", "y", "13812345678"]])
    p = _preview(admin, data).get_json()
    assert [c["field"] for c in p["proposed"]] == [None, None, None] and p["refused"]["code"] == "no_columns"
    p = _preview(admin, data, {"Kode": "code", "Who": "name", "Tel": None}).get_json()
    assert p["refused"] is None and p["failed"] == 0 and p["checked"] == 2
    p = _preview(admin, data, {"Kode": "code", "Who": "name", "Tel": "phone"}).get_json()
    assert p["failed"] == 1 and p["errors"][0]["location"] == "row 2, Tel"
    p = _preview(admin, data, {"Kode": "code", "Who": "code"}).get_json()
    assert p["refused"]["code"] == "duplicate_column"
    assert count(crm_site.ff) == 0


def test_the_preview_finds_duplicates_and_required_fields_through_the_lifecycle(admin):
    data = xlsx_bytes([["编号", "姓名"], ["A1", "x"], ["A1", "y"], ["A3", None]])
    p = _preview(admin, data).get_json()
    assert sorted((e["row"], e["code"]) for e in p["errors"]) == [(3, "unique"), (4, "required")]


def test_the_preview_needs_the_import_right_and_a_file(admin, crm_site):
    assert admin.post(PREVIEW, data={}, content_type="multipart/form-data",
                      headers={"X-CSRFToken": admin.token}).status_code == 400
    assert admin.post(PREVIEW, data={"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                      content_type="multipart/form-data").status_code in (400, 403)  # no CSRF token
    client = crm_site.app.test_client()
    assert client.post(PREVIEW, data={"file": (io.BytesIO(b"a\n"), "x.csv")},
                       content_type="multipart/form-data").status_code == 401


def test_the_preview_is_documented_in_the_openapi_document(admin):
    doc = admin.get("/api/v1/openapi.json").get_json()
    assert "post" in doc["paths"]["/apps/{app}/forms/{form}/import/preview"]
    assert "post" in doc["paths"]["/apps/{app}/forms/{form}/rules/check"]


def test_the_wizard_page_renders_in_chinese_without_inline_scripts(admin):
    html = admin.get(WIZARD).get_data(as_text=True)
    assert "导入" in html and 'id="wizard-file"' in html and "/import/preview" in html
    assert " onclick=" not in html
    scripts = html.split("<script")[1:]
    assert all(' src="' in s.split(">")[0] or 'type="application/json"' in s.split(">")[0] for s in scripts)


def test_the_wizard_page_needs_the_import_right(crm_site):
    crm_site.ff.apps.install({**copy.deepcopy(CRM_APP), "roles": [{"key": "viewer"}], "permissions": [
        {"key": "everyone_reads", "form": "contact", "who": {"everyone": True}, "actions": ["read"],
         "new_fields": "readonly"}]})
    client = client_of(crm_site, CLERK, CLERK_PW)
    assert client.get(WIZARD).status_code == 403
    assert client.get("/apps/crm/forms/contact").status_code == 200


def test_the_table_view_links_to_the_wizard(admin):
    html = admin.get("/apps/crm/forms/contact").get_data(as_text=True)
    assert f'href="{WIZARD}"' in html


@pytest.fixture
def live_crm(crm_site):
    url, stop = serve(crm_site.app)
    crm_site.url = url
    yield crm_site
    stop()


def test_import_1000_rows_from_excel_with_errors_shown(live_crm, page, tmp_path):
    rows = _rows(1000)  # every 33rd row has a bad phone number: 30 bad rows (3%)
    path = tmp_path / "客户.xlsx"
    path.write_bytes(xlsx_bytes(rows))
    base = live_crm.url
    browser_sign_in(page, base)
    page.goto(base + "/apps/crm/forms/contact")
    page.click(f"a[href='{WIZARD}']")
    page.set_input_files("#wizard-file", str(path))
    page.click("#wizard-upload")
    expect(page.locator("#wizard[data-checked='1']")).to_have_count(1)
    expect(page.locator("#map-2")).to_have_value("phone")
    expect(page.locator("#map-4")).to_have_value("")  # 传真 matches no field: ignored
    expect(page.locator("#preview-summary")).to_contain_text("1000")
    expect(page.locator("#preview-summary")).to_contain_text("30")
    expect(page.locator("#preview-errors li")).to_have_count(30)
    expect(page.locator("#preview-errors li").first).to_contain_text("row 34, 手机号")
    assert count(live_crm.ff) == 0  # the preview wrote nothing

    # ignore the phone column: every row is valid now
    page.select_option("#map-2", "")
    expect(page.locator("#preview-errors li")).to_have_count(0)
    expect(page.locator("#preview-summary")).to_have_text("所有检查过的行都有效。")
    page.select_option("#map-2", "phone")
    expect(page.locator("#preview-errors li")).to_have_count(30)

    page.check("#mode-good")
    page.click("#wizard-run")
    expect(page.locator("#wizard[data-done='1']")).to_have_count(1, timeout=120_000)
    expect(page.locator("#result-created")).to_contain_text("970")
    expect(page.locator("#result-failed")).to_contain_text("30")
    expect(page.locator("#import-progress")).to_have_attribute("value", "1000")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "import-wizard.png"), full_page=True)
    assert count(live_crm.ff) == 970
    page.click("#result-link")
    page.wait_for_url(base + "/apps/crm/forms/contact")
    expect(page.locator("#records tbody tr")).to_have_count(50)
