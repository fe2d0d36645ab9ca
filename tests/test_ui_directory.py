"""Member and department pickers of data entry (GET /api/v1/directory/search) and names instead of
ids for user, department and link values on the table and record pages."""
from __future__ import annotations

import copy

from playwright.sync_api import expect

from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import CLERK, CLERK_PW, _site, browser_sign_in, serve, sign_in

SEARCH = "/api/v1/directory/search"
HR_APP = {"key": "hr", "label": {"zh-CN": "人事", "en": "HR"}, "forms": [
    {"key": "task", "label": {"zh-CN": "任务", "en": "Task"}, "fields": [
        {"key": "title", "type": "text", "label": {"zh-CN": "标题", "en": "Title"}},
        {"key": "owner", "type": "user", "label": {"zh-CN": "负责人", "en": "Owner"}},
        {"key": "team", "type": "department", "label": {"zh-CN": "部门", "en": "Team"}}]}]}


def _hr(site):
    from engine import directory
    site.ff.apps.install(copy.deepcopy(HR_APP))
    return directory.add_department(site.ff, "研发部")


def test_signed_in_users_search_people_and_departments_by_name(site, clerk_client):
    dept = _hr(site)
    items = clerk_client.get(SEARCH, query_string={"q": "ADM", "kind": "user"}).get_json()["items"]
    assert items == [{"id": site.admin["id"], "name": site.admin.get("display_name") or "admin"}]
    items = clerk_client.get(SEARCH, query_string={"q": "研发", "kind": "department"}).get_json()["items"]
    assert items == [{"id": dept["id"], "name": "研发部"}]
    named = clerk_client.get(SEARCH, query_string={"ids": site.clerk["id"]}).get_json()["items"]
    assert [i["id"] for i in named] == [site.clerk["id"]] and set(named[0]) == {"id", "name"}
    assert clerk_client.get(SEARCH, query_string={"q": "%", "kind": "user"}).get_json()["items"] == []
    assert clerk_client.get(SEARCH, query_string={"kind": "role"}).status_code == 400
    assert clerk_client.get(SEARCH, query_string={"limit": "0"}).status_code == 400
    assert clerk_client.get(SEARCH, query_string={"nope": "1"}).status_code == 400
    assert site.app.test_client().get(SEARCH, query_string={"q": "a"}).status_code == 401


def test_table_and_record_pages_show_names_instead_of_ids(site, admin_client):
    dept = _hr(site)
    rec = site.ff.records.create("hr", "task", {"title": "周报", "owner": site.clerk["id"], "team": dept["id"]})
    clerk_name = site.clerk.get("display_name") or CLERK
    for url in ["/apps/hr/forms/task", f"/apps/hr/forms/task/records/{rec['_id']}"]:
        html = admin_client.get(url).get_data(as_text=True)
        assert f">{clerk_name}<" in html and "研发部" in html, url
        assert f">{site.clerk['id']}<" not in html and f">{dept['id']}<" not in html, url
    machine = site.ff.records.create("repair", "machine", {"name": "车床 3"})
    site.ff.records.create("repair", "ticket", {"title": "漏水", "machine": machine["_id"]})
    html = admin_client.get("/apps/repair/forms/ticket").get_data(as_text=True)
    assert ">车床 3<" in html


def test_pick_a_member_and_a_department_while_typing(sqlite_repair_site, page):
    site = sqlite_repair_site
    _hr(site)
    url, stop = serve(site.app)
    try:
        browser_sign_in(page, url)
        page.goto(url + "/apps/hr/forms/task/new")
        page.wait_for_selector("#entry[data-ready='1']")
        page.fill("#f-title", "周报")
        page.locator("#f-owner").press_sequentially("cle")
        page.locator("#f-owner-results button", has_text=site.clerk.get("display_name") or CLERK).click()
        page.locator("#f-team").press_sequentially("研发")
        page.locator("#f-team-results button", has_text="研发部").click()
        expect(page.locator("#field-team .chosen")).to_contain_text("研发部")
        page.click("#entry button[type=submit]")
        page.wait_for_url(lambda u: "/records/" in u)
        expect(page.locator("main")).to_contain_text("研发部")
        from engine.queries import list_records
        _app, form = site.ff.form("hr", "task")
        with site.ff.db.read() as conn:
            record = list_records(conn, site.ff, form).records[0]
        assert record["owner"] == site.clerk["id"]
        # editing shows the chosen names, not the ids
        page.goto(url + f"/apps/hr/forms/task/records/{record['_id']}/edit")
        page.wait_for_selector("#entry[data-ready='1']")
        expect(page.locator("#field-owner .chosen")).to_contain_text(site.clerk.get("display_name") or CLERK)
    finally:
        stop()
