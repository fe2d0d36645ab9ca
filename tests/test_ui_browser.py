"""In the browser (Playwright + Debian's Chromium), as a new user would: sign in, import the repair app,
fill a ticket on a phone-sized screen, find it with a filter, see its history; and no user text ever runs."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui_conftest import *  # noqa: F401,F403
from tests.ui_conftest import browser_sign_in

ROOT = Path(__file__).resolve().parent.parent
from tests.ui_conftest import SCREENSHOTS as SHOTS  # noqa: E402
PHONE = {"width": 390, "height": 844}
XSS = '<img src=x onerror="window.__xss=1;alert(1)">'


def test_sign_in_import_fill_on_a_phone_filter_and_see_history(live_site, page):
    base = live_site.url
    browser_sign_in(page, base)
    page.set_input_files("#bundle", str(ROOT / "examples" / "repair.json"))
    page.click("#import-app button[type=submit]")
    page.wait_for_url(base + "/apps/repair")
    live_site.ff.records.create("repair", "machine", {"name": "Lathe 3"})

    page.set_viewport_size(PHONE)
    page.goto(base + "/apps/repair/forms/ticket/new")
    page.wait_for_selector("#entry[data-ready='1']")
    page.fill("#f-title", "Broken pump")
    page.fill("#f-qty", "3")
    page.click("#add-row-parts")
    page.fill("#f-parts-0-part", "seal")
    page.fill("#f-parts-0-price", "2.50")
    expect(page.locator("#f-total")).to_have_text(re.compile(r"^7\.50?$"))
    page.fill("#f-machine", "lat")
    page.click(".link-results button:has-text('Lathe 3')")
    page.click("#save")
    page.wait_for_selector("#history")
    assert "Broken pump" in page.text_content("#values")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(base + "/apps/repair/forms/ticket")
    page.click("[data-fb=add]")
    page.select_option(".fb-cond select[data-fb=field]", "qty")
    page.select_option(".fb-cond select[data-fb=op]", ">")
    page.fill(".fb-cond input[data-fb=value]", "2")
    assert page.input_value("#filter") == "qty > 2"
    page.click("#apply-view")
    page.wait_for_url("**filter=qty*")
    assert page.locator("#records tbody tr").count() == 1
    page.click("#records tbody a")
    assert "admin" in page.text_content("#history")


def test_a_required_field_error_is_shown_next_to_the_field_in_chinese(live_repair, page):
    browser_sign_in(page, live_repair.url)
    page.goto(live_repair.url + "/apps/repair/forms/ticket/new")
    page.wait_for_selector("#entry[data-ready='1']")
    page.click("#save")
    expect(page.locator("#err-title")).to_have_text("此字段为必填项。")


def _xss_app():
    return {"key": "x", "label": {"zh-CN": XSS, "en": XSS}, "forms": [
        {"key": "f", "label": {"zh-CN": XSS}, "fields": [
            {"key": "t", "type": "text", "label": {"zh-CN": XSS}},
            {"key": "s", "type": "select", "label": {"zh-CN": XSS},
             "options": [{"value": "a", "label": {"zh-CN": XSS}}, "<b>b</b>"]},
            {"key": "rows", "type": "subform", "label": {"zh-CN": XSS}, "fields": [
                {"key": "c", "type": "text", "label": {"zh-CN": XSS}}]},
            {"key": "calc", "type": "formula", "label": {"zh-CN": XSS}, "formula": 't & "<script>window.__xss=2</script>"'}],
         "layout": {"sections": [{"label": {"zh-CN": XSS}, "description": {"zh-CN": XSS}, "fields": ["t", "s"]}]}}]}


def test_user_text_never_runs_as_script(live_site, page):
    ff = live_site.ff
    ff.apps.install(copy.deepcopy(_xss_app()))
    record = ff.records.create("x", "f", {"t": XSS, "s": "a", "rows": [{"c": XSS}]})
    base = live_site.url
    browser_sign_in(page, base)
    for url in ["/apps", "/apps/x", "/apps/x/forms/f", "/apps/x/forms/f?group=s",
                f"/apps/x/forms/f/records/{record['_id']}", f"/apps/x/forms/f/records/{record['_id']}/edit",
                "/apps/x/forms/f/new", "/apps/x/forms/f/kanban", "/apps/x/design"]:
        page.goto(base + url)
        if "edit" in url or "new" in url:
            page.wait_for_selector("#entry[data-ready='1']")
        if "new" in url:
            page.fill("#f-t", XSS)
            page.click("#add-row-rows")
            page.fill("#f-rows-0-c", XSS)
            expect(page.locator("#f-calc")).to_contain_text("<script>")
        assert page.evaluate("typeof window.__xss") == "undefined", url
    assert page.dialogs == []


def test_screenshots_of_data_entry_and_table_view(live_repair, page):
    """Writes docs/screenshots/*.png (referenced by docs/ui.md)."""
    base = live_repair.url
    for i, (title, qty, status) in enumerate([("水泵漏水", 2, "open"), ("电机异响", 1, "closed"), ("阀门更换", 4, "open")]):
        live_repair.ff.records.create("repair", "ticket", {"title": title, "qty": qty, "status": status,
                                                           "parts": [{"part": "密封圈", "price": str(1.5 + i)}]})
    browser_sign_in(page, base)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(base + "/apps/repair/forms/ticket/new")
    page.wait_for_selector("#entry[data-ready='1']")
    page.fill("#f-title", "水泵漏水")
    page.fill("#f-qty", "2")
    page.click("#add-row-parts")
    page.fill("#f-parts-0-part", "密封圈")
    page.fill("#f-parts-0-price", "12.5")
    expect(page.locator("#f-total")).to_have_text(re.compile(r"^25(\.0+)?$"))
    page.screenshot(path=str(SHOTS / "entry-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SHOTS / "entry-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(base + "/apps/repair/forms/ticket?group=status")
    expect(page.locator("#group-counts .group-value")).to_have_text(["open", "closed"])  # counts arrive after the rows
    expect(page.locator("#group-counts .count")).to_have_text(["2", "1"])
    page.screenshot(path=str(SHOTS / "table-view.png"), full_page=True)
    assert all((SHOTS / n).stat().st_size > 0 for n in ("entry-desktop.png", "entry-phone.png", "table-view.png"))
