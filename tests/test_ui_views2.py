"""Kanban (drag a card → PATCH with If-Match), calendar (month grid over a date field) and saved views
(per user, shared per role)."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.test_spreadsheets import CRM_APP
from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import ADMIN, ADMIN_PW, CLERK, CLERK_PW, _site, browser_sign_in, csrf_of, serve

from tests.ui_conftest import SCREENSHOTS as SHOTS  # noqa: E402
KANBAN = "/apps/crm/forms/contact/kanban"
CALENDAR = "/apps/crm/forms/contact/calendar"
TABLE = "/apps/crm/forms/contact"


@pytest.fixture
def crm_site(make_ff, sqlite_url):
    ff = make_ff(sqlite_url)
    ff.apps.install(copy.deepcopy(CRM_APP))
    site = _site(ff)
    for code, name, level, joined in [("C1", "张三", "金", "2026-03-02"), ("C2", "李四", "银", "2026-03-15"),
                                      ("C3", "王五", None, "2026-04-01"), ("C4", "<b>赵六</b>", "金", None)]:
        ff.records.create("crm", "contact", {"code": code, "name": name, "level": level, "joined": joined})
    return site


def _client(site, user=ADMIN, pw=ADMIN_PW):
    return client_of(site, user, pw)


def test_the_kanban_shows_one_column_per_option_and_a_blank_column(crm_site):
    html = _client(crm_site).get(KANBAN).get_data(as_text=True)
    cols = re.findall(r'<ul class="kanban-cards" data-value="([^"]*)"', html)
    assert cols == ["金", "银", ""]
    assert html.count('class="kanban-card"') == 4
    assert "&lt;b&gt;赵六&lt;/b&gt;" in html and "<b>赵六</b>" not in html
    assert 'data-can-move="1"' in html


def test_the_kanban_filters_and_refuses_a_bad_filter_with_a_message(crm_site):
    client = _client(crm_site)
    html = client.get(KANBAN, query_string={"filter": 'code = "C1"'}).get_data(as_text=True)
    assert html.count('class="kanban-card"') == 1
    html = client.get(KANBAN, query_string={"filter": "nope = 1"}).get_data(as_text=True)
    assert 'id="view-error"' in html


def test_the_kanban_follows_the_permissions(crm_site):
    crm_site.ff.apps.install({**copy.deepcopy(CRM_APP), "permissions": [
        {"key": "all_read", "form": "contact", "who": {"everyone": True}, "actions": ["read"],
         "fields": {"level": "hidden"}, "new_fields": "readonly"}]})
    html = _client(crm_site, CLERK, CLERK_PW).get(KANBAN).get_data(as_text=True)
    assert 'id="no-field"' in html and "kanban-card" not in html
    crm_site.ff.apps.install({**copy.deepcopy(CRM_APP), "permissions": [
        {"key": "all_read", "form": "contact", "who": {"everyone": True}, "actions": ["read"],
         "new_fields": "readonly"}]})
    html = _client(crm_site, CLERK, CLERK_PW).get(KANBAN).get_data(as_text=True)
    assert html.count('class="kanban-card"') == 4 and 'data-can-move=""' in html and "move-card" not in html


def test_the_calendar_puts_records_on_their_day(crm_site):
    client = _client(crm_site)
    html = client.get(CALENDAR, query_string={"month": "2026-03"}).get_data(as_text=True)
    day = re.search(r'data-date="2026-03-02"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert ">C1<" in day  # the first text field is the title
    assert ">C2<" in re.search(r'data-date="2026-03-15"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert ">C3<" not in html  # April
    assert "month=2026-04" in html and "month=2026-02" in html
    html = client.get(CALENDAR, query_string={"month": "2026-04"}).get_data(as_text=True)
    assert ">C3<" in html and ">C1<" not in html
    assert "周一" in client.get(CALENDAR).get_data(as_text=True)


def test_the_calendar_places_date_and_time_entries_on_their_day_in_time_order(make_ff, sqlite_url):
    ff = make_ff(sqlite_url)
    ff.apps.install({"key": "visits", "label": {"en": "Visits"}, "forms": [{"key": "visit", "label": {"en": "Visit"},
        "fields": [{"key": "who", "type": "text", "label": {"en": "Who"}},
                   {"key": "at", "type": "datetime", "label": {"en": "At"}}]}]})
    for who, at in [("late", "2026-03-02T16:45:00"), ("early", "2026-03-02T08:05:00"), ("april", "2026-04-01T00:00:00"),
                    ("last minute of March", "2026-03-31T23:59:00")]:
        ff.records.create("visits", "visit", {"who": who, "at": at})
    html = _client(_site(ff)).get("/apps/visits/forms/visit/calendar",
                                  query_string={"month": "2026-03"}).get_data(as_text=True)
    day = re.search(r'data-date="2026-03-02"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert re.findall(r'<time class="at"[^>]*>([^<]*)</time> <a [^>]*>([^<]*)</a>', day) == [
        ("08:05", "early"), ("16:45", "late")]
    assert ">last minute of March<" in re.search(r'data-date="2026-03-31"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert ">april<" not in html


def test_a_form_without_a_date_field_has_no_calendar(site, admin_client):
    html = admin_client.get("/apps/repair/forms/ticket/calendar").get_data(as_text=True)
    assert 'id="no-field"' in html


def test_saved_views_are_personal_unless_shared_with_a_role(crm_site):
    from engine import directory, users
    ff = crm_site.ff
    directory.add_role(ff, "sales")
    directory.grant_role(ff, "sales", crm_site.clerk["id"])
    users.add_user(ff, "other", "another long passphrase")
    admin = _client(crm_site)
    token = csrf_of(admin.get(TABLE).get_data(as_text=True))
    r = admin.post(TABLE + "/views", data={"csrf_token": token, "name": "金客户", "view_type": "table",
                                           "params": "filter=level+%3D+%22%E9%87%91%22&sort=-code&bogus=1"})
    assert r.status_code == 302 and "filter=" in r.headers["Location"] and "bogus" not in r.headers["Location"]
    r = admin.post(TABLE + "/views", data={"csrf_token": token, "name": "Sales board", "view_type": "kanban",
                                           "params": "field=level", "share_role": "sales"})
    assert r.status_code == 302 and r.headers["Location"].startswith(KANBAN)
    html = admin.get(TABLE).get_data(as_text=True)
    assert "金客户" in html and "Sales board" in html
    view_id = re.search(r'/views/([0-9A-Z]+)" class="saved-view">金客户', html).group(1)
    opened = admin.get(f"{TABLE}/views/{view_id}")
    assert opened.status_code == 302
    html = admin.get(opened.headers["Location"]).get_data(as_text=True)
    assert html.count('class="row-select"') == 2  # C1 and C4

    clerk = _client(crm_site, CLERK, CLERK_PW)
    html = clerk.get(TABLE).get_data(as_text=True)
    assert "Sales board" in html and "金客户" not in html
    assert clerk.get(f"{TABLE}/views/{view_id}").status_code == 404
    other = _client(crm_site, "other", "another long passphrase")
    assert "Sales board" not in other.get(TABLE).get_data(as_text=True)

    shared_id = re.search(r'/views/([0-9A-Z]+)" class="saved-view">Sales board', html).group(1)
    token = csrf_of(clerk.get(TABLE).get_data(as_text=True))
    assert clerk.post(f"{TABLE}/views/{shared_id}/delete", data={"csrf_token": token}).status_code == 403
    # a user may only share with roles they have
    assert clerk.post(TABLE + "/views", data={"csrf_token": token, "name": "x", "view_type": "table",
                                              "share_role": "admins"}).status_code == 400
    token = csrf_of(admin.get(TABLE).get_data(as_text=True))
    assert admin.post(f"{TABLE}/views/{shared_id}/delete", data={"csrf_token": token}).status_code == 302
    assert "Sales board" not in clerk.get(TABLE).get_data(as_text=True)


def test_saving_a_view_needs_the_csrf_token_and_a_name(crm_site):
    admin = _client(crm_site)
    assert admin.post(TABLE + "/views", data={"name": "x", "view_type": "table"}).status_code == 400
    token = csrf_of(admin.get(TABLE).get_data(as_text=True))
    assert admin.post(TABLE + "/views", data={"csrf_token": token, "name": " ", "view_type": "table"}).status_code == 400
    assert admin.post(TABLE + "/views", data={"csrf_token": token, "name": "x", "view_type": "pie"}).status_code == 400


def test_the_view_pages_use_no_inline_scripts(crm_site):
    client = _client(crm_site)
    for url in [KANBAN, CALENDAR, TABLE]:
        html = client.get(url).get_data(as_text=True)
        scripts = html.split("<script")[1:]
        assert all(' src="' in s.split(">")[0] or 'type="application/json"' in s.split(">")[0] for s in scripts), url
        assert " onclick=" not in html and "javascript:" not in html


@pytest.fixture
def live_crm(crm_site):
    url, stop = serve(crm_site.app)
    crm_site.url = url
    yield crm_site
    stop()


def _level(ff, code):
    from engine.queries import list_records
    from engine.records import record_json
    _app, form = ff.form("crm", "contact")
    with ff.db.read() as conn:
        page = list_records(conn, ff, form, filter=f'code = "{code}"')
    return record_json(form, page.records[0])


def test_drag_a_kanban_card_to_another_column_and_see_the_calendar(live_crm, page):
    base = live_crm.url
    browser_sign_in(page, base)
    page.goto(base + TABLE)
    page.click("#link-kanban")
    page.wait_for_url(base + KANBAN)
    card = page.locator(".kanban-card", has_text="张三")
    target = page.locator(".kanban-cards[data-value='银']")
    box, tbox = card.bounding_box(), target.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 8, box["y"] + box["height"] - 6)
    page.mouse.down()
    page.mouse.move(tbox["x"] + tbox["width"] / 2, tbox["y"] + tbox["height"] - 5, steps=25)
    page.mouse.up()
    expect(page.locator(".kanban-cards[data-value='银'] .kanban-card", has_text="张三")).to_have_attribute("data-saved", "1")
    assert _level(live_crm.ff, "C1")["level"] == "银"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "kanban.png"), full_page=True)

    # the keyboard way: the card's "move to" list; a stale version is refused and the card goes back
    live_crm.ff.records.update("crm", "contact", _level(live_crm.ff, "C2")["_id"], {"name": "李四四"})
    page.select_option(".kanban-card:has-text('李四') select.move-card", "")
    expect(page.locator("#kanban-status")).to_contain_text("其他人同时修改了这条记录")
    expect(page.locator(".kanban-cards[data-value='银'] .kanban-card", has_text="李四")).to_have_count(1)
    assert _level(live_crm.ff, "C2")["level"] == "银"
    page.reload()
    page.select_option(".kanban-card:has-text('李四') select.move-card", "")
    expect(page.locator(".kanban-cards[data-value=''] .kanban-card", has_text="李四")).to_have_attribute("data-saved", "1")
    assert _level(live_crm.ff, "C2")["level"] is None

    page.click("#link-calendar")
    page.fill("#calendar-month", "2026-03")
    page.click("#apply-view")
    expect(page.locator("td[data-date='2026-03-02']")).to_contain_text("C1")
    page.click("#next-month")
    expect(page.locator("td[data-date='2026-04-01']")).to_contain_text("C3")
    page.screenshot(path=str(SHOTS / "calendar.png"), full_page=True)


# -- inline edit in the table view ------------------------------------------------------

def _editable_cells(html):
    return re.findall(r'<td data-label="[^"]*" class="editable" tabindex="0" data-field="([^"]+)"', html)


def test_the_table_view_offers_inline_edit_only_for_fields_the_caller_may_edit(crm_site):
    html = _client(crm_site).get(TABLE).get_data(as_text=True)
    assert set(_editable_cells(html)) == {"code", "name", "phone", "email", "amount", "score"}
    assert 'data-version="1"' in html and 'id="ff-inline-messages"' in html
    assert "editable" not in _client(crm_site).get(TABLE, query_string={"trash": "1"}).get_data(as_text=True)
    crm_site.ff.apps.install({**copy.deepcopy(CRM_APP), "permissions": [
        {"key": "edit_some", "form": "contact", "who": {"everyone": True}, "actions": ["read", "update"],
         "fields": {"code": "readonly", "phone": "hidden"}, "new_fields": "editable"}]})
    html = _client(crm_site, CLERK, CLERK_PW).get(TABLE).get_data(as_text=True)
    # phone is hidden: not a column at all, so the next field (rate) fills the default columns
    assert set(_editable_cells(html)) == {"name", "amount", "score", "rate"}  # e-mail: masked for the clerk
    crm_site.ff.apps.install({**copy.deepcopy(CRM_APP), "permissions": [
        {"key": "read_only", "form": "contact", "who": {"everyone": True}, "actions": ["read"],
         "new_fields": "editable"}]})
    html = _client(crm_site, CLERK, CLERK_PW).get(TABLE).get_data(as_text=True)
    assert _editable_cells(html) == [] and 'id="ff-inline-messages"' not in html


def test_edit_a_cell_in_place_with_if_match(live_crm, page):
    base, ff = live_crm.url, live_crm.ff
    browser_sign_in(page, base)
    page.goto(base + TABLE + "?sort=code")
    # double-click, type, Enter: saved with PATCH + If-Match
    cell = page.locator("tr:has-text('C1') td[data-field='name']")
    cell.dblclick()
    cell.locator("input").fill("张三丰")
    cell.locator("input").press("Enter")
    expect(cell).to_have_attribute("data-saved", "1")
    expect(cell).to_have_text("张三丰")
    assert _level(ff, "C1")["name"] == "张三丰" and _level(ff, "C1")["_version"] == 2
    # the keyboard way; a refused value shows the reason in the cell, Escape gives up
    amount = page.locator("tr:has-text('C1') td[data-field='amount']")
    amount.focus()
    amount.press("Enter")
    amount.locator("input").fill("-5")
    amount.locator("input").press("Enter")
    expect(amount.locator(".cell-error")).not_to_be_empty()
    amount.locator("input").press("Escape")
    expect(amount.locator("input")).to_have_count(0)
    assert _level(ff, "C1")["amount"] is None
    # the row's version moved on after the first save: a second edit of C1 is accepted
    cell.dblclick()
    cell.locator("input").fill("张三")
    cell.locator("input").press("Enter")
    expect(cell).to_have_text("张三")
    assert _level(ff, "C1")["_version"] == 3
    # changed meanwhile: 412, a clear message, the cell shows its previous value
    ff.records.update("crm", "contact", _level(ff, "C2")["_id"], {"phone": "13800138000"})
    other = page.locator("tr:has-text('C2') td[data-field='name']")
    other.dblclick()
    other.locator("input").fill("李四四")
    other.locator("input").press("Enter")
    expect(page.locator("#inline-status")).to_contain_text("其他人同时修改了这条记录")
    expect(other.locator(".cell-error")).to_contain_text("其他人同时修改了这条记录")
    expect(other.locator("input")).to_have_count(0)
    expect(other).to_contain_text("李四")
    assert _level(ff, "C2")["name"] == "李四"


def test_the_table_and_record_pages_show_only_what_the_permission_service_allows(crm_site):
    ff = crm_site.ff
    ff.apps.install({**copy.deepcopy(CRM_APP), "permissions": [
        {"key": "gold_only", "form": "contact", "who": {"everyone": True}, "actions": ["read"],
         "rows": 'level = "金"', "fields": {"phone": "hidden", "code": "readonly", "name": "readonly",
                                           "level": "readonly"}, "new_fields": "hidden"}]})
    clerk = _client(crm_site, CLERK, CLERK_PW)
    html = clerk.get(TABLE, query_string={"cols": ["code", "name", "phone"]}).get_data(as_text=True)
    cells = set(re.findall(r">(C\d)<", html))  # whole cells: a random token may contain "C2"
    assert cells == {"C1", "C4"}
    assert 'data-field="phone"' not in html
    from engine.queries import list_records
    _, form = ff.form("crm", "contact")
    with ff.db.read() as conn:
        by_code = {r["code"]: r["_id"] for r in list_records(conn, ff, form, limit=10).records}
    assert clerk.get(f"{TABLE}/records/{by_code['C2']}").status_code == 404
    assert clerk.get(f"{TABLE}/records/{by_code['C1']}").status_code == 200
