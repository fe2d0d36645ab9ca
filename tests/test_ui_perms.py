"""The permissions editor and "view as user": who may open them, what they show, saving with If-Match,
and in the browser: edit a set, check its row rule, save, then view the form as a member."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.test_spreadsheets import CRM_APP
from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import ADMIN, ADMIN_PW, CLERK, CLERK_PW, _site, browser_sign_in, serve

from tests.ui_conftest import SCREENSHOTS as SHOTS  # noqa: E402
PERMS = "/apps/crm/permissions"
VIEW_AS = "/apps/crm/forms/contact/view-as"


def _app(**set_props):
    pset = {"key": "members", "form": "contact", "who": {"roles": ["member"]}, "actions": ["read"],
            "new_fields": "readonly", **set_props}
    return {**copy.deepcopy(CRM_APP), "roles": [{"key": "member"}, {"key": "lead"}], "permissions": [
        pset, {"key": "leads", "who": {"roles": ["lead"]}, "actions": ["manage_permissions", "edit_definition"]}]}


@pytest.fixture
def crm_site(make_ff, sqlite_url):
    from engine import directory
    ff = make_ff(sqlite_url)
    ff.apps.install(_app())
    site = _site(ff)
    directory.add_role(ff, "member")
    directory.add_role(ff, "lead")
    directory.grant_role(ff, "member", site.clerk["id"])
    for code, name, phone, score in [("C1", "张三", "13812345678", 9), ("C2", "李四", "13912345678", 2)]:
        ff.records.create("crm", "contact", {"code": code, "name": name, "phone": phone, "score": score})
    return site


def _client(site, user=ADMIN, pw=ADMIN_PW):
    return client_of(site, user, pw)


def test_the_editor_lists_the_sets_with_their_rights(crm_site):
    html = _client(crm_site).get(PERMS).get_data(as_text=True)
    assert 'id="pset-0"' in html and 'id="pset-1"' in html and 'value="members"' in html
    assert 'data-etag="&#34;crm-' in html or 'data-etag="&quot;crm-' in html
    assert "/api/v1/apps/crm" in html and "所有登录用户" in html


def test_only_admins_and_manage_permissions_holders_open_the_editor(crm_site):
    from engine import directory, users
    clerk = _client(crm_site, CLERK, CLERK_PW)
    assert clerk.get(PERMS).status_code == 403
    assert clerk.get(VIEW_AS).status_code == 403
    lead = users.add_user(crm_site.ff, "lead", "the lead's long password")
    directory.grant_role(crm_site.ff, "lead", lead["id"])
    assert _client(crm_site, "lead", "the lead's long password").get(PERMS).status_code == 200


def test_view_as_shows_the_users_rights_records_and_masking(crm_site):
    crm_site.ff.apps.install(_app(rows="score > 5", fields={"email": "hidden"}))
    html = _client(crm_site).get(VIEW_AS, query_string={"as": CLERK}).get_data(as_text=True)
    assert "张三" in html and "李四" not in html  # the row rule
    assert "138****5678" in html and "13812345678" not in html  # masked for the clerk
    assert "邮箱" in html  # in the rights table ...
    assert html.count(">邮箱<") == 1  # ... but not a column of the records
    admin_view = _client(crm_site).get(VIEW_AS, query_string={"as": ADMIN}).get_data(as_text=True)
    assert "13812345678" in admin_view and "李四" in admin_view


def test_view_as_explains_a_record_and_a_field(crm_site):
    crm_site.ff.apps.install(_app(rows="score > 5"))
    from engine.queries import list_records
    ff = crm_site.ff
    _a, form = ff.form("crm", "contact")
    with ff.db.read() as conn:
        ids = {r["code"]: r["_id"] for r in list_records(conn, ff, form).records}
    client = _client(crm_site)
    html = client.get(VIEW_AS, query_string={"as": CLERK, "record": ids["C2"]}).get_data(as_text=True)
    assert 'id="explain-record"' in html and "score &gt; 5" in html and "不可见" in html
    html = client.get(VIEW_AS, query_string={"as": CLERK, "record": ids["C1"]}).get_data(as_text=True)
    assert "members" in html and 'id="as-record"' in html
    html = client.get(VIEW_AS, query_string={"as": CLERK, "field": "phone"}).get_data(as_text=True)
    assert 'id="explain-field"' in html and "masked" in html
    assert client.get(VIEW_AS, query_string={"as": "nobody"}).status_code == 404
    entries = ff.db.engine.connect().execute(__import__("sqlalchemy").text(
        "select count(*) from ff_audit where action = 'access.viewed_as'")).scalar()
    assert entries == 3


def test_the_rule_check_endpoint(crm_site):
    client = _client(crm_site)
    from tests.ui_conftest import csrf_of
    token = csrf_of(client.get(PERMS).get_data(as_text=True))
    url = "/api/v1/apps/crm/forms/contact/rules/check"
    ok = client.post(url, json={"source": "_owner = $user.id"}, headers={"X-CSRFToken": token}).get_json()
    assert ok == {"problem": None}
    bad = client.post(url, json={"source": "nope > 1"}, headers={"X-CSRFToken": token}).get_json()
    assert "nope" in bad["problem"]
    sql = client.post(url, json={"source": "LEN(name) > 3"}, headers={"X-CSRFToken": token}).get_json()
    assert bad["problem"] and sql["problem"]
    clerk = _client(crm_site, CLERK, CLERK_PW)
    assert clerk.post(url, json={"source": "1"}, headers={"X-CSRFToken": token}).status_code in (400, 403)


@pytest.fixture
def live_crm(crm_site):
    url, stop = serve(crm_site.app)
    crm_site.url = url
    yield crm_site
    stop()


def test_edit_a_set_save_it_and_view_as_a_member(live_crm, page):
    base, ff = live_crm.url, live_crm.ff
    browser_sign_in(page, base)
    page.goto(base + PERMS)
    page.select_option("#right-0-contact-phone", "hidden")
    page.fill("#rows-0", "nope > 1")
    expect(page.locator("#rule-0")).to_contain_text("nope")
    page.fill("#rows-0", "score > 5")
    expect(page.locator("#rule-0")).to_have_text("规则可以使用。")
    page.check("#pset-0 input[data-p=action][value=export]")
    page.click("#save-permissions")
    expect(page.locator("#perm-editor[data-saved='1']")).to_have_count(1)
    members = json.loads(ff.apps.export("crm"))["permissions"][0]
    assert members["fields"] == {"phone": "hidden"} and members["rows"] == "score > 5"
    assert members["actions"] == ["read", "export"] and members["who"] == {"roles": ["member"]}
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "permissions.png"), full_page=True)

    # someone else saves meanwhile: 412, a clear message, nothing overwritten
    ff.apps.install({**_app(rows="score > 1"), "label": {"zh-CN": "别人改的", "en": "CRM"}})
    page.select_option("#right-0-contact-name", "hidden")
    page.click("#save-permissions")
    expect(page.locator("#perm-editor[data-saved='stale']")).to_have_count(1)
    expect(page.locator("#perm-errors")).to_contain_text("其他人修改了这个应用")
    assert json.loads(ff.apps.export("crm"))["permissions"][0]["rows"] == "score > 1"

    page.reload()
    page.fill("#rows-0", "score > 5")
    page.select_option("#right-0-contact-phone", "hidden")
    page.click("#save-permissions")
    expect(page.locator("#perm-editor[data-saved='1']")).to_have_count(1)

    page.click("a.view-as-link")
    page.select_option("#as-user", CLERK)
    page.click("#view-as-apply")
    expect(page.locator("#as-records tbody tr")).to_have_count(1)
    expect(page.locator("#as-records")).to_contain_text("张三")
    expect(page.locator("#as-records thead")).not_to_contain_text("手机号")
    page.click("#as-records a.why-record")
    expect(page.locator("#explain-record")).to_contain_text("members")
    page.click("#as-fields tr[data-key=phone] a.why-field")
    expect(page.locator("#explain-field")).to_contain_text("隐藏")
